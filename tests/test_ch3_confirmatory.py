"""The confirmatory chapter-3 study: declared before its runs (seeds, family, tests, correction and reading
in its plan), seeds the exploratory study did not use, enough of them for the power it declares, one
machine kind per seed, read once."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from reuseprior.chapters.ch3_revolver import confirmatory as confirm
from reuseprior.chapters.ch3_revolver import study as ch3
from reuseprior.commands import main
from reuseprior.core import cpu
from reuseprior.core.errors import MachineKindError, RunSettingError
from reuseprior.core.verdict_policy import DESIGN_POWER, INTERIM, NOT_COMPARABLE
from reuseprior.reporting import statistics


def test_its_seeds_are_fresh_and_an_exploratory_seed_is_refused():
    assert len(confirm.SEEDS) >= 8 and not set(confirm.SEEDS) & confirm.USED_SEEDS
    assert confirm.USED_SEEDS == {0, 1, 2, 3, 4} == set(ch3.CPU_STUDY.seeds)
    with pytest.raises(RunSettingError, match=r"seeds=\[0, 4\].*chose its margin"):
        confirm.confirmatory_study((0, 4, 200))


def test_the_command_refuses_an_exploratory_seed_with_the_reason(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["study", "ch3-confirm", "run", "--seeds", "0"])
    assert stopped.value.code == 2
    assert "chose its margin" in capsys.readouterr().err


def test_it_keeps_the_exploratory_settings_and_its_plan_holds_the_family():
    explored, mine = ch3.CPU_STUDY, confirm.STUDY
    assert mine.design.settings == explored.design.settings and mine.design.image_size == explored.design.image_size
    assert {k: v for k, v in mine.settings.items() if k != "confirmatory"} == dict(explored.settings)
    declared = mine.settings["confirmatory"]
    assert declared["family alpha"] == 0.05 / 2 and declared["correction"] == "bonferroni"
    assert declared["family"] == [
        ["mnist", "evolve", "random", "equivalent", 0.5],
        ["fashion-mnist", "evolve", "random", "greater", None],
    ]
    assert "[0, 1, 2, 3, 4]" in declared["margin source"] and set(declared["sides"]) == {"mnist", "fashion-mnist"}
    assert confirm.confirmatory_study(confirm.SEEDS[:-1]).plan != mine.plan != explored.plan


def test_the_declared_seeds_are_at_least_what_the_power_needs():
    power = confirm.power_table().set_index("Dataset")
    assert power["exploratory sd (pp)"].round(2).to_dict() == {"MNIST": 0.17, "Fashion-MNIST": 0.52}
    assert (power["seeds declared"] >= power["seeds needed"]).all() and len(confirm.SEEDS) >= power[
        "seeds needed"
    ].max()
    fashion = power.loc["Fashion-MNIST"]
    sd, mean, needed = (
        fashion["exploratory sd (pp)"],
        fashion["exploratory mean (pp)"],
        fashion["seeds for the t-test part"],
    )
    alpha = confirm.FAMILY_ALPHA
    assert statistics.paired_power(sd, needed - 1, mean, alpha=alpha) < DESIGN_POWER
    assert statistics.paired_power(sd, needed, mean, alpha=alpha) >= DESIGN_POWER
    # the exact permutation floors at the family's level: 2 / 2**n and 1 / 2**n below 0.025
    assert fashion["permutation floor (seeds)"] == 7 and power.loc["MNIST", "permutation floor (seeds)"] == 6
    assert (
        power["seeds needed"] == power[["seeds for the t-test part", "permutation floor (seeds)"]].max(axis=1)
    ).all()
    assert (power["t-test part power at the declared seeds"] >= DESIGN_POWER).all()


def test_the_equivalence_power_is_the_chance_the_interval_fits_the_margin():
    rng = np.random.default_rng(3)
    sd, pairs, difference, margin, alpha = 0.17, 4, 0.3, 0.5, 0.025
    samples = rng.normal(difference, sd, size=(20_000, pairs))
    low, high = np.transpose([statistics.t_interval(s, 1 - alpha) for s in samples[:200]])  # the intervals judged
    half = stats.t.ppf(1 - alpha / 2, pairs - 1) * samples.std(axis=1, ddof=1) / np.sqrt(pairs)
    assert np.allclose(samples[:200].mean(axis=1) - half[:200], low) and np.allclose(
        samples[:200].mean(axis=1) + half[:200], high
    )
    fits = (samples.mean(axis=1) - half > -margin) & (samples.mean(axis=1) + half < margin)
    simulated = float(np.mean(fits))
    computed = statistics.equivalence_power(sd, pairs, difference, margin, alpha=alpha)
    assert computed == pytest.approx(simulated, abs=4 * np.sqrt(simulated * (1 - simulated) / len(fits)))
    assert statistics.equivalence_power(sd, 8, 0.0, margin, alpha=alpha) > computed  # more pairs, centred: higher
    needed = statistics.equivalence_pairs_needed(sd, margin, 0.04, alpha=alpha)
    assert statistics.equivalence_power(sd, needed - 1, 0.04, margin, alpha=alpha) < DESIGN_POWER
    assert statistics.equivalence_power(sd, needed, 0.04, margin, alpha=alpha) >= DESIGN_POWER
    assert needed == 5 < statistics.fewest_equivalence_pairs(alpha) == 6  # the interval alone; the TOST p needs 6
    with pytest.raises(ValueError, match="inside"):
        statistics.equivalence_pairs_needed(sd, margin, 0.6)


def test_a_cpu_process_without_the_pinned_kernels_is_refused_before_anything_loads(monkeypatch, tmp_path):
    monkeypatch.setattr(cpu, "kernels_pinned", lambda: False)
    with pytest.raises(MachineKindError, match="ATEN_CPU_CAPABILITY=avx2"):
        confirm.confirmatory_run(
            study=confirm.NAME, dataset="mnist", mode="evolve", seed=200, spec=confirm.STUDY, checkpoint_root=tmp_path
        )
    assert not any(tmp_path.iterdir())


H100 = "NVIDIA H100 80GB HBM3 (132 SMs, 79 GiB), CUDA 13.0, torch 2.11.0, host 16 cores"


def test_a_seed_whose_runs_trained_on_another_kind_is_refused(tmp_path):
    stored = pd.DataFrame({"seed": [200], "dataset": ["mnist"], "mode": ["random"], "machine": [H100]})
    spec = SimpleNamespace(name=confirm.NAME, rows=lambda: stored)
    run = {"dataset": "mnist", "mode": "evolve", "seed": 200}
    with pytest.raises(MachineKindError, match=r"seed 200 .*\['NVIDIA H100 80GB HBM3'\]"):
        confirm.check_machine_kind(spec, run, cpu.PINNED_CPU_KIND, tmp_path)
    confirm.check_machine_kind(spec, {**run, "seed": 201}, cpu.PINNED_CPU_KIND, tmp_path)  # another seed: free
    confirm.check_machine_kind(spec, run, "NVIDIA H100 80GB HBM3", tmp_path)  # the same kind


def test_a_run_begun_on_another_kind_is_not_resumed(tmp_path):
    spec = SimpleNamespace(name=confirm.NAME, rows=pd.DataFrame)
    begun = tmp_path / cpu.kind_folder("NVIDIA H100 80GB HBM3") / confirm.NAME / "fashion-mnist"
    begun.mkdir(parents=True)
    (begun / "evolve-seed203.pt").write_bytes(b"")
    run = {"dataset": "fashion-mnist", "mode": "evolve", "seed": 203}
    with pytest.raises(MachineKindError, match="never resumed"):
        confirm.check_machine_kind(spec, run, cpu.PINNED_CPU_KIND, tmp_path)
    confirm.check_machine_kind(spec, run, "NVIDIA H100 80GB HBM3", tmp_path)
    confirm.check_machine_kind(spec, {**run, "mode": "random"}, cpu.PINNED_CPU_KIND, tmp_path)


def _relabelled(seeds: list[tuple[int, int]]) -> pd.DataFrame:
    """The exploratory study's stored runs of each ``(old, new)`` seed pair's old seed, renamed as the
    confirmatory study's runs of the new one (synthetic rows: they test the reading, they are not its data)."""
    rows = ch3.CPU_STUDY.rows()
    parts = [rows[rows["seed"] == old].assign(seed=new, study=confirm.NAME) for old, new in seeds]
    return pd.concat(parts, ignore_index=True)


