"""Per-ATen-op counting rules (a registry in the style of ``torch.utils.flop_counter``).

What is counted (thesis section 4.1.2, eq. 4.1 and Figure 4.1): the contexts ``C_w``
of a parameter element ``w`` are the paths in the computational graph, taken element
by element, from the node that uses ``w`` to any output node, over every use of ``w``;
``|C_w|`` is their number.  The sweep (:mod:`reuseprior.counting.sweep`) computes it
backward: every output element starts with a count of 1, and an operand element
receives the sum of the counts of every output element that structurally depends on
it; a weight element's count is the sum, over its uses, of the counts of the output
elements it feeds.  Only this backward half is computed: how many inputs lie behind
a weight does not change its count.

A rule maps the *count* of an op's output elements to counts of its tensor operands.
Equivalently, read the model with every weight set to 1: for a multilinear op
(convolution, matmul, elementwise product) the rule is the vector-Jacobian product
w.r.t. that operand with every operand replaced by ones; activations, dropout and
normalisation act as identity (batch norm adds no node and no path); mean becomes
sum and max-pooling becomes sum-pooling over every in-bounds window position (not
the argmax only); softmax couples every element along its dimension; data movement
(slicing, concatenation, indexing, padding, repeating) gives each count back to the
element it was read from, summed over the copies.  Weight generators (a kernel bank
repeated over channels, templates of a parameter store mixed by coefficients) are
ops like any other: see :mod:`reuseprior.counting.sweep` for the policy.

Discount (path-length-aware counting): passing from the output of a convolution /
``mm`` / ``addmm`` / ``bmm`` / ``baddbmm`` / attention matmul to a *feature* operand
(anything that is not a weight: a parameter reached through views and data movement
only, or a weight generated from parameters for a product of the input-dependent
computation, see :meth:`~reuseprior.counting.sweep.SweepContext.is_weight`)
multiplies the count by ``gamma``; counts delivered to weights and biases are not
discounted.  Hence a weight
whose op output reaches the model output through ``L`` further weighted ops on a path
gets ``gamma**L`` for that path.

The built-in rules, one module per op family, entered into :data:`RULES` in this
order:

* :mod:`.elementwise`: pointwise ops, identity-like activations, dropout and copies,
  PReLU;
* :mod:`.views`: views and shape ops (and :data:`VIEW_LIKE`);
* :mod:`.indexing`: data movement (slicing, indexing, concatenation, padding,
  embedding lookups), copies into a tensor, ops with constant outputs (and
  :data:`NO_COUNT_OPS`);
* :mod:`.reduction`: reductions and softmax;
* :mod:`.normalization`: batch, layer and group norm;
* :mod:`.convolution`: convolutions;
* :mod:`.matmul`: dense layers, batched matmuls, ``einsum``;
* :mod:`.pooling`: local, adaptive and global pooling, bilinear/bicubic resizing;
* :mod:`.attention`: scaled dot-product attention.

:mod:`.generic` holds the rules read off an op with autograd (data movement,
multilinear ops) and :mod:`.helpers` the rule signature and shape helpers.  An op
without a rule of its own that PyTorch tags ``pointwise`` gets the pointwise rule,
and an in-place op (``relu_``, ``add_``) the rule of its out-of-place form.

Adding a rule::

    @register(aten.my_op)
    def _my_op(node, cout, ctx):
        x = node.args[0]
        yield x, cout.map(lambda m: ...)   # count for operand x

``cout`` is a :class:`~reuseprior.counting.scaled.Scaled` (or a list of them, one per
output, for multi-output ops); ``ctx`` is the sweep's
:class:`~reuseprior.counting.rules.helpers.RuleContext` (a :class:`~reuseprior.counting.sweep.SweepContext`).
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from reuseprior.core.errors import UnsupportedOpError
from reuseprior.counting.rules import (
    attention,
    convolution,
    elementwise,
    indexing,
    matmul,
    normalization,
    pooling,
    reduction,
    views,
)
from reuseprior.counting.rules.helpers import (
    RuleFn,
    aten,
    carries_counts,
    shape_of,
    sum_to_shape,
)
from reuseprior.counting.rules.indexing import NO_COUNT_OPS
from reuseprior.counting.rules.views import VIEW_LIKE

__all__ = [
    "UnsupportedOpError",
    "register",
    "RULES",
    "lookup_rule",
    "VIEW_LIKE",
    "NO_COUNT_OPS",
    "RuleFn",
    "carries_counts",
    "shape_of",
    "sum_to_shape",
]


RULES: dict[Any, RuleFn] = {}


def register(*ops) -> Callable[[RuleFn], RuleFn]:
    """Register ``fn`` as the counting rule for the given ATen op packets/overloads
    (replacing the rule an op had)."""

    def deco(fn: RuleFn) -> RuleFn:
        for op in ops:
            RULES[op] = fn
        return fn

    return deco


def lookup_rule(target) -> RuleFn | None:
    """The rule of an op: the one registered for its overload, else for its packet,
    else the pointwise rule for an op tagged ``pointwise``, else the rule of the
    out-of-place form of an in-place op; ``None`` when there is none."""
    if target in RULES:
        return RULES[target]
    packet = getattr(target, "overloadpacket", None)
    if packet is not None and packet in RULES:
        return RULES[packet]
    tags = getattr(target, "tags", ())
    if torch.Tag.pointwise in tags:
        return elementwise.pointwise
    # in-place variant (relu_, add_, ...): same structure as the out-of-place op
    name = getattr(packet, "__name__", "")
    if name.endswith("_") and not name.endswith("__") and hasattr(aten, name[:-1]):
        return lookup_rule(getattr(aten, name[:-1]))
    return None


#: the op families, in the order their tables are registered
FAMILIES = (elementwise, views, indexing, reduction, normalization, convolution, matmul, pooling, attention)


def _register_built_in_rules() -> None:
    """Enter every family's table into :data:`RULES`, family by family."""
    for family in FAMILIES:
        for ops, fn in family.TABLE:
            register(*ops)(fn)


_register_built_in_rules()
