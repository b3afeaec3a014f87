"""A paired-seed study of Revolver populations: what every such study's ``run_one`` does, on top of the
engine of :mod:`reuseprior.core.study` (a study of populations is declared with it).

Policy:

- **A run** is one :class:`~reuseprior.revolver.population.Population` for one key of the study (its
  key columns, e.g. study, dataset, mode and seed); a study's run keys are in the order they run.
  Its population is the design's configuration of the run (:class:`PopulationStudyDesign`), its
  checkpoint's metadata the run's identity. Every stored row starts with the run's identity columns
  (:func:`run_identity`: the study's name, its plan, then the rest of the key).
- **What a study stores of a finished run** is declared by its columns (:class:`PopulationRecord`):
  the runs table's summary columns in their stored order, each a reading of the finished run
  (:class:`FinishedRun`; the readings every study may name are :data:`SUMMARY_READINGS`, a study adds
  its own), followed by the run's provenance (:func:`reuseprior.core.cpu.run_provenance`); and its side
  tables, each a frame of the finished run, stored without the columns a rerun measures anew
  (:data:`RERUN_MEASURED`: the runs table keeps their total).
- **Storage** (:func:`population_store`): the runs table (one summary row a run, written last: it
  marks the run as stored) and the side tables a run writes before it (evaluations, generation log,
  ...), each file replaced atomically under the runs file's lock
  (:meth:`reuseprior.core.study.RunStore.save`), the run's earlier rows replaced, so an interruption
  loses at most the run in progress.
- **Checkpoints.** A run saves its population every generation at :func:`checkpoint_path` (not
  tracked) and resumes from there only with the same configuration
  (:func:`~reuseprior.revolver.population.load_matching` raises otherwise, naming each difference);
  wall seconds and CPU seconds of the run's thread accumulate in the checkpoint's metadata across
  resumes (:func:`advance`). A run trains on one thread (``torch.set_num_threads(1)``: the models are
  small and the rows then do not depend on the core count) on its key's ``dataset``, split by its
  ``seed``. A ``deadline`` (a :func:`time.time`) is checked between generations: a run past it
  returns None and stays pending.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

import pandas as pd
import torch

from reuseprior.core.cpu import run_provenance
from reuseprior.core.progress import progress_bar
from reuseprior.core.stored_rows import COUNT, FRACTION, ColumnKinds
from reuseprior.core.study import RUNS, RunStore, StudySpec
from reuseprior.datasets import DatasetSplits, load_standard_splits
from reuseprior.revolver.population import EVALUATION_COLUMNS, Population, PopulationConfig, load_matching
from reuseprior.revolver.search import Algorithm

__all__ = [
    "EVALUATION_KINDS",
    "GENERATION_KINDS",
    "NOT_IN_SIDE_TABLES",
    "RERUN_MEASURED",
    "STORED_EVALUATION_COLUMNS",
    "SUMMARY_READINGS",
    "FinishedRun",
    "PopulationRecord",
    "PopulationStudyDesign",
    "advance",
    "checkpoint_path",
    "load_or_start",
    "summary_of_tables",
    "population_store",
    "run_identity",
    "run_population",
    "top_test_readings",
    "with_identity_columns",
]


#: the kinds of a population's generation log (one row a generation; the top individual's columns
#: are empty in a generation that has none)
GENERATION_KINDS = ColumnKinds(
    required=("generation", "warmup", "lr", "coefficient", "replaced", "trained", "best_score", "mean_score"),
    numeric=(
        "generation",
        "lr",
        "coefficient",
        "replaced",
        "trained",
        "best_score",
        "mean_score",
        "top_individual",
        "top_params",
        "top_score",
        "top_test_acc",
    ),
    ranges=(
        *ColumnKinds.within(FRACTION, "top_test_acc"),
        *ColumnKinds.within(COUNT, "generation", "replaced", "trained", "top_individual", "top_params"),
    ),
)
#: the columns a rerun measures anew (wall seconds): no side table stores them, the runs table keeps
#: the run's total
RERUN_MEASURED: tuple[str, ...] = ("seconds",)
#: the stored columns of a population's evaluations (one row a trained individual): an evaluation row's
#: (:data:`~reuseprior.revolver.population.EVALUATION_COLUMNS`) less what a rerun measures anew
STORED_EVALUATION_COLUMNS: tuple[str, ...] = tuple(c for c in EVALUATION_COLUMNS if c not in RERUN_MEASURED)
#: the kinds of a population's evaluations: every stored column filled, each a number but ``origin``
EVALUATION_KINDS = ColumnKinds(
    required=STORED_EVALUATION_COLUMNS,
    numeric=tuple(c for c in STORED_EVALUATION_COLUMNS if c != "origin"),
    ranges=(
        *ColumnKinds.within(FRACTION, "val_acc"),
        *ColumnKinds.within(COUNT, "generation", "individual", "index", "params", "shared_params", "batches"),
    ),
)


def population_store(
    runs: Path, tables: Mapping[str, Path], key: tuple[str, ...], kinds: Mapping[str, ColumnKinds]
) -> RunStore:
    """The store of a population study: its runs table at ``runs`` (one summary row a run, keyed by
    ``key``, whose first column is the study's name), and the side ``tables`` a run writes first;
    ``kinds``: the kinds of each table's values ("runs" and each side table's name)."""
    return RunStore(Path(runs), key=key, name_column=key[0], tables=dict(tables), kinds=dict(kinds))


def run_identity(spec: StudySpec, run: Mapping[str, Any]) -> dict[str, Any]:
    """The identity columns of ``run``'s rows, in their stored order: the study's name, the plan, then
    the rest of the key."""
    name, *rest = spec.store.key
    return {name: run[name], spec.store.plan_column: spec.plan, **{c: run[c] for c in rest}}


def with_identity_columns(frame: pd.DataFrame, ident: Mapping[str, Any], drop: Iterable[str] = ()) -> pd.DataFrame:
    """``frame`` with the run's ``ident`` columns in front (its own columns of
    those names, and those of ``drop``, removed)."""
    gone = [c for c in (*drop, *ident) if c in frame.columns]
    frame = frame.drop(columns=gone).reset_index(drop=True)
    return pd.concat([pd.DataFrame({k: [v] * len(frame) for k, v in ident.items()}), frame], axis=1)


def checkpoint_path(root: Path, run: Mapping[str, Any], key: Sequence[str]) -> Path:
    """Where run ``run`` checkpoints: a folder per key column but the last two,
    then ``<second last>-<last column><its value>.pt`` (``mnist/random-seed3.pt``)."""
    *folders, name, last = key
    return Path(root, *(str(run[c]) for c in folders), f"{run[name]}-{last}{run[last]}.pt")


def load_or_start(config: PopulationConfig, splits, path: Path, metadata: Mapping[str, Any]) -> Population:
    """The population checkpointed at ``path`` when there is one (refused unless
    it was started with ``config``), else a new one with ``metadata`` recorded."""
    if path.exists():
        return load_matching(path, config, splits, fix="delete it to start that run afresh")
    pop = Population(config, splits)
    pop.metadata.update(metadata)
    return pop


def advance(pop: Population, path: Path, *, deadline: float | None, label: str, progress: bool):
    """Step ``pop`` to its last generation, saving it at ``path`` after every
    generation; returns the run's (wall seconds, CPU seconds of this thread),
    accumulated over resumes in ``pop.metadata``, or None when ``deadline``
    passed first (checked between generations)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    elapsed = float(pop.metadata.get("seconds", 0.0))
    cpu = float(pop.metadata.get("cpu_seconds", 0.0))
    with progress_bar(total=pop.config.epochs, initial=pop.generation, desc=label, disable=not progress) as bar:
        while pop.generation < pop.config.epochs:
            if deadline is not None and time.time() > deadline:
                return None
            t0, c0 = time.perf_counter(), time.thread_time()
            pop.step()
            elapsed, cpu = elapsed + time.perf_counter() - t0, cpu + time.thread_time() - c0
            pop.metadata.update({"seconds": elapsed, "cpu_seconds": cpu})
            pop.save(path)
            bar.update()
    return elapsed, cpu


