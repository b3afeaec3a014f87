"""Per-ATen-op counting rules (a registry in the style of ``torch.utils.flop_counter``).

A rule maps the *count* of an op's output elements to counts of its tensor operands.
The guiding principle (context-counting spec, section 1; thesis section 4.1.2, eq. 4.1):
an operand element receives the sum of the counts of every output element that
structurally depends on it.  For a multilinear op (convolution, matmul, elementwise
product) this is the vector-Jacobian product w.r.t. that operand with every operand
replaced by ones; activations, dropout and normalisation act as identity; mean becomes
sum and max-pooling becomes sum-pooling over every in-bounds window position; softmax
couples every element along its dimension.

Discount (path-length-aware counting): passing from the output of a convolution /
``mm`` / ``addmm`` / ``bmm`` / ``baddbmm`` / attention matmul to a *feature* operand
(anything that is not a parameter reached through views only) multiplies the count by
``gamma``; counts delivered to weights and biases are not discounted.  Hence a weight
whose op output reaches the model output through ``L`` further weighted ops on a path
gets ``gamma**L`` for that path.

Adding a rule::

    @register(aten.my_op)
    def _my_op(node, cout, ctx):
        x = node.args[0]
        yield x, cout.map(lambda m: ...)   # count for operand x

``cout`` is a :class:`~reuseprior.counting.scaled.Scaled` (or a list of them, one per
output, for multi-output ops); ``ctx`` is the :class:`~reuseprior.counting.sweep.SweepContext`.
"""

from __future__ import annotations

import operator
from typing import Any, Callable, Iterable

import torch
import torch.fx as fx
import torch.nn.functional as F

from reuseprior.core.errors import UnsupportedOpError
from reuseprior.counting.scaled import Scaled, ldexp_tensor

aten = torch.ops.aten

__all__ = ["UnsupportedOpError", "register", "RULES", "lookup_rule", "VIEW_LIKE"]


RuleFn = Callable[[fx.Node, Any, Any], Iterable[tuple[fx.Node, Scaled]]]
RULES: dict[Any, RuleFn] = {}


def register(*ops) -> Callable[[RuleFn], RuleFn]:
    """Register ``fn`` as the counting rule for the given ATen op packets/overloads."""

    def deco(fn: RuleFn) -> RuleFn:
        for op in ops:
            RULES[op] = fn
        return fn

    return deco


def lookup_rule(target) -> RuleFn | None:
    if target in RULES:
        return RULES[target]
    packet = getattr(target, "overloadpacket", None)
    if packet is not None and packet in RULES:
        return RULES[packet]
    tags = getattr(target, "tags", ())
    if torch.Tag.pointwise in tags:
        return _pointwise
    # in-place variant (relu_, add_, ...): same structure as the out-of-place op
    name = getattr(packet, "__name__", "")
    if name.endswith("_") and not name.endswith("__") and hasattr(aten, name[:-1]):
        return lookup_rule(getattr(aten, name[:-1]))
    return None


# ---------------------------------------------------------------------------- helpers
def val(node) -> Any:
    return node.meta.get("val") if isinstance(node, fx.Node) else None


def shape_of(node) -> tuple[int, ...]:
    return tuple(val(node).shape)


