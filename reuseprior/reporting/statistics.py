"""Statistics over a few paired seeds, for studies that train each arm once
per seed, and the rule that turns them into a verdict.

**What is reported** (:func:`paired_summary`, one row per comparison of
per-seed differences ``treatment - control``): the number of pairs, the mean
and standard deviation of the differences, the paired t-interval at a stated
confidence (:func:`t_interval`, Student's t with ``n - 1`` degrees of
freedom) with the two-sided one-sample t-test p, the exact two-sided
sign-flip permutation p (:func:`permutation_p`: every one of the ``2**n``
sign assignments for ``n <=`` :data:`EXACT_PERMUTATION_MAX_PAIRS`, a seeded
Monte Carlo sample of :data:`MONTE_CARLO_PERMUTATIONS` above), the exact
two-sided sign test p (:func:`sign_test`), wins, losses and ties, the seeds'
range (the smallest and largest difference: a range, not an interval) and the
percentile bootstrap interval only from :data:`MIN_PAIRS_FOR_BOOTSTRAP` pairs
on (:func:`percentile_bootstrap`; NaN below). With ``n`` pairs the permutation
p cannot go below ``2 / 2**n`` and the sign test's below ``2 / 2**n`` either:
0.25 with 3 pairs, 0.0625 with 5.

**Why no bootstrap below** :data:`MIN_PAIRS_FOR_BOOTSTRAP`: a percentile
bootstrap of a mean over ``n`` values lies inside their range, and over few
values it covers the true mean far less often than its nominal level.
``benchmarks/bench_interval_coverage.py`` measures it on normal differences
(10,000 samples per ``n``, 1,000 resamples each, binomial standard error
about 0.002): nominal-95 % coverage 0.749 at 3 pairs, 0.840 at 5, 0.908 at
10, 0.927 at 20; the t-interval's 0.949, 0.953, 0.954, 0.952 (measured
2026-11). The bootstrap is given from the first ``n`` of that grid measured
within :data:`BOOTSTRAP_COVERAGE_TOLERANCE` of its nominal level: 20, and
only just (0.927 against 0.925).

**The verdict rule** (:func:`~reuseprior.core.verdict_policy.verdict`), its words (reproduced,
contradicted, undetermined, not comparable), its level (:data:`~reuseprior.core.verdict_policy.ALPHA`)
and the design power live in :mod:`reuseprior.core.verdict_policy`, the one home of the verdict policy,
where its callers import them; this module computes what the rule reads (the ``1 - ALPHA`` t-interval,
the exact permutation p, the equivalence p). The permutation half of the rule cannot go below
``1 / 2**n``, so an equivalence needs at least :data:`MIN_PAIRS_FOR_EQUIVALENCE` pairs (5 at 0.05;
:func:`fewest_equivalence_pairs`) and a directional claim :func:`fewest_decisive_pairs` (6 at 0.05).

**Power** (:func:`paired_power`, :func:`detectable_difference`,
:func:`pairs_needed`; for a claim of no difference :func:`equivalence_power` and
:func:`equivalence_pairs_needed`): the two-sided paired t-test's power from the
noncentral t distribution (:data:`scipy.stats.nct`), and the chance that the rule's
``1 - alpha`` t-interval lies inside an equivalence margin, the design-stage
approximation of the rule's power and an upper bound on it: the rule also
needs the permutation p, which costs power at few pairs.
``benchmarks/bench_rule_power.py`` measures it at the difference the t-test
finds with 80 % power (normal differences, 4,000 samples per ``n``, standard
error about 0.006): the rule decides 0.607 of them at 6 pairs, 0.773 at 8 and
0.779 at 10, the t-test 0.794, 0.809 and 0.797 (measured 2026-11). A study states, from its own
paired SD, the difference its pairs detect with probability
:data:`~reuseprior.core.verdict_policy.DESIGN_POWER` and the pairs a stated difference needs.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import integrate, optimize, stats

from reuseprior.core.verdict_policy import ALPHA, CONFIDENCE, DESIGN_POWER, Claim, verdict

__all__ = [
    "BOOTSTRAP_COVERAGE_TOLERANCE",
    "EXACT_PERMUTATION_MAX_PAIRS",
    "MIN_PAIRS_FOR_BOOTSTRAP",
    "MONTE_CARLO_PERMUTATIONS",
    "MIN_PAIRS_FOR_EQUIVALENCE",
    "detectable_difference",
    "equivalence_p",
    "equivalence_pairs_needed",
    "equivalence_power",
    "fewest_decisive_pairs",
    "fewest_equivalence_pairs",
    "leave_one_out_agreement",
    "p_value_text",
    "paired_power",
    "permutation_steps_to_level",
    "pairs_needed",
    "paired_by_seed",
    "paired_seed_differences",
    "paired_summary",
    "percentile_bootstrap",
    "permutation_p",
    "sign_test",
    "t_interval_text",
    "t_interval",
]

#: the exact permutation p enumerates all 2**n sign assignments up to this many pairs (2**20 sums)
EXACT_PERMUTATION_MAX_PAIRS = 20
#: sign assignments drawn (seeded) above :data:`EXACT_PERMUTATION_MAX_PAIRS` pairs
MONTE_CARLO_PERMUTATIONS = 100_000
#: how far below its nominal level a bootstrap's measured coverage may be and still be given: half
#: the nominal miss rate (0.925 for a 95 % interval), fixed before the coverage was measured
BOOTSTRAP_COVERAGE_TOLERANCE = 0.025
#: the fewest pairs the percentile bootstrap is given for: the first n of
#: ``benchmarks/bench_interval_coverage.py``'s grid (3, 5, 10, 20) whose measured
#: nominal-95 % coverage is within :data:`BOOTSTRAP_COVERAGE_TOLERANCE` of 0.95
MIN_PAIRS_FOR_BOOTSTRAP = 20
#: the fewest pairs an equivalence can be reproduced from: the smallest n whose exact one-sided
#: sign-flip permutation p can fall below :data:`~reuseprior.core.verdict_policy.ALPHA` (``1 / 2**n``;
#: :func:`fewest_equivalence_pairs`)
MIN_PAIRS_FOR_EQUIVALENCE = 5


def _finite(differences: np.ndarray | list[float]) -> np.ndarray:
    d = np.asarray(differences, dtype=float).ravel()
    return d[np.isfinite(d)]


def t_interval(differences: np.ndarray | list[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The paired t-interval of the mean difference: ``mean -/+ t * sd / sqrt(n)``
    with ``t`` the ``(1 + confidence) / 2`` quantile of Student's t with
    ``n - 1`` degrees of freedom (:func:`scipy.stats.t.ppf`). NaN below 2 pairs."""
    d = _finite(differences)
    if d.size < 2:
        return math.nan, math.nan
    half = stats.t.ppf((1 + confidence) / 2, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size)
    return float(d.mean() - half), float(d.mean() + half)


