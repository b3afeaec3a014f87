"""Chapter 7's reading of one estimand per interval (issue 42): the per-seed agreement, what the
seeds resolve, the SSN counting convention, the primary test and its family, the plateau threshold,
on hand-made rows and on the stored study."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reuseprior.chapters import ch7_sharing_schemes as ch7
from reuseprior.reporting.statistics import permutation_p


def _rows(seeds: int = 6) -> pd.DataFrame:
    """Two budgets of two configurations; in {a, b} b trains better on every seed (by 1 to 2 points),
    in {c, d} the order changes from seed to seed. PG orders a < b and c < d; entropy ties c and d."""
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(seeds):
        accuracy = {"a": 80.0, "b": 81.0 + rng.uniform(), "c": 85.0 + rng.normal(), "d": 85.0 + rng.normal()}
        for k, (config, acc) in enumerate(accuracy.items()):
            rows.append(
                {
                    "config": config,
                    "scheme": config,
                    "budget": "x" if config in "ab" else "y",
                    "seed": seed,
                    "params": 100 if config in "ab" else 50,
                    "params_fraction": 1.0,
                    "flops": 1,
                    "PG": float(k),
                    "PG_prime": -float(k),
                    "expected_spread": 0.0,
                    "entropy": 1.0 if config in "cd" else float(k),
                    "test_top1": acc,
                    "val_top1": acc,
                    "options": "{}",
                }
            )
    return pd.DataFrame(rows)


def test_the_agreement_is_the_per_seed_mean_with_its_own_interval():
    rows = _rows()
    table = ch7.ranking_agreement(rows, scores=("PG",)).set_index("score")
    per_seed, of_mean, seeds, _ = ch7.per_seed_agreement(rows, ("PG",))
    for k, label in enumerate(("spearman", "kendall", "kendall within budget")):
        assert table.at["PG", label] == pytest.approx(per_seed["PG"][:, k].mean())
        assert table.at["PG", f"{label} of mean accuracy"] == pytest.approx(of_mean["PG"][k])
        assert table.at["PG", f"{label} t low"] <= table.at["PG", label] <= table.at["PG", f"{label} t high"]


def test_a_pair_is_resolved_only_when_its_seeds_decide():
    pairs = ch7.resolved_pairs(_rows()).set_index(["trained better", "other"])
    assert pairs.at[("b", "a"), "resolved"] and pairs.at[("b", "a"), "seeds agreeing"] == "6 of 6"
    assert pairs.at[("b", "a"), "PG order"] == "as trained" and pairs.at[("b", "a"), "PG_prime order"] == "reversed"
    assert pairs.at[("b", "a"), "params order"] == "tied"
    assert not ch7.resolved_pairs(_rows(seeds=5))["resolved"].any()  # 5 pairs: p >= 1/16
    by_score = ch7.resolved_by_score(ch7.resolved_pairs(_rows())).set_index("score")
    assert by_score.at["PG", "as trained"] == 1 and by_score.at["PG_prime", "reversed"] == 1
    assert by_score.at["PG", "every resolved pair involves"] == "a, b"


def test_the_study_resolves_six_pairs_all_with_the_copying_ssn():
    design = ch7.CPU_DESIGN
    study = ch7.sharing_study(design)
    stored = ch7.study_rows(study)
    rows, paired, _ = ch7.complete_seeds(stored, design)
    criteria = ch7.run_criteria_table(stored, ch7.read_floor(study))
    counting, _ = ch7.counting_seeds(criteria, paired)
    counted = rows[rows["seed"].isin(counting)]
    by_score = ch7.resolved_by_score(ch7.resolved_pairs(counted)).set_index("score")
    assert (by_score["pairs"] == 15).all() and (by_score["resolved"] == 6).all()
    assert set(by_score["every resolved pair involves"]) == {"SSN-RR"}
    assert by_score["as trained"].to_dict() == {"PG": 4, "PG_prime": 6, "expected_spread": 4, "entropy": 0, "params": 2}
    convention = ch7.convention_dependence(counted)
    dependent = set(convention.loc[convention["depends on the SSN counting convention"], "score"])
    assert dependent == {"expected_spread", "entropy"}
    family = ch7.verdict_family(counted)
    assert family["role"].tolist().count("primary") == 1
    primary = family[family["role"] == "primary"].iloc[0]
    assert (primary["score"], primary["statistic"], primary["verdict"]) == (
        "PG",
        "kendall within budget",
        "undetermined",
    )
    assert (family["smallest p"] == permutation_p(np.ones(len(counting)))).all()
    secondary = family[family["role"] == "secondary"]
    assert (secondary["smallest p"] >= secondary["level"]).all()  # 9 seeds: no secondary survives Bonferroni
    assert set(secondary["verdict at its level"]) == {"undetermined"}
    against = ch7.score_against_params(counted).set_index(["score", "statistic"])
    assert against.at[("PG", "spearman"), "verdict (score agrees more)"] == "contradicted"
    plateau = ch7.plateau_sensitivity(rows, criteria, paired).set_index("plateau threshold (pp)")
    assert plateau.at[2.0, "stated rule"] and plateau.at[2.0, "verdicts differing from the stated rule's"] == 0
    assert plateau.at[1.0, "primary verdict"] == "not comparable"  # too few seeds count at 1 point
    assert plateau.at[1.5, "seeds that count"] == 5 and plateau.at[1.5, "primary verdict"] == "not comparable"
    noise = ch7.plateau_noise(criteria, stored).set_index("quantity")["value"]
    assert noise["SD of the runs' gains (pp)"] < noise["independent binomial SD of a gain (pp)"]
    text = ch7.reading(
        ch7.ranking_agreement(counted),
        ch7.rank_table(counted),
        ch7.disagreements(counted, "PG"),
        resolved=(ch7.resolved_pairs(counted), by_score.reset_index()),
        convention=convention,
        family=family,
        against_params=against.reset_index(),
    )
    assert "**Primary test**" in text and "depends on the SSN counting convention" in text
    assert "the seeds resolve 6" in text and "Bonferroni" in text
    # the score-against-#params verdicts are uncorrected, and 9 pairs cannot reach their Bonferroni level
    assert (against["pairs"] == len(counting)).all() and (against["level"] == 0.05 / len(against)).all()
    assert against.at[("PG", "spearman"), "verdict at its level"] == "undetermined"  # p 0.0078 > 0.05 / 12
    kept = against["verdict at its level"].isin(["reproduced", "contradicted"]).sum()
    assert f"These {len(against)} comparisons of a score with #params" in text
    assert f"0.05 / {len(against)} = {0.05 / len(against):.4f}, {kept or 'none'} of them keep their verdict" in text


def test_the_settings_are_a_table():
    table = ch7.settings_table(ch7.sharing_study(ch7.CPU_DESIGN))
    assert list(table.columns) == ["part", "setting", "value"] and set(table["part"]) == {"study", "training"}
    assert table.set_index("setting").at["epochs", "value"] == "12"
