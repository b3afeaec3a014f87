"""The chapter 4 real-image study (a Table 4.2 analogue on Fashion-MNIST):
stored rows, resumption, the per-model table and the paired differences."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from reuseprior.chapters import get_study, list_studies
from reuseprior.chapters.ch4_sharing_training import designs, readings
from reuseprior.chapters.ch4_sharing_training import real_study as real
from reuseprior.chapters.ch4_sharing_training import runs as ch4_runs
from reuseprior.core.stored_rows import without_digests
from reuseprior.core.study import StudyRequest, pending_runs
from reuseprior.core.study_runner import run_study
from reuseprior.datasets import DEFAULT_DATA_DIR

pytestmark = pytest.mark.skipif(
    not (DEFAULT_DATA_DIR / "FashionMNIST" / "raw").is_dir(),
    reason="Fashion-MNIST not fetched: run `make data` (python -m reuseprior data fetch fashion-mnist)",
)

TINY_DESIGN = replace(
    real.CPU_STUDY.design,
    name="tiny",
    models=("V2-B0-shared", "V2-B0-original"),
    seeds=(0, 1),
    settings=replace(real.CPU_STUDY.design.settings, depth_mult=0.25, epochs=1, train_limit=120, batch_size=32),
)


def _run(study, root) -> list[tuple[str, int]]:
    done = run_study(study, options={"work_dir": root / "work"}, progress=False).stored
    return [(r["model"], r["seed"]) for r in done]


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    root = tmp_path_factory.mktemp("ch4study")
    study = ch4_runs.training_study(TINY_DESIGN, root / "runs.csv")
    return root, study, _run(study, root)


def test_each_model_and_seed_is_stored_once(stored):
    root, study, done = stored
    assert done == [("V2-B0-shared", 0), ("V2-B0-original", 0), ("V2-B0-shared", 1), ("V2-B0-original", 1)]
    assert pending_runs(study) == []
    assert _run(study, root) == []
    runs = study.rows()
    assert len(runs) == 4 and list(runs.columns) == list(designs.STORED_COLUMNS)
    assert set(runs["status"]) == {"completed"} and set(runs["train_images"]) == {
        120
    }  # the limit, after the validation split
    assert runs["machine"].str.contains("CPU kernels").all()  # the machine whose kernels made the digits
    # the study's images are grey and unaugmented: their eval-mode top-1 after training is stored
    assert runs["train_top1_eval"].between(0, 100).all()
    other = ch4_runs.training_study(
        replace(TINY_DESIGN, settings=replace(TINY_DESIGN.settings, epochs=2)), study.store.path
    )
    assert other.rows().empty and len(pending_runs(other)) == 4


def test_the_model_table_and_differences_come_from_the_rows(stored):
    _, study, _ = stored
    runs = study.rows()
    table = readings.model_table(runs).set_index("Model")
    shared = runs[runs["model"] == "V2-B0-shared"]
    assert table.loc["V2-B0-shared", "Top-1 test (%)"] == pytest.approx(shared["top1_test"].mean())
    assert table.loc["V2-B0-shared", "Params"] < table.loc["V2-B0-original", "Params"]
    diff = readings.model_differences(runs, [("V2-B0-shared", "V2-B0-original")]).iloc[0]
    by = runs.set_index(["model", "seed"])["top1_test"]
    expected = np.mean([by[("V2-B0-shared", s)] - by[("V2-B0-original", s)] for s in (0, 1)])
    assert diff["difference (pp)"] == pytest.approx(expected) and diff["seeds"] == 2
    assert np.isnan(diff["bootstrap low"]) and diff["permutation p"] >= 0.5  # two seeds: no bootstrap, p >= 2 / 4
    params = runs.groupby("model")["params"].first()
    assert diff["param ratio (against / model)"] == pytest.approx(params["V2-B0-original"] / params["V2-B0-shared"])


def test_the_stored_live_slice_and_study_rows_are_complete():
    runs = designs.read_runs()
    slice_rows = real.LIVE_SLICE.rows()
    assert len(slice_rows) == 1 and slice_rows.loc[0, "status"] == "completed"
    study = real.CPU_STUDY.rows()
    assert set(study["status"]) <= {"completed"} and set(study["epochs_completed"]) <= {10}
    declared = [get_study(name).spec for name in list_studies()]
    assert set(runs["plan"]) <= {s.plan for s in declared if s is not None}  # no rows of stale plans are kept
    assert (study.groupby("model")["params"].nunique() <= 1).all()  # one architecture per model


def test_the_thesis_direction_is_read_from_the_transcribed_table(stored):
    _, study, _ = stored
    runs = study.rows()
    table = readings.with_thesis_direction(readings.model_differences(runs, [("V2-B0-shared", "V2-B0-original")])).iloc[
        0
    ]
    # Table 4.2, CIFAR-10: V2-B0-shared 95.3 with 1.7 M parameters, V2-B0-original 95.6 with 5.9 M
    assert table["thesis CIFAR-10 difference (pp)"] == pytest.approx(95.3 - 95.6)
    assert table["thesis CIFAR-10 param ratio"] == pytest.approx(5.9 / 1.7)
    assert table["same sign as the thesis"] == (np.sign(table["difference (pp)"]) == -1)
    floor = pd.DataFrame({"seed": [0, 1], "top1_test": [101.0, 101.0]})  # above every model: all underfit
    judged = readings.with_verdicts(table.to_frame().T, runs, floor).iloc[0]
    assert judged["claim"] == "less" and judged["rule verdict"] == "undetermined"  # two seeds: p >= 0.5
    assert judged["verdict"] == "not comparable" and "V2-B0-shared" in judged["reason"]
    fits = readings.with_verdicts(table.to_frame().T, runs, floor.assign(top1_test=0.0)).iloc[0]
    assert fits["verdict"] == fits["rule verdict"] and fits["reason"] == ""


def test_the_stored_linear_floor_is_of_the_study_and_above_v2_s_shared():
    floor = real.CPU_STUDY.floor_rows()
    assert list(floor["seed"]) == list(real.CPU_STUDY.seeds) and set(floor["plan"]) == {real.CPU_STUDY.plan}
    runs = real.CPU_STUDY.rows()
    table = readings.with_verdicts(readings.with_thesis_direction(readings.model_differences(runs)), runs, floor)
    verdicts = dict(zip(table["model"], table["verdict"]))
    assert verdicts["V2-S-shared"] == "not comparable"  # below a logistic regression of the same images on every seed


def test_the_slice_rules_hold_a_run_that_learns_and_catch_one_that_does_not():
    reference = {
        "params": 100.0,
        "flops": 2000.0,
        "top1_val": 31.0,
        "top1_test": 31.1,
        "train_loss_first_epoch": 2.8,
        "train_loss_last_epoch": 2.2,
    }
    learned = {**reference, "top1_val": 52.0, "top1_test": 52.6, "train_loss_first_epoch": 2.9}
    check = ch4_runs.slice_rules(reference, learned)
    assert check["holds"].all() and check.set_index("quantity").loc["top1_test", "deviation"] == pytest.approx(21.5)
    for broken in ({"top1_test": 10.0}, {"train_loss_last_epoch": 3.0}, {"params": 101.0}):
        failed = ch4_runs.slice_rules(reference, {**learned, **broken}).set_index("quantity")["holds"]
        assert list(failed[~failed].index) == [next(iter(broken))]


def test_a_run_that_starts_after_its_deadline_stops_before_it_prepares_anything(tmp_path, monkeypatch):
    def prepare(*args, **kwargs):
        raise AssertionError("the run was prepared after its deadline")

    monkeypatch.setattr(ch4_runs, "train_model", prepare)
    study = ch4_runs.training_study(TINY_DESIGN, tmp_path / "runs.csv")
    late = ch4_runs.train_run(study="tiny", model="V2-B0-shared", seed=0, spec=study, work_dir=tmp_path, deadline=0.0)
    assert late is None and not (tmp_path / study.plan).exists()
    assert pending_runs(study) == list(study.runs)


def test_a_printed_difference_of_zero_claims_no_direction():
    """Table 4.2 prints no tie, but a 0 would be no "less" claim: the rule is not asked to judge one."""
    differences = pd.DataFrame({"thesis CIFAR-10 difference (pp)": [0.0], "t low": [-1.0], "t high": [1.0]})
    with pytest.raises(ValueError, match="claims no direction"):
        readings.with_rule_verdicts(differences)


def test_the_check_recounts_sampled_stored_runs_and_names_a_hand_edited_count(tmp_path):
    spec = next(s for s in get_study("ch4").group.choose(StudyRequest(profile="cpu")) if s.live_check is not None)
    copy = tmp_path / spec.store.path.name
    rows = without_digests(pd.read_csv(spec.store.path, dtype={"plan": str}))  # a row edited below
    mine = rows.index[(rows["study"] == spec.name) & (rows["model"] == "V2-S-shared") & (rows["seed"] == 1)][0]
    rows.loc[mine, "params"] = rows.loc[mine, "params"] // 10  # "22921" for "229216"
    rows.to_csv(copy, index=False)
    runs = [
        {"study": spec.name, "model": "V2-B0-shared", "seed": 0},
        {"study": spec.name, "model": "V2-S-shared", "seed": 1},
    ]
    table = ch4_runs.recount_stored_runs(spec.with_store(copy), runs)
    assert len(table) == 4 and table["rule"].eq("equal (counted again, no training)").all()
    failed = table[~table["holds"]]
    assert failed[["model", "seed", "quantity"]].values.tolist() == [["V2-S-shared", 1, "params"]]
