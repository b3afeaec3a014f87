"""Data movement (slicing, indexing, concatenation, padding, copies) and ops whose
outputs do not depend on their operands' values.

A data-movement op routes each output count back to the operand element that the
output element was read from (concatenation splits the counts back to its operands;
``nn.Embedding`` gives them to the rows its token ids pick); these ops are linear
with 0/1 coefficients, so the generic VJP rule is exact for them.  An op whose output
does not depend on an operand's values (``zeros_like``, ``x.fill_(0)``) delivers it
no count, and creation ops (:data:`NO_COUNT_OPS`) have no counting operand at all.

``x.masked_fill(M, value)`` is data movement too: the positions where ``M`` holds get
the fill value and give ``x`` no count, the others give it theirs.  What the fill
value does further on is not read: after ``scores.masked_fill(~causal, -inf)`` the
softmax still couples every position of its row, so the masked pairs' probabilities
(0 in value) pass counts to ``v`` through ``P @ v``, though not to ``q`` and ``k``;
such attention counts between causal and full.  The fused
``F.scaled_dot_product_attention`` with ``is_causal`` or an ``attn_mask`` is counted
by its pairs (:mod:`.attention`).
"""

from __future__ import annotations

import operator

import torch

from reuseprior.counting.rules.generic import generic_linear
from reuseprior.counting.rules.helpers import RuleTable, aten, optional_ops, shape_of, single, sum_to_shape
from reuseprior.counting.scaled import SliceCount

__all__ = ["DATA_MOVEMENT_OPS", "NO_COUNT_OPS", "TABLE"]

TABLE = RuleTable()

#: ops counted by the generic linear VJP (those of them that this PyTorch build has)
DATA_MOVEMENT_OPS = [
    "select",
    "narrow",
    "split",
    "split_with_sizes",
    "unsafe_split",
    "unsafe_split_with_sizes",
    "chunk",
    "unbind",
    "cat",
    "stack",
    "constant_pad_nd",
    "pad",
    "reflection_pad2d",
    "replication_pad2d",
    "roll",
    "flip",
    "index",
    "gather",
    "index_select",
    "repeat",
    "unfold",
    "pixel_shuffle",
    "pixel_unshuffle",
    "channel_shuffle",
    "upsample_nearest1d",
    "upsample_nearest2d",
    "upsample_nearest3d",
    "_upsample_nearest_exact1d",
    "_upsample_nearest_exact2d",
    "_upsample_nearest_exact3d",
    "tile",
    "_unsafe_index",
    "movedim",
    "diagonal",
    "tril",
    "triu",
    "masked_fill",
    "slice_scatter",
    "select_scatter",
    "im2col",
    "col2im",
    "flatten",
    "unflatten",
    "repeat_interleave",
]
TABLE.rule(*optional_ops(*DATA_MOVEMENT_OPS))(generic_linear)


@TABLE.rule(aten.embedding)
def _embedding(node, cout, ctx):
    """``nn.Embedding``: output row ``i`` reads weight row ``ids[i]``, so a weight row gets the
    summed counts of the output rows that read it (one use per occurrence of its id).  The
    options that shape the embedding's gradient change nothing: ``scale_grad_by_freq``
    scales gradients, not uses, and the ``padding_idx`` row, which PyTorch leaves out of
    the gradient, is still a parameter that the output reads, so it is counted where the
    ids pick it."""
    w, ids = node.args[0], node.args[1]
    if not ctx.needs(w):
        return
    rows = ctx.graph.real_value(ids).reshape(-1).to(torch.int64)
    n, d = shape_of(w)

    def gather_back(m):
        return torch.zeros(n, d, dtype=m.dtype).index_add_(0, rows, m.reshape(-1, d))

    yield w, single(cout).map(gather_back)


@TABLE.rule(aten.slice)
def _slice(node, cout, ctx):
    """``x[start:stop:step]`` along one dimension: the slice's counts go back to the
    elements it read, as a :class:`~reuseprior.counting.scaled.SliceCount` (zero
    elsewhere; made dense by the sweep unless a parameter collects it)."""
    a = node.args[0]
    if not ctx.needs(a):
        return
    shape = shape_of(a)
    args = list(node.args[1:]) + [0, None, None, 1][len(node.args) - 1 :]
    dim, start, stop, step = args[:4]
    dim %= len(shape)
    start, stop, step = slice(start, stop, step).indices(shape[dim])
    yield a, SliceCount(single(cout), shape, dim, start, stop, step)


@TABLE.rule(operator.getitem)
def _getitem(node, cout, ctx):
    # handled specially by the sweep (routes into the parent's output list)
    return ()


@TABLE.rule(aten.copy)
def _copy(node, cout, ctx):
    """``dst.copy_(src)`` (functional form ``copy(dst, src)``): the result holds src's
    values broadcast to dst's shape; dst's old values are gone."""
    src = node.args[1]
    if ctx.needs(src):
        yield src, single(cout).map(lambda m: sum_to_shape(m, shape_of(src)))


_CONSTANT_OPS = [
    "fill",
    "zero",
    "zeros_like",
    "ones_like",
    "full_like",
    "empty_like",
    "new_zeros",
    "new_ones",
    "new_full",
    "new_empty",
    "rand_like",
    "randn_like",
    "bernoulli",
]


@TABLE.rule(*optional_ops(*_CONSTANT_OPS))
def _constant(node, cout, ctx):
    """Outputs whose values do not depend on the operand (``x.zero_()``, ``zeros_like``):
    no structural dependence, no count."""
    return ()


@TABLE.rule(aten.as_strided, aten.as_strided_)
def _as_strided(node, cout, ctx):
    """``as_strided`` that only re-strides (same shape, e.g. a memory-format change) is
    the identity; otherwise the generic VJP applies."""
    a = node.args[0]
    if tuple(node.args[1]) == shape_of(a) and len(node.args) < 4:
        if ctx.needs(a):
            yield a, single(cout)
    else:
        yield from generic_linear(node, cout, ctx)


#: ops whose outputs carry no counts (creation / integer / shape ops): the sweep
#: passes them without a rule
NO_COUNT_OPS = {
    aten.empty,
    aten.zeros,
    aten.ones,
    aten.full,
    aten.arange,
    aten.empty_like,
    aten.scalar_tensor,
    aten.randn,
    aten.rand,
    aten.empty_strided,
    aten.new_empty,
    aten.new_full,
    aten.new_ones,
    aten.sym_size,
    aten.linspace,
}