def _sign_flip_share(d: np.ndarray, reaches, seed: int) -> float:
    """The share of sign assignments ``s`` for which ``reaches(sum(s * d))`` holds: exact over all
    ``2**n`` for ``n <=`` :data:`EXACT_PERMUTATION_MAX_PAIRS`, else over
    :data:`MONTE_CARLO_PERMUTATIONS` drawn with ``numpy.random.default_rng(seed)``, the observed
    assignment counted in (``(hits + 1) / (draws + 1)``)."""
    if d.size <= EXACT_PERMUTATION_MAX_PAIRS:
        sums = np.zeros(1)
        for value in d:
            sums = np.concatenate((sums + value, sums - value))
        return float(np.mean(reaches(sums)))
    signs = np.random.default_rng(seed).choice((-1.0, 1.0), size=(MONTE_CARLO_PERMUTATIONS, d.size))
    hits = int(np.sum(reaches(signs @ d)))
    return (hits + 1) / (MONTE_CARLO_PERMUTATIONS + 1)


#: The absolute part of the tolerance within which two sign-flipped sums tie, relative to ``sum(|d|)``:
#: sums that are equal in exact arithmetic differ by float rounding of that order, also where the observed
#: sum is 0 (a relative tolerance alone would miss those ties).
_TIE_TOLERANCE = 1e-12


