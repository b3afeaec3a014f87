"""A compact MNIST/CIFAR-resolution CNN family built from depthwise-separable blocks,
on which every sharing scheme of :mod:`reuseprior.models.sharing` applies.

It is a study model for comparing the sharing schemes at matched parameter
budgets, small enough to train on Fashion-MNIST on one CPU core. Layout of
``compact_net(...)``::

    x (in_channels, H, W)
      -> stem: Conv k3 (in_channels -> stem_channels, stride stem_stride) -> BN -> ReLU
      -> stages: per stage (channels, blocks, first stride), ``blocks`` blocks of
         * "inverted" (MobileNetV2 / EfficientNet MBConv without squeeze-excitation):
           Conv 1x1 expand (c -> t c) -> BN -> ReLU6 -> depthwise Conv k (t c, stride) -> BN -> ReLU6
           -> Conv 1x1 project (t c -> c_out) -> BN, plus the input when stride 1 and c == c_out;
         * "separable" (MobileNetV1): depthwise Conv k (c, stride) -> BN -> ReLU
           -> Conv 1x1 (c -> c_out) -> BN -> ReLU
      -> global average pool -> Linear (last channels -> num_classes)

Why it suits every scheme: the repeated blocks of a stage have convolutions of
one (in, out, kernel, stride) scope, which the thesis's scope sharing ties
(sections 4.5.3-4.5.4); every block has a depthwise convolution, which
channel-wise sharing (Bidart 2023, chapter 3, Table 3.3) stores C/s kernels of;
and any layer can be drawn from Shapeshifter parameter stores (Plummer et al.,
NPAS, section 3). The stem, pointwise convolutions and classifier are the
dense layers Bidart leaves unshared.

Width and depth: ``width_mult`` scales every channel count (rounded to a
multiple of ``channel_divisor``; 1 gives any integer width, the fine steps a
narrower model matched to a parameter budget needs), ``depth_mult`` the blocks
per stage (rounded up, at least one). Convolutions carry no bias (batch norm
follows each). The default (:data:`DEFAULT_STAGES`, stem stride 2) has
about 26 k parameters and trains on 28x28 Fashion-MNIST in well under a minute
per epoch on one CPU core.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from reuseprior.core.validation import check_integer
from reuseprior.models.registry import register_model

__all__ = [
    "BLOCKS",
    "DEFAULT_STAGES",
    "CompactNet",
    "Stage",
    "compact_net",
    "scaled_channels",
]

#: the block types of the family
BLOCKS = ("inverted", "separable")


@dataclass(frozen=True)
class Stage:
    """One stage: ``blocks`` blocks with ``channels`` output channels, the first
    with stride ``stride`` (the others stride 1)."""

    channels: int
    blocks: int
    stride: int


#: the default stages (28x28 input, stem stride 2: 14x14, 14x14, 7x7, 4x4 feature maps)
DEFAULT_STAGES: tuple[Stage, ...] = (Stage(16, 1, 1), Stage(24, 3, 2), Stage(40, 3, 2))


def scaled_channels(channels: int, width_mult: float, divisor: int = 8) -> int:
    """``channels * width_mult`` rounded to the nearest multiple of ``divisor``
    (never below ``divisor``, never more than 10 % below the unrounded value;
    the rule of MobileNet's ``_make_divisible``). ``divisor=1`` rounds to the
    nearest integer (at least 1)."""
    target = channels * width_mult
    if divisor <= 1:
        return max(1, int(round(target)))
    rounded = max(divisor, int(target + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * target:
        rounded += divisor
    return rounded


class InvertedResidual(nn.Module):
    """MBConv without squeeze-excitation (MobileNetV2): 1x1 expand, depthwise k x k,
    1x1 project; identity shortcut when shapes allow. ``expand_ratio=1`` drops the
    expand convolution."""

    def __init__(self, c_in: int, c_out: int, stride: int, expand_ratio: int, kernel_size: int):
        super().__init__()
        hidden = c_in * expand_ratio
        self.use_residual = stride == 1 and c_in == c_out
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers += [nn.Conv2d(c_in, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6()]
        layers += [
            nn.Conv2d(hidden, hidden, kernel_size, stride, kernel_size // 2, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(),
            nn.Conv2d(hidden, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        ]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return x + out if self.use_residual else out


class SeparableBlock(nn.Module):
    """Depthwise-separable block (MobileNetV1): depthwise k x k -> BN -> ReLU -> 1x1 -> BN -> ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int, kernel_size: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_in, kernel_size, stride, kernel_size // 2, groups=c_in, bias=False),
            nn.BatchNorm2d(c_in),
            nn.ReLU(),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class CompactNet(nn.Module):
    """The compact depthwise-separable family (see the module docstring).

    Submodules: ``stem`` (conv, BN, ReLU), ``blocks`` (``nn.Sequential`` of
    every block in order), ``pool``, ``classifier`` (``nn.Linear``).
    """

    def __init__(
        self,
        stages: Sequence[Stage],
        *,
        num_classes: int = 10,
        in_channels: int = 1,
        stem_channels: int = 16,
        stem_stride: int = 2,
        block: str = "inverted",
        expand_ratio: int = 3,
        kernel_size: int = 3,
    ):
        super().__init__()
        if block not in BLOCKS:
            raise ValueError(f"block={block!r} is not a block of the family; use one of {BLOCKS}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd integer (padding k//2), got {kernel_size!r}")
        check_integer("expand_ratio", expand_ratio)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem_channels, 3, stem_stride, 1, bias=False),
            nn.BatchNorm2d(stem_channels),
            nn.ReLU(),
        )
        blocks: list[nn.Module] = []
        c = stem_channels
        for stage in stages:
            for i in range(stage.blocks):
                stride = stage.stride if i == 0 else 1
                if block == "inverted":
                    blocks.append(InvertedResidual(c, stage.channels, stride, expand_ratio, kernel_size))
                else:
                    blocks.append(SeparableBlock(c, stage.channels, stride, kernel_size))
                c = stage.channels
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)
        self.in_channels = in_channels
        self._init_weights()

    def _init_weights(self) -> None:
        """He (fan-out) normal convolutions, unit BN, N(0, 0.01) classifier
        (torchvision's MobileNetV2 initialisation); draws from the global
        PyTorch generator, seeded by the caller (``torch.manual_seed``)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        return self.classifier(torch.flatten(self.pool(x), 1))


@register_model("compact_net")
def compact_net(
    num_classes: int = 10,
    *,
    in_channels: int = 1,
    width_mult: float = 1.0,
    depth_mult: float = 1.0,
    block: str = "inverted",
    expand_ratio: int = 3,
    kernel_size: int = 3,
    stem_stride: int = 2,
    channel_divisor: int = 8,
    stages: Sequence[Stage] = DEFAULT_STAGES,
    seed: int | None = None,
) -> CompactNet:
    """The compact family (module docstring): ``stages`` scaled by
    ``width_mult`` (channels, stem included, rounded to ``channel_divisor``)
    and ``depth_mult`` (blocks per stage, rounded up). ``in_channels`` 1
    (MNIST, Fashion-MNIST) or 3 (CIFAR). ``seed`` (optional) seeds the
    initialisation with its own generator state, leaving the caller's global
    PyTorch generator as it was."""
    if in_channels not in (1, 3):
        raise ValueError(f"in_channels={in_channels!r}: use 1 (grey images) or 3 (RGB)")
    if not (width_mult > 0 and depth_mult > 0):
        raise ValueError(f"width_mult and depth_mult must be positive, got {width_mult!r} and {depth_mult!r}")
    check_integer("num_classes", num_classes)
    scaled = [
        Stage(
            scaled_channels(s.channels, width_mult, channel_divisor), max(1, math.ceil(s.blocks * depth_mult)), s.stride
        )
        for s in stages
    ]

    def build() -> CompactNet:
        return CompactNet(
            scaled,
            num_classes=num_classes,
            in_channels=in_channels,
            stem_channels=scaled_channels(16, width_mult, channel_divisor),
            stem_stride=stem_stride,
            block=block,
            expand_ratio=expand_ratio,
            kernel_size=kernel_size,
        )

    if seed is None:
        return build()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()
