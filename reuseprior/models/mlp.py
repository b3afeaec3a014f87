"""Constant-width MLPs: the models of thesis Tables 5.1 and 5.2, Figures 5.1
and 5.2, and of the chapter-5 energy-prior closed forms (eqs. 5.9-5.20).

Layout of ``constant_width_mlp(width, depth)`` (``depth`` = number of weight
layers, i.e. ``nn.Linear`` modules)::

    x (num_inputs) -> Linear(num_inputs, width) [-> BN] -> act
                   -> Linear(width, width)      [-> BN] -> act    (depth - 2 times)
                   -> Linear(width, num_outputs) [-> BN]

* ``num_inputs`` defaults to ``width`` (Table 5.1: "all layers have the same
  width, including the input layer", so ``NI = width``); Table 5.2 and
  Figures 5.1/5.2 use ``num_inputs=3``.
* ``num_outputs`` defaults to ``width``: every layer is ``width x width``
  (Tables 5.1/5.2 count ``Params = width^2 * depth`` resp.
  ``3 width + (depth-1) width^2 + 4 width depth``). The thesis tables were
  analysed with ``NO = 1`` in ``|G|`` although the last layer has ``width``
  output nodes; pass ``num_outputs=1`` to :func:`reuseprior.counting.analyze`
  for that (the Table 5.1-5.2 convention).
* ``batch_norm=True`` puts a ``BatchNorm1d`` after *every* linear layer,
  including the last one (Table 5.2: ``depth`` BN layers, 4 counted
  parameters per channel).
* ``shared=True`` (Table 5.2 "Shared") ties every linear layer whose weight has
  the shape ``(width, width)`` to one ``nn.Parameter`` (and one bias when
  ``bias=True``). The first layer is tied too when ``num_inputs == width``
  and the last when ``num_outputs == width``: this is what the printed
  parameter counts require (e.g. width 3, depth 1600, NI = 3:
  ``19209 = 9 + 1600 * 12``). Batch norm is never shared.
* ``activation`` (default ``nn.ReLU``) sits between layers; the counting
  engine treats it as identity, so it does not change any count.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from reuseprior.core.validation import check_integer
from reuseprior.models.registry import register_model

__all__ = ["constant_width_mlp", "mlp_param_count"]


@register_model("constant_width_mlp")
def constant_width_mlp(
    width: int,
    depth: int,
    *,
    num_inputs: int | None = None,
    num_outputs: int | None = None,
    bias: bool = False,
    batch_norm: bool = False,
    shared: bool = False,
    activation: Callable[[], nn.Module] | None = nn.ReLU,
) -> nn.Sequential:
    """A constant-width MLP with ``depth`` linear layers (thesis Tables 5.1/5.2).

    Args:
        width: features of every hidden layer.
        depth: number of weight layers (``nn.Linear`` modules), >= 1.
        num_inputs: input features (default ``width``).
        num_outputs: output features of the last layer (default ``width``).
        bias: give every linear layer a bias.
        batch_norm: ``BatchNorm1d`` after every linear layer (also the last).
        shared: tie all ``(width, width)`` linear layers to one parameter
            (cross-layer sharing of Table 5.2); BN layers are never tied.
        activation: factory of the nonlinearity between layers (``None``: none).

    Returns:
        ``nn.Sequential`` taking ``(batch, num_inputs)``; layers are named
        ``fc<i>``, ``bn<i>``, ``act<i>`` with ``i`` counted from 0.
    """
    check_integer("width", width)
    check_integer("depth", depth)
    model = nn.Sequential()
    tied_weight: nn.Parameter | None = None
    tied_bias: nn.Parameter | None = None
    for i, (fan_in, fan_out, tied) in enumerate(_linear_layers(width, depth, num_inputs, num_outputs, shared)):
        linear = nn.Linear(fan_in, fan_out, bias=bias)
        if tied:
            if tied_weight is None:
                tied_weight, tied_bias = linear.weight, linear.bias
            else:
                linear.weight = tied_weight
                if bias:
                    linear.bias = tied_bias
        model.add_module(f"fc{i}", linear)
        if batch_norm:
            model.add_module(f"bn{i}", nn.BatchNorm1d(fan_out))
        if activation is not None and i < depth - 1:
            model.add_module(f"act{i}", activation())
    return model


def mlp_param_count(
    width: int,
    depth: int,
    *,
    num_inputs: int | None = None,
    num_outputs: int | None = None,
    bias: bool = False,
    batch_norm: bool = False,
    shared: bool = False,
    bn_params_per_channel: int = 4,
) -> int:
    """Closed-form ``Params`` of :func:`constant_width_mlp` as the thesis counts
    it (BN = ``bn_params_per_channel`` per channel; tied layers once)."""
    total = 0
    seen_tied = False
    for fan_in, fan_out, tied in _linear_layers(width, depth, num_inputs, num_outputs, shared):
        if not (tied and seen_tied):
            total += fan_in * fan_out + (fan_out if bias else 0)
        seen_tied = seen_tied or tied
        if batch_norm:
            total += bn_params_per_channel * fan_out
    return total


def _linear_layers(
    width: int, depth: int, num_inputs: int | None, num_outputs: int | None, shared: bool
) -> list[tuple[int, int, bool]]:
    """``(fan_in, fan_out, tied)`` of each linear layer of :func:`constant_width_mlp` in order (the module
    docstring's layout): the first reads ``num_inputs`` (default ``width``), the last writes ``num_outputs``
    (default ``width``), the others are ``width x width``; with ``shared`` every ``(width, width)`` layer is
    tied to the first of them."""
    num_inputs = width if num_inputs is None else num_inputs
    num_outputs = width if num_outputs is None else num_outputs
    check_integer("num_inputs", num_inputs)
    check_integer("num_outputs", num_outputs)
    fans = [(num_inputs if i == 0 else width, num_outputs if i == depth - 1 else width) for i in range(depth)]
    return [(fan_in, fan_out, shared and (fan_in, fan_out) == (width, width)) for fan_in, fan_out in fans]
