"""Chapter 8's prior-screened Revolver study: the screening wrapper, the
prior's score of a genotype, the resumable paired-seed study on a tiny
setting, matched-spend reading, the paired statistics and the command."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from reuseprior.chapters.ch8_prior_as_tool import screening as st
from reuseprior.commands import main
from reuseprior.core.study import status_table
from reuseprior.core.study_runner import run_study
from reuseprior.counting import analyze
from reuseprior.datasets import load_standard_splits
from reuseprior.revolver.blocks import Builder
from reuseprior.revolver.population_study import checkpoint_path
from reuseprior.revolver.registry import ModuleRegistry
from reuseprior.revolver.search import SearchSpace, random_blueprint, screened

torch.set_num_threads(1)

TINY_DESIGN = replace(
    st.CPU_SCREENING.design,
    name="tiny",
    dataset="digits",
    seeds=(0, 1),
    image_size=8,
    candidates=3,
    val_limit=64,
    spend_fractions=(0.5, 1.0),
    settings=replace(
        st.CPU_SCREENING.design.settings,
        population_size=4,
        sample_size=2,
        epochs=3,
        decay_start=1,
        batch_size=32,
        base_batches=2,
        min_batches=2,
        max_batches=2,
        test_every=2,
        space="default",
        base_widths=[8],
        growths=[4],
        depths=[1],
        num_groups=[2],
    ),
)
#: the summary columns a rerun measures anew
MEASURED = ["seconds", "cpu_seconds", "screening_seconds", "finished_utc", "machine"]


TINY = st.screening_study(TINY_DESIGN)


def _at(root):
    """The tiny study with its tables under ``root``."""
    return TINY.with_store(root / "runs.csv")


def _run(study, root, only=None) -> list[dict]:
    return run_study(study, options={"checkpoint_root": root / "checkpoints"}, only=only, progress=False).stored


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    root = tmp_path_factory.mktemp("screening")
    return root, _run(_at(root), root)


# ---------------------------------------------------------------------- the wrapper and the score


def _proposals(values):
    """An algorithm that proposes the given blueprints' stand-ins in turn (None: nothing found)."""
    it = iter(values)
    return lambda state, target, exclude: next(it)


def test_screening_returns_the_best_scoring_proposal_ties_to_the_first():
    log = []
    choose = screened(_proposals(["a", None, "b", "c"]), {"a": 1.0, "b": 3.0, "c": 3.0}.get, 4, log.append)
    assert choose(None, 0.0, []) == "b"  # b and c tie: the first drawn
    assert log == [{"proposals": 4, "found": 3, "best": 3.0, "seconds": log[0]["seconds"]}]
    nan_first = screened(_proposals(["a", "b"]), {"a": float("nan"), "b": -5.0}.get, 2)
    assert nan_first(None, 0.0, []) == "b"  # a non-finite score ranks below every finite one
    nothing = screened(_proposals([None, None]), {}.get, 2, log.append)
    assert nothing(None, 0.0, []) is None and np.isnan(log[-1]["best"]) and log[-1]["found"] == 0
    with pytest.raises(ValueError, match="at least one proposal"):
        screened(_proposals([]), {}.get, 0)


def test_the_prior_score_is_analyze_of_the_built_model_and_draws_nothing():
    space = SearchSpace((1, 8, 8), 10)
    rng = np.random.default_rng(3)
    bp = random_blueprint(space, Builder(rng))
    expected = analyze(ModuleRegistry(seed=0).build(bp).eval(), torch.zeros(1, 1, 8, 8)).PG
    torch.manual_seed(11)
    before = torch.get_rng_state()
    assert st.prior_score(bp, (1, 8, 8)) == pytest.approx(expected)
    assert torch.equal(torch.get_rng_state(), before)
    assert st.prior_score(bp, (1, 8, 8), "total_surprisal") != st.prior_score(bp, (1, 8, 8))


def test_the_arms_of_a_seed_start_from_the_same_population(tmp_path):
    splits = load_standard_splits("digits", seed=1, image_size=8)
    starts = {}
    for arm in ("plain", "pg"):
        run = {"study": TINY.name, "dataset": TINY_DESIGN.dataset, "arm": arm, "seed": 1}
        pop = st.RECORD.start(TINY, run, splits, checkpoint_path(tmp_path, run, TINY.store.key))
        starts[arm] = [ind.blueprint.to_dict() for ind in pop.individuals]
        assert (pop.screen is None) == (arm == "plain")
    assert starts["plain"] == starts["pg"]


