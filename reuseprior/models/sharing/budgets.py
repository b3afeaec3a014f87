"""Parameter bookkeeping of the two related sharing works, recomputed from the
built models and compared with their printed numbers (``data/seeds/``).

Bidart 2023 (thesis chapter 3, Table 3.3), one convolution with an ``h x w``
kernel on ``d`` feature maps:

* regular convolution: ``d^2 h w`` (:func:`regular_convolution_parameters`);
* depthwise convolution: ``d h w`` (:func:`depthwise_convolution_parameters`);
* channel-wise shared depthwise convolution: ``(d / s) h w`` with ``s`` the
  reuse of each stored kernel (:func:`shared_depthwise_convolution_parameters`).

:func:`depthwise_share` applies them to every depthwise layer of a model for
``s`` in {1, 2, 4, 8} (100, 50, 25 and 12.5 % of the depthwise weights
remaining) and checks the result against ``count_parameters`` of the model
shared by :func:`~.channelwise.share_channelwise`; for torchvision's
EfficientNet-B0 (Bidart's ImageNet model, "5.3 million parameters") see
:func:`efficientnet_b0_depthwise_share`.

Plummer et al., Neural Parameter Allocation Search (NPAS): budgets are
percentages of the original model's parameters (every parameter: weights,
biases, batch norm); a layer's size is the number of weights a parameter store
generates for it (the ``weight`` of a convolution or linear layer, no bias):

* :func:`largest_layer`: WRN-28-10's largest layer "requires just under 4M
  weights" (section 4.3): the 640 -> 640 3x3 convolutions, 3,686,400;
* :func:`budget_table`: budgets given as fractions, as parameter counts;
* :func:`store_budget`: the Table 12(c) rule, a store holds as many parameters
  as its largest layer needs, and a model's budget is the sum over its stores.

The printed values these numbers are compared with are in ``data/seeds/``.
"""

from __future__ import annotations

import copy
from typing import Iterable, Sequence

import pandas as pd
from torch import nn

from reuseprior.core.errors import SharingError
from reuseprior.core.parameters import count_parameters
from reuseprior.models.registry import build_model
from reuseprior.models.sharing.channelwise import DEFAULT_LAYOUT, depthwise_layers, share_channelwise

__all__ = [
    "BIDART_REUSES",
    "budget_table",
    "depthwise_convolution_parameters",
    "depthwise_layer_table",
    "depthwise_share",
    "efficientnet_b0_depthwise_share",
    "largest_layer",
    "layer_sizes",
    "regular_convolution_parameters",
    "shared_depthwise_convolution_parameters",
    "store_budget",
]

#: Bidart's reuse factors s: 100, 50, 25 and 12.5 % of the depthwise weights remaining
BIDART_REUSES = (1, 2, 4, 8)


# --------------------------------------------------------------------------- Bidart Table 3.3


def _check_sizes(**sizes: int) -> None:
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def regular_convolution_parameters(d: int, h: int, w: int) -> int:
    """``d^2 h w``: a dense ``h x w`` convolution from ``d`` to ``d`` feature maps (Bidart Table 3.3)."""
    _check_sizes(d=d, h=h, w=w)
    return d * d * h * w


def depthwise_convolution_parameters(d: int, h: int, w: int) -> int:
    """``d h w``: a depthwise ``h x w`` convolution over ``d`` feature maps (Bidart Table 3.3)."""
    _check_sizes(d=d, h=h, w=w)
    return d * h * w


