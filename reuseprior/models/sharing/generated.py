"""Layers whose weights are generated from stored parameters: the common base of the
sharing schemes that are not plain ties (channel-wise kernels, Shapeshifter
parameter stores).

A shared model is the original model with each shared layer replaced by a
:class:`GeneratedLayer`. The layer keeps its own hyper-parameters (stride,
padding, dilation, groups) and its own bias, and asks a :class:`WeightSource`
for its weight on every forward. The sources are registered once, under the
model's ``weight_sources`` submodule (:data:`SOURCES_ATTRIBUTE`), so each stored
parameter

* appears once in ``model.parameters()`` and ``state_dict()``;
* receives the gradient of every layer it generates (training updates the
  stored parameters only: a generated weight is not a parameter);
* is captured by the counting engine as one placeholder with one edge per use,
  followed through the generator's own ops (slicing, mixing, repeating), so it
  receives the contexts of every weight it helps to generate.

:func:`materialize_layers` turns every generated layer back into a plain
``nn.Conv2d``/``nn.Linear`` holding the generated weight, which computes the same
outputs without the generator.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from reuseprior.core.errors import SharingError

__all__ = [
    "SOURCES_ATTRIBUTE",
    "GeneratedLayer",
    "SharedContainer",
    "WeightSource",
    "add_weight_source",
    "generated_layers",
    "materialize_layers",
    "replace_modules",
    "weight_sources",
]

#: the submodule of a shared model that owns its weight sources (an ``nn.ModuleDict``)
SOURCES_ATTRIBUTE = "weight_sources"

#: the layer types a source can generate the weight of
GENERATABLE = (nn.Conv2d, nn.Linear)


class WeightSource(nn.Module):
    """Stored parameters that generate the weights of named layers.

    Subclasses implement :meth:`weight`; the key is the name the shared layer
    was given when it was attached (its module path in the original model).
    """

    def weight(self, key: str) -> torch.Tensor:
        """The weight tensor of the layer ``key``, computed from the stored parameters."""
        raise NotImplementedError

    def keys(self) -> list[str]:
        """The layers this source generates, in model order."""
        raise NotImplementedError

    def stored_parameters(self) -> int:
        """Number of stored (trainable) parameters of this source."""
        return sum(p.numel() for p in self.parameters())


class GeneratedLayer(nn.Module):
    """A convolution or linear layer whose weight comes from a :class:`WeightSource`.

    The source is referenced, not registered (the model registers it once under
    ``weight_sources``), so a source shared by many layers is one module. The
    bias, when the original layer had one, stays a parameter of this layer.
    """

    def __init__(self, layer: nn.Module, source: WeightSource, key: str) -> None:
        super().__init__()
        if type(layer) not in GENERATABLE:
            raise SharingError(
                f"cannot generate the weight of {key!r} ({type(layer).__name__}); generated layers are "
                "nn.Conv2d and nn.Linear: leave other layers unshared"
            )
        if isinstance(layer, nn.Conv2d) and layer.padding_mode != "zeros":
            raise SharingError(
                f"cannot generate {key!r}: padding_mode={layer.padding_mode!r}; only zero padding is supported"
            )
        self.kind = "conv2d" if isinstance(layer, nn.Conv2d) else "linear"
        self.key = key
        self.weight_shape = tuple(layer.weight.shape)
        if isinstance(layer, nn.Conv2d):
            self.stride, self.padding = layer.stride, layer.padding
            self.dilation, self.groups = layer.dilation, layer.groups
        if layer.bias is not None:
            self.bias = nn.Parameter(layer.bias.detach().clone())
        else:
            self.register_parameter("bias", None)
        object.__setattr__(self, "_source", source)

    @property
    def source(self) -> WeightSource:
        """The :class:`WeightSource` this layer's weight comes from (registered on the model, not here)."""
        return self._source

    @property
    def weight(self) -> torch.Tensor:
        """The generated weight (recomputed on every access; not a parameter)."""
        return self._source.weight(self.key)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "conv2d":
            return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        return F.linear(x, self.weight, self.bias)

    def plain(self) -> nn.Module:
        """A plain ``nn.Conv2d``/``nn.Linear`` holding the generated weight (detached)."""
        weight = self.weight.detach()
        if self.kind == "conv2d":
            out_channels, in_per_group, *kernel = self.weight_shape
            layer = nn.Conv2d(
                in_per_group * self.groups,
                out_channels,
                tuple(kernel),
                stride=self.stride,
                padding=self.padding,
                dilation=self.dilation,
                groups=self.groups,
                bias=self.bias is not None,
                device=weight.device,
                dtype=weight.dtype,
            )
        else:
            out_features, in_features = self.weight_shape
            layer = nn.Linear(
                in_features, out_features, bias=self.bias is not None, device=weight.device, dtype=weight.dtype
            )
        with torch.no_grad():
            layer.weight.copy_(weight)
            if self.bias is not None:
                layer.bias.copy_(self.bias)
        return layer

    def extra_repr(self) -> str:
        shape = "x".join(str(s) for s in self.weight_shape)
        return f"{self.kind}, weight {shape} from {type(self._source).__name__}[{self.key!r}]"


#: roots whose forward runs (or whose users index) every child: wrapped before sharing
CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


class SharedContainer(nn.Module):
    """A container root (``nn.Sequential``...) wrapped as ``body`` so that its
    weight sources can be registered beside it rather than among its layers."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, *args, **kwargs):
        return self.body(*args, **kwargs)


def replace_modules(model: nn.Module, replacements: dict[int, nn.Module]) -> None:
    """Install ``replacements[id(old)]`` at every site of ``old`` in ``model``, in place.

    Every site counts, so a module installed at several places (a tie made by
    scope sharing) is replaced at all of them by the one new module.
    """
    for name, module in list(model.named_modules(remove_duplicate=False)):
        if not name or id(module) not in replacements:
            continue
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        parent._modules[child] = replacements[id(module)]


def add_weight_source(model: nn.Module, name: str, source: WeightSource) -> None:
    """Register ``source`` under ``model.weight_sources[name]`` (created on first use)."""
    if isinstance(model, CONTAINERS):
        raise SharingError(
            f"cannot register weight sources on a {type(model).__name__}: its forward would run them as layers; "
            "call reuseprior.models.sharing.share(), which wraps a container in SharedContainer, or wrap it yourself"
        )
    sources = getattr(model, SOURCES_ATTRIBUTE, None)
    if sources is None:
        sources = nn.ModuleDict()
        model.add_module(SOURCES_ATTRIBUTE, sources)
    if name in sources:
        raise SharingError(f"the model already has a weight source named {name!r}; share it once per scheme")
    sources[name] = source


def weight_sources(model: nn.Module) -> dict[str, WeightSource]:
    """The model's weight sources by name (empty for a model without generated layers)."""
    sources = getattr(model, SOURCES_ATTRIBUTE, None)
    return dict(sources.items()) if sources is not None else {}


def generated_layers(model: nn.Module) -> dict[str, GeneratedLayer]:
    """Every generated layer of ``model`` by its first module path."""
    return {name: m for name, m in model.named_modules() if isinstance(m, GeneratedLayer)}


def materialize_layers(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` with every generated layer replaced by a plain layer
    holding its generated weight, and without ``weight_sources``."""
    plain = copy.deepcopy(model)
    layers = {id(m): m.plain() for m in plain.modules() if isinstance(m, GeneratedLayer)}
    replace_modules(plain, layers)
    if hasattr(plain, SOURCES_ATTRIBUTE):
        delattr(plain, SOURCES_ATTRIBUTE)
    return plain.body if isinstance(plain, SharedContainer) else plain
