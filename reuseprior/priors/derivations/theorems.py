"""Lemma 3, Theorems 3-5, Corollary 2 and approximation 5.20, derived and checked."""

from __future__ import annotations

import sympy as sp

from reuseprior.priors.derivations.steps import (
    G_BIAS,
    G_NO_BIAS,
    D,
    Derivation,
    E_sym,
    Step,
    above_one,
    beta,
    d,
    differs,
    g,
    identity,
    j,
    limit_step,
    mlp_closed_forms,
    omega,
    prior_estimates,
    simplified,
)


def lemma3_partition_function(params_per_layer: sp.Expr = g) -> Derivation:
    """Lemma 3 (eqs. 5.9-5.11): ``z = NC = g (ω^D - 1)/(ω - 1)`` and
    ``p(w_i) = ω^{d_i}/z``, also from the Boltzmann form with ``E = d ln ω``, ``β = -1``."""
    gg = sp.sympify(params_per_layer)
    cf = mlp_closed_forms(omega, params_per_layer=gg)
    z = cf["z"]
    z_sum = sp.summation(gg * omega**d, (d, 0, D - 1))
    z_sum_gt1 = sp.summation(above_one(gg * omega**d), (d, 0, D - 1))
    boltz = sp.exp(-(-1) * d * sp.log(omega)) / z  # eq. 5.7 with E_d = d ln ω, β = -1  # noqa: B002 - sympy expression -(-1), not a decrement
    steps = [
        identity("eq. 5.9: NC = Σ_d g ω^d (sympy summation) equals the closed form", z_sum, z)
        if not isinstance(z_sum, sp.Piecewise)
        else Step(
            "eq. 5.9: NC = Σ_d g ω^d (sympy summation, ω>1) equals the closed form",
            "identity",
            sp.Sum(gg * omega**d, (d, 0, D - 1)),
            z,
            simplified(z_sum_gt1 - above_one(z)),
            simplified(z_sum_gt1 - above_one(z)) == 0,
        ),
        identity(
            "Lemma 2: Σ g e^{-βE_d} with β=-1, E_d=d ln ω is the same sum (summand)",
            gg * sp.exp(-(-1) * d * sp.log(omega)),  # noqa: B002 - sympy expression -(-1), not a decrement
            gg * omega**d,
        ),
        identity(
            "eq. 5.11: ω^d (ω-1)/((ω^D-1) g) = ω^d / NC", omega**d * (omega - 1) / ((omega**D - 1) * gg), omega**d / z
        ),
        identity("eq. 5.10 from the Boltzmann distribution 5.7", boltz, cf["p_d"]),
    ]
    norm = sp.summation(above_one(gg * cf["p_d"]), (d, 0, D - 1))
    steps.append(
        Step(
            "normalisation Σ_d g p_d = 1",
            "identity",
            sp.Sum(gg * cf["p_d"], (d, 0, D - 1)),
            sp.Integer(1),
            simplified(norm - 1),
            simplified(norm - 1) == 0,
        )
    )
    return Derivation("Lemma 3", "eqs. 5.9-5.11", {"z": z, r"p(w_i)": cf["p_d"]}, steps)


