"""The thesis's own numbers, transcribed once into ``data/thesis/``, and the
side-by-side comparison every notebook shows.

File format (``data/thesis/<name>.csv``)::

    # source: thesis Table 5.1, p. 108
    # note: any remark about the transcription
    Params,Width,Depth,PG,P'G,PEG
    14400,120,1,10.683,6.895,7.42e-4

Numbers are kept exactly as printed, so that the comparison knows each
value's printed precision: a deviation is "rounded" when it is within half a
unit of the last printed digit, "truncated" when the thesis value is our
value cut (not rounded) at that digit, and "off" otherwise. A trailing ``+``
(a lower bound in the thesis) is kept in the printed form and dropped from
the parsed number.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from reuseprior.core import paths

__all__ = [
    "SEEDS_DIR",
    "load_seed_table",
    "load_thesis_table",
    "printed_unit",
    "select_thesis_rows",
    "side_by_side",
    "thesis_table_path",
]


#: the related works' transcribed tables (NPAS, Bidart, NASWOT, ...), each file naming its source
SEEDS_DIR = paths.DATA_DIR / "seeds"


def thesis_table_path(name: str) -> Path:
    path = paths.THESIS_DATA_DIR / f"{name}.csv"
    if not path.exists():
        known = sorted(p.stem for p in paths.THESIS_DATA_DIR.glob("*.csv"))
        raise FileNotFoundError(f"no transcribed thesis table {name!r} at {path}; known tables: {known}")
    return path


def _parse_cell(text: str):
    stripped = text.strip()
    if stripped in {"True", "False"}:
        return stripped == "True"
    number = stripped.rstrip("+").replace(",", "")
    try:
        value = float(number)
    except ValueError:
        return stripped
    return int(value) if re.fullmatch(r"-?\d+", number) else value


def load_thesis_table(name: str) -> pd.DataFrame:
    """A transcribed thesis table as a DataFrame of parsed values.

    ``df.attrs["printed"]`` holds the same table as the printed strings and
    ``df.attrs["meta"]`` the ``# key: value`` header lines (source, page, notes).
    """
    path = thesis_table_path(name)
    meta: dict[str, str] = {}
    lines = path.read_text().splitlines()
    body_start = 0
    for body_start, line in enumerate(lines):  # noqa: B007 - the loop variable is read after the loop
        if not line.startswith("#"):
            break
        key, _, value = line[1:].partition(":")
        meta[key.strip()] = (meta.get(key.strip(), "") + " " + value.strip()).strip()
    printed = pd.read_csv(path, skiprows=body_start, dtype=str, keep_default_na=False)
    parsed = printed.apply(lambda col: col.map(_parse_cell))
    for col in parsed.columns:  # give numeric columns a numeric dtype
        converted = pd.to_numeric(parsed[col], errors="coerce")
        if converted.notna().all() and parsed[col].map(lambda v: not isinstance(v, bool)).all():
            parsed[col] = converted
    parsed.attrs["printed"] = printed
    parsed.attrs["meta"] = meta
    parsed.attrs["name"] = name
    return parsed


def select_thesis_rows(table: pd.DataFrame, rows: Any) -> pd.DataFrame:
    """Rows of a table from :func:`load_thesis_table` (``rows``: a boolean
    mask, or index labels in the order wanted), renumbered from 0, with
    ``attrs["printed"]`` selected alike, so that :func:`side_by_side` still
    finds each value's printed string."""
    selected = table.loc[rows].reset_index(drop=True)
    selected.attrs = dict(table.attrs)
    if "printed" in table.attrs:
        selected.attrs["printed"] = table.attrs["printed"].loc[rows].reset_index(drop=True)
    return selected


def printed_unit(text: str) -> float:
    """Value of one unit in the last printed digit: '10.683' -> 0.001,
    '7.42e-4' -> 1e-6, '14400' -> 1."""
    number = str(text).strip().rstrip("+").replace(",", "")
    try:
        exponent = Decimal(number).as_tuple().exponent
    except InvalidOperation:
        return math.nan
    return float(Decimal(1).scaleb(exponent)) if isinstance(exponent, int) else math.nan


