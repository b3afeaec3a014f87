"""Chapter 6 (predictive validity of training-free scores): the analysis
behind ``notebooks/ch6_predictive_validity.ipynb``.

Reads the stored per-architecture scores (``data/zoo_scores_v1_<zoo>.csv``,
written by ``scripts/score_zoos.py``), and builds the tables and figures of
the notebook: coverage (how many architectures of each zoo are scored),
rank correlations with bootstrap intervals beside the published proxy
correlations, scatter plots, failure examples, cost per architecture, and a
live recomputation of stored rows.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .. import paths
from ..proxies import DATA_DEPENDENT
from .correlation import correlation_table, partial_rank_correlation
from .scoring import REUSE_SCORES, ZOOS, load_scores, score_architecture

__all__ = [
    "ALL_SCORES",
    "PROFILES",
    "PROXY_SCORES",
    "THESIS_SCORES",
    "correlation_tables",
    "cost_table",
    "correlation_forest",
    "coverage",
    "failure_examples",
    "live_check",
    "beyond_size",
    "load_published",
    "reading",
    "scatter_grid",
    "summary_markdown",
]

PROFILES = {
    # quick: CPU, about a minute; recomputes the cheapest stored row live
    "quick": {"zoos": ["nb201", "torchvision", "pytorchcv"], "n_boot": 200, "live_rows": 1, "live_reuse": True, "min_rows": 10},
    # full: the same analysis with more bootstrap resamples and more live rows
    "full": {"zoos": ["nb201", "torchvision", "pytorchcv"], "n_boot": 2000, "live_rows": 5, "live_reuse": True, "min_rows": 10},
}

#: Baselines and zero-cost proxies, in table order.
PROXY_SCORES = ["params", "flops", "synflow", "snip", "grasp", "fisher", "grad_norm", "jacob_cov", "naswot"]
#: The thesis quantities (chapter 4) and their per-parameter efficiencies.
THESIS_SCORES = list(REUSE_SCORES)
ALL_SCORES = PROXY_SCORES + THESIS_SCORES


def coverage() -> pd.DataFrame:
    """Architectures scored / in the zoo, per zoo (never extrapolated): ``scored``
    have the data-free scores (#params, FLOPs, SynFlow, the reusability
    quantities), ``with data-dependent proxies`` also at least one of SNIP
    ... NASWOT (a proxy that ran out of memory or failed leaves a gap), ``with
    every proxy`` all six."""
    rows = []
    for name, zoo in ZOOS.items():
        try:
            total = len(zoo.catalogue())
        except Exception as exc:  # a missing optional package
            total, note = math.nan, f"catalogue unavailable: {type(exc).__name__}"
        else:
            note = ""
        stored = load_scores(name)
        present = stored.reindex(columns=sorted(DATA_DEPENDENT)).notna()  # a missing column: no proxy
        with_proxies, with_all = int(present.any(axis=1).sum()), int(present.all(axis=1).sum())
        share = (lambda k: k / total) if total == total and total else (lambda k: math.nan)
        rows.append({"zoo": name, "scored": len(stored), "in zoo": total, "fraction": share(len(stored)),
                     "with data-dependent proxies": with_proxies, "fraction with proxies": share(with_proxies),
                     "with every proxy": with_all,
                     "ground truth": zoo.description, "note": note})
    return pd.DataFrame(rows)


def load_published() -> pd.DataFrame:
    return pd.read_csv(paths.DATA_DIR / "published_proxy_correlations.csv", comment="#")


def correlation_tables(zoos: list[str], n_boot: int, min_rows: int, seed: int = 0, common_rows: bool = False) -> pd.DataFrame:
    """Spearman/Kendall (bootstrap 95% intervals) of every score with accuracy,
    per zoo with at least ``min_rows`` scored architectures, beside the
    published Spearman rho of the same score (CIFAR-10 / ImageNet-1K rows).

    ``common_rows=False``: each score on every row that has it (``n`` differs:
    the data-dependent proxies may cover a subsample). ``True``: only the rows
    that have every proxy, so all scores are compared on the same architectures.
    """
    published = load_published()
    frames = []
    for zoo in zoos:
        df = load_scores(zoo)
        if common_rows and "snip" in df.columns:
            df = df[df["snip"].notna()]
        if len(df) < min_rows:
            continue
        t = correlation_table(df, [s for s in ALL_SCORES if s in df.columns and df[s].notna().sum() >= 3], n_boot=n_boot, seed=seed)
        t.insert(0, "zoo", zoo)
        pub = published[(published["zoo"] == zoo) & (published["dataset"].isin(["CIFAR-10", "ImageNet-1K"]))]
        t["published spearman"] = t["score"].map(dict(zip(pub["score"], pub["spearman"])))
        t["published n"] = t["score"].map(dict(zip(pub["score"], pub["n_architectures"])))
        t["kind"] = np.where(t["score"].isin(THESIS_SCORES), "reusability prior", np.where(t["score"].isin(["params", "flops"]), "naive baseline", "zero-cost proxy"))
        frames.append(t)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def beyond_size(zoos: list[str], scores: list[str], *, control: str = "params", n_boot: int = 1000,
                min_rows: int = 10, seed: int = 0) -> pd.DataFrame:
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
    model construction. The data-dependent proxies were first timed one pass
    each (their own rows, where stored) and are now computed together in one
    shared pass (:func:`reuseprior.proxies.data_dependent_scores`), shown as
    ``data_dependent (all six, shared pass)``."""
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
            rows.append({
                "zoo": zoo, "score": "data_dependent (all six, shared pass)" if name == "data_dependent" else name,
                "median CPU s": cpu.median() if len(cpu) else math.nan,
                "p90 CPU s": cpu.quantile(0.9) if len(cpu) else math.nan,
                "n (CPU)": len(cpu),
                "median wall s": wall.median(), "n (wall)": len(wall),
            })
    return pd.DataFrame(rows)


