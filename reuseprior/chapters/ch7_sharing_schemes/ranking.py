"""Chapter 7's ranking: the prior's ranking of the stored runs against the trained one, and the live check."""

from __future__ import annotations

import itertools
import math
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from reuseprior.chapters.ch7_sharing_schemes.configs import PRIOR_SCORES
from reuseprior.core.ordering import sort_rows
from reuseprior.core.study import StudySpec
from reuseprior.core.verdict_policy import CONFIDENCE, verdict
from reuseprior.reporting.statistics import paired_summary

#: the column of :func:`disagreements` holding the verdict on the prior's order
PRIOR_ORDER_VERDICT = "verdict on the prior's order"


def study_rows(spec: StudySpec) -> pd.DataFrame:
    """The stored rows of ``spec`` (its plan), in its configuration order."""
    df = spec.rows().copy()
    order = {c.label: i for i, c in enumerate(spec.design.configs)}
    df["_order"] = df["config"].map(order)
    return df.sort_values(["_order", "seed"], kind="stable").drop(columns="_order").reset_index(drop=True)


def summarize(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration: scheme, budget, parameters (and fraction of the
    unshared model), FLOPs, the prior's quantities, number of seeds, and the test
    top-1 accuracy's mean, standard deviation, minimum and maximum over seeds."""
    keys = ["config", "scheme", "budget"]
    agg = rows.groupby(keys, sort=False).agg(
        params=("params", "mean"),
        params_fraction=("params_fraction", "mean"),
        flops=("flops", "mean"),
        **{k: (k, "mean") for k in PRIOR_SCORES},
        seeds=("seed", "nunique"),
        test_top1_mean=("test_top1", "mean"),
        test_top1_std=("test_top1", "std"),
        test_top1_min=("test_top1", "min"),
        test_top1_max=("test_top1", "max"),
        val_top1_mean=("val_top1", "mean"),
    )
    return agg.reset_index()


def _accuracy_matrix(rows: pd.DataFrame) -> tuple[list[str], list[int], np.ndarray]:
    """(configs, seeds, accuracy[config, seed]) of the test top-1; NaN where a run is missing."""
    wide = rows.pivot_table(index="config", columns="seed", values="test_top1", aggfunc="mean", sort=False)
    return list(wide.index), [int(s) for s in wide.columns], wide.to_numpy(dtype=float)


def matched_budget_groups(summary: pd.DataFrame, tolerance: float = 0.06) -> dict[str, str]:
    """Configuration -> budget group: configurations whose parameter counts lie
    within ``tolerance`` (relative) of their budget's are compared with each
    other; ``scope+channelwise`` joins ``scope`` when within tolerance of it."""
    params = dict(zip(summary["config"], summary["params"]))
    budgets = dict(zip(summary["config"], summary["budget"]))
    anchors = summary.groupby("budget")["params"].median().to_dict()
    groups = {}
    for config, budget in budgets.items():
        group = budget
        if (
            budget == "scope+channelwise"
            and "scope" in anchors
            and abs(params[config] / anchors["scope"] - 1) <= tolerance
        ):
            group = "scope"
        groups[config] = group
    return groups


def _kendall_within(score: np.ndarray, acc: np.ndarray, groups: Sequence[str]) -> float:
    """Kendall's tau-a over the pairs of configurations in the same group:
    (concordant - discordant) / pairs compared (ties in either count as 0)."""
    total, agree = 0, 0.0
    for i, j in itertools.combinations(range(len(score)), 2):
        if groups[i] != groups[j] or not (np.isfinite(acc[i]) and np.isfinite(acc[j])):
            continue
        total += 1
        agree += np.sign(score[i] - score[j]) * np.sign(acc[i] - acc[j])
    return agree / total if total else math.nan


#: the agreement columns of :func:`ranking_agreement`
AGREEMENT_STATISTICS = ("spearman", "kendall", "kendall within budget")


def _agreement(score: np.ndarray, acc: np.ndarray, groups: Sequence[str]) -> tuple[float, float, float]:
    """Spearman, Kendall tau-b (NaN when either side is constant) and the within-budget Kendall tau-a."""
    if np.ptp(score) == 0 or np.ptp(acc) == 0:
        return math.nan, math.nan, _kendall_within(score, acc, groups)
    return (
        float(stats.spearmanr(score, acc).statistic),
        float(stats.kendalltau(score, acc).statistic),
        _kendall_within(score, acc, groups),
    )


def per_seed_agreement(
    rows: pd.DataFrame, scores: Sequence[str] = PRIOR_SCORES
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[int], int]:
    """Per score (and ``params``, the naive baseline; a score with a missing value is left out): the
    :data:`AGREEMENT_STATISTICS` of the score against each seed's test accuracies (``(seeds, 3)``)
    and against the accuracies averaged over the seeds (``(3,)``); the seeds and the number of
    configurations."""
    summary = summarize(rows)
    configs, seeds, acc = _accuracy_matrix(rows)
    summary = summary.set_index("config").loc[configs].reset_index()
    groups_map = matched_budget_groups(summary)
    groups = [groups_map[c] for c in configs]
    per_seed, of_mean = {}, {}
    for name in (*scores, "params"):
        s = summary[name].to_numpy(dtype=float)
        if not np.isfinite(s).all():
            continue
        of_mean[name] = np.array(_agreement(s, np.nanmean(acc, axis=1), groups))
        per_seed[name] = np.array([_agreement(s, acc[:, j], groups) for j in range(len(seeds))]).reshape(-1, 3)
    return per_seed, of_mean, seeds, len(configs)


def ranking_agreement(
    rows: pd.DataFrame,
    scores: Sequence[str] = PRIOR_SCORES,
    *,
    n_boot: int = 1000,
    ci: float = CONFIDENCE,
    seed: int = 0,
) -> pd.DataFrame:
    """Does the prior rank the configurations the way training does?

    Per score, three rank correlations with the test accuracy: Spearman rho and
    Kendall tau-b across every configuration (``pooled``: the budgets differ, so
    size enters), and Kendall's tau-a over the pairs at a matched budget only
    (``within budget``, :func:`matched_budget_groups`: the study's question).

    **The estimand** of each is the mean over the seeds of the statistic computed
    on each seed's accuracies alone (a seed fixes the data order and
    initialisation of every configuration): the column named after the
    statistic, with its ``seed range`` (smallest and largest: a range, not an
    interval), the ``ci`` t-interval of the per-seed values and their exact
    permutation p (:func:`~reuseprior.reporting.statistics.paired_summary`), and
    the ``verdict`` of :func:`~reuseprior.core.verdict_policy.verdict` on the
    claim that the prior agrees with training (``"greater"``: a positive rank
    correlation). The percentile bootstrap of the per-seed values only from
    :data:`~reuseprior.reporting.statistics.MIN_PAIRS_FOR_BOOTSTRAP` seeds on
    (``n_boot`` resamples); NaN below. Beside it, ``of mean accuracy``: the same
    statistic on the accuracies averaged over the seeds, another estimand
    (correlations do not average), shown **without** an interval. Also
    ``params`` (the naive baseline: more parameters, better)."""
    per_seed, of_mean, seeds, configs = per_seed_agreement(rows, scores)
    out = []
    for name, values in per_seed.items():
        row = {"score": name, "configs": configs, "seeds": len(seeds)}
        for k, label in enumerate(AGREEMENT_STATISTICS):
            row.update(_agreement_columns(label, of_mean[name][k], values[:, k], n_boot, ci, seed))
        out.append(row)
    return pd.DataFrame(out)


def _agreement_columns(
    label: str, of_mean: float, per_seed: np.ndarray, resamples: int, ci: float, seed: int
) -> dict[str, float | str]:
    """One statistic's columns in :func:`ranking_agreement`: the per-seed mean with its own interval
    and verdict, and the statistic of the mean accuracies beside it."""
    summary = paired_summary(per_seed, confidence=ci, seed=seed, resamples=resamples)
    return {
        label: summary["mean"],
        f"{label} seed range low": summary["seed range low"],
        f"{label} seed range high": summary["seed range high"],
        f"{label} t low": summary["t low"],
        f"{label} t high": summary["t high"],
        f"{label} permutation p": summary["permutation p"],
        f"{label} bootstrap low": summary["bootstrap low"],
        f"{label} bootstrap high": summary["bootstrap high"],
        f"{label} verdict": verdict(summary, "greater", alpha=1 - ci),
        f"{label} of mean accuracy": of_mean,
    }


def rank_table(rows: pd.DataFrame, score: str = "PG") -> pd.DataFrame:
    """Per configuration: mean test accuracy and its trained rank, ``score`` and
    the prior's rank (1 = best: highest accuracy, highest score), the rank
    difference, and the same two ranks within its matched budget group."""
    summary = summarize(rows)
    groups = matched_budget_groups(summary)
    t = summary[["config", "budget", "params", score, "test_top1_mean", "test_top1_std"]].copy()
    t["group"] = t["config"].map(groups)
    t["trained rank"] = t["test_top1_mean"].rank(ascending=False, method="min").astype(int)
    t["prior rank"] = t[score].rank(ascending=False, method="min").astype(int)
    t["rank difference"] = t["prior rank"] - t["trained rank"]
    t["trained rank in group"] = t.groupby("group")["test_top1_mean"].rank(ascending=False, method="min").astype(int)
    t["prior rank in group"] = t.groupby("group")[score].rank(ascending=False, method="min").astype(int)
    return t


def disagreements(rows: pd.DataFrame, score: str = "PG", *, within_budget: bool = True) -> pd.DataFrame:
    """The pairs of configurations that the prior orders one way and training
    the other (``within_budget``: only pairs at a matched budget), with the
    score difference, the accuracy gap (difference of the means over seeds) and
    the seeds' paired differences: a seed fixes the data order and base
    initialisation of every configuration, so each seed gives one paired
    difference (trained better - prior prefers); the table shows how many seeds
    agree in sign with the trained order, their mean with its 95 % paired
    t-interval, the exact permutation p and the two-sided sign test's p
    (:func:`~reuseprior.reporting.statistics.paired_summary`; with 3 seeds
    neither p can go below 0.25), and the verdict of
    :func:`~reuseprior.core.verdict_policy.verdict` on the prior's order (the
    claim that the configuration it prefers trains better, i.e. a negative
    difference). Sorted by the accuracy gap, largest first (the prior's worst
    mistakes on top), equal gaps by the two names."""
    summary = summarize(rows).set_index("config")
    groups = matched_budget_groups(summary.reset_index())
    per_seed = rows.pivot_table(index="config", columns="seed", values="test_top1", aggfunc="mean")
    out = []
    for a, b in itertools.combinations(summary.index, 2):
        if within_budget and groups[a] != groups[b]:
            continue
        ds = summary.at[a, score] - summary.at[b, score]
        da = summary.at[a, "test_top1_mean"] - summary.at[b, "test_top1_mean"]
        if np.sign(ds) * np.sign(da) >= 0:
            continue
        better, worse = (a, b) if da > 0 else (b, a)
        diff = (per_seed.loc[better] - per_seed.loc[worse]).dropna()
        paired = paired_summary(diff.to_numpy(dtype=float))
        out.append(
            {
                "trained better": better,
                "prior prefers": worse,
                "group": groups[a] if groups[a] == groups[b] else f"{groups[a]} / {groups[b]}",
                f"{score} difference (prior prefers - trained better)": summary.at[worse, score]
                - summary.at[better, score],
                "accuracy gap (pp)": abs(da),
                "seeds agreeing with trained order": f"{paired['wins']} of {len(diff)}",
                "mean paired difference (pp)": float(diff.mean()),
                "t low": paired["t low"],
                "t high": paired["t high"],
                "permutation p": paired["permutation p"],
                "sign test p": paired["sign test p"],
                PRIOR_ORDER_VERDICT: verdict(paired, "less"),
            }
        )
    cols = [
        "trained better",
        "prior prefers",
        "group",
        f"{score} difference (prior prefers - trained better)",
        "accuracy gap (pp)",
        "seeds agreeing with trained order",
        "mean paired difference (pp)",
        "t low",
        "t high",
        "permutation p",
        "sign test p",
        PRIOR_ORDER_VERDICT,
    ]
    df = pd.DataFrame(out, columns=cols)
    return sort_rows(df, "accuracy gap (pp)", then=["trained better", "prior prefers"], ascending=False).reset_index(
        drop=True
    )


# ------------------------------------------------------------------------- plots
