"""Every store refuses a row cut short or a value not of its declared kind, on read and before anything
is written back (reuseprior.core.stored_rows; issue 57, item 2). Each test cuts a copy of a stored file
under data/ (never the file itself) and reads or writes it through its store."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from reuseprior.chapters.ch3_revolver import study as ch3
from reuseprior.chapters.ch4_sharing_training import designs
from reuseprior.chapters.ch4_sharing_training import runs as ch4_runs
from reuseprior.chapters.ch4_sharing_training.configs import RESULT_COLUMNS
from reuseprior.chapters.ch4_sharing_training.runs import results_store
from reuseprior.chapters.ch7_sharing_schemes import criteria as ch7_criteria
from reuseprior.chapters.ch7_sharing_schemes import runs as ch7
from reuseprior.chapters.ch7_sharing_schemes.bookkeeping import read_bookkeeping
from reuseprior.chapters.ch7_sharing_schemes.sensitivity import read_generator_sensitivity
from reuseprior.chapters.ch8_prior_as_tool import screening as ch8
from reuseprior.core import paths
from reuseprior.core import study as core_study
from reuseprior.core.errors import CsvFormatError
from reuseprior.core.row_digests import has_digests
from reuseprior.core.stored_rows import ColumnKinds, check_stored_rows
from reuseprior.core.study import RunStore, read_csv_or_empty
from reuseprior.revolver.split_floor import population_floors
from reuseprior.zoo import search
from reuseprior.zoo.batch_sensitivity import SENSITIVITY_KINDS, read_minibatch_scores
from reuseprior.zoo.scoring import append_rows
from reuseprior.zoo.scoring.results import load_scores
from tests.stored_copies import copy_without_digests

DATA = paths.DATA_DIR


def _copy(name: str, folder: Path) -> Path:
    """A copy of ``data/name`` in ``folder``, without its row digests if it has them (the edits below reach the
    checks of cuts and values)."""
    if has_digests(DATA / name):
        return copy_without_digests(DATA / name, folder / name)
    return Path(shutil.copy(DATA / name, folder / name))


def _cut_into_last_row(path: Path, nbytes: int) -> int:
    """Cut ``path`` ``nbytes`` into its last row, as an interrupted copy would; returns that row's line."""
    raw = path.read_bytes()
    start = raw.rstrip(b"\n").rfind(b"\n") + 1
    path.write_bytes(raw[: start + nbytes])
    return raw[:start].count(b"\n") + 1


def _copy_ch3(folder: Path) -> core_study.StudySpec:
    for table in ch3.STORED.values():
        _copy(table.name, folder)
    return ch3.CPU_STUDY.with_store(folder / ch3.STORED["runs"].name)


def test_the_issues_60_byte_cut_of_the_revolver_runs_is_refused_and_never_rewritten(tmp_path):
    spec = _copy_ch3(tmp_path)
    stored = spec.rows()
    runs = spec.store.path
    line = _cut_into_last_row(runs, 60)
    cut = runs.read_bytes()
    where = rf"revolver_study_runs.csv, line {line}: \d+ fields where the header has {len(stored.columns)}"
    with pytest.raises(CsvFormatError, match=where + r": a row cut short.*; mend or delete that line"):
        core_study.status(spec)
    with pytest.raises(CsvFormatError, match=where):
        spec.store.put(stored.iloc[[0]].assign(seed=99))
    assert runs.read_bytes() == cut


def test_a_side_table_and_a_value_not_of_its_kind_are_refused(tmp_path):
    spec = _copy_ch3(tmp_path)
    evaluations = spec.store.path_of("evaluations")
    line = _cut_into_last_row(evaluations, 40)
    with pytest.raises(CsvFormatError, match=rf"revolver_study_evaluations.csv, line {line}: "):
        spec.store.rows(kind="evaluations")
    runs = spec.store.path
    frame = pd.read_csv(runs, dtype=str, keep_default_na=False)
    frame.loc[3, "mean_val_last"] = "0.78x"
    frame.to_csv(runs, index=False)
    with pytest.raises(CsvFormatError, match=r"line 5: mean_val_last = '0.78x' is not a number"):
        spec.rows()
    frame.loc[3, "mean_val_last"] = ""
    frame.to_csv(runs, index=False)
    with pytest.raises(CsvFormatError, match=r"line 5: mean_val_last is empty"):
        spec.rows()


