"""Chapter 6's zoo comparisons as estimands: the resolution held fixed, and a declared family of
differences of rank correlations, each with its paired bootstrap interval and a computed verdict.

**Resolution.** timm's architectures are evaluated at their native resolutions (160 to 512 px), and
both the thesis quantities and top-1 grow with the input, so a rho over the pooled zoo mixes
ranking within a resolution with ranking across resolutions. :func:`timm_by_resolution` gives each
score's rho per native-resolution stratum (its ``n`` and interval), the pooled within-stratum rho
(:func:`reuseprior.zoo.correlation.stratified_rank_correlation`: the strata's rho weighted by their
rows) and the pooled (mixed-resolution) rho beside them. :func:`two_resolution_weights` lists the
weights timm publishes at two resolutions: how much top-1 moves between them.

**The declared family** (:data:`TIMM_FAMILY`): the claim of each estimand is that the reusability
prior's score ranks published top-1 better than a size baseline (``rho(score) - rho(baseline) >
0``); on timm's ImageNet-1K-only subset PG, P'G and S against #params and FLOPs, pooled and within
resolution, and PG against #params within each architecture family. Each difference is computed on
the rows where both scores and top-1 are finite, with a paired percentile bootstrap interval (the
same resamples for both scores; within strata for the within-resolution ones) at the family's
Bonferroni level ``ALPHA / m`` (:func:`family_level`), and judged by
:func:`reuseprior.core.verdict_policy.interval_verdict`. **Exploratory**: timm's zoo had been read
(issue 72 quotes its rho) before the family was declared, so its verdicts describe this zoo; the
same pooled differences on the torchvision, pytorchcv and NAS-Bench-201 zoos, which the family's
choice did not look at, are the replication (:data:`REPLICATION_ZOOS`), judged at the same level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from reuseprior.chapters.ch6_predictive_validity.timm import HEADLINE, timm_rows, timm_subsets
from reuseprior.core.verdict_policy import ALPHA, interval_verdict
from reuseprior.models.timm_models import build_timm
from reuseprior.reporting.findings import PairedFinding
from reuseprior.zoo.correlation import (
    bootstrap_rank_correlation,
    rank_correlation_difference,
    stratified_rank_correlation,
)
from reuseprior.zoo.scoring import load_scores
from reuseprior.zoo.scoring.scores import reusability_scores
from reuseprior.zoo.timm_zoo import load_timm_results

__all__ = [
    "FAMILY_SECTION",
    "FAMILY_TABLE",
    "REPLICATION_ZOOS",
    "RESOLUTION_SCORES",
    "TIMM_FAMILY",
    "Estimand",
    "declared_family",
    "family_estimands",
    "family_findings",
    "family_level",
    "timm_by_resolution",
    "two_resolution_pg",
    "two_resolution_weights",
]

#: the scores read with the resolution held fixed
RESOLUTION_SCORES = ("PG", "PG_prime", "total_surprisal", "params", "flops", "synflow")
#: how the tables name a score
LABELS = {
    "PG": "PG",
    "PG_prime": "P'G",
    "total_surprisal": "S",
    "params": "#params",
    "flops": "FLOPs",
    "synflow": "SynFlow",
}
#: the reading of a rho over all rows, and over each stratum's rows pooled
POOLED, WITHIN = "pooled (mixed resolution)", "within resolution"
#: the fewest rows a resolution stratum needs to enter a pooled within-stratum rho
MIN_STRATUM = 10


@dataclass(frozen=True)
class Estimand:
    """``rho(score) - rho(baseline)`` with published accuracy on ``subset`` of ``zoo`` (``family``: one
    architecture family of it, or all), pooled or within resolution; the claim is that it is > 0."""

    zoo: str
    subset: str
    score: str
    baseline: str
    within_resolution: bool = False
    family: str = "all"

    @property
    def reading(self) -> str:
        """Within resolution, or pooled (over timm's mixed resolutions; a replication zoo's rows as stored)."""
        return WITHIN if self.within_resolution else POOLED if self.zoo == "timm" else "pooled"

    @property
    def key(self) -> str:
        """A short key of the estimand (letters, digits, ``/``, ``-`` and ``_``), the one the findings and
        the docs select its row by: ``zoo/subset/family/reading/score-baseline``."""
        subset = "in1k" if self.subset == HEADLINE else "all"
        reading = "within" if self.within_resolution else "pooled"
        return f"{self.zoo}/{subset}/{self.family}/{reading}/{self.score}-{self.baseline}"

    @property
    def name(self) -> str:
        """The estimand's key in the tables: the difference, the subset and the reading."""
        family = "" if self.family == "all" else f", {self.family}"
        reading = self.reading
        return (
            f"rho({LABELS[self.score]}) - rho({LABELS[self.baseline]}) | {self.zoo}, {self.subset}{family} | {reading}"
        )


