"""A paired-seed study of Revolver populations: what every such study's ``run_one`` does, on top of the
engine of :mod:`reuseprior.core.study` (a study of populations is declared with it).

Policy:

- **A run** is one :class:`~reuseprior.revolver.population.Population` for one key of the study (its
  key columns, e.g. study, dataset, mode and seed); a study's run keys are in the order they run.
  Every stored row starts with the run's identity columns (:func:`run_identity`: the study's name, its
  plan, then the rest of the key).
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

import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import pandas as pd
import torch

from reuseprior.core.progress import progress_bar
from reuseprior.core.stored_rows import ColumnKinds
from reuseprior.core.study import RunStore, StudySpec
from reuseprior.datasets import load_standard_splits
from reuseprior.revolver.population import Population, PopulationConfig, load_matching

__all__ = [
    "EVALUATION_KINDS",
    "GENERATION_KINDS",
    "advance",
    "checkpoint_path",
    "load_or_start",
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
)
#: the kinds of a population's evaluations (one row a trained individual)
EVALUATION_KINDS = ColumnKinds(
    required=(
        "generation",
        "individual",
        "index",
        "origin",
        "params",
        "shared_params",
        "batches",
        "lr",
        "train_loss",
        "val_loss",
        "val_acc",
        "score",
    ),
    numeric=(
        "generation",
        "individual",
        "index",
        "params",
        "shared_params",
        "batches",
        "lr",
        "train_loss",
        "val_loss",
        "val_acc",
        "score",
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


def run_population(
    spec: StudySpec,
    run: Mapping[str, Any],
    *,
    start: Callable[[StudySpec, Mapping[str, Any], Any, Path], Population],
    frames: Callable[[StudySpec, Mapping[str, Any], Population, float, float], Mapping[str, pd.DataFrame]],
    label: str,
    image_size: int,
    data_dir: str | Path | None,
    checkpoint_root: Path,
    deadline: float | None,
    progress: bool,
) -> Mapping[str, pd.DataFrame] | None:
    """The body of a population study's ``run_one``: run ``run`` of ``spec`` to its end on its
    dataset at ``image_size`` px, its population from ``start(spec, run, splits, checkpoint)`` (resumed
    or new), checkpointed every generation under ``checkpoint_root``; its ``frames(spec, run, pop,
    seconds, cpu_seconds)`` per table (:data:`~reuseprior.core.study.RUNS` among them), or None past
    ``deadline``."""
    torch.set_num_threads(1)
    splits = load_standard_splits(run["dataset"], data_dir, seed=int(run["seed"]), image_size=image_size)
    path = checkpoint_path(Path(checkpoint_root), run, spec.store.key)
    pop = start(spec, run, splits, path)
    spent = advance(pop, path, deadline=deadline, label=label, progress=progress)
    if spent is None:
        return None
    return frames(spec, run, pop, *spent)


def top_test_readings(generations: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """``(peak, final)``: the generation-log rows of one run where its top
    individual's test accuracy peaked (Table 3.2's "Top Test Acc." and
    "Gen.") and of its last tested generation. Raises ``ValueError`` when
    no generation tested its top individual."""
    tested = generations.dropna(subset=["top_test_acc"])
    if tested.empty:
        raise ValueError("no generation tested its top individual; pass the generation log of a run")
    return tested.loc[tested["top_test_acc"].idxmax()], tested.loc[tested["generation"].idxmax()]
