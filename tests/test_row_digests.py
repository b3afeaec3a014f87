"""Each stored row's digest is kept with it and checked on every read (issue 73, item 6): a row edited by
hand ("87" for "878") is refused with its line unless it is re-stored on purpose; stamping a file stored
before digests (the explicit migration) changes no byte of its fields, and its readers see the same
frames as before."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from reuseprior.chapters.ch3_revolver import study as ch3
from reuseprior.core import paths
from reuseprior.core import study as core_study
from reuseprior.core.errors import CsvFormatError
from reuseprior.core.row_digests import DIGEST_COLUMN, has_digests
from reuseprior.core.stored_rows import stamp_digests
from tests.stored_copies import copy_without_digests

DATA = paths.DATA_DIR


def _stamped_ch3(folder: Path) -> core_study.StudySpec:
    for table in ch3.STORED.values():
        shutil.copy(DATA / table.name, folder / table.name)
        stamp_digests(folder / table.name)
    return ch3.CPU_STUDY.with_store(folder / ch3.STORED["runs"].name)


def test_stamping_appends_a_digest_to_each_line_and_changes_no_other_byte(tmp_path):
    for table in ch3.STORED.values():
        path = copy_without_digests(DATA / table.name, tmp_path / table.name)
        before = path.read_text(encoding="utf-8").splitlines()
        assert stamp_digests(path) == len(before) - 1
        after = path.read_text(encoding="utf-8").splitlines()
        assert [line.rsplit(",", 1)[0] for line in after] == before
        assert after[0].endswith(f",{DIGEST_COLUMN}") and has_digests(path)
        assert stamp_digests(path) == len(before) - 1 and path.read_text(encoding="utf-8").splitlines() == after


def test_a_stamped_store_reads_the_same_frames_and_keeps_its_digests_when_written(tmp_path):
    spec = _stamped_ch3(tmp_path)
    for kind in (core_study.RUNS, *spec.store.tables):
        pd.testing.assert_frame_equal(spec.store.rows(kind=kind), ch3.CPU_STUDY.store.rows(kind=kind))
    row = spec.rows().iloc[[0]].assign(seed=99)
    spec.store.put(row)
    assert has_digests(spec.store.path) and len(spec.store.rows()) == len(ch3.CPU_STUDY.store.rows()) + 1


def test_a_row_edited_by_hand_is_refused_with_its_line_unless_re_stored_on_purpose(tmp_path):
    spec = _stamped_ch3(tmp_path)
    runs = spec.store.path
    lines = runs.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    fields = lines[4].split(",")
    column = header.index("top_params_final")
    fields[column] = fields[column][:-1]  # 74202 -> 7420: a digit lost by hand
    lines[4] = ",".join(fields)
    runs.write_text("\n".join(lines) + "\n", encoding="utf-8")
    edited = runs.read_bytes()
    refusal = (
        r"revolver_study_runs.csv, line 5: the row does not match its digest [0-9a-f]{16}: its values were changed"
    )
    with pytest.raises(CsvFormatError, match=refusal + r".*stamp_digests\(path\)"):
        core_study.status(spec)
    with pytest.raises(CsvFormatError, match=refusal):
        spec.store.put(spec.rows().iloc[[0]].assign(seed=99))
    assert runs.read_bytes() == edited
    stamp_digests(runs)  # the edit is meant: re-stored on purpose
    assert spec.rows()["top_params_final"].tolist().count(int(fields[column])) == 1
