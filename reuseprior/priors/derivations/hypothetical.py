"""The hypothetical prior and the path-discounted prior of an MLP, derived and checked."""

from __future__ import annotations

import sympy as sp

from reuseprior.priors.derivations.steps import (
    D,
    Derivation,
    Step,
    a,
    above_one,
    b,
    d,
    g,
    identity,
    j,
    limit_step,
    mlp_closed_forms,
    omega,
    prior_estimates,
    simplified,
    sympy_equal,
    u,
)


def hypothetical_closed_forms(params_per_layer: sp.Expr = g) -> dict[str, sp.Expr]:
    """Section 5.4.1 closed forms: ``p ∝ ω^-j``, ``E_j = j``, ``β = ln ω`` (j = 0..D-1)."""
    gg = sp.sympify(params_per_layer)
    z = gg * (1 - omega ** (-D)) / (1 - 1 / omega)
    E = 1 / (omega - 1) - D / (omega**D - 1)
    H = sp.log(z) + sp.log(omega) * E
    S = gg * D * sp.log(z) + sp.log(omega) * gg * D * (D - 1) / 2
    return {"z": z, "E": E, "H": H, "S": S, "p_j": omega ** (-j) / z}


def hypothetical_prior() -> Derivation:
    """Every quantity of section 5.4.1, derived from its sum and proven, plus its limits."""
    hc = hypothetical_closed_forms()
    bet = sp.log(omega)
    q = 1 / (1 + u)  # 1/ω written as a base of its own: sympy sums q**j far faster than ω**(-j)

    def _sum(expr: sp.Expr) -> sp.Expr:
        return sp.summation(sp.powsimp(above_one(expr)).subs((1 + u) ** (-j), q**j), (j, 0, D - 1))

    z_sum = _sum(g * sp.exp(-bet * j))
    E_sum = _sum(j * omega ** (-j) * g) / above_one(hc["z"])
    p = hc["p_j"]
    # ln p_j is linear in j (sympy computes it); sum g ω^{-j} (c0 + c1 j) with symbolic c0, c1, then substitute
    logp = sp.expand_log(sp.log(p), force=True)
    c0, c1 = logp.subs(j, 0), sp.diff(logp, j)
    C0, C1 = sp.symbols("C0 C1", real=True)
    gibbs = -(_sum(g * omega ** (-j) * (C0 + C1 * j)) / above_one(hc["z"])).subs({C0: above_one(c0), C1: above_one(c1)})
    steps = [
        identity("probability: e^{-βE_j}/z = ω^{-j}/z with E_j = j, β = ln ω", sp.exp(-bet * j) / hc["z"], p),
        identity("ln p_j is linear in j: ln p_j = c0 + c1 j", logp, c0 + c1 * j),
        Step(
            "partition function Σ_{j<D} g ω^{-j} (sympy summation)",
            "identity",
            sp.Sum(g * omega ** (-j), (j, 0, D - 1)),
            hc["z"],
            simplified(z_sum - above_one(hc["z"])),
            simplified(z_sum - above_one(hc["z"])) == 0,
        ),
        Step(
            "expected energy Σ_j j ω^{-j} g / z (sympy summation)",
            "identity",
            sp.Sum(j * omega ** (-j) * g, (j, 0, D - 1)) / hc["z"],
            hc["E"],
            simplified(E_sum - above_one(hc["E"])),
            simplified(E_sum - above_one(hc["E"])) == 0,
        ),
        Step(
            "entropy ln z + β<E> = -Σ g p ln p (sympy summation)",
            "identity",
            -sp.Sum(g * p * sp.log(p), (j, 0, D - 1)),
            hc["H"],
            simplified(gibbs - above_one(hc["H"])),
            simplified(gibbs - above_one(hc["H"])) == 0,
        ),
        limit_step("z → g ω/(ω-1)", hc["z"], g * omega / (omega - 1)),
        limit_step("<E> → 1/(ω-1)", hc["E"], 1 / (omega - 1)),
        limit_step(
            "H → ln g + ln ω - ln(ω-1) + ln ω/(ω-1) (the true limit of Theorem 5)",
            hc["H"],
            sp.log(g) + sp.log(omega) - sp.log(omega - 1) + sp.log(omega) / (omega - 1),
        ),
        limit_step(
            "P'G (NI = NO = ω) → ln(ω²/(ω-1)): no reward for depth",
            prior_estimates(hc["E"], hc["S"], g, omega, omega)["PG_prime"],
            sp.log(omega**2 / (omega - 1)),
        ),
    ]
    est = prior_estimates(hc["E"], hc["S"], g, omega, omega)
    return Derivation(
        "Hypothetical prior",
        "section 5.4.1",
        {
            "z": hc["z"],
            r"\langle E \rangle": hc["E"],
            "H": hc["H"],
            r"P'_G": est["PG_prime"],
            r"P'_G\ (\text{printed form})": est["PG_prime_printed_5_19"],
        },
        steps,
    )


