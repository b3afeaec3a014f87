"""Chapter 6 (predictive validity of training-free scores): the analysis
behind ``notebooks/ch6_predictive_validity.ipynb``.

Reads the stored per-architecture scores (``data/zoo_scores_v<N>_<zoo>.csv``,
written by ``python -m reuseprior score-zoos``; per zoo the published version
N, :func:`reuseprior.zoo.scoring.published_version`: the newest whose CSV is
complete, so a new version being filled is not read before it is whole),
and builds the tables and figures of the notebook: coverage (how many architectures of each zoo are scored),
rank correlations with bootstrap intervals beside the published proxy
correlations, scatter plots, failure examples, cost per architecture, and a
live recomputation of the cheapest stored rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata

from reuseprior.baselines.proxies import grasp_summand_magnitude
from reuseprior.baselines.registry import DATA_DEPENDENT, ZOO_PROXIES, proxy_info, proxy_names
from reuseprior.core import paths
from reuseprior.core.ordering import sort_rows
from reuseprior.reporting.notebook import Profile
from reuseprior.zoo.correlation import bootstrap_rank_correlation, correlation_table, partial_rank_correlation
from reuseprior.zoo.nasbench201 import NASLIB_PROXIES, is_connected, load_naslib_subset, parse_arch
from reuseprior.zoo.scoring import (
    GRADIENT_PASS_MARKER,
    REUSE_SCORES,
    ZOOS,
    Zoo,
    comparable_scores,
    get_zoo,
    load_scores,
    published_version,
    score_architecture,
    since_version,
    version_complete_on,
)

__all__ = [
    "ACCURACY_LABELS",
    "ALL_SCORES",
    "DATA_FREE_PROXIES",
    "PROFILES",
    "PROXY_SCORES",
    "SCORE_UNITS",
    "THESIS_SCORES",
    "ScatterAxis",
    "correlation_tables",
    "cost_table",
    "correlation_forest",
    "coverage",
    "failure_examples",
    "LIVE_CHECK_MEASURED",
    "LIVE_TOLERANCE",
    "live_check",
    "live_rows",
    "NASLIB_NAMES",
    "NB201_LABELS",
    "nb201_label_agreement",
    "nb201_labelled_rows",
    "nb201_labels_wide",
    "nb201_reference_agreement",
    "nb201_scores_both_labels",
    "nb201_reading",
    "nb201_version_change",
    "beyond_size",
    "load_published",
    "proxy_coverage_reading",
    "reading",
    "recompute_cost",
    "scatter_axis",
    "scatter_grid",
    "version_change",
    "summary_markdown",
]


@dataclass(frozen=True)
class PredictiveValidityProfile(Profile):
    """Settings of the chapter 6 notebook: the zoos read, the bootstrap
    resamples of every interval, how many of each zoo's cheapest fully scored
    rows are recomputed live against the stored ones, whether those recompute
    the reusability quantities too, and the fewest scored rows a correlation
    is reported on."""

    zoos: list[str]
    n_boot: int
    live_rows: int
    live_reuse: bool
    min_rows: int


PROFILES: dict[str, PredictiveValidityProfile] = {
    # quick: CPU, about a minute; recomputes the cheapest fully scored row of each zoo live (live_rows)
    "quick": PredictiveValidityProfile(
        zoos=["nb201", "torchvision", "pytorchcv"], n_boot=200, live_rows=1, live_reuse=True, min_rows=10
    ),
    # full: the same analysis with more bootstrap resamples and more live rows
    "full": PredictiveValidityProfile(
        zoos=["nb201", "torchvision", "pytorchcv"], n_boot=2000, live_rows=5, live_reuse=True, min_rows=10
    ),
}

#: Baselines and zero-cost proxies, in table order: the registry's scores defined on any architecture.
PROXY_SCORES = list(ZOO_PROXIES)
#: The thesis quantities (chapter 4) and their per-parameter efficiencies.
THESIS_SCORES = list(REUSE_SCORES)
ALL_SCORES = PROXY_SCORES + THESIS_SCORES
#: The baselines and proxies that need no minibatch content (computed for every row).
DATA_FREE_PROXIES = [s for s in PROXY_SCORES if s not in DATA_DEPENDENT]

#: Axis name and unit of each score (scatter plots). The baselines and proxies
#: are labelled as the registry says (:class:`reuseprior.baselines.registry.ProxyInfo`:
#: NASWOT is a natural log-determinant, the other proxies dimensionless sums).
#: The thesis quantities are in bits (ES, H, S: eqs. 4.2-4.5) or are log2 of a
#: count ratio (PG, P'G: eqs. 4.7-4.8); PE = PG / NG and CE = PG / WG (eqs. 5.1-5.2).
SCORE_UNITS: dict[str, tuple[str, str]] = {
    **{s: (proxy_info(s).label, proxy_info(s).unit) for s in PROXY_SCORES},
    "PG": ("PG", "log2 units"),
    "PG_prime": ("P'G", "log2 units"),
    "expected_spread": ("expected spread ES", "bits"),
    "entropy": ("entropy H", "bits"),
    "total_surprisal": ("total surprisal S", "bits"),
    "PG_per_param": ("PG per parameter", "log2 units / parameter"),
    "PG_prime_per_param": ("P'G per parameter", "log2 units / parameter"),
    "expected_spread_per_param": ("ES per parameter", "bits / parameter"),
    "entropy_per_param": ("H per parameter", "bits / parameter"),
    "total_surprisal_per_param": ("S per parameter", "bits / parameter"),
    "PE": ("PE = PG / NG", "log2 units / weight"),
    "CE": ("CE = PG / WG", "log2 units / weight node"),
}

#: y-axis label of each zoo's ground truth (see ``Zoo.description``).
ACCURACY_LABELS = {
    "nb201": "CIFAR-10 test accuracy (%)",
    "torchvision": "ImageNet-1K top-1 accuracy (%)",
    "pytorchcv": "ImageNet-1K top-1 accuracy (%)",
}


def coverage() -> pd.DataFrame:
    """Architectures scored / in the zoo, per zoo (never extrapolated): ``scored``
    have the data-free scores (#params, FLOPs, SynFlow, the reusability
    quantities), ``with data-dependent proxies`` also at least one of SNIP
    ... NASWOT (a proxy that ran out of memory or failed leaves a gap), ``with
    every proxy`` all six; ``scores version`` is the version every table of the
    zoo reads (:func:`reuseprior.zoo.scoring.published_version`: zoos being
    rescored read their previous version until the new one is complete)."""
    rows = []
    for name in ZOOS:
        version = published_version(name)
        zoo = get_zoo(name, version)  # as the rows read were scored
        try:
            total = len(zoo.catalogue())
        except Exception as exc:  # a missing optional package
            total, note = math.nan, f"catalogue unavailable: {type(exc).__name__}"
        else:
            note = ""
        stored = load_scores(name, version)
        present = stored.reindex(columns=sorted(DATA_DEPENDENT)).notna()  # a missing column: no proxy
        with_proxies, with_all = int(present.any(axis=1).sum()), int(present.all(axis=1).sum())
        share = (lambda k: k / total) if total == total and total else (lambda k: math.nan)
        rows.append(
            {
                "zoo": name,
                "scores version": version,
                "scored": len(stored),
                "in zoo": total,
                "fraction": share(len(stored)),
                "with data-dependent proxies": with_proxies,
                "fraction with proxies": share(with_proxies),
                "with every proxy": with_all,
                "ground truth": zoo.description,
                "note": note,
            }
        )
    return pd.DataFrame(rows)


def proxy_coverage_reading(cov: pd.DataFrame) -> str:
    """The coverage of the data-dependent proxies in words, generated from the
    coverage table (:func:`coverage`) and the stored rows, so the narrative
    cannot fall behind the data: per zoo, how many scored architectures carry
    at least one proxy and all six, which proxies have fewer finite values
    (the ``n`` of the correlation tables), and how many rows the head-to-head
    table (``common_rows=True`` of :func:`correlation_tables`: the rows that
    carry SNIP) keeps."""
    names = [p for p in PROXY_SCORES if p in DATA_DEPENDENT]
    marker = GRADIENT_PASS_MARKER
    lines, partial, common = [], [], []
    for _, c in cov.iterrows():
        zoo, scored = c["zoo"], int(c["scored"])
        if scored == 0:
            lines.append(f"- **{zoo}**: no architecture scored yet.")
            continue
        stored = load_scores(zoo)
        finite = {p: int(np.isfinite(stored[p].astype(float)).sum()) if p in stored.columns else 0 for p in names}
        short = [f"{SCORE_UNITS[p][0]} {finite[p]:,}" for p in names if finite[p] < scored]
        with_any, with_all = int(c["with data-dependent proxies"]), int(c["with every proxy"])
        head = (
            f"all {scored:,} scored architectures carry at least one of them"
            if with_any == scored
            else f"{with_any:,} of the {scored:,} scored architectures carry at least one of them"
        )
        gaps = (
            f"; finite values fewer than {scored:,} for {', '.join(short)}, the others on every row"
            if short
            else "; every proxy is finite on every row"
        )
        lines.append(f"- **{zoo}**: {head}, {with_all:,} all six{gaps}.")
        if with_any < scored:
            partial.append(zoo)
        if marker in stored.columns:
            common.append(f"{zoo} {int(stored[marker].notna().sum()):,} of {scored:,}")
    labels = ", ".join(SCORE_UNITS[p][0] for p in names)
    text = [
        f"Stored coverage of the data-dependent proxies ({labels}), from the coverage table above and the stored rows:",
        "",
        *lines,
        "",
    ]
    if partial:
        text.append(
            f"On {', '.join(partial)} the proxies cover part of the scored rows: they are filled in the zoo's "
            "scoring order (NAS-Bench-201: the seeded random order, a uniform sample; ImageNet zoos: smallest "
            "published parameter count first, so they describe the smaller models), and their rho is not "
            "comparable with the full-zoo rho of the data-free scores."
        )
    else:
        text.append(
            "Every scored architecture of every zoo carries data-dependent proxies. The gaps are proxies that "
            "are undefined on a model or did not fit in memory (the reason is in the row's `errors` column), "
            "so a score's `n` in the correlation tables can be below its zoo's count."
        )
    if common:
        text += [
            "",
            f"The head-to-head table below keeps the rows that carry {SCORE_UNITS[marker][0]} "
            f"({'; '.join(common)}), so the "
            "data-free scores and the proxies are compared on the same architectures, except where a score is "
            "missing on a row (its smaller `n`).",
        ]
    return "\n".join(text)


def load_published() -> pd.DataFrame:
    return pd.read_csv(paths.DATA_DIR / "published_proxy_correlations.csv", comment="#")


def correlation_tables(
    zoos: list[str], n_boot: int, min_rows: int, seed: int = 0, common_rows: bool = False
) -> pd.DataFrame:
    """Spearman/Kendall (bootstrap 95% intervals) of every score with accuracy,
    per zoo with at least ``min_rows`` scored architectures, beside the
    published Spearman rho of the same score (CIFAR-10 / ImageNet-1K rows).

    ``common_rows=False``: each score on every row that has it (``n`` differs:
    the data-dependent proxies may cover a subsample). ``True``: only the rows
    that carry SNIP (:data:`reuseprior.zoo.scoring.GRADIENT_PASS_MARKER`: the
    rows where the gradient proxies' pass ran), so the
    data-free scores and the proxies are compared on the same architectures; a
    score missing on some of those rows (a single proxy out of memory or
    undefined) still has its own smaller ``n``.
    """
    published = load_published()
    frames = []
    for zoo in zoos:
        df = load_scores(zoo)
        if common_rows and GRADIENT_PASS_MARKER in df.columns:
            df = df[df[GRADIENT_PASS_MARKER].notna()]
        if len(df) < min_rows:
            continue
        t = correlation_table(
            df, [s for s in ALL_SCORES if s in df.columns and df[s].notna().sum() >= 3], n_boot=n_boot, seed=seed
        )
        t.insert(0, "zoo", zoo)
        pub = published[(published["zoo"] == zoo) & (published["dataset"].isin(["CIFAR-10", "ImageNet-1K"]))]
        t["published spearman"] = t["score"].map(dict(zip(pub["score"], pub["spearman"])))
        t["published n"] = t["score"].map(dict(zip(pub["score"], pub["n_architectures"])))
        t["kind"] = [_kind(s) for s in t["score"]]
        frames.append(t)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _kind(score: str) -> str:
    """``reusability prior`` for a thesis quantity, else the registry's kind of
    the score (``naive baseline``, ``zero-cost proxy``)."""
    return "reusability prior" if score in THESIS_SCORES else proxy_info(score).kind


def beyond_size(
    zoos: list[str],
    scores: list[str],
    *,
    control: str = "params",
    n_boot: int = 1000,
    min_rows: int = 10,
    seed: int = 0,
) -> pd.DataFrame:
    """Does a score rank accuracy *beyond* model size? Partial Spearman
    correlation of each score with accuracy given ``control`` (default the
    parameter count, the naive baseline of thesis sections 4.5.7-4.5.8), with a
    bootstrap interval, per zoo. An interval that excludes 0 means the score
    carries rank information about accuracy that the parameter count lacks."""
    rows = []
    for zoo in zoos:
        df = load_scores(zoo)
        if len(df) < min_rows or control not in df.columns:
            continue
        for score in scores:
            if score == control or score not in df.columns or df[score].notna().sum() < min_rows:
                continue
            r = partial_rank_correlation(df[score], df["accuracy"], df[control], n_boot=n_boot, seed=seed)
            rows.append({"zoo": zoo, "score": score, "given": control, **r})
    return pd.DataFrame(rows)


def cost_table(zoos: list[str]) -> pd.DataFrame:
    """Cost per architecture of each score: median and 90th percentile of the
    CPU seconds (one thread; independent of how busy the machine was) and the
    median wall-clock seconds (inflated on a shared machine). The thesis
    quantities are one ``analyze`` call, shown as ``reuse``; ``build`` is the
    model construction. The data-dependent proxies are computed together in
    one shared pass (:func:`reuseprior.baselines.proxies.data_dependent_scores`),
    shown as ``data_dependent (all six, shared pass)``; rows that carry a
    proxy's own seconds were timed one pass per proxy and are shown under the
    proxy's name."""
    rows = []
    for zoo in zoos:
        df = load_scores(zoo)
        if df.empty:
            continue
        for col in [c for c in df.columns if c.endswith("_seconds") and not c.endswith("_cpu_seconds")]:
            name = col[: -len("_seconds")]
            wall = df[col].dropna()
            cpu = df[f"{name}_cpu_seconds"].dropna() if f"{name}_cpu_seconds" in df.columns else pd.Series(dtype=float)
            if wall.empty:
                continue
            rows.append(
                {
                    "zoo": zoo,
                    "score": "data_dependent (all six, shared pass)" if name == "data_dependent" else name,
                    "median CPU s": cpu.median() if len(cpu) else math.nan,
                    "p90 CPU s": cpu.quantile(0.9) if len(cpu) else math.nan,
                    "n (CPU)": len(cpu),
                    "median wall s": wall.median(),
                    "n (wall)": len(wall),
                }
            )
    return pd.DataFrame(rows)


def failure_examples(zoo: str, scores: list[str], k: int = 3) -> pd.DataFrame:
    """:func:`overestimated_rows` of the stored scores of ``zoo``."""
    return overestimated_rows(load_scores(zoo), scores, k)


def overestimated_rows(df: pd.DataFrame, scores: list[str], k: int = 3) -> pd.DataFrame:
    """Where each score fails: the ``k`` architectures it ranks highest
    relative to their accuracy rank (largest over-estimation), with both ranks.

    Tied gaps (common: equal parameter counts, equal entropies) are broken by
    the architecture's name, ascending (:func:`reuseprior.core.ordering.sort_rows`),
    so every machine lists the same architectures."""
    rows = []
    acc_rank = df["accuracy"].rank(pct=True)
    for s in scores:
        if s not in df.columns or df[s].notna().sum() < 3:
            continue
        sr = df[s].rank(pct=True)
        gap = pd.DataFrame({"gap": sr - acc_rank, "arch": df["arch"]}).dropna(subset=["gap"])
        for idx in sort_rows(gap, "gap", then="arch", ascending=False).index[:k]:
            rows.append(
                {
                    "score": s,
                    "arch": df.at[idx, "arch"],
                    "accuracy": df.at[idx, "accuracy"],
                    "score percentile": sr[idx],
                    "accuracy percentile": acc_rank[idx],
                }
            )
    return pd.DataFrame(rows)


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


def _squashed(x: np.ndarray) -> bool:
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
    if _squashed(t):
        scale, label, t = "rank", f"rank of {name} ({unit}; 1 = lowest of {len(f)})", rankdata(f)
    top = float(np.abs(t).max())
    if scale == "linear" and top > 0 and not 1e-2 <= top < 1e4:
        k = 3 * math.floor(math.log10(top) / 3)
        label, t = f"{name} / 1e{k} ({unit})", t / 10.0**k
    out[ok] = t
    return ScatterAxis(out, scale, label)


def scatter_grid(zoo: str, scores: list[str], ncols: int = 4, df: pd.DataFrame | None = None):
    """Accuracy against each score, one panel per score with its own x scale
    (:func:`scatter_axis`: linear, log10 or rank) and the number of
    architectures with a finite value. ``df``: the scored rows (default the
    stored ``data/zoo_scores_v1_<zoo>.csv``); a score with no finite value
    gets no panel."""
    import matplotlib.pyplot as plt

    df = load_scores(zoo) if df is None else df
    scores = [s for s in scores if s in df.columns and np.isfinite(df[s].astype(float)).any()]
    nrows = max(1, math.ceil(len(scores) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 3.0 * nrows), squeeze=False)
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
    import matplotlib.pyplot as plt

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


def recompute_cost(df: pd.DataFrame, reuse: bool = True) -> pd.Series:
    """Stored seconds that recomputing each row live costs: the model build plus
    #params, FLOPs and SynFlow, the data-dependent proxies (their shared pass,
    ``data_dependent``; the sum of their one-pass-each costs on rows scored
    before it) and, with ``reuse``, the reusability quantities (``reuse``). Each
    term is the stored CPU seconds, or the wall-clock seconds where the row has
    no CPU time (``build`` has wall-clock only); a missing term counts 0."""

    def seconds(name: str) -> pd.Series:
        cpu = df[f"{name}_cpu_seconds"] if f"{name}_cpu_seconds" in df.columns else pd.Series(np.nan, index=df.index)
        wall = df[f"{name}_seconds"] if f"{name}_seconds" in df.columns else pd.Series(np.nan, index=df.index)
        return cpu.astype(float).fillna(wall.astype(float))

    total = seconds("build").fillna(0.0)
    for name in DATA_FREE_PROXIES + (["reuse"] if reuse else []):
        total = total + seconds(name).fillna(0.0)
    shared = seconds("data_dependent")
    one_each = sum((seconds(p).fillna(0.0) for p in sorted(DATA_DEPENDENT)), pd.Series(0.0, index=df.index))
    return total + shared.fillna(one_each)


def live_rows(df: pd.DataFrame, rows: int, reuse: bool = True) -> pd.DataFrame:
    """The stored rows :func:`live_check` recomputes: the ``rows`` cheapest
    (:func:`recompute_cost`) among the rows with a finite value of every
    data-free score (#params, FLOPs, SynFlow and, with ``reuse``, every
    reusability quantity) and of at least one data-dependent proxy; rows with
    more of the six proxies finite come first, so the check compares every
    proxy that a cheap row has, and rows of equal count and cost in order of
    their architecture's name. The cost is what makes the quick profile quick:
    an ImageNet model at 600 px costs minutes, the cheapest seconds."""
    data_free = [s for s in DATA_FREE_PROXIES + (THESIS_SCORES if reuse else []) if s in df.columns]
    proxies = [p for p in PROXY_SCORES if p in DATA_DEPENDENT and p in df.columns]

    def finite(cols: list[str]) -> np.ndarray:
        return np.isfinite(df[cols].astype(float).to_numpy())

    n_proxies = finite(proxies).sum(axis=1)
    eligible = finite(data_free).all(axis=1) & (n_proxies > 0)
    ranked = df.assign(_proxies=n_proxies, _cost=recompute_cost(df, reuse))[eligible]
    ranked = sort_rows(ranked, ["_proxies", "_cost"], then="arch", ascending=[False, True])
    return ranked.head(rows).drop(columns=["_proxies", "_cost"])


#: How closely a live recomputation must reproduce a stored score
#: (:func:`live_check`), as a fraction of the score's scale. Exact and float64
#: scores (#params, FLOPs, SynFlow, every reusability quantity) reproduce on any
#: machine: 1e-9 of the larger value. The data-dependent proxies run in float32
#: through kernels that PyTorch and oneDNN pick per CPU instruction set (AVX2,
#: AVX-512), which sum in different orders, and the stored rows were scored
#: over many sessions on machines of both kinds: 1e-2 of the larger value
#: (measured on the 15 cheapest rows of each zoo: at most 2.2e-3, Fisher on
#: pytorchcv; recomputing with oneDNN limited to AVX2 reproduces rows scored on
#: such machines exactly). GraSP sums signed terms that cancel to 4e-8-2e-4 of
#: their magnitude on the BatchNorm networks of the ImageNet zoos, so its rounding is judged against that
#: magnitude (:func:`reuseprior.baselines.proxies.grasp_summand_magnitude`):
#: 1e-4 of it (measured at most 1.4e-5).
LIVE_TOLERANCE = {"exact": 1e-9, "float32": 1e-2, "grasp": 1e-4}
#: the columns of :func:`live_check` that are this machine's (the live value, the scale it is judged
#: against, the deviation); the others are the verdict, the same on every CPU
LIVE_CHECK_MEASURED = ("live", "scale", "difference / scale")


def live_check(zoo: str, rows: int, reuse: bool, seed: int = 0) -> pd.DataFrame:
    """Recompute stored rows of ``zoo`` (:func:`live_rows`: the cheapest that
    carry the data-free scores and the data-dependent proxies) from their seeds
    and compare every score the row stores with the live value.

    Columns: ``stored``, ``live``, ``scale`` (the larger of the two magnitudes;
    for GraSP the magnitude of its summands on the live model),
    ``difference / scale``, ``tolerance`` (:data:`LIVE_TOLERANCE`: exact and
    float64 scores 1e-9, float32 proxies 1e-2, GraSP 1e-4 of its summands),
    ``within tolerance`` and ``note``; a score NaN both stored and live agrees.

    The rows are those of the published version (:func:`load_scores`), rebuilt
    as that version built them (:func:`reuseprior.zoo.scoring.get_zoo` at that
    version: the torchvision models at 224 px in version 1). Only the scores
    whose definition in this code is the one that version stored
    (:func:`reuseprior.zoo.scoring.comparable_scores`: registry
    ``since_version`` at most the table's version) are recomputed and
    compared. A score whose definition changed since is listed with its
    stored value, no live value, ``within tolerance`` empty (neither true nor
    false) and the note "definition changed in v<N>, not compared": this code
    computes another quantity, which the stored value was never meant to equal."""
    version = published_version(zoo)
    df = load_scores(zoo, version)
    if df.empty:
        return pd.DataFrame()
    picked = live_rows(df, rows, reuse)
    comparable = set(comparable_scores(version))
    scored_as = get_zoo(zoo, version)
    out = []
    for _, stored in picked.iterrows():
        names = [p for p in PROXY_SCORES if p in stored.index and pd.notna(stored[p])]
        has_reuse = reuse and "PG" in stored.index and pd.notna(stored["PG"])
        thesis = THESIS_SCORES if has_reuse else []
        live_names = [p for p in names if p in comparable]
        do_reuse = has_reuse and any(s in comparable for s in thesis)
        # row=None: score_architecture reads the ground-truth row (image size, accuracy) from the catalogue
        live = score_architecture(scored_as, stored["arch"], seed=seed, reuse=do_reuse, proxies=live_names)
        grasp_scale = _grasp_scale(scored_as, stored["arch"], seed) if "grasp" in live_names else math.nan
        for s in names + thesis:
            b = float(stored[s])
            if s not in comparable:
                note = f"definition changed in v{since_version(s)}, not compared"
                out.append({"arch": stored["arch"], "score": s, "stored": b, "live": math.nan, "note": note})
                continue
            a = float(live[s])
            kind = "grasp" if s == "grasp" else "float32" if s in DATA_DEPENDENT else "exact"
            scale = grasp_scale if kind == "grasp" else max(abs(a), abs(b))
            both_nan = math.isnan(a) and math.isnan(b)
            if a == b or both_nan:
                difference = 0.0
            elif scale > 0:
                difference = abs(a - b) / scale
            else:  # no scale (GraSP's summands unavailable): unequal values are out of tolerance
                difference = math.inf
            out.append(
                {
                    "arch": stored["arch"],
                    "score": s,
                    "stored": b,
                    "live": a,
                    "scale": scale,
                    "difference / scale": difference,
                    "tolerance": LIVE_TOLERANCE[kind],
                    "within tolerance": difference <= LIVE_TOLERANCE[kind],
                    "note": "",
                }
            )
    table = pd.DataFrame(out)
    if not table.empty:  # True/False where compared, <NA> where not: .all() reads the compared ones
        table["within tolerance"] = table["within tolerance"].astype("boolean")
    return table


def _grasp_scale(zoo: Zoo, arch: str, seed: int) -> float:
    """:func:`reuseprior.baselines.proxies.grasp_summand_magnitude` of ``arch`` with the
    seed, weights and minibatch :func:`live_check` scores it with (its own passes: on
    a model with dropout other masks, which move the magnitude, not its scale); NaN
    when it cannot be computed (then an unequal GraSP is out of tolerance)."""
    row = zoo.catalogue().set_index("arch").loc[arch]
    model, batch = zoo.build_seeded(arch, seed), zoo.batch(zoo.size_of(row), seed)
    torch.manual_seed(seed)
    try:
        return grasp_summand_magnitude(model, batch)
    except Exception:  # noqa: BLE001 - e.g. out of memory: the row says so through its verdict
        return math.nan


def reading(table: pd.DataFrame, zoo: str) -> str:
    """A plain-language summary computed from the correlation table: which
    scores' Spearman intervals lie above or below those of #params and FLOPs."""
    t = table[table["zoo"] == zoo].set_index("score")
    if t.empty:
        return f"{zoo}: not enough scored architectures for a reading."
    lines = [f"{zoo}: {int(t['n'].max())} architectures scored."]
    for base in proxy_names(kind="naive baseline"):
        if base not in t.index:
            continue
        b = t.loc[base]
        better = [s for s in t.index if s != base and t.at[s, "spearman_lo"] > b["spearman_hi"]]
        worse = [s for s in t.index if s != base and t.at[s, "spearman_hi"] < b["spearman_lo"]]
        lines.append(
            f"vs {base} (rho {b['spearman']:.3f} [{b['spearman_lo']:.3f}, {b['spearman_hi']:.3f}]): "
            f"clearly better (interval above): {', '.join(better) or 'none'}; "
            f"clearly worse: {', '.join(worse) or 'none'}; "
            "the rest overlap."
        )
    thesis = t[t.index.isin(THESIS_SCORES)]
    if not thesis.empty:
        best = thesis["spearman"].idxmax()
        lines.append(f"best reusability-prior score: {best} (rho {thesis.at[best, 'spearman']:.3f}).")
    proxies = t[t.index.isin(PROXY_SCORES)]
    if not proxies.empty:
        best = proxies["spearman"].idxmax()
        lines.append(f"best baseline/proxy: {best} (rho {proxies.at[best, 'spearman']:.3f}).")
    return "\n".join(lines)


def summary_markdown(table: pd.DataFrame, scores: list[str] | None = None) -> str:
    """The correlation table as one Markdown table, a row per score and a
    column per zoo: ``rho [lo, hi] (n; published rho)``, the form the README
    quotes (so its numbers are pasted from here, not retyped)."""
    if table.empty:
        return ""
    zoos = list(dict.fromkeys(table["zoo"]))
    order = [s for s in (scores or ALL_SCORES) if s in set(table["score"])]
    cells = table.set_index(["score", "zoo"])
    lines = ["| score | " + " | ".join(f"{z} (n)" for z in zoos) + " |", "|---" * (len(zoos) + 1) + "|"]
    for score in order:
        row = []
        for zoo in zoos:
            if (score, zoo) not in cells.index:
                row.append("-")
                continue
            r = cells.loc[(score, zoo)]
            pub = r.get("published spearman")
            extra = f"; published {pub:.3f}" if pd.notna(pub) else ""
            row.append(f"{r['spearman']:.3f} [{r['spearman_lo']:.3f}, {r['spearman_hi']:.3f}] ({int(r['n'])}{extra})")
        lines.append(f"| {score} | " + " | ".join(row) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- NAS-Bench-201: which accuracy label?

#: The NAS-Bench-201 accuracy labels compared on the NASLib subset (:func:`nb201_labelled_rows`): name ->
#: (column, the dataset of ``data/published_proxy_correlations.csv`` measured on the same benchmark's label, or None,
#: what the label is). The chapter's tables use the first, ``analog-nasbench``'s own retraining.
NB201_LABELS: dict[str, tuple[str, str | None, str]] = {
    "analog CIFAR-10": (
        "accuracy",
        None,
        "analog-nasbench 0.1.3 baseline_accuracy: the package's own retraining, CIFAR-10 test accuracy",
    ),
    "official CIFAR-10": (
        "val_acc_cifar10",
        "CIFAR-10",
        "NAS-Bench-201 cifar10-valid record at epoch 200 (trained on 25k CIFAR-10 training images, accuracy on "
        "the other 25k), NASLib's val_accuracy",
    ),
    "official CIFAR-100": (
        "val_acc_cifar100",
        "CIFAR-100",
        "NAS-Bench-201 cifar100 record at epoch 200, NASLib's val_accuracy",
    ),
    "official ImageNet16-120": (
        "val_acc_ImageNet16-120",
        "ImageNet16-120",
        "NAS-Bench-201 ImageNet16-120 record at epoch 200, NASLib's val_accuracy",
    ),
}
#: Our score -> the same proxy's name in NASLib's file (the reference implementation's score is ``ref_<name>``).
NASLIB_NAMES: dict[str, str] = {
    "params": "params",
    "flops": "flops",
    "synflow": "synflow",
    "snip": "snip",
    "grasp": "grasp",
    "fisher": "fisher",
    "grad_norm": "grad_norm",
    "jacob_cov": "jacov",
    "naswot": "nwot",
}


def nb201_labelled_rows(version: int | None = None) -> pd.DataFrame:
    """The stored NAS-Bench-201 scores (``data/zoo_scores_v<version>_nb201.csv``,
    whose ``accuracy`` is analog-nasbench's label) of the cells of the NASLib
    subset (``data/nasbench201_naslib_subset.csv``: NAS-Bench-201's official
    validation accuracies ``val_acc_<dataset>`` and the reference
    implementation's CIFAR-10 scores ``ref_<proxy>``), joined on the
    architecture string; ``connected`` marks the cells whose output depends
    on their input. ``version`` defaults to the newest scores version that is
    complete on the subset's cells
    (:func:`reuseprior.zoo.scoring.version_complete_on`), recorded in
    ``attrs["scores_version"]``: these comparisons need only the 725 cells,
    so they follow the reference definitions as soon as those cells are
    rescored, while the full-zoo tables wait for the whole zoo."""
    subset = load_naslib_subset()
    version = version_complete_on("nb201", subset["arch"]) if version is None else version
    rows = load_scores("nb201", version).merge(subset, on="arch", how="inner", validate="one_to_one")
    rows["connected"] = [is_connected(parse_arch(a)) for a in rows["arch"]]
    rows.attrs["scores_version"] = version
    return rows


def nb201_version_change(n_boot: int, seed: int = 0, rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """What the scores version changed on the NASLib subset: for every score
    whose definition changed after version 1 (:func:`reuseprior.zoo.scoring.since_version`),
    its rank agreement with the reference implementation's score and its rho
    with the official CIFAR-10 label, under version 1 and under the version the
    subset reads (:func:`nb201_labelled_rows`), on the same cells (bootstrap
    95% intervals on the version the subset reads; ``rows``: that
    function's table, read when not given). Empty while the subset reads
    version 1."""
    new = nb201_labelled_rows() if rows is None else rows
    version = new.attrs["scores_version"]
    if version == 1:
        return pd.DataFrame()
    old = nb201_labelled_rows(1).set_index("arch").reindex(new["arch"]).reset_index()
    label = new[NB201_LABELS["official CIFAR-10"][0]].astype(float).to_numpy()
    out = []
    for score in [s for s in ALL_SCORES if since_version(s) > 1 and s in new.columns]:
        ref_name = NASLIB_NAMES.get(score)
        theirs = new[f"ref_{ref_name}"].astype(float).to_numpy() if ref_name else np.full(len(new), np.nan)
        a, b = old[score].astype(float).to_numpy(), new[score].astype(float).to_numpy()
        ok = np.isfinite(a) & np.isfinite(b) & np.isfinite(label) & (np.isfinite(theirs) if ref_name else True)
        agree_old = bootstrap_rank_correlation(a[ok], theirs[ok], n_boot=0) if ref_name else {"spearman": np.nan}
        agree_new = (
            bootstrap_rank_correlation(b[ok], theirs[ok], n_boot=n_boot, seed=seed)
            if ref_name
            else {"spearman": np.nan, "spearman_lo": np.nan, "spearman_hi": np.nan}
        )
        label_new = bootstrap_rank_correlation(b[ok], label[ok], n_boot=n_boot, seed=seed)
        out.append(
            {
                "score": score,
                "changed in": f"v{since_version(score)}",
                "n": int(ok.sum()),
                "v1 vs reference": agree_old["spearman"],
                **_with_interval(f"v{version} vs reference", agree_new),
                "v1 vs official CIFAR-10": bootstrap_rank_correlation(a[ok], label[ok], n_boot=0)["spearman"],
                **_with_interval(f"v{version} vs official CIFAR-10", label_new),
                f"v1 vs v{version} (same cells)": bootstrap_rank_correlation(a[ok], b[ok], n_boot=0)["spearman"],
            }
        )
    return pd.DataFrame(out)


def _with_interval(column: str, result: dict[str, float]) -> dict[str, float]:
    """A :func:`reuseprior.zoo.correlation.bootstrap_rank_correlation` result's rho and 95%
    interval as the columns ``column``, ``column lo`` and ``column hi``."""
    return {column: result["spearman"], f"{column} lo": result["spearman_lo"], f"{column} hi": result["spearman_hi"]}


def version_change(zoos: list[str], n_boot: int, seed: int = 0) -> pd.DataFrame:
    """What the newest scores version changed on each zoo: for every score
    whose stored values differ between version 1 and the version the zoo is
    read at (:func:`reuseprior.zoo.scoring.published_version`) on at least one
    row (finite in one version only, or a relative difference beyond
    :data:`LIVE_TOLERANCE`: 1e-9 for exact and float64 scores, 1e-2 for the
    float32 proxies, whose rows scored again on another CPU differ by its
    rounding; GraSP's rounding can exceed that, see :func:`live_check`), the
    rows that changed and the Spearman rho with accuracy under each version,
    on the rows finite in both (the accuracy of the version read; bootstrap
    95% interval on that version). A changed definition (Fisher, SynFlow,
    FLOPs) shows on every zoo; a changed setting (torchvision's evaluation
    crop) on every score of the models it moves. A zoo still read at version
    1 has no rows here."""
    out = []
    for zoo in zoos:
        version = published_version(zoo)
        if version == 1:
            continue
        new = load_scores(zoo, version).set_index("arch")
        old = load_scores(zoo, 1).set_index("arch").reindex(new.index)
        accuracy = new["accuracy"].astype(float).to_numpy()
        for score in [s for s in ALL_SCORES if s in new.columns and s in old.columns]:
            a, b = old[score].astype(float).to_numpy(), new[score].astype(float).to_numpy()
            finite_a, finite_b = np.isfinite(a), np.isfinite(b)
            both = finite_a & finite_b
            scale = np.maximum(np.abs(a), np.abs(b))
            moved = np.zeros(len(a), dtype=bool)
            tolerance = LIVE_TOLERANCE["float32" if score in DATA_DEPENDENT else "exact"]
            moved[both] = np.abs(a[both] - b[both]) > tolerance * scale[both]
            changed = moved | (finite_a != finite_b)
            if not changed.any():
                continue
            rho_new = bootstrap_rank_correlation(b[both], accuracy[both], n_boot=n_boot, seed=seed)
            out.append(
                {
                    "zoo": zoo,
                    "score": score,
                    "rows changed": int(changed.sum()),
                    "n": int(both.sum()),
                    "v1 spearman": bootstrap_rank_correlation(a[both], accuracy[both], n_boot=0)["spearman"],
                    **_with_interval(f"v{version} spearman", rho_new),
                    f"v1 vs v{version}": bootstrap_rank_correlation(a[both], b[both], n_boot=0)["spearman"],
                }
            )
    return pd.DataFrame(out)


def nb201_label_agreement(rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """How far analog-nasbench's CIFAR-10 label is from NAS-Bench-201's
    official one on the common cells: Spearman rho between them, and the mean,
    smallest and largest difference analog minus official (percentage
    points), on every common cell and on the connected ones. For scale, the
    official CIFAR-100 and ImageNet16-120 labels against the official CIFAR-10
    one (their accuracies are on other test sets: no difference is given)."""
    rows = nb201_labelled_rows() if rows is None else rows
    reference = NB201_LABELS["official CIFAR-10"][0]
    out = []
    for label, (column, _, _) in NB201_LABELS.items():
        if column == reference:
            continue
        subsets = {"all common cells": rows}
        if label == "analog CIFAR-10":
            subsets["connected cells"] = rows[rows["connected"]]
        for cells, df in subsets.items():
            a, b = df[column].astype(float), df[reference].astype(float)
            ok = np.isfinite(a) & np.isfinite(b)
            diff = (a - b)[ok] if label.endswith("CIFAR-10") else pd.Series(dtype=float)
            r = bootstrap_rank_correlation(a[ok], b[ok], n_boot=0)
            out.append(
                {
                    "label": label,
                    "against": "official CIFAR-10",
                    "cells": cells,
                    "n": r["n"],
                    "spearman": r["spearman"],
                    "mean difference": diff.mean() if len(diff) else np.nan,
                    "min difference": diff.min() if len(diff) else np.nan,
                    "max difference": diff.max() if len(diff) else np.nan,
                }
            )
    return pd.DataFrame(out)


def nb201_scores_both_labels(n_boot: int, seed: int = 0, rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every stored NAS-Bench-201 score (baselines, proxies and reusability
    quantities) against each label of :data:`NB201_LABELS` on the cells of
    the NASLib subset: Spearman/Kendall with bootstrap 95% intervals
    (:func:`reuseprior.zoo.correlation.correlation_table`), one row per score
    and label. ``published spearman`` / ``published n`` are the published rho
    measured on the same benchmark's label (the official rows only:
    ``data/published_proxy_correlations.csv``, which records NAS-Bench-201's
    own accuracies over all 15,625 cells, NASWOT and #params over a
    ~725-cell subset, but not the split)."""
    rows = nb201_labelled_rows() if rows is None else rows
    published = load_published()
    published = published[published["zoo"] == "nb201"]
    scores = [s for s in ALL_SCORES if s in rows.columns and rows[s].notna().sum() >= 3]
    frames = []
    for label, (column, dataset, _) in NB201_LABELS.items():
        t = correlation_table(rows, scores, accuracy=column, n_boot=n_boot, seed=seed)
        pub = published[published["dataset"] == dataset]
        t.insert(0, "label", label)
        t.insert(1, "kind", [_kind(s) for s in t["score"]])
        t["published spearman"] = t["score"].map(dict(zip(pub["score"], pub["spearman"])))
        t["published n"] = t["score"].map(dict(zip(pub["score"], pub["n_architectures"])))
        frames.append(t)
    out = pd.concat(frames, ignore_index=True)
    return out[["score", *[c for c in out.columns if c != "score"]]]


def nb201_labels_wide(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`nb201_scores_both_labels` as one row per score: rho with each
    label, the change from the analog to the official CIFAR-10 label, and the
    published rho beside the label it was measured on."""
    rho = table.pivot(index="score", columns="label", values="spearman")
    pub = table.pivot(index="score", columns="label", values="published spearman")
    n = table.pivot(index="score", columns="label", values="n")
    out = pd.DataFrame(index=pd.Index([s for s in ALL_SCORES if s in rho.index], name="score"))
    out["n"] = n["official CIFAR-10"]
    out["analog CIFAR-10"] = rho["analog CIFAR-10"]
    out["official CIFAR-10"] = rho["official CIFAR-10"]
    out["official - analog"] = out["official CIFAR-10"] - out["analog CIFAR-10"]
    for label, (_, dataset, _) in NB201_LABELS.items():
        if dataset is None:
            continue
        if label != "official CIFAR-10":
            out[label] = rho[label]
        out[f"published {dataset}"] = pub[label]
    return out.reset_index()


def nb201_reference_agreement(n_boot: int, seed: int = 0, rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """Our scores against the reference implementation's scores of the same
    proxies (NASLib's file, :data:`NASLIB_NAMES`) on the same cells: Spearman
    rho ours vs reference (bootstrap 95% interval), and each one's rho with
    the official CIFAR-10 label, all on the cells where ours, the reference
    and the label are finite (``n``). The reference's proxies we do not
    compute are listed with their own rho only. Our data-dependent proxies
    see the stand-in minibatch, the reference's a CIFAR-10 one."""
    rows = nb201_labelled_rows() if rows is None else rows
    label = rows[NB201_LABELS["official CIFAR-10"][0]].astype(float)
    ours_of = {ref: ours for ours, ref in NASLIB_NAMES.items()}
    out = []
    for ref in NASLIB_PROXIES:
        theirs = rows[f"ref_{ref}"].astype(float)
        ours_name = ours_of.get(ref)
        ours = rows[ours_name].astype(float) if ours_name in rows.columns else pd.Series(np.nan, index=rows.index)
        ok = np.isfinite(theirs) & np.isfinite(label) & (np.isfinite(ours) if ours_name else True)
        agree = bootstrap_rank_correlation(ours[ok], theirs[ok], n_boot=n_boot, seed=seed)
        out.append(
            {
                "naslib proxy": ref,
                "score": ours_name or "",
                "n": int(ok.sum()),
                "ours vs reference": agree["spearman"],
                "ours vs reference lo": agree["spearman_lo"],
                "ours vs reference hi": agree["spearman_hi"],
                "ours vs official CIFAR-10": bootstrap_rank_correlation(ours[ok], label[ok], n_boot=0)["spearman"],
                "reference vs official CIFAR-10": bootstrap_rank_correlation(theirs[ok], label[ok], n_boot=0)[
                    "spearman"
                ],
            }
        )
    return pd.DataFrame(out)


def nb201_reading(
    rows: pd.DataFrame, label_agreement: pd.DataFrame, both_labels: pd.DataFrame, reference: pd.DataFrame
) -> str:
    """The NASLib-subset comparison in words, generated from its three tables
    (:func:`nb201_label_agreement`, :func:`nb201_scores_both_labels`,
    :func:`nb201_reference_agreement`) so the narrative follows the stored
    rows: how the two CIFAR-10 labels differ, SynFlow on each label beside its
    published value, every score with a published value on the official
    label (the like-for-like comparison) and whether the published value lies
    inside our interval, the reusability quantities beside #params, and how
    closely our implementations rank the cells as the reference's do."""
    agree = label_agreement.set_index(["label", "cells"])
    analog = agree.loc[("analog CIFAR-10", "all common cells")]
    c100 = agree.loc[("official CIFAR-100", "all common cells")]
    table = both_labels.set_index(["label", "score"])
    official = table.xs("official CIFAR-10")
    on_analog = table.xs("analog CIFAR-10")

    def rho(score: str, where: pd.DataFrame = official, interval: bool = False) -> str:
        r = where.loc[score]
        return f"{r['spearman']:.3f}" + (f" [{r['spearman_lo']:.3f}, {r['spearman_hi']:.3f}]" if interval else "")

    published = official[official["published spearman"].notna()]
    like = ", ".join(f"{SCORE_UNITS[s][0]} {rho(s)} ({r['published spearman']:.3f})" for s, r in published.iterrows())
    ours = reference[reference["score"] != ""].set_index("score")  # the reference's proxies we also compute
    reference_rho = ours["reference vs official CIFAR-10"]

    def beside_reference(score: str) -> str:
        if score not in reference_rho.index:
            return ""
        return f"; the reference implementation's own score gives {reference_rho[score]:.3f} on these cells"

    outside = [
        f"{SCORE_UNITS[s][0]} ({rho(s, interval=True)} vs {r['published spearman']:.3f}{beside_reference(s)})"
        for s, r in published.iterrows()
        if not r["spearman_lo"] <= r["published spearman"] <= r["spearman_hi"]
    ]
    thesis = [s for s in ("PG", "PG_prime", "total_surprisal") if s in official.index]
    ref = sort_rows(ours, "ours vs reference", then="score", ascending=False)
    close = ref[ref["ours vs reference"] >= 0.95]
    far = ref[ref["ours vs reference"] < 0.95]

    def listed(t: pd.DataFrame) -> str:
        return ", ".join(f"{SCORE_UNITS[s][0]} {v:.3f}" for s, v in t["ours vs reference"].items())

    synflow_pub = official.at["synflow", "published spearman"]
    return "\n".join(
        [
            f"Reading (scores version {rows.attrs.get('scores_version', 1)} on these {len(rows)} cells, generated "
            "from the three tables above; intervals of this run's profile):",
            "",
            f"- **The two CIFAR-10 labels** rank the cells alike (rho {analog['spearman']:.3f}; the official "
            f"CIFAR-10 and CIFAR-100 labels: {c100['spearman']:.3f}), but analog-nasbench's is "
            f"{analog['mean difference']:.2f} points higher on average (up to {analog['max difference']:.2f}).",
            f"- **SynFlow** gives {rho('synflow', interval=True)} on the official label against the published "
            f"{synflow_pub:.3f}, and {rho('synflow', on_analog)} on the analog label of the same cells: a reading "
            "above the published value on the analog label comes from the label.",
            f"- **Like for like** (official CIFAR-10 label; published rho in brackets): {like}. "
            + (
                f"Published values outside our 95% interval: {'; '.join(outside)}."
                if outside
                else "Every published value lies inside our 95% interval."
            ),
            "- **The reusability quantities** on the official label: "
            + ", ".join(f"{SCORE_UNITS[s][0]} {rho(s)}" for s in thesis)
            + f", against #params {rho('params')}.",
            f"- **Our implementations against the reference's** scores of the same cells: {listed(close)} rank "
            "them alike (rho at least 0.95)"
            + (
                f"; {listed(far)} less so. The data-dependent proxies see our stand-in minibatch, the reference "
                "a CIFAR-10 one (the stand-in minibatch section below measures how far the minibatch moves each)."
                if not far.empty
                else "."
            ),
        ]
    )
