"""Population training: fitness functions, schedule, checkpoint/resume and
improvement on real digits (thesis section 3.4, Algorithms 1 and 3)."""

from __future__ import annotations

import argparse
import ast
import math
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import Subset

from reuseprior.chapters import ch3_revolver as analysis
from reuseprior.chapters.ch3_revolver import PROFILES
from reuseprior.commands import revolver as cli
from reuseprior.core.errors import CheckpointMismatchError, CommandInputError
from reuseprior.datasets import load_digits_splits
from reuseprior.revolver import (  # the package's public names
    Builder,
    ModuleRegistry,
    Population,
    PopulationConfig,
    SearchSettings,
    SearchSpace,
    SearchState,
    config_from_settings,
    evolve,
    genotype_fitness,
    learning_rate,
    phenotype_fitness,
    population,
    random_blueprint,
    random_search,
    search,
    search_pipeline,
)
from reuseprior.revolver.blocks import validate_shapes
from reuseprior.revolver.phenotype import DataFeed, batch_budget, evaluate, train_batches

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def splits():
    return load_digits_splits(seed=0)


def tiny_config(mode="evolve", **kw) -> PopulationConfig:
    base = dict(
        search_mode=mode,
        population_size=4,
        sample_size=2,
        epochs=4,
        warmup_x=2,
        warmup_epoch=1,
        lr=0.1,
        min_lr=0.01,
        decay_start=2,
        batch_size=32,
        base_batches=3,
        min_batches=2,
        test_every=2,
        search_budget=3,
        seed=11,
        space=SearchSpace(base_widths=(4,), growths=(4,), num_groups=(2,), depths=(1,)),
    )
    base.update(kw)
    return PopulationConfig(**base)


def test_phenotype_fitness_is_validation_loss_times_size_penalty():
    assert phenotype_fitness(2.0, 10_000) == pytest.approx(2.0 * (1 + 0.0075 * 2))
    assert phenotype_fitness(1.0, 1_000_000) > phenotype_fitness(1.0, 1_000)


def test_batch_budget_rewards_better_scores_within_bounds():
    assert batch_budget(1.0, 1.0, 96, 96, 400) == 96
    assert batch_budget(0.5, 1.0, 96, 96, 400) == 400  # (1/0.5)^3 * 96 = 768, capped at an epoch
    assert batch_budget(4.0, 1.0, 96, 10, 400) == round(96 * 0.2)  # floor factor 0.2
    assert batch_budget(4.0, 1.0, 96, 96, 400) == 96  # the thesis's minimum of 96 batches


def test_learning_rate_is_constant_then_decays_exponentially_to_min_lr():
    cfg = PopulationConfig(epochs=160, decay_start=100, lr=0.35, min_lr=0.00085)
    assert learning_rate(cfg, 0) == learning_rate(cfg, 99) == 0.35
    assert learning_rate(cfg, 159) == pytest.approx(0.00085)
    lrs = [learning_rate(cfg, g) for g in range(100, 160)]
    ratios = np.array(lrs[1:]) / np.array(lrs[:-1])
    assert np.allclose(ratios, ratios[0]) and ratios[0] < 1


def test_results_have_one_row_per_evaluation_with_required_columns(splits):
    pop = Population(tiny_config(), splits).run()
    df = pop.results_frame()
    assert len(df) == 2 * 4
    for col in ["generation", "individual", "params", "shared_params", "val_loss", "val_acc"]:
        assert col in df.columns
    assert "test_acc" not in df.columns  # the test set is read for the top individual only
    log = pop.generations_frame()
    assert log["top_test_acc"].notna().tolist() == [True, False, True, True]  # every 2nd generation and the last
    assert (df["shared_params"] <= df["params"]).all()
    stats = pop.sharing_stats()
    assert stats["params_unshared"] >= stats["params_shared"] > 0


def test_warmup_generations_train_nothing_and_hold_the_coefficient(splits):
    pop = Population(tiny_config("random_warmup_evolve", warmup_epoch=2, epochs=3), splits).run()
    log = pop.generations_frame()
    assert log["warmup"].tolist() == [True, True, False]
    assert log.loc[:1, "trained"].tolist() == [0, 0]
    assert log.loc[:1, "coefficient"].tolist() == [32.0, 32.0]
    assert set(pop.results_frame()["generation"]) == {2}


