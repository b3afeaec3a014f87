"""Every derivation by name, the proof table and numeric evaluation."""

from __future__ import annotations

from fractions import Fraction
from typing import Callable, Literal

import mpmath
import pandas as pd
import sympy as sp

from reuseprior.priors.derivations.hypothetical import (
    hypothetical_closed_forms,
    hypothetical_prior,
    mirror_identity,
    path_discounted_mlp,
)
from reuseprior.priors.derivations.steps import (
    G_BIAS,
    G_NO_BIAS,
    N_I,
    N_O,
    D,
    Derivation,
    a,
    gamma,
    mlp_closed_forms,
    omega,
    prior_estimates,
)
from reuseprior.priors.derivations.theorems import (
    approximation_5_20,
    corollary2_entropy,
    lemma3_partition_function,
    performance_estimate,
    theorem3_expected_energy,
    theorem4_energy_limit,
    theorem5_entropy_limit,
)


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
        est = prior_estimates(cf["E"], cf["S"], gg, N_I, N_O, units)
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
