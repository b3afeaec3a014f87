"""ResNets for 32x32 CIFAR images: the Wide ResNet of Zagoruyko & Komodakis (2016)
and the CIFAR ResNet of He et al. (2016, section 4.2), the two CIFAR models of
the Shapeshifter / Neural Parameter Allocation Search paper (Plummer et al.).

* :func:`wide_resnet_cifar` (``WRN-depth-width``): a 3x3 stem convolution with 16
  filters, three groups of ``(depth - 4) / 6`` pre-activation basic blocks
  (BN-ReLU-conv3x3-BN-ReLU-[dropout]-conv3x3) with ``16 * width``,
  ``32 * width`` and ``64 * width`` filters (strides 1, 2, 2), a 1x1 convolution
  on the shortcut of each block whose channels or stride change, then
  BN-ReLU, global average pooling and a linear classifier. Convolutions have no
  bias. WRN-28-10 (:func:`wrn_28_10`) has 36,536,884 parameters for CIFAR-100
  and 36,479,194 for CIFAR-10: both print as "36.5 M". NPAS evaluates
  WRN-28-10 on CIFAR-100 (Tables 5, 7-12 and 14 of its appendix), so the builder
  defaults to 100 classes; the budgets of its Table 14 (1.4 % ... 24.6 %) are the
  round counts 0.5, 1.5, 2, 6 and 9 M of the CIFAR-100 model only (with 10
  classes 9 M is 24.7 %).
* :func:`resnet_cifar` (``ResNet-(6n+2)``): a 3x3 stem with 16 filters, three
  stages of ``n`` post-activation basic blocks (conv3x3-BN-ReLU-conv3x3-BN, add,
  ReLU) with 16, 32 and 64 filters (strides 1, 2, 2), global average pooling and
  a linear classifier. He et al. compare two shortcuts where the dimensions
  grow: option A (the identity on every second pixel, the new channels padded
  with zeros; no parameters; the one used for CIFAR in He et al. section 4.2) and
  option B (a strided 1x1 convolution and batch norm). ResNet-56
  (:func:`resnet56_cifar`, ``n = 9``) has 853,018 parameters with option A for
  CIFAR-10 (the "0.85 M" of He et al.'s Table 6) and 855,770 with option B
  (0.86 M), so the builder defaults to option A and 10 classes (NPAS Table 2 is
  on CIFAR-10).

Initialisation (both families): convolutions He-normal on the fan-out
(``kaiming_normal_(mode="fan_out", nonlinearity="relu")``), batch norm scale 1
and shift 0, the classifier uniform in +-1/sqrt(fan_in) (PyTorch's default for
``nn.Linear``), all drawn from a ``torch.Generator`` seeded by ``seed``, so a
builder call with the same arguments returns the same weights whatever the
global random state.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from reuseprior.core.validation import check_integer
from reuseprior.models.registry import register_model

__all__ = [
    "CifarResNet",
    "PreActBlock",
    "PostActBlock",
    "WideResNet",
    "resnet56_cifar",
    "resnet_cifar",
    "wide_resnet_cifar",
    "wrn_28_10",
]

#: the shortcut conventions of He et al. (2016) for a block whose dimensions grow
SHORTCUTS = ("A", "B")


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


class PreActBlock(nn.Module):
    """Wide ResNet basic block, pre-activation: BN-ReLU-conv3x3-BN-ReLU-[dropout]-conv3x3,
    plus the shortcut (a strided 1x1 convolution of the activated input when the
    channels or the stride change, else the input itself)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = _conv3x3(in_channels, out_channels, stride)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = _conv3x3(out_channels, out_channels)
        self.shortcut: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = F.relu(self.bn1(x))
        out = self.conv1(activated)
        out = self.conv2(self.dropout(F.relu(self.bn2(out))))
        skip = x if self.shortcut is None else self.shortcut(activated)
        return out + skip


class ZeroPadShortcut(nn.Module):
    """He et al.'s option A shortcut: every ``stride``-th pixel of the input, its
    channels padded with zeros up to ``out_channels`` (no parameters)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.extra_channels = out_channels - in_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))


class PostActBlock(nn.Module):
    """CIFAR ResNet basic block (He et al. 2016): conv3x3-BN-ReLU-conv3x3-BN, add the
    shortcut, ReLU. ``shortcut`` picks option ``"A"`` or ``"B"`` where the
    dimensions grow (see the module docstring)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, shortcut: str = "A") -> None:
        super().__init__()
        self.conv1 = _conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = _conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            if shortcut == "A":
                self.shortcut = ZeroPadShortcut(in_channels, out_channels, stride)
            else:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
                )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


