"""Constant-width MLP/CNN builders of chapter 5 (Tables 5.1-5.4)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import reuseprior.models.toy  # noqa: F401  (registers "toy_graph")
from reuseprior.models.cnn import cnn_param_count, constant_width_cnn
from reuseprior.models.mlp import constant_width_mlp, mlp_param_count
from reuseprior.models.registry import build_model


def _linears(model):
    return [m for m in model if isinstance(m, nn.Linear)]


def _convs(model):
    return [m for m in model if isinstance(m, nn.Conv2d)]


def test_mlp_depth_counts_weight_layers_and_default_width_in_and_out():
    m = constant_width_mlp(7, 4)
    lins = _linears(m)
    assert len(lins) == 4
    assert all(tuple(layer.weight.shape) == (7, 7) for layer in lins)
    assert m(torch.randn(2, 7)).shape == (2, 7)


def test_mlp_inputs_outputs_bias_and_batch_norm():
    m = constant_width_mlp(5, 3, num_inputs=3, num_outputs=2, bias=True, batch_norm=True)
    lins = _linears(m)
    assert [tuple(l.weight.shape) for l in lins] == [(5, 3), (5, 5), (2, 5)]
    assert all(l.bias is not None for l in lins)
    bns = [x for x in m if isinstance(x, nn.BatchNorm1d)]
    assert [b.num_features for b in bns] == [5, 5, 2]  # BN after every layer, the last included
    assert m.eval()(torch.randn(1, 3)).shape == (1, 2)


def test_mlp_single_layer():
    m = constant_width_mlp(4, 1, num_inputs=3, num_outputs=1)
    assert [tuple(l.weight.shape) for l in _linears(m)] == [(1, 3)]


def test_mlp_shared_ties_square_layers_with_one_parameter_not_batch_norm():
    m = constant_width_mlp(4, 6, num_inputs=3, batch_norm=True, bias=True, shared=True)
    lins = _linears(m)
    assert lins[0].weight is not lins[1].weight  # 3 -> 4 has another shape
    assert all(l.weight is lins[1].weight for l in lins[1:])
    assert all(l.bias is lins[1].bias for l in lins[1:])
    bns = [x for x in m if isinstance(x, nn.BatchNorm1d)]
    assert len({id(b.weight) for b in bns}) == len(bns)


def test_mlp_shared_includes_first_layer_when_shapes_match():
    m = constant_width_mlp(3, 5, num_inputs=3, shared=True)
    assert len({id(l.weight) for l in _linears(m)}) == 1


@pytest.mark.parametrize(
    "kw, expected",
    [
        (dict(width=120, depth=1), 14400),
        (dict(width=2, depth=3600), 14400),
        (dict(width=8, depth=225, num_inputs=3, batch_norm=True), 21560),
        (dict(width=2, depth=3600, num_inputs=3, batch_norm=True, shared=True), 28810),
        (dict(width=3, depth=1600, num_inputs=3, batch_norm=True, shared=True), 19209),
        (dict(width=4, depth=900, num_inputs=3, batch_norm=True, shared=True), 14428),
    ],
)
def test_mlp_param_count_matches_thesis_params_column(kw, expected):
    assert mlp_param_count(**kw) == expected


@pytest.mark.parametrize(
    "kw",
    [
        dict(width=5, depth=4, num_inputs=3, bias=True, batch_norm=True),
        dict(width=4, depth=5, num_inputs=4, shared=True, batch_norm=True, bias=True),
    ],
)
def test_mlp_param_count_agrees_with_module(kw):
    m = constant_width_mlp(**kw)
    n_bn = sum(b.num_features for b in m if isinstance(b, nn.BatchNorm1d))
    # nn counts gamma and beta; the thesis also counts running mean and variance
    assert mlp_param_count(**kw) == sum(p.numel() for p in m.parameters()) + 2 * n_bn


def test_cnn_layout_padding_and_output_shape():
    m = constant_width_cnn(6, 3, in_channels=3, batch_norm=True)
    convs = _convs(m)
    assert [tuple(c.weight.shape) for c in convs] == [(6, 3, 3, 3), (6, 6, 3, 3), (6, 6, 3, 3)]
    assert all(c.padding == (1, 1) and c.bias is None for c in convs)
    assert len([b for b in m if isinstance(b, nn.BatchNorm2d)]) == 3
    assert m.eval()(torch.randn(1, 3, 8, 8)).shape == (1, 6, 8, 8)


def test_cnn_shared_ties_equal_shapes_including_first_when_it_matches():
    m = constant_width_cnn(3, 5, in_channels=3, shared=True, batch_norm=True)
    assert len({id(c.weight) for c in _convs(m)}) == 1
    m = constant_width_cnn(5, 5, in_channels=3, shared=True)
    convs = _convs(m)
    assert convs[0].weight is not convs[1].weight and len({id(c.weight) for c in convs}) == 2


@pytest.mark.parametrize(
    "kw, expected",
    [
        (dict(channels=60, depth=4), 129600),
        (dict(channels=2, depth=3600), 129600),
        (dict(channels=24, depth=25, in_channels=3, batch_norm=True), 127464),
        (dict(channels=3, depth=400, in_channels=3, batch_norm=True, shared=True), 4881),
        (dict(channels=5, depth=576, in_channels=3, batch_norm=True, shared=True), 11880),
        (dict(channels=5, depth=64, in_channels=3, batch_norm=True), 15590),
    ],
)
def test_cnn_param_count_matches_thesis_params_column(kw, expected):
    assert cnn_param_count(**kw) == expected


def test_cnn_param_count_agrees_with_module():
    kw = dict(channels=4, depth=4, in_channels=3, batch_norm=True, shared=True)
    m = constant_width_cnn(**kw)
    n_bn = sum(b.num_features for b in m if isinstance(b, nn.BatchNorm2d))
    assert cnn_param_count(**kw) == sum(p.numel() for p in m.parameters()) + 2 * n_bn


@pytest.mark.parametrize("bad", [dict(width=0, depth=2), dict(width=3, depth=0), dict(width=2.5, depth=2)])
def test_mlp_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="must be an integer"):
        constant_width_mlp(**bad)


def test_cnn_rejects_even_kernels():
    with pytest.raises(ValueError, match="odd"):
        constant_width_cnn(3, 2, kernel_size=2)


def test_registered_by_name():
    assert len(_linears(build_model("constant_width_mlp", width=3, depth=2))) == 2
    assert len(_convs(build_model("constant_width_cnn", channels=3, depth=2))) == 2
    assert sum(p.numel() for p in build_model("toy_graph", name="fig_4_3c").parameters()) == 12
