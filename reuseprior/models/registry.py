"""Create models by name (the pattern of ``torchvision.models.get_model``).

``build_model(spec)`` resolves, in order:

1. a name registered in reuseprior with :func:`register_model`
   (e.g. ``"efficientnet_v2_b0"``);
2. a torchvision classification model name (built without weights);
3. ``"timm:NAME"``, a timm architecture (built without weights:
   :mod:`reuseprior.models.timm_models`);
4. ``"package.module:factory"``, any importable callable returning an
   ``nn.Module``.

A reuseprior name that torchvision also uses (``efficientnet_v2_s``, ``_m``,
``_l``: the thesis's EfficientNetV2 builders) therefore builds reuseprior's
model; ``"torchvision.models:efficientnet_v2_s"`` builds torchvision's, and
:func:`collision_note` says so in words for a command line to print.

Every resolution failure raises ``ValueError`` whose message names what was
not found and how to fix it: close names for a misspelt model, the import path
for a module that cannot be imported, the exception raised while importing it,
or the callables of a module that lacks the factory (the messages and the import
are :mod:`reuseprior.core.factories`', shared with the commands' light check).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Callable

from torch import nn

from reuseprior.core.factories import LIST_HINT, call_factory, import_factory, unknown_model_message
from reuseprior.models.timm_models import TIMM_PREFIX, build_timm

__all__ = ["LIST_HINT", "available_models", "build_model", "collision_note", "register_model", "torchvision_names"]

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator adding a builder to the registry under ``name``."""

    def add(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _BUILDERS and _BUILDERS[name] is not builder:
            raise ValueError(f"model name {name!r} is already registered by {_BUILDERS[name]!r}")
        _BUILDERS[name] = builder
        return builder

    return add


def _torchvision_models() -> ModuleType:
    import torchvision  # noqa: PLC0415 (about a second: only for a name not registered here)

    return torchvision.models


def torchvision_names() -> list[str]:
    """torchvision's classification model names (imports torchvision)."""
    models = _torchvision_models()
    return list(models.list_models(module=models))


def available_models(*, include_torchvision: bool = False) -> list[str]:
    """Names registered in reuseprior, sorted; with ``include_torchvision`` also
    torchvision's classification models (the names :func:`build_model` accepts)."""
    names = set(_BUILDERS)
    if include_torchvision:
        names.update(torchvision_names())
    return sorted(names)


def collision_note(spec: str) -> str | None:
    """A sentence saying which builder ``spec`` resolves to when both reuseprior
    and torchvision have a model of that name, else ``None``."""
    if spec not in _BUILDERS or spec not in torchvision_names():
        return None
    builder = _BUILDERS[spec]
    return (
        f"{spec!r} is reuseprior's model ({builder.__module__}.{builder.__name__}), not torchvision's model "
        f"of the same name; for torchvision's, give 'torchvision.models:{spec}'"
    )


def build_model(spec: str, **kwargs: Any) -> nn.Module:
    """Build a model from a registered name, a torchvision name, ``timm:NAME`` or ``module:factory``.

    Raises ``ValueError`` naming the problem and the fix when ``spec`` resolves
    to nothing or its factory cannot be called or raises
    (:func:`~reuseprior.core.factories.call_factory`), and ``TypeError`` when a
    factory returns something other than an ``nn.Module``.
    """
    if spec in _BUILDERS:
        return _BUILDERS[spec](**kwargs)
    if spec.startswith(TIMM_PREFIX):
        return build_timm(spec.removeprefix(TIMM_PREFIX), **kwargs)
    if ":" in spec:
        model = call_factory(spec, import_factory(spec), **kwargs)
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"{spec!r} returned {type(model).__name__}, not a torch.nn.Module; "
                "give a factory that returns the model (an nn.Module instance)"
            )
        return model
    tv_names = torchvision_names()
    if spec in tv_names:
        return _torchvision_models().get_model(spec, weights=None, **kwargs)
    raise ValueError(unknown_model_message(spec, set(_BUILDERS) | set(tv_names)))
