"""Pooling and resizing.

Local max and average pooling count as *sum* pooling: every in-bounds position of a
window gets the window's output count (not just the argmax, and not divided by the
window size).  Adaptive and global pooling likewise: every position of a bin gets the
bin's full count (global pooling: not divided by ``H*W``).  Linear, bilinear and
bicubic resizing give an input element the counts of every output element whose
interpolation stencil gives it a non-zero weight (a stencil weight of exactly zero is
no edge); nearest-neighbour resizing is data movement (:mod:`.indexing`).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from reuseprior.core.errors import UnsupportedOpError
from reuseprior.counting.rules.convolution import tap_matrices
from reuseprior.counting.rules.helpers import RuleTable, aten, optional_ops, per_axis, shape_of, single

__all__ = ["TABLE"]

TABLE = RuleTable()


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

    return F.avg_pool2d(
        x.unsqueeze(-2),
        (1, one(kernel)),
        (1, one(stride)),
        (0, one(padding)),
        ceil_mode,
        count_include_pad,
        divisor_override,
    ).squeeze(-2)


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


@TABLE.rule(aten.max_pool2d_with_indices, aten.max_pool2d, aten.avg_pool2d)
def _pool2d(node, cout, ctx):
    """Local max/avg pooling -> sum pooling: every in-bounds window position gets c_out.
    A dilated window reads the positions ``o * stride - padding + k * dilation`` of the
    output position ``o`` (the output size, and so ``ceil_mode``'s extra windows, read
    off the output): the convolution's tap matrices, one per axis."""
    c0 = single(cout)
    x = node.args[0]
    if not ctx.needs(x):
        return
    kernel, stride, padding, dilation, ceil_mode = _pool_args(node)
    xs = shape_of(x)
    if all(d == 1 for d in per_axis(dilation)):
        yield x, c0.map(lambda m: _sum_pool_vjp(m, xs, kernel, stride, padding, ceil_mode))
        return
    k, s, p, d = per_axis(kernel), per_axis(stride), per_axis(padding), per_axis(dilation)
    Ho, Wo = c0.shape[-2:]
    _, My = tap_matrices(xs[-2], Ho, k[0], s[0], p[0], d[0])
    _, Mx = tap_matrices(xs[-1], Wo, k[1], s[1], p[1], d[1])
    yield x, c0.map(lambda m: torch.einsum("...ij,hi,wj->...hw", m, My.to(m.dtype), Mx.to(m.dtype)).reshape(xs))