def _weights(pop):
    return {k: v for k, v in pop.registry.state_dict()["weights"].items()}


def _settings(**kw) -> SearchSettings:
    return SearchSettings.from_config(PopulationConfig(**kw))


@pytest.mark.parametrize("algorithm", [random_search, evolve])
def test_search_needs_only_a_search_state(algorithm):
    """Algorithm 1 on plain members: the worst are replaced through the
    callback, with their genotype fitness, and the coefficient adapts."""
    rng = np.random.default_rng(0)
    space = SearchSpace(base_widths=(4,), growths=(4,), num_groups=(2,), depths=(1,))
    builder = Builder(rng, aggressive=True)
    members = [SimpleNamespace(uid=i, blueprint=random_blueprint(space, builder), score=1e9 + i) for i in range(5)]
    calls = []

    def replace(index, bp, fitness):
        calls.append(index)
        members[index] = SimpleNamespace(uid=10 + index, blueprint=bp, score=fitness)

    state = SearchState(
        rng=rng,
        space=space,
        builder=builder,
        settings=_settings(immigration_p=0.0),
        members=members,
        coefficient=32.0,
        generation=0,
        replace=replace,
    )
    replaced = search_pipeline(state, algorithm)
    assert replaced == calls and len(replaced) == 2
    assert state.coefficient == pytest.approx(32.0 * 1.005**2)
    for i in replaced:
        assert members[i].score == genotype_fitness(members[i].blueprint, 32.0 * 1.005 ** replaced.index(i))
    held = SearchState(
        rng=rng,
        space=space,
        builder=builder,
        settings=_settings(),
        members=members,
        coefficient=32.0,
        generation=0,
        replace=replace,
    )
    search_pipeline(held, algorithm, adapt=False)  # warm-up: the coefficient is held
    assert held.coefficient == 32.0


