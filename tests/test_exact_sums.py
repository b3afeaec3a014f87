"""The float64 reductions behind ES, H, S and z have the same bits on every CPU (reuseprior.core.exact_sums;
issue 73, item 7): each sum is taken in one fixed order (NumPy's pairwise order, done by elementwise
additions, so no SIMD level changes it) and each ``exp2`` is the C library's, so the quantities equal a
scalar computation in plain Python, which no vector unit touches, bit for bit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reuseprior.core.exact_sums import exp2_each, pairwise_sum
from reuseprior.counting import quantities_from_log2_counts


def _scalar_pairwise(a: list[float], start: int = 0, n: int | None = None) -> float:
    """NumPy's pairwise order, one Python float addition at a time (the reference no SIMD path reaches)."""
    n = len(a) if n is None else n
    if n < 8:
        total = 0.0
        for value in a[start : start + n]:
            total += value
        return total
    if n <= 128:
        r = a[start : start + 8]
        i = 8
        while i < n - n % 8:
            r = [r[j] + a[start + i + j] for j in range(8)]
            i += 8
        total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        for value in a[start + i : start + n]:
            total += value
        return total
    half = n // 2 - (n // 2) % 8
    return _scalar_pairwise(a, start, half) + _scalar_pairwise(a, start + half, n - half)


def _wide_terms(seed: int, n: int) -> np.ndarray:
    """Terms of many magnitudes and both signs, whose float64 sum depends on the order they are added in."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal(n) * np.exp2(rng.integers(-30, 30, n))


@pytest.mark.parametrize("n", [0, 1, 7, 8, 100, 128, 129, 1000, 8191, 8193, 100_003])
def test_the_fixed_order_sum_is_numpys_pairwise_order_done_by_elementwise_additions(n):
    terms = _wide_terms(n, n)
    if n >= 1000:  # the inputs are ones whose naive sums differ by order
        assert len({math.fsum(terms.tolist()), sum(terms.tolist()), sum(terms[::-1].tolist())}) > 1
    expected = _scalar_pairwise(terms.tolist())
    assert pairwise_sum(terms) == expected == float(np.sum(terms))


def test_exp2_is_the_c_librarys_once_per_distinct_value():
    values = np.array([[-0.5, -3.25, 0.0], [-3.25, -1074.5, -0.5]])
    assert exp2_each(values).tolist() == [[math.exp2(v) for v in row] for row in values.tolist()]


@pytest.mark.parametrize("seed", [0, 1])
def test_the_quantities_equal_a_scalar_python_computation_bit_for_bit(seed):
    """ES, H, S and z computed with NumPy's vector kernels differ under AVX-512 in their last bits (the
    issue's V2-S expected spread); here they equal the scalar computation exactly."""
    rng = np.random.default_rng(seed)
    logs = np.round(rng.uniform(0.0, 3000.0, 20_000), 3)
    mults = rng.integers(1, 64, logs.size).astype(float)
    q = quantities_from_log2_counts(logs, mults, NI=3 * 224**2, NO=1000, WG=10**6)
    l, m = logs.tolist(), mults.tolist()
    top = max(l)
    z = _scalar_pairwise([mi * math.exp2(li - top) for li, mi in zip(l, m)])
    log2_nc = top + math.log2(z)
    p = [math.exp2(li - log2_nc) for li in l]
    assert q["log2_NC"] == log2_nc
    assert q["expected_spread"] == _scalar_pairwise([mi * pi * li for li, mi, pi in zip(l, m, p)])
    assert q["entropy"] == _scalar_pairwise([mi * pi * (log2_nc - li) for li, mi, pi in zip(l, m, p)])
    assert q["total_surprisal"] == q["NG"] * log2_nc - _scalar_pairwise([mi * li for li, mi in zip(l, m)])


def test_the_quantities_do_not_depend_on_numpys_vector_kernels(monkeypatch):
    """What a wider SIMD path does, simulated: an ``exp2`` one unit in the last place off (NumPy's AVX-512
    implementation against the C library's) and a sum in another order (more lanes). The quantities keep
    every bit."""
    rng = np.random.default_rng(2)
    logs, mults = rng.uniform(0.0, 3000.0, 5000), rng.integers(1, 64, 5000).astype(float)
    before = quantities_from_log2_counts(logs, mults, NI=784, NO=10, WG=10**5)
    exp2, total = np.exp2, np.sum
    monkeypatch.setattr(np, "exp2", lambda x, *a, **k: np.nextafter(exp2(x, *a, **k), np.inf))
    monkeypatch.setattr(np, "sum", lambda x, *a, **k: total(np.asarray(x)[::-1], *a, **k))
    assert quantities_from_log2_counts(logs, mults, NI=784, NO=10, WG=10**5) == before
