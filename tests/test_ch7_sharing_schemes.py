"""Chapter 7: the compact study family, the resumable trained study of the sharing
schemes, its stored rows, the prior-vs-trained ranking, and the live slice."""

from __future__ import annotations

import math
import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from reuseprior.chapters import ch7_sharing_schemes as ch7
from reuseprior.chapters.ch7_sharing_schemes import seeds
from reuseprior.commands import main
from reuseprior.core import paths
from reuseprior.core.errors import CsvFormatError, DatasetNotFoundError
from reuseprior.core.parameters import count_parameters
from reuseprior.core.precision import FLOAT32_ACROSS_KERNELS
from reuseprior.core.study import pending_runs
from reuseprior.core.study_runner import run_study
from reuseprior.datasets import load_digits_splits
from reuseprior.models import build_model
from reuseprior.models.compact import Stage, compact_net
from reuseprior.models.sharing import share
from reuseprior.reporting.statistics import sign_test
from reuseprior.reporting.verdicts import decidability, gated_verdicts
from reuseprior.training.convergence import history_json, read_history
from reuseprior.training.loop import TrainConfig

# ------------------------------------------------------------------ the model family


def test_compact_net_parameter_count_by_hand():
    # stem 1->16 3x3 (144) + BN (32); two separable blocks of 16 channels: depthwise 16*9 (144) + BN (32)
    # + pointwise 16*16 (256) + BN (32) each; classifier 16*10 + 10
    net = compact_net(10, block="separable", stages=(Stage(16, 2, 2),))
    assert count_parameters(net) == 144 + 32 + 2 * (144 + 32 + 256 + 32) + 170
    # scope sharing ties the two pointwise 16->16 convolutions (the depthwise ones differ in stride)
    assert count_parameters(share(net, "scope")) == count_parameters(net) - 256


@pytest.mark.parametrize("in_channels, size", [(1, 28), (3, 32)])
def test_compact_net_runs_on_mnist_and_cifar_resolutions(in_channels, size):
    net = build_model("compact_net", in_channels=in_channels, num_classes=7, seed=0)
    assert net(torch.zeros(2, in_channels, size, size)).shape == (2, 7)


