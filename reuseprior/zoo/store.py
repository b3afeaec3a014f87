"""A store of computed rows that a crash cannot corrupt: SQLite, one table per CSV.

Policy: a crash cannot corrupt the store, and a committed row is never lost:

- Rows live in an embedded transactional database (:mod:`sqlite3` of the
  standard library; one file, default ``build/zoo_scores.sqlite``), one table
  per zoo and version named like its CSV (``zoo_scores_v1_nb201``), primary
  key the architecture. A finished row is written by one transaction
  (:meth:`ScoreStore.insert` or :meth:`ScoreStore.modify`), so concurrent
  writers, a crash or ``kill -9`` at any point lose at most the rows not yet
  committed and never leave a partial or a duplicate row: SQLite's write-ahead
  log (``journal_mode=WAL``, ``synchronous=FULL``) makes each commit atomic
  and durable, the primary key refuses a second row of one architecture, and
  writers queue on the database lock (``busy_timeout``), wherever their
  ``$TMPDIR`` is. Only the process that owns the Dask client writes; keep the
  file on a local disk of that machine (SQLite's locks are unreliable on
  network file systems).
- The versioned CSVs in ``data/`` stay the diffable, citable copy. A CSV whose
  name ends in ``.csv.xz`` is stored xz-compressed (a table of thousands of rows
  of 17-digit floats, a quarter of its size; pandas reads it as it is and
  ``xz -dc`` shows it); everything below holds for it as for a plain one, of its
  text. :meth:`ScoreStore.export_csv` writes one atomically (a temporary file in
  the same folder, ``fsync``, :func:`os.replace`) with the columns, row order
  and number formatting of the committed files, so that import then export
  reproduces a committed CSV byte for byte; :meth:`ScoreStore.import_csv`
  reads one into the table (replacing it, in one transaction) and refuses a
  malformed file with the line number (:class:`CsvFormatError`): a row cut
  short by a kill during a write, a row with too few or too many fields, a
  value that is not a number, an empty or repeated key.
- The store remembers the fingerprint (SHA-256 of the CSV and its
  ``.meta.json``) of the file it last imported or exported; only the content
  counts, so a data folder copied or moved with its store stays in sync.
  :meth:`ScoreStore.attach` (called before every run) imports a CSV the store
  has no table for yet, and refuses to go on when the CSV changed since
  (:class:`OutOfSyncError`: a ``git pull``, a hand edit), so that the export at
  the end of the run never overwrites rows the store has not seen.
- The store records the version of its layout (``PRAGMA user_version``,
  :data:`~reuseprior.zoo.store_file.SCHEMA_VERSION`). A store of a newer version (written by a later
  reuseprior) is refused with :class:`StoreError` naming both versions and the
  fix, never used as it is (its new columns would be left empty and dropped
  from the exported CSVs); an older one is brought up to date on opening by the
  declared steps of :data:`~reuseprior.zoo.store_file.MIGRATIONS`, one version at a time in one
  transaction, each said in a line.
- A store file SQLite cannot open or read (damaged, or in a folder that
  cannot be written) is refused with :class:`StoreError` saying how to
  recover (:func:`~reuseprior.zoo.store_file.unusable_store`); a CSV that is not UTF-8 is refused with
  its line, like any malformed one.
"""

from __future__ import annotations

import csv
import difflib
import functools
import hashlib
import io
import json
import lzma
import math
import re
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Collection, Iterable, Iterator, Literal, Mapping

import pandas as pd

from reuseprior.core.errors import CsvFormatError, OutOfSyncError, StoreError
from reuseprior.core.files import atomic_write
from reuseprior.zoo.store_file import bring_up_to_date, unusable_store, write_ahead_log

__all__ = [
    "CsvFormatError",
    "OutOfSyncError",
    "ScoreStore",
    "StoreError",
    "TableSpec",
    "csv_bytes",
    "meta_path",
    "read_checked_csv",
    "read_csv_rows",
]

