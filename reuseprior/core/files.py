"""Writing files so that no reader and no crash ever sees half of one.

Policy of :func:`atomic_write` (:func:`atomic_path` for a writer that takes
a path), used by every file the package, its commands and its benchmarks
write (checkpoints, the stored score and run CSVs and their
metadata, run logs, fetched datasets, the notebooks' tables, texts and
figures, the book's pages, the benchmarks' JSON): the content goes to a
temporary file with a unique name in the target's folder (two writers never
share one), is flushed and fsynced, may be checked by the caller, and is then
renamed over the target with :func:`os.replace`; the folder is fsynced so that
the rename itself survives a crash. An error or an interruption anywhere removes the temporary
file and leaves the target as it was.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Callable, Mapping

import pandas as pd
from filelock import FileLock

from reuseprior.core.row_digests import DIGEST_COLUMN, digests_of, has_digests

__all__ = [
    "append_csv_row",
    "atomic_path",
    "atomic_write",
    "changed_files",
    "disk_full",
    "file_lock",
    "file_sha256",
    "folder_state",
    "fsync_directory",
    "replace_csv_rows",
    "write_csv",
    "write_json",
    "write_text",
]


def file_lock(path: str | os.PathLike) -> FileLock:
    """The lock every writer of the file at ``path`` holds while it reads and rewrites it (``name.lock``
    beside ``name.csv``), so that two writers' rows both land."""
    return FileLock(str(Path(path).with_suffix(".lock")))


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of the file at ``path`` (hex), read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def folder_state(folder: str | os.PathLike) -> dict[str, str]:
    """The :func:`file_sha256` of every file under ``folder``, by path relative to it; empty for a missing
    folder. Two states differ where a file's content changed, or a file was added or removed, between them
    (:func:`changed_files`); a file rewritten with the same bytes is no change."""
    root = Path(folder)
    files = sorted(path for path in root.rglob("*") if path.is_file()) if root.is_dir() else []
    return {path.relative_to(root).as_posix(): file_sha256(path) for path in files}


def changed_files(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """The files changed, added or removed between two :func:`folder_state` of one folder, sorted."""
    return sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))


