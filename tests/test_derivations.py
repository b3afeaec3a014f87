"""The sympy derivations of chapter 5 and their agreement with the counting engine."""

from __future__ import annotations

import math

import pytest
import sympy as sp
import torch

from reuseprior.priors import derivations as dv
from reuseprior.priors import energy as en

DERIVATIONS = dv.all_derivations()


@pytest.mark.parametrize("name", sorted(DERIVATIONS))
def test_sympy_proves_every_step(name):
    result = DERIVATIONS[name]()
    assert result.steps, f"{name} has no proof steps"
    assert result.proved, [(s.description, s.result) for s in result.failed()]
    assert "$$" in result.latex()


def test_identity_checker_rejects_false_identities():
    """The proof machinery can fail: a wrong closed form is not 'proved'."""
    E = dv.mlp_closed_forms()["E"]
    wrong = dv.identity("wrong", E, (dv.D - 1) * sp.log(dv.omega))
    assert not wrong.ok
    assert not dv.limit_step("wrong limit", E - (dv.D - 1) * sp.log(dv.omega), 0).ok
    assert dv.Derivation("x", "y", {}, [wrong]).proved is False


def test_theorem4_gap_and_theorem5_constant_are_what_sympy_computes():
    """The thesis's limits hold only as stated in the module: the computed
    residues are -ln ω/(ω-1) (Theorem 4) and +ln ω/(ω-1) (Theorem 5)."""
    t4 = dv.theorem4_energy_limit()
    gap = next(s for s in t4.steps if "not 0" in s.description)
    assert sp.simplify(gap.result + sp.log(dv.omega) / (dv.omega - 1)) == 0
    t5 = dv.theorem5_entropy_limit()
    res = next(s for s in t5.steps if "printed constant ln g" in s.description)
    assert sp.simplify(res.result - sp.log(dv.omega) / (dv.omega - 1)) == 0


def test_printed_5_19_is_not_eq_4_8():
    step = dv.performance_estimate().steps[1]
    assert step.kind == "differs" and step.ok and abs(float(step.result)) > 0.1


@pytest.mark.parametrize("width, depth, bias", [(2, 1, False), (3, 7, True), (5, 12, False), (8, 3, True)])
def test_closed_forms_match_the_engine(width, depth, bias):
    from reuseprior.counting import analyze, count_contexts
    from reuseprior.models.mlp import constant_width_mlp

    model, x = constant_width_mlp(width, depth, bias=bias), torch.zeros(1, width)
    rep = analyze(model, x)
    e = en.energies_from_log2_counts(count_contexts(model, x))
    ours = en.summarize(e, -1.0, num_inputs=rep.NI, num_graph_nodes=rep.G)
    cf = dv.evaluate(width, depth, bias=bias)
    for key in ("log_z", "expected_energy", "entropy", "total_surprisal", "PG", "PG_prime"):
        assert getattr(ours, key) == pytest.approx(cf[key], rel=1e-9, abs=1e-12), key
    bits = dv.evaluate(width, depth, bias=bias, units="bits")
    assert rep.PG_prime == pytest.approx(bits["PG_prime"], rel=1e-9)
    if depth > 1:
        assert rep.PG_prime != pytest.approx(bits["PG_prime_printed_5_19"], rel=1e-6)


@pytest.mark.parametrize("gamma", [0.3, 0.75])
def test_path_discounted_closed_form_matches_engine(gamma):
    from reuseprior.models.mlp import constant_width_mlp

    w, depth = 3, 9
    s = en.path_discounted_prior(constant_width_mlp(w, depth), torch.zeros(1, w), gamma)
    cf = dv.evaluate(w, depth, prior="path_discounted", gamma_=gamma)
    for key in ("log_z", "expected_energy", "entropy", "PG_prime"):
        assert getattr(s, key) == pytest.approx(cf[key], rel=1e-9), key


def test_hypothetical_closed_form_matches_engine():
    from reuseprior.models.mlp import constant_width_mlp

    s = en.HypotheticalPrior()(constant_width_mlp(4, 6), torch.zeros(1, 4)).summary()
    cf = dv.evaluate(4, 6, prior="hypothetical")
    for key in ("log_z", "expected_energy", "entropy", "total_surprisal", "PG_prime"):
        assert getattr(s, key) == pytest.approx(cf[key], rel=1e-9), key


def test_closed_forms_reproduce_table_5_1():
    """Eq. 4.8 in bits with NI = width, NO = 1 gives the printed P'G of Table 5.1;
    the printed 5.19 form does not (it is even negative for depth 1)."""
    from reuseprior.reporting.reference import load_thesis_table, printed_unit

    t = load_thesis_table("table_5_1")
    # each value within half a unit of its last printed digit (3 decimals): measured at most
    # 0.99 of it (width 15: PG 10.93850 printed 10.938), far beyond float64 rounding
    for (_, r), (_, digits) in zip(t.iterrows(), t.attrs["printed"].iterrows()):
        cf = dv.evaluate(int(r["Width"]), int(r["Depth"]), num_outputs=1, units="bits")
        for ours, column in ((cf["PG_prime"], "P'G"), (cf["PG"], "PG")):
            half_unit = printed_unit(digits[column]) / 2
            assert abs(ours - r[column]) <= half_unit, (r["Width"], column, ours, digits[column])
    first = dv.evaluate(120, 1, num_outputs=1, units="bits")
    assert first["PG_prime_printed_5_19"] < 0


def test_evaluate_rejects_bad_arguments():
    with pytest.raises(ValueError, match="width"):
        dv.evaluate(1, 3)
    with pytest.raises(ValueError, match="γω = 1"):
        dv.evaluate(2, 3, prior="path_discounted", gamma_=0.5)
    with pytest.raises(ValueError, match="units"):
        dv.evaluate(2, 3, units="dits")
    with pytest.raises(ValueError, match="prior"):
        dv.evaluate(2, 3, prior="nope")


def test_deep_mlp_entropy_converges_to_the_corrected_constant():
    """Depth 400, ω = 2: the closed-form entropy is 4 ln 2 (corrected constant),
    not 3 ln 2 (printed Theorem 5)."""
    h = dv.evaluate(2, 400)["entropy"]
    assert h == pytest.approx(math.log(4) + math.log(2) + math.log(2), rel=1e-12)
    assert abs(h - (math.log(4) + math.log(2))) > 0.69
