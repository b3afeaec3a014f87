"""Meta results that the capture's recorder makes itself instead of running an op's meta kernel.

The meta recording of :mod:`reuseprior.counting.capture` runs every ATen op of the forward on
meta tensors, for its result's shape, strides and dtype.  Most meta kernels are C++; eval-mode
batch norm's is a Python decomposition into element-wise references (checks of every broadcast
and promotion), which took about 60 % of the recording of EfficientNetV2-S at 384 px (110 batch
norms, ``benchmarks/bench_analyze.py``).  Its result is fixed by its input: the normalised
tensor has the input's shape, strides and dtype, and the saved mean and inverse standard
deviation are vectors of one value per channel.

Policy: a shortcut answers only the calls whose result it gives exactly as the meta kernel does
(``tests/test_counting_meta_shortcuts.py`` compares them layout by layout): float32 or float64
input, contiguous or channels-last, evaluation mode with running statistics, every statistic and
affine parameter of the input's dtype and one value per channel; for any other call it returns
``None`` and the op's own meta kernel runs.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

__all__ = ["META_SHORTCUTS", "eval_batch_norm"]

aten = torch.ops.aten


def _dense(x: torch.Tensor) -> bool:
    """Contiguous, or channels-last for a 4-D tensor: the layouts whose ``empty_like`` strides
    are the input's own."""
    return x.is_contiguous() or (x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last))


def eval_batch_norm(args: tuple, kwargs: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """``aten.native_batch_norm(input, weight, bias, running_mean, running_var, training, momentum,
    eps)`` on meta tensors in evaluation mode: ``(empty_like(input), mean, invstd)`` with one value
    per channel each, or ``None`` where the call is not one this shortcut answers exactly."""
    if kwargs or len(args) != 8 or args[5] is not False:
        return None
    x, *tensors = args[:5]
    if not (isinstance(x, torch.Tensor) and x.device.type == "meta" and x.dim() >= 2 and _dense(x)):
        return None
    if x.dtype not in (torch.float32, torch.float64):
        return None
    channels = x.shape[1]
    running = tensors[2:]
    if any(not isinstance(t, torch.Tensor) for t in running):
        return None
    for t in tensors:
        if t is not None and not (
            isinstance(t, torch.Tensor)
            and t.device.type == "meta"
            and t.dtype == x.dtype
            and tuple(t.shape) == (channels,)
        ):
            return None
    return torch.empty_like(x), x.new_empty((channels,)), x.new_empty((channels,))


#: op overload -> shortcut (``None``: run the op's meta kernel)
META_SHORTCUTS: dict[Any, Callable[[tuple, dict], Any]] = {aten.native_batch_norm.default: eval_batch_norm}
