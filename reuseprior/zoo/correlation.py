"""Rank correlation of a score with accuracy, with bootstrap confidence intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["bootstrap_rank_correlation", "correlation_table", "partial_rank_correlation"]


def bootstrap_rank_correlation(
    score, accuracy, *, n_boot: int = 1000, ci: float = 0.95, seed: int = 0
) -> dict[str, float]:
    """Spearman rho and Kendall tau (tau-b) of ``score`` vs ``accuracy`` and
    percentile bootstrap intervals (resampling architectures with replacement).

    Rows where either value is NaN or infinite are dropped first; ``n`` is the
    number of rows used.
    """
    s = np.asarray(score, dtype=float)
    a = np.asarray(accuracy, dtype=float)
    keep = np.isfinite(s) & np.isfinite(a)
    s, a = s[keep], a[keep]
    n = len(s)
    out = {"n": n}
    if n < 3 or np.ptp(s) == 0:
        return {**out, **{k: float("nan") for k in ("spearman", "spearman_lo", "spearman_hi", "kendall", "kendall_lo", "kendall_hi")}}
    out["spearman"] = float(stats.spearmanr(s, a).statistic)
    out["kendall"] = float(stats.kendalltau(s, a).statistic)
    rng = np.random.default_rng(seed)
    rs, ks = [], []
    # Spearman on resamples = Pearson of the ranks of the resample (ties averaged)
    for _ in range(n_boot):
        idx = rng.integers(0, n, size=n)
        ss, aa = s[idx], a[idx]
        if np.ptp(ss) == 0 or np.ptp(aa) == 0:
            continue
        rs.append(stats.spearmanr(ss, aa).statistic)
        if n <= 3000:
            ks.append(stats.kendalltau(ss, aa).statistic)
    lo, hi = (1 - ci) / 2 * 100, (1 + ci) / 2 * 100
    out["spearman_lo"], out["spearman_hi"] = (float(np.nanpercentile(rs, lo)), float(np.nanpercentile(rs, hi))) if rs else (float("nan"),) * 2
    out["kendall_lo"], out["kendall_hi"] = (float(np.nanpercentile(ks, lo)), float(np.nanpercentile(ks, hi))) if ks else (float("nan"),) * 2
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


def _residual_ranks(values: np.ndarray, control: np.ndarray) -> np.ndarray:
    """Ranks of ``values`` with the linear effect of the ranks of ``control`` removed."""
    rv, rc = stats.rankdata(values), stats.rankdata(control)
    design = np.column_stack([np.ones_like(rc), rc])
    coef, *_ = np.linalg.lstsq(design, rv, rcond=None)
    return rv - design @ coef


def partial_rank_correlation(
    score, accuracy, control, *, n_boot: int = 1000, ci: float = 0.95, seed: int = 0
) -> dict[str, float]:
    """Partial Spearman correlation of ``score`` with ``accuracy`` given ``control``
    (e.g. the parameter count): the Pearson correlation of the rank residuals of
    both after regressing each on the ranks of ``control``, with a percentile
    bootstrap interval. Zero means the score carries no rank information about
    accuracy beyond what ``control`` already has; NaN that it is a monotone
    function of ``control`` (nothing is left to correlate).
    """
    s, a, c = (np.asarray(v, dtype=float) for v in (score, accuracy, control))
    keep = np.isfinite(s) & np.isfinite(a) & np.isfinite(c)
    s, a, c = s[keep], a[keep], c[keep]
    n = len(s)
    nan = {"n": n, "partial_spearman": float("nan"), "partial_lo": float("nan"), "partial_hi": float("nan")}
    if n < 4 or np.ptp(s) == 0 or np.ptp(c) == 0:
        return nan

    def corr(idx):
        rs, ra = _residual_ranks(s[idx], c[idx]), _residual_ranks(a[idx], c[idx])
        scale = len(idx) ** 1.5  # size of the ranks themselves: residuals below 1e-9 of it are rounding
        if np.sqrt((rs ** 2).sum()) < 1e-9 * scale or np.sqrt((ra ** 2).sum()) < 1e-9 * scale:
            return float("nan")  # the score (or accuracy) is a monotone function of the control
        return float((rs * ra).sum() / np.sqrt((rs ** 2).sum() * (ra ** 2).sum()))

    value = corr(np.arange(n))
    if np.isnan(value):
        return {**nan, "n": n}
    rng = np.random.default_rng(seed)
    boots = [corr(rng.integers(0, n, size=n)) for _ in range(n_boot)]
    lo, hi = (1 - ci) / 2 * 100, (1 + ci) / 2 * 100
    return {"n": n, "partial_spearman": value,
            "partial_lo": float(np.nanpercentile(boots, lo)), "partial_hi": float(np.nanpercentile(boots, hi))}
