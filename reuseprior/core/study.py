"""A declared study: runs identified by a plan id and key columns, their stored rows, and what is
stored and what is pending (:mod:`reuseprior.core.study_runner` runs it).

A study is declared once, as a :class:`StudySpec`; this module and the runner are everything else about
it (storing its rows, reporting its status, checking them: no study writes its own):

- :class:`StudySpec` -- the declaration: its name, seeds and run keys in order, the study's design
  (``design``: the settings object its ``run_one`` reads), the ``settings`` that name its plan (hashed
  by :func:`settings_hash`, the one plan id of every study), a module-level ``run_one`` (a Dask worker
  imports it: it gets a run's key, ``spec`` and the options it names as keyword arguments, and returns
  the run's result), its :class:`RunStore`, and optionally its linear floor (a :class:`FloorStore`
  and the floors it reads), its per-run criteria (:func:`criteria_of`: ``criteria(spec)``, a table of
  its stored runs, which a status report shows) and its live check (:func:`check_live`:
  ``live_check(spec, request)``, stored runs recomputed here, as many as the request asks
  (:func:`checked_runs`), and judged against their stored rows, a :class:`LiveCheck`). Its rows
  (:meth:`StudySpec.rows`) are those of its plan only: rows of other settings are never read as its.
- :class:`RunStore` -- the rows of finished runs in one CSV (under ``data/`` for the stored studies),
  and the side tables a run writes before them. Writing a run replaces the rows with its key (plan
  and key columns) and rewrites each whole file through :func:`reuseprior.core.files.write_csv` (a
  temporary file put in place with :func:`os.replace`) under a file lock, the runs table last, so a
  reader never sees half a file, a run's summary row marks it as stored and an interruption loses at
  most the runs in progress.
- :class:`FloorStore` -- the linear floors of studies' images (the row a trained model must beat),
  one row per floor key, stored once and read by every study on those images.
- :func:`pending_runs`, :func:`status`, :func:`status_table` -- what is stored and what is not.
- :class:`StudyGroup`, :class:`StudyRequest` -- several studies that a caller running studies by name
  runs under one name, chosen when they run (by a profile, or by what is stored), with their own
  reports and actions; the request is what the caller asked for.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

import numpy as np
import pandas as pd
from filelock import FileLock

from reuseprior.core.errors import CsvFormatError
from reuseprior.core.files import append_csv_row, file_lock, replace_csv_rows, write_csv
from reuseprior.core.stored_rows import (
    NO_KINDS,
    ColumnKinds,
    check_stored_rows,
    read_stored_csv,
    record_lines,
    unique_rows,
    without_digests,
)

__all__ = [
    "PLAN_COLUMNS",
    "PLAN_DTYPES",
    "Design",
    "FloorStore",
    "LiveCheck",
    "RunStore",
    "StudyGroup",
    "StudyRequest",
    "StudySpec",
    "CHECKED_RUNS",
    "check_live",
    "checked_runs",
    "criteria_of",
    "hours_left",
    "pending_runs",
    "read_csv_or_empty",
    "settings_hash",
    "status",
    "status_table",
    "stored_runs",
]

#: a run's key: its key columns and their values (the plan aside)
Key = Mapping[str, Any]
#: the table of a store whose row marks a run as stored (written last)
RUNS = "runs"


#: how many stored runs ``study NAME check`` recomputes unless told (``--runs N``; ``--all``: every one)
CHECKED_RUNS = 3
#: the seed of the sample of stored runs a live check recomputes (:func:`checked_runs`)
CHECK_SAMPLE_SEED = 0

#: the columns of a store that hold plan ids (:func:`settings_hash`), read as text: a hex digest may
#: look like a number ("4545749399e3", "012345678901"), and read as one it would no longer match its plan
PLAN_COLUMNS = ("plan", "plan_id")
#: :data:`PLAN_COLUMNS` as ``pandas.read_csv``'s ``dtype`` (a column a file lacks is ignored)
PLAN_DTYPES = dict.fromkeys(PLAN_COLUMNS, str)


def settings_hash(settings: Mapping[str, Any], *, prefix: str = "", digits: int = 12) -> str:
    """The plan id of ``settings``: ``prefix`` and the first ``digits`` hex digits of the SHA-256 of
    their JSON (keys sorted, a value JSON cannot write by its ``str``). Every study's plan id is this
    hash of its :attr:`StudySpec.settings`, so two studies share a plan exactly when their settings
    are equal (the prefix and length are a store's naming: 12 digits and no prefix, except the
    NAS-Bench-201 search's ``nb201-search-`` and 10, :mod:`reuseprior.zoo.search`)."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return prefix + hashlib.sha256(text.encode()).hexdigest()[:digits]


def read_csv_or_empty(path: Path, columns: Sequence[str] = (), kinds: ColumnKinds = NO_KINDS) -> pd.DataFrame:
    """The CSV at ``path``, or an empty frame of ``columns`` when it is absent or empty. The plan
    columns (:data:`PLAN_COLUMNS`) are read as text whatever they look like. Every row is checked
    whole and of ``kinds`` (:func:`reuseprior.core.stored_rows.check_stored_rows`), else
    :class:`~reuseprior.core.errors.CsvFormatError`."""
    if path.exists() and path.stat().st_size > 0:
        return read_stored_csv(path, kinds, dtype=PLAN_DTYPES)
    return pd.DataFrame(columns=list(columns))


def _matching(frame: pd.DataFrame, match: Mapping[str, Any]) -> pd.DataFrame:
    """The rows of ``frame`` equal to ``match`` (``{column: value}``) on its columns."""
    if frame.empty:
        return frame
    same = pd.Series(True, index=frame.index)
    for column, value in match.items():
        same &= frame[column] == value
    return frame[same].reset_index(drop=True)


@dataclass(frozen=True)
class RunStore:
    """The finished runs of one or more studies in the CSV at ``path``.

    ``plan_column`` holds the plan id, ``key`` the columns that name a run within a plan;
    ``name_column``, when set, the study's name (rows of another name are not the study's even in the
    same plan). ``columns``: the stored columns, in order (a row's missing ones empty; None: the row's
    own). ``read``: how a file is read (default: :func:`read_csv_or_empty`); ``validate``: a check of
    the whole table before it is written (raises). ``tables``: side tables (kind -> CSV) a run writes
    besides its row: a run's result is then its frames per kind, :data:`RUNS` among them. ``kinds``:
    the kinds of each table's values (kind -> :class:`~reuseprior.core.stored_rows.ColumnKinds`; the
    plan and key columns are required in every table): every read refuses a row cut short or a value
    not of its kind, before anything is written back. ``one_row_per_key``: the runs table holds one row
    per plan and key, and every read refuses two differing rows of one key (an identical copy is dropped
    with a message, :func:`~reuseprior.core.stored_rows.unique_rows`); False for a log of every attempt."""

    path: Path
    key: tuple[str, ...]
    plan_column: str = "plan"
    name_column: str | None = None
    columns: tuple[str, ...] | None = None
    read: Callable[[Path], pd.DataFrame] | None = None
    validate: Callable[[pd.DataFrame, str], None] | None = None
    tables: Mapping[str, Path] = field(default_factory=dict, hash=False)
    kinds: Mapping[str, ColumnKinds] = field(default_factory=dict, hash=False)
    row_key: tuple[str, ...] | None = ()

    def path_of(self, kind: str = RUNS) -> Path:
        """The CSV of table ``kind`` (:data:`RUNS`: the runs table)."""
        return Path(self.path if kind == RUNS else self.tables[kind])

    def rows(self, plan: str | None = None, kind: str = RUNS, name: str | None = None) -> pd.DataFrame:
        """The stored rows of table ``kind`` (those of ``plan``, and of study ``name`` when given)."""
        return self.select_rows(self._read(self.path_of(kind), kind), plan, name)

    def select_rows(self, frame: pd.DataFrame, plan: str | None = None, name: str | None = None) -> pd.DataFrame:
        """The rows of ``frame`` (a table of this store) of ``plan``, and of study ``name`` when given."""
        match = {} if plan is None else {self.plan_column: plan}
        if name is not None and self.name_column is not None:
            match[self.name_column] = name
        return _matching(frame, match) if match else frame

    def stored_keys(self, plan: str, name: str | None = None) -> set[tuple]:
        """The keys (tuples in the order of :attr:`key`) of the runs of ``plan`` stored."""
        mine = self.rows(plan, name=name)
        if mine.empty:
            return set()
        return set(zip(*(mine[c].map(_plain) for c in self.key)))

    def check_tables(self) -> None:
        """Read every table of this store, its side tables first, so that a file its read refuses (a row cut
        short, a value not of its kind, two rows of one key) is refused before a run starts, not after."""
        for kind in (*self.tables, RUNS):
            self._read(self.path_of(kind), kind)

    def key_of(self, run: Key) -> tuple:
        return tuple(_plain(run[c]) for c in self.key)

    def lock(self) -> FileLock:
        """The lock every writer of this file holds while it rewrites it."""
        return file_lock(self.path)

    def put(self, row: Mapping[str, Any] | pd.DataFrame) -> pd.DataFrame:
        """Store one run's row(s): the rows with the same plan and key are replaced, the others kept;
        the file is rewritten atomically. Returns the rows written."""
        rows = row if isinstance(row, pd.DataFrame) else self._frame(row)
        with self.lock():
            return self._replace(RUNS, rows)

    def save(self, result: Any) -> None:
        """Store a run's ``result``: its row (:meth:`put`), or with :attr:`tables` its frames per kind,
        the side tables first and the runs table last, under one lock."""
        if not self.tables:
            self.put(result)
            return
        with self.lock():
            for kind in [*(k for k in result if k != RUNS), RUNS]:
                self._replace(kind, result[kind])

    def merge_from(
        self, path: str | Path, select: Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame] | None = None
    ) -> int:
        """Store the rows of another copy of this store at ``path`` (another machine's, say) whose plan and key
        this one lacks; a row stored here already is kept as it is. ``select(new, mine)``, where given, chooses
        among those new rows, under the same lock as the write, so that no other writer changes ``mine``
        (every stored row) in between. Key columns take this store's types. Returns the number of rows added."""
        theirs = self._read(Path(path))
        if theirs.empty:
            return 0
        with self.lock():
            mine = self._read(Path(self.path))
            identity = (self.plan_column, *self.key)
            have = set(zip(*(mine[c].map(_plain) for c in identity))) if len(mine) else set()
            keys = zip(*(theirs[c].map(_plain) for c in identity))
            new = theirs[pd.Series([k not in have for k in keys], index=theirs.index, dtype=bool)]
            if len(mine):
                new = new.astype({c: mine[c].dtype for c in identity})
            if select is not None:
                new = select(new, mine)
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

    def relocated(self, path: Path) -> RunStore:
        """The same store with its runs table at ``path`` and its side tables beside it (same names)."""
        path = Path(path)
        return replace(self, path=path, tables={k: path.parent / Path(p).name for k, p in self.tables.items()})

    def _replace(self, kind: str, rows: pd.DataFrame) -> pd.DataFrame:
        first = rows.iloc[0]
        ident = {c: first[c] for c in (self.plan_column, *self.key)}
        check = self._check if kind == RUNS else None
        return replace_csv_rows(
            self.path_of(kind), ident, rows, read=lambda path: self._read(path, kind), validate=check
        )

    def _check(self, frame: pd.DataFrame) -> None:
        if self.validate is not None:
            self.validate(frame, str(self.path))

    def _read(self, path: Path, kind: str = RUNS) -> pd.DataFrame:
        identity = (self.plan_column, *self.key)
        kinds = self.kinds.get(kind, NO_KINDS).with_required(identity)
        if self.read is None:
            frame = read_csv_or_empty(path, self.columns or (), kinds)
        else:
            starts = record_lines(path)  # first: a reader may fail on a row cut inside quotes
            frame = without_digests(self.read(path))
            check_stored_rows(path, frame, kinds, starts)
        _check_identities(frame, path, identity)
        if kind == RUNS and self.row_key is not None:
            columns = (*identity, *_named(self.name_column), *self.row_key)
            frame = unique_rows(path, frame, tuple(dict.fromkeys(columns)))
        return frame

    def _frame(self, row: Mapping[str, Any]) -> pd.DataFrame:
        columns = self.columns or tuple(row)
        return pd.DataFrame([{c: row.get(c) for c in columns}])


