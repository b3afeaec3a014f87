"""The store's SQLite file (:mod:`reuseprior.zoo.store`): the version of its layout and the steps that
bring an older one up to it, its write-ahead log, and the one-line error of a file that cannot be used.

Policy: a store of a newer layout than this reuseprior's is refused, never used as it is; an older one
is brought up to date by the declared steps of :data:`MIGRATIONS`, each said; a damaged store is never
repaired in place or deleted (:func:`unusable_store` says how to recover and what is lost).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Callable

from reuseprior.core.errors import StoreError
from reuseprior.core.files import disk_full

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "bring_up_to_date", "unusable_store", "write_ahead_log"]

#: The version of the store's layout, recorded in ``PRAGMA user_version``: 1 is the ``_meta`` and
#: ``_sync`` tables and one table per CSV with its position column (0: a store written before versions
#: were recorded, of that same layout).
SCHEMA_VERSION = 1


def _version_1(db: sqlite3.Connection) -> None:
    """Schema 1: the ``_meta`` and ``_sync`` tables (a new store's, or those an unversioned store has)."""
    db.execute("CREATE TABLE IF NOT EXISTS _meta (tbl TEXT PRIMARY KEY, json TEXT NOT NULL)")
    db.execute(
        "CREATE TABLE IF NOT EXISTS _sync (tbl TEXT PRIMARY KEY, csv TEXT NOT NULL, "
        "fingerprint TEXT NOT NULL, at TEXT NOT NULL)"
    )


#: The steps from one schema version to the next: ``MIGRATIONS[v]`` brings a store of version ``v``
#: to ``v + 1`` (inside the transaction that records the new version).
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {0: _version_1}


def bring_up_to_date(db: sqlite3.Connection, path: Path, say: Callable[[str], None]) -> None:
    """Refuse a store of a newer schema than :data:`SCHEMA_VERSION`; bring an older one up to it, step by
    step (:data:`MIGRATIONS`), saying each step unless the store is new; record the version."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the store {path} has schema version {version}, newer than this reuseprior's {SCHEMA_VERSION} (a "
            f"later reuseprior wrote it): run that version, or update this one (git pull; pip install -U "
            f"reuseprior); or move the store aside (mv {path} {path}.v{version}) to start a new one from the CSVs"
        )
    new = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    for step in range(version, SCHEMA_VERSION):
        MIGRATIONS[step](db)
        if not new:
            say(f"the store {path}: schema version {step} brought to {step + 1}")
    if version != SCHEMA_VERSION:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def write_ahead_log(db: sqlite3.Connection, timeout: float) -> None:
    """Switch ``db`` to the write-ahead log (``journal_mode=WAL``), waiting up to ``timeout`` seconds for
    other processes. SQLite answers a journal-mode switch "database is locked" at once, without its busy
    handler, when another connection is switching the same new file at that moment (two score runs
    started together), so the switch is retried every 50 ms until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if not _is_lock(err) or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def _is_lock(err: BaseException) -> bool:
    """Whether ``err`` is SQLite saying another connection holds the database (busy or locked)."""
    return isinstance(err, sqlite3.OperationalError) and ("locked" in str(err) or "busy" in str(err))


def unusable_store(path: Path, err: BaseException) -> StoreError:
    """The :class:`StoreError` of a store file that SQLite cannot open or read, saying how to recover.

    Policy: a damaged store is never repaired in place or deleted by the package; the message says
    to move it aside, that the next run imports each zoo's CSV again, and what is lost (the rows
    stored since the last export: the CSVs hold every exported row). A store another process holds past
    the timeout is not damaged, and its message says to wait for that process."""
    if isinstance(err, OSError) or "unable to open" in str(err) or "readonly" in str(err):
        return StoreError(
            f"cannot open or write the store {path} ({err}): its folder must exist and be writable; "
            f"make it so, or give another file on a writable local disk with --store FILE"
        )
    if "disk is full" in str(err):
        return StoreError(f"{disk_full(path, path.parent).strerror}; the store keeps every committed row")
    if _is_lock(err):
        return StoreError(
            f"the store {path} stayed locked by another process past the timeout ({err}): another score run "
            f"or export holds it; wait for it to end (or stop it) and run the command again. The store is intact"
        )
    return StoreError(
        f"the store {path} is damaged ({err}); move it aside (mv {path} {path}.damaged) and run the command "
        f"again: the next run imports each zoo's CSV into a new store. Lost: the rows stored since the last "
        f"export to the CSVs (an interrupted run exports on its way out, a kill -9 does not)"
    )
