"""Summaries over seeds shared by the trained studies: the mean of paired
differences with a percentile bootstrap interval."""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["MIN_PAIRS_FOR_INTERVAL", "paired_mean_interval", "sign_test", "sign_test_p"]

#: fewer pairs give no interval (two values have only three bootstrap means)
MIN_PAIRS_FOR_INTERVAL = 3


def paired_mean_interval(
    differences: np.ndarray, *, confidence: float = 0.95, resamples: int = 9999, seed: int = 0
) -> tuple[float, float, float]:
    """``(mean, low, high)`` of per-seed differences: the mean and its
    percentile bootstrap interval (``scipy.stats.bootstrap``, resampling the
    pairs with a seeded generator). With fewer than
    :data:`MIN_PAIRS_FOR_INTERVAL` pairs, or all differences equal, the
    interval is NaN; with none, everything is."""
    diff = np.asarray(differences, dtype=float)
    if diff.size == 0:
        return float("nan"), float("nan"), float("nan")
    low = high = float("nan")
    if diff.size >= MIN_PAIRS_FOR_INTERVAL and np.ptp(diff) > 0:
        ci = stats.bootstrap(
            (diff,),
            np.mean,
            confidence_level=confidence,
            n_resamples=resamples,
            method="percentile",
            rng=np.random.default_rng(seed),
        ).confidence_interval
        low, high = float(ci.low), float(ci.high)
    return float(diff.mean()), low, high


def sign_test_p(agreeing: int, nonzero: int) -> float:
    """Two-sided sign test (:func:`scipy.stats.binomtest` with p = 1/2): the
    probability, with ``nonzero`` paired differences each positive with
    probability 1/2, of a count at least as far from ``nonzero / 2`` as
    ``agreeing``; 1 for no non-zero difference. With 3 pairs the smallest
    possible value is 0.25."""
    if nonzero == 0:
        return 1.0
    return float(stats.binomtest(agreeing, nonzero, 0.5).pvalue)


def sign_test(differences: np.ndarray) -> float:
    """:func:`sign_test_p` of paired differences: the probability, when
    positive and negative signs are equally likely, of a split at least as
    uneven as the observed one (zeros left out). NaN without a non-zero difference."""
    d = np.asarray(differences, dtype=float)
    positive, nonzero = int((d > 0).sum()), int((d != 0).sum())
    return sign_test_p(positive, nonzero) if nonzero else float("nan")
