"""reuseprior.core.study: the declared study, the store, its floors, pending runs, the run loop in
process and on Dask, and the ``study`` command's flags."""

from __future__ import annotations

import functools
import math
import re
import threading
import time
from dataclasses import replace

import pandas as pd
import pytest

from reuseprior.chapters import STUDIES, get_study, list_studies
from reuseprior.commands import main
from reuseprior.commands import study as study_command
from reuseprior.core import study as core_study
from reuseprior.core import study_runner
from reuseprior.core.declared_study import DeclaredStudy
from reuseprior.core.distributed import JOBS_PER_THREAD, connect
from reuseprior.core.errors import CsvFormatError, MachineKindError
from reuseprior.core.study import FloorStore, RunStore, StudySpec, settings_hash
from tests import toy_study

#: the toy studies are registered for each test of this module only
pytestmark = pytest.mark.usefixtures("toy_studies")


def square(*, name: str, seed: int, spec: StudySpec) -> dict:
    """A run of the toy study (module level, so a Dask worker imports it): its design is the scale."""
    return {"plan": spec.plan, "name": name, "seed": seed, "value": spec.design * seed**2}


def _study(path, scale=2.0, seeds=(0, 1, 2), run_one=square) -> StudySpec:
    store = RunStore(path, key=("name", "seed"), columns=("plan", "name", "seed", "value"))
    runs = tuple({"name": "toy", "seed": s} for s in seeds)
    return StudySpec("toy", scale, {"scale": scale}, seeds, runs, run_one, store, status_by=("name",))


#: the run-hours of each toy run of :func:`test_hours_left_are_the_pending_runs_at_their_groups_mean`
TIMED_HOURS = {("a", 0): 1.0, ("a", 1): 3.0, ("b", 0): 10.0}


def timed(*, name: str, seed: int, spec: StudySpec) -> dict:
    """A toy run that took :data:`TIMED_HOURS` of its key (module level, for a Dask worker)."""
    return {"plan": spec.plan, "name": name, "seed": seed, "seconds": 3600 * TIMED_HOURS[(name, seed)]}


def test_hours_left_are_the_pending_runs_at_their_groups_mean(tmp_path, capsys):
    store = RunStore(tmp_path / "timed.csv", key=("name", "seed"), columns=("plan", "name", "seed", "seconds"))
    runs = tuple({"name": n, "seed": s} for n, s in [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1), ("c", 0)])
    spec = StudySpec(
        "timed", 1, {}, (0, 1, 2), runs, timed, store, status_by=("name",), hours={"hours stored": "seconds"}
    )
    assert math.isnan(core_study.hours_left(spec)["hours stored"])  # nothing stored: no mean to go by
    study_runner.run_study(spec, only=[{"name": n, "seed": s} for n, s in TIMED_HOURS], progress=False)
    # a/2 at a's mean (2 h), b/1 at b's (10 h), c/0 with none of its own stored at every run's (14/3 h)
    assert core_study.hours_left(spec)["hours stored"] == pytest.approx(2.0 + 10.0 + 14.0 / 3)
    study_command._print_hours_left(spec)
    assert "left: about 16.7 run-hours of 'hours stored' at the stored runs' mean" in capsys.readouterr().out
    done = replace(spec, runs=tuple({"name": n, "seed": s} for n, s in TIMED_HOURS))
    assert core_study.hours_left(done) == {"hours stored": 0.0}


def test_the_plan_is_the_hash_of_the_settings():
    assert _study("x").plan == settings_hash({"scale": 2.0}) == _study("y").plan != _study("x", scale=3.0).plan
    assert len(settings_hash({})) == 12 and settings_hash({}, prefix="p-", digits=4).startswith("p-")


def test_runs_are_stored_once_and_skipped_afterwards(tmp_path):
    study = _study(tmp_path / "runs.csv")
    assert core_study.status(study) == {"stored": 0, "pending": 3, "other plans": 0}
    done = study_runner.run_study(study, max_runs=2, progress=False)
    assert [r["seed"] for r in done.stored] == [0, 1]
    assert core_study.pending_runs(study) == [{"name": "toy", "seed": 2}]
    study_runner.run_study(study, progress=False)
    rows = pd.read_csv(tmp_path / "runs.csv")
    assert list(rows.columns) == ["plan", "name", "seed", "value"]
    assert rows["value"].tolist() == [0.0, 2.0, 8.0]
    assert study_runner.run_study(study, progress=False).stored == []
    other = _study(tmp_path / "runs.csv", scale=3.0)
    assert core_study.status(other) == {"stored": 0, "pending": 3, "other plans": 3}
    table = core_study.status_table(study)
    assert table.to_dict("records") == [{"name": "toy", "stored seeds": [0, 1, 2], "pending": 0}]
    assert core_study.status_table(other).attrs["other_plans"] == 3


