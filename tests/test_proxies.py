"""Zero-cost proxies: common signature, determinism, known values on tiny models."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from reuseprior import datasets
from reuseprior.baselines import complexity, proxies, registry
from reuseprior.baselines.nnmass import NNMassConfig, build_nnmass, nn_mass
from reuseprior.core.parameters import count_parameters

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_cnn(width: int = 4) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(width, 10),
    )


@pytest.fixture(scope="module")
def batch():
    return proxies.make_batch(8, 16, 10, seed=0)


def test_batch_is_seeded_and_described():
    a, b, c = (
        proxies.make_batch(4, 16, 10, seed=1),
        proxies.make_batch(4, 16, 10, seed=1),
        proxies.make_batch(4, 16, 10, seed=2),
    )
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.inputs, c.inputs)
    assert a.inputs.shape == (4, 3, 16, 16) and "sample photographs" in a.description
    assert proxies.make_batch(4, 8, 10, source="noise").inputs.shape == (4, 3, 8, 8)
    with pytest.raises(ValueError, match="source"):
        proxies.make_batch(4, 8, 10, source="cifar")


def test_params_and_flops_match_hand_counts(batch):
    model = tiny_cnn(4)
    assert proxies.num_params(model, batch) == 3 * 4 * 9 + 2 * 4 + 4 * 10 + 10
    # conv: 2 * (16*16 positions) * 4 out * 27 MACs; linear: 2 * 4 * 10
    assert proxies.flops(model, batch) == 2 * 16 * 16 * 4 * 27 + 2 * 4 * 10


def test_synflow_of_a_linear_chain_is_the_path_sum():
    # two bias-free linear layers: R = 1^T |W2| |W1| 1 and sum(theta * dR/dtheta) = 2R
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 5, bias=False), nn.Linear(5, 3, bias=False))
    b = proxies.ProxyBatch(torch.randn(2, 3, 2, 2), torch.tensor([0, 1]), 3)
    w1, w2 = (m.weight.detach().double().abs() for m in (model[1], model[2]))
    r = (w2 @ w1 @ torch.ones(12, dtype=torch.float64)).sum()
    assert proxies.synflow(model, b) == pytest.approx(2 * float(r), rel=1e-12)
    # the model itself is untouched (no abs, no dtype change)
    assert model[1].weight.dtype == torch.float32 and (model[1].weight < 0).any()


def test_every_proxy_is_finite_deterministic_and_leaves_the_model_unchanged(batch):
    model = tiny_cnn(6)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    first = proxies.score_all(model, batch)
    second = proxies.score_all(model, batch)
    for name in proxies.PROXIES:
        if not registry.proxy_info(name).any_architecture:  # NN-Mass: defined on its own family only
            assert math.isnan(first[name])
            continue
        assert math.isfinite(first[name]), (name, first)
        assert first[name] == second[name], name
        assert first[f"{name}_seconds"] >= 0
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_snip_grad_norm_and_grasp_match_the_closed_form_of_softmax_regression():
    # one linear layer: dL/dW = (softmax(z) - onehot(y))^T x / B for the mean cross-entropy
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 4))
    b = proxies.ProxyBatch(torch.randn(6, 3, 2, 2), torch.tensor([0, 1, 2, 3, 0, 1]), 4)
    x = b.inputs.reshape(6, -1).double()
    w, bias = model[1].weight.detach().double(), model[1].bias.detach().double()
    p = torch.softmax(x @ w.t() + bias, dim=1)
    g = (p - nn.functional.one_hot(b.targets, 4).double()).t() @ x / 6
    assert proxies.grad_norm(model, b) == pytest.approx(float(g.norm()), rel=1e-5)
    assert proxies.snip(model, b) == pytest.approx(float((g * w).abs().sum()), rel=1e-5)

    # GraSP: -theta . (H g) with the Hessian of the mean CE w.r.t. W (a quadratic form, computed by torch.func here)
    def loss_of(wflat):
        z = x @ wflat.reshape(4, 12).t() + bias
        return nn.functional.cross_entropy(z, b.targets)

    # Fisher of the logits layer: a = z, dL/da = (p - y)/B per example; 0.5 * mean_n (a g)^2 per channel,
    # carried by each of the channel's 12 weights, summed
    z = x @ w.t() + bias
    ga = (p - nn.functional.one_hot(b.targets, 4).double()) / 6
    assert proxies.fisher(model, b) == pytest.approx(12 * float((0.5 * (z * ga).pow(2).mean(0)).sum()), rel=1e-4)
    hess = torch.autograd.functional.hessian(loss_of, w.reshape(-1))
    expected = float(-(w.reshape(-1) @ (hess @ g.reshape(-1))))
    assert proxies.grasp(model, b) == pytest.approx(expected, rel=1e-4, abs=1e-9)


def test_naswot_counts_distinct_activation_patterns():
    # identical inputs give a singular kernel (log det -inf); distinct inputs a finite one
    model = tiny_cnn(8)
    x = torch.randn(1, 3, 8, 8).repeat(4, 1, 1, 1)
    same = proxies.ProxyBatch(x, torch.zeros(4, dtype=torch.long), 10)
    assert proxies.naswot(model, same) == float("-inf")
    assert math.isfinite(proxies.naswot(model, proxies.make_batch(4, 8, 10, seed=0)))


def test_nn_mass_is_defined_only_for_the_nn_mass_family(batch):
    cfg = NNMassConfig(depths=(4, 4, 4), t_c=(8, 16, 32), width_multiplier=1)
    assert proxies.nn_mass(build_nnmass(cfg), batch) == pytest.approx(nn_mass(cfg))
    assert math.isnan(proxies.nn_mass(tiny_cnn(), batch))


def test_failing_proxy_is_recorded_not_raised(batch):
    class Broken(nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    out = proxies.score_all(Broken(), batch, ["snip"])
    assert math.isnan(out["snip"]) and "boom" in out["snip_error"]
    with pytest.raises(KeyError, match="unknown proxy"):
        proxies.score_all(tiny_cnn(), batch, ["zen"])


def residual_cnn_with_dropout() -> nn.Module:
    """In-place ReLU straight after a conv (Fisher reads a tensor changed in
    place), a branch joining by addition, a linear head and dropout."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 6, 3, padding=1)
            self.act = nn.ReLU(inplace=True)
            self.branch = nn.Sequential(nn.Conv2d(6, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6), nn.GELU())
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3), nn.Linear(6, 10))

        def forward(self, x):
            h = self.act(self.stem(x))
            return self.head(h + self.branch(h))

    torch.manual_seed(3)
    return Net()


