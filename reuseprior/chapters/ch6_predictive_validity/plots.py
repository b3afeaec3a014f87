"""Chapter 6's figures: score-accuracy scatter grids and the correlation forest."""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.stats import rankdata

from reuseprior.chapters.ch6_predictive_validity.tables import ACCURACY_LABELS, ALL_SCORES, SCORE_UNITS, THESIS_SCORES
from reuseprior.zoo.scoring import (
    load_scores,
)


@dataclass(frozen=True)
class ScatterAxis:
    """How :func:`scatter_grid` draws one score: the plotted x values (NaN where
    the score is missing or not finite), the scale and the axis label (with unit)."""

    values: np.ndarray
    scale: str  # "linear", "log10" or "rank"
    label: str


#: log10 axis when every finite value is positive and they span more than this many decades.
LOG_DECADES = 2.0
#: rank axis when, on the linear or log10 axis, the middle 50% of the values covers less
#: than SQUASHED_IQR of the axis range or the middle 90% less than SQUASHED_90.
SQUASHED_IQR, SQUASHED_90 = 0.06, 0.10


def is_squashed(x: np.ndarray) -> bool:
    """Whether most of ``x`` sits in a small part of its range (the middle half within
    :data:`SQUASHED_IQR` of it, or the middle 90 % within :data:`SQUASHED_90`): a linear axis would
    show one clump."""
    span = float(x.max() - x.min())
    if span == 0:
        return False
    q05, q25, q75, q95 = np.percentile(x, [5, 25, 75, 95])
    return (q75 - q25) < SQUASHED_IQR * span or (q95 - q05) < SQUASHED_90 * span


def scatter_axis(values, score: str) -> ScatterAxis:
    """The x axis of ``score`` in :func:`scatter_grid`, chosen per score so that
    the panel shows the spread of its values.

    Policy: strictly positive values spanning more than :data:`LOG_DECADES`
    decades are drawn as ``log10(value)`` on a linear axis (computed from the
    stored float64 values, so a SynFlow of 2.09e301 is 301.3 and no axis limit
    overflows, as a matplotlib log axis would); other values linearly. If a few
    extreme values still squash the bulk (:data:`SQUASHED_IQR`,
    :data:`SQUASHED_90`: mixed signs over many orders of magnitude, a pile-up at
    one value), the score is drawn as its rank among the finite values (1 =
    lowest, ties averaged): the scale its Spearman rho is computed on. A linear
    axis whose values reach 1e4 or stay below 1e-2 is divided by a power of ten
    that is a multiple of 3, named in the label (``#parameters / 1e6``) instead
    of an offset text. The label names the scale and the unit
    (:data:`SCORE_UNITS`).
    """
    x = np.asarray(values, dtype=float)
    ok = np.isfinite(x)
    name, unit = SCORE_UNITS.get(score, (score, "as stored"))
    out = np.full(x.shape, np.nan)
    f = x[ok]
    if len(f) == 0:
        return ScatterAxis(out, "linear", f"{name} ({unit})")
    scale, label, t = "linear", f"{name} ({unit})", f
    if (f > 0).all() and np.log10(f.max()) - np.log10(f.min()) > LOG_DECADES:
        scale, label, t = "log10", f"log10 {name} ({unit})", np.log10(f)
    if is_squashed(t):
        scale, label, t = "rank", f"rank of {name} ({unit}; 1 = lowest of {len(f)})", rankdata(f)
    top = float(np.abs(t).max())
    if scale == "linear" and top > 0 and not 1e-2 <= top < 1e4:
        k = 3 * math.floor(math.log10(top) / 3)
        label, t = f"{name} / 1e{k} ({unit})", t / 10.0**k
    out[ok] = t
    return ScatterAxis(out, scale, label)


#: The scatter grids' resolution on screen (the saved PNG keeps ``savefig.dpi``): a grid four panels wide
#: (13.6 in) shows at about 1,000 px, 1.5 times the book's column, which scales it down to the column
#: anyway; at the default 100 dpi the four zoos' grids alone would take chapter 6's notebook past its
#: size cap.
GRID_DPI = 75


