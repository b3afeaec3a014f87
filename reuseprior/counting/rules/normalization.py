"""Normalisation layers (batch, layer and group norm).

A normalisation is the identity for its input: it adds no node and no path.  Its
affine parameters get, per element, the sum of the output counts they scale or
shift.  Batch norm also reports each channel's summed count to the sweep
(:meth:`~reuseprior.counting.sweep.SweepContext.record_batch_norm`): the analysis
counts it as ``bn_params_per_channel`` weights per channel, each with that count and
never merged with other weights (by default 4: weight, bias, running mean and running
variance, the convention that reproduces thesis Tables 4.3 and 4.4).  Instance norm runs
as batch norm (its affine parameters repeated once per example) and is counted as batch
norm: its weight and bias are the batch norm's, counted by ``bn_params_per_channel``
only.
"""

from __future__ import annotations

import torch.fx as fx

from reuseprior.counting.rules.helpers import RuleTable, aten, shape_of, single, sum_to_shape

__all__ = ["TABLE"]

TABLE = RuleTable()


def _sum_except(m, keep_dim):
    dims = [d for d in range(m.dim()) if d != keep_dim]
    return m.sum(dim=dims) if dims else m


@TABLE.rule(
    aten.native_batch_norm,
    aten._native_batch_norm_legit_no_training,
    aten._native_batch_norm_legit,
    aten._native_batch_norm_legit_functional,
    aten.batch_norm,
)
def _batch_norm(node, cout, ctx):
    """Batch norm: identity on the input (adds no node and no path); the affine
    parameters and the statistics get, per channel, the sum of the output counts."""
    c0 = single(cout)
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


@TABLE.rule(aten.native_layer_norm, aten.layer_norm)
def _layer_norm(node, cout, ctx):
    """Layer norm: identity on the input; weight and bias get the output counts summed
    over the leading (non-normalised) dimensions."""
    c0 = single(cout)
    if c0 is None:
        return
    x, w, b = node.args[0], node.args[2], node.args[3]
    if ctx.needs(x):
        yield x, c0
    for p in (w, b):
        if isinstance(p, fx.Node) and ctx.needs(p):
            yield p, c0.map(lambda m, s=shape_of(p): sum_to_shape(m, s))  # noqa: B008 - bound once per call on purpose (a lambda default)


@TABLE.rule(aten.native_group_norm, aten.group_norm)
def _group_norm(node, cout, ctx):
    """Group norm: identity on the input; weight and bias get, per channel, the sum of
    the output counts."""
    c0 = single(cout)
    if c0 is None:
        return
    x, w, b = node.args[0], node.args[1], node.args[2]
    if ctx.needs(x):
        yield x, c0
    for p in (w, b):
        if isinstance(p, fx.Node) and ctx.needs(p):
            yield p, c0.map(lambda m: _sum_except(m, 1))
