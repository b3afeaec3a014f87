"""The float64 reductions behind ES, H, S and z have the same bits on every CPU and in any order
(reuseprior.core.exact_sums; issue 73, item 7): the sums are exactly rounded, the logarithms and powers
the C library's, so neither the SIMD level NumPy or PyTorch dispatch to nor the order of the weights
changes a stored or printed digit."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from reuseprior.core.exact_sums import exact_sum, exp2_each, grouped, log2_each
from reuseprior.counting import quantities_from_log2_counts


def _naive(values) -> float:
    total = 0.0
    for value in values:
        total += value
    return total


def _wide_terms(seed: int, n: int = 4000) -> np.ndarray:
    """Terms of many magnitudes and both signs, whose float64 sum depends on the order they are added."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal(n) * np.exp2(rng.integers(-30, 30, n))


def test_the_exact_sum_is_the_rounded_true_sum_in_any_order():
    terms = _wide_terms(0)
    orders = [np.random.default_rng(s).permutation(terms) for s in range(4)]
    naive = {_naive(o) for o in orders} | {float(np.sum(o)) for o in orders}
    assert len(naive) > 1  # the inputs are ones whose naive sums differ by order
    exact = float(sum(Fraction(t) for t in terms.tolist()))
    assert {exact_sum(o) for o in orders} == {exact}
    assert exact_sum(np.array([1e16, 1.0, -1e16, 1.0])) == 2.0 != _naive([1e16, 1.0, -1e16, 1.0])


def test_each_value_goes_through_the_c_library_once_per_distinct_value():
    values = np.array([[0.0, 1.5, 3.0], [1.5, 7.25, 0.0]])
    assert log2_each(values).tolist() == [
        [-math.inf, math.log2(1.5), math.log2(3.0)],
        [math.log2(1.5), math.log2(7.25), -math.inf],
    ]
    assert exp2_each(-values).tolist() == [[math.exp2(-v) for v in row] for row in values.tolist()]
    distinct, totals = grouped(np.array([2.0, 1.0, 2.0, 1.0, 3.0]), np.array([4.0, 1.0, 4.0, 2.0, 1.0]))
    assert distinct.tolist() == [1.0, 2.0, 3.0] and totals.tolist() == [3.0, 8.0, 1.0]


@pytest.mark.parametrize("seed", [0, 1])
def test_the_quantities_have_the_same_bits_in_any_order_of_the_weights(seed):
    """ES, H, S, z are sums over the weights: shuffling the weights (as another capture order, or another
    SIMD width's partial sums, would) must not move a bit; they also equal the sums taken exactly."""
    rng = np.random.default_rng(seed)
    logs = rng.uniform(0.0, 3000.0, 20_000)
    mults = rng.integers(1, 64, logs.size).astype(float)
    results = []
    for order in range(4):
        shuffle = np.random.default_rng(100 + order).permutation(logs.size)
        results.append(quantities_from_log2_counts(logs[shuffle], mults[shuffle], NI=3 * 224**2, NO=1000, WG=10**6))
    assert all(r == results[0] for r in results[1:])
    q = results[0]
    top = logs.max()
    z = sum(Fraction(m) * Fraction(math.exp2(v - top)) for v, m in zip(logs.tolist(), mults.tolist()))
    assert q["log2_NC"] == pytest.approx(top + math.log2(float(z)), rel=1e-15)
    assert q["NG"] == int(mults.sum())
