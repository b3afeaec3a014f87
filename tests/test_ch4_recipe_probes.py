"""Chapter 4's width-1.0 recipe probes: the schedule settings they add and the rule that picks a recipe."""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd
import pytest

from reuseprior.chapters import ch4_sharing_training as training
from reuseprior.chapters.ch4_sharing_training import designs
from reuseprior.chapters.ch4_sharing_training import real_study as real
from reuseprior.chapters.ch4_sharing_training import recipe_probes as probes
from reuseprior.chapters.ch4_sharing_training import runs as ch4_runs
from reuseprior.chapters.ch4_sharing_training import studies as ch4_studies
from reuseprior.chapters.ch4_sharing_training.configs import OFFICIAL_END_FRACTION, compressed_decay_epochs
from reuseprior.core.stored_rows import without_digests


def test_the_compressed_decay_ends_where_the_official_schedule_does():
    assert compressed_decay_epochs(300, OFFICIAL_END_FRACTION) == pytest.approx(2.4)  # the recipe itself
    interval = compressed_decay_epochs(30, OFFICIAL_END_FRACTION)
    assert 0.97 ** (30 / interval) == pytest.approx(OFFICIAL_END_FRACTION) and OFFICIAL_END_FRACTION == pytest.approx(
        0.0222, abs=1e-4
    )
    with pytest.raises(ValueError, match="lr_end_fraction"):
        compressed_decay_epochs(30, 1.5)


def test_a_probe_is_the_beginning_of_the_full_schedule():
    study = probes.probe_studies()[0]
    plan = training.make_plan(study.design.settings, profile="probe")
    c = plan.config
    assert c.epochs == designs.PROBE_EPOCHS and plan.width_mult == 1.0 and c.ema_decay == 0.9999
    assert c.lr_decay_epochs == pytest.approx(compressed_decay_epochs(designs.SCHEDULE_EPOCHS, OFFICIAL_END_FRACTION))
    steps_per_epoch = 5000 // c.batch_size
    assert c.lr_warmup_epochs * steps_per_epoch == pytest.approx(117)  # warm-up given in optimisation steps
    full = training.make_plan(replace(study.design.settings, epochs=designs.SCHEDULE_EPOCHS), profile="full-run").config
    assert (full.lr_decay_epochs, full.lr_warmup_epochs, full.peak_lr) == (
        c.lr_decay_epochs,
        c.lr_warmup_epochs,
        c.peak_lr,
    )
    with pytest.raises(ValueError, match="lr_warmup_steps"):
        training.make_plan(replace(study.design.settings, lr_warmup_steps=-3), profile="bad")


def test_the_stored_width_025_study_keeps_its_plan_id_after_the_new_settings():
    assert real.CPU_STUDY.plan == "f180b11bcd47"
    design = real.CPU_STUDY.design
    moved = ch4_runs.training_study(replace(design, settings=replace(design.settings, lr_warmup_steps=39)))
    assert moved.plan != real.CPU_STUDY.plan


def _table(values: dict[tuple[str, str], float]) -> pd.DataFrame:
    last = f"val top-1 e{designs.PROBE_EPOCHS}"
    return pd.DataFrame([{"recipe": r, "model": m, last: v} for (r, m), v in values.items()])


def test_the_chosen_recipe_is_the_one_whose_worst_model_is_best():
    a, b, *_ = designs.PROBE_RECIPES
    models = training.TABLE_4_2_MODELS
    table = _table(
        {
            **{(a, m): v for m, v in zip(models, (88.0, 87.0, 40.0))},
            **{(b, m): v for m, v in zip(models, (80.0, 79.0, 75.0))},
        }
    )
    chosen, worst = probes.chosen_recipe(table)
    assert chosen == b and list(worst["recipe"]) == [b, a]
    incomplete = table[~((table["recipe"] == b) & (table["model"] == models[2]))]
    assert probes.chosen_recipe(incomplete)[0] == a  # a recipe with a model missing is not chosen
    tie = _table({(r, m): 70.0 for r in (a, b) for m in models})
    assert probes.chosen_recipe(tie)[0] == a  # ties: the grid's order
    with pytest.raises(ValueError, match="study ch4 probes"):
        probes.chosen_recipe(_table({(a, models[0]): math.nan}))


def test_stochastic_depth_is_a_setting_listed_as_a_departure():
    study = probes.probe_studies()[0]
    plan = training.make_plan(replace(study.design.settings, stochastic_depth=0.0), profile="probe")
    assert plan.stochastic_depth == 0.0 and "stochastic depth 0 instead of 0.2" in plan.departures()
    assert training.make_plan(study.design.settings, profile="probe").stochastic_depth is None  # the official 0.2
    with pytest.raises(ValueError, match="stochastic_depth"):
        training.make_plan(replace(study.design.settings, stochastic_depth=1.5), profile="bad")


def test_the_stored_probes_are_read_under_their_plans():
    table = probes.probe_table()
    assert set(table["model"]) <= set(training.TABLE_4_2_MODELS)
    assert set(table["recipe"]) <= set(designs.PROBE_RECIPES)
    assert "probe runs stored" in probes.probe_reading(table)


def test_a_fit_check_is_the_whole_schedule_of_its_probe_and_is_judged_against_the_floor(tmp_path):
    check = probes.fit_check_studies()[0]
    label = check.name.removeprefix(probes.FIT_CHECK_PREFIX)
    probe = next(s for s in probes.probe_studies() if s.name == probes.PROBE_PREFIX + label)
    assert replace(probe.design.settings, epochs=designs.SCHEDULE_EPOCHS) == check.design.settings
    assert check.design.models == probes.PROBE_ORDER[:1] and check.seeds == (0,)
    stored = without_digests(pd.read_csv(probes.STORED_PROBES))  # rows edited below
    row = stored[stored["study"] == probe.name].assign(study=check.name, plan=check.plan)
    assert len(row) == 1, "the fit check's probe is stored"
    path = tmp_path / "probes.csv"
    row.to_csv(path, index=False)
    table = ch4_studies.fit_check_table(path)
    floor = real.CPU_STUDY.floor_rows().set_index("seed").loc[0]
    assert table["recipe"].tolist() == [label] and table["epochs"].tolist() == [designs.PROBE_EPOCHS]
    assert table["fits training set"].iloc[0] == (table["train top-1"].iloc[0] >= floor["top1_train"])
    assert table["above floor"].iloc[0] == (row["top1_test"].iloc[0] > floor["top1_test"])
    assert ch4_studies.fit_check_table(tmp_path / "none.csv").empty
    # a row without the eval-mode measurement is judged by its last epoch's running top-1, and says so;
    # a row with it, by the eval-mode top-1
    assert table["training top-1 measured"].iloc[0] == "train mode, last epoch"
    assert table["train top-1"].iloc[0] == table["train top-1 last epoch (train mode)"].iloc[0]
    row.assign(train_top1_eval=floor["top1_train"] + 0.01).to_csv(path, index=False)
    clean = ch4_studies.fit_check_table(path)
    assert clean["training top-1 measured"].iloc[0] == "eval mode, after training"
    assert clean["train top-1"].iloc[0] == floor["top1_train"] + 0.01 and bool(clean["fits training set"].iloc[0])
