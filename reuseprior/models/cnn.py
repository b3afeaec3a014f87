"""Constant-width CNNs: the models of thesis Tables 5.3 and 5.4.

Layout of ``constant_width_cnn(channels, depth)`` (``depth`` = number of
convolutions)::

    x (in_channels, image_size, image_size)
      -> Conv(in_channels, channels, k, stride, padding k//2) [-> BN2d] -> act
      -> Conv(channels, channels, k, stride, padding k//2)    [-> BN2d] -> act   (depth - 1 times, no act at the end)

There is no pooling and no classifier: the output is the last feature map
(``channels x H x W`` nodes, each seeded with one context). The thesis
analysed these graphs with ``NO = 1`` in ``|G|`` and ``NI = in_channels *
image_size^2`` (Table 5.3's caption says ``NI = channels``, but the published
numbers need ``channels * 8 * 8``); pass ``num_outputs=1`` to ``analyze``.

* ``in_channels`` defaults to ``channels`` (Table 5.3); Table 5.4 uses 3.
* ``batch_norm=True``: ``BatchNorm2d`` after every convolution (Table 5.4).
* ``shared=True`` (Table 5.4 "Shared"): every convolution with the same
  ``(kernel, stride, in, out)`` is tied to one ``nn.Parameter``, the first
  layer included when ``in_channels == channels``
  (``4881 = 81 + 400 * 12`` for 3 channels, depth 400). BN is never tied.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from reuseprior.core.validation import check_integer
from reuseprior.models.registry import register_model

__all__ = ["constant_width_cnn", "cnn_param_count"]


@register_model("constant_width_cnn")
def constant_width_cnn(
    channels: int,
    depth: int,
    *,
    in_channels: int | None = None,
    image_size: int = 8,
    kernel_size: int = 3,
    stride: int = 1,
    bias: bool = False,
    batch_norm: bool = False,
    shared: bool = False,
    activation: Callable[[], nn.Module] | None = nn.ReLU,
) -> nn.Sequential:
    """A plain CNN of ``depth`` same-width ``kernel_size`` convolutions
    (thesis Tables 5.3/5.4).

    Args:
        channels: output channels of every convolution.
        depth: number of convolutions, >= 1.
        in_channels: channels of the input image (default ``channels``).
        image_size: side of the (square) input image; only recorded on the
            model as ``model.image_size`` for building example inputs.
        kernel_size: odd kernel size; padding is ``kernel_size // 2``.
        stride: stride of every convolution.
        bias: give every convolution a bias.
        batch_norm: ``BatchNorm2d`` after every convolution (also the last).
        shared: tie all convolutions of equal shape and stride (Table 5.4).
        activation: nonlinearity factory between layers (``None``: none).

    Returns:
        ``nn.Sequential`` taking ``(batch, in_channels, image_size, image_size)``;
        layers named ``conv<i>``, ``bn<i>``, ``act<i>``.
    """
    check_integer("channels", channels)
    check_integer("depth", depth)
    check_integer("image_size", image_size)
    check_integer("stride", stride)
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd integer (symmetric padding k//2), got {kernel_size!r}")
    in_channels = channels if in_channels is None else in_channels
    check_integer("in_channels", in_channels)

    model = nn.Sequential()
    tied: dict[tuple[int, int, int, int], tuple[nn.Parameter, nn.Parameter | None]] = {}
    for i in range(depth):
        c_in = in_channels if i == 0 else channels
        conv = nn.Conv2d(c_in, channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=bias)
        if shared:
            key = (kernel_size, stride, c_in, channels)
            if key in tied:
                conv.weight, tied_bias = tied[key]
                if bias:
                    conv.bias = tied_bias
            else:
                tied[key] = (conv.weight, conv.bias)
        model.add_module(f"conv{i}", conv)
        if batch_norm:
            model.add_module(f"bn{i}", nn.BatchNorm2d(channels))
        if activation is not None and i < depth - 1:
            model.add_module(f"act{i}", activation())
    model.image_size = image_size  # type: ignore[attr-defined]
    model.in_channels = in_channels  # type: ignore[attr-defined]
    return model


def cnn_param_count(
    channels: int,
    depth: int,
    *,
    in_channels: int | None = None,
    kernel_size: int = 3,
    bias: bool = False,
    batch_norm: bool = False,
    shared: bool = False,
    bn_params_per_channel: int = 4,
) -> int:
    """Closed-form ``Params`` of :func:`constant_width_cnn` as the thesis counts
    it (every tap counted; BN = ``bn_params_per_channel`` per channel)."""
    in_channels = channels if in_channels is None else in_channels
    k2 = kernel_size * kernel_size
    first = in_channels * channels * k2 + (channels if bias else 0)
    hidden = channels * channels * k2 + (channels if bias else 0)
    if depth == 1:
        weights = first
    elif shared:
        weights = hidden if in_channels == channels else first + hidden
    else:
        weights = first + (depth - 1) * hidden
    return weights + (bn_params_per_channel * channels * depth if batch_norm else 0)