def failure_examples(zoo: str, scores: list[str], k: int = 3) -> pd.DataFrame:
    """Where each score fails: the ``k`` architectures it ranks highest
    relative to their accuracy rank (largest over-estimation), with both ranks."""
    df = load_scores(zoo)
    rows = []
    acc_rank = df["accuracy"].rank(pct=True)
    for s in scores:
        if s not in df.columns or df[s].notna().sum() < 3:
            continue
        sr = df[s].rank(pct=True)
        gap = (sr - acc_rank).sort_values(ascending=False).dropna()
        for idx in gap.index[:k]:
            rows.append({"score": s, "arch": df.at[idx, "arch"], "accuracy": df.at[idx, "accuracy"], "score percentile": sr[idx], "accuracy percentile": acc_rank[idx]})
    return pd.DataFrame(rows)


def scatter_grid(zoo: str, scores: list[str], ncols: int = 4):
    """Accuracy against each score (log axis for positive, wide-ranging scores)."""
    import matplotlib.pyplot as plt

    df = load_scores(zoo)
    scores = [s for s in scores if s in df.columns and df[s].notna().any()]
    nrows = max(1, math.ceil(len(scores) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.8 * nrows), squeeze=False)
    for ax, s in zip(axes.flat, scores):
        x = df[s].astype(float)
        ok = np.isfinite(x)
        ax.scatter(x[ok], df.loc[ok, "accuracy"], s=8, alpha=0.6)
        pos = x[ok]
        if len(pos) and (pos > 0).all() and pos.max() / max(pos.min(), 1e-300) > 100:
            ax.set_xscale("log")
        ax.set_xlabel(s)
        ax.set_ylabel("accuracy (%)")
    for ax in list(axes.flat)[len(scores):]:
        ax.axis("off")
    fig.suptitle(f"{zoo}: accuracy vs score ({len(df)} architectures scored)")
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
        raise ValueError("no correlations to plot: score some architectures first (python -m reuseprior score-zoos ...)")
    zoos = list(dict.fromkeys(table["zoo"]))
    order = [s for s in (scores or ALL_SCORES) if s in set(table["score"])]
    fig, axes = plt.subplots(1, len(zoos), figsize=(4.2 * len(zoos), 0.32 * len(order) + 1.6), sharey=True, squeeze=False)
    colours = {True: "C0", False: "C1"}
    for ax, zoo in zip(axes[0], zoos):
        t = table[table["zoo"] == zoo].set_index("score")
        for y, score in enumerate(order):
            if score not in t.index:
                continue
            r = t.loc[score]
            c = colours[score in THESIS_SCORES]
            ax.errorbar(r["spearman"], y, xerr=[[r["spearman"] - r["spearman_lo"]], [r["spearman_hi"] - r["spearman"]]],
                        fmt="o", color=c, ms=4, capsize=2)
            if pd.notna(r.get("published spearman", np.nan)):
                ax.plot(r["published spearman"], y, "x", color="k", ms=6)
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_xlim(-1, 1)
        ax.set_title(f"{zoo} (up to {int(t['n'].max())} architectures)")
    axes[0][0].set_yticks(range(len(order)), order)
    axes[0][0].invert_yaxis()
    handles = [plt.Line2D([], [], color=colours[True], marker="o", ls="", label="reusability prior (thesis quantities)"),
               plt.Line2D([], [], color=colours[False], marker="o", ls="", label="baselines and zero-cost proxies"),
               plt.Line2D([], [], color="k", marker="x", ls="", label="published rho (see the correlation table)")]
    fig.supxlabel("Spearman rho with accuracy (dot) and 95% bootstrap interval (bar)")
    fig.legend(handles=handles, loc="lower center", ncol=3, bbox_to_anchor=(0.5, -0.06), frameon=False)
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    return fig


