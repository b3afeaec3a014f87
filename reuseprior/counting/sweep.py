"""One backward sweep over a captured ATen graph that propagates context counts.

Seeds a count of 1 on every output element (spec section 1), walks the graph in
reverse topological order and applies each node's rule (:mod:`.rules`).  The count that
reaches a parameter along each edge (placeholder -> consuming node) is recorded per
*use*, so tied parameters and virtual sharing (``share_key``) can be handled later.
Counts are only propagated into nodes that have a parameter among their ancestors
(nothing else can deliver a count to a parameter), and only through floating tensors.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import torch
import torch.fx as fx
from torch import nn

from .capture import CapturedGraph, capture
from .rules import NO_COUNT_OPS, VIEW_LIKE, UnsupportedOpError, carries_counts, lookup_rule
from .scaled import Scaled

__all__ = ["SweepContext", "SweepResult", "ParamUse", "BatchNormUse", "run_sweep"]


@dataclass
class ParamUse:
    """The count one parameter received along one edge of the graph."""

    param_name: str
    user: fx.Node  # the node consuming the placeholder directly
    consumer: fx.Node  # first non-view node downstream (conv, addmm, batch_norm, ...)
    count: Scaled


@dataclass
class BatchNormUse:
    node: fx.Node
    channel_count: Scaled  # sum over positions of c_out, per channel
    weight_name: str | None
    bias_name: str | None


@dataclass
class SweepResult:
    graph: CapturedGraph
    param_counts: dict[str, Scaled | None]
    uses: list[ParamUse]
    batch_norms: list[BatchNormUse]
    num_outputs: int


def _is_float_val(v) -> bool:
    if isinstance(v, torch.Tensor):
        return carries_counts(v)
    if isinstance(v, (list, tuple)):
        return any(_is_float_val(x) for x in v)
    return False


def _base(target):
    return getattr(target, "overloadpacket", target)


class SweepContext:
    """State shared with the rules: discount, graph, and helper predicates."""

    def __init__(self, graph: CapturedGraph, gamma: float):
        self.graph = graph
        self.gamma = float(gamma)
        self.param_of_node = {n: name for name, n in graph.param_nodes.items()}
        self.batch_norms: list[BatchNormUse] = []
        # nodes that have a parameter among their ancestors and floating output
        needs: set[fx.Node] = set()
        for n in graph.gm.graph.nodes:
            if n.op == "placeholder":
                if n in self.param_of_node:
                    needs.add(n)
            elif n.op == "call_function":
                if _is_float_val(n.meta.get("val")) and any(a in needs for a in n.all_input_nodes):
                    needs.add(n)
        self._needs = needs
        self._weight_cache: dict[fx.Node, bool] = {}

    def needs(self, node) -> bool:
        return isinstance(node, fx.Node) and node in self._needs

    def param_root(self, node: fx.Node) -> str | None:
        """Parameter name if ``node`` is a parameter reached through view-like ops only."""
        while isinstance(node, fx.Node):
            if node.op == "placeholder":
                return self.param_of_node.get(node)
            if node.op == "call_function" and _base(node.target) in VIEW_LIKE:
                node = node.args[0]
                continue
            return None
        return None

    def is_weight(self, node) -> bool:
        if node not in self._weight_cache:
            self._weight_cache[node] = self.param_root(node) is not None
        return self._weight_cache[node]

    def record_batch_norm(self, node: fx.Node, chan: Scaled) -> None:
        w = node.args[1] if len(node.args) > 1 else None
        b = node.args[2] if len(node.args) > 2 else None
        self.batch_norms.append(
            BatchNormUse(
                node,
                chan,
                self.param_of_node.get(w) if isinstance(w, fx.Node) else None,
                self.param_of_node.get(b) if isinstance(b, fx.Node) else None,
            )
        )


def _consumer(node: fx.Node) -> fx.Node:
    while node.op == "call_function" and _base(node.target) in VIEW_LIKE and len(node.users) == 1:
        node = next(iter(node.users))
    return node


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _module_path_hint(node: fx.Node, ctx: SweepContext) -> str:
    """Names of parameters feeding ``node`` (for error messages)."""
    names = set()
    stack, seen = [node], set()
    while stack and len(names) < 3:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        if n in ctx.param_of_node:
            names.add(ctx.param_of_node[n])
        stack.extend(n.all_input_nodes)
        if len(seen) > 200:
            break
    return ", ".join(sorted(names)) or "unknown"


def run_sweep(model: nn.Module | CapturedGraph, example_input: torch.Tensor | None = None,
              *, discount: float = 1.0) -> SweepResult:
    """Capture (if needed) and propagate counts from the outputs to every parameter."""
    graph = model if isinstance(model, CapturedGraph) else capture(model, example_input)
    if not (discount > 0):
        raise ValueError(f"discount must be > 0, got {discount!r}")
    ctx = SweepContext(graph, discount)
    counts: dict[fx.Node, object] = {}
    batch = int(graph.example_input.shape[0]) if graph.example_input.dim() > 0 else 1
    num_outputs = 0
    for o in graph.output_nodes:
        v = o.meta.get("val")
        if isinstance(v, torch.Tensor) and v.is_floating_point():
            if graph.example_input.dim() > 0 and (v.dim() == 0 or v.shape[0] != batch):
                raise ValueError(
                    f"output {o.name} of {type(graph.model).__name__} has shape {tuple(v.shape)}, whose first "
                    f"dimension is not the batch size {batch} of the example input {tuple(graph.example_input.shape)}: "
                    "give the example input a leading batch dimension of 1 (x.unsqueeze(0)), and return "
                    "outputs that keep it (NI and NO are counted per example)")
            counts[o] = _add(counts.get(o), Scaled.ones(tuple(v.shape)))
            num_outputs += v.numel() // max(batch, 1)
    uses: list[ParamUse] = []
    param_nodes = ctx.param_of_node
    for node in reversed(list(graph.gm.graph.nodes)):
        if node.op != "call_function":
            continue
        c = counts.pop(node, None)
        if c is None:
            continue
        if node.target is operator.getitem:
            parent, idx = node.args
            if not ctx.needs(parent):
                continue
            lst = counts.get(parent)
            if lst is None:
                pv = parent.meta.get("val")
                lst = [None] * len(pv)
                counts[parent] = lst
            lst[idx] = _add(lst[idx], c)
            continue
        rule = lookup_rule(node.target)
        if rule is None:
            if _base(node.target) in NO_COUNT_OPS:
                continue
            raise UnsupportedOpError(
                f"no counting rule for ATen op {node.target} (node {node.name}, fed by parameters "
                f"{_module_path_hint(node, ctx)}) in {type(graph.model).__name__}. Register one from your "
                "code with @reuseprior.counting.register(torch.ops.aten.<op>), mapping the output count to "
                "operand counts (README, 'Analysing your own model'; reuseprior/counting/rules.py has the built-in ones)."
            )
        for a, s in rule(node, c, ctx):
            if s is None:
                continue
            if a in param_nodes:
                uses.append(ParamUse(param_nodes[a], node, _consumer(node), s))
            counts[a] = _add(counts.get(a), s)
    param_counts: dict[str, Scaled | None] = {}
    for name, n in graph.param_nodes.items():
        param_counts[name] = counts.get(n)
    return SweepResult(graph, param_counts, uses, ctx.batch_norms, num_outputs)
