"""Channel-wise sharing of depthwise kernels (Bidart 2023, chapter 3, Table 3.3):
the ``channelwise`` scheme behind ``share``/``materialize``."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from reuseprior.core.errors import SharingError
from reuseprior.core.parameters import count_parameters
from reuseprior.counting import analyze
from reuseprior.models import build_model
from reuseprior.models.sharing import GeneratedLayer, materialize, share, weight_sources
from reuseprior.models.sharing.channelwise import (
    DEFAULT_LAYOUT,
    LAYOUTS,
    ChannelwiseKernels,
    depthwise_layers,
    kernel_map,
)


class SeparableNet(nn.Module):
    """A dense stem, two depthwise-separable blocks (depthwise 3x3 and 5x5 over 8 and
    16 channels, each followed by a pointwise 1x1) and a classifier."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.block1 = nn.Sequential(
            nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 16, 1, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(),
        )
        self.block2 = nn.Sequential(
            nn.Conv2d(16, 16, 5, stride=2, padding=2, groups=16, bias=True),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.Conv2d(16, 16, 1),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 5)
        with torch.no_grad():  # non-trivial batch norm statistics, so eval mode is not the identity
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.5, 0.5)
                    m.running_var.uniform_(0.5, 1.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.block2(self.block1(self.stem(x)))).flatten(1))


#: the depthwise layers of SeparableNet: name -> (channels d, kernel h = w)
SEPARABLE_DEPTHWISE = {"block1.0": (8, 3), "block2.0": (16, 5)}


def _input(shape=(2, 3, 12, 12), seed: int = 1) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_depthwise_layers_finds_only_the_depthwise_convolutions():
    found = depthwise_layers(SeparableNet())
    assert {name: (m.out_channels, m.kernel_size[0]) for name, m in found.items()} == SEPARABLE_DEPTHWISE


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("reuse", [1, 2, 4, 8])
def test_materialize_gives_identical_outputs_on_a_separable_net(layout, reuse):
    shared = share(SeparableNet(), "channelwise", reuse=reuse, layout=layout).eval()
    x = _input()
    with torch.no_grad():
        expected = shared(x)
        plain = materialize(shared).eval()
        got = plain(x)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
    assert not weight_sources(plain) and not any(isinstance(m, GeneratedLayer) for m in plain.modules())


def test_reuse_one_is_the_original_model():
    model = SeparableNet().eval()
    shared = share(model, "channelwise", reuse=1).eval()
    x = _input()
    with torch.no_grad():
        torch.testing.assert_close(shared(x), model(x), atol=0, rtol=0)
    assert count_parameters(shared) == count_parameters(model)


@pytest.mark.parametrize("name", ["mobilenet_v2", "efficientnet_b0"])
def test_materialize_gives_identical_outputs_on_torchvision_models(name):
    model = build_model(name, num_classes=10)
    depthwise = depthwise_layers(model)
    assert len(depthwise) == {"mobilenet_v2": 17, "efficientnet_b0": 16}[name]
    shared = share(model, "channelwise", reuse=8).eval()
    assert len(weight_sources(shared)["channelwise"].keys()) == len(depthwise)
    x = _input((1, 3, 64, 64))
    with torch.no_grad():
        torch.testing.assert_close(materialize(shared).eval()(x), shared(x), atol=1e-6, rtol=0)
    removed = sum(m.weight.numel() for m in depthwise.values()) * 7 // 8
    assert count_parameters(shared) == count_parameters(model) - removed


