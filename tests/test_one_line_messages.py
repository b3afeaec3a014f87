"""Messages that name their subject in one line (issue 73, item 5): a full disk names the file and the
space free, ``study ch3 check`` without a stored float64 reference says so without a traceback, and a
PG of ``-inf`` is said in words."""

from __future__ import annotations

import errno

import pytest
import torch
from torch import nn

from reuseprior.chapters.ch3_revolver import study as ch3
from reuseprior.commands import USER_ERRORS
from reuseprior.core.errors import MissingReferenceError
from reuseprior.core.files import atomic_write, write_text
from reuseprior.counting import analyze
from reuseprior.counting.quantities import DEGENERATE_PG


def test_a_full_disk_names_the_file_the_space_free_there_and_leaves_the_file_as_it_was(tmp_path):
    target = tmp_path / "runs.csv"
    write_text(target, "kept\n")
    with pytest.raises(OSError) as raised, atomic_write(target, "w") as fh:
        fh.write("half")
        raise OSError(errno.ENOSPC, "No space left on device")  # what a write on a full disk raises
    message = str(raised.value)
    assert raised.value.errno == errno.ENOSPC
    assert f"no space left on the device writing {target} (" in message and f"MiB free in {tmp_path})" in message
    assert "the file is as it was" in message and "\n" not in message
    assert target.read_text() == "kept\n" and [p.name for p in tmp_path.iterdir()] == ["runs.csv"]


def test_a_recomputation_without_a_stored_float64_reference_is_refused_in_one_line(tmp_path, monkeypatch):
    """The issue's audit: a 35-line traceback. Nothing is trained before the refusal. (``study ch3 check``
    itself needs no reference: without one it holds a run's counts exactly, see ``check_stored_run``.)"""
    missing = tmp_path / "no_reference.csv"
    monkeypatch.setattr(ch3, "live_slice", lambda *a, **k: pytest.fail("trained before the refusal"))
    with pytest.raises(MissingReferenceError) as raised:
        ch3.recompute_first_generations(ch3.CPU_STUDY, ch3.CPU_STUDY.runs[0], reference=missing)
    message = str(raised.value)
    assert "\n" not in message and f"study {ch3.CPU_STUDY.name}: no float64 reference in {missing} of " in message
    assert "store its reference (reuseprior.chapters.ch3_revolver.study.store_live_reference(spec, run))" in message
    assert MissingReferenceError in USER_ERRORS  # the commands print it without a traceback


def test_a_pg_of_minus_infinity_is_said_in_words():
    """One weight holds every context: S = 0, so PG = log2(0)."""
    report = analyze(nn.Linear(1, 1, bias=False), torch.zeros(1, 1))
    assert report.NG == 1 and report.PG == float("-inf")
    assert str(report).endswith(DEGENERATE_PG) and "NG = 1" in DEGENERATE_PG