def sum_to_shape(m: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Reduce-sum ``m`` over the dimensions along which ``shape`` was broadcast."""
    shape = tuple(shape)
    if tuple(m.shape) == shape:
        return m
    lead = m.dim() - len(shape)
    if lead > 0:
        m = m.sum(dim=tuple(range(lead)))
    dims = tuple(i for i, s in enumerate(shape) if s == 1 and m.shape[i] != 1)
    if dims:
        m = m.sum(dim=dims, keepdim=True)
    if tuple(m.shape) != shape:
        m = m.expand(shape)  # scalar-like broadcast of a 0-d count; never hit in practice
    return m


def carries_counts(v) -> bool:
    """Floating and complex tensors carry counts: complex values computed from
    weights (FFTs) reach an op without a rule instead of being dropped silently."""
    return isinstance(v, torch.Tensor) and (v.is_floating_point() or v.is_complex())


def _tensor_nodes(args) -> list[fx.Node]:
    return [a for a in torch.utils._pytree.tree_leaves(args) if isinstance(a, fx.Node) and carries_counts(val(a))]


def _single(cout):
    if isinstance(cout, list):
        return cout[0]
    return cout


# ---------------------------------------------------------------------------- pointwise
def _pointwise(node, cout, ctx):
    """Elementwise ops (activations, add, mul, div, where, ...): every operand element
    receives the counts of the output elements it feeds (sum over broadcast dims)."""
    cout = _single(cout)
    # an operand used twice (x + x, x * x) receives the count once per occurrence
    for a in _tensor_nodes((node.args, node.kwargs)):
        if not ctx.needs(a):
            continue
        shp = shape_of(a)
        if shp == tuple(cout.shape):
            yield a, cout
        else:
            yield a, cout.map(lambda m, s=shp: sum_to_shape(m, s))


# ---------------------------------------------------------------------------- identity / views
def _identity(node, cout, ctx):
    cout = _single(cout)
    a = node.args[0]
    if ctx.needs(a):
        yield a, cout


register(
    aten.clone, aten.alias, aten.detach, aten.contiguous, aten._to_copy, aten.lift_fresh_copy,
    aten.dropout, aten.native_dropout, aten.relu, aten.gelu, aten.silu, aten.hardswish,
    aten.hardsigmoid, aten.sigmoid, aten.tanh, aten.elu, aten.leaky_relu, aten.hardtanh,
    aten.relu6 if hasattr(aten, "relu6") else aten.relu, aten.mish, aten.softplus,
)(_identity)


@register(*[op for op in (getattr(aten, "_prelu_kernel", None), getattr(aten, "prelu", None)) if op is not None])
def _prelu(node, cout, ctx):
    """PReLU: the activation is the identity for the input (spec section 1); its
    learnable slope multiplies the input elementwise, so a slope element gets the
    counts of every output element it scales (summed over the broadcast positions,
    like the broadcast operand of a product)."""
    c0 = _single(cout)
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


@register(aten.view, aten._unsafe_view, aten.reshape)
def _view(node, cout, ctx):
    a = node.args[0]
    if ctx.needs(a):
        shp = shape_of(a)
        yield a, cout.map_raw(lambda m: m.reshape(shp))


@register(aten.permute)
def _permute(node, cout, ctx):
    a = node.args[0]
    if ctx.needs(a):
        dims = [d % len(node.args[1]) for d in node.args[1]]
        inv = [0] * len(dims)
        for i, d in enumerate(dims):
            inv[d] = i
        yield a, cout.map_raw(lambda m: m.permute(inv))


@register(aten.t)
def _t(node, cout, ctx):
    a = node.args[0]
    if ctx.needs(a):
        yield a, cout.map_raw(lambda m: m.t() if m.dim() == 2 else m)


@register(aten.transpose)
def _transpose(node, cout, ctx):
    a = node.args[0]
    if ctx.needs(a):
        yield a, cout.map_raw(lambda m: m.transpose(node.args[1], node.args[2]))


@register(aten.expand)
def _expand(node, cout, ctx):
    a = node.args[0]
    if ctx.needs(a):
        yield a, cout.map(lambda m: sum_to_shape(m, shape_of(a)))


@register(aten.squeeze, aten.unsqueeze)
def _squeeze(node, cout, ctx):
    a = node.args[0]
    if ctx.needs(a):
        yield a, cout.map_raw(lambda m: m.reshape(shape_of(a)))


# ---------------------------------------------------------------------------- generic VJP helper
def _structural_call(node, ctx, operands, fill):
    """Re-run ``node``'s op on float64 stand-ins (``fill``: ``torch.zeros`` or
    ``torch.ones``) for its floating operands, leaves of autograd where they are
    in ``operands``; returns (output, {node: leaf})."""
    leaves: dict[fx.Node, torch.Tensor] = {}

    def sub(a):
        if isinstance(a, fx.Node):
            v = val(a)
            if isinstance(v, torch.Tensor) and v.is_floating_point():
                if a not in leaves:
                    leaves[a] = fill(v.shape, dtype=torch.float64, requires_grad=a in operands)
                return leaves[a]
            return ctx.graph.real_value(a)
        return a

    args = fx.node.map_aggregate(node.args, sub)
    kwargs = fx.node.map_aggregate(node.kwargs, sub)
    if "dtype" in kwargs:
        kwargs = dict(kwargs, dtype=torch.float64)
    return node.target(*args, **kwargs), leaves


# ---------------------------------------------------------------------------- generic linear VJP
def _generic_linear(node, cout, ctx):
    """Data-movement ops (slice, cat, index, pad, roll, ...): linear with 0/1
    coefficients, so the VJP with the count as cotangent is exactly the count rule."""
    operands = [a for a in _tensor_nodes((node.args, node.kwargs)) if ctx.needs(a)]
    operands = list(dict.fromkeys(operands))
    if not operands:
        return
    outs_counts = cout if isinstance(cout, list) else [cout]
    present = [c for c in outs_counts if c is not None]
    if not present:
        return
    e = max(c.exponent for c in present)
    with torch.enable_grad():
        out, leaves = _structural_call(node, ctx, operands, torch.zeros)
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


def _maybe(name):
    return getattr(aten, name, None)


_LINEAR_OPS = [
    "slice", "select", "narrow", "split", "split_with_sizes", "chunk", "unbind", "cat", "stack",
    "constant_pad_nd", "pad", "reflection_pad2d", "replication_pad2d", "roll", "flip", "index",
    "gather", "index_select", "embedding", "repeat", "unfold", "pixel_shuffle", "pixel_unshuffle",
    "channel_shuffle", "upsample_nearest2d", "_unsafe_index", "movedim",
    "diagonal", "tril", "triu", "masked_fill", "slice_scatter", "select_scatter", "im2col",
    "col2im", "flatten", "unflatten", "repeat_interleave",
]
register(*[op for op in (_maybe(n) for n in _LINEAR_OPS) if op is not None])(_generic_linear)


@register(operator.getitem)
def _getitem(node, cout, ctx):
    # handled specially by the sweep (routes into the parent's output list)
    return ()


@register(aten.copy)
def _copy(node, cout, ctx):
    """``dst.copy_(src)`` (functional form ``copy(dst, src)``): the result holds src's
    values broadcast to dst's shape; dst's old values are gone."""
    src = node.args[1]
    if ctx.needs(src):
        yield src, _single(cout).map(lambda m: sum_to_shape(m, shape_of(src)))


_CONSTANT_OPS = ["fill", "zero", "zeros_like", "ones_like", "full_like", "empty_like", "new_zeros",
                 "new_ones", "new_full", "new_empty", "rand_like", "randn_like", "bernoulli"]


@register(*[op for op in (_maybe(n) for n in _CONSTANT_OPS) if op is not None])
def _constant(node, cout, ctx):
    """Outputs whose values do not depend on the operand (``x.zero_()``, ``zeros_like``):
    no structural dependence, no count."""
    return ()


@register(aten.as_strided, aten.as_strided_)
def _as_strided(node, cout, ctx):
    """``as_strided`` that only re-strides (same shape, e.g. a memory-format fix) is the
    identity; otherwise the generic VJP applies."""
    a = node.args[0]
    if tuple(node.args[1]) == shape_of(a) and len(node.args) < 4:
        if ctx.needs(a):
            yield a, _single(cout)
    else:
        yield from _generic_linear(node, cout, ctx)


# ---------------------------------------------------------------------------- reductions
def _norm_dims(dims, ndim):
    if dims is None or (isinstance(dims, (list, tuple)) and len(dims) == 0):
        return list(range(ndim))
    if isinstance(dims, int):
        dims = [dims]
    return sorted(d % ndim for d in dims)


@register(aten.sum, aten.mean, aten.amax, aten.amin, aten.max, aten.min, aten.logsumexp,
          aten.var, aten.std, aten.prod, aten.norm, aten.linalg_vector_norm, aten.var_mean)
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
    target = node.target
    name = target.overloadpacket.__name__ if hasattr(target, "overloadpacket") else str(target)
    if name == "linalg_vector_norm":
        dims, keepdim = (node.args[2] if len(node.args) > 2 else node.kwargs.get("dim")), (
            node.args[3] if len(node.args) > 3 else node.kwargs.get("keepdim", False))
    elif name in ("var", "std", "var_mean"):
        dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
        keepdim = node.kwargs.get("keepdim", False)
    else:
        dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
        keepdim = node.args[2] if len(node.args) > 2 else node.kwargs.get("keepdim", False)
    if len(node.args) == 1 and not node.kwargs.get("dim"):
        dims, keepdim = None, False
    rd = _norm_dims(dims, len(shp))

    def f(m):
        if m.dim() == 0:
            return m.expand(shp)
        if not keepdim:
            for d in rd:
                m = m.unsqueeze(d)
        return m.expand(shp)

    yield a, cout.map_raw(f)


@register(aten._softmax, aten._log_softmax, aten.softmax, aten.log_softmax,
          *[op for op in (_maybe('_safe_softmax'),) if op is not None])
def _softmax(node, cout, ctx):
    """Each softmax output along ``dim`` depends on every input along ``dim``."""
    a = node.args[0]
    if ctx.needs(a):
        d = node.args[1]
        yield a, cout.map(lambda m: m.sum(dim=d, keepdim=True).expand(m.shape))


# ---------------------------------------------------------------------------- normalisation
def _sum_except(m, keep_dim):
    dims = [d for d in range(m.dim()) if d != keep_dim]
    return m.sum(dim=dims) if dims else m


@register(aten.native_batch_norm, aten._native_batch_norm_legit_no_training,
          aten._native_batch_norm_legit, aten._native_batch_norm_legit_functional,
          aten.batch_norm)
def _batch_norm(node, cout, ctx):
    """Batch norm: identity on the input (adds no node and no path); the affine
    parameters and the statistics get, per channel, the sum of the output counts."""
    c0 = _single(cout)
    if c0 is None:
        return
    x, w, b = node.args[0], node.args[1], node.args[2]
    chan = c0.map(lambda m: _sum_except(m, 1))
    ctx.record_batch_norm(node, chan)
    if ctx.needs(x):
        yield x, c0
    for p in (w, b):
        if isinstance(p, fx.Node) and ctx.needs(p):
            yield p, chan


@register(aten.native_layer_norm, aten.layer_norm)
def _layer_norm(node, cout, ctx):
    c0 = _single(cout)
    if c0 is None:
        return
    x, w, b = node.args[0], node.args[2], node.args[3]
    if ctx.needs(x):
        yield x, c0
    for p in (w, b):
        if isinstance(p, fx.Node) and ctx.needs(p):
            yield p, c0.map(lambda m, s=shape_of(p): sum_to_shape(m, s))


@register(aten.native_group_norm, aten.group_norm)
def _group_norm(node, cout, ctx):
    c0 = _single(cout)
    if c0 is None:
        return
    x, w, b = node.args[0], node.args[1], node.args[2]
    if ctx.needs(x):
        yield x, c0
    for p in (w, b):
        if isinstance(p, fx.Node) and ctx.needs(p):
            yield p, c0.map(lambda m: _sum_except(m, 1))


# ---------------------------------------------------------------------------- convolution
def _valid_taps(n_in, n_out, k, s, p, d, device=None):
    """V[ky, oy] = 1 if tap ky of output position oy lands inside the input."""
    oy = torch.arange(n_out, dtype=torch.int64)
    ky = torch.arange(k, dtype=torch.int64)
    pos = oy[None, :] * s + ky[:, None] * d - p
    valid = (pos >= 0) & (pos < n_in)
    return pos, valid


def _tap_matrices(n_in, n_out, k, s, p, d):
    pos, valid = _valid_taps(n_in, n_out, k, s, p, d)
    V = valid.to(torch.float64)  # (k, n_out)
    M = torch.zeros(n_in, n_out, dtype=torch.float64)  # M[py, oy] = #taps of oy hitting py
    oy = torch.arange(n_out).expand(k, n_out)
    M.index_put_((pos[valid], oy[valid]), torch.ones(int(valid.sum()), dtype=torch.float64),
                 accumulate=True)
    return V, M


@register(aten.convolution, aten.conv2d, aten.conv1d, aten.conv3d)
def _convolution(node, cout, ctx):
    """Convolution (Figure 4.1; spec section 1): W[co,ci,ky,kx] gets the sum of
    c_out[co] over output positions whose tap lands inside the input; the input gets,
    per group, the channel-summed counts spread back through a ones kernel (closed
    forms: separable tap-validity matrices instead of a full transposed convolution)."""
    x, w = node.args[0], node.args[1]
    b = node.args[2] if len(node.args) > 2 else None
    if node.target in (aten.convolution.default,):
        stride, padding, dilation, transposed, _, groups = node.args[3:9]
    else:
        stride, padding, dilation, groups = (list(node.args[3:7]) + [1, 0, 1, 1])[:4]
        transposed = False
    xs, ws = shape_of(x), shape_of(w)
    if transposed or len(xs) != 4:
        yield from _generic_multilinear(node, cout, ctx, weights=(w, b))
        return
    def _pair(v):
        return list(v) * 2 if len(v) == 1 else list(v)
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    N, Ci, H, W = xs
    Co, Cig, kh, kw = ws
    Ho, Wo = tuple(cout.shape[2:])
    Vy, My = _tap_matrices(H, Ho, kh, stride[0], padding[0], dilation[0])
    Vx, Mx = _tap_matrices(W, Wo, kw, stride[1], padding[1], dilation[1])
    if isinstance(w, fx.Node) and ctx.needs(w):
        # independent of ci: keep it as a stride-0 broadcast (see Scaled.collapsed)
        wc = cout.map(lambda m: torch.einsum("nchw,ah,bw->cab", m, Vy, Vx)[:, None])
        yield w, wc.map_raw(lambda r: r.expand(Co, Cig, kh, kw))
    if isinstance(b, fx.Node) and ctx.needs(b):
        yield b, cout.map(lambda m: m.sum(dim=(0, 2, 3)))
    if ctx.needs(x):
        g = groups
        def xf(m):
            cg = m.reshape(N, g, Co // g, Ho, Wo).sum(2)
            r = torch.einsum("nghw,ph,qw->ngpq", cg, My, Mx)
            return r[:, :, None].expand(N, g, Ci // g, H, W).reshape(N, Ci, H, W)
        yield x, cout.map(xf).scale(ctx.gamma)


def _generic_multilinear(node, cout, ctx, weights=()):
    """VJP with every floating operand replaced by ones (exact for multilinear ops)."""
    cout = _single(cout)
    operands = [a for a in dict.fromkeys(_tensor_nodes((node.args, node.kwargs))) if ctx.needs(a)]
    if not operands:
        return
    with torch.enable_grad():
        out, leaves = _structural_call(node, ctx, operands, torch.ones)
        grads = torch.autograd.grad([out], [leaves[a] for a in operands], [cout.mantissa.to(out.dtype)],
                                    allow_unused=True)
    for a, g in zip(operands, grads):
        if g is None:
            continue
        s = Scaled(g.detach().abs(), cout.exponent).normalized()
        if a not in weights and not ctx.is_weight(a):
            s = s.scale(ctx.gamma)
        yield a, s


# ---------------------------------------------------------------------------- matmuls
def _mm_parts(node, cout, ctx, a, b, batched):
    if ctx.needs(a):
        g = 1.0 if ctx.is_weight(a) else ctx.gamma
        sa = shape_of(a)
        yield a, cout.map(lambda m: m.sum(dim=-1, keepdim=True)).map_raw(lambda r: r.expand(sa)).scale(g)
    if ctx.needs(b):
        g = 1.0 if ctx.is_weight(b) else ctx.gamma
        sb = shape_of(b)
        yield b, cout.map(lambda m: m.sum(dim=-2, keepdim=True)).map_raw(lambda r: r.expand(sb)).scale(g)


@register(aten.mm, aten.bmm)
def _mm(node, cout, ctx):
    """Matrix product (dense layer = 1x1 convolution): A[i,j] gets sum_m c[i,m],
    B[j,m] gets sum_i c[i,m]; feature operands are discounted by gamma."""
    yield from _mm_parts(node, cout, ctx, node.args[0], node.args[1], node.target != aten.mm.default)


@register(aten.addmm, aten.baddbmm)
def _addmm(node, cout, ctx):
    bias = node.args[0]
    if ctx.needs(bias):
        yield bias, cout.map(lambda m: sum_to_shape(m, shape_of(bias)))
    yield from _mm_parts(node, cout, ctx, node.args[1], node.args[2], True)


@register(aten.matmul, aten.linear, aten.einsum, aten.addmv, aten.mv, aten.dot)
def _other_multilinear(node, cout, ctx):
    yield from _generic_multilinear(node, cout, ctx)


# ---------------------------------------------------------------------------- pooling
def _sum_pool_vjp(m, xshape, kernel, stride, padding, ceil_mode, pool=F.avg_pool2d):
    """Counts of a sum pooling: the vector-Jacobian product of ``pool`` (an
    ``avg_pool*d`` with divisor 1, padding counted) at ``m``, in float64."""
    z = torch.zeros(xshape, dtype=torch.float64, requires_grad=True)
    with torch.enable_grad():
        y = pool(z, kernel, stride, padding, ceil_mode, True, 1)
        (g,) = torch.autograd.grad(y, z, m.to(torch.float64))
    return g.to(m.dtype)


def _avg_pool1d_as_2d(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
    """``avg_pool1d`` with a ``divisor_override`` (which it lacks), as a 2-D pool of height 1."""
    def one(v):
        return v[0] if isinstance(v, (list, tuple)) else v

    return F.avg_pool2d(x.unsqueeze(-2), (1, one(kernel)), (1, one(stride)), (0, one(padding)),
                        ceil_mode, count_include_pad, divisor_override).squeeze(-2)


def _pool_args(node) -> tuple[Any, Any, Any, Any, bool]:
    """(kernel, stride, padding, dilation, ceil_mode) of an ``avg_pool*`` /
    ``max_pool*`` node (avg pooling has no dilation: 1)."""
    args = list(node.args) + [None] * 8
    kernel = args[1]
    stride = args[2] or kernel
    padding = args[3] if args[3] is not None else 0
    if node.target.overloadpacket.__name__.startswith("avg"):
        return kernel, stride, padding, 1, bool(args[4])
    return kernel, stride, padding, (args[4] if args[4] is not None else 1), bool(args[5])


@register(aten.max_pool2d_with_indices, aten.max_pool2d, aten.avg_pool2d)
def _pool2d(node, cout, ctx):
    """Local max/avg pooling -> sum pooling: every in-bounds window position gets c_out."""
    c0 = _single(cout)
    x = node.args[0]
    if not ctx.needs(x):
        return
    kernel, stride, padding, dilation, ceil_mode = _pool_args(node)
    dil = [dilation] * 2 if isinstance(dilation, int) else list(dilation)
    if len(dil) == 1:
        dil = dil * 2
    xs = shape_of(x)
    if dil == [1, 1]:
        yield x, c0.map(lambda m: _sum_pool_vjp(m, xs, kernel, stride, padding, ceil_mode))
    else:
        def f(m):
            N, C, H, W = xs
            k = list(kernel) * (2 // len(kernel))
            cols = m.reshape(N * C, 1, -1).expand(N * C, k[0] * k[1], m.shape[-2] * m.shape[-1])
            return F.fold(cols, (H, W), k, dilation=dil, padding=padding, stride=stride).reshape(xs)
        yield x, c0.map(f)


def _adaptive_matrix(n_in, n_out):
    A = torch.zeros(n_out, n_in, dtype=torch.float64)
    for i in range(n_out):
        start = (i * n_in) // n_out
        end = -((-(i + 1) * n_in) // n_out)
        A[i, start:end] = 1.0
    return A


@register(aten._adaptive_avg_pool2d, aten.adaptive_avg_pool2d, aten.adaptive_max_pool2d)
def _adaptive_pool2d(node, cout, ctx):
    """Adaptive pooling -> sum over each bin (global pooling: every position gets the
    full pooled count, not divided by H*W)."""
    yield from _separable_2d(node, cout, ctx, lambda xs, Ho, Wo: (_adaptive_matrix(xs[-2], Ho), _adaptive_matrix(xs[-1], Wo)))


def _separable_2d(node, cout, ctx, matrices):
    """Rule of an op acting on the last two dims through one matrix per axis:
    ``matrices(input shape, Ho, Wo) -> (rows (Ho, H), cols (Wo, W))``, entry 1
    where the output row/column depends on the input row/column; the input gets
    ``rows^T c_out cols``."""
    c0 = _single(cout)
    x = node.args[0]
    if not ctx.needs(x):
        return
    xs = shape_of(x)
    rows, cols = matrices(xs, *c0.shape[-2:])
    yield x, c0.map(lambda m: torch.einsum("...ij,ih,jw->...hw", m, rows, cols).reshape(xs))


def _interpolation_pattern(n_in: int, n_out: int, call) -> torch.Tensor:
    """0/1 matrix (n_in x n_out): 1 where output position j depends on input
    position i along one axis, read off the op applied to one-hot inputs
    (``call(x)`` interpolates a (1, n_in, n_in, 1) tensor to (1, n_in, n_out, 1))."""
    with torch.no_grad():
        eye = torch.eye(n_in, dtype=torch.float64).reshape(1, n_in, n_in, 1)
        return (call(eye)[0, :, :, 0] != 0).to(torch.float64)


@register(*[op for op in (_maybe("upsample_bilinear2d"), _maybe("upsample_bicubic2d"),
                          _maybe("_upsample_bilinear2d_aa"), _maybe("_upsample_bicubic2d_aa")) if op is not None])
def _interpolate2d(node, cout, ctx):
    """Bilinear / bicubic resizing: an input pixel gets the counts of every output
    pixel whose interpolation stencil gives it a non-zero weight (structural
    dependence). The op is separable, so the pattern is the outer product of one
    pattern per axis, each read off the same op (same ``align_corners`` and scales)."""
    args = list(node.args) + [None] * 5
    align = bool(args[2])
    if getattr(node.target, "_overloadname", "") == "vec":  # (input, output_size, align_corners, scale_factors)
        factors = args[3]
        sh, sw = (factors[0], factors[1]) if factors else (None, None)
    else:  # (input, output_size, align_corners, scales_h, scales_w)
        sh, sw = args[3], args[4]
    op = node.target.overloadpacket.default

    def along(n_in, n_out, scale):  # (n_out, n_in)
        return _interpolation_pattern(n_in, n_out, lambda e: op(e, [n_out, 1], align, scale, None)).T

    yield from _separable_2d(node, cout, ctx, lambda xs, Ho, Wo: (along(xs[-2], Ho, sh), along(xs[-1], Wo, sw)))


@register(*[op for op in (_maybe("avg_pool3d"), _maybe("max_pool3d"), _maybe("max_pool3d_with_indices"),
                          _maybe("avg_pool1d"), _maybe("max_pool1d"), _maybe("max_pool1d_with_indices")) if op is not None])
def _pool_nd(node, cout, ctx):
    """1-D and 3-D local pooling -> sum pooling, as the 2-D rule: every in-bounds
    position of a window gets the window's output count."""
    c0 = _single(cout)
    x = node.args[0]
    if not ctx.needs(x):
        return
    name = node.target.overloadpacket.__name__
    nd = 3 if "3d" in name else 1
    kernel, stride, padding, dilation, ceil_mode = _pool_args(node)
    if any(d != 1 for d in ([dilation] if isinstance(dilation, int) else dilation)):
        raise UnsupportedOpError(f"no counting rule for dilated {name} (node {node.name}); "
                                 "register one with reuseprior.counting.rules.register")
    xs = shape_of(x)
    pool = F.avg_pool3d if nd == 3 else _avg_pool1d_as_2d
    yield x, c0.map(lambda m: _sum_pool_vjp(m, xs, kernel, stride, padding, ceil_mode, pool))