# ---------------------------------------------------------------------- the study


def test_every_run_is_stored_once_in_seed_major_order(stored):
    root, done = stored
    assert [(r["seed"], r["arm"]) for r in done] == [(0, "plain"), (0, "pg"), (1, "plain"), (1, "pg")]
    assert _run(_at(root), root) == []
    runs = _at(root).rows()
    assert len(runs) == 4 and set(runs["plan"]) == {TINY.plan}
    status = status_table(_at(root))
    assert status["pending"].tolist() == [0, 0] and status["stored seeds"].tolist() == [[0, 1], [0, 1]]


def test_the_stored_rows_are_what_the_generation_logs_give(stored):
    root, _ = stored
    runs = _at(root).rows().set_index(["arm", "seed"])
    generations = _at(root).rows("generations")
    for (arm, seed), log in generations.groupby(["arm", "seed"]):
        run = runs.loc[(arm, seed)]
        assert log["batches_total"].tolist() == np.cumsum(log["batches"]).tolist()
        assert log["batches"].tolist() == [2 * 2] * 3  # 2 trained a generation, 2 batches each: matched spend
        assert run["batches"] == log["batches"].sum() == st.spend_levels(TINY)["batches"].iloc[-1]
        assert log["top_test_acc"].notna().tolist() == [True, False, True]  # every 2nd generation and the last
        assert run["top_test_acc_peak"] == pytest.approx(log["top_test_acc"].max())
        assert (log["best_val_acc"].diff().dropna() >= 0).all()
        assert 0.0 <= run["top_train_acc_final"] <= 1.0  # the final top individual on every training image
        if arm == "plain":
            assert run["proposals"] == run["slots_screened"] == log["proposals"].sum() == 0
        else:
            assert run["proposals"] == TINY_DESIGN.candidates * run["slots_screened"] == log["proposals"].sum() > 0
            assert 0 < run["found"] <= run["proposals"]


def test_an_interrupted_run_continues_to_the_same_rows(stored, tmp_path):
    root, _ = stored
    run = {"study": TINY.name, "dataset": TINY_DESIGN.dataset, "arm": "pg", "seed": 1}
    splits = load_standard_splits("digits", seed=1, image_size=8)
    path = checkpoint_path(tmp_path / "checkpoints", run, TINY.store.key)
    pop = st.RECORD.start(TINY, run, splits, path)
    pop.run(until=1)  # killed after one generation
    path.parent.mkdir(parents=True)
    pop.save(path)
    late = {"checkpoint_root": tmp_path / "checkpoints", "deadline": time.time() - 1}
    assert st.screening_run(**run, spec=TINY, **late) is None
    fresh = _at(tmp_path)
    assert _run(fresh, tmp_path, only=[run]) == [run]
    for kind in ("generations", "runs"):
        resumed = fresh.rows(kind).drop(columns=MEASURED, errors="ignore")
        straight = _at(root).rows(kind)
        straight = straight[(straight["arm"] == "pg") & (straight["seed"] == 1)].drop(columns=MEASURED, errors="ignore")
        pd.testing.assert_frame_equal(resumed.reset_index(drop=True), straight.reset_index(drop=True))


def test_rows_of_another_plan_are_never_read(stored):
    root, _ = stored
    other = st.screening_study(replace(TINY_DESIGN, candidates=2)).with_store(root / "runs.csv")
    assert other.plan != TINY.plan
    assert other.rows().empty
    assert status_table(other).attrs["other_plans"] == 4


# ---------------------------------------------------------------------- reading


def _log(arm, seed, batches, tests):
    return pd.DataFrame(
        {
            "dataset": "d",
            "arm": arm,
            "seed": seed,
            "generation": range(len(batches)),
            "batches_total": np.cumsum(batches),
            "top_test_acc": tests,
            "best_val_acc": np.maximum.accumulate(np.nan_to_num(tests)),
        }
    )


def test_matched_spend_reads_the_best_test_within_each_level():
    levels = pd.DataFrame({"fraction": [0.5, 1.0], "batches": [20, 40]})
    log = _log("pg", 0, [10, 10, 10, 15], [0.5, np.nan, 0.7, 0.9])  # totals 10, 20, 30, 45
    matched = st.matched_spend(log, levels)
    assert matched["best_test_acc"].tolist() == [0.5, 0.7]  # generation 3 (45 batches) is past both levels
    early = st.matched_spend(_log("pg", 0, [30], [0.6]), levels)
    assert np.isnan(early["best_test_acc"].iloc[0]) and early["best_test_acc"].iloc[1] == 0.6


