"""timm's ImageNet-1K classifiers, one result row per architecture, each scored at its native evaluation
size (:mod:`reuseprior.zoo.timm_zoo`)."""

from __future__ import annotations

import pandas as pd
from torch import nn

from reuseprior.zoo.scoring.registry import Zoo, register_zoo
from reuseprior.zoo.scoring.zoos.imagenet_orders import img_size
from reuseprior.zoo.timm_zoo import build_zoo_model, load_timm_zoo


def headline_then_params(cat: pd.DataFrame, seed: int) -> list[str]:  # noqa: ARG001 - the signature every proxy / hook / builder of its kind takes
    """timm's scoring order: the ImageNet-1K-only architectures (the headline subset) first, then the
    others, each by published parameter count (then name). The order depends on the catalogue alone,
    never on an accuracy or a score, so a partly scored zoo is a size-ordered prefix of each subset:
    its correlations are those of the smaller models, and are reported with their count."""
    return cat.sort_values(["in1k_only", "published_params", "arch"], ascending=[False, True, True])["arch"].tolist()


def build(arch: str) -> nn.Module:
    """A timm zoo model: its chosen weights' configuration at its image size, without weights."""
    return build_zoo_model(arch)


TIMM = register_zoo(
    Zoo(
        "timm",
        "timm ImageNet-1K classifiers, published top-1 of one result row per architecture (ImageNet-1K-only "
        "weights first, timm's first-listed tag, its native evaluation size: reuseprior.zoo.timm_zoo), "
        "each scored at that size",
        load_timm_zoo,
        build,
        batch_size=16,
        image_size=img_size,
        num_classes=1000,
        order=headline_then_params,
    )
)
