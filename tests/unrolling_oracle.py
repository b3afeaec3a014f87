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

Shared models (issue 17's schemes): :func:`build_neuron_graph` takes the shared
module too.  Scope-tied layers then take their parameters' names from it, and a
generated layer's weights come from its generator run element by element: an
:class:`ElementTensor` stands in for each stored parameter, its torch code runs
with one graph node per scalar result (:class:`ElementGraph`; data movement only
rearranges nodes; products, sums, softmax, linear interpolation make new ones), the
result is checked against the real generated weight (:func:`trace_generator`), and
the element graph feeds a node per generated weight element, which feeds every
connection using it.  Stored elements appear as weight nodes labelled with the use
``("generator", layer)``; :func:`count_generated` counts the generated weight
elements' occurrences, and :func:`oracle_quantities` takes them as the weight nodes
(``WG``) in place of the edges inside generators.

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
import numpy as np
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
    "count_generated",
    "ElementGraph",
    "ElementTensor",
    "trace_generator",
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


def build_neuron_graph(spec: ArchSpec, model: nn.Module | None = None) -> nx.DiGraph:
    """Hand-built neuron graph of ``spec`` (independent of torch and of the engine).

    Parameter names follow :func:`build_module`: ``layers.<i>.weight`` / ``.bias``;
    a tied layer uses the name of the layer it is tied to. A dense/conv neuron
    has one weighted connection (and weight node) per term and a bias weight
    node; batch norm makes a new neuron per element, fed by an unweighted
    connection and four weight nodes (weight, bias, running_mean, running_var
    of its channel); ReLU is the identity; pooling sums the in-bounds window;
    every final feature feeds an output node of its own.

    ``model``: a shared version of :func:`build_module`'s module (``layers.<i>``
    tied by scope sharing, or replaced by generated layers).  Parameter names are
    then the model's own (a tied layer's parameters have the name of their first
    site), and the weights of a generated layer come from its generator's element
    graph (:class:`_GeneratedWeights`).
    """
    b = _SpecGraph()
    shape = tuple(spec.input_shape)
    weights = _LayerWeights(b, spec, model)

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
                                weights.use(i, owner, n, (o, cl, ky, kx))
                if bias:
                    weights.bias(i, n, o)
            cur = new
        elif kind == "dense":
            _, out, bias, tie = layer
            owner = tie if tie is not None else i
            new = alloc(out_shape, i + 1)
            for (o,), n in new.items():
                for (j,), src in cur.items():
                    b.feed(src, n, weighted=True)
                    weights.use(i, owner, n, (o, j))
                if bias:
                    weights.bias(i, n, o)
            cur = new
        elif kind == "bn":
            # a new neuron per element (unweighted connection from the normalised one)
            # that also uses the four per-channel parameters: BN adds no weighted hop
            new = alloc(out_shape, i + 1)
            for idx, n in new.items():
                b.feed(cur[idx], n, weighted=False)
                for pn in ("weight", "bias", "running_mean", "running_var"):
                    b.weight(n, weights.name(i, pn), (idx[0],), i)
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


class _LayerWeights:
    """The weight nodes of the spec's layers: plain parameters (named after the
    spec, or after ``model`` when given), or generated weights."""

    def __init__(self, b: _SpecGraph, spec: ArchSpec, model: nn.Module | None) -> None:
        self.b, self.model = b, model
        self.names = {id(p): n for n, p in model.named_parameters()} if model is not None else {}
        self.generated: dict[int, _GeneratedWeights] = {}

    def name(self, i: int, attr: str) -> str:
        """The name of parameter ``attr`` of spec layer ``i`` (a buffer keeps the spec's name)."""
        if self.model is not None:
            p = getattr(self.model.layers[i], attr, None)
            if isinstance(p, nn.Parameter):
                return self.names[id(p)]
        return f"layers.{i}.{attr}"

    def use(self, i: int, owner: int, neuron, index: tuple) -> None:
        """Weight ``index`` of spec layer ``i`` (tied to layer ``owner``) feeds ``neuron``."""
        layer = self.model.layers[i] if self.model is not None else None
        if layer is not None and hasattr(layer, "source") and hasattr(layer, "key"):  # a generated layer
            if i not in self.generated:
                self.generated[i] = _GeneratedWeights(self.b, self.model, layer, i)
            self.generated[i].feed(neuron, index)
        else:
            self.b.weight(neuron, self.name(owner, "weight"), index, i)

    def bias(self, i: int, neuron, o: int) -> None:
        self.b.weight(neuron, self.name(i, "bias"), (o,), i)


class _GeneratedWeights:
    """The weights of one use (spec layer ``use``) of a generated layer in the
    neuron graph.  The generator runs element by element
    (:func:`trace_generator`); each element of the generated weight is a node of
    its own (attribute ``generated = (key, index)``) that feeds every connection
    using it, fed in turn by the generator's element graph: one neuron per
    operation, and one weight node per edge out of a stored parameter element,
    labelled with the element and with ``use = ("generator", use)`` (an edge inside
    a generator, not a weight node of the network).  A weighted connection inside
    the generator is where a computed operand enters a product."""

    def __init__(self, b: _SpecGraph, model: nn.Module, layer: nn.Module, use: int) -> None:
        self.b, self.use, self.key = b, use, layer.key
        prefix = next(
            name + "."
            for name, m in model.named_modules()
            if m is layer.source and name  # the source's registered path
        )
        self.elements = ElementGraph()
        self.weight = trace_generator(layer.source, layer.key, prefix, self.elements)
        self.realised: dict[int, Any] = {}
        self.nodes: dict[tuple, Any] = {}

    def feed(self, neuron, index: tuple) -> None:
        if index not in self.nodes:
            gw = self.b.add("neuron", self.b.builder.graph.nodes[neuron]["layer"] - 0.5)
            self.b.builder.graph.nodes[gw]["generated"] = (self.key, index)
            self.b.builder.graph.nodes[gw]["use"] = self.use
            self._read(self.weight.ids[index], gw, False)
            self.nodes[index] = gw
        self.b.feed(self.nodes[index], neuron, weighted=False)

    def _read(self, element: int, consumer, hop: bool) -> None:
        """Element ``element`` of the generator's graph feeds ``consumer``."""
        g = self.elements
        if g.is_const(element):
            return
        if g.is_param(element):
            name, index = g.labels[element]
            self.b.weight(consumer, name, tuple(index), ("generator", self.use))
            return
        self.b.feed(self._realise(element, consumer), consumer, weighted=hop)

    def _realise(self, element: int, near):
        if element not in self.realised:
            node = self.b.add("neuron", self.b.builder.graph.nodes[near]["layer"] - 0.25)
            for source, hop in zip(self.elements.inputs[element], self.elements.hops[element]):
                self._read(source, node, hop)
            self.realised[element] = node
        return self.realised[element]


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
    return _occurrences(unrolled, gamma)[0]


def count_generated(unrolled: nx.DiGraph, gamma: Fraction | int = 1) -> dict:
    """Occurrences of each generated weight element ``(key, index, use)`` in a
    horizontally unrolled graph, as :func:`count_occurrences` counts weights."""
    return _occurrences(unrolled, gamma)[1]


def _occurrences(unrolled: nx.DiGraph, gamma) -> tuple[dict, dict]:
    counts: dict[Any, Any] = {}
    generated: dict[Any, Any] = {}
    below: dict = {}  # neuron duplicate -> weighted connections between it and its output
    for n in reversed(list(nx.topological_sort(unrolled))):  # every consumer before its sources
        data = unrolled.nodes[n]
        if data["kind"] in ("input", "weight"):
            continue
        L = below.get(n, 0)
        if "generated" in data:
            key = (*data["generated"], data["use"])
            generated[key] = generated.get(key, 0) + gamma**L
        for src in unrolled.predecessors(n):
            d = unrolled.nodes[src]
            if d["kind"] == "weight":
                key = (*d["label"], d["use"])
                counts[key] = counts.get(key, 0) + gamma**L
            elif d["kind"] != "input":
                below[src] = L + (1 if unrolled.edges[src, n]["weighted"] else 0)
    return counts, generated


def oracle_counts(spec: ArchSpec, gamma: Fraction | int = 1, model: nn.Module | None = None) -> dict:
    """Per weight-use occurrence counts of ``spec`` (shared as ``model``, see
    :func:`build_neuron_graph`) by explicit horizontal unrolling."""
    return count_occurrences(horizontal_unroll(build_neuron_graph(spec, model)), gamma)


def oracle_quantities(use_counts: dict, *, NI: int, NO: int, generated_counts: dict | None = None) -> dict[str, float]:
    """Chapter-4 quantities from exact occurrence counts (uses of one element merged).

    With a generator: ``NG`` counts the stored parameter elements with a context;
    ``WG`` the weight nodes before merging, which are the generated weight
    elements with a context (once per use, ``generated_counts``) and the uses of
    parameters that are not edges inside a generator."""
    merged: dict[Any, int] = {}
    WG = 0
    for (name, idx, use), c in use_counts.items():
        if c > 0:
            WG += 0 if isinstance(use, tuple) and use[0] == "generator" else 1
            merged[(name, idx)] = merged.get((name, idx), 0) + c
    WG += sum(1 for c in (generated_counts or {}).values() if c > 0)
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


# =============================================================================== weight generators
class ElementGraph:
    """The element-level graph of weight generators: one node per scalar (a
    parameter element, a constant, or one scalar operation of the generator) with
    its inputs, in order and with repeats, and its value.  Values make the graph
    checkable: evaluated on the real stored parameters, it must reproduce the
    generator's output (:func:`trace_generator`)."""

    def __init__(self) -> None:
        self.inputs: list[tuple[int, ...]] = []
        #: per input edge: a weighted connection (a computed operand of a product)
        self.hops: list[tuple[bool, ...]] = []
        self.values: list[float] = []
        #: ``(parameter name, index)`` of a parameter element, ``"const"`` or ``None`` (an operation)
        self.labels: list[Any] = []

    def _add(self, inputs, value, label, hops=None) -> int:
        self.inputs.append(tuple(inputs))
        self.hops.append(tuple(hops) if hops is not None else (False,) * len(inputs))
        self.values.append(float(value))
        self.labels.append(label)
        return len(self.values) - 1

    def param(self, name: str, index: tuple, value: float) -> int:
        return self._add((), value, (name, index))

    def const(self, value: float) -> int:
        return self._add((), value, "const")

    def op(self, inputs, value: float, hops=None) -> int:
        return self._add(inputs, value, None, hops)

    def is_param(self, i: int) -> bool:
        return isinstance(self.labels[i], tuple)

    def is_const(self, i: int) -> bool:
        return self.labels[i] == "const"

    def computed(self, i: int) -> bool:
        """An operation's result (not a parameter element, not a constant)."""
        return self.labels[i] is None


def _object_array(shape, fill) -> np.ndarray:
    a = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        a[idx] = fill(idx)
    return a


class ElementTensor:
    """A tensor of :class:`ElementGraph` node ids that runs a weight generator's
    torch code element by element (``__torch_function__`` for ``torch.*`` and
    ``torch.nn.functional.*``, methods and operators of its own).  Data movement
    rearranges ids; every arithmetic result element is a new node.  An op the
    oracle has no element-level rule for raises ``NotImplementedError``."""

    def __init__(self, graph: ElementGraph, ids: np.ndarray) -> None:
        self.graph = graph
        self.ids = np.asarray(ids, dtype=object) if not isinstance(ids, np.ndarray) else ids

    # --------------------------------------------------------------- tensor facts
    @property
    def shape(self) -> torch.Size:
        return torch.Size(self.ids.shape)

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.ids.shape[dim]

    def dim(self) -> int:
        return self.ids.ndim

    ndim = property(dim)

    def numel(self) -> int:
        return int(self.ids.size)

    dtype = torch.float32
    device = torch.device("cpu")
    requires_grad = True

    def values(self) -> torch.Tensor:
        """The elements' values (float64)."""
        v = np.array([self.graph.values[i] for i in self.ids.flat], dtype=np.float64)
        return torch.from_numpy(v.reshape(self.ids.shape))

    def _new(self, ids) -> "ElementTensor":
        return ElementTensor(self.graph, np.asarray(ids, dtype=object))

    # --------------------------------------------------------------- data movement
    def view(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list, torch.Size)) else shape
        return self._new(self.ids.reshape(tuple(shape)))

    reshape = view

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        s = list(self.ids.shape)
        if not s:
            return self._new(self.ids.reshape(1))
        end = end_dim % len(s)
        return self._new(self.ids.reshape(s[:start_dim] + [-1] + s[end + 1 :]))

    def unflatten(self, dim: int, sizes):
        s = list(self.ids.shape)
        dim %= len(s)
        return self._new(self.ids.reshape(s[:dim] + list(sizes) + s[dim + 1 :]))

    def unsqueeze(self, dim: int):
        return self._new(np.expand_dims(self.ids, dim if dim >= 0 else dim + self.ids.ndim + 1))

    def squeeze(self, dim=None):
        if dim is None:
            return self._new(np.squeeze(self.ids))
        return self._new(np.squeeze(self.ids, dim) if self.ids.shape[dim] == 1 else self.ids)

    def permute(self, *dims):
        dims = dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
        return self._new(np.transpose(self.ids, dims))

    def transpose(self, a: int, b: int):
        return self._new(np.swapaxes(self.ids, a, b))

    def t(self):
        return self._new(self.ids.T)

    T = property(t)

    def expand(self, *sizes):
        sizes = sizes[0] if len(sizes) == 1 and isinstance(sizes[0], (tuple, list, torch.Size)) else sizes
        lead = len(sizes) - self.ids.ndim
        full = [s if s != -1 else self.ids.shape[i - lead] for i, s in enumerate(sizes)]
        return self._new(np.broadcast_to(self.ids, full))

    def expand_as(self, other):
        return self.expand(other.shape)

    def repeat(self, *sizes):
        sizes = sizes[0] if len(sizes) == 1 and isinstance(sizes[0], (tuple, list, torch.Size)) else sizes
        return self._new(np.tile(self.ids, tuple(sizes)))  # torch's repeat is numpy's tile

    def tile(self, *sizes):
        sizes = sizes[0] if len(sizes) == 1 and isinstance(sizes[0], (tuple, list, torch.Size)) else sizes
        return self._new(np.tile(self.ids, tuple(sizes)))

    def repeat_interleave(self, repeats, dim=None, output_size=None):
        if isinstance(repeats, torch.Tensor):
            repeats = repeats.tolist()
        if dim is None:
            return self._new(np.repeat(self.ids.reshape(-1), repeats))
        return self._new(np.repeat(self.ids, repeats, axis=dim))

    def contiguous(self, *args, **kwargs):
        return self

    clone = contiguous

    def to(self, *args, **kwargs):
        return self

    float = to

    def narrow(self, dim: int, start: int, length: int):
        idx = [slice(None)] * self.ids.ndim
        idx[dim] = slice(start, start + length)
        return self._new(self.ids[tuple(idx)])

    def split(self, size, dim: int = 0):
        n = self.ids.shape[dim]
        sizes = [size] * (n // size) + ([n % size] if n % size else []) if isinstance(size, int) else list(size)
        out, start = [], 0
        for s in sizes:
            out.append(self.narrow(dim, start, s))
            start += s
        return tuple(out)

    def chunk(self, chunks: int, dim: int = 0):
        return self.split(-(-self.ids.shape[dim] // chunks), dim)

    def unbind(self, dim: int = 0):
        return tuple(self._new(np.take(self.ids, i, axis=dim)) for i in range(self.ids.shape[dim]))

    def flip(self, dims):
        return self._new(np.flip(self.ids, dims))

    def roll(self, shifts, dims=None):
        return self._new(np.roll(self.ids, shifts, dims))

    def index_select(self, dim: int, index):
        return self._new(np.take(self.ids, np.asarray(torch.as_tensor(index).tolist(), dtype=np.int64), axis=dim))

    def __getitem__(self, idx):
        def conv(i):
            if isinstance(i, torch.Tensor):
                return np.asarray(i.tolist(), dtype=bool if i.dtype == torch.bool else np.int64)
            return i

        idx = tuple(conv(i) for i in idx) if isinstance(idx, tuple) else conv(idx)
        return self._new(self.ids[idx])

    # --------------------------------------------------------------- arithmetic
    def _pointwise(self, other, fn, swap=False):
        a, b = (self, _lift(self.graph, other)) if not swap else (_lift(self.graph, other), self)
        ia, ib = np.broadcast_arrays(a.ids, b.ids)
        g = self.graph
        return self._new(_object_array(ia.shape, lambda i: g.op((ia[i], ib[i]), fn(g.values[ia[i]], g.values[ib[i]]))))

    def __add__(self, o):
        return self._pointwise(o, lambda x, y: x + y)

    def __radd__(self, o):
        return self._pointwise(o, lambda x, y: x + y, swap=True)

    def __sub__(self, o):
        return self._pointwise(o, lambda x, y: x - y)

    def __rsub__(self, o):
        return self._pointwise(o, lambda x, y: x - y, swap=True)

    def __mul__(self, o):
        return self._pointwise(o, lambda x, y: x * y)

    def __rmul__(self, o):
        return self._pointwise(o, lambda x, y: x * y, swap=True)

    def __truediv__(self, o):
        return self._pointwise(o, lambda x, y: x / y)

    def __rtruediv__(self, o):
        return self._pointwise(o, lambda x, y: x / y, swap=True)

    def _unary(self, fn):
        g = self.graph
        return self._new(_object_array(self.ids.shape, lambda i: g.op((self.ids[i],), fn(g.values[self.ids[i]]))))

    def __neg__(self):
        return self._unary(lambda v: -v)

    def tanh(self):
        return self._unary(math.tanh)

    def sigmoid(self):
        return self._unary(lambda v: 1.0 / (1.0 + math.exp(-v)))

    def relu(self):
        return self._unary(lambda v: max(v, 0.0))

    def sum(self, dim=None, keepdim: bool = False, dtype=None):
        return self._reduce(dim, keepdim, lambda vs: sum(vs))

    def mean(self, dim=None, keepdim: bool = False, dtype=None):
        return self._reduce(dim, keepdim, lambda vs: sum(vs) / len(vs))

    def _reduce(self, dim, keepdim, fn):
        nd = self.ids.ndim
        dims = list(range(nd)) if dim is None else [d % nd for d in ([dim] if isinstance(dim, int) else dim)]
        keep = [d for d in range(nd) if d not in dims]
        moved = np.transpose(self.ids, keep + dims).reshape([self.ids.shape[d] for d in keep] + [-1])
        g = self.graph

        def node(i):
            row = list(moved[i])
            return g.op(row, fn([g.values[r] for r in row]))

        out = _object_array(moved.shape[:-1], node)
        if keepdim:
            out = out.reshape([1 if d in dims else self.ids.shape[d] for d in range(nd)])
        return self._new(out)

    def softmax(self, dim: int, dtype=None):
        """Every output element along ``dim`` reads every input element along it."""
        moved = np.moveaxis(self.ids, dim, -1)
        g = self.graph
        out = np.empty(moved.shape, dtype=object)
        for i in np.ndindex(*moved.shape[:-1]):
            row = list(moved[i])
            v = torch.softmax(torch.tensor([g.values[r] for r in row], dtype=torch.float64), 0).tolist()
            for j in range(len(row)):
                out[i + (j,)] = g.op(row, v[j])
        return self._new(np.moveaxis(out, -1, dim))

    def __matmul__(self, other):
        return _matmul(self, other)

    def __rmatmul__(self, other):
        return _matmul(other, self)

    # --------------------------------------------------------------- torch functions
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        handler = _TORCH_HANDLERS.get(func)
        if handler is None:
            raise NotImplementedError(f"the unrolling oracle has no element-level rule for {func}")
        return handler(*args, **kwargs)


def _graph_of(*xs) -> ElementGraph:
    return next(x.graph for x in xs if isinstance(x, ElementTensor))


def _lift(graph: ElementGraph, x) -> ElementTensor:
    """``x`` as an :class:`ElementTensor`: a tensor or number becomes constant nodes."""
    if isinstance(x, ElementTensor):
        return x
    t = torch.as_tensor(x, dtype=torch.float64)
    return ElementTensor(graph, _object_array(tuple(t.shape), lambda i: graph.const(float(t[i]))))


def _contract(equation: str, *operands) -> ElementTensor:
    """``torch.einsum`` element by element: an output element is one node reading,
    for every combination of the summed indices, one element of each operand; an
    element of a computed operand (not a parameter element, not a constant) enters
    through a weighted connection, as a feature operand of a product does."""
    g = _graph_of(*operands)
    ops = [_lift(g, o) for o in operands]
    lhs, out = equation.replace(" ", "").split("->")
    terms = lhs.split(",")
    sizes: dict[str, int] = {}
    for t, o in zip(terms, ops):
        for ch, n in zip(t, o.ids.shape):
            sizes[ch] = n
    summed = [ch for ch in sizes if ch not in out]

    def node(idx):
        env = dict(zip(out, idx))
        inputs, value = [], 0.0
        for combo in itertools.product(*[range(sizes[ch]) for ch in summed]):
            env.update(zip(summed, combo))
            prod = 1.0
            for t, o in zip(terms, ops):
                e = o.ids[tuple(env[ch] for ch in t)]
                inputs.append(e)
                prod *= g.values[e]
            value += prod
        return g.op(inputs, value, [g.computed(e) for e in inputs])

    return ElementTensor(g, _object_array(tuple(sizes[ch] for ch in out), node))


def _matmul(a, b) -> ElementTensor:
    g = _graph_of(a, b)
    a, b = _lift(g, a), _lift(g, b)
    letters = "abcdefgh"
    if a.ids.ndim == 1 and b.ids.ndim == 1:
        return _contract("i,i->", a, b)
    if b.ids.ndim == 1:
        lead = letters[: a.ids.ndim - 1]
        return _contract(f"{lead}j,j->{lead}", a, b)
    if a.ids.ndim == 1:
        lead = letters[: b.ids.ndim - 2]
        return _contract(f"j,{lead}jk->{lead}k", a, b)
    if a.ids.ndim == b.ids.ndim:
        lead = letters[: a.ids.ndim - 2]
        return _contract(f"{lead}ij,{lead}jk->{lead}ik", a, b)
    raise NotImplementedError("the unrolling oracle multiplies matrices of equal rank only")


def _linear(x, weight, bias=None) -> ElementTensor:
    y = _matmul(x, _lift(_graph_of(x, weight), weight).t())
    return y if bias is None else y + bias


def _interpolate(
    x, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None, antialias=False
):
    """1-D resizing (input ``(N, C, L)``) by its textbook formulas: ``nearest``
    reads input ``floor(j * L / L_out)``; ``linear`` mixes the two neighbours of the
    source position with weights ``1 - f`` and ``f``, and a neighbour whose weight
    is exactly zero is not read (no edge)."""
    if x.ids.ndim != 3 or mode not in ("linear", "nearest"):
        raise NotImplementedError(f"the unrolling oracle resizes (N, C, L) tensors by linear/nearest only, not {mode}")
    n_in = x.ids.shape[-1]
    if size is not None:
        n_out = size if isinstance(size, int) else size[0]
        ratio = n_in / n_out
    else:
        sf = scale_factor if not isinstance(scale_factor, (tuple, list)) else scale_factor[0]
        n_out = int(math.floor(n_in * sf))
        ratio = n_in / n_out if recompute_scale_factor else 1.0 / sf
    g = x.graph
    out = np.empty(x.ids.shape[:-1] + (n_out,), dtype=object)
    for j in range(n_out):
        if mode == "nearest":
            for i in np.ndindex(*x.ids.shape[:-1]):
                out[i + (j,)] = x.ids[i + (min(int(math.floor(j * ratio)), n_in - 1),)]
            continue
        if align_corners:
            src = j * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        else:
            src = max((j + 0.5) * ratio - 0.5, 0.0)
        i0 = int(math.floor(src))
        i1 = min(i0 + 1, n_in - 1)
        f = src - i0
        taps: dict[int, float] = {}
        for tap, w in ((i0, 1.0 - f), (i1, f)):
            taps[tap] = taps.get(tap, 0.0) + w
        taps = {t: w for t, w in taps.items() if w != 0.0}
        for i in np.ndindex(*x.ids.shape[:-1]):
            ins = [x.ids[i + (t,)] for t in taps]
            out[i + (j,)] = g.op(ins, sum(w * g.values[e] for w, e in zip(taps.values(), ins)))
    return ElementTensor(g, out)


def _cat(tensors, dim=0) -> ElementTensor:
    g = _graph_of(*tensors)
    return ElementTensor(g, np.concatenate([_lift(g, t).ids for t in tensors], axis=dim))


def _stack(tensors, dim=0) -> ElementTensor:
    g = _graph_of(*tensors)
    return ElementTensor(g, np.stack([_lift(g, t).ids for t in tensors], axis=dim))


def _pad(x, pad, mode="constant", value=0.0) -> ElementTensor:
    if mode != "constant":
        raise NotImplementedError(f"the unrolling oracle pads with constants only, not {mode}")
    ids = x.ids
    for d in range(len(pad) // 2):
        axis = ids.ndim - 1 - d
        before, after = pad[2 * d], pad[2 * d + 1]
        shape = list(ids.shape)
        parts = []
        for n in (before, after):
            shape[axis] = n
            parts.append(_object_array(tuple(shape), lambda i: x.graph.const(value)))
        ids = np.concatenate([parts[0], ids, parts[1]], axis=axis)
    return ElementTensor(x.graph, ids)


def _embedding(indices, weight, *args, **kwargs) -> ElementTensor:
    return weight[torch.as_tensor(indices)]


_F = torch.nn.functional
_TORCH_HANDLERS: dict[Any, Any] = {
    torch.cat: _cat,
    torch.concat: _cat,
    torch.stack: _stack,
    torch.matmul: _matmul,
    torch.mm: _matmul,
    torch.einsum: lambda eq, *ops: _contract(eq, *(ops[0] if len(ops) == 1 and isinstance(ops[0], list) else ops)),
    _F.linear: _linear,
    _F.interpolate: _interpolate,
    _F.pad: _pad,
    _F.embedding: _embedding,
    torch.softmax: lambda x, dim, dtype=None: x.softmax(dim),
    _F.softmax: lambda x, dim=None, _stacklevel=3, dtype=None: x.softmax(dim),
    torch.sum: lambda x, dim=None, keepdim=False, dtype=None: x.sum(dim, keepdim),
    torch.mean: lambda x, dim=None, keepdim=False, dtype=None: x.mean(dim, keepdim),
    torch.tanh: lambda x: x.tanh(),
    torch.sigmoid: lambda x: x.sigmoid(),
    torch.relu: lambda x: x.relu(),
    _F.relu: lambda x, inplace=False: x.relu(),
    torch.reshape: lambda x, shape: x.reshape(shape),
    torch.flatten: lambda x, start_dim=0, end_dim=-1: x.flatten(start_dim, end_dim),
    torch.repeat_interleave: lambda x, repeats, dim=None, output_size=None: x.repeat_interleave(repeats, dim),
    torch.tile: lambda x, dims: x.tile(dims),
    torch.index_select: lambda x, dim, index: x.index_select(dim, index),
    torch.narrow: lambda x, dim, start, length: x.narrow(dim, start, length),
    torch.split: lambda x, size, dim=0: x.split(size, dim),
    torch.chunk: lambda x, chunks, dim=0: x.chunk(chunks, dim),
    torch.unbind: lambda x, dim=0: x.unbind(dim),
    torch.mul: lambda a, b: _lift(_graph_of(a, b), a) * b,
    torch.add: lambda a, b: _lift(_graph_of(a, b), a) + b,
    torch.Tensor.__mul__: lambda a, b: _lift(_graph_of(a, b), a) * b,
    torch.Tensor.__rmul__: lambda a, b: _lift(_graph_of(a, b), b) * a,
    torch.Tensor.__add__: lambda a, b: _lift(_graph_of(a, b), a) + b,
    torch.Tensor.__radd__: lambda a, b: _lift(_graph_of(a, b), b) + a,
    torch.Tensor.__sub__: lambda a, b: _lift(_graph_of(a, b), a) - b,
    torch.Tensor.__rsub__: lambda a, b: _lift(_graph_of(a, b), b) - a,
    torch.Tensor.__truediv__: lambda a, b: _lift(_graph_of(a, b), a) / b,
    torch.Tensor.__matmul__: _matmul,
    torch.Tensor.__rmatmul__: lambda a, b: _matmul(b, a),
}


def trace_generator(source: nn.Module, key: str, prefix: str, graph: ElementGraph) -> ElementTensor:
    """Run ``source.weight(key)`` on :class:`ElementTensor` stand-ins of the source's
    parameters (their elements labelled ``prefix + name``, with their real values),
    and return the generated weight's elements.  Checks that the element graph's
    values equal the real generated weight: the oracle's reading of every op must be
    the op itself."""
    swapped = []
    leaves = {}
    for name, p in source.named_parameters():
        vals = p.detach().double()
        leaves[id(p)] = ElementTensor(
            graph, _object_array(tuple(p.shape), lambda i, n=name, v=vals: graph.param(prefix + n, i, float(v[i])))
        )
    try:
        for module in source.modules():
            for n, p in list(module._parameters.items()):
                if p is not None:
                    swapped.append((module, n, p))
                    module._parameters[n] = leaves[id(p)]
        out = source.weight(key)
    finally:
        for module, n, p in swapped:
            module._parameters[n] = p
    if not isinstance(out, ElementTensor):
        raise NotImplementedError(f"the generator of {key!r} returned {type(out).__name__}, not element tensor")
    with torch.no_grad():
        real = source.weight(key).double()
    if tuple(real.shape) != tuple(out.shape) or not torch.allclose(out.values(), real, rtol=1e-5, atol=1e-6):
        raise AssertionError(f"the oracle's element graph of {key!r} does not compute the generated weight")
    return out
