"""Convolution (thesis Figure 4.1; a dense layer is a 1x1 convolution).

A kernel element ``W[co, ci, ky, kx]`` gets the sum of the output counts
``c_out[co]`` over the output positions whose tap ``(ky, kx)`` lands inside the input:
padding taps read no input element and contribute nothing, so a tap that lands in the
padding for every output position (a 3x3 corner on a 1x1 map) has no context.  A
zero border padded explicitly just before the convolution (``nn.ZeroPad2d``, ``F.pad``
or ``nn.ConstantPad1d`` with the value 0, ``padding="same"`` with an even kernel, which
PyTorch pads so) is padding too: a convolution of any dimension, transposed or not,
counts its taps as it counts its own padding's; a border of another value is input.  An
input element gets, per group, the output counts summed over the group's output
channels and over every tap that reads it (a depthwise convolution gives each input
channel only its own channel's counts), discounted by ``gamma``.  The bias gets, per
output channel, the sum over every position.
"""

from __future__ import annotations

import functools

import torch
import torch.fx as fx
import torch.nn.functional as F

from reuseprior.counting.rules.generic import generic_multilinear
from reuseprior.counting.rules.helpers import RuleTable, aten, per_axis, shape_of

__all__ = ["TABLE", "tap_matrices"]

TABLE = RuleTable()


def _valid_taps(n_in, n_out, k, s, p, d, device=None):
    """V[ky, oy] = 1 if tap ky of output position oy lands inside the input."""
    oy = torch.arange(n_out, dtype=torch.int64)
    ky = torch.arange(k, dtype=torch.int64)
    pos = oy[None, :] * s + ky[:, None] * d - p
    valid = (pos >= 0) & (pos < n_in)
    return pos, valid


@functools.lru_cache(maxsize=1024)
def tap_matrices(n_in, n_out, k, s, p, d):
    """(V, M) along one axis: ``V[ky, oy]`` = 1 if tap ky of output oy lands inside the
    input, ``M[py, oy]`` = the number of taps of output oy that read input py.

    Memoised by the six sizes (a network repeats a few geometries hundreds of times);
    the returned tensors are shared, so callers read them and never write into them."""
    pos, valid = _valid_taps(n_in, n_out, k, s, p, d)
    V = valid.to(torch.float64)  # (k, n_out)
    M = torch.zeros(n_in, n_out, dtype=torch.float64)  # M[py, oy] = #taps of oy hitting py
    oy = torch.arange(n_out).expand(k, n_out)
    M.index_put_((pos[valid], oy[valid]), torch.ones(int(valid.sum()), dtype=torch.float64), accumulate=True)
    return V, M


def _all_taps_valid(V: torch.Tensor) -> bool:
    """Whether every tap of every output lands inside the input along the axis of ``V``."""
    return bool(V.all())


def _weight_counts(m: torch.Tensor, Vy: torch.Tensor, Vx: torch.Tensor) -> torch.Tensor:
    """``r[c, a, b] = sum over n, h, w of m[n, c, h, w] Vy[a, h] Vx[b, w]``: the count of weight tap
    ``(a, b)`` of output channel ``c``. Where every tap is valid (a 1x1 kernel, a convolution
    without padding) it is the same sum for every tap, taken once."""
    if _all_taps_valid(Vy) and _all_taps_valid(Vx):
        return m.sum(dim=(0, 2, 3))[:, None, None].expand(m.shape[1], Vy.shape[0], Vx.shape[0])
    per_image = m[0] if m.shape[0] == 1 else m.sum(0)  # (c, h, w)
    return Vy @ (per_image @ Vx.T)  # (a, h) @ (c, h, b): two products, no permuted copy of m


def _zero_border(x) -> list[int] | None:
    """The pads of ``x`` where it is padded with zeros (``constant_pad_nd`` of value 0:
    ``nn.ZeroPad*d``, ``F.pad`` in ``"constant"`` mode, ``padding="same"`` with an even
    kernel) along its spatial dimensions only (those after batch and channel), by amounts
    >= 0, in ``F.pad``'s order (last dimension first); ``None`` for any other ``x``. A
    border of another value is read like any input element: a tap on it multiplies a
    number."""
    if not (isinstance(x, fx.Node) and x.op == "call_function" and x.target is aten.constant_pad_nd.default):
        return None
    pad = list(x.args[1])
    value = x.args[2] if len(x.args) > 2 else x.kwargs.get("value", 0)
    if value != 0 or any(p < 0 for p in pad) or len(pad) > 2 * (len(shape_of(x.args[0])) - 2):
        return None
    return pad