def mirror_identity() -> Derivation:
    """The 5.4.1 prior is the reusability prior with the layers reversed:
    ``<E>_reuse / ln ω + <E>_hyp = D - 1`` and equal entropies' limits."""
    Er = mlp_closed_forms()["E"]
    Eh = hypothetical_closed_forms()["E"]
    steps = [identity("<E>_reuse / ln ω + <E>_hyp = D - 1", Er / sp.log(omega) + Eh, D - 1)]
    return Derivation("Mirror identity", "sections 5.3.5 and 5.4.1", {}, steps)


# ----------------------------------------------------------------------------- path-discounted


def path_discounted_mlp() -> Derivation:
    """Path-length-aware counting on the constant-width MLP (sections 4.6, 5.5).

    With each context weighted by ``γ^(path length)`` the score of a parameter
    ``d`` layers from the output is ``e^a (γω)^d`` (``a`` depends on whether the
    weight's own edge is counted; it shifts ``<E>`` only). The closed forms are
    Lemma 3/Theorem 3 with count base ``b = γω``. ``b > 1`` keeps the depth
    bias (``<E>/((D-1) ln b) → 1``); ``b < 1`` removes it: ``<E>``, ``H`` and
    ``P'G`` converge to constants.
    """
    cf = mlp_closed_forms(b, params_per_layer=g, offset=a)
    z, E, H = cf["z"], cf["E"], cf["H"]
    z_sum = sp.summation(above_one(g * sp.exp(a) * b**d, b), (d, 0, D - 1))
    E_sum = sp.summation(above_one(g * sp.exp(a) * b**d / z * (a + d * sp.log(b)), b), (d, 0, D - 1))
    binv = 1 / (1 + u)  # b < 1
    E_small = sp.limit(E.subs(b, binv), D, sp.oo)
    H_small = sp.limit(H.subs(b, binv), D, sp.oo)
    E_small_expected = a + b * sp.log(b) / (1 - b)
    H_small_expected = sp.log(g / (1 - b)) - b * sp.log(b) / (1 - b)
    est = prior_estimates(E, cf["S"], g, omega, omega)
    P_small = sp.limit(est["PG_prime"].subs(b, binv), D, sp.oo)
    P_small_expected = sp.log((E_small_expected + 1) * omega)
    steps = [
        Step(
            "z = Σ_d g e^a b^d (b>1, summation)",
            "identity",
            sp.Sum(g * sp.exp(a) * b**d, (d, 0, D - 1)),
            z,
            simplified(z_sum - above_one(z, b)),
            simplified(z_sum - above_one(z, b)) == 0,
        ),
        Step(
            "<E> = Σ_d g p_d (a + d ln b) (b>1, summation)",
            "identity",
            sp.Sum(g * sp.exp(a) * b**d / z * (a + d * sp.log(b)), (d, 0, D - 1)),
            E,
            simplified(E_sum - above_one(E, b)),
            simplified(E_sum - above_one(E, b)) == 0,
        ),
        identity("γ = 1 (b = ω, a = 0) is Theorem 3", E.subs({b: omega, a: 0}), mlp_closed_forms()["E"]),
        limit_step(
            "b > 1: (<E> - a)/((D-1) ln b) → 1 (depth bias kept)", (E - a) / ((D - 1) * sp.log(b)), 1, over=(b,)
        ),
        Step(
            "b < 1: <E> → a + b ln b/(1-b)",
            "limit",
            sp.Limit(E, D, sp.oo),
            E_small_expected,
            E_small,
            sympy_equal(E_small, E_small_expected.subs(b, binv)),
        ),
        Step(
            "b < 1: H → ln(g/(1-b)) - b ln b/(1-b)",
            "limit",
            sp.Limit(H, D, sp.oo),
            H_small_expected,
            H_small,
            sympy_equal(H_small, H_small_expected.subs(b, binv)),
        ),
        Step(
            "b < 1: P'G (NI = NO = ω) → ln((<E>_∞ + 1) ω): no reward for depth",
            "limit",
            sp.Limit(est["PG_prime"], D, sp.oo),
            P_small_expected,
            P_small,
            sympy_equal(P_small, P_small_expected.subs(b, binv)),
        ),
    ]
    return Derivation(
        "Path-discounted MLP",
        "sections 4.6, 5.5 (base b = γω)",
        {"z": z, r"\langle E \rangle": E, "H": H, r"P'_G": est["PG_prime"]},
        steps,
    )


# ----------------------------------------------------------------------------- registry / numbers
