"""Counting engine: settings of ordinary layers counted by the rules' semantics (dilated
pooling with ``ceil_mode``, embedding options, instance norm, sequence-first modules) and
``analyze`` leaving the model as it found it, each checked against a count by hand."""

from __future__ import annotations

import copy
import math
import warnings

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrizations, parametrize

from reuseprior.core.errors import DataDependentCountWarning
from reuseprior.counting import analyze, capture, count_contexts
from reuseprior.counting.input_check import meta_trace_settles_input
from reuseprior.counting.rules import UnsupportedOpError


class _PerPixel(nn.Module):
    """A parameter per input position (so its counts are the pooled positions' counts),
    then ``layer``."""

    def __init__(self, shape, layer):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(shape))
        self.layer = layer

    def forward(self, x):
        return self.layer(x * self.scale)


# ------------------------------------------------------------------ dilated pooling
@pytest.mark.parametrize(
    "pool, per_axis",
    [
        # 6 positions, windows at 0 and 2 (taps 0, 2 and 2, 4); ceil_mode adds the window at 4 (taps 4, 6)
        (nn.MaxPool2d(2, 2, dilation=2), [1, 0, 2, 0, 1, 0]),
        (nn.MaxPool2d(2, 2, dilation=2, ceil_mode=True), [1, 0, 2, 0, 2, 0]),
        # padding 1: windows at -1, 1, 3 (taps -1, 1 / 1, 3 / 3, 5); -1 is padding
        (nn.MaxPool2d(2, 2, dilation=2, padding=1), [0, 2, 0, 2, 0, 1]),
        # windows at -1, 1 and, with ceil_mode, 3 (taps -1, 1, 3 / 1, 3, 5 / 3, 5, 7)
        (nn.MaxPool2d(3, 2, dilation=2, padding=1, ceil_mode=True), [0, 2, 0, 3, 0, 2]),
    ],
)
def test_dilated_max_pooling_counts_every_in_bounds_tap(pool, per_axis):
    x = torch.randn(1, 1, 6, 6)
    counts = count_contexts(_PerPixel((1, 1, 6, 6), pool), x)["scale"].exp2()
    r = torch.tensor(per_axis, dtype=torch.float64)
    assert torch.allclose(counts[0, 0], torch.outer(r, r))


# ------------------------------------------------------------------ analyze leaves the model as it was
def test_analyze_gives_every_module_its_own_mode_back():
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 2, 1))
    model.train()
    model[1].eval()  # a frozen batch norm in a model in training
    analyze(model, torch.randn(1, 2, 5, 5))
    assert [m.training for m in model.modules()] == [True, True, False, True, True]


def test_analyze_leaves_parameters_bit_identical_under_an_in_place_renorm():
    model = nn.Sequential(nn.Embedding(5, 3, max_norm=1.0), nn.Linear(3, 2))
    with torch.no_grad():
        model[0].weight.mul_(10)  # rows well above max_norm: the forward renormalises the rows it reads
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.warns(DataDependentCountWarning):  # the counts read the token ids
        analyze(model, torch.tensor([[1, 2]]))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


class _Counter(nn.Module):
    """A model whose own forward updates a buffer in place (a running count); with ``vocabulary``,
    its input is token ids read by an embedding."""

    def __init__(self, vocabulary: int = 0):
        super().__init__()
        self.embedding = nn.Embedding(vocabulary, 3) if vocabulary else None
        self.lin = nn.Linear(3, 2)
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, x):
        self.calls += 1
        return self.lin(self.embedding(x) if self.embedding is not None else x)


def test_an_in_place_change_of_the_model_s_own_is_named_in_a_warning():
    """Token ids are checked by the model's eager run (an id beyond the embedding is refused only
    when it runs), which changes the model's buffer: the warning names it."""
    with pytest.warns(UserWarning, match=r"_Counter's forward changed calls in place"):
        analyze(_Counter(vocabulary=5), torch.tensor([[1, 2, 3]]))


def test_a_float_input_the_meta_trace_settles_leaves_the_model_unrun():
    """Every op of the trace checks its operands by shape and the dtypes agree: the eager run is
    spared, so the model's own in-place update never happens."""
    model = _Counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        analyze(model, torch.zeros(1, 3))
    assert model.calls.item() == 0


class _Gather(nn.Module):
    """Reads a table at positions computed from its float input."""

    def __init__(self):
        super().__init__()
        self.table = nn.Parameter(torch.randn(4, 3))

    def forward(self, x):
        return self.table[x.long()].sum(1)


