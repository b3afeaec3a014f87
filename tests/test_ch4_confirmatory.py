"""The confirmatory Table 4.2 study: declared before its runs (recipe, seeds, family and correction in
its plan), seeds that chose nothing, one machine kind per seed, never resumed on another kind."""

from __future__ import annotations

import argparse
from dataclasses import replace

import pandas as pd
import pytest

from reuseprior.chapters import get_study
from reuseprior.chapters.ch4_sharing_training import confirmatory as confirm
from reuseprior.chapters.ch4_sharing_training import designs, readings
from reuseprior.chapters.ch4_sharing_training import runs as ch4_runs
from reuseprior.chapters.ch4_sharing_training import studies as ch4_studies
from reuseprior.chapters.ch4_sharing_training import table42_study as table42
from reuseprior.commands import main
from reuseprior.commands import study as study_command
from reuseprior.commands.parsers import study as study_parsers
from reuseprior.core import cpu, study_runner
from reuseprior.core.errors import RunSettingError


def test_the_declared_recipe_is_the_one_the_stored_protocol_chose():
    assert confirm.RECIPE == table42.chosen_recipe(designs.read_runs(designs.STORED_RUNS))


def test_its_seeds_are_twelve_that_chose_nothing_and_a_used_seed_is_refused():
    assert len(confirm.SEEDS) >= 12 and not set(confirm.SEEDS) & confirm.USED_SEEDS
    assert set(designs.PROTOCOL_SEEDS) <= confirm.USED_SEEDS
    with pytest.raises(RunSettingError, match=r"seeds=\[0, 1\].*chose nothing"):
        confirm.confirmatory_study((0, 1, 100))


def test_the_family_and_its_correction_are_part_of_the_plan():
    declared = confirm.STUDY.settings["confirmatory"]
    assert declared["correction"] == "bonferroni" and declared["family alpha"] == 0.05 / 4
    assert len(declared["family"]) == 4 == len(designs.FAMILY)
    other = confirm.confirmatory_study(confirm.SEEDS[:-1])
    assert other.plan != confirm.STUDY.plan


def test_a_cpu_process_without_the_pinned_kernels_is_refused_before_anything_loads(monkeypatch, tmp_path):
    monkeypatch.setattr(cpu, "kernels_pinned", lambda: False)
    with pytest.raises(confirm.MachineKindError, match="ATEN_CPU_CAPABILITY=avx2"):
        confirm.confirmatory_run(
            study=confirm.NAME, model="V2-B0-original", seed=100, spec=confirm.STUDY, work_dir=tmp_path
        )


def _stored(tmp_path, machine: str):
    spec = confirm.confirmatory_study(path=tmp_path / "runs.csv")
    row = designs.read_runs(designs.STORED_RUNS).iloc[0].to_dict()  # a stored run, renamed as one of the study's
    row.update(study=spec.name, plan=spec.plan, model="V2-B0-original", seed=100, machine=machine)
    spec.store.put(row)
    return spec


def test_a_seed_whose_runs_trained_on_another_kind_is_refused(tmp_path):
    spec = _stored(tmp_path, "NVIDIA H100 80GB HBM3 (132 SMs, 79 GiB), CUDA 13.0, torch 2.11.0, host 16 cores")
    with pytest.raises(confirm.MachineKindError, match=r"seed 100 .*\['NVIDIA H100 80GB HBM3'\]"):
        confirm.check_machine_kind(spec, "V2-S-shared", 100, cpu.PINNED_CPU_KIND, tmp_path)
    confirm.check_machine_kind(spec, "V2-S-shared", 101, cpu.PINNED_CPU_KIND, tmp_path)  # another seed: free
    confirm.check_machine_kind(spec, "V2-S-shared", 100, "NVIDIA H100 80GB HBM3", tmp_path)  # the same kind


H200 = "NVIDIA H200 (132 SMs, 140 GiB), CUDA 13.0, torch 2.11.0+cu130, host 16 cores"
CPU = "x86_64 2 cores, torch 2.15.0, 1 thread, CPU kernels x86_64 AVX2 avx2 fma, AVX2 kernels pinned"


