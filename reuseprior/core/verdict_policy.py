"""The verdict policy of the trained studies, in one place: the words a verdict is said in, the level it is
judged at, the rule that turns a paired summary into a verdict, and when a trained run counts.

The computations stay where they are: the statistics a verdict reads (t-interval, permutation p) in
:mod:`reuseprior.reporting.statistics`, the verdict pipeline over stored runs in
:mod:`reuseprior.reporting.verdicts`, a run's criteria from its stored history and the linear floor in
:mod:`reuseprior.training.convergence`; each imports its words and rules from here. This module sits in
core so that both the training and the reporting library, and the study engine, read one policy
without importing each other.

**The words** (:data:`VERDICTS`): a claim is *reproduced*, *contradicted* or *undetermined* by the rule;
a comparison whose setting cannot answer the claim is *not comparable* (:data:`NOT_COMPARABLE`), with
its reason: that is the caller's judgement (the runs cannot decide: underfit, unconverged, below the
linear floor, too few counting pairs), stated where it is made, never the rule's.

**The level**: every verdict is judged at :data:`ALPHA`; the intervals reported are ``1 - ALPHA``
(:data:`CONFIDENCE`) intervals; a study's detectable difference and needed pairs are stated at
:data:`DESIGN_POWER`.

**The rule** (:func:`verdict`), at level ``alpha``, with the ``1 - alpha`` t-interval and the exact
permutation p of the per-seed differences ``treatment - control``:

- a directional claim (``"greater"``: the treatment is better, or ``"less"``) is *reproduced* when the
  interval excludes 0 on the claimed side and the permutation p is below ``alpha``; *contradicted* when
  the interval excludes 0 on the other side and the permutation p is below ``alpha``; *undetermined*
  otherwise (so with fewer than 6 pairs, where the permutation p cannot go below 0.05, every
  directional claim is undetermined);
- a claim of no difference (``"equivalent"``, with a stated ``margin``: the caller states it and why,
  before reading the differences) is *reproduced* when the interval lies inside ``(-margin, margin)``
  **and** the exact permutation version of the two one-sided tests (TOST, Schuirmann 1987:
  :func:`reuseprior.reporting.statistics.equivalence_p`) is below ``alpha``; *contradicted* when the
  interval lies wholly outside the margin (``t low >= margin`` or ``t high <= -margin``) and the
  permutation p is below ``alpha``; *undetermined* otherwise, a difference that is significantly
  non-zero but may lie inside the margin included. The t-interval half reads the ``1 - alpha``
  interval, stricter than TOST's ``1 - 2 alpha``, so that the interval printed is the one judged.

**A difference over a zoo** (:func:`interval_verdict`): a comparison without seeds, such as the difference
of two rank correlations over the same architectures, is judged by its paired bootstrap interval alone,
computed at the level judged (a family's Bonferroni level): *reproduced* when it excludes 0 on the
claimed side, *contradicted* when on the other, *undetermined* otherwise.

**When a trained run counts** (:class:`RunCriteria`): a trained comparison decides something only
between models that have converged and fit their training images:

- **Plateau** (:func:`plateaued`): the mean validation top-1 of the last :data:`PLATEAU_WINDOW` epochs
  exceeds the mean of the window before by less than :data:`PLATEAU_TOLERANCE_PP` percentage points
  (:mod:`reuseprior.training.convergence` says why that threshold); a run shorter than two windows
  has not shown a plateau.
- **Fit** (:func:`fits_training_set`): the training top-1 is at least the linear floor's (a logistic
  regression of the same images): a network that fits its own training images worse is underfitting,
  whatever its test score.
- **Above the floor**: its test top-1 exceeds the linear floor's test top-1.

A run counts when all three hold. **Pairing** (:func:`seeds_that_count`): in a paired design every arm
of a seed shares its data order and initialisation, so a seed stands or falls whole. **Searches**
(:data:`SEARCH_MIN_COUNTING_SHARE`): a comparison of searches decides only when more than that share
of each arm's runs count; no seed is dropped (that would select seeds on the outcome compared).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "ALPHA",
    "CLAIMS",
    "CONFIDENCE",
    "CONTRADICTED",
    "DESIGN_POWER",
    "INTERIM",
    "NOT_COMPARABLE",
    "PLATEAU_TOLERANCE_PP",
    "PLATEAU_WINDOW",
    "REPRODUCED",
    "SEARCH_MIN_COUNTING_SHARE",
    "UNDETERMINED",
    "VERDICTS",
    "Claim",
    "RunCriteria",
    "fits_training_set",
    "interval_verdict",
    "plateaued",
    "seeds_that_count",
    "verdict",
]

#: the level of every verdict; the intervals reported are ``1 - ALPHA`` intervals
ALPHA = 0.05
CONFIDENCE = 1 - ALPHA
#: the power a study's detectable difference and needed pairs are stated at (the usual design value)
DESIGN_POWER = 0.8

REPRODUCED, CONTRADICTED, UNDETERMINED = "reproduced", "contradicted", "undetermined"
NOT_COMPARABLE = "not comparable"
#: the rule verdict a confirmatory study shows before its one look (every declared seed stored): withheld
INTERIM = "withheld (interim)"
#: every verdict a study or a finding can show: the rule's three, then the caller's
VERDICTS: tuple[str, ...] = (REPRODUCED, CONTRADICTED, UNDETERMINED, NOT_COMPARABLE)

Claim = Literal["greater", "less", "equivalent"]
#: the claims the rule judges: a sign of the mean difference, or none within a margin
CLAIMS: tuple[Claim, ...] = ("greater", "less", "equivalent")

#: epochs in each half of the plateau comparison
PLATEAU_WINDOW = 3
#: the most the last window may gain on the one before, in percentage points
PLATEAU_TOLERANCE_PP = 2.0
#: a comparison of searches (e.g. of Revolver population searches) decides only when more than this
#: share of each arm's runs count: a search ending below the floor is a result of its arm, never a
#: reason to drop its seed (that would select seeds on the outcome compared), so the criteria judge
#: whether the budget lets a typical search learn the task
SEARCH_MIN_COUNTING_SHARE = 0.5


def verdict(
    summary: Mapping[str, float | int], claim: Claim, *, alpha: float = ALPHA, margin: float | None = None
) -> str:
    """The verdict of the rule (module docstring) on a claim about the mean difference, from a
    :func:`reuseprior.reporting.statistics.paired_summary` computed at ``confidence = 1 - alpha``: its
    t-interval ``t low``/``t high`` and its exact ``permutation p``. ``claim``: ``"greater"`` or
    ``"less"`` (the claimed sign of the difference), or ``"equivalent"`` (no difference, within
    ``margin`` either side; required for it, and the summary must be computed with the same margin,
    which gives its ``equivalence p``). NaN inputs give :data:`UNDETERMINED`."""
    low, high, p = (float(summary[k]) for k in ("t low", "t high", "permutation p"))
    if claim == "equivalent":
        if margin is None or margin <= 0:
            raise ValueError("an equivalence claim needs a margin > 0")
        if summary.get("equivalence margin") != margin:
            raise ValueError(
                f"an equivalence verdict at margin {margin} needs paired_summary(..., margin={margin}) "
                "(its equivalence p, the permutation half of the rule)"
            )
        if -margin < low and high < margin and float(summary["equivalence p"]) < alpha:
            return REPRODUCED
        return CONTRADICTED if (low >= margin or high <= -margin) and p < alpha else UNDETERMINED
    if claim not in ("greater", "less"):
        raise ValueError(f"claim must be 'greater', 'less' or 'equivalent', not {claim!r}")
    if not p < alpha:
        return UNDETERMINED
    above, below = low > 0, high < 0
    if (claim == "greater" and above) or (claim == "less" and below):
        return REPRODUCED
    if (claim == "greater" and below) or (claim == "less" and above):
        return CONTRADICTED
    return UNDETERMINED


def interval_verdict(low: float, high: float, claim: Claim) -> str:
    """The verdict of a directional claim (``"greater"`` or ``"less"``: the claimed sign of a
    difference) read from an interval of the difference already computed at the level judged (a
    paired bootstrap interval at a family's corrected level): *reproduced* when the interval excludes
    0 on the claimed side, *contradicted* when it excludes 0 on the other, *undetermined* otherwise
    (NaN bounds included). The resampling interval is the whole test: no permutation p is read."""
    if claim not in ("greater", "less"):
        raise ValueError(f"an interval verdict judges 'greater' or 'less', not {claim!r}")
    above, below = bool(low > 0), bool(high < 0)
    if (claim == "greater" and above) or (claim == "less" and below):
        return REPRODUCED
    if (claim == "greater" and below) or (claim == "less" and above):
        return CONTRADICTED
    return UNDETERMINED


def plateaued(
    val_top1: Sequence[float], *, window: int = PLATEAU_WINDOW, tolerance_pp: float = PLATEAU_TOLERANCE_PP
) -> bool:
    """Whether the validation top-1 (%, one value per trained epoch, epoch 1 first) has plateaued:
    the mean of the last ``window`` epochs exceeds the mean of the ``window`` before by less than
    ``tolerance_pp`` points (module docstring). False for fewer than ``2 * window`` epochs."""
    values = np.asarray(list(val_top1), dtype=float)
    if window < 1:
        raise ValueError(f"window={window} must be at least 1 epoch")
    if len(values) < 2 * window or not np.isfinite(values[-2 * window :]).all():
        return False
    return bool(values[-window:].mean() - values[-2 * window : -window].mean() < tolerance_pp)


def fits_training_set(train_top1: float, floor_train_top1: float) -> bool:
    """Whether a run fits its training images at least as well as the linear floor (module docstring)."""
    return bool(train_top1 >= floor_train_top1)


@dataclass(frozen=True)
class RunCriteria:
    """The three criteria of one run (module docstring) and the values they read
    (:func:`reuseprior.training.convergence.run_criteria` reads them from a stored run)."""

    plateaued: bool
    fits_training_set: bool
    above_floor: bool
    val_gain_last_window_pp: float  # mean of the last window minus the window before
    train_top1: float  # the training top-1 the fit is judged by (run_criteria)

    @property
    def counts(self) -> bool:
        """Whether the run counts in a comparison: all three criteria hold."""
        return self.plateaued and self.fits_training_set and self.above_floor


def seeds_that_count(criteria: pd.DataFrame, seeds: Sequence[int]) -> tuple[list[int], pd.DataFrame]:
    """The paired ``seeds`` all of whose runs count (``criteria``: one row per run with its ``seed`` and a
    boolean ``counts``), and the runs of those seeds that do not count. Policy: in a paired design every
    arm of a seed shares its data order and initialisation, so a seed stands or falls whole: a run that
    does not count removes its seed from the verdicts, never that run alone (which would compare the
    arms on different seeds)."""
    paired = criteria[criteria["seed"].isin(list(seeds))]
    failing = paired[~paired["counts"].astype(bool)]
    failed = set(failing["seed"])
    return sorted(int(s) for s in seeds if s not in failed), failing.reset_index(drop=True)