class PopulationStudyDesign(Protocol):
    """What the runs of a population study read of its design: the size its images are read at and
    each run's population configuration."""

    image_size: int

    def config(self, run: Mapping[str, Any], input_shape: tuple[int, ...], num_classes: int) -> PopulationConfig: ...


@dataclass(frozen=True)
class FinishedRun:
    """A run at its end, as its stored rows read it: the study's ``design``, the population ``pop``, its
    generation log ``log`` (:attr:`PopulationRecord.log`), its evaluations ``results`` (one row a trained
    individual) and the run's wall and CPU seconds, accumulated over resumes."""

    design: Any
    pop: Population
    log: pd.DataFrame
    results: pd.DataFrame
    seconds: float
    cpu_seconds: float

    @property
    def peak(self) -> pd.Series:
        """The generation-log row where the top individual's test accuracy peaked (:func:`top_test_readings`)."""
        return top_test_readings(self.log)[0]

    @property
    def final(self) -> pd.Series:
        """The generation-log row of the last tested generation (:func:`top_test_readings`)."""
        return top_test_readings(self.log)[1]


#: a summary column's value, read off the finished run
Reading = Callable[[FinishedRun], Any]

#: the summary columns any population study may store, by name: the evaluations and generations run, the
#: batches trained, the top individual's peak test accuracy (its generation and parameters) and its final
#: one (its parameters, and its accuracy on every training image), the best validation accuracy, the
#: evaluations' median parameters, and the run's wall and CPU seconds (to 0.1 s)
SUMMARY_READINGS: dict[str, Reading] = {
    "evaluations": lambda run: len(run.results),
    "generations": lambda run: int(run.log["generation"].max()) + 1,
    "batches": lambda run: int(run.results["batches"].sum()),
    "top_test_acc_peak": lambda run: float(run.peak["top_test_acc"]),
    "top_test_acc_peak_generation": lambda run: int(run.peak["generation"]),
    "top_params_at_peak": lambda run: int(run.peak["top_params"]),
    "top_test_acc_final": lambda run: float(run.final["top_test_acc"]),
    "top_params_final": lambda run: int(run.final["top_params"]),
    "top_train_acc_final": lambda run: run.pop.top_train_accuracy(),
    "best_val_acc": lambda run: float(run.results["val_acc"].max()),
    "median_params": lambda run: float(run.results["params"].median()),
    "seconds": lambda run: round(run.seconds, 1),
    "cpu_seconds": lambda run: round(run.cpu_seconds, 1),
}