def test_a_lent_machine_s_rows_are_stored_only_for_seeds_it_trained_whole(tmp_path):
    """Seed 103 whole on the H200, seed 106 three of four there, seed 100's missing run there while its other
    run trained on the CPU: only seed 103 joins, and the rule never looks at accuracy."""
    home = _stored(tmp_path, CPU)  # seed 100, V2-B0-original, on the CPU
    lent = confirm.confirmatory_study(path=tmp_path / "lent" / "runs.csv")
    template = home.rows().iloc[0].to_dict()
    models = [run["model"] for run in home.runs if run["seed"] == 100]
    for seed, names in [(103, models), (106, models[:3]), (100, [m for m in models if m != "V2-B0-original"])]:
        for model in names:
            lent.store.put({**template, "model": model, "seed": seed, "machine": H200, "top1_test": 99.0})

    merged = confirm.merge_whole_seeds(lent.store.path, home)

    assert merged == {"stored": [103], "left out": [100, 106]}
    stored = home.rows()
    assert sorted(stored["seed"].unique()) == [100, 103]
    assert len(stored[stored["seed"] == 103]) == len(models) and len(stored[stored["seed"] == 100]) == 1
    assert confirm.merge_whole_seeds(lent.store.path, home) == {"stored": [], "left out": [100, 106]}


def test_a_seed_with_a_run_that_names_no_machine_is_left_out_and_another_study_s_copy_adds_nothing(tmp_path):
    home = confirm.confirmatory_study(path=tmp_path / "runs.csv")
    lent = confirm.confirmatory_study(path=tmp_path / "lent" / "runs.csv")
    template = designs.read_runs(designs.STORED_RUNS).iloc[0].to_dict()
    models = [run["model"] for run in home.runs if run["seed"] == 107]
    for model in models:  # seed 107 whole on the H200 but for one run whose machine is not recorded
        machine = None if model == models[-1] else H200
        lent.store.put(
            {**template, "study": lent.name, "plan": lent.plan, "model": model, "seed": 107, "machine": machine}
        )
    assert confirm.merge_whole_seeds(lent.store.path, home) == {"stored": [], "left out": [107]}
    other = tmp_path / "other.csv"
    designs.read_runs(designs.STORED_RUNS).head(3).to_csv(other, index=False)  # exploratory rows only
    assert confirm.merge_whole_seeds(other, home) == {"stored": [], "left out": []}
    assert not home.store.path.exists()  # nothing of this study to store, so nothing written


def test_a_run_begun_on_another_kind_is_not_resumed(tmp_path):
    spec = confirm.confirmatory_study(path=tmp_path / "runs.csv")
    begun = tmp_path / "NVIDIA-H100-80GB-HBM3" / spec.plan / "checkpoints"
    begun.mkdir(parents=True)
    (begun / f"{spec.name}-{spec.plan}-fashion-mnist-V2-S-shared-w0.5-d1-s100.pt").write_bytes(b"")
    with pytest.raises(confirm.MachineKindError, match="never resumed"):
        confirm.check_machine_kind(spec, "V2-S-shared", 100, cpu.PINNED_CPU_KIND, tmp_path)
    confirm.check_machine_kind(spec, "V2-S-shared", 100, "NVIDIA H100 80GB HBM3", tmp_path)


def test_machine_kinds_read_every_machine_a_stored_run_names():
    stored = pd.read_csv(designs.STORED_RUNS)
    mixed = stored[stored["machine"].fillna("").str.contains(", then ")]["machine"].iloc[0]
    assert len(cpu.machine_kinds(mixed)) == 2
    assert cpu.machine_kinds(None) == []
    assert cpu.torch_versions(mixed) == ["2.11.0+cu130", "2.15.0+cu132"]  # a GPU's torch, then this CPU's
    assert cpu.torch_versions(None) == []
    here = cpu.machine_kind(cpu.device_description("cpu"))
    assert here == (cpu.PINNED_CPU_KIND if cpu.kernels_pinned() else "CPU, " + cpu.cpu_kernels())


