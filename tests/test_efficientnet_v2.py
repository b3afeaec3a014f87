"""EfficientNetV2 B0-B3/S/M/L and the Keras-v1 ResNet-50 (thesis sections 4.5.2, 4.5.8)."""

from __future__ import annotations

import pytest
import torch
import torchvision

from reuseprior.models import build_model, efficientnet_v2, resnet50_keras_v1
from reuseprior.models.efficientnet_v2 import load_torchvision_state_dict, round_filters, round_repeats, stage_configs


def _ng(model: torch.nn.Module) -> int:
    """Parameters plus BN running statistics (the NG convention of Tables 4.3/4.4)."""
    stats = sum(b.numel() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var")))
    return sum(p.numel() for p in model.parameters()) + stats


def test_round_filters_and_repeats_follow_the_official_rules():
    assert round_filters(32, 1.0) == 32
    assert round_filters(16, 1.2) == 16  # 19.2 -> 16: no "round up if >10% lost" rule in V2
    assert round_filters(1280, 1.2) == 1536
    assert round_filters(112, 1.1) == 120
    assert round_repeats(5, 1.1) == 6 and round_repeats(8, 1.4) == 12 and round_repeats(1, 1.0) == 1


def test_b3_block_table_is_scaled_width_and_depth():
    stages = stage_configs("b3")
    assert [s.out_channels for s in stages] == [16, 40, 56, 112, 136, 232]
    assert [s.repeats for s in stages] == [2, 3, 3, 5, 7, 12]
    assert [s.block for s in stages] == ["fused"] * 3 + ["mbconv"] * 3


@pytest.mark.parametrize(
    "variant, ng",
    # NG of Tables 4.3/4.4 (section 4.5.1): weights + 4 BN values per channel
    [("b0", 7_200_312), ("b1", 8_212_124), ("b3", 14_467_622), ("s", 21_612_360)],
)
def test_parameter_counts_match_the_published_graphs(variant, ng):
    assert _ng(efficientnet_v2(variant)) == ng


def test_published_sizes_of_m_and_l_round_to_table_4_4():
    assert round(_ng(efficientnet_v2("m")) / 1e6, 1) == 54.4
    assert round(_ng(efficientnet_v2("l")) / 1e6, 1) == 119.0


@pytest.mark.parametrize("variant", ["s", "m", "l"])
def test_s_m_l_have_torchvisions_parameter_shapes_in_order(variant):
    ours = efficientnet_v2(variant)
    theirs = getattr(torchvision.models, f"efficientnet_v2_{variant}")()
    assert [p.shape for p in ours.parameters()] == [p.shape for p in theirs.parameters()]
    assert [b.shape for b in ours.buffers()] == [b.shape for b in theirs.buffers()]
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())


def test_s_computes_torchvisions_function_on_torchvisions_weights():
    torch.manual_seed(0)
    theirs = torchvision.models.efficientnet_v2_s().eval()
    with torch.no_grad():  # non-trivial BN statistics so that a misplaced BN would show
        for m in theirs.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    ours = efficientnet_v2("s").eval()
    load_torchvision_state_dict(ours, theirs.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-4, atol=1e-5)


def test_loading_a_different_variant_names_the_mismatch():
    with pytest.raises(ValueError, match="differ in length|shape mismatch"):
        load_torchvision_state_dict(efficientnet_v2("b0"), torchvision.models.efficientnet_v2_s().state_dict())


def test_fused_blocks_use_symmetric_padding_and_expected_output_shape():
    model = efficientnet_v2("b0", num_classes=10).eval()
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.padding == (c.kernel_size[0] // 2, c.kernel_size[1] // 2) for c in convs)
    assert model.features(torch.zeros(1, 3, 224, 224)).shape == (1, 1280, 7, 7)
    assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 10)


def test_registry_builds_every_variant_by_name():
    for v in ["b0", "b1", "b2", "b3", "s"]:
        assert isinstance(build_model(f"efficientnet_v2_{v}", num_classes=3), torch.nn.Module)
    with pytest.raises(ValueError, match="unknown EfficientNetV2 variant"):
        efficientnet_v2("xl")


def test_keras_resnet50_strides_on_the_first_1x1_conv():
    model = resnet50_keras_v1()
    block = model.stages[1][0]
    assert block.reduce.conv.stride == (2, 2) and block.reduce.conv.kernel_size == (1, 1)
    assert block.conv.conv.stride == (1, 1)
    assert block.shortcut.conv.stride == (2, 2)
    # Keras total params 25,636,712 minus the 26,560 conv biases the analysis did not count
    assert _ng(model) == 25_610_152
    assert _ng(resnet50_keras_v1(conv_bias=True)) == 25_636_712
    assert model.eval()(torch.zeros(1, 3, 64, 64)).shape == (1, 1000)