def _check_identities(frame: pd.DataFrame, path: Path, columns: Sequence[str]) -> None:
    """Policy: a store's file has its plan and key columns (``columns``), or it is refused with
    :class:`~reuseprior.core.errors.CsvFormatError` naming the file and the fix (a file of another
    table); a row whose values in them are empty is refused by the read's check of kinds, in which they
    are required (:func:`reuseprior.core.stored_rows.check_stored_rows`)."""
    absent = [c for c in columns if c not in frame.columns]
    if absent and not frame.empty:
        raise CsvFormatError(
            path, 1, f"the header has no column {absent}", "it is not a store of this study: name the study's own file"
        )


def _named(column: str | None) -> tuple[str, ...]:
    return () if column is None else (column,)


def _plain(value: Any) -> Any:
    """A key value as a hashable plain Python value (numpy integers as int)."""
    return value.item() if hasattr(value, "item") else value


@dataclass(frozen=True)
class FloorStore:
    """The linear floors of studies' images in the CSV at ``path``: one row per floor key (``key``:
    its columns), stored once (each row replaced whole, the file written atomically) and read by every
    study on the same images. ``compute(key, spec, **options)`` (module level) computes one floor row;
    ``command`` is the command that stores the missing ones, named when a floor is missing; ``kinds``:
    the kinds of its values (its key columns required), checked on every read as a run store's are."""

    path: Path
    key: tuple[str, ...]
    command: str
    compute: Callable[..., Mapping[str, Any]]
    kinds: ColumnKinds = NO_KINDS

    def rows(self, match: Mapping[str, Any]) -> pd.DataFrame:
        """The stored rows equal to ``match`` (``{column: value}``), in file order; ``LookupError``
        naming :attr:`command` when there are none."""
        mine = _matching(self._read(Path(self.path), tuple(match)), match)
        if mine.empty:
            described = ", ".join(f"{k} {v}" for k, v in match.items())
            raise LookupError(f"no linear floor of {described} in {self.path}: run `{self.command}`")
        return mine

    def stored(self, key: Key) -> bool:
        try:
            self.rows({c: key[c] for c in self.key})
        except LookupError:
            return False
        return True

    def put(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Store one floor ``row`` in place of the row of its key, read and rewritten under the file's
        lock (studies on the same images share the file); returns it."""
        with file_lock(self.path):
            replace_csv_rows(
                self.path,
                {c: row[c] for c in self.key},
                pd.DataFrame([dict(row)]),
                read=lambda path: self._read(path, tuple(row)),
            )
        return dict(row)

    def _read(self, path: Path, columns: Sequence[str]) -> pd.DataFrame:
        frame = read_csv_or_empty(path, columns, self.kinds.with_required(self.key))
        return unique_rows(path, frame, self.key)


@dataclass(frozen=True)
class LiveCheck:
    """What a study's live check found: ``table``, one row per quantity compared (the stored value, the
    one recomputed here, the rule or tolerance), and ``holds_column``, the name of its boolean column that
    says whether each row holds. The check passes when every row holds."""

    table: pd.DataFrame
    holds_column: str

    @property
    def passed(self) -> bool:
        return bool(self.table[self.holds_column].astype(bool).all())


class Design(Protocol):
    """What :meth:`StudySpec.of` reads of a study's design: its name and seeds, its run keys in order
    and the settings that name its plan."""

    name: str
    seeds: tuple[int, ...]

    def runs(self) -> Sequence[Key]: ...

    def plan_settings(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class StudySpec:
    """One declared study (see the module docstring). ``runs``: every run's key, in the order they run;
    ``settings`` (JSON-able) name the plan (:attr:`plan`); ``design``: the settings object ``run_one``
    reads. ``floor`` and ``floor_keys``: where the floors of its images are and which of them it
    reads; ``criteria(spec)``: the table of its stored runs' criteria (:func:`criteria_of`);
    ``live_check(spec, request)``: its check of a stored slice recomputed here (:func:`check_live`,
    a :class:`LiveCheck`; the request gives its ``data_dir``, ``work_dir``, ``store``, ...).
    ``status_by``: the key columns :func:`status_table` groups by, ``hours``: its columns of seconds
    summed per group (label -> column); ``plan_prefix`` and ``plan_digits``: how its store names a plan
    (:func:`settings_hash`); ``seed_policy``: why it has the seeds it has, said when a caller asks for
    others."""

    name: str
    design: Any
    settings: Mapping[str, Any] = field(hash=False)
    seeds: tuple[int, ...]
    runs: tuple[Key, ...] = field(hash=False)
    run_one: Callable[..., Any]
    store: RunStore
    floor: FloorStore | None = None
    floor_keys: tuple[Key, ...] = field(default=(), hash=False)
    criteria: Callable[[StudySpec], pd.DataFrame] | None = None
    live_check: Callable[[StudySpec, StudyRequest], LiveCheck] | None = None
    status_by: tuple[str, ...] = ()
    hours: Mapping[str, str] = field(default_factory=dict, hash=False)
    plan_prefix: str = ""
    plan_digits: int = 12
    seed_policy: str = ""

    @classmethod
    def of(cls, design: Design, *, run_one: Callable[..., Any], store: RunStore, **declared: Any) -> StudySpec:
        """The study of ``design`` (its name, seeds, runs and plan settings), run by ``run_one`` and
        stored in ``store``; ``declared``: the other fields (floor, live check, status groups, ...)."""
        return cls(
            name=design.name,
            design=design,
            settings=design.plan_settings(),
            seeds=tuple(design.seeds),
            runs=tuple(design.runs()),
            run_one=run_one,
            store=store,
            **declared,
        )

    @property
    def plan(self) -> str:
        """The plan id: :func:`settings_hash` of :attr:`settings` (with :attr:`plan_prefix` and
        :attr:`plan_digits`)."""
        return settings_hash(self.settings, prefix=self.plan_prefix, digits=self.plan_digits)

    def rows(self, kind: str = RUNS) -> pd.DataFrame:
        """The stored rows of table ``kind`` of this study's plan (and name), in the order of
        :attr:`runs` (a run's own rows in the order stored; a row of no declared run last). The order
        the runs finished in, which differs from cluster to cluster, never reaches a table of them."""
        frame = self.store.rows(self.plan, kind, name=self.name)
        if frame.empty:  # an absent file of a store without declared columns has no key columns either
            return frame
        position = {self.store.key_of(run): i for i, run in enumerate(self.runs)}
        order = [position.get(key, len(position)) for key in zip(*(frame[c].map(_plain) for c in self.store.key))]
        return frame.iloc[np.argsort(np.asarray(order, dtype=int), kind="stable")].reset_index(drop=True)

    def stored_keys(self) -> set[tuple]:
        return self.store.stored_keys(self.plan, name=self.name)

    def label(self, run: Key) -> str:
        return "/".join(str(v) for v in run.values())

    def with_store(self, path: Path | None) -> StudySpec:
        """This study with its runs table at ``path`` (:meth:`RunStore.relocated`; None: unchanged)."""
        return self if path is None else replace(self, store=self.store.relocated(path))

    def floor_rows(self) -> pd.DataFrame:
        """The stored floors of :attr:`floor_keys` found, in their order; ``LookupError`` naming the
        floor's command when none is stored."""
        if self.floor is None:
            raise LookupError(f"study {self.name} has no linear floor")
        found = [self.floor.rows(dict(key)) for key in self.floor_keys if self.floor.stored(key)]
        if not found:
            raise LookupError(f"no linear floor of study {self.name} in {self.floor.path}: run `{self.floor.command}`")
        return pd.concat(found, ignore_index=True)


def stored_runs(spec: StudySpec) -> list[Key]:
    """The runs of ``spec`` with a stored row of its plan, in the study's order (what a live check chooses
    from, :func:`checked_runs`)."""
    done = spec.stored_keys()
    return [run for run in spec.runs if spec.store.key_of(run) in done]


def pending_runs(spec: StudySpec, only: Iterable[Key] | None = None) -> list[Key]:
    """The runs of ``spec`` (or of ``only``, in its order) without a stored row of its plan."""
    done = spec.stored_keys()
    runs = spec.runs if only is None else list(only)
    return [run for run in runs if spec.store.key_of(run) not in done]


def status(spec: StudySpec) -> dict[str, int]:
    """Counts: runs of the plan stored and pending, and stored rows of other plans in the same file."""
    everything = spec.store.rows()
    pending = len(pending_runs(spec))
    return {"stored": len(spec.runs) - pending, "pending": pending, "other plans": len(everything) - len(spec.rows())}


def status_table(spec: StudySpec) -> pd.DataFrame:
    """Per group of runs (their values of :attr:`StudySpec.status_by`, in the order of the runs): the
    stored seeds (each once), the runs pending and, per :attr:`StudySpec.hours` label, the hours its column of
    seconds sums to over the stored runs; ``attrs["other_plans"]``: stored rows of other plans (or
    studies) in the same file. Every table of its store is read first (:meth:`RunStore.check_tables`)."""
    spec.store.check_tables()
    stored, everything = spec.rows(), spec.store.rows()
    pending = pending_runs(spec)
    groups = list(dict.fromkeys(tuple(run[c] for c in spec.status_by) for run in spec.runs))
    rows = []
    for values in groups:
        group = dict(zip(spec.status_by, values))
        mine = _matching(stored, group)
        seeds = sorted({int(s) for s in mine["seed"]}) if not mine.empty else []
        waiting = sum(all(run[c] == v for c, v in group.items()) for run in pending)
        spent = {label: float(mine[c].sum() / 3600) if not mine.empty else 0.0 for label, c in spec.hours.items()}
        rows.append({**group, "stored seeds": seeds, "pending": waiting, **spent})
    table = pd.DataFrame(rows)
    table.attrs["other_plans"] = int(len(everything) - len(stored))
    return table


def hours_left(spec: StudySpec) -> dict[str, float]:
    """Per :attr:`StudySpec.hours` label, the run-hours ``spec``'s pending runs need at the mean of its
    stored runs: per group of :attr:`StudySpec.status_by`, its pending runs times its stored runs' mean
    (a group with none stored takes the mean over every stored run). Run-hours, not wall time: runs
    trained at once divide it. NaN while no run is stored; 0 when none is pending."""
    stored, pending = spec.rows(), pending_runs(spec)
    left = {}
    for label, column in spec.hours.items():
        if not pending:
            left[label] = 0.0
            continue
        if stored.empty:
            left[label] = math.nan
            continue
        seconds = 0.0
        for run in pending:
            mine = _matching(stored, {c: run[c] for c in spec.status_by})
            seconds += float((mine if not mine.empty else stored)[column].mean())
        left[label] = seconds / 3600
    return left


def criteria_of(spec: StudySpec) -> pd.DataFrame | None:
    """The criteria of ``spec``'s stored runs (its :attr:`StudySpec.criteria`; None when it declares none
    or stores no run yet). A criterion that reads the linear floor raises ``LookupError`` naming the
    command that stores it when the floor is missing."""
    if spec.criteria is None or spec.rows().empty:
        return None
    return spec.criteria(spec)


def check_live(spec: StudySpec, request: StudyRequest) -> LiveCheck:
    """Run ``spec``'s live check (:attr:`StudySpec.live_check`) with what ``request`` gives (how many of
    its stored runs: :attr:`StudyRequest.checked`, read by :func:`checked_runs`); a study that declares
    none is refused naming it (``ValueError``)."""
    if spec.live_check is None:
        raise ValueError(f"study {spec.name} declares no live check")
    return spec.live_check(spec, request)


def checked_runs(candidates: Sequence[Key], count: int | None, *, seed: int = CHECK_SAMPLE_SEED) -> list[Key]:
    """The stored runs a live check recomputes, of ``candidates`` (the study's stored runs it can check, in
    its own order, the one it always checks first: its cheapest, or the one with a stored reference).

    Policy: ``count`` None (``study NAME check --all``) checks every candidate; else the first and a
    sample of ``count - 1`` of the others drawn without replacement by ``numpy.random.default_rng(seed)``,
    returned in the candidates' order. The sample depends only on the candidates and the seed: the same
    runs on every machine for one store, and a hand-edited row anywhere in the store is as likely to be
    drawn as any other (``ValueError`` for a ``count`` below 1)."""
    if count is not None and count < 1:
        raise ValueError(f"a live check recomputes at least one stored run, not {count}")
    candidates = list(candidates)
    if count is None or count >= len(candidates):
        return candidates
    drawn = np.random.default_rng(seed).choice(len(candidates) - 1, size=count - 1, replace=False) + 1
    return [candidates[0], *(candidates[i] for i in sorted(drawn.tolist()))]


@dataclass(frozen=True)
class StudyRequest:
    """What a caller that runs studies by name asked for, as a study's declaration reads it: ``profile``
    (which of a group's studies), ``store`` (another runs file), ``seeds`` (only these), ``checked`` (how many
    stored runs a live check recomputes, :func:`checked_runs`; None: every one), ``progress`` and the
    ``options`` given to ``run_one`` (``data_dir``, ``device``, ``threads``, ``download``, ``deadline``)."""

    profile: str | None = None
    store: Path | None = None
    seeds: tuple[int, ...] | None = None
    max_runs: int | None = None
    checked: int | None = CHECKED_RUNS
    progress: bool = True
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class StudyGroup:
    """The studies that a caller running studies by name runs under one name, chosen when they run:
    ``choose(request)`` gives them (by ``request.profile``, or by what is stored); ``seeds`` are all
    their seeds; ``reports(request)`` the tables a status report shows after theirs (``(title, table)`` pairs);
    ``actions``: the group's own actions, each ``action(request)`` returning the text it prints;
    ``seed_policy``: why it has the seeds it has, said when a caller asks for others;
    ``cost(request)``: what the chosen studies' pending runs would take on the request's device (a
    sentence a refusal quotes, empty when unknown)."""

    seeds: tuple[int, ...]
    choose: Callable[[StudyRequest], list[StudySpec]]
    reports: Callable[[StudyRequest], list[tuple[str, pd.DataFrame]]] | None = None
    actions: Mapping[str, Callable[[StudyRequest], str]] = field(default_factory=dict, hash=False)
    seed_policy: str = ""
    cost: Callable[[StudyRequest], str] | None = None
