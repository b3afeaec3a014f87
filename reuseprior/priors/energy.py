"""Energy priors (thesis chapter 5, sections 5.3-5.4) and the performance
estimates of section 4.4.5, for any per-parameter score.

A prior assigns every learnable parameter ``w_i`` an energy ``E_i`` and the
system an inverse temperature ``beta``. Everything else follows from the
Boltzmann distribution (eq. 5.7)::

    z      = sum_i exp(-beta E_i)                  partition function (eq. 5.3/5.4)
    p_i    = exp(-beta E_i) / z                    Boltzmann probability (eq. 5.7)
    <E>    = sum_i p_i E_i                         expected energy (eq. 5.8)
    H      = ln z + beta <E> = -sum_i p_i ln p_i   entropy (eq. 5.16)
    S      = -sum_i ln p_i = NG ln z + beta sum_i E_i   total surprisal (eq. 4.5)
    PG     = log(S NI / |G|)                       eq. 4.7
    P'G    = log(NG (<E> + 1) NI / |G|)            eq. 4.8

The reusability prior is ``beta = -1`` with ``E_i = ln |C_i|`` (Lemma 2,
Theorem 2, Corollary 1): then ``z = NC``, ``p_i = |C_i| / NC`` and ``<E>``
is the expected spread. Counts reach ``2^3000`` and more, so every function
takes *energies* (log-scores), never the scores themselves, and works in
log space (log-sum-exp).

Units. ``units="nats"`` (chapter 5) uses ``ln`` throughout. ``units="bits"``
(chapter 4) reports ``<E>``, ``H`` and ``S`` divided by ``ln 2`` and takes
``log2`` in the estimates. For the reusability prior the bits values are
exactly the engine's chapter-4 quantities (ES, H, S, PG, P'G). Note that the
``+ 1`` of eq. 4.8 is not unit-free: P'G in nats is *not* P'G in bits times a
constant, it is a different number (eq. 5.19 is the nats version).

Priors on models. :class:`ReusabilityPrior`, :class:`PathDiscountedPrior`
(contexts weighted by ``gamma ** path_length``, the "next step" of sections
4.6 and 5.5) and :class:`HypotheticalPrior` (section 5.4.1) turn a model into
:class:`Energies` through the counting engine; any callable
``prior(model, example_input) -> Energies`` works the same way
(:func:`compare_priors`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Literal, Mapping

import numpy as np
import pandas as pd
import torch.nn as nn

from reuseprior.counting import analyze, count_contexts
from reuseprior.counting.sweep import check_discount

__all__ = [
    "Energies",
    "EnergySummary",
    "HypotheticalPrior",
    "PathDiscountedPrior",
    "ReusabilityPrior",
    "boltzmann_probabilities",
    "compare_priors",
    "energies_from_counts",
    "energies_from_log2_counts",
    "entropy",
    "expected_energy",
    "log_partition_function",
    "path_discounted_prior",
    "performance_estimate",
    "summarize",
    "total_surprisal",
]

Units = Literal["nats", "bits"]
LN2 = math.log(2.0)


# --------------------------------------------------------------------------- inputs


def _as_levels(energies: Any, multiplicity: Any | None) -> tuple[np.ndarray, np.ndarray]:
    """Energies and degeneracies ``g_j`` (eq. 5.4) as float64 arrays.

    Energies of ``-inf`` (``ln 0``: a parameter with no context) are dropped:
    such a parameter does not exist for the analysis (it is left out of NG).
    """
    if hasattr(energies, "detach"):  # torch tensor
        energies = energies.detach().cpu().double().numpy()
    e = np.asarray(energies, dtype=np.float64).reshape(-1)
    if multiplicity is None:
        g = np.ones_like(e)
    else:
        if hasattr(multiplicity, "detach"):
            multiplicity = multiplicity.detach().cpu().double().numpy()
        g = np.asarray(multiplicity, dtype=np.float64).reshape(-1)
        if g.shape != e.shape:
            raise ValueError(
                f"multiplicity has {g.size} entries but energies has {e.size}; pass one degeneracy g_j "
                "per energy level (eq. 5.4), or multiplicity=None for one parameter per energy"
            )
        if np.any(g < 0) or not np.all(np.isfinite(g)):
            raise ValueError("multiplicity must be finite and non-negative (number of parameters per level)")
    if np.any(np.isnan(e)) or np.any(e == np.inf):
        raise ValueError("energies contain NaN or +inf; pass finite log-scores (or -inf for 'no context')")
    keep = np.isfinite(e) & (g > 0)
    e, g = e[keep], g[keep]
    if e.size == 0:
        raise ValueError("no parameter has a finite energy: the prior is empty (every score was 0)")
    return e, g


def _check_beta(beta: float) -> float:
    beta = float(beta)
    if not math.isfinite(beta):
        raise ValueError(f"beta must be a finite inverse temperature, got {beta!r}")
    return beta


def _check_units(units: str) -> None:
    if units not in ("nats", "bits"):
        raise ValueError(f"units must be 'nats' or 'bits', got {units!r}")


def _scale(units: Units) -> float:
    _check_units(units)
    return 1.0 if units == "nats" else 1.0 / LN2


def energies_from_log2_counts(log2_counts: Any) -> np.ndarray:
    """Reusability-prior energies ``E = ln |C|`` (eq. 5.6) from the engine's
    log2 counts (:func:`reuseprior.counting.count_contexts`), which may be a
    tensor, an array or a dict ``{param_name: tensor}`` (concatenated in order)."""
    if isinstance(log2_counts, Mapping):
        parts = [energies_from_log2_counts(v) for v in log2_counts.values()]
        return np.concatenate(parts) if parts else np.zeros(0)
    if hasattr(log2_counts, "detach"):
        log2_counts = log2_counts.detach().cpu().double().numpy()
    return np.asarray(log2_counts, dtype=np.float64).reshape(-1) * LN2


def energies_from_counts(counts: Any) -> np.ndarray:
    """``E = ln |C'|`` from plain scores (small models only; use log-scores beyond 1e308)."""
    c = np.asarray(counts, dtype=np.float64).reshape(-1)
    if np.any(c < 0):
        raise ValueError("scores |C'_w| must be non-negative")
    with np.errstate(divide="ignore"):
        return np.log(c)