@pytest.fixture
def above_every_floor(monkeypatch):
    def floors(runs, spec):
        return pd.DataFrame(
            {"Dataset": runs["dataset"].map(ch3.DATASET_LABELS), "mode": runs["mode"], "above floor": True}
        )

    monkeypatch.setattr(confirm, "floor_table", floors)


def test_the_family_is_read_once_when_every_declared_seed_is_stored(above_every_floor):
    every = _relabelled([(old, new) for new, old in zip(confirm.SEEDS, [0, 1, 2, 3, 4] * 2)])
    read, reason = confirm.family_reading(confirm.STUDY, every)
    assert reason == "" and set(read["pairs"]) == {len(confirm.SEEDS)}
    assert set(read["verdict"]) <= {"reproduced", "contradicted", "undetermined"}
    assert (read["level"] == confirm.FAMILY_ALPHA).all()
    mnist = read.set_index("Dataset").loc["MNIST"]
    assert mnist["equivalence margin (pp)"] == 0.5 and np.isfinite(mnist["equivalence p"])
    t = statistics.t_interval(_differences(every, "mnist"), 1 - confirm.FAMILY_ALPHA)  # the family's level
    assert (mnist["t low"], mnist["t high"]) == pytest.approx(t)


def _differences(runs: pd.DataFrame, dataset: str) -> np.ndarray:
    mine = runs[runs["dataset"] == dataset].pivot(index="seed", columns="mode", values=confirm.METRIC)
    return 100 * (mine["evolve"] - mine["random"]).to_numpy()