def test_search_does_not_import_the_population():
    tree = ast.parse(Path(search.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not any("population" in name for name in imported), imported


@pytest.mark.parametrize("mode", ["evolve", "random_warmup"])
def test_killed_and_resumed_run_reproduces_the_uninterrupted_run(splits, tmp_path, mode):
    n, k = 5, 2
    straight = Population(tiny_config(mode, epochs=n), splits).run()
    first = Population(tiny_config(mode, epochs=n), splits).run(until=k, checkpoint=tmp_path / "ck.pt")
    del first  # "kill": nothing survives but the checkpoint
    resumed = Population.load(tmp_path / "ck.pt", splits)
    assert resumed.generation == k
    resumed.run()
    a = straight.results_frame().drop(columns="seconds")
    b = resumed.results_frame().drop(columns="seconds")
    pd.testing.assert_frame_equal(a, b)
    assert [i.blueprint.to_dict() for i in straight.individuals] == [i.blueprint.to_dict() for i in resumed.individuals]
    wa, wb = _weights(straight), _weights(resumed)
    assert wa.keys() == wb.keys()
    for name in wa:
        for key in wa[name]:
            assert torch.equal(wa[name][key], wb[name][key]), (name, key)
    assert straight.coefficient == resumed.coefficient
    assert straight.rng.random() == resumed.rng.random()


def test_population_best_validation_accuracy_improves_on_digits(splits):
    """Fixed seed: the best validation accuracy of the last generations
    clearly exceeds that of the first ones (the population learns)."""
    cfg = config_from_settings(
        PROFILES["quick"],
        "evolve",
        0,
        splits.input_shape,
        10,
        epochs=14,
        population_size=6,
        sample_size=3,
        test_every=0,
    )
    pop = Population(cfg, splits).run()
    best = analysis.best_by_generation(pop.results_frame())["best_val_acc"].to_numpy()
    assert best[-3:].mean() > best[:3].mean() + 0.2, best


def test_table_3_2_and_c_1_views(splits):
    pop = Population(tiny_config(epochs=4, test_every=1), splits).run()
    df, log = pop.results_frame(), pop.generations_frame()
    t = analysis.table_3_2(df, log, "digits")
    assert t.loc[0, "Top Test Acc."] == pytest.approx(100 * log["top_test_acc"].max())
    assert t.loc[0, "Gen."] == int(log.loc[log["top_test_acc"].idxmax(), "generation"])
    assert t.loc[0, "Final Test Acc."] == pytest.approx(100 * log["top_test_acc"].iloc[-1])
    assert t.loc[0, "Sample Sz."] == 2 and t.loc[0, "Mean Val."] == pytest.approx(100 * df["val_acc"].mean())
    c1 = analysis.table_c_1(pop.registry)
    assert len(c1) > 0 and c1["Score"].is_monotonic_increasing
    curve = analysis.convergence_curve(df, window=3)
    assert len(curve) == len(df)
    text = analysis.blueprint_text(pop.individuals[0].blueprint, max_depth=1)
    assert '"[...]"' in text and '"input_shape"' in text


def test_cli_accepts_the_appendix_c2_flags(splits, tmp_path):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(
        "--batch_size 32 --search_mode random --sample_size 2 --epochs 2 --width 1 --lr 0.1 --min_lr .00085 "
        f"--genotype_cost 32 --warmup_x 2 --warmup_epoch 1 --population_size 3 --dataset digits "
        f"--device cpu --output_dir {tmp_path}".split()
    )
    assert cli.run(args) == 0
    rows = pd.read_csv(tmp_path / "results.csv")
    assert len(rows) == 4 and (tmp_path / "checkpoint.pt").exists() and (tmp_path / "table_3_2.csv").exists()
    args.resume = True  # the finished run resumes (nothing left to do) with the flags it was started with
    assert cli.run(args) == 0


@pytest.mark.parametrize(
    "flags, message",
    [
        ("--population_size 0", "population_size must be an integer >= 1, got 0"),
        ("--population_size 2 --sample_size 3", "sample_size=3 exceeds population_size=2"),
        ("--lr -1", "lr and min_lr must be > 0"),
        ("--dataset imagenet", "dataset 'imagenet' is not supported"),
        ("--dataset mnist --data-dir {empty}", "data fetch mnist"),
    ],
)
def test_cli_rejects_bad_flags_with_a_message(flags, message, tmp_path):
    """A bad setting is a CommandInputError (``python -m reuseprior`` prints it, exit 2) before any file."""
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    flags = flags.format(empty=tmp_path / "no-datasets-here")
    args = parser.parse_args(f"{flags} --device cpu --output_dir {tmp_path / 'run'}".split())
    with pytest.raises(CommandInputError, match=re.escape(message)):
        cli.run(args)
    assert not (tmp_path / "run").exists()  # nothing written for a run that never started


def test_thesis_reference_rows_for_each_mode():
    ref = analysis.thesis_table_3_2_reference("digits")
    assert list(ref["Mode"]) == list(analysis.MODE_LABELS.values())
    assert ref.set_index("Mode").loc["Evolve", "Dataset"] == "MNIST"
    assert ref.set_index("Mode").loc["RandWarmup", "Dataset"] == "CIFAR-10"
    assert len(ref.attrs["printed"]) == len(ref)
    cifar = analysis.thesis_table_3_2_reference("cifar10")
    assert set(cifar["Dataset"]) == {"CIFAR-10"} and set(cifar["Epochs"]) == {160}


def test_dataloader_path_used_for_torchvision_style_datasets(splits):
    """The paper profile's datasets are not TensorDatasets: batches go
    through a DataLoader with the same explicit-RNG batch indices."""
    wrapped = Subset(splits.train, list(range(len(splits.train))))
    direct = DataFeed(splits.train, 32, torch.device("cpu"))
    loader = DataFeed(wrapped, 32, torch.device("cpu"))
    idx = [np.arange(5), np.arange(7, 19)]
    for (xa, ya), (xb, yb) in zip(direct.batches(idx), loader.batches(idx)):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = train_batches(model, loader, 3, np.random.default_rng(0), opt, torch.nn.CrossEntropyLoss())
    assert math.isfinite(loss) and 0 <= evaluate(model, loader, limit=64)[1] <= 1


def test_paper_scale_search_space_builds_cifar_shaped_models():
    space = SearchSpace(
        input_shape=(3, 32, 32), num_groups=(3,), base_widths=(16, 32), growths=(8, 12), depths=(1, 2, 3)
    )
    b, reg = Builder(np.random.default_rng(2), aggressive=True), ModuleRegistry()
    x = torch.randn(2, 3, 32, 32)
    for _ in range(4):
        bp = random_blueprint(space, b)
        assert validate_shapes(bp) == []
        model = reg.build(bp).eval()
        with torch.no_grad():
            assert model(x).shape == (2, 10)


def test_wall_clock_seconds_are_split_off_the_tracked_tables(splits):
    """results/generations keep every reproducible column; the seconds go to
    a measurement keyed by mode, generation and individual."""
    pop = Population(tiny_config("random_warmup_evolve", warmup_epoch=1, epochs=3), splits).run()
    results, seconds = analysis.split_measurements(pop.results_frame())
    assert "seconds" not in results.columns and "val_acc" in results.columns
    assert list(seconds.columns) == ["mode", "generation", "individual", "index", "seconds"]
    generations, generation_seconds = analysis.split_measurements(pop.generations_frame())
    assert "seconds" not in generations.columns
    assert list(generation_seconds.columns) == ["mode", "generation", "warmup", "seconds"]
    timing = analysis.time_per_generation(generation_seconds)
    assert list(timing.columns) == ["mode", "seconds/generation (training)", "seconds/generation (warm-up)"]
    assert timing.loc[0, "mode"] == "RandWarmEvolve" and (timing.iloc[0, 1:] >= 0).all()
    sharing = analysis.sharing_table({"random_warmup_evolve": pop})
    assert not any("second" in c for c in sharing.columns)
    assert sharing.loc[0, "params_unshared"] >= sharing.loc[0, "params_shared"] > 0


def test_figure_caption_names_data_profile_and_population():
    caption = analysis.data_caption(PROFILES["quick"], "quick", 0, modes=["random", "evolve"])
    for part in (
        "scikit-learn 8x8 handwritten digits",
        "profile 'quick'",
        "population 8",
        "20 generations",
        "2 modes",
        "seed 0",
    ):
        assert part in caption, (part, caption)
    assert "CIFAR-10" in analysis.data_caption(PROFILES["full"], "full", 1)


def test_the_test_set_is_read_for_the_top_trained_individual_only(splits):
    """Section 3.5.1: the reported test accuracy is the top individual's
    (lowest phenotype score among the trained ones), evaluated as it stands;
    an untrained individual with a better genotype fitness is not it."""
    pop = Population(tiny_config(epochs=1, test_every=1, population_size=8), splits).run()
    trained = [i for i, ind in enumerate(pop.individuals) if ind.evaluations > 0]
    untrained = [i for i, ind in enumerate(pop.individuals) if ind.evaluations == 0]
    assert trained and untrained
    pop.individuals[untrained[0]].score = -1.0  # best score of all, never trained
    top = min(trained, key=lambda i: pop.individuals[i].score)
    assert pop.top_index() == top and pop.best_index() == untrained[0]
    record = pop.test_top_individual()
    assert record["top_individual"] == pop.individuals[top].uid
    assert record["top_test_acc"] == pytest.approx(evaluate(pop.build(top), pop.test_feed)[1])


def test_notebook_runs_checkpoint_and_resume_with_their_settings(splits, tmp_path):
    settings = {**PROFILES["quick"], "population_size": 4, "sample_size": 2, "epochs": 3, "base_batches": 2}
    settings["sample_sizes"] = {"evolve": 3}
    first = population.run_search_modes(settings, splits, modes=["evolve"], checkpoint_dir=tmp_path)
    assert (tmp_path / "evolve.pt").exists() and first["evolve"].config.sample_size == 3
    again = population.run_search_modes(settings, splits, modes=["evolve"], checkpoint_dir=tmp_path, resume=True)
    pd.testing.assert_frame_equal(
        again["evolve"].results_frame().drop(columns="seconds"), first["evolve"].results_frame().drop(columns="seconds")
    )
    with pytest.raises(CheckpointMismatchError, match="sample_size: 3 saved, 2 now"):
        population.run_search_modes(
            {**settings, "sample_sizes": None}, splits, modes=["evolve"], checkpoint_dir=tmp_path, resume=True
        )
