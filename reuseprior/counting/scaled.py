"""Big-count arithmetic: float64 mantissa tensors with a per-tensor power-of-two scale.

Context counts grow like ``width ** depth`` (thesis section 4.4.3: exponentially with
depth), far beyond the float64 range of ``2**1024``: the expected spread of
EfficientNetV2-L, the count-weighted mean of ``log2`` of its counts, is 3095.4 bits
or more (thesis Table 4.4).  A :class:`Scaled` value stores ``mantissa * 2**exponent``
where ``mantissa`` is a float64 tensor whose largest magnitude is renormalised into
``[0.5, 1)`` after every operation and ``exponent`` is an arbitrary Python ``int``.
Relative precision is float64's (about 1e-16 per operation); the range is unbounded.

Limitation: elements of *one* tensor whose ratio to the tensor's largest element is
below ``2**-1074`` underflow to zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["Scaled", "SliceCount", "SliceSum", "ldexp_tensor"]


def ldexp_tensor(m: torch.Tensor, shift: int) -> torch.Tensor:
    """Return ``m * 2**shift`` exactly (power-of-two scaling, split to avoid inf)."""
    if shift == 0:
        return m
    while shift > 1000:
        m = m * (2.0**1000)
        shift -= 1000
    while shift < -1000:
        m = m * (2.0**-1000)
        shift += 1000
    return m * (2.0**shift)


@dataclass
class Scaled:
    """A non-negative count tensor ``mantissa * 2**exponent`` (exponent is a Python int)."""

    mantissa: torch.Tensor
    exponent: int = 0

    # ------------------------------------------------------------------ construction
    @classmethod
    def ones(cls, shape, device=None) -> "Scaled":
        return cls(torch.ones(shape, dtype=torch.float64, device=device), 0)

    def normalized(self) -> "Scaled":
        """Renormalise so that ``max |mantissa|`` lies in ``[0.5, 1)``."""
        m = self.mantissa
        if m.numel() == 0:
            return self
        low, high = torch.aminmax(m)  # one pass, no temporary (counts are >= 0; the sign is kept)
        mx = max(float(high), -float(low))
        if mx == 0.0 or not math.isfinite(mx):
            if not math.isfinite(mx):
                raise FloatingPointError("count mantissa overflowed; renormalise more often")
            return Scaled(m, 0)
        _, e = math.frexp(mx)
        if e == 0:
            return self
        return Scaled(ldexp_tensor(m, -e), self.exponent + e)

    # ------------------------------------------------------------------ arithmetic
    def __add__(self, other: "Scaled") -> "Scaled":
        if other is None:
            return self
        a, b = self, other
        if a.exponent < b.exponent:
            a, b = b, a
        d = b.exponent - a.exponent  # <= 0
        if d >= -1000:  # 2**d is a float64: one fused pass, exact (a power-of-two multiple of b is)
            return Scaled(torch.add(a.mantissa, b.mantissa, alpha=2.0**d), a.exponent).normalized()
        bm = ldexp_tensor(b.mantissa, d) if d > -1100 else torch.zeros_like(b.mantissa)
        return Scaled(a.mantissa + bm, a.exponent).normalized()

    __radd__ = __add__

    def scale(self, factor: float) -> "Scaled":
        """Multiply by a positive Python float (e.g. the discount gamma)."""
        if factor == 1.0:
            return self
        if factor == 0.0:
            return Scaled(torch.zeros_like(self.mantissa), 0)
        f, e = math.frexp(factor)
        return Scaled(self.mantissa * f, self.exponent + e).normalized()

    def map(self, fn) -> "Scaled":
        """Apply a linear, non-negative map to the mantissa and renormalise."""
        return Scaled(fn(self.mantissa), self.exponent).normalized()

    def map_raw(self, fn) -> "Scaled":
        """Apply a map that cannot grow magnitudes (views, slicing); no renormalisation."""
        return Scaled(fn(self.mantissa), self.exponent)

    # ------------------------------------------------------------------ read-out
    @property
    def shape(self) -> torch.Size:
        return self.mantissa.shape

    def log2(self) -> torch.Tensor:
        """float64 log2 of every element; ``-inf`` where the count is zero."""
        m = self.mantissa.to(torch.float64)
        with torch.no_grad():
            out = torch.log2(m) + float(self.exponent)
        return out

    def log2_sum(self) -> float:
        """log2 of the sum of all elements (``-inf`` if all zero)."""
        s = float(self.mantissa.sum())
        if s <= 0.0:
            return float("-inf")
        return math.log2(s) + self.exponent

    def collapsed(self) -> tuple[torch.Tensor, int]:
        """Drop broadcast (stride-0) dimensions: returns ``(mantissa_view, multiplicity)``.

        Dense-conv and dense-layer weight counts do not depend on the input channel and
        are stored expanded; the statistics only need each distinct element once with
        its multiplicity.
        """
        m = self.mantissa
        idx, mult = [], 1
        for size, st in zip(m.shape, m.stride()):
            if st == 0 and size > 1:
                idx.append(0)
                mult *= size
            else:
                idx.append(slice(None))
        return (m[tuple(idx)] if mult > 1 else m), mult

    def to_ints(self) -> list:
        """Exact-as-stored conversion to Python ints (for tests on small counts)."""
        out = []
        for v in self.mantissa.reshape(-1).tolist():
            if v == 0.0:
                out.append(0)
                continue
            mant, e = math.frexp(v)
            iv = int(mant * 2**53)
            sh = e - 53 + self.exponent
            out.append(iv << sh if sh >= 0 else round(iv / 2 ** (-sh)))
        return out


@dataclass
class SliceCount:
    """A count that is zero outside one slice of its operand: ``piece`` sits at
    ``[start:stop:step]`` along ``dim`` of a tensor of ``shape``.

    The slicing rule returns it so that a parameter read by many slices (a
    Shapeshifter store of millions of values, one slice per template of every
    layer) gathers its counts piece by piece (:class:`SliceSum`) instead of one
    store-sized tensor per slice."""

    piece: Scaled
    shape: tuple[int, ...]
    dim: int
    start: int
    stop: int
    step: int

    def region(self) -> tuple:
        """The index of the slice in the full tensor."""
        index: list = [slice(None)] * len(self.shape)
        index[self.dim] = slice(self.start, self.stop, self.step)
        return tuple(index)

    def dense(self) -> Scaled:
        """The count as a full tensor (zero outside the slice)."""
        full = torch.zeros(self.shape, dtype=self.piece.mantissa.dtype)
        full[self.region()] = self.piece.mantissa
        return Scaled(full, self.piece.exponent).normalized()


class SliceSum:
    """The sum of :class:`SliceCount` pieces of one tensor, gathered in place.

    One float64 buffer of the tensor's shape at a running exponent: a piece is
    added at its slice after scaling by a power of two (work of the piece's
    size); only a piece more than ``2**900`` above the buffer rescales the buffer
    first. Floating point keeps every piece within about ``2**1000`` of the buffer's
    exponent exactly as :meth:`Scaled.__add__` would; a contribution below
    ``2**-1074`` of the final largest count underflows, as there."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.total = torch.zeros(shape, dtype=torch.float64)
        self.exponent: int | None = None

    def add(self, count: SliceCount) -> None:
        piece = count.piece
        if self.exponent is None:
            self.exponent = piece.exponent
        d = piece.exponent - self.exponent
        if d > 900:
            self.total = ldexp_tensor(self.total, -d)
            self.exponent, d = piece.exponent, 0
        if d > -1100:
            self.total[count.region()] += ldexp_tensor(piece.mantissa, d)

    def result(self, full: Scaled | None) -> Scaled:
        """The pieces' sum plus ``full`` (the counts of the tensor's other uses)."""
        gathered = Scaled(self.total, self.exponent or 0).normalized()
        return gathered if full is None else gathered + full