# ---------------------------------------------------------------------------- attention
@register(
    *[op for op in (
        _maybe("_scaled_dot_product_flash_attention_for_cpu"),
        _maybe("_scaled_dot_product_flash_attention"),
        _maybe("_scaled_dot_product_efficient_attention"),
        _maybe("_scaled_dot_product_attention_math"),
        _maybe("scaled_dot_product_attention"),
        _maybe("_scaled_dot_product_cudnn_attention"),
    ) if op is not None]
)
def _sdpa(node, cout, ctx):
    """softmax(q k^T) v decomposed structurally: v[j,d] gets sum_i c[i,d]; every score
    s[i,j] gets (sum_d c[i,d]) summed over the softmax row; q and k get the matmul
    rule.  A causal mask restricts the pairs (i, j) to j <= i; other masks are ignored
    (every pair is treated as connected)."""
    c0 = _single(cout)
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


# ops whose outputs carry no counts (creation / integer / shape ops)
NO_COUNT_OPS = {
    aten.empty, aten.zeros, aten.ones, aten.full, aten.arange, aten.empty_like,
    aten.scalar_tensor, aten.randn, aten.rand, aten.empty_strided, aten.new_empty,
    aten.new_full, aten.new_ones, aten.sym_size, aten.linspace,
}

# unary ops through which a parameter keeps being "a weight" (for the gamma hop rule)
VIEW_LIKE = {
    aten.t, aten.view, aten._unsafe_view, aten.reshape, aten.permute, aten.transpose,
    aten.expand, aten.unsqueeze, aten.squeeze, aten.clone, aten.contiguous, aten.alias,
    aten.detach, aten._to_copy, aten.lift_fresh_copy,
}
