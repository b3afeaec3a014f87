"""A paired-seed study of Revolver populations, run and stored row by row:
the storage and resume plumbing every such study shares, on top of
:mod:`reuseprior.core.study`. A study supplies what differs
(:class:`PopulationStudyStore`): its identity columns, its stored tables, its
checkpoint root, its plan id, the function that runs one population, and
(optionally) the check of a stored slice the notebooks show.

Policy:

- **A run** is one :class:`~reuseprior.revolver.population.Population` for
  one key of the study (its identity columns without the plan, e.g. study,
  dataset, mode and seed); the spec's ``runs()`` gives the keys in the order
  they run. Every stored row starts with the run's identity columns, in the
  order of :attr:`PopulationStudyStore.ident` (the plan after the study name).
- **Checkpoints.** A run saves its population every generation at
  :func:`checkpoint_path` (not tracked) and resumes from there only with the
  same configuration (:func:`~reuseprior.revolver.population.load_matching`
  raises otherwise, naming each difference); wall seconds and CPU seconds of
  the run's thread accumulate in the checkpoint's metadata across resumes
  (:func:`advance`). A run trains on one thread (``torch.set_num_threads(1)``:
  the models are small and the rows then do not depend on the core count) on
  its key's ``dataset``, split by its ``seed``. A ``deadline`` (a :func:`time.time`) is checked between
  generations: a run past it returns None and stays pending.
- **Writing.** A finished run's rows, one frame per stored table, are
  written under the runs file's lock, each file replaced atomically
  (:func:`~reuseprior.core.files.replace_csv_rows`: the run's earlier rows
  replaced, the others kept, the new ones after them), the other tables in
  the order the run gives them and the runs table (its summary row) last: the
  summary row marks a run as stored, so an interruption loses at most the run
  in progress, whose partial rows the rerun replaces.
- **Reading.** Only the rows of a spec's study name and current plan are
  read as the study's; rows of other plans are counted
  (``attrs["other_plans"]`` of :meth:`PopulationStudyStore.status`), never
  mixed in.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

import pandas as pd
import torch
from distributed import Client

from reuseprior.core import study as core_study
from reuseprior.core.files import replace_csv_rows
from reuseprior.core.progress import progress_bar
from reuseprior.core.study import RunStore, Study, read_csv_or_empty
from reuseprior.datasets import load_standard_splits
from reuseprior.revolver.population import Population, PopulationConfig, load_matching

__all__ = [
    "PopulationStudyStore",
    "StudySpec",
    "advance",
    "checkpoint_path",
    "deadline_after",
    "keyed",
    "load_or_start",
    "read_table",
]

#: the stored table whose row marks a run as stored (written last)
RUNS = "runs"


class StudySpec(Protocol):
    """What the plumbing reads of a study's spec: its name, its seeds, its image
    size and its runs in order (mappings or dataclasses of the key columns)."""

    @property
    def name(self) -> str: ...

    @property
    def seeds(self) -> tuple[int, ...]: ...

    @property
    def image_size(self) -> int: ...

    def runs(self) -> Sequence[Any]: ...


def deadline_after(minutes: float | None) -> float | None:
    """The :func:`time.time` ``minutes`` from now (None: no deadline), as :func:`advance` reads it."""
    return time.time() + 60 * minutes if minutes is not None else None


def read_table(path: Path) -> pd.DataFrame:
    """A stored table, or an empty frame when the file is absent or empty."""
    return read_csv_or_empty(Path(path))


def keyed(frame: pd.DataFrame, ident: Mapping[str, Any], drop: Iterable[str] = ()) -> pd.DataFrame:
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


def _as_mapping(run: Any) -> dict[str, Any]:
    return asdict(run) if is_dataclass(run) else dict(run)


@dataclass(frozen=True)
class PopulationStudyStore:
    """One study's plumbing (see the module docstring). ``ident``: the identity
    columns of every stored row, in order, ``plan_column`` among them;
    ``files``: the stored tables (``runs`` among them), replaced per call by a
    ``data`` map of the same keys; ``plan``: the spec's plan id; ``run_one``:
    the module-level function that runs one population (the run's key, then
    ``spec``, ``data_dir``, ``checkpoint_root``, ``deadline`` and ``progress``
    as keywords) and returns its frames per table, or None past the deadline."""

    ident: tuple[str, ...]
    files: Mapping[str, Path]
    checkpoint_root: Path
    plan: Callable[[Any], str]
    run_one: Callable[..., Mapping[str, pd.DataFrame] | None]
    live_check: Callable[..., pd.DataFrame] | None = None
    plan_column: str = "plan"
    name_column: str = "study"

    @property
    def key(self) -> tuple[str, ...]:
        """The columns that name a run within a plan."""
        return tuple(c for c in self.ident if c != self.plan_column)

    def checkpoint(self, run: Mapping[str, Any], root: Path | None = None) -> Path:
        return checkpoint_path(self.checkpoint_root if root is None else root, run, self.key)

    def identity(self, run: Mapping[str, Any], plan: str) -> dict[str, Any]:
        """The identity columns of ``run``'s rows, in their stored order."""
        return {c: plan if c == self.plan_column else run[c] for c in self.ident}

    def run_store(self, data: Mapping[str, Path] | None = None) -> RunStore:
        """The runs table (its summary row, written last, marks a run as stored)."""
        files = self.files if data is None else data
        return RunStore(Path(files[RUNS]), key=self.key, plan_column=self.plan_column, read=read_table)

    def of_plan(self, frame: pd.DataFrame, spec: StudySpec) -> pd.DataFrame:
        """The rows of ``frame`` stored for ``spec``'s name and current plan."""
        if frame.empty:
            return frame
        mine = (frame[self.name_column] == spec.name) & (frame[self.plan_column] == self.plan(spec))
        return frame[mine].reset_index(drop=True)

    def read(self, kind: str, spec: StudySpec | None = None, data: Mapping[str, Path] | None = None) -> pd.DataFrame:
        """The stored rows of table ``kind``, those of ``spec``'s plan when given."""
        frame = read_table(Path((self.files if data is None else data)[kind]))
        return self.of_plan(frame, spec) if spec is not None else frame

    def write(self, frames: Mapping[str, pd.DataFrame], data: Mapping[str, Path] | None = None) -> None:
        """Store a finished run's ``frames`` (per table), the runs table last, under the runs file's lock."""
        files = self.files if data is None else data
        ident = frames[RUNS].iloc[0][list(self.ident)].to_dict()
        with self.run_store(files).lock():
            for kind in [*(k for k in frames if k != RUNS), RUNS]:
                replace_csv_rows(files[kind], ident, frames[kind], read=read_table)

    def as_study(
        self,
        spec: StudySpec,
        *,
        data_dir: str | Path | None = None,
        data: Mapping[str, Path] | None = None,
        checkpoint_root: Path | None = None,
        deadline: float | None = None,
        progress: bool = False,
    ) -> Study:
        """``spec`` as a resumable study of :mod:`reuseprior.core.study`: its runs,
        each run by :attr:`run_one` and stored by :meth:`write`."""
        root = self.checkpoint_root if checkpoint_root is None else checkpoint_root
        context = {"spec": spec, "data_dir": data_dir, "checkpoint_root": root, "deadline": deadline,
                   "progress": progress}  # fmt: skip
        runs = tuple(_as_mapping(r) for r in spec.runs())
        return Study(spec.name, self.plan(spec), self.run_store(data), runs, self.run_one, context,
                     store_result=lambda _, frames: self.write(frames, data), live_check=self.live_check)  # fmt: skip

    def run_population(
        self,
        spec: StudySpec,
        run: Mapping[str, Any],
        *,
        start: Callable[[Any, Mapping[str, Any], Any, Path], Population],
        frames: Callable[[Any, Mapping[str, Any], Population, float, float], Mapping[str, pd.DataFrame]],
        label: str,
        data_dir: str | Path | None,
        checkpoint_root: Path,
        deadline: float | None,
        progress: bool,
    ) -> Mapping[str, pd.DataFrame] | None:
        """The body of a study's ``run_one``: run ``run`` of ``spec`` to its end,
        its population from ``start(spec, run, splits, checkpoint_root)``
        (resumed or new), checkpointed every generation; its ``frames(spec, run,
        pop, seconds, cpu_seconds)``, or None past ``deadline``."""
        torch.set_num_threads(1)
        splits = load_standard_splits(run["dataset"], data_dir, seed=int(run["seed"]), image_size=spec.image_size)
        pop = start(spec, run, splits, checkpoint_root)
        spent = advance(pop, self.checkpoint(run, checkpoint_root), deadline=deadline, label=label, progress=progress)
        return None if spent is None else frames(spec, run, pop, *spent)

    def pending(self, spec: StudySpec, data: Mapping[str, Path] | None = None) -> list[dict[str, Any]]:
        """The runs of ``spec`` without a stored summary row of its plan, in order."""
        return [dict(r) for r in core_study.pending_runs(self.as_study(spec, data=data))]

    def run(
        self,
        spec: StudySpec,
        *,
        max_minutes: float | None = None,
        max_runs: int | None = None,
        only: Iterable[Any] | None = None,
        client: Client | None = None,
        progress: bool = True,
        **where: Any,
    ) -> list[dict[str, Any]]:
        """Run the pending runs of ``spec`` (or of ``only``) in order, on the Dask
        ``client``'s workers when given (then without a bar per run), each stored
        when it ends; at most ``max_runs``, none past ``max_minutes`` (a run
        continues from its checkpoint next time). ``where``: ``data_dir``,
        ``data``, ``checkpoint_root`` of :meth:`as_study`. Returns the runs stored."""
        deadline = deadline_after(max_minutes)
        study = self.as_study(spec, deadline=deadline, progress=progress and client is None, **where)
        chosen = None if only is None else [_as_mapping(r) for r in only]
        done = core_study.run_study(study, only=chosen, max_runs=max_runs, client=client, progress=progress)
        return [dict(r) for r in done.stored]

    def status(
        self,
        spec: StudySpec,
        groups: Iterable[Mapping[str, Any]],
        hours: Mapping[str, str],
        data: Mapping[str, Path] | None = None,
    ) -> pd.DataFrame:
        """Per group of runs (``{column: value}``): its columns, the stored seeds,
        the runs pending of ``spec.seeds``, and per ``hours`` label the hours of
        its column (seconds) summed over the stored runs; ``attrs["other_plans"]``:
        stored rows of other plans in the same file."""
        stored, everything = self.read(RUNS, spec, data), self.read(RUNS, None, data)
        rows = []
        for group in groups:
            mine = stored
            for column, value in group.items():
                mine = mine[mine[column] == value] if not mine.empty else mine
            seeds = sorted(int(s) for s in mine["seed"]) if not mine.empty else []
            spent = {label: float(mine[c].sum() / 3600) if not mine.empty else 0.0 for label, c in hours.items()}
            rows.append({**group, "stored seeds": seeds, "pending": len(spec.seeds) - len(seeds), **spent})
        table = pd.DataFrame(rows)
        table.attrs["other_plans"] = 0 if everything.empty else int(len(everything) - len(stored))
        return table
