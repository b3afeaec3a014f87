"""Counting engine on real architectures: Table 4.3 (EfficientNetV2-S at 384 px), a
representative torchvision subset, capture paths, attention, and the full zoo (slow)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from reuseprior.counting import analyze, count_contexts
from reuseprior.counting.capture import capture
from reuseprior.counting.sweep import run_sweep
from reuseprior.zoo.torchvision_analysis import build_at_eval_crop, classifier_names


def test_efficientnet_v2_s_384_reproduces_table_4_3():
    """Table 4.3, V2-S row: NO=1000, NI=3*384^2, BN at 4/channel (section 4.5.1: batch norm counted as 4
    weights per channel)."""
    model = torchvision.models.efficientnet_v2_s(weights=None)
    rep = analyze(model, torch.zeros(1, 3, 384, 384))
    assert rep.NI == 3 * 384 * 384 and rep.NO == 1000
    assert rep.NG == 21_612_360 and rep.WG == rep.NG
    assert round(rep.PG, 4) == 28.7211
    assert round(rep.PG_prime, 4) == 29.2826
    assert round(rep.expected_spread, 4) == 1505.5465
    assert round(rep.entropy, 4) == 9.8340
    assert rep.entropy + rep.expected_spread == pytest.approx(rep.log2_NC, rel=1e-12)


SUBSET = [  # (name, input size): small inputs keep the default test run short
    ("resnet18", 32),
    ("efficientnet_b0", 32),
    ("mobilenet_v3_small", 32),
    ("convnext_tiny", 32),
    ("googlenet", 32),
    ("regnet_x_400mf", 32),
    ("densenet121", 32),
    ("swin_t", 32),
]


def _small_vit():
    from torchvision.models.vision_transformer import VisionTransformer

    return VisionTransformer(
        image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32, num_classes=10
    )


@pytest.mark.parametrize("name, size", SUBSET + [("small_vit", 32)])
def test_torchvision_subset_has_finite_quantities(name, size):
    model = _small_vit() if name == "small_vit" else torchvision.models.get_model(name, weights=None)
    rep = analyze(model, torch.zeros(1, 3, size, size))
    for k, v in rep.to_series().items():
        assert math.isfinite(v), (name, k, v)
    # every parameter outside the eval-inactive auxiliary heads has a context
    missing = [n for n, info in rep.per_parameter.items() if info["with_context"] == 0 and "aux" not in n]
    assert not missing, missing[:5]


def test_parameter_only_subgraph_gets_counts_swin_v2():
    """Swin-V2's continuous position-bias MLP depends only on parameters/buffers; the
    zeroed key bias has no context."""
    model = torchvision.models.swin_v2_t(weights=None)
    c = count_contexts(model, torch.zeros(1, 3, 32, 32))
    assert torch.isfinite(c["features.1.0.attn.cpb_mlp.0.weight"]).all()
    qkv_bias = c["features.1.0.attn.qkv.bias"]
    n = qkv_bias.numel() // 3
    assert torch.isinf(qkv_bias[n : 2 * n]).all() and torch.isfinite(qkv_bias[:n]).all()


class _SDPA(nn.Module):
    def __init__(self, fused: bool):
        super().__init__()
        self.qkv = nn.Linear(8, 24)
        self.out = nn.Linear(8, 3)
        self.fused = fused

    def forward(self, x):
        q, k, v = self.qkv(x).reshape(1, 5, 3, 2, 4).permute(2, 0, 3, 1, 4)
        if self.fused:
            y = F.scaled_dot_product_attention(q, k, v)
        else:
            y = torch.softmax(q @ k.transpose(-1, -2), dim=-1) @ v
        return self.out(y.transpose(1, 2).reshape(1, 5, 8))


@pytest.mark.parametrize("method", ["meta", "make_fx"])
def test_attention_rule_matches_decomposition(method):
    x = torch.randn(1, 5, 8)
    fused, manual = _SDPA(True), _SDPA(False)
    manual.load_state_dict(fused.state_dict())
    for gamma in (1.0, 0.5):
        a = run_sweep(capture(fused, x, method=method), discount=gamma).param_counts
        b = run_sweep(capture(manual, x, method="make_fx"), discount=gamma).param_counts
        for name in a:
            assert torch.allclose(a[name].log2(), b[name].log2(), atol=1e-10), (name, gamma)


class _InplaceOnViews(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 6)

    def forward(self, x):
        b = self.lin.bias.clone()
        b[2:4].zero_()  # no context for these bias elements
        b[0].mul_(3)
        h = torch.relu_(x @ self.lin.weight.t())
        h += b
        return h


def _sequential() -> nn.Module:
    """A top-level ``nn.Sequential``: its parameters are named ``0.weight``, ``1.bias``, ..."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10)
    )


class _AlikeNames(nn.Module):
    """Parameters whose names read alike as identifiers (``a_b.c`` and ``a.b_c``; ``input``, the name of
    the input's placeholder): each must still be its own argument of the compiled graph."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a_b, self.a = nn.Module(), nn.Module()
        self.a_b.c = nn.Parameter(torch.randn(4, 4))
        self.a.b_c = nn.Parameter(torch.randn(4, 4))
        self.input = nn.Parameter(torch.randn(4))

    def forward(self, x):
        return torch.relu(x @ self.a_b.c) @ self.a.b_c + self.input


@pytest.mark.parametrize(
    "name, size",
    [("resnet18", 32), ("mobilenet_v3_small", 32), ("inplace", 4), ("sequential", 8), ("alike names", 4)],
)
def test_meta_and_make_fx_capture_agree(name, size):
    """Both tracers give the same counts; the fast one also takes a top-level ``nn.Sequential``, whose
    parameter names begin with a digit (its placeholders must still compile as Python arguments)."""
    models = {"inplace": _InplaceOnViews, "sequential": _sequential, "alike names": _AlikeNames}
    model = models[name]() if name in models else torchvision.models.get_model(name, weights=None)
    x = torch.zeros(1, 4) if name in ("inplace", "alike names") else torch.zeros(1, 3, size, size)
    a = run_sweep(capture(model, x, method="meta")).param_counts
    b = run_sweep(capture(model, x, method="make_fx")).param_counts
    for k in a:
        if a[k] is None or b[k] is None:
            assert a[k] is None and b[k] is None
            continue
        assert torch.allclose(a[k].log2(), b[k].log2(), atol=1e-9), k
    if name == "inplace":
        assert torch.isinf(a["lin.bias"].log2()[2:4]).all()


# Every classifier of torchvision (80 in 0.29) at its eval crop, built as
# `python -m reuseprior analyze-torchvision` builds it: about 2 minutes on two
# CPU cores, so it runs in CI (issue 2's acceptance check).
@pytest.mark.parametrize("name", classifier_names())
def test_full_torchvision_zoo_at_eval_crop(name):
    model, size = build_at_eval_crop(name)  # vit_h_14: rebuilt for its weights' 518 px
    rep = analyze(model, torch.zeros(1, 3, size, size))
    for k, v in rep.to_series().items():
        assert math.isfinite(v), (name, k, v)
