"""Views and shape ops (view/reshape, permute, transpose, expand, squeeze): every
count goes back to the element it was read from; an expanded operand gets the sum
over the positions it was broadcast to.  :data:`VIEW_LIKE` lists the unary ops
through which a parameter stays "a weight" for the discount (a weight reached
through views only is not discounted)."""

from __future__ import annotations

from reuseprior.counting.rules.helpers import RuleTable, aten, shape_of, sum_to_shape

__all__ = ["TABLE", "VIEW_LIKE"]

TABLE = RuleTable()


@TABLE.rule(aten.view, aten._unsafe_view, aten.reshape)
def _view(node, cout, ctx):
    a = node.args[0]
    if ctx.needs(a):
        shp = shape_of(a)
        yield a, cout.map_raw(lambda m: m.reshape(shp))


@TABLE.rule(aten.permute)
def _permute(node, cout, ctx):
    a = node.args[0]
    if ctx.needs(a):
        dims = [d % len(node.args[1]) for d in node.args[1]]
        inv = [0] * len(dims)
        for i, d in enumerate(dims):
            inv[d] = i
        yield a, cout.map_raw(lambda m: m.permute(inv))


@TABLE.rule(aten.t)
def _t(node, cout, ctx):
    a = node.args[0]
    if ctx.needs(a):
        yield a, cout.map_raw(lambda m: m.t() if m.dim() == 2 else m)


@TABLE.rule(aten.transpose)
def _transpose(node, cout, ctx):
    a = node.args[0]
    if ctx.needs(a):
        yield a, cout.map_raw(lambda m: m.transpose(node.args[1], node.args[2]))


@TABLE.rule(aten.expand)
def _expand(node, cout, ctx):
    a = node.args[0]
    if ctx.needs(a):
        yield a, cout.map(lambda m: sum_to_shape(m, shape_of(a)))


@TABLE.rule(aten.squeeze, aten.unsqueeze)
def _squeeze(node, cout, ctx):
    a = node.args[0]
    if ctx.needs(a):
        yield a, cout.map_raw(lambda m: m.reshape(shape_of(a)))


#: unary ops through which a parameter keeps being "a weight" (for the gamma hop rule)
VIEW_LIKE = {
    aten.t,
    aten.view,
    aten._unsafe_view,
    aten.reshape,
    aten.permute,
    aten.transpose,
    aten.expand,
    aten.unsqueeze,
    aten.squeeze,
    aten.clone,
    aten.contiguous,
    aten.alias,
    aten.detach,
    aten._to_copy,
    aten.lift_fresh_copy,
}
