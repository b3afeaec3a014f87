"""``package.module:factory`` specs and model names: the import, and the messages that say the fix.

:func:`reuseprior.models.registry.build_model` resolves a name or a spec with
these; :func:`unknown_model_message` and :func:`spec_problem` also let a caller
that must answer before torch is imported reject a misspelt name or an
unimportable spec with the same words.

Policies: every failure is a ``ValueError`` whose message names what was not
found and how to fix it (close names for a misspelt model, the import path for
a module that cannot be imported, the exception raised while importing it and
where, the callables of a module that lacks the factory). :func:`spec_problem`
imports nothing: it answers only what it can tell without running the user's
code (a malformed spec, a file path, a top-level module that is not on the
import path) and leaves everything else to :func:`import_factory`. Nothing here
imports torch.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import os
import sys
from types import ModuleType
from typing import Any, Callable, Iterable

from reuseprior.core.errors import raised_in_users_code

__all__ = [
    "LIST_HINT",
    "TIMM_PREFIX",
    "call_factory",
    "import_factory",
    "spec_problem",
    "unknown_model_message",
    "unknown_timm_message",
]

#: how a user lists every name that ``build_model`` accepts
LIST_HINT = (
    "list them with `python -m reuseprior analyze --list-models`, or in Python with "
    "reuseprior.models.available_models(include_torchvision=True)"
)


def unknown_model_message(spec: str, names: Iterable[str]) -> str:
    """The message for a name that is neither reuseprior's nor torchvision's: the close ``names`` and the fixes."""
    close = difflib.get_close_matches(spec, sorted(set(names)), n=5, cutoff=0.6)
    guess = f"; did you mean {', '.join(close)}?" if close else "."
    return (
        f"unknown model {spec!r}: neither registered in reuseprior nor a torchvision classifier{guess} "
        f"Every accepted name: {LIST_HINT}. Any other model: give 'package.module:factory'."
    )


#: how a model name says it is timm's (``timm:convnext_tiny``), built without weights
TIMM_PREFIX = "timm:"


def unknown_timm_message(name: str, names: Iterable[str]) -> str:
    """The message for a timm name that is not one of ``names``: the closest ones and where to list them."""
    close = difflib.get_close_matches(name, sorted(set(names)), n=5, cutoff=0.6)
    guess = f"; did you mean {', '.join(TIMM_PREFIX + c for c in close)}?" if close else "."
    return f"unknown timm model {name!r}{guess} Every accepted name: {LIST_HINT}."


def _import_path_text() -> str:
    head = ", ".join(repr(p) for p in sys.path[:3])
    more = f" and {len(sys.path) - 3} more" if len(sys.path) > 3 else ""
    return f"the working directory is {os.getcwd()!r}; the import path (sys.path) begins {head}{more}"


def _raised(err: BaseException) -> str:
    """What the user's code raised, in words: a ``SystemExit`` (``sys.exit``, ``exit``) is named as one,
    never taken for the command's own exit."""
    if isinstance(err, SystemExit):
        return f"SystemExit({err.code!r}) (it called sys.exit or exit)"
    return f"{type(err).__name__}: {err}"


def _malformed(spec: str) -> str | None:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr or ":" in attr:
        return (
            f"model spec {spec!r} is not 'package.module:factory'; give e.g. "
            "'mypkg.models:build_net' (module, one colon, then the function that builds the model)"
        )
    return None


def _file_path(spec: str, module_name: str) -> str | None:
    if "/" in module_name or "\\" in module_name or module_name.endswith(".py"):
        return (
            f"cannot import factory {spec!r}: {module_name!r} is a file path, not a module name. Fix: "
            "give the dotted module name, e.g. 'mypkg.models:build_net' for the file mypkg/models.py, "
            f"and run from the folder that holds mypkg ({_import_path_text()})."
        )
    return None


