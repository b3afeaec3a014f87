"""Counting engine: a constant border padded explicitly before a 1-D, 3-D or transposed convolution
counts as the convolution's own padding (taps on it read no element), as for 2-D convolutions."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reuseprior.counting import count_contexts


class _Scaled(nn.Module):
    """A parameter per input element (its counts are the input's), an optional padding, a convolution."""

    def __init__(self, shape, pad, conv):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(shape))
        self.pad = pad or nn.Identity()
        self.conv = conv

    def forward(self, x):
        return self.conv(self.pad(x * self.scale))


def _counts(model, x, gamma):
    return {n: c.exp2() for n, c in count_contexts(model, x, discount=gamma).items()}


@pytest.mark.parametrize("size", [1, 4])
@pytest.mark.parametrize(
    "pad, conv, own",
    [
        (nn.ConstantPad1d(1, 0.0), nn.Conv1d(2, 3, 3), nn.Conv1d(2, 3, 3, padding=1)),
        (nn.ConstantPad1d(1, 0.0), nn.Conv1d(2, 4, 3, groups=2, stride=2), nn.Conv1d(2, 4, 3, 2, 1, groups=2)),
        (nn.ZeroPad3d(1), nn.Conv3d(2, 3, 3), nn.Conv3d(2, 3, 3, padding=1)),
        (
            nn.ConstantPad3d((1, 1, 0, 0, 2, 2), 0.0),
            nn.Conv3d(2, 3, 3, dilation=2),
            nn.Conv3d(2, 3, 3, dilation=2, padding=(2, 0, 1)),
        ),
    ],
    ids=["Conv1d", "Conv1d-strided-grouped", "Conv3d", "Conv3d-dilated-uneven"],
)
def test_an_explicit_zero_border_counts_as_the_convolution_s_own_padding(pad, conv, own, size):
    torch.manual_seed(0)
    own.load_state_dict(conv.state_dict())
    shape = (1, 2) + (size + 4,) * (conv.weight.dim() - 2)
    x = torch.randn(shape)
    for gamma in (1.0, 0.5):
        got, want = _counts(_Scaled(shape, pad, conv), x, gamma), _counts(_Scaled(shape, None, own), x, gamma)
        for name in want:
            assert torch.allclose(got[name], want[name], rtol=1e-12), (name, gamma)


@pytest.mark.parametrize(
    "pad, conv",
    [
        (nn.ConstantPad1d(2, 0.0), nn.ConvTranspose1d(2, 3, 3)),
        (nn.ZeroPad2d((1, 2, 0, 1)), nn.ConvTranspose2d(2, 3, 3, stride=2)),
        (nn.ZeroPad3d(1), nn.ConvTranspose3d(2, 3, 2)),
    ],
    ids=["ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"],
)
def test_a_transposed_convolution_s_taps_on_a_zero_border_read_nothing(pad, conv):
    """A transposed convolution as the last layer (every output count 1) scatters each input element
    through every tap: tap k of the kernel gets one count per input element inside the border, as
    without the border; each input element's count is unchanged too."""
    torch.manual_seed(0)
    shape = (1, 2) + (3,) * (conv.weight.dim() - 2)
    x = torch.randn(shape)
    got, want = _counts(_Scaled(shape, pad, conv), x, 1.0), _counts(_Scaled(shape, None, conv), x, 1.0)
    assert torch.equal(got["conv.weight"], want["conv.weight"])
    assert torch.equal(got["scale"], want["scale"])


@pytest.mark.parametrize(
    "pad, conv, unpadded",
    [
        (nn.ConstantPad1d(1, 5.0), nn.Conv1d(2, 3, 3), (1, 2, 6)),
        (nn.ConstantPad2d(1, 5.0), nn.Conv2d(2, 3, 3), (1, 2, 6, 6)),
        (nn.ReplicationPad2d(1), nn.Conv2d(2, 3, 3), (1, 2, 6, 6)),
    ],
)
def test_a_border_of_another_value_is_read_like_input(pad, conv, unpadded):
    """A tap on a border of 5 (or of copied edge values) multiplies a number: every tap of the kernel is
    used at every output position, as on an input of the padded size without any padding."""
    torch.manual_seed(0)
    padded = _counts(_Scaled(unpadded[1:], pad, conv), torch.randn(unpadded), 1.0)
    plain = _counts(nn.Sequential(conv), torch.randn(*unpadded[:2], *(s + 2 for s in unpadded[2:])), 1.0)
    assert torch.allclose(padded["conv.weight"], plain["0.weight"], rtol=1e-12)
