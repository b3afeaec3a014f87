"""Model size and compute, the naive baselines of chapter 6: #parameters and FLOPs.

Policy:

- #parameters is :func:`reuseprior.core.parameters.count_parameters`, the
  package's one counter (each tensor once however many modules hold it;
  trainable tensors only unless ``trainable_only=False``).
- FLOPs are those of one forward pass on the given example, counted by
  :class:`torch.utils.flop_counter.FlopCounterMode` in eval mode without
  autograd: convolutions, matrix products and attention, 2 FLOPs per
  multiply-add (elementwise operations, normalisation and pooling are not
  counted). The model's train/eval mode is restored afterwards.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from reuseprior.core.parameters import count_parameters

__all__ = ["count_flops", "count_parameters"]


def count_flops(model: nn.Module, example: torch.Tensor) -> float:
    """FLOPs of one forward pass of ``model`` on ``example`` (2 per multiply-add)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(example)
    finally:
        model.train(was_training)
    return float(counter.get_total_flops())
