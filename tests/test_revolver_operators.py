"""Genetic operators (Algorithms 4-7, copyover): hundreds of seeded
applications all yield buildable, shape-valid models that obey rule 4."""

from __future__ import annotations

import numpy as np
import torch

from reuseprior.revolver.blocks import Builder, validate_shapes
from reuseprior.revolver.genotype import genotype_fitness, leaf_parameter_count, rough_cost, size_stats
from reuseprior.revolver.operators import _mutate_element, copyover, crossover, mutate
from reuseprior.revolver.registry import ModuleRegistry, duplicate
from reuseprior.revolver.search import SearchSpace, random_blueprint

torch.set_num_threads(1)


def rule4_holds(bp) -> bool:
    return all(node.unique or not any(c.unique for c in node.children.values()) for _, node in bp.walk())


def assert_valid(bp, reg, x):
    assert validate_shapes(bp) == [], validate_shapes(bp)[:3]
    assert rule4_holds(bp)
    model = reg.build(bp)
    model.eval()
    with torch.no_grad():
        assert tuple(model(x).shape) == (2, 10)


def test_hundreds_of_mutations_give_buildable_shape_valid_models():
    rng = np.random.default_rng(123)
    b = Builder(rng, aggressive=True, toggle_p=0.2)
    reg, space, x = ModuleRegistry(), SearchSpace(), torch.randn(2, 1, 8, 8)
    kinds_seen, mutated = set(), 0
    bps = [random_blueprint(space, b) for _ in range(10)]
    for i in range(300):
        bp = bps[i % len(bps)]
        before = bp.name
        if mutate(bp, b):
            mutated += 1
            assert bp.name != before, "a mutation must change the scope name"
        kinds_seen |= {n.kind for _, n in bp.walk()}
        if i % 3 == 0:
            assert_valid(bp, reg, x)
    for bp in bps:
        assert_valid(bp, reg, x)
    assert mutated >= 250
    assert {"ensemble_mean", "separable_conv", "conv_deconv", "bottleneck", "residual"} <= kinds_seen


def test_hundreds_of_crossovers_and_copyovers_give_valid_models():
    rng = np.random.default_rng(7)
    b = Builder(rng, aggressive=False)
    reg, space, x = ModuleRegistry(), SearchSpace(), torch.randn(2, 1, 8, 8)
    pool = [random_blueprint(space, b) for _ in range(12)]
    crossed = copied = 0
    for i in range(160):
        i1, i2 = rng.choice(len(pool), 2, replace=False)
        c1, c2 = duplicate(pool[i1], rng), duplicate(pool[i2], rng)
        if i % 2 == 0:
            source_before = c2.to_dict()
            copied += copyover(c1, c2, rng)
            assert c2.to_dict() == source_before, "copyover must not touch the source"
        else:
            crossed += crossover(c1, c2, rng)
        for c in (c1, c2):
            if i % 8 < 2:
                assert_valid(c, reg, x)
            else:
                assert validate_shapes(c) == [] and rule4_holds(c)
        pool[i1], pool[i2] = c1, c2
    assert crossed >= 30 and copied >= 30  # Algorithm 7 may fail to find a compatible pair


def test_mutation_history_records_the_replaced_component():
    rng = np.random.default_rng(3)
    b = Builder(rng)
    unit = b.conv_unit("u", (4, 8, 8), 8)
    unit.mutation_p = 1.0
    unit.mutables["conv"] = ["ensemble_mean"]
    assert _mutate_element(unit, "conv", b, frozenset({"bn2d"}))
    assert unit.children["conv"].kind == "ensemble_mean"
    history = unit.meta["conv"]["mutation_history"]
    assert history[0]["kind"] == "conv2d" and history[0]["output_shape"] == [8, 8, 8]


def test_genotype_fitness_follows_algorithm_2():
    b = Builder(np.random.default_rng(0), bn_unique=False)
    bp = b.resnet("R", (1, 8, 8), 10, [8], [3], ["residual"], stem_width=8)
    weights, params = size_stats(bp)
    assert weights > params  # the two repeated blocks share their convolutions
    cost = 1.0
    for _, n in bp.walk():
        if n.kind in ("conv2d", "linear"):
            cost += np.log2(np.sqrt(np.prod(n.input_shape) * np.prod(n.output_shape)))
    assert np.isclose(rough_cost(bp), cost)
    utility = max(np.log2(params * cost / weights), 0)
    assert np.isclose(genotype_fitness(bp, 32.0), 32.0 / (utility + 1))
    conv = b.conv("c", (3, 8, 8), 16, 3)
    assert leaf_parameter_count(conv) == 16 * 3 * 9
    big = b.resnet("B", (3, 32, 32), 10, [512, 1024], [4, 4], ["residual", "residual"], stem_width=256)
    assert genotype_fitness(big, 32.0) == float("inf")  # > 16M weights: discarded


def test_operators_on_thesis_space_models_keep_dropout_valid_and_unmutated():
    """Thesis-space models carry dropout 0.5 in their blocks; mutation and
    crossover keep them shape-valid and never change a dropout rate."""
    rng = np.random.default_rng(5)
    b = Builder(rng, aggressive=True)
    space = SearchSpace.thesis((1, 8, 8), 10)
    reg, x = ModuleRegistry(), torch.randn(2, 1, 8, 8)
    bps = [random_blueprint(space, b) for _ in range(4)]
    assert all(any(n.kind == "dropout" for _, n in bp.walk()) for bp in bps)
    for i in range(40):
        bp = bps[i % len(bps)]
        mutate(bp, b)
        if i % 2:
            c1, c2 = duplicate(bp, rng), duplicate(bps[(i + 1) % len(bps)], rng)
            crossover(c1, c2, rng)
            assert validate_shapes(c1) == [] and rule4_holds(c1)
    for bp in bps:
        assert {n.args["p"] for _, n in bp.walk() if n.kind == "dropout"} == {0.5}
        assert_valid(bp, reg, x)


def test_depth_mutation_gives_new_blocks_the_group_dropout_and_replacements_none():
    rng = np.random.default_rng(2)
    b = Builder(rng)
    group = b.res_group("g", (8, 6, 6), 8, 1, "residual", dropout=0.25)
    group.mutables["depth"] = [3]
    assert _mutate_element(group, "depth", b, frozenset({"bn2d"}))
    assert len(group.children) == 3
    for block in group.children.values():
        assert block.children["body"].children["u1"].children["drop"].args["p"] == 0.25
    unit = group.children["0"].children["body"].children["u1"]
    unit.mutables["conv"] = ["residual"]
    assert _mutate_element(unit, "conv", b, frozenset({"bn2d"}))
    assert not any(n.kind == "dropout" for _, n in unit.children["conv"].walk())  # as the original library
    assert validate_shapes(group) == []
