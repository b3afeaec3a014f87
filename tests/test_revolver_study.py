"""The chapter 3 paired-seed study (random search vs the genetic algorithm on
real images): resumable storage, the summaries computed from the stored rows,
paired bootstrap differences and the live check."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from reuseprior.chapters.ch3_revolver import study as st
from reuseprior.core.errors import CheckpointMismatchError, MissingReferenceError
from reuseprior.core.study import StudyRequest, pending_runs, status_table
from reuseprior.core.study_runner import run_study
from reuseprior.datasets import load_standard_splits
from reuseprior.revolver.population import Population
from reuseprior.revolver.population_study import checkpoint_path
from reuseprior.revolver.split_floor import population_floors

torch.set_num_threads(1)

TINY_DESIGN = replace(
    st.CPU_STUDY.design,
    name="tiny",
    datasets=("digits",),
    seeds=(0, 1),
    image_size=8,
    settings=replace(
        st.CPU_STUDY.design.settings,
        population_size=4,
        sample_size=2,
        epochs=3,
        decay_start=1,
        base_batches=3,
        min_batches=3,
        test_every=2,
        mean_val_last=4,
        batch_size=32,
    ),
)
TINY = st.population_study(TINY_DESIGN)


def _at(root) -> object:
    """The tiny study with its tables under ``root``."""
    return TINY.with_store(root / "runs.csv")


def _run(study, root, only=None) -> list[dict]:
    """Run ``study``'s pending runs (or ``only``) in this process, checkpoints under ``root``."""
    options = {"checkpoint_root": root / "checkpoints"}
    return run_study(study, options=options, only=only, progress=False).stored


def _key(mode: str, seed: int) -> dict:
    return {"study": "tiny", "dataset": "digits", "mode": mode, "seed": seed}


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    study = _at(root)
    return root, study, _run(study, root)


def test_every_run_is_stored_once_in_seed_major_order(stored):
    root, study, done = stored
    assert [(k["seed"], k["mode"]) for k in done] == [(0, "random"), (0, "evolve"), (1, "random"), (1, "evolve")]
    assert pending_runs(study) == []
    assert _run(study, root) == []
    runs = study.rows()
    assert len(runs) == 4 and set(runs["plan"]) == {TINY.plan}
    evaluations = study.rows("evaluations")
    assert len(evaluations) == 4 * 3 * 2 and "seconds" not in evaluations.columns


def test_summaries_are_computed_from_the_stored_rows(stored):
    _, study, _ = stored
    runs = study.rows()
    evaluations = study.rows("evaluations")
    generations = study.rows("generations")
    for run in runs.itertuples():
        mine = (evaluations["mode"] == run.mode) & (evaluations["seed"] == run.seed)
        log = generations[(generations["mode"] == run.mode) & (generations["seed"] == run.seed)]
        assert run.mean_val_last == pytest.approx(evaluations.loc[mine, "val_acc"].tail(4).mean())
        assert log["top_test_acc"].notna().tolist() == [True, False, True]  # generation 0, 2 (every 2nd and last)
        assert run.top_test_acc_peak == pytest.approx(log["top_test_acc"].max())
        assert run.top_test_acc_final == pytest.approx(log["top_test_acc"].iloc[-1])
    table = st.mode_table(runs)
    evolve = table.set_index("Mode").loc["Evolve"]
    expected = 100 * runs.loc[runs["mode"] == "evolve", "top_test_acc_final"]
    assert evolve["Final Test Acc."] == pytest.approx(expected.mean())
    assert evolve["Final Test Acc. sd"] == pytest.approx(expected.std(ddof=1))


def test_an_interrupted_run_continues_to_the_same_rows(stored, tmp_path):
    _, study, _ = stored
    key = _key("evolve", 1)
    splits = load_standard_splits("digits", seed=1, image_size=8)
    config = TINY_DESIGN.config(key, splits.input_shape, splits.num_classes)
    pop = Population(config, splits).run(until=1)  # killed after one generation
    path = checkpoint_path(tmp_path / "checkpoints", key, TINY.store.key)
    path.parent.mkdir(parents=True)
    pop.save(path)
    fresh = _at(tmp_path)
    assert _run(fresh, tmp_path, only=[key])
    resumed = fresh.rows("evaluations").drop(columns="plan")
    straight = study.rows("evaluations")
    straight = straight[(straight["mode"] == "evolve") & (straight["seed"] == 1)].drop(columns="plan")
    pd.testing.assert_frame_equal(resumed.reset_index(drop=True), straight.reset_index(drop=True))