def _unpadded_region(x) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """``((top, height), (left, width))`` of the region of an image ``x`` that is not a zero
    border (:func:`_zero_border`); ``None`` where ``x`` has none."""
    pad = _zero_border(x)
    if pad is None:
        return None
    pad += [0] * (4 - len(pad))
    h, w = shape_of(x.args[0])[-2:]
    return (pad[2], h), (pad[0], w)


def _border_stand_in(x) -> dict:
    """``{x: stand-in}`` for the generic rule where ``x`` has a zero border
    (:func:`_zero_border`): ones inside, zeros on the border, so that a weight's taps on
    the border read nothing; ``{}`` for any other ``x``."""
    pad = _zero_border(x)
    if pad is None:
        return {}
    return {x: F.pad(torch.ones(shape_of(x.args[0]), dtype=torch.float64), pad)}


@TABLE.rule(aten.convolution, aten.conv2d, aten.conv1d, aten.conv3d)
def _convolution(node, cout, ctx):
    """Convolution (see the module docstring): W[co,ci,ky,kx] gets the sum of
    c_out[co] over output positions whose tap lands inside the input; the input gets,
    per group, the channel-summed counts spread back through a ones kernel (closed
    forms: separable tap-validity matrices instead of a full transposed convolution).
    Transposed convolutions and inputs that are not 2-D images use the generic
    multilinear VJP, with an explicitly padded input's border read as zeros."""
    x, w = node.args[0], node.args[1]
    b = node.args[2] if len(node.args) > 2 else None
    if node.target in (aten.convolution.default,):
        stride, padding, dilation, transposed, _, groups = node.args[3:9]
    else:
        stride, padding, dilation, groups = (list(node.args[3:7]) + [1, 0, 1, 1])[:4]
        transposed = False
    xs, ws = shape_of(x), shape_of(w)
    if transposed or len(xs) != 4:
        yield from generic_multilinear(node, cout, ctx, weights=(w, b), stand_ins=_border_stand_in(x))
        return

    stride, padding, dilation = per_axis(stride), per_axis(padding), per_axis(dilation)
    N, Ci, H, W = xs
    Co, Cig, kh, kw = ws
    Ho, Wo = tuple(cout.shape[2:])
    Vy, My = tap_matrices(H, Ho, kh, stride[0], padding[0], dilation[0])
    Vx, Mx = tap_matrices(W, Wo, kw, stride[1], padding[1], dilation[1])
    inner = _unpadded_region(x)
    if inner is not None:  # taps on an explicit zero border read no element either
        (top, h), (left, w_) = inner
        Vy, _ = tap_matrices(h, Ho, kh, stride[0], padding[0] + top, dilation[0])
        Vx, _ = tap_matrices(w_, Wo, kw, stride[1], padding[1] + left, dilation[1])
    if isinstance(w, fx.Node) and ctx.needs(w):
        # independent of ci: keep it as a stride-0 broadcast (see Scaled.collapsed)
        wc = cout.map(lambda m: _weight_counts(m, Vy, Vx)[:, None])
        yield w, wc.map_raw(lambda r: r.expand(Co, Cig, kh, kw))
    if isinstance(b, fx.Node) and ctx.needs(b):
        yield b, cout.map(lambda m: m.sum(dim=(0, 2, 3)))
    if ctx.needs(x):
        g = groups

        # a 1x1 kernel of stride 1 without padding: each output reads its own input position once (My, Mx identity)
        one_to_one = (kh, kw) == (1, 1) and stride == [1, 1] and padding == [0, 0]

        def spread(m):  # per group: the channel-summed counts spread back over the input positions
            cg = m.reshape(N, g, Co // g, Ho, Wo).sum(2)
            return cg if one_to_one else My @ cg @ Mx.T  # r[n, g, p, q] = sum_hw My[p, h] cg[n, g, h, w] Mx[q, w]

        def per_channel(r):  # each group's count, the same for every input channel of the group
            # (renormalised before it is copied out: a pass over the groups, not the channels; stored
            # contiguous, as the rules downstream sum it in the order of a contiguous tensor)
            return r[:, :, None].expand(N, g, Ci // g, H, W).reshape(N, Ci, H, W).contiguous()

        yield x, cout.map(spread).map_raw(per_channel).scale(ctx.gamma)
