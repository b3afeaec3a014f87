"""The stored zoo rows are recounted: a sample of each stored zoo's rows (the cheapest to count of
torchvision, pytorchcv and timm, and NAS-Bench-201 cells) analysed again from its seed gives the
reusability quantities the table stores (``data/zoo_scores_v<N>_<zoo>.csv``), so that a change to
the counting engine that moves a count is caught against every zoo."""

from __future__ import annotations

import importlib.util

import pandas as pd
import pytest

from reuseprior.chapters import ch6_predictive_validity as pv
from reuseprior.zoo import scoring
from reuseprior.zoo.scoring import load_scores, score_architecture
from reuseprior.zoo.scoring.registry import REUSE_SCORES

#: per zoo, how many rows are recounted, the cheapest first (the stored ``reuse_seconds``)
SAMPLE = {"torchvision": 2, "pytorchcv": 2, "nb201": 3, "timm": 2}
NEEDS = {"pytorchcv": "pytorchcv", "timm": "timm"}


def _sample(zoo: str) -> list[tuple[str, pd.Series]]:
    version = scoring.published_version(zoo)
    stored = load_scores(zoo, version)
    if stored.empty:
        return []
    stored = stored.dropna(subset=["PG"])
    cheapest = stored.sort_values(["reuse_seconds", "arch"]).head(SAMPLE[zoo])
    return [(zoo, row) for _, row in cheapest.iterrows()]


@pytest.mark.parametrize("zoo", list(SAMPLE))
def test_stored_zoo_rows_are_recounted_to_the_stored_quantities(zoo):
    if zoo in NEEDS and importlib.util.find_spec(NEEDS[zoo]) is None:
        pytest.skip(f"{NEEDS[zoo]} not installed")
    rows = _sample(zoo)
    if not rows:
        pytest.skip(f"no stored {zoo} scores")
    version = scoring.published_version(zoo)
    names = [s for s in REUSE_SCORES if s in scoring.comparable_scores(version)]
    assert "PG" in names and "PG_prime" in names
    tolerance = pv.LIVE_TOLERANCE[pv.tolerance_kind("PG")]  # the counts: float64 sums, no float32 weight read
    for _, row in rows:
        live = score_architecture(scoring.get_zoo(zoo, version), row["arch"], proxies=[], reuse=True)
        assert live["errors"] == "", (zoo, row["arch"], live["errors"])
        for name in names:
            a, b = float(live[name]), float(row[name])
            assert abs(a - b) <= tolerance * max(abs(a), abs(b)), (zoo, row["arch"], name, a, b)
