"""Elementwise ops: pointwise arithmetic, activations, dropout, copies and PReLU.

An operand element receives the counts of the output elements it feeds; an operand
broadcast against the others receives the sum over the broadcast positions (the
residual add, the squeeze-excitation gate).  Activations, dropout and copies act as
the identity: they add no weight and no path.
"""

from __future__ import annotations

import torch.fx as fx

from reuseprior.counting.rules.helpers import (
    RuleTable,
    aten,
    optional_ops,
    shape_of,
    single,
    sum_to_shape,
    tensor_nodes,
)

__all__ = ["TABLE", "identity", "pointwise"]

TABLE = RuleTable()


def pointwise(node, cout, ctx):
    """Elementwise ops (activations, add, mul, div, where, ...): every operand element
    receives the counts of the output elements it feeds (sum over broadcast dims).
    The rule of every op that PyTorch tags ``pointwise`` and that has no rule of its own.

    Values are not read (every operand counts as ones): a mask applied by arithmetic
    connects every element.  Adding an ``-inf`` mask to attention scores,
    ``torch.where(M, s, -inf)`` and a 0/1 factor (on the scores or on the
    probabilities) leave every query/key pair connected, so hand-written masked
    attention counts as full attention; ``torch.where``'s condition carries no count.
    The fused ``F.scaled_dot_product_attention`` reads its mask (:mod:`.attention`)."""
    cout = single(cout)
    # an operand used twice (x + x, x * x) receives the count once per occurrence
    for a in tensor_nodes((node.args, node.kwargs)):
        if not ctx.needs(a):
            continue
        shp = shape_of(a)
        if shp == tuple(cout.shape):
            yield a, cout
        else:
            yield a, cout.map(lambda m, s=shp: sum_to_shape(m, s))


def identity(node, cout, ctx):
    """The input gets the output's count unchanged."""
    cout = single(cout)
    a = node.args[0]
    if ctx.needs(a):
        yield a, cout


TABLE.rule(
    aten.clone,
    aten.alias,
    aten.detach,
    aten.contiguous,
    aten._to_copy,
    aten.lift_fresh_copy,
    aten.dropout,
    aten.native_dropout,
    aten.relu,
    aten.gelu,
    aten.silu,
    aten.hardswish,
    aten.hardsigmoid,
    aten.sigmoid,
    aten.tanh,
    aten.elu,
    aten.leaky_relu,
    aten.hardtanh,
    aten.relu6 if hasattr(aten, "relu6") else aten.relu,
    aten.mish,
    aten.softplus,
)(identity)


@TABLE.rule(*optional_ops("_prelu_kernel", "prelu"))
def _prelu(node, cout, ctx):
    """PReLU: the activation is the identity for the input, as every activation is;
    its learnable slope multiplies the input elementwise, so a slope element gets the
    counts of every output element it scales (summed over the broadcast positions,
    like the broadcast operand of a product)."""
    c0 = single(cout)
    x, w = node.args[0], node.args[1]
    if ctx.needs(x):
        yield x, c0
    if isinstance(w, fx.Node) and ctx.needs(w):
        ws = shape_of(w)

        def slope(m):
            if m.dim() >= 2 and len(ws) == 1 and m.shape[1] == ws[0]:  # per-channel slope, channel dim 1
                return m.sum(dim=[d for d in range(m.dim()) if d != 1])
            return sum_to_shape(m, ws)

        yield w, c0.map(slope)
