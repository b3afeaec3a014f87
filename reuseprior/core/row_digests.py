"""A digest of each stored row's values, kept with the row and checked on every read.

Policy: a stored CSV whose header has the column :data:`DIGEST_COLUMN` holds in it, for each row, the
digest of that row's other fields as written (:func:`row_digest`: the first 16 hex digits of the SHA-256
of the fields' text). Every read of such a file (:func:`reuseprior.core.stored_rows.record_lines`) checks
each row against its digest and refuses a row whose values changed since they were stored (a hand edit,
"87" for "878") with :class:`~reuseprior.core.errors.CsvFormatError` naming the file, the line and the
fix; the readers then drop the column, so no table shows it. Every write of a file that has the column
(:func:`reuseprior.core.files.write_csv`) writes it again, each digest computed from the row's text as
written.

A file stored before digests has no such column and is read as before;
:func:`reuseprior.core.stored_rows.stamp_digests` gives it one, explicitly: it appends each row's digest
to its line and changes no other byte. The same call re-stores a row edited on purpose (its digest
computed anew from its values as they now stand).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from pathlib import Path

__all__ = ["DIGEST_COLUMN", "EDITED_ROW_FIX", "check_digest", "digests_of", "has_digests", "row_digest"]

#: the column holding each row's digest (last in the file)
DIGEST_COLUMN = "row_digest"
#: the fix named for a row whose values do not match its digest
EDITED_ROW_FIX = (
    "restore that line from git (or from the run's own copy of the store); if the edit is meant, re-store the "
    "file's digests on purpose with reuseprior.core.stored_rows.stamp_digests(path)"
)


def row_digest(fields: list[str]) -> str:
    """The digest of a row's fields as written (their text, in order): 16 hex digits of their SHA-256."""
    return hashlib.sha256("\x1f".join(fields).encode("utf-8")).hexdigest()[:16]


def has_digests(path: str | os.PathLike) -> bool:
    """Whether the CSV at ``path`` exists and its header has :data:`DIGEST_COLUMN`."""
    path = Path(path)
    if not path.exists():
        return False
    with open(path, encoding="utf-8", newline="") as fh:
        return DIGEST_COLUMN in next(csv.reader(fh), [])


def digests_of(text: str) -> list[str]:
    """The digest of each row of the CSV ``text`` (its header first, no digest column in it)."""
    records = list(csv.reader(io.StringIO(text, newline="")))
    return [row_digest(fields) for fields in records[1:] if fields]


def check_digest(header: list[str], fields: list[str]) -> str | None:
    """The problem of a row (its ``fields``) whose digest does not match its values, or None; for a
    ``header`` without :data:`DIGEST_COLUMN`, always None."""
    if DIGEST_COLUMN not in header:
        return None
    position = header.index(DIGEST_COLUMN)
    stored = fields[position]
    values = fields[:position] + fields[position + 1 :]
    if stored == row_digest(values):
        return None
    what = "has no digest" if not stored else f"does not match its digest {stored}"
    return f"the row {what}: its values were changed after it was stored (edited by hand?)"