def test_a_cut_inside_the_last_value_is_refused_by_its_missing_line_end(tmp_path):
    """A cut that leaves the field count whole ("0.99" -> "0.9") is still a cut: no line end."""
    path = tmp_path / "runs.csv"
    store = RunStore(path, key=("name", "seed"), columns=("plan", "name", "seed", "value"))
    store.put({"plan": "p", "name": "toy", "seed": 0, "value": 0.99})
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(CsvFormatError, match=r"runs.csv, line 2: the last row has no line end"):
        store.rows()


def test_ch8_screening_tables_refuse_a_cut_row(tmp_path):
    for table in ch8.STORED.values():
        _copy(table.name, tmp_path)
    spec = ch8.CPU_SCREENING.with_store(tmp_path / ch8.STORED["runs"].name)
    line = _cut_into_last_row(spec.store.path_of("generations"), 60)
    with pytest.raises(CsvFormatError, match=rf"ch8_screening_generations.csv, line {line}: "):
        spec.store.rows(kind="generations")
    line = _cut_into_last_row(spec.store.path, 60)
    with pytest.raises(CsvFormatError, match=rf"ch8_screening_runs.csv, line {line}: "):
        core_study.status(spec)


def test_floor_stores_refuse_a_cut_row_before_they_write(tmp_path):
    path = _copy("population_linear_floor.csv", tmp_path)
    floors = population_floors("study ch3 floor", path)
    first = floors.rows({"dataset": "fashion-mnist"}).iloc[0].to_dict()
    line = _cut_into_last_row(path, 30)
    cut = path.read_bytes()
    with pytest.raises(CsvFormatError, match=rf"population_linear_floor.csv, line {line}: "):
        floors.rows({"dataset": "fashion-mnist"})
    with pytest.raises(CsvFormatError):
        floors.put({**first, "seed": 99})
    assert path.read_bytes() == cut
    path = _copy("ch4_real_study_linear_floor.csv", tmp_path)
    line = _cut_into_last_row(path, 40)
    with pytest.raises(CsvFormatError, match=rf"ch4_real_study_linear_floor.csv, line {line}: "):
        ch4_runs.FLOORS.__class__(path, ch4_runs.FLOORS.key, "x", ch4_runs.floor_row, ch4_runs.FLOOR_KINDS).rows({})


def test_chapter_4_and_7_runs_refuse_a_cut_row(tmp_path):
    path = tmp_path / "ch4_runs.csv"
    shutil.copy(DATA / "ch4_recipe_probes.csv", path)  # the stored study's columns, not the live file
    line = _cut_into_last_row(path, 60)
    with pytest.raises(CsvFormatError, match=rf"ch4_runs.csv, line {line}: "):
        designs.read_runs(path)
    path = _copy("sharing_study_runs.csv", tmp_path)
    line = _cut_into_last_row(path, 60)
    with pytest.raises(CsvFormatError, match=rf"sharing_study_runs.csv, line {line}: "):
        ch7.read_runs(path)
    path = _copy("ch7_bookkeeping.csv", tmp_path)
    line = _cut_into_last_row(path, 30)
    with pytest.raises(CsvFormatError, match=rf"ch7_bookkeeping.csv, line {line}: "):
        read_bookkeeping(path)
    path = _copy("ch7_generator_sensitivity.csv", tmp_path)
    line = _cut_into_last_row(path, 30)
    with pytest.raises(CsvFormatError, match=rf"ch7_generator_sensitivity.csv, line {line}: "):
        read_generator_sensitivity(path)