def fsync_directory(folder: str | os.PathLike) -> None:
    """Flush a folder's entries (a rename into it) to disk where the system allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # e.g. Windows, where a folder cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a folder
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(
    path: str | os.PathLike,
    *,
    suffix: str = ".tmp",
    file_mode: int | None = None,
    scratch: str | os.PathLike | None = None,
    keep_failed: str | os.PathLike | None = None,
) -> Iterator[Path]:
    """A temporary path for ``path`` that a writer which takes a path (not a file handle) fills; it
    is fsynced and put in place when the block ends without an error (see the module docstring).

    ``scratch``: the folder of the temporary file (default the target's own; it must be on the same
    file system, so the rename stays atomic), for a writer whose temporary must not stand beside the
    target. ``keep_failed``: where an error moves the temporary file, to read what went wrong (default:
    it is removed). ``file_mode``: the permission bits of the result (default: those of the file it
    replaces, else ``0o644``)."""
    path = Path(path)
    folder = Path(scratch) if scratch is not None else path.parent
    for made in {path.parent, folder}:
        made.mkdir(parents=True, exist_ok=True)
    if file_mode is None:
        file_mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o644
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=folder)
    except OSError as err:  # named by the file asked for, not the temporary one
        raise type(err)(err.errno, f"cannot create a file in {folder}: {err.strerror}", str(path)) from err
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, file_mode)  # mkstemp makes the file private (0600)
        os.replace(tmp, path)
    except BaseException as err:
        if keep_failed is not None and tmp.exists():
            Path(keep_failed).parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, keep_failed)
        else:
            tmp.unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno == errno.ENOSPC:
            raise disk_full(path, folder) from err
        raise
    fsync_directory(path.parent)


def disk_full(path: Path, folder: Path) -> OSError:
    """The error of a write to ``path`` (through a temporary file in ``folder``) that found no space left:
    it names the file, the space free there now (the temporary file removed) and the fix; the file
    itself is as it was."""
    try:
        free = f"{shutil.disk_usage(folder).free / 2**20:,.1f} MiB free"
    except OSError:
        free = "free space unknown"
    return OSError(
        errno.ENOSPC,
        f"no space left on the device writing {path} ({free} in {folder}); the file is as it was: free space "
        "there, or give a folder on another disk, and run again",
    )


@contextmanager
def atomic_write(
    path: str | os.PathLike,
    mode: str = "wb",
    *,
    suffix: str = ".tmp",
    file_mode: int | None = None,
    **open_kwargs: Any,
) -> Iterator[IO]:
    """Open a temporary file for ``path`` (``mode`` ``"wb"`` or ``"w"``, with
    ``open_kwargs`` such as ``newline=""``) and put it in place when the block
    ends without an error (:func:`atomic_path`; see the module docstring).

    The yielded file's ``name`` is the temporary path, so the block can check
    what it wrote and raise to abandon it. ``file_mode``: the permission bits
    of the result (default: those of the file it replaces, else ``0o644``)."""
    with atomic_path(path, suffix=suffix, file_mode=file_mode) as tmp, open(tmp, mode, **open_kwargs) as fh:
        yield fh


def write_text(path: str | os.PathLike, text: str) -> None:
    """Replace ``path`` by ``text`` (UTF-8, line ends as given) through :func:`atomic_write`."""
    with atomic_write(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)


def write_json(path: str | os.PathLike, data: Any, *, indent: int = 1) -> None:
    """Replace ``path`` by ``data`` as indented JSON ending in a newline, through :func:`write_text`."""
    write_text(path, json.dumps(data, indent=indent) + "\n")


def write_csv(
    frame: pd.DataFrame, path: str | os.PathLike, *, float_format: str | None = "%.10g", index: bool = False
) -> None:
    """Write ``frame`` to ``path`` as CSV (its index only when ``index``) through :func:`atomic_write`;
    floats to 10 significant digits (stable across CPUs' last-bit differences), or with
    ``float_format=None`` in full (the shortest text that reads back as the same float). A file that
    holds row digests (:mod:`reuseprior.core.row_digests`) keeps them: each row's digest is written last,
    computed from the row's fields as this call writes them."""
    if has_digests(path) and not index:
        values = frame.drop(columns=[DIGEST_COLUMN], errors="ignore")
        digests = digests_of(values.to_csv(index=False, float_format=float_format))
        frame = values.assign(**{DIGEST_COLUMN: digests})
    with atomic_write(path, "w", encoding="utf-8", newline="") as fh:
        frame.to_csv(fh, index=index, float_format=float_format)


def append_csv_row(
    path: str | os.PathLike,
    row: dict[str, Any],
    columns: tuple[str, ...],
    *,
    read: Callable[[Path], pd.DataFrame],
    validate: Callable[[pd.DataFrame], None] | None = None,
) -> pd.DataFrame:
    """Append ``row`` (its ``columns``, missing ones empty) to the CSV at ``path``.

    The file is read with ``read``, the result checked with ``validate`` and
    written whole by :func:`write_csv`, so an interruption leaves either the
    old rows or the old rows plus this one. Returns the rows written.
    """
    frame = read(Path(path))
    new = pd.DataFrame([{c: row.get(c) for c in columns}])
    frame = new if frame.empty else pd.concat([frame, new], ignore_index=True)
    if validate is not None:
        validate(frame)
    write_csv(frame, path)
    return frame


def replace_csv_rows(
    path: str | os.PathLike,
    key: Mapping[str, Any],
    rows: pd.DataFrame,
    *,
    read: Callable[[Path], pd.DataFrame],
    validate: Callable[[pd.DataFrame], None] | None = None,
) -> pd.DataFrame:
    """Put ``rows`` in place of the rows of the CSV at ``path`` whose columns
    equal ``key`` (``{column: value}``), after the other rows.

    The file is read with ``read`` (an empty frame when there is none yet) and
    written whole by :func:`write_csv`, so an interruption leaves either the
    old rows or the new ones; writing the same run twice keeps one copy.
    ``validate`` checks the result before it is written. Returns the rows written."""
    old = read(Path(path))
    if not old.empty:
        same = pd.Series(True, index=old.index)
        for column, value in key.items():
            same &= old[column] == value
        old = old[~same]
    parts = [f for f in (old, rows) if not f.empty]
    frame = pd.concat(parts, ignore_index=True) if parts else rows
    if validate is not None:
        validate(frame)
    write_csv(frame, path)
    return frame
