"""The few-seed statistics of reuseprior.reporting.statistics and the verdict rule they feed
(reuseprior.core.verdict_policy), against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from reuseprior.core.verdict_policy import CONTRADICTED, DESIGN_POWER, REPRODUCED, UNDETERMINED, verdict
from reuseprior.reporting import statistics as st
from reuseprior.reporting.verdicts import Comparison, paired_robustness

#: chapter 4's three V2-S-shared minus B0 differences (points), issue 33's example
THREE = [-13.11, -8.31, -0.9]


def test_three_pairs_by_hand():
    s = st.paired_summary(THREE)
    # mean -7.44, sd 6.1513, t(0.975, 2) = 4.3027: -7.44 -/+ 4.3027 * 6.1513 / sqrt(3)
    assert s["mean"] == pytest.approx(-7.44) and s["sd"] == pytest.approx(6.15132, abs=1e-5)
    assert (round(s["t low"], 1), round(s["t high"], 1)) == (-22.7, 7.8)
    assert s["sign test p"] == s["permutation p"] == 0.25  # 2 of the 8 sign assignments reach |sum|
    assert (s["wins"], s["losses"], s["ties"]) == (0, 3, 0)
    assert (s["seed range low"], s["seed range high"]) == (-13.11, -0.9)
    assert math.isnan(s["bootstrap low"]) and math.isnan(s["bootstrap high"])  # 3 < MIN_PAIRS_FOR_BOOTSTRAP


def test_permutation_p_exact_and_monte_carlo():
    # [1, 2, 3, -1]: sum 5; of the 16 sign assignments |sum| >= 5 for +-(1+2+3-1)=5, +-(1+2+3+1)=7, +-(-1+2+3+1)=5
    assert st.permutation_p([1, 2, 3, -1]) == pytest.approx(6 / 16)
    assert st.permutation_p([1.0] * 5) == pytest.approx(2 / 32)
    # differences that cancel exactly: every assignment reaches |sum| = 0, whatever the float rounding
    assert st.permutation_p([0.1, 0.2, -0.3] * 4) == 1.0
    assert st.permutation_p([0.1, 0.7, -0.3, 0.2, -0.7, 0.4, -0.1, -0.2, -0.1]) == 1.0
    big = np.random.default_rng(0).normal(0.5, 1, 25)
    p = st.permutation_p(big)
    assert 0 < p < 1 and p == st.permutation_p(big)  # seeded


def test_bootstrap_only_from_its_minimum():
    d = np.random.default_rng(1).normal(size=st.MIN_PAIRS_FOR_BOOTSTRAP)
    low, high = st.percentile_bootstrap(d)
    assert d.min() <= low < d.mean() < high <= d.max()
    assert all(math.isnan(v) for v in st.percentile_bootstrap(d[:-1]))


def _summary(low: float, high: float, p: float, equivalence: float = 1 / 32) -> dict[str, float]:
    return {"t low": low, "t high": high, "permutation p": p, "equivalence margin": 0.5, "equivalence p": equivalence}


@pytest.mark.parametrize(
    "summary, claim, expected",
    [
        (_summary(0.1, 1.4, 0.01), "greater", REPRODUCED),
        (_summary(-1.4, -0.1, 0.01), "greater", CONTRADICTED),
        (_summary(-1.4, -0.1, 0.01), "less", REPRODUCED),
        (_summary(0.1, 1.4, 0.0625), "greater", UNDETERMINED),  # 5 pairs: the interval alone is not enough
        (_summary(-0.2, 1.4, 0.01), "greater", UNDETERMINED),
        (_summary(-0.17, 0.25, 0.69), "equivalent", REPRODUCED),
        (_summary(-0.17, 0.25, 0.69, equivalence=0.0625), "equivalent", UNDETERMINED),  # 4 pairs: p >= 1/16
        (_summary(8.3, 24.6, 0.01), "equivalent", CONTRADICTED),
        (_summary(8.3, 24.6, 0.0625), "equivalent", UNDETERMINED),
        (_summary(-24.6, -0.5, 0.01), "equivalent", CONTRADICTED),  # wholly below -margin
        # significantly non-zero yet possibly inside the margin: neither shown equal nor shown to differ by the margin
        (_summary(0.05, 0.65, 0.01, equivalence=0.156), "equivalent", UNDETERMINED),
        (_summary(0.3, 0.7, 0.01, equivalence=0.6), "equivalent", UNDETERMINED),
        (_summary(-0.2, 0.7, 0.3), "equivalent", UNDETERMINED),
        (_summary(math.nan, math.nan, math.nan), "greater", UNDETERMINED),
    ],
)
def test_every_verdict_branch(summary, claim, expected):
    assert verdict(summary, claim, margin=0.5 if claim == "equivalent" else None) == expected


def test_an_equivalence_claim_needs_a_margin():
    with pytest.raises(ValueError):
        verdict(_summary(0, 1, 0.5), "equivalent")
    with pytest.raises(ValueError):
        verdict(_summary(0, 1, 0.5), "bigger")


def test_paired_by_seed_pairs_only_the_seeds_both_hold():
    treatment = pd.Series({0: 0.82, 1: 0.81, 2: 0.84, 3: 0.80, 9: 0.99})  # seed 9: the control still running
    control = pd.Series({3: 0.79, 2: 0.81, 1: 0.82, 0: 0.80, 4: float("nan")})  # seed 4: no treatment, NaN
    summary = st.paired_by_seed(treatment, control, scale=100.0, resamples=200)
    direct = st.paired_summary([2.0, -1.0, 3.0, 1.0], resamples=200)
    assert summary["pairs"] == 4
    for key in ("mean", "t low", "t high", "permutation p", "sign test p", "wins", "losses"):
        assert summary[key] == pytest.approx(direct[key])
    assert st.paired_by_seed(treatment.iloc[:0], control)["pairs"] == 0


def test_six_pairs_are_the_fewest_that_can_decide():
    assert st.fewest_decisive_pairs() == 6 and st.permutation_p(np.ones(6)) == pytest.approx(2 / 64)
    assert st.permutation_p(np.ones(5)) == pytest.approx(2 / 32)  # five pairs can never reach p < 0.05
    assert st.fewest_decisive_pairs(alpha=0.1) == 5


def test_an_equivalence_needs_its_permutation_half_and_so_five_pairs():
    assert st.fewest_equivalence_pairs() == st.MIN_PAIRS_FOR_EQUIVALENCE == 5
    two_zeros = st.paired_summary([0.0, 0.0], margin=0.5)
    assert (two_zeros["t low"], two_zeros["t high"]) == (0.0, 0.0) and two_zeros["equivalence p"] == 0.25
    assert verdict(two_zeros, "equivalent", margin=0.5) == UNDETERMINED
    five = st.paired_summary([0.1, -0.1, 0.05, 0.0, 0.02], margin=0.5)
    assert five["equivalence p"] == pytest.approx(1 / 32)
    assert verdict(five, "equivalent", margin=0.5) == REPRODUCED
    # one difference beyond the margin: the one-sided test of d - margin no longer puts the observed sum alone
    assert st.equivalence_p([0.6, -0.1, 0.05, 0.0, 0.02], 0.5) > 1 / 32
    with pytest.raises(ValueError, match="margin=0.5"):
        verdict(st.paired_summary([0.1] * 6), "equivalent", margin=0.5)  # summary without the margin


def test_power_of_the_paired_t_test_against_the_textbook():
    # Cohen's dz = 0.5 at alpha 0.05 two-sided and power 0.8 needs 34 pairs (G*Power's paired t-test)
    assert st.pairs_needed(2.0, 1.0) == 34
    assert st.paired_power(2.0, 33, 1.0) < DESIGN_POWER <= st.paired_power(2.0, 34, 1.0)
    delta = st.detectable_difference(2.0, 34)
    assert st.paired_power(2.0, 34, delta) == pytest.approx(DESIGN_POWER) and delta <= 1.0
    assert st.paired_power(2.0, 34, -1.0) == pytest.approx(st.paired_power(2.0, 34, 1.0))
    assert math.isnan(st.detectable_difference(2.0, 1)) and st.paired_power(1.0, 8, 50.0) == pytest.approx(1.0)


def test_permutation_steps_count_the_exact_p_values_between_a_p_and_its_level():
    # 8 pairs: the two-sided exact p moves in steps of 2/256
    assert st.permutation_steps_to_level(6 / 256, 8, 0.025) == 0  # passes; the next possible p, 8/256, fails
    assert st.permutation_steps_to_level(6 / 256, 8, 0.05) == 3  # 8, 10 and 12/256 still pass; 14/256 fails
    assert st.permutation_steps_to_level(8 / 256, 8, 0.025) == -1  # one step down would pass
    assert st.permutation_steps_to_level(6 / 256, 8, 0.0125) == -2  # 2/256 is the first below 0.0125
    assert np.isnan(st.permutation_steps_to_level(0.01, 30, 0.05))  # a Monte Carlo p has no exact steps
    # 6 pairs at 0.0125: the smallest p, 2/64, fails, so no steps reach the level; 8 pairs can (2/256)
    assert np.isnan(st.permutation_steps_to_level(2 / 64, 6, 0.0125))
    assert st.permutation_steps_to_level(2 / 256, 8, 0.0125) == 0


def test_leave_one_out_agreement_is_the_share_of_subsets_that_keep_the_verdict():
    steady = [0.9, 1.1, 1.0, 0.95, 1.05, 1.0, 0.98, 1.02]
    assert st.leave_one_out_agreement(steady, "greater") == 1.0
    # 6 pairs of one sign reach p = 2/64 < 0.05; 5 cannot (2/32 = 0.0625): no subset keeps "reproduced"
    assert st.leave_one_out_agreement(steady[:6], "greater") == 0.0
    # 6 seeds for and 1 against: p = 4/128, reproduced; only the subset without the seed against keeps it
    one_against = [1.0, 0.8, 1.2, 0.9, 1.1, 1.0, -0.5]
    assert verdict(st.paired_summary(one_against), "greater") == REPRODUCED
    assert st.leave_one_out_agreement(one_against, "greater") == pytest.approx(1 / 7)
    assert np.isnan(st.leave_one_out_agreement([1.0, 2.0], "greater"))


def test_the_tost_p_is_stepped_one_sign_flip_at_a_time():
    """The TOST p's one-sided sign flips move it by 1/2**n (not 2/2**n), and 6 pairs reach 0.025 with it."""
    assert st.permutation_steps_to_level(1 / 64, 6, 0.025, equivalence=True) == 0  # 2/64 = 0.03125 fails
    assert st.permutation_steps_to_level(1 / 256, 8, 0.025, equivalence=True) == 5  # 2/256 ... 6/256 still pass
    assert st.permutation_steps_to_level(8 / 256, 8, 0.025, equivalence=True) == -2  # 6/256 is the first to pass
    assert np.isnan(st.permutation_steps_to_level(1 / 32, 5, 0.025, equivalence=True))  # 1/32 never passes
    assert np.isnan(st.permutation_steps_to_level(1 / 64, 6, 0.025))  # two-sided: 2/64 never passes 0.025