#: the summary readings a stored run's side tables do not determine: the population's own state (its top
#: individual trained on every training image) and the times measured while it ran
NOT_IN_SIDE_TABLES: tuple[str, ...] = ("top_train_acc_final", "seconds", "cpu_seconds")


def summary_of_tables(
    record: PopulationRecord, design: Any, log: pd.DataFrame, results: pd.DataFrame
) -> dict[str, Any]:
    """The summary columns of ``record`` read off a stored run's generation log ``log`` and evaluations
    ``results`` (the frames its side tables hold) in place of its population: each reading of
    :meth:`PopulationRecord.frames` but :data:`NOT_IN_SIDE_TABLES`, by the same code, so a check can
    hold a stored summary row to the side tables stored with it."""
    finished = FinishedRun(design, None, log, results, math.nan, math.nan)
    readings = {**SUMMARY_READINGS, **record.readings}
    return {column: readings[column](finished) for column in record.summary if column not in NOT_IN_SIDE_TABLES}


def _population_log(pop: Population) -> pd.DataFrame:
    return pop.generations_frame()


@dataclass(frozen=True)
class PopulationRecord:
    """What a population study stores of a finished run, declared by its columns (see the module
    docstring). ``summary``: the runs table's columns in their stored order, each a reading of
    :data:`SUMMARY_READINGS` or of ``readings`` (the study's own, which take precedence); ``tables``:
    each side table's frame of the finished run; ``log``: the generation log the readings and tables
    read (the population's own by default); ``screen``: the wrapper of the run's search (the
    population's ``screen``) given the design, the run and its population, set on the population
    whether it starts or resumes (None: the search unwrapped). ``ValueError`` names a summary column
    without a reading, or a side table named as the runs table."""

    summary: tuple[str, ...]
    tables: Mapping[str, Callable[[FinishedRun], pd.DataFrame]] = field(default_factory=dict)
    readings: Mapping[str, Reading] = field(default_factory=dict)
    log: Callable[[Population], pd.DataFrame] = _population_log
    screen: Callable[[Any, Mapping[str, Any], Population], Callable[[Algorithm], Algorithm] | None] | None = None

    def __post_init__(self) -> None:
        unknown = [c for c in self.summary if c not in self.readings and c not in SUMMARY_READINGS]
        if unknown:
            raise ValueError(
                f"summary columns {unknown} have no reading: name one of {sorted(SUMMARY_READINGS)} "
                "or give the study's own in readings"
            )
        if RUNS in self.tables:
            raise ValueError(f"{RUNS!r} is the summary's table; name the side tables only")

    def start(self, spec: StudySpec, run: Mapping[str, Any], splits: DatasetSplits, path: Path) -> Population:
        """``run``'s population: resumed from its checkpoint at ``path`` (refused unless started with
        the design's configuration of the run) or started anew with the run's identity as its metadata,
        with the record's screen."""
        config = spec.design.config(run, splits.input_shape, splits.num_classes)
        pop = load_or_start(config, splits, path, run_identity(spec, run))
        if self.screen is not None:
            pop.screen = self.screen(spec.design, run, pop)
        return pop

    def frames(
        self, spec: StudySpec, run: Mapping[str, Any], pop: Population, seconds: float, cpu_seconds: float
    ) -> dict[str, pd.DataFrame]:
        """The rows ``run`` of ``spec`` stores, finished as ``pop`` after ``seconds`` (wall) and
        ``cpu_seconds``: each side table's, then the runs table's one summary row."""
        ident = run_identity(spec, run)
        finished = FinishedRun(spec.design, pop, self.log(pop), pop.results_frame(), seconds, cpu_seconds)
        tables = {k: with_identity_columns(frame(finished), ident, RERUN_MEASURED) for k, frame in self.tables.items()}
        summary = {c: self.readings.get(c, SUMMARY_READINGS.get(c))(finished) for c in self.summary}
        return {**tables, RUNS: pd.DataFrame([{**ident, **summary, **run_provenance()}])}