def test_the_chapter_4_run_log_refuses_to_append_after_a_cut_row(tmp_path):
    path = tmp_path / "results.csv"
    store = results_store(path)
    row = {c: 1 for c in RESULT_COLUMNS} | {"run_id": "a", "profile": "quick", "status": "completed"}
    store.append(row)
    store.append({**row, "run_id": "b"})
    line = _cut_into_last_row(path, 12)
    cut = path.read_bytes()
    with pytest.raises(CsvFormatError, match=rf"results.csv, line {line}: "):
        store.append({**row, "run_id": "c"})
    assert path.read_bytes() == cut


def test_zoo_stores_refuse_a_cut_row(tmp_path):
    path = _copy("zoo_batch_sensitivity_v2_torchvision.csv", tmp_path)
    line = _cut_into_last_row(path, 60)
    cut = path.read_bytes()
    with pytest.raises(CsvFormatError, match=rf"zoo_batch_sensitivity_v2_torchvision.csv, line {line}: "):
        read_minibatch_scores(path)
    with pytest.raises(CsvFormatError):
        append_rows(path, pd.read_csv(DATA / path.name).head(1), SENSITIVITY_KINDS)
    assert path.read_bytes() == cut
    path = _copy("nb201_search_runs.csv", tmp_path)
    line = _cut_into_last_row(path, 60)
    with pytest.raises(CsvFormatError, match=rf"nb201_search_runs.csv, line {line}: "):
        search.search_study(path=path).rows()
    _copy("zoo_scores_v2_torchvision.csv", tmp_path)
    _copy("zoo_scores_v2_torchvision.meta.json", tmp_path)
    _cut_into_last_row(tmp_path / "zoo_scores_v2_torchvision.csv", 60)
    with pytest.raises(CsvFormatError):
        load_scores("torchvision", 2, tmp_path)


def test_a_reader_that_changes_the_row_count_is_checked_by_position():
    """The line named is the row's own when the reader kept every row; the kinds are checked alone."""
    frame = pd.DataFrame({"a": [1.0, None]})
    with pytest.raises(CsvFormatError, match=r"x.csv, line 3: a is empty"):
        check_stored_rows(Path("x.csv"), frame, ColumnKinds(required=("a",)))
    assert read_csv_or_empty(Path("absent.csv"), ("a",)).columns.tolist() == ["a"]


def test_every_stored_file_reads_through_its_store():
    """The files under data/ that a store writes all pass its check (the declared kinds fit them)."""
    read = {}
    for spec in (ch3.CPU_STUDY, ch8.CPU_SCREENING):
        for kind in ("runs", *spec.store.tables):
            read[spec.store.path_of(kind).name] = len(spec.store.rows(kind=kind))
    for path in (designs.STORED_RUNS, DATA / "ch4_recipe_probes.csv"):
        read[path.name] = len(designs.read_runs(path))
    read["sharing_study_runs.csv"] = len(ch7.read_runs())
    pilot = DATA / "sharing_study_runs_pilot.csv"  # a record read by no code: read with the study's kinds
    read[pilot.name] = len(read_csv_or_empty(pilot, (), ch7.ROW_KINDS))
    for floors in (ch4_runs.FLOORS, ch7_criteria.FLOORS, population_floors("x")):
        read[floors.path.name] = len(floors.rows({}))
    read["nb201_search_runs.csv"] = len(search.search_study().rows())
    for path in sorted(DATA.glob("zoo_batch_sensitivity_*.csv")):
        read[path.name] = len(read_minibatch_scores(path))
    read["ch7_bookkeeping.csv"] = len(read_bookkeeping())
    read["ch7_generator_sensitivity.csv"] = len(read_generator_sensitivity())
    read[ch3.LIVE_REFERENCE.name] = len(read_csv_or_empty(ch3.LIVE_REFERENCE))
    assert len(read) == 21 and all(read.values()), read
