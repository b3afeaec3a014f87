"""Chapter-6 figures (``reuseprior.chapters.ch6_predictive_validity``): every panel of the
scatter grid shows finite data inside its axis limits, spread over the axis,
with a unit on each axis label; the axis rules of :func:`scatter_axis`."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from reuseprior.chapters import ch6_predictive_validity as pv  # noqa: E402

#: the scores the notebook's scatter cell draws
NOTEBOOK_SCATTER = pv.PROXY_SCORES + [
    "PG",
    "PG_prime",
    "expected_spread",
    "entropy",
    "total_surprisal",
    "PG_per_param",
    "PE",
]


def _check_panels(fig, n_scores: int) -> None:
    """Each drawn panel: one scatter with finite points, all inside finite axis
    limits, the middle half of the points over >= 5% of the x axis (no
    collapse onto a line), and axis labels with units."""
    drawn = [ax for ax in fig.axes if ax.axison]
    assert len(drawn) == n_scores
    fig.canvas.draw()  # the limits as rendered
    for ax in drawn:
        (points,) = ax.collections
        xy = np.asarray(points.get_offsets(), dtype=float)
        assert len(xy) > 0 and np.isfinite(xy).all(), ax.get_title()
        (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
        assert np.isfinite([x0, x1, y0, y1]).all() and x1 > x0 and y1 > y0, ax.get_title()
        assert (xy[:, 0] >= x0).all() and (xy[:, 0] <= x1).all(), f"{ax.get_title()}: points outside the x axis"
        assert (xy[:, 1] >= y0).all() and (xy[:, 1] <= y1).all(), f"{ax.get_title()}: points outside the y axis"
        q25, q75 = np.percentile(xy[:, 0], [25, 75])
        assert q75 - q25 >= 0.05 * (x1 - x0), f"{ax.get_title()}: the points collapse onto a line"
        assert ax.get_xscale() == "linear"  # log10 and rank are computed, never a matplotlib log axis
        assert ax.get_xlabel().endswith(")") and "(" in ax.get_xlabel(), ax.get_xlabel()  # "name (unit)"
        assert ax.get_ylabel().endswith("(%)"), ax.get_ylabel()
        assert f"n = {len(xy)}" in ax.get_title()


@pytest.mark.parametrize("zoo", ["nb201", "torchvision", "pytorchcv"])
def test_every_scatter_panel_of_the_stored_rows_shows_finite_spread_data_with_units(zoo):
    stored = pv.load_scores(zoo)
    if stored.empty:
        pytest.skip(f"no stored {zoo} scores")
    fig = pv.scatter_grid(zoo, NOTEBOOK_SCATTER)
    try:
        drawn = [s for s in NOTEBOOK_SCATTER if s in stored.columns and np.isfinite(stored[s].astype(float)).any()]
        _check_panels(fig, len(drawn))
    finally:
        plt.close(fig)


def test_scatter_axis_uses_log10_for_wide_positive_values_even_near_the_float64_limit():
    values = np.array([9.6e4, 1e10, 1e50, 1e120, 1e200, 2.09e301, 1.7e308, np.nan, np.inf])
    axis = pv.scatter_axis(values, "synflow")
    assert axis.scale == "log10" and axis.label == "log10 SynFlow (dimensionless)"
    np.testing.assert_allclose(axis.values[:7], np.log10(values[:7]))
    assert np.isnan(axis.values[7:]).all()  # missing and infinite values are not drawn


def test_scatter_axis_ranks_values_that_a_few_extremes_squash_and_keeps_the_rest_linear():
    rng = np.random.default_rng(0)
    bulk = rng.normal(size=200)
    squashed = np.r_[bulk, -2.6e5, 1.7e6]  # mixed signs, two extreme values (GraSP-like)
    axis = pv.scatter_axis(squashed, "grasp")
    assert axis.scale == "rank" and axis.label == "rank of GraSP (dimensionless; 1 = lowest of 202)"
    assert axis.values.min() == 1 and axis.values.max() == 202
    plain = pv.scatter_axis(bulk + 250, "naswot")
    assert plain.scale == "linear" and plain.label == "NASWOT (log|det K|, nats)"
    big = pv.scatter_axis(np.linspace(7e4, 1.5e6, 50), "params")  # under two decades: linear, scaled
    assert big.scale == "linear" and big.label == "#parameters / 1e6 (count)"  # a power of ten, multiple of 3
    np.testing.assert_allclose(big.values, np.linspace(0.07, 1.5, 50))
    unknown = pv.scatter_axis([1.0, 2.0, 3.0], "new_score")
    assert unknown.label == "new_score (as stored)"


def test_scatter_grid_draws_every_panel_of_extreme_synthetic_scores():
    rng = np.random.default_rng(1)
    n = 60
    df = pd.DataFrame(
        {
            "accuracy": rng.uniform(40, 90, n),
            "synflow": 10.0 ** rng.uniform(5, 308, n),  # up to the float64 limit
            "grasp": np.r_[rng.normal(size=n - 2), -1e11, 2e8],
            "jacob_cov": np.r_[np.full(n - 3, -16.0) - rng.uniform(0, 1e-6, n - 3), -22.7, -20.0, np.nan],  # a pile-up
            "params": rng.uniform(1e6, 1e8, n),
            "PG": rng.uniform(22, 32, n),
            "naswot": np.r_[rng.uniform(190, 300, n - 1), -np.inf],
        }
    )
    fig = pv.scatter_grid("pytorchcv", ["params", "synflow", "grasp", "jacob_cov", "naswot", "PG", "snip"], df=df)
    try:
        _check_panels(fig, 6)  # "snip" is not a column: no panel
        titles = [ax.get_title() for ax in fig.axes if ax.axison]
        assert "jacob_cov: n = 59 of 60" in titles and "NASWOT: n = 59 of 60" in titles
    finally:
        plt.close(fig)


def test_correlation_forest_labels_both_axes():
    table = pd.DataFrame(
        {
            "zoo": ["a", "a"],
            "score": ["params", "PG"],
            "n": [10, 10],
            "spearman": [0.5, 0.7],
            "spearman_lo": [0.3, 0.6],
            "spearman_hi": [0.6, 0.8],
            "published spearman": [np.nan, np.nan],
        }
    )
    fig = pv.correlation_forest(table)
    try:
        assert fig.axes[0].get_ylabel() == "score"
        assert "Spearman rho" in fig.get_supxlabel() and "dimensionless" in fig.get_supxlabel()
    finally:
        plt.close(fig)
