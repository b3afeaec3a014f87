"""Create models by name (the pattern of ``torchvision.models.get_model``).

``build_model(spec)`` resolves, in order:

1. a name registered in reuseprior with :func:`register_model`
   (e.g. ``"efficientnet_v2_b0"``);
2. a torchvision classification model name (built without weights);
3. ``"package.module:factory"``, any importable callable returning an
   ``nn.Module``.
"""

from __future__ import annotations

import importlib
from typing import Callable

from torch import nn

__all__ = ["available_models", "build_model", "register_model"]

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator adding a builder to the registry under ``name``."""

    def add(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _BUILDERS and _BUILDERS[name] is not builder:
            raise ValueError(f"model name {name!r} is already registered by {_BUILDERS[name]!r}")
        _BUILDERS[name] = builder
        return builder

    return add


def available_models() -> list[str]:
    """Names registered in reuseprior (torchvision names work too)."""
    return sorted(_BUILDERS)


def build_model(spec: str, **kwargs) -> nn.Module:
    """Build a model from a registered name, a torchvision name or ``module:factory``."""
    if spec in _BUILDERS:
        return _BUILDERS[spec](**kwargs)
    if ":" in spec:
        module_name, _, attr = spec.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as err:
            raise ValueError(f"cannot import factory {spec!r}: {err}. Use 'package.module:function'.") from err
        model = factory(**kwargs)
        if not isinstance(model, nn.Module):
            raise TypeError(f"{spec!r} returned {type(model).__name__}, not a torch.nn.Module")
        return model
    import torchvision

    if spec in torchvision.models.list_models(module=torchvision.models):
        return torchvision.models.get_model(spec, weights=None, **kwargs)
    raise ValueError(
        f"unknown model {spec!r}: not registered in reuseprior ({', '.join(available_models()) or 'none'}), "
        "not a torchvision classifier (see torchvision.models.list_models()), and not 'module:factory'."
    )