#: Affinities of the stored columns (SQLite's column types).
ColumnType = Literal["INTEGER", "REAL", "TEXT"]
#: The first bytes of every xz stream.
_XZ_MAGIC = b"\xfd7zXZ\x00"
#: Hidden column keeping the rows in the order they were stored (the CSV's row order).
_POSITION = "_position"
_NAME = re.compile(r"^[A-Za-z0-9_]+$")


@dataclass(frozen=True)
class TableSpec:
    """One stored table and the CSV it is exported to.

    ``columns`` are ``(name, type)`` in CSV order; ``key`` is the primary key.
    ``dialect`` fixes how the CSV is written, as the committed files were:
    ``"pandas"`` is :meth:`pandas.DataFrame.to_csv` with ``float_format="%.17g"``
    (exact floats, ``\\n`` line ends: the zoo scores); ``"csv"`` is
    :class:`csv.writer` with ``str()`` of each value and ``\\r\\n`` line ends
    (what :class:`csv.DictWriter` wrote: the torchvision analysis). Columns
    of ``columns`` missing from an imported header are imported empty (a file
    written before they existed), except the ``required`` ones; unknown
    columns are refused. The values of each ``unique`` column must differ
    from row to row (as the key's do), and those of each ``non_negative``
    column be >= 0 where given."""

    name: str
    columns: tuple[tuple[str, ColumnType], ...]
    key: str
    dialect: Literal["pandas", "csv"] = "pandas"
    required: tuple[str, ...] = ()
    unique: tuple[str, ...] = ()
    non_negative: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in (self.name, *self.names):
            if not _NAME.match(name):
                raise ValueError(f"table and column names must be letters, digits and '_', got {name!r}")
        for name in (self.key, *self.required, *self.unique, *self.non_negative):
            if name not in self.names:
                raise ValueError(f"{name!r} is not a column of {self.name}")

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.columns]

    @property
    def types(self) -> dict[str, ColumnType]:
        return dict(self.columns)


def _q(name: str) -> str:
    """A quoted SQL identifier (``order`` is a keyword)."""
    return f'"{name}"'


def fingerprint(csv_path: Path) -> str | None:
    """SHA-256 of a CSV's text and its ``.meta.json`` sidecar (``None`` when the CSV does not exist).
    Of the text (:func:`csv_bytes`): a compressed CSV has the fingerprint of the plain file it holds, so
    compressing a committed CSV keeps its store in sync; one that cannot be decompressed counts by its
    bytes, marked as such, so that it differs from any fingerprint the store recorded (even a plain file
    holding the very text, saved under the ``.xz`` name)."""
    if not csv_path.exists():
        return None
    try:
        content = csv_bytes(csv_path)
    except CsvFormatError:
        content = b"\0not a readable xz stream\0" + csv_path.read_bytes()
    digest = hashlib.sha256(content)
    meta = meta_path(csv_path)
    if meta.exists():
        digest.update(b"\0meta\0" + meta.read_bytes())
    return digest.hexdigest()


def meta_path(csv_path: Path) -> Path:
    """The ``.meta.json`` sidecar of a CSV: ``t.csv`` and ``t.csv.xz`` both have ``t.meta.json``."""
    plain = csv_path.with_suffix("") if _is_compressed(csv_path) else csv_path
    return plain.with_suffix(".meta.json")


def _is_compressed(csv_path: Path) -> bool:
    """Whether ``csv_path`` names an xz-compressed CSV (``.csv.xz``)."""
    return csv_path.suffix == ".xz"


