"""The verdict pipeline of the trained studies, from stored runs to the verdict shown: paired differences
(:mod:`reuseprior.reporting.statistics`) judged by the rule of the verdict policy
(:mod:`reuseprior.core.verdict_policy`, the one home of the verdict words, the level, the rule and the
run criteria), when the runs behind them can decide, and the verdicts gated accordingly. A study
states only its comparisons, claims and labels.

- :func:`paired_seeds` -- the seeds stored for every arm (the pairs) and those stored in part.

- :func:`paired_differences` -- per comparison (a treatment arm against a control arm of one key
  column, e.g. ``mode``, ``arm`` or ``model``), per group of ``by`` columns and per metric: the
  differences over the seeds both arms hold (:func:`~reuseprior.reporting.statistics.paired_by_seed`)
  and, for a comparison with a claim, the rule's verdict on it (``rule verdict``).
- :func:`per_seed_differences` -- the same differences seed by seed (what a figure of a verdict draws).
- :func:`decidability` -- the policy of a **paired design**: every arm of a seed
  shares its data order and initialisation, so a seed stands or falls whole
  (:func:`~reuseprior.core.verdict_policy.seeds_that_count`), and a verdict needs at least
  :func:`~reuseprior.reporting.statistics.fewest_decisive_pairs` seeds whose runs all count; a
  confirmatory reading (``one_look=True``) also waits for every declared seed, so that its verdict is
  read once, at the seeds declared before the runs, and never at an interim count that happens to decide.
- :func:`search_decidability` -- the policy of a **search comparison**: a run's final model is the
  outcome of its arm's search, so no seed is dropped (that would select seeds on the outcome); a
  verdict needs the fewest decisive pairs and, in every arm, more than
  :data:`~reuseprior.core.verdict_policy.SEARCH_MIN_COUNTING_SHARE` of the runs counting.
- :func:`gated_verdicts` -- the verdicts shown: *not comparable* with the reason where the runs
  cannot decide, the rule's own verdicts kept beside them.

The per-run criteria (plateaued, fits its training images, above the linear floor, counts) are the
policy's, read from a stored run by :mod:`reuseprior.training.convergence`; the floors come from the study's
:class:`~reuseprior.core.study.FloorStore`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd

from reuseprior.core.verdict_policy import (
    ALPHA,
    CONFIDENCE,
    NOT_COMPARABLE,
    SEARCH_MIN_COUNTING_SHARE,
    Claim,
    seeds_that_count,
    verdict,
)
from reuseprior.reporting.statistics import (
    equivalence_p,
    fewest_decisive_pairs,
    leave_one_out_agreement,
    paired_by_seed,
    paired_seed_differences,
    permutation_p,
    permutation_steps_to_level,
    t_interval,
)

__all__ = [
    "ROBUSTNESS_COLUMNS",
    "Comparison",
    "decidability",
    "gated_verdicts",
    "paired_differences",
    "paired_robustness",
    "paired_seeds",
    "per_seed_differences",
    "search_decidability",
]


@dataclass(frozen=True)
class Comparison:
    """``treatment`` minus ``control`` (two values of the arm column), judged against ``claim`` when
    given (``"greater"``, ``"less"`` or ``"equivalent"`` within ``margin``; None: described only)."""

    treatment: str
    control: str
    claim: Claim | None = None
    margin: float | None = None


def _compared_groups(
    runs: pd.DataFrame,
    comparisons: Sequence[Comparison] | Callable[[dict[str, Any]], Sequence[Comparison]],
    *,
    arm: str,
    by: Sequence[str],
) -> Iterator[tuple[dict[str, Any], Comparison, pd.DataFrame, pd.DataFrame]]:
    """Per group of ``by`` (in the order of ``runs``) and comparison: the group's columns, the
    comparison, and its treatment's and control's runs indexed by seed."""
    groups = runs.groupby(list(by), sort=False) if by else [((), runs)]
    for values, frame in groups:
        group = dict(zip(by, values if isinstance(values, tuple) else (values,)))
        chosen = comparisons(group) if callable(comparisons) else comparisons
        for comparison in chosen:
            treated, control = (
                frame[frame[arm] == a].set_index("seed") for a in (comparison.treatment, comparison.control)
            )
            yield group, comparison, treated, control


def paired_differences(
    runs: pd.DataFrame,
    comparisons: Sequence[Comparison] | Callable[[dict[str, Any]], Sequence[Comparison]],
    *,
    arm: str,
    metrics: Iterable[str],
    by: Sequence[str] = (),
    scale: float = 1.0,
    confidence: float = CONFIDENCE,
    resamples: int = 9999,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per group of ``by`` (in the order of ``runs``), comparison (``comparisons``, or
    ``comparisons(group)`` for a group's own) and metric: the group's columns, ``treatment``,
    ``control``, ``metric``, ``pairs``, ``difference`` (the mean of ``scale`` times treatment minus
    control over the seeds both hold) and the rest of
    :func:`~reuseprior.reporting.statistics.paired_by_seed`'s summary (at ``confidence``, with the
    comparison's equivalence ``margin``); a comparison with a claim adds ``claim`` and the ``rule
    verdict`` of :func:`~reuseprior.core.verdict_policy.verdict` at level ``1 - confidence``."""
    rows = []
    metrics = list(metrics)
    for group, comparison, treated, control in _compared_groups(runs, comparisons, arm=arm, by=by):
        for metric in metrics:
            summary = paired_by_seed(
                treated[metric],
                control[metric],
                scale=scale,
                confidence=confidence,
                resamples=resamples,
                seed=seed,
                margin=comparison.margin,
            )
            row = {**group, "treatment": comparison.treatment, "control": comparison.control, "metric": metric}
            row.update(pairs=summary.pop("pairs"), difference=summary.pop("mean"), **summary)
            if comparison.claim is not None:
                row["claim"] = comparison.claim
                row["rule verdict"] = verdict(summary, comparison.claim, alpha=1 - confidence, margin=comparison.margin)
            rows.append(row)
    return pd.DataFrame(rows)


