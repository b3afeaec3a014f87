"""Rules read off the op itself with autograd, for ops without a closed form.

An op's counts are a vector-Jacobian product with the output count as cotangent:

* a data-movement op (slice, cat, index, pad, roll, ...) is linear with 0/1
  coefficients, so its VJP at any point is exactly the count rule
  (:func:`generic_linear`, evaluated at zeros);
* a multilinear op (matmul, einsum, transposed convolution) evaluated with every
  operand replaced by ones has the count rule as its VJP
  (:func:`generic_multilinear`); feature operands are discounted by ``gamma`` as
  every weighted hop is (see :mod:`reuseprior.counting.rules`).

Both run the op in float64, with the real values of non-count operands
(integer indices) taken from :meth:`~reuseprior.counting.capture.CapturedGraph.real_value`.
"""

from __future__ import annotations

import torch
import torch.fx as fx

from reuseprior.counting.rules.helpers import single, tensor_nodes, val
from reuseprior.counting.scaled import Scaled, ldexp_tensor

__all__ = ["generic_linear", "generic_multilinear", "structural_call"]


def structural_call(node, ctx, operands, fill, stand_ins=None):
    """Re-run ``node``'s op on float64 stand-ins (``fill``: ``torch.zeros`` or
    ``torch.ones``; ``stand_ins`` gives some operands' own) for its floating operands,
    leaves of autograd where they are in ``operands``; returns (output, {node: leaf})."""
    leaves: dict[fx.Node, torch.Tensor] = {}
    stand_ins = stand_ins or {}

    def sub(a):
        if isinstance(a, fx.Node):
            v = val(a)
            if isinstance(v, torch.Tensor) and v.is_floating_point():
                if a not in leaves:
                    stand_in = stand_ins[a].to(torch.float64) if a in stand_ins else fill(v.shape, dtype=torch.float64)
                    leaves[a] = stand_in.requires_grad_(a in operands)
                return leaves[a]
            return ctx.graph.real_value(a)
        return a

    args = fx.node.map_aggregate(node.args, sub)
    kwargs = fx.node.map_aggregate(node.kwargs, sub)
    if "dtype" in kwargs:
        kwargs = dict(kwargs, dtype=torch.float64)
    return node.target(*args, **kwargs), leaves


def generic_linear(node, cout, ctx):
    """Data-movement ops (slice, cat, index, pad, roll, ...): linear with 0/1
    coefficients, so the VJP with the count as cotangent is exactly the count rule.
    Multi-output ops (split, unbind) take one count per output; the counts of all
    outputs are brought to their largest exponent before the one backward pass."""
    operands = [a for a in tensor_nodes((node.args, node.kwargs)) if ctx.needs(a)]
    operands = list(dict.fromkeys(operands))
    if not operands:
        return
    outs_counts = cout if isinstance(cout, list) else [cout]
    present = [c for c in outs_counts if c is not None]
    if not present:
        return
    e = max(c.exponent for c in present)
    with torch.enable_grad():
        out, leaves = structural_call(node, ctx, operands, torch.zeros)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        gouts, touts = [], []
        for o, c in zip(outs, outs_counts):
            if c is None or not isinstance(o, torch.Tensor) or not o.requires_grad:
                continue
            touts.append(o)
            gouts.append(ldexp_tensor(c.mantissa, c.exponent - e).to(o.dtype))
        inputs = [leaves[a] for a in operands]
        grads = torch.autograd.grad(touts, inputs, gouts, allow_unused=True)
    for a, g in zip(operands, grads):
        if g is not None:
            yield a, Scaled(g.detach(), e).normalized()


def generic_multilinear(node, cout, ctx, weights=(), stand_ins=None):
    """VJP with every floating operand replaced by ones (exact for multilinear ops), or
    by its tensor in ``stand_ins`` (a padded input's border of zeros: see
    :mod:`.convolution`).  Operands in ``weights``, and weights in the sense of
    :meth:`~reuseprior.counting.sweep.SweepContext.is_weight` (parameters reached
    through views only, generated weights), get the count undiscounted; every other
    (feature) operand gets it times ``gamma``."""
    cout = single(cout)
    operands = [a for a in dict.fromkeys(tensor_nodes((node.args, node.kwargs))) if ctx.needs(a)]
    if not operands:
        return
    with torch.enable_grad():
        out, leaves = structural_call(node, ctx, operands, torch.ones, stand_ins)
        grads = torch.autograd.grad(
            [out], [leaves[a] for a in operands], [cout.mantissa.to(out.dtype)], allow_unused=True
        )
    for a, g in zip(operands, grads):
        if g is None:
            continue
        s = Scaled(g.detach().abs(), cout.exponent).normalized()
        if a not in weights and not ctx.is_weight(a, node):
            s = s.scale(ctx.gamma)
        yield a, s
