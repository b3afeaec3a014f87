"""Rank correlation of a score with accuracy, with bootstrap confidence intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "bootstrap_rank_correlation",
    "correlation_table",
    "partial_rank_correlation",
    "rank_correlation_difference",
    "stratified_rank_correlation",
]


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


# --------------------------------------------------------------------------- within strata, and paired differences

#: how many (resample, row) cells a block of resamples holds
_BLOCK_CELLS = 2**16


def _rank_rows(ranker: _Ranker, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``ranker``'s average ranks for a block of resamples (one resample's multiplicities per row of
    ``weights``): each point's rank in each resample and each resample's number of tie groups."""
    ranked = [ranker.ranks(w) for w in weights]
    return np.stack([r for r, _ in ranked]), np.array([g for _, g in ranked])


def _pearson_rows(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """:func:`_weighted_pearson` of each row (one resample per row)."""
    total = w.sum(axis=1, keepdims=True)
    dx = x - (w * x).sum(axis=1, keepdims=True) / total
    dy = y - (w * y).sum(axis=1, keepdims=True) / total
    return (w * dx * dy).sum(axis=1) / np.sqrt((w * dx * dx).sum(axis=1) * (w * dy * dy).sum(axis=1))


def _strata_groups(strata: np.ndarray | None, n: int, min_rows: int) -> list[np.ndarray]:
    """The row indices of each stratum with at least ``min_rows`` rows (all rows as one without ``strata``),
    strata in sorted order."""
    if strata is None:
        return [np.arange(n)]
    return [np.flatnonzero(strata == s) for s in np.unique(strata) if np.count_nonzero(strata == s) >= min_rows]


def _pooled_rho(
    rankers: list[tuple[_Ranker, list[_Ranker]]], groups: list[np.ndarray], weights: list[np.ndarray]
) -> list[np.ndarray]:
    """Per score, the pooled within-stratum Spearman rho of each resample (one row of ``weights[g]`` per
    resample, over the rows of stratum ``g``, whose accuracy and scores ``rankers[g]`` ranks): the mean
    of the strata's rho weighted by their row counts, over the strata whose resample is not constant in
    either variable (NaN when none is)."""
    resamples = len(weights[0])
    sums = [np.zeros(resamples) for _ in rankers[0][1]]
    total = np.zeros(resamples)
    for rows, w, (accuracy, scores) in zip(groups, weights, rankers):
        ra, ga = _rank_rows(accuracy, w)
        ranked = [_rank_rows(s, w) for s in scores]
        usable = (ga >= 2) & np.all([g >= 2 for _, g in ranked], axis=0)
        total += np.where(usable, len(rows), 0.0)
        for k, (rs, _) in enumerate(ranked):
            with np.errstate(invalid="ignore", divide="ignore"):
                rho = _pearson_rows(rs, ra, w)
            sums[k] += np.where(usable, len(rows) * np.nan_to_num(rho), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return [np.where(total > 0, s / total, np.nan) for s in sums]


def _finite_rows(frame: pd.DataFrame, columns: list[str], strata: str | None) -> pd.DataFrame:
    """The rows of ``frame`` where every one of ``columns`` is finite (and the stratum given)."""
    values = frame[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    keep = np.isfinite(values).all(axis=1)
    if strata is not None:
        keep &= frame[strata].notna().to_numpy()
    return frame[keep]


def _bootstrap_pooled(
    part: pd.DataFrame, scores: list[str], accuracy: str, strata: str | None, min_rows: int, n_boot: int, seed: int
) -> tuple[list[float], list[np.ndarray], list[np.ndarray]]:
    """The pooled rho of each score on ``part`` (:func:`_pooled_rho` with unit weights) and its values
    over ``n_boot`` resamples, the same resamples for every score (architectures drawn with replacement
    within each stratum: a stratified bootstrap); also the strata's row indices."""
    labels = None if strata is None else part[strata].to_numpy()
    groups = _strata_groups(labels, len(part), min_rows)
    values = [part[s].to_numpy(dtype=float) for s in scores]
    acc = part[accuracy].to_numpy(dtype=float)
    rankers = [(_Ranker(acc[g]), [_Ranker(v[g]) for v in values]) for g in groups]
    point = [float(r[0]) for r in _pooled_rho(rankers, groups, [np.ones((1, len(g))) for g in groups])]
    rng = np.random.default_rng(seed)
    boots: list[list[np.ndarray]] = [[] for _ in scores]
    block = max(1, _BLOCK_CELLS // max(1, len(part)))  # resamples at once: blocks that stay in cache
    for start in range(0, n_boot, block):
        rows = min(block, n_boot - start)
        weights = [
            np.stack([np.bincount(rng.integers(0, len(g), size=len(g)), minlength=len(g)) for _ in range(rows)]).astype(
                float
            )
            for g in groups
        ]
        for k, r in enumerate(_pooled_rho(rankers, groups, weights)):
            boots[k].append(r)
    return point, [np.concatenate(b) if b else np.array([]) for b in boots], groups


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    """The two-sided ``1 - level`` percentile interval of the finite ``values`` (NaN, NaN without any)."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return float("nan"), float("nan")
    return float(np.percentile(finite, 100 * level / 2)), float(np.percentile(finite, 100 * (1 - level / 2)))


def stratified_rank_correlation(
    frame: pd.DataFrame,
    score: str,
    *,
    strata: str,
    accuracy: str = "accuracy",
    min_rows: int = 10,
    n_boot: int = 1000,
    level: float = 0.05,
    seed: int = 0,
) -> dict[str, float]:
    """The pooled within-stratum Spearman rho of ``score`` with ``accuracy``: each stratum's rho (rows of one
    value of ``strata``, e.g. the evaluation resolution, with at least ``min_rows`` rows) averaged with
    weights proportional to the stratum's rows, so that no ranking across strata enters it (a score and
    accuracy that both grow with the resolution correlate across strata without ranking anything within
    one). Percentile interval ``1 - level`` of a stratified bootstrap (architectures resampled within
    their stratum). Rows where either value is not finite are dropped first. Returns ``n`` (rows in the
    strata used), ``strata``, ``rho``, ``rho_lo``, ``rho_hi``."""
    part = _finite_rows(frame, [score, accuracy], strata)
    point, boots, groups = _bootstrap_pooled(part, [score], accuracy, strata, min_rows, n_boot, seed)
    low, high = _percentiles(boots[0], level)
    return {
        "n": int(sum(len(g) for g in groups)),
        "strata": len(groups),
        "rho": point[0],
        "rho_lo": low,
        "rho_hi": high,
    }


def rank_correlation_difference(
    frame: pd.DataFrame,
    score: str,
    baseline: str,
    *,
    accuracy: str = "accuracy",
    strata: str | None = None,
    min_rows: int = 10,
    n_boot: int = 1000,
    level: float = 0.05,
    seed: int = 0,
) -> dict[str, float]:
    """``rho(score) - rho(baseline)`` with accuracy, both on the same rows (those where ``score``,
    ``baseline`` and ``accuracy`` are all finite), with a paired percentile bootstrap interval at ``1 -
    level``: each resample draws the architectures once and both correlations are computed on it, so the
    interval is that of the difference, not of two overlapping intervals. Without ``strata`` the rho are
    plain Spearman rho; with ``strata`` (a column, e.g. the evaluation resolution) they are the pooled
    within-stratum rho of :func:`stratified_rank_correlation` over the strata with at least ``min_rows``
    rows, resampled within strata. Returns ``n``, ``strata``, ``rho_score``, ``rho_baseline``,
    ``difference``, ``low``, ``high`` and ``level``."""
    part = _finite_rows(frame, [score, baseline, accuracy], strata)
    nan = float("nan")
    found = {"n": len(part), "strata": 0, "rho_score": nan, "rho_baseline": nan, "difference": nan}
    if len(part) < 3:
        return {**found, "low": nan, "high": nan, "level": level}
    point, boots, groups = _bootstrap_pooled(part, [score, baseline], accuracy, strata, min_rows, n_boot, seed)
    low, high = _percentiles(boots[0] - boots[1], level)
    found |= {"n": int(sum(len(g) for g in groups)), "strata": len(groups), "rho_score": point[0]}
    found |= {"rho_baseline": point[1], "difference": point[0] - point[1]}
    return {**found, "low": low, "high": high, "level": level}
