"""The shared run of a population study (:mod:`reuseprior.revolver.population_study`): a toy study that
declares only its columns stores, per finished run, its side tables and one summary row in the
declared order, resumes from its checkpoint and screens its search as declared."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
import pytest
import torch

from reuseprior.core.cpu import run_provenance
from reuseprior.core.study import RUNS, StudySpec
from reuseprior.core.study_runner import run_study
from reuseprior.datasets import load_standard_splits
from reuseprior.revolver.population import PopulationConfig
from reuseprior.revolver.population_study import (
    EVALUATION_KINDS,
    RERUN_MEASURED,
    SUMMARY_READINGS,
    FinishedRun,
    PopulationRecord,
    checkpoint_path,
    population_store,
    run_population,
)
from reuseprior.revolver.search import SearchSpace

torch.set_num_threads(1)

KEY = ("study", "dataset", "seed")


@dataclass(frozen=True)
class ToyDesign:
    """Two width-4 networks, one trained a generation, on the 8x8 digits, the top individual tested
    every generation."""

    name: str = "toy"
    seeds: tuple[int, ...] = (0,)
    image_size: int = 8
    epochs: int = 2

    def runs(self) -> tuple[dict[str, Any], ...]:
        return tuple({"study": self.name, "dataset": "digits", "seed": s} for s in self.seeds)

    def plan_settings(self) -> dict[str, Any]:
        return {"epochs": self.epochs}

    def config(self, run: Mapping[str, Any], input_shape: tuple[int, ...], num_classes: int) -> PopulationConfig:
        space = SearchSpace(
            tuple(input_shape), num_classes, base_widths=(4,), growths=(4,), num_groups=(2,), depths=(1,)
        )
        return PopulationConfig(
            population_size=2,
            sample_size=1,
            epochs=self.epochs,
            warmup_x=1,
            test_every=1,
            seed=int(run["seed"]),
            space=space,
        )


#: the toy's own summary columns, shared ones and its own interleaved, in the order it stores them
TOY_SUMMARY = ("best_val_acc", "doubled_evaluations", "generations", "trained_first", "seconds")
#: how many times the toy's screen was set on a population (started or resumed)
SCREENED: list[tuple[str, int]] = []


def _screen(design: ToyDesign, run: Mapping[str, Any], pop: Any) -> None:
    SCREENED.append((design.name, int(run["seed"])))
    return None


TOY_RECORD = PopulationRecord(
    summary=TOY_SUMMARY,
    readings={
        "doubled_evaluations": lambda run: 2 * len(run.results),
        "trained_first": lambda run: int(run.log["trained"].iloc[0]),
        "seconds": lambda run: -1.0,  # the study's own reading takes precedence over the shared one
    },
    tables={"evaluations": lambda run: run.results, "firsts": lambda run: run.results.head(1).assign(first=True)},
    screen=_screen,
)


def toy_run(
    *, study: str, dataset: str, seed: int, spec: StudySpec, checkpoint_root: Path, deadline: float | None = None
) -> Mapping[str, pd.DataFrame] | None:
    run = {"study": study, "dataset": dataset, "seed": seed}
    return run_population(
        spec,
        run,
        TOY_RECORD,
        label="toy",
        data_dir=None,
        checkpoint_root=checkpoint_root,
        deadline=deadline,
        progress=False,
    )


def toy_study(root: Path, design: ToyDesign = ToyDesign()) -> StudySpec:
    tables = {"evaluations": root / "evaluations.csv", "firsts": root / "firsts.csv"}
    kinds = {"evaluations": EVALUATION_KINDS}
    return StudySpec.of(design, run_one=toy_run, store=population_store(root / "runs.csv", tables, KEY, kinds))


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    study = toy_study(root)
    SCREENED.clear()
    done = run_study(study, options={"checkpoint_root": root / "checkpoints"}, progress=False).stored
    return root, study, done


def test_the_summary_row_has_the_identity_then_the_declared_columns_then_the_provenance(stored):
    _, study, done = stored
    assert done == [{"study": "toy", "dataset": "digits", "seed": 0}]
    runs = study.rows()
    identity = ["study", "plan", "dataset", "seed"]
    assert list(runs.columns) == [*identity, *TOY_SUMMARY, *run_provenance()]
    evaluations = study.rows("evaluations")
    row = runs.iloc[0]
    assert row["plan"] == study.plan and row["generations"] == 2
    assert row["doubled_evaluations"] == 2 * len(evaluations) == 2 * 2  # one trained a generation
    assert row["best_val_acc"] == pytest.approx(evaluations["val_acc"].max())
    assert row["seconds"] == -1.0
    assert SCREENED == [("toy", 0)]


def test_each_side_table_has_the_identity_in_front_and_no_rerun_measured_column(stored):
    _, study, _ = stored
    for kind in ("evaluations", "firsts"):
        table = study.rows(kind)
        assert list(table.columns[:4]) == ["study", "plan", "dataset", "seed"]
        assert not set(RERUN_MEASURED) & set(table.columns)
    assert len(study.rows("firsts")) == 1 and study.rows("firsts")["first"].all()


def test_a_run_past_its_deadline_stays_pending_and_resumes_to_the_same_rows(stored, tmp_path):
    _, study, _ = stored
    run = study.runs[0]
    fresh = toy_study(tmp_path)
    roots = {"checkpoint_root": tmp_path / "checkpoints"}
    splits = load_standard_splits("digits", seed=0, image_size=8)
    path = checkpoint_path(tmp_path / "checkpoints", run, KEY)
    path.parent.mkdir(parents=True)
    TOY_RECORD.start(fresh, run, splits, path).run(until=1).save(path)  # stopped after one generation
    assert toy_run(**run, spec=fresh, deadline=time.time() - 1, **roots) is None
    assert run_study(fresh, options=roots, progress=False).stored == [run]
    for kind in (RUNS, "evaluations", "firsts"):
        measured = [*RERUN_MEASURED, "finished_utc", "machine"]
        resumed, straight = (s.rows(kind).drop(columns=measured, errors="ignore") for s in (fresh, study))
        pd.testing.assert_frame_equal(resumed, straight)


def test_a_summary_column_without_a_reading_is_refused():
    with pytest.raises(ValueError, match=r"\['unread'\] have no reading"):
        PopulationRecord(summary=("generations", "unread"))
    with pytest.raises(ValueError, match="side tables only"):
        PopulationRecord(summary=(), tables={RUNS: lambda run: run.results})


def test_the_shared_readings_read_the_finished_run():
    log = pd.DataFrame(
        {"generation": [0, 1, 2], "top_test_acc": [0.5, None, 0.4], "top_params": [10, 20, 30], "trained": [1, 1, 1]}
    )
    results = pd.DataFrame({"batches": [3, 4], "val_acc": [0.2, 0.6], "params": [10, 30]})
    run = FinishedRun(design=None, pop=None, log=log, results=results, seconds=12.34, cpu_seconds=5.06)
    read = {c: SUMMARY_READINGS[c](run) for c in SUMMARY_READINGS if c != "top_train_acc_final"}
    assert read == {
        "evaluations": 2,
        "generations": 3,
        "batches": 7,
        "top_test_acc_peak": 0.5,
        "top_test_acc_peak_generation": 0,
        "top_params_at_peak": 10,
        "top_test_acc_final": 0.4,
        "top_params_final": 30,
        "best_val_acc": 0.6,
        "median_params": 20.0,
        "seconds": 12.3,
        "cpu_seconds": 5.1,
    }