@pytest.mark.parametrize("build", [tiny_cnn, residual_cnn_with_dropout])
def test_shared_pass_equals_one_pass_per_proxy(build, batch):
    model = build()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(0)
    shared = proxies.data_dependent_scores(model, batch)
    assert set(shared) == proxies.DATA_DEPENDENT
    has_dropout = any(isinstance(m, nn.Dropout) for m in model.modules())
    for name, value in shared.items():
        torch.manual_seed(0)
        alone = proxies.PROXIES[name](model, batch)
        if registry.proxy_info(name).second_order and has_dropout:
            # alone, GraSP's second forward draws a new dropout mask; shared, g and Hg see one network
            assert math.isfinite(value) and value != alone
            continue
        assert value == pytest.approx(alone, rel=1e-9, abs=1e-12), name
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    subset = proxies.data_dependent_scores(model, batch, ["naswot", "fisher"])
    assert set(subset) == {"naswot", "fisher"} and subset["naswot"] == shared["naswot"]
    graph_kept = []
    model.register_forward_hook(lambda _m, _inp, out: graph_kept.append(out.requires_grad))  # the clone copies it
    assert proxies.data_dependent_scores(model, batch, ["naswot"]) == {"naswot": shared["naswot"]}
    assert graph_kept == [False]  # NASWOT alone builds no autograd graph
    with pytest.raises(KeyError, match="not data-dependent"):
        proxies.data_dependent_scores(model, batch, ["params"])


def test_one_product_hamming_kernel_equals_the_two_product_form():
    torch.manual_seed(0)
    kernel = torch.zeros(5, 5, dtype=torch.float64)
    x = torch.randn(5, 3, 7, 7)
    proxies._add_hamming_kernel(kernel, x)
    c = (x.reshape(5, -1) > 0).double()
    assert torch.equal(kernel, c @ c.t() + (1 - c) @ (1 - c).t())
    assert torch.all(kernel.diagonal() == 3 * 7 * 7)  # an example agrees with itself everywhere


def test_naswot_reads_prelu_like_leaky_relu(batch):
    """PReLU (ESPNetv2) is a rectifier with a learned negative slope: its input's sign is the unit's code, as for
    LeakyReLU, so the two give the same kernel and score; without it read, the net has no activation (undefined)."""

    def net(activation: nn.Module) -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(3, 4, 3), activation, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))

    value = proxies.naswot(net(nn.PReLU(4)), batch)
    assert proxies.is_activation(nn.PReLU()) and math.isfinite(value)
    assert value == proxies.naswot(net(nn.LeakyReLU(0.25)), batch)


