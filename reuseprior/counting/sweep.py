"""One backward sweep over a captured ATen graph that propagates context counts.

Seeds a count of 1 on every output element (each output node ends one path, thesis
eq. 4.1), walks the graph in reverse topological order and applies each node's rule
(:mod:`.rules`).  The count that reaches a parameter along each edge (placeholder ->
consuming node) is recorded per *use*, so tied parameters and virtual sharing
(``share_key``) can be handled later.  Counts are only propagated into nodes that
have a parameter among their ancestors (nothing else can deliver a count to a
parameter), and only through floating (and complex) tensors.

Input policy (:func:`check_example_input`, then :func:`run_sweep`): one example, i.e.
a real (not complex) input with a leading batch dimension of 1 whose outputs keep it;
a batch of several examples is refused (the counts are per example), and so is an
empty or complex input.  The path-length ``discount`` is a finite number > 0
(:func:`check_discount`).  An op whose output shape depends on the data (boolean-mask
indexing, ``masked_select``, ``nonzero``, ``unique``) on the way from a parameter to
the outputs raises :class:`~.capture.DataDependentShapeError`; counts that depend on
the *values* of the example input (``nn.Embedding`` token ids, masks computed from
the input) are computed for that input and flagged with a
:class:`DataDependentCountWarning`.
"""

from __future__ import annotations

import math
import numbers
import operator
import os
import sys
import warnings
from dataclasses import dataclass

import torch
import torch.fx as fx
from torch import nn

from reuseprior.core.errors import DataDependentCountWarning
from reuseprior.counting.capture import CapturedGraph, DataDependentShapeError, capture
from reuseprior.counting.rules import NO_COUNT_OPS, VIEW_LIKE, UnsupportedOpError, carries_counts, lookup_rule
from reuseprior.counting.scaled import Scaled

__all__ = [
    "SweepContext",
    "SweepResult",
    "ParamUse",
    "BatchNormUse",
    "DataDependentCountWarning",
    "check_discount",
    "check_example_input",
    "run_sweep",
]


def check_discount(discount: object, name: str = "discount") -> None:
    """Raise ``ValueError`` unless ``discount`` is a real number (a Python or NumPy
    float or int; not ``bool``, not text) with ``0 < discount < inf``.

    ``1`` is the plain count; ``gamma < 1`` discounts long paths, ``gamma > 1``
    favours them."""
    if isinstance(discount, bool) or not isinstance(discount, numbers.Real):
        hint = f"; convert text first: {name}=float({discount!r})" if isinstance(discount, str) else ""
        raise ValueError(
            f"{name} must be a number with 0 < {name} < inf (e.g. 0.5), got {discount!r} "
            f"of type {type(discount).__name__}{hint}"
        )
    if not (math.isfinite(discount) and discount > 0):
        raise ValueError(
            f"{name} must be a finite number > 0 (1 counts every path fully, 0.5 halves a count per "
            f"weighted hop), got {discount!r}"
        )


def check_example_input(example_input: object) -> None:
    """Refuse inputs that hold no real example: an empty tensor (batch 0) and a
    complex one.  Non-tensors pass through (``capture`` names what it needs), and so
    does a batch of several examples (refused by :func:`run_sweep` once the outputs
    show which dimension is the batch)."""
    if not isinstance(example_input, torch.Tensor):
        return
    shape = tuple(example_input.shape)
    if example_input.is_complex():
        raise ValueError(
            f"example_input is complex ({example_input.dtype}, shape {shape}): contexts are counted through real "
            "floating-point tensors; pass a real input (x.real, or torch.view_as_real(x) to a model that takes it)"
        )
    if example_input.dim() > 0 and shape[0] == 0:
        ones = (1,) + shape[1:]
        raise ValueError(
            f"example_input has a batch of 0 examples (shape {shape}): there is no example to count; "
            f"pass a batch of 1, e.g. torch.zeros{ones}"
        )
    if example_input.numel() == 0:
        raise ValueError(
            f"example_input has no elements (shape {shape}): every dimension must be at least 1, "
            "with a leading batch dimension of 1"
        )


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
        _refuse_data_dependent_shapes(graph, needs, self)

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


def _has_symbolic_shape(v: object) -> bool:
    """True for a tensor (or a tuple/list holding one) whose shape has a size that
    tracing could not fix: an unbacked ``SymInt`` that depends on the data."""
    if isinstance(v, torch.Tensor):
        return any(not isinstance(d, int) for d in v.shape)
    if isinstance(v, (list, tuple)):
        return any(_has_symbolic_shape(x) for x in v)
    return False


def _describe_target(node: fx.Node) -> str:
    if node.target is operator.getitem and node.args and isinstance(node.args[0], fx.Node):
        return f"an output of {node.args[0].target}"
    return str(node.target)


