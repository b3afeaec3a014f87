"""reuseprior.core.study: the store, pending runs, the run loop in process and
on Dask, and the ``study`` command's flags."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from reuseprior.commands import main
from reuseprior.core import study as core_study
from reuseprior.core.distributed import connect
from reuseprior.core.study import RunStore, Study


def square(*, name: str, seed: int, scale: float) -> dict:
    """A run of the toy study (module level, so a Dask worker imports it)."""
    return {"plan": "p1", "name": name, "seed": seed, "value": scale * seed**2}


def _study(path, plan="p1", seeds=(0, 1, 2)) -> Study:
    store = RunStore(path, key=("name", "seed"), columns=("plan", "name", "seed", "value"))
    runs = tuple({"name": "toy", "seed": s} for s in seeds)
    return Study("toy", plan, store, runs, square, {"scale": 2.0})


def test_runs_are_stored_once_and_skipped_afterwards(tmp_path):
    study = _study(tmp_path / "runs.csv")
    assert core_study.status(study) == {"stored": 0, "pending": 3, "other plans": 0}
    done = core_study.run_study(study, max_runs=2, progress=False)
    assert [r["seed"] for r in done.stored] == [0, 1]
    assert core_study.pending_runs(study) == [{"name": "toy", "seed": 2}]
    core_study.run_study(study, progress=False)
    rows = pd.read_csv(tmp_path / "runs.csv")
    assert list(rows.columns) == ["plan", "name", "seed", "value"]
    assert rows["value"].tolist() == [0.0, 2.0, 8.0]
    assert core_study.run_study(study, progress=False).stored == []
    other = _study(tmp_path / "runs.csv", plan="p2")
    assert core_study.status(other) == {"stored": 0, "pending": 3, "other plans": 3}


def test_putting_a_run_again_replaces_its_row(tmp_path):
    store = RunStore(tmp_path / "runs.csv", key=("name", "seed"))
    store.put({"plan": "p", "name": "a", "seed": 0, "value": 1})
    store.put({"plan": "p", "name": "b", "seed": 0, "value": 2})
    store.put({"plan": "p", "name": "a", "seed": 0, "value": 3})
    assert store.rows("p")[["name", "value"]].values.tolist() == [["b", 2], ["a", 3]]
    assert store.stored_keys("p") == {("a", 0), ("b", 0)}


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
    stopped = Study(study.name, study.plan, study.store, study.runs, lambda **_: None)
    done = core_study.run_study(stopped, progress=False)
    assert done.stored == [] and len(done.unfinished) == 1
    assert len(core_study.pending_runs(study)) == 3


@pytest.mark.dask
def test_on_dask_every_run_is_a_task_and_this_process_writes_the_rows(tmp_path):
    study = _study(tmp_path / "runs.csv", seeds=tuple(range(6)))
    with connect(workers=2, processes=False, say=lambda _: None) as client:
        done = core_study.run_study(study, client=client, progress=False)
    assert sorted(r["seed"] for r in done.stored) == list(range(6))
    rows = pd.read_csv(tmp_path / "runs.csv").sort_values("seed")
    assert rows["value"].tolist() == [2.0 * s**2 for s in range(6)]


@pytest.mark.dask
def test_several_studies_share_one_set_of_tasks_and_keep_their_own_rows(tmp_path):
    first = _study(tmp_path / "a.csv", seeds=(0, 1, 2))
    second = Study("other", "p1", first.store.__class__(tmp_path / "b.csv", key=("name", "seed")),
                   first.runs[:2], square, {"scale": 1.0})  # fmt: skip
    with connect(workers=2, processes=False, say=lambda _: None) as client:
        done = core_study.run_studies([(first, None), (second, [first.runs[0]])], client=client, progress=False)
    assert [len(d.stored) for d in done] == [3, 1]
    assert pd.read_csv(tmp_path / "a.csv")["value"].sort_values().tolist() == [0.0, 2.0, 8.0]
    assert pd.read_csv(tmp_path / "b.csv")["value"].tolist() == [0.0]


def test_a_deadline_is_minutes_from_now():
    assert core_study.deadline_after(None) is None
    assert abs(core_study.deadline_after(2.0) - (time.time() + 120.0)) < 1.0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["study", "ch4", "run", "--threads", "5"], "does not use --threads"),
        (["study", "ch4", "run", "--profile", "paper"], "study ch4 takes --profile cpu or gpu"),
        (["study", "ch7", "run", "--profile", "gpu"], "--profile gpu is chapter 4's"),
        (["study", "ch3", "run", "--store", "x.csv"], "does not use --store"),
        (["study", "ch4", "run", "--seeds", "99"], "seeds [99] are not in study ch4"),
        (["study", "ch3", "bookkeeping"], "has no action 'bookkeeping'"),
        (["study", "ch7", "run", "--only", "config"], "--only takes COLUMN=VALUE"),
    ],
)
def test_the_study_command_refuses_flags_its_study_does_not_use(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_the_former_commands_are_spellings_of_study(tmp_path, capsys):
    assert main(["sharing-study", "status", "--store", str(tmp_path / "none.csv")]) == 0
    assert "compact-fashion-mnist" in capsys.readouterr().out