def _adaptive_matrix(n_in, n_out):
    """(n_out, n_in) 0/1 matrix: 1 where adaptive-pooling bin i covers input position j."""
    A = torch.zeros(n_out, n_in, dtype=torch.float64)
    for i in range(n_out):
        start = (i * n_in) // n_out
        end = -((-(i + 1) * n_in) // n_out)
        A[i, start:end] = 1.0
    return A


@TABLE.rule(aten._adaptive_avg_pool2d, aten.adaptive_avg_pool2d, aten.adaptive_max_pool2d)
def _adaptive_pool2d(node, cout, ctx):
    """Adaptive pooling -> sum over each bin (global pooling: every position gets the
    full pooled count, not divided by H*W)."""

    def matrices(xs, Ho, Wo):
        return _adaptive_matrix(xs[-2], Ho), _adaptive_matrix(xs[-1], Wo)

    yield from _separable_2d(node, cout, ctx, matrices)


def _separable_2d(node, cout, ctx, matrices):
    """Rule of an op acting on the last two dims through one matrix per axis:
    ``matrices(input shape, Ho, Wo) -> (rows (Ho, H), cols (Wo, W))``, entry 1
    where the output row/column depends on the input row/column; the input gets
    ``rows^T c_out cols``."""
    c0 = single(cout)
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


@TABLE.rule(
    *optional_ops("upsample_bilinear2d", "upsample_bicubic2d", "_upsample_bilinear2d_aa", "_upsample_bicubic2d_aa")
)
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


def _linear_taps(op, n_in: int, n_out: int, align: bool, scale) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The two-point stencils of 1-d linear resizing from ``n_in`` to ``n_out``
    values, read off the op itself in ``O(n_in + n_out)``: ``(left, reads_left,
    reads_right)`` where output ``j`` reads inputs ``left[j]`` and ``left[j] + 1``
    with non-zero weight where the flags are set.

    Three probes go through ``op`` in float64: the indicators of the even and of
    the odd inputs (an output's two neighbours have different parities, so these
    give the weight on each neighbour exactly) and the ramp ``i`` (``left + w_right``
    when the weights sum to one), from which ``left`` is the candidate of matching
    parity that is an integer."""
    index = torch.arange(n_in, dtype=torch.float64)
    even_inputs = (index.remainder(2) == 0).to(torch.float64)
    probes = torch.stack([even_inputs, 1.0 - even_inputs, index]).reshape(1, 3, n_in)
    with torch.no_grad():
        on_even, on_odd, ramp = op(probes, [n_out], align, scale)[0]
    tolerance = 1e-6
    even_left = ramp - on_odd  # the left neighbour, if it is even
    odd_left = ramp - on_even  # the left neighbour, if it is odd
    even_ok = ((even_left - even_left.round()).abs() < tolerance) & (even_left.round().remainder(2) == 0)
    left = torch.where(even_ok, even_left.round(), odd_left.round()).to(torch.int64).clamp(0, n_in - 1)
    left_is_even = left.remainder(2) == 0
    w_left = torch.where(left_is_even, on_even, on_odd)
    w_right = torch.where(left_is_even, on_odd, on_even)
    return left, w_left != 0, (w_right != 0) & (left + 1 < n_in)


@TABLE.rule(*optional_ops("upsample_linear1d"))
def _interpolate1d(node, cout, ctx):
    """Linear resizing of the last dimension (``F.interpolate(mode="linear")``, as a
    Shapeshifter store's ``inter`` upsampler uses it): an input element gets the
    counts of every output element whose two-point stencil gives it a non-zero
    weight, as for bilinear resizing.  A stencil weight that is exactly zero (an
    output that falls on an input position) is not an edge: the output does not
    read that neighbour.  Interpolation weights are fixed by the op, not learned, so
    which edges exist depends only on the sizes (:func:`_linear_taps`, linear in
    the sizes: a store of 0.5 M values resized to 4 M weights is cheap)."""
    c0 = single(cout)
    x = node.args[0]
    if not ctx.needs(x):
        return
    args = list(node.args) + [None] * 4
    align = bool(args[2])
    if getattr(node.target, "_overloadname", "") == "vec":  # (input, output_size, align_corners, scale_factors)
        scale = args[3][0] if args[3] else None
    else:  # (input, output_size, align_corners, scales)
        scale = args[3]
    op = node.target.overloadpacket.default
    n_in, n_out = shape_of(x)[-1], c0.shape[-1]
    left, reads_left, reads_right = _linear_taps(op, n_in, n_out, align, scale)

    def spread(m):
        out = torch.zeros(*m.shape[:-1], n_in, dtype=m.dtype)
        out.index_add_(-1, left, m * reads_left)
        right = (left + 1).clamp(max=n_in - 1)
        out.index_add_(-1, right, m * reads_right)
        return out

    yield x, c0.map(spread)


@TABLE.rule(
    *optional_ops(
        "avg_pool3d", "max_pool3d", "max_pool3d_with_indices", "avg_pool1d", "max_pool1d", "max_pool1d_with_indices"
    )
)
def _pool_nd(node, cout, ctx):
    """1-D and 3-D local pooling -> sum pooling, as the 2-D rule: every in-bounds
    position of a window gets the window's output count.  Dilated 1-D/3-D pooling
    has no rule (:class:`UnsupportedOpError`)."""
    c0 = single(cout)
    x = node.args[0]
    if not ctx.needs(x):
        return
    name = node.target.overloadpacket.__name__
    nd = 3 if "3d" in name else 1
    kernel, stride, padding, dilation, ceil_mode = _pool_args(node)
    if any(d != 1 for d in ([dilation] if isinstance(dilation, int) else dilation)):
        raise UnsupportedOpError(
            f"no counting rule for dilated {name} (node {node.name}); "
            "register one with reuseprior.counting.rules.register"
        )
    xs = shape_of(x)
    pool = F.avg_pool3d if nd == 3 else _avg_pool1d_as_2d
    yield x, c0.map(lambda m: _sum_pool_vjp(m, xs, kernel, stride, padding, ceil_mode, pool))
