"""The digits of a float64 result that every CPU computes.

NumPy and PyTorch evaluate ``log``, ``exp`` and long sums through kernels
chosen by the CPU's instruction set (AVX2, AVX-512), which round the last
bits of a float64 differently (about 1e-16 relative). A value that is itself
a rounding residual -- a closed form minus the engine, KL minus ES, the
difference of two nearly equal values -- carries those bits in its leading
digits: measured between an AVX-512 and an AVX2 machine, a relative
difference of 7.2e-16 became 8.4e-16 and a difference of 1.008383088e-05
became 1.008383087e-05. Tracked tables therefore keep such columns only to
an absolute number of decimals (:func:`round_residuals`); the check that
produced them holds the unrounded values to a tolerance in the same cell.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

__all__ = ["RESIDUAL_DECIMALS", "round_residuals"]

#: decimals a float64 residual keeps in a tracked table: rounding errors of values up to about 100
#: stay below 1e-13, so 12 decimals are the same on every CPU
RESIDUAL_DECIMALS = 12


def round_residuals(frame: pd.DataFrame, columns: Sequence[str], decimals: int = RESIDUAL_DECIMALS) -> pd.DataFrame:
    """A copy of ``frame`` with ``columns`` rounded to ``decimals`` decimal
    places, negative zeros made positive (so a residual of either sign below
    the last kept decimal is stored and shown as 0)."""
    out = frame.copy()
    for column in columns:
        out[column] = out[column].astype(float).round(decimals) + 0.0
    return out
