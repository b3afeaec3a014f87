"""Horizontal unrolling (thesis section 4.4.1, Algorithms 8 and 9, appendix
A.2) and the uniform graph (Definition 2) of a neuron graph
(:mod:`reuseprior.graphs.neuron_graph`).

Unrolling duplicates every node once per path from it to an output, so that
the directed acyclic graph becomes a tree hanging from its outputs: every
non-input node has a single consumer, and every weight node appears once per
context. Counting a parameter's weight nodes in the unrolled graph gives its
number of contexts ``|C_w|`` (appendix A.3, step 2), the same number as
:func:`reuseprior.graphs.neuron_graph.context_counts` gets by counting paths.
The unrolled graph grows with the number of paths, exponentially in depth:
it is for small graphs (the thesis's figures, tests); the counting engine
(:mod:`reuseprior.counting`) counts contexts without building it.
"""

from __future__ import annotations

from collections import Counter

import networkx as nx

__all__ = ["horizontal_unroll", "unrolled_counts", "uniform_graph"]


def horizontal_unroll(g: nx.DiGraph) -> nx.DiGraph:
    """Horizontal unrolling of neuron graph ``g`` (Algorithms 8 and 9).

    Starting from every output (leaf) node, each node is duplicated once per
    consumer by recursively unrolling its sources (weight nodes included);
    input nodes are the roots and stay shared. In the result every non-input
    node has a single outgoing edge, and a weight appears once per context.
    Duplicates are named ``"<node>#<k>"`` and keep the attributes of their
    original plus ``original`` (the node they copy); edges keep theirs.
    """
    out = nx.DiGraph()
    serial = Counter()

    def unroll(node) -> str:  # Algorithm 9 (UnrollNode)
        serial[node] += 1
        dup = f"{node}#{serial[node]}"
        out.add_node(dup, **g.nodes[node], original=node)
        for source in g.predecessors(node):
            if g.nodes[source]["kind"] == "input":  # isRoot(source): attach to the shared root
                out.add_node(source, **g.nodes[source], original=source)
                out.add_edge(source, dup, **g.edges[source, node])
                continue
            out.add_edge(unroll(source), dup, **g.edges[source, node])
        return dup

    for leaf in [n for n in g.nodes if g.nodes[n]["kind"] == "output"]:  # Algorithm 8 (HorizontalUnroll)
        unroll(leaf)
    return out


def unrolled_counts(unrolled: nx.DiGraph) -> dict:
    """Repetitions of each learnable parameter (weight label) in an unrolled
    graph: its number of contexts (appendix A.3, step 2)."""
    return dict(Counter(d["label"] for _, d in unrolled.nodes(data=True) if d["kind"] == "weight"))


def uniform_graph(g: nx.DiGraph) -> nx.DiGraph:
    """The uniform graph of ``g`` (Definition 2, Figure 4.3c): the horizontally
    unrolled graph with every duplicated weight made an independent parameter,
    so that every weight has exactly one context; it has ``NC`` weights."""
    u = horizontal_unroll(g)
    seen: Counter = Counter()
    for _n, d in u.nodes(data=True):
        if d["kind"] == "weight":
            seen[d["label"]] += 1
            d["label"] = f"{d['label']}_{seen[d['label']]}"
    return u
