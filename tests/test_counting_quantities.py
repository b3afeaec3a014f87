"""Counting engine: thesis examples (Appendix A.3, Figures 4.2a/4.2b/4.3a), identities,
big counts, sharing, batch norm and error messages."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reuseprior.counting import (
    CaptureError,
    Report,
    UnsupportedOpError,
    WeightUse,
    analyze,
    count_contexts,
)
from reuseprior.counting.scaled import Scaled


# ---------------------------------------------------------------- Figures 4.2 / 4.3 (NI=2, NO=1)
class Fig42a(nn.Module):
    """o = w7 h3 + w8 h4, h3 = w5 h1, h4 = w6 h2, (h1, h2) = W (x1, x2): no reuse."""

    def __init__(self):
        super().__init__()
        self.first = nn.Linear(2, 2, bias=False)
        self.scale = nn.Parameter(torch.ones(2))
        self.last = nn.Linear(2, 1, bias=False)

    def forward(self, x):
        return self.last(self.first(x) * self.scale)


class Fig42b(Fig42a):
    """As 4.2a but h1 also feeds h4 directly (w1, w2 get a second context)."""

    def forward(self, x):
        h = self.first(x)
        s = h * self.scale + F.pad(h[:, :1], (1, 0))
        return self.last(s)


class Fig43a(nn.Module):
    """Appendix A.3: 2-2-2 dense graph whose outputs are summed into one output."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(2, 2, bias=False)
        self.b = nn.Linear(2, 2, bias=False)

    def forward(self, x):
        return self.b(torch.relu(self.a(x))).sum(-1, keepdim=True)


@pytest.mark.parametrize(
    "module, S, H, ES, PG, PGp",
    [
        (Fig42a, 24.0, 3.0, 0.0, 2.1255, 0.5406),
        (Fig42b, 24.5754, 2.9219, 0.4, 2.1597, 1.0260),
        (Fig43a, 24.6797, 2.9183, 0.6667, 2.1658, 1.2775),
    ],
)
def test_thesis_toy_graphs(module, S, H, ES, PG, PGp):
    """The values (``data/thesis/figures_4_2_4_3.csv``) are given to 4 decimals: each must be
    within half a unit of the 4th decimal (measured at most 3.4e-5, Figure 4.3a's P'G)."""
    rep = analyze(module(), torch.randn(1, 2))
    assert (rep.NI, rep.NO, rep.G, rep.NG) == (2, 1, 11, 8)
    half_unit = 5e-5
    assert rep.total_surprisal == pytest.approx(S, abs=half_unit)
    assert rep.entropy == pytest.approx(H, abs=half_unit)
    assert rep.expected_spread == pytest.approx(ES, abs=half_unit)
    assert rep.PG == pytest.approx(PG, abs=half_unit)
    assert rep.PG_prime == pytest.approx(PGp, abs=half_unit)


def test_appendix_a3_frequencies():
    counts = count_contexts(Fig43a(), torch.randn(1, 2))
    assert torch.equal(counts["a.weight"], torch.full((2, 2), 1.0, dtype=torch.float64))  # 2 contexts
    assert torch.equal(counts["b.weight"], torch.zeros(2, 2, dtype=torch.float64))  # 1 context


# ---------------------------------------------------------------- identities and closed forms
def test_mlp_counts_and_identities():
    w, D = 5, 4
    layers = []
    for _ in range(D - 1):
        layers += [nn.Linear(w, w, bias=False), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(w, 1, bias=False))
    counts = count_contexts(model, torch.randn(1, w))
    # the final (w -> 1) layer and the layer before it have 1 context; each further
    # layer back multiplies by the width
    for j, idx in enumerate(reversed(range(0, 2 * D - 1, 2))):
        expect = max(j - 1, 0) * math.log2(w)
        assert torch.allclose(counts[f"{idx}.weight"], torch.full_like(counts[f"{idx}.weight"], expect))
    rep = analyze(model, torch.randn(1, w), num_outputs=1)
    assert rep.entropy + rep.expected_spread == pytest.approx(rep.log2_NC, rel=1e-12)
    # NC = w (last layer) + w^2 (1 + w + ... + w^(D-2))
    assert rep.log2_NC == pytest.approx(math.log2(w + w * w * (w ** (D - 1) - 1) / (w - 1)), rel=1e-12)
    assert rep.total_surprisal == pytest.approx(
        rep.NG * rep.log2_NC - sum(float(c.sum()) for c in counts.values()), rel=1e-12
    )
    assert rep.PE == pytest.approx(rep.PG / rep.NG) and rep.CE == pytest.approx(rep.PG / rep.WG)


