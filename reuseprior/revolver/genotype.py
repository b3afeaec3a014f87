"""Genotype fitness (thesis Algorithm 2): a training-free score of a blueprint.

Lower is better (scores are compared with validation-loss based phenotype
scores, Algorithm 3). Models above ``MAX_WEIGHTS`` weights are discarded
(section 3.4.2).
"""

from __future__ import annotations

import math
from typing import Iterator

from reuseprior.revolver.blueprint import Blueprint

__all__ = ["MAX_WEIGHTS", "genotype_fitness", "leaf_parameter_count", "leaves", "size_stats", "rough_cost"]

#: models with more weights are discarded without training (section 3.4.2)
MAX_WEIGHTS = 16_000_000
COST_KINDS = {"conv2d", "deconv2d", "linear"}


def leaves(bp: Blueprint) -> Iterator[Blueprint]:
    """Every leaf use in the tree (a shared leaf appears once per use)."""
    for _, node in bp.walk():
        if node.is_leaf:
            yield node


def leaf_parameter_count(bp: Blueprint) -> int:
    """Learnable parameters of one leaf, from its constructor arguments
    (activation, dropout and pooling leaves have none)."""
    a = bp.args
    if bp.kind == "conv2d":
        return a["out_channels"] * (a["in_channels"] // a["groups"]) * a["kernel_size"] ** 2 + (
            a["out_channels"] if a["bias"] else 0
        )
    if bp.kind == "deconv2d":
        return a["in_channels"] * a["out_channels"] * a["kernel_size"] ** 2 + (a["out_channels"] if a["bias"] else 0)
    if bp.kind == "linear":
        return a["in_features"] * a["out_features"] + (a["out_features"] if a["bias"] else 0)
    if bp.kind == "bn2d":
        return 2 * a["num_features"]
    return 0


def size_stats(bp: Blueprint) -> tuple[int, int]:
    """``(num_weights, num_params)``: weights count every use of a leaf,
    params count each distinct scope name once (cross-layer sharing makes
    weights > params)."""
    weights = 0
    distinct: dict[str, int] = {}
    for node in leaves(bp):
        n = leaf_parameter_count(node)
        weights += n
        distinct[node.name] = n
    return weights, sum(distinct.values())


def rough_cost(bp: Blueprint) -> float:
    """Lines 2-10 of Algorithm 2: 1 + sum over conv/linear leaves of
    log2(sqrt(prod(input shape) * prod(output shape)))."""
    score = 1.0
    for node in leaves(bp):
        if node.kind in COST_KINDS:
            score += math.log2(math.sqrt(math.prod(node.input_shape) * math.prod(node.output_shape)))
    return score


def genotype_fitness(bp: Blueprint, coefficient: float) -> float:
    """Algorithm 2: ``coefficient / (clip(log2(params * cost / weights), 0) + 1)``;
    ``inf`` (discarded) above :data:`MAX_WEIGHTS` weights."""
    weights, params = size_stats(bp)
    if weights > MAX_WEIGHTS or weights == 0:
        return math.inf
    utility = max(math.log2(params * rough_cost(bp) / weights), 0.0)
    return coefficient / (utility + 1.0)
