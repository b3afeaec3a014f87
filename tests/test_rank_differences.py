"""Differences of rank correlations as estimands (issue 72): the paired bootstrap of
``rho(score) - rho(baseline)``, the pooled within-stratum rho, and the verdict an interval gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from reuseprior.core.verdict_policy import CONTRADICTED, REPRODUCED, UNDETERMINED, interval_verdict
from reuseprior.zoo.correlation import (
    bootstrap_rank_correlation,
    rank_correlation_difference,
    stratified_rank_correlation,
)


def _zoo(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Accuracy that grows with the resolution and, within it, with ``good``; ``size`` grows with the
    resolution only: across strata both rank accuracy, within a stratum only ``good`` does."""
    rng = np.random.default_rng(seed)
    img = rng.choice([224, 288, 384], size=n)
    good = rng.normal(size=n)
    return pd.DataFrame(
        {
            "img_size": img,
            "good": good + img / 20,
            "size": img / 20 + rng.normal(scale=0.01, size=n),
            "accuracy": img / 10 + good + rng.normal(scale=0.3, size=n),
        }
    )


def test_the_difference_is_of_the_two_spearman_rho_on_the_rows_both_have():
    zoo = _zoo()
    zoo.loc[:9, "size"] = np.nan  # ten rows without the baseline: left out of both rho
    zoo.loc[10, "good"] = np.inf
    found = rank_correlation_difference(zoo, "good", "size", n_boot=200)
    both = zoo.iloc[11:]
    rho = [stats.spearmanr(both[c], both["accuracy"]).statistic for c in ("good", "size")]
    assert found["n"] == len(both) and found["strata"] == 1
    assert found["rho_score"] == pytest.approx(rho[0]) and found["rho_baseline"] == pytest.approx(rho[1])
    assert found["difference"] == pytest.approx(rho[0] - rho[1])
    assert found["low"] < found["difference"] < found["high"]


def test_the_bootstrap_is_paired_a_score_against_itself_differs_by_exactly_zero_in_every_resample():
    zoo = _zoo()
    found = rank_correlation_difference(zoo, "good", "good", n_boot=300)
    assert (found["difference"], found["low"], found["high"]) == (0.0, 0.0, 0.0)


def test_one_stratum_resamples_as_the_plain_bootstrap_does():
    zoo = _zoo().assign(one=1)
    plain = bootstrap_rank_correlation(zoo["good"], zoo["accuracy"], n_boot=300, seed=3)
    pooled = stratified_rank_correlation(zoo, "good", strata="one", n_boot=300, seed=3)
    assert pooled["rho"] == pytest.approx(plain["spearman"])
    assert (pooled["rho_lo"], pooled["rho_hi"]) == pytest.approx((plain["spearman_lo"], plain["spearman_hi"]))


def test_within_strata_a_score_that_only_tracks_the_resolution_ranks_nothing():
    zoo = _zoo()
    pooled = rank_correlation_difference(zoo, "good", "size", n_boot=400, level=0.01)
    within = rank_correlation_difference(zoo, "good", "size", strata="img_size", n_boot=400, level=0.01)
    assert pooled["rho_baseline"] > 0.5  # across resolutions, size ranks accuracy
    assert abs(within["rho_baseline"]) < 0.2 and within["strata"] == 3
    assert within["low"] > 0.5  # the difference within resolution is resolved
    by_stratum = [(len(g), stats.spearmanr(g["good"], g["accuracy"]).statistic) for _, g in zoo.groupby("img_size")]
    weighted = sum(n * r for n, r in by_stratum) / sum(n for n, _ in by_stratum)
    assert within["rho_score"] == pytest.approx(weighted)


def test_small_strata_are_left_out_and_counted():
    zoo = _zoo()
    zoo.loc[:4, "img_size"] = 160  # five rows of their own resolution
    found = stratified_rank_correlation(zoo, "good", strata="img_size", min_rows=10, n_boot=50)
    assert found["strata"] == 3 and found["n"] == len(zoo) - 5


def test_the_interval_verdict_reads_the_side_of_zero():
    assert interval_verdict(0.01, 0.2, "greater") == REPRODUCED
    assert interval_verdict(-0.2, -0.01, "greater") == CONTRADICTED
    assert interval_verdict(-0.01, 0.2, "greater") == UNDETERMINED
    assert interval_verdict(-0.2, -0.01, "less") == REPRODUCED
    assert interval_verdict(float("nan"), float("nan"), "greater") == UNDETERMINED
    with pytest.raises(ValueError, match="'greater' or 'less'"):
        interval_verdict(0.1, 0.2, "equivalent")
