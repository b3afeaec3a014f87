"""Engine == literal horizontal unrolling (thesis Algorithms 8/9) on random small models.

The oracle (``tests/unrolling_oracle.py``) builds each model's neuron graph by
hand and unrolls it with :func:`reuseprior.graphs.horizontal_unroll`."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import networkx as nx
import pytest
import torch
from unrolling_oracle import (
    ArchSpec,
    build_module,
    build_neuron_graph,
    count_paths,
    oracle_counts,
    oracle_quantities,
    random_arch,
)

from reuseprior.counting import analyze
from reuseprior.counting.capture import capture
from reuseprior.counting.sweep import run_sweep
from reuseprior.graphs import context_counts, horizontal_unroll, paths_to_outputs, unrolled_counts

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


def _kinds(g):
    return {k: [n for n, d in g.nodes(data=True) if d["kind"] == k] for k in ("input", "neuron", "output", "weight")}


def test_unrolling_makes_a_tree_with_one_duplicate_per_path():
    rng = random.Random(7)
    spec = random_arch(rng)
    g = build_neuron_graph(spec)
    u = horizontal_unroll(g)
    kinds, unrolled = _kinds(g), _kinds(u)
    # a tree hanging from the outputs: every node but the (shared) inputs has at most one consumer
    assert nx.is_directed_acyclic_graph(u)
    assert all(u.out_degree(n) == 1 for n in unrolled["neuron"] + unrolled["weight"])
    assert all(u.out_degree(n) == 0 for n in unrolled["output"])
    paths = paths_to_outputs(g)
    assert len(unrolled["output"]) == len(kinds["output"])
    assert set(unrolled["input"]) == {x for x in kinds["input"] if paths[x] > 0}  # inputs stay shared
    # one weight duplicate per context, one edge out of an input per path from it
    counts = {label: c for label, c in context_counts(g).items() if c > 0}
    assert unrolled_counts(u) == counts
    assert sum(u.out_degree(x) for x in unrolled["input"]) == sum(paths[x] for x in kinds["input"])
    # Algorithm 8's root edges (inputs, bias and batch-norm weights) = root-to-leaf paths
    weighted = sum(bool(e.get("weighted")) for _, _, e in u.edges(data=True))
    assert sum(u.out_degree(x) for x in unrolled["input"]) + len(unrolled["weight"]) - weighted == count_paths(g)


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
        _compare(
            model,
            run_sweep(graph, discount=float(GAMMA)),
            {k: float(v) for k, v in _totals(disc).items()},
            f"gamma model {chunk}/{i} {spec}",
        )
        if i % 5 == 0:  # model-level quantities (BN = 4 per channel, tied weights merged)
            kinds = _kinds(build_neuron_graph(spec))
            oq = oracle_quantities(plain, NI=len(kinds["input"]), NO=len(kinds["output"]))
            report = analyze(model, x)
            for k, v in oq.items():
                assert getattr(report, k) == pytest.approx(v, rel=1e-9, abs=1e-9), (k, spec)


def test_oracle_mlp_counts_are_powers_of_width():
    spec = ArchSpec((3,), [("dense", 3, False, None), ("relu",), ("dense", 3, False, None), ("dense", 1, False, None)])
    tot = _totals(oracle_counts(spec))
    assert tot[("layers.3.weight", (0, 0))] == 1
    assert tot[("layers.2.weight", (1, 2))] == 3**0 * 1  # feeds one neuron with one path
    assert tot[("layers.0.weight", (0, 0))] == 3  # width ** 1
    model = build_module(spec)
    counts = run_sweep(model, torch.randn(1, 3)).param_counts
    assert counts["layers.0.weight"].to_ints() == [3] * 9
