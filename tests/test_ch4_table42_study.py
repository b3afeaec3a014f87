"""reuseprior.chapters.ch4_sharing_training.table42_study: the recipe protocol's judgement (worst model, divergence,
refusal, choice) on made-up rows, and the ``study ch4 run --profile gpu`` path on the CPU with a tiny plan."""

from __future__ import annotations

import json
import platform
from dataclasses import replace

import pandas as pd
import pytest
import timm
import torch

from reuseprior.chapters.ch4_sharing_training import designs, readings, studies
from reuseprior.chapters.ch4_sharing_training import table42_study as table42
from reuseprior.commands import main
from reuseprior.core import paths
from reuseprior.core.files import write_json
from reuseprior.core.stored_rows import without_digests
from reuseprior.core.study import StudyRequest


def _history(val_top1: list[float], val_loss: list[float]) -> str:
    rows = [{"epoch": 0, "val_top1": 10.0, "val_loss": 2.3, "train_top1": float("nan")}]
    rows += [
        {"epoch": e + 1, "val_top1": a, "val_loss": v, "train_top1": a}
        for e, (a, v) in enumerate(zip(val_top1, val_loss))
    ]
    return json.dumps(rows)


def _rows(scores: dict[str, dict[str, float]], diverging: tuple[str, str] | None = None) -> pd.DataFrame:
    """Stored rows of every protocol run: ``scores[recipe][model]`` is the model's last validation top-1
    (the same for the last 3 epochs); ``diverging``: one (recipe, model) whose loss blows up after warm-up."""
    out = []
    for spec in table42.protocol_studies():
        recipe = spec.name.removeprefix("table42-cpu-")
        for model, seed in ((run["model"], run["seed"]) for run in spec.runs):
            top1 = scores[recipe][model]
            loss = [1.0] * 20
            if diverging == (recipe, model) and seed == 1:
                loss[10] = 50.0
            out.append(
                {
                    "study": spec.name,
                    "plan": spec.plan,
                    "model": model,
                    "seed": seed,
                    "epoch_history": _history([top1] * 20, loss),
                    "top1_val": top1,
                    "train_top1_eval": 95.0,
                    "lr_warmup_steps": 490,
                    "train_images": 20_000,
                    "batch_size": 128,
                }
            )
    return pd.DataFrame(out)


SCORES = {
    "official-steps": {"V2-B0-shared": 88, "V2-B0-original": 89, "V2-S-shared": 70, "V2-B0-narrow": 88},
    "official-steps-peruse": {"V2-B0-shared": 87, "V2-B0-original": 88, "V2-S-shared": 84, "V2-B0-narrow": 87},
    "adamw-cosine": {"V2-B0-shared": 90, "V2-B0-original": 90, "V2-S-shared": 86, "V2-B0-narrow": 90},
}


def test_a_recipe_is_judged_by_its_worst_model_and_refused_when_a_run_diverges():
    table = table42.protocol_table(_rows(SCORES))
    assert table["complete"].all() and not table["refused"].any()
    assert table.set_index("recipe")["worst model"].eq("V2-S-shared").all()
    assert table42.chosen_recipe(_rows(SCORES)) == "adamw-cosine"
    refused = _rows(SCORES, diverging=("adamw-cosine", "V2-B0-narrow"))
    assert table42.protocol_table(refused).set_index("recipe").loc["adamw-cosine", "diverged"] == "V2-B0-narrow seed 1"
    assert table42.chosen_recipe(refused) == "official-steps-peruse"


def test_no_recipe_is_chosen_before_every_run_is_stored():
    rows = _rows(SCORES)
    assert table42.chosen_recipe(rows.iloc[:-1]) is None
    assert table42.protocol_table(rows.iloc[:-1]).set_index("recipe").loc["adamw-cosine", "runs stored"] == "7 of 8"


def test_divergence_is_a_validation_loss_far_above_its_start_after_warm_up():
    history = json.loads(_history([50.0] * 6, [1.0, 9.0, 1.0, 1.0, 1.0, 1.0]))
    assert not table42.diverged(history, warmup_epochs=2.5)  # the spike is inside warm-up
    assert table42.diverged(history, warmup_epochs=1.0)
    assert table42.diverged(json.loads(_history([50.0], [float("nan")])), warmup_epochs=0.0)


def test_a_protocol_study_and_the_study_of_its_recipe_are_one_plan():
    first = table42.protocol_studies()[0]
    study = table42.decisive_study("official-steps", "cpu")
    assert (first.name, first.plan) == (study.name, study.plan)
    assert set(first.seeds) < set(study.seeds) and len(study.seeds) == 8
    assert table42.decisive_study("official-steps", "gpu").plan != study.plan


