"""Matrix products: dense layers (``mm``/``addmm``), batched and attention matmuls,
``einsum`` and the other multilinear products.

A dense layer is a 1x1 convolution on a 1x1 map: ``A[i, j]`` of ``C = A @ B`` gets
``sum_m c[i, m]`` and ``B[j, m]`` gets ``sum_i c[i, m]``.  A feature operand (anything
that is not a weight: a parameter reached through views only, or a weight generated
from parameters for a product of the input-dependent computation) is discounted by
``gamma``; a weight is not.  The bias of ``addmm`` gets the counts summed over the positions it
is broadcast to.
"""

from __future__ import annotations

from reuseprior.counting.rules.generic import generic_multilinear
from reuseprior.counting.rules.helpers import RuleTable, aten, shape_of, sum_to_shape

__all__ = ["TABLE"]

TABLE = RuleTable()


def _mm_parts(node, cout, ctx, a, b, batched):
    """The counts of the two factors of ``a @ b`` (batched or not)."""
    if ctx.needs(a):
        g = 1.0 if ctx.is_weight(a, node) else ctx.gamma
        sa = shape_of(a)
        yield a, cout.map(lambda m: m.sum(dim=-1, keepdim=True)).map_raw(lambda r: r.expand(sa)).scale(g)
    if ctx.needs(b):
        g = 1.0 if ctx.is_weight(b, node) else ctx.gamma
        sb = shape_of(b)
        yield b, cout.map(lambda m: m.sum(dim=-2, keepdim=True)).map_raw(lambda r: r.expand(sb)).scale(g)


@TABLE.rule(aten.mm, aten.bmm)
def _mm(node, cout, ctx):
    """Matrix product (dense layer = 1x1 convolution): A[i,j] gets sum_m c[i,m],
    B[j,m] gets sum_i c[i,m]; feature operands are discounted by gamma."""
    yield from _mm_parts(node, cout, ctx, node.args[0], node.args[1], node.target != aten.mm.default)


@TABLE.rule(aten.addmm, aten.baddbmm)
def _addmm(node, cout, ctx):
    """``bias + a @ b``: the bias gets the counts summed to its shape, the factors the
    matrix-product rule."""
    bias = node.args[0]
    if ctx.needs(bias):
        yield bias, cout.map(lambda m: sum_to_shape(m, shape_of(bias)))
    yield from _mm_parts(node, cout, ctx, node.args[1], node.args[2], True)


@TABLE.rule(aten.matmul, aten.linear, aten.einsum, aten.addmv, aten.mv, aten.dot)
def _other_multilinear(node, cout, ctx):
    """Other multilinear products: the generic VJP with every operand set to ones."""
    yield from generic_multilinear(node, cout, ctx)
