"""What chapter 7's paired seeds can resolve, and how far its trained reading may go.

Every reading here is of one estimand with its own interval:

* :func:`resolved_pairs` / :func:`resolved_by_score` -- each pair of configurations at a matched
  budget tested by its paired seed differences, and which way each score orders the pairs the
  seeds resolve;
* :func:`convention_dependence` -- whether a score's within-budget reading rests on how the
  engine counts an SSN store (its value the same at every budget, or equal to the unshared
  model's);
* :func:`verdict_family` -- the primary test named (PG within budget), the other verdicts
  secondary, each also at a Bonferroni level;
* :func:`score_against_params` -- the per-seed difference between a score's agreement with
  training and the parameter count's;
* :func:`plateau_noise` / :func:`plateau_sensitivity` -- what the stored histories say about the
  plateau rule's threshold, and the verdicts at other thresholds.

Policy: a pair is *resolved* when the verdict rule
(:func:`reuseprior.core.verdict_policy.verdict`) finds its mean paired difference non-zero
(the 95 % t-interval excludes 0 and the exact permutation p is below 0.05); the order of a pair's
means is otherwise not read as a result. Inference is conditional on the study's 12
configurations: the configurations are not a sample of sharing schemes.
"""

from __future__ import annotations

import itertools
import math
from typing import Sequence

import numpy as np
import pandas as pd

from reuseprior.chapters.ch7_sharing_schemes.configs import PRIOR_SCORES
from reuseprior.chapters.ch7_sharing_schemes.ranking import (
    AGREEMENT_STATISTICS,
    matched_budget_groups,
    per_seed_agreement,
    ranking_agreement,
    summarize,
)
from reuseprior.core.verdict_policy import (
    ALPHA,
    NOT_COMPARABLE,
    PLATEAU_TOLERANCE_PP,
    PLATEAU_WINDOW,
    REPRODUCED,
    seeds_that_count,
    verdict,
)
from reuseprior.reporting.statistics import fewest_decisive_pairs, paired_summary, permutation_p

__all__ = [
    "PRIMARY",
    "convention_dependence",
    "plateau_noise",
    "plateau_sensitivity",
    "resolved_by_score",
    "resolved_figure_tables",
    "resolved_pairs",
    "score_against_params",
    "verdict_family",
]

#: the study's primary test: (score, statistic of :data:`AGREEMENT_STATISTICS`); every other verdict is secondary
PRIMARY: tuple[str, str] = ("PG", "kendall within budget")
#: the relative difference below which :func:`convention_dependence` takes two counted values as one
SAME_VALUE_REL = 1e-9
#: the scores a pair's order is read by: the prior's and the naive baseline
ORDER_SCORES: tuple[str, ...] = (*PRIOR_SCORES, "params")


def _order(score_difference: float, accuracy_difference: float) -> str:
    """How a score orders a pair against training: ``as trained``, ``reversed`` or ``tied`` (equal scores)."""
    if score_difference == 0:
        return "tied"
    return "as trained" if np.sign(score_difference) == np.sign(accuracy_difference) else "reversed"


def _seed_accuracies(rows: pd.DataFrame) -> pd.DataFrame:
    """Each configuration's test top-1 (%) by seed: configurations as rows, seeds as columns."""
    return rows.pivot_table(index="config", columns="seed", values="test_top1", aggfunc="mean")


def resolved_pairs(rows: pd.DataFrame, scores: Sequence[str] = ORDER_SCORES, *, alpha: float = ALPHA) -> pd.DataFrame:
    """Every pair of configurations at a matched budget (:func:`matched_budget_groups`), ``trained
    better`` the one with the higher mean test top-1: the paired differences over the seeds both
    hold (:func:`~reuseprior.reporting.statistics.paired_summary`: mean, t-interval at ``1 - alpha`` (95 %), exact
    permutation p, how many seeds agree in sign), ``resolved`` (the rule of the module docstring) and,
    per score, whether it orders the pair ``as trained``, ``reversed`` or ``tied`` (``<score> order``)."""
    summary = summarize(rows).set_index("config")
    groups = matched_budget_groups(summary.reset_index())
    per_seed = _seed_accuracies(rows)
    out = []
    for a, b in itertools.combinations(summary.index, 2):
        if groups[a] != groups[b]:
            continue
        better, other = (a, b) if summary.at[a, "test_top1_mean"] >= summary.at[b, "test_top1_mean"] else (b, a)
        differences = (per_seed.loc[better] - per_seed.loc[other]).dropna().to_numpy(dtype=float)
        paired = paired_summary(differences, confidence=1 - alpha)
        row = {
            "group": groups[a],
            "trained better": better,
            "other": other,
            "mean paired difference (pp)": paired["mean"],
            "t low": paired["t low"],
            "t high": paired["t high"],
            "permutation p": paired["permutation p"],
            "seeds agreeing": f"{paired['wins']} of {paired['pairs']}",
            "resolved": verdict(paired, "greater", alpha=alpha) == REPRODUCED,
        }
        for score in scores:
            row[f"{score} order"] = _order(summary.at[better, score] - summary.at[other, score], 1.0)
        out.append(row)
    return pd.DataFrame(out)