# --------------------------------------------------------------------------- core


def _log_weights(e: np.ndarray, g: np.ndarray, beta: float) -> np.ndarray:
    """``ln(g_j) - beta E_j`` per level."""
    return np.log(g) - beta * e


def _logsumexp(x: np.ndarray) -> float:
    m = float(np.max(x))
    return m + math.log(float(np.sum(np.exp(x - m))))


def log_partition_function(energies: Any, beta: float = -1.0, multiplicity: Any | None = None) -> float:
    """``ln z`` with ``z = sum_j g_j exp(-beta E_j)`` (eqs. 5.3, 5.4), by log-sum-exp.

    For the reusability prior (``beta = -1``, ``E = ln |C|``) this is ``ln NC``
    (Lemma 2).
    """
    e, g = _as_levels(energies, multiplicity)
    return _logsumexp(_log_weights(e, g, _check_beta(beta)))


def boltzmann_probabilities(energies: Any, beta: float = -1.0, multiplicity: Any | None = None) -> np.ndarray:
    """``p_j = exp(-beta E_j) / z`` (eq. 5.7): the probability of ONE parameter at
    level ``j`` (so ``sum_j g_j p_j = 1``). Entries for ``-inf`` energies are 0."""
    e_all = np.asarray(
        energies.detach().cpu().double().numpy() if hasattr(energies, "detach") else energies, dtype=np.float64
    ).reshape(-1)
    beta = _check_beta(beta)
    lnz = log_partition_function(e_all, beta, multiplicity)
    with np.errstate(invalid="ignore"):
        p = np.exp(-beta * e_all - lnz)
    p[~np.isfinite(e_all)] = 0.0
    return p


def _moments(e: np.ndarray, g: np.ndarray, beta: float) -> tuple[float, float, np.ndarray]:
    lw = _log_weights(e, g, beta)
    lnz = _logsumexp(lw)
    P = np.exp(lw - lnz)  # probability mass of each level (g_j p_j)
    mean = float(np.sum(P * e))
    return lnz, mean, P


def expected_energy(
    energies: Any, beta: float = -1.0, multiplicity: Any | None = None, *, units: Units = "nats"
) -> float:
    """``<E> = sum_i p_i E_i`` (eq. 5.8). For the reusability prior this is the
    expected spread ``<ln |C|>`` (Corollary 1); in bits it is eq. 4.2's ES."""
    e, g = _as_levels(energies, multiplicity)
    _, mean, _ = _moments(e, g, _check_beta(beta))
    return mean * _scale(units)


