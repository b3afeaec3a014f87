"""reuseprior.core.files: every file the package writes in place is replaced whole or not at all."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from reuseprior.core.files import atomic_path, atomic_write, write_csv, write_json, write_text
from reuseprior.reporting.plotting import save_figure
from reuseprior.zoo.scoring.runs import append_rows


def _leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_an_error_inside_the_block_leaves_the_old_file_and_no_temporary_one(tmp_path):
    target = tmp_path / "rows.csv"
    write_text(target, "old\n")
    with pytest.raises(RuntimeError, match="stopped"):
        with atomic_write(target, "w") as fh:
            fh.write("half of the new")
            raise RuntimeError("stopped")
    assert target.read_text() == "old\n" and _leftovers(tmp_path) == []


def test_a_path_writer_fills_a_scratch_temporary_and_a_failure_keeps_it_where_asked(tmp_path):
    """atomic_path: the temporary stands in ``scratch`` (not beside the target); on success it replaces
    the target, on an error it moves to ``keep_failed`` and the target is untouched."""
    target, scratch, failed = tmp_path / "out" / "nb.ipynb", tmp_path / "scratch", tmp_path / "failed" / "nb.ipynb"
    write_text(target, "old")
    with atomic_path(target, scratch=scratch, keep_failed=failed) as tmp:
        assert tmp.parent == scratch
        tmp.write_text("new")
    assert target.read_text() == "new" and list(scratch.iterdir()) == []
    with pytest.raises(RuntimeError, match="kernel died"):
        with atomic_path(target, scratch=scratch, keep_failed=failed) as tmp:
            tmp.write_text("half")
            raise RuntimeError("kernel died")
    assert target.read_text() == "new" and failed.read_text() == "half" and list(scratch.iterdir()) == []
    assert _leftovers(target.parent) == []


def test_text_json_and_csv_are_written_as_given(tmp_path):
    write_text(tmp_path / "a.txt", "x\r\ny\n")
    assert (tmp_path / "a.txt").read_bytes() == b"x\r\ny\n"  # line ends as given
    write_json(tmp_path / "deep" / "b.json", {"rate": 1.5, "rows": [1, 2]})
    assert (tmp_path / "deep" / "b.json").read_text().endswith("\n")
    assert json.loads((tmp_path / "deep" / "b.json").read_text()) == {"rate": 1.5, "rows": [1, 2]}
    frame = pd.DataFrame({"v": [0.1, 2.0]}, index=pd.Index(["a", "b"], name="k"))
    write_csv(frame, tmp_path / "c.csv", index=True)
    assert (tmp_path / "c.csv").read_text() == "k,v\na,0.1\nb,2\n"


def test_a_figure_that_fails_to_render_leaves_the_previous_png(tmp_path, monkeypatch):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    path = save_figure(fig, tmp_path / "curve")
    before = path.read_bytes()
    assert before.startswith(b"\x89PNG")

    def half_then_fail(fh, **_):
        fh.write(b"\x89PNG half")
        raise OSError("disk full")

    monkeypatch.setattr(fig, "savefig", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        save_figure(fig, tmp_path / "curve")
    plt.close(fig)
    assert path.read_bytes() == before and _leftovers(tmp_path) == []


def test_appended_sensitivity_rows_land_whole_and_keep_every_stored_column(tmp_path, monkeypatch):
    path = tmp_path / "sensitivity.csv"
    append_rows(path, pd.DataFrame({"arch": ["a", "a"], "minibatch": ["x", "y"], "old": [1.5, 2.5]}))
    append_rows(path, pd.DataFrame({"arch": ["b"], "minibatch": ["x"], "new": [0.1]}))
    rows = pd.read_csv(path)
    assert list(rows.columns) == ["arch", "minibatch", "new", "old"]
    assert rows["old"].tolist()[:2] == [1.5, 2.5] and rows["new"].tolist()[2] == 0.1
    before = path.read_text()

    to_csv = pd.DataFrame.to_csv

    def stopped(frame, fh, **kwargs):
        fh.write(to_csv(frame, index=False)[:40])  # part of the rows, then the interruption
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", stopped)
    with pytest.raises(KeyboardInterrupt):
        append_rows(path, pd.DataFrame({"arch": ["c"], "minibatch": ["x"], "new": [0.2]}))
    assert path.read_text() == before and not [p for p in _leftovers(tmp_path) if p.endswith(".tmp")]