def _refuse_data_dependent_shapes(graph: CapturedGraph, needs: set[fx.Node], ctx: "SweepContext") -> None:
    """Policy: a node between a parameter and the outputs (or an output) whose shape
    depends on the data cannot be counted (its element count is unknown until the
    data is seen); raise :class:`DataDependentShapeError` naming the op, where the
    data-dependent size came from, and the fixed-shape rewrite."""
    outputs = set(graph.output_nodes)
    bad = next(
        (n for n in graph.gm.graph.nodes if (n in needs or n in outputs) and _has_symbolic_shape(n.meta.get("val"))),
        None,
    )
    if bad is None:
        return
    ancestors, stack = set(), [bad]
    while stack:  # where the data-dependent size first appears on the way to ``bad``
        n = stack.pop()
        if n not in ancestors:
            ancestors.add(n)
            stack.extend(n.all_input_nodes)
    origin = next(n for n in graph.gm.graph.nodes if n in ancestors and _has_symbolic_shape(n.meta.get("val")))
    source = "" if origin is bad else f" (the size comes from {_describe_target(origin)}, node {origin.name})"
    raise DataDependentShapeError(
        f"cannot count {type(graph.model).__name__}: the output shape of {_describe_target(bad)} (node {bad.name}, "
        f"fed by parameters {_module_path_hint(bad, ctx)}) depends on the values of the data{source}, so the graph "
        "has no fixed set of nodes to count paths on. Ops whose output size depends on the data (boolean-mask "
        "indexing x[mask], masked_select, nonzero, unique) cannot be counted; rewrite them with a fixed shape: "
        "torch.where(mask, x, 0) or x * mask keeps every element and zeroes the others (then reduce, e.g. .sum(), "
        "as before)"
    )


def _refuse_batches(graph: CapturedGraph, batch: int) -> None:
    """Policy: the counts are per example, so a batch of several is refused."""
    if graph.example_input.dim() > 0 and batch > 1:
        shape = tuple(graph.example_input.shape)
        raise ValueError(
            f"example_input is a batch of {batch} examples (shape {shape}); the counts are per example: a batch "
            f"would sum them over its {batch} examples while NI and NO count one, changing ES, H, PG and P'G. "
            "Pass a batch of 1, e.g. x[:1]"
        )


def _warn_value_dependent_counts(graph: CapturedGraph) -> None:
    """Policy: counts that read the *values* of the example input (an index or mask
    computed from it, such as ``nn.Embedding``'s token ids) are computed for this
    input and flagged with a :class:`DataDependentCountWarning`."""
    if not graph.read_nodes:
        return
    from_input = {graph.input_node}
    for n in graph.gm.graph.nodes:
        if n.op != "call_function":
            continue
        operands = n.all_input_nodes
        if _base(n.target) in _SHAPE_ONLY_PACKETS:  # x.new_zeros(...), zeros_like(x), x.fill_(0): only x's shape
            operands = [a for a in operands if not (n.args and a is n.args[0])]
        if any(a in from_input for a in operands):
            from_input.add(n)
    read = [n for n in graph.read_nodes if n in from_input]
    if not read:
        return
    ops = sorted({str(u.target) for n in read for u in n.users if u.op == "call_function" and u not in graph._values})
    warnings.warn(
        f"the counts of {type(graph.model).__name__} depend on the values of example_input, not only on its shape: "
        f"{', '.join(ops) or 'an op'} read an index or mask computed from it (e.g. nn.Embedding's token ids pick the "
        "rows that receive counts). They are exact for this input and can differ for another one: count on a "
        "representative input",
        DataDependentCountWarning,
        stacklevel=_caller_stacklevel(),
    )


#: ops whose output values depend on their first tensor operand's shape only
#: (a mask built with ``x.new_zeros`` and filled with constants, as in Swin's
#: shifted-window attention, does not depend on the input's values)
_SHAPE_ONLY_PACKETS = {
    getattr(torch.ops.aten, n)
    for n in (
        "new_zeros",
        "new_ones",
        "new_full",
        "new_empty",
        "new_empty_strided",
        "zeros_like",
        "ones_like",
        "full_like",
        "empty_like",
        "rand_like",
        "randn_like",
        "fill",
        "fill_",
        "zero",
        "zero_",
        "sym_size",
        "bernoulli",
    )
    if hasattr(torch.ops.aten, n)
}


def _caller_stacklevel() -> int:
    """``stacklevel`` of the first frame outside ``reuseprior.counting`` and its
    subpackages such as ``rules/`` (the caller's ``analyze``/``count_contexts``/
    ``run_sweep`` line) for ``warnings.warn``: a frame belongs to the package when its
    file lies under the package's directory."""
    root = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(root):
        frame, level = frame.f_back, level + 1
    return level


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


def run_sweep(
    model: nn.Module | CapturedGraph, example_input: torch.Tensor | None = None, *, discount: float = 1.0
) -> SweepResult:
    """Capture (if needed) and propagate counts from the outputs to every parameter."""
    check_discount(discount)
    check_example_input(model.example_input if isinstance(model, CapturedGraph) else example_input)
    graph = model if isinstance(model, CapturedGraph) else capture(model, example_input)
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
                    "outputs that keep it (NI and NO are counted per example)"
                )
            counts[o] = _add(counts.get(o), Scaled.ones(tuple(v.shape)))
            num_outputs += v.numel() // max(batch, 1)
    _refuse_batches(graph, batch)
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
                "operand counts (README, 'Analysing your own model'; reuseprior/counting/rules/ has the built-in ones, "
                "one module per op family)."
            )
        try:
            for a, s in rule(node, c, ctx):
                if s is None:
                    continue
                if a in param_nodes:
                    uses.append(ParamUse(param_nodes[a], node, _consumer(node), s))
                counts[a] = _add(counts.get(a), s)
        except FloatingPointError as err:  # a count beyond float64 even after renormalising
            raise ValueError(
                f"the counts overflowed float64 at {node.target} (node {node.name}) of {type(graph.model).__name__} "
                f"with discount={discount!r}: a discount this large multiplies counts past 1.8e308 within one op; "
                "use a smaller discount"
            ) from err
    param_counts: dict[str, Scaled | None] = {}
    for name, n in graph.param_nodes.items():
        param_counts[name] = counts.get(n)
    _warn_value_dependent_counts(graph)
    return SweepResult(graph, param_counts, uses, ctx.batch_norms, num_outputs)
