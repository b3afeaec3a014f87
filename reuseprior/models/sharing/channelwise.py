"""Channel-wise sharing of depthwise kernels (Bidart 2023, thesis chapter 3,
section 3.3 and Table 3.3).

A depthwise convolution over ``C`` channels (``nn.Conv2d`` with
``groups == in_channels == out_channels``, one input channel per group) holds
``C`` kernels of ``k x k``. Channel-wise sharing with reuse factor ``s`` stores
``C / s`` kernels and uses each of them for ``s`` channels, so the layer's
weights fall from ``C k^2`` to ``(C / s) k^2`` (Table 3.3; ``s = 1`` is the plain
depthwise convolution). Bidart trains with ``s`` in {1, 2, 4, 8}, i.e. 100, 50,
25 and 12.5 % of the depthwise weights remaining. Everything else stays as it
is: the dense stem convolution, the pointwise (1x1) and other dense convolutions,
batch norm, squeeze-and-excitation and the classifier (Bidart's Xception keeps
its dense input convolution, section 3.6.2; the EfficientNet-B0 of section 3.6.3
shares its depthwise convolutions only). A depthwise layer's bias, if any, stays
per channel.

Layouts (``layout=``), for channel ``c`` of ``C`` and ``m = C / s`` stored kernels:

* ``"tiling"`` (default): channel ``c`` uses stored kernel ``c mod m``; the
  generated weight is the stored ``(m, 1, k, k)`` tensor copied ``s`` times along
  the channel dimension (``Tensor.repeat``);
* ``"interleaving"``: channel ``c`` uses stored kernel ``c // s``; each stored
  kernel is copied ``s`` times in a row (``Tensor.repeat_interleave``).

Which one Bidart used: the text says the shared convolution "is expanded
through duplication in the channel dimension" (Figure 3.1) and is implemented
"by creating copies of a convolution kernel across the channel dimension"
(section 3.2); we read this as copying the stored kernel tensor as a whole,
i.e. tiling, and make it the default. Figure 3.2, whose colours would show the
assignment, has no text. The two layouts differ by a permutation of the
channels; where a depthwise convolution sits between layers that can permute
their channels with it (the 1x1 expand convolution or the stem before it;
batch norm, squeeze-and-excitation and the 1x1 projection after it, as in
EfficientNet's MBConv blocks), the two layouts describe the same set of
networks, and with independent, identically distributed initial weights the
same distribution of initial networks.

Training: the stored kernels are the only parameters (one
``(C / s, 1, k, k)`` tensor per depthwise layer; the generated weight is not a
parameter), so autograd gives each stored kernel the *sum* of the gradients of
its ``s`` uses. Bidart's section 3.2 describes the constraint as averaging the
gradients of a shared set, which is the sum divided by ``s``: Adam (section 3.2)
and RMSprop (his ImageNet runs) normalise the gradient's scale, so there the two
differ only through the optimiser's epsilon; for SGD with momentum (his CIFAR
runs) the sum acts as an ``s`` times larger learning rate on the stored kernels.

Initial values: the stored kernel ``j`` starts as the original layer's kernel
of the first channel that uses it (channel ``j`` for tiling, ``j * s`` for
interleaving), so the shared model with ``s = 1`` computes exactly the original
model, and the stored kernels keep the original initialisation's distribution
(no random numbers are drawn).

Composition: ``share(share(model, "scope"), "channelwise")`` gives each depthwise
module once (scope sharing installs one module at every site of a scope) one set
of stored kernels, and one :class:`~.generated.GeneratedLayer` installed at all
of its sites.
"""

from __future__ import annotations

from torch import Tensor, nn

from reuseprior.core.errors import SharingError
from reuseprior.models.sharing.generated import GeneratedLayer, WeightSource, add_weight_source, replace_modules

__all__ = [
    "DEFAULT_LAYOUT",
    "LAYOUTS",
    "SOURCE_NAME",
    "ChannelwiseKernels",
    "depthwise_layers",
    "is_depthwise",
    "kernel_map",
    "share_channelwise",
]

#: the two channel -> stored kernel assignments (see the module docstring)
LAYOUTS = ("tiling", "interleaving")
#: Bidart's reading: the stored kernels are duplicated as a block along the channels
DEFAULT_LAYOUT = "tiling"
#: the name of the channel-wise source under ``model.weight_sources``
SOURCE_NAME = "channelwise"


def is_depthwise(module: nn.Module) -> bool:
    """True for a depthwise convolution: an ``nn.Conv2d`` with more than one channel
    and ``groups == in_channels == out_channels`` (one input channel per kernel)."""
    return (
        isinstance(module, nn.Conv2d)
        and module.groups > 1
        and module.in_channels == module.out_channels == module.groups
    )


def depthwise_layers(model: nn.Module) -> dict[str, nn.Conv2d]:
    """Every depthwise convolution of ``model`` by its first module path, in model
    order; a module installed at several sites (a scope tie) is listed once."""
    return {name: module for name, module in model.named_modules() if is_depthwise(module)}