def test_parameter_counts_follow_table_3_3():
    """Table 3.3: a depthwise layer keeps (d / s) h w of its d h w weights; the rest of the
    model (stem, pointwise convolutions, batch norm, biases, classifier) is unchanged."""
    model = SeparableNet()
    total = count_parameters(model)
    for reuse in (1, 2, 4, 8):
        shared = share(model, "channelwise", reuse=reuse)
        removed = sum(d * k * k - (d // reuse) * k * k for d, k in SEPARABLE_DEPTHWISE.values())
        assert count_parameters(shared) == total - removed
        source = weight_sources(shared)["channelwise"]
        shapes = {key: tuple(source.stored_kernels(key).shape) for key in source.keys()}
        assert shapes == {name: (d // reuse, 1, k, k) for name, (d, k) in SEPARABLE_DEPTHWISE.items()}


def test_the_depthwise_layers_hold_no_weight_parameter():
    shared = share(SeparableNet(), "channelwise", reuse=2)
    names = [name for name, _ in shared.named_parameters()]
    assert "block1.0.weight" not in names and "block2.0.weight" not in names
    assert "block2.0.bias" in names  # a depthwise bias stays per channel
    assert sorted(n for n in names if n.startswith("weight_sources")) == [
        "weight_sources.channelwise.kernels.0",
        "weight_sources.channelwise.kernels.1",
    ]
    assert isinstance(shared.block1[0], GeneratedLayer) and isinstance(shared.block1[3], nn.Conv2d)
    assert isinstance(shared.stem[0], nn.Conv2d)  # the dense stem stays unshared


def test_kernel_maps_of_the_two_layouts():
    assert kernel_map(8, 2, "tiling") == [0, 1, 2, 3, 0, 1, 2, 3]
    assert kernel_map(8, 2, "interleaving") == [0, 0, 1, 1, 2, 2, 3, 3]
    assert kernel_map(8, 4, "tiling") == [0, 1, 0, 1, 0, 1, 0, 1]
    assert kernel_map(8, 4, "interleaving") == [0, 0, 0, 0, 1, 1, 1, 1]
    assert kernel_map(8, 1, "tiling") == kernel_map(8, 1, "interleaving") == list(range(8))
    assert DEFAULT_LAYOUT == "tiling"


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_generated_weight_follows_the_layout_map(layout):
    model = SeparableNet()
    original = model.block2[0].weight.detach().clone()
    shared = share(model, "channelwise", reuse=4, layout=layout)
    source = weight_sources(shared)["channelwise"]
    stored = source.stored_kernels("block2.0").detach()
    generated = shared.block2[0].weight.detach()
    mapping = kernel_map(16, 4, layout)
    for channel, kernel in enumerate(mapping):
        assert torch.equal(generated[channel], stored[kernel])
    # each stored kernel starts as the original kernel of its first channel
    first_channel = {kernel: mapping.index(kernel) for kernel in set(mapping)}
    for kernel, channel in first_channel.items():
        assert torch.equal(stored[kernel], original[channel])


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_stored_kernel_gets_the_sum_of_the_gradients_of_its_uses(layout):
    """Autograd through the generator: the gradient of stored kernel j is the sum of
    the materialized model's weight gradients over the channels that use j."""
    reuse = 4
    shared = share(SeparableNet(), "channelwise", reuse=reuse, layout=layout).train()
    plain = materialize(shared).train()
    x, target = _input((4, 3, 12, 12)), torch.tensor([0, 1, 2, 3])
    nn.functional.cross_entropy(shared(x), target).backward()
    nn.functional.cross_entropy(plain(x), target).backward()
    source = weight_sources(shared)["channelwise"]
    for name, (channels, _) in SEPARABLE_DEPTHWISE.items():
        per_channel = plain.get_submodule(name).weight.grad
        expected = torch.zeros_like(source.stored_kernels(name))
        for channel, kernel in enumerate(kernel_map(channels, reuse, layout)):
            expected[kernel] += per_channel[channel]
        assert expected.abs().sum() > 0
        torch.testing.assert_close(source.stored_kernels(name).grad, expected, atol=1e-6, rtol=1e-5)


def test_one_optimizer_step_updates_the_stored_kernels_and_keeps_the_sharing():
    shared = share(SeparableNet(), "channelwise", reuse=2)
    source = weight_sources(shared)["channelwise"]
    before = {key: source.stored_kernels(key).detach().clone() for key in source.keys()}
    optimizer = torch.optim.SGD(shared.parameters(), lr=0.1)
    x, target = _input((4, 3, 12, 12)), torch.tensor([0, 1, 2, 3])
    nn.functional.cross_entropy(shared(x), target).backward()
    optimizer.step()
    for key in source.keys():
        assert not torch.equal(source.stored_kernels(key), before[key])
        weight = shared.get_submodule(key).weight.detach()
        half = weight.shape[0] // 2
        assert torch.equal(weight[:half], weight[half:])  # tiling: channel c and c + C/2 stay equal
    optimized = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert {id(source.stored_kernels(key)) for key in source.keys()} <= optimized


def test_state_dict_round_trip():
    shared = share(SeparableNet(seed=0), "channelwise", reuse=2)
    other = share(SeparableNet(seed=5), "channelwise", reuse=2)
    other.load_state_dict(shared.state_dict())
    x = _input()
    with torch.no_grad():
        torch.testing.assert_close(other.eval()(x), shared.eval()(x), atol=0, rtol=0)


def test_share_leaves_the_input_model_alone():
    model = SeparableNet()
    before = copy.deepcopy(model.state_dict())
    share(model, "channelwise", reuse=2)
    assert isinstance(model.block1[0], nn.Conv2d) and not weight_sources(model)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


class RepeatedBlocks(nn.Module):
    """Three depthwise-separable blocks of identical shapes: scope sharing ties the
    three depthwise convolutions into one module (and the three pointwise ones)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), nn.BatchNorm2d(8), nn.Conv2d(8, 8, 1))
            for _ in range(3)
        )
        self.fc = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks:
            x = torch.relu(block(x))
        return self.fc(x.mean(dim=(2, 3)))


def test_scope_sharing_then_channelwise_composes():
    model = RepeatedBlocks()
    scoped = share(model, "scope")
    assert scoped.blocks[0][0] is scoped.blocks[2][0]
    both = share(scoped, "channelwise", reuse=4).eval()
    source = weight_sources(both)["channelwise"]
    assert source.keys() == ["blocks.0.0"]  # one set of stored kernels for the one tied module
    generated = [both.blocks[i][0] for i in range(3)]
    assert all(isinstance(g, GeneratedLayer) for g in generated) and generated[0] is generated[2]
    assert count_parameters(both) == count_parameters(scoped) - (8 - 2) * 9
    x = _input((2, 3, 8, 8))
    plain = materialize(both).eval()
    with torch.no_grad():
        torch.testing.assert_close(plain(x), both(x), atol=1e-6, rtol=0)
    assert plain.blocks[0][0] is not plain.blocks[1][0]  # materialize unties the sites
    tied_count = count_parameters(model) - 2 * (8 * 9 + 8 * 8 + 8)  # scope: one depthwise, one pointwise
    assert count_parameters(scoped) == tied_count


def test_the_counting_engine_follows_the_generator():
    """NG (distinct weights with a context) drops by the depthwise weights that sharing
    removes: the stored kernels are captured once, with every use of each."""
    model = SeparableNet()
    x = _input((1, 3, 8, 8))
    baseline = analyze(model, x).NG
    for reuse in (2, 4):
        shared = share(model, "channelwise", reuse=reuse)
        removed = sum(d * k * k - (d // reuse) * k * k for d, k in SEPARABLE_DEPTHWISE.values())
        assert analyze(shared, x).NG == baseline - removed


def test_channelwise_has_no_budget():
    with pytest.raises(SharingError, match="no budget.*reuse"):
        share(SeparableNet(), "channelwise", budget=0.5)


def test_indivisible_channels_name_the_layer_and_the_fix():
    with pytest.raises(SharingError, match=r"'block1\.0' has 8 channels, not divisible by reuse=16.*choose a reuse"):
        share(SeparableNet(), "channelwise", reuse=16)


@pytest.mark.parametrize("options", [{"reuse": 0}, {"reuse": 2.0}, {"reuse": True}, {"layout": "striped"}])
def test_bad_options_are_refused(options):
    with pytest.raises(SharingError):
        share(SeparableNet(), "channelwise", **options)


def test_a_model_without_depthwise_convolutions_is_refused():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 3, groups=2))
    with pytest.raises(SharingError, match="no depthwise convolution"):
        share(model, "channelwise")


def test_source_lists_layers_in_model_order():
    source = ChannelwiseKernels(depthwise_layers(SeparableNet()), reuse=2)
    assert source.keys() == ["block1.0", "block2.0"]
    assert source.stored_parameters() == 4 * 9 + 8 * 25


def test_double_precision_and_deepcopy_follow_the_model():
    shared = share(SeparableNet(), "channelwise", reuse=2).eval()
    x = _input()
    with torch.no_grad():
        expected = shared(x).double()
        double = shared.double()
        assert double.block1[0].weight.dtype == torch.float64
        torch.testing.assert_close(double(x.double()), expected, atol=1e-5, rtol=0)
        clone = copy.deepcopy(double)
        weight_sources(clone)["channelwise"].stored_kernels("block1.0").zero_()
        assert not clone.block1[0].weight.any() and double.block1[0].weight.any()