def test_a_checkpoint_of_other_settings_is_refused(tmp_path):
    key = _key("random", 0)
    splits = load_standard_splits("digits", seed=0, image_size=8)
    other = replace(TINY_DESIGN, settings=replace(TINY_DESIGN.settings, lr=0.1))
    path = checkpoint_path(tmp_path / "checkpoints", key, TINY.store.key)
    path.parent.mkdir(parents=True)
    Population(other.config(key, splits.input_shape, splits.num_classes), splits).save(path)
    with pytest.raises(CheckpointMismatchError, match="lr: 0.1 saved, 0.35 now"):
        _run(_at(tmp_path), tmp_path, only=[key])


def test_rows_of_another_plan_are_never_read(stored):
    root, study, _ = stored
    other = st.population_study(replace(TINY_DESIGN, settings=replace(TINY_DESIGN.settings, lr=0.1)))
    other = other.with_store(study.store.path)
    assert other.plan != TINY.plan
    assert other.rows().empty and len(pending_runs(other)) == 4
    assert status_table(other).attrs["other_plans"] == 4


def test_the_live_check_holds_a_float64_recomputation_to_its_stored_reference(stored, tmp_path):
    _, study, _ = stored
    key = _key("evolve", 0)
    reference = tmp_path / "reference.csv"
    written = st.store_live_reference(study, key, generations=2, path=reference)
    assert set(written["plan"]) == {TINY.plan} and len(written) == 4
    header = reference.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert len(header) == len(set(header)), header  # the run's identity once, not its mode twice
    check = st.recompute_first_generations(study, key, generations=2, reference=reference)
    assert list(check["quantity"]) == ["individual", "params", "batches", "train_loss", "val_loss", "val_acc"]
    assert (check["evaluations"] == 4).all() and (check["max abs deviation"] < 1e-8).all()  # the CSV keeps 10 digits
    assert check["within tolerance"].all(), check
    # the same tolerance text on every machine: nothing in the verdict names this CPU
    assert set(check["tolerance"]) == {
        "exact (study's generation 0 and reference)",
        "exact (reference)",
        f"rel {st.LIVE_REFERENCE_REL:g} of the reference",
    }


def test_the_live_check_fails_a_recomputation_off_its_reference(stored, tmp_path):
    _, study, _ = stored
    key = _key("evolve", 0)
    reference = tmp_path / "reference.csv"
    frame = st.store_live_reference(study, key, generations=1, path=reference)
    frame.loc[0, "val_loss"] *= 1 + 10 * st.LIVE_REFERENCE_REL  # a changed loss, as changed code would give
    frame.loc[1, "batches"] += 1
    frame.to_csv(reference, index=False)
    check = st.recompute_first_generations(study, key, generations=1, reference=reference).set_index("quantity")
    assert not check.loc["val_loss", "within tolerance"] and not check.loc["batches", "within tolerance"]
    assert check.loc[["train_loss", "val_acc", "individual", "params"], "within tolerance"].all()


def test_the_live_check_without_a_reference_says_how_to_store_one(stored, tmp_path):
    _, study, _ = stored
    with pytest.raises(MissingReferenceError, match="store_live_reference"):
        st.recompute_first_generations(study, _key("evolve", 0), reference=tmp_path / "none.csv")


