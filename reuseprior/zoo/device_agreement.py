"""Whether a zoo's data-dependent proxies depend on the device that computed them.

The same architectures, built from the same seeded initialisation and scored on the same minibatch, once on
the CPU (the stored table) and once on a GPU (a rescoring of those rows, ``score-zoos --rescore ... --device
cuda`` into a copy of the table). Both compute in float32 (TF32 off on the GPU:
:func:`reuseprior.core.runtime.full_float32`), but the two devices round and order their reductions
differently, so the values agree to float32 rounding on most models and can drift further on deep networks at
initialisation, and on sums of terms of both signs (GraSP). What chapter 6 needs is the ranking, since it
reads rank correlations: :func:`device_agreement` gives, per proxy, Spearman's rho between the two devices'
values over the architectures where both are finite, beside the median and largest relative difference and
the rows where one device has a value and the other none.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

__all__ = ["device_agreement"]


def device_agreement(
    reference: pd.DataFrame, other: pd.DataFrame, proxies: Iterable[str], archs: Iterable[str]
) -> pd.DataFrame:
    """Per proxy, the agreement of ``other``'s values with ``reference``'s on ``archs`` (both indexed by
    architecture): ``n`` (both finite), ``spearman`` of the two, ``median relative difference`` and
    ``largest relative difference`` (``|other - reference| / |reference|``) with the architecture of the
    largest, ``both missing`` and ``one missing`` (a value on one device only). Architectures missing from
    either table are refused by name."""
    archs = list(archs)
    absent = sorted(set(archs) - set(reference.index) | set(archs) - set(other.index))
    if absent:
        raise KeyError(f"architectures not in both tables: {absent[:5]}")
    rows = []
    for proxy in proxies:
        a = pd.to_numeric(reference.loc[archs, proxy], errors="coerce")
        b = pd.to_numeric(other.loc[archs, proxy], errors="coerce")
        finite = np.isfinite(a) & np.isfinite(b)
        relative = ((b - a).abs() / a.abs())[finite & (a != 0)]
        worst = relative.idxmax() if len(relative) else None
        rows.append(
            {
                "proxy": proxy,
                "n": int(finite.sum()),
                "spearman": float(a[finite].rank().corr(b[finite].rank())) if finite.sum() > 2 else np.nan,
                "median relative difference": float(relative.median()) if len(relative) else np.nan,
                "largest relative difference": float(relative.max()) if len(relative) else np.nan,
                "largest at": worst,
                "both missing": int((a.isna() & b.isna()).sum()),
                "one missing": int((a.isna() != b.isna()).sum()),
            }
        )
    return pd.DataFrame(rows)