def test_discount_weights_paths_by_gamma_power_of_hops():
    model = nn.Sequential(nn.Linear(3, 3, bias=False), nn.Linear(3, 3, bias=True), nn.Linear(3, 1))
    c = count_contexts(model, torch.randn(1, 3), discount=0.5)
    # first layer: 3*1 paths, each through two later weighted layers: 3 * 0.25
    assert torch.allclose(c["0.weight"], torch.full((3, 3), math.log2(0.75), dtype=torch.float64))
    assert torch.allclose(c["1.bias"], torch.full((3,), math.log2(0.5), dtype=torch.float64))
    assert torch.allclose(c["2.weight"], torch.zeros(1, 3, dtype=torch.float64))


def test_huge_counts_do_not_overflow():
    w, D = 64, 200  # counts up to 64**199 = 2**1194 > float64 range
    model = nn.Sequential(*[nn.Linear(w, w, bias=False) for _ in range(D)], nn.Linear(w, 1, bias=False))
    counts = count_contexts(model, torch.randn(1, w))
    assert float(counts["0.weight"][0, 0]) == pytest.approx((D - 1) * 6.0, abs=1e-9)
    rep = analyze(model, torch.randn(1, w))
    assert math.isfinite(rep.PG) and rep.log2_NC > 1194


def test_scaled_alignment_and_exact_ints():
    a = Scaled(torch.tensor([1.0, 3.0], dtype=torch.float64), 2000).normalized()
    b = Scaled(torch.tensor([1.0, 0.0], dtype=torch.float64), 1999).normalized()
    s = a + b
    assert s.to_ints() == [3 * 2**1999, 3 * 2**2000]
    assert s.log2()[1].item() == pytest.approx(2000 + math.log2(3), abs=1e-12)


# ---------------------------------------------------------------- conv, BN, zero counts
def test_conv_counts_by_hand_and_zero_taps_excluded():
    conv = nn.Conv2d(2, 3, 3, padding=1, bias=False)
    model = nn.Sequential(conv, nn.Flatten())
    c = count_contexts(model, torch.randn(1, 2, 1, 1))  # 3x3 kernel on a 1x1 map: only the centre
    assert torch.isinf(c["0.weight"][:, :, 0, 0]).all() and (c["0.weight"][:, :, 1, 1] == 0).all()
    rep = analyze(model, torch.randn(1, 2, 1, 1))
    assert rep.NG == 6 and rep.WG == 6
    # stride 2, 4x4 input, pad 1: corner tap (0,0) valid for output rows/cols 1 only -> 1 position
    m2 = nn.Sequential(nn.Conv2d(1, 1, 3, stride=2, padding=1, bias=False), nn.Flatten())
    c2 = count_contexts(m2, torch.randn(1, 1, 4, 4))["0.weight"][0, 0].exp2().round()
    assert c2.tolist() == [[1, 2, 2], [2, 4, 4], [2, 4, 4]]


def test_batch_norm_counts_four_per_channel_never_merged():
    model = nn.Sequential(
        nn.Conv2d(1, 2, 1, bias=False),
        nn.BatchNorm2d(2),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2, 1, bias=False),
    )
    x = torch.randn(1, 1, 3, 3)
    c = count_contexts(model, x)
    assert torch.allclose(c["1.weight"], torch.full((2,), math.log2(9), dtype=torch.float64))
    r4 = analyze(model, x)
    r2 = analyze(model, x, bn_params_per_channel=2)
    assert r4.NG == 2 + 4 * 2 + 2 and r2.NG == 2 + 2 * 2 + 2
    assert r4.WG == r4.NG


def test_tied_weights_sum_over_uses_and_share_key_matches_tying():
    class Tied(nn.Module):
        def __init__(self, tie):
            super().__init__()
            self.a = nn.Linear(3, 3, bias=False)
            self.b = nn.Linear(3, 3, bias=False)
            if tie:
                self.b.weight = self.a.weight
            self.out = nn.Linear(3, 1, bias=False)

        def forward(self, x):
            return self.out(self.b(self.a(x)))

    x = torch.randn(1, 3)
    tied, untied = Tied(True), Tied(False)
    c = count_contexts(tied, x)
    # uses: first layer count 3 (3 paths), second layer count 1
    assert torch.allclose(c["a.weight"], torch.full((3, 3), 2.0, dtype=torch.float64))
    rt = analyze(tied, x)
    assert rt.NG == 12 and rt.WG == 21
    key = lambda u: ("lin", u.shape) if u.op == "linear" and u.shape == (3, 3) else None  # noqa: E731
    ru = analyze(untied, x, share_key=key)
    for k in ("NG", "WG", "PG", "PG_prime", "entropy", "expected_spread"):
        assert getattr(ru, k) == pytest.approx(getattr(rt, k), rel=1e-12)


