"""The one parameter counter of the package (a model's ``#params``).

Policy: a parameter tensor is counted once however many modules hold it
(``nn.Module.parameters()`` deduplicates shared tensors), so a model with
cross-layer sharing reports its stored, not its unrolled, parameter count.
``trainable_only`` keeps the tensors with ``requires_grad`` (frozen ones are
not free parameters of training).
"""

from __future__ import annotations

from torch import nn

__all__ = ["count_parameters"]


def count_parameters(model: nn.Module, *, trainable_only: bool = True) -> int:
    """Number of distinct parameter elements of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