def kernel_map(channels: int, reuse: int, layout: str = DEFAULT_LAYOUT) -> list[int]:
    """The stored kernel each of ``channels`` channels uses, for reuse factor ``reuse``.

    ``tiling``: ``c mod (channels / reuse)``; ``interleaving``: ``c // reuse``.
    """
    _check_reuse(reuse)
    _check_layout(layout)
    if channels % reuse:
        raise SharingError(f"{channels} channels cannot reuse each kernel {reuse} times: {reuse} must divide them")
    stored = channels // reuse
    return [c % stored if layout == "tiling" else c // reuse for c in range(channels)]


def _check_reuse(reuse: object) -> None:
    if isinstance(reuse, bool) or not isinstance(reuse, int) or reuse < 1:
        raise SharingError(
            f"reuse must be a positive integer (each stored kernel serves that many channels; Bidart uses "
            f"1, 2, 4 and 8), got {reuse!r}"
        )


def _check_layout(layout: object) -> None:
    if layout not in LAYOUTS:
        raise SharingError(f"unknown channel-wise layout {layout!r}; choose one of {list(LAYOUTS)}")


class ChannelwiseKernels(WeightSource):
    """The stored kernels of every channel-wise shared depthwise convolution of a model.

    One parameter of shape ``(C / s, 1, k, k)`` per depthwise layer (attribute
    ``kernels``, in model order); :meth:`weight` expands it to the layer's
    ``(C, 1, k, k)`` weight by the layout's copy (``repeat`` or
    ``repeat_interleave`` along dimension 0).
    """

    def __init__(self, layers: dict[str, nn.Conv2d], reuse: int, layout: str = DEFAULT_LAYOUT) -> None:
        super().__init__()
        _check_reuse(reuse)
        _check_layout(layout)
        self.reuse, self.layout = reuse, layout
        self._keys = list(layers)
        self._index = {key: i for i, key in enumerate(self._keys)}
        self.kernels = nn.ParameterList()
        for key, layer in layers.items():
            channels = layer.out_channels
            if channels % reuse:
                divisors = [s for s in (1, 2, 4, 8) if channels % s == 0]
                raise SharingError(
                    f"depthwise layer {key!r} has {channels} channels, not divisible by reuse={reuse}; "
                    f"choose a reuse that divides {channels} (of 1, 2, 4, 8: {divisors}), or leave this model "
                    "unshared"
                )
            weight = layer.weight.detach()
            first_users = weight[: channels // reuse] if layout == "tiling" else weight[::reuse]
            self.kernels.append(nn.Parameter(first_users.clone()))

    def keys(self) -> list[str]:
        return list(self._keys)

    def stored_kernels(self, key: str) -> nn.Parameter:
        """The stored ``(C / s, 1, k, k)`` kernels of layer ``key``."""
        return self.kernels[self._index[key]]

    def weight(self, key: str) -> Tensor:
        stored = self.stored_kernels(key)
        if self.layout == "tiling":
            return stored.repeat(self.reuse, 1, 1, 1)
        return stored.repeat_interleave(self.reuse, dim=0)

    def extra_repr(self) -> str:
        return f"{len(self._keys)} depthwise layers, reuse={self.reuse}, layout={self.layout!r}"


def share_channelwise(
    model: nn.Module, *, budget: int | None = None, reuse: int = 2, layout: str = DEFAULT_LAYOUT
) -> nn.Module:
    """Share the kernels of every depthwise convolution of ``model`` channel-wise, in place.

    Each depthwise convolution stores ``C / reuse`` kernels and uses each for
    ``reuse`` channels (Bidart, Table 3.3); ``layout`` is ``"tiling"`` (default)
    or ``"interleaving"`` (module docstring). The scheme has no ``budget``: its
    size follows from ``reuse``. Registered as ``share(model, "channelwise",
    reuse=..., layout=...)``. Returns ``model``.
    """
    if budget is not None:
        raise SharingError(
            "channel-wise sharing has no budget: its size is set by reuse (each depthwise layer keeps C/reuse "
            "kernels); call share(model, 'channelwise', reuse=s) with s in 1, 2, 4, 8 and read count_parameters() "
            "of the result"
        )
    _check_reuse(reuse)
    _check_layout(layout)
    layers = depthwise_layers(model)
    if not layers:
        raise SharingError(
            f"{type(model).__name__} has no depthwise convolution (nn.Conv2d with groups == in_channels == "
            "out_channels > 1) to share channel-wise; use another scheme (scope, ssn) for this model"
        )
    source = ChannelwiseKernels(layers, reuse, layout)
    generated = {id(layer): GeneratedLayer(layer, source, key) for key, layer in layers.items()}
    add_weight_source(model, SOURCE_NAME, source)
    replace_modules(model, generated)
    return model
