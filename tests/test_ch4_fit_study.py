"""Chapter 4's study at a width that fits: its recipe is the fit check's, the run criteria, the seed
rule, and verdicts gated until enough seeds count (synthetic rows: no training)."""

from __future__ import annotations

import pandas as pd
import pytest

from reuseprior.chapters.ch4_sharing_training import MODELS, TABLE_4_2_MODELS, designs, readings
from reuseprior.chapters.ch4_sharing_training import fit_study as fit
from reuseprior.chapters.ch4_sharing_training import real_study as real
from reuseprior.chapters.ch4_sharing_training import recipe_probes as probes
from reuseprior.chapters.ch4_sharing_training import studies as ch4_studies
from reuseprior.chapters.ch4_sharing_training.architecture import build_experiment_model
from reuseprior.core.parameters import count_parameters
from reuseprior.core.stored_rows import without_digests
from reuseprior.core.study import StudyRequest
from reuseprior.core.verdict_policy import NOT_COMPARABLE, REPRODUCED
from reuseprior.reporting.statistics import fewest_decisive_pairs
from reuseprior.training.convergence import history_json

#: a test top-1 per model, V2-S-shared the best (Table 4.2's direction on CIFAR-10: 96.0 against B0's 95.6)
ACCURACY = {"V2-B0-shared": 86.0, "V2-B0-original": 87.0, "V2-S-shared": 88.0, "V2-B0-narrow": 85.0}


def _history(val_last: float, train_last: float) -> str:
    epochs = [{"epoch": 0, "val_top1": 10.0}] + [
        {"epoch": e, "train_loss": 0.5, "train_top1": train_last, "val_loss": 0.5, "val_top1": val_last}
        for e in range(1, 9)
    ]
    return history_json(epochs)


def _runs(seeds: range, *, shift: dict[int, float] | None = None, clean_train: float = 97.0) -> pd.DataFrame:
    """Rows as the study stores them: every model on every seed, converged, fitting, above the floor;
    ``shift`` moves V2-S-shared's test top-1 on some seeds."""
    rows = []
    for seed in seeds:
        for model, acc in ACCURACY.items():
            acc = acc + (shift or {}).get(seed, 0.0) * (model == "V2-S-shared") + seed * 0.01
            rows.append(
                {
                    "study": fit.FIT_STUDY.name,
                    "model": model,
                    "seed": seed,
                    "params": 800_000,
                    "top1_test": acc,
                    "top1_val": acc,
                    "train_top1_eval": clean_train,
                    "epoch_history": _history(acc, 90.0),
                }
            )
    return pd.DataFrame(rows)


def _floor(seeds: range) -> pd.DataFrame:
    return pd.DataFrame({"seed": list(seeds), "top1_train": 94.0, "top1_test": 82.0})


def test_the_study_trains_the_fit_checked_recipe_with_a_parameter_matched_control():
    check = next(s for s in probes.fit_check_studies() if s.name.endswith(designs.FIT_RECIPE))
    design = fit.FIT_STUDY.design
    assert design.settings == check.design.settings and fit.FIT_STUDY.plan == check.plan
    assert design.settings.lr_per_use and design.settings.width_mult == 0.5
    assert design.models == (*TABLE_4_2_MODELS, designs.NARROW_CONTROL)
    assert len(fit.FIT_STUDY.seeds) == fewest_decisive_pairs()
    sizes = {m: count_parameters(build_experiment_model(m, 10, width_mult=0.5)) for m in design.models}
    assert sizes[designs.NARROW_CONTROL] == pytest.approx(sizes["V2-S-shared"], rel=0.05)
    assert MODELS[designs.NARROW_CONTROL].sharing is None


def test_a_run_fits_by_its_eval_mode_training_top1_and_a_failing_run_drops_its_seed():
    runs = _runs(range(6))
    criteria = designs.criteria_table(runs, _floor(range(6)))
    assert criteria["counts"].all() and (criteria["train top-1"] == 97.0).all()
    underfit = runs.copy()
    underfit.loc[(underfit["seed"] == 2) & (underfit["model"] == "V2-B0-narrow"), "train_top1_eval"] = 93.0
    criteria = designs.criteria_table(underfit, _floor(range(6)))
    kept, reason = readings.counting_seeds(criteria, underfit, fit.FIT_STUDY)
    assert kept == [0, 1, 3, 4, 5] and "5 of the study's 6 seeds" in reason and "V2-B0-narrow seed 2" in reason
    judged = readings.judge(
        underfit, _floor(range(6)), fit.FIT_STUDY
    )  # what the tables read: the same judgement, made once
    assert (judged.kept, judged.reason) == (kept, reason) and judged.criteria.equals(criteria)
    assert sorted(set(judged.counting["seed"])) == kept
    # without the eval-mode measurement the last epoch's running top-1 (90 here) is the fit's measure
    unmeasured = runs.assign(train_top1_eval=float("nan"))
    assert not designs.criteria_table(unmeasured, _floor(range(6)))["fits training set"].any()
    with pytest.raises(ValueError, match=r"seed\(s\) \[4, 5\] have no linear floor .* study NAME floor"):
        designs.criteria_table(runs, _floor(range(4)))