def test_an_index_computed_from_the_input_is_checked_by_the_eager_run():
    with pytest.warns(DataDependentCountWarning):  # the rows counted are the ones the input picks
        analyze(_Gather(), torch.tensor([[0.0, 3.0]]))
    with pytest.raises(ValueError, match=r"_Gather does not accept an input of shape \(1, 2\)"):
        analyze(_Gather(), torch.tensor([[0.0, 9.0]]))  # index 9 of a table of 4 rows


def test_an_op_outside_the_shape_checked_ops_sends_the_model_through_its_eager_run():
    """``torch.linalg.cholesky`` refuses a matrix for its values, which a meta trace cannot see."""

    class Factorise(nn.Module):
        def forward(self, x):
            return torch.linalg.cholesky(x.reshape(2, 2))[None]

    graph = capture(Factorise(), torch.eye(2).reshape(1, 4))
    assert not meta_trace_settles_input(graph.graph, graph.input_node, graph.example_input)
    with pytest.raises(ValueError, match="Factorise does not accept an input"):
        capture(Factorise(), -torch.eye(2).reshape(1, 4))


def test_an_input_of_another_dtype_than_the_model_s_is_checked_by_the_eager_run():
    graph = capture(nn.Linear(3, 2), torch.zeros(1, 3))
    assert meta_trace_settles_input(graph.graph, graph.input_node, graph.example_input)
    with pytest.raises(ValueError, match="does not accept an input of shape"):
        capture(nn.Linear(3, 2), torch.zeros(1, 3, dtype=torch.float16))


def test_a_model_built_under_inference_mode_is_counted():
    """Inference tensors keep no version counter: nothing to read, nothing a forward can change in place."""
    with torch.inference_mode():
        model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    assert analyze(model, torch.randn(1, 4)).NG == 4 * 3 + 3 + 3 * 2 + 2


# ------------------------------------------------------------------ embedding options
@pytest.mark.parametrize("option", [{}, {"scale_grad_by_freq": True}, {"padding_idx": 2}])
def test_embedding_rows_count_each_read_whatever_the_training_options(option):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(10, 4, **option), nn.Linear(4, 3))
    with pytest.warns(DataDependentCountWarning):
        counts = count_contexts(model, torch.tensor([[1, 2, 2, 5, 1, 1]]))["0.weight"].exp2()
    # each embedding output element feeds 3 outputs; row 1 is read 3 times, row 2 (the padding row) twice
    per_row = torch.zeros(10, dtype=torch.float64)
    per_row[[1, 2, 5]] = torch.tensor([9.0, 6.0, 3.0], dtype=torch.float64)
    assert torch.allclose(counts, per_row[:, None].expand(10, 4))


# ------------------------------------------------------------------ sequence-first modules
class _Outputs(nn.Module):
    """``layer``'s first output (a recurrent layer returns the outputs and its state), with
    the input transposed around it when ``transpose``."""

    def __init__(self, layer, transpose=False):
        super().__init__()
        self.layer = layer
        self.transpose = transpose

    def forward(self, x):
        if self.transpose:
            x = x.transpose(0, 1)
        y = self.layer(x)
        y = y[0] if isinstance(y, tuple) else y
        return y.transpose(0, 1) if self.transpose else y


class _SelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = nn.MultiheadAttention(4, 2)

    def forward(self, x):
        return self.attention(x, x, x, need_weights=False)[0]


@pytest.mark.parametrize(
    "model, named",
    [
        (nn.TransformerEncoderLayer(4, 2, 5), "self_attn (MultiheadAttention) of TransformerEncoderLayer"),
        (_Outputs(nn.LSTM(4, 3)), "layer (LSTM) of _Outputs"),
        (_SelfAttention(), "attention (MultiheadAttention) of _SelfAttention"),
    ],
)
def test_a_sequence_read_as_a_batch_by_a_sequence_first_module_is_refused(model, named):
    with pytest.raises(ValueError, match=r"sequence-first \(batch_first=False\)") as err:
        analyze(model, torch.zeros(1, 5, 4))
    message = str(err.value)
    assert named in message and "counted as 5 examples of length 1" in message
    assert "batch_first=True" in message and "x.transpose(0, 1)" in message


def test_a_sequence_first_module_is_counted_when_it_gets_the_batch_in_dimension_1():
    torch.manual_seed(0)
    seq_first = nn.LSTM(4, 3)
    batch_first = nn.LSTM(4, 3, batch_first=True)
    batch_first.load_state_dict(seq_first.state_dict())
    x = torch.zeros(1, 5, 4)
    transposed = analyze(_Outputs(seq_first, transpose=True), x)
    assert math.isclose(transposed.log2_NC, analyze(_Outputs(batch_first), x).log2_NC, rel_tol=1e-12)
    assert analyze(_Outputs(nn.LSTM(4, 3)), torch.zeros(1, 1, 4)).NG > 0  # T == 1: one position, nothing to misread


