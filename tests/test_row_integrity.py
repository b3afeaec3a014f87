"""No stored row is read silently wrong (issue 73): two rows of one key, a value no writer stores (not
finite, outside its column's range), and a store's side table refused on read before any run starts.
Each test edits a copy of a stored file (never the file under data/) as a merge or a hand would."""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from reuseprior.chapters.ch3_revolver import study as ch3
from reuseprior.commands import main
from reuseprior.commands import study as study_command
from reuseprior.core import paths, study_runner
from reuseprior.core import study as core_study
from reuseprior.core.distributed import connect
from reuseprior.core.errors import CsvFormatError
from reuseprior.core.stored_rows import DuplicateRowWarning
from reuseprior.zoo import search
from tests import toy_study
from tests.stored_copies import copy_without_digests

DATA = paths.DATA_DIR


def _copy_ch3(folder: Path) -> core_study.StudySpec:
    for table in ch3.STORED.values():
        copy_without_digests(DATA / table.name, folder / table.name)
    return ch3.CPU_STUDY.with_store(folder / ch3.STORED["runs"].name)


def _append_line(path: Path, line: str) -> int:
    """Append ``line`` to the CSV at ``path``; returns its line number."""
    text = path.read_text(encoding="utf-8")
    path.write_text(text + line + "\n", encoding="utf-8")
    return text.count("\n") + 1


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _never_run(**_: object) -> None:
    raise AssertionError("a run started although its store is refused")


def test_two_differing_rows_of_one_run_are_refused_naming_the_key_and_both_lines(tmp_path):
    spec = _copy_ch3(tmp_path)
    runs = spec.store.path
    first = _lines(runs)[1].split(",")
    header = _lines(runs)[0].split(",")
    edited = first.copy()
    edited[header.index("mean_val_last")] = "0.4583"
    line = _append_line(runs, ",".join(edited))
    kept = runs.read_bytes()
    key = rf"plan {first[1]}, study {first[0]}, dataset {first[2]}, mode {first[3]}, seed {first[4]}"
    refusal = rf"revolver_study_runs.csv, line {line}: two differing rows of one key \({key}\): lines 2 and {line}; "
    with pytest.raises(CsvFormatError, match=refusal + "keep the right one and delete the other line"):
        core_study.status(spec)
    with pytest.raises(CsvFormatError, match=refusal):
        core_study.status_table(spec)
    with pytest.raises(CsvFormatError, match=refusal):
        study_runner.run_study(replace(spec, run_one=_never_run), only=[{**spec.runs[0], "seed": 99}], progress=False)
    assert runs.read_bytes() == kept


def test_an_identical_copy_of_a_row_is_dropped_with_a_message_and_counted_once(tmp_path):
    """What a merge of two copies of a tracked CSV leaves: the same row twice. Read, it is one run (the
    issue's Table 3.2 showed 3 seeds and a Mean Val. of 45.83 for a 2-seed study)."""
    spec = _copy_ch3(tmp_path)
    runs = spec.store.path
    stored = spec.rows()
    line = _append_line(runs, _lines(runs)[1])
    with pytest.warns(DuplicateRowWarning, match=rf"revolver_study_runs.csv: lines 2 and {line} are the same row"):
        again = spec.rows()
    pd.testing.assert_frame_equal(again, stored)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DuplicateRowWarning)
        assert core_study.status(spec)["stored"] == len(stored)


def test_a_store_of_several_rows_a_run_refuses_two_differing_rows_of_one_row_key(tmp_path):
    path = copy_without_digests(DATA / "nb201_search_runs.csv", tmp_path / "nb201_search_runs.csv")
    second = _lines(path)[1].split(",")
    second[7] = "91.5"  # its mean
    line = _append_line(path, ",".join(second))
    with pytest.raises(CsvFormatError, match=rf"line {line}: two differing rows of one key \(.*size 10\): lines 2 and"):
        search.search_study(path=path).rows()


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("inf", r"mean_val_last = inf is not finite"),
        ("-1e999", r"mean_val_last = -inf is not finite"),
        ("NaN", r"mean_val_last is empty"),
        ("45.83", r"mean_val_last = 45.83 is outside its range \[0, 1\]"),
        ("-0.1", r"mean_val_last = -0.1 is outside its range \[0, 1\]"),
    ],
)
def test_a_value_no_writer_stores_is_refused_with_its_line(tmp_path, value, problem):
    spec = _copy_ch3(tmp_path)
    runs = spec.store.path
    frame = pd.read_csv(runs, dtype=str, keep_default_na=False)
    frame.loc[3, "mean_val_last"] = value
    frame.to_csv(runs, index=False)
    kept = runs.read_bytes()
    with pytest.raises(CsvFormatError, match=rf"revolver_study_runs.csv, line 5: {problem}"):
        core_study.status(spec)
    with pytest.raises(CsvFormatError, match=r"line 5: "):
        study_runner.run_study(replace(spec, run_one=_never_run), only=[{**spec.runs[0], "seed": 99}], progress=False)
    assert runs.read_bytes() == kept


def test_counts_and_accuracies_of_the_side_tables_keep_their_ranges(tmp_path):
    spec = _copy_ch3(tmp_path)
    evaluations = spec.store.path_of("evaluations")
    frame = pd.read_csv(evaluations, dtype=str, keep_default_na=False)
    frame.loc[0, "params"] = "-5658"
    frame.to_csv(evaluations, index=False)
    with pytest.raises(CsvFormatError, match=r"evaluations.csv, line 2: params = -5658.0 is outside its range"):
        spec.store.rows(kind="evaluations")


def test_a_cut_side_table_is_refused_before_the_first_run_starts(tmp_path):
    """The issue's audit: a cut generations table was refused only after the pending run had trained and the
    evaluations table was rewritten."""
    spec = _copy_ch3(tmp_path)
    generations = spec.store.path_of("generations")
    raw = generations.read_bytes()
    generations.write_bytes(raw[: raw.rstrip(b"\n").rfind(b"\n") + 20])
    before = {kind: spec.store.path_of(kind).read_bytes() for kind in (core_study.RUNS, *spec.store.tables)}
    with pytest.raises(CsvFormatError, match=r"revolver_study_generations.csv, line \d+: "):
        study_runner.run_study(replace(spec, run_one=_never_run), only=[{**spec.runs[0], "seed": 99}], progress=False)
    with pytest.raises(CsvFormatError, match=r"revolver_study_generations.csv, line \d+: "):
        core_study.status_table(spec)
    assert before == {kind: spec.store.path_of(kind).read_bytes() for kind in before}


@pytest.mark.usefixtures("toy_studies")
def test_the_study_command_refuses_a_duplicated_row_in_one_line_before_any_work(tmp_path, monkeypatch, capsys):
    store = tmp_path / "toy.csv"
    study_runner.run_study(toy_study.STUDY.with_store(store), only=toy_study.STUDY.runs[:2], progress=False)
    rows = _lines(store)
    line = _append_line(store, rows[1].rsplit(",", 1)[0] + ",7.5")
    kept = store.read_bytes()
    connected = []
    monkeypatch.setattr(study_command, "connect", lambda **kw: connected.append(kw) or connect(processes=False, **kw))
    for action in ("status", "run"):
        assert main(["study", "toy", action, "--store", str(store), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"toy.csv, line {line}: two differing rows of one key" in err, err
        assert f"lines 2 and {line}" in err
    assert store.read_bytes() == kept and not connected
