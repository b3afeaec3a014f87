"""Every paired verdict as a picture: the per-seed differences behind it, their mean and interval.

:func:`paired_differences_figure` draws, one panel per comparison, each study's paired differences
(treatment minus control, one point per seed), their mean with its t-interval (95 % unless the caller
names another level: a family's Bonferroni level), zero (no
difference) and, where the thesis printed one, the thesis's own difference. Several studies of one
comparison (an exploratory and a confirmatory study, or two data sizes) stand side by side in its
panel, each labelled with its verdict, so that a reader compares them on one axis.

Inputs are two tables, in the order they are to be drawn (the caller sorts them; nothing here is
random: the points of a study are spread sideways by their seed's rank):

* ``summary``: one row per panel and study: ``panel``, ``study``, ``mean``, ``low``, ``high``
  (NaN: no interval, drawn as the mean alone), ``verdict`` and ``thesis`` (the thesis's difference,
  NaN where it printed none; one per panel);
* ``per_seed``: one row per panel, study and paired seed: ``panel``, ``study``, ``seed``,
  ``difference`` (:func:`reuseprior.reporting.verdicts.per_seed_differences`).
"""

from __future__ import annotations

import math
import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from reuseprior.reporting.plotting import readable_fontsize

__all__ = ["PER_SEED_COLUMNS", "SUMMARY_COLUMNS", "paired_differences_figure"]

#: the columns :func:`paired_differences_figure` reads from its ``summary`` table
SUMMARY_COLUMNS: tuple[str, ...] = ("panel", "study", "mean", "low", "high", "verdict", "thesis")
#: the columns it reads from its ``per_seed`` table
PER_SEED_COLUMNS: tuple[str, ...] = ("panel", "study", "seed", "difference")
#: how far a study's points spread to each side of its position (one study per unit of x)
_SPREAD = 0.18
#: a panel's width per study and its least width, in inches; where titles and labels wrap, in characters
_STUDY_INCHES, _PANEL_INCHES = 2.2, 4.2
_TITLE_CHARACTERS, _LABEL_CHARACTERS = 34, 30
_THESIS_COLOUR, _ZERO_COLOUR, _MEAN_COLOUR = "#d55e00", "0.35", "black"


def _check_columns(frame: pd.DataFrame, wanted: tuple[str, ...], name: str) -> None:
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise ValueError(f"the {name} table lacks column(s) {missing}: it needs {list(wanted)}")


def _offsets(count: int) -> np.ndarray:
    """Sideways positions of ``count`` points, evenly spread and centred (0 for one point)."""
    return np.zeros(count) if count <= 1 else np.linspace(-_SPREAD, _SPREAD, count)


def _draw_study(ax: plt.Axes, x: float, row: pd.Series, seeds: pd.DataFrame, interval: str) -> None:
    ordered = seeds.sort_values("seed", kind="stable")
    ax.scatter(
        x + _offsets(len(ordered)),
        ordered["difference"].to_numpy(float),
        s=22,
        alpha=0.75,
        color="C0",
        label="one seed's difference",
        zorder=3,
    )
    mean, low, high = float(row["mean"]), float(row["low"]), float(row["high"])
    if math.isfinite(low) and math.isfinite(high):
        ax.errorbar(
            x + 0.32,
            mean,
            yerr=[[mean - low], [high - mean]],
            fmt="D",
            color=_MEAN_COLOUR,
            capsize=4,
            label=f"mean, {interval}",
            zorder=4,
        )
    else:
        ax.plot(x + 0.32, mean, "D", color=_MEAN_COLOUR, label="mean (no interval)", zorder=4)


def _draw_panel(
    ax: plt.Axes, title: str, rows: pd.DataFrame, per_seed: pd.DataFrame, unit: str, size: float, interval: str
) -> None:
    ax.axhline(0.0, color=_ZERO_COLOUR, linewidth=1.0, label="no difference")
    thesis = pd.to_numeric(rows["thesis"], errors="coerce").dropna()
    if len(thesis):
        ax.axhline(
            float(thesis.iloc[0]), color=_THESIS_COLOUR, linestyle="--", linewidth=1.2, label="the thesis's difference"
        )
    labels = []
    for x, (_, row) in enumerate(rows.iterrows()):
        seeds = per_seed[(per_seed["panel"] == row["panel"]) & (per_seed["study"] == row["study"])]
        _draw_study(ax, float(x), row, seeds, interval)
        labels.append(f"{row['study']}\n{len(seeds)} seed{'' if len(seeds) == 1 else 's'}\n{row['verdict']}")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_xlim(-0.6, len(labels) - 0.4)
    ax.tick_params(labelsize=size)
    ax.set_title(textwrap.fill(title, _TITLE_CHARACTERS), fontsize=size * 1.1)
    ax.set_ylabel(textwrap.fill(f"difference ({unit})", _LABEL_CHARACTERS), fontsize=size)


def paired_differences_figure(
    summary: pd.DataFrame,
    per_seed: pd.DataFrame,
    *,
    unit: str,
    columns: int = 2,
    interval: str = "95 % t-interval",
) -> plt.Figure:
    """One panel per ``panel`` of ``summary`` (in its order, at most ``columns`` a row), each study
    of it at its own position: its per-seed differences as points (from ``per_seed``), the mean with
    its interval (named ``interval`` in the legend: what ``low`` and ``high`` are), zero and the thesis's
    difference marked, the y axis labelled ``difference (unit)``
    and each study's tick with its number of seeds and verdict; text sized to stay readable where the
    book scales the figure down (:func:`~reuseprior.reporting.plotting.readable_fontsize`). Returns the figure."""
    _check_columns(summary, SUMMARY_COLUMNS, "summary")
    _check_columns(per_seed, PER_SEED_COLUMNS, "per_seed")
    if summary.empty:
        raise ValueError("the summary table has no rows: a figure needs at least one comparison")
    panels = list(dict.fromkeys(summary["panel"]))
    across = max(1, min(columns, len(panels)))
    down = math.ceil(len(panels) / across)
    studies = summary.groupby("panel", sort=False)["study"].count().max()
    width = max(_PANEL_INCHES, _STUDY_INCHES * studies)
    fig, axes = plt.subplots(down, across, figsize=(width * across, 4.4 * down), squeeze=False)
    size = readable_fontsize(fig)  # the book scales a wide figure down to its column
    for ax, panel in zip(axes.flat, panels):
        _draw_panel(ax, str(panel), summary[summary["panel"] == panel], per_seed, unit, size, interval)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    named: dict[str, object] = {}
    for ax in axes.flat[: len(panels)]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            named.setdefault(label, handle)
    fig.tight_layout()
    # above the panels: the space under them is the caption's (reuseprior.reporting.plotting.caption)
    fig.legend(named.values(), named.keys(), loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=size)
    return fig
