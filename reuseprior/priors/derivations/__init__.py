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

from reuseprior.priors.derivations.steps import (  # noqa: F401
    D,
    Derivation,
    identity,
    limit_step,
    mlp_closed_forms,
    omega,
)
from reuseprior.priors.derivations.table import (  # noqa: F401
    all_derivations,
    evaluate,
    proof_table,
)
from reuseprior.priors.derivations.theorems import (  # noqa: F401
    evaluate_constant,
    performance_estimate,
    theorem4_energy_limit,
    theorem5_entropy_limit,
)

__all__ = [
    "Derivation",
    "all_derivations",
    "evaluate",
    "evaluate_constant",
    "mlp_closed_forms",
    "performance_estimate",
    "proof_table",
    "theorem4_energy_limit",
    "theorem5_entropy_limit",
]