def test_share_key_sees_conv_metadata_and_aligns_leading_slices():
    seen: list[WeightUse] = []

    def key(u):
        seen.append(u)
        return "conv" if u.op == "conv" else None

    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1, bias=False), nn.Conv2d(2, 2, 1, stride=1, bias=False), nn.Flatten()
    )
    rep = analyze(model, torch.randn(1, 1, 4, 4), share_key=key)
    convs = [u for u in seen if u.op == "conv"]
    assert {u.shape for u in convs} == {(2, 1, 3, 3), (2, 2, 1, 1)} and all(u.groups == 1 for u in convs)
    assert convs[0].stride == (1, 1) and convs[0].module is model[convs[0].module_name == "1" and 1 or 0]
    # merged shape (2, 2, 3, 3): union of the index sets
    assert rep.NG == len(
        {(o, i, y, x) for o in range(2) for i in range(1) for y in range(3) for x in range(3)}
        | {(o, i, 0, 0) for o in range(2) for i in range(2)}
    )
    assert rep.WG == 18 + 4


# ---------------------------------------------------------------- report and errors
def test_report_api():
    rep = analyze(Fig43a(), torch.randn(1, 2))
    d = rep.to_dict()
    assert list(d) == [
        "PG",
        "PG_prime",
        "expected_spread",
        "entropy",
        "total_surprisal",
        "NG",
        "WG",
        "NI",
        "NO",
        "G",
        "log2_NC",
        "PE",
        "CE",
    ]
    assert rep.to_series()["NG"] == 8 and "PG (eq. 4.7)" in str(rep) and "<table" in rep._repr_html_()
    assert isinstance(rep, Report) and set(rep.to_frame().columns) >= {"numel", "with_context"}


@pytest.mark.parametrize("to_real", [lambda z: z.real, torch.abs], ids=["real", "abs"])
def test_unknown_op_is_named(to_real):
    """Also when a pointwise op turns the complex result back into real
    numbers (abs): complex tensors computed from weights are not dropped."""

    class Weird(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)

        def forward(self, x):
            return to_real(torch.fft.fft(self.lin(x)))

    with pytest.raises(UnsupportedOpError, match=r"aten\._fft|aten\.fft|view_as_real|lin\.weight"):
        analyze(Weird(), torch.randn(1, 4))


def test_wrong_input_shape_is_reported():
    with pytest.raises(ValueError, match="does not accept an input of shape"):
        analyze(nn.Sequential(nn.Linear(4, 2)), torch.randn(1, 5))


def test_input_without_batch_dimension_is_reported_not_miscounted():
    """torch accepts unbatched inputs for Linear/Conv; NI and NO would then be
    divided by a feature size taken for the batch size."""
    with pytest.raises(ValueError, match=r"first dimension is not the batch size 4.*unsqueeze\(0\)"):
        analyze(nn.Linear(4, 2), torch.zeros(4))
    with pytest.raises(ValueError, match="not the batch size 3"):
        analyze(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), torch.zeros(3, 8, 8))
    assert analyze(nn.Linear(4, 2), torch.zeros(1, 4)).NI == 4


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_inputs": -5}, "num_inputs must be an integer >= 1"),
        ({"num_outputs": 0}, "num_outputs must be an integer >= 1"),
        ({"num_inputs": 2.5}, "num_inputs must be an integer >= 1"),
        ({"bn_params_per_channel": -1}, "bn_params_per_channel must be an integer >= 0"),
    ],
)
def test_invalid_counting_settings_are_reported(kwargs, message):
    with pytest.raises(ValueError, match=message):
        analyze(nn.Linear(4, 2), torch.zeros(1, 4), **kwargs)
    assert analyze(nn.Linear(4, 2), torch.zeros(1, 4), num_inputs=np.int64(3)).NI == 3  # numpy integers are fine


def test_wrong_argument_types_are_reported_with_the_fix():
    with pytest.raises(TypeError, match=r"build_model\('resnet18'\)"):
        analyze("resnet18", torch.zeros(1, 3, 32, 32))
    with pytest.raises(TypeError, match="wrapper module"):
        analyze(nn.Linear(4, 2), (torch.zeros(1, 4), torch.zeros(1, 3)))


def test_uncapturable_model_is_reported():
    class DataDependent(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 2)

        def forward(self, x):
            if self.lin(x).sum() > 0:
                return x
            return -x

    with pytest.raises(CaptureError, match="DataDependent"):
        analyze(DataDependent(), torch.randn(1, 2))