def theorem3_expected_energy() -> Derivation:
    """Theorem 3 (eq. 5.12) via the derivative trick (5.13, 5.14)."""
    cf = mlp_closed_forms()
    z, E = cf["z"], cf["E"]
    summand_def = g * omega ** (j - 1) / z * sp.log(omega ** (j - 1))  # 5.13, left
    summand_513 = (omega - 1) / (omega**D - 1) * omega * sp.log(omega) * (j - 1) * omega ** (j - 2)
    z_over_g = (omega**D - 1) / (omega - 1)
    dz = sp.diff(z_over_g, omega)
    dz_printed = (1 - omega**D) / (omega - 1) ** 2 + D * omega ** (D - 1) / (omega - 1)
    plugged = (omega - 1) / (omega**D - 1) * omega * sp.log(omega) * dz
    # 5.14 by induction on D: F(D) = Σ_{j=1}^{D} (j-1) ω^{j-2}; F(1) = 0, F(D+1) - F(D) = D ω^{D-1}
    base_case = dz.subs(D, 1)
    step_case = dz.subs(D, D + 1) - dz - D * omega ** (D - 1)
    direct = sp.summation(above_one((j - 1) * omega ** (j - 2)), (j, 1, D))
    expected_direct = sp.summation(above_one(g * omega**d / z * d * sp.log(omega)), (d, 0, D - 1))
    steps = [
        identity("eq. 5.13: summand of Σ p_i ln|C_i| rewritten", sp.expand_log(summand_def, force=True), summand_513),
        identity("eq. 5.14 base case D=1: ∂(z/g)/∂ω = 0 = Σ_{j=1}^{1} (j-1)ω^{j-2}", base_case, 0),
        identity("eq. 5.14 induction step: ∂(z/g)/∂ω|_{D+1} - ∂(z/g)/∂ω|_D = D ω^{D-1}", step_case, 0),
        Step(
            "eq. 5.14 by direct summation (sympy)",
            "identity",
            sp.Sum((j - 1) * omega ** (j - 2), (j, 1, D)),
            dz,
            simplified(direct - above_one(dz)),
            simplified(direct - above_one(dz)) == 0,
        ),
        identity("printed form of ∂(z/g)/∂ω", dz, dz_printed),
        identity("eq. 5.12: plugging 5.14 into 5.13", plugged, E),
        Step(
            "eq. 5.12 directly: sympy summation of Σ_d g p_d d ln ω",
            "identity",
            sp.Sum(g * omega**d / z * d * sp.log(omega), (d, 0, D - 1)),
            E,
            simplified(expected_direct - above_one(E)),
            simplified(expected_direct - above_one(E)) == 0,
        ),
        Step(
            "<E> does not depend on g (bias leaves it unchanged)",
            "identity",
            sp.diff(E, g),
            sp.Integer(0),
            sp.simplify(sp.diff(E, g)),
            sp.simplify(sp.diff(E, g)) == 0,
        ),
    ]
    return Derivation(
        "Theorem 3", "eqs. 5.12-5.14", {r"\langle E \rangle": E, r"\partial (z/g)/\partial\omega": dz}, steps
    )


def theorem4_energy_limit() -> Derivation:
    """Theorem 4 (eq. 5.15): ``<E>`` grows like ``(D-1) ln ω``.

    Proven: the ratio tends to 1 (the thesis's statement). Also computed: the
    difference does not tend to 0 but to ``-ln ω/(ω-1)``; the exact asymptote
    is ``(D - ω/(ω-1)) ln ω``.
    """
    E = mlp_closed_forms()["E"]
    approx = (D - 1) * sp.log(omega)
    gap = -sp.log(omega) / (omega - 1)
    asym = (D - omega / (omega - 1)) * sp.log(omega)
    steps = [
        limit_step("eq. 5.15: <E> / ((D-1) ln ω) → 1", E / approx, 1),
        limit_step("<E> - (D-1) ln ω → -ln ω/(ω-1) (not 0)", E - approx, gap),
        limit_step("exact asymptote: <E> - (D - ω/(ω-1)) ln ω → 0", E - asym, 0),
        identity(
            "<E> = (D - 1 - 1/(ω-1) + D/(ω^D-1)) ln ω (algebra)",
            E,
            (D - 1 - 1 / (omega - 1) + D / (omega**D - 1)) * sp.log(omega),
        ),
    ]
    notes = [
        "The thesis's '≈ (D-1) ln ω' holds as a ratio; the offset -ln ω/(ω-1) stays "
        "(-ln 2 nats at ω = 2); the counting engine reproduces it (its <E> of a constant-width MLP is "
        "eq. 5.12's closed form)."
    ]
    return Derivation("Theorem 4", "eq. 5.15", {r"\langle E \rangle_{D\to\infty}": asym}, steps, notes)


