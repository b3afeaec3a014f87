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

Generated weights (weight generators, parameter-only sub-graphs).  A model is
counted as built: a convolution or dense layer whose weight is computed from stored
parameters on every forward (a channel-wise kernel bank repeated to ``C`` channels,
a Shapeshifter store's templates mixed by coefficients or upsampled) has its
generator's ops in the graph like any other op, and counts flow back through them
by the same rules.  The policy, in terms of the element-level graph with every
weight set to 1 (each op's structural edges, whatever the learned values):

* a context count of a generated weight element flows to every stored element it
  is computed from, once per path: a stored element copied ``r`` times (``repeat``,
  ``tile``, ``repeat_interleave``, ``expand``, slicing, indexing) gets the sum of the
  counts of its copies (a channel-wise kernel: the sum over the ``s`` channels that
  use it; an upsampled store: the sum over its copies);
* soft mixing ``w = sum_t alpha_t T_t`` (``mul`` + ``sum``, or a matrix product): a
  template element gets the count of every weight element it is mixed into (each
  mixture is an edge, whatever ``alpha_t``'s value); a coefficient ``alpha_t`` gets
  the sum of the counts of every weight element it scales; Emb's
  ``softmax(E(alpha))`` passes them on through the softmax (every output reads every
  input) and the linear layer ``E``, as Swin-V2's position-bias MLP does;
* a learned mask over windows of the store (``view`` + ``mul``): a mask element gets
  the counts of the weights it multiplies, and so does the stored element beneath;
* linear interpolation gives an output's full count to both neighbours it reads; a
  neighbour whose interpolation weight is exactly zero is not read (no edge), as
  for bilinear and bicubic resizing.  Interpolation weights are fixed by the op;
  learned values never remove an edge.

For the model-level quantities (:func:`~reuseprior.counting.quantities.analyze`) a
*generated weight* is an operand of a convolution or matrix product of the
input-dependent computation (:data:`WEIGHTED_OPS`), other than its bias, that is
computed from parameters only and is not a parameter up to shape-only views
(:meth:`SweepContext.is_generated`);
its count at each use is recorded as a :class:`GeneratedUse`.  A parameter edge whose
op feeds the input-dependent computation only through generated weights is *inside
a generator* (:attr:`ParamUse.internal`).  ``NG`` counts parameters (stored
elements, coefficients, embeddings, masks) merged over all their uses; ``WG``, the
weight nodes before merging (eq. 4.7), counts each generated weight element once per
use and no edge inside a generator, so ``WG`` of a shared model equals that of its
materialized copy, as a scope-tied convolution counts once per site.  A parameter-only
sub-graph that also feeds anything else (Swin-V2's position bias, added to the
attention logits, and its query-key-value bias with the key part zeroed, a layer's
bias) keeps the accounting of plain parameters: each parameter edge is a weight
node.  With a ``discount``, a generated weight is a weight (its layer's hop
is not charged); inside a generator, as everywhere, a hop is charged where a
*computed* operand (not a parameter up to views and data movement,
:data:`PARAMETER_MOVES`) enters a convolution or matrix product.

A store read by many slices (one per template of every layer) gathers its counts
slice by slice (:class:`~reuseprior.counting.scaled.SliceSum`), not one store-sized
tensor per slice.
"""

from __future__ import annotations

import math
import numbers
import operator
import os
import sys
import warnings
from dataclasses import dataclass, field

import torch
import torch.fx as fx
from torch import nn

from reuseprior.core.errors import DataDependentCountWarning
from reuseprior.counting.capture import CapturedGraph, DataDependentShapeError, capture
from reuseprior.counting.messages import feeding_parameters, reparametrised_hint
from reuseprior.counting.rules import NO_COUNT_OPS, VIEW_LIKE, UnsupportedOpError, carries_counts, lookup_rule
from reuseprior.counting.scaled import Scaled, SliceCount, SliceSum
from reuseprior.counting.sequence_first import batch_first_fix

__all__ = [
    "SweepContext",
    "SweepResult",
    "ParamUse",
    "GeneratedUse",
    "BatchNormUse",
    "WEIGHTED_OPS",
    "PARAMETER_MOVES",
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
    """The count one parameter received along one edge of the graph.

    ``internal`` marks an edge inside a weight generator (the edge's op computes
    from parameters only and its result reaches the input-dependent computation
    only as generated weights): such a use is not a weight node of its own, and its
    count is not kept (``None``; the parameter's total in
    :attr:`SweepResult.param_counts` holds it)."""

    param_name: str
    user: fx.Node  # the node consuming the placeholder directly
    consumer: fx.Node  # first non-view node downstream (conv, addmm, batch_norm, ...)
    count: Scaled | None
    internal: bool = False


@dataclass
class GeneratedUse:
    """The count one generated weight received at one use: ``weight`` is the
    generator's output node (the operand of ``consumer``, a convolution or matrix
    product, up to shape-only views), ``count`` has its shape."""

    weight: fx.Node
    consumer: fx.Node
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
    generated_uses: list[GeneratedUse] = field(default_factory=list)


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
        for n in graph.graph.nodes:
            if n.op == "placeholder":
                if n in self.param_of_node:
                    needs.add(n)
            elif n.op == "call_function":
                if _is_float_val(n.meta.get("val")) and any(a in needs for a in n.all_input_nodes):
                    needs.add(n)
        self._needs = needs
        self._weight_cache: dict[fx.Node, bool] = {}
        _refuse_data_dependent_shapes(graph, needs, self)
        self.input_dependent = _input_dependent_nodes(graph)
        _refuse_selections_by_input_values(graph, self.input_dependent)
        #: (consumer, operand) pairs where a convolution or matrix product of the
        #: input-dependent computation takes a weight generated from parameters
        self.generated_operands: set[tuple[fx.Node, fx.Node]] = set()
        for n in graph.graph.nodes:
            if n.op == "call_function" and n in self.input_dependent and _base(n.target) in WEIGHTED_OPS:
                for a in _weight_operands(n):
                    if self.is_generated(a):
                        self.generated_operands.add((n, a))
        self._internal = self._generator_internal_nodes()

    def is_parameter_only(self, node) -> bool:
        """True for a node computed from parameters (and buffers or constants) but not
        from the example input: a parameter, or a node of a parameter-only sub-graph
        such as a weight generator or Swin-V2's position-bias MLP."""
        return isinstance(node, fx.Node) and node in self._needs and node not in self.input_dependent

    def generator_output(self, node: fx.Node) -> fx.Node:
        """``node`` with shape-only views (``VIEW_LIKE`` ops that keep the element
        count: view, transpose, permute, ...) peeled off."""
        while (
            node.op == "call_function"
            and _base(node.target) in VIEW_LIKE
            and isinstance(node.args[0], fx.Node)
            and _numel(node) == _numel(node.args[0])
        ):
            node = node.args[0]
        return node

    def is_generated(self, node) -> bool:
        """True for a parameter-only tensor that is not a parameter up to shape-only
        views: the output of a weight generator (slices, repeats, mixtures of a
        parameter store, an expanded kernel bank)."""
        return self.is_parameter_only(node) and self.generator_output(node).op != "placeholder"

    def is_internal_use(self, user: fx.Node) -> bool:
        """True when a parameter edge into ``user`` lies inside a weight generator:
        ``user`` computes from parameters only and its result reaches the
        input-dependent computation only as generated weights of convolutions and
        matrix products."""
        return user in self._internal

    def _generator_internal_nodes(self) -> set[fx.Node]:
        """The parameter-only nodes every one of whose consumers is either a
        convolution / matrix product of the input-dependent computation taking the
        node as a generated weight, or another such node (reverse topological
        order). A parameter-only node that also feeds anything else (Swin-V2's
        position bias is added to the attention logits) is not internal: the
        parameter edges into it stay weight nodes, as for any parameter use."""
        internal: set[fx.Node] = set()
        for n in reversed(list(self.graph.graph.nodes)):
            if n.op != "call_function" or not self.is_parameter_only(n):
                continue
            ok = True
            for v in n.users:
                if v.op == "output":
                    ok = False
                elif v in self.input_dependent:
                    ok = (v, n) in self.generated_operands
                elif v in self._needs:
                    ok = v in internal
                if not ok:
                    break
            if ok:
                internal.add(n)
        return internal

    def needs(self, node) -> bool:
        return isinstance(node, fx.Node) and node in self._needs

    def param_root(self, node: fx.Node) -> str | None:
        """Parameter name if every element of ``node`` is an element of one parameter:
        the parameter reached through views and data movement only (slicing,
        splitting, indexing by indices that do not depend on the input, repeating:
        :data:`PARAMETER_MOVES`)."""
        while isinstance(node, fx.Node):
            if node.op == "placeholder":
                return self.param_of_node.get(node)
            if node.op == "call_function" and _base(node.target) in PARAMETER_MOVES:
                source = node.args[0]
                if any(a is not source and a in self.input_dependent for a in node.all_input_nodes):
                    return None  # indices read off the input: an embedding lookup, not a weight
                node = source
                continue
            return None
        return None

    def is_weight(self, node, consumer: fx.Node | None = None) -> bool:
        """True for an operand that is a weight rather than a feature (for the
        discount): a parameter reached through views and data movement only
        (:meth:`param_root`), or, given the
        ``consumer``, a generated weight of a convolution / matrix product of the
        input-dependent computation (:meth:`is_generated`)."""
        if consumer is not None and (consumer, node) in self.generated_operands:
            return True
        if node not in self._weight_cache:
            self._weight_cache[node] = self.param_root(node) is not None
        return self._weight_cache[node]

    def record_batch_norm(self, node: fx.Node, chan: Scaled) -> None:
        """Record a batch norm's channel counts, with the parameters that are its weight and bias: each a
        whole parameter up to data movement (instance norm runs as batch norm on its affine parameters
        repeated once per example), not a part of a larger one."""
        w, b = (list(node.args[1:3]) + [None, None])[:2]
        whole = {n: self.param_root(n) for n in (w, b) if isinstance(n, fx.Node)}
        whole = {n: p for n, p in whole.items() if p and _numel(n) == _numel(self.graph.param_nodes[p])}
        self.batch_norms.append(BatchNormUse(node, chan, whole.get(w), whole.get(b)))


#: the ops that multiply weights into features (a dense layer is a 1x1 convolution):
#: an operand of one of them computed from parameters only is the layer's weight
WEIGHTED_OPS = {
    getattr(torch.ops.aten, n)
    for n in (
        "convolution",
        "_convolution",
        "conv1d",
        "conv2d",
        "conv3d",
        "conv_transpose1d",
        "conv_transpose2d",
        "conv_transpose3d",
        "mm",
        "addmm",
        "bmm",
        "baddbmm",
        "matmul",
        "linear",
        "einsum",
        "mv",
        "addmv",
        "dot",
    )
    if hasattr(torch.ops.aten, n)
}


#: unary ops whose output elements are elements of their first operand (views and
#: data movement; ``getitem`` takes one output of a split): a parameter moved by
#: them is still a weight for the discount (:meth:`SweepContext.param_root`)
PARAMETER_MOVES = (
    set(VIEW_LIKE)
    | {operator.getitem}
    | {
        getattr(torch.ops.aten, n)
        for n in (
            "slice",
            "select",
            "narrow",
            "split",
            "split_with_sizes",
            "chunk",
            "unbind",
            "index_select",
            "index",
            "_unsafe_index",
            "gather",
            "repeat",
            "repeat_interleave",
            "flip",
            "roll",
            "movedim",
            "flatten",
            "unflatten",
            "diagonal",
            "unfold",
        )
        if hasattr(torch.ops.aten, n)
    }
)


#: the positions of the bias operand of the weighted ops that take one
_BIAS_POSITION = {
    getattr(torch.ops.aten, n): position
    for n, position in (
        ("convolution", 2),
        ("_convolution", 2),
        ("conv1d", 2),
        ("conv2d", 2),
        ("conv3d", 2),
        ("conv_transpose1d", 2),
        ("conv_transpose2d", 2),
        ("conv_transpose3d", 2),
        ("linear", 2),
        ("addmm", 0),
        ("baddbmm", 0),
        ("addmv", 0),
    )
    if hasattr(torch.ops.aten, n)
}


def _weight_operands(node: fx.Node) -> list[fx.Node]:
    """The tensor operands of a weighted op other than its bias (a bias is added,
    not multiplied: a bias computed from parameters, such as Swin-V2's query-key-value
    bias with its key part zeroed, keeps the accounting of its parameters)."""
    bias = _BIAS_POSITION.get(_base(node.target))
    operands = [a for i, a in enumerate(node.args) if isinstance(a, fx.Node) and i != bias]
    return operands + [a for k, a in node.kwargs.items() if isinstance(a, fx.Node) and k != "bias"]


def _numel(node: fx.Node) -> int | None:
    v = node.meta.get("val")
    return v.numel() if isinstance(v, torch.Tensor) else None


def _input_dependent_nodes(graph: CapturedGraph) -> set[fx.Node]:
    """The nodes whose values depend on the example input (its placeholder among
    their ancestors; an op that reads only its first operand's shape, such as
    ``zeros_like``, does not pass the dependence on)."""
    dependent = {graph.input_node}
    for n in graph.graph.nodes:
        if n.op != "call_function":
            continue
        operands = n.all_input_nodes
        if _base(n.target) in _SHAPE_ONLY_PACKETS:
            operands = [a for a in operands if not (n.args and a is n.args[0])]
        if any(a in dependent for a in operands):
            dependent.add(n)
    return dependent


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
        (n for n in graph.graph.nodes if (n in needs or n in outputs) and _has_symbolic_shape(n.meta.get("val"))),
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
    origin = next(n for n in graph.graph.nodes if n in ancestors and _has_symbolic_shape(n.meta.get("val")))
    source = "" if origin is bad else f" (the size comes from {_describe_target(origin)}, node {origin.name})"
    raise DataDependentShapeError(
        f"cannot count {type(graph.model).__name__}: the output shape of {_describe_target(bad)} (node {bad.name}, "
        f"fed by parameters {feeding_parameters(bad, ctx.param_of_node)}) depends on the values of the "
        f"data{source}, so the graph "
        "has no fixed set of nodes to count paths on. Ops whose output size depends on the data (boolean-mask "
        "indexing x[mask], masked_select, nonzero, unique) cannot be counted; rewrite them with a fixed shape: "
        "torch.where(mask, x, 0) or x * mask keeps every element and zeroes the others (then reduce, e.g. .sum(), "
        "as before)"
    )


#: ops whose output size is set by the values of an operand -> the position of that operand
_SIZE_FROM_VALUES = {
    getattr(torch.ops.aten, name): at
    for name, at in (("nonzero", 0), ("argwhere", 0), ("masked_select", 1), ("_unique2", 0), ("unique_dim", 0))
    if hasattr(torch.ops.aten, name)
}


def _selects_by_values(node: fx.Node, dependent: set[fx.Node]) -> bool:
    """Whether ``node`` selects elements (or finds indices) by values that depend on the example input:
    boolean-mask indexing with such a mask, or one of :data:`_SIZE_FROM_VALUES` of such an operand."""
    base = _base(node.target)
    if base is torch.ops.aten.index and len(node.args) > 1:
        masks = [a for a in node.args[1] if isinstance(a, fx.Node) and a in dependent]
        return any(getattr(a.meta.get("val"), "dtype", None) in (torch.bool, torch.uint8) for a in masks)
    at = _SIZE_FROM_VALUES.get(base)
    return at is not None and len(node.args) > at and node.args[at] in dependent


def _refuse_selections_by_input_values(graph: CapturedGraph, dependent: set[fx.Node]) -> None:
    """Policy: an op on the way to the outputs that selects elements by a mask computed from the example
    input's values (``x[x > 0]``, ``masked_select``, ``nonzero``, ``unique``), also of the input itself
    before any layer, has a size set by that input: tracing fixed it for this example, but the graph of
    another input differs, so it is refused with :class:`DataDependentShapeError` like a data-dependent shape."""
    on_the_way, stack = set(), list(graph.output_nodes)
    while stack:
        n = stack.pop()
        if n not in on_the_way:
            on_the_way.add(n)
            stack.extend(n.all_input_nodes)
    bad = next((n for n in graph.graph.nodes if n in on_the_way and _selects_by_values(n, dependent)), None)
    if bad is not None:
        raise DataDependentShapeError(
            f"cannot count {type(graph.model).__name__}: {bad.target} (node {bad.name}) selects elements by a mask "
            "computed from the values of the input, so the output shape, and the graph to count paths on, depends "
            "on the values of the data (here fixed by this example only). Ops whose output size depends on the data "
            "(boolean-mask indexing x[mask], masked_select, nonzero, unique) cannot be counted; rewrite them with "
            "a fixed shape: torch.where(mask, x, 0) or x * mask keeps every element and zeroes the others"
        )


def _refuse_batches(graph: CapturedGraph, batch: int) -> None:
    """Policy: the counts are per example, so an input whose leading dimension (kept by the outputs) is
    above 1 is refused. The message gives the fix for each way to get there: ``x[:1]`` of a batch,
    ``x.unsqueeze(0)`` of one example without a batch dimension (which torch's layers also take), and
    ``batch_first=True`` for a sequence-first module given a 3-D input, whose dimension 0 is the sequence."""
    x = graph.example_input
    if x.dim() == 0 or batch <= 1:
        return
    shape = tuple(x.shape)
    fixes = [
        f"x[:1] if it is a batch of {batch} examples",
        f"x.unsqueeze(0) (shape {(1, *shape)}) if it is one example without a batch dimension",
    ]
    seq_first = batch_first_fix(graph.model, shape)  # (sequence, batch, features): a sequence-first module's
    if seq_first:
        fixes.insert(0, seq_first)
    raise ValueError(
        f"example_input is a batch of {batch} examples (shape {shape}) to the counting, which takes the leading "
        f"dimension (kept by the outputs) for the batch; the counts are per example: a batch would sum them over "
        f"its {batch} examples while NI and NO count one, changing ES, H, PG and P'G. Pass one example with a "
        "leading batch dimension of 1: " + "; ".join(fixes)
    )


def _warn_value_dependent_counts(graph: CapturedGraph) -> None:
    """Policy: counts that read the *values* of the example input (an index or mask
    computed from it, such as ``nn.Embedding``'s token ids) are computed for this
    input and flagged with a :class:`DataDependentCountWarning`."""
    if not graph.read_nodes:
        return
    from_input = {graph.input_node}
    for n in graph.graph.nodes:
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


def _seed_outputs(graph: CapturedGraph, counts: dict[fx.Node, object]) -> int:
    """Count 1 on every element of every floating-point output; returns NO per example."""
    batch = int(graph.example_input.shape[0]) if graph.example_input.dim() > 0 else 1
    num_outputs = 0
    for o in graph.output_nodes:
        v = o.meta.get("val")
        if isinstance(v, torch.Tensor) and v.is_floating_point():
            if graph.example_input.dim() > 0 and (v.dim() == 0 or v.shape[0] != batch):
                raise ValueError(
                    f"output {o.name} of {type(graph.model).__name__} has shape {tuple(v.shape)}, whose first "
                    f"dimension is not the batch size {batch} of the example input {tuple(graph.example_input.shape)}: "
                    "the model must return outputs that keep the input's batch dimension (NI and NO are counted "
                    "per example, so a forward that reduces it away cannot be counted), and the example "
                    "input must have one, of size 1 (x.unsqueeze(0) for one example without it)"
                )
            counts[o] = _add(counts.get(o), Scaled.ones(tuple(v.shape)))
            num_outputs += v.numel() // max(batch, 1)
    _refuse_batches(graph, batch)
    return num_outputs


@dataclass
class _Propagation:
    """The counts on their way from the outputs to the parameters, and the parameter uses met."""

    graph: CapturedGraph
    ctx: SweepContext
    discount: float
    counts: dict[fx.Node, object] = field(default_factory=dict)
    uses: list[ParamUse] = field(default_factory=list)
    generated: list[GeneratedUse] = field(default_factory=list)
    pieces: dict[fx.Node, SliceSum] = field(default_factory=dict)  # parameters read by slices inside generators

    def step(self, node: fx.Node) -> None:
        """Deliver the count of ``node``'s output to its operands."""
        c = self.counts.pop(node, None)
        if c is None:
            return
        if node.target is operator.getitem:
            parent, idx = node.args
            if self.ctx.needs(parent):
                lst = self.counts.get(parent)
                if lst is None:
                    lst = [None] * len(parent.meta.get("val"))
                    self.counts[parent] = lst
                lst[idx] = _add(lst[idx], c)
            return
        rule = lookup_rule(node.target)
        if rule is None:
            if _base(node.target) in NO_COUNT_OPS:
                return
            feeding = feeding_parameters(node, self.ctx.param_of_node)
            raise UnsupportedOpError(
                f"no counting rule for ATen op {node.target} (node {node.name}, fed by parameters "
                f"{feeding}) in {type(self.graph.model).__name__}. {reparametrised_hint(feeding)}Register one "
                "from your code with @reuseprior.counting.register(torch.ops.aten.<op>), mapping the output count "
                "to operand counts (README, 'Analysing your own model'; reuseprior/counting/rules/ has the built-in "
                "ones, one module per op family)."
            )
        try:
            for a, s in rule(node, c, self.ctx):
                if s is not None:
                    self.deliver(node, a, s)
        except FloatingPointError as err:  # a count beyond float64 even after renormalising
            raise ValueError(
                f"the counts overflowed float64 at {node.target} (node {node.name}) of "
                f"{type(self.graph.model).__name__} with discount={self.discount!r}: a discount this large "
                "multiplies counts past 1.8e308 within one op; use a smaller discount"
            ) from err

    def deliver(self, node: fx.Node, a: fx.Node, s: object) -> None:
        """Add the count ``s`` that ``node`` delivers to its operand ``a`` (and record a parameter's use)."""
        ctx, param_nodes = self.ctx, self.ctx.param_of_node
        if isinstance(s, SliceCount):
            if a in param_nodes and ctx.is_internal_use(node):  # gathered piece by piece at the end
                self.uses.append(ParamUse(param_nodes[a], node, _consumer(node), None, True))
                if a not in self.pieces:
                    self.pieces[a] = SliceSum(s.shape)
                self.pieces[a].add(s)
                return
            s = s.dense()
        if a in param_nodes:
            internal = ctx.is_internal_use(node)
            self.uses.append(ParamUse(param_nodes[a], node, _consumer(node), None if internal else s, internal))
        if (node, a) in ctx.generated_operands:
            self.generated.append(_generated_use(ctx, node, a, s))
        self.counts[a] = _add(self.counts.get(a), s)


def run_sweep(
    model: nn.Module | CapturedGraph, example_input: torch.Tensor | None = None, *, discount: float = 1.0
) -> SweepResult:
    """Capture (if needed) and propagate counts from the outputs to every parameter."""
    check_discount(discount)
    check_example_input(model.example_input if isinstance(model, CapturedGraph) else example_input)
    graph = model if isinstance(model, CapturedGraph) else capture(model, example_input)
    ctx = SweepContext(graph, discount)
    flow = _Propagation(graph, ctx, discount)
    num_outputs = _seed_outputs(graph, flow.counts)
    for node in reversed(list(graph.graph.nodes)):
        if node.op == "call_function":
            flow.step(node)
    param_counts: dict[str, Scaled | None] = {}
    for name, n in graph.param_nodes.items():
        param_counts[name] = flow.pieces[n].result(flow.counts.get(n)) if n in flow.pieces else flow.counts.get(n)
    _warn_value_dependent_counts(graph)
    return SweepResult(graph, param_counts, flow.uses, ctx.batch_norms, num_outputs, flow.generated)


def _generated_use(ctx: SweepContext, consumer: fx.Node, operand: fx.Node, count: Scaled) -> GeneratedUse:
    """The count ``operand`` received from ``consumer``, carried back through the
    shape-only views between it and the generator's output (their own rules)."""
    weight = ctx.generator_output(operand)
    node = operand
    while node is not weight:
        parent = node.args[0]
        count = next(s for a, s in lookup_rule(node.target)(node, count, ctx) if a is parent)
        node = parent
    return GeneratedUse(weight, consumer, count)
