"""Searching NAS-Bench-201 from the stored scores (``reuseprior.zoo.search``):
the protocols' tie, seed and non-finite policies on small synthetic spaces, the
resumable store, and the stored rows recomputed."""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from reuseprior.analysis.compare import Comparison
from reuseprior.chapters import ch8_prior_as_tool as ch8
from reuseprior.commands import main
from reuseprior.core.study import pending_runs
from reuseprior.core.study_runner import run_study
from reuseprior.zoo import search
from reuseprior.zoo.nasbench201 import OPS


def space(accuracy: list[float] | np.ndarray, **scores: list[float] | np.ndarray) -> search.SearchSpace:
    """A synthetic space: cells named c0, c1, ... (codes only matter to aging evolution)."""
    n = len(accuracy)
    codes = np.array(list(itertools.islice(itertools.product(range(len(OPS)), repeat=6), n)))
    values = {s: np.asarray(scores.get(s, np.zeros(n)), dtype=float) for s in search.SEARCH_SCORES}
    return search.SearchSpace(
        "test", np.array([f"c{i}" for i in range(n)]), np.asarray(accuracy, float), values, codes, 2
    )


def test_naswot_picks_the_best_score_and_ranks_non_finite_last() -> None:
    s = space([10, 20, 30, 40], PG=[np.nan, 1.0, 3.0, -np.inf], synflow=[5, 5, 5, 5])
    pg = search.naswot_protocol(s, "PG", [4], repeats=3)
    assert pg["mean"].tolist() == [30.0] and pg["sd"].tolist() == [0.0]
    oracle = search.naswot_protocol(s, "oracle", [4], repeats=3)
    assert oracle["mean"].tolist() == [40.0]


def test_ties_go_to_the_first_cell_drawn_so_random_is_uniform() -> None:
    s = space(np.arange(50.0))
    tied = search.naswot_protocol(s, "synflow", [5], repeats=400, seed=1)  # every score 0: all tied
    rand = search.naswot_protocol(s, "random", [5], repeats=400, seed=1)
    assert tied["mean"].tolist() == rand["mean"].tolist()
    assert abs(rand["mean"].iloc[0] - 24.5) < 2.0  # a uniform pick among 50 cells, 400 repeats
    again = search.naswot_protocol(s, "random", [5], repeats=400, seed=1)
    pd.testing.assert_frame_equal(rand, again)
    assert search.naswot_protocol(s, "random", [5], repeats=400, seed=2)["mean"].iloc[0] != rand["mean"].iloc[0]


def test_sizes_beyond_the_space_are_skipped() -> None:
    s = space(np.arange(20.0))
    assert search.naswot_protocol(s, "PG", [10, 100], repeats=2)["size"].tolist() == [10]


def test_warmup_random_search_trains_the_pool_in_score_order() -> None:
    acc = np.arange(100.0)
    s = space(acc, PG=-acc)  # the worst cells score best
    pg = search.warmup_random_search(s, "PG", pool=10, budgets=[1, 10, 20], repeats=20)
    oracle = search.warmup_random_search(s, "oracle", pool=10, budgets=[1, 10], repeats=20)
    assert pg["size"].tolist() == [1, 10]  # budgets beyond the pool are skipped
    assert (oracle["mean"] == oracle["mean"].iloc[0]).all()  # the oracle trains the pool's best first
    assert pg["mean"].iloc[1] == oracle["mean"].iloc[0]  # the whole pool trained: its best, whatever the order
    assert pg["mean"].iloc[0] < oracle["mean"].iloc[0]


def test_aging_evolution_needs_the_whole_space_and_is_seeded() -> None:
    with pytest.raises(ValueError, match="needs every cell"):
        search.aging_evolution(
            space(np.arange(10.0)), "PG", pool=5, population=3, sample_size=2, budgets=[5], repeats=1
        )
    rng = np.random.default_rng(0)
    acc = rng.random(len(OPS) ** 6)
    full = space(acc, PG=acc + rng.normal(0, 0.1, acc.size))
    kwargs = {"pool": 200, "population": 10, "sample_size": 3, "budgets": [1, 10, 50], "repeats": 5, "seed": 3}
    first = search.aging_evolution(full, "PG", **kwargs)
    pd.testing.assert_frame_equal(first, search.aging_evolution(full, "PG", **kwargs))
    assert first["mean"].is_monotonic_increasing and first["mean"].max() <= acc.max()
    random = search.aging_evolution(full, "random", **kwargs)
    assert first["mean"].iloc[1] > random["mean"].iloc[1]  # a warm start from a correlated score


def test_the_study_is_resumable_and_its_rows_recompute(tmp_path) -> None:
    settings = search.SearchSettings(naswot_repeats=20, rs_repeats=10, budgets=(1, 5))
    runs = [
        {"protocol": "naswot", "label": "official", "score": "PG"},
        {"protocol": "warmup-rs", "label": "official", "score": "random"},
    ]
    study = search.search_study(settings, path=tmp_path / "runs.csv", runs=runs)
    assert len(run_study(study, max_runs=1, progress=False).stored) == 1
    assert pending_runs(study) == [runs[1]]
    run_study(study, progress=False)
    assert pending_runs(study) == []
    stored = study.store.rows(study.plan)
    assert sorted(stored["size"].tolist()) == [1, 5, 10, 100]
    check = search.recompute_searches(stored, runs, settings)
    assert check["match"].all() and len(check) == 4


def test_the_stored_rows_are_complete_and_recompute() -> None:
    study = search.search_study()
    assert pending_runs(study) == [], (
        "run `python -m reuseprior study nb201-search run` and commit data/nb201_search_runs.csv"
    )
    stored = study.store.rows(study.plan)
    check = search.recompute_searches(
        stored, [{"protocol": "naswot", "label": "official", "score": "synflow"}], search.SearchSettings()
    )
    assert check["match"].all(), check


