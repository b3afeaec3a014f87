"""Engine == literal horizontal unrolling (thesis Algorithms 8/9) on random small models."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest
import torch

from reuseprior.counting import analyze
from reuseprior.counting.capture import capture
from reuseprior.counting.sweep import run_sweep
from reuseprior.graphs.unrolling import (
    ArchSpec,
    build_module,
    build_neuron_graph,
    count_paths,
    horizontal_unroll,
    oracle_counts,
    oracle_quantities,
    random_arch,
)

N_MODELS = 200
GAMMA = Fraction(1, 2)


def _totals(use_counts):
    tot = {}
    for (name, idx, _use), c in use_counts.items():
        tot[(name, idx)] = tot.get((name, idx), 0) + c
    return tot


def _compare(model, sweep, tot, tag):
    for name, p in model.named_parameters():
        s = sweep.param_counts.get(name)
        eng = s.log2().reshape(p.shape) if s is not None else torch.full(p.shape, -math.inf, dtype=torch.float64)
        for idx in (tuple(i) for i in torch.nonzero(torch.ones(p.shape), as_tuple=False).tolist()):
            o = tot.get((name, idx), 0)
            e = float(eng[idx])
            if o == 0:
                assert e == -math.inf, f"{tag}: {name}{idx} engine {e} but oracle has no context"
            else:
                assert abs(e - math.log2(o)) < 1e-9, f"{tag}: {name}{idx} engine 2^{e} != oracle {o}"


def test_unrolling_makes_a_tree_with_one_duplicate_per_path():
    rng = random.Random(7)
    spec = random_arch(rng)
    g = build_neuron_graph(spec)
    root, leaves = horizontal_unroll(g)
    # every duplicate reachable from the root has exactly one outgoing edge (a tree)
    stack, seen = [root], set()
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if n is not root:
            assert len(n.targets) <= 1
        stack.extend(c for c, _ in n.targets)
    assert len(leaves) == len(g.outputs)
    # root edges = root-to-leaf paths (inputs and bias/BN edges)
    assert len(root.targets) == count_paths(g)


@pytest.mark.parametrize("chunk", range(4))
def test_engine_matches_oracle_on_random_models(chunk):
    rng = random.Random(1000 + chunk)
    per = N_MODELS // 4
    for i in range(per):
        spec = random_arch(rng)
        model = build_module(spec)
        x = torch.randn(1, *spec.input_shape)
        graph = capture(model, x)
        plain = oracle_counts(spec)
        _compare(model, run_sweep(graph), _totals(plain), f"model {chunk}/{i} {spec}")
        disc = oracle_counts(spec, GAMMA)
        _compare(model, run_sweep(graph, discount=float(GAMMA)),
                 {k: float(v) for k, v in _totals(disc).items()}, f"gamma model {chunk}/{i} {spec}")
        if i % 5 == 0:  # model-level quantities (BN = 4 per channel, tied weights merged)
            g = build_neuron_graph(spec)
            oq = oracle_quantities(plain, NI=len(g.inputs), NO=len(g.outputs))
            rep = analyze(model, x).to_dict()
            for k, v in oq.items():
                assert rep[k] == pytest.approx(v, rel=1e-9, abs=1e-9), (k, spec)


def test_oracle_mlp_counts_are_powers_of_width():
    spec = ArchSpec((3,), [("dense", 3, False, None), ("relu",), ("dense", 3, False, None),
                           ("dense", 1, False, None)])
    tot = _totals(oracle_counts(spec))
    assert tot[("layers.3.weight", (0, 0))] == 1
    assert tot[("layers.2.weight", (1, 2))] == 3 ** 0 * 1  # feeds one neuron with one path
    assert tot[("layers.0.weight", (0, 0))] == 3  # width ** 1
    model = build_module(spec)
    counts = run_sweep(model, torch.randn(1, 3)).param_counts
    assert counts["layers.0.weight"].to_ints() == [3] * 9