def scatter_grid(zoo: str, scores: list[str], ncols: int = 4, df: pd.DataFrame | None = None):
    """Accuracy against each score, one panel per score with its own x scale
    (:func:`scatter_axis`: linear, log10 or rank) and the number of
    architectures with a finite value. ``df``: the scored rows (default the
    stored ``data/zoo_scores_v1_<zoo>.csv``); a score with no finite value
    gets no panel."""
    df = load_scores(zoo) if df is None else df
    scores = [s for s in scores if s in df.columns and np.isfinite(df[s].astype(float)).any()]
    nrows = max(1, math.ceil(len(scores) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 3.0 * nrows), squeeze=False, dpi=GRID_DPI)
    accuracy = df["accuracy"].astype(float).to_numpy()
    for ax, s in zip(axes.flat, scores):
        axis = scatter_axis(df[s], s)
        ok = np.isfinite(axis.values) & np.isfinite(accuracy)
        ax.scatter(axis.values[ok], accuracy[ok], s=8, alpha=0.6)
        ax.set_title(
            f"{SCORE_UNITS.get(s, (s,))[0]}: n = {int(ok.sum())}" + (f" of {len(df)}" if ok.sum() < len(df) else ""),
            fontsize=9,
        )
        ax.set_xlabel(axis.label, fontsize=8)
        ax.set_ylabel(ACCURACY_LABELS.get(zoo, "accuracy (%)"), fontsize=8)
    for ax in list(axes.flat)[len(scores) :]:
        ax.axis("off")
    fig.suptitle(f"{zoo}: accuracy vs score ({len(df)} architectures scored; x axis linear, log10 or rank per score)")
    fig.tight_layout()
    return fig


def correlation_forest(table: pd.DataFrame, scores: list[str] | None = None):
    """Spearman rho of each score with accuracy and its bootstrap interval,
    one panel per zoo (a forest plot of :func:`correlation_tables`'s rows).

    Reusability-prior scores are drawn in one colour, baselines and proxies in
    another; a published Spearman rho of the same proxy, where one exists, is a
    cross. ``scores`` restricts and orders the rows (default: every score).
    """
    if table.empty:
        raise ValueError(
            "no correlations to plot: score some architectures first (python -m reuseprior score-zoos ...)"
        )
    zoos = list(dict.fromkeys(table["zoo"]))
    order = [s for s in (scores or ALL_SCORES) if s in set(table["score"])]
    fig, axes = plt.subplots(
        1, len(zoos), figsize=(4.2 * len(zoos), 0.32 * len(order) + 1.6), sharey=True, squeeze=False
    )
    colours = {True: "C0", False: "C1"}
    for ax, zoo in zip(axes[0], zoos):
        t = table[table["zoo"] == zoo].set_index("score")
        for y, score in enumerate(order):
            if score not in t.index:
                continue
            r = t.loc[score]
            c = colours[score in THESIS_SCORES]
            ax.errorbar(
                r["spearman"],
                y,
                xerr=[[r["spearman"] - r["spearman_lo"]], [r["spearman_hi"] - r["spearman"]]],
                fmt="o",
                color=c,
                ms=4,
                capsize=2,
            )
            if pd.notna(r.get("published spearman", np.nan)):
                ax.plot(r["published spearman"], y, "x", color="k", ms=6)
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_xlim(-1, 1)
        ax.set_title(f"{zoo} (up to {int(t['n'].max())} architectures)")
    axes[0][0].set_yticks(range(len(order)), order)
    axes[0][0].set_ylabel("score")
    axes[0][0].invert_yaxis()
    handles = [
        plt.Line2D([], [], color=colours[True], marker="o", ls="", label="reusability prior (thesis quantities)"),
        plt.Line2D([], [], color=colours[False], marker="o", ls="", label="baselines and zero-cost proxies"),
        plt.Line2D([], [], color="k", marker="x", ls="", label="published rho (see the correlation table)"),
    ]
    fig.supxlabel("Spearman rho with accuracy (dimensionless, -1 to 1): dot; 95% bootstrap interval: bar")
    fig.legend(handles=handles, loc="lower center", ncol=3, bbox_to_anchor=(0.5, -0.06), frameon=False)
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    return fig