def test_command_status_and_usage_errors(capsys: pytest.CaptureFixture) -> None:
    assert main(["study", "nb201-search", "status"]) == 0
    assert "warmup-ae" in capsys.readouterr().out
    assert main(["study", "nb201-search", "run", "--only", "seed=1"]) == 2


def test_the_published_naswot_rows_stand_beside_ours_with_the_label_stated() -> None:
    published = ch8.published_naswot()
    assert "Table 2(a)" in published.attrs["meta"]["source"]
    assert set(published["dataset"]) == {"CIFAR-10"} and "AREA" not in set(published["method"])
    assert len(published) == 2 * 6  # NASWOT N = 10, 100, 1000, Optimal N = 10, 100, Random; validation and test
    sizes = [10, 100]
    ours = pd.DataFrame(
        [
            {
                "protocol": "naswot",
                "label": label,
                "score": score,
                "size": n,
                "repeats": 7,
                "sd": 0.5,
                "mean": 90.0 + k + (n == 100),
            }
            for label in ("official", "analog")
            for k, score in enumerate(("naswot", "PG", "oracle", "random"))
            for n in sizes
        ]
    )
    table = ch8.published_beside_ours(ours, published)
    first = table[(table["published"] == "NASWOT (N=100)") & (table["our score"] == "PG")]
    official = first[first["our label"] == "official"].iloc[0]
    assert official["published column"] == "CIFAR-10 validation" and official["published mean"] == 89.55
    assert official["our mean"] == 92.0 and official["ours - published"] == pytest.approx(92.0 - 89.55)
    assert first[first["our label"] == "analog"].iloc[0]["published column"] == "CIFAR-10 test"
    missing = table[(table["published"] == "NASWOT (N=1000)")]
    assert missing["our mean"].isna().all() and (missing["our method"] == "not run").all()  # N = 1000 not in ours
    assert set(table.loc[table["our mean"].notna(), "our method"]) == {"7 repeats"}
    rand = table[table["published"] == "Random"]
    assert set(rand["our score"]) == {"random (floor)"} and set(rand["our N"]) == {10}
    assert set(table["label difference"]) == {d for _, d in ch8.LABEL_DIFFERENCES.values()}


def test_the_exact_naswot_answer_is_the_average_over_every_draw() -> None:
    # 8 cells with tied, NaN and -inf scores: enumerate every draw of N cells, the pick uniform among its best-scored
    acc = np.array([50.0, 70.0, 20.0, 90.0, 40.0, 60.0, 80.0, 30.0])
    s = space(acc, PG=[1.0, 3.0, 3.0, np.nan, 2.0, -np.inf, 1.0, 3.0])
    for score in ("PG", "random", "oracle"):
        key = s.key(score)
        exact = search.naswot_exact(s, score, [1, 3, 5, 8, 9])
        assert exact["size"].tolist() == [1, 3, 5, 8]  # sizes beyond the space are skipped
        for size, mean, sd in exact.itertuples(index=False):
            first, second = [], []
            for draw in itertools.combinations(range(len(acc)), size):
                best = [c for c in draw if key[c] == max(key[list(draw)])]
                first.append(acc[best].mean())
                second.append((acc[best] ** 2).mean())
            assert mean == pytest.approx(np.mean(first), abs=1e-9)
            assert sd == pytest.approx(np.sqrt(np.mean(second) - np.mean(first) ** 2), abs=1e-7)
    assert search.naswot_exact(s, "random", [3])["mean"].iloc[0] == pytest.approx(acc.mean())  # the mean label


def test_the_seeded_repeats_agree_with_the_exact_answer() -> None:
    rng = np.random.default_rng(3)
    acc = rng.normal(90, 3, 300)
    s = space(acc, PG=np.round(acc + rng.normal(0, 2, 300)))  # a noisy score with ties
    exact = search.naswot_exact(s, "PG", [10, 50]).set_index("size")
    sampled = search.naswot_protocol(s, "PG", [10, 50], repeats=4000).set_index("size")
    assert ((sampled["mean"] - exact["mean"]).abs() < 4 * sampled["sem"]).all()


def test_the_search_figures_say_what_to_see() -> None:
    """The NASWOT figure's caption gives how far apart the scores' picks lie at N = 100 and the best one's
    distance to the oracle, computed from the rows it draws; the compare figure's names the model the
    prior ranks first and where it ranks the largest."""
    exact = pd.DataFrame(
        {
            "label": ["analog"] * 8,
            "score": ["PG", "synflow", "random", "oracle"] * 2,
            "size": [10] * 4 + [100] * 4,
            "mean": [91.0, 91.5, 86.0, 92.0, 92.5, 92.75, 86.0, 93.5],
        }
    )
    fig = ch8.naswot_figure(exact)
    texts = " ".join(t.get_text() for t in fig.texts)
    assert "At N = 100 on the analog label the scores' picks lie within 0.25 points" in texts, texts
    assert "the best 0.75 below the oracle's" in texts, texts
    plt.close(fig)
    table = pd.DataFrame(
        {"rank": [1, 2, 3], "model": ["small", "mid", "big"], "PG": [3.0, 2.0, 1.0], "params": [10, 20, 30]}
    )
    fig = ch8.compare_figure(Comparison(table=table, by="PG", input_shape=(3, 8, 8)))
    texts = " ".join(t.get_text() for t in fig.texts)
    assert "PG ranks small first, and the largest model, big, 3 of 3." in texts, texts
    plt.close(fig)