def _tie_slack(d: np.ndarray) -> float:
    """How far a sign-flipped sum of ``d`` may fall short of the observed sum and still tie with it: a
    relative 1e-9 of the observed sum and :data:`_TIE_TOLERANCE` of ``sum(|d|)``, for float rounding."""
    return 1e-9 * abs(d.sum()) + _TIE_TOLERANCE * np.abs(d).sum()


def permutation_p(differences: np.ndarray | list[float], *, seed: int = 0) -> float:
    """Two-sided sign-flip permutation p of the mean difference: the share of
    sign assignments ``s`` whose ``|sum(s * d)|`` reaches the observed
    ``|sum(d)|`` (within :func:`_tie_slack`, for rounding). Exact, over all
    ``2**n`` assignments, for ``n <=`` :data:`EXACT_PERMUTATION_MAX_PAIRS`;
    above, :data:`MONTE_CARLO_PERMUTATIONS` assignments drawn with
    ``numpy.random.default_rng(seed)``, the observed one counted in
    (``(hits + 1) / (draws + 1)``). NaN without a pair."""
    d = _finite(differences)
    if d.size == 0:
        return math.nan
    reached = abs(d.sum()) - _tie_slack(d)
    return _sign_flip_share(d, lambda sums: np.abs(sums) >= reached, seed)


def _one_sided_p(d: np.ndarray, seed: int) -> float:
    """One-sided sign-flip permutation p against a mean of 0, alternative "below": the share of
    sign assignments whose sum is at most the observed one (within :func:`_tie_slack`, for rounding)."""
    reached = d.sum() + _tie_slack(d)
    return _sign_flip_share(d, lambda sums: sums <= reached, seed)


def equivalence_p(differences: np.ndarray | list[float], margin: float, *, seed: int = 0) -> float:
    """The exact permutation TOST p of a claim that the mean difference lies within ``(-margin,
    margin)``: the larger of the one-sided sign-flip permutation p of ``d - margin`` (null: the mean
    is ``margin`` or more) and of ``-(d + margin)`` (null: ``-margin`` or less), exact as
    :func:`permutation_p`. It cannot go below ``1 / 2**n``. NaN without a pair; ``margin`` must be > 0."""
    if not margin > 0:
        raise ValueError(f"an equivalence margin must be > 0, not {margin!r}")
    d = _finite(differences)
    if d.size == 0:
        return math.nan
    return max(_one_sided_p(d - margin, seed), _one_sided_p(-(d + margin), seed))


def fewest_equivalence_pairs(alpha: float = ALPHA, most: int = 64) -> int:
    """The fewest pairs whose :func:`equivalence_p` can be below ``alpha`` (differences far inside
    the margin: ``1 / 2**n``): :data:`MIN_PAIRS_FOR_EQUIVALENCE` at 0.05."""
    for n in range(1, most + 1):
        if equivalence_p(np.zeros(n), 1.0) < alpha:
            return n
    raise ValueError(f"no number of pairs up to {most} reaches p < {alpha}")


def sign_test(differences: np.ndarray | list[float]) -> float:
    """Exact two-sided sign test (:func:`scipy.stats.binomtest` with p = 1/2)
    of paired differences: the probability, when positive and negative signs
    are equally likely, of a split at least as uneven as the observed one
    (zeros left out). NaN without a non-zero difference. With 3 pairs the
    smallest value is 0.25, with 5 it is 0.0625."""
    d = _finite(differences)
    positive, nonzero = int((d > 0).sum()), int((d != 0).sum())
    return float(stats.binomtest(positive, nonzero, 0.5).pvalue) if nonzero else math.nan


