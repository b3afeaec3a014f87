"""Chapter 7's figures and the study's description."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any, Mapping

import matplotlib.pyplot as plt
import pandas as pd

from reuseprior.chapters.ch7_sharing_schemes.configs import PRIOR_SCORES, SCORE_LABELS, SharingDesign
from reuseprior.chapters.ch7_sharing_schemes.ranking import summarize
from reuseprior.core.study import StudySpec
from reuseprior.reporting.plotting import caption, readable_fontsize


def data_caption(design: SharingDesign, rows: pd.DataFrame, source: str) -> str:
    """Caption of a trained-study figure: data, model family, runs, seeds, where the rows come from."""
    n_train = int(rows["train_images"].iloc[0]) if not rows.empty else design.train_limit
    return (
        f"data: {design.dataset} ({n_train} training images, test set once per run); {design.model}, "
        f"{design.train.epochs} epochs, batch {design.train.batch_size}; {rows['config'].nunique()} configurations x "
        f"{rows['seed'].nunique()} seeds; rows: {source}"
    )


#: marker and colour of each scheme in the figures (colour-blind palette, distinct shapes)
SCHEME_STYLE: dict[str, tuple[str, str]] = {
    "none": ("o", "#0173b2"),
    "narrow": ("D", "#d55e00"),
    "scope": ("P", "#cc78bc"),
    "channelwise": ("s", "#de8f05"),
    "scope+channelwise": ("X", "#56b4e9"),
    "ssn": ("^", "#029e73"),
}
#: horizontal offset of the schemes that share a budget (thousands of parameters), for legibility only: the
#: markers of one budget would otherwise overlap (SSN sits at the exact budget); the figure caption says so
DODGE: dict[str, float] = {"none": 0.0, "narrow": 0.3, "scope": -0.3, "channelwise": -0.3, "scope+channelwise": -0.3}
#: fill of the markers by budget (the schemes at several budgets, SSN and the narrower model, differ by it)
BUDGET_FILL: dict[str, str] = {"full": "full", "channelwise": "full", "scope": "none", "scope+channelwise": "left"}


def _seed_range(r: pd.Series) -> list[list[float]]:
    return [[r["test_top1_mean"] - r["test_top1_min"]], [r["test_top1_max"] - r["test_top1_mean"]]]


def _style(r: pd.Series) -> dict[str, Any]:
    """Marker, colour and fill of a configuration: shape and colour by scheme, fill by budget."""
    marker, color = SCHEME_STYLE.get(r["scheme"], ("o", "grey"))
    return {"fmt": marker, "color": color, "fillstyle": BUDGET_FILL.get(r["budget"], "full"), "mfc": color}


def _legend(handles_of: Any, labels_of: Any) -> tuple[list[Any], list[str]]:
    unique = dict(zip(labels_of, handles_of))
    return list(unique.values()), list(unique.keys())


def plot_accuracy_vs_parameters(rows: pd.DataFrame, design: SharingDesign, source: str) -> plt.Figure:
    """Test accuracy against parameters, one marker per configuration (mean over
    seeds, bars from the lowest to the highest seed, the seeds as small dots),
    shape and colour by scheme, fill by budget, the configuration's label in the
    legend. Schemes at one budget are offset sideways by :data:`DODGE` (0.3
    thousand parameters; SSN sits at the exact budget), as the caption says."""
    summary = summarize(rows)
    fig, ax = plt.subplots(figsize=(9.5, 5.0))
    for _, r in summary.iterrows():
        style = _style(r)
        x = r["params"] / 1e3 + DODGE.get(r["scheme"], 0.0)
        ax.errorbar(x, r["test_top1_mean"], yerr=_seed_range(r), ms=7, capsize=3, label=r["config"], **style)
        seeds = rows.loc[rows["config"] == r["config"], "test_top1"]
        ax.scatter([x] * len(seeds), seeds, s=10, color=style["color"], alpha=0.45, zorder=1)
    ax.legend(
        *_legend(*ax.get_legend_handles_labels()),
        title="configuration",
        fontsize=readable_fontsize(fig),
        loc="lower right",
    )
    ax.set(
        xlabel="parameters of the whole model (thousands)",
        ylabel="test top-1 accuracy (%)",
        title="accuracy vs parameters per sharing scheme (mean over seeds, seed range, seeds as dots)",
    )
    fig.tight_layout()
    caption(
        fig,
        data_caption(design, rows, source) + "; markers of one budget are offset sideways by 0.3 thousand "
        "parameters for legibility (narrower model right, scope / channel-wise left, SSN at the exact count)",
    )
    return fig


def _ssn_label(r: pd.Series) -> str:
    generator = "RR" if str(r["config"]).startswith("SSN-RR") else "Emb"
    return f"{generator}, " + r["budget"].replace("channelwise", "cw")


def _spread_labels(ax: plt.Axes, points: list[tuple[float, float, str, str]], size: float) -> None:
    """Label ``points`` (x, y, text, colour) beside them (right of the point, or left of it in the
    right half of the panel, so no label leaves it), moving a label down by a line height while it
    would overlap one placed already, with a leader line to its point: labels of points that coincide,
    or nearly, stay legible. Call it once the figure's layout is final (it measures in axes fractions)."""
    fig = ax.get_figure()
    box = ax.get_window_extent()
    line = 1.3 * size * fig.dpi / 72 / box.height
    placed: list[tuple[float, float, float]] = []  # (left, right, bottom) of each label, axes fractions
    for x, y, text, color in sorted(points, key=lambda p: (-p[1], p[0])):
        fx, fy = ax.transAxes.inverted().transform(ax.transData.transform((x, y)))
        wide = 0.62 * size * len(text) * fig.dpi / 72 / box.width
        left = fx + 0.02 if fx < 0.5 else fx - 0.02 - wide
        bottom = fy + 0.01
        while any(abs(bottom - b) < line and left < r and l < left + wide for l, r, b in placed):
            bottom -= line
        placed.append((left, left + wide, bottom))
        ax.annotate(
            text,
            (x, y),
            xytext=(left, bottom),
            textcoords="axes fraction",
            fontsize=size,
            color=color,
            arrowprops={"arrowstyle": "-", "color": color, "lw": 0.5, "alpha": 0.6},
        )


