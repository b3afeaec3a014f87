"""Create models by name (the pattern of ``torchvision.models.get_model``).

``build_model(spec)`` resolves, in order:

1. a name registered in reuseprior with :func:`register_model`
   (e.g. ``"efficientnet_v2_b0"``);
2. a torchvision classification model name (built without weights);
3. ``"package.module:factory"``, any importable callable returning an
   ``nn.Module``.

A reuseprior name that torchvision also uses (``efficientnet_v2_s``, ``_m``,
``_l``: the thesis's EfficientNetV2 builders) therefore builds reuseprior's
model; ``"torchvision.models:efficientnet_v2_s"`` builds torchvision's, and
:func:`collision_note` says so in words for a command line to print.

Every resolution failure raises ``ValueError`` whose message names what was
not found and how to fix it: close names for a misspelt model, the import path
for a module that cannot be imported, the exception raised while importing it,
or the callables of a module that lacks the factory.
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
import traceback
from types import ModuleType
from typing import Callable

from torch import nn

__all__ = ["available_models", "build_model", "collision_note", "register_model"]

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}

#: how a user lists every name that :func:`build_model` accepts
LIST_HINT = (
    "list them with `python -m reuseprior analyze --list-models`, or in Python with "
    "reuseprior.models.available_models(include_torchvision=True)"
)


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


def _torchvision_names() -> list[str]:
    models = _torchvision_models()
    return list(models.list_models(module=models))


def available_models(*, include_torchvision: bool = False) -> list[str]:
    """Names registered in reuseprior, sorted; with ``include_torchvision`` also
    torchvision's classification models (the names :func:`build_model` accepts)."""
    names = set(_BUILDERS)
    if include_torchvision:
        names.update(_torchvision_names())
    return sorted(names)


def collision_note(spec: str) -> str | None:
    """A sentence saying which builder ``spec`` resolves to when both reuseprior
    and torchvision have a model of that name, else ``None``."""
    if spec not in _BUILDERS or spec not in _torchvision_names():
        return None
    builder = _BUILDERS[spec]
    return (
        f"{spec!r} is reuseprior's model ({builder.__module__}.{builder.__name__}), not torchvision's model "
        f"of the same name; for torchvision's, give 'torchvision.models:{spec}'"
    )


def build_model(spec: str, **kwargs) -> nn.Module:
    """Build a model from a registered name, a torchvision name or ``module:factory``.

    Raises ``ValueError`` naming the problem and the fix when ``spec`` resolves
    to nothing, and ``TypeError`` when a factory returns something other than an
    ``nn.Module``.
    """
    if spec in _BUILDERS:
        return _BUILDERS[spec](**kwargs)
    if ":" in spec:
        model = _import_factory(spec)(**kwargs)
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"{spec!r} returned {type(model).__name__}, not a torch.nn.Module; "
                "give a factory that returns the model (an nn.Module instance)"
            )
        return model
    tv_names = _torchvision_names()
    if spec in tv_names:
        return _torchvision_models().get_model(spec, weights=None, **kwargs)
    close = difflib.get_close_matches(spec, sorted(set(_BUILDERS) | set(tv_names)), n=5, cutoff=0.6)
    guess = f"; did you mean {', '.join(close)}?" if close else "."
    raise ValueError(
        f"unknown model {spec!r}: neither registered in reuseprior nor a torchvision classifier{guess} "
        f"Every accepted name: {LIST_HINT}. Any other model: give 'package.module:factory'."
    )


# ------------------------------------------------------------------------------ module:factory
def _import_path_text() -> str:
    head = ", ".join(repr(p) for p in sys.path[:3])
    more = f" and {len(sys.path) - 3} more" if len(sys.path) > 3 else ""
    return f"the working directory is {os.getcwd()!r}; the import path (sys.path) begins {head}{more}"


def _where_raised(err: BaseException) -> str:
    frames = traceback.extract_tb(err.__traceback__)
    user = [f for f in frames if "importlib" not in f.filename and f.filename != __file__]
    if not user:
        return ""
    last = user[-1]
    return f" (at {last.filename}, line {last.lineno})"


def _import_module(spec: str, module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        missing = err.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            parent, _, last = missing.rpartition(".")
            found = sys.modules.get(parent) if parent else None
            if found is not None:  # the package imports; the submodule named in the spec does not exist
                where = getattr(found, "__file__", None) or parent
                raise ValueError(
                    f"cannot import factory {spec!r}: package {parent!r} ({where}) was found but has no module "
                    f"{last!r}. Fix: check the spelling of the module path before the colon."
                ) from err
            if "/" in module_name or "\\" in module_name or module_name.endswith(".py"):
                raise ValueError(
                    f"cannot import factory {spec!r}: {module_name!r} is a file path, not a module name. Fix: "
                    "give the dotted module name, e.g. 'mypkg.models:build_net' for the file mypkg/models.py, "
                    f"and run from the folder that holds mypkg ({_import_path_text()})."
                ) from err
            top = module_name.split(".")[0]
            raise ValueError(
                f"cannot import factory {spec!r}: no module named {missing!r} on the import path "
                f"({_import_path_text()}). Fix: run the command from the folder that holds the "
                f"package {top!r}, add that folder to PYTHONPATH (PYTHONPATH=/path/to/folder python -m "
                f"reuseprior ...), or install the package (pip install -e /path/to/project)."
            ) from err
        raise ValueError(
            f"cannot import factory {spec!r}: module {module_name!r} was found but importing it raised "
            f"ModuleNotFoundError: {err}{_where_raised(err)}. Fix: install the package {missing!r} that "
            f"{module_name!r} imports (pip install {missing.split('.')[0]}), or remove that import."
        ) from err
    except Exception as err:  # noqa: BLE001 - any error of the user's module, re-raised with its name and place
        raise ValueError(
            f"cannot import factory {spec!r}: importing module {module_name!r} raised "
            f"{type(err).__name__}: {err}{_where_raised(err)}. Fix that error in the module, then run again."
        ) from err


def _import_factory(spec: str) -> Callable[..., nn.Module]:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr or ":" in attr:
        raise ValueError(
            f"model spec {spec!r} is not 'package.module:factory'; give e.g. "
            "'mypkg.models:build_net' (module, one colon, then the function that builds the model)"
        )
    module = _import_module(spec, module_name)
    try:
        factory = getattr(module, attr)
    except AttributeError:
        names = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
        close = difflib.get_close_matches(attr, names, n=3, cutoff=0.6)
        guess = f"did you mean {', '.join(close)}? " if close else ""
        where = getattr(module, "__file__", None) or module_name
        shown = ", ".join(sorted(names)[:20]) + (", ..." if len(names) > 20 else "")
        raise ValueError(
            f"cannot import factory {spec!r}: module {module_name!r} ({where}) was imported but has no "
            f"attribute {attr!r}; {guess}its public callables: {shown or 'none'}. Fix: give "
            f"'{module_name}:FUNCTION' with a function defined in that module."
        ) from None
    if not callable(factory):
        raise ValueError(
            f"{spec!r} is not callable (it is of type {type(factory).__name__}); give "
            f"'{module_name}:FUNCTION' with a function (or class) that builds the model"
        )
    return factory