def per_seed_differences(
    runs: pd.DataFrame,
    comparisons: Sequence[Comparison] | Callable[[dict[str, Any]], Sequence[Comparison]],
    *,
    arm: str,
    metrics: Iterable[str],
    by: Sequence[str] = (),
    scale: float = 1.0,
) -> pd.DataFrame:
    """The differences :func:`paired_differences` summarises, one row per group, comparison, metric
    and paired seed (:func:`~reuseprior.reporting.statistics.paired_seed_differences`, by seed):
    the group's columns, ``treatment``, ``control``, ``metric``, ``seed`` and ``difference``."""
    columns = [*by, "treatment", "control", "metric", "seed", "difference"]
    rows = []
    metrics = list(metrics)
    for group, comparison, treated, control in _compared_groups(runs, comparisons, arm=arm, by=by):
        for metric in metrics:
            differences = paired_seed_differences(treated[metric], control[metric], scale=scale)
            base = {**group, "treatment": comparison.treatment, "control": comparison.control, "metric": metric}
            rows += [{**base, "seed": int(s), "difference": float(d)} for s, d in differences.items()]
    return pd.DataFrame(rows, columns=columns)


#: the columns :func:`paired_robustness` adds to a comparison's permutation p
ROBUSTNESS_COLUMNS = ("permutation steps to the level", "leave-one-seed-out agreement")


def _deciding_p(differences: np.ndarray, two_sided: float, comparison: Comparison, alpha: float) -> tuple[float, bool]:
    """The exact permutation p that decides ``comparison``'s claim at ``alpha`` (the rule of
    :func:`~reuseprior.core.verdict_policy.verdict`), and whether it is a TOST p: ``two_sided`` (the
    differences' :func:`~reuseprior.reporting.statistics.permutation_p`) for a directional claim; for an
    ``"equivalent"`` one the TOST :func:`~reuseprior.reporting.statistics.equivalence_p`, unless its ``1 - alpha``
    t-interval lies wholly beyond the margin, where the two-sided p decides (*contradicted*)."""
    if comparison.claim != "equivalent":
        return two_sided, False
    margin = float(comparison.margin)
    low, high = t_interval(differences, 1 - alpha)
    if low >= margin or high <= -margin:
        return two_sided, False
    return equivalence_p(differences, margin), True


def paired_robustness(
    runs: pd.DataFrame, comparisons: Sequence[Comparison], *, arm: str, metric: str, alpha: float = ALPHA
) -> pd.DataFrame:
    """How firmly each claimed comparison's verdict at ``alpha`` stands, one row per comparison with a
    claim: its ``permutation p``, the ``permutation steps to the level``
    (:func:`~reuseprior.reporting.statistics.permutation_steps_to_level`: 0 when the next possible p
    would cross it; of the p that decides the claim, :func:`_deciding_p`) and the
    ``leave-one-seed-out agreement``
    (:func:`~reuseprior.reporting.statistics.leave_one_out_agreement`: the share of the subsets without
    one seed whose verdict is the same)."""
    claimed = [c for c in comparisons if c.claim is not None]
    differences = per_seed_differences(runs, claimed, arm=arm, metrics=[metric])
    rows = []
    for comparison in claimed:
        mine = differences[
            (differences["treatment"] == comparison.treatment) & (differences["control"] == comparison.control)
        ]["difference"].to_numpy(float)
        p = permutation_p(mine)
        deciding, equivalence = _deciding_p(mine, p, comparison, alpha)
        rows.append(
            {
                "treatment": comparison.treatment,
                "control": comparison.control,
                "permutation p": p,
                "permutation steps to the level": permutation_steps_to_level(
                    deciding, len(mine), alpha, equivalence=equivalence
                ),
                "leave-one-seed-out agreement": leave_one_out_agreement(
                    mine, comparison.claim, alpha=alpha, margin=comparison.margin
                ),
            }
        )
    return pd.DataFrame(rows, columns=["treatment", "control", "permutation p", *ROBUSTNESS_COLUMNS])


