"""A resumable study: runs identified by a plan id and key columns, each run a
task, each finished run stored at once by the one process that owns the store.

A study needs a configuration and a ``run_one`` function; this module gives it
the rest:

- :class:`RunStore` -- the rows of finished runs in one CSV (under ``data/``
  for the stored studies). Writing a run replaces the rows with its key (plan
  and key columns) and rewrites the whole file through
  :func:`reuseprior.core.files.write_csv` (a temporary file put in place with
  :func:`os.replace`) under a file lock, so a reader never sees half a file and
  an interruption loses at most the runs in progress.
- :class:`Study` -- the plan id, the key of every run in order, ``run_one`` (a
  module-level function, so that a Dask worker can import it: it gets the key's
  values and :attr:`Study.context` as keyword arguments and returns the run's
  result) and ``store_result`` (which writes a result; default: the result is
  the row, put in :attr:`Study.store`). ``live_check`` is the chapter's check
  of a stored slice, for the notebooks.
- :func:`pending_runs`, :func:`status` -- what is stored and what is not.
- :func:`run_studies` -- the pending runs of several studies as one set of
  tasks on one Dask client (a worker that finishes a run of one study takes
  the next run of any), each result stored in its own study.
- :func:`deadline_after` -- the :func:`time.time` a number of minutes from now,
  which a study's ``run_one`` may take in its context to stop at.
- :func:`run_study` -- every pending run (or those chosen) once: in this
  process one after the other when no Dask client is given, else each run a
  task of :func:`reuseprior.core.distributed.run_jobs` (one thread per
  worker); results are stored in this process as they arrive, with a tqdm
  progress bar over runs. ``run_one`` returning ``None`` means the run stopped
  before its end (a deadline): nothing is stored and it stays pending.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import pandas as pd
from distributed import Client
from filelock import FileLock

from reuseprior.core.distributed import Call, Killed, run_jobs
from reuseprior.core.files import append_csv_row, replace_csv_rows, write_csv
from reuseprior.core.progress import progress_bar

__all__ = [
    "RunStore",
    "Study",
    "StudyResult",
    "deadline_after",
    "pending_runs",
    "run_studies",
    "run_study",
    "status",
]

#: a run's key: its key columns and their values (the plan aside)
Key = Mapping[str, Any]


def read_csv_or_empty(path: Path, columns: Sequence[str] = ()) -> pd.DataFrame:
    """The CSV at ``path``, or an empty frame of ``columns`` when it is absent or empty."""
    if path.exists() and path.stat().st_size > 0:
        return pd.read_csv(path)
    return pd.DataFrame(columns=list(columns))


@dataclass(frozen=True)
class RunStore:
    """The finished runs of one or more studies in the CSV at ``path``.

    ``plan_column`` holds the plan id, ``key`` the columns that name a run
    within a plan. ``columns``: the stored columns, in order (a row's missing
    ones empty; None: the row's own). ``read``: how the file is read (default:
    :func:`read_csv_or_empty`); ``validate``: a check of the whole table
    before it is written (raises)."""

    path: Path
    key: tuple[str, ...]
    plan_column: str = "plan"
    columns: tuple[str, ...] | None = None
    read: Callable[[Path], pd.DataFrame] | None = None
    validate: Callable[[pd.DataFrame, str], None] | None = None

    def rows(self, plan: str | None = None) -> pd.DataFrame:
        """The stored rows (those of ``plan`` when given)."""
        frame = self._read(Path(self.path))
        if plan is not None and not frame.empty:
            frame = frame[frame[self.plan_column] == plan].reset_index(drop=True)
        return frame

    def stored_keys(self, plan: str) -> set[tuple]:
        """The keys (tuples in the order of :attr:`key`) of the runs of ``plan`` stored."""
        mine = self.rows(plan)
        if mine.empty:
            return set()
        return set(zip(*(mine[c].map(_plain) for c in self.key)))

    def key_of(self, run: Key) -> tuple:
        return tuple(_plain(run[c]) for c in self.key)

    def lock(self) -> FileLock:
        """The lock every writer of this file holds while it rewrites it."""
        return FileLock(str(Path(self.path).with_suffix(".lock")))

    def put(self, row: Mapping[str, Any] | pd.DataFrame) -> pd.DataFrame:
        """Store one run's row(s): the rows with the same plan and key are
        replaced, the others kept; the file is rewritten atomically. Returns
        the rows written."""
        rows = row if isinstance(row, pd.DataFrame) else self._frame(row)
        first = rows.iloc[0]
        ident = {c: first[c] for c in (self.plan_column, *self.key)}
        with self.lock():
            return replace_csv_rows(self.path, ident, rows, read=self._read, validate=self._check)

    def merge_from(self, path: str | Path) -> int:
        """Store the rows of another copy of this store (another machine's, say) whose plan and key this
        one lacks; a row stored here already is kept as it is. Returns the number of rows added."""
        theirs = self._read(Path(path))
        if theirs.empty:
            return 0
        with self.lock():
            mine = self._read(Path(self.path))
            have = set(zip(*(mine[c].map(_plain) for c in (self.plan_column, *self.key)))) if len(mine) else set()
            keys = zip(*(theirs[c].map(_plain) for c in (self.plan_column, *self.key)))
            new = theirs[[k not in have for k in keys]]
            if not new.empty:
                columns = list(self.columns or dict.fromkeys([*mine.columns, *new.columns]))
                merged = pd.concat([mine, new.reindex(columns=columns)], ignore_index=True)[columns]
                self._check(merged)
                write_csv(merged, self.path)
        return len(new)

    def append(self, row: Mapping[str, Any]) -> pd.DataFrame:
        """Append one row (a run log that keeps every attempt); atomic, validated."""
        with self.lock():
            return append_csv_row(
                self.path, dict(row), self.columns or tuple(row), read=self._read, validate=self._check
            )

    def _check(self, frame: pd.DataFrame) -> None:
        if self.validate is not None:
            self.validate(frame, str(self.path))

    def _read(self, path: Path) -> pd.DataFrame:
        return self.read(path) if self.read is not None else read_csv_or_empty(path, self.columns or ())

    def _frame(self, row: Mapping[str, Any]) -> pd.DataFrame:
        columns = self.columns or tuple(row)
        return pd.DataFrame([{c: row.get(c) for c in columns}])


def _plain(value: Any) -> Any:
    """A key value as a hashable plain Python value (numpy integers as int)."""
    return value.item() if hasattr(value, "item") else value


@dataclass(frozen=True)
class Study:
    """What the run loop needs of a study (see the module docstring)."""

    name: str
    plan: str
    store: RunStore
    runs: tuple[Key, ...]
    run_one: Callable[..., Any]
    context: Mapping[str, Any] = field(default_factory=dict)
    store_result: Callable[[Key, Any], None] | None = None
    live_check: Callable[..., pd.DataFrame] | None = None

    def label(self, run: Key) -> str:
        return "/".join(str(v) for v in run.values())

    def save(self, run: Key, result: Any) -> None:
        if self.store_result is not None:
            self.store_result(run, result)
        else:
            self.store.put(result)


@dataclass
class StudyResult:
    """What :func:`run_study` did: the runs stored, those a worker's death killed, those left unfinished."""

    stored: list[Key] = field(default_factory=list)
    killed: dict[str, str] = field(default_factory=dict)
    unfinished: list[Key] = field(default_factory=list)


def pending_runs(study: Study, only: Iterable[Key] | None = None) -> list[Key]:
    """The runs of ``study`` (or of ``only``, in its order) without a stored row of its plan."""
    done = study.store.stored_keys(study.plan)
    runs = study.runs if only is None else list(only)
    return [run for run in runs if study.store.key_of(run) not in done]


def status(study: Study) -> dict[str, int]:
    """Counts: runs of the plan stored and pending, and stored rows of other plans in the same file."""
    everything = study.store.rows()
    mine = study.store.rows(study.plan)
    pending = len(pending_runs(study))
    return {"stored": len(study.runs) - pending, "pending": pending, "other plans": len(everything) - len(mine)}


class _RunJob:
    """One run as a job of :func:`reuseprior.core.distributed.run_jobs`: one call, its outcome kept."""

    def __init__(self, study: Study, run: Key):
        self.study, self.run, self.outcome = study, run, None

    def start(self) -> list[Call]:
        what = f"{self.study.name}-run"
        return [Call(self.study.run_one, kwargs={**self.run, **self.study.context}, what=what)]

    def receive(self, call: Call, outcome: object) -> list[Call]:  # noqa: ARG002 - the protocol's signature
        self.outcome = outcome
        return []


def deadline_after(minutes: float | None) -> float | None:
    """The :func:`time.time` ``minutes`` from now (None: no deadline)."""
    return None if minutes is None else time.time() + 60.0 * minutes


def _keeper(study: Study, result: StudyResult) -> Callable[[Key, Any], None]:
    """How an outcome of ``study``'s run is recorded in ``result``: killed, unfinished (None) or stored."""

    def keep(run: Key, outcome: Any) -> None:
        if isinstance(outcome, Killed):
            result.killed[study.label(run)] = outcome.message()
        elif outcome is None:
            result.unfinished.append(run)
        else:
            study.save(run, outcome)
            result.stored.append(run)

    return keep


def run_study(
    study: Study,
    *,
    only: Iterable[Key] | None = None,
    max_runs: int | None = None,
    client: Client | None = None,
    progress: bool = True,
) -> StudyResult:
    """Run the pending runs of ``study`` (or of ``only``), at most ``max_runs``
    of them, and store each result as it arrives (see the module docstring)."""
    if client is not None:
        return run_studies([(study, only)], max_runs=max_runs, client=client, progress=progress)[0]
    todo = pending_runs(study, only)
    if max_runs is not None:
        todo = todo[:max_runs]
    result = StudyResult()
    keep = _keeper(study, result)
    bar = progress_bar(todo, desc=study.name, unit="run", disable=not progress)
    for run in bar:
        bar.set_postfix_str(study.label(run))
        outcome = study.run_one(**run, **study.context)
        keep(run, outcome)
        if outcome is None:  # a deadline: the runs after it would stop at once as well
            break
    return result


def run_studies(
    chosen: Sequence[tuple[Study, Iterable[Key] | None]],
    *,
    client: Client,
    max_runs: int | None = None,
    progress: bool = True,
) -> list[StudyResult]:
    """The pending runs of every ``(study, only)`` of ``chosen`` (``only``: its runs to consider, None:
    all), at most ``max_runs`` of them in all, as one set of tasks on ``client``, in the order given;
    each result is stored in its study as it arrives. Returns one :class:`StudyResult` per study."""
    results = [StudyResult() for _ in chosen]
    jobs: list[_RunJob] = []
    keepers = {}
    for (study, only), result in zip(chosen, results):
        keepers[id(study)] = _keeper(study, result)
        jobs.extend(_RunJob(study, run) for run in pending_runs(study, only))
    if max_runs is not None:
        jobs = jobs[:max_runs]
    if jobs:
        desc = chosen[0][0].name if len(chosen) == 1 else f"{len(chosen)} studies"
        run_jobs(client, jobs, on_done=lambda job: keepers[id(job.study)](job.run, job.outcome), desc=desc,
                 progress=progress, unit="run")  # fmt: skip
    return results
