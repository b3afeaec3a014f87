"""Every paired verdict as a picture (issue 63; :mod:`reuseprior.reporting.paired_figures`):

* one panel per comparison, each study of it at its own tick labelled with its seeds and verdict, one
  point per seed, the mean with its interval, zero and the thesis's difference (only where given), the
  y axis labelled with the unit;
* the points drawn are the differences the verdict's summary averages
  (:func:`reuseprior.reporting.verdicts.per_seed_differences` against
  :func:`~reuseprior.reporting.verdicts.paired_differences`);
* the same tables draw the same PNG, whatever order the seeds come in; text stays readable in the book;
* a table without the columns it needs is refused naming them.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402

from reuseprior.chapters.ch4_sharing_training import readings, studies  # noqa: E402
from reuseprior.reporting.paired_figures import paired_differences_figure  # noqa: E402
from reuseprior.reporting.plotting import MIN_TEXT_PX, apply_style, save_figure, smallest_text_px  # noqa: E402
from reuseprior.reporting.verdicts import Comparison, paired_differences, per_seed_differences  # noqa: E402

SUMMARY = pd.DataFrame(
    {
        "panel": ["S minus B0", "S minus B0", "B0s minus B0"],
        "study": ["exploratory", "confirmatory", "exploratory"],
        "mean": [0.37, 0.2, -0.13],
        "low": [0.09, np.nan, -0.47],
        "high": [0.66, np.nan, 0.2],
        "verdict": ["reproduced", "not comparable", "undetermined"],
        "thesis": [0.4, 0.4, np.nan],
    }
)
PER_SEED = pd.DataFrame(
    {
        "panel": ["S minus B0"] * 4 + ["S minus B0"] + ["B0s minus B0"] * 3,
        "study": ["exploratory"] * 4 + ["confirmatory"] + ["exploratory"] * 3,
        "seed": [3, 0, 2, 1, 100, 0, 1, 2],
        "difference": [0.8, 0.1, 0.3, 0.2, 0.2, -0.5, 0.1, 0.0],
    }
)


@pytest.fixture(autouse=True)
def _style():
    apply_style()
    yield
    plt.close("all")


def test_one_panel_per_comparison_with_seeds_mean_zero_and_thesis() -> None:
    fig = paired_differences_figure(SUMMARY, PER_SEED, unit="points of test top-1")
    first, second = [ax for ax in fig.axes if ax.get_visible()]
    assert (first.get_title(), second.get_title()) == ("S minus B0", "B0s minus B0")
    points = [len(c.get_offsets()) for c in first.collections if isinstance(c, PathCollection)]
    assert points == [4, 1], "one point per seed, per study"
    ticks = [t.get_text() for t in first.get_xticklabels()]
    assert ticks == ["exploratory\n4 seeds\nreproduced", "confirmatory\n1 seed\nnot comparable"]
    levels = sorted(line.get_ydata()[0] for line in first.get_lines() if len(set(line.get_ydata())) == 1)
    assert 0.0 in levels and 0.4 in levels, "zero and the thesis's difference are marked"
    assert not any(line.get_ydata()[0] == 0.4 for line in second.get_lines()), "no thesis line where none is given"
    assert "points of test top-1" in first.get_ylabel().replace("\n", " ")
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "the thesis's difference" in legend and "mean, 95 % t-interval" in legend
    family = paired_differences_figure(SUMMARY, PER_SEED, unit="points", interval="98.75 % t-interval")
    assert "mean, 98.75 % t-interval" in [t.get_text() for t in family.legends[0].get_texts()], "the level drawn, named"


def test_the_points_are_the_differences_the_verdict_averages() -> None:
    runs = pd.DataFrame(
        {
            "arm": ["a", "b"] * 4 + ["a"],
            "seed": [0, 0, 1, 1, 2, 2, 3, 3, 4],
            "top1": [90.0, 89.5, 91.0, 90.0, 88.0, 88.5, 92.0, 91.0, 95.0],
        }
    )
    comparison = [Comparison("a", "b")]
    seeds = per_seed_differences(runs, comparison, arm="arm", metrics=["top1"], scale=2.0)
    summary = paired_differences(runs, comparison, arm="arm", metrics=["top1"], scale=2.0)
    assert seeds["seed"].tolist() == [0, 1, 2, 3], "a seed held by one arm is no pair"
    assert seeds["difference"].tolist() == [1.0, 2.0, -1.0, 2.0]
    assert seeds["difference"].mean() == pytest.approx(summary.loc[0, "difference"])
    assert summary.loc[0, "pairs"] == len(seeds)


def test_the_same_tables_draw_the_same_png_whatever_the_seed_order(tmp_path) -> None:
    first = save_figure(paired_differences_figure(SUMMARY, PER_SEED, unit="points"), tmp_path / "a")
    shuffled = PER_SEED.sample(frac=1.0, random_state=1)
    second = save_figure(paired_differences_figure(SUMMARY, shuffled, unit="points"), tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()


def test_text_stays_readable_in_the_book() -> None:
    fig = paired_differences_figure(SUMMARY, PER_SEED, unit="points of test top-1")
    assert smallest_text_px(fig) >= MIN_TEXT_PX


@pytest.mark.parametrize(
    ("summary", "per_seed", "message"),
    [
        (SUMMARY.drop(columns="thesis"), PER_SEED, r"summary table lacks column\(s\) \['thesis'\]"),
        (SUMMARY, PER_SEED.drop(columns="seed"), r"per_seed table lacks column\(s\) \['seed'\]"),
        (SUMMARY.iloc[:0], PER_SEED, "no rows"),
    ],
)
def test_a_table_without_what_the_figure_needs_is_refused(summary, per_seed, message) -> None:
    with pytest.raises(ValueError, match=message):
        paired_differences_figure(summary, per_seed, unit="points")


# ---------------------------------------------------------------- the chapters' figures


def _consistent(summary: pd.DataFrame, per_seed: pd.DataFrame) -> None:
    """Each panel's points average to the mean its verdict's table states."""
    means = per_seed.groupby(["panel", "study"], sort=False)["difference"].mean()
    for row in summary.itertuples():
        assert means[(row.panel, row.study)] == pytest.approx(row.mean, abs=1e-9), row.panel


def test_chapter_3_draws_evolve_minus_random_from_its_stored_pairs() -> None:
    from reuseprior.chapters.ch3_revolver import study as real  # noqa: PLC0415 (the chapter's stored study)

    runs = real.CPU_STUDY.rows()
    differences = real.mode_differences(runs)
    summary, per_seed = real.paired_figure_tables(runs, differences)
    assert summary["panel"].tolist() == ["MNIST", "Fashion-MNIST"]
    assert summary["thesis"].iloc[0] == 0.0 and np.isnan(summary["thesis"].iloc[1]), "Table 3.2 prints MNIST only"
    _consistent(summary, per_seed)


def test_chapter_4_draws_each_study_of_the_family_at_the_familys_level() -> None:
    judged = studies.judged_studies()
    family = {label: readings.family_table(runs, label) for label, runs in judged.items()}
    summary, per_seed = readings.family_figure_tables(family, judged)
    assert summary["study"].tolist() == ["confirmatory"] * 4 + ["exploratory"] * 4
    exploratory = summary[summary["study"] == "exploratory"].reset_index(drop=True)
    headline = "V2-S-shared minus V2-B0-original"
    at_family = exploratory.set_index("panel").loc[headline]
    at_own = (
        readings.verdict_table(judged["exploratory"])
        .set_index(["model", "against"])
        .loc[tuple(headline.split(" minus "))]
    )
    # the stored exploratory study: p = 6/256 passes its own level (0.025), not the family's (0.0125),
    # and the family's 98.75 % interval is wider than the 95 % one
    assert (at_own["verdict"], at_family["verdict"]) == ("reproduced", "undetermined")
    assert at_family["low"] < at_own["t low"] and at_family["high"] > at_own["t high"]
    assert at_family["thesis"] == pytest.approx(0.4)
    controls = exploratory["panel"].str.endswith("minus V2-B0-narrow")
    assert controls.sum() == 2 and exploratory.loc[controls, "thesis"].isna().all(), "Table 4.2 prints no control"
    assert exploratory["verdict"].tolist() == family["exploratory"]["verdict"].tolist()
    _consistent(exploratory, per_seed[per_seed["study"] == "exploratory"])
    with pytest.raises(ValueError, match="must name the same studies"):
        readings.family_figure_tables(family, {"exploratory": judged["exploratory"]})


def test_chapter_7_draws_the_resolved_pairs_only() -> None:
    from reuseprior.chapters.ch7_sharing_schemes import resolved_figure_tables  # noqa: PLC0415 (a chapter's)

    rows = pd.DataFrame(
        {
            "config": ["a", "b", "c"] * 3,
            "seed": [0, 0, 0, 1, 1, 1, 2, 2, 2],
            "test_top1": [90, 89, 88, 91, 89, 90, 92, 90, 91],
        }
    )
    pairs = pd.DataFrame(
        {
            "trained better": ["a", "c"],
            "other": ["b", "b"],
            "mean paired difference (pp)": [5 / 3, 1 / 3],
            "t low": [1.0, -1.0],
            "t high": [2.5, 1.5],
            "resolved": [True, False],
        }
    )
    summary, per_seed = resolved_figure_tables(rows, pairs)
    assert summary["panel"].tolist() == ["a minus b"] and per_seed["difference"].tolist() == [1.0, 2.0, 2.0]
    _consistent(summary, per_seed)
