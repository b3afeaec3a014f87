"""Scaled dot-product attention, ``softmax(q k^T) v``, counted as the two matrix
products and the softmax it is made of (the rules of :mod:`.matmul` and
:mod:`.reduction`).  Each product is a weighted hop for the discount: ``v`` is one
hop (``P @ v``) from the output, so its count is multiplied by ``gamma``; ``q`` and
``k`` are two (``q k^T``, then ``P @ v``), so theirs by ``gamma**2``."""

from __future__ import annotations

import torch

from reuseprior.counting.rules.helpers import RuleTable, optional_ops, shape_of, single, sum_to_shape
from reuseprior.counting.scaled import Scaled

__all__ = ["TABLE"]

TABLE = RuleTable()


@TABLE.rule(
    *optional_ops(
        "_scaled_dot_product_flash_attention_for_cpu",
        "_scaled_dot_product_flash_attention",
        "_scaled_dot_product_efficient_attention",
        "_scaled_dot_product_attention_math",
        "scaled_dot_product_attention",
        "_scaled_dot_product_cudnn_attention",
    )
)
def _sdpa(node, cout, ctx):
    """softmax(q k^T) v decomposed structurally: v[j,d] gets sum_i c[i,d]; every score
    s[i,j] gets (sum_d c[i,d]) summed over the softmax row; q and k get the matmul
    rule.  A causal mask restricts the pairs (i, j) to j <= i; other masks are ignored
    (every pair is treated as connected)."""
    c0 = single(cout)
    q, k, v = node.args[0], node.args[1], node.args[2]
    name = node.target.overloadpacket.__name__
    if name in ("scaled_dot_product_attention", "_scaled_dot_product_attention_math"):
        is_causal = bool(node.args[5] if len(node.args) > 5 else node.kwargs.get("is_causal", False))
    else:
        is_causal = bool(node.args[4] if len(node.args) > 4 else node.kwargs.get("is_causal", False))
    L, S = shape_of(q)[-2], shape_of(k)[-2]
    mask = torch.ones(L, S, dtype=torch.float64)
    if is_causal:
        mask = torch.tril(mask)
    g = ctx.gamma
    # count at attention-probability matrix P[i,j] (P @ v hop): sum_d c[i,d]
    cm = c0.mantissa
    rowc = cm.sum(-1, keepdim=True)  # (..., L, 1)
    P = rowc * mask  # (..., L, S)
    if ctx.needs(v):
        # v[j, d] gets sum_i c[i, d] over the rows i attending to j
        vc = torch.matmul(mask.transpose(-1, -2), cm)  # (..., S, Dv)
        yield v, Scaled(sum_to_shape(vc, shape_of(v)), c0.exponent).normalized().scale(g)
    # softmax: scores get the row sum of P's counts, masked pairs only
    Sc = (P.sum(-1, keepdim=True) * mask) * g  # (..., L, S), discounted by the P@v hop
    if ctx.needs(q):
        qc = Sc.sum(-1, keepdim=True).expand(*Sc.shape[:-1], shape_of(q)[-1])
        yield q, Scaled(sum_to_shape(qc, shape_of(q)), c0.exponent).normalized().scale(g)
    if ctx.needs(k):
        kc = Sc.sum(-2)[..., None].expand(*Sc.shape[:-2], S, shape_of(k)[-1])
        yield k, Scaled(sum_to_shape(kc, shape_of(k)), c0.exponent).normalized().scale(g)