def test_rows_come_in_the_order_of_the_declared_runs_whatever_order_they_finished_in(tmp_path):
    study = _study(tmp_path / "runs.csv")
    for seed in (2, 0, 1):  # as a cluster might finish them
        study.store.put(square(name="toy", seed=seed, spec=study))
    study.store.put({"plan": study.plan, "name": "stray", "seed": 0, "value": -1.0})
    assert pd.read_csv(study.store.path)["seed"].tolist() == [2, 0, 1, 0]
    assert study.rows()[["name", "seed"]].values.tolist() == [["toy", 0], ["toy", 1], ["toy", 2], ["stray", 0]]


def test_a_run_gets_the_options_it_names_and_no_other(tmp_path):
    def scaled(*, name: str, seed: int, spec: StudySpec, factor: float = 1.0) -> dict:
        return {**square(name=name, seed=seed, spec=spec), "value": factor}

    study = _study(tmp_path / "runs.csv", run_one=scaled)
    study_runner.run_study(study, options={"factor": 5.0, "device": "cuda"}, progress=False)
    assert set(study.rows()["value"]) == {5.0}


def test_a_store_with_side_tables_writes_them_before_the_runs_row(tmp_path):
    store = RunStore(tmp_path / "runs.csv", key=("name",), tables={"log": tmp_path / "log.csv"})
    frames = {
        "log": pd.DataFrame({"plan": ["p", "p"], "name": ["a", "a"], "step": [0, 1]}),
        "runs": pd.DataFrame({"plan": ["p"], "name": ["a"], "value": [1.0]}),
    }
    store.save(frames)
    store.save(frames)  # the same run again replaces its rows
    assert len(store.rows("p", "log")) == 2 and store.stored_keys("p") == {("a",)}
    moved = store.relocated(tmp_path / "elsewhere" / "runs.csv")
    assert moved.path_of("log") == tmp_path / "elsewhere" / "log.csv"


def floor_of(key, spec, *, offset: float = 0.0) -> dict:
    """The toy floor of one seed (a FloorStore's compute)."""
    return {"name": key["name"], "seed": key["seed"], "top1": spec.design + key["seed"] + offset}


def test_floors_are_stored_once_per_key_and_read_in_the_studys_order(tmp_path):
    floors = FloorStore(tmp_path / "floor.csv", ("name", "seed"), "python -m x floor", floor_of)
    study = replace(
        _study(tmp_path / "runs.csv"), floor=floors, floor_keys=tuple({"name": "toy", "seed": s} for s in (2, 0, 1))
    )
    with pytest.raises(LookupError, match="python -m x floor"):
        study.floor_rows()
    study_runner.store_floors(study, seeds=[0], offset=0.5, progress=False)
    assert study.floor_rows()["top1"].tolist() == [2.5]
    study_runner.store_floors(study, progress=False)
    assert study.floor_rows()["seed"].tolist() == [2, 0, 1] and len(pd.read_csv(floors.path)) == 3


def test_putting_a_run_again_replaces_its_row(tmp_path):
    store = RunStore(tmp_path / "runs.csv", key=("name", "seed"))
    store.put({"plan": "p", "name": "a", "seed": 0, "value": 1})
    store.put({"plan": "p", "name": "b", "seed": 0, "value": 2})
    store.put({"plan": "p", "name": "a", "seed": 0, "value": 3})
    assert store.rows("p")[["name", "value"]].values.tolist() == [["b", 2], ["a", 3]]
    assert store.stored_keys("p") == {("a", 0), ("b", 0)}


