"""The check of a stored CSV's rows on read: every row whole, every value of its declared kind.

Policy: a store declares its columns' kinds (:class:`ColumnKinds`: which are required, which are
numbers; every other column is text that may be empty), and every read of a stored file
(:func:`check_stored_rows`) refuses, before anything is written back, with
:class:`~reuseprior.core.errors.CsvFormatError` naming the file, the line and the fix:

- a row with another number of fields than the header (pandas would fill a cut row's missing fields
  with NaN, or shift a row with too many), and a file whose last row has no line end (every writer
  of :mod:`reuseprior.core.files` ends a file with one: a missing line end is a cut write, even when
  the cut falls inside a value and leaves the field count whole);
- a required value that is empty (``NaN`` too), a numeric value that does not read as a number or is
  not finite (``inf``, ``-1e999``: no writer stores one), a value outside its column's declared range
  (:data:`FRACTION`, :data:`PERCENT`, :data:`COUNT`);
- a row whose values changed since it was stored, in a file that keeps row digests
  (:mod:`reuseprior.core.row_digests`; :func:`stamp_digests` gives a file its digests, or re-stores a
  row edited on purpose);
- two rows of one key (:func:`unique_rows`, for a store of one row per key): differing rows are refused,
  naming the key and both lines, and never one chosen silently; an identical copy of a row (a merge of
  two copies of one file) is dropped from what is read, with a :class:`DuplicateRowWarning` naming it,
  and the next write of the store writes the file without it.

A cut row is refused rather than read, since read it would count as a stored run, show NaN in a
table, and be rewritten by the next store as a well-formed row with its values cut.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reuseprior.core.errors import CsvFormatError
from reuseprior.core.files import write_text
from reuseprior.core.row_digests import DIGEST_COLUMN, EDITED_ROW_FIX, check_digest, row_digest

__all__ = [
    "COUNT",
    "FRACTION",
    "NO_KINDS",
    "PERCENT",
    "ColumnKinds",
    "DuplicateRowWarning",
    "check_stored_rows",
    "read_stored_csv",
    "record_lines",
    "stamp_digests",
    "unique_rows",
    "without_digests",
]

#: the fix named for a row that is not whole
CUT_ROW_FIX = (
    "mend or delete that line (a deleted run is pending again: the next run stores it again, from its kept "
    "checkpoint without training when it finished, else by training it), or restore the file from git"
)
#: the fix named for a value no writer stores
VALUE_FIX = (
    "restore that line from git or from the run's own copy of the store, or delete it (the run is pending again)"
)
#: the fix named for two differing rows of one key
DUPLICATE_FIX = (
    "keep the right one and delete the other line (a merge of two copies of the file: compare them with "
    "`git log -p` on the file), or restore the file from git"
)

#: the range of an accuracy stored as a fraction
FRACTION = (0.0, 1.0)
#: the range of an accuracy stored in percent
PERCENT = (0.0, 100.0)
#: the range of a count (images, parameters, generations, seconds)
COUNT = (0.0, math.inf)


class DuplicateRowWarning(UserWarning):
    """An identical copy of a stored row was dropped on read (see :func:`unique_rows`)."""


@dataclass(frozen=True)
class ColumnKinds:
    """The kinds of a stored table's values: ``required`` columns are never empty, ``numeric`` columns
    hold finite numbers (empty allowed unless required too), ``ranges`` give some of them their closed
    range (``(column, (low, high))`` pairs: :data:`FRACTION`, :data:`PERCENT`, :data:`COUNT`); any other
    column is text that may be empty. A column a file lacks is not checked (a file written before it
    existed)."""

    required: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    ranges: tuple[tuple[str, tuple[float, float]], ...] = ()

    def with_required(self, columns: tuple[str, ...]) -> ColumnKinds:
        """These kinds with ``columns`` required too (a store's plan and key columns)."""
        return replace(self, required=tuple(dict.fromkeys((*columns, *self.required))))

    @staticmethod
    def within(bounds: tuple[float, float], *columns: str) -> tuple[tuple[str, tuple[float, float]], ...]:
        """``ranges`` entries giving each of ``columns`` the range ``bounds``."""
        return tuple((column, bounds) for column in columns)


#: no declared kinds: every row is still checked whole
NO_KINDS = ColumnKinds()


def record_lines(path: Path) -> list[int]:
    """The line where each row of the CSV at ``path`` starts (blank lines skipped, as pandas does; none
    when there is no file), after checking that every row has the header's number of fields and that the
    file ends with a line end; :class:`CsvFormatError` naming the first row that does not. Made before
    pandas reads the file, which fills a cut row with NaN, or fails on a cut inside quotes."""
    path = Path(path)
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    starts: list[int] = []
    try:
        header = next(reader, [])
        line = reader.line_num
        for fields in reader:
            start, line = line + 1, reader.line_num
            if fields and len(fields) != len(header):
                raise CsvFormatError(
                    path,
                    start,
                    f"{len(fields)} fields where the header has {len(header)}: a row cut short, two rows run "
                    "together or a merge conflict's markers",
                    CUT_ROW_FIX,
                )
            problem = check_digest(header, fields) if fields else None
            if problem:
                raise CsvFormatError(path, start, problem, EDITED_ROW_FIX)
            if fields:
                starts.append(start)
    except csv.Error as err:
        raise CsvFormatError(path, reader.line_num, f"{err}: a row cut short inside quotes", CUT_ROW_FIX) from None
    if text and not text.endswith("\n"):
        raise CsvFormatError(path, text.count("\n") + 1, "the last row has no line end: it was cut short", CUT_ROW_FIX)
    return starts


def read_stored_csv(path: Path, kinds: ColumnKinds = NO_KINDS, **read_csv: Any) -> pd.DataFrame:
    """``pandas.read_csv(path, **read_csv)`` of a stored file whose rows are whole (:func:`record_lines`,
    checked first) and of ``kinds`` (:func:`check_stored_rows`)."""
    starts = record_lines(path)
    frame = without_digests(pd.read_csv(path, **read_csv))
    check_stored_rows(path, frame, kinds, starts)
    return frame


def without_digests(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without its row digests' column (checked on read: no table shows it)."""
    return frame.drop(columns=[DIGEST_COLUMN], errors="ignore")


def stamp_digests(path: str | Path) -> int:
    """Give each row of the CSV at ``path`` its digest (:mod:`reuseprior.core.row_digests`), from its fields
    as they stand, an existing digest column replaced: the explicit migration of a file stored before
    digests, and the re-storing of a row edited on purpose. Every other byte of the file is kept (a file
    whose fields the CSV writer would quote otherwise is refused, unchanged); written atomically. Returns
    the number of rows."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    records = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    header, rows = records[0], [fields for fields in records[1:] if fields]
    position = header.index(DIGEST_COLUMN) if DIGEST_COLUMN in header else len(header)
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    for fields in [header, *rows]:
        values = fields[:position] + fields[position + 1 :]
        writer.writerow([*values, DIGEST_COLUMN if fields is header else row_digest(values)])
    stamped = out.getvalue()
    kept = "".join(f"{line.rsplit(',', 1)[0]}\n" for line in stamped.splitlines())
    if DIGEST_COLUMN not in header and kept != text:
        raise CsvFormatError(path, None, "its rows cannot be stamped without rewriting their fields", "")
    write_text(path, stamped)
    return len(rows)


def check_stored_rows(
    path: Path, frame: pd.DataFrame, kinds: ColumnKinds = NO_KINDS, starts: list[int] | None = None
) -> None:
    """Refuse ``frame``, the rows read from the CSV at ``path``, unless every row is whole
    (:func:`record_lines`, unless its ``starts`` are given: checked already) and each value is of its
    kind in ``kinds`` (see the module's policy)."""
    path = Path(path)
    starts = record_lines(path) if starts is None else starts
    if len(starts) != len(frame):  # no file, or a reader that dropped or added rows: lines by position
        starts = [i + 2 for i in range(len(frame))]
    for column in kinds.required:
        if column in frame.columns:
            _refuse_first(path, starts, frame[column].isna().to_numpy(), f"{column} is empty")
    ranges = dict(kinds.ranges)
    for column in dict.fromkeys((*kinds.numeric, *ranges)):
        if column in frame.columns:
            _check_numbers(path, starts, frame[column], column, ranges.get(column))


def _check_numbers(
    path: Path, starts: list[int], values: pd.Series, column: str, bounds: tuple[float, float] | None
) -> None:
    """Refuse the first of ``values`` (a numeric column, empty allowed) that is not a finite number, or
    outside ``bounds`` when given."""
    numbers = pd.to_numeric(values, errors="coerce")
    bad = (numbers.isna() & values.notna()).to_numpy()
    if bad.any():
        text = values.iloc[int(np.flatnonzero(bad)[0])]
        _refuse_first(path, starts, bad, f"{column} = {text!r} is not a number")
    numbers = numbers.astype(float).to_numpy()
    bad = np.isinf(numbers)
    if bad.any():
        problem = f"{column} = {float(numbers[bad][0])!r} is not finite: no writer stores one"
        _refuse_first(path, starts, bad, problem, VALUE_FIX)
    if bounds is not None:
        low, high = bounds
        with np.errstate(invalid="ignore"):
            bad = (numbers < low) | (numbers > high)
        if bad.any():
            problem = f"{column} = {float(numbers[bad][0])!r} is outside its range [{low:g}, {high:g}]"
            _refuse_first(path, starts, bad, problem, VALUE_FIX)


def unique_rows(path: Path, frame: pd.DataFrame, key: tuple[str, ...], starts: list[int] | None = None) -> pd.DataFrame:
    """``frame``, the rows read from the CSV at ``path`` (starting at lines ``starts``, :func:`record_lines`),
    with at most one row per ``key`` (its columns' values): a row identical to an earlier one in every
    value is dropped, with a :class:`DuplicateRowWarning` naming the file, the key and both lines (what a
    merge of two copies of one file leaves); two rows of one key that differ are refused with
    :class:`CsvFormatError` naming the file, the key, both lines and the fix. No row is ever chosen
    silently; nothing is written."""
    present = [c for c in key if c in frame.columns]
    if frame.empty or len(present) != len(key):
        return frame
    path = Path(path)
    starts = record_lines(path) if starts is None else starts
    if len(starts) != len(frame):
        starts = [i + 2 for i in range(len(frame))]
    repeated = frame.duplicated(subset=list(key), keep=False).to_numpy()
    if not repeated.any():
        return frame
    first_of: dict[tuple, int] = {}
    drop = []
    keys = frame[list(key)].astype(str).itertuples(index=False, name=None)
    for position, (values, flagged) in enumerate(zip(keys, repeated)):
        if not flagged:
            continue
        if values not in first_of:
            first_of[values] = position
            continue
        earlier = first_of[values]
        named = ", ".join(f"{c} {v}" for c, v in zip(key, values))
        lines = f"lines {starts[earlier]} and {starts[position]}"
        if not _same_row(frame.iloc[earlier], frame.iloc[position]):
            raise CsvFormatError(
                path, starts[position], f"two differing rows of one key ({named}): {lines}", DUPLICATE_FIX
            )
        warnings.warn(
            f"{path}: {lines} are the same row ({named}): the copy on line {starts[position]} is dropped",
            DuplicateRowWarning,
            stacklevel=2,
        )
        drop.append(position)
    return frame.drop(index=frame.index[drop]).reset_index(drop=True)


def _same_row(a: pd.Series, b: pd.Series) -> bool:
    """Whether two rows hold the same value in every column (empty equal to empty)."""
    return all((x == y) or (pd.isna(x) and pd.isna(y)) for x, y in zip(a.tolist(), b.tolist()))


def _refuse_first(path: Path, starts: list[int], bad: np.ndarray, problem: str, fix: str = CUT_ROW_FIX) -> None:
    """:class:`CsvFormatError` at the first row where ``bad`` holds, saying ``problem`` and ``fix``."""
    if bad.any():
        line = starts[int(np.flatnonzero(bad)[0])]
        raise CsvFormatError(path, line, f"{problem}: a row cut short or edited by hand", fix)
