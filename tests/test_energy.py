"""Energy priors (thesis sections 5.3-5.4) and the estimates of section 4.4.5."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from reuseprior.priors import energy as en
from reuseprior.reporting.reference import load_thesis_table

LN2 = math.log(2)


def _direct(energies, beta, mult=None):
    """Textbook formulas on plain floats (small energies only)."""
    e = np.asarray(energies, float)
    g = np.ones_like(e) if mult is None else np.asarray(mult, float)
    w = g * np.exp(-beta * e)
    z = w.sum()
    P = w / z
    p_one = np.exp(-beta * e) / z
    return {
        "lnz": math.log(z),
        "E": float((P * e).sum()),
        "H": float(-(P * np.log(p_one)).sum()),
        "S": float(-(g * np.log(p_one)).sum()),
        "p": p_one,
    }


@pytest.mark.parametrize("beta", [-1.0, -0.3, 0.0, 0.7, 2.5])
def test_quantities_match_textbook_formulas_for_any_beta(beta):
    rng = np.random.default_rng(1)
    e = rng.normal(size=17) * 2
    g = rng.integers(1, 5, size=17)
    ref = _direct(e, beta, g)
    assert en.log_partition_function(e, beta, g) == pytest.approx(ref["lnz"], rel=1e-12)
    assert en.expected_energy(e, beta, g) == pytest.approx(ref["E"], rel=1e-12, abs=1e-12)
    assert en.entropy(e, beta, g) == pytest.approx(ref["H"], rel=1e-12)
    assert en.total_surprisal(e, beta, g) == pytest.approx(ref["S"], rel=1e-12)
    np.testing.assert_allclose(en.boltzmann_probabilities(e, beta, g), ref["p"], rtol=1e-12)


@pytest.mark.parametrize("beta", [-1.0, 0.5, 3.0])
def test_entropy_is_log_z_plus_beta_mean_energy(beta):
    e = np.linspace(-2, 5, 9)
    s = en.summarize(e, beta)
    assert s.entropy == pytest.approx(s.log_z + beta * s.expected_energy, rel=1e-12)


def test_beta_zero_is_uniform():
    e = np.array([0.0, 3.0, 10.0, -4.0])
    assert en.entropy(e, 0.0) == pytest.approx(math.log(4))
    np.testing.assert_allclose(en.boltzmann_probabilities(e, 0.0), 0.25)


def test_positive_beta_favours_low_energy_and_negative_beta_high():
    e = np.array([0.0, 1.0, 2.0])
    p_pos = en.boltzmann_probabilities(e, 1.0)
    p_neg = en.boltzmann_probabilities(e, -1.0)
    assert p_pos[0] > p_pos[1] > p_pos[2]
    assert p_neg[0] < p_neg[1] < p_neg[2]
    assert en.expected_energy(e, 1.0) < 1.0 < en.expected_energy(e, -1.0)


def test_degenerate_levels_equal_expanded_parameters():
    e = np.array([0.5, 1.5, 4.0])
    g = np.array([3, 1, 2])
    expanded = np.repeat(e, g)
    a = en.summarize(e, -0.8, g, num_inputs=5, num_graph_nodes=20)
    b = en.summarize(expanded, -0.8, num_inputs=5, num_graph_nodes=20)
    for k in ("log_z", "expected_energy", "entropy", "total_surprisal", "PG", "PG_prime", "NG"):
        assert getattr(a, k) == pytest.approx(getattr(b, k), rel=1e-12), k


def test_huge_scores_are_stable_in_log_space():
    """Counts of 2^3000 (EfficientNetV2-L reaches 2^3219): E = ln|C| ~ 2079."""
    e = np.array([3000.0, 2999.0, 2999.0, 10.0]) * LN2
    s = en.summarize(e, -1.0)
    # relative frequencies 2:1:1:~0 -> H = 1.5 bits, <log2|C|> = 2999.5
    assert en.entropy(e, -1.0, units="bits") == pytest.approx(1.5, rel=1e-12)
    assert en.expected_energy(e, -1.0, units="bits") == pytest.approx(2999.5, rel=1e-12)
    assert math.isfinite(s.log_z) and s.log_z == pytest.approx((3001) * LN2, rel=1e-12)


def test_energy_shift_moves_mean_not_entropy():
    e = np.array([0.1, 0.2, 0.9, 1.3])
    for beta in (-1.0, 0.4):
        assert en.entropy(e + 1000.0, beta) == pytest.approx(en.entropy(e, beta), rel=1e-10)
        assert en.expected_energy(e + 1000.0, beta) == pytest.approx(en.expected_energy(e, beta) + 1000.0, rel=1e-12)


def test_bits_are_nats_over_ln2():
    e = np.log(np.array([1, 2, 2, 4, 8.0]))
    for f in (en.entropy, en.expected_energy, en.total_surprisal):
        assert f(e, -1.0, units="bits") == pytest.approx(f(e, -1.0) / LN2, rel=1e-12)


def test_zero_scores_are_left_out():
    e = en.energies_from_counts([0, 1, 3, 0])
    s = en.summarize(e, -1.0)
    assert s.NG == 2
    assert s.log_z == pytest.approx(math.log(4))
    p = en.boltzmann_probabilities(e, -1.0)
    np.testing.assert_allclose(p, [0, 0.25, 0.75, 0])


def test_appendix_a3_from_counts_in_bits():
    """Thesis Appendix A.3 / Figure 4.3a: counts 2,2,2,2,1,1,1,1, NI = 2, |G| = 11."""
    counts = load_thesis_table("appendix_a3_counts")["Count"].to_numpy()
    ref = load_thesis_table("figures_4_2_4_3").set_index("Graph").loc["fig_4_3a"]
    s = en.summarize(en.energies_from_counts(counts), -1.0, num_inputs=2, num_graph_nodes=11, units="bits")
    assert s.total_surprisal == pytest.approx(ref["S"], abs=5e-5)
    assert s.entropy == pytest.approx(ref["H"], abs=5e-5)
    assert s.expected_energy == pytest.approx(ref["ES"], abs=5e-5)
    assert s.PG == pytest.approx(ref["PG"], abs=5e-5)
    assert s.PG_prime == pytest.approx(ref["P'G"], abs=5e-5)
    # eq. 4.6: H + ES = log2 NC
    assert s.entropy + s.expected_energy == pytest.approx(math.log2(counts.sum()), rel=1e-12)


def test_performance_estimate_forms_differ_and_validate():
    kw = dict(num_params=36, num_inputs=3, num_graph_nodes=42)
    a = en.performance_estimate(expected_energy=2.0, **kw)
    b = en.performance_estimate(expected_energy=2.0, form="eq5.19", **kw)
    assert a == pytest.approx(math.log(36 * 3 * 3 / 42))
    assert b == pytest.approx(math.log((36 * 2 + 1) * 3 / 42))
    assert en.performance_estimate(total_surprisal=10.0, units="bits", **kw) == pytest.approx(math.log2(10 * 3 / 42))
    assert math.isnan(en.performance_estimate(expected_energy=-1.5, **kw))
    with pytest.raises(ValueError, match="exactly one"):
        en.performance_estimate(**kw)
    with pytest.raises(ValueError, match="form"):
        en.performance_estimate(expected_energy=1.0, form="eq9", **kw)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: en.entropy([1.0, 2.0], -1, [1, 2, 3]), "multiplicity"),
        (lambda: en.entropy([1.0, float("nan")], -1), "NaN"),
        (lambda: en.entropy([1.0], float("inf")), "beta"),
        (lambda: en.entropy([1.0], -1, units="dits"), "units"),
        (lambda: en.entropy([float("-inf")], -1), "empty"),
    ],
)
def test_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---------------------------------------------------------------- priors on real models (engine)


@pytest.fixture(scope="module")
def mlp():
    from reuseprior.models.mlp import constant_width_mlp

    return constant_width_mlp(3, 4, bias=True), torch.zeros(1, 3)


def test_reusability_prior_reproduces_the_engine_report(mlp):
    from reuseprior.counting import analyze

    model, x = mlp
    rep = analyze(model, x)
    s = en.ReusabilityPrior()(model, x).summary("bits")
    assert s.NG == rep.NG
    assert s.log_z * 1 / LN2 == pytest.approx(rep.log2_NC, rel=1e-12)
    assert s.expected_energy == pytest.approx(rep.expected_spread, rel=1e-12)
    assert s.entropy == pytest.approx(rep.entropy, rel=1e-12)
    assert s.total_surprisal == pytest.approx(rep.total_surprisal, rel=1e-12)
    assert s.PG == pytest.approx(rep.PG, rel=1e-12)
    assert s.PG_prime == pytest.approx(rep.PG_prime, rel=1e-12)


def test_path_discount_one_is_the_reusability_prior_and_discount_lowers_energy(mlp):
    model, x = mlp
    plain = en.ReusabilityPrior()(model, x).summary()
    one = en.path_discounted_prior(model, x, 1.0)
    half = en.path_discounted_prior(model, x, 0.5)
    assert one.expected_energy == pytest.approx(plain.expected_energy, rel=1e-12)
    assert half.expected_energy < plain.expected_energy
    # γω = 1.5 for width 3: weight d layers from the output has count 1.5^d (engine convention)
    e = np.repeat(np.arange(4) * math.log(1.5), 12)
    assert half.entropy == pytest.approx(en.entropy(e, -1.0), rel=1e-12)


def test_hypothetical_prior_is_the_mirror_of_the_reusability_prior(mlp):
    model, x = mlp
    h = en.HypotheticalPrior()(model, x)
    assert h.beta == pytest.approx(math.log(3))
    r = en.ReusabilityPrior()(model, x).summary()
    s = h.summary()
    # same multiset of probabilities -> same entropy; <E>_reuse/ln ω + <E>_hyp = D - 1
    assert s.entropy == pytest.approx(r.entropy, rel=1e-12)
    assert r.expected_energy / math.log(3) + s.expected_energy == pytest.approx(3.0, rel=1e-12)


def test_hypothetical_prior_needs_constant_width():
    from reuseprior.models.mlp import constant_width_mlp

    with pytest.raises(ValueError, match="constant-width"):
        en.HypotheticalPrior()(constant_width_mlp(3, 2, num_inputs=5), torch.zeros(1, 5))


def test_compare_priors_ranks_and_accepts_user_priors():
    from reuseprior.models.mlp import constant_width_mlp

    models = {f"w{w}": (constant_width_mlp(w, 36 // (w * w)), torch.zeros(1, w)) for w in (6, 3, 2)}

    def uniform(model, x):  # a user-supplied prior: every parameter the same energy
        n = sum(p.numel() for p in model.parameters())
        return en.Energies(np.zeros(n), 1.0, None, x.numel(), x.numel() * 2 + n)

    df = en.compare_priors(models, {"reuse": en.ReusabilityPrior(), "uniform": uniform})
    assert len(df) == 6
    reuse = df[df.prior == "reuse"].set_index("model")
    assert reuse.loc["w2", "rank"] == 1  # deepest is favoured by the reusability prior
    assert sorted(reuse["rank"]) == [1, 2, 3]
    uni = df[df.prior == "uniform"].set_index("model")
    np.testing.assert_allclose(uni["entropy"], np.log(36))
    with pytest.raises(KeyError, match="rank_by"):
        en.compare_priors(models, {"u": uniform}, rank_by="nope")


def test_path_discount_must_be_positive():
    with pytest.raises(ValueError, match="gamma"):
        en.PathDiscountedPrior(0.0)


def test_share_key_is_refused_with_a_fix(mlp):
    model, x = mlp
    with pytest.raises(ValueError, match="share_key"):
        en.ReusabilityPrior({"share_key": lambda use: use.op})(model, x)


# ---------------------------------------------------------------- experiments helpers


def test_relative_difference_handles_undefined_values():
    from reuseprior.chapters.ch5_energy_priors import relative_difference

    assert relative_difference(1.0, 1.0) == 0.0
    assert relative_difference(float("nan"), float("nan")) == 0.0
    assert relative_difference(1.0, float("nan")) == math.inf
    assert relative_difference(1.1, 1.0) == pytest.approx(0.1)


def test_budget_mlps_have_the_budget():
    from reuseprior.chapters.ch5_energy_priors import budget_mlps

    models = budget_mlps(36)
    assert list(models) == ["w6-D1", "w3-D4", "w2-D9"]
    for model, _ in models.values():
        assert sum(p.numel() for p in model.parameters()) == 36
    with pytest.raises(ValueError, match="budget"):
        budget_mlps(7)


def test_small_grid_engine_equals_closed_forms_and_eq_4_8():
    from reuseprior.chapters import ch5_energy_priors as ex

    df = ex.engine_vs_closed_form([2, 4], [1, 6], biases=(False, True), progress=False)
    assert set(df["units"]) == {"nats", "bits", "report"}
    assert df["rel_diff"].max() < 1e-9
    forms = ex.estimate_forms(df)
    assert (forms["rel. diff engine vs 4.8"] < 1e-9).all()
    assert (forms["rel. diff engine vs 5.19"] > 1e-3).all()


def test_prior_comparison_is_in_bits_as_chapter_4():
    """Section 5 of ch5_energy_priors compares priors in bits, the units of
    chapter 4: for the reusability prior, ES, H, PG and P'G equal the counting
    engine's Report (bits) and log2_z is log2 NC."""
    from reuseprior.chapters import ch5_energy_priors as ex
    from reuseprior.counting import analyze

    models = ex.budget_mlps(36)
    df = ex.compare_model_priors(models, [0.5])
    assert set(df["units"]) == {"bits"} and "log2_z" in df.columns and "log_z" not in df.columns
    reuse = df[df["prior"] == "reusability"].set_index("model")
    for name, (model, x) in models.items():
        report = analyze(model, x)
        row = reuse.loc[name]
        assert row["expected_energy"] == pytest.approx(report.expected_spread, rel=1e-9, abs=1e-12)
        assert row["entropy"] == pytest.approx(report.entropy, rel=1e-9)
        assert row["log2_z"] == pytest.approx(report.log2_NC, rel=1e-9)
        assert row["PG"] == pytest.approx(report.PG, rel=1e-9)
        assert row["PG_prime"] == pytest.approx(report.PG_prime, rel=1e-9)
    nats = ex.compare_model_priors(models, [0.5], units="nats")
    assert set(nats["units"]) == {"nats"} and "log_z" in nats.columns


def test_prior_comparison_plot_says_bits_and_marks_undefined_values():
    import matplotlib.pyplot as plt

    from reuseprior.chapters import ch5_energy_priors as ex

    df = ex.compare_model_priors(ex.budget_mlps(144), [0.25])
    undefined = df[df["PG_prime"].isna()]
    assert len(undefined) >= 1  # ES + 1 < 0 in bits under a strong discount
    fig = ex.plot_prior_comparison(df)
    ax = fig.axes[0]
    assert "[bits]" in ax.get_ylabel() and "nats" not in ax.get_ylabel()
    assert ax.get_xlabel()
    assert any("undefined" in t.get_text() for t in ax.texts)
    plt.close(fig)
    with pytest.raises(ValueError, match="mixes units"):
        ex.plot_prior_comparison(pd.concat([df, ex.compare_model_priors(ex.budget_mlps(36), units="nats")]))
