"""torchvision ImageNet-1K classifiers with their published top-1 accuracy.

Ground truth: ``weights.meta["_metrics"]["ImageNet-1K"]["acc@1"]`` of one
weight recipe per architecture, read offline from torchvision's weight enums
(no weights are downloaded; models are built with ``weights=None``).

Recipe rule: ``IMAGENET1K_V1`` when the architecture has it (the original,
mostly paper-like recipe; V2 recipes add 1-4 points of accuracy through
training tricks that a training-free score cannot see), otherwise the first
listed ``IMAGENET1K_*`` recipe (``regnet_y_128gf`` and ``vit_h_14`` only have
SWAG recipes, flagged in the ``recipe`` column). torchvision is BSD-3-Clause.

Input size: each architecture's ``eval_crop`` is the crop size of that same
recipe's evaluation transform (``weights.transforms().crop_size``; 224 px for
64 of the 80 models, 240-600 px for EfficientNet-B1..B7 and V2-S/M/L, 299 for
Inception-v3, 256 for Swin-V2, 384 for RegNet-Y-128GF, 518 for ViT-H/14), so
the accuracy and the input a model is scored at belong to one recipe.
:func:`build_at_eval_crop` builds a model for its crop (the zoo scores from
version 2 on, :mod:`reuseprior.zoo.scoring`); :func:`build_torchvision`
without ``image_size`` builds the builder's default (the 224 px of version 1).
"""

from __future__ import annotations

from functools import lru_cache

import pandas as pd
import torchvision.models as tvm
from torch import nn
from torchvision.models import get_model, get_model_builder, get_model_weights, list_models

__all__ = ["build_at_eval_crop", "build_torchvision", "eval_crop", "load_torchvision_zoo", "pick_recipe"]

#: Builder keyword arguments that make a model return plain logits in train mode.
_BUILD_KWARGS = {
    "googlenet": {"aux_logits": False, "init_weights": True},
    "inception_v3": {"aux_logits": False, "init_weights": True},
}

#: Builder modules whose models are made for one input size (position embeddings, attention partitions),
#: and the keyword arguments that set it: the other classifiers take any input size as built.
_SIZE_ARGUMENTS = {
    "torchvision.models.vision_transformer": lambda size: {"image_size": size},
    "torchvision.models.maxvit": lambda size: {"input_size": (size, size)},
}


def pick_recipe(name: str):
    """The weight enum member chosen for ``name`` by the rule in the module docstring."""
    members = list(get_model_weights(name))
    for m in members:
        if m.name == "IMAGENET1K_V1":
            return m
    for m in members:
        if m.name.startswith("IMAGENET1K"):
            return m
    raise LookupError(f"torchvision model {name!r} has no ImageNet-1K weights: {[m.name for m in members]}")


@lru_cache(maxsize=1)
def load_torchvision_zoo() -> pd.DataFrame:
    """One row per torchvision classification architecture.

    Columns: ``arch``, ``accuracy`` (published acc@1, %), ``acc5``, ``recipe``,
    ``published_params``, ``published_gflops`` (``_ops``: GFLOPs as torchvision
    states them), ``eval_crop``.
    """
    rows = []
    for name in list_models(module=tvm):
        w = pick_recipe(name)
        metrics = w.meta.get("_metrics", {}).get("ImageNet-1K", {})
        crop = getattr(w.transforms(), "crop_size", [None])
        rows.append(
            {
                "arch": name,
                "accuracy": float(metrics["acc@1"]),
                "acc5": float(metrics.get("acc@5", float("nan"))),
                "recipe": w.name,
                "published_params": int(w.meta.get("num_params", 0)),
                "published_gflops": float(w.meta.get("_ops", float("nan"))),
                "eval_crop": int(crop[0]) if crop and crop[0] is not None else None,
            }
        )
    return pd.DataFrame(rows)


def build_torchvision(name: str, num_classes: int = 1000, image_size: int | None = None) -> nn.Module:
    """The architecture with random initialisation (``weights=None``).

    ``image_size``: the input size to build a model for whose builder fixes one
    (the ViTs' position embeddings, MaxViT's partitions; the others take any
    size as built and ignore it); ``None``: the builder's default (224 px).
    The keyword is passed, never a second model built, so one build draws the
    random numbers of the seeded initialisation."""
    kwargs = dict(_BUILD_KWARGS.get(name, {}))
    size_arguments = _SIZE_ARGUMENTS.get(get_model_builder(name).__module__)
    if image_size is not None and size_arguments is not None:
        kwargs |= size_arguments(image_size)
    return get_model(name, weights=None, num_classes=num_classes, **kwargs)


def eval_crop(name: str) -> int:
    """The evaluation crop (px) of ``name``'s recipe: the ``eval_crop`` of :func:`load_torchvision_zoo`."""
    crops = load_torchvision_zoo().set_index("arch")["eval_crop"]
    if name not in crops.index:
        raise KeyError(f"{name!r} is not a torchvision classifier of the zoo")
    return int(crops[name])


def build_at_eval_crop(name: str, num_classes: int = 1000) -> nn.Module:
    """:func:`build_torchvision` for the model's :func:`eval_crop` (ViT-H/14 at 518 px: its own position embeddings)."""
    return build_torchvision(name, num_classes, image_size=eval_crop(name))