@pytest.mark.dask
@pytest.mark.skipif(not (paths.DATASETS_DIR / "FashionMNIST").exists(), reason="make data first")
def test_the_gpu_profile_runs_the_protocol_then_the_chosen_recipe_on_a_tiny_plan(tmp_path, monkeypatch, capsys):
    tiny = {"width_mult": 0.25, "train_limit": 256, "batch_size": 64, "epochs": 2, "device": "cpu"}
    tiny_designs = {
        "STUDY_PROFILES": {n: designs.StudyProfile(n, **tiny) for n in ("cpu", "gpu")},
        "STUDY_MODELS": ("V2-B0-shared",),
        "CANDIDATE_RECIPES": {"adamw-cosine": designs.CANDIDATE_RECIPES["adamw-cosine"]},
        "PROTOCOL_SEEDS": (0,),
        "STUDY_SEEDS": (0, 1),
    }
    for module in (designs, table42):  # the designs, and the names the Table 4.2 study reads from them
        for name, value in tiny_designs.items():
            monkeypatch.setattr(module, name, value)
    store = tmp_path / "runs.csv"
    argv = [
        "study",
        "ch4",
        "run",
        "--profile",
        "gpu",
        "--device",
        "cpu",
        "--workers",
        "1",
        "--store",
        str(store),
        "--work-dir",
        str(tmp_path / "checkpoints"),
        "--no-progress",
    ]
    assert main(argv) == 0
    assert "table42-cpu-adamw-cosine: stored 1 runs, 0 pending" in capsys.readouterr().out
    assert table42.chosen_recipe(designs.read_runs(store)) == "adamw-cosine"
    assert main(argv) == 0  # the chosen recipe at the gpu profile's sizes, every study seed
    rows = designs.read_runs(store)
    assert sorted(rows["study"]) == ["table42-cpu-adamw-cosine", "table42-gpu-adamw-cosine", "table42-gpu-adamw-cosine"]
    assert rows["machine"].str.contains("cores, torch").all()
    assert len(list((tmp_path / "checkpoints").rglob("*.pt"))) == 3  # in --work-dir, none under build/