def percentile_bootstrap(
    differences: np.ndarray | list[float],
    confidence: float = CONFIDENCE,
    *,
    resamples: int = 9999,
    seed: int = 0,
    min_pairs: int = MIN_PAIRS_FOR_BOOTSTRAP,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean difference: the pairs resampled
    with replacement ``resamples`` times (``numpy.random.default_rng(seed)``),
    the ``(1 -/+ confidence) / 2`` quantiles of the resample means. NaN below
    ``min_pairs`` pairs (:data:`MIN_PAIRS_FOR_BOOTSTRAP`: fewer do not cover at
    the nominal level) or when every difference is equal."""
    d = _finite(differences)
    if d.size < max(min_pairs, 2) or np.ptp(d) == 0:
        return math.nan, math.nan
    draws = np.random.default_rng(seed).integers(0, d.size, size=(resamples, d.size))
    means = d[draws].mean(axis=1)
    low, high = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(low), float(high)


def paired_summary(
    differences: np.ndarray | list[float],
    *,
    confidence: float = CONFIDENCE,
    resamples: int = 9999,
    seed: int = 0,
    margin: float | None = None,
) -> dict[str, float | int]:
    """One comparison's columns (non-finite differences dropped): ``pairs``,
    ``mean``, ``sd``, ``t low``/``t high`` (:func:`t_interval` at
    ``confidence``), ``t-test p`` (two-sided, :func:`scipy.stats.ttest_1samp`),
    ``permutation p`` (:func:`permutation_p`), ``sign test p``
    (:func:`sign_test`), ``wins``/``losses``/``ties`` (pairs above, below and
    at 0), ``seed range low``/``seed range high`` (the smallest and largest
    difference: a range of the seeds, not a confidence interval) and
    ``bootstrap low``/``bootstrap high`` (:func:`percentile_bootstrap`, NaN
    below :data:`MIN_PAIRS_FOR_BOOTSTRAP` pairs); with an equivalence
    ``margin`` also ``equivalence margin`` and ``equivalence p``
    (:func:`equivalence_p`), which an equivalence verdict needs."""
    d = _finite(differences)
    n = int(d.size)
    low, high = t_interval(d, confidence)
    t_p = float(stats.ttest_1samp(d, 0.0).pvalue) if n >= 2 and np.ptp(d) > 0 else math.nan
    boot = percentile_bootstrap(d, confidence, resamples=resamples, seed=seed)
    equivalence = {} if margin is None else {"equivalence margin": margin, "equivalence p": equivalence_p(d, margin)}
    return {
        "pairs": n,
        "mean": float(d.mean()) if n else math.nan,
        "sd": float(d.std(ddof=1)) if n >= 2 else math.nan,
        "t low": low,
        "t high": high,
        "t-test p": t_p,
        "permutation p": permutation_p(d, seed=seed),
        "sign test p": sign_test(d),
        "wins": int((d > 0).sum()),
        "losses": int((d < 0).sum()),
        "ties": int((d == 0).sum()),
        "seed range low": float(d.min()) if n else math.nan,
        "seed range high": float(d.max()) if n else math.nan,
        "bootstrap low": boot[0],
        "bootstrap high": boot[1],
        **equivalence,
    }


def paired_seed_differences(treatment: pd.Series, control: pd.Series, *, scale: float = 1.0) -> pd.Series:
    """``scale`` times ``treatment - control`` over the seeds both hold, by seed in ascending order:
    the Series are indexed by seed, and a seed missing from either, or NaN in either, is not a pair
    (a run still going is left out, never compared against nothing)."""
    both = pd.concat({"treatment": treatment, "control": control}, axis=1, join="inner").dropna()
    both = both.sort_index(kind="stable")
    return scale * (both["treatment"].astype(float) - both["control"].astype(float))


def paired_by_seed(
    treatment: pd.Series,
    control: pd.Series,
    *,
    scale: float = 1.0,
    confidence: float = CONFIDENCE,
    resamples: int = 9999,
    seed: int = 0,
    margin: float | None = None,
) -> dict[str, float | int]:
    """:func:`paired_summary` of the :func:`paired_seed_differences` of ``treatment`` and ``control``
    (``scale`` 100 turns fractions into percentage points)."""
    differences = paired_seed_differences(treatment, control, scale=scale).to_numpy(float)
    return paired_summary(differences, confidence=confidence, resamples=resamples, seed=seed, margin=margin)


def fewest_decisive_pairs(alpha: float = ALPHA, most: int = 64) -> int:
    """The fewest paired seeds whose verdict can be other than undetermined:
    the smallest ``n`` for which ``n`` differences of one sign give an exact
    sign-flip permutation p (:func:`permutation_p`,
    the smallest it can be) below ``alpha``."""
    for n in range(1, most + 1):
        if permutation_p(np.ones(n)) < alpha:
            return n
    raise ValueError(f"no number of pairs up to {most} reaches p < {alpha}")


def paired_power(sd: float, pairs: int, difference: float, *, alpha: float = ALPHA) -> float:
    """The power of the two-sided paired t-test at level ``alpha`` to find a true mean difference
    ``difference`` with ``pairs`` pairs of standard deviation ``sd``: ``P(|T| > t_crit)`` for ``T``
    noncentral t with ``pairs - 1`` degrees of freedom and noncentrality ``difference * sqrt(pairs) /
    sd`` (:data:`scipy.stats.nct`). NaN below 2 pairs or without a positive ``sd``."""
    if pairs < 2 or not sd > 0:
        return math.nan
    df, nc = pairs - 1, abs(difference) * math.sqrt(pairs) / sd  # symmetric in the sign of the difference
    critical = stats.t.ppf(1 - alpha / 2, df)
    far_tail = stats.nct.cdf(-critical, df, nc)  # NaN where scipy underflows (nc above about 12): then 0
    return float(stats.nct.sf(critical, df, nc) + (0.0 if math.isnan(far_tail) else far_tail))


def detectable_difference(sd: float, pairs: int, *, power: float = DESIGN_POWER, alpha: float = ALPHA) -> float:
    """The smallest true mean difference that ``pairs`` pairs of standard deviation ``sd`` find with
    probability ``power`` (:func:`paired_power`, solved by :func:`scipy.optimize.brentq`). NaN below 2
    pairs or without a positive ``sd``."""
    if pairs < 2 or not sd > 0:
        return math.nan
    high = sd / math.sqrt(pairs)
    while paired_power(sd, pairs, high, alpha=alpha) < power:
        high *= 2
    return float(optimize.brentq(lambda delta: paired_power(sd, pairs, delta, alpha=alpha) - power, 0.0, high))


def pairs_needed(
    sd: float, difference: float, *, power: float = DESIGN_POWER, alpha: float = ALPHA, most: int = 1_000_000
) -> int:
    """The fewest pairs of standard deviation ``sd`` that find a true mean ``difference`` with
    probability ``power`` (:func:`paired_power`; a bisection over whole pairs, the power rising with
    them). ``ValueError`` when even ``most`` pairs do not."""
    if not (sd > 0 and difference != 0):
        raise ValueError(f"pairs_needed needs sd > 0 and a non-zero difference, not sd={sd}, difference={difference}")
    low, high = 2, most
    if paired_power(sd, high, difference, alpha=alpha) < power:
        raise ValueError(f"{most} pairs do not reach power {power}")
    while low < high:
        middle = (low + high) // 2
        low, high = (middle + 1, high) if paired_power(sd, middle, difference, alpha=alpha) < power else (low, middle)
    return low


def equivalence_power(sd: float, pairs: int, difference: float, margin: float, *, alpha: float = ALPHA) -> float:
    """The chance that the ``1 - alpha`` paired t-interval (:func:`t_interval`) of ``pairs`` normal
    differences of true mean ``difference`` and standard deviation ``sd`` lies inside ``(-margin,
    margin)``: the interval half of the equivalence rule (:func:`~reuseprior.core.verdict_policy.verdict`;
    TOST at ``alpha / 2`` a side). With ``c = t(1 - alpha/2, pairs - 1) / sqrt(pairs)`` it is ``P(|mean|
    + c * s < margin)``, the mean normal and ``s`` the sample SD (``(pairs - 1) s^2 / sd^2`` chi-square
    with ``pairs - 1`` degrees of freedom), integrated over ``s`` (:func:`scipy.integrate.quad`). The
    permutation half needs at least :func:`fewest_equivalence_pairs` pairs and is not modelled here. NaN
    below 2 pairs or without a positive ``sd`` and ``margin``."""
    if pairs < 2 or not (sd > 0 and margin > 0):
        return math.nan
    df = pairs - 1
    c = stats.t.ppf(1 - alpha / 2, df) / math.sqrt(pairs)
    scale = sd / math.sqrt(pairs)

    def inside(x: float) -> float:  # x: the chi-square variable; s = sd * sqrt(x / df)
        half = margin - c * sd * math.sqrt(x / df)
        chance = stats.norm.cdf((half - difference) / scale) - stats.norm.cdf((-half - difference) / scale)
        return max(chance, 0.0) * stats.chi2.pdf(x, df)

    highest = df * (margin / (c * sd)) ** 2  # beyond it the interval is wider than the margin
    return float(min(integrate.quad(inside, 0.0, highest, limit=200)[0], 1.0))


def equivalence_pairs_needed(
    sd: float,
    margin: float,
    difference: float = 0.0,
    *,
    power: float = DESIGN_POWER,
    alpha: float = ALPHA,
    most: int = 10_000,
) -> int:
    """The fewest pairs (at least 2) of standard deviation ``sd`` whose ``1 - alpha`` t-interval lies
    inside ``(-margin, margin)`` with probability ``power`` when the true mean is ``difference``
    (:func:`equivalence_power`, rising with the pairs): the interval half of the equivalence rule alone;
    its permutation half needs :func:`fewest_equivalence_pairs` as well, which a design takes beside it.
    ``ValueError`` when ``|difference|`` is not inside the margin or ``most`` pairs do not reach ``power``."""
    if not (sd > 0 and abs(difference) < margin):
        raise ValueError(
            f"equivalence_pairs_needed needs sd > 0 and the difference inside the margin, not sd={sd}, "
            f"difference={difference}, margin={margin}"
        )
    n = 2
    while equivalence_power(sd, n, difference, margin, alpha=alpha) < power:
        n += 1
        if n > most:
            raise ValueError(f"{most} pairs do not reach power {power}")
    return n


def permutation_steps_to_level(p: float, pairs: int, alpha: float = ALPHA, *, equivalence: bool = False) -> float:
    """How far an exact permutation p over ``pairs`` pairs (at most :data:`EXACT_PERMUTATION_MAX_PAIRS`) is
    from ``alpha``, in the steps its values move by: ``2 / 2**n`` for the two-sided :func:`permutation_p`
    (its sign flips come in pairs), ``1 / 2**n`` for the one-sided p's of the TOST :func:`equivalence_p`
    (``equivalence``). For ``p < alpha`` the steps ``p`` could rise and still pass (0: the next possible p
    fails; e.g. 6/256 at 0.025), for ``p >= alpha`` minus the steps it would have to fall to pass. NaN
    without an exact p, and below the pairs where no p can pass (:func:`fewest_decisive_pairs`, or
    :func:`fewest_equivalence_pairs` for the TOST), so no number of steps would."""
    fewest = fewest_equivalence_pairs(alpha) if equivalence else fewest_decisive_pairs(alpha)
    if not (math.isfinite(p) and 1 <= pairs <= EXACT_PERMUTATION_MAX_PAIRS) or pairs < fewest:
        return math.nan
    step = (1.0 if equivalence else 2.0) / 2**pairs
    slack = 1e-9 * step
    if p < alpha:
        return float(math.ceil((alpha - p) / step - slack) - 1)
    return -float(math.floor((p - alpha) / step + slack) + 1)


def leave_one_out_agreement(
    differences: np.ndarray | list[float], claim: Claim, *, alpha: float = ALPHA, margin: float | None = None
) -> float:
    """The share of the ``n`` subsets that leave one pair out whose verdict
    (:func:`~reuseprior.core.verdict_policy.verdict` at ``alpha``, from :func:`paired_summary` at
    ``1 - alpha``) equals the verdict of all ``n`` pairs: 1 when no single seed decides it. NaN below 3
    pairs."""
    d = _finite(differences)
    if d.size < 3:
        return math.nan

    def judged(values: np.ndarray) -> str:
        summary = paired_summary(values, confidence=1 - alpha, margin=margin)
        return verdict(summary, claim, alpha=alpha, margin=margin)

    full = judged(d)
    return float(np.mean([judged(np.delete(d, i)) == full for i in range(d.size)]))


def t_interval_text(low: float, high: float) -> str:
    """A t-interval as the trained studies' readings print it: signed, at two decimals; none exists
    below two paired seeds (NaN bounds)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "t-interval: none (fewer than 2 paired seeds)"
    return f"t-interval [{low:+.2f}, {high:+.2f}]"


def p_value_text(p: float) -> str:
    """A p-value as the readings print it: at two decimals, or at two significant digits below 0.01
    (never printed as 0.00)."""
    return f"{p:.2f}" if p >= 0.01 else f"{p:.2g}"