def resolved_figure_tables(
    rows: pd.DataFrame, pairs: pd.DataFrame, *, study: str = "trained study"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The pairs the seeds resolve (``pairs``: :func:`resolved_pairs`, its ``resolved`` rows, in its
    order) as the summary and per-seed tables of
    :func:`reuseprior.reporting.paired_figures.paired_differences_figure`: one panel per pair (``trained
    better minus other``, test top-1 in percentage points), the per-seed differences of ``rows`` and the
    pair's interval, labelled ``study``; no thesis difference (the thesis compares no sharing schemes).
    Returns ``(summary, per_seed)``."""
    resolved = pairs[pairs["resolved"].astype(bool)].reset_index(drop=True)
    panels = resolved["trained better"] + " minus " + resolved["other"]
    summary = pd.DataFrame(
        {
            "panel": panels,
            "study": study,
            "mean": resolved["mean paired difference (pp)"],
            "low": resolved["t low"],
            "high": resolved["t high"],
            "verdict": "resolved",
            "thesis": np.nan,
        }
    )
    per_seed = _seed_accuracies(rows)
    seeds = []
    for panel, better, other in zip(panels, resolved["trained better"], resolved["other"]):
        differences = (per_seed.loc[better] - per_seed.loc[other]).dropna().sort_index()
        seeds += [
            {"panel": panel, "study": study, "seed": int(s), "difference": float(d)} for s, d in differences.items()
        ]
    return summary, pd.DataFrame(seeds, columns=["panel", "study", "seed", "difference"])


def _family(config: str) -> str:
    """A configuration's label without its budget (``SSN-RR @ scope`` -> ``SSN-RR``)."""
    return config.split(" @ ")[0]


def resolved_by_score(pairs: pd.DataFrame, scores: Sequence[str] = ORDER_SCORES) -> pd.DataFrame:
    """Per score, of the pairs of :func:`resolved_pairs`: how many the seeds resolve, how many of those
    the score orders as trained, reversed or tied, the pairs left unresolved, and the configuration
    family (label without its budget) that every resolved pair involves, if one does."""
    resolved = pairs[pairs["resolved"]]
    involved = [{_family(r["trained better"]), _family(r["other"])} for _, r in resolved.iterrows()]
    common = ", ".join(sorted(set.intersection(*involved))) if involved else ""
    out = []
    for score in scores:
        orders = resolved[f"{score} order"].value_counts()
        out.append(
            {
                "score": score,
                "pairs": len(pairs),
                "resolved": len(resolved),
                "as trained": int(orders.get("as trained", 0)),
                "reversed": int(orders.get("reversed", 0)),
                "tied": int(orders.get("tied", 0)),
                "unresolved": len(pairs) - len(resolved),
                "every resolved pair involves": common,
            }
        )
    return pd.DataFrame(out)


def convention_dependence(rows: pd.DataFrame, scores: Sequence[str] = PRIOR_SCORES) -> pd.DataFrame:
    """Per score and SSN generator of the study (its configurations' ``options``): the score's values
    at the generator's budgets, whether they are all equal (the budget does not move it), whether they
    equal the unshared model's (the store counts as the unshared model does; both to a relative
    :data:`SAME_VALUE_REL`, float64 rounding of the engine's sums), and
    ``depends on the SSN counting convention`` for a score where either holds for some generator: its
    within-budget order of an SSN configuration is then set by how the engine counts the store's
    mixing coefficients and copies (section "Why SSN's H ..." of the notebook), not by the budget."""
    summary = summarize(rows)
    options = rows.groupby("config", sort=False)["options"].first()
    summary["options"] = summary["config"].map(options)
    unshared = summary[summary["scheme"] == "none"]
    ssn = summary[summary["scheme"] == "ssn"]
    out = []
    for score in scores:
        for option, members in ssn.groupby("options", sort=False):
            values = members[score].to_numpy(dtype=float)
            same = bool(len(values) > 1 and np.allclose(values, values[0], rtol=SAME_VALUE_REL, atol=0))
            reference = float(unshared[score].iloc[0]) if len(unshared) else math.nan
            equal = bool(np.allclose(values, reference, rtol=SAME_VALUE_REL, atol=0))
            out.append(
                {
                    "score": score,
                    "SSN configurations": ", ".join(members["config"]),
                    "options": option,
                    "budgets": len(values),
                    "min": float(values.min()),
                    "max": float(values.max()),
                    "same at every budget": same,
                    "equal to the unshared model": equal,
                }
            )
    table = pd.DataFrame(out)
    flagged = table.groupby("score")[["same at every budget", "equal to the unshared model"]].any().any(axis=1)
    table["depends on the SSN counting convention"] = table["score"].map(flagged)
    return table


def verdict_family(
    rows: pd.DataFrame,
    scores: Sequence[str] = PRIOR_SCORES,
    *,
    primary: tuple[str, str] = PRIMARY,
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """Every verdict of :func:`~reuseprior.chapters.ch7_sharing_schemes.ranking.ranking_agreement`
    (score x statistic: the mean of the per-seed statistic, its 95 % t-interval, permutation p and the
    rule's verdict on agreement with training) with its ``role``: ``primary`` (the one test the study
    is read by) or ``secondary``. The secondaries are also judged at the Bonferroni level ``alpha / m``
    (``m`` secondaries; the interval at ``1 - alpha / m``, ``t at its level low``/``high``; the
    primary's is its 95 % interval): ``verdict at its level``. ``smallest p``:
    the least exact permutation p the seeds allow (``2 / 2**n``): where it is not below the
    Bonferroni level, no secondary can be anything but undetermined there."""
    per_seed, _, seeds, _ = per_seed_agreement(rows, scores)
    tests = [(name, k, label) for name in per_seed for k, label in enumerate(AGREEMENT_STATISTICS)]
    secondary_level = alpha / max(len(tests) - 1, 1)
    smallest = permutation_p(np.ones(len(seeds)))
    out = []
    for name, k, label in tests:
        values = per_seed[name][:, k]
        role = "primary" if (name, label) == primary else "secondary"
        level = alpha if role == "primary" else secondary_level
        plain = paired_summary(values, confidence=1 - alpha)
        at_level = paired_summary(values, confidence=1 - level)
        out.append(
            {
                "score": name,
                "statistic": label,
                "role": role,
                "mean of per-seed": plain["mean"],
                "t low": plain["t low"],
                "t high": plain["t high"],
                "permutation p": plain["permutation p"],
                "verdict": verdict(plain, "greater", alpha=alpha),
                "level": level,
                "t at its level low": at_level["t low"],
                "t at its level high": at_level["t high"],
                "smallest p": smallest,
                "verdict at its level": verdict(at_level, "greater", alpha=level),
            }
        )
    return pd.DataFrame(out)


def score_against_params(
    rows: pd.DataFrame, scores: Sequence[str] = PRIOR_SCORES, *, alpha: float = ALPHA
) -> pd.DataFrame:
    """Per score and statistic: the per-seed difference ``score's statistic - params'`` (both on the
    same seed's accuracies, so paired), its mean, 95 % t-interval and exact permutation p, and the
    rule's verdict on the claim that the score agrees with training more than the parameter count
    does (``"greater"``; contradicted where it agrees significantly less). These ``m`` comparisons
    stand outside :func:`verdict_family`'s primary and secondaries, so each is also judged at its own
    Bonferroni level ``alpha / m`` (``level``; the interval at ``1 - alpha / m``): ``verdict at its
    level``."""
    per_seed, _, _, _ = per_seed_agreement(rows, scores)
    tests = [(name, k, label) for name in per_seed if name != "params" for k, label in enumerate(AGREEMENT_STATISTICS)]
    level = alpha / max(len(tests), 1)
    out = []
    for name, k, label in tests:
        differences = per_seed[name][:, k] - per_seed["params"][:, k]
        summary = paired_summary(differences, confidence=1 - alpha)
        at_level = paired_summary(differences, confidence=1 - level)
        out.append(
            {
                "score": name,
                "statistic": label,
                "pairs": summary["pairs"],
                "score - params": summary["mean"],
                "t low": summary["t low"],
                "t high": summary["t high"],
                "permutation p": summary["permutation p"],
                "seeds score ahead": summary["wins"],
                "seeds params ahead": summary["losses"],
                "verdict (score agrees more)": verdict(summary, "greater", alpha=alpha),
                "level": level,
                "verdict at its level": verdict(at_level, "greater", alpha=level),
            }
        )
    return pd.DataFrame(out)


def plateau_noise(criteria: pd.DataFrame, rows: pd.DataFrame, window: int = PLATEAU_WINDOW) -> pd.DataFrame:
    """What the plateau threshold was argued from, beside what the stored runs show, in points:

    - ``independent binomial SD of a gain``: the SD of the difference of two ``window``-epoch means
      of a validation accuracy at the runs' mean validation top-1 on ``val_images`` images, if every
      epoch were scored on new images (``sqrt(2 / window * p (1 - p) / n)``), the first argument;
    - ``SD of the runs' gains``: the standard deviation over the stored runs of their last-window
      gain (:func:`~reuseprior.chapters.ch7_sharing_schemes.criteria.run_criteria_table`). Every
      epoch is scored on the same images, so the noise of a gain is paired (only the images whose
      prediction changes count) and smaller than the first; per-image predictions are not stored, so
      it cannot be computed, but it is at most this SD, which also holds the runs' real differences."""
    p = float(rows["val_top1"].mean()) / 100
    n = int(rows["val_images"].iloc[0])
    gains = criteria["val gain last 3 epochs (pp)"].to_numpy(dtype=float)
    return pd.DataFrame(
        [
            {"quantity": "mean validation top-1 of the runs (%)", "value": 100 * p},
            {"quantity": "validation images", "value": n},
            {
                "quantity": "independent binomial SD of a gain (pp)",
                "value": 100 * math.sqrt(2 / window * p * (1 - p) / n),
            },
            {"quantity": "mean of the runs' gains (pp)", "value": float(np.mean(gains))},
            {"quantity": "SD of the runs' gains (pp)", "value": float(np.std(gains, ddof=1))},
            {"quantity": "largest gain (pp)", "value": float(np.max(gains))},
        ]
    )


def plateau_sensitivity(
    rows: pd.DataFrame,
    criteria: pd.DataFrame,
    seeds: Sequence[int],
    thresholds: Sequence[float] = (1.0, 1.5, 2.0, 2.5, 3.0),
    *,
    min_seeds: int | None = None,
) -> pd.DataFrame:
    """The verdicts at other plateau thresholds: per threshold (points; the stated one is
    :data:`~reuseprior.core.verdict_policy.PLATEAU_TOLERANCE_PP`), the runs whose last-window gain
    reaches it, the paired ``seeds`` whose runs all count with the fit and floor criteria unchanged
    (:func:`~reuseprior.core.verdict_policy.seeds_that_count`), the primary estimate (:data:`PRIMARY`)
    with its 95 % t-interval and verdict, and how many of the other verdicts differ from those at
    the stated threshold (NaN where fewer than ``min_seeds`` seeds count: no verdict; default
    :func:`~reuseprior.reporting.statistics.fewest_decisive_pairs`)."""
    min_seeds = fewest_decisive_pairs() if min_seeds is None else min_seeds
    gain = criteria["val gain last 3 epochs (pp)"]
    judged = {}
    for t in sorted({*thresholds, PLATEAU_TOLERANCE_PP}):
        counts = (gain < t) & criteria["fits training set"] & criteria["above floor"]
        kept, _ = seeds_that_count(criteria.assign(counts=counts), seeds)
        agreement = ranking_agreement(rows[rows["seed"].isin(kept)]) if len(kept) >= min_seeds else None
        judged[t] = (int((gain >= t).sum()), kept, agreement)
    stated = judged[PLATEAU_TOLERANCE_PP][2]
    return pd.DataFrame([_plateau_row(t, *judged[t], stated) for t in judged])


def _plateau_row(
    threshold: float, flagged: int, kept: list[int], agreement: pd.DataFrame | None, stated: pd.DataFrame | None
) -> dict[str, object]:
    """One row of :func:`plateau_sensitivity`: the primary estimate and how many verdicts differ from
    the ``stated`` threshold's (NaN and *not comparable* without an ``agreement``)."""
    score, label = PRIMARY
    row: dict[str, object] = {
        "plateau threshold (pp)": threshold,
        "stated rule": threshold == PLATEAU_TOLERANCE_PP,
        "runs not plateaued": flagged,
        "seeds that count": len(kept),
        f"{score} within budget": math.nan,
        f"{score} within budget t low": math.nan,
        f"{score} within budget t high": math.nan,
        "primary verdict": NOT_COMPARABLE,
        "verdicts differing from the stated rule's": math.nan,
    }
    if agreement is None:
        return row
    first = agreement.set_index("score").loc[score]
    columns = [f"{s} verdict" for s in AGREEMENT_STATISTICS]
    differing = (
        int((agreement[columns].to_numpy() != stated[columns].to_numpy()).sum()) if stated is not None else math.nan
    )
    row.update(
        {
            f"{score} within budget": first[label],
            f"{score} within budget t low": first[f"{label} t low"],
            f"{score} within budget t high": first[f"{label} t high"],
            "primary verdict": first[f"{label} verdict"],
            "verdicts differing from the stated rule's": differing,
        }
    )
    return row
