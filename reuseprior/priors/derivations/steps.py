"""The symbols of chapter 5, a derivation as checked steps, and the MLP's closed forms."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import sympy as sp

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


def above_one(expr: sp.Expr, var: sp.Symbol = omega) -> sp.Expr:
    """Substitute ``var = 1 + u`` (``u > 0``) so sympy knows ``var > 1``."""
    return sp.sympify(expr).subs(var, 1 + u)


def simplified(expr: sp.Expr) -> sp.Expr:
    """``expr`` simplified as far as the derivations need: logarithms expanded, then sympy's simplify,
    powers and sums combined, and rational constants made exact."""
    expr = sp.expand_log(sp.sympify(expr), force=False)
    out = sp.simplify(expr)
    if out != 0:
        out = sp.simplify(sp.expand_log(sp.powsimp(sp.expand(out), force=False)))
    if out != 0:
        out = sp.nsimplify(sp.simplify(sp.together(out)))
    return out


def sympy_equal(x: sp.Expr, y: sp.Expr) -> bool:
    """``x == y`` by ``simplify(x - y) == 0``, or ``exp(x) == exp(y)`` (exp is
    injective on the reals; helps sympy with differences of logarithms)."""
    if simplified(x - y) == 0:
        return True
    return simplified(sp.exp(x) - sp.exp(y)) == 0


def identity(description: str, lhs: sp.Expr, rhs: sp.Expr, *, over: tuple[sp.Symbol, ...] = (omega,)) -> Step:
    """Prove ``lhs == rhs`` by ``simplify(lhs - rhs) == 0`` (with each symbol in
    ``over`` taken ``> 1``)."""
    diff = sp.sympify(lhs) - sp.sympify(rhs)
    for var in over:
        diff = above_one(diff, var)
    res = simplified(diff)
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
        e, exp_ = above_one(e, v), above_one(exp_, v)
    res = sp.limit(e, var, point)
    ok = sympy_equal(res, exp_)
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


def prior_estimates(
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