def test_an_equivalence_claims_robustness_is_read_from_its_tost_p():
    """paired_robustness steps the p that decides the claim: the TOST p of an equivalence claim."""
    differences = [0.05, -0.02, 0.03, 0.01, -0.04, 0.02, 0.0, 0.01]
    runs = pd.DataFrame(
        [{"seed": s, "mode": "random", "acc": 0.0} for s in range(8)]
        + [{"seed": s, "mode": "evolve", "acc": d} for s, d in enumerate(differences)]
    )
    equivalent = Comparison("evolve", "random", "equivalent", 0.5)
    row = paired_robustness(runs, [equivalent], arm="mode", metric="acc", alpha=0.025).iloc[0]
    tost = st.equivalence_p(differences, 0.5)
    assert tost == 1 / 256 and row["permutation p"] == st.permutation_p(differences)
    assert row["permutation steps to the level"] == st.permutation_steps_to_level(tost, 8, 0.025, equivalence=True)


def test_an_equivalence_contradicted_beyond_its_margin_is_stepped_on_its_two_sided_p():
    """Differences wholly beyond the margin contradict an equivalence by the two-sided p: that p is stepped."""
    differences = [2.0, 2.1, 1.9, 2.05, 1.95, 2.0, 2.02, 1.98]
    runs = pd.DataFrame(
        [{"seed": s, "mode": "random", "acc": 0.0} for s in range(8)]
        + [{"seed": s, "mode": "evolve", "acc": d} for s, d in enumerate(differences)]
    )
    equivalent = Comparison("evolve", "random", "equivalent", 0.5)
    row = paired_robustness(runs, [equivalent], arm="mode", metric="acc", alpha=0.025).iloc[0]
    summary = st.paired_summary(differences, confidence=0.975, margin=0.5)
    assert verdict(summary, "equivalent", alpha=0.025, margin=0.5) == CONTRADICTED
    assert row["permutation p"] == 2 / 256 and row["permutation steps to the level"] == 2  # 4/256, 6/256 pass