_PAIRS = (("PG", "params"), ("PG", "flops"), ("total_surprisal", "flops"), ("PG_prime", "flops"))
#: timm's declared family (module docstring): the four differences pooled and within resolution on the
#: ImageNet-1K-only subset, and PG - #params within each of the three large architecture families
TIMM_FAMILY: tuple[Estimand, ...] = (
    *(Estimand("timm", HEADLINE, s, b) for s, b in _PAIRS),
    *(Estimand("timm", HEADLINE, s, b, within_resolution=True) for s, b in _PAIRS),
    *(Estimand("timm", HEADLINE, "PG", "params", family=f) for f in ("convolutional", "transformer", "hybrid")),
)
#: the zoos the family's pooled differences are replicated on (each at one evaluation setting per model)
REPLICATION_ZOOS = ("torchvision", "pytorchcv", "nb201")
#: the table the notebook writes the family to, and the section that shows it (the findings read both)
FAMILY_TABLE, FAMILY_SECTION = "zoo_rank_differences.csv", "The declared family: differences of rank correlations"


def family_estimands(zoos: tuple[str, ...] = REPLICATION_ZOOS) -> list[tuple[Estimand, str]]:
    """Every estimand the chapter reads, with its role: timm's family (exploratory), then its pooled
    differences on each of ``zoos`` (replication)."""
    replicated = [e for e in TIMM_FAMILY if not e.within_resolution and e.family == "all"]
    return [(e, "exploratory") for e in TIMM_FAMILY] + [
        (Estimand(z, "all", e.score, e.baseline), "replication") for z in zoos for e in replicated
    ]


def family_findings(table: str = FAMILY_TABLE, section: str = FAMILY_SECTION) -> tuple[PairedFinding, ...]:
    """The findings of :func:`family_estimands`, each read from its row of ``table``
    (:func:`declared_family`): the claim that the difference is > 0, its subset and reading."""
    return tuple(
        PairedFinding(
            f"{e.name}: > 0 ({role})",
            section,
            table,
            {"key": e.key},
            estimate="difference",
            unit="in rho",
            low="low",
            high="high",
            seeds=None,
            level="family level",
            interval="paired bootstrap interval",
            digits=3,
            count="n",
        )
        for e, role in family_estimands()
    )


def family_level(alpha: float = ALPHA) -> float:
    """The level of every interval and verdict of the family: Bonferroni, ``alpha`` over its size."""
    return alpha / len(TIMM_FAMILY)