def corollary2_entropy(levels: int = 3) -> Derivation:
    """Corollary 2 (eqs. 5.16, 5.17): ``H = ln z + β<E> = -Σ p ln p`` for any
    energies/degeneracies/β (proven on ``levels`` symbolic levels), and its MLP form 5.17."""
    Es = sp.symbols(f"E_1:{levels + 1}", real=True)
    gs = sp.symbols(f"g_1:{levels + 1}", positive=True)
    zz = sum(gi * sp.exp(-beta * Ei) for gi, Ei in zip(gs, Es))
    ps = [sp.exp(-beta * Ei) / zz for Ei in Es]
    mean = sum(gi * pi * Ei for gi, pi, Ei in zip(gs, ps, Es))
    gibbs = -sum(gi * pi * sp.log(pi) for gi, pi in zip(gs, ps))
    steps = [
        identity(
            "eq. 5.16 for arbitrary energies, degeneracies and β: -Σ g p ln p = ln z + β<E>",
            sp.expand_log(gibbs, force=True),
            sp.log(zz) + beta * mean,
            over=(),
        )
    ]
    cf = mlp_closed_forms()
    H517 = sp.log(g * (omega**D - 1) / (omega - 1)) - (
        D * omega ** (D - 1) / (omega**D - 1) - 1 / (omega - 1)
    ) * omega * sp.log(omega)
    steps.append(identity("eq. 5.17 = ln z(5.9) + β<E>(5.12) with β = -1", cf["H"], H517))
    p = cf["p_d"]
    gib_mlp = -sp.summation(above_one(g * p * sp.expand_log(sp.log(p), force=True)), (d, 0, D - 1))
    steps.append(
        Step(
            "eq. 5.17 = -Σ_d g p_d ln p_d (sympy summation)",
            "identity",
            -sp.Sum(g * p * sp.log(p), (d, 0, D - 1)),
            H517,
            simplified(gib_mlp - above_one(H517)),
            simplified(gib_mlp - above_one(H517)) == 0,
        )
    )
    steps.append(
        Step(
            "H depends on g (bias changes the entropy): ∂H/∂g = 1/g",
            "identity",
            sp.diff(cf["H"], g),
            1 / g,
            sp.simplify(sp.diff(cf["H"], g) - 1 / g),
            sp.simplify(sp.diff(cf["H"], g) - 1 / g) == 0,
        )
    )
    return Derivation("Corollary 2", "eqs. 5.16-5.17", {"H": H517}, steps)


def limit_constants() -> dict[str, sp.Expr]:
    """The depth-limit constants of Theorems 4 and 5 (no proof; see those
    derivations): ``E_gap`` = lim(<E> - (D-1) ln ω), ``H_limit`` (computed)
    and ``H_limit_printed`` (eq. 5.18 as printed), in terms of ``omega`` and ``g``."""
    printed = sp.log(g) + sp.log(omega) - sp.log(omega - 1)
    return {
        "E_gap": -sp.log(omega) / (omega - 1),
        "H_limit": printed + sp.log(omega) / (omega - 1),
        "H_limit_printed": printed,
    }


def evaluate_constant(name: str, width: int, *, bias: bool = False) -> float:
    """A :func:`limit_constants` entry at ``ω = width`` (``g = ω²`` or ``ω(ω+1)``)."""
    expr = limit_constants()[name]
    gg = (G_BIAS if bias else G_NO_BIAS).subs(omega, width)
    return float(sp.N(expr.subs({omega: width, g: gg}), 30))


