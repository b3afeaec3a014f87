"""The recorder's meta shortcuts (:mod:`reuseprior.counting.meta_shortcuts`) give what the op's
own meta kernel gives, and the graphs recorded with them are the graphs recorded without."""

from __future__ import annotations

import sys

import pytest
import torch
import torchvision
from torch import nn

from reuseprior.counting.capture import capture
from reuseprior.counting.meta_shortcuts import META_SHORTCUTS, eval_batch_norm

aten = torch.ops.aten


def _meta(shape, dtype=torch.float32, channels_last=False):
    x = torch.empty(shape, device="meta", dtype=dtype)
    return x.to(memory_format=torch.channels_last) if channels_last else x


def _described(out):
    return [(tuple(t.shape), t.stride(), t.dtype, t.device.type) for t in out]


@pytest.mark.parametrize(
    "shape, dtype, channels_last",
    [
        ((1, 24, 8, 8), torch.float32, False),
        ((1, 24, 8, 8), torch.float32, True),
        ((2, 5, 7), torch.float32, False),
        ((3, 6), torch.float64, False),
        ((1, 6, 3, 4, 5), torch.float64, False),
    ],
)
@pytest.mark.parametrize("affine", [True, False])
def test_eval_batch_norm_gives_what_the_meta_kernel_gives(shape, dtype, channels_last, affine):
    x = _meta(shape, dtype, channels_last)
    c = torch.empty(shape[1], device="meta", dtype=dtype)
    args = (x, c if affine else None, c if affine else None, c, c, False, 0.1, 1e-5)
    assert _described(eval_batch_norm(args, {})) == _described(aten.native_batch_norm.default(*args))


@pytest.mark.parametrize(
    "change",
    [
        {5: True},  # training: the statistics are computed, the kernel decides
        {3: None, 4: None},  # no running statistics
        {0: _meta((1, 4, 5, 5), torch.float16)},  # half precision: statistics in float32
        {0: _meta((1, 4, 5, 5)).transpose(2, 3)},  # neither contiguous nor channels-last
        {1: torch.empty(4, device="meta", dtype=torch.float64)},  # a weight of another dtype
    ],
)
def test_eval_batch_norm_leaves_other_calls_to_the_meta_kernel(change):
    c = torch.empty(4, device="meta")
    args = [_meta((1, 4, 5, 5)), c, c, c, c, False, 0.1, 1e-5]
    for at, value in change.items():
        args[at] = value
    assert eval_batch_norm(tuple(args), {}) is None


def _nodes(graph):
    return [
        (n.op, str(n.target), _described([n.meta["val"]]) if isinstance(n.meta.get("val"), torch.Tensor) else None)
        for n in graph.gm.graph.nodes
    ]


@pytest.mark.parametrize(
    "model, size",
    [
        (nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.BatchNorm2d(8, affine=False)), 12),
        (torchvision.models.resnet18(weights=None), 32),
    ],
)
def test_the_graph_recorded_with_the_shortcuts_is_the_graph_recorded_without(model, size, monkeypatch):
    x = torch.zeros(1, 3, size, size)
    shortcut = _nodes(capture(model, x, method="meta"))
    monkeypatch.setattr(sys.modules["reuseprior.counting.capture"], "META_SHORTCUTS", {})
    assert shortcut == _nodes(capture(model, x, method="meta"))
    assert aten.native_batch_norm.default in META_SHORTCUTS
