"""Chapter 6 on timm's zoo: the stored scores against published ImageNet-1K top-1, on the headline subset
(ImageNet-1K-only weights), on all architectures and by family, beyond #params and FLOPs, and the ceiling.

Every table is computed from the stored rows of ``data/zoo_scores_v<N>_timm.csv`` (the version read:
:func:`reuseprior.zoo.scoring.published_version`), whatever part of the zoo is stored, and carries its
count ``n``. The subsets, the row chosen per architecture and the families are those of
:mod:`reuseprior.zoo.timm_zoo` (its catalogue is joined to the stored rows by architecture).
"""

from __future__ import annotations

import pandas as pd

from reuseprior.zoo.correlation import correlation_table, partial_rank_correlation
from reuseprior.zoo.scoring import load_scores
from reuseprior.zoo.scoring.scores import BUILD_ERROR, error_messages, missing_score_reasons
from reuseprior.zoo.timm_zoo import FAMILIES, load_timm_results, load_timm_zoo

__all__ = [
    "EVERY",
    "HEADLINE",
    "TIMM_SCORES",
    "headline_markdown",
    "stored_count",
    "timm_beyond_size",
    "timm_ceiling",
    "timm_correlations",
    "timm_missing_scores",
    "timm_refusals",
    "timm_rows",
    "timm_subsets",
]

#: The scores the timm tables report, in order: the naive baselines, the zero-cost proxies, the thesis quantities.
TIMM_SCORES = [
    "params",
    "flops",
    "synflow",
    "snip",
    "grasp",
    "fisher",
    "grad_norm",
    "jacob_cov",
    "naswot",
    "PG",
    "PG_prime",
    "expected_spread",
    "entropy",
    "total_surprisal",
    "PE",
]

#: the headline subset and the full set, by their names in the tables
HEADLINE, EVERY = "ImageNet-1K only", "all"


def timm_rows(scores: pd.DataFrame | None = None) -> pd.DataFrame:
    """The stored rows (``scores``: default :func:`load_scores` of ``timm``) with the catalogue's
    ``in1k_only``, ``family``, ``tag``, ``img_size`` and ``pretrain`` of each architecture."""
    scores = load_scores("timm") if scores is None else scores
    columns = ["arch", "in1k_only", "family", "tag", "img_size", "pretrain", "weights_rows"]
    return scores.merge(load_timm_zoo()[columns], on="arch", how="left", validate="one_to_one")


def stored_count(rows: pd.DataFrame) -> str:
    """How much of the zoo ``rows`` (:func:`timm_rows`) hold, in words: of all and of the headline subset."""
    zoo = load_timm_zoo()
    return (
        f"timm: {len(rows)} of {len(zoo)} architectures stored, {int(rows['in1k_only'].sum())} of the "
        f"{int(zoo['in1k_only'].sum())} of the ImageNet-1K-only subset"
    )


def timm_subsets(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The rows of the headline subset, of all architectures, and of each family (within all)."""
    subsets = {HEADLINE: rows[rows["in1k_only"].astype(bool)], EVERY: rows}
    subsets |= {f"{EVERY}, {name}": rows[rows["family"] == name] for name in FAMILIES}
    return subsets


def timm_correlations(rows: pd.DataFrame, *, n_boot: int = 1000, min_rows: int = 10, seed: int = 0) -> pd.DataFrame:
    """Spearman and Kendall (percentile bootstrap 95 % intervals, :func:`correlation_table`) of every
    score of :data:`TIMM_SCORES` with top-1, per subset of :func:`timm_subsets` with at least
    ``min_rows`` rows; each score on the rows that have it (its ``n``)."""
    frames = []
    for subset, part in timm_subsets(rows).items():
        if len(part) < min_rows:
            continue
        scores = [s for s in TIMM_SCORES if s in part.columns and part[s].notna().sum() >= 3]
        table = correlation_table(part, scores, n_boot=n_boot, seed=seed)
        table.insert(0, "subset", subset)
        frames.append(table)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def timm_beyond_size(
    rows: pd.DataFrame,
    *,
    controls: tuple[str, ...] = ("params", "flops"),
    n_boot: int = 1000,
    min_rows: int = 10,
    seed: int = 0,
) -> pd.DataFrame:
    """Partial Spearman correlation of each score with top-1 given #params and given FLOPs
    (:func:`partial_rank_correlation`, with its bootstrap interval), on the headline subset and on all."""
    out = []
    for subset, part in list(timm_subsets(rows).items())[:2]:
        for control in controls:
            for score in TIMM_SCORES:
                if score in controls or score not in part.columns or part[score].notna().sum() < min_rows:
                    continue
                found = partial_rank_correlation(part[score], part["accuracy"], part[control], n_boot=n_boot, seed=seed)
                out.append({"subset": subset, "score": score, "given": control, **found})
    return pd.DataFrame(out)


def timm_ceiling() -> pd.DataFrame:
    """The spread of published top-1 among the weights of one architecture (every row of the results
    file: its tags and image sizes), which no score of the architecture alone can explain: per
    architecture with at least two rows, ``rows``, ``spread`` (max - min top-1, points) and the
    same among its ImageNet-1K-only rows (``spread_in1k_only``, NaN with fewer than two)."""
    results = load_timm_results()

    def spread(top1: pd.Series) -> float:
        return float(top1.max() - top1.min()) if len(top1) >= 2 else float("nan")

    groups = results.groupby("arch")
    table = pd.DataFrame(
        {
            "rows": groups.size(),
            "spread": groups["top1"].agg(spread),
            "spread_in1k_only": results[results["in1k_only"]].groupby("arch")["top1"].agg(spread),
        }
    )
    return table[table["rows"] >= 2].reset_index()


def timm_refusals(rows: pd.DataFrame) -> pd.DataFrame:
    """The stored architectures without a thesis quantity, each with its one-line reason: refused
    before any score (``errors["build"]``: no constructor without weights, too big for the memory),
    or not counted (``errors["reuse"]``: the op and the reason of the counting engine)."""
    out = []
    for arch, cell in rows[["arch", "errors"]].itertuples(index=False):
        errors = error_messages(cell)
        for key in (BUILD_ERROR, "reuse"):
            if key in errors:
                out.append({"arch": arch, "stage": key, "reason": errors[key].splitlines()[0]})
    return pd.DataFrame(out, columns=["arch", "stage", "reason"])


def timm_missing_scores(rows: pd.DataFrame) -> pd.DataFrame:
    """Why each score of :data:`TIMM_SCORES` is missing on the stored ``rows`` where it is (each score's ``n``
    in the correlation tables is the stored rows less these): :func:`missing_score_reasons`, per score and
    reason, with a count and the first architecture."""
    return missing_score_reasons(rows, [s for s in TIMM_SCORES if s in rows.columns])


def headline_markdown(table: pd.DataFrame, scores: list[str]) -> str:
    """The README's row material: ``score: rho [lo, hi] (n)`` on the headline subset and on all."""
    lines = []
    for subset in (HEADLINE, EVERY):
        part = table[(table["subset"] == subset) & table["score"].isin(scores)].set_index("score")
        cells = [
            f"{s} {r.spearman:.2f} [{r.spearman_lo:.2f}, {r.spearman_hi:.2f}] (n={r.n})"
            for s, r in part.reindex([s for s in scores if s in part.index]).iterrows()
        ]
        lines.append(f"{subset}: " + "; ".join(cells))
    return "\n".join(lines)
