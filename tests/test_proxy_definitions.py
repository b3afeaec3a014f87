"""The version-2 definitions of Fisher, SynFlow and FLOPs, pinned to the
reference behaviour (the zero-cost proxy reference implementations, and
torchvision's published multiply-add counts).

- Fisher: each output channel's saliency is carried by every weight of that
  channel, then summed (the reference broadcasts it over C_in/groups x k x k
  weights before summing).
- SynFlow: ``sum |theta * dR/dtheta|`` over convolution and linear weights
  only, not a signed sum over every parameter.
- FLOPs: the fused attention op of ``nn.MultiheadAttention``'s eval-mode fast
  path is counted; a compute-heavy op without a formula is an error; every
  torchvision classifier at its evaluation crop is within 2 % of twice its
  weights' published ``_ops`` (multiply-adds).
"""

from __future__ import annotations

import copy
from contextlib import contextmanager

import pytest
import torch
import torchvision
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode

from reuseprior.baselines import proxies
from reuseprior.baselines.complexity import UncountedOpError, count_flops


class _ConvNet(nn.Module):
    """Convolutions of every kind the broadcast distinguishes (dense, grouped,
    depthwise, 1x1) and a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1, groups=2),
            nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1, groups=8),
            nn.ReLU(),
            nn.Conv2d(8, 6, 1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(6, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _batch(n: int = 6, classes: int = 5) -> proxies.ProxyBatch:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, 8, 8, generator=generator)
    y = torch.randint(0, classes, (n,), generator=generator)
    return proxies.ProxyBatch(x, y, "test batch")


def _reference_fisher(model: nn.Module, batch: proxies.ProxyBatch) -> float:
    """The reference per-weight Fisher, written out: each layer's per-channel
    score expanded over the layer's weight tensor, then everything summed."""
    clone = copy.deepcopy(model).train()
    layers = [m for m in clone.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    outputs: dict[nn.Module, torch.Tensor] = {}

    def keep(m, _inp, out):
        out.retain_grad()
        outputs[m] = out

    handles = [m.register_forward_hook(keep) for m in layers]
    nn.functional.cross_entropy(clone(batch.inputs), batch.targets).backward()
    for h in handles:
        h.remove()
    total = 0.0
    for m in layers:
        act, grad = outputs[m], outputs[m].grad
        per_example = (act * grad).sum(dim=(2, 3)) if act.dim() == 4 else act * grad
        per_channel = 0.5 * per_example.pow(2).mean(0)
        shape = (-1,) + (1,) * (m.weight.dim() - 1)
        total += float(per_channel.detach().reshape(shape).expand_as(m.weight).sum())
    return total


def test_fisher_carries_each_channel_score_on_every_weight_of_the_channel():
    torch.manual_seed(0)
    model, batch = _ConvNet(), _batch()
    reference = _reference_fisher(model, batch)
    assert proxies.fisher(model, batch) == pytest.approx(reference, rel=1e-6)  # float32 sums in another order
    shared = proxies.data_dependent_scores(model, batch, names=["fisher"])
    assert shared["fisher"] == pytest.approx(reference, rel=1e-6)


def test_fisher_weighting_is_not_the_unweighted_channel_sum():
    """The definition changed in scores version 2: on a network of unequal
    layers the per-weight sum and the plain channel sum disagree."""
    torch.manual_seed(0)
    model, batch = _ConvNet(), _batch()
    acts: list[torch.Tensor] = []
    clone = copy.deepcopy(model).train()

    def keep(_m, _inp, out):
        out.retain_grad()
        acts.append(out)

    hooks = [m.register_forward_hook(keep) for m in proxies._weighted_layers(clone)]
    nn.functional.cross_entropy(clone(batch.inputs), batch.targets).backward()
    for h in hooks:
        h.remove()
    unweighted = proxies._fisher_sum([(a, 1) for a in acts], [a.grad for a in acts])
    assert proxies.fisher(model, batch) > 2 * unweighted


class _LayerNormNet(nn.Module):
    """A linear layer followed by LayerNorm: the normalisation subtracts the
    mean, so gradients of the all-ones objective change sign."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(12, 16)
        self.norm = nn.LayerNorm(16)
        self.mix = nn.Linear(16, 16)
        self.norm2 = nn.LayerNorm(16)
        self.head = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm2(self.mix(self.norm(self.embed(x.flatten(1))))))


def _reference_synflow(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[float, float]:
    """(reference SynFlow, the signed sum over every parameter) on |parameters| in float64."""
    clone = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for p in clone.parameters():
            p.abs_()
    clone(torch.ones((1, *input_shape), dtype=torch.float64)).sum().backward()
    reference = sum(
        float((m.weight * m.weight.grad).abs().sum()) for m in clone.modules() if isinstance(m, (nn.Conv2d, nn.Linear))
    )
    signed_all = sum(float((p * p.grad).sum()) for p in clone.parameters() if p.grad is not None)
    return reference, signed_all


def test_synflow_sums_absolute_saliency_of_conv_and_linear_weights_only():
    torch.manual_seed(0)
    model = _LayerNormNet()
    batch = proxies.ProxyBatch(torch.zeros(2, 3, 2, 2), torch.zeros(2, dtype=torch.long), "shape only")
    reference, signed_all = _reference_synflow(model, (3, 2, 2))
    assert proxies.synflow(model, batch) == pytest.approx(reference, rel=1e-12)
    assert reference > 0 and abs(signed_all - reference) > 1e-3 * reference  # the version-1 sum was another number


def test_synflow_removes_batch_norm_as_before():
    torch.manual_seed(0)
    model = _ConvNet()
    without_bn = copy.deepcopy(model)
    without_bn.features[1] = nn.Identity()
    batch = proxies.ProxyBatch(torch.zeros(2, 3, 8, 8), torch.zeros(2, dtype=torch.long), "shape only")
    assert proxies.synflow(model, batch) == pytest.approx(_reference_synflow(without_bn, (3, 8, 8))[0], rel=1e-12)


@contextmanager
def _fast_path(enabled: bool):
    old = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(enabled)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(old)


@pytest.mark.parametrize(
    "module, x",
    [
        (nn.MultiheadAttention(32, 4, batch_first=True), None),
        (nn.TransformerEncoderLayer(32, 4, 64, batch_first=True), torch.zeros(2, 7, 32)),
        (nn.TransformerEncoderLayer(32, 4, 64, batch_first=True, norm_first=True), torch.zeros(2, 7, 32)),
    ],
    ids=["multihead_attention", "encoder_layer", "encoder_layer_norm_first"],
)
def test_fused_attention_counts_like_its_decomposition(module, x):
    """In eval mode without autograd PyTorch runs these blocks as one fused op;
    the count equals the one of the same block decomposed into counted ops."""
    if isinstance(module, nn.MultiheadAttention):

        class SelfAttention(nn.Module):
            def __init__(self, attention):
                super().__init__()
                self.attention = attention

            def forward(self, t):
                return self.attention(t, t, t, need_weights=False)[0]

        module, x = SelfAttention(module), torch.zeros(2, 7, 32)
    fused = count_flops(module, x)
    with _fast_path(False):
        decomposed = count_flops(module, x)
    assert fused == decomposed > 0


@torch.library.custom_op("reuseprior_tests::fused_matmul", mutates_args=())
def _fused_matmul(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """A matrix product behind an op of its own, for which no FLOP formula exists."""
    return x @ w


def test_an_uncounted_heavy_op_is_an_error_not_zero():
    """An op that names a product (here a custom ``fused_matmul``) and has no formula is refused,
    never counted as zero."""

    class Fused(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(8, 8))

        def forward(self, t):
            return _fused_matmul(t, self.w)

    with pytest.raises(UncountedOpError, match="fused_matmul"):
        count_flops(Fused(), torch.zeros(1, 8))


def test_bilinear_upsampling_is_resampling_not_an_uncounted_linear_op():
    """``aten.upsample_bilinear2d`` says "linear" but is resampling, which the
    policy does not count (AirNet's attention branch upsamples so): the
    convolution is counted and the upsampling adds nothing."""
    conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
    upsampled = nn.Sequential(conv, nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
    x = torch.zeros(1, 3, 8, 8)
    assert count_flops(upsampled, x) == count_flops(conv, x) == 2 * 4 * 3 * 3 * 3 * 8 * 8


@contextmanager
def _parameters_on_meta():
    """Builders that compute with tensors while building (RegNet's width rule)
    cannot run under ``torch.device("meta")``: build on the CPU but move every
    parameter and buffer to ``meta`` as it is registered."""
    register_parameter, register_buffer = nn.Module.register_parameter, nn.Module.register_buffer

    def parameter_on_meta(self, name, param):
        register_parameter(self, name, param)
        if param is not None and param.device.type != "meta":
            self._parameters[name] = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)

    def buffer_on_meta(self, name, tensor, persistent=True):
        register_buffer(self, name, tensor, persistent)
        if tensor is not None and tensor.device.type != "meta":
            self._buffers[name] = tensor.to("meta")

    nn.Module.register_parameter, nn.Module.register_buffer = parameter_on_meta, buffer_on_meta
    try:
        yield
    finally:
        nn.Module.register_parameter, nn.Module.register_buffer = register_parameter, register_buffer


def _build_without_memory(name: str, crop: int) -> nn.Module:
    builder = torchvision.models.get_model_builder(name)
    kwargs = {"image_size": crop} if name.startswith("vit_") else {}  # position embeddings sized for the crop
    try:
        with torch.device("meta"):
            return builder(weights=None, **kwargs)
    except NotImplementedError:
        with _parameters_on_meta():
            return builder(weights=None, **kwargs)


@pytest.mark.parametrize("name", torchvision.models.list_models(module=torchvision.models))
def test_torchvision_flops_at_eval_crop_are_twice_the_published_multiply_adds(name):
    """Counted on fake CPU tensors (the CPU dispatch path, fused attention
    included, with no memory or compute), at the evaluation crop of the
    default weights, against ``2 * weights.meta["_ops"]`` (GFLOPs as
    multiply-adds, rounded to 3 decimals: within 2 %)."""
    weights = torchvision.models.get_model_weights(name).DEFAULT
    crop = weights.transforms().crop_size[0]
    model = _build_without_memory(name, crop)
    with FakeTensorMode(allow_non_fake_inputs=True):
        model.to_empty(device="cpu")
        gflops = count_flops(model, torch.zeros(1, 3, crop, crop)) / 1e9
    assert gflops == pytest.approx(2 * weights.meta["_ops"], rel=0.02), f"{name} at {crop} px"
