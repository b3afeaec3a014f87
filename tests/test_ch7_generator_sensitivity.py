"""Chapter 7's generator sensitivity (reuseprior.chapters.ch7_sharing_schemes.sensitivity): the
stored table, a live slice of it, its agreement with the trained study's counted columns, and the
reading generated from it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reuseprior.chapters import ch7_sharing_schemes as ch7
from reuseprior.chapters.ch7_sharing_schemes import sensitivity
from reuseprior.models.sharing.stores import GENERATORS, UPSAMPLERS

COUNTED = ["params", "PG", "PG_prime", "expected_spread", "entropy", "NG"]


@pytest.fixture(scope="module")
def stored() -> pd.DataFrame:
    return ch7.read_generator_sensitivity()


def _study_runs() -> pd.DataFrame:
    """Stored runs of the CPU study's model: the running study's file when it has any, else the
    pilot's (the counted columns depend on the model as built, not on the training plan)."""
    for path in (ch7.STORED_RUNS, ch7.STORED_RUNS.with_name("sharing_study_runs_pilot.csv")):
        if path.exists():
            runs = pd.read_csv(path)
            runs = runs[(runs["model"] == ch7.CPU_DESIGN.model) & (runs["dataset"] == ch7.CPU_DESIGN.dataset)]
            if not runs.empty:
                return runs
    pytest.skip("no stored runs of the CPU study: python -m reuseprior study ch7 run")


def test_stored_table_has_every_variant_at_every_ssn_budget_with_finite_values(stored):
    budgets = ch7.ssn_budgets(ch7.CPU_DESIGN)
    assert set(budgets) == {c.budget for c in ch7.CPU_DESIGN.configs if c.scheme == "ssn"} and len(budgets) == 3
    ssn = stored[stored["role"] == "SSN"]
    assert len(ssn) == len(budgets) * len(GENERATORS) * len(UPSAMPLERS)
    assert set(zip(ssn["budget"], ssn["generator"], ssn["upsampler"])) == {
        (b, g, u) for b in budgets for g in GENERATORS for u in UPSAMPLERS
    }
    assert np.isfinite(stored[COUNTED].to_numpy(dtype=float)).all()
    derived = ["PG change vs Emb+Mask", "PG_prime change vs Emb+Mask", "entropy change vs Emb+Mask"]
    ranks = ["PG rank in budget", "PG_prime rank in budget", "configurations in budget"]
    assert np.isfinite(ssn[derived + ranks].to_numpy(dtype=float)).all()
    assert stored.loc[stored["role"] != "SSN", derived + ranks].isna().all().all()
    # every SSN meets its budget exactly (NPAS section 3.4, the budget is the whole model's count)
    assert (ssn["params"] == ssn["budget_target"]).all()
    # the default's change against itself is 0; a rank lies within its budget's configurations
    default = ssn[(ssn["generator"] == "emb") & (ssn["upsampler"] == "mask")]
    assert (default[derived] == 0).all().all()
    assert ((ssn[ranks[0]] >= 1) & (ssn[ranks[0]] <= ssn[ranks[2]])).all()


def test_the_references_are_the_studys_configurations_of_each_budget(stored):
    refs = stored[stored["role"] == "reference"]
    for budget in ch7.ssn_budgets(ch7.CPU_DESIGN):
        expected = {c.label for c in ch7.CPU_DESIGN.configs if c.budget == budget and c.scheme != "ssn"}
        assert set(refs.loc[refs["budget"] == budget, "config"]) == expected
        assert {"narrow"} < set(refs.loc[refs["budget"] == budget, "scheme"])  # the narrower model is among them


