"""EfficientNetV2 B0-B3, S, M and L (Tan & Le 2021), the models of thesis
sections 4.5.2-4.5.8 (Tables 4.2, 4.3 and 4.4).

Configs as data, one generic module: every variant is a list of
:class:`StageConfig` (one row of the official block table) plus a width and a
depth multiplier. :func:`stage_configs` scales the base table exactly like the
official implementation (``round_filters`` to multiples of 8 without the
"never round down by more than 10%" rule, ``ceil`` for repeats) and
:class:`EfficientNetV2` builds any of them.

Differences from the official TensorFlow model that matter for the thesis:
padding is symmetric (``k // 2``), as the graph analysis of Chapter 4 assumes
(TF's "same" padding is asymmetric for stride 2). S, M and L are graph- and
parameter-identical to torchvision's ``efficientnet_v2_s/m/l``; use
:func:`load_torchvision_state_dict` to copy torchvision weights across.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any, Literal, Mapping, Sequence

import torch
from torch import nn

from reuseprior.models.registry import register_model

__all__ = [
    "EfficientNetV2",
    "StageConfig",
    "VariantConfig",
    "VARIANTS",
    "efficientnet_v2",
    "load_torchvision_state_dict",
    "round_filters",
    "round_repeats",
    "stage_configs",
]

BlockType = Literal["fused", "mbconv"]


@dataclass(frozen=True)
class StageConfig:
    """One row of an EfficientNetV2 block table (official ``rR_kK_sS_eE_iI_oO``)."""

    block: BlockType
    expand_ratio: int
    kernel: int
    stride: int
    in_channels: int
    out_channels: int
    repeats: int
    se_ratio: float = 0.0

    def __post_init__(self) -> None:
        if self.block not in ("fused", "mbconv"):
            raise ValueError(f"StageConfig.block must be 'fused' or 'mbconv', got {self.block!r}")
        if (
            self.kernel % 2 != 1
            or min(self.expand_ratio, self.stride, self.in_channels, self.out_channels, self.repeats) < 1
        ):
            raise ValueError(f"invalid StageConfig {self}: odd kernel and positive sizes required")

    def scaled(self, width: float, depth: float) -> "StageConfig":
        return replace(
            self,
            in_channels=round_filters(self.in_channels, width),
            out_channels=round_filters(self.out_channels, width),
            repeats=round_repeats(self.repeats, depth),
        )


@dataclass(frozen=True)
class VariantConfig:
    """A variant: base block table, multipliers and the published resolution."""

    stages: tuple[StageConfig, ...]
    width: float
    depth: float
    resolution: int
    dropout: float
    head_channels: int = 1280


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """Official EfficientNetV2 ``round_filters``: scale, round to the nearest
    multiple of ``divisor`` (half up), at least ``divisor``."""
    scaled = filters * width
    return int(max(divisor, int(scaled + divisor / 2) // divisor * divisor))


def round_repeats(repeats: int, depth: float) -> int:
    """Official ``round_repeats``: ``ceil(depth * repeats)``."""
    return int(math.ceil(depth * repeats))


def _f(e: int, k: int, s: int, i: int, o: int, r: int) -> StageConfig:
    return StageConfig("fused", e, k, s, i, o, r)


def _m(e: int, k: int, s: int, i: int, o: int, r: int) -> StageConfig:
    return StageConfig("mbconv", e, k, s, i, o, r, 0.25)


# Official block tables (effnetv2_configs.py: v2_base_block, v2_s/m/l_block).
_BASE = (
    _f(1, 3, 1, 32, 16, 1),
    _f(4, 3, 2, 16, 32, 2),
    _f(4, 3, 2, 32, 48, 2),
    _m(4, 3, 2, 48, 96, 3),
    _m(6, 3, 1, 96, 112, 5),
    _m(6, 3, 2, 112, 192, 8),
)
_S = (
    _f(1, 3, 1, 24, 24, 2),
    _f(4, 3, 2, 24, 48, 4),
    _f(4, 3, 2, 48, 64, 4),
    _m(4, 3, 2, 64, 128, 6),
    _m(6, 3, 1, 128, 160, 9),
    _m(6, 3, 2, 160, 256, 15),
)
_M = (
    _f(1, 3, 1, 24, 24, 3),
    _f(4, 3, 2, 24, 48, 5),
    _f(4, 3, 2, 48, 80, 5),
    _m(4, 3, 2, 80, 160, 7),
    _m(6, 3, 1, 160, 176, 14),
    _m(6, 3, 2, 176, 304, 18),
    _m(6, 3, 1, 304, 512, 5),
)
_L = (
    _f(1, 3, 1, 32, 32, 4),
    _f(4, 3, 2, 32, 64, 7),
    _f(4, 3, 2, 64, 96, 7),
    _m(4, 3, 2, 96, 192, 10),
    _m(6, 3, 1, 192, 224, 19),
    _m(6, 3, 2, 224, 384, 25),
    _m(6, 3, 1, 384, 640, 7),
)

#: variant name -> config (B0-B3: width/depth/resolution of the official table)
VARIANTS: dict[str, VariantConfig] = {
    "b0": VariantConfig(_BASE, 1.0, 1.0, 224, 0.2),
    "b1": VariantConfig(_BASE, 1.0, 1.1, 240, 0.2),
    "b2": VariantConfig(_BASE, 1.1, 1.2, 260, 0.3),
    "b3": VariantConfig(_BASE, 1.2, 1.4, 300, 0.3),
    "s": VariantConfig(_S, 1.0, 1.0, 384, 0.2),
    "m": VariantConfig(_M, 1.0, 1.0, 480, 0.3),
    "l": VariantConfig(_L, 1.0, 1.0, 480, 0.4),
}


def _variant(variant: str) -> VariantConfig:
    key = variant.lower().removeprefix("efficientnet_v2_").removeprefix("efficientnetv2-")
    if key not in VARIANTS:
        raise ValueError(f"unknown EfficientNetV2 variant {variant!r}; choose one of {sorted(VARIANTS)}")
    return VARIANTS[key]


def stage_configs(variant: str) -> list[StageConfig]:
    """The scaled block table of ``variant`` (``b0`` ... ``b3``, ``s``, ``m``, ``l``)."""
    cfg = _variant(variant)
    return [stage.scaled(cfg.width, cfg.depth) for stage in cfg.stages]


def _conv_bn_act(cin: int, cout: int, kernel: int, stride: int, act: bool = True, groups: int = 1) -> nn.Sequential:
    layers: list[tuple[str, nn.Module]] = [
        ("conv", nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False)),
        ("bn", nn.BatchNorm2d(cout, eps=1e-3)),
    ]
    if act:
        layers.append(("act", nn.SiLU(inplace=True)))
    return nn.Sequential(OrderedDict(layers))


class DropPath(nn.Module):
    """Stochastic depth on the residual branch (identity in eval mode)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation gate: global mean, 1x1 conv (bias), SiLU, 1x1 conv (bias), sigmoid."""

    def __init__(self, channels: int, reduced: int):
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.expand = nn.Conv2d(reduced, channels, 1)
        self.act = nn.SiLU(inplace=True)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.expand(self.act(self.reduce(s))))


class Block(nn.Module):
    """One FusedMBConv or MBConv block (``cfg`` already scaled, stride of this repeat)."""

    def __init__(self, cfg: StageConfig, in_channels: int, stride: int, drop_path: float):
        super().__init__()
        hidden = in_channels * cfg.expand_ratio
        out = cfg.out_channels
        layers: list[tuple[str, nn.Module]] = []
        if cfg.block == "fused":
            if cfg.expand_ratio == 1:
                layers.append(("project", _conv_bn_act(in_channels, out, cfg.kernel, stride)))
            else:
                layers.append(("expand", _conv_bn_act(in_channels, hidden, cfg.kernel, stride)))
                layers[-1][1].conv.reuseprior_role = "fused_expand"  # see sharing.as_published_share_key
                layers.append(("project", _conv_bn_act(hidden, out, 1, 1, act=False)))
        else:
            if cfg.expand_ratio != 1:
                layers.append(("expand", _conv_bn_act(in_channels, hidden, 1, 1)))
            layers.append(("depthwise", _conv_bn_act(hidden, hidden, cfg.kernel, stride, groups=hidden)))
            if cfg.se_ratio > 0:
                layers.append(("se", SqueezeExcite(hidden, max(1, int(in_channels * cfg.se_ratio)))))
            layers.append(("project", _conv_bn_act(hidden, out, 1, 1, act=False)))
        self.body = nn.Sequential(OrderedDict(layers))
        self.residual = stride == 1 and in_channels == out
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        if self.residual:
            y = self.drop_path(y) + x
        return y


class EfficientNetV2(nn.Module):
    """Generic EfficientNetV2: stem, the blocks of ``stages``, head, classifier.

    Parameters appear in the same order and with the same shapes as in
    torchvision's EfficientNet (stem, blocks, head conv, linear classifier).
    """

    def __init__(
        self,
        stages: Sequence[StageConfig],
        num_classes: int = 1000,
        head_channels: int = 1280,
        dropout: float = 0.2,
        stochastic_depth: float = 0.2,
    ):
        super().__init__()
        if not stages:
            raise ValueError("EfficientNetV2 needs at least one StageConfig")
        self.stage_configs = tuple(stages)
        self.stem = _conv_bn_act(3, stages[0].in_channels, 3, 2)
        total = sum(s.repeats for s in stages)
        self.blocks = nn.ModuleList()
        channels, index = stages[0].in_channels, 0
        for cfg in stages:
            repeats: list[nn.Module] = []
            for r in range(cfg.repeats):
                stride = cfg.stride if r == 0 else 1
                repeats.append(Block(cfg, channels, stride, stochastic_depth * index / total))
                channels, index = cfg.out_channels, index + 1
            self.blocks.append(nn.Sequential(*repeats))
        self.head = _conv_bn_act(channels, head_channels, 1, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(head_channels, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage in self.blocks:
            x = stage(x)
        return self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x)).flatten(1)
        return self.classifier(self.dropout(x))


def efficientnet_v2(variant: str, num_classes: int = 1000, **kwargs: Any) -> EfficientNetV2:
    """EfficientNetV2 ``variant`` in ``b0``, ``b1``, ``b2``, ``b3``, ``s``, ``m``, ``l``.

    Extra keyword arguments (``dropout``, ``stochastic_depth``) go to
    :class:`EfficientNetV2`; the default dropout is the official one.
    """
    cfg = _variant(variant)
    kwargs.setdefault("dropout", cfg.dropout)
    head = round_filters(cfg.head_channels, cfg.width)
    return EfficientNetV2(stage_configs(variant), num_classes=num_classes, head_channels=head, **kwargs)


def _register(name: str) -> None:
    def builder(num_classes: int = 1000, **kwargs) -> EfficientNetV2:
        return efficientnet_v2(name, num_classes=num_classes, **kwargs)

    builder.__name__ = f"efficientnet_v2_{name}"
    builder.__doc__ = f"EfficientNetV2-{name.upper()} (see :func:`efficientnet_v2`)."
    register_model(f"efficientnet_v2_{name}")(builder)


for _name in VARIANTS:
    _register(_name)


def load_torchvision_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Copy a torchvision ``efficientnet_v2_*`` state dict into ``model`` by
    position (both list the same tensors in the same order and shapes).

    Raises ``ValueError`` naming the first mismatch when the two graphs differ.
    """
    ours = model.state_dict()
    if len(ours) != len(state_dict):
        raise ValueError(
            f"state dicts differ in length: ours {len(ours)}, given {len(state_dict)}; not the same variant?"
        )
    mapped = OrderedDict()
    for (name, tensor), (their_name, theirs) in zip(ours.items(), state_dict.items()):
        if tensor.shape != theirs.shape:
            raise ValueError(f"shape mismatch: {name} {tuple(tensor.shape)} vs {their_name} {tuple(theirs.shape)}")
        mapped[name] = theirs
    model.load_state_dict(mapped)