def test_check_holds_each_stored_summary_to_its_side_tables_and_generation_0_to_a_recomputation(stored, tmp_path):
    root, study, _ = stored
    for name in ("runs", "evaluations", "generations", "modules"):
        source = study.store.path_of(name)
        (tmp_path / source.name).write_bytes(source.read_bytes())
    copy = study.with_store(tmp_path / study.store.path.name)
    check = st.check_first_generation(copy, StudyRequest(checked=None, progress=False))
    assert check.passed, check.table
    assert check.table["run"].nunique() == 4  # --all: every stored run
    quantities = set(check.table["quantity"])
    assert {"runs: top_test_acc_peak", "runs: median_params", "runs: mean_val_last"} <= quantities
    assert {"evaluations, generation 0: individual", "evaluations, generation 0: params"} <= quantities
    # a summary value edited by hand (a digit dropped, "87" for "878") in a run the first check never reads
    runs = pd.read_csv(copy.store.path, dtype={"plan": str})
    last = runs.index[-1]
    runs.loc[last, "top_params_final"] = runs.loc[last, "top_params_final"] // 10
    runs.to_csv(copy.store.path, index=False)
    edited = st.run_label(dict(runs.loc[last, ["dataset", "mode", "seed"]]))
    assert st.check_first_generation(copy, StudyRequest(checked=1, progress=False)).passed
    check = st.check_first_generation(copy, StudyRequest(checked=4, progress=False))
    failed = check.table[~check.table["within tolerance"]]
    assert list(failed["run"]) == [edited] and list(failed["quantity"]) == ["runs: top_params_final"]


def test_mode_differences_against_hand_computed_values():
    seeds = [0, 1, 2, 3]
    random_acc = [0.90, 0.91, 0.92, 0.93]
    evolve_acc = [0.92, 0.90, 0.95, 0.94]
    runs = pd.DataFrame(
        {
            "dataset": ["mnist"] * 8,
            "mode": ["random"] * 4 + ["evolve"] * 4,
            "seed": seeds * 2,
            "top_test_acc_final": random_acc + evolve_acc,
        }
    )
    table = st.mode_differences(runs, ["top_test_acc_final"], resamples=2000)
    row = table.iloc[0]
    diffs = 100 * (np.array(evolve_acc) - np.array(random_acc))  # 2, -1, 3, 1
    assert row["evolve - random (pp)"] == pytest.approx(diffs.mean())
    assert row["pairs"] == 4 and row["seeds evolve better"] == 3 and row["seeds random better"] == 1
    # sd sqrt(8.75 / 3), t(0.975, 3) = 3.18245: 1.25 -/+ 2.7175
    assert (row["t low"], row["t high"]) == (pytest.approx(-1.4675, abs=1e-4), pytest.approx(3.9675, abs=1e-4))
    assert row["permutation p"] == pytest.approx(6 / 16)  # |sum| >= 5: all +, or one of the two 1s flipped; and -
    assert row["sign test p"] == pytest.approx(2 * 5 / 16)  # 3 of 4 one way: P(X <= 1) + P(X >= 3), X ~ B(4, 1/2)
    assert (row["seed range low"], row["seed range high"]) == (pytest.approx(-1), pytest.approx(3))
    assert np.isnan(row["bootstrap low"])  # 4 pairs: below MIN_PAIRS_FOR_BOOTSTRAP, no bootstrap
    # MNIST: no difference claimed; the interval is neither inside +-0.5 points nor clear of 0
    assert row["claim"].startswith("equivalent") and row["verdict"] == row["rule verdict"] == "undetermined"
    mean_val = st.mode_differences(runs.assign(mean_val_last=runs["top_test_acc_final"]), ["mean_val_last"])
    assert mean_val.iloc[0]["verdict"] == "not comparable" and mean_val.iloc[0]["reason"]
    two = st.mode_differences(runs[runs["seed"] < 2], ["top_test_acc_final"])
    assert np.isfinite(two.iloc[0]["t low"]) and np.isnan(two.iloc[0]["bootstrap low"])
    ties = st.mode_differences(runs.assign(top_test_acc_final=0.5), ["top_test_acc_final"]).iloc[0]
    assert np.isnan(ties["sign test p"])  # every pair tied: no sign to test


def test_the_convergence_band_spans_the_seeds(stored):
    _, study, _ = stored
    band = st.convergence_band(study.rows("evaluations"), window=2)
    assert set(band["count"]) == {2} and (band["min"] <= band["mean"]).all() and (band["mean"] <= band["max"]).all()
    assert len(band) == 2 * 6  # modes x evaluations per run


