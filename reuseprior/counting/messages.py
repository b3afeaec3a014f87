"""What the counting engine's refusals say about the parameters behind a refused op: which ones feed
it (:func:`feeding_parameters`), and, where they compute a weight instead of being one (weight or
spectral normalisation), how to count the model with that weight made plain
(:func:`reparametrised_hint`)."""

from __future__ import annotations

from typing import Mapping

import torch.fx as fx

__all__ = ["feeding_parameters", "reparametrised_hint"]


def feeding_parameters(node: fx.Node, param_of_node: Mapping[fx.Node, str]) -> str:
    """Names of (up to three of) the parameters feeding ``node``, for error messages (``param_of_node``:
    each parameter's node and name)."""
    names = set()
    stack, seen = [node], set()
    while stack and len(names) < 3:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        if n in param_of_node:
            names.add(param_of_node[n])
        stack.extend(n.all_input_nodes)
        if len(seen) > 200:
            break
    return ", ".join(sorted(names)) or "unknown"


def reparametrised_hint(parameters: str) -> str:
    """The fix for an op refused on a weight computed from other parameters (weight or spectral
    normalisation: the engine counts the weights a layer uses): count a copy with the computed weight
    made plain; "" for other parameters."""
    if ".parametrizations." in parameters:
        return (
            "These parameters compute a weight (torch.nn.utils.parametrizations: weight_norm, spectral_norm): "
            "count a copy of the model whose weights are plain, made by "
            "torch.nn.utils.parametrize.remove_parametrizations(module, 'weight') on each such module. Or: "
        )
    if any(name.endswith(("_g", "_v", "_orig")) for name in parameters.split(", ")):
        return (
            "If these parameters compute a weight (torch.nn.utils.weight_norm or spectral_norm), count a copy of "
            "the model whose weights are plain, made by torch.nn.utils.remove_weight_norm or remove_spectral_norm "
            "on each such module. Or: "
        )
    return ""