@pytest.mark.parametrize("plan", ["4545749399e3", "012345678901", "123456789012"])
def test_a_plan_id_that_looks_like_a_number_is_kept_as_written(tmp_path, plan):
    """A hex digest of digits (and one ``e``) read as a number would match no plan: the run would be
    trained again and its second row would turn the first's plan into ``4545749399000.0``."""
    store = RunStore(tmp_path / "runs.csv", key=("name", "seed"))
    store.put({"plan": plan, "name": "a", "seed": 0, "value": 1})
    assert store.stored_keys(plan) == {("a", 0)}
    store.put({"plan": plan, "name": "a", "seed": 1, "value": 2})
    assert pd.read_csv(store.path, dtype=str)["plan"].tolist() == [plan, plan]
    floors = FloorStore(tmp_path / "floors.csv", key=("plan_id", "seed"), command="make floors", compute=dict)
    floors.put({"plan_id": plan, "seed": 0, "floor": 0.5})
    assert floors.stored({"plan_id": plan, "seed": 0})


def test_another_copys_new_rows_are_merged_and_stored_rows_kept(tmp_path):
    here, there = (RunStore(tmp_path / f"{n}.csv", key=("name", "seed")) for n in ("here", "there"))
    here.put({"plan": "p", "name": "a", "seed": 0, "value": 1})
    there.put({"plan": "p", "name": "a", "seed": 0, "value": 99})  # the same run, trained elsewhere
    there.put({"plan": "p", "name": "a", "seed": 1, "value": 2})
    there.put({"plan": "q", "name": "a", "seed": 0, "value": 3})
    assert here.merge_from(there.path) == 2 and here.merge_from(there.path) == 0
    rows = here.rows().sort_values(["plan", "seed"])
    assert rows[["plan", "seed", "value"]].values.tolist() == [["p", 0, 1], ["p", 1, 2], ["q", 0, 3]]


def test_a_deadline_leaves_the_run_pending(tmp_path):
    study = _study(tmp_path / "runs.csv")
    stopped = replace(study, run_one=lambda **_: None)
    done = study_runner.run_study(stopped, progress=False)
    assert done.stored == [] and len(done.unfinished) == 1
    assert len(core_study.pending_runs(study)) == 3


@pytest.mark.dask
def test_on_dask_every_run_is_a_task_and_this_process_writes_the_rows(tmp_path):
    study = _study(tmp_path / "runs.csv", seeds=tuple(range(6)))
    with connect(workers=2, processes=False, say=lambda _: None) as client:
        done = study_runner.run_study(study, client=client, progress=False)
    assert sorted(r["seed"] for r in done.stored) == list(range(6))
    rows = pd.read_csv(tmp_path / "runs.csv").sort_values("seed")
    assert rows["value"].tolist() == [2.0 * s**2 for s in range(6)]


def square_storing_the_last(*, name: str, seed: int, spec: StudySpec) -> dict:
    """A toy run whose first seed also stores the last seed's row, as a merged copy of the store would."""
    if seed == spec.seeds[0]:
        spec.store.put({"plan": spec.plan, "name": name, "seed": spec.seeds[-1], "value": -1.0})
    return square(name=name, seed=seed, spec=spec)


@pytest.mark.dask
def test_a_run_stored_meanwhile_by_another_command_is_skipped_when_its_task_comes(tmp_path):
    """A cluster's runs are claimed as they are queued, before their turn (two per worker thread); a run that
    another command stored after that (a lent machine's rows merged) is skipped on its worker, not trained
    again or refused."""
    assert JOBS_PER_THREAD >= 2  # both runs queued at once on the one thread
    study = _study(tmp_path / "runs.csv", seeds=(0, 1), run_one=square_storing_the_last)
    with connect(workers=1, processes=False, say=lambda _: None) as client:
        done = study_runner.run_study(study, client=client, progress=False)
    assert [r["seed"] for r in done.stored] == [0]
    assert done.claimed == {"toy/1": "stored by another command meanwhile"}
    assert pd.read_csv(tmp_path / "runs.csv").set_index("seed")["value"].to_dict() == {1: -1.0, 0: 0.0}


def square_refusing_seed_one(*, name: str, seed: int, spec: StudySpec) -> dict:
    """A toy run that refuses seed 1 for its machine kind, as the confirmatory study refuses a seed begun elsewhere."""
    if seed == 1:
        raise MachineKindError("seed 1 has runs trained on another kind")
    return square(name=name, seed=seed, spec=spec)


def square_failing_seed_one(*, name: str, seed: int, spec: StudySpec) -> dict:
    """A toy run with a bug on seed 1."""
    if seed == 1:
        raise ZeroDivisionError("a bug")
    return square(name=name, seed=seed, spec=spec)


