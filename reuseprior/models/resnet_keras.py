"""ResNet-50 as in Keras applications ("v1"): the ResNet-50 of thesis Table 4.4.

Unlike torchvision's ResNet-50 (v1.5, stride on the 3x3 convolution), the
Keras model puts the stride of a down-sampling bottleneck on its *first 1x1*
convolution (and on the 1x1 shortcut). This changes the context counts: the
3x3 convolution then works on the already reduced map.

Keras convolutions carry a bias even when followed by batch norm; the graph
analysis of Table 4.4 counted none (its NG = 25,610,152 is the Keras total
of 25,636,712 minus the 26,560 conv biases), so ``conv_bias=False`` is the
default here. The classifier keeps its bias.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
from torch import nn

from reuseprior.models.registry import register_model

__all__ = ["Bottleneck", "ResNetKerasV1", "resnet50_keras_v1"]


def _conv_bn(cin: int, cout: int, kernel: int, stride: int, bias: bool, act: bool) -> nn.Sequential:
    layers: list[tuple[str, nn.Module]] = [
        ("conv", nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=bias)),
        ("bn", nn.BatchNorm2d(cout, eps=1.001e-5)),
    ]
    if act:
        layers.append(("act", nn.ReLU(inplace=True)))
    return nn.Sequential(OrderedDict(layers))


class Bottleneck(nn.Module):
    """Keras v1 bottleneck: 1x1 (stride) -> 3x3 -> 1x1 (x4), projection shortcut when needed."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1, bias: bool = False):
        super().__init__()
        cout = width * self.expansion
        self.reduce = _conv_bn(cin, width, 1, stride, bias, act=True)
        self.conv = _conv_bn(width, width, 3, 1, bias, act=True)
        self.expand = _conv_bn(width, cout, 1, 1, bias, act=False)
        self.shortcut = _conv_bn(cin, cout, 1, stride, bias, act=False) if stride != 1 or cin != cout else None
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.shortcut is None else self.shortcut(x)
        return self.act(self.expand(self.conv(self.reduce(x))) + skip)


class ResNetKerasV1(nn.Module):
    """Bottleneck ResNet with the Keras-v1 stride placement."""

    def __init__(
        self,
        layers: Sequence[int] = (3, 4, 6, 3),
        num_classes: int = 1000,
        conv_bias: bool = False,
    ):
        super().__init__()
        self.stem = nn.Sequential(
            OrderedDict(
                conv=nn.Conv2d(3, 64, 7, 2, 3, bias=conv_bias),
                bn=nn.BatchNorm2d(64, eps=1.001e-5),
                act=nn.ReLU(inplace=True),
                pool=nn.MaxPool2d(3, 2, 1),
            )
        )
        stages: list[nn.Module] = []
        cin = 64
        for i, repeats in enumerate(layers):
            width = 64 * 2**i
            blocks = []
            for r in range(repeats):
                blocks.append(Bottleneck(cin, width, stride=(1 if i == 0 or r > 0 else 2), bias=conv_bias))
                cin = width * Bottleneck.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.stages(self.stem(x))).flatten(1)
        return self.classifier(x)


@register_model("resnet50_keras_v1")
def resnet50_keras_v1(num_classes: int = 1000, conv_bias: bool = False) -> ResNetKerasV1:
    """Keras-applications ResNet-50 (stride on the first 1x1 conv), Table 4.4."""
    return ResNetKerasV1((3, 4, 6, 3), num_classes=num_classes, conv_bias=conv_bias)
