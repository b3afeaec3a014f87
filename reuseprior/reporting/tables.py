"""How the notebooks show a table: whole numbers as integers, and comparisons
with a printed table narrow enough for the book.

Policy:

* **A whole number prints as an integer.** A count stored as a float (a
  parameter count joined with a table that has gaps, a difference of two
  counts) prints ``14400``, not ``14400.00000``; the decision is per column
  (:func:`integers_as_int`), or per quantity in a long comparison, so that a
  real-valued column keeps its decimals even where one value happens to be whole.
* **A comparison is shown long.** :func:`reuseprior.reporting.reference.side_by_side`
  makes four columns per quantity (``<c> (ours)``, ``<c> (thesis)``, ``Δ <c>``,
  ``<c> match``): five quantities make a table of twenty columns, wider than
  the book's content at 1280 px, its ``match`` columns out of view.
  :func:`long_comparison` shows one row per (table row, quantity) with the
  columns ``ours``, ``thesis``, ``Δ``, ``match``, so the verdict is always the
  table's last compared column whatever the number of quantities.
* **The HTML is stable**: :func:`styled_html` fixes the table's id, so that a
  rerun writes the same output (nbval compares it).

The files a notebook saves (``ctx.save_table``) keep the full-precision wide
frames; these helpers only shape what is displayed.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

import pandas as pd

__all__ = ["PARTS", "integers_as_int", "long_comparison", "styled_html"]

#: The columns of a long comparison, in order (``side_by_side``'s four per quantity).
PARTS = ("ours", "thesis", "Δ", "match")


def _whole(values: Sequence[Any]) -> bool:
    """True when the numbers among ``values`` (NaN and non-numbers skipped)
    are all whole and finite, and there is at least one."""
    present = [float(v) for v in values if isinstance(v, numbers.Real) and not isinstance(v, bool)]
    present = [v for v in present if not math.isnan(v)]
    return bool(present) and all(math.isfinite(v) and v == int(v) for v in present)


def _as_int(value: Any) -> Any:
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(float(value)):
        return int(value)
    return value


def integers_as_int(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` where every float column whose values are all whole
    numbers (NaN allowed) holds integers: pandas' nullable ``Int64`` (missing
    shown as ``<NA>``, or the Styler's ``na_rep``). Other columns are unchanged."""
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if pd.api.types.is_float_dtype(series.dtype) and _whole(series.tolist()):
            out[column] = series.astype("Int64")
    return out


def long_comparison(
    compared: pd.DataFrame, keys: Sequence[str], columns: Sequence[str], labels: Sequence[str] = ()
) -> pd.DataFrame:
    """``side_by_side``'s wide frame as one row per (row, quantity): index
    ``keys``, then ``labels`` (other columns of ``compared`` that describe a
    row, e.g. ``source``: shown once per row, as the keys are), then
    ``quantity``; columns :data:`PARTS`. A quantity whose values are all whole
    numbers shows them as integers."""
    parts = {q: [f"{q} (ours)", f"{q} (thesis)", f"Δ {q}", f"{q} match"] for q in columns}
    missing = [c for c in [*keys, *labels, *(c for q in columns for c in parts[q])] if c not in compared]
    if missing:
        raise KeyError(f"long_comparison: {missing} not in the compared frame (columns {list(compared.columns)})")
    whole = {q: _whole(compared[parts[q][:3]].to_numpy().ravel().tolist()) for q in columns}
    rows = []
    for _, row in compared.iterrows():
        index = {k: row[k] for k in [*keys, *labels]}
        for q in columns:
            values = [_as_int(row[c]) if whole[q] else row[c] for c in parts[q][:3]]
            rows.append({**index, "quantity": q, **dict(zip(PARTS, [*values, row[parts[q][3]]]))})
    # object columns: a whole quantity's integers stay integers beside another quantity's floats
    long = pd.DataFrame(rows, columns=[*keys, *labels, "quantity", *PARTS], dtype=object)
    return long.set_index([*keys, *labels, "quantity"])


def styled_html(frame: pd.DataFrame, uuid: str, *, precision: int = 5, na_rep: str = "-") -> str:
    """``frame`` as HTML through pandas' Styler: floats with ``precision``
    decimals, whole-number float columns as integers (:func:`integers_as_int`),
    missing values as ``na_rep``, and the fixed table id ``uuid``."""
    return integers_as_int(frame).style.format(precision=precision, na_rep=na_rep).set_uuid(uuid).to_html()