def timm_by_resolution(rows: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Each of :data:`RESOLUTION_SCORES` against top-1 on timm's ImageNet-1K-only rows (:func:`timm_rows`):
    per native-resolution stratum (``img_size``, strata of at least :data:`MIN_STRATUM` rows), pooled
    within them, and pooled over all rows (mixed resolutions); each with ``n`` and its 95 % percentile
    bootstrap interval. Also the resolution itself against top-1 (``img_size``)."""
    part = timm_subsets(rows)[HEADLINE]
    out = []
    sizes = part["img_size"].value_counts()
    for score in (*RESOLUTION_SCORES, "img_size"):
        if score not in part.columns:
            continue
        label = LABELS.get(score, "resolution (px)")
        pooled = bootstrap_rank_correlation(part[score], part["accuracy"], n_boot=n_boot, seed=seed)
        out.append(
            _rho_row(label, POOLED, pooled["n"], pooled["spearman"], pooled["spearman_lo"], pooled["spearman_hi"])
        )
        if score == "img_size":
            continue
        within = stratified_rank_correlation(
            part, score, strata="img_size", min_rows=MIN_STRATUM, n_boot=n_boot, seed=seed
        )
        out.append(_rho_row(label, WITHIN, within["n"], within["rho"], within["rho_lo"], within["rho_hi"]))
        for size in sorted(int(s) for s in sizes[sizes >= MIN_STRATUM].index):
            stratum = part[part["img_size"] == size]
            found = bootstrap_rank_correlation(stratum[score], stratum["accuracy"], n_boot=n_boot, seed=seed)
            out.append(
                _rho_row(label, f"{size} px", found["n"], found["spearman"], found["spearman_lo"], found["spearman_hi"])
            )
    return pd.DataFrame(out)


def _rho_row(score: str, rows: str, n: int, rho: float, low: float, high: float) -> dict[str, object]:
    return {"subset": HEADLINE, "score": score, "rows": rows, "n": int(n), "rho": rho, "rho_lo": low, "rho_hi": high}


def two_resolution_weights() -> pd.DataFrame:
    """The weights (``<architecture>.<tag>``) timm publishes at two or more image sizes: per weights, the
    smallest and largest size, their top-1 and its change, and whether top-1 rises with the input."""
    results = load_timm_results()
    groups = results.groupby("model")
    multi = groups.filter(lambda g: g["img_size"].nunique() >= 2).sort_values(["model", "img_size"])
    out = []
    for model, group in multi.groupby("model", sort=True):
        low, high = group.iloc[0], group.iloc[-1]
        out.append(
            {
                "weights": model,
                "in1k_only": bool(low["in1k_only"]),
                "params (M)": float(str(low["param_count"]).replace(",", "")),
                "small_px": int(low["img_size"]),
                "large_px": int(high["img_size"]),
                "top1_small": float(low["top1"]),
                "top1_large": float(high["top1"]),
                "top1_change": float(high["top1"] - low["top1"]),
            }
        )
    return pd.DataFrame(out)


def two_resolution_pg(weights: pd.DataFrame, count: int) -> pd.DataFrame:
    """PG of the ``count`` smallest ImageNet-1K-only weights of ``weights`` (:func:`two_resolution_weights`)
    at both published sizes (``reuseprior.counting.analyze`` of the model built without weights at each),
    beside their top-1: whether PG's change between the sizes has the sign of top-1's."""
    chosen = weights[weights["in1k_only"]].sort_values(["params (M)", "weights"]).head(count)
    out = []
    for row in chosen.itertuples(index=False):
        row = row._asdict()
        pg = []
        for size in (row["small_px"], row["large_px"]):
            model = build_timm(row["weights"], image_size=int(size)).eval()
            pg.append(reusability_scores(model, torch.zeros(1, 3, int(size), int(size)))["PG"])
        out.append(
            {
                "weights": row["weights"],
                "sizes (px)": f"{row['small_px']} -> {row['large_px']}",
                "top1 change": row["top1_change"],
                "PG small": pg[0],
                "PG large": pg[1],
                "PG change": pg[1] - pg[0],
                "same sign": bool(np.sign(pg[1] - pg[0]) == np.sign(row["top1_change"])),
            }
        )
    return pd.DataFrame(out)


def _subsets(zoo: str, timm: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    """The rows each subset of ``zoo`` names: timm's (:func:`timm_subsets` of ``timm``, default its stored
    rows), or a replication zoo's stored rows as ``all``."""
    if zoo == "timm":
        return timm_subsets(timm_rows() if timm is None else timm)
    return {"all": load_scores(zoo)}


def declared_family(
    *, n_boot: int = 4000, seed: int = 0, timm: pd.DataFrame | None = None, zoos: tuple[str, ...] = REPLICATION_ZOOS
) -> pd.DataFrame:
    """Every estimand of :data:`TIMM_FAMILY` on timm (``timm``: its rows, default :func:`timm_rows`), then
    its pooled differences on each of ``zoos`` (the replication), each at :func:`family_level`: ``role``
    (exploratory or replication), ``key`` and ``estimand`` (:attr:`Estimand.key`, :attr:`Estimand.name`),
    its parts, ``n``, ``strata``, both rho, ``difference`` with ``low``/``high``, ``family level`` and
    ``verdict``."""
    level = family_level()
    estimands = family_estimands(zoos)
    frames: dict[str, dict[str, pd.DataFrame]] = {}
    out = []
    for estimand, role in estimands:
        if estimand.zoo not in frames:
            frames[estimand.zoo] = _subsets(estimand.zoo, timm)
        part = frames[estimand.zoo][estimand.subset]
        if estimand.family != "all":
            part = part[part["family"] == estimand.family]
        found = rank_correlation_difference(
            part,
            estimand.score,
            estimand.baseline,
            strata="img_size" if estimand.within_resolution else None,
            min_rows=MIN_STRATUM,
            n_boot=n_boot,
            level=level,
            seed=seed,
        )
        out.append(
            {
                "role": role,
                "key": estimand.key,
                "estimand": estimand.name,
                "zoo": estimand.zoo,
                "subset": estimand.subset,
                "family": estimand.family,
                "reading": estimand.reading,
                "score": LABELS[estimand.score],
                "baseline": LABELS[estimand.baseline],
                **{k: found[k] for k in ("n", "strata", "rho_score", "rho_baseline", "difference", "low", "high")},
                "family level": level,
                "verdict": interval_verdict(found["low"], found["high"], "greater"),
            }
        )
    table = pd.DataFrame(out)
    table["n"] = table["n"].astype(int)
    return table.replace({np.inf: np.nan})
