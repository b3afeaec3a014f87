"""Scaled dot-product attention, ``softmax(q k^T + mask) v``, counted as the two matrix
products and the softmax it is made of (the rules of :mod:`.matmul` and
:mod:`.reduction`).  Each product is a weighted hop for the discount: ``v`` is one
hop (``P @ v``) from the output, so its count is multiplied by ``gamma``; ``q`` and
``k`` are two (``q k^T``, then ``P @ v``), so theirs by ``gamma**2``.

Masks (policy): the pairs ``(i, j)`` of a query position ``i`` and a key/value
position ``j`` that take part are read off the fused op's arguments, and only they
carry counts: output row ``i`` depends on ``k[j]`` and ``v[j]`` for the pairs that
take part and on no other.

* ``is_causal=True``: the pairs ``j <= i`` (``torch.tril``, top-left aligned, as
  PyTorch masks);
* a boolean ``attn_mask``: the pairs where it is ``True``;
* a floating ``attn_mask`` (added to the scores): the pairs where its value is not
  ``-inf`` (``exp(-inf) = 0``: such a pair's key and value never reach the output,
  whatever their values).  The mask is also an operand like any other: a mask computed
  from parameters (a learned position bias) receives the scores' counts of the pairs
  that take part.

A mask's values are read at count time (on the real parameters and input), so a mask
computed from the input's values (a padding mask) gives counts for that input, with a
:class:`~reuseprior.core.errors.DataDependentCountWarning`.  A query row whose pairs
are all masked out depends on nothing (PyTorch gives it zeros).  With
``enable_gqa=True`` the query heads share the key/value heads in groups
(``repeat_interleave``), and each key/value head gets the counts of its group.

Only the fused op (``F.scaled_dot_product_attention`` and the kernels PyTorch
dispatches it to) is read so; both tracers of :mod:`reuseprior.counting.capture`
keep it fused.  A mask applied by hand to the scores of an attention written out
(``masked_fill(-inf)``, ``torch.where(M, s, -inf)``, adding an ``-inf`` mask, a 0/1
factor on the probabilities) goes through pointwise and data-movement rules, which
do not read values: see :mod:`.elementwise` and :mod:`.indexing`.
"""

from __future__ import annotations

import torch
import torch.fx as fx

from reuseprior.counting.rules.helpers import RuleTable, optional_ops, shape_of, single, sum_to_shape
from reuseprior.counting.scaled import Scaled

__all__ = ["TABLE"]

TABLE = RuleTable()


def _argument(node: fx.Node, name: str, default=None):
    """The argument ``name`` of ``node``'s call, by the op's schema (given by position
    or by keyword); ``default`` where the op has no such argument or it was not given."""
    for i, arg in enumerate(node.target._schema.arguments):
        if arg.name == name:
            if i < len(node.args) and not arg.kwarg_only:
                return node.args[i]
            return node.kwargs.get(name, default)
    return default


def _pairs(node: fx.Node, ctx, L: int, S: int) -> tuple[torch.Tensor, fx.Node | None]:
    """The 0/1 (float64) matrix, broadcastable to the scores ``(..., L, S)``, of the
    query/key pairs that take part (module docstring), and the mask operand (``None``
    where there is none)."""
    pairs = torch.ones(L, S, dtype=torch.float64)
    if _argument(node, "is_causal", False):
        pairs = torch.tril(pairs)
    mask = _argument(node, "attn_mask")
    if mask is None:
        mask = _argument(node, "attn_bias")
    if isinstance(mask, fx.Node):
        m = ctx.graph.real_value(mask)
        kept = m if m.dtype == torch.bool else m != float("-inf")
        pairs = pairs * kept.to(torch.float64)
    return pairs, mask if isinstance(mask, fx.Node) else None


def _to_kv_heads(m: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Counts over the query heads (``m``: ``(..., Hq, S, D)``) summed onto the
    ``Hkv`` key/value heads of ``shape`` that grouped-query attention repeats
    (``repeat_interleave``: query head ``h`` reads key/value head ``h // (Hq // Hkv)``)."""
    if len(shape) >= 3 and m.dim() >= 3 and m.shape[-3] != shape[-3] and shape[-3] > 1:
        m = m.unflatten(-3, (shape[-3], m.shape[-3] // shape[-3])).sum(-3)
    return sum_to_shape(m, shape)


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
    """softmax(q k^T + mask) v decomposed structurally over the pairs (i, j) that take
    part (module docstring): v[j,d] gets sum_i c[i,d]; every score s[i,j] gets
    (sum_d c[i,d]) summed over the softmax row; q and k get the matmul rule, and a
    floating mask that carries counts gets the scores' counts."""
    c0 = single(cout)
    q, k, v = node.args[0], node.args[1], node.args[2]
    L, S = shape_of(q)[-2], shape_of(k)[-2]
    pairs, mask = _pairs(node, ctx, L, S)
    g = ctx.gamma
    cm = c0.mantissa
    P = cm.sum(-1, keepdim=True) * pairs  # count at P[i,j] (the P @ v hop): sum_d c[i,d]
    if ctx.needs(v):
        vc = torch.matmul(pairs.transpose(-1, -2), cm)  # v[j, d]: sum_i c[i, d] over the rows i reading j
        yield v, Scaled(_to_kv_heads(vc, shape_of(v)), c0.exponent).normalized().scale(g)
    # softmax: each score of a pair that takes part gets the row sum of P's counts
    Sc = (P.sum(-1, keepdim=True) * pairs) * g  # (..., L, S), discounted by the P@v hop
    if mask is not None and ctx.needs(mask):
        yield mask, Scaled(sum_to_shape(Sc, shape_of(mask)), c0.exponent).normalized()
    if ctx.needs(q):
        qc = Sc.sum(-1, keepdim=True).expand(*Sc.shape[:-1], shape_of(q)[-1])
        yield q, Scaled(sum_to_shape(qc, shape_of(q)), c0.exponent).normalized().scale(g)
    if ctx.needs(k):
        kc = Sc.sum(-2)[..., None].expand(*Sc.shape[:-2], S, shape_of(k)[-1])
        yield k, Scaled(_to_kv_heads(kc, shape_of(k)), c0.exponent).normalized().scale(g)