def test_compact_net_seed_fixes_the_initialisation_and_leaves_the_global_generator_alone():
    state = torch.get_rng_state()
    a, b = compact_net(seed=3), compact_net(seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(next(compact_net(seed=4).parameters()), next(a.parameters()))


def test_compact_net_refuses_bad_options():
    with pytest.raises(ValueError, match="in_channels"):
        compact_net(in_channels=2)
    with pytest.raises(ValueError, match="block"):
        compact_net(block="dense")


# ----------------------------------------------------------------------- budgets


def test_study_budgets_are_where_the_schemes_land():
    design = ch7.CPU_DESIGN
    budgets = ch7.study_budgets(design)
    base = build_model("compact_net", in_channels=1, num_classes=10)
    assert budgets["full"] == count_parameters(base)
    assert budgets["scope"] == count_parameters(share(base, "scope")) < budgets["full"]
    depthwise = sum(
        m.weight.numel() for m in base.modules() if isinstance(m, torch.nn.Conv2d) and m.groups == m.in_channels > 1
    )
    # channel-wise s=8 keeps 1/8 of every depthwise kernel set (Bidart Table 3.3), nothing else changes
    assert budgets["full"] - budgets["channelwise"] == depthwise - depthwise // 8


def test_narrow_width_is_the_nearest_unshared_model_to_the_budget():
    design = ch7.CPU_DESIGN
    budget = 20_000
    w = ch7.narrow_width(design, budget)

    def params_at(width: float) -> int:
        return count_parameters(compact_net(10, in_channels=1, channel_divisor=1, width_mult=width))

    params = params_at(w)
    assert abs(params / budget - 1) < 0.03
    counts = [params_at(g) for g in np.linspace(0.5, 1.0, 60)]  # no width on a fine grid comes nearer
    assert abs(params - budget) <= min(abs(c - budget) for c in counts)


# ---------------------------------------------------------- the resumable runner


def _tiny_design() -> ch7.SharingDesign:
    return replace(
        ch7.CPU_DESIGN,
        name="tiny",
        model_kwargs=(("in_channels", 1), ("num_classes", 10), ("stem_stride", 1)),
        configs=tuple(c for c in ch7.CPU_DESIGN.configs if c.label in {"unshared", "scope", "narrower @ scope"}),
        seeds=(0,),
        train=TrainConfig(epochs=1, batch_size=64, optimizer="adamw", lr_base=0.05, lr_warmup_epochs=0.0),
        train_limit=256,
        val_limit=64,
    )


@pytest.fixture(scope="module")
def digits():
    return load_digits_splits(seed=0, image_size=8, channels=1, limit=256)


def _run(study, digits, max_runs=None) -> list[dict]:
    """The pending runs of ``study`` in this process, on ``digits``; the runs stored."""
    return run_study(study, options={"splits": digits}, max_runs=max_runs, progress=False).stored


def test_runner_resumes_after_an_interruption_without_redoing_finished_runs(tmp_path, digits):
    design = _tiny_design()
    study = ch7.sharing_study(design, tmp_path / "runs.csv")
    assert [r["config"] for r in _run(study, digits, max_runs=1)] == ["unshared"]  # stopped after the first row
    first = ch7.read_runs(study.store.path)
    assert list(first["config"]) == ["unshared"]
    assert [r["config"] for r in _run(study, digits)] == ["scope", "narrower @ scope"]  # the finished run is not redone
    rows = ch7.read_runs(study.store.path)
    assert list(rows["config"]) == ["unshared", "scope", "narrower @ scope"]
    pd.testing.assert_series_equal(rows.iloc[0], first.iloc[0], check_names=False)  # kept as written
    assert _run(study, digits) == [] and ch7.read_runs(study.store.path).equals(rows)  # nothing left to do
    # the counted columns are the model's own: the scope row has scope sharing's parameter count
    budgets = ch7.study_budgets(design)
    assert rows.set_index("config").at["scope", "params"] == budgets["scope"]
    assert abs(rows.set_index("config").at["narrower @ scope", "params"] / budgets["scope"] - 1) < 0.03


def test_live_check_retrains_the_first_epoch_and_catches_a_changed_history(tmp_path, digits):
    design = replace(_tiny_design(), train=replace(_tiny_design().train, epochs=2))
    study = ch7.sharing_study(design, tmp_path / "runs.csv")
    _run(study, digits, max_runs=1)
    rows = ch7.read_runs(study.store.path)
    check = ch7.retrain_cheapest_runs(study, rows, splits=digits, epochs=1)
    assert check["within tolerance"].all(), check[~check["within tolerance"]]
    assert {"val_top1 (epoch 1)", "train_loss (epoch 1)", "params", "PG"} <= set(check["column"])
    history = read_history(rows.loc[0, "epoch_history"])
    history[1]["val_top1"] += 2 * FLOAT32_ACROSS_KERNELS["accuracy_pp"]  # a stored epoch the code no longer reproduces
    tampered = rows.assign(epoch_history=[history_json(history)])
    bad = ch7.retrain_cheapest_runs(study, tampered, splits=digits, epochs=1).set_index("column")
    assert not bad.at["val_top1 (epoch 1)", "within tolerance"]
    with pytest.raises(ValueError, match="no epoch 3"):
        ch7.retrain_cheapest_runs(study, rows, splits=digits, epochs=3)


def test_rows_of_other_settings_are_not_taken_for_this_study(tmp_path, digits):
    design, path = _tiny_design(), tmp_path / "runs.csv"
    study = ch7.sharing_study(design, path)
    _run(study, digits, max_runs=1)
    other = ch7.sharing_study(replace(design, train=replace(design.train, epochs=2)), path)
    assert other.plan != study.plan
    assert len(pending_runs(other)) == 3
    assert len(pending_runs(study)) == 2


def _valid_row(**changes) -> dict:
    row = {c: None for c in ch7.ROW_COLUMNS}
    row.update(
        plan_id="p",
        config="narrower @ scope",
        scheme="narrow",
        budget="scope",
        budget_target=1000,
        seed=0,
        params=1010,
        val_top1=80.0,
        test_top1=79.5,
        PG=1.0,
        PG_prime=1.0,
        expected_spread=1.0,
        entropy=1.0,
    )
    row.update(changes)
    return row


@pytest.mark.parametrize(
    "rows, message",
    [
        ([_valid_row(), _valid_row()], "stored twice"),
        ([_valid_row(test_top1=101.0)], r"\[0, 100\]"),
        ([_valid_row(params=1100)], "more than 3 % off"),
        ([_valid_row(params=0)], "positive parameter count"),
        ([_valid_row(PG=math.nan)], "neither the prior's scores nor an engine error"),
    ],
)
def test_invalid_rows_are_refused_naming_the_problem(rows, message):
    ch7.validate_runs(pd.DataFrame([_valid_row()]))  # the valid row passes
    with pytest.raises(CsvFormatError, match=message):
        ch7.validate_runs(pd.DataFrame(rows))


def test_a_file_without_the_columns_is_refused(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(CsvFormatError, match="missing columns"):
        ch7.read_runs(path)


# ------------------------------------------------------------------- the ranking


def _hand_made_rows() -> pd.DataFrame:
    """Four configurations, three seeds; score order a<b<c<d; mean accuracies 10, 30, 20, 40
    (b and c swapped), with every seed in the same order; budgets: {a, b} and {c, d}."""
    accuracy = {"a": [9, 10, 11], "b": [29, 30, 31], "c": [19, 20, 21], "d": [39, 40, 41]}
    score = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}
    budget = {"a": "x", "b": "x", "c": "y", "d": "y"}
    params = {"a": 100, "b": 100, "c": 50, "d": 50}
    rows = []
    for config, accs in accuracy.items():
        for seed, acc in enumerate(accs):
            rows.append(
                {
                    "config": config,
                    "scheme": config,
                    "budget": budget[config],
                    "seed": seed,
                    "params": params[config],
                    "params_fraction": params[config] / 100,
                    "flops": 1,
                    "PG": score[config],
                    "PG_prime": -score[config],
                    "expected_spread": 0.0,
                    "entropy": 0.0,
                    "test_top1": float(acc),
                    "val_top1": float(acc),
                }
            )
    return pd.DataFrame(rows)


def test_ranking_agreement_on_a_hand_made_example():
    table = ch7.ranking_agreement(_hand_made_rows(), scores=("PG", "PG_prime"), n_boot=200).set_index("score")
    # ranks 1,2,3,4 against 1,3,2,4: Spearman 1 - 6*2/(4*15) = 0.8; Kendall (5 - 1)/6
    assert table.at["PG", "spearman"] == pytest.approx(0.8)
    assert table.at["PG", "kendall"] == pytest.approx(4 / 6)
    assert table.at["PG", "kendall within budget"] == pytest.approx(1.0)  # (a, b) and (c, d) both concordant
    assert table.at["PG_prime", "spearman"] == pytest.approx(-0.8)  # the reversed score
    # every seed orders the configurations alike: each seed's own Spearman is 0.8
    assert table.at["PG", "spearman seed range low"] == table.at["PG", "spearman seed range high"] == pytest.approx(0.8)
    # three seeds: no bootstrap, and a permutation p of at least 2 / 8, so no verdict either way
    assert np.isnan(table.at["PG", "spearman bootstrap low"]) and table.at["PG", "spearman permutation p"] == 0.25
    assert table.at["PG", "kendall within budget verdict"] == "undetermined"
    # the naive baseline: 100, 100, 50, 50 parameters against 10, 30, 20, 40
    assert table.at["params", "spearman"] == pytest.approx(-math.sqrt(0.2))


def test_disagreements_and_rank_table_name_the_swapped_pair():
    rows = _hand_made_rows()
    assert ch7.disagreements(rows, "PG", within_budget=True).empty
    pooled = ch7.disagreements(rows, "PG", within_budget=False)
    assert len(pooled) == 1
    first = pooled.iloc[0]
    assert (first["trained better"], first["prior prefers"]) == ("b", "c")
    assert first["accuracy gap (pp)"] == pytest.approx(10.0)
    assert first["seeds agreeing with trained order"] == "3 of 3"
    assert first["mean paired difference (pp)"] == pytest.approx(10.0)  # b - c is 10 on every seed
    assert first["sign test p"] == pytest.approx(0.25)  # 3 of 3: 2 / 8, the smallest p three seeds allow
    assert first["verdict on the prior's order"] == "undetermined"
    ranks = ch7.rank_table(rows, "PG").set_index("config")
    assert list(ranks["trained rank"]) == [4, 2, 3, 1] and list(ranks["prior rank"]) == [4, 3, 2, 1]
    text = ch7.reading(ch7.ranking_agreement(rows, scores=("PG",), n_boot=50), ch7.rank_table(rows), pooled)
    assert "prefers **c** to **b**" in text


# ------------------------------------------------------------ the stored study


def test_the_stored_study_keeps_its_plan_id():
    # the stored rows are keyed by this hash of the CPU study's settings: changing a setting
    # orphans them (rerun `python -m reuseprior study ch7 run` after changing one on purpose)
    assert ch7.sharing_study(ch7.CPU_DESIGN).plan == "423f03fd742f"


def test_stored_rows_are_valid_and_filled_seed_by_seed():
    # the study is filled across sessions (a worker per core, seed by seed): at least one seed is complete,
    # every row is of a seed of the study and has its whole epoch history and the prior's scores
    rows = ch7.study_rows(ch7.sharing_study(ch7.CPU_DESIGN))
    assert not rows.empty, "run: python -m reuseprior study ch7 run"
    _, paired, partial = ch7.complete_seeds(rows, ch7.CPU_DESIGN)
    assert paired and set(paired) | set(partial) <= set(ch7.CPU_DESIGN.seeds), (paired, partial)
    assert set(rows["config"]) <= {c.label for c in ch7.CPU_DESIGN.configs} and len(ch7.CPU_DESIGN.configs) == 12
    assert (rows["epochs"] == ch7.CPU_DESIGN.train.epochs).all()
    assert rows["epoch_history"].map(lambda h: len(read_history(h))).eq(ch7.CPU_DESIGN.train.epochs + 1).all()
    assert rows["engine_error"].isna().all(), "fill them: python -m reuseprior study ch7 fill-scores"


def test_the_stored_floor_is_of_the_study_and_recomputes():
    # the floor is a float64 logistic regression of the study's own images: recomputed, it is the stored row
    study = ch7.sharing_study(ch7.CPU_DESIGN)
    stored = ch7.read_floor(study)
    try:
        live = ch7.study_floor(study)
    except DatasetNotFoundError as err:
        pytest.skip(str(err))
    assert live["train_images"] == 8000 and live["test_images"] == 10000
    assert live["test_top1"] == pytest.approx(stored["test_top1"], abs=0.01)
    assert live["train_top1"] == pytest.approx(stored["train_top1"], abs=0.01)
    assert ch7.floor_check(stored, live)["within tolerance"].all()
    assert not ch7.floor_check(stored, {**live, "test_top1": live["test_top1"] + 0.5})["within tolerance"].all()


def _criteria_rows(seeds_per_config: dict[str, list[int]], test: float = 90.0, gain: float = 0.0) -> pd.DataFrame:
    """Rows with a 12-epoch history whose last 3 epochs gain ``gain`` points on the 3 before."""
    rows = []
    for config, config_seeds in seeds_per_config.items():
        for seed in config_seeds:
            history = [{"epoch": 0, "val_top1": 10.0}] + [
                {
                    "epoch": e,
                    "train_loss": 0.1,
                    "train_top1": 99.0,
                    "val_loss": 0.3,
                    "val_top1": 85.0 + (gain if e > 9 else 0.0),
                }
                for e in range(1, 13)
            ]
            rows.append({"config": config, "seed": seed, "test_top1": test, "epoch_history": history_json(history)})
    return pd.DataFrame(rows)


def test_complete_seeds_keeps_only_seeds_every_configuration_has():
    design = replace(ch7.CPU_DESIGN, configs=ch7.CPU_DESIGN.configs[:2])
    a, b = (c.label for c in design.configs)
    rows = _criteria_rows({a: [0, 1, 2], b: [0, 2]})
    kept, paired, partial = ch7.complete_seeds(rows, design)
    assert paired == [0, 2] and partial == [1] and set(kept["seed"]) == {0, 2}


def _reason(criteria: pd.DataFrame, seeds: list[int]) -> str:
    """Why the study's verdict cannot be given ("" when it can), as the notebook asks it."""
    return decidability(criteria, seeds, arm="config", noun="configuration", planned=10)[1]


def test_no_verdict_below_six_paired_seeds_or_with_runs_that_do_not_count():
    design = replace(ch7.CPU_DESIGN, configs=ch7.CPU_DESIGN.configs[:2])
    a, b = (c.label for c in design.configs)
    six = [0, 1, 2, 3, 4, 5]
    floor = {"train_top1": 95.0, "test_top1": 82.0}
    good = ch7.run_criteria_table(_criteria_rows({a: six, b: six}), floor)
    assert _reason(good, six) == ""
    assert "5 of the study's 10 seeds" in _reason(good, six[:5])  # 5 pairs: the exact permutation p stays >= 1/16
    below = _criteria_rows({a: six, b: six}, test=80.0)  # under the floor's 82 %
    assert "runs that do not count" in _reason(ch7.run_criteria_table(below, floor), six)
    rising = _criteria_rows({a: six, b: six}, gain=3.0)  # still gaining 3 points: no plateau
    table = ch7.run_criteria_table(rising, floor)
    assert not table["plateaued"].any() and table["val gain last 3 epochs (pp)"].eq(3.0).all()
    # one run that has not plateaued removes its seed whole: 7 seeds with one failing leave 6, enough
    seven = [*six, 6]
    one_rising = _criteria_rows({a: seven, b: seven})
    history = [{"epoch": e, "train_top1": 99.0, "val_top1": 85.0 + (3.0 if e > 9 else 0.0)} for e in range(13)]
    one_rising.loc[(one_rising["config"] == b) & (one_rising["seed"] == 3), "epoch_history"] = history_json(history)
    judged_runs = ch7.run_criteria_table(one_rising, floor)
    kept, failing = ch7.counting_seeds(judged_runs, seven)
    assert kept == [0, 1, 2, 4, 5, 6] and failing[["config", "seed"]].values.tolist() == [[b, 3]]
    assert _reason(judged_runs, seven) == ""
    assert "5 of the study's 10 seeds" in _reason(judged_runs, six) and f"{b} seed 3" in _reason(judged_runs, six)
    agreement = pd.DataFrame({"score": ["PG"], "spearman verdict": ["reproduced"]})
    judged = gated_verdicts(agreement, "3 paired seeds")
    assert judged.loc[0, "spearman verdict"] == "not comparable"
    assert judged.loc[0, "spearman rule verdict"] == "reproduced" and judged.loc[0, "reason"] == "3 paired seeds"
    pairs = gated_verdicts(pd.DataFrame({"verdict on the prior's order": ["undetermined"]}), "too few")
    assert pairs.loc[0, "verdict on the prior's order"] == "not comparable"
    assert pairs.loc[0, "rule verdict on the prior's order"] == "undetermined"
    assert gated_verdicts(agreement, "").loc[0, "spearman verdict"] == "reproduced"
    every = pd.DataFrame({"score": ["PG"], "spearman verdict": ["undetermined"]})
    beside = ch7.verdicts_beside(gated_verdicts(agreement, ""), every)
    assert beside.loc[
        0, ["statistic", "verdict (seeds whose runs count)", "rule verdict (every paired seed)", "same"]
    ].tolist() == ["spearman", "reproduced", "undetermined", False]


@pytest.mark.parametrize(
    "differences, p", [([1, 2, 3], 0.25), ([-1, -2, -3], 0.25), ([1, 2, -3], 1.0), ([1] * 5, 0.0625), ([1, 0, 2], 0.5)]
)
def test_sign_test_by_hand(differences, p):
    # two-sided: 2 * P(X >= max(k, n - k)) for X ~ Binomial(n, 1/2) over the non-zero differences, capped at 1
    assert sign_test(differences) == pytest.approx(p)
    assert np.isnan(sign_test([0, 0, 0]))  # no sign to test


def test_printed_numbers_group_the_readings_of_one_printed_number():
    assert ch7.printed_number("WRN-40-10 as % of WRN-28-10, CIFAR-10") == "WRN-40-10 as % of WRN-28-10"
    assert ch7.printed_number("Table 14 budget 24.6 % as 9 M, CIFAR-10") == "Table 14 budget 24.6 %"
    assert ch7.printed_number("Table 14 budget 24.6 % as a round count, 9 M") == "Table 14 budget 24.6 %"
    readings = pd.DataFrame(
        {
            "work": ["W"] * 3,
            "source": ["T", "T", "U"],
            "quantity": ["x, CIFAR-10", "x, CIFAR-100", "y"],
            "printed": ["1", "1", "2"],
            "unit": ["M"] * 3,
            "matches": [False, True, False],
        }
    )
    numbers = ch7.printed_numbers(readings)
    assert list(numbers["readings"]) == [2, 1] and list(numbers["reproduced"]) == [True, False]
    assert numbers.loc[0, "readings that reproduce it"] == "x, CIFAR-100"


def test_every_non_matching_seed_reading_has_a_note():
    both = pd.concat([seeds.npas_bookkeeping(), seeds.bidart_bookkeeping()], ignore_index=True)
    notes = ch7.reading_notes(both)
    assert len(notes) == int((~both["matches"].astype(bool)).sum()) > 0
    assert (notes["note"] != "(no note)").all(), notes.loc[notes["note"] == "(no note)", "quantity"]


def test_the_npas_comparison_says_the_narrower_wrn_was_not_run():
    table = ch7.printed_beside_trained(ch7.NPAS_DESIGN, pd.DataFrame(columns=list(ch7.ROW_COLUMNS)))
    narrower = table[table["setting"].str.startswith("WRN")]
    assert len(narrower) == 5 and (narrower["ours"] == ch7.NOT_RUN_NARROW_WRN).all()
    assert (table.loc[~table.index.isin(narrower.index), "ours"].str.startswith("SSN @")).all()


def test_the_quick_profiles_live_slice_matches_its_stored_row():
    # the first epoch of the cheapest run (heavy: tests/conftest.py); the committed notebook runs and
    # asserts the same check (live_check cell) under nbval on every `make test`
    study = ch7.sharing_study(ch7.CPU_DESIGN)
    rows = ch7.study_rows(study)
    if rows.empty:
        pytest.skip("no stored runs yet: python -m reuseprior study ch7 run")
    try:
        check = ch7.retrain_cheapest_runs(study, rows, k=ch7.PROFILES["quick"].live_rows)
    except DatasetNotFoundError as err:
        pytest.skip(str(err))
    assert check["within tolerance"].all(), check[~check["within tolerance"]]


def test_the_paper_profile_needs_cifar100_and_says_how_to_get_it(tmp_path):
    settings = ch7.PROFILES["paper"].with_overrides({"data_dir": str(tmp_path)})
    with pytest.raises(DatasetNotFoundError, match="data download cifar100"):
        ch7.profile_rows(settings, progress=False)


def test_command_status_lists_every_configuration(tmp_path, capsys):
    assert main(["study", "ch7", "status", "--store", str(tmp_path / "none.csv")]) == 0
    out = capsys.readouterr().out
    assert all(c.label in out for c in ch7.CPU_DESIGN.configs)


def test_reading_notes_quote_only_computed_or_printed_values():
    """The notes are typed text: every number in one must be a value of the bookkeeping
    table the notebook wrote (computed or printed, at the note's precision, in M or %)
    or part of the reading's own name, so a note cannot go stale silently. Numbers in
    names ("10-class", "100,000-weight") and class counts ("100 classes") are not quoted values."""
    table = pd.read_csv(paths.ROOT / "figures" / "ch7_sharing_schemes" / "npas_bookkeeping.csv")
    values = pd.concat([table["computed"], pd.to_numeric(table["printed"], errors="coerce")]).dropna().to_numpy()
    for (quantity, source), note in ch7.READING_NOTES.items():
        named = set(re.findall(r"\d+(?:\.\d+)?", f"{quantity} {source}"))
        quoted = re.sub(r"Tables? \d+(?:\([a-z]\))?", "", note)  # references, not values
        for text in re.findall(r"(?<![\w.-])\d[\d,]*(?:\.\d+)?(?![\w-]| class)", quoted):
            if text in named:
                continue
            number = float(text.replace(",", ""))
            decimals = len(text.split(".")[1]) if "." in text else 0
            close = np.abs(np.round(values, decimals) - number) <= 10 ** (-decimals) / 2 + 1e-9
            assert close.any(), f"note of {quantity!r} quotes {text}, which is no value of npas_bookkeeping.csv"