def test_the_floor_action_of_the_gpu_profile_reads_the_floors_of_its_own_images(capsys):
    """``study ch4 floor --profile gpu`` serves the gpu profile's 54,000-image floors alone (those of the
    seeds asked for are stored, so nothing is computed); the cpu profile keeps the earlier studies'."""
    assert main(["study", "ch4", "floor", "--profile", "gpu", "--seeds", "0", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "table42-gpu" in out and "54000" in out and "table42-cpu" not in out and "fashion-mnist-w025" not in out


def test_the_reading_says_what_the_table_says():
    complete = table42.protocol_table(_rows(SCORES))
    assert "**Chosen: adamw-cosine**" in table42.protocol_reading(complete)
    assert "86.00 %" in table42.protocol_reading(complete)
    assert (
        "The sharing-aware step size raises the worst model's score (official-steps-peruse 84.00 % against "
        "official-steps 70.00 %); the chosen recipe does not use it." in table42.protocol_reading(complete)
    )
    no_help = {**SCORES, "official-steps-peruse": {**SCORES["official-steps-peruse"], "V2-S-shared": 60}}
    assert "step size does not raise" in table42.protocol_reading(table42.protocol_table(_rows(no_help)))
    partial = table42.protocol_table(_rows(SCORES).iloc[:-1])
    assert "No recipe is chosen until every run of every recipe is stored" in table42.protocol_reading(partial)
    refused = table42.protocol_table(_rows(SCORES, diverging=("adamw-cosine", "V2-B0-narrow")))
    assert "Refused (a run diverged): adamw-cosine (V2-B0-narrow seed 1)" in table42.protocol_reading(refused)


def test_costs_and_the_stored_gpu_measurements_are_read_from_their_files():
    rows = designs.read_runs()
    costs = table42.run_costs(rows)
    mine = rows[rows["study"].str.startswith("table42-")]
    assert costs["runs"].sum() == len(mine)
    throughput = table42.device_throughput()
    assert set(throughput["processes"]) >= {1} and (throughput["images/s"] > 0).all()
    assert throughput["device"].str.contains("NVIDIA").all()
    # a measurement that recorded timm's version and the optimizer's path shows both; an older one says so
    h100 = throughput[throughput["device"].str.contains("H100")].iloc[0]
    assert h100["timm"] == "1.0.31" and h100["one tensor at a time"] == False  # noqa: E712 (object column)
    older = throughput[throughput["device"].str.contains("H200")]
    assert (older["timm"] == "not recorded").all() and older["one tensor at a time"].isna().all()


def test_a_throughput_measurement_shows_its_plain_step_baseline_and_an_older_one_says_it_has_none(tmp_path):
    """``bench_fit_throughput`` now stores each row's width and the same run's plain step; a file written
    before those fields shows None, and a several-process row joins the recipe it measured."""

    def single(recipe: str, **extra) -> dict:
        return {"model": "V2-S-shared", "recipe": recipe, "batch": 512, "images_per_s": 9000.0, **extra}

    new = {
        "device": "NVIDIA H100",
        "timm": "1.0.31",
        "single": [
            single("official-steps-peruse", width=0.75, plain_step_ms=40.0, fit_to_plain=1.4),
            single("adamw-cosine", width=0.75, plain_step_ms=40.0, fit_to_plain=1.5),
        ],
        "shared": [{"model": "V2-S-shared", "recipe": "adamw-cosine", "processes": 4, "images_per_s_total": 2e4}],
    }
    old = {"device": "NVIDIA H200", "single": [single("official-steps-peruse")], "shared": []}
    write_json(tmp_path / "fit_throughput_h100_w1.0_b512.json", new)
    write_json(tmp_path / "fit_throughput_h200_w0.5_b128.json", old)
    table = table42.device_throughput(tmp_path)
    one = table[table["processes"] == 1].set_index(["device", "recipe"])
    assert one.loc[("NVIDIA H100", "adamw-cosine"), "fit / plain"] == 1.5
    assert one.loc[("NVIDIA H100", "adamw-cosine"), "plain step ms"] == 40.0
    assert one.loc[("NVIDIA H100", "adamw-cosine"), "width"] == 0.75  # the row's, not the file name's 1.0
    assert one.loc[("NVIDIA H200", "official-steps-peruse"), ["plain step ms", "fit / plain"]].isna().all()
    assert one.loc[("NVIDIA H200", "official-steps-peruse"), "width"] == 0.5  # from the file's name
    shared = table[table["processes"] == 4]
    assert list(shared["recipe"]) == ["adamw-cosine"] and shared["fit / plain"].isna().all()


def test_a_judged_study_is_the_fit_studys_judgement_against_the_floor_of_its_own_images():
    recipe = table42.chosen_recipe(designs.read_runs())
    judged = table42.judged_study(recipe, "cpu")
    study = table42.decisive_study(recipe, "cpu")
    again = readings.judge(study.rows(), table42.floor_study("cpu").floor_rows(), study)
    assert judged.kept == again.kept and judged.criteria.equals(again.criteria)
    tables = table42.judged_tables(judged)
    assert list(tables) == ["criteria", "differences", "controls"] and tables["criteria"] is judged.criteria


def test_a_judged_study_names_the_floor_command_of_its_profile_for_a_seed_without_a_floor(tmp_path, monkeypatch):
    """A gpu-profile run of a seed whose 54,000-image floor is not stored: the error names the gpu floor's
    command with that seed, not the cpu profile's floor. (The floors are read from a copy of the stored
    ones without seed 7's.)"""
    recipe = table42.chosen_recipe(designs.read_runs())
    decisive, floors = table42.decisive_study, table42.floor_study
    gpu = decisive(recipe, "gpu")
    store, floor_store = tmp_path / "runs.csv", tmp_path / "floors.csv"
    decisive(recipe, "cpu").rows().iloc[[0]].assign(study=gpu.name, plan=gpu.plan, seed=7).to_csv(store, index=False)
    stored_floors = without_digests(pd.read_csv(floors("gpu").floor.path))  # rows dropped below
    seed7 = (stored_floors["study"] == floors("gpu").name) & (stored_floors["seed"] == 7)
    stored_floors[~seed7].to_csv(floor_store, index=False)
    monkeypatch.setattr(table42, "decisive_study", lambda r, p="cpu": decisive(r, p).with_store(store))
    monkeypatch.setattr(
        table42, "floor_study", lambda p="cpu": replace(floors(p), floor=replace(floors(p).floor, path=floor_store))
    )
    with pytest.raises(LookupError, match=r"study ch4 floor --profile gpu --seeds 7`"):
        table42.judged_study(recipe, "gpu")


def test_the_stored_step_counts_are_recomputed_for_one_model():
    """The benchmark's stored ATen-call and Python-call counts (what the notebook shows) are what
    ``count_step_calls`` and ``step_python_calls`` compute now for V2-B0-original; the multi-tensor step
    stays within 20 % of a plain one's ATen calls and makes no more Python calls than it."""
    stored = table42.step_calls_table().set_index("model")
    assert set(stored.index) == set(designs.STUDY_MODELS)
    assert table42.count_step_calls("V2-B0-original") == {
        name: int(stored.loc["V2-B0-original", name])
        for name in ("plain step", "fit, per-tensor optimizer", "fit, multi-tensor optimizer")
    }
    assert (stored["fit, multi-tensor optimizer / plain"] < 1.2).all()
    assert (stored["fit, per-tensor optimizer / plain"] > 2).all()
    # the Python between those calls: the same count where Python, torch and timm are those that stored it
    # (cProfile's counts change with Python's version), and fit's bookkeeping adds none beyond a plain step's
    python = table42.python_calls_table().set_index("model")
    now = table42.step_python_calls("V2-B0-original")
    recorded = json.loads(table42.STEP_CALLS.read_text())
    here = (platform.python_version(), torch.__version__, timm.__version__)
    if (recorded["python"], recorded["torch"], recorded["timm"]) == here:
        assert now == {name: float(python.loc["V2-B0-original", name]) for name in now}
    assert now["fit, multi-tensor optimizer"] <= now["plain step"]


def _pair(model: str, against: str, seeds: int, diff: float, **extra) -> dict:
    return {
        "model": model,
        "against": against,
        "seeds": seeds,
        "difference (pp)": diff,
        "t low": diff - 0.3,
        "t high": diff + 0.3,
        "permutation p": 0.0234375,
        "seeds model better": seeds - 1,
        "seeds against better": 1,
        **extra,
    }


def test_the_study_reading_says_what_its_tables_say():
    verdicts = pd.DataFrame(
        [
            _pair(
                "V2-S-shared",
                "V2-B0-original",
                8,
                0.37,
                **{"thesis CIFAR-10 difference (pp)": 0.4},
                verdict="reproduced",
                reason=float("nan"),
            ),
            _pair(
                "V2-B0-shared",
                "V2-B0-original",
                2,
                -0.2,
                **{"thesis CIFAR-10 difference (pp)": -0.3},
                verdict="not comparable",
                reason="2 of the study's 8 seeds counting, a verdict needs 6",
            ),
        ]
    )
    controls = pd.DataFrame([_pair("V2-S-shared", "V2-B0-narrow", 8, 0.75)])
    prior = pd.DataFrame(
        {
            "model": ["V2-B0-original", "V2-S-shared"],
            "rank by PG": [1, 2],
            "mean test top-1": [87.8, 88.2],
            "rank by test top-1": [2, 1],
        }
    )
    text = table42.study_reading(verdicts, controls, prior)
    assert (
        "- V2-S-shared minus V2-B0-original: +0.37 points over 8 seeds (95 % t-interval [+0.07, +0.67], "
        "permutation p = 0.02; better on 7, worse on 1); the thesis's CIFAR-10 difference +0.4; "
        "verdict **reproduced**." in text
    )
    assert "verdict **reproduced**." in table42.study_reading(verdicts.assign(reason=""), controls, prior)  # no "()"
    assert "verdict **not comparable** (2 of the study's 8 seeds counting, a verdict needs 6)." in text
    assert "- V2-S-shared minus V2-B0-narrow (control, no claim): +0.75 points over 8 seeds" in text
    assert (
        "ranks V2-B0-original > V2-S-shared; the mean test top-1 ranks V2-S-shared > V2-B0-original: a different"
        in text
    )
    same = prior.assign(**{"rank by test top-1": [1, 2]})
    assert "the same order" in table42.study_reading(verdicts, controls, same)
    one_seed = verdicts.assign(seeds=1, reason=["1 seed counting", float("nan")])
    lines = table42.study_reading(one_seed, controls.assign(seeds=1), prior.assign(**{"mean test top-1": float("nan")}))
    assert lines == (
        "- V2-S-shared minus V2-B0-original: verdict **reproduced** (1 seed counting).\n"
        "- V2-B0-shared minus V2-B0-original: verdict **not comparable**."
    )
    assert table42.study_reading(verdicts.iloc[:0], controls.iloc[:0], prior.iloc[:0]) == (
        "No seed counts yet: nothing to compare."
    )


def test_the_groups_floor_action_reads_the_images_of_data_dir(tmp_path, monkeypatch):
    given = []
    monkeypatch.setattr(studies, "store_floors", lambda spec, seeds, **kw: given.append(kw) or pd.DataFrame())
    studies._floors(StudyRequest(profile="gpu", options={"data_dir": tmp_path}))
    assert given == [{"progress": True, "data_dir": tmp_path}]