def shared_depthwise_convolution_parameters(d: int, h: int, w: int, s: int) -> int:
    """``(d / s) h w``: a depthwise convolution whose ``d / s`` stored kernels each serve
    ``s`` feature maps (Bidart Table 3.3, "weight shared convolution"); ``s`` must divide ``d``."""
    _check_sizes(d=d, h=h, w=w, s=s)
    if d % s:
        raise SharingError(f"{d} feature maps cannot share each kernel {s} times: s must divide d")
    return (d // s) * h * w


def depthwise_layer_table(model: nn.Module, reuse: int = 1) -> pd.DataFrame:
    """One row per depthwise layer of ``model``: its ``d``, ``h``, ``w`` and Table 3.3's
    parameters as a regular, a depthwise and a shared (``s = reuse``) convolution."""
    rows = []
    for name, layer in depthwise_layers(model).items():
        d, (h, w) = layer.out_channels, layer.kernel_size
        rows.append(
            {
                "layer": name,
                "d": d,
                "h": h,
                "w": w,
                "regular": regular_convolution_parameters(d, h, w),
                "depthwise": depthwise_convolution_parameters(d, h, w),
                "shared": shared_depthwise_convolution_parameters(d, h, w, reuse),
            }
        )
    return pd.DataFrame(rows, columns=["layer", "d", "h", "w", "regular", "depthwise", "shared"])


def depthwise_share(
    model: nn.Module, reuses: Iterable[int] = BIDART_REUSES, *, layout: str = DEFAULT_LAYOUT
) -> pd.DataFrame:
    """The parameters of ``model`` with its depthwise kernels shared channel-wise, per reuse ``s``.

    Columns: ``reuse``, ``depthwise weights remaining (%)`` (``100 / s``),
    ``depthwise weights`` (Table 3.3's ``(d / s) h w`` summed over the layers),
    ``parameters (formula)`` (the model's count with the depthwise weights
    replaced by that sum), ``parameters (shared model)``
    (``count_parameters`` of ``share_channelwise(deepcopy(model), reuse=s)``),
    ``agree`` (the two counts are equal), ``parameters (% of original)`` and
    ``depthwise share (%)`` (the depthwise weights as a share of the model).
    """
    total = count_parameters(model)
    full = depthwise_layer_table(model, 1)["depthwise"].sum()
    rows = []
    for reuse in reuses:
        shared_weights = int(depthwise_layer_table(model, reuse)["shared"].sum())
        formula = int(total - full + shared_weights)
        measured = count_parameters(share_channelwise(copy.deepcopy(model), reuse=reuse, layout=layout))
        rows.append(
            {
                "reuse": reuse,
                "depthwise weights remaining (%)": 100 / reuse,
                "depthwise weights": shared_weights,
                "parameters (formula)": formula,
                "parameters (shared model)": measured,
                "agree": formula == measured,
                "parameters (% of original)": 100 * measured / total,
                "depthwise share (%)": 100 * shared_weights / measured,
            }
        )
    return pd.DataFrame(rows)


def efficientnet_b0_depthwise_share(num_classes: int = 1000, reuses: Iterable[int] = BIDART_REUSES) -> pd.DataFrame:
    """:func:`depthwise_share` of torchvision's EfficientNet-B0 (Bidart section 3.6.3)."""
    return depthwise_share(build_model("efficientnet_b0", num_classes=num_classes), reuses)


# --------------------------------------------------------------------------- NPAS bookkeeping


def layer_sizes(model: nn.Module) -> dict[str, int]:
    """The weights of every convolution and linear layer of ``model`` (no bias), by
    first module path: the sizes a parameter store has to generate (NPAS section 3)."""
    return {
        name: module.weight.numel()
        for name, module in model.named_modules()
        if isinstance(module, (nn.Conv2d, nn.Linear))
    }


def largest_layer(model: nn.Module) -> tuple[str, int]:
    """``(name, weights)`` of the largest layer of ``model`` (the first of equal ones)."""
    sizes = layer_sizes(model)
    if not sizes:
        raise ValueError(f"{type(model).__name__} has no convolution or linear layer")
    name = max(sizes, key=lambda n: sizes[n])
    return name, sizes[name]


def store_budget(model: nn.Module, stores: Sequence[Sequence[str]] | None = None) -> int:
    """NPAS Table 12(c)'s rule: each parameter store holds the weights of its largest
    layer, and the budget is the sum over the stores ("four parameter stores would
    result in summing four numbers"). ``stores`` lists the layer names of each store;
    ``None`` is one store holding every layer."""
    sizes = layer_sizes(model)
    if stores is None:
        stores = [list(sizes)]
    unknown = [name for store in stores for name in store if name not in sizes]
    if unknown:
        raise ValueError(f"not convolution or linear layers of the model: {unknown[:5]}; see layer_sizes(model)")
    if any(not store for store in stores):
        raise ValueError("every parameter store needs at least one layer")
    return sum(max(sizes[name] for name in store) for store in stores)


def budget_table(model: nn.Module, fractions: Iterable[float]) -> pd.DataFrame:
    """Budgets given as fractions of ``model``'s parameters (``count_parameters``) as counts.

    Columns ``fraction``, ``percent``, ``parameters`` (rounded to an integer, as
    :func:`~reuseprior.models.sharing.resolve_budget` does) and ``parameters (M)``.
    """
    total = count_parameters(model)
    rows = []
    for fraction in fractions:
        if not fraction > 0:
            raise ValueError(f"a budget fraction must be positive, got {fraction!r}")
        count = max(1, round(fraction * total))
        rows.append(
            {"fraction": fraction, "percent": 100 * fraction, "parameters": count, "parameters (M)": count / 1e6}
        )
    return pd.DataFrame(rows)
