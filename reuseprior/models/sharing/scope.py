"""Aggressive cross-layer parameter sharing (thesis sections 4.5.3-4.5.4, Table 4.2).

:func:`share_parameters` ties the weights of every convolution with the same
*scope key* to one ``nn.Parameter`` (the original built a global scope
dictionary keyed by in channels, out channels, kernel size and strides, so
that convolutions of the same scope were created once). Batch norm stays per
layer (``model.weight_sharing=all_but_bn``). The tie is real (one module
object at every site of a group): the parameter
receives the gradient of every use, appears once in ``model.parameters()``,
survives ``state_dict`` round trips, ``.to()`` and ``torch.compile``.

Also here, for the context-counting engine (``analyze(share_key=...)``):

* :func:`corrected_share_key` - merge convolution weight uses with equal
  (kernel, stride, in, out, groups), i.e. exactly what ``share_parameters``
  ties, so an untied model analysed with it equals the tied model;
* :func:`as_published_share_key` - the key that reproduces the shared rows of
  Table 4.3, including a naming collision of the original library: the
  FusedMBConv k x k expand convolution was named like a 1x1 stride-1
  convolution, so it was merged with every other convolution of the same
  channels (the 1x1 ones on its corner tap ``[..., 0, 0]``) regardless of
  stride.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Hashable, Iterable

import pandas as pd
import torch
from torch import nn

from reuseprior.core.parameters import count_parameters
from reuseprior.models.efficientnet_v2 import efficientnet_v2

__all__ = [
    "ModuleKey",
    "TABLE_4_2_PUBLISHED",
    "as_published_share_key",
    "conv_scope_key",
    "corrected_share_key",
    "count_parameters",
    "parameter_count_table",
    "share_parameters",
    "shared_groups",
]

#: ``key(module_name, module) -> Hashable | None``; modules with equal non-None keys share weights.
ModuleKey = Callable[[str, nn.Module], "Hashable | None"]

_SCHEMES = ("all_but_bn", None)


def _conv_key(
    cin: int, cout: int, kernel: tuple, stride: tuple, groups: int, dilation: tuple, padding: Any, bias: bool
) -> tuple:
    return ("conv2d", cin, cout, tuple(kernel), tuple(stride), groups, tuple(dilation), padding, bias)


def conv_scope_key(name: str, module: nn.Module) -> Hashable | None:  # noqa: ARG001 - the signature every proxy / hook / builder of its kind takes
    """Scope key of section 4.5.3: (in, out, kernel, stride) of a convolution.

    ``groups``, dilation, padding and bias presence are part of the key too,
    because convolutions differing in them cannot use one parameter (in the
    EfficientNetV2 and ResNet models they never collide with the four
    published fields). Non-convolutions return ``None`` (not shared).
    """
    if not isinstance(module, nn.Conv2d):
        return None
    padding = module.padding if isinstance(module.padding, str) else tuple(module.padding)
    return _conv_key(
        module.in_channels,
        module.out_channels,
        module.kernel_size,
        module.stride,
        module.groups,
        module.dilation,
        padding,
        module.bias is not None,
    )


def shared_groups(model: nn.Module, key: ModuleKey = conv_scope_key) -> "OrderedDict[Hashable, list[str]]":
    """Module names grouped by ``key`` (groups of one included), in model order."""
    groups: "OrderedDict[Hashable, list[str]]" = OrderedDict()
    for name, module in model.named_modules():
        k = key(name, module)
        if k is not None:
            groups.setdefault(k, []).append(name)
    return groups


def share_parameters(
    model: nn.Module,
    scheme: str | None = "all_but_bn",
    *,
    key: ModuleKey | None = None,
) -> nn.Module:
    """Tie the weights (and biases) of all modules with the same scope key, in place.

    ``scheme="all_but_bn"`` (the thesis's ``model.weight_sharing``) shares
    every convolution by :func:`conv_scope_key` and leaves batch norm and the
    classifier per layer; ``scheme=None`` returns the model unchanged. A custom
    ``key(module_name, module)`` overrides the scheme's key; its modules must
    be configured identically to be tied. The first module of each group is
    installed at every other site of the group (one ``nn.Conv2d`` object, so
    the tie survives ``.to("meta")``, ``deepcopy`` and pickling, which can
    re-create parameter objects). ``state_dict`` lists every site; loading one
    whose tied entries disagree raises ``ValueError``. Returns ``model``.
    """
    if scheme not in _SCHEMES:
        raise ValueError(f"unknown sharing scheme {scheme!r}; use 'all_but_bn' (share convolutions, not BN) or None")
    if scheme is None and key is None:
        return model
    key = key or conv_scope_key
    modules = dict(model.named_modules(remove_duplicate=False))
    ties: dict[str, str] = {}
    for group in shared_groups(model, key).values():
        owner = modules[group[0]]
        for name in group[1:]:
            module = modules[name]
            if module is owner:
                continue
            for attr in ("weight", "bias"):
                mine, theirs = getattr(module, attr, None), getattr(owner, attr, None)
                if (mine is None) != (theirs is None) or (mine is not None and mine.shape != theirs.shape):
                    raise ValueError(
                        f"cannot share {name} with {group[0]}: {attr} "
                        f"{None if mine is None else tuple(mine.shape)} vs "
                        f"{None if theirs is None else tuple(theirs.shape)}; "
                        "the key function must only group modules with identically shaped parameters"
                    )
            if type(module) is not type(owner) or module.extra_repr() != owner.extra_repr():
                raise ValueError(
                    f"cannot share {name} ({module!r}) with {group[0]} ({owner!r}): the modules are configured "
                    "differently; the key function must only group modules that compute the same operation"
                )
            parent_name, _, child = name.rpartition(".")
            modules[parent_name]._modules[child] = owner
            ties[name] = group[0]
    previous = getattr(model, "_reuseprior_ties", {})
    model._reuseprior_ties = {**previous, **ties}  # tied module name -> owner module name
    if ties and not getattr(model, "_reuseprior_tie_hook", False):
        model.register_load_state_dict_pre_hook(_check_tied_entries)
        model._reuseprior_tie_hook = True
    return model


def _check_tied_entries(module: nn.Module, state_dict: dict, prefix: str, *args: Any) -> None:  # noqa: ARG001 - the signature every proxy / hook / builder of its kind takes
    """``load_state_dict`` pre-hook: the entries of tied parameters must agree,
    otherwise the last one would silently win (e.g. loading an unshared checkpoint)."""
    for tied, owner in getattr(module, "_reuseprior_ties", {}).items():
        for attr in ("weight", "bias"):
            t, o = f"{prefix}{tied}.{attr}", f"{prefix}{owner}.{attr}"
            a, b = state_dict.get(t), state_dict.get(o)
            if a is None or b is None or a is b or torch.equal(a, b):
                continue
            raise ValueError(
                f"state_dict entries {t!r} and {o!r} are one shared parameter in this model "
                "but hold different values (a checkpoint of an unshared model?). Load it into an unshared model, "
                "or make the tied entries equal first."
            )


# --------------------------------------------------------------------------- share keys for the engine


def _conv_use(use: Any) -> tuple[str, nn.Conv2d] | None:
    """(``"weight"`` or ``"bias"``, conv module) of a convolution parameter use, else None."""
    module = getattr(use, "module", None)
    if getattr(use, "op", None) not in ("conv", "bias") or not isinstance(module, nn.Conv2d):
        return None
    attr = str(use.param_name).rsplit(".", 1)[-1]
    return (attr, module) if attr in ("weight", "bias") else None


def corrected_share_key(use: Any) -> Hashable | None:
    """Merge the weight (and bias) uses of convolutions with the same scope key
    (kernel, stride, in, out; see :func:`conv_scope_key`).

    Equivalent to analysing the model tied by :func:`share_parameters`.
    Batch norm and dense layers return ``None`` (not merged).
    """
    found = _conv_use(use)
    if found is None:
        return None
    attr, module = found
    return (attr, conv_scope_key("", module))


def as_published_share_key(use: Any) -> Hashable | None:
    """The key of the original library, collision included (Table 4.3 shared rows).

    As :func:`corrected_share_key`, except for the k x k expand convolution of
    a FusedMBConv block (marked ``reuseprior_role = "fused_expand"`` by
    :mod:`reuseprior.models.efficientnet_v2`), which the original named as a
    1x1 stride-1 convolution: it gets the key of a 1x1 stride-1 convolution
    with its channels, so it merges with the fused expand convolutions of the
    same channels whatever their stride, and its corner tap ``[..., 0, 0]``
    merges with the 1x1 convolutions of the same channels (the engine aligns
    uses of different shapes on their leading slice).
    """
    found = _conv_use(use)
    if found is None:
        return None
    attr, module = found
    if getattr(module, "reuseprior_role", None) == "fused_expand":
        return (
            attr,
            _conv_key(
                module.in_channels,
                module.out_channels,
                (1, 1),
                (1, 1),
                module.groups,
                (1, 1),
                (0, 0),
                module.bias is not None,
            ),
        )
    return (attr, conv_scope_key("", module))


# --------------------------------------------------------------------------- Table 4.2

#: Table 4.2 (p. 88) parameter counts as printed, in millions: (model, classes) -> text
TABLE_4_2_PUBLISHED: dict[tuple[str, int], str] = {
    ("V2-B0-shared", 10): "1.7",
    ("V2-B0-original", 10): "5.9",
    ("V2-S-shared", 10): "3.1",
    ("V2-B0-shared", 100): "1.8",
    ("V2-B0-original", 100): "5.9",
    ("V2-S-shared", 100): "3.2",
    ("V2-B0-shared", 1000): "3.0",
    ("V2-B0-original", 1000): "7.1",
    ("V2-S-shared", 1000): "4.4",
}

_TABLE_4_2_MODELS = {
    "V2-B0-shared": ("b0", "all_but_bn"),
    "V2-B0-original": ("b0", None),
    "V2-S-shared": ("s", "all_but_bn"),
}


def _printed_match(value_m: float, printed: str) -> str:
    """How a count in millions relates to a value printed with one decimal:
    "rounded", "truncated" (cut, not rounded) or "off"."""
    p = float(printed)
    if f"{value_m:.1f}" == printed:
        return "rounded"
    if int(value_m * 10) / 10 == p:
        return "truncated"
    return "off"


def parameter_count_table(num_classes: Iterable[int] = (10, 100, 1000)) -> pd.DataFrame:
    """Parameter counts of Table 4.2's models next to the printed ones.

    One row per (model, classes) with ``trainable`` (distinct trainable
    elements, tied weights once, BN gamma/beta included) and ``with BN
    statistics`` (plus the BN running mean and variance, i.e. Keras's "total
    params" and the NG convention of Tables 4.3/4.4), both in millions, the
    printed ``thesis (M)`` and, for each convention, whether the printed value
    is our count ``rounded`` or ``truncated`` to 0.1 M, or ``off``, and
    ``printed value explained by``: the conventions that reproduce the printed
    value ("neither" if none does).
    """

    rows = []
    for classes in num_classes:
        for label, (variant, scheme) in _TABLE_4_2_MODELS.items():
            model = share_parameters(efficientnet_v2(variant, num_classes=classes), scheme)
            trainable = count_parameters(model)
            stats = sum(b.numel() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var")))
            printed = TABLE_4_2_PUBLISHED.get((label, classes))
            row = {
                "model": label,
                "classes": classes,
                "trainable": trainable,
                "with BN statistics": trainable + stats,
                "trainable (M)": trainable / 1e6,
                "with BN statistics (M)": (trainable + stats) / 1e6,
                "thesis (M)": float(printed) if printed else float("nan"),
            }
            row["trainable vs thesis"] = _printed_match(row["trainable (M)"], printed) if printed else "missing"
            row["with BN statistics vs thesis"] = (
                _printed_match(row["with BN statistics (M)"], printed) if printed else "missing"
            )
            fits = [
                name
                for name in ("trainable", "with BN statistics")
                if row[f"{name} vs thesis"] not in ("off", "missing")
            ]
            row["printed value explained by"] = " / ".join(fits) or "neither"
            rows.append(row)
    return pd.DataFrame(rows)
