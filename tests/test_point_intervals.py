"""Every table under ``figures/`` that carries a point and an interval prints the point inside its own
interval (issue 42): an interval belongs to one estimand, and a point of another estimand is shown
without one.

**The column convention** (every chapter's tables follow it; a table that breaks it fails here):

- an interval is a pair of columns ``X low``/``X high``, ``X lo``/``X hi`` or ``X_lo``/``X_hi``;
- its point is the column ``X`` once the kind of interval is taken off its name (``spearman t low``
  and ``spearman bootstrap low`` are intervals of ``spearman``; ``seed range low`` is a range, whose
  point must lie in it too), or the one other column whose name starts with ``X`` (``partial_lo`` of
  ``partial_spearman``);
- an interval without a name of its own (``t low``, ``bootstrap low``, ``seed range low``, ``t at its
  level low`` (a Bonferroni level): the paired
  tables of :mod:`reuseprior.reporting.statistics`) belongs to the table's mean difference: the one
  column named in :data:`UNNAMED_POINTS`, or named like ``evolve - random (pp)``.

README and docs numbers are quoted from these tables (``tests/test_readme.py``), so a page cannot
print a point outside its own interval either.
"""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest

from reuseprior.core import paths

FIGURES = paths.ROOT / "figures"
#: how an interval's end columns are spelt: (low suffix, high suffix)
ENDS: tuple[tuple[str, str], ...] = ((" low", " high"), (" lo", " hi"), ("_lo", "_hi"))
#: the kinds of interval a name may carry before its end (taken off to find the point)
KINDS: tuple[str, ...] = (
    *(" t", " bootstrap", " seed range"),
    *("t at its level", "t", "bootstrap", "seed range"),
)
#: the mean-difference columns an unnamed interval belongs to
UNNAMED_POINTS: tuple[str, ...] = (
    "mean",
    "mean of per-seed",
    "mean paired difference (pp)",
    "difference (pp)",
    "score - params",
)
DIFFERENCE = re.compile(r"^\S+ - \S+ \(pp\)$")


def _intervals(columns: list[str]) -> list[tuple[str, str, str]]:
    """(stem, low column, high column) of every interval in ``columns``."""
    out = []
    for column in columns:
        for low, high in ENDS:
            if column.endswith(low) and column[: -len(low)] + high in columns:
                out.append((column[: -len(low)], column, column[: -len(low)] + high))
    return out


def _point(stem: str, columns: list[str], interval_columns: set[str]) -> str | None:
    """The point column of the interval named ``stem`` (module docstring), None when there is none."""
    name = stem
    for kind in KINDS:
        if name.endswith(kind) and (name == kind or kind.startswith(" ")):
            name = name[: -len(kind)]
            break
    if not name:
        named = [c for c in columns if c in UNNAMED_POINTS or DIFFERENCE.match(c)]
        return named[0] if len(named) == 1 else None
    if name in columns:
        return name
    starting = [c for c in columns if c.startswith(name) and c not in interval_columns]
    return starting[0] if len(starting) == 1 else None


def _tables() -> list[str]:
    return sorted(str(p.relative_to(paths.ROOT)) for p in FIGURES.glob("*/*.csv"))


def _with_intervals() -> list[str]:
    keep = []
    for path in _tables():
        columns = list(pd.read_csv(paths.ROOT / path, nrows=0, comment="#").columns)
        if _intervals(columns):
            keep.append(path)
    return keep


def test_the_convention_finds_the_tables_with_intervals():
    tables = _with_intervals()
    for chapter in (
        "ch3_revolver",
        "ch4_sharing_training",
        "ch6_predictive_validity",
        "ch7_sharing_schemes",
        "ch8_prior_as_tool",
    ):
        assert any(t.startswith(f"figures/{chapter}/") for t in tables), chapter
    assert "figures/ch7_sharing_schemes/ranking_agreement.csv" in tables


@pytest.mark.parametrize("path", _with_intervals())
def test_every_point_lies_inside_its_own_interval(path):
    table = pd.read_csv(paths.ROOT / path, comment="#")
    columns = list(table.columns)
    intervals = _intervals(columns)
    interval_columns = {c for _, low, high in intervals for c in (low, high)}
    outside = []
    for stem, low, high in intervals:
        point = _point(stem, columns, interval_columns)
        assert point is not None, f"{path}: the interval {low!r}/{high!r} names no point column (module docstring)"
        for i, row in table.iterrows():
            values = [pd.to_numeric(row[c], errors="coerce") for c in (low, point, high)]
            if not all(isinstance(v, float) and math.isfinite(v) for v in values):
                continue
            lo, value, hi = values
            slack = 1e-9 * max(1.0, abs(value))
            if not lo - slack <= value <= hi + slack:
                outside.append(f"row {i}: {point} = {value:.6g} outside [{low}, {high}] = [{lo:.6g}, {hi:.6g}]")
    assert not outside, f"{path}: points outside their own interval:\n" + "\n".join(outside)


def test_a_point_of_another_estimand_is_caught():
    columns = ["score", "kendall", "kendall t low", "kendall t high"]
    table = pd.DataFrame([["PG", -0.20, -0.11, 0.07]], columns=columns)  # issue 42's example
    ((stem, low, high),) = _intervals(columns)
    point = _point(stem, columns, {low, high})
    assert point == "kendall" and not table.at[0, low] <= table.at[0, point] <= table.at[0, high]
    assert _point("t", ["t low", "t high", "evolve - random (pp)", "sd"], {"t low", "t high"}) == "evolve - random (pp)"
    assert _point("partial", ["partial_spearman", "partial_lo", "partial_hi"], {"partial_lo", "partial_hi"}) == (
        "partial_spearman"
    )