def entropy(energies: Any, beta: float = -1.0, multiplicity: Any | None = None, *, units: Units = "nats") -> float:
    """``H = ln z + beta <E>`` (eq. 5.16), equal to ``-sum p ln p``.

    Computed as ``-sum_j P_j ln(P_j / g_j)`` over level masses ``P_j`` (the
    Gibbs form), which avoids the cancellation of ``ln z + beta <E>`` when both
    are ~1e3 and H is ~1.
    """
    e, g = _as_levels(energies, multiplicity)
    beta = _check_beta(beta)
    lw = _log_weights(e, g, beta)
    lnz = _logsumexp(lw)
    log_p = -beta * e - lnz  # ln p of one parameter at the level
    P = np.exp(lw - lnz)
    return float(-np.sum(P * log_p)) * _scale(units)


def total_surprisal(
    energies: Any, beta: float = -1.0, multiplicity: Any | None = None, *, units: Units = "nats"
) -> float:
    """``S = -sum_i ln p_i = NG ln z + beta sum_i E_i`` (eq. 4.5 with ln)."""
    e, g = _as_levels(energies, multiplicity)
    beta = _check_beta(beta)
    lnz = _logsumexp(_log_weights(e, g, beta))
    return float(np.sum(g * (lnz + beta * e))) * _scale(units)


def performance_estimate(
    *,
    num_params: float,
    num_inputs: float,
    num_graph_nodes: float,
    expected_energy: float | None = None,
    total_surprisal: float | None = None,
    units: Units = "nats",
    form: Literal["eq4.8", "eq5.19"] = "eq4.8",
) -> float:
    """Performance estimates of section 4.4.5, in the log of ``units``.

    * ``total_surprisal`` given: ``PG = log(S NI / |G|)`` (eq. 4.7).
    * ``expected_energy`` given: ``P'G`` (eq. 4.8). ``form="eq4.8"`` is
      ``log(NG (<E> + 1) NI / |G|)``, the definition (NG E[ln|C| + 1]);
      ``form="eq5.19"`` is the expression as printed in eq. 5.19,
      ``log((NG <E> + 1) NI / |G|)``, kept to show the two differ.

    ``<E>`` / ``S`` must already be in ``units`` (as returned by the functions
    of this module with the same ``units``). ``|G| = NI + NO + WG``.
    """
    _check_units(units)
    log = math.log if units == "nats" else math.log2
    if (expected_energy is None) == (total_surprisal is None):
        raise ValueError("pass exactly one of expected_energy (P'G, eq. 4.8) or total_surprisal (PG, eq. 4.7)")
    if num_graph_nodes <= 0 or num_inputs <= 0 or num_params <= 0:
        raise ValueError("num_params, num_inputs and num_graph_nodes must be positive")
    if total_surprisal is not None:
        return log(total_surprisal * num_inputs / num_graph_nodes)
    if form == "eq4.8":
        score = num_params * (expected_energy + 1.0)
    elif form == "eq5.19":
        score = num_params * expected_energy + 1.0
    else:
        raise ValueError(f"form must be 'eq4.8' or 'eq5.19', got {form!r}")
    if score == 0:
        return -math.inf
    if score < 0:  # e.g. the printed 5.19 form with a negative <E>: the log is undefined
        return math.nan
    return log(score * num_inputs / num_graph_nodes)