@pytest.mark.dask
def test_a_refused_run_is_recorded_failed_with_its_reason_and_the_others_go_on(tmp_path):
    """A refusal of one run (core.study.RUN_REFUSALS) is that run's outcome, and so is any other exception."""
    study = _study(tmp_path / "runs.csv", seeds=(0, 1, 2), run_one=square_refusing_seed_one)
    with connect(workers=1, processes=False, say=lambda _: None) as client:
        done = study_runner.run_study(study, client=client, progress=False)
    assert [r["seed"] for r in done.stored] == [0, 2]
    assert done.killed == {
        "toy/1": "refused before training: MachineKindError: seed 1 has runs trained on another kind"
    }
    serial = study_runner.run_study(study, progress=False)  # in process as on Dask
    assert serial.stored == [] and serial.killed == done.killed
    buggy = replace(study, run_one=square_failing_seed_one).with_store(tmp_path / "buggy.csv")
    failed = study_runner.run_study(buggy, progress=False)  # any exception of a run is its outcome too (issue 73)
    assert [r["seed"] for r in failed.stored] == [0, 2]
    assert re.fullmatch(r"ZeroDivisionError: a bug \(raised at test_study.py, line \d+\)", failed.killed["toy/1"])


@pytest.mark.dask
def test_several_studies_share_one_set_of_tasks_and_keep_their_own_rows(tmp_path):
    first = _study(tmp_path / "a.csv", seeds=(0, 1, 2))
    second = replace(first, name="other", design=1.0, runs=first.runs[:2]).with_store(tmp_path / "b.csv")
    with connect(workers=2, processes=False, say=lambda _: None) as client:
        done = study_runner.run_studies([(first, None), (second, [first.runs[0]])], client=client, progress=False)
    assert [len(d.stored) for d in done] == [3, 1]
    assert pd.read_csv(tmp_path / "a.csv")["value"].sort_values().tolist() == [0.0, 2.0, 8.0]
    assert pd.read_csv(tmp_path / "b.csv")["value"].tolist() == [0.0]


