"""The toy graphs of thesis chapter 4 (Figures 4.2a, 4.2b, 4.3a-c and the
worked example of Appendix A.3), as ``nn.Module`` s and as neuron-level graphs.

Every graph has two input nodes (``NI = 2``) and one output node (``NO = 1``).
The thesis only gives the pictures and their numbers; the wiring below is our
reading of them, chosen so that each graph has exactly the published context
counts (thesis A.3 step 2) and quantities (``data/thesis/figures_4_2_4_3.csv``):

* **Figure 4.2a** (uniform, every weight has one context)::

      h = W1 x   (w1..w4, dense 2x2)
      g = s * h  (w5, w6, one weight per neuron)
      o = v . g  (w7, w8)

* **Figure 4.2b** (same 8 weights, reordered so that w1 and w2 gain a second
  context C2)::

      h = s * x  (w1, w2)
      g = W h    (w3..w6, dense 2x2: h1 and h2 feed two neurons each)
      o = v . g  (w7, w8)

* **Figure 4.3a** = Appendix A.3 (w1..w4 have two contexts, w5..w8 one)::

      h = W1 x         (w1..w4)
      g = W2 h         (w5..w8)
      o = g1 + g2      (a function node without weights)

* **Figure 4.3b**: 4.3a horizontally unrolled (Algorithms 8/9): ``h`` is
  recomputed for each of its two consumers with the *same* ``W1`` (direct
  parameter sharing): ``NG = 8`` but ``WG = 12`` weight nodes.
* **Figure 4.3c**: the uniform graph of 4.3a: the unrolled graph with every
  duplicate an independent weight (12 weights, one context each).

:func:`toy_graph` returns the neuron-level graph (the representation of
:mod:`reuseprior.graphs`), used for drawing, for counting paths and for
horizontal unrolling; each weight node records the parameter element of the
module it stands for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import networkx as nx
import torch
from torch import nn

from reuseprior.graphs import NeuronGraphBuilder
from reuseprior.models.registry import register_model

__all__ = [
    "TOY_GRAPHS",
    "ToyGraph",
    "Fig42a",
    "Fig42b",
    "Fig43a",
    "Fig43b",
    "Fig43c",
    "toy_graph",
    "toy_model",
]


class Fig42a(nn.Module):
    """Figure 4.2a: dense 2x2 -> per-neuron scale -> dense 2->1 (all counts 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(2, 2, bias=False)  # w1..w4
        self.scale = nn.Parameter(torch.ones(2))  # w5, w6
        self.out = nn.Linear(2, 1, bias=False)  # w7, w8

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.scale * torch.relu(self.fc1(x))))


class Fig42b(nn.Module):
    """Figure 4.2b: per-input scale -> dense 2x2 -> dense 2->1 (w1, w2 get two contexts)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(2))  # w1, w2
        self.fc1 = nn.Linear(2, 2, bias=False)  # w3..w6
        self.out = nn.Linear(2, 1, bias=False)  # w7, w8

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.fc1(torch.relu(self.scale * x))))


class Fig43a(nn.Module):
    """Figure 4.3a / Appendix A.3: dense 2x2 -> dense 2x2 -> sum (w1..w4 two contexts)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(2, 2, bias=False)  # w1..w4
        self.fc2 = nn.Linear(2, 2, bias=False)  # w5..w8

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc2(torch.relu(self.fc1(x)))).sum(dim=1, keepdim=True)


class Fig43b(nn.Module):
    """Figure 4.3b: 4.3a horizontally unrolled; ``fc1`` (w1..w4) is applied twice
    (explicit sharing), each copy feeding one output neuron (w5, w6 resp. w7, w8)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(2, 2, bias=False)  # w1..w4, used twice
        self.fc2a = nn.Linear(2, 1, bias=False)  # w5, w6
        self.fc2b = nn.Linear(2, 1, bias=False)  # w7, w8

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc2a(torch.relu(self.fc1(x)))) + torch.relu(self.fc2b(torch.relu(self.fc1(x))))


class Fig43c(nn.Module):
    """Figure 4.3c: the uniform graph of 4.3a (12 independent weights, one context each)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1a = nn.Linear(2, 2, bias=False)
        self.fc1b = nn.Linear(2, 2, bias=False)
        self.fc2a = nn.Linear(2, 1, bias=False)
        self.fc2b = nn.Linear(2, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc2a(torch.relu(self.fc1a(x)))) + torch.relu(self.fc2b(torch.relu(self.fc1b(x))))


# ----------------------------------------------------------------------------- neuron level
def _neuron(
    b: NeuronGraphBuilder,
    name: str,
    layer: float,
    sources: list[str],
    weights: list[tuple[str, str, tuple]],
    kind: str = "neuron",
) -> str:
    """Function node ``name`` fed by ``sources`` and by weight nodes
    ``(label, param, index)`` (named ``label@name``; ``param`` the module's
    parameter holding the element ``index``). The output is drawn as ``O``."""
    b.node(name, kind, layer, label="O" if kind == "output" else name)
    for src in sources:
        b.connect(src, name)
    for label, param, index in weights:
        b.weight(f"{label}@{name}", name, label, param=(param, tuple(index)))
    return name


def _inputs(b: NeuronGraphBuilder) -> tuple[str, str]:
    return b.node("x1", "input", 0), b.node("x2", "input", 0)


