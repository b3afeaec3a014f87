"""Float64 reductions and elementwise logarithms whose bits are the same on every CPU.

Policy: a stored or printed quantity that sums many float64 terms, or takes ``exp2``/``log2`` of each,
does not go through NumPy's or PyTorch's vectorised kernels, whose results depend on the SIMD level the
machine dispatches to (NumPy's ``exp2`` and ``exp`` take another implementation under AVX-512 than
under AVX2, PyTorch's ``log2`` differs from the C library's in the last bit, and a sum's rounding
depends on the order its terms are added in). Instead:

- :func:`exact_sum` is :func:`math.fsum`: the exactly rounded sum of its terms, whatever their order;
- :func:`log2_each`, :func:`exp2_each`, :func:`exp_each`, :func:`log_each` apply the C library's scalar
  function (:mod:`math`) to each distinct value once (:func:`numpy.unique`: a sort, exact), so a large
  array of few distinct values (the context counts of a model's weights) costs little;
- :func:`grouped` merges equal values, summing their weights exactly (weights that are integers below
  ``2**53``, such as multiplicities, sum exactly in float64 in any order).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

__all__ = ["exact_sum", "exp2_each", "exp_each", "grouped", "log2_each", "log_each"]


def exact_sum(values: np.ndarray) -> float:
    """The exactly rounded sum of ``values`` (float64; :func:`math.fsum`), the same in any order."""
    return math.fsum(np.asarray(values, dtype=np.float64).ravel().tolist())


def _each(function: Callable[[float], float], values: np.ndarray) -> np.ndarray:
    """``function`` (a :mod:`math` scalar function) of each element of ``values``, computed once per
    distinct value; the result has ``values``' shape."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return array.copy()
    distinct, where = np.unique(array, return_inverse=True)
    results = np.fromiter(map(function, distinct.tolist()), dtype=np.float64, count=distinct.size)
    return results[where].reshape(array.shape)


def _log2(value: float) -> float:
    """``math.log2`` with NumPy's answers where it has none: ``-inf`` at 0, ``nan`` below."""
    return math.log2(value) if value > 0 else (-math.inf if value == 0 else math.nan)


def _log(value: float) -> float:
    return math.log(value) if value > 0 else (-math.inf if value == 0 else math.nan)


def log2_each(values: np.ndarray) -> np.ndarray:
    """``log2`` of each element by the C library (``-inf`` at 0): the same bits on every CPU."""
    return _each(_log2, values)


def log_each(values: np.ndarray) -> np.ndarray:
    """The natural logarithm of each element by the C library (``-inf`` at 0)."""
    return _each(_log, values)


def exp2_each(values: np.ndarray) -> np.ndarray:
    """``2 ** x`` of each element by the C library: the same bits on every CPU."""
    return _each(math.exp2, values)


def exp_each(values: np.ndarray) -> np.ndarray:
    """``e ** x`` of each element by the C library: the same bits on every CPU."""
    return _each(math.exp, values)


def grouped(values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(distinct values, the sum of their weights)``, the values in increasing order; the weights are
    summed exactly when they are integers below ``2**53`` (multiplicities), else in the values' order."""
    distinct, where = np.unique(np.asarray(values, dtype=np.float64), return_inverse=True)
    totals = np.bincount(where.ravel(), weights=np.asarray(weights, dtype=np.float64).ravel(), minlength=distinct.size)
    return distinct, totals
