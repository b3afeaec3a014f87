"""torchvision's ImageNet-1K classifiers, each scored at its recipe's evaluation crop (from version 2 of the
scores on; its declaration's ``earlier`` says how version 1 scored them: every model at 224 px, built at
the builder's default size)."""

from __future__ import annotations

import pandas as pd

from reuseprior.zoo.scoring.registry import Zoo, register_zoo
from reuseprior.zoo.scoring.zoos.imagenet_orders import by_params
from reuseprior.zoo.torchvision_zoo import build_at_eval_crop, build_torchvision, load_torchvision_zoo


def eval_crop(row: pd.Series) -> int:
    """A torchvision model's input size from version 2 on: its recipe's evaluation crop."""
    return int(row["eval_crop"])


TORCHVISION = register_zoo(
    Zoo(
        "torchvision",
        "torchvision ImageNet-1K classifiers, published acc@1 of one recipe per architecture (IMAGENET1K_V1 rule), "
        "each scored at that recipe's evaluation crop",
        load_torchvision_zoo,
        build_at_eval_crop,
        batch_size=16,
        image_size=eval_crop,
        num_classes=1000,
        order=by_params,
        earlier={
            1: {
                "description": "torchvision ImageNet-1K classifiers, published acc@1 of one recipe per architecture "
                "(IMAGENET1K_V1 rule)",
                "build": build_torchvision,
                "image_size": 224,
            }
        },
    )
)