def test_stored_study_rows_are_consistent():
    """The tracked CSVs: every stored run has its evaluations and generation
    log, and its summary is what those rows give."""
    runs = st.CPU_STUDY.rows()
    if runs.empty:
        pytest.skip("no run of the CPU study is stored yet (python -m reuseprior study ch3 run)")
    evaluations = st.CPU_STUDY.rows("evaluations")
    generations = st.CPU_STUDY.rows("generations")
    settings = st.CPU_STUDY.design.settings
    window = settings.mean_val_last
    for run in runs.itertuples():
        key = (evaluations["dataset"] == run.dataset) & (evaluations["mode"] == run.mode)
        mine = evaluations[key & (evaluations["seed"] == run.seed)]
        log = generations[
            (generations["dataset"] == run.dataset)
            & (generations["mode"] == run.mode)
            & (generations["seed"] == run.seed)
        ]
        assert len(mine) == run.evaluations == settings.epochs * settings.sample_size
        assert len(log) == settings.epochs
        assert run.mean_val_last == pytest.approx(mine["val_acc"].tail(window).mean(), abs=1e-9)
        assert run.top_test_acc_peak == pytest.approx(log["top_test_acc"].max(), abs=1e-9)


def test_runs_are_set_beside_the_linear_floor_of_their_images(tmp_path):
    floors = population_floors(st.FLOOR_COMMAND, tmp_path / "floor.csv")
    for seed, test_top1 in ((0, 83.0), (1, 84.0)):
        floors.put(
            {"dataset": "fashion-mnist", "image_size": 14, "seed": seed, "train_top1": 85.0, "test_top1": test_top1}
        )
    study = replace(st.CPU_STUDY, floor=floors)
    runs = pd.DataFrame(
        {
            "dataset": "fashion-mnist",
            "mode": ["random", "evolve"] * 2,
            "seed": [0, 0, 1, 1],
            "top_test_acc_final": [0.85, 0.86, 0.839, 0.90],
        }
    )
    table = st.floor_table(runs, study)
    assert table["above floor"].tolist() == [True, True, True, False]  # evolve 0, 1; random 0, 1
    assert table["margin (pp)"].iloc[3] == pytest.approx(-0.1)
    differences = pd.DataFrame(
        {
            "Dataset": ["Fashion-MNIST", "MNIST"],
            "verdict": ["reproduced"] * 2,
            "rule verdict": ["reproduced"] * 2,
            "reason": ["", ""],
        }
    )
    gated = st.gated_by_floor(differences, table)
    assert gated["verdict"].tolist() == ["not comparable", "reproduced"]
    assert gated["rule verdict"].tolist() == ["reproduced"] * 2
    assert gated["reason"].iloc[0] == "random: 1 of 2 runs above the linear floor of their images (more than half must)"
    assert st.gated_by_floor(differences, table[table["seed"] == 0])["verdict"].tolist() == ["reproduced"] * 2
    with pytest.raises(LookupError, match="study ch3 floor"):
        st.floor_table(runs.assign(dataset="mnist"), study)


def test_the_mnist_margin_is_stated_and_its_sensitivity_shown():
    runs = st.CPU_STUDY.rows()
    if runs.empty:
        pytest.skip("no run of the CPU study is stored yet (python -m reuseprior study ch3 run)")
    table = st.equivalence_sensitivity(runs).set_index("margin (pp)")
    assert st.MNIST_EQUIVALENCE_MARGIN_PP in table.index and table.at[st.MNIST_EQUIVALENCE_MARGIN_PP, "ours"]
    assert "after the study's 5 pairs were stored" in st.MNIST_MARGIN_REASON
    smallest = table.attrs["smallest margin"]
    for margin, row in table.iterrows():  # the same interval at every margin; the verdict flips where it fits
        expected = "reproduced" if margin > smallest and row["equivalence p"] < 0.05 else "undetermined"
        assert row["rule verdict"] == expected, margin
    assert table.at[0.25, "rule verdict"] == "undetermined" and table.at[0.3, "rule verdict"] == "reproduced"
    differences = st.mode_differences(runs, ["top_test_acc_peak"])
    mnist = differences[differences["Dataset"] == "MNIST"].iloc[0]
    assert mnist["equivalence margin (pp)"] == st.MNIST_EQUIVALENCE_MARGIN_PP and mnist["equivalence p"] == 1 / 32