def live_check(zoo: str, rows: int, reuse: bool, seed: int = 0) -> pd.DataFrame:
    """Recompute stored rows of ``zoo`` and compare every stored score with the
    live value. Takes the ``rows`` cheapest rows that have the data-dependent
    proxies and the ``rows`` cheapest that have only the data-free scores
    (see ``full_every`` in :func:`reuseprior.zoo.scoring.score_zoo`); a score
    is recomputed only where the row stores it."""
    df = load_scores(zoo)
    if df.empty:
        return pd.DataFrame()
    cost_cols = [c for c in df.columns if c.endswith("_seconds")]
    df = df.assign(_cost=df[cost_cols].sum(axis=1), _full=df["snip"].notna() if "snip" in df.columns else False)
    picked = pd.concat([df[df["_full"]].nsmallest(rows, "_cost"), df[~df["_full"]].nsmallest(rows, "_cost")])
    out = []
    for _, stored in picked.iterrows():
        names = [p for p in PROXY_SCORES if p in stored.index and pd.notna(stored[p])]
        do_reuse = reuse and "PG" in stored.index and pd.notna(stored["PG"])
        # row=None: score_architecture reads the ground-truth row (image size, accuracy) from the catalogue
        live = score_architecture(zoo, stored["arch"], seed=seed, reuse=do_reuse, proxies=names)
        for s in names + (THESIS_SCORES if do_reuse else []):
            a, b = float(live[s]), float(stored[s])
            same = (a == b) or (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-9 * max(abs(a), abs(b))
            out.append({"arch": stored["arch"], "score": s, "stored": b, "live": a, "equal (rel 1e-9)": same})
    return pd.DataFrame(out)


def reading(table: pd.DataFrame, zoo: str) -> str:
    """A plain-language summary computed from the correlation table: which
    scores' Spearman intervals lie above or below those of #params and FLOPs."""
    t = table[table["zoo"] == zoo].set_index("score")
    if t.empty:
        return f"{zoo}: not enough scored architectures for a reading."
    lines = [f"{zoo}: {int(t['n'].max())} architectures scored."]
    for base in ("params", "flops"):
        if base not in t.index:
            continue
        b = t.loc[base]
        better = [s for s in t.index if s != base and t.at[s, "spearman_lo"] > b["spearman_hi"]]
        worse = [s for s in t.index if s != base and t.at[s, "spearman_hi"] < b["spearman_lo"]]
        lines.append(
            f"vs {base} (rho {b['spearman']:.3f} [{b['spearman_lo']:.3f}, {b['spearman_hi']:.3f}]): "
            f"clearly better (interval above): {', '.join(better) or 'none'}; clearly worse: {', '.join(worse) or 'none'}; "
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
