"""Floating-point precision of training runs.

Policy: a result this repository commits is the result every machine
computes. PyTorch, oneDNN and MKL choose their CPU kernels by instruction set
(AVX2, AVX-512, AMX), and kernels for different instruction sets sum in
different orders, so a float32 training run on one CPU follows another
trajectory than on another: measured on the quick profiles (one thread,
ATen's ``default`` against its ``avx2`` kernels), the tiny EfficientNets of
the Table 4.2 sharing runs end 5-17 accuracy points apart after three epochs
and Revolver populations (Table 3.2) choose other individuals. In float64
the same runs differ by about 1e-13 (losses) and print the same digits, so:

* the **quick profiles train in float64** (``precision="float64"``): their
  models are tiny, so the cost is small (measured: the quick Revolver
  population run, 48 s instead of 39 s), and their committed numbers hold
  on every x86-64 CPU;
* the **paper-scale profiles and the stored CPU studies train in float32**,
  as the thesis did; their numbers depend on the machine's kernels, and
  their live checks compare within stated tolerances.

:func:`default_dtype` sets PyTorch's default dtype for a block, so models,
data and optimizer state created inside it share the precision;
:func:`match_input` casts a floating input batch to a model's dtype and
:func:`loss_precision` keeps losses at least float32 under mixed precision.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator

import torch
import torch.nn as nn

__all__ = [
    "FLOAT32_ACROSS_KERNELS",
    "PRECISIONS",
    "default_dtype",
    "loss_precision",
    "match_input",
    "model_dtype",
    "resolve_precision",
    "within_float32_tolerance",
]

#: the precisions a profile can name, and their dtype
PRECISIONS: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}


def resolve_precision(precision: str | torch.dtype) -> torch.dtype:
    """The dtype of ``precision`` (a key of :data:`PRECISIONS` or one of their
    dtypes); anything else is a ``ValueError`` naming the choices."""
    if isinstance(precision, torch.dtype) and precision in PRECISIONS.values():
        return precision
    if isinstance(precision, str) and precision in PRECISIONS:
        return PRECISIONS[precision]
    raise ValueError(
        f"precision={precision!r} is not supported; use {' or '.join(map(repr, PRECISIONS))} "
        "(float64: the same numbers on every CPU; float32: the paper's precision, faster)"
    )


@contextlib.contextmanager
def default_dtype(precision: str | torch.dtype) -> Iterator[torch.dtype]:
    """PyTorch's default floating dtype set to ``precision`` inside the block
    (modules, parameters and tensors made from Python numbers take it), and
    restored after it, also on an exception."""
    dtype = resolve_precision(precision)
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield dtype
    finally:
        torch.set_default_dtype(before)


def model_dtype(model: nn.Module) -> torch.dtype:
    """The dtype of ``model``'s first floating parameter or buffer (PyTorch's
    default dtype for a model that has none). It stops at that tensor rather
    than listing them all: ``fit`` asks once per step, and listing the 600
    tensors of V2-S-shared (270 parameters, 330 buffers) costs milliseconds
    of host time a step."""
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.get_default_dtype()


def match_input(batch: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A floating ``batch`` in ``dtype`` (labels and other integer tensors as
    they are): a float64 model reads the float32 images of a dataset."""
    return batch.to(dtype) if batch.is_floating_point() and batch.dtype != dtype else batch


def loss_precision(logits: torch.Tensor) -> torch.Tensor:
    """``logits`` for the loss: float16/bfloat16 (mixed precision) raised to
    float32, float32 and float64 kept as they are."""
    return logits if logits.dtype in (torch.float32, torch.float64) else logits.float()


#: How far a float32 training run may move between two CPUs' kernels and still count as the same
#: run, for the live checks that retrain a stored float32 row: accuracies within ``accuracy_pp``
#: percentage points, losses within a relative ``loss_rel``. Measured: the cheapest run of the stored
#: sharing study (``data/sharing_study_runs.csv``) moved its epoch-1 validation top-1 by 2.7 points
#: (72.3 % stored on an AVX2 machine, 75.0 % retrained on an AVX-512/AMX one) and its epoch-1 training
#: loss by 0.9 %; a float32 one-epoch retraining of a run of the stored EfficientNet studies
#: (``data/ch4_real_study_runs.csv``) moved its training loss by 1.5 % between such machines. The
#: tolerances are about twice the largest of these: loose enough for any x86-64 CPU, and still far
#: tighter than the distance between a run that learns and one that does not (chance is 10 %, epoch 1
#: above 70 %).
#: Counted quantities (parameters, FLOPs, the prior's values) are exact whatever the kernels.
FLOAT32_ACROSS_KERNELS: dict[str, float] = {"accuracy_pp": 5.0, "loss_rel": 0.05}


def within_float32_tolerance(kind: str, stored: float, live: float) -> tuple[str, bool]:
    """``(tolerance, within)`` of a trained float32 quantity recomputed on any
    CPU (:data:`FLOAT32_ACROSS_KERNELS`); ``kind`` is ``"percent"`` (an
    accuracy in percent), ``"fraction"`` (an accuracy in [0, 1]) or
    ``"loss"`` (compared relatively)."""
    limits = FLOAT32_ACROSS_KERNELS
    if kind in ("percent", "fraction"):
        pp = limits["accuracy_pp"]
        return f"{pp:g} pp", abs(stored - live) * (100.0 if kind == "fraction" else 1.0) <= pp
    if kind != "loss":
        raise ValueError(f"kind={kind!r}: use 'percent', 'fraction' or 'loss'")
    rel = limits["loss_rel"]
    return f"rel {rel:g}", abs(stored - live) <= rel * abs(stored)