def test_ranks_and_changes_by_hand():
    # two references at PG 2 and 1; SSNs at 1.5 (Emb + Mask) and 3 (RR + Repeat)
    table = pd.DataFrame(
        {
            "budget": ["b"] * 4,
            "role": ["reference", "reference", "SSN", "SSN"],
            "generator": ["", "", "emb", "rr"],
            "upsampler": ["", "", "mask", "repeat"],
            "PG": [2.0, 1.0, 1.5, 3.0],
            "PG_prime": [1.0, 2.0, 0.5, 1.5],
            "entropy": [8.0, 8.0, 7.0, 8.5],
        }
    )
    out = sensitivity._relative_columns(table)
    assert list(out["PG rank in budget"].iloc[2:]) == [2, 1]
    assert list(out["PG_prime rank in budget"].iloc[2:]) == [3, 2]
    assert list(out["configurations in budget"].iloc[2:]) == [3, 3]
    assert list(out["PG change vs Emb+Mask"].iloc[2:]) == [0.0, 1.5]
    assert list(out["entropy change vs Emb+Mask"].iloc[2:]) == [0.0, 1.5]
    assert out["PG rank in budget"].iloc[:2].isna().all()


def test_a_live_slice_equals_the_stored_table(stored):
    # RR and Emb with the Mask upsampler at every budget, with the unshared model and the references:
    # 13 models, a few seconds of the engine (the notebook recomputes all 43)
    live = ch7.generator_sensitivity(generators=("rr", "emb"), upsamplers=("mask",))
    check = ch7.sensitivity_live_check(stored[stored["config"].isin(live["config"])], live)
    assert len(live) == 13 and check["within tolerance"].all(), check[~check["within tolerance"]]


def test_the_live_check_flags_a_changed_value(stored):
    changed = stored.copy()
    changed.loc[changed.index[3], "PG"] += 1e-6
    check = ch7.sensitivity_live_check(stored, changed)
    assert list(check.loc[~check["within tolerance"], "column"]) == ["PG"]
    missing = ch7.sensitivity_live_check(stored, stored.iloc[1:])
    assert set(missing.loc[~missing["within tolerance"], "config"]) == {stored["config"].iloc[0]}


def test_the_studys_configurations_count_as_their_stored_runs(stored):
    # the Emb + Mask rows are the study's "SSN @ ..." and RR + Repeat its "SSN-RR @ ...": their counted
    # columns must equal those the trained runs recorded for the same model (seed 0)
    assert set(stored.loc[(stored["generator"] == "emb") & (stored["upsampler"] == "mask"), "study config"]) == {
        c.label for c in ch7.CPU_DESIGN.configs if c.scheme == "ssn" and c.options_dict == ch7.SSN_OPTIONS
    }
    runs = _study_runs()
    assert set(runs["input_shape"]) == {"x".join(map(str, sensitivity.SENSITIVITY_INPUT))}
    check = ch7.counted_against_runs(stored, runs)
    emb = check[check["config"].str.startswith("SSN Emb+Mask")]
    assert emb["study config"].nunique() == 3 and len(emb) == 3 * len(COUNTED)
    assert check["within tolerance"].all(), check[~check["within tolerance"]]
    # the unshared model and the references are compared too
    assert {"unshared", "scope", "narrower @ scope"} <= set(check["study config"])


def test_the_reading_is_generated_from_the_table(stored):
    text = ch7.sensitivity_reading(stored)
    ssn = stored[(stored["role"] == "SSN") & (stored["generator"] != "emb")]
    largest = ssn.groupby("generator")["PG change vs Emb+Mask"].agg(lambda v: v.abs().max()).idxmax()
    assert f"{sensitivity.GENERATOR_NAMES[largest]} moves it most" in text.splitlines()[0]
    upsampled = int(stored["upsampled layers"].max())
    assert ("the upsampler changes nothing" in text) == (upsampled == 0)
    steady = stored.loc[stored["role"] == "SSN"].groupby("budget")["PG rank in budget"].nunique().eq(1).all()
    assert ("By PG the SSN's rank among its budget's configurations does not change" in text) == steady

    # change the table: the reading follows
    edited = stored.copy()
    wavg = edited["generator"] == "wavg"
    edited.loc[wavg, "PG change vs Emb+Mask"] = 5.0
    edited.loc[(edited["generator"] == "rr") & (edited["budget"] == "scope"), "PG rank in budget"] = 1
    edited.loc[edited["role"] == "SSN", "upsampled layers"] = 2
    edited_text = ch7.sensitivity_reading(edited)
    assert "WAvg moves it most (+5.00)" in edited_text
    assert "By PG the SSN's rank among its budget's configurations changes with the generator" in edited_text
    assert "scope: RR 1," in edited_text
    assert "At most 2 layers are upsampled" in edited_text
