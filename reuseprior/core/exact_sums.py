"""Float64 sums and powers of two whose bits are the same on every CPU.

Policy: a stored or printed quantity that sums many float64 terms, or takes ``exp2`` of each,
does not go through a kernel whose results depend on the SIMD level the machine dispatches to (NumPy's
``exp2`` takes another implementation under AVX-512 than under AVX2), and adds its terms in one fixed
order (a sum's rounding depends on the order its terms are added in). Instead:

- :func:`pairwise_sum` adds its terms in one fixed order, NumPy's pairwise order for a contiguous float64
  array (blocks of at most 128 terms, each summed in 8 interleaved partial sums; blocks combined by
  halving), done here by elementwise additions only, whose IEEE results no SIMD level changes: the
  bits of ``numpy.sum`` on the machines that computed the stored rows, on every machine;
- :func:`exp2_each` applies the C library's ``exp2`` (:func:`math.exp2`) to each distinct value once
  (:func:`numpy.unique`: a sort, exact), so a large array of few distinct values (the context counts of
  a model's weights) costs little; it equals NumPy's ``exp2`` wherever NumPy calls the C library.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

__all__ = ["exp2_each", "pairwise_sum"]

#: the longest block :func:`pairwise_sum` sums without halving (NumPy's ``PW_BLOCKSIZE``)
PAIRWISE_BLOCK = 128


def pairwise_sum(values: np.ndarray) -> float:
    """The sum of ``values`` (float64, flattened) in NumPy's pairwise order (see the module's policy):
    fewer than 8 terms one after the other; at most :data:`PAIRWISE_BLOCK` in 8 partial sums of every
    8th term, combined ``((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))``, then the last ``n % 8`` terms
    one by one; more, the first ``n // 2`` rounded down to a multiple of 8 and the rest summed so, then
    added. The blocks are summed together, vectorised, by elementwise additions in that order."""
    a = np.ascontiguousarray(values, dtype=np.float64).ravel()
    if a.size < 8:
        total = 0.0
        for value in a.tolist():
            total += value
        return total
    starts, lengths = _blocks(a.size)
    sums = iter(_block_sums(a, np.asarray(starts), np.asarray(lengths)).tolist())
    return _combined(a.size, sums)


def _blocks(n: int) -> tuple[list[int], list[int]]:
    """The blocks (starts, lengths) the pairwise order splits ``n >= 8`` terms into, in order."""
    starts: list[int] = []
    lengths: list[int] = []
    todo = [(0, n)]
    while todo:
        start, length = todo.pop()
        if length <= PAIRWISE_BLOCK:
            starts.append(start)
            lengths.append(length)
            continue
        half = length // 2 - (length // 2) % 8
        todo.append((start + half, length - half))  # popped after the first half: blocks in order
        todo.append((start, half))
    return starts, lengths


def _block_sums(a: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Each block's sum in the 8-partial-sums order, all blocks at once (elementwise additions)."""
    lanes = np.arange(8)
    groups = lengths // 8
    partial = a[starts[:, None] + lanes].copy()
    for group in range(1, PAIRWISE_BLOCK // 8):
        more = groups > group
        if not more.any():
            break
        partial[more] += a[starts[more, None] + 8 * group + lanes]
    p = partial.T
    total = ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]))
    ends = starts + 8 * groups
    for k in range(7):
        more = lengths % 8 > k
        if not more.any():
            break
        total[more] += a[ends[more] + k]
    return total


def _combined(n: int, sums) -> float:
    """The blocks' sums (an iterator, in order) added up the halving tree of ``n`` terms."""
    if n <= PAIRWISE_BLOCK:
        return next(sums)
    half = n // 2 - (n // 2) % 8
    first = _combined(half, sums)
    return first + _combined(n - half, sums)


def _each(function: Callable[[float], float], values: np.ndarray) -> np.ndarray:
    """``function`` (a :mod:`math` scalar function) of each element of ``values``, computed once per
    distinct value; the result has ``values``' shape."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return array.copy()
    distinct, where = np.unique(array, return_inverse=True)
    results = np.fromiter(map(function, distinct.tolist()), dtype=np.float64, count=distinct.size)
    return results[where].reshape(array.shape)


def exp2_each(values: np.ndarray) -> np.ndarray:
    """``2 ** x`` of each element by the C library: the same bits on every CPU."""
    return _each(math.exp2, values)