def _initialise(model: nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu", generator=generator)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                bound = 1.0 / math.sqrt(module.in_features)
                nn.init.uniform_(module.weight, -bound, bound, generator=generator)
                nn.init.uniform_(module.bias, -bound, bound, generator=generator)


def _stages(
    widths: tuple[int, ...] | list[int], blocks_per_stage: int, block: Callable[[int, int, int], nn.Module]
) -> list[nn.Sequential]:
    """The three stages of a CIFAR ResNet on a 16-channel stem: ``blocks_per_stage``
    blocks each, ``block(in_channels, out_channels, stride)``, the first of a stage with
    stride 1, 2, 2 and the stage's new width."""
    stages, channels = [], 16
    for width, stride in zip(widths, (1, 2, 2)):
        blocks = []
        for index in range(blocks_per_stage):
            blocks.append(block(channels, width, stride if index == 0 else 1))
            channels = width
        stages.append(nn.Sequential(*blocks))
    return stages


class WideResNet(nn.Module):
    """``WRN-depth-width`` for CIFAR (see the module docstring); ``depth = 6 n + 4``."""

    def __init__(
        self, depth: int = 28, width: int = 10, num_classes: int = 100, *, dropout: float = 0.0, seed: int = 0
    ) -> None:
        super().__init__()
        if (depth - 4) % 6 != 0 or depth < 10:
            raise ValueError(f"a CIFAR Wide ResNet has depth 6n + 4 with n >= 1 (10, 16, 22, 28, ...), got {depth!r}")
        check_integer("width", width)
        check_integer("num_classes", num_classes)
        blocks_per_group = (depth - 4) // 6
        widths = [16 * width, 32 * width, 64 * width]
        self.depth, self.width = depth, width
        self.conv1 = _conv3x3(3, 16)
        self.group1, self.group2, self.group3 = _stages(
            widths, blocks_per_group, lambda cin, cout, stride: PreActBlock(cin, cout, stride, dropout)
        )
        channels = widths[-1]
        self.bn = nn.BatchNorm2d(channels)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        _initialise(self, seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.group3(self.group2(self.group1(self.conv1(x))))
        x = self.pool(F.relu(self.bn(x))).flatten(1)
        return self.fc(x)


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for CIFAR (He et al. 2016, section 4.2; see the module docstring)."""

    def __init__(self, depth: int = 56, num_classes: int = 10, *, shortcut: str = "A", seed: int = 0) -> None:
        super().__init__()
        if (depth - 2) % 6 != 0 or depth < 8:
            raise ValueError(f"a CIFAR ResNet has depth 6n + 2 with n >= 1 (20, 32, 44, 56, 110, ...), got {depth!r}")
        if shortcut not in SHORTCUTS:
            raise ValueError(
                f"shortcut must be 'A' (zero-padded identity, no parameters) or 'B' (1x1 projection), got {shortcut!r}"
            )
        check_integer("num_classes", num_classes)
        blocks_per_stage = (depth - 2) // 6
        self.depth, self.shortcut_option = depth, shortcut
        self.conv1 = _conv3x3(3, 16)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1, self.layer2, self.layer3 = _stages(
            (16, 32, 64), blocks_per_stage, lambda cin, cout, stride: PostActBlock(cin, cout, stride, shortcut)
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)
        _initialise(self, seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.pool(x).flatten(1))


@register_model("wide_resnet_cifar")
def wide_resnet_cifar(
    depth: int = 28, width: int = 10, num_classes: int = 100, *, dropout: float = 0.0, seed: int = 0
) -> WideResNet:
    """``WRN-depth-width`` for 32x32 images (Zagoruyko & Komodakis 2016), as NPAS uses it."""
    return WideResNet(depth, width, num_classes, dropout=dropout, seed=seed)


@register_model("wrn_28_10")
def wrn_28_10(num_classes: int = 100, *, dropout: float = 0.0, seed: int = 0) -> WideResNet:
    """WRN-28-10 (36.5 M parameters for CIFAR-100, the NPAS setting)."""
    return WideResNet(28, 10, num_classes, dropout=dropout, seed=seed)


@register_model("resnet_cifar")
def resnet_cifar(depth: int = 56, num_classes: int = 10, *, shortcut: str = "A", seed: int = 0) -> CifarResNet:
    """ResNet-``depth`` for 32x32 images (He et al. 2016, section 4.2)."""
    return CifarResNet(depth, num_classes, shortcut=shortcut, seed=seed)


@register_model("resnet56_cifar")
def resnet56_cifar(num_classes: int = 10, *, shortcut: str = "A", seed: int = 0) -> CifarResNet:
    """ResNet-56 for CIFAR (0.85 M parameters with option A shortcuts, He et al. Table 6)."""
    return CifarResNet(56, num_classes, shortcut=shortcut, seed=seed)