def test_verdicts_are_gated_until_enough_seeds_count_and_computed_after():
    table = readings.verdict_table(readings.judge(_runs(range(6)), _floor(range(6)), fit.FIT_STUDY)).set_index("model")
    # Table 4.2 (CIFAR-10): V2-S-shared 96.0 against V2-B0-original 95.6: the claim is "greater"
    assert table.loc["V2-S-shared", "claim"] == "greater" and table.loc["V2-S-shared", "seeds"] == 6
    assert table.loc["V2-S-shared", "verdict"] == REPRODUCED and table.loc["V2-S-shared", "reason"] == ""
    few = readings.verdict_table(readings.judge(_runs(range(5)), _floor(range(5)), fit.FIT_STUDY)).set_index("model")
    assert (few["verdict"] == NOT_COMPARABLE).all() and "5 of the study's 6 seeds" in few.loc["V2-S-shared", "reason"]
    assert few.loc["V2-S-shared", "rule verdict"] == "undetermined"  # five pairs: p >= 2/32
    partial = _runs(range(6))
    partial = partial[~((partial["seed"] == 5) & (partial["model"] == "V2-B0-narrow"))]  # seed 5 still running
    assert (
        readings.verdict_table(readings.judge(partial, _floor(range(6)), fit.FIT_STUDY))["verdict"]
        .eq(NOT_COMPARABLE)
        .all()
    )


def test_the_control_compares_each_shared_model_with_the_narrowed_b0():
    control = readings.control_table(readings.judge(_runs(range(6)), _floor(range(6)), fit.FIT_STUDY)).set_index(
        "model"
    )
    assert list(control["against"]) == [designs.NARROW_CONTROL] * 2
    assert control.loc["V2-S-shared", "difference (pp)"] == pytest.approx(88.0 - 85.0)
    assert "verdict" not in control.columns


def test_the_study_waits_for_a_fit_check_that_passes(tmp_path):
    stored = without_digests(pd.read_csv(probes.STORED_PROBES))  # rows edited below
    check = next(s for s in probes.fit_check_studies() if s.name.endswith(designs.FIT_RECIPE))
    floor = real.CPU_STUDY.floor_rows().set_index("seed").loc[0]
    base = stored[stored["study"] == "fit-w0.5-lr0.016-warmup39"].iloc[[0]]
    path = tmp_path / "probes.csv"
    base.to_csv(path, index=False)
    assert "is not stored" in ch4_studies.recipe_check(path)
    row = base.assign(study=check.name, plan=check.plan)
    row.assign(train_top1_eval=floor["top1_train"] - 1, top1_test=floor["top1_test"] + 1).to_csv(path, index=False)
    assert "does not fit" in ch4_studies.recipe_check(path)
    row.assign(train_top1_eval=floor["top1_train"] + 1, top1_test=floor["top1_test"] + 1).to_csv(path, index=False)
    assert ch4_studies.recipe_check(path) == ""


def test_a_waiting_fit_study_is_left_out_quietly_and_status_says_why(monkeypatch, capsys):
    """Issue 74: choosing chapter 4's studies printed why the fit study waits. The choice prints nothing; the
    group's status reports carry the reason, on the cpu profile (the default) only."""
    monkeypatch.setattr(ch4_studies, "recipe_check", lambda: "its fit check is not stored")
    for profile in ("cpu", None):
        chosen = ch4_studies.chosen_studies(StudyRequest(profile=profile))
        assert real.CPU_STUDY in chosen and fit.FIT_STUDY not in chosen
        reports = dict(ch4_studies.STUDY_GROUP.reports(StudyRequest(profile=profile)))
        assert reports[f"study {fit.FIT_STUDY.name} waits"]["why"].tolist() == ["its fit check is not stored"]
    assert capsys.readouterr().out == ""
    gpu = dict(ch4_studies.STUDY_GROUP.reports(StudyRequest(profile="gpu")))
    assert list(gpu) == ["the Table 4.2 recipe protocol"]
    monkeypatch.setattr(ch4_studies, "recipe_check", lambda: "")
    assert fit.FIT_STUDY in ch4_studies.chosen_studies(StudyRequest(profile="cpu"))


def test_the_prior_is_read_beside_the_trained_accuracy():
    table = readings.prior_beside_accuracy(readings.judge(_runs(range(6)), _floor(range(6)), fit.FIT_STUDY)).set_index(
        "model"
    )
    assert set(table.index) == set(fit.FIT_STUDY.design.models) and (table["counting seeds"] == 6).all()
    assert table.loc["V2-S-shared", "rank by test top-1"] == 1  # the best synthetic accuracy
    assert table["PG"].notna().all() and table["P'G"].notna().all()
    assert table["rank by PG"].tolist() == table["PG"].rank(ascending=False, method="min").astype(int).tolist()
    shared, original = table.loc["V2-S-shared", "params"], table.loc["V2-B0-original", "params"]
    assert shared < original  # built at the study's width: 0.82M against 1.52M
    before = readings.prior_beside_accuracy(readings.judge(_runs(range(6)).iloc[:0], _floor(range(6)), fit.FIT_STUDY))
    assert before["mean test top-1"].isna().all()