def paired_seeds(rows: pd.DataFrame, arms: Iterable[str], *, arm: str) -> tuple[list[int], list[int]]:
    """The seeds of ``rows`` (one row per stored run: its ``seed`` and its arm in column ``arm``)
    stored for every one of ``arms`` (the paired seeds), and those stored for only some of them (a
    study still running), each sorted."""
    wanted = set(arms)
    held = rows.groupby("seed")[arm].agg(lambda stored: wanted <= set(stored))
    full = sorted(int(s) for s, every in held.items() if every)
    partial = sorted(int(s) for s, every in held.items() if not every)
    return full, partial


def decidability(
    criteria: pd.DataFrame,
    seeds: Sequence[int],
    *,
    arm: str,
    noun: str,
    planned: int,
    alpha: float = ALPHA,
    one_look: bool = False,
) -> tuple[list[int], str]:
    """The paired ``seeds`` whose runs all count (``criteria``: one row per run, its ``seed``, its arm
    in column ``arm`` and whether it ``counts``), and why a verdict cannot be given yet ("" when it
    can): fewer such seeds than :func:`~reuseprior.reporting.statistics.fewest_decisive_pairs` at
    ``alpha`` (the level the verdicts are judged at), the runs that do not count named. ``noun`` names
    an arm in the reason (``model``, ``configuration``), ``planned`` is the study's number of seeds.
    With ``one_look`` (a confirmatory study) the verdict also waits until all ``planned`` seeds are
    stored for every arm (``seeds`` then holds declared seeds only): looking at each interim count
    and stopping at the first that decides would raise the chance of a false verdict above the level
    (optional stopping)."""
    kept, failing = seeds_that_count(criteria, seeds)
    needed = fewest_decisive_pairs(alpha)
    waiting = one_look and len(seeds) < planned
    if len(kept) >= needed and not waiting:
        return kept, ""
    reason = (
        f"{len(kept)} of the study's {planned} seeds stored for every {noun} with every run counting "
        f"(a verdict needs {needed})"
    )
    if waiting:
        reason = (
            f"{len(seeds)} of the study's {planned} declared seeds stored for every {noun}: its verdict is "
            f"read once, when all {planned} are (at least {needed} of them with every run counting)"
        )
    if not failing.empty:
        reason += "; runs that do not count: " + ", ".join(
            f"{a} seed {s}" for a, s in zip(failing[arm], failing["seed"])
        )
    return kept, reason


def search_decidability(criteria: pd.DataFrame, pairs: Sequence[int], arms: Sequence[str], *, arm: str = "arm") -> str:
    """Why a search study cannot give a verdict ("" when it can), from the per-run ``criteria`` of the
    paired seeds ``pairs`` (columns ``seed``, ``arm``, ``counts``, ``above floor``, ``fits training
    set``, ``plateaued`` and the final top individual's training top-1): fewer pairs than
    :func:`~reuseprior.reporting.statistics.fewest_decisive_pairs`, or an arm of ``arms`` with no more
    than :data:`~reuseprior.core.verdict_policy.SEARCH_MIN_COUNTING_SHARE` of its runs counting."""
    paired = criteria[criteria["seed"].isin(list(pairs))]
    needed = fewest_decisive_pairs()
    reasons = [] if len(pairs) >= needed else [f"{len(pairs)} paired seeds stored (a verdict needs {needed})"]
    for name in arms:
        mine = paired[paired[arm] == name]
        counting = int(mine["counts"].sum())
        if len(mine) and counting > SEARCH_MIN_COUNTING_SHARE * len(mine):
            continue
        below = int((~mine["above floor"]).sum())
        unread = int(mine["final top train top-1"].isna().sum())
        underfit = int((~mine["fits training set"]).sum()) - unread
        flat = int((~mine["plateaued"]).sum())
        reasons.append(
            f"{name}: {counting} of {len(mine)} runs count (more than half must); {below} end below the linear "
            f"floor, {underfit} fit their training images worse than it, {unread} have no training-set reading "
            f"(stored before the study recorded one), {flat} have not plateaued"
        )
    return "; ".join(reasons)


def gated_verdicts(table: pd.DataFrame, reason: str) -> pd.DataFrame:
    """``table`` with every verdict column replaced by
    :data:`~reuseprior.core.verdict_policy.NOT_COMPARABLE` when ``reason`` (why the runs behind it cannot
    decide: underfit, unconverged, below the linear floor, too few counting pairs) is not empty, and a
    ``reason`` column. The rule's own verdicts are
    kept beside them (``X verdict`` -> ``X rule verdict``, ``verdict on Y`` -> ``rule verdict on Y``),
    so a reader sees what the statistics alone would have said."""
    out = table.copy()
    for column in [c for c in out.columns if "verdict" in c and "rule verdict" not in c]:
        out[column.replace("verdict", "rule verdict", 1)] = out[column]
        if reason:
            out[column] = NOT_COMPARABLE
    out["reason"] = reason
    return out
