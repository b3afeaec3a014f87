"""Symbolic derivations of thesis chapter 5 (sections 5.3.5 and 5.4.1), proven by sympy.

Every public function builds the thesis's closed form from its definition
(a sum over layers, a Boltzmann distribution, a limit) and returns a
:class:`Derivation`: the closed form(s) as sympy expressions plus the list of
:class:`Step` checks that sympy *computed* when the function ran
(``simplify(lhs - rhs) == 0``, ``summation``, ``diff``, ``limit``). Nothing
is asserted by hand: ``Derivation.proved`` is the conjunction of those
computed results.

Conventions (constant-width MLP, section 5.3.5): width ``ω > 1``, depth ``D``
(number of weight layers), ``g`` parameters per layer (``ω²`` without bias,
``ω(ω+1)`` with bias), and a parameter ``d`` layers from the output
(``d = 0`` for the last layer) has ``|C| = ω^d`` contexts. Proofs substitute
``ω = 1 + u`` with ``u > 0`` so that sympy knows ``ω > 1``.

Two places where sympy disagrees with the printed thesis (both are reported,
not hidden, in the returned :class:`Step` objects):

* Theorem 4: ``<E>/((D-1) ln ω) → 1``, but ``<E> - (D-1) ln ω → -ln ω/(ω-1)``,
  not 0; the exact asymptote is ``(D - ω/(ω-1)) ln ω``.
* Theorem 5: the entropy converges to ``ln g + ln ω - ln(ω-1) + ln ω/(ω-1)``;
  the printed constant ``ln g + ln ω - ln(ω-1)`` misses ``ln ω/(ω-1)``
  (it comes from the Theorem-4 approximation), e.g. ``ln 2`` nats at ω = 2.
* Eq. 5.19 prints ``(g D <E> + 1)`` where eq. 4.8 gives ``g D (<E> + 1)``;
  both are derived (:func:`performance_estimate`), they differ for every
  finite model and share the asymptote of eq. 5.20.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Literal

import mpmath
import pandas as pd
import sympy as sp

__all__ = [
    "Derivation",
    "Step",
    "all_derivations",
    "approximation_5_20",
    "corollary2_entropy",
    "evaluate",
    "evaluate_constant",
    "limit_constants",
    "hypothetical_prior",
    "lemma3_partition_function",
    "mirror_identity",
    "mlp_closed_forms",
    "path_discounted_mlp",
    "performance_estimate",
    "proof_table",
    "theorem3_expected_energy",
    "theorem4_energy_limit",
    "theorem5_entropy_limit",
]

# ----------------------------------------------------------------------------- symbols

omega = sp.Symbol("omega", positive=True)
D = sp.Symbol("D", integer=True, positive=True)
g = sp.Symbol("g", positive=True)
d = sp.Symbol("d", integer=True, nonnegative=True)
j = sp.Symbol("j", integer=True)
beta = sp.Symbol("beta", real=True)
gamma = sp.Symbol("gamma", positive=True)
b = sp.Symbol("b", positive=True)  # count base of the path-discounted MLP: b = γω
a = sp.Symbol("a", real=True)  # energy offset of the path-discounted MLP
u = sp.Symbol("u", positive=True)  # ω = 1 + u  (ω > 1)
E_sym = sp.Symbol("E", real=True)
N_I, N_O = sp.symbols("N_I N_O", positive=True)

SYMBOLS = {"omega": omega, "D": D, "g": g, "d": d, "j": j, "beta": beta, "gamma": gamma, "b": b, "a": a}

G_NO_BIAS = omega**2
G_BIAS = omega * (omega + 1)


# ----------------------------------------------------------------------------- proof objects


@dataclass(frozen=True)
class Step:
    """One computed check: ``kind`` is ``"identity"`` (``lhs - rhs`` simplifies to
    0), ``"limit"`` (``lim_{var→point} expr`` computed and compared with
    ``expected``) or ``"differs"`` (``lhs - rhs`` is shown non-zero at a point).

    ``result`` is what sympy returned (the simplified residual or the limit);
    ``ok`` says whether it is the expected one.
    """

    description: str
    kind: str
    lhs: sp.Expr
    rhs: sp.Expr
    result: sp.Expr
    ok: bool

    def latex(self) -> str:
        rel = {"identity": "=", "limit": "=", "differs": r"\neq"}[self.kind]
        return f"{sp.latex(self.lhs)} {rel} {sp.latex(self.rhs)}"


@dataclass
class Derivation:
    """A thesis result: its closed form(s) and the sympy-computed proof steps."""

    name: str
    equation: str
    closed_forms: dict[str, sp.Expr]
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def proved(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)

    def failed(self) -> list[Step]:
        return [s for s in self.steps if not s.ok]

    def latex(self) -> str:
        """Markdown with the closed forms and each proof step in LaTeX."""
        lines = [f"**{self.name}** ({self.equation})", ""]
        for key, expr in self.closed_forms.items():
            lines.append(f"$${key} = {sp.latex(expr)}$$")
        lines.append("")
        for s in self.steps:
            mark = "✓" if s.ok else "✗"
            lines.append(f"- {mark} {s.description}: $${s.latex()}$$ (sympy: `{s.kind}` → ${sp.latex(s.result)}$)")
        for n in self.notes:
            lines.append(f"\n> {n}")
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        return self.latex()


def _gt1(expr: sp.Expr, var: sp.Symbol = omega) -> sp.Expr:
    """Substitute ``var = 1 + u`` (``u > 0``) so sympy knows ``var > 1``."""
    return sp.sympify(expr).subs(var, 1 + u)


def _simplify(expr: sp.Expr) -> sp.Expr:
    expr = sp.expand_log(sp.sympify(expr), force=False)
    out = sp.simplify(expr)
    if out != 0:
        out = sp.simplify(sp.expand_log(sp.powsimp(sp.expand(out), force=False)))
    if out != 0:
        out = sp.nsimplify(sp.simplify(sp.together(out)))
    return out


def _equal(x: sp.Expr, y: sp.Expr) -> bool:
    """``x == y`` by ``simplify(x - y) == 0``, or ``exp(x) == exp(y)`` (exp is
    injective on the reals; helps sympy with differences of logarithms)."""
    if _simplify(x - y) == 0:
        return True
    return _simplify(sp.exp(x) - sp.exp(y)) == 0


def identity(description: str, lhs: sp.Expr, rhs: sp.Expr, *, over: tuple[sp.Symbol, ...] = (omega,)) -> Step:
    """Prove ``lhs == rhs`` by ``simplify(lhs - rhs) == 0`` (with each symbol in
    ``over`` taken ``> 1``)."""
    diff = sp.sympify(lhs) - sp.sympify(rhs)
    for var in over:
        diff = _gt1(diff, var)
    res = _simplify(diff)
    return Step(description, "identity", lhs, rhs, res, res == 0)


def limit_step(
    description: str,
    expr: sp.Expr,
    expected: sp.Expr,
    *,
    var: sp.Symbol = D,
    point=sp.oo,
    over: tuple[sp.Symbol, ...] = (omega,),
    show: sp.Expr | None = None,
) -> Step:
    """Compute ``lim_{var → point} expr`` with sympy and compare it with ``expected``."""
    e = sp.sympify(expr)
    exp_ = sp.sympify(expected)
    for v in over:
        e, exp_ = _gt1(e, v), _gt1(exp_, v)
    res = sp.limit(e, var, point)
    ok = _equal(res, exp_)
    lhs = sp.Limit(show if show is not None else expr, var, point)
    back = sp.simplify(res.subs(u, omega - 1)) if over else res
    return Step(description, "limit", lhs, expected, back, ok)


def differs(description: str, lhs: sp.Expr, rhs: sp.Expr, at: dict) -> Step:
    """Show ``lhs != rhs`` by evaluating ``lhs - rhs`` exactly at one point."""
    num = sp.N(sp.sympify(lhs - rhs).subs(at), 30)
    return Step(f"{description} (at {at})", "differs", lhs, rhs, num, bool(num != 0) and num.is_finite)


# ----------------------------------------------------------------------------- closed forms


def mlp_closed_forms(
    base: sp.Expr = omega, *, params_per_layer: sp.Expr = g, offset: sp.Expr = 0
) -> dict[str, sp.Expr]:
    """Closed forms for a constant-width MLP whose parameter ``d`` layers from the
    output has score ``e^offset · base^d`` and energy ``E_d = offset + d ln base``
    (reusability prior: ``base = ω``, ``offset = 0``), ``β = -1``:
    ``z`` (5.9), ``<E>`` (5.12), ``H`` (5.17), total surprisal ``S`` and the
    level probability ``p_d`` (5.10)."""
    B, gg = sp.sympify(base), sp.sympify(params_per_layer)
    z = gg * sp.exp(offset) * (B**D - 1) / (B - 1)
    E = (D * B ** (D - 1) / (B**D - 1) - 1 / (B - 1)) * B * sp.log(B) + offset
    H = sp.log(z) - E
    S = gg * D * sp.log(z) - gg * (D * offset + sp.log(B) * D * (D - 1) / 2)
    p = sp.exp(offset) * B**d / z
    return {"z": z, "E": E, "H": H, "S": S, "p_d": p}


def _estimates(
    E: sp.Expr, S: sp.Expr, gg: sp.Expr, n_in: sp.Expr, n_out: sp.Expr, units: Literal["nats", "bits"] = "nats"
) -> dict[str, sp.Expr]:
    """Eqs. 4.7, 4.8 and the printed 5.19 for ``NG = gD``, ``|G| = NI + NO + gD``.

    ``E`` and ``S`` are in nats; ``units="bits"`` divides them by ``ln 2`` and
    takes ``log2`` (chapter 4's definitions, what the engine's Report holds).
    """
    NG = gg * D
    G = n_in + n_out + NG
    if units == "bits":
        E, S = E / sp.log(2), S / sp.log(2)
        log = lambda x: sp.log(x, 2)  # noqa: E731
    else:
        log = sp.log
    return {
        "PG": log(S * n_in / G),  # eq. 4.7
        "PG_prime": log(NG * (E + 1) * n_in / G),  # eq. 4.8
        "PG_prime_printed_5_19": log((NG * E + 1) * n_in / G),  # eq. 5.19 as printed
    }


# ----------------------------------------------------------------------------- 5.3.5


def lemma3_partition_function(params_per_layer: sp.Expr = g) -> Derivation:
    """Lemma 3 (eqs. 5.9-5.11): ``z = NC = g (ω^D - 1)/(ω - 1)`` and
    ``p(w_i) = ω^{d_i}/z``, also from the Boltzmann form with ``E = d ln ω``, ``β = -1``."""
    gg = sp.sympify(params_per_layer)
    cf = mlp_closed_forms(omega, params_per_layer=gg)
    z = cf["z"]
    z_sum = sp.summation(gg * omega**d, (d, 0, D - 1))
    z_sum_gt1 = sp.summation(_gt1(gg * omega**d), (d, 0, D - 1))
    boltz = sp.exp(-(-1) * d * sp.log(omega)) / z  # eq. 5.7 with E_d = d ln ω, β = -1
    steps = [
        identity("eq. 5.9: NC = Σ_d g ω^d (sympy summation) equals the closed form", z_sum, z)
        if not isinstance(z_sum, sp.Piecewise)
        else Step(
            "eq. 5.9: NC = Σ_d g ω^d (sympy summation, ω>1) equals the closed form",
            "identity",
            sp.Sum(gg * omega**d, (d, 0, D - 1)),
            z,
            _simplify(z_sum_gt1 - _gt1(z)),
            _simplify(z_sum_gt1 - _gt1(z)) == 0,
        ),
        identity(
            "Lemma 2: Σ g e^{-βE_d} with β=-1, E_d=d ln ω is the same sum (summand)",
            gg * sp.exp(-(-1) * d * sp.log(omega)),
            gg * omega**d,
        ),
        identity(
            "eq. 5.11: ω^d (ω-1)/((ω^D-1) g) = ω^d / NC", omega**d * (omega - 1) / ((omega**D - 1) * gg), omega**d / z
        ),
        identity("eq. 5.10 from the Boltzmann distribution 5.7", boltz, cf["p_d"]),
    ]
    norm = sp.summation(_gt1(gg * cf["p_d"]), (d, 0, D - 1))
    steps.append(
        Step(
            "normalisation Σ_d g p_d = 1",
            "identity",
            sp.Sum(gg * cf["p_d"], (d, 0, D - 1)),
            sp.Integer(1),
            _simplify(norm - 1),
            _simplify(norm - 1) == 0,
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
    direct = sp.summation(_gt1((j - 1) * omega ** (j - 2)), (j, 1, D))
    expected_direct = sp.summation(_gt1(g * omega**d / z * d * sp.log(omega)), (d, 0, D - 1))
    steps = [
        identity("eq. 5.13: summand of Σ p_i ln|C_i| rewritten", sp.expand_log(summand_def, force=True), summand_513),
        identity("eq. 5.14 base case D=1: ∂(z/g)/∂ω = 0 = Σ_{j=1}^{1} (j-1)ω^{j-2}", base_case, 0),
        identity("eq. 5.14 induction step: ∂(z/g)/∂ω|_{D+1} - ∂(z/g)/∂ω|_D = D ω^{D-1}", step_case, 0),
        Step(
            "eq. 5.14 by direct summation (sympy)",
            "identity",
            sp.Sum((j - 1) * omega ** (j - 2), (j, 1, D)),
            dz,
            _simplify(direct - _gt1(dz)),
            _simplify(direct - _gt1(dz)) == 0,
        ),
        identity("printed form of ∂(z/g)/∂ω", dz, dz_printed),
        identity("eq. 5.12: plugging 5.14 into 5.13", plugged, E),
        Step(
            "eq. 5.12 directly: sympy summation of Σ_d g p_d d ln ω",
            "identity",
            sp.Sum(g * omega**d / z * d * sp.log(omega), (d, 0, D - 1)),
            E,
            _simplify(expected_direct - _gt1(E)),
            _simplify(expected_direct - _gt1(E)) == 0,
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
        "(-ln 2 nats at ω = 2); the counting engine reproduces it (notebook ch5_energy_priors, section 3)."
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
    gib_mlp = -sp.summation(_gt1(g * p * sp.expand_log(sp.log(p), force=True)), (d, 0, D - 1))
    steps.append(
        Step(
            "eq. 5.17 = -Σ_d g p_d ln p_d (sympy summation)",
            "identity",
            -sp.Sum(g * p * sp.log(p), (d, 0, D - 1)),
            H517,
            _simplify(gib_mlp - _gt1(H517)),
            _simplify(gib_mlp - _gt1(H517)) == 0,
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
    est = _estimates(E, cf["S"], g, omega, omega)
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
    est = _estimates(cf["E"], cf["S"], g, omega, omega)
    target = sp.log(D) + sp.log(omega) + sp.log(sp.log(omega))
    middle = sp.log((g * D * (D - 1) * sp.log(omega) + 1) * omega / (2 * omega + g * D))
    steps = [
        limit_step("eq. 4.8 form: P'G - (ln D + ln ω + ln ln ω) → 0", est["PG_prime"] - target, 0),
        limit_step("printed 5.19 form: P'G - (ln D + ln ω + ln ln ω) → 0", est["PG_prime_printed_5_19"] - target, 0),
        limit_step("the middle expression of 5.20 has the same limit", middle - target, 0),
    ]
    return Derivation("Approximation", "eq. 5.20", {r"P'_{G,\,D\to\infty}": target}, steps)


# ----------------------------------------------------------------------------- 5.4.1


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
        return sp.summation(sp.powsimp(_gt1(expr)).subs((1 + u) ** (-j), q**j), (j, 0, D - 1))

    z_sum = _sum(g * sp.exp(-bet * j))
    E_sum = _sum(j * omega ** (-j) * g) / _gt1(hc["z"])
    p = hc["p_j"]
    # ln p_j is linear in j (sympy computes it); sum g ω^{-j} (c0 + c1 j) with symbolic c0, c1, then substitute
    logp = sp.expand_log(sp.log(p), force=True)
    c0, c1 = logp.subs(j, 0), sp.diff(logp, j)
    C0, C1 = sp.symbols("C0 C1", real=True)
    gibbs = -(_sum(g * omega ** (-j) * (C0 + C1 * j)) / _gt1(hc["z"])).subs({C0: _gt1(c0), C1: _gt1(c1)})
    steps = [
        identity("probability: e^{-βE_j}/z = ω^{-j}/z with E_j = j, β = ln ω", sp.exp(-bet * j) / hc["z"], p),
        identity("ln p_j is linear in j: ln p_j = c0 + c1 j", logp, c0 + c1 * j),
        Step(
            "partition function Σ_{j<D} g ω^{-j} (sympy summation)",
            "identity",
            sp.Sum(g * omega ** (-j), (j, 0, D - 1)),
            hc["z"],
            _simplify(z_sum - _gt1(hc["z"])),
            _simplify(z_sum - _gt1(hc["z"])) == 0,
        ),
        Step(
            "expected energy Σ_j j ω^{-j} g / z (sympy summation)",
            "identity",
            sp.Sum(j * omega ** (-j) * g, (j, 0, D - 1)) / hc["z"],
            hc["E"],
            _simplify(E_sum - _gt1(hc["E"])),
            _simplify(E_sum - _gt1(hc["E"])) == 0,
        ),
        Step(
            "entropy ln z + β<E> = -Σ g p ln p (sympy summation)",
            "identity",
            -sp.Sum(g * p * sp.log(p), (j, 0, D - 1)),
            hc["H"],
            _simplify(gibbs - _gt1(hc["H"])),
            _simplify(gibbs - _gt1(hc["H"])) == 0,
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
            _estimates(hc["E"], hc["S"], g, omega, omega)["PG_prime"],
            sp.log(omega**2 / (omega - 1)),
        ),
    ]
    est = _estimates(hc["E"], hc["S"], g, omega, omega)
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
    z_sum = sp.summation(_gt1(g * sp.exp(a) * b**d, b), (d, 0, D - 1))
    E_sum = sp.summation(_gt1(g * sp.exp(a) * b**d / z * (a + d * sp.log(b)), b), (d, 0, D - 1))
    binv = 1 / (1 + u)  # b < 1
    E_small = sp.limit(E.subs(b, binv), D, sp.oo)
    H_small = sp.limit(H.subs(b, binv), D, sp.oo)
    E_small_expected = a + b * sp.log(b) / (1 - b)
    H_small_expected = sp.log(g / (1 - b)) - b * sp.log(b) / (1 - b)
    est = _estimates(E, cf["S"], g, omega, omega)
    P_small = sp.limit(est["PG_prime"].subs(b, binv), D, sp.oo)
    P_small_expected = sp.log((E_small_expected + 1) * omega)
    steps = [
        Step(
            "z = Σ_d g e^a b^d (b>1, summation)",
            "identity",
            sp.Sum(g * sp.exp(a) * b**d, (d, 0, D - 1)),
            z,
            _simplify(z_sum - _gt1(z, b)),
            _simplify(z_sum - _gt1(z, b)) == 0,
        ),
        Step(
            "<E> = Σ_d g p_d (a + d ln b) (b>1, summation)",
            "identity",
            sp.Sum(g * sp.exp(a) * b**d / z * (a + d * sp.log(b)), (d, 0, D - 1)),
            E,
            _simplify(E_sum - _gt1(E, b)),
            _simplify(E_sum - _gt1(E, b)) == 0,
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
            _equal(E_small, E_small_expected.subs(b, binv)),
        ),
        Step(
            "b < 1: H → ln(g/(1-b)) - b ln b/(1-b)",
            "limit",
            sp.Limit(H, D, sp.oo),
            H_small_expected,
            H_small,
            _equal(H_small, H_small_expected.subs(b, binv)),
        ),
        Step(
            "b < 1: P'G (NI = NO = ω) → ln((<E>_∞ + 1) ω): no reward for depth",
            "limit",
            sp.Limit(est["PG_prime"], D, sp.oo),
            P_small_expected,
            P_small,
            _equal(P_small, P_small_expected.subs(b, binv)),
        ),
    ]
    return Derivation(
        "Path-discounted MLP",
        "sections 4.6, 5.5 (base b = γω)",
        {"z": z, r"\langle E \rangle": E, "H": H, r"P'_G": est["PG_prime"]},
        steps,
    )


# ----------------------------------------------------------------------------- registry / numbers


def all_derivations() -> dict[str, Callable[[], Derivation]]:
    """Every derivation of this module by name (each call recomputes its proof)."""
    return {
        "lemma3": lemma3_partition_function,
        "lemma3_bias": lambda: lemma3_partition_function(G_BIAS),
        "theorem3": theorem3_expected_energy,
        "theorem4": theorem4_energy_limit,
        "corollary2": corollary2_entropy,
        "theorem5": theorem5_entropy_limit,
        "eq5_19": performance_estimate,
        "eq5_20": approximation_5_20,
        "hypothetical_5_4_1": hypothetical_prior,
        "mirror": mirror_identity,
        "path_discounted": path_discounted_mlp,
    }


def proof_table(results: dict[str, Derivation]):
    """One row per derivation: name, equations, number of sympy steps, proved."""

    return pd.DataFrame(
        [
            {
                "derivation": r.name,
                "equations": r.equation,
                "sympy steps": len(r.steps),
                "steps ok": sum(s.ok for s in r.steps),
                "proved": r.proved,
            }
            for r in results.values()
        ]
    )


_NUMERIC_CACHE: dict = {}


def _fraction(x: float) -> Fraction:
    """The decimal a user typed (0.3 -> 3/10), not the binary float."""
    return Fraction(str(x)).limit_denominator(10**15)


def evaluate(
    width: int,
    depth: int,
    *,
    bias: bool = False,
    prior: Literal["reusability", "hypothetical", "path_discounted"] = "reusability",
    gamma_: float = 1.0,
    offset: float = 0.0,
    num_inputs: int | None = None,
    num_outputs: int | None = None,
    units: Literal["nats", "bits"] = "nats",
    digits: int = 40,
) -> dict[str, float]:
    """The closed forms of this module evaluated exactly (integer/rational
    powers, then ``digits`` significant digits) for one constant-width MLP;
    what the counting engine is compared with.

    ``num_inputs``/``num_outputs`` default to the width (NI = NO = ω as in
    eq. 5.19). Keys: ``log_z`` (always nats), ``expected_energy``,
    ``entropy``, ``total_surprisal`` (in ``units``), ``PG``, ``PG_prime``
    (eq. 4.8) and ``PG_prime_printed_5_19`` (in log ``units``).
    """
    if units not in ("nats", "bits"):
        raise ValueError(f"units must be 'nats' or 'bits', got {units!r}")
    if width <= 1:
        raise ValueError(f"the closed forms need width ω > 1, got {width}")
    if prior == "path_discounted" and _fraction(gamma_) * width == 1:
        raise ValueError("γω = 1 makes every discounted count equal (the closed form is 0/0 there); use γ ≠ 1/ω")
    gg = G_BIAS if bias else G_NO_BIAS
    key = (prior, bias, units)
    if key not in _NUMERIC_CACHE:
        if prior == "reusability":
            cf = mlp_closed_forms(omega, params_per_layer=gg)
        elif prior == "hypothetical":
            cf = hypothetical_closed_forms(gg)
        elif prior == "path_discounted":
            cf = mlp_closed_forms(gamma * omega, params_per_layer=gg, offset=a)
        else:
            raise ValueError(f"prior must be 'reusability', 'hypothetical' or 'path_discounted', got {prior!r}")
        est = _estimates(cf["E"], cf["S"], gg, N_I, N_O, units)
        k = 1 if units == "nats" else 1 / sp.log(2)
        _NUMERIC_CACHE[key] = {
            "log_z": sp.log(cf["z"]),
            "expected_energy": cf["E"] * k,
            "entropy": cf["H"] * k,
            "total_surprisal": cf["S"] * k,
            **est,
        }
    ni = width if num_inputs is None else num_inputs
    no = width if num_outputs is None else num_outputs
    # the sympy expressions, compiled once to mpmath at ``digits`` digits (exact-enough: ω^D with D = 3600
    # is ~1e1084, far inside mpmath's range; ln z - <E> loses at most ~4 of the digits)
    if key + ("fn",) not in _NUMERIC_CACHE:
        _NUMERIC_CACHE[key + ("fn",)] = {
            name: sp.lambdify((omega, D, N_I, N_O, gamma, a), expr, modules="mpmath")
            for name, expr in _NUMERIC_CACHE[key].items()
        }
    fns = _NUMERIC_CACHE[key + ("fn",)]
    args = (
        mpmath.mpf(width),
        mpmath.mpf(depth),
        mpmath.mpf(ni),
        mpmath.mpf(no),
        mpmath.mpf(_fraction(gamma_).numerator) / _fraction(gamma_).denominator,
        mpmath.mpf(offset),
    )
    out = {}
    with mpmath.workdps(digits):
        for name, fn in fns.items():
            val = fn(*args)
            out[name] = (
                float(val) if not isinstance(val, mpmath.mpc) else (float(val.real) if val.imag == 0 else float("nan"))
            )  # log of a negative score: undefined
    return out
