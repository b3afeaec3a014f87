"""Summaries over seeds shared by the trained studies: the mean of paired
differences with a percentile bootstrap interval."""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["MIN_PAIRS_FOR_INTERVAL", "paired_mean_interval"]

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