def _graph_4_2a() -> nx.DiGraph:
    b = NeuronGraphBuilder()
    x1, x2 = _inputs(b)
    h1 = _neuron(b, "h1", 1, [x1, x2], [("w1", "fc1.weight", (0, 0)), ("w2", "fc1.weight", (0, 1))])
    h2 = _neuron(b, "h2", 1, [x1, x2], [("w3", "fc1.weight", (1, 0)), ("w4", "fc1.weight", (1, 1))])
    g1 = _neuron(b, "g1", 2, [h1], [("w5", "scale", (0,))])
    g2 = _neuron(b, "g2", 2, [h2], [("w6", "scale", (1,))])
    _neuron(b, "o", 3, [g1, g2], [("w7", "out.weight", (0, 0)), ("w8", "out.weight", (0, 1))], kind="output")
    return b.graph


def _graph_4_2b() -> nx.DiGraph:
    b = NeuronGraphBuilder()
    x1, x2 = _inputs(b)
    h1 = _neuron(b, "h1", 1, [x1], [("w1", "scale", (0,))])
    h2 = _neuron(b, "h2", 1, [x2], [("w2", "scale", (1,))])
    g1 = _neuron(b, "g1", 2, [h1, h2], [("w3", "fc1.weight", (0, 0)), ("w4", "fc1.weight", (0, 1))])
    g2 = _neuron(b, "g2", 2, [h1, h2], [("w5", "fc1.weight", (1, 0)), ("w6", "fc1.weight", (1, 1))])
    _neuron(b, "o", 3, [g1, g2], [("w7", "out.weight", (0, 0)), ("w8", "out.weight", (0, 1))], kind="output")
    return b.graph


def _graph_4_3a() -> nx.DiGraph:
    b = NeuronGraphBuilder()
    x1, x2 = _inputs(b)
    h1 = _neuron(b, "h1", 1, [x1, x2], [("w1", "fc1.weight", (0, 0)), ("w2", "fc1.weight", (0, 1))])
    h2 = _neuron(b, "h2", 1, [x1, x2], [("w3", "fc1.weight", (1, 0)), ("w4", "fc1.weight", (1, 1))])
    g1 = _neuron(b, "g1", 2, [h1, h2], [("w5", "fc2.weight", (0, 0)), ("w6", "fc2.weight", (0, 1))])
    g2 = _neuron(b, "g2", 2, [h1, h2], [("w7", "fc2.weight", (1, 0)), ("w8", "fc2.weight", (1, 1))])
    _neuron(b, "o", 3, [g1, g2], [], kind="output")
    return b.graph


def _graph_4_3_unrolled(tied: bool) -> nx.DiGraph:
    b = NeuronGraphBuilder()
    x1, x2 = _inputs(b)
    g = []
    for copy, (la, lb, fc2, fc1) in enumerate([("w5", "w6", "fc2a", "fc1a"), ("w7", "w8", "fc2b", "fc1b")]):
        suffix = "'" * (copy + 1)
        fc1_name = "fc1" if tied else fc1

        def w(label: str) -> str:
            return label if tied else f"{label}{suffix}"  # noqa: B023 - called within the same iteration

        h1 = _neuron(
            b,
            f"h1{suffix}",
            1,
            [x1, x2],
            [(w("w1"), f"{fc1_name}.weight", (0, 0)), (w("w2"), f"{fc1_name}.weight", (0, 1))],
        )
        h2 = _neuron(
            b,
            f"h2{suffix}",
            1,
            [x1, x2],
            [(w("w3"), f"{fc1_name}.weight", (1, 0)), (w("w4"), f"{fc1_name}.weight", (1, 1))],
        )
        g.append(
            _neuron(b, f"g{copy + 1}", 2, [h1, h2], [(la, f"{fc2}.weight", (0, 0)), (lb, f"{fc2}.weight", (0, 1))])
        )
    _neuron(b, "o", 3, g, [], kind="output")
    return b.graph


@dataclass(frozen=True)
class ToyGraph:
    """One toy graph: its module factory, neuron-level description and caption."""

    name: str
    title: str
    module: Callable[[], nn.Module]
    neurons: Callable[[], nx.DiGraph]


TOY_GRAPHS: dict[str, ToyGraph] = {
    "fig_4_2a": ToyGraph("fig_4_2a", "Figure 4.2a: w1 has a single context", Fig42a, _graph_4_2a),
    "fig_4_2b": ToyGraph("fig_4_2b", "Figure 4.2b: w1 gains a second context", Fig42b, _graph_4_2b),
    "fig_4_3a": ToyGraph("fig_4_3a", "Figure 4.3a / A.3: original graph", Fig43a, _graph_4_3a),
    "fig_4_3b": ToyGraph(
        "fig_4_3b", "Figure 4.3b: horizontally unrolled (w1..w4 shared)", Fig43b, lambda: _graph_4_3_unrolled(tied=True)
    ),
    "fig_4_3c": ToyGraph("fig_4_3c", "Figure 4.3c: uniform graph", Fig43c, lambda: _graph_4_3_unrolled(tied=False)),
}


def _lookup(name: str) -> ToyGraph:
    if name not in TOY_GRAPHS:
        raise KeyError(f"unknown toy graph {name!r}; known: {sorted(TOY_GRAPHS)}")
    return TOY_GRAPHS[name]


@register_model("toy_graph")
def toy_model(name: str) -> nn.Module:
    """The ``nn.Module`` of toy graph ``name`` (e.g. ``"fig_4_3a"``); input ``(batch, 2)``."""
    return _lookup(name).module()


def toy_graph(name: str) -> nx.DiGraph:
    """The neuron graph of toy graph ``name`` (the representation of
    :mod:`reuseprior.graphs.neuron_graph`; each weight node's ``param`` is the
    ``(parameter name, index)`` of the module element it stands for)."""
    return _lookup(name).neurons()
