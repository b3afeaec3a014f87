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

__all__ = ["Scaled", "ldexp_tensor"]


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
        mx = float(m.abs().max())
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
