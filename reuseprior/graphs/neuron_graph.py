"""The neuron-level graph of thesis chapter 4 and the contexts of its weights.

A model is a directed acyclic graph whose nodes are its inputs, its function
nodes (neurons), its outputs and its weights (thesis section 4.1.2); the size
of the graph is ``|G| = NI + NO + WG`` (eqs. 4.7, 4.8), so weights are nodes
of their own. The package has one representation of such a graph, a
``networkx.DiGraph``:

* nodes carry ``kind``, one of :data:`KINDS`: ``"input"`` (the ``NI`` input
  nodes), ``"neuron"`` (a function node computed from its predecessors),
  ``"output"`` (the ``NO`` output nodes, function nodes too) and ``"weight"``
  (the ``WG`` weight nodes: one node per use of a learnable parameter);
* ``label``: for a weight node, which learnable parameter it is: weight nodes
  with equal labels are one parameter used in several places (direct
  sharing, ``NG < WG``); for the other nodes the text drawn;
* ``layer``: the horizontal drawing position;
* optionally ``param = (name, index)``, the element of a PyTorch module's
  parameter that a weight node stands for, and any further attributes;
* edges point from a feature node (input or neuron) to a function node that
  reads it, and from a weight node to the single function node that uses it;
  inputs and weight nodes have no predecessors. Edges may carry attributes.

The *contexts* ``C_w`` of a weight (Definition 1, eq. 4.1) are the paths
from the function node using ``w`` to an output node; a parameter's count
``|C_w|`` sums them over all of its weight nodes. Horizontal unrolling turns
the graph into a tree with one weight node per context
(:mod:`reuseprior.graphs.unrolling`).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Hashable
from typing import Any

import networkx as nx

__all__ = ["KINDS", "NeuronGraphBuilder", "paths_to_outputs", "context_counts", "random_neuron_graph"]

#: the node kinds of a neuron graph
KINDS = ("input", "neuron", "output", "weight")


class NeuronGraphBuilder:
    """Assembles a neuron graph (:attr:`graph`) node by node, each node after
    the nodes it reads."""

    def __init__(self) -> None:
        self.graph = nx.DiGraph()

    def node(self, name: Hashable, kind: str, layer: float, label: Any = None, **attrs) -> Hashable:
        """Add node ``name`` of ``kind`` drawn at ``layer``; ``label`` defaults to ``name``."""
        if kind not in KINDS:
            raise ValueError(f"unknown node kind {kind!r}; a neuron graph has {KINDS}")
        self.graph.add_node(name, kind=kind, layer=layer, label=name if label is None else label, **attrs)
        return name

    def connect(self, source: Hashable, target: Hashable, **attrs) -> None:
        """Feature node ``source`` feeds function node ``target`` (edge attributes ``attrs``)."""
        for end in (source, target):
            if end not in self.graph:
                raise KeyError(f"node {end!r} is not in the graph yet")
        self.graph.add_edge(source, target, **attrs)

    def weight(self, name: Hashable, consumer: Hashable, label: Any, **attrs) -> Hashable:
        """Add weight node ``name`` (parameter ``label``) used by function node
        ``consumer``, drawn half a layer before it."""
        self.node(name, "weight", self.graph.nodes[consumer]["layer"] - 0.5, label, **attrs)
        self.graph.add_edge(name, consumer)
        return name


def paths_to_outputs(g: nx.DiGraph) -> dict:
    """Number of directed paths from every node to any output node (an output
    node counts its own trivial path)."""
    paths: dict = {}
    for n in reversed(list(nx.topological_sort(g))):
        own = 1 if g.nodes[n]["kind"] == "output" else 0
        paths[n] = own + sum(paths[s] for s in g.successors(n))
    return paths


def context_counts(g: nx.DiGraph) -> dict:
    """``|C_w|`` for every learnable parameter (label) of a neuron graph
    (Definition 1, eq. 4.1): the number of paths from each function node using
    ``w`` to an output node, summed over every use of ``w``."""
    paths = paths_to_outputs(g)
    counts: Counter = Counter()
    for n, data in g.nodes(data=True):
        if data["kind"] == "weight":
            counts[data["label"]] += sum(paths[s] for s in g.successors(n))
    return dict(counts)


def random_neuron_graph(
    num_inputs: int = 2, num_neurons: int = 6, *, edge_prob: float = 0.5, num_params: int | None = None, seed: int = 0
) -> nx.DiGraph:
    """A random layered neuron graph for checking the definitions.

    Neurons ``n0..n{k-1}`` are in topological order; each picks its sources
    among the inputs and earlier neurons with probability ``edge_prob`` (at
    least one), and every edge carries a weight. The last neuron is the output
    and every other neuron gets an edge to some later neuron, so every weight
    has at least one context. With ``num_params`` set, weights are assigned
    to that many labels at random (explicit sharing: ``NG < WG``).
    """
    rng = random.Random(seed)
    b = NeuronGraphBuilder()
    inputs = [f"x{i + 1}" for i in range(num_inputs)]
    for x in inputs:
        b.node(x, "input", 0)
    neurons = [f"n{i}" for i in range(num_neurons)]
    depth: dict[str, int] = {x: 0 for x in inputs}
    sources: dict[str, list[str]] = {}
    for i, n in enumerate(neurons):
        pool = inputs + neurons[:i]
        chosen = [s for s in pool if rng.random() < edge_prob] or [rng.choice(pool)]
        sources[n] = chosen
    for i, n in enumerate(neurons[:-1]):  # make sure every neuron reaches the output
        if not any(n in sources[m] for m in neurons[i + 1 :]):
            sources[rng.choice(neurons[i + 1 :])].append(n)
    wid = 0
    for n in neurons:
        depth[n] = 1 + max(depth[s] for s in sources[n])
        b.node(n, "output" if n == neurons[-1] else "neuron", depth[n])
        for s in sources[n]:
            b.connect(s, n)
            wid += 1
            b.weight(f"e{wid}", n, f"w{wid}" if num_params is None else f"w{rng.randrange(num_params) + 1}")
    return b.graph