def run_population(
    spec: StudySpec,
    run: Mapping[str, Any],
    record: PopulationRecord,
    *,
    label: str,
    data_dir: str | Path | None,
    checkpoint_root: Path,
    deadline: float | None,
    progress: bool,
) -> Mapping[str, pd.DataFrame] | None:
    """The body of a population study's ``run_one``: run ``run`` of ``spec`` (a study of a
    :class:`PopulationStudyDesign`) to its end on its dataset, its population resumed or started by
    ``record`` (:meth:`PopulationRecord.start`) and checkpointed every generation under
    ``checkpoint_root``; the rows ``record`` declares per table (:meth:`PopulationRecord.frames`), or
    None past ``deadline``. ``label``: the run's name on its progress bar."""
    torch.set_num_threads(1)
    image_size = spec.design.image_size
    splits = load_standard_splits(run["dataset"], data_dir, seed=int(run["seed"]), image_size=image_size)
    path = checkpoint_path(Path(checkpoint_root), run, spec.store.key)
    pop = record.start(spec, run, splits, path)
    spent = advance(pop, path, deadline=deadline, label=label, progress=progress)
    if spent is None:
        return None
    return record.frames(spec, run, pop, *spent)


def top_test_readings(generations: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """``(peak, final)``: the generation-log rows of one run where its top
    individual's test accuracy peaked (Table 3.2's "Top Test Acc." and
    "Gen.") and of its last tested generation. Raises ``ValueError`` when
    no generation tested its top individual."""
    tested = generations.dropna(subset=["top_test_acc"])
    if tested.empty:
        raise ValueError("no generation tested its top individual; pass the generation log of a run")
    return tested.loc[tested["top_test_acc"].idxmax()], tested.loc[tested["generation"].idxmax()]
