"""What an input alone needs before anything is counted: the memory policy of
:func:`reuseprior.counting.capture.capture` for an input that is not allocated yet and that no model
is given with (several models to come, as ``compare`` counts them)."""

from __future__ import annotations

import math

import torch

from reuseprior.core.errors import CaptureError
from reuseprior.core.memory import gib, physical_memory_bytes

__all__ = ["SMALLER_INPUT", "refuse_input_that_cannot_fit"]

#: the fix of an input too large to count
SMALLER_INPUT = (
    "give a smaller input (e.g. 3 x 224 x 224 per example for an image model; the memory grows with the number of "
    "input elements)"
)


def refuse_input_that_cannot_fit(input_shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> None:
    """An input of ``input_shape`` that alone needs more than this machine's physical memory is refused
    with :class:`CaptureError`, both figures and the fix, before it is allocated; counting needs more
    still (:func:`reuseprior.counting.capture.refuse_what_cannot_fit`)."""
    needed = math.prod(input_shape) * torch.empty((), dtype=dtype).element_size()
    memory = physical_memory_bytes()
    if memory is not None and needed > memory:
        raise CaptureError(
            f"cannot count on an input of shape {tuple(input_shape)}: the input alone needs {gib(needed)} of memory "
            f"and this machine has {gib(memory)}; {SMALLER_INPUT}"
        )