def test_a_deadline_is_minutes_from_now():
    assert study_runner.deadline_after(None) is None
    assert abs(study_runner.deadline_after(2.0) - (time.time() + 120.0)) < 1.0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["study", "ch4", "run", "--threads", "5"], "does not use --threads"),
        (["study", "ch4", "run", "--profile", "paper"], "study ch4 takes --profile cpu or gpu"),
        (["study", "ch4", "status", "--profile", "quick"], "study ch4 takes --profile cpu or gpu, not 'quick'"),
        (["study", "ch7", "run", "--profile", "gpu"], "study ch7 takes --profile quick, paper or full, not 'gpu'"),
        (["study", "ch3", "check", "--profile", "quick"], "study ch3 does not use --profile"),
        (["study", "ch33", "run"], "unknown study 'ch33': did you mean 'ch3'"),
        (["study", "ch3"], "give a study and an action"),
        (["study", "ch3", "--list"], "--list prints every study: give it alone"),
        (["study", "ch3", "run", "--store", "x.csv"], "does not use --store"),
        (["study", "ch4", "run", "--seeds", "99"], "seeds [99] are not in study ch4"),
        (["study", "ch3", "bookkeeping"], "has no action 'bookkeeping'"),
        (["study", "ch7", "run", "--only", "config"], "--only takes COLUMN=VALUE"),
        (["study", "ch4", "status", "--only", "model=V2-S-shared"], "'status' does not take it"),
        (["study", "ch4", "status", "--seeds", "1"], "'status' does not take it"),
        (["study", "ch3", "run", "--workers", "2", "--scheduler", "tcp://host:8786"], "an existing cluster"),
        (["study", "ch3", "run", "--runs", "2"], "--runs says how many stored runs 'check' recomputes"),
        (["study", "ch3", "status", "--all"], "'status' does not take it"),
        (["study", "ch3", "check", "--runs", "2", "--all"], "not allowed with argument"),
        (["study", "ch3", "check", "--runs", "0"], "argument --runs: must be an integer >= 1"),
    ],
)
def test_the_study_command_refuses_flags_its_study_does_not_use(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_an_only_value_that_matches_no_run_names_the_values_there_are(tmp_path, monkeypatch, capsys):
    column = next(c for c in toy_study.STUDY.runs[0] if c != "seed")
    values = sorted({str(run[column]) for run in toy_study.STUDY.runs})
    assert main(["study", "toy", "run", "--only", f"{column}=no-such-value", "--store", str(tmp_path / "toy.csv")]) == 2
    assert capsys.readouterr().err == (
        f"python -m reuseprior study: error: --only {column}=no-such-value matches no run; the {column} values: "
        f"{values}\n"
    )
    assert not (tmp_path / "toy.csv").exists()


@pytest.mark.dask
def test_a_new_study_is_its_declaration_alone(tmp_path, monkeypatch, capsys, register):
    """CONTRIBUTING.md's recipe followed once: ``tests/toy_study.py`` declares the study and registers it
    next to the declaration; with no edit to a command, a parser or a list, the command lists it, runs it,
    resumes it and says what is stored. A study registered by a test alone is listed and run the same way."""
    assert main(["study", "--list", "toy*"]) == 0
    assert "toy: a toy study (CONTRIBUTING.md's recipe)\n    actions run, status\n" in capsys.readouterr().out
    fresh = toy_study.toy_study("toy-fresh", noise=0.2)
    register(STUDIES, "toy-fresh", DeclaredStudy.of(fresh, "a toy study this test registers"))
    assert "toy-fresh" in list_studies("toy-*") and main(["study", "--list", "toy-fresh"]) == 0
    assert capsys.readouterr().out == "toy-fresh: a toy study this test registers\n    actions run, status\n"
    fresh_store = ["--store", str(tmp_path / "fresh.csv"), "--no-progress"]
    monkeypatch.setattr(study_command, "connect", functools.partial(connect, processes=False, say=lambda _: None))
    store = ["--store", str(tmp_path / "toy.csv"), "--no-progress"]
    assert main(["study", "toy", "run", "--seeds", "0", "1", *store]) == 0
    assert "toy: stored 4 runs, 0 pending" in capsys.readouterr().out
    assert main(["study", "toy", "run", *store]) == 0
    assert "toy: stored 2 runs, 0 pending" in capsys.readouterr().out
    assert main(["study", "toy", "status", *store]) == 0
    assert re.search(r"large +\[0, 1, 2\] +0", capsys.readouterr().out)
    rows = pd.read_csv(tmp_path / "toy.csv")
    assert len(rows) == 6 and set(rows["plan"]) == {toy_study.STUDY.plan}
    assert main(["study", "toy-fresh", "run", "--seeds", "0", *fresh_store]) == 0
    assert "toy-fresh: stored 2 runs, 0 pending" in capsys.readouterr().out
    assert main(["study", "toy-fresh", "status", *fresh_store]) == 0
    assert re.search(r"small +\[0\] +2", capsys.readouterr().out)


@pytest.mark.dask
def test_status_notes_the_rows_of_other_plans_under_each_study_of_a_group(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(study_command, "connect", functools.partial(connect, processes=False, say=lambda _: None))
    store = ["--store", str(tmp_path / "toys.csv"), "--no-progress"]
    assert main(["study", "toys", "run", "--seeds", "0", *store]) == 0
    capsys.readouterr()
    assert main(["study", "toys", "status", *store]) == 0
    lines = capsys.readouterr().out.splitlines()
    plans = [toy_study.STUDY.plan, toy_study.PAIR.choose(None)[1].plan]
    titles = [lines.index(f"study {name}, plan {plan}:") for name, plan in zip(("toy", "toy-quiet"), plans)]
    notes = [lines.index(f"  (toys.csv also holds 2 rows of other studies or plans than {plan})") for plan in plans]
    assert titles[0] < notes[0] < titles[1] < notes[1]  # each note under the table of the study it concerns


@pytest.mark.dask
def test_status_shows_the_declared_criteria_and_check_judges_the_live_slice(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(study_command, "connect", functools.partial(connect, processes=False, say=lambda _: None))
    store = tmp_path / "checked.csv"
    assert main(["study", "toy-checked", "run", "--seeds", "0", "--store", str(store), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["study", "toy-checked", "status", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert "criteria of study toy-checked's stored runs:" in out and "above zero" in out
    assert main(["study", "toy-checked", "check", "--store", str(store)]) == 0
    assert "toy-checked: every row holds (column 'equal')" in capsys.readouterr().out
    rows = pd.read_csv(store)
    checked = (rows["model"] == "small") & (rows["seed"] == 0)  # the first declared run, whichever finished first
    rows.loc[checked, "score"] += 1.0
    rows.to_csv(store, index=False)
    assert main(["study", "toy-checked", "check", "--store", str(store)]) == 1
    assert "toy-checked: a row does not hold (column 'equal')" in capsys.readouterr().out


@pytest.mark.dask
def test_check_runs_n_and_all_notice_a_hand_edited_row_the_first_run_does_not_show(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(study_command, "connect", functools.partial(connect, processes=False, say=lambda _: None))
    store = ["--store", str(tmp_path / "checked.csv")]
    assert main(["study", "toy-checked", "run", *store, "--no-progress"]) == 0
    rows = pd.read_csv(store[1])
    edited = (rows["model"] == "large") & (rows["seed"] == 2)  # the last declared run, never the first checked
    rows.loc[edited, "score"] = rows.loc[edited, "score"].round(2)  # its digits after the second dropped by hand
    assert (pd.read_csv(store[1])["score"] != rows["score"]).sum() == 1
    rows.to_csv(store[1], index=False)
    capsys.readouterr()
    assert main(["study", "toy-checked", "check", *store, "--runs", "1"]) == 0  # the first run alone: unchanged
    assert main(["study", "toy-checked", "check", *store, "--all"]) == 1
    assert main(["study", "toy-checked", "check", *store, "--runs", str(len(rows))]) == 1
    out = capsys.readouterr().out
    assert out.count("toy-checked: a row does not hold") == 2 and "large" in out
    # the default sample: the first run and a sample drawn with a fixed seed, the same on every machine
    runs = list(toy_study.CHECKED.runs)
    sample = core_study.checked_runs(runs, core_study.CHECKED_RUNS)
    assert sample == core_study.checked_runs(runs, core_study.CHECKED_RUNS) and sample[0] == runs[0]
    expected = 1 if {"model": "large", "seed": 2} in sample else 0
    assert main(["study", "toy-checked", "check", *store]) == expected
    with pytest.raises(SystemExit) as exit_:
        main(["study", "toy", "check"])  # a study that declares no live check has no check action
    assert exit_.value.code == 2 and "study toy has no action 'check'" in capsys.readouterr().err


def test_the_list_names_every_study_once_with_its_other_names_what_it_is_its_actions_and_profiles(capsys):
    """One row per study (issue 74: aliases were listed as studies of their own), its other names beside it."""
    assert main(["study", "--list"]) == 0
    out = capsys.readouterr().out
    entries = {id(get_study(name)): get_study(name) for name in list_studies()}.values()
    titles = [line for line in out.splitlines() if not line.startswith("    ")]
    assert len(titles) == len(entries) < len(list_studies())
    for entry in entries:
        name, *others = entry.names
        also = f" (also {', '.join(others)})" if others else ""
        assert f"{name}{also}: {entry.description}\n    actions {', '.join(entry.all_actions)}" in out, name
    assert "\nch4: " in out and "profiles cpu (cpu), gpu (cuda)" in out and "\nch3 (also cpu-14px): " in out
    assert main(["study", "--list", "cpu-14px"]) == 0  # a study is found by any of its names
    assert capsys.readouterr().out.startswith("ch3 (also cpu-14px): ")
    assert main(["study", "--list", "zzz*"]) == 2
    assert "no study matches 'zzz*'" in capsys.readouterr().err


def test_what_an_interrupted_study_keeps_names_every_declared_action_once():
    """Issue 74: the note printed on Ctrl-C named the chapters' actions by hand. Every action a declared study
    takes is in exactly one group of :data:`reuseprior.commands.STUDY_ACTIONS_KEEPING`, and the note names
    those that store anything."""
    from reuseprior.commands import KEPT_WHEN_INTERRUPTED, STUDY_ACTIONS_KEEPING

    declared = {action for name in list_studies() for action in get_study(name).all_actions}
    grouped = [action for actions in STUDY_ACTIONS_KEEPING.values() for action in actions]
    assert sorted(grouped) == sorted(set(grouped)) and set(grouped) == declared
    note = KEPT_WHEN_INTERRUPTED["study"]
    kept = [*STUDY_ACTIONS_KEEPING["as they finish"], *STUDY_ACTIONS_KEEPING["at the end"]]
    assert all(re.search(rf"(?<![\w-]){re.escape(action)}(?![\w-])", note) for action in kept), note


def test_floors_stored_at_once_by_two_writers_are_all_kept(tmp_path):
    """Chapters 3 and 8 share one floor file; each put reads and rewrites it under its lock."""
    floors = FloorStore(tmp_path / "floors.csv", key=("study", "seed"), command="make floors", compute=dict)

    def store(study: str) -> None:
        for seed in range(15):
            floors.put({"study": study, "seed": seed, "floor": 0.5})

    writers = [threading.Thread(target=store, args=(s,)) for s in ("ch3", "ch8")]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert len(pd.read_csv(floors.path)) == 30


def test_a_store_with_a_row_that_names_no_run_is_refused_before_it_is_rewritten(tmp_path):
    study = _study(tmp_path / "runs.csv")
    study.store.put(square(name="toy", seed=0, spec=study))
    with open(study.store.path, "a") as fh:
        fh.write("<<<<<<< HEAD\n")
    before = study.store.path.read_text()
    with pytest.raises(
        CsvFormatError, match=r"runs.csv, line 3: 1 fields where the header has 4: .* mend or delete that line"
    ):
        study.rows()
    with pytest.raises(CsvFormatError):
        study.store.put(square(name="toy", seed=1, spec=study))
    assert study.store.path.read_text() == before
    other = tmp_path / "other.csv"
    pd.DataFrame({"plan": ["p"], "model": ["m"]}).to_csv(other, index=False)
    with pytest.raises(CsvFormatError, match=r"other.csv, line 1: the header has no column \['name', 'seed'\]"):
        study.with_store(other).rows()


def test_a_store_not_written_yet_has_no_rows_and_no_pending_error(tmp_path):
    """A store that declares no columns (the population studies') reads an absent file as an empty frame
    without key columns: no rows, not a KeyError."""
    store = RunStore(tmp_path / "runs.csv", key=("name", "seed"), tables={"log": tmp_path / "log.csv"})
    study = replace(_study(tmp_path / "runs.csv"), store=store)
    assert study.rows().empty and study.rows("log").empty
    assert core_study.status(study) == {"stored": 0, "pending": 3, "other plans": 0}


def test_a_merged_copy_takes_this_store_s_key_types_and_a_selection_under_its_lock(tmp_path):
    study = _study(tmp_path / "runs.csv")
    study.store.put(square(name="toy", seed=0, spec=study))
    copy = tmp_path / "copy.csv"
    pd.DataFrame({"plan": [study.plan] * 2, "name": ["toy"] * 2, "seed": [1.0, 2.0], "value": [2.0, 8.0]}).to_csv(
        copy, index=False
    )
    seen = []

    def only_seed_two(new: pd.DataFrame, mine: pd.DataFrame) -> pd.DataFrame:
        seen.append(mine["seed"].tolist())
        return new[new["seed"] == 2]

    assert study.store.merge_from(copy, select=only_seed_two) == 1
    assert seen == [[0]]
    assert open(tmp_path / "runs.csv").read().splitlines()[1:] == [f"{study.plan},toy,0,0", f"{study.plan},toy,2,8"]


def test_checked_runs_keeps_the_first_and_draws_the_rest_by_a_fixed_seed():
    candidates = [{"seed": s} for s in range(10)]
    assert core_study.checked_runs(candidates, None) == candidates  # --all
    assert core_study.checked_runs(candidates, 1) == candidates[:1]
    assert core_study.checked_runs(candidates, 25) == candidates
    sample = core_study.checked_runs(candidates, 4)
    assert sample[0] == candidates[0] and len(sample) == 4 and len({r["seed"] for r in sample}) == 4
    assert [r["seed"] for r in sample] == sorted(r["seed"] for r in sample)  # in the candidates' order
    assert core_study.checked_runs(candidates, 4) == sample  # seeded: the same runs on every call
    drawn = {r["seed"] for seed in range(40) for r in core_study.checked_runs(candidates, 3, seed=seed)}
    assert drawn == set(range(10))  # any stored run can be drawn, not only the first few
    with pytest.raises(ValueError, match="at least one stored run"):
        core_study.checked_runs(candidates, 0)