def theorem5_entropy_limit() -> Derivation:
    """Theorem 5 (eq. 5.18) and its with-bias constant.

    sympy's limit of 5.17 is ``ln g + ln ω - ln(ω-1) + ln ω/(ω-1)``; the
    printed constant misses ``ln ω/(ω-1)``, the residue of replacing ``<E>``
    by ``(D-1) ln ω`` (Theorem 4). Both constants agree as ``ω → ∞``.
    """
    H = mlp_closed_forms()["H"]
    printed = sp.log(g) + sp.log(omega) - sp.log(omega - 1)
    true = printed + sp.log(omega) / (omega - 1)
    printed_bias = 2 * sp.log(omega) + sp.log(omega + 1) - sp.log(omega - 1)
    H_thesis_step = sp.log(g * (omega**D - 1) / (omega - 1)) - (D - 1) * sp.log(omega)
    Hb = H.subs(g, G_BIAS)
    steps = [
        limit_step("eq. 5.18 computed: lim H = ln g + ln ω - ln(ω-1) + ln ω/(ω-1)", H, true),
        limit_step(
            "H - (printed constant ln g + ln ω - ln(ω-1)) → ln ω/(ω-1) ≠ 0", H - printed, sp.log(omega) / (omega - 1)
        ),
        limit_step(
            "the thesis's intermediate step (ln z - (D-1) ln ω) does tend to the printed constant",
            H_thesis_step,
            printed,
        ),
        limit_step("printed and true constants agree as ω → ∞", true - printed, 0, var=omega, over=()),
        identity(
            "with bias (g = ω(ω+1)) the printed constant is 2 ln ω + ln(ω+1) - ln(ω-1)",
            printed.subs(g, G_BIAS),
            printed_bias,
        ),
        limit_step(
            "with bias, computed: lim H = 2 ln ω + ln(ω+1) - ln(ω-1) + ln ω/(ω-1)",
            Hb,
            printed_bias + sp.log(omega) / (omega - 1),
        ),
    ]
    notes = [
        "Theorem 5 as printed is off by ln ω/(ω-1) nats (ln 2 at ω = 2, ln(120)/119 at ω = 120); "
        "the entropy does converge to a depth-independent constant, just not to the printed one."
    ]
    return Derivation(
        "Theorem 5",
        "eq. 5.18",
        {
            r"H_{\infty}": true,
            r"H_{\infty}^{\text{printed}}": printed,
            r"H_{\infty}^{\text{bias}}": printed_bias + sp.log(omega) / (omega - 1),
        },
        steps,
        notes,
    )


def performance_estimate() -> Derivation:
    """Eq. 5.19: eq. 4.8 in nats for the MLP (NG = gD, NI = NO = ω, |G| = 2ω + gD).

    Derived from the definition, ``P'G = ln(gD(<E>+1) ω/(2ω+gD))``; the
    printed 5.19, ``ln((gD<E>+1) ω/(2ω+gD))``, is shown to be a different
    function (exact evaluation at one point) with the same limit behaviour.
    """
    cf = mlp_closed_forms()
    E = cf["E"]
    NG, NI, G = g * D, omega, 2 * omega + g * D
    definition = sp.log(NG * (E_sym + 1) * NI / G)  # 4.8 with E[ln|C| + 1] = <E> + 1
    est = prior_estimates(E, cf["S"], g, omega, omega)
    derived, printed = est["PG_prime"], est["PG_prime_printed_5_19"]
    steps = [
        identity("eq. 4.8 with NG = gD, NI = NO = ω, <E> from 5.12", definition.subs(E_sym, E), derived),
        differs(
            "printed eq. 5.19 (gD<E>+1) differs from eq. 4.8's gD(<E>+1)", derived, printed, {omega: 2, D: 3, g: 4}
        ),
        limit_step("but both agree as D → ∞ (difference → 0)", derived - printed, 0),
    ]
    return Derivation(
        "Performance estimate",
        "eq. 5.19 vs eq. 4.8",
        {r"P'_{G}\ (\text{eq. 4.8})": derived, r"P'_{G}\ (\text{5.19 printed})": printed},
        steps,
    )


def approximation_5_20() -> Derivation:
    """Eq. 5.20: ``P'G ≈ ln D + ln ω + ln ln ω`` for deep MLPs (both forms)."""
    cf = mlp_closed_forms()
    est = prior_estimates(cf["E"], cf["S"], g, omega, omega)
    target = sp.log(D) + sp.log(omega) + sp.log(sp.log(omega))
    middle = sp.log((g * D * (D - 1) * sp.log(omega) + 1) * omega / (2 * omega + g * D))
    steps = [
        limit_step("eq. 4.8 form: P'G - (ln D + ln ω + ln ln ω) → 0", est["PG_prime"] - target, 0),
        limit_step("printed 5.19 form: P'G - (ln D + ln ω + ln ln ω) → 0", est["PG_prime_printed_5_19"] - target, 0),
        limit_step("the middle expression of 5.20 has the same limit", middle - target, 0),
    ]
    return Derivation("Approximation", "eq. 5.20", {r"P'_{G,\,D\to\infty}": target}, steps)


# ----------------------------------------------------------------------------- 5.4.1