@dataclass(frozen=True)
class EnergySummary:
    """Model-level quantities of one prior (all in ``units``).

    ``log_z`` is always in nats (it is ``ln z``). ``NG`` is the number of
    parameters with a finite energy. ``PG``/``PG_prime`` are ``nan`` unless
    ``num_inputs`` and ``num_graph_nodes`` were given.
    """

    beta: float
    units: str
    NG: float
    log_z: float
    expected_energy: float
    entropy: float
    total_surprisal: float
    PG: float = math.nan
    PG_prime: float = math.nan
    PG_prime_eq519: float = math.nan

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(
    energies: Any,
    beta: float = -1.0,
    multiplicity: Any | None = None,
    *,
    num_inputs: float | None = None,
    num_graph_nodes: float | None = None,
    units: Units = "nats",
) -> EnergySummary:
    """All quantities of a prior at once (one log-sum-exp)."""
    e, g = _as_levels(energies, multiplicity)
    beta = _check_beta(beta)
    scale = _scale(units)
    lw = _log_weights(e, g, beta)
    lnz = _logsumexp(lw)
    P = np.exp(lw - lnz)
    mean = float(np.sum(P * e))
    H = float(-np.sum(P * (-beta * e - lnz)))
    NG = float(np.sum(g))
    S = float(np.sum(g * (lnz + beta * e)))
    out = dict(
        beta=beta,
        units=units,
        NG=NG,
        log_z=lnz,
        expected_energy=mean * scale,
        entropy=H * scale,
        total_surprisal=S * scale,
    )
    if num_inputs is not None and num_graph_nodes is not None:
        kw = dict(num_params=NG, num_inputs=num_inputs, num_graph_nodes=num_graph_nodes, units=units)
        out["PG"] = performance_estimate(total_surprisal=S * scale, **kw)
        out["PG_prime"] = performance_estimate(expected_energy=mean * scale, **kw)
        out["PG_prime_eq519"] = performance_estimate(expected_energy=mean * scale, form="eq5.19", **kw)
    return EnergySummary(**out)


# --------------------------------------------------------------------------- priors on models


@dataclass(frozen=True)
class Energies:
    """What a prior assigns to a model: per-parameter energies and ``beta``.

    ``num_inputs``/``num_graph_nodes`` (NI and |G| = NI + NO + WG) come from
    the engine's report so that the estimates of section 4.4.5 can be formed.
    """

    energies: np.ndarray
    beta: float
    multiplicity: np.ndarray | None = None
    num_inputs: float | None = None
    num_graph_nodes: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def summary(self, units: Units = "nats") -> EnergySummary:
        return summarize(
            self.energies,
            self.beta,
            self.multiplicity,
            num_inputs=self.num_inputs,
            num_graph_nodes=self.num_graph_nodes,
            units=units,
        )


Prior = Callable[[Any, Any], Energies]


def _graph_sizes(model: Any, example_input: Any, analyze_kwargs: Mapping[str, Any]) -> tuple[float, float]:

    report = analyze(model, example_input, **analyze_kwargs)
    return float(report.NI), float(report.G)


def _engine_energies(model: Any, example_input: Any, discount: float, analyze_kwargs: Mapping[str, Any]) -> np.ndarray:
    """``ln |C_w|`` of every parameter element from ``count_contexts``.

    Limitations (``count_contexts`` returns per-``nn.Parameter`` counts): a
    ``share_key`` merge is not applied, and batch norm contributes its 2 affine
    parameters per channel, not the 4 per channel of ``analyze``'s convention.
    """
    if analyze_kwargs.get("share_key") is not None:
        raise ValueError(
            "share_key merges are not applied to count_contexts' per-parameter counts; tie the parameters "
            "in the model (real shared nn.Parameters are merged) or use reuseprior.counting.analyze directly"
        )

    kwargs = {"discount": discount} if discount != 1.0 else {}
    return energies_from_log2_counts(count_contexts(model, example_input, **kwargs))


@dataclass(frozen=True)
class ReusabilityPrior:
    """The thesis's prior: ``E_w = ln |C_w|``, ``beta = -1`` (Lemma 2, Theorem 2).

    Counts come from :func:`reuseprior.counting.count_contexts` (real tied
    parameters are merged; ``share_key`` merges are not, and batch norm counts
    its 2 affine parameters per channel rather than ``analyze``'s 4).
    ``analyze_kwargs`` (e.g. ``num_outputs=1``) are passed to ``analyze`` for
    NI and |G|. For models without batch norm the bits summary equals the
    engine's ``Report``.
    """

    analyze_kwargs: Mapping[str, Any] = field(default_factory=dict)
    name: str = "reusability (β=-1, E=ln|C|)"

    def __call__(self, model: nn.Module, example_input: Any) -> Energies:
        e = _engine_energies(model, example_input, 1.0, self.analyze_kwargs)
        ni, G = _graph_sizes(model, example_input, self.analyze_kwargs)
        return Energies(e, -1.0, None, ni, G, {"prior": self.name})


