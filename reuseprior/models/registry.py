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

The registered names are a :class:`~reuseprior.core.registry.Registry` (:data:`MODELS`), filled where each
builder is declared (``@register_model("name")``): it imports every module of :mod:`reuseprior.models`
before its first listing or lookup, so a new builder module is listed without an edit to a list.
:func:`list_models` (shell wildcards, as ``timm.list_models``) and :func:`get_model_builder` (as
``torchvision.models.get_model_builder``) read it; :func:`available_models` is the older name of the
listing.

Every resolution failure raises ``ValueError`` whose message names what was
not found and how to fix it: close names for a misspelt model, the import path
for a module that cannot be imported, the exception raised while importing it,
or the callables of a module that lacks the factory (the messages and the import
are :mod:`reuseprior.core.factories`', shared with the commands' light check).
"""

from __future__ import annotations

import fnmatch
from types import ModuleType
from typing import Any, Callable

from torch import nn

from reuseprior.core.factories import LIST_HINT, call_factory, import_factory, unknown_model_message
from reuseprior.core.registry import Registry
from reuseprior.models.timm_models import TIMM_PREFIX, build_timm

__all__ = [
    "LIST_HINT",
    "MODELS",
    "available_models",
    "build_model",
    "collision_note",
    "get_model_builder",
    "list_models",
    "register_model",
    "torchvision_names",
]

#: reuseprior's model builders by name, each registered by its module (:func:`register_model`)
MODELS: Registry[Callable[..., nn.Module]] = Registry(
    "reuseprior model",
    "`python -m reuseprior analyze --list-models`",
    ("reuseprior.models",),
    name_form=(r"[a-z][a-z0-9_]*", "lower-case letters, digits and '_', starting with a letter, as torchvision's"),
)


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator adding a builder to the registry under ``name`` (a name taken by another builder is refused)."""

    def add(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        return MODELS.register(name, builder)

    return add


def get_model_builder(name: str) -> Callable[..., nn.Module]:
    """The builder registered in reuseprior under ``name``; an unknown name is refused with the closest."""
    return MODELS.get(name)


def _torchvision_models() -> ModuleType:
    import torchvision  # noqa: PLC0415 (about a second: only for a name not registered here)

    return torchvision.models


def torchvision_names() -> list[str]:
    """torchvision's classification model names (imports torchvision)."""
    models = _torchvision_models()
    return list(models.list_models(module=models))


def list_models(pattern: str | None = None, *, include_torchvision: bool = False) -> list[str]:
    """Names registered in reuseprior, sorted; with ``include_torchvision`` also torchvision's
    classification models (the names :func:`build_model` accepts); only those matching the shell wildcard
    ``pattern`` if given (``list_models("efficientnet_v2_*")``)."""
    names = set(MODELS.names())
    if include_torchvision:
        names.update(torchvision_names())
    return sorted(n for n in names if pattern is None or fnmatch.fnmatchcase(n, pattern))


def available_models(*, include_torchvision: bool = False) -> list[str]:
    """:func:`list_models` without a pattern (the older name)."""
    return list_models(include_torchvision=include_torchvision)


def collision_note(spec: str) -> str | None:
    """A sentence saying which builder ``spec`` resolves to when both reuseprior
    and torchvision have a model of that name, else ``None``."""
    if spec not in MODELS or spec not in torchvision_names():
        return None
    builder = MODELS.get(spec)
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
    if spec in MODELS:
        return MODELS.get(spec)(**kwargs)
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
    raise ValueError(unknown_model_message(spec, set(MODELS.names()) | set(tv_names)))