def _not_on_path(spec: str, missing: str, module_name: str) -> str:
    top = module_name.split(".")[0]
    return (
        f"cannot import factory {spec!r}: no module named {missing!r} on the import path "
        f"({_import_path_text()}). Fix: run the command from the folder that holds the "
        f"package {top!r}, add that folder to PYTHONPATH (PYTHONPATH=/path/to/folder python -m "
        f"reuseprior ...), or install the package (pip install -e /path/to/project)."
    )


def spec_problem(spec: str) -> str | None:
    """The message :func:`import_factory` would raise for ``spec`` when it can be told without importing
    anything (a malformed spec, a file path, a top-level module not on the import path), else ``None``."""
    if _malformed(spec):
        return _malformed(spec)
    module_name = spec.partition(":")[0]
    top = module_name.split(".")[0]
    if _file_path(spec, module_name):
        return _file_path(spec, module_name)
    try:
        if top in sys.modules or importlib.util.find_spec(top) is not None:  # finding a top-level name runs no code
            return None
    except (ImportError, ValueError):  # a name find_spec refuses (a relative one): the import says what is wrong
        return None
    return _not_on_path(spec, top, module_name)


def _missing_module(spec: str, module_name: str, err: ModuleNotFoundError) -> ValueError:
    """The message for a ``ModuleNotFoundError`` while importing ``module_name``: the spec's own module (or a
    parent) is missing, or a module that ``module_name`` imports is."""
    missing = err.name or ""
    if missing and (module_name == missing or module_name.startswith(missing + ".")):
        parent, _, last = missing.rpartition(".")
        found = sys.modules.get(parent) if parent else None
        if found is not None:  # the package imports; the submodule named in the spec does not exist
            where = getattr(found, "__file__", None) or parent
            return ValueError(
                f"cannot import factory {spec!r}: package {parent!r} ({where}) was found but has no module "
                f"{last!r}. Fix: check the spelling of the module path before the colon."
            )
        return ValueError(_file_path(spec, module_name) or _not_on_path(spec, missing, module_name))
    return ValueError(
        f"cannot import factory {spec!r}: module {module_name!r} was found but importing it raised "
        f"ModuleNotFoundError: {err}{raised_in_users_code(err)}. Fix: install the package {missing!r} that "
        f"{module_name!r} imports (pip install {missing.split('.')[0]}), or remove that import."
    )


def _import_module(spec: str, module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise _missing_module(spec, module_name, err) from err
    except (Exception, SystemExit) as err:  # noqa: BLE001 - any error of the user's module, named with its place
        raise ValueError(
            f"cannot import factory {spec!r}: importing module {module_name!r} raised "
            f"{_raised(err)}{raised_in_users_code(err)}. Fix that error in the module, then run again."
        ) from err


def import_factory(spec: str) -> Callable[..., Any]:
    """The callable that ``"package.module:factory"`` names (imported), or a ``ValueError`` saying the fix."""
    if _malformed(spec):
        raise ValueError(_malformed(spec))
    module_name, _, attr = spec.partition(":")
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


def call_factory(spec: str, factory: Callable[..., Any], **kwargs: Any) -> Any:
    """``factory(**kwargs)`` (the callable ``spec`` names), its problems as a ``ValueError`` that says
    the fix: a factory that cannot be called with ``kwargs`` (none, from the command line), or one that
    raises, named with the exception and the line of the user's code it came from."""
    call = f"factory({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
    try:
        inspect.signature(factory).bind(**kwargs)
    except TypeError as err:
        raise ValueError(
            f"factory {spec!r} cannot be called as {call}: {err}. Fix: give a factory that can (its other "
            "arguments with defaults) and returns the model."
        ) from None
    except ValueError:  # no signature to read (some builtins): the call below says what is wrong
        pass
    try:
        return factory(**kwargs)
    except (Exception, SystemExit) as err:  # noqa: BLE001 - any error of the user's factory, named with its place
        raise ValueError(
            f"calling factory {spec!r} as {call} raised {_raised(err)}{raised_in_users_code(err)}. "
            "Fix that error in the factory (or give one that builds the model when called so), then run again."
        ) from err
