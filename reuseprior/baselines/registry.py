"""The registry of the training-free baselines: what each score is, as data.

One :class:`ProxyInfo` per score of :data:`reuseprior.baselines.proxies.PROXIES`
(its implementation), in the column order of the stored tables. Code that
treats scores differently asks the registry (:func:`proxy_names`,
:func:`proxy_info`) instead of naming scores: which scores read the minibatch
(:data:`DATA_DEPENDENT`, computed in one shared pass), which are defined on
every architecture (:data:`ZOO_PROXIES`, the scores stored per zoo
architecture), which differentiate the backward pass (``second_order``: the
largest graph, dropped first when memory runs out), which are naive baselines,
and how each is labelled in tables and figures.

The module imports nothing (no torch): the command line reads it to list its
choices.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = [
    "DATA_DEPENDENT",
    "KINDS",
    "REGISTRY",
    "SECOND_ORDER",
    "ZOO_PROXIES",
    "ProxyInfo",
    "proxy_info",
    "proxy_names",
]

#: What a score is, for tables: a measure of model size or compute, a zero-cost
#: proxy of the NAS literature, or a closed form of one architecture family's topology.
KINDS = ("naive baseline", "zero-cost proxy", "topology measure")


@dataclass(frozen=True)
class ProxyInfo:
    """One training-free score.

    ``name`` is its stored column and its key in ``PROXIES``; ``label`` and
    ``unit`` name it in tables and on axes; ``definition`` is the quantity
    computed and ``source`` the paper that defines it. Every score has the
    signature ``score(model, batch) -> float`` and is oriented as in its paper:
    ``higher_is_better`` says whether a higher value predicts a more accurate
    network there.

    Requirements: ``data_dependent`` scores read the minibatch's images (the
    others at most its shape); ``needs_labels`` ones read its targets (through
    a cross-entropy loss); ``needs_gradients`` ones run a backward pass and
    ``second_order`` ones differentiate it again (a Hessian-vector product).
    ``any_architecture=False``: defined only on one architecture family (NaN
    elsewhere), so not scored on the model zoos.

    ``since_version``: the version of the stored zoo scores
    (:data:`reuseprior.zoo.scoring.SCORES_VERSION`) from which this
    definition holds; a stored table of an older version holds another
    definition of the score, and is neither compared with nor mixed with it.
    ``introduced_in``: the first version whose stored tables have its column;
    the tables of an earlier version keep their columns (a proxy added later
    is a new version's column, never a new column of a published table).
    """

    name: str
    label: str
    unit: str
    kind: str
    definition: str
    source: str
    data_dependent: bool = False
    needs_labels: bool = False
    needs_gradients: bool = False
    second_order: bool = False
    any_architecture: bool = True
    higher_is_better: bool = True
    since_version: int = 1
    introduced_in: int = 1

    def __post_init__(self) -> None:
        if self.introduced_in > self.since_version:
            raise ValueError(
                f"{self.name}: introduced in version {self.introduced_in}, after its definition's "
                f"version {self.since_version}"
            )
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.needs_labels and not self.data_dependent:
            raise ValueError(f"{self.name}: a score that reads the labels reads the minibatch (data_dependent=True)")
        if self.second_order and not self.needs_gradients:
            raise ValueError(f"{self.name}: a second-order score needs gradients (needs_gradients=True)")


_ZERO_COST = "Abdelfattah et al. 2021, Zero-Cost Proxies for Lightweight NAS (ICLR)"

#: name -> :class:`ProxyInfo`; the order is the column order of the stored tables.
REGISTRY: dict[str, ProxyInfo] = {
    p.name: p
    for p in (
        ProxyInfo(
            "params",
            "#parameters",
            "count",
            "naive baseline",
            "trainable parameter elements, each tensor counted once (reuseprior.core.parameters.count_parameters)",
            f"the size baseline of thesis sections 4.5.7-4.5.8; beside the proxies in {_ZERO_COST}",
        ),
        ProxyInfo(
            "flops",
            "FLOPs",
            "per image, 2 per multiply-add",
            "naive baseline",
            "FLOPs of one forward pass on one example in eval mode (torch.utils.flop_counter plus formulas for "
            "the fused attention ops: convolutions, matrix products, attention with its projections; 2 per "
            "multiply-add; elementwise ops, normalisation and pooling not counted)",
            f"the compute baseline; beside the proxies in {_ZERO_COST}",
            since_version=2,
        ),
        ProxyInfo(
            "synflow",
            "SynFlow",
            "dimensionless",
            "zero-cost proxy",
            "sum |theta * dR/dtheta| over conv/linear weights, R = sum of the output for an all-ones input, on "
            "|parameters| in float64 with BatchNorm removed",
            "Tanaka et al. 2020, Pruning neural networks without any data by iteratively conserving synaptic flow "
            f"(NeurIPS); summed as in {_ZERO_COST}",
            needs_gradients=True,
            since_version=2,
        ),
        ProxyInfo(
            "snip",
            "SNIP",
            "dimensionless",
            "zero-cost proxy",
            "sum |theta * dL/dtheta| over conv/linear weights",
            "Lee et al. 2019, SNIP: single-shot network pruning based on connection sensitivity (ICLR); "
            f"summed as in {_ZERO_COST}",
            data_dependent=True,
            needs_labels=True,
            needs_gradients=True,
        ),
        ProxyInfo(
            "grasp",
            "GraSP",
            "dimensionless",
            "zero-cost proxy",
            "sum(-theta * H g) over conv/linear weights, g = dL/dtheta, H the Hessian of L",
            "Wang et al. 2020, Picking winning tickets before training by preserving gradient flow (ICLR); "
            f"summed as in {_ZERO_COST}",
            data_dependent=True,
            needs_labels=True,
            needs_gradients=True,
            second_order=True,
        ),
        ProxyInfo(
            "fisher",
            "Fisher",
            "dimensionless",
            "zero-cost proxy",
            "sum over the output channels c of every conv/linear layer of n_c * 0.5 * mean_batch "
            "(sum_spatial a_c dL/da_c)^2, n_c the weights of channel c (each weight carries its channel's score)",
            "Theis et al. 2018, Faster gaze prediction with dense networks and Fisher pruning; "
            f"Turner et al. 2020, BlockSwap (ICLR); per weight and summed as in {_ZERO_COST}",
            data_dependent=True,
            needs_labels=True,
            needs_gradients=True,
            since_version=2,
        ),
        ProxyInfo(
            "grad_norm",
            "grad-norm",
            "dimensionless",
            "zero-cost proxy",
            "sum over conv/linear layers of ||dL/dW||_2",
            _ZERO_COST,
            data_dependent=True,
            needs_labels=True,
            needs_gradients=True,
        ),
        ProxyInfo(
            "jacob_cov",
            "jacob_cov",
            "dimensionless",
            "zero-cost proxy",
            "-sum(log(v + k) + 1/(v + k)) over the eigenvalues v of the correlation matrix of the per-example "
            "input Jacobians of the summed logits, k = 1e-5",
            "Mellor et al. 2021, Neural architecture search without training (ICML; the score of arXiv 2006.04647v1)",
            data_dependent=True,
            needs_gradients=True,
        ),
        ProxyInfo(
            "naswot",
            "NASWOT",
            "log|det K|, nats",
            "zero-cost proxy",
            "log|det K_H|, K_H the Hamming-similarity kernel of the binary activation codes of the minibatch",
            "Mellor et al. 2021, Neural architecture search without training (ICML)",
            data_dependent=True,
        ),
        ProxyInfo(
            "nn_mass",
            "NN-Mass",
            "channels x layers",
            "topology measure",
            "m = sum_c w_c d_c rho_c over the cells of an NN-Mass-family network (closed form)",
            "Bhardwaj et al., Towards unifying neural architecture space exploration and generalization "
            "(ICLR 2020 submission), eq. 3",
            any_architecture=False,
        ),
    )
}

_FLAGS = {f.name for f in fields(ProxyInfo)} - {"name", "label", "unit", "definition", "source"}


def proxy_info(name: str) -> ProxyInfo:
    """The registry entry of ``name`` (``KeyError`` naming the known scores)."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown proxy {name!r}; known: {sorted(REGISTRY)}") from None


def proxy_names(**criteria: object) -> tuple[str, ...]:
    """Names of the scores whose fields equal ``criteria``, in registry order:
    ``proxy_names(data_dependent=True)``, ``proxy_names(kind="naive baseline")``.
    Only the flags and ``kind`` can be asked for."""
    unknown = set(criteria) - _FLAGS
    if unknown:
        raise TypeError(f"cannot select proxies by {sorted(unknown)}; choose from {sorted(_FLAGS)}")
    return tuple(name for name, p in REGISTRY.items() if all(getattr(p, k) == v for k, v in criteria.items()))


#: Scores that read the minibatch's images (the rest are data-free); computed together in one shared pass.
DATA_DEPENDENT = frozenset(proxy_names(data_dependent=True))
#: Scores defined on every architecture: the scores stored per zoo architecture, in column order.
ZOO_PROXIES = proxy_names(any_architecture=True)
#: Scores that differentiate the backward pass (the largest autograd graph of a shared pass).
SECOND_ORDER = frozenset(proxy_names(second_order=True))