def csv_bytes(csv_path: Path) -> bytes:
    """The bytes of a CSV's text: the file's, decompressed when its name ends in ``.xz``. A file so
    named that is not xz, or is an xz stream cut short or followed by other bytes, is refused with
    :class:`CsvFormatError` saying which."""
    raw = csv_path.read_bytes()
    if not _is_compressed(csv_path):
        return raw
    restore = "restore it from git (or write the store's rows again with --export), then import again"
    if not raw.startswith(_XZ_MAGIC):
        raise CsvFormatError(
            csv_path,
            None,
            "the file is not xz-compressed, as its name says",
            "compress it (xz -9 FILE.csv) or " + restore,
        )
    decompressor = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    try:
        text = decompressor.decompress(raw)
    except lzma.LZMAError as err:
        raise CsvFormatError(csv_path, None, f"the xz stream is damaged ({err})", restore) from None
    if not decompressor.eof:
        raise CsvFormatError(csv_path, None, "the xz stream is cut short (a copy or a write interrupted)", restore)
    if decompressor.unused_data:
        raise CsvFormatError(
            csv_path, None, f"{len(decompressor.unused_data)} bytes follow the end of the xz stream", restore
        )
    return text


class ScoreStore:
    """An SQLite file of tables described by :class:`TableSpec` (see the module docstring).

    Use one instance per thread (it holds one connection); ``with ScoreStore(path) as store:``
    closes it."""

    def __init__(self, path: Path | str, *, timeout: float = 120.0, say: Callable[[str], None] = print) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # autocommit mode: every transaction is an explicit BEGIN IMMEDIATE ... COMMIT (see _transaction)
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        except (OSError, sqlite3.Error) as err:
            raise unusable_store(self.path, err) from err
        try:
            write_ahead_log(self._db, timeout)
            self._db.execute("PRAGMA synchronous=FULL")
            with self._transaction() as db:
                bring_up_to_date(db, self.path, say)
        except sqlite3.Error as err:
            self._db.close()
            raise unusable_store(self.path, err) from err
        except StoreError:
            self._db.close()
            raise

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ScoreStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: ``BEGIN IMMEDIATE`` takes the database's write
        lock at once (other writers wait up to ``timeout``), so what is read
        inside cannot change before the commit; any exception rolls it back."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException as err:
            if self._db.in_transaction:  # SQLite rolls back by itself on some errors (a full disk)
                self._db.execute("ROLLBACK")
            if isinstance(err, sqlite3.OperationalError) and "disk is full" in str(err):
                raise unusable_store(self.path, err) from err
            raise

    # --- tables

    def has_table(self, spec: TableSpec) -> bool:
        return (
            self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (spec.name,)).fetchone()
            is not None
        )

    def create(self, spec: TableSpec) -> None:
        """Create ``spec``'s table if it does not exist (empty), or add the columns an older one lacks."""
        with self._transaction() as db:
            self._create(db, spec)

    def _create(self, db: sqlite3.Connection, spec: TableSpec) -> None:
        """Create ``spec``'s table, or add the columns of ``spec`` an older table lacks."""
        cols = [f"{_q(n)} {t}{' PRIMARY KEY NOT NULL' if n == spec.key else ''}" for n, t in spec.columns]
        db.execute(
            f"CREATE TABLE IF NOT EXISTS {_q(spec.name)} ({', '.join(cols)}, {_POSITION} INTEGER NOT NULL UNIQUE)"
        )
        have = {row[1] for row in db.execute(f"PRAGMA table_info({_q(spec.name)})")}
        for name, type_ in spec.columns:
            if name not in have:
                db.execute(f"ALTER TABLE {_q(spec.name)} ADD COLUMN {_q(name)} {type_}")

    def attach(self, spec: TableSpec, csv_path: Path, *, say: Callable[[str], None] = print) -> None:
        """Make ``spec``'s table ready for a run that exports to ``csv_path`` at its end.

        A table the store does not have yet (or has empty, never exported) is
        imported from ``csv_path`` when that exists (else created empty). A table the store has is
        refused with :class:`OutOfSyncError` when ``csv_path`` exists and is
        not the file this store last imported or exported there."""
        if self._blank(spec):
            if csv_path.exists():
                count = self.import_csv(spec, csv_path, only_if_absent=True)
                if count is not None:
                    say(f"{spec.name}: imported {count} rows of {csv_path} into {self.path}")
            self.create(spec)
            return
        self.create(spec)
        now = fingerprint(csv_path)
        if now is not None and now != self._synced(spec):
            raise OutOfSyncError(
                f"{csv_path} changed since the store {self.path} last imported or exported it (a git pull, an edit?); "
                f"take the file with --import (the store's rows that are not in it are dropped; --export first "
                f"to keep them) or overwrite it with the store's rows with --export"
            )

    def _blank(self, spec: TableSpec) -> bool:
        """No table, or an empty one never imported, exported or given metadata (a run that found nothing to do)."""
        return not self.has_table(spec) or (
            self.count(spec) == 0 and self.meta(spec) is None and self._synced(spec) is None
        )

    def _synced(self, spec: TableSpec) -> str | None:
        """The fingerprint of the CSV this store last imported or exported for ``spec``. Only the
        content counts, not where the file is: a data folder copied or moved with its store is
        still in sync (the recorded path says where it was, for people)."""
        row = self._db.execute("SELECT fingerprint FROM _sync WHERE tbl = ?", (spec.name,)).fetchone()
        return None if row is None else row[0]

    def _record_sync(self, db: sqlite3.Connection, spec: TableSpec, csv_path: Path) -> None:
        db.execute(
            "INSERT OR REPLACE INTO _sync VALUES (?, ?, ?, ?)",
            (
                spec.name,
                str(csv_path.resolve()),
                fingerprint(csv_path),
                datetime.now(timezone.utc).isoformat(timespec="seconds"),
            ),
        )

    # --- rows

    def keys(self, spec: TableSpec) -> set[str]:
        if not self.has_table(spec):
            return set()
        return {row[0] for row in self._db.execute(f"SELECT {_q(spec.key)} FROM {_q(spec.name)}")}

    def count(self, spec: TableSpec) -> int:
        return self._db.execute(f"SELECT count(*) FROM {_q(spec.name)}").fetchone()[0] if self.has_table(spec) else 0

    def insert(self, spec: TableSpec, row: Mapping[str, object]) -> bool:
        """Store one finished row in one transaction, after the stored ones;
        ``False`` (and nothing written) when its key is stored already: the
        first writer of an architecture wins (the values are the same)."""
        values = [_sql_value(row.get(name)) for name in spec.names]
        with self._transaction() as db:
            if db.execute(f"SELECT 1 FROM {_q(spec.name)} WHERE {_q(spec.key)} = ?", (row[spec.key],)).fetchone():
                return False
            position = db.execute(f"SELECT coalesce(max({_POSITION}) + 1, 0) FROM {_q(spec.name)}").fetchone()[0]
            columns = ", ".join(_q(n) for n in [*spec.names, _POSITION])
            db.execute(
                f"INSERT INTO {_q(spec.name)} ({columns}) VALUES ({', '.join('?' * (len(spec.names) + 1))})",
                [*values, position],
            )
        return True

    def modify(self, spec: TableSpec, key: str, change: Callable[[dict[str, object]], Mapping[str, object]]) -> bool:
        """Replace some values of one stored row in one transaction:
        ``change(current row)`` returns ``{column: new value}`` (it sees the row
        as committed, under the write lock, so two writers cannot undo each
        other's change). ``False`` when ``key`` is not stored."""
        with self._transaction() as db:
            current = self._row(db, spec, key)
            if current is None:
                return False
            self._update(db, spec, key, change(current))
        return True

    def modify_rows(
        self,
        spec: TableSpec,
        keys: Iterable[str],
        change: Callable[[dict[str, object]], Mapping[str, object]],
        record: Callable[[dict[str, object], list[str]], dict[str, object]],
    ) -> list[str]:
        """:meth:`modify` of each of ``keys`` (those not stored skipped) and, when any row changed,
        ``record(stored metadata, keys changed)`` as the table's new metadata, all in one transaction:
        an interruption leaves every row and the record as they were. Returns the keys changed."""
        changed = []
        with self._transaction() as db:
            for key in keys:
                current = self._row(db, spec, key)
                if current is not None and self._update(db, spec, key, change(current)):
                    changed.append(key)
            if changed:
                self._write_meta(db, spec, record(self._read_meta(db, spec), changed))
        return changed

    @staticmethod
    def _row(db: sqlite3.Connection, spec: TableSpec, key: str) -> dict[str, object] | None:
        found = db.execute(
            f"SELECT {', '.join(_q(n) for n in spec.names)} FROM {_q(spec.name)} WHERE {_q(spec.key)} = ?", (key,)
        ).fetchone()
        return None if found is None else dict(zip(spec.names, found))

    @staticmethod
    def _update(db: sqlite3.Connection, spec: TableSpec, key: str, new: Mapping[str, object]) -> bool:
        """Write ``new`` (``{column: value}``) into the row of ``key``; whether there was anything to write."""
        unknown = set(new) - set(spec.names)
        if unknown:
            raise KeyError(f"{sorted(unknown)} are not columns of {spec.name}")
        if new:
            sets = ", ".join(f"{_q(n)} = ?" for n in new)
            db.execute(
                f"UPDATE {_q(spec.name)} SET {sets} WHERE {_q(spec.key)} = ?",
                [*(_sql_value(v) for v in new.values()), key],
            )
        return bool(new)

    def create_with_rows(
        self, spec: TableSpec, rows: Iterable[Mapping[str, object]], meta: Mapping[str, object] | None = None
    ) -> int:
        """Create ``spec``'s table holding ``rows`` (in this order; a column a
        row lacks is empty) and ``meta``, in one transaction (a kill leaves no
        table or the whole one); returns the number of rows. Refused with
        :class:`StoreError` when the table already holds rows or metadata: a
        table being filled is never replaced (a new version's table started
        from the previous version's CSV: :func:`reuseprior.zoo.scoring.upgrade_scores`)."""
        values = [[_sql_value(row.get(name)) for name in spec.names] for row in rows]
        with self._transaction() as db:
            self._create(db, spec)
            held = db.execute(f"SELECT count(*) FROM {_q(spec.name)}").fetchone()[0]
            if held or db.execute("SELECT 1 FROM _meta WHERE tbl = ?", (spec.name,)).fetchone():
                raise StoreError(
                    f"the store {self.path} already holds the table {spec.name} ({held} rows); it is not replaced"
                )
            self._insert_all(db, spec, values)
            if meta is not None:
                db.execute("INSERT OR REPLACE INTO _meta VALUES (?, ?)", (spec.name, json.dumps(meta)))
        return len(values)

    def _insert_all(self, db: sqlite3.Connection, spec: TableSpec, values: list[list[object]]) -> None:
        """Insert rows of values (in ``spec``'s column order) into an empty table, in this order."""
        columns = ", ".join(_q(n) for n in [*spec.names, _POSITION])
        db.executemany(
            f"INSERT INTO {_q(spec.name)} ({columns}) VALUES ({', '.join('?' * (len(spec.names) + 1))})",
            [[*row, position] for position, row in enumerate(values)],
        )

    def rows(self, spec: TableSpec) -> pd.DataFrame:
        """The stored rows in stored order, typed as pandas reads the exported CSV."""
        return _frame(spec, self._select(self._db, spec))

    def _select(self, db: sqlite3.Connection, spec: TableSpec) -> list[tuple]:
        if not self.has_table(spec):
            return []
        return db.execute(
            f"SELECT {', '.join(_q(n) for n in spec.names)} FROM {_q(spec.name)} ORDER BY {_POSITION}"
        ).fetchall()

    # --- metadata (the .meta.json sidecar)

    def meta(self, spec: TableSpec) -> dict[str, object] | None:
        row = self._db.execute("SELECT json FROM _meta WHERE tbl = ?", (spec.name,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(
        self,
        spec: TableSpec,
        meta: Mapping[str, object] | None = None,
        *,
        update: Callable[[dict[str, object]], dict[str, object]] | None = None,
    ) -> None:
        """Store ``meta``, or apply ``update`` to the stored one (in one transaction)."""
        with self._transaction() as db:
            self._write_meta(db, spec, meta if update is None else update(self._read_meta(db, spec)))

    @staticmethod
    def _read_meta(db: sqlite3.Connection, spec: TableSpec) -> dict[str, object]:
        row = db.execute("SELECT json FROM _meta WHERE tbl = ?", (spec.name,)).fetchone()
        return json.loads(row[0]) if row else {}

    @staticmethod
    def _write_meta(db: sqlite3.Connection, spec: TableSpec, meta: Mapping[str, object]) -> None:
        db.execute("INSERT OR REPLACE INTO _meta VALUES (?, ?)", (spec.name, json.dumps(meta)))

    # --- CSV

    def export_csv(self, spec: TableSpec, csv_path: Path, *, overwrite_changed: bool = True) -> int:
        """Write the table to ``csv_path`` (and its metadata to the ``.meta.json``
        beside it) atomically; returns the number of rows. Runs under the
        store's write lock, so the file is one consistent snapshot and the
        recorded fingerprint is the file's. A ``.csv.xz`` is compressed under
        that lock too (xz preset 9: about 20 s for NAS-Bench-201's 12 MB of text
        on one core), while other writers wait (up to the store's ``timeout``).

        ``overwrite_changed=False`` (the export at the end of a run) refuses
        with :class:`OutOfSyncError` when ``csv_path`` changed since this store
        last imported or exported it (a git pull during a long run): its rows
        would be lost, while the store's rows stay safe in the store."""
        with self._transaction() as db:
            now = fingerprint(csv_path)
            if not overwrite_changed and now is not None and now != self._synced(spec):
                raise OutOfSyncError(
                    f"{csv_path} changed during the run (a git pull, an edit?), so the store {self.path} did not "
                    f"overwrite it; every finished row is in the store. Keep the store's rows with --export "
                    f"(overwrites the file) or take the file's with --import (drops the store's rows not in it)"
                )
            rows = self._select(db, spec)
            text = _csv_text(spec, rows)
            _write_atomically(csv_path, text)
            meta = db.execute("SELECT json FROM _meta WHERE tbl = ?", (spec.name,)).fetchone()
            if meta is not None:
                _write_atomically(meta_path(csv_path), json.dumps(json.loads(meta[0]), indent=1) + "\n")
            self._record_sync(db, spec, csv_path)
        return len(rows)

    def import_csv(
        self,
        spec: TableSpec,
        csv_path: Path,
        *,
        only_if_absent: bool = False,
        keys: Collection[str] | None = None,
    ) -> int | None:
        """Replace the table by the rows of ``csv_path`` (and its metadata by
        the ``.meta.json`` beside it, when there is one) in one transaction;
        returns the number of rows. A malformed file raises
        :class:`CsvFormatError` naming the line, and changes nothing; so does
        a key not in ``keys`` (when given: the architectures of the zoo).
        ``only_if_absent``: do nothing (``None``) unless the table is still
        blank (another writer may have imported it meanwhile)."""
        rows = read_csv_rows(spec, csv_path, keys=keys)
        sidecar = meta_path(csv_path)
        meta = json.loads(sidecar.read_text()) if sidecar.exists() else None
        with self._transaction() as db:
            if only_if_absent and not self._blank(spec):
                return None
            db.execute(f"DROP TABLE IF EXISTS {_q(spec.name)}")
            self._create(db, spec)
            self._insert_all(db, spec, rows)
            if meta is not None:
                db.execute("INSERT OR REPLACE INTO _meta VALUES (?, ?)", (spec.name, json.dumps(meta)))
            self._record_sync(db, spec, csv_path)
        return len(rows)


def _sql_value(value: object) -> object:
    """A Python value as stored: NaN and pandas' missing values are NULL (an empty CSV cell)."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return _sql_value(value.item())
    return value


def _frame(spec: TableSpec, rows: list[tuple]) -> pd.DataFrame:
    """Rows as the frame pandas would read from the exported CSV: REAL columns
    float64, INTEGER columns int64 (float64 when one is missing), TEXT
    columns strings with NaN for missing."""
    data: dict[str, object] = {}
    for i, (name, type_) in enumerate(spec.columns):
        values = [row[i] for row in rows]
        if type_ == "REAL":
            data[name] = pd.array([math.nan if v is None else float(v) for v in values], dtype="float64")
        elif type_ == "INTEGER" and None not in values:
            data[name] = pd.array(values, dtype="int64")
        elif type_ == "INTEGER":
            data[name] = pd.array([math.nan if v is None else float(v) for v in values], dtype="float64")
        else:
            data[name] = pd.Series([math.nan if v is None else v for v in values], dtype="object")
    return pd.DataFrame(data, columns=spec.names)


def _csv_text(spec: TableSpec, rows: list[tuple]) -> str:
    """The CSV of ``rows`` exactly as the committed files were written (see :class:`TableSpec`)."""
    if spec.dialect == "pandas":
        return _frame(spec, rows).to_csv(index=False, float_format="%.17g", lineterminator="\n")
    out = io.StringIO()
    writer = csv.writer(out)  # csv.DictWriter's defaults: excel dialect, "\r\n", str() of each value
    writer.writerow(spec.names)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return out.getvalue()


def _write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` by ``text``, xz-compressed when its name ends in ``.xz``
    (:func:`reuseprior.core.files.atomic_write`: readers see the old or the new
    file, never part of one)."""
    data = text.encode("utf-8")
    with atomic_write(path, "wb") as fh:
        fh.write(lzma.compress(data, preset=9) if _is_compressed(path) else data)


def read_checked_csv(spec: TableSpec, csv_path: Path, **read_csv: object) -> pd.DataFrame:
    """``pandas.read_csv(csv_path, **read_csv)`` of a file that :func:`read_csv_rows` accepts, else its
    :class:`CsvFormatError`: the one reader of a stored table's CSV, so that every reader (a run's status,
    a report) refuses what an import refuses instead of counting a broken line as a row. The check is
    made once per state of the file (its inode, modification time and size)."""
    stat = csv_path.stat()
    _check_once(spec, csv_path, (stat.st_ino, stat.st_mtime_ns, stat.st_size))
    return pd.read_csv(csv_path, **read_csv)


@functools.lru_cache(maxsize=64)
def _check_once(spec: TableSpec, csv_path: Path, state: tuple[int, int, int]) -> None:  # noqa: ARG001 - state: the cache key
    """:func:`read_csv_rows` of the file in ``state``, for its errors only."""
    read_csv_rows(spec, csv_path)


def read_csv_rows(spec: TableSpec, csv_path: Path, *, keys: Collection[str] | None = None) -> list[list[object]]:
    """The rows of ``csv_path`` as values of ``spec``'s columns (in its
    order; missing columns ``None``), each checked; a malformed file raises
    :class:`CsvFormatError` with the line number of the first problem
    (also a key not in ``keys``, when given)."""
    reader = csv.reader(io.StringIO(_csv_file_text(csv_path), newline=""))
    header = next(reader)
    _check_header(spec, csv_path, header)
    where = {name: header.index(name) for name in spec.names if name in header}
    first_line: dict[str, dict[object, int]] = {name: {} for name in (spec.key, *spec.unique)}
    out: list[list[object]] = []
    line = reader.line_num
    for fields in reader:
        start, line = line + 1, reader.line_num
        if len(fields) != len(header):
            raise CsvFormatError(
                csv_path,
                start,
                f"{len(fields)} fields where the header has {len(header)}: a row cut "
                "short or two rows run together by an interrupted write",
                "delete that line (its architecture is scored again by the next run) or restore "
                "the file from git, then import again",
            )
        row = [
            _parse_field(spec, csv_path, start, name, fields[where[name]] if name in where else "")
            for name in spec.names
        ]
        _check_row(spec, csv_path, start, dict(zip(spec.names, row)), first_line, keys)
        out.append(row)
    return out


def _csv_file_text(csv_path: Path) -> str:
    """The text of a CSV that is not empty, is UTF-8 and ends with a line end (else :class:`CsvFormatError`)."""
    raw = csv_bytes(csv_path)
    if not raw:
        raise CsvFormatError(csv_path, 1, "the file is empty (no header)", "delete it or restore it from git")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise CsvFormatError(
            csv_path,
            raw.count(b"\n", 0, err.start) + 1,
            f"byte {raw[err.start]:#04x} is not UTF-8 (saved by an editor in another encoding?)",
            "save the file as UTF-8 or restore it from git, then import again",
        ) from None
    if not text.endswith("\n"):
        raise CsvFormatError(
            csv_path,
            text.count("\n") + 1,
            "the last row is cut short (no line end): a write was interrupted",
            "delete that line (its architecture is scored again by the next run) or restore "
            "the file from git, then import again",
        )
    return text


def _parse_field(spec: TableSpec, csv_path: Path, line: int, name: str, text: str) -> object:
    type_ = spec.types[name]
    try:
        return _parse(text, type_)
    except ValueError:
        raise CsvFormatError(
            csv_path,
            line,
            f"{name} = {text!r} is not {'an integer' if type_ == 'INTEGER' else 'a number'}",
            "correct or delete that row",
        ) from None


def _check_row(
    spec: TableSpec,
    csv_path: Path,
    line: int,
    row: dict[str, object],
    first_line: dict[str, dict[object, int]],
    keys: Collection[str] | None,
) -> None:
    """The rules of one parsed row beyond its types: a key (in ``keys``, when given), values of the key and
    of ``spec.unique`` not seen on an earlier line (``first_line`` records them), ``spec.non_negative`` >= 0."""
    key = row[spec.key]
    if key is None:
        raise CsvFormatError(csv_path, line, f"empty {spec.key}", "every row names its architecture")
    if keys is not None and key not in keys:
        close = difflib.get_close_matches(str(key), sorted(keys), n=1)
        raise CsvFormatError(
            csv_path,
            line,
            f"{spec.key} {key!r} is not one of the {len(keys)} known"
            + (f" (did you mean {close[0]!r}?)" if close else ""),
            "is this the right file? correct or delete that row",
        )
    for name in (spec.key, *spec.unique):
        value = row[name]
        if value is not None and value in first_line[name]:
            raise CsvFormatError(
                csv_path,
                line,
                f"{name} {value!r} again (first on line {first_line[name][value]})",
                "keep one of the two rows" if name == spec.key else f"give each row its own {name}",
            )
        first_line[name][value] = line
    for name in spec.non_negative:
        value = row[name]
        if value is not None and value < 0:  # type: ignore[operator]
            raise CsvFormatError(csv_path, line, f"{name} = {value!r} is negative", f"{name} counts from 0")


def _check_header(spec: TableSpec, csv_path: Path, header: list[str]) -> None:
    unknown = [name for name in header if name not in spec.types]
    if unknown:
        raise CsvFormatError(
            csv_path, 1, f"unknown columns {unknown} (a {spec.name} CSV has {spec.names})", "is this the right file?"
        )
    if len(set(header)) != len(header):
        raise CsvFormatError(csv_path, 1, f"repeated columns in the header {header}")
    if spec.key not in header:
        raise CsvFormatError(csv_path, 1, f"no {spec.key!r} column in the header {header}")
    lacking = [name for name in spec.required if name not in header]
    if lacking:
        raise CsvFormatError(
            csv_path,
            1,
            f"the header lacks the columns {lacking} (a {spec.name} CSV has {spec.names}): their values would be "
            "imported empty and never computed",
            "add the columns (empty cells for what is not computed yet) or restore the file from git",
        )


def _parse(text: str, type_: ColumnType) -> object:
    if text == "":
        return None
    if type_ == "INTEGER":
        return int(text)
    if type_ == "REAL":
        value = float(text)
        return None if math.isnan(value) else value
    return text