def test_the_family_is_judged_at_its_bonferroni_level_with_robustness_and_compute():
    judged = ch4_studies.judged_studies()
    table = readings.family_table(judged["exploratory"], "exploratory")
    headline = table[(table["model"] == "V2-S-shared") & (table["against"] == "V2-B0-original")].iloc[0]
    # the exploratory p 6/256 passes 0.05 and fails 0.0125: two steps of 2/256 above the family's level
    assert headline["permutation p"] == pytest.approx(6 / 256)
    assert headline["verdict"] == "undetermined" and headline["permutation steps to the level"] == -2
    assert headline["t low"] < 0 < headline["t high"]  # the 98.75 % interval, wider than the 95 % one
    narrow = table[(table["model"] == "V2-S-shared") & (table["against"] == "V2-B0-narrow")].iloc[0]
    assert narrow["compute ratio (model / against)"] == pytest.approx(32.91488 / 3.888064)
    assert narrow["leave-one-seed-out agreement"] == 0.0  # 7 pairs cannot reach 0.0125 (2/128)
    assert set(table["role"]) == {"Table 4.2", "control"} and (table["family level"] == 0.0125).all()


def test_with_no_stored_seed_every_comparison_is_not_comparable_with_the_reason(tmp_path):
    empty = confirm.STUDY.with_store(tmp_path / "runs.csv")
    floor = pd.DataFrame(columns=["seed", "top1_train", "top1_test"])
    table = readings.family_table(readings.family_judgement(empty.rows(), floor, empty), "confirmatory")
    assert len(table) == 4 and (table["seeds"] == 0).all()
    assert (table["verdict"] == "not comparable").all()
    assert table["reason"].str.contains("read once, when all 12 are").all()


def test_the_family_is_read_once_at_every_declared_seed_never_at_an_interim_count():
    # the exploratory study's 8 counting seeds decide when 8 are declared, and wait when 12 are
    exploratory = table42.decisive_study(confirm.RECIPE, confirm.PROFILE)
    runs, floor = exploratory.rows(), table42.floor_study(confirm.PROFILE).floor_rows()
    assert len(exploratory.seeds) == 8
    assert readings.family_judgement(runs, floor, exploratory).reason == ""
    twelve = replace(exploratory, seeds=tuple(range(12)))
    judged = readings.family_judgement(runs, floor, twelve)
    assert len(judged.kept) == 8 and "8 of the study's 12 declared seeds" in judged.reason
    table = readings.family_table(judged, "interim")
    assert (table["verdict"] == "not comparable").all() and (table["seeds"] == 8).all()


def test_the_recipe_table_shows_the_order_reversing_under_the_official_recipes():
    recipes = ch4_studies.recipe_dependence(designs.read_runs(designs.STORED_RUNS), table42.floor_study().floor_rows())
    headline = recipes[
        (recipes["model"] == "V2-S-shared")
        & (recipes["against"] == "V2-B0-original")
        & (recipes["metric"] == "val top-1 last epochs")
    ].set_index("recipe")["difference (pp)"]
    assert headline["adamw-cosine"] > 0 > headline["official-steps"] and headline["official-steps-peruse"] < 0
    assert (recipes["seeds"] == 2).all()
    official = recipes[(recipes["recipe"] == "official-steps") & (recipes["model"] == "V2-S-shared")].iloc[0]
    assert official["train top-1 (model)"] < official["floor train top-1"]  # V2-S-shared underfits there


def test_the_seeds_that_mix_machine_kinds_are_named():
    kinds = readings.seed_machine_kinds(table42.decisive_study(confirm.RECIPE).rows())
    assert kinds.loc[kinds["mixed"], "seed"].tolist() == [0, 3, 6, 7]  # an H100 with an H200; a GPU with the CPU
    assert not kinds.loc[kinds["seed"] == 2, "mixed"].item()