@pytest.mark.parametrize("library_class, torch_class", [("Swish", nn.SiLU), ("HSwish", nn.Hardswish)])
def test_naswot_reads_pytorchcv_activation_modules_as_their_torch_equivalents(library_class, torch_class, batch):
    activ = pytest.importorskip("pytorchcv.models.common.activ")

    def net(activation: nn.Module) -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(3, 4, 3), activation, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))

    library, reference = net(getattr(activ, library_class)()), net(torch_class())
    assert proxies.is_activation(library[1]) and not proxies.is_activation(activ.HSigmoid())  # a gate, not a unit
    value = proxies.naswot(library, batch)
    assert math.isfinite(value) and value == proxies.naswot(reference, batch)
    assert proxies.data_dependent_scores(library, batch, ["naswot"])["naswot"] == value


def test_naswot_without_activation_modules_is_undefined_and_says_why(batch):
    class FunctionalRelu(nn.Module):  # like torchvision's GoogLeNet: F.relu, no nn.ReLU to hook
        def __init__(self):
            super().__init__()
            self.conv, self.head = nn.Conv2d(3, 4, 3), nn.Linear(4, 10)

        def forward(self, x):
            return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3)))

    for out in (
        proxies.data_dependent_scores(FunctionalRelu(), batch),
        proxies.score_all(FunctionalRelu(), batch, ["naswot"]),
    ):
        assert math.isnan(out["naswot"]) and "no activation module of a known type" in out["naswot_error"]
        assert out["naswot_error"].endswith("are unseen")  # the reason fits the recorded 200 characters


def test_shared_pass_names_a_proxy_that_fails_without_losing_the_others(batch):
    class NoWeights(nn.Module):  # no conv/linear weights, and an output that ignores the input
        def __init__(self):
            super().__init__()
            self.act = nn.ReLU()

        def forward(self, x):
            return self.act(x).mean(dim=(1, 2, 3))[:, None].repeat(1, 10) * 0

    model = NoWeights()
    out = proxies.data_dependent_scores(model, batch)
    assert out["snip"] == out["grad_norm"] == out["fisher"] == 0  # empty sums, as when computed alone
    assert math.isnan(out["grasp"]) and "grasp_error" in out  # no weights to differentiate
    assert math.isnan(out["jacob_cov"])  # zero Jacobian: undefined correlation
    assert out["naswot"] == proxies.naswot(model, batch)  # unaffected by the failures beside it


@pytest.mark.parametrize("fused", ["attention", "hardsigmoid"])
def test_grasp_through_ops_without_double_backward(fused, batch):
    """The fused CPU attention kernel and hardsigmoid have no double backward
    (the error torchvision's ViTs and MobileNetV3 gave); GraSP is computed with
    twice-differentiable equivalents, the other proxies from the shared forward."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Conv2d(3, 8, 4, stride=4)
            self.attention = nn.MultiheadAttention(8, 2, batch_first=True)
            self.gate = nn.Hardsigmoid()
            self.head = nn.Linear(8, 10)

        def forward(self, x):
            tokens = self.embed(x).flatten(2).transpose(1, 2)
            if fused == "attention":
                tokens, _ = self.attention(tokens, tokens, tokens, need_weights=False)
            else:
                tokens = tokens * self.gate(tokens)
            return self.head(tokens.mean(dim=1))

    torch.manual_seed(0)
    model = Net()
    shared = proxies.data_dependent_scores(model, batch)
    assert "grasp_error" not in shared and math.isfinite(shared["grasp"]) and shared["grasp"] != 0
    assert shared["grasp"] == pytest.approx(proxies.grasp(model, batch), rel=1e-9)
    assert shared["snip"] == pytest.approx(proxies.snip(model, batch), rel=1e-9)
    assert isinstance(model.gate, nn.Hardsigmoid)  # the model itself is left as it was


def test_grasp_summand_magnitude_is_the_absolute_sum_of_graps_terms(batch):
    """Against a Hessian-vector product of torch.func on the flat weights of a
    BatchNorm-free network (train mode with BatchNorm is not a function of the weights alone)."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.Tanh(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10)
    ).double()
    inputs = batch.inputs.double()
    weights = {name: p.detach() for name, p in model.named_parameters()}

    def loss(w):
        return nn.functional.cross_entropy(torch.func.functional_call(model, w, (inputs,)), batch.targets)

    scored = ("0.weight", "4.weight")  # conv and linear weights; the biases take part in the loss only
    g = {k: v if k in scored else torch.zeros_like(v) for k, v in torch.func.grad(loss)(weights).items()}
    _, hg = torch.func.jvp(torch.func.grad(loss), (weights,), (g,))
    terms = [-weights[k] * hg[k] for k in scored]
    double_batch = proxies.ProxyBatch(inputs, batch.targets, batch.num_classes, batch.description)
    assert proxies.grasp(model, double_batch) == pytest.approx(float(sum(t.sum() for t in terms)), rel=1e-9)
    magnitude = proxies.grasp_summand_magnitude(model, double_batch)
    assert magnitude == pytest.approx(float(sum(t.abs().sum() for t in terms)), rel=1e-9)
    assert magnitude > abs(proxies.grasp(model, double_batch))  # the terms have both signs: they cancel


