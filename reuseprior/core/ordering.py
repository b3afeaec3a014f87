"""Row orders that are the same on every machine.

Policy: a table is ordered, or its first rows are taken, only by a total
order. NumPy's default sort (``kind="quicksort"``, which pandas'
``sort_values`` and ``value_counts`` use) is unstable and dispatches to
SIMD sorting networks (AVX-512, AVX2 or none, whichever the CPU has): rows
with equal keys come out in an order that differs between machines. Here
the keys are followed by explicit tie-break columns (an architecture's or a
configuration's name, always ascending) and the sort is stable, so rows
still equal after those keep their input order.
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd

__all__ = ["sort_rows"]


def _names(columns: str | Sequence[str]) -> list[str]:
    return [columns] if isinstance(columns, str) else list(columns)


def sort_rows(
    frame: pd.DataFrame,
    by: str | Sequence[str],
    *,
    then: str | Sequence[str],
    ascending: bool | Sequence[bool] = True,
) -> pd.DataFrame:
    """``frame`` ordered by the columns (or index levels) ``by``, ties broken
    by ``then`` in ascending order, remaining ties by input position.

    ``ascending`` applies to ``by`` (one flag, or one per column); missing
    values of a key come last. The sort is stable whatever the number of keys
    (a lexicographic sort for several), so the result does not depend on the
    CPU's sort kernels.
    """
    keys, tie = _names(by), _names(then)
    if not tie:
        raise ValueError("sort_rows needs at least one tie-break column (then=...)")
    flags = [ascending] * len(keys) if isinstance(ascending, bool) else list(ascending)
    if len(flags) != len(keys):
        raise ValueError(f"ascending has {len(flags)} flags for {len(keys)} sort keys")
    return frame.sort_values(keys + tie, ascending=flags + [True] * len(tie), kind="stable", na_position="last")
