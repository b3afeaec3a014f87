"""Test oracle: context counts of small architectures by literal horizontal
unrolling (thesis section 4.4.1, Algorithms 8 and 9), independent of the
counting engine (:mod:`reuseprior.counting`).

1. :class:`ArchSpec` describes a small architecture as plain data (dense and
   conv layers with stride, padding, groups, bias and tied weights, batch
   norm, ReLU, max/avg/global pooling, skip additions, channel
   concatenations) and :func:`random_arch` draws random ones;
2. :func:`build_neuron_graph` builds its neuron graph by hand, in the
   package's one representation (:mod:`reuseprior.graphs.neuron_graph`): one
   node per scalar feature, one weight node per scalar weight use, labelled
   with the parameter element ``(name, index)`` it stands for;
3. :func:`count_occurrences` counts every weight use in the graph that
   :func:`reuseprior.graphs.horizontal_unroll` makes of it, with exact Python
   ints (or exact ``Fraction`` powers of a discount ``gamma``: an occurrence
   on a neuron that lies ``L`` weighted connections above its output counts
   ``gamma**L``);
4. :func:`build_module` builds the same spec as an ``nn.Module``, for the
   engine to count.

Exponential in depth: for tiny models only.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import networkx as nx
import torch
from torch import nn

from reuseprior.graphs import NeuronGraphBuilder, horizontal_unroll, paths_to_outputs

__all__ = [
    "ArchSpec",
    "random_arch",
    "build_module",
    "build_neuron_graph",
    "count_paths",
    "count_occurrences",
    "oracle_counts",
    "oracle_quantities",
]


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
                    choices = [
                        "conv",
                        "conv",
                        "conv",
                        "bn",
                        "relu",
                        "maxpool",
                        "avgpool",
                        "gap",
                        "flatten",
                        "save",
                        "add",
                        "cat",
                    ]
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
                        in_j = (
                            _shapes(ArchSpec(spec.input_shape, spec.layers[:j]))[-1] if j > 0 else spec.input_shape
                        )[0]
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


# =============================================================================== neuron graph
class _SpecGraph:
    """Builds the neuron graph of a spec: integer node names, ``layer`` = index
    of the spec layer that made the node (0 for the inputs)."""

    def __init__(self) -> None:
        self.builder = NeuronGraphBuilder()
        self.names = itertools.count()

    def add(self, kind: str, layer: int) -> int:
        return self.builder.node(next(self.names), kind, layer)

    def feed(self, source: int, target: int, weighted: bool) -> None:
        """``source`` feeds ``target``; edge attribute ``weighted``: the connection
        multiplies by a weight (dense, conv). A DiGraph has no parallel edges: a
        second use of ``source`` by ``target`` (``x + x``, or a feature concatenated
        twice) goes through an identity neuron of its own, which changes no count."""
        if self.builder.graph.has_edge(source, target):
            hop = self.add("neuron", self.builder.graph.nodes[target]["layer"])
            self.builder.connect(source, hop, weighted=False)
            source = hop
        self.builder.connect(source, target, weighted=weighted)

    def weight(self, consumer: int, name: str, index: tuple, use: int) -> None:
        """Weight node of parameter element ``(name, index)`` used by ``consumer`` in spec layer ``use``."""
        self.builder.weight(next(self.names), consumer, (name, index), use=use)


def build_neuron_graph(spec: ArchSpec) -> nx.DiGraph:
    """Hand-built neuron graph of ``spec`` (independent of torch and of the engine).

    Parameter names follow :func:`build_module`: ``layers.<i>.weight`` / ``.bias``;
    a tied layer uses the name of the layer it is tied to. A dense/conv neuron
    has one weighted connection (and weight node) per term and a bias weight
    node; batch norm makes a new neuron per element, fed by an unweighted
    connection and four weight nodes (weight, bias, running_mean, running_var
    of its channel); ReLU is the identity; pooling sums the in-bounds window;
    every final feature feeds an output node of its own.
    """
    b = _SpecGraph()
    shape = tuple(spec.input_shape)

    def alloc(shp, layer):
        return {idx: b.add("neuron", layer) for idx in itertools.product(*[range(d) for d in shp])}

    cur = {idx: b.add("input", 0) for idx in itertools.product(*[range(d) for d in shape])}
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
            new = alloc(out_shape, i + 1)
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
                                b.feed(cur[(ci, iy, ix)], n, weighted=True)
                                b.weight(n, f"layers.{owner}.weight", (o, cl, ky, kx), i)
                if bias:
                    b.weight(n, f"layers.{i}.bias", (o,), i)
            cur = new
        elif kind == "dense":
            _, out, bias, tie = layer
            owner = tie if tie is not None else i
            new = alloc(out_shape, i + 1)
            for (o,), n in new.items():
                for (j,), src in cur.items():
                    b.feed(src, n, weighted=True)
                    b.weight(n, f"layers.{owner}.weight", (o, j), i)
                if bias:
                    b.weight(n, f"layers.{i}.bias", (o,), i)
            cur = new
        elif kind == "bn":
            # a new neuron per element (unweighted connection from the normalised one)
            # that also uses the four per-channel parameters: BN adds no weighted hop
            new = alloc(out_shape, i + 1)
            for idx, n in new.items():
                b.feed(cur[idx], n, weighted=False)
                for pn in ("weight", "bias", "running_mean", "running_var"):
                    b.weight(n, f"layers.{i}.{pn}", (idx[0],), i)
            cur = new
        elif kind in ("maxpool", "avgpool"):
            k, s = layer[1], layer[2]
            p = layer[3] if kind == "maxpool" else 0
            C, H, W = shape
            new = alloc(out_shape, i + 1)
            for (c, oy, ox), n in new.items():
                for ky in range(k):
                    for kx in range(k):
                        iy, ix = oy * s + ky - p, ox * s + kx - p
                        if 0 <= iy < H and 0 <= ix < W:
                            b.feed(cur[(c, iy, ix)], n, weighted=False)
            cur = new
        elif kind == "gap":
            C, H, W = shape
            new = alloc(out_shape, i + 1)
            for (c,), n in new.items():
                for y in range(H):
                    for x in range(W):
                        b.feed(cur[(c, y, x)], n, weighted=False)
            cur = new
        elif kind == "flatten":
            order = sorted(cur)
            cur = {(j,): cur[idx] for j, idx in enumerate(order)}
        elif kind == "save":
            slots[layer[1]] = dict(cur)
        elif kind == "add":
            other = slots[layer[1]]
            new = alloc(out_shape, i + 1)
            for idx, n in new.items():
                b.feed(cur[idx], n, weighted=False)
                b.feed(other[idx], n, weighted=False)
            cur = new
        elif kind == "cat":
            other = slots[layer[1]]
            C = shape[0]
            new = dict(cur)
            for idx, n in other.items():
                new[(idx[0] + C,) + idx[1:]] = n
            cur = new
        shape = out_shape
    for idx in sorted(cur):
        b.feed(cur[idx], b.add("output", len(spec.layers) + 1), weighted=False)
    return b.builder.graph


def count_paths(g: nx.DiGraph) -> int:
    """Size of the unrolled tree: the number of paths from Algorithm 8's root to
    the outputs. The root feeds the inputs and every weight node that is not on
    a weighted connection (bias, batch norm), so this is the number of paths
    from the inputs plus the contexts of those weight nodes."""
    paths = paths_to_outputs(g)
    total = 0
    for n, d in g.nodes(data=True):
        if d["kind"] == "input":
            total += paths[n]
        elif d["kind"] != "weight":  # each weighted connection into n has a weight node of its own
            direct = sum(g.nodes[s]["kind"] == "weight" for s in g.predecessors(n)) - sum(
                e.get("weighted", False) for _, _, e in g.in_edges(n, data=True)
            )
            total += direct * paths[n]
    return total


def count_occurrences(unrolled: nx.DiGraph, gamma: Fraction | int = 1) -> dict:
    """Occurrences of each weight use ``(param, index, use)`` in a horizontally
    unrolled graph (a tree hanging from its outputs).

    A weight node on a neuron that lies ``L`` weighted connections above its
    output counts ``gamma**L`` (``gamma = 1``: plain occurrence counts).
    """
    counts: dict[Any, Any] = {}
    below: dict = {}  # neuron duplicate -> weighted connections between it and its output
    for n in reversed(list(nx.topological_sort(unrolled))):  # every consumer before its sources
        if unrolled.nodes[n]["kind"] in ("input", "weight"):
            continue
        L = below.get(n, 0)
        for src in unrolled.predecessors(n):
            d = unrolled.nodes[src]
            if d["kind"] == "weight":
                key = (*d["label"], d["use"])
                counts[key] = counts.get(key, 0) + gamma**L
            elif d["kind"] != "input":
                below[src] = L + (1 if unrolled.edges[src, n]["weighted"] else 0)
    return counts


def oracle_counts(spec: ArchSpec, gamma: Fraction | int = 1) -> dict:
    """Per weight-use occurrence counts of ``spec`` by explicit horizontal unrolling."""
    return count_occurrences(horizontal_unroll(build_neuron_graph(spec)), gamma)


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
    return {
        "NG": NG,
        "WG": WG,
        "G": G,
        "expected_spread": ES,
        "entropy": H,
        "total_surprisal": S,
        "log2_NC": log2NC,
        "PG": math.log2(S * NI / G) if S > 0 else float("-inf"),
        "PG_prime": math.log2((ES + 1) * NG * NI / G),
    }
