"""Parameter sharing schemes behind one API: :func:`share` and :func:`materialize`.

Schemes (:data:`SCHEMES`):

* ``"scope"``: the thesis's aggressive same-shape sharing (sections 4.5.3-4.5.4):
  every convolution with the same (in, out, kernel, stride) scope is one module
  (:mod:`.scope`); it has no budget: it lands on the one its scopes give;
* ``"channelwise"``: each depthwise convolution stores C/s kernels and reuses each
  one s times (Bidart 2023, chapter 3, Table 3.3) (:mod:`.channelwise`);
* ``"ssn"``: Shapeshifter parameter stores (Plummer et al., Neural Parameter
  Allocation Search, section 3) at any budget below or above the model's size
  (:mod:`.stores`).

``share`` returns a model that runs and trains like the original (same output
shapes); the generated schemes replace the shared layers by
:class:`~.generated.GeneratedLayer` s whose weights are computed from the stored
parameters on every forward. :func:`materialize` returns a plain model holding the
generated weights: identical outputs, no generator. Schemes compose where that
makes sense: ``share(share(m, "scope"), "channelwise")`` stores channel-wise kernels
for each scope's one depthwise convolution.

Budgets: ``budget`` is the parameter count of the whole shared model (every
parameter, batch norm and biases included), given as an ``int``, or as a ``float``
fraction of the original model's count (``0.5`` halves it, ``2.0`` doubles it);
:func:`resolve_budget` converts one into the other.
"""

from __future__ import annotations

import copy
import math
import numbers
from typing import Callable

from torch import nn

from reuseprior.core.errors import SharingError
from reuseprior.core.memory import gib, physical_memory_bytes
from reuseprior.core.parameters import count_parameters
from reuseprior.models.sharing.channelwise import share_channelwise
from reuseprior.models.sharing.generated import (
    CONTAINERS,
    GeneratedLayer,
    SharedContainer,
    generated_layers,
    materialize_layers,
    weight_sources,
)
from reuseprior.models.sharing.scope import (
    ModuleKey,
    as_published_share_key,
    conv_scope_key,
    corrected_share_key,
    parameter_count_table,
    share_parameters,
    shared_groups,
)
from reuseprior.models.sharing.stores import share_stores

__all__ = [
    "SCHEMES",
    "GeneratedLayer",
    "SharedContainer",
    "ModuleKey",
    "as_published_share_key",
    "conv_scope_key",
    "corrected_share_key",
    "count_parameters",
    "generated_layers",
    "materialize",
    "parameter_count_table",
    "register_scheme",
    "resolve_budget",
    "share",
    "share_parameters",
    "shared_groups",
    "weight_sources",
]

#: ``scheme(model, *, budget, **options) -> model``: applies a scheme in place
Scheme = Callable[..., nn.Module]


def _share_scope(model: nn.Module, *, budget: int | None = None, key: ModuleKey | None = None) -> nn.Module:
    """The thesis's scope sharing (:func:`.scope.share_parameters`, ``all_but_bn``)."""
    if budget is not None:
        raise SharingError(
            "scope sharing has no budget: it ties every convolution of one (in, out, kernel, stride) scope and "
            "lands on the count of its scopes; call share(model, 'scope') and read count_parameters() of the result"
        )
    return share_parameters(model, "all_but_bn", key=key)


#: the registered schemes by name
SCHEMES: dict[str, Scheme] = {"scope": _share_scope, "channelwise": share_channelwise, "ssn": share_stores}


def register_scheme(name: str, scheme: Scheme) -> None:
    """Make ``scheme`` available to :func:`share` under ``name``."""
    SCHEMES[name] = scheme


def resolve_budget(model: nn.Module, budget: int | float) -> int:
    """The parameter count a ``budget`` asks for: an ``int`` is a count, a ``float``
    a fraction of ``model``'s own count (rounded to the nearest integer).

    Policy: a budget must be finite and > 0, and its parameters, in the model's dtype
    (the stores take it: float32, or float64 on the quick profiles), must fit in this
    machine's memory (:mod:`reuseprior.core.memory`); otherwise :class:`SharingError`
    gives the figures, before anything is allocated."""
    if isinstance(budget, bool) or not isinstance(budget, numbers.Real) or not 0 < budget < math.inf:
        raise SharingError(
            "budget must be a finite positive int (a parameter count) or float (a fraction of the model's), "
            f"got {budget!r}"
        )
    own = count_parameters(model)
    count = int(budget) if isinstance(budget, numbers.Integral) else max(1, round(float(budget) * own))
    first = next(model.parameters(), None)
    dtype, width = (
        (str(first.dtype).removeprefix("torch."), first.element_size()) if first is not None else ("float32", 4)
    )
    memory = physical_memory_bytes()
    if memory is not None and width * count > memory:
        raise SharingError(
            f"budget {budget!r} asks for {count:,} parameters ({gib(width * count)} of {dtype} stores; the model has "
            f"{own:,}), more than this machine's {gib(memory)} of memory; give a smaller budget (a float is a "
            "fraction of the model's parameters: 2.0 doubles them)"
        )
    return count


def share(
    model: nn.Module, scheme: str, *, budget: int | float | None = None, inplace: bool = False, **options: object
) -> nn.Module:
    """``model`` with its parameters shared by ``scheme`` (see :data:`SCHEMES`).

    ``budget`` (see the module docstring) is passed to the scheme as a parameter
    count; ``options`` are the scheme's own. The input model is left untouched
    unless ``inplace=True``. A container root (``nn.Sequential``, ``nn.ModuleList``,
    ``nn.ModuleDict``) comes back wrapped in :class:`~.generated.SharedContainer`
    (as ``.body``), so the weight sources are not run as one of its layers;
    :func:`materialize` unwraps it.
    """
    if scheme not in SCHEMES:
        raise SharingError(f"unknown sharing scheme {scheme!r}; choose one of {sorted(SCHEMES)}")
    target = model if inplace else copy.deepcopy(model)
    resolved = None if budget is None else resolve_budget(model, budget)
    if isinstance(target, CONTAINERS):
        target = SharedContainer(target)
    return SCHEMES[scheme](target, budget=resolved, **options)


def materialize(shared: nn.Module) -> nn.Module:
    """A plain copy of ``shared``: every generated layer becomes an ordinary layer
    holding its generated weight, and every scope tie is undone (each site gets its
    own copy), so the result computes the same outputs with unshared parameters."""
    plain = materialize_layers(shared)
    seen: set[int] = set()
    for name, module in list(plain.named_modules(remove_duplicate=False)):
        if not name or not isinstance(module, (nn.Conv2d, nn.Linear)):
            continue
        if id(module) in seen:
            parent_name, _, child = name.rpartition(".")
            parent = plain.get_submodule(parent_name) if parent_name else plain
            parent._modules[child] = copy.deepcopy(module)
        seen.add(id(module))
    if hasattr(plain, "_reuseprior_ties"):
        plain._reuseprior_ties = {}
    return plain