def plot_prior_vs_accuracy(rows: pd.DataFrame, design: SharingDesign, source: str) -> plt.Figure:
    """One panel per prior quantity: the configuration's score against its mean
    test accuracy (bars: seed range), shape and colour by scheme, fill by
    budget; every configuration (each SSN budget too) is named in the legend
    below the panels, and SSN's points are labelled with their generator and
    budget, labels that would overlap moved apart with a leader line to their
    point (:func:`_spread_labels`: ES and H give every SSN-Emb budget one value)."""
    summary = summarize(rows)
    fig, grid = plt.subplots(2, 2, figsize=(10.5, 10.5), sharey=True)
    axes = list(grid.ravel())
    label_size = readable_fontsize(fig)
    for ax, score in zip(axes, PRIOR_SCORES):
        for _, r in summary.iterrows():
            ax.errorbar(
                r[score], r["test_top1_mean"], yerr=_seed_range(r), ms=7, capsize=3, label=r["config"], **_style(r)
            )
        ax.margins(x=0.08)
        ax.set(xlabel=SCORE_LABELS[score], title=SCORE_LABELS[score].split(" (")[0])  # PG, P'G, ES, H
    for ax in grid[:, 0]:
        ax.set_ylabel("test top-1 accuracy (%)")
    fig.legend(
        *_legend(*axes[0].get_legend_handles_labels()),
        title="configuration",
        fontsize=label_size,
        loc="lower center",
        ncol=2,
        bbox_to_anchor=(0.5, 0.0),
    )
    fig.tight_layout(rect=(0, 0.25, 1, 1))
    for ax, score in zip(axes, PRIOR_SCORES):
        ssn = summary[summary["scheme"] == "ssn"]
        _spread_labels(
            ax,
            [(r[score], r["test_top1_mean"], _ssn_label(r), _style(r)["color"]) for _, r in ssn.iterrows()],
            label_size,
        )
    caption(
        fig, data_caption(design, rows, source) + "; SSN's points carry their generator and budget (cw: channel-wise)"
    )
    return fig


# -------------------------------------------------------------- seeds and settings


def describe_study(design: SharingDesign, budgets: Mapping[str, int], rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """The study's configurations with their schemes, options, budgets (count and
    fraction of the unshared model) and whether the scheme is registered; with
    ``rows`` (the stored runs) also the models' actual parameter counts and FLOPs
    as built, their offset from the budget and their FLOPs relative to the
    unshared model (the narrower baseline meets its budget only to the nearest
    width, and it has fewer FLOPs than the shared models, which keep the
    unshared model's computation)."""
    full = budgets["full"]
    table = pd.DataFrame(
        [
            {
                "config": c.label,
                "scheme": c.scheme,
                "options": c.options_json(),
                "budget": c.budget,
                "budget params": budgets.get(c.budget, math.nan),
                "budget fraction": budgets.get(c.budget, math.nan) / full,
                "registered": c.available(),
            }
            for c in design.configs
        ]
    )
    if rows is None or rows.empty:
        return table
    built = rows.groupby("config")[["params", "flops"]].first()
    table["params (built)"] = table["config"].map(built["params"])
    table["params vs budget (%)"] = 100 * (table["params (built)"] / table["budget params"] - 1)
    table["MFLOPs (built)"] = table["config"].map(built["flops"]) / 1e6
    unshared = built.loc[[c.label for c in design.configs if c.scheme == "none"], "flops"]
    if len(unshared):
        table["FLOPs vs unshared (%)"] = 100 * (table["MFLOPs (built)"] * 1e6 / float(unshared.iloc[0]) - 1)
    return table


def settings_table(spec: StudySpec) -> pd.DataFrame:
    """:func:`study_settings` as a table to read: one row per setting (``part``: the study or its
    training configuration), values as text."""
    settings = study_settings(spec)
    train = settings.pop("train")
    rows = [("study", k, v) for k, v in settings.items()] + [("training", k, v) for k, v in train.items()]
    return pd.DataFrame([{"part": part, "setting": k, "value": str(v)} for part, k, v in rows])


def study_settings(spec: StudySpec) -> dict[str, Any]:
    """The study's settings as plain values (the notebook shows them)."""
    design = spec.design
    return {
        "study": spec.name,
        "plan_id": spec.plan,
        "dataset": design.dataset,
        "model": design.model,
        "model kwargs": design.kwargs,
        "seeds": list(design.seeds),
        "train images": design.train_limit,
        "val images": design.val_limit,
        "augment": design.augment,
        "low budget fraction": design.low_budget_fraction,
        "train": {k: v for k, v in asdict(design.train).items() if k != "seed"},
    }


# ------------------------------------------------------------------ bookkeeping
