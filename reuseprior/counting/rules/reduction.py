"""Reductions and softmax.

A reduction counts as a sum: every reduced input element gets the full count of the
output element it was reduced into (mean becomes sum, max and min become sum, not
the argmax only; variance, norms and ``logsumexp`` likewise).  Softmax couples every
element along its dimension, so each input element gets the sum of the counts along
that dimension.
"""

from __future__ import annotations

from reuseprior.counting.rules.helpers import RuleTable, aten, optional_ops, shape_of

__all__ = ["TABLE"]

TABLE = RuleTable()


def _norm_dims(dims, ndim):
    if dims is None or (isinstance(dims, (list, tuple)) and len(dims) == 0):
        return list(range(ndim))
    if isinstance(dims, int):
        dims = [dims]
    return sorted(d % ndim for d in dims)


def _reduced_dims(node) -> tuple[object, bool]:
    """(``dim``, ``keepdim``) of a reduction node, read from the argument positions
    of its op's schema; ``(None, False)`` for a reduction over every dimension."""
    target = node.target
    name = target.overloadpacket.__name__ if hasattr(target, "overloadpacket") else str(target)
    if name == "linalg_vector_norm":
        dims, keepdim = (
            (node.args[2] if len(node.args) > 2 else node.kwargs.get("dim")),
            (node.args[3] if len(node.args) > 3 else node.kwargs.get("keepdim", False)),
        )
    elif name in ("var", "std", "var_mean"):
        dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
        keepdim = node.kwargs.get("keepdim", False)
    else:
        dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
        keepdim = node.args[2] if len(node.args) > 2 else node.kwargs.get("keepdim", False)
    if len(node.args) == 1 and not node.kwargs.get("dim"):
        dims, keepdim = None, False
    return dims, keepdim


@TABLE.rule(
    aten.sum,
    aten.mean,
    aten.amax,
    aten.amin,
    aten.max,
    aten.min,
    aten.logsumexp,
    aten.var,
    aten.std,
    aten.prod,
    aten.norm,
    aten.linalg_vector_norm,
    aten.var_mean,
)
def _reduction(node, cout, ctx):
    """Reductions: every reduced input element gets the full count (mean -> sum, max -> sum)."""
    if isinstance(cout, list):  # (values, indices) or (var, mean): float outputs all depend on x
        present = [c for c in cout if c is not None and c.mantissa.is_floating_point()]
        cout = present[0]
        for c in present[1:]:
            if tuple(c.shape) == tuple(cout.shape):
                cout = cout + c
    a = node.args[0]
    if not ctx.needs(a):
        return
    shp = shape_of(a)
    dims, keepdim = _reduced_dims(node)
    rd = _norm_dims(dims, len(shp))

    def f(m):
        if m.dim() == 0:
            return m.expand(shp)
        if not keepdim:
            for d in rd:
                m = m.unsqueeze(d)
        return m.expand(shp)

    yield a, cout.map_raw(f)


@TABLE.rule(aten._softmax, aten._log_softmax, aten.softmax, aten.log_softmax, *optional_ops("_safe_softmax"))
def _softmax(node, cout, ctx):
    """Each softmax output along ``dim`` depends on every input along ``dim``.  Values
    are not read: an input element fixed at ``-inf`` (a masked score) still couples its
    row, and its output (a probability that is 0) still passes counts on (to ``v``
    through ``P @ v``)."""
    a = node.args[0]
    if ctx.needs(a):
        d = node.args[1]
        yield a, cout.map(lambda m: m.sum(dim=d, keepdim=True).expand(m.shape))