@dataclass(frozen=True)
class PathDiscountedPrior:
    """Path-length-aware counting (sections 4.6, 5.5): every context of ``w``
    counts ``gamma ** (path length)`` instead of 1; ``E_w = ln |C_w^gamma|``,
    ``beta = -1``. ``gamma = 1`` is the reusability prior; ``gamma < 1``
    discounts long paths and so the bias towards depth. The discounted counts
    come from the engine (``count_contexts(..., discount=gamma)``)."""

    gamma: float
    analyze_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """``gamma`` must be a number with ``0 < gamma < inf`` (``ValueError`` naming it otherwise)."""

        check_discount(self.gamma, "gamma")

    @property
    def name(self) -> str:
        return f"path-discounted (γ={self.gamma:g})"

    def __call__(self, model: nn.Module, example_input: Any) -> Energies:
        e = _engine_energies(model, example_input, self.gamma, self.analyze_kwargs)
        ni, G = _graph_sizes(model, example_input, self.analyze_kwargs)
        return Energies(e, -1.0, None, ni, G, {"prior": self.name, "gamma": self.gamma})


def _constant_width(model: Any) -> int:

    widths = {m.out_features for m in model.modules() if isinstance(m, nn.Linear)}
    widths |= {m.in_features for m in model.modules() if isinstance(m, nn.Linear)}
    if len(widths) != 1:
        raise ValueError(
            f"the hypothetical prior of section 5.4.1 is defined for constant-width MLPs; this model's "
            f"linear layers have widths {sorted(widths)}. Pass HypotheticalPrior(width=...) to choose the base."
        )
    return widths.pop()


@dataclass(frozen=True)
class HypotheticalPrior:
    """Section 5.4.1: ``p(w_j) ∝ ω^-j`` for a parameter ``j`` layers from the
    output, i.e. ``E_j = j`` and ``beta = ln ω``.

    On a model, ``j = log_ω |C_w|`` (exact for constant-width MLPs, where
    ``|C_w| = ω^j``); ``width=None`` reads ω from the model's (constant)
    linear-layer width. For other models pass ``width``: the prior is then
    ``p ∝ |C_w|^-1`` with energies measured in units of ``ln ω``.
    """

    width: int | None = None
    analyze_kwargs: Mapping[str, Any] = field(default_factory=dict)
    name: str = "hypothetical 5.4.1 (β=ln ω, E=j)"

    def __call__(self, model: nn.Module, example_input: Any) -> Energies:
        width = self.width if self.width is not None else _constant_width(model)
        if width <= 1:
            raise ValueError(f"the hypothetical prior needs width ω > 1 (β = ln ω > 0), got {width}")
        e = _engine_energies(model, example_input, 1.0, self.analyze_kwargs) / math.log(width)
        ni, G = _graph_sizes(model, example_input, self.analyze_kwargs)
        return Energies(e, math.log(width), None, ni, G, {"prior": self.name, "width": width})


def path_discounted_prior(
    model: Any, example_input: Any, gamma: float, *, units: Units = "nats", **analyze_kwargs: Any
) -> EnergySummary:
    """Quantities of the path-discounted prior (``gamma ** path length`` per
    context) for any model the engine can count."""
    return PathDiscountedPrior(gamma, analyze_kwargs)(model, example_input).summary(units)


def compare_priors(
    models: Mapping[str, tuple[Any, Any]],
    priors: Mapping[str, Prior],
    *,
    units: Units = "nats",
    rank_by: str = "PG_prime",
) -> pd.DataFrame:
    """One row per (model, prior) with the prior's quantities and the rank of
    each model under each prior (1 = highest ``rank_by``).

    ``models`` maps a name to ``(model, example_input)``; ``priors`` maps a
    name to a callable ``prior(model, example_input) -> Energies`` (the
    classes of this module, or your own).
    """

    rows = []
    for prior_name, prior in priors.items():
        for model_name, (model, x) in models.items():
            s = prior(model, x).summary(units)
            rows.append({"prior": prior_name, "model": model_name, **s.to_dict()})
    df = pd.DataFrame(rows)
    if rank_by not in df.columns:
        raise KeyError(f"rank_by={rank_by!r} is not a column; choose one of {list(df.columns)}")
    df["rank"] = df.groupby("prior")[rank_by].rank(ascending=False, method="min", na_option="bottom").astype(int)
    return df
