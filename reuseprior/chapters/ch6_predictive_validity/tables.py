"""Chapter 6's profiles and tables: coverage, rank correlations with accuracy, beyond size, cost, failures."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from reuseprior.baselines.registry import DATA_DEPENDENT, ZOO_PROXIES, proxy_info
from reuseprior.core import paths
from reuseprior.core.ordering import sort_rows
from reuseprior.reporting.notebook import Profile
from reuseprior.zoo.correlation import correlation_table, partial_rank_correlation
from reuseprior.zoo.scoring import (
    GRADIENT_PASS_MARKER,
    REUSE_SCORES,
    get_zoo,
    load_scores,
    published_version,
)


@dataclass(frozen=True)
class PredictiveValidityProfile(Profile):
    """Settings of the chapter 6 notebook: the zoos read, the bootstrap
    resamples of every interval, how many of each zoo's cheapest fully scored
    rows are recomputed live against the stored ones, whether those recompute
    the reusability quantities too, the fewest scored rows a correlation
    is reported on, the resamples of the declared family's intervals (at its
    corrected level, so more than ``n_boot``), and how many weights timm
    publishes at two resolutions get their PG counted at both."""

    zoos: list[str]
    n_boot: int
    live_rows: int
    live_reuse: bool
    min_rows: int
    family_boot: int
    resolution_pairs: int


#: The zoos the chapter presents, in its order (each a declared zoo: :func:`reuseprior.zoo.scoring.list_zoos`).
CHAPTER_ZOOS = ("nb201", "torchvision", "pytorchcv", "timm")

PROFILES: dict[str, PredictiveValidityProfile] = {
    # quick: CPU, about a minute; recomputes the cheapest fully scored row of each zoo live (live_rows)
    "quick": PredictiveValidityProfile(
        zoos=list(CHAPTER_ZOOS),
        n_boot=200,
        live_rows=1,
        live_reuse=True,
        min_rows=10,
        family_boot=4000,
        resolution_pairs=8,
    ),
    # full: the same analysis with more bootstrap resamples and more live rows
    "full": PredictiveValidityProfile(
        zoos=list(CHAPTER_ZOOS),
        n_boot=2000,
        live_rows=5,
        live_reuse=True,
        min_rows=10,
        family_boot=20000,
        resolution_pairs=24,
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
    "timm": "ImageNet-1K top-1 accuracy (%)",
}


def coverage(zoos: Sequence[str] = CHAPTER_ZOOS) -> pd.DataFrame:
    """Architectures scored / in the zoo, per zoo of ``zoos`` (never extrapolated): ``scored``
    have the data-free scores (#params, FLOPs, SynFlow, the reusability
    quantities), ``with data-dependent proxies`` also at least one of SNIP
    ... NASWOT (a proxy that ran out of memory or failed leaves a gap), ``with
    every proxy`` all six; ``scores version`` is the version every table of the
    zoo reads (:func:`reuseprior.zoo.scoring.published_version`: zoos being
    rescored read their previous version until the new one is complete)."""
    rows = []
    for name in zoos:
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
        share = (lambda k: k / total) if total == total and total else (lambda k: math.nan)  # noqa: ARG005, B023 - the signature of the other branch's function; called within the same iteration
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
    """The published Spearman rho of each score per zoo and dataset
    (``data/published_proxy_correlations.csv``); ``approximate`` marks a value
    its source gives only approximately ("about 0.79")."""
    return pd.read_csv(paths.DATA_DIR / "published_proxy_correlations.csv", comment="#")


def with_published(table: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    """``table`` (one row per score) with the published rho, its ``n`` and
    whether the source gives it approximately, from the rows of ``published``
    (one zoo and dataset) of the same score."""
    by_score = published.set_index("score")
    for column, source in (("spearman", "spearman"), ("n", "n_architectures"), ("approximate", "approximate")):
        table[f"published {column}"] = table["score"].map(by_score[source])
    return table


def published_rho_text(rho: float, approximate: bool) -> str:
    """A published rho with the digits its source gives: ``about 0.79`` for an
    approximate value (the source's two decimals), else three decimals."""
    return f"about {rho:.2f}" if approximate else f"{rho:.3f}"


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
        t = with_published(t, pub)
        t["kind"] = [score_kind(s) for s in t["score"]]
        frames.append(t)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def score_kind(score: str) -> str:
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