# ------------------------------------------------------------------------------ the registry


def test_the_registry_describes_every_proxy_in_the_stored_column_order():
    assert list(registry.REGISTRY) == list(proxies.PROXIES)
    assert all(name == info.name for name, info in registry.REGISTRY.items())
    assert proxies.DATA_DEPENDENT is registry.DATA_DEPENDENT
    assert registry.ZOO_PROXIES == (
        "params",
        "flops",
        "synflow",
        "snip",
        "grasp",
        "fisher",
        "grad_norm",
        "jacob_cov",
        "naswot",
    )
    assert registry.SECOND_ORDER == {"grasp"}
    assert registry.proxy_names(kind="naive baseline") == ("params", "flops")
    assert registry.proxy_names(data_dependent=True, needs_labels=False) == ("jacob_cov", "naswot")
    for info in registry.REGISTRY.values():
        assert info.label and info.unit and info.definition and info.source and info.higher_is_better


def test_the_shared_pass_computes_exactly_the_data_dependent_proxies(batch):
    assert set(proxies.data_dependent_scores(tiny_cnn(), batch)) == registry.DATA_DEPENDENT
    with pytest.raises(KeyError, match="not data-dependent"):
        proxies.data_dependent_scores(tiny_cnn(), batch, ["synflow"])


def test_the_registry_refuses_unknown_names_criteria_and_inconsistent_entries():
    with pytest.raises(KeyError, match="unknown proxy 'synflo'"):
        registry.proxy_info("synflo")
    with pytest.raises(TypeError, match="cannot select proxies by \\['label'\\]"):
        registry.proxy_names(label="SNIP")
    with pytest.raises(ValueError, match="reads the minibatch"):
        registry.ProxyInfo("x", "X", "-", "zero-cost proxy", "-", "-", needs_labels=True)
    with pytest.raises(ValueError, match="needs gradients"):
        registry.ProxyInfo("x", "X", "-", "zero-cost proxy", "-", "-", second_order=True)
    with pytest.raises(ValueError, match="kind"):
        registry.ProxyInfo("x", "X", "-", "oracle", "-", "-")


def test_params_come_from_the_one_counter_and_frozen_or_tied_tensors_count_as_it_says(batch):
    model = tiny_cnn(4)
    model[0].weight.requires_grad_(False)
    assert proxies.num_params(model, batch) == count_parameters(model) == 2 * 4 + 4 * 10 + 10
    assert complexity.count_parameters(model, trainable_only=False) == 3 * 4 * 9 + 2 * 4 + 4 * 10 + 10
    tied = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    tied.append(tied[0])  # one tensor, two modules: counted once
    assert proxies.num_params(tied) == 4 * 4 + 4
    assert proxies.count_flops is complexity.count_flops


def test_flops_restore_the_train_mode(batch):
    model = tiny_cnn(4).train()
    complexity.count_flops(model, batch.example)
    assert model.training
    assert complexity.count_flops(model.eval(), batch.example) == proxies.flops(model, batch) and not model.training


def test_the_stand_in_batch_is_normalised_with_the_package_imagenet_statistics():
    assert proxies._IMAGENET_MEAN.dtype == proxies._IMAGENET_STD.dtype == np.float32
    assert proxies._IMAGENET_MEAN.ravel().tolist() == np.float32(datasets.IMAGENET_MEAN).tolist()
    assert proxies._IMAGENET_STD.ravel().tolist() == np.float32(datasets.IMAGENET_STD).tolist()


class _LatentQuery(nn.Module):
    """A view of a parameter handed to a submodule as its argument, as attention pooling passes its latent
    query (``latent.expand(B, ...)``)."""

    def __init__(self) -> None:
        super().__init__()
        self.latent = nn.Parameter(torch.ones(1, 4))
        self.q = nn.Linear(4, 4, bias=False)
        self.head = nn.Linear(4, 3, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x + self.q(self.latent.expand(x.shape[0], -1)))


