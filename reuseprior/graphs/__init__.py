"""Neuron-level graphs of thesis chapter 4 (library layer).

A model as a directed acyclic graph of input, neuron, output and weight
nodes (section 4.1.2; one representation, a ``networkx.DiGraph``, described
in :mod:`reuseprior.graphs.neuron_graph`), the contexts of its weights
(Definition 1, eq. 4.1: paths from the node using a weight to an output),
horizontal unrolling into a tree with one weight node per context (section
4.4.1, Algorithms 8 and 9) and the uniform graph (Definition 2). Both ways
of counting contexts agree (for a graph whose weights all reach an output)::

    from reuseprior.graphs import context_counts, horizontal_unroll, unrolled_counts
    assert unrolled_counts(horizontal_unroll(g)) == context_counts(g)

These graphs are built by hand for small examples (the toy graphs of
Figures 4.2 and 4.3 in :mod:`reuseprior.models.toy`, random graphs); the
counting engine (:mod:`reuseprior.counting`) counts the same contexts on
any PyTorch model without building them.
"""

from reuseprior.graphs.neuron_graph import (
    NeuronGraphBuilder,
    context_counts,
    paths_to_outputs,
    random_neuron_graph,
)
from reuseprior.graphs.unrolling import horizontal_unroll, uniform_graph, unrolled_counts

__all__ = [
    "NeuronGraphBuilder",
    "context_counts",
    "horizontal_unroll",
    "paths_to_outputs",
    "random_neuron_graph",
    "uniform_graph",
    "unrolled_counts",
]