def test_an_interim_reading_gives_no_verdict_and_an_undeclared_seed_is_never_read(above_every_floor):
    interim = _relabelled([(0, 200), (1, 201), (2, 202), (3, 203), (4, 204)])
    partial = _relabelled([(2, 207)]).query("dataset == 'mnist'")  # seed 207: two of its four runs
    interim = pd.concat([interim, partial, _relabelled([(3, 3)])])  # seed 3: stored, never declared
    read, reason = confirm.family_reading(confirm.STUDY, interim)
    assert reason.startswith("5 of the study's 10 declared seeds stored") and "read once" in reason
    assert set(read["verdict"]) == {NOT_COMPARABLE} and set(read["pairs"]) == {5}
    assert set(read["rule verdict"]) == {INTERIM}  # the rule's verdict is withheld too
    awaiting, why = confirm.family_reading(confirm.STUDY, interim.iloc[:0])
    assert "0 of the study's 10" in why and list(awaiting["Dataset"]) == ["MNIST", "Fashion-MNIST"]
    assert set(awaiting["verdict"]) == {NOT_COMPARABLE} and set(awaiting["pairs"]) == {0}


def test_the_family_table_sets_the_exploratory_study_beside_at_the_family_level(above_every_floor):
    interim = _relabelled([(0, 200), (1, 201)])
    table = confirm.family_table(confirm.STUDY, interim)
    assert list(table.columns) == list(confirm.FAMILY_COLUMNS) and (table["level"] == 0.025).all()
    explored = table[table["study"] == confirm.EXPLORATORY].set_index("Dataset")
    assert explored["pairs"].tolist() == [5, 5]
    # 5 pairs cannot pass 0.025: the TOST p's floor is 1/32, the two-sided permutation p's 2/32
    assert explored.loc["MNIST", "equivalence p"] >= 1 / 32 > 0.025
    assert set(explored["verdict"]) == {"undetermined"}
    summary, per_seed = confirm.figure_tables(table, confirm.STUDY, interim)
    assert summary[["panel", "study"]].values.tolist() == [
        ["MNIST", "exploratory"],
        ["MNIST", "confirmatory"],
        ["Fashion-MNIST", "exploratory"],
        ["Fashion-MNIST", "confirmatory"],
    ]
    assert sorted(set(per_seed.loc[per_seed["study"] == "confirmatory", "seed"])) == [200, 201]


def test_the_design_check_sets_the_observed_sd_beside_the_assumed_one(above_every_floor):
    """The observed SD is that of the whole declared seeds' differences (a seed missing a run and an
    undeclared seed left out), and the power under the assumed SD is the power table's."""
    runs = _relabelled([(0, 200), (1, 201), (2, 202), (3, 203)])
    runs = pd.concat([runs, _relabelled([(4, 204)]).query("dataset == 'mnist'"), _relabelled([(4, 4)])])
    check = confirm.design_check(confirm.STUDY, runs).set_index("Dataset")
    power = confirm.power_table().set_index("Dataset")
    for dataset, label in [("mnist", "MNIST"), ("fashion-mnist", "Fashion-MNIST")]:
        whole = _differences(runs[runs["seed"].between(200, 203)], dataset)
        assert check.loc[label, "confirmatory pairs"] == 4
        assert check.loc[label, "observed sd (pp)"] == pytest.approx(np.std(whole, ddof=1))
        assert check.loc[label, "assumed sd (pp)"] == pytest.approx(power.loc[label, "exploratory sd (pp)"])
        assert check.loc[label, "t-test part power, assumed sd"] == pytest.approx(
            power.loc[label, "t-test part power at the declared seeds"]
        )
    wider = check.loc["Fashion-MNIST"]  # a wider spread than assumed lowers the power
    doubled = confirm.design_check(confirm.STUDY, runs.assign(**{confirm.METRIC: 2 * runs[confirm.METRIC]}))
    assert (
        doubled.set_index("Dataset").loc["Fashion-MNIST", "t-test part power, observed sd"]
        < wider["t-test part power, observed sd"]
    )
    empty = confirm.design_check(confirm.STUDY, runs.iloc[:0])
    assert (empty["confirmatory pairs"] == 0).all() and empty["observed sd (pp)"].isna().all()