def _classify(ours: float, thesis: float, unit: float) -> str:
    if any(map(lambda v: v is None or (isinstance(v, float) and math.isnan(v)), (ours, thesis, unit))):
        return "missing"
    delta = ours - thesis
    slack = 1e-9 * max(1.0, abs(thesis))
    if abs(delta) <= unit / 2 + slack:
        return "rounded"
    if (thesis >= 0 and -slack <= delta < unit + slack) or (thesis < 0 and -unit - slack < delta <= slack):
        return "truncated"
    return "off"


def side_by_side(
    ours: pd.DataFrame,
    thesis: str | pd.DataFrame,
    on: Sequence[str],
    columns: Sequence[str],
) -> pd.DataFrame:
    """Join our computed table with the thesis's on ``on`` and show, for each
    of ``columns``: ``<c> (ours)``, ``<c> (thesis)``, ``Δ <c>`` (ours - thesis)
    and ``<c> match`` ("rounded", "truncated", "off" or "missing").

    Rows present on one side only are kept (``missing``), so nothing silently
    disappears from a comparison.
    """
    ref = load_thesis_table(thesis) if isinstance(thesis, str) else thesis
    printed = ref.attrs.get("printed")
    missing = [c for c in [*on, *columns] if c not in ref.columns or c not in ours.columns]
    if missing:
        raise KeyError(
            f"columns {missing} are not in both tables (ours: {list(ours.columns)}, thesis: {list(ref.columns)})"
        )
    left = ours[[*on, *columns]].copy()
    right = ref[[*on, *columns]].copy()
    if printed is not None:
        for c in columns:
            right[f"__unit {c}"] = printed[c].map(printed_unit).to_numpy()
    else:
        for c in columns:
            right[f"__unit {c}"] = np.nan
    merged = left.merge(right, on=list(on), how="outer", suffixes=(" (ours)", " (thesis)"), indicator=True)
    out = merged[list(on)].copy()
    for c in columns:
        o, t = merged[f"{c} (ours)"].astype(float), merged[f"{c} (thesis)"].astype(float)
        out[f"{c} (ours)"] = o
        out[f"{c} (thesis)"] = t
        out[f"Δ {c}"] = o - t
        out[f"{c} match"] = [_classify(a, b, u) for a, b, u in zip(o, t, merged[f"__unit {c}"].astype(float))]
    return out.reset_index(drop=True)


def load_seed_table(name: str) -> pd.DataFrame:
    """A transcribed table of ``data/seeds/<name>.csv``: columns ending in ``_printed``
    (and text columns) as strings, the other columns numeric where every cell parses.
    ``df.attrs["meta"]`` holds the ``# key: value`` header lines (source, notes)."""
    path = SEEDS_DIR / f"{name}.csv"
    if not path.is_file():
        known = sorted(p.stem for p in SEEDS_DIR.glob("*.csv"))
        raise FileNotFoundError(f"no transcribed seed table {name!r} at {path}; known tables: {known}")
    lines = path.read_text().splitlines()
    meta: dict[str, str] = {}
    header = 0
    while header < len(lines) and lines[header].startswith("#"):
        key, _, value = lines[header][1:].partition(":")
        meta[key.strip()] = (meta.get(key.strip(), "") + " " + value.strip()).strip()
        header += 1
    table = pd.read_csv(path, skiprows=header, dtype=str, keep_default_na=False)
    for column in table.columns:
        if column.endswith("_printed"):
            continue
        cells = table[column]
        numeric = pd.to_numeric(cells.where(cells != "", None), errors="coerce")
        if numeric[cells != ""].notna().all() and (cells != "").any() and column not in {"bold"}:
            table[column] = numeric
    if "bold" in table.columns:
        table["bold"] = table["bold"] == "True"
    table.attrs["meta"] = meta
    table.attrs["name"] = name
    return table