def test_spend_levels_are_fixed_by_the_settings_and_the_spend_is_matched():
    levels = st.spend_levels(st.CPU_SCREENING)
    s = st.CPU_SCREENING.design.settings
    assert levels["batches"].iloc[-1] == s.epochs * s.sample_size * s.min_batches
    assert levels["fraction"].tolist() == list(st.CPU_SCREENING.design.spend_fractions)
    with pytest.raises(ValueError, match="set all three equal"):
        replace(TINY_DESIGN, settings=replace(TINY_DESIGN.settings, max_batches=4))  # a fitness-dependent budget


def test_spend_differences_against_hand_computed_values():
    plain, pg = [0.80, 0.82, 0.81, 0.79], [0.82, 0.81, 0.84, 0.80]
    matched = pd.DataFrame(
        {
            "dataset": "d",
            "arm": ["plain"] * 4 + ["pg"] * 4,
            "seed": [0, 1, 2, 3] * 2,
            "fraction": 1.0,
            "batches": 40,
            "best_test_acc": plain + pg,
        }
    )
    row = st.spend_differences(matched, resamples=2000).iloc[0]
    diffs = 100 * (np.array(pg) - np.array(plain))  # 2, -1, 3, 1
    assert row["pg - plain (pp)"] == pytest.approx(diffs.mean()) and row["primary"]
    assert row["pairs"] == 4 and row["seeds pg better"] == 3 and row["seeds plain better"] == 1
    assert (row["t low"], row["t high"]) == (pytest.approx(-1.4675, abs=1e-4), pytest.approx(3.9675, abs=1e-4))
    assert row["permutation p"] == pytest.approx(6 / 16)
    assert row["claim"].startswith("greater") and row["verdict"] == "undetermined"
    running = pd.concat([matched, matched.iloc[[4]].assign(seed=9)], ignore_index=True)  # seed 9: pg arm only
    assert st.spend_differences(running, resamples=2000).iloc[0]["pairs"] == 4
    clear = matched.assign(seed=list(range(8)) * 1, arm=["plain"] * 8)  # one arm only: nothing paired
    assert st.spend_differences(clear).iloc[0]["pairs"] == 0
    wide = pd.concat([matched.assign(seed=matched["seed"] + 4 * k) for k in range(2)], ignore_index=True)
    wide.loc[wide["arm"] == "pg", "best_test_acc"] = wide.loc[wide["arm"] == "plain", "best_test_acc"].to_numpy() + 0.01
    assert st.spend_differences(wide).iloc[0]["verdict"] == "reproduced"  # 8 pairs, all +1 point


# ---------------------------------------------------------------------- the command


def test_the_study_command_knows_chapter_8(capsys):
    assert main(["study", "ch8", "status"]) == 0
    out = capsys.readouterr().out
    assert f"plan {st.CPU_SCREENING.plan}" in out and "pg" in out and "plain" in out
    with pytest.raises(SystemExit):
        main(["study", "ch8", "run", "--profile", "full"])  # a flag chapter 8 does not use
    with pytest.raises(SystemExit):
        main(["study", "ch8", "run", "--seeds", "99"])


@pytest.mark.parametrize("spec", [st.CPU_SCREENING, st.PILOT_SCREENING], ids=["planned", "pilot"])
def test_stored_study_rows_are_consistent(spec):
    """The tracked CSVs: every stored run of the plan has its generation log, and its summary is what the log gives."""
    runs = spec.rows()
    if runs.empty:
        pytest.skip(f"no run of {spec.name} is stored yet (python -m reuseprior study ch8 run)")
    generations = spec.rows("generations")
    settings = spec.design.settings
    for run in runs.itertuples():
        log = generations[(generations["arm"] == run.arm) & (generations["seed"] == run.seed)]
        assert len(log) == run.generations == settings.epochs
        assert (log["batches"] == settings.sample_size * settings.min_batches).all()  # the spend matched
        assert log["batches"].sum() == run.batches and run.top_test_acc_peak == pytest.approx(log["top_test_acc"].max())
        if spec is st.CPU_SCREENING:
            assert 0.0 <= run.top_train_acc_final <= 1.0
