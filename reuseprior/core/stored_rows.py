"""The check of a stored CSV's rows on read: every row whole, every value of its declared kind.

Policy: a store declares its columns' kinds (:class:`ColumnKinds`: which are required, which are
numbers; every other column is text that may be empty), and every read of a stored file
(:func:`check_stored_rows`) refuses, before anything is written back, with
:class:`~reuseprior.core.errors.CsvFormatError` naming the file, the line and the fix:

- a row with another number of fields than the header (pandas would fill a cut row's missing fields
  with NaN, or shift a row with too many), and a file whose last row has no line end (every writer
  of :mod:`reuseprior.core.files` ends a file with one: a missing line end is a cut write, even when
  the cut falls inside a value and leaves the field count whole);
- a required value that is empty, a numeric value that does not read as a number.

A cut row is refused rather than read, since read it would count as a stored run, show NaN in a
table, and be rewritten by the next store as a well-formed row with its values cut.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reuseprior.core.errors import CsvFormatError

__all__ = ["NO_KINDS", "ColumnKinds", "check_stored_rows", "read_stored_csv", "record_lines"]

#: the fix named for a row that is not whole
CUT_ROW_FIX = "mend or delete that line (a deleted run is run again by the next run), or restore the file from git"


@dataclass(frozen=True)
class ColumnKinds:
    """The kinds of a stored table's values: ``required`` columns are never empty, ``numeric`` columns
    hold numbers (empty allowed unless required too); any other column is text that may be empty. A
    column a file lacks is not checked (a file written before it existed)."""

    required: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()

    def with_required(self, columns: tuple[str, ...]) -> ColumnKinds:
        """These kinds with ``columns`` required too (a store's plan and key columns)."""
        return ColumnKinds(tuple(dict.fromkeys((*columns, *self.required))), self.numeric)


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
    frame = pd.read_csv(path, **read_csv)
    check_stored_rows(path, frame, kinds, starts)
    return frame


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
    for column in kinds.numeric:
        if column in frame.columns:
            values = frame[column]
            bad = (pd.to_numeric(values, errors="coerce").isna() & values.notna()).to_numpy()
            if bad.any():
                text = values.iloc[int(np.flatnonzero(bad)[0])]
                _refuse_first(path, starts, bad, f"{column} = {text!r} is not a number")


def _refuse_first(path: Path, starts: list[int], bad: np.ndarray, problem: str) -> None:
    """:class:`CsvFormatError` at the first row where ``bad`` holds, saying ``problem``."""
    if bad.any():
        line = starts[int(np.flatnonzero(bad)[0])]
        raise CsvFormatError(path, line, f"{problem}: a row cut short or edited by hand", CUT_ROW_FIX)