# ---------------------------------------------------------------- rules read off the Jacobian's pattern
def _structural_count_through(op: nn.Module, shape: tuple[int, ...]) -> tuple[float, float]:
    """(engine, Jacobian) count of the one weight of ``1x1 conv -> op -> flatten -> linear(., 1)``.

    Every output element of ``op`` reaches the single output through one linear
    weight, so it carries count 1 and the conv weight's count is the number of
    (output, input) pairs of ``op`` that structurally depend on each other: the
    number of non-zero entries of ``op``'s Jacobian at a random point."""
    conv = (nn.Conv3d if len(shape) == 5 else nn.Conv1d if len(shape) == 3 else nn.Conv2d)(1, 1, 1, bias=False)
    torch.manual_seed(0)
    x = torch.randn(shape)
    jac = torch.autograd.functional.jacobian(op, x)
    out_numel = op(x).numel()
    model = nn.Sequential(conv, op, nn.Flatten(), nn.Linear(out_numel, 1, bias=False))
    counts = count_contexts(model, torch.zeros(shape))
    return float(2 ** counts["0.weight"].item()), float((jac != 0).sum())


@pytest.mark.parametrize(
    "op, shape",
    [
        (nn.Upsample(scale_factor=2, mode="bilinear"), (1, 1, 5, 4)),
        (nn.Upsample(size=(7, 3), mode="bilinear", align_corners=True), (1, 1, 4, 5)),
        (nn.Upsample(scale_factor=1.5, mode="bicubic"), (1, 1, 6, 5)),
        (nn.AvgPool3d(2, stride=1, padding=1), (1, 1, 3, 4, 3)),
        (nn.MaxPool3d(3, stride=2, padding=1, ceil_mode=True), (1, 1, 5, 4, 6)),
        (nn.AvgPool1d(3, stride=2, padding=1, ceil_mode=True), (1, 1, 8)),
    ],
    ids=["bilinear-x2", "bilinear-size-align", "bicubic-x1.5", "avgpool3d", "maxpool3d-ceil", "avgpool1d-ceil"],
)
def test_resampling_and_nd_pooling_rules_follow_the_jacobian_pattern(op, shape):
    engine, pattern = _structural_count_through(op, shape)
    if isinstance(op, nn.MaxPool3d):  # max pooling counts every in-bounds window position, not just the argmax
        engine_sum, window_pattern = _structural_count_through(
            nn.AvgPool3d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), shape
        )
        assert engine == pytest.approx(engine_sum, rel=1e-12) and engine_sum == pytest.approx(window_pattern, rel=1e-12)
    else:
        assert engine == pytest.approx(pattern, rel=1e-12)


def test_prelu_slope_gets_the_counts_it_scales_and_the_input_passes_through():
    H = W = 3
    prelu = nn.Sequential(
        nn.Conv2d(1, 2, 1, bias=False), nn.PReLU(2), nn.Flatten(), nn.Linear(2 * H * W, 1, bias=False)
    )
    ident = nn.Sequential(
        nn.Conv2d(1, 2, 1, bias=False), nn.Identity(), nn.Flatten(), nn.Linear(2 * H * W, 1, bias=False)
    )
    x = torch.zeros(1, 1, H, W)
    a, b = count_contexts(prelu, x), count_contexts(ident, x)
    assert torch.equal(a["0.weight"], b["0.weight"])  # activation = identity for the input
    assert torch.allclose(a["1.weight"], torch.full((2,), math.log2(H * W), dtype=a["1.weight"].dtype))
    single = nn.Sequential(
        nn.Conv2d(1, 2, 1, bias=False), nn.PReLU(), nn.Flatten(), nn.Linear(2 * H * W, 1, bias=False)
    )
    assert count_contexts(single, x)["1.weight"].item() == pytest.approx(math.log2(2 * H * W))


def test_readme_example_registers_a_rule_from_user_code(monkeypatch):
    """The README's 'Analysing your own model' block, run as written: a user
    rule for cumsum gives weight row i of a dense layer 4 - i contexts."""
    import re

    from reuseprior.core import paths
    from reuseprior.counting import rules

    class Cumulative(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 4, bias=False)

        def forward(self, x):
            return torch.cumsum(self.lin(x), dim=1)

    with pytest.raises(UnsupportedOpError, match=r"aten\.cumsum.*lin\.weight.*reuseprior\.counting\.register"):
        count_contexts(Cumulative(), torch.zeros(1, 3))
    readme = (paths.ROOT / "README.md").read_text()
    section = readme.split("## Analysing your own model", 1)[1]
    block = next(b for b in re.findall(r"```python\n(.*?)```", section, re.S) if "register" in b)
    monkeypatch.setattr(rules, "RULES", dict(rules.RULES))  # the registration does not outlive the test
    exec(compile(block, "README.md", "exec"), {})
    counts = count_contexts(Cumulative(), torch.zeros(1, 3))["lin.weight"]
    expected = torch.tensor([4.0, 3.0, 2.0, 1.0], dtype=torch.float64).log2()[:, None].expand(4, 3)
    assert torch.equal(counts, expected)
