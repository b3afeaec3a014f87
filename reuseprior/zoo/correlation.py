"""Rank correlation of a score with accuracy, with bootstrap confidence intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["bootstrap_rank_correlation", "correlation_table", "partial_rank_correlation"]


class _Ranker:
    """Average ranks (ties averaged, 1 = lowest) of a fixed vector inside any
    bootstrap resample of it, from the resample's multiplicities alone.

    A resample that takes point ``i`` ``w_i`` times ranks a value at the number
    of resampled points below its tie group plus (the group's resampled size +
    1) / 2: exactly ``scipy.stats.rankdata`` of the resample, for one
    ``bincount`` and one cumulative sum instead of a sort per resample."""

    def __init__(self, values: np.ndarray):
        _, self.group = np.unique(values, return_inverse=True)
        self.n_groups = int(self.group.max()) + 1 if len(values) else 0

    def ranks(self, weights: np.ndarray) -> tuple[np.ndarray, int]:
        """Each point's rank in the resample and how many tie groups it holds."""
        size = np.bincount(self.group, weights=weights, minlength=self.n_groups)
        below = np.cumsum(size) - size
        return (below + (size + 1) / 2)[self.group], int(np.count_nonzero(size))


def _weighted_pearson(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """Pearson correlation of the resample holding point ``i`` ``w_i`` times."""
    total = w.sum()
    dx, dy = x - (w @ x) / total, y - (w @ y) / total
    return float((w * dx) @ dy / np.sqrt(((w * dx) @ dx) * ((w * dy) @ dy)))


def bootstrap_rank_correlation(
    score, accuracy, *, n_boot: int = 1000, ci: float = 0.95, seed: int = 0
) -> dict[str, float]:
    """Spearman rho and Kendall tau (tau-b) of ``score`` vs ``accuracy`` and
    percentile bootstrap intervals (resampling architectures with replacement;
    a resample in which either variable is constant is skipped).

    Rows where either value is NaN or infinite are dropped first; ``n`` is the
    number of rows used. The Spearman rho of a resample is the Pearson
    correlation of its average ranks, computed from the resample's
    multiplicities (:class:`_Ranker`), the same value ``scipy.stats.spearmanr``
    gives on the resample; the Kendall interval is computed for ``n <= 3000``.
    """
    s = np.asarray(score, dtype=float)
    a = np.asarray(accuracy, dtype=float)
    keep = np.isfinite(s) & np.isfinite(a)
    s, a = s[keep], a[keep]
    n = len(s)
    out = {"n": n}
    if n < 3 or np.ptp(s) == 0:
        return {
            **out,
            **{
                k: float("nan")
                for k in ("spearman", "spearman_lo", "spearman_hi", "kendall", "kendall_lo", "kendall_hi")
            },
        }
    out["spearman"] = float(stats.spearmanr(s, a).statistic)
    out["kendall"] = float(stats.kendalltau(s, a).statistic)
    rng = np.random.default_rng(seed)
    rank_s, rank_a = _Ranker(s), _Ranker(a)
    rs, ks = [], []
    for _ in range(n_boot):
        idx = rng.integers(0, n, size=n)
        w = np.bincount(idx, minlength=n).astype(float)
        (xs, gs), (xa, ga) = rank_s.ranks(w), rank_a.ranks(w)
        if gs < 2 or ga < 2:  # a constant resample: no correlation
            continue
        rs.append(_weighted_pearson(xs, xa, w))
        if n <= 3000:
            ks.append(stats.kendalltau(s[idx], a[idx]).statistic)
    lo, hi = (1 - ci) / 2 * 100, (1 + ci) / 2 * 100
    out["spearman_lo"], out["spearman_hi"] = (
        (float(np.nanpercentile(rs, lo)), float(np.nanpercentile(rs, hi))) if rs else (float("nan"),) * 2
    )
    out["kendall_lo"], out["kendall_hi"] = (
        (float(np.nanpercentile(ks, lo)), float(np.nanpercentile(ks, hi))) if ks else (float("nan"),) * 2
    )
    return out


def correlation_table(
    df: pd.DataFrame, scores: list[str], *, accuracy: str = "accuracy", n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """One row per score: n, Spearman, Kendall and their bootstrap intervals."""
    rows = []
    for name in scores:
        if name not in df.columns:
            continue
        r = bootstrap_rank_correlation(df[name], df[accuracy], n_boot=n_boot, seed=seed)
        rows.append({"score": name, **r})
    return pd.DataFrame(rows)


def _weighted_residuals(rv: np.ndarray, rc: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Rank residuals of the resample holding point ``i`` ``w_i`` times, given
    the points' ranks in it: ``rv`` minus its weighted least-squares fit on
    ``(1, rc)``, which is the ordinary least-squares fit on the resample itself
    (a constant ``rc`` leaves ``rv`` minus its mean)."""
    total = w.sum()
    mv, mc = (w @ rv) / total, (w @ rc) / total
    dc = rc - mc
    scale = (w * dc) @ dc
    slope = ((w * dc) @ (rv - mv)) / scale if scale > 0 else 0.0
    return rv - mv - slope * dc


def partial_rank_correlation(
    score, accuracy, control, *, n_boot: int = 1000, ci: float = 0.95, seed: int = 0
) -> dict[str, float]:
    """Partial Spearman correlation of ``score`` with ``accuracy`` given ``control``
    (e.g. the parameter count): the Pearson correlation of the rank residuals of
    both after regressing each on the ranks of ``control``, with a percentile
    bootstrap interval. Zero means the score carries no rank information about
    accuracy beyond what ``control`` already has; NaN that it is a monotone
    function of ``control`` (nothing is left to correlate). Each resample is
    evaluated from its multiplicities (:class:`_Ranker`,
    :func:`_weighted_residuals`): the same value as ranking and regressing the
    resample itself.
    """
    s, a, c = (np.asarray(v, dtype=float) for v in (score, accuracy, control))
    keep = np.isfinite(s) & np.isfinite(a) & np.isfinite(c)
    s, a, c = s[keep], a[keep], c[keep]
    n = len(s)
    nan = {"n": n, "partial_spearman": float("nan"), "partial_lo": float("nan"), "partial_hi": float("nan")}
    if n < 4 or np.ptp(s) == 0 or np.ptp(c) == 0:
        return nan
    rankers = [_Ranker(v) for v in (s, a, c)]

    def corr(w: np.ndarray) -> float:
        (xs, _), (xa, _), (xc, _) = (r.ranks(w) for r in rankers)
        rs, ra = _weighted_residuals(xs, xc, w), _weighted_residuals(xa, xc, w)
        ss, sa = (w * rs) @ rs, (w * ra) @ ra
        scale = w.sum() ** 1.5  # size of the ranks themselves: residuals below 1e-9 of it are rounding
        if np.sqrt(ss) < 1e-9 * scale or np.sqrt(sa) < 1e-9 * scale:
            return float("nan")  # the score (or accuracy) is a monotone function of the control
        return float((w * rs) @ ra / np.sqrt(ss * sa))

    value = corr(np.ones(n))
    if np.isnan(value):
        return {**nan, "n": n}
    rng = np.random.default_rng(seed)
    boots = [corr(np.bincount(rng.integers(0, n, size=n), minlength=n).astype(float)) for _ in range(n_boot)]
    lo, hi = (1 - ci) / 2 * 100, (1 + ci) / 2 * 100
    return {
        "n": n,
        "partial_spearman": value,
        "partial_lo": float(np.nanpercentile(boots, lo)),
        "partial_hi": float(np.nanpercentile(boots, hi)),
    }