def test_flops_of_a_model_that_hands_a_parameter_to_a_submodule():
    model = _LatentQuery()
    assert complexity.count_flops(model, torch.zeros(1, 4)) == 2 * (4 * 4 + 4 * 3)
    assert all(p.requires_grad for p in model.parameters())  # the flags are given back


class _Recurrent(nn.Module):
    """A recurrent layer (batch first) whose output sequence is the model's output."""

    def __init__(self, layer: type[nn.RNNBase], **options) -> None:
        super().__init__()
        self.rnn = layer(8, 16, batch_first=True, **options)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0]


@pytest.mark.filterwarnings("ignore:TF32 acceleration on top of oneDNN")  # torch.backends.mkldnn.flags says it
@pytest.mark.parametrize(
    ("layer", "options"),
    [(nn.LSTM, {}), (nn.GRU, {}), (nn.RNN, {}), (nn.LSTM, {"num_layers": 2, "bidirectional": True})],
)
def test_recurrent_flops_on_onednn_equal_those_of_the_decomposed_layer(layer, options):
    """oneDNN's fused layer (``aten.mkldnn_rnn_layer``, a formula of ours) counts what the same layer counts
    decomposed into matrix products (the stock registry's formulas), and for one LSTM layer what the hand
    count gives: 4 gates, each ``16 x 8`` and ``16 x 16`` weights used once per example and step."""
    model, x = _Recurrent(layer, **options).eval(), torch.zeros(3, 5, 8)
    fused = complexity.count_flops(model, x)
    with torch.backends.mkldnn.flags(enabled=False):
        decomposed = complexity.count_flops(model, x)
    assert fused == decomposed
    if layer is nn.LSTM and not options:
        assert fused == 2 * 3 * 5 * 4 * 16 * (8 + 16)


class _Doubling(nn.Module):
    """``x -> 2^1100 x``: finite in float32 for a zero input, beyond float64's range for ones."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2.0**600 * 2.0**500


def test_synflow_out_of_float64_range_is_undefined_with_the_module_named(batch):
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 4), _Doubling(), nn.Linear(4, 10))
    with pytest.raises(ValueError, match=r"SynFlow undefined: R = inf .*first non-finite output: '2' \(_Doubling\)"):
        proxies.synflow(model, batch)
    stored = proxies.score_all(model, batch, ["synflow"])
    assert math.isnan(stored["synflow"]) and "'2' (_Doubling)" in stored["synflow_error"]


def test_synflow_of_in_place_activations_around_a_removed_batchnorm_is_their_out_of_place_value(batch):
    """DPN's pre-activation order (ReLU, BatchNorm, in-place ReLU): SynFlow drops the BatchNorm, and the second
    ReLU would overwrite the first's output, which the first's backward reads; the copy computes out of place."""

    torch.manual_seed(0)
    in_place = nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.ReLU(inplace=True),
        nn.BatchNorm2d(4),
        nn.ReLU(inplace=True),
        nn.Flatten(),
        nn.Linear(4 * 14 * 14, 10),
    )
    out_of_place = copy.deepcopy(in_place)
    out_of_place[1].inplace = out_of_place[3].inplace = False
    assert proxies.synflow(in_place, batch) == proxies.synflow(out_of_place, batch) > 0
    assert in_place[1].inplace and in_place[3].inplace  # the model itself is left as it was


class _Sqrt(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(x)


def test_synflow_whose_backward_is_not_finite_is_undefined(batch):
    # a zero first layer: R = 0 is finite, but d sqrt(u)/du at u = 0 is inf, so theta * dR/dtheta is 0 * inf
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 4, bias=False), _Sqrt(), nn.Linear(4, 10))
    with torch.no_grad():
        model[1].weight.zero_()
    with pytest.raises(ValueError, match=r"SynFlow undefined: R = .* is finite but sum .* = nan"):
        proxies.synflow(model, batch)


def test_jacob_cov_of_constant_input_gradients_is_undefined(batch):
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 10))
    with torch.no_grad():
        model[1].weight.zero_()  # a zero-initialised classifier: every input gradient is 0
    with pytest.raises(ValueError, match="8 of 8 examples' input gradients are constant \\(8 all zero"):
        proxies.jacob_cov(model, batch)
    shared = proxies.data_dependent_scores(model, batch, ["jacob_cov"])
    assert math.isnan(shared["jacob_cov"]) and "constant" in shared["jacob_cov_error"]