class _Windows(nn.Module):
    """Window attention: 16 positions folded into 4 windows of 4, the windows in the sequence-first
    module's batch on purpose (no attention across windows)."""

    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(4, 2)

    def forward(self, x):  # x: (1, 16, 4)
        windows = x.reshape(4, 4, 4).transpose(0, 1)  # (window length, windows, features)
        return self.attn(windows, windows, windows, need_weights=False)[0].transpose(0, 1).reshape(1, 64)


def test_windows_folded_into_a_sequence_first_batch_on_purpose_are_counted():
    report = analyze(_Windows(), torch.zeros(1, 16, 4))
    assert report.NG == sum(p.numel() for p in _Windows().parameters())


# ------------------------------------------------------------------ instance norm
@pytest.mark.parametrize("bn_params", [0, 2, 4])
@pytest.mark.parametrize("method", ["meta", "make_fx"])
def test_instance_norm_affine_parameters_count_as_batch_norm_s(bn_params, method):
    x = torch.randn(1, 2, 4, 4)

    def report(norm):
        model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), norm, nn.Conv2d(4, 2, 1))
        return analyze(capture(model, x, method=method), x, bn_params_per_channel=bn_params)

    instance, batch = report(nn.InstanceNorm2d(4, affine=True)), report(nn.BatchNorm2d(4))
    # the two convolutions hold 72 + 4 + 8 + 2 = 86 weights; the norm adds bn_params per channel
    assert instance.NG == batch.NG == 86 + 4 * bn_params
    assert instance.WG == batch.WG
    assert math.isclose(instance.log2_NC, batch.log2_NC, rel_tol=1e-12)
    assert math.isclose(instance.expected_spread, batch.expected_spread, rel_tol=1e-12)


# ------------------------------------------------------------------ explicit constant padding
class _Padded(nn.Module):
    def __init__(self, pad, conv):
        super().__init__()
        self.pad, self.conv = pad, conv

    def forward(self, x):
        return self.conv(nn.functional.pad(x, self.pad, value=0.0))


@pytest.mark.parametrize("size", [1, 4])
@pytest.mark.parametrize(
    "padded",
    [lambda: nn.Sequential(nn.ZeroPad2d(1), nn.Conv2d(2, 3, 3)), lambda: _Padded((1, 1, 1, 1), nn.Conv2d(2, 3, 3))],
    ids=["ZeroPad2d", "F.pad"],
)
def test_taps_on_an_explicit_zero_border_count_as_the_convolution_s_own_padding(padded, size):
    torch.manual_seed(0)
    model = padded()
    own = nn.Conv2d(2, 3, 3, padding=1)
    x = torch.randn(1, 2, size, size)
    got = count_contexts(model, x)
    want = count_contexts(own, x)
    assert torch.equal(list(got.values())[0], want["weight"]) and torch.equal(list(got.values())[1], want["bias"])


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
def test_same_padding_with_an_even_kernel_counts_only_the_taps_inside():
    # kernel 4 on 5 positions: PyTorch pads 1 before and 2 after; tap k of output o reads o + k - 1
    counts = count_contexts(nn.Conv2d(1, 1, 4, padding="same"), torch.randn(1, 1, 5, 5))["weight"].exp2()
    per_tap = torch.tensor([4.0, 5.0, 4.0, 3.0], dtype=torch.float64)
    assert torch.allclose(counts[0, 0], torch.outer(per_tap, per_tap))


# ------------------------------------------------------------------ weights computed from parameters
def test_a_weight_normalised_layer_is_refused_with_the_way_to_count_its_plain_copy():
    """Weight and spectral normalisation compute the weight a layer uses: refused by the op, naming
    the function that makes the weight plain, and the plain copy counts as the same layer would."""
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    parametrizations.weight_norm(model[0])
    with pytest.raises(UnsupportedOpError, match=r"remove_parametrizations\(module, 'weight'\)"):
        analyze(model, torch.zeros(1, 4))
    plain = copy.deepcopy(model)
    parametrize.remove_parametrizations(plain[0], "weight")
    assert analyze(plain, torch.zeros(1, 4)).NG == 4 * 3 + 3 + 3 * 2 + 2
    legacy = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with pytest.warns(FutureWarning):
        torch.nn.utils.weight_norm(legacy[0])
    with pytest.raises(UnsupportedOpError, match="remove_weight_norm"):
        analyze(legacy, torch.zeros(1, 4))
