"""Reference oracle: literal horizontal unrolling (thesis section 4.4.1, Algorithms 8 and 9).

This module is deliberately independent of the counting engine.  It

1. describes small architectures as plain data (:class:`ArchSpec`: a list of layers with
   dense/conv (stride, padding, groups, bias), batch norm, ReLU, max/avg/global pooling,
   skip additions, channel concatenations and tied weights) and draws random ones
   (:func:`random_arch`);
2. builds the *neuron-level* DAG of such a spec by hand (:func:`build_neuron_graph`):
   one node per scalar feature, one edge per scalar weight use, labelled with the
   parameter element it multiplies (bias and batch-norm parameters are edges from the
   root, which also feeds the input nodes);
3. horizontally unrolls that DAG into a tree exactly as Algorithms 8/9 describe
   (:func:`horizontal_unroll`), and counts how often every weight element occurs in the
   tree (:func:`count_occurrences`), with exact Python ints (or exact ``Fraction`` powers
   of a discount ``gamma``: an occurrence whose tree node lies ``L`` weighted edges below
   the output leaf contributes ``gamma**L``);
4. builds the same spec as an ``nn.Module`` (:func:`build_module`) so the engine can be
   compared with the oracle.

Exponential in depth, so only for tiny models (tests).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import torch
from torch import nn

__all__ = [
    "ArchSpec", "random_arch", "build_module", "build_neuron_graph", "NeuronGraph", "TreeNode",
    "horizontal_unroll", "count_occurrences", "oracle_counts", "oracle_quantities", "count_paths",
]

ROOT = -1  # the root of the DAG (Algorithm 8): feeds the inputs and every bias edge


# =============================================================================== specs
@dataclass
class ArchSpec:
    """A tiny architecture as data.  ``input_shape`` is (C, H, W) or (D,).

    Layers (tuples):
      ("conv", out, k, stride, padding, groups, bias, tie)   tie: index of an earlier conv or None
      ("dense", out, bias, tie)
      ("bn",) ("relu",) ("maxpool", k, stride, padding) ("avgpool", k, stride) ("gap",)
      ("flatten",) ("save", slot) ("add", slot) ("cat", slot)
    """

    input_shape: tuple[int, ...]
    layers: list[tuple] = field(default_factory=list)


def _shapes(spec: ArchSpec) -> list[tuple[int, ...]]:
    """Shape after every layer; raises ValueError for an invalid spec."""
    shape = tuple(spec.input_shape)
    slots: dict[Any, tuple[int, ...]] = {}
    out = []
    for i, layer in enumerate(spec.layers):
        kind = layer[0]
        if kind == "conv":
            _, co, k, s, p, g, _, _ = layer
            if len(shape) != 3 or shape[0] % g or co % g:
                raise ValueError("bad conv")
            C, H, W = shape
            Ho, Wo = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
            if Ho < 1 or Wo < 1:
                raise ValueError("conv output empty")
            shape = (co, Ho, Wo)
        elif kind == "dense":
            if len(shape) != 1:
                raise ValueError("dense needs a vector")
            shape = (layer[1],)
        elif kind in ("maxpool", "avgpool"):
            k, s = layer[1], layer[2]
            p = layer[3] if kind == "maxpool" else 0
            if len(shape) != 3 or p * 2 > k:
                raise ValueError("bad pool")
            C, H, W = shape
            Ho, Wo = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
            if Ho < 1 or Wo < 1:
                raise ValueError("pool output empty")
            shape = (C, Ho, Wo)
        elif kind == "gap":
            if len(shape) != 3:
                raise ValueError("gap needs a map")
            shape = (shape[0],)
        elif kind == "flatten":
            shape = (math.prod(shape),)
        elif kind == "save":
            slots[layer[1]] = shape
        elif kind == "add":
            if slots.get(layer[1]) != shape:
                raise ValueError("add shape mismatch")
        elif kind == "cat":
            other = slots.get(layer[1])
            if other is None or len(other) != len(shape) or other[1:] != shape[1:]:
                raise ValueError("cat shape mismatch")
            shape = (shape[0] + other[0],) + shape[1:]
        out.append(shape)
    return out


def random_arch(rng: random.Random, *, max_layers: int = 7) -> ArchSpec:
    """Draw a random small valid architecture (convolutional or dense)."""
    while True:
        conv = rng.random() < 0.7
        if conv:
            shape: tuple[int, ...] = (rng.choice([1, 2]), rng.choice([2, 3, 4, 5]), rng.choice([2, 3, 4, 5]))
        else:
            shape = (rng.choice([1, 2, 3]),)
        spec = ArchSpec(tuple(shape), [])
        n = rng.randint(1, max_layers)
        slot = 0
        saved: list[int] = []
        convs: list[int] = []
        denses: list[int] = []
        cur = shape
        try:
            for i in range(n):
                choices = ["dense", "relu", "bn", "save", "add", "cat"]
                if len(cur) == 3:
                    choices = ["conv", "conv", "conv", "bn", "relu", "maxpool", "avgpool", "gap",
                               "flatten", "save", "add", "cat"]
                kind = rng.choice(choices)
                if kind == "conv":
                    C = cur[0]
                    g = rng.choice([1, 1, C]) if C > 1 else 1
                    co = rng.choice([1, 2, 3]) * g if g > 1 else rng.choice([1, 2, 3])
                    k = rng.choice([1, 2, 3])
                    s = rng.choice([1, 1, 2])
                    p = rng.choice([0, k // 2])
                    tie = None
                    for j in convs:
                        lj = spec.layers[j]
                        in_j = (_shapes(ArchSpec(spec.input_shape, spec.layers[:j]))[-1]
                                if j > 0 else spec.input_shape)[0]
                        if (lj[1], lj[2], lj[5], in_j) == (co, k, g, C) and rng.random() < 0.7:
                            tie = j
                            break
                    layer = ("conv", co, k, s, p, g, rng.random() < 0.4, tie)
                elif kind == "dense":
                    tie = None
                    for j in denses:
                        prev = _shapes(ArchSpec(spec.input_shape, spec.layers[:j]))[-1] if j > 0 else spec.input_shape
                        lj = spec.layers[j]
                        if lj[1] == cur[0] and prev[0] == cur[0] and rng.random() < 0.7:
                            # same in/out: tie (possibly with a different out if shape allows)
                            tie = j
                            break
                    out = cur[0] if tie is not None else rng.choice([1, 2, 3])
                    layer = ("dense", out, rng.random() < 0.4, tie)
                elif kind == "maxpool":
                    k = rng.choice([2, 3])
                    layer = ("maxpool", k, rng.choice([1, 2]), rng.choice([0, k // 2]))
                elif kind == "avgpool":
                    layer = ("avgpool", rng.choice([2, 3]), rng.choice([1, 2]))
                elif kind == "save":
                    layer = ("save", slot)
                    saved.append(slot)
                    slot += 1
                elif kind in ("add", "cat"):
                    if not saved:
                        continue
                    layer = (kind, rng.choice(saved))
                else:
                    layer = (kind,)
                spec.layers.append(layer)
                cur = _shapes(spec)[-1]
                if layer[0] == "conv":
                    convs.append(len(spec.layers) - 1)
                if layer[0] == "dense":
                    denses.append(len(spec.layers) - 1)
        except ValueError:
            continue
        if not any(l[0] in ("conv", "dense") for l in spec.layers):
            continue
        try:
            g = build_neuron_graph(spec)
        except ValueError:
            continue
        if count_paths(g) > 20000:
            continue
        return spec


# =============================================================================== nn.Module
class _ArchModule(nn.Module):
    def __init__(self, spec: ArchSpec):
        super().__init__()
        self.spec = spec
        shapes = [tuple(spec.input_shape)] + _shapes(spec)
        layers = []
        for i, layer in enumerate(spec.layers):
            kind, inp = layer[0], shapes[i]
            if kind == "conv":
                _, co, k, s, p, g, bias, tie = layer
                m = nn.Conv2d(inp[0], co, k, s, p, groups=g, bias=bias)
                if tie is not None:
                    m.weight = layers[tie].weight
            elif kind == "dense":
                _, out, bias, tie = layer
                m = nn.Linear(inp[0], out, bias=bias)
                if tie is not None:
                    m.weight = layers[tie].weight
            elif kind == "bn":
                m = nn.BatchNorm2d(inp[0]) if len(inp) == 3 else nn.BatchNorm1d(inp[0])
            elif kind == "relu":
                m = nn.ReLU()
            elif kind == "maxpool":
                m = nn.MaxPool2d(layer[1], layer[2], layer[3])
            elif kind == "avgpool":
                m = nn.AvgPool2d(layer[1], layer[2])
            elif kind == "gap":
                m = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
            elif kind == "flatten":
                m = nn.Flatten()
            else:
                m = nn.Identity()
            layers.append(m)
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        slots = {}
        for layer, m in zip(self.spec.layers, self.layers):
            kind = layer[0]
            if kind == "save":
                slots[layer[1]] = x
            elif kind == "add":
                x = x + slots[layer[1]]
            elif kind == "cat":
                x = torch.cat([x, slots[layer[1]]], dim=1)
            else:
                x = m(x)
        return x


def build_module(spec: ArchSpec) -> nn.Module:
    """The same architecture as an ``nn.Module`` (tied layers share one ``nn.Parameter``)."""
    return _ArchModule(spec).eval()


# =============================================================================== neuron DAG
@dataclass
class NeuronGraph:
    """Neuron-level DAG: ``sources[n]`` lists ``(src, weight)`` edges into node ``n``;
    ``weight`` is ``(param_name, index, use)`` or ``None``; ``src`` may be :data:`ROOT`."""

    sources: list[list[tuple[int, Any]]]
    inputs: list[int]
    outputs: list[int]

    def new(self) -> int:
        self.sources.append([])
        return len(self.sources) - 1


def build_neuron_graph(spec: ArchSpec) -> NeuronGraph:
    """Hand-built neuron-level graph of ``spec`` (independent of torch).

    Parameter names follow ``build_module``: ``layers.<i>.weight`` / ``.bias``; a tied
    layer uses the name of the layer it is tied to; batch norm makes a new neuron per
    element, fed by an unweighted edge and four root edges (weight, bias, running_mean,
    running_var of its channel); ReLU is identity; pooling sums the in-bounds window.
    """
    g = NeuronGraph([], [], [])
    shape = tuple(spec.input_shape)
    import itertools

    def alloc(shp):
        ids = {}
        for idx in itertools.product(*[range(d) for d in shp]):
            ids[idx] = g.new()
        return ids

    cur = alloc(shape)
    for n in cur.values():
        g.sources[n].append((ROOT, None))
        g.inputs.append(n)
    slots = {}
    shapes = _shapes(spec)
    for i, layer in enumerate(spec.layers):
        kind = layer[0]
        out_shape = shapes[i]
        if kind == "conv":
            _, co, k, s, p, grp, bias, tie = layer
            owner = tie if tie is not None else i
            C, H, W = shape
            cig, cog = C // grp, co // grp
            new = alloc(out_shape)
            for (o, oy, ox), n in new.items():
                gi = o // cog
                for cl in range(cig):
                    ci = gi * cig + cl
                    for ky in range(k):
                        iy = oy * s + ky - p
                        if not 0 <= iy < H:
                            continue
                        for kx in range(k):
                            ix = ox * s + kx - p
                            if 0 <= ix < W:
                                g.sources[n].append((cur[(ci, iy, ix)], (f"layers.{owner}.weight", (o, cl, ky, kx), i)))
                if bias:
                    g.sources[n].append((ROOT, (f"layers.{i}.bias", (o,), i)))
            cur = new
        elif kind == "dense":
            _, out, bias, tie = layer
            owner = tie if tie is not None else i
            new = alloc(out_shape)
            for (o,), n in new.items():
                for (j,), src in cur.items():
                    g.sources[n].append((src, (f"layers.{owner}.weight", (o, j), i)))
                if bias:
                    g.sources[n].append((ROOT, (f"layers.{i}.bias", (o,), i)))
            cur = new
        elif kind == "bn":
            # a new neuron per element (unweighted edge from the normalised one) that also
            # receives the four per-channel parameters: BN adds no weighted hop
            new = alloc(out_shape)
            for idx, n in new.items():
                g.sources[n].append((cur[idx], None))
                for pn in ("weight", "bias", "running_mean", "running_var"):
                    g.sources[n].append((ROOT, (f"layers.{i}.{pn}", (idx[0],), i)))
            cur = new
        elif kind in ("maxpool", "avgpool"):
            k, s = layer[1], layer[2]
            p = layer[3] if kind == "maxpool" else 0
            C, H, W = shape
            new = alloc(out_shape)
            for (c, oy, ox), n in new.items():
                for ky in range(k):
                    for kx in range(k):
                        iy, ix = oy * s + ky - p, ox * s + kx - p
                        if 0 <= iy < H and 0 <= ix < W:
                            g.sources[n].append((cur[(c, iy, ix)], None))
            cur = new
        elif kind == "gap":
            C, H, W = shape
            new = alloc(out_shape)
            for (c,), n in new.items():
                for y in range(H):
                    for x in range(W):
                        g.sources[n].append((cur[(c, y, x)], None))
            cur = new
        elif kind == "flatten":
            order = sorted(cur)
            cur = {(j,): cur[idx] for j, idx in enumerate(order)}
        elif kind == "save":
            slots[layer[1]] = dict(cur)
        elif kind == "add":
            other = slots[layer[1]]
            new = alloc(out_shape)
            for idx, n in new.items():
                g.sources[n].append((cur[idx], None))
                g.sources[n].append((other[idx], None))
            cur = new
        elif kind == "cat":
            other = slots[layer[1]]
            C = shape[0]
            new = dict(cur)
            for idx, n in other.items():
                new[(idx[0] + C,) + idx[1:]] = n
            cur = new
        shape = out_shape
    g.outputs = [cur[idx] for idx in sorted(cur)]
    return g


def count_paths(g: NeuronGraph) -> int:
    """Size of the unrolled tree (number of root-to-leaf paths), by dynamic programming."""
    memo: dict[int, int] = {}

    def paths(n):
        if n == ROOT:
            return 1
        if n not in memo:
            memo[n] = sum(paths(s) for s, _ in g.sources[n])
        return memo[n]

    return sum(paths(o) for o in g.outputs)


# =============================================================================== Algorithms 8 / 9
@dataclass
class TreeNode:
    """A duplicate in the unrolled DAG; ``targets`` are (child-duplicate, weight) edges."""

    name: int
    targets: list[tuple["TreeNode", Any]] = field(default_factory=list)

    def add_target(self, node: "TreeNode", weight: Any) -> "TreeNode":
        self.targets.append((node, weight))
        return self


def horizontal_unroll(g: NeuronGraph) -> tuple[TreeNode, list[TreeNode]]:
    """Algorithm 8: new DAG with a root; UnrollNode (Algorithm 9) for every leaf node.

    Returns ``(root, leaf_duplicates)``; every non-root node of the result has exactly
    one outgoing edge (a tree hanging from the leaves)."""
    root = TreeNode(ROOT)

    def unroll_node(node: int) -> TreeNode:  # Algorithm 9
        duplicate = TreeNode(node)
        for source, weight in g.sources[node]:
            if source == ROOT:
                root.add_target(duplicate, weight)
                continue
            unroll_node(source).add_target(duplicate, weight)
        return duplicate

    leaves = [unroll_node(n) for n in g.outputs]
    return root, leaves


def count_occurrences(root: TreeNode, leaves: list[TreeNode], gamma: Fraction | int = 1) -> dict:
    """Count each weight-use ``(param, index, use)`` in the unrolled tree.

    An occurrence on the edge into a duplicate that is ``L`` weighted edges above its
    leaf counts ``gamma**L`` (``gamma = 1``: plain occurrence counts).
    """
    counts: dict[Any, Any] = {}
    # rebuild child -> [(parent-duplicate, weight)] by walking from the leaves downwards
    # (the unrolled graph is a tree: walk each duplicate's incoming edges).
    incoming: dict[int, list[tuple[TreeNode, Any]]] = {}

    def collect(node: TreeNode):
        for child, w in node.targets:
            incoming.setdefault(id(child), []).append((node, w))

    stack = [root]
    seen = set()
    # every duplicate is reachable from the root through targets
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        collect(n)
        stack.extend(c for c, _ in n.targets)
    stack2 = [(leaf, 0) for leaf in leaves]
    while stack2:
        node, L = stack2.pop()
        for src, w in incoming.get(id(node), []):
            if w is not None:
                counts[w] = counts.get(w, 0) + (gamma**L if gamma != 1 else 1)
            if src.name != ROOT:
                stack2.append((src, L + (1 if w is not None else 0)))
    return counts


def oracle_counts(spec: ArchSpec, gamma: Fraction | int = 1) -> dict:
    """Per weight-use occurrence counts of ``spec`` by explicit horizontal unrolling."""
    g = build_neuron_graph(spec)
    root, leaves = horizontal_unroll(g)
    return count_occurrences(root, leaves, gamma)


def oracle_quantities(use_counts: dict, *, NI: int, NO: int) -> dict[str, float]:
    """Chapter-4 quantities from exact occurrence counts (uses of one element merged)."""
    merged: dict[Any, int] = {}
    WG = 0
    for (name, idx, use), c in use_counts.items():
        if c > 0:
            WG += 1
            merged[(name, idx)] = merged.get((name, idx), 0) + c
    cs = [c for c in merged.values() if c > 0]
    NG = len(cs)
    NC = sum(cs)
    log2NC = math.log2(NC)
    ES = sum(c * math.log2(c) for c in cs) / NC
    H = -sum((c / NC) * math.log2(c / NC) for c in cs)
    S = sum(log2NC - math.log2(c) for c in cs)
    G = NI + NO + WG
    return {"NG": NG, "WG": WG, "G": G, "expected_spread": ES, "entropy": H, "total_surprisal": S,
            "log2_NC": log2NC, "PG": math.log2(S * NI / G) if S > 0 else float("-inf"),
            "PG_prime": math.log2((ES + 1) * NG * NI / G)}