def test_the_command_refuses_a_used_seed_with_the_reason(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["study", "ch4-confirm", "run", "--seeds", "0", "1"])
    assert stopped.value.code == 2
    assert "chose the recipe or served an earlier study" in capsys.readouterr().err


def test_the_family_by_machine_kind_splits_each_comparison_by_the_kind_its_seeds_trained_on():
    judged = ch4_studies.judged_studies()["exploratory"]
    table = readings.family_by_machine_kind(judged)
    headline = table[(table["model"] == "V2-S-shared") & (table["against"] == "V2-B0-original")]
    assert headline["seeds"].sum() == len(judged.kept)  # every counting seed in exactly one kind's row
    pooled = readings.family_table(judged, "exploratory").iloc[0]
    weighted = (headline["seeds"] * headline["mean difference (pp)"]).sum() / headline["seeds"].sum()
    assert weighted == pytest.approx(pooled["difference (pp)"])
    kinds = readings.seed_machine_kinds(judged.study.rows())
    assert kinds["torch"].str.match(r"^\d+\.\d+").all()


def test_a_stored_seed_the_study_does_not_declare_is_never_read():
    # seed 3 is stored but not declared, seed 50 declared but not stored: 7 of 8, so the reading waits
    exploratory = table42.decisive_study(confirm.RECIPE, confirm.PROFILE)
    runs, floor = exploratory.rows(), table42.floor_study(confirm.PROFILE).floor_rows()
    declared = replace(exploratory, seeds=(0, 1, 2, 4, 5, 6, 7, 50))
    judged = readings.family_judgement(runs, floor, declared)
    assert 3 in set(runs["seed"]) and 3 not in judged.kept and judged.interim
    assert "7 of the study's 8 declared seeds" in judged.reason


def _request(argv: list[str]):
    """``python -m reuseprior study ARGV`` parsed and checked as the command does, and its request."""
    parser = argparse.ArgumentParser()
    study_parsers.add_arguments(parser)
    args = parser.parse_args(argv)
    study_parsers.check_arguments(parser, args)
    study_command.check_run_arguments(parser, args)  # exit 2 for a flag the study does not use
    return args, study_command._request(args, get_study(args.name))


class _ReadImages(Exception):
    """Raised where a run or a floor would read its images, carrying the folder it would read them from."""


def test_the_command_takes_data_dir_and_its_runs_read_their_images_there(tmp_path, monkeypatch):
    images = tmp_path / "images"
    args, request = _request(
        ["ch4-confirm", "run", "--data-dir", str(images), "--work-dir", str(tmp_path), "--seeds", "100"]
    )
    assert request.options["data_dir"] == images
    seen = {}

    def train_model(plan, *_, **__):
        seen["data_dir"] = plan.data_dir
        return {"status": "stopped"}  # stopped: the run stays pending, nothing is stored

    monkeypatch.setattr(ch4_runs, "train_model", train_model)
    monkeypatch.setattr(confirm, "_kind_here", lambda device: cpu.PINNED_CPU_KIND)
    spec = confirm.STUDY.with_store(tmp_path / "runs.csv")
    done = study_runner.run_study(spec, options=request.options, max_runs=1, progress=False)
    assert seen["data_dir"] == images and not done.stored and not done.killed and len(done.unfinished) == 1
    assert spec.plan == confirm.confirmatory_study().plan  # where the files are is no part of the plan


def test_the_floor_reads_its_images_from_the_data_dir_given(tmp_path, monkeypatch):
    images = tmp_path / "images"
    _, request = _request(["ch4-confirm", "floor", "--data-dir", str(images), "--seeds", "100"])

    def plan_splits(plan, *_):
        raise _ReadImages(plan.data_dir)

    monkeypatch.setattr(ch4_runs, "plan_splits", plan_splits)
    spec = replace(confirm.STUDY, floor=replace(confirm.STUDY.floor, path=tmp_path / "floors.csv"))
    with pytest.raises(_ReadImages) as read:
        study_runner.store_floors(spec, [100], progress=False, **request.options)
    assert read.value.args == (images,)
