"""torchvision ImageNet-1K classifiers with their published top-1 accuracy.

Ground truth: ``weights.meta["_metrics"]["ImageNet-1K"]["acc@1"]`` of one
weight recipe per architecture, read offline from torchvision's weight enums
(no weights are downloaded; models are built with ``weights=None``).

Recipe rule: ``IMAGENET1K_V1`` when the architecture has it (the original,
mostly paper-like recipe; V2 recipes add 1-4 points of accuracy through
training tricks that a training-free score cannot see), otherwise the first
listed ``IMAGENET1K_*`` recipe (``regnet_y_128gf`` and ``vit_h_14`` only have
SWAG recipes, flagged in the ``recipe`` column). torchvision is BSD-3-Clause.
"""

from __future__ import annotations

from functools import lru_cache

import pandas as pd
from torch import nn

__all__ = ["build_torchvision", "load_torchvision_zoo", "pick_recipe"]

#: Builder keyword arguments that make a model return plain logits in train mode.
_BUILD_KWARGS = {
    "googlenet": {"aux_logits": False, "init_weights": True},
    "inception_v3": {"aux_logits": False, "init_weights": True},
}


def pick_recipe(name: str):
    """The weight enum member chosen for ``name`` by the rule in the module docstring."""
    from torchvision.models import get_model_weights

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
    import torchvision.models as tvm
    from torchvision.models import list_models

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


def build_torchvision(name: str, num_classes: int = 1000) -> nn.Module:
    """The architecture with random initialisation (``weights=None``)."""
    from torchvision.models import get_model

    return get_model(name, weights=None, num_classes=num_classes, **_BUILD_KWARGS.get(name, {}))
