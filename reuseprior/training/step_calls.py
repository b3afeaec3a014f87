"""The ATen calls that do work in one training step: what a step launches on a GPU, counted on any device.

A small model at a small input (Table 4.2's at 32 px) is launch-bound on a GPU: the device waits on the
host's kernel launches, and a step costs about the same at any batch up to thousands. Its time then
follows the host's work per step: every ATen call that computes is dispatched by the host and, on GPU
tensors, launches at least one kernel. The count below, a property of the step and not of the machine,
approximates on a CPU what a GPU pays for (:func:`fit_step_calls` names where the two differ).

Counted: every ATen call below autograd (a ``TorchDispatchMode``), leaving out views (recognised by
their schema) and the calls that only allocate or bookkeep (:data:`NO_KERNEL`). A multi-tensor call
(``_foreach_*``) counts once, though CUDA splits it into a few launches (chunks of tensors).

Beside it, the Python function calls per step (:func:`plain_step_python_calls`, :func:`fit_step_python_calls`,
counted by cProfile, built-in and C functions left out), which the ATen count does not see: Python that
runs between ATen calls (walking a model's module tree, per-tensor bookkeeping) costs host time on a GPU
too. Counted, not timed: the count is the same on every run, where profiled times vary by tens of
percent from run to run on a shared machine.

The yardstick of both counts is one plain step (:func:`plain_step`: forward, cross-entropy, backward,
SGD's multi-tensor update). A benchmark on a device also times it (:func:`plain_step_seconds`), so that
``fit``'s step is divided by a plain step measured on the same card in the same run; a time is a
measurement of that machine, kept out of tests.
"""

from __future__ import annotations

import collections
import contextlib
import cProfile
import gc
import pstats
import time
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_pre_hook
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.data import Dataset

from reuseprior.training.loop import TrainConfig, cudnn_autotune, fit, synchronize

#: ATen calls that allocate or bookkeep without a kernel
NO_KERNEL = frozenset(
    {
        "empty",
        "new_empty",
        "empty_like",
        "empty_strided",
        "lift_fresh",
        "_record_function_enter_new",
        "_record_function_exit",
    }
)


class WorkCounter(TorchDispatchMode):
    """Counts, by name, the ATen calls that do work while :attr:`counting` is on."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: collections.Counter[str] = collections.Counter()
        self.counting = False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ARG002 (the mode's protocol)
        name = func.overloadpacket.__name__
        if self.counting and not func.is_view and name not in NO_KERNEL:
            self.calls[name] += 1
        return func(*args, **(kwargs or {}))


def plain_optimizer(model: nn.Module) -> torch.optim.SGD:
    """The plain step's optimizer over ``model`` (put in training mode): SGD with momentum 0.9 (learning
    rate 0.01), one multi-tensor call per group."""
    model.train()
    return torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, foreach=True)


def plain_step(model: nn.Module, optimizer: torch.optim.Optimizer, images: torch.Tensor, labels: torch.Tensor) -> None:
    """One plain training step, the yardstick ``fit``'s step is set beside: forward, cross-entropy,
    backward and ``optimizer``'s step (:func:`plain_optimizer`'s), nothing else."""
    optimizer.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(model(images), labels).backward()
    optimizer.step()


def plain_step_calls(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> collections.Counter[str]:
    """The calls of a plain training step (:func:`plain_step`) of ``model`` on one batch: the second of
    two, as the first creates the momentum buffers."""
    optimizer = plain_optimizer(model)
    counter = WorkCounter()
    with counter:
        for step in range(2):
            counter.counting = step == 1
            plain_step(model, optimizer, images, labels)
    return counter.calls


def plain_step_seconds(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, steps: int, warmup: int = 3
) -> float:
    """Seconds per plain training step (:func:`plain_step`) of ``model`` on the device that holds it and
    ``images``: the mean over ``steps`` steps after ``warmup`` (the first pays for the momentum buffers,
    and on CUDA for cuDNN's algorithm search, on as in ``fit``), timed between two synchronisations of
    the device. A benchmark's baseline: on a GPU, where Table 4.2's models are launch-bound, it is what a
    step with nothing but forward, backward and a multi-tensor update costs on that card."""
    if steps < 1 or warmup < 1:
        raise ValueError(f"steps={steps!r} and warmup={warmup!r} must be positive: time at least one step after one")
    device = images.device
    optimizer = plain_optimizer(model)
    with cudnn_autotune(device):
        for _ in range(warmup):
            plain_step(model, optimizer, images, labels)
        synchronize(device)
        start = time.perf_counter()
        for _ in range(steps):
            plain_step(model, optimizer, images, labels)
        synchronize(device)
    return (time.perf_counter() - start) / steps


def _force_multi_tensor(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:  # noqa: ARG001
    """An optimizer step pre-hook: every group takes its optimizer's multi-tensor path, as on CUDA; an
    optimizer without one (no ``foreach`` option) is refused rather than counted under that name."""
    if "foreach" not in optimizer.defaults:
        raise ValueError(
            f"{type(optimizer).__module__}.{type(optimizer).__name__} has no multi-tensor path (no 'foreach' "
            "option) to count; for timm's RMSpropTF install timm 1.0.31 or later"
        )
    for group in optimizer.param_groups:
        group["foreach"] = True


@contextlib.contextmanager
def multi_tensor_optimizers() -> Iterator[None]:
    """Inside the block every optimizer step takes its optimizer's multi-tensor path, as on CUDA
    (an optimizer without one is refused: :func:`_force_multi_tensor`)."""
    hook = register_optimizer_step_pre_hook(_force_multi_tensor)
    try:
        yield
    finally:
        hook.remove()


def fit_step_calls(
    model: nn.Module, train_set: Dataset, val_set: Dataset, config: TrainConfig, *, multi_tensor: bool
) -> collections.Counter[str]:
    """The calls of the second step of :func:`~reuseprior.training.loop.fit` under ``config`` on the
    CPU (``train_set`` must hold at least two batches; the step's batch fetch included), its optimizer
    on its multi-tensor path when ``multi_tensor`` (what CUDA takes where the optimizer has one) and
    otherwise as the CPU runs it (RMSprop-TF: one tensor at a time).

    What differs from the same step on CUDA: on the CPU ``fit`` checks the loss after every step (one
    ``isfinite`` and a read-back; on CUDA once per epoch) and batches through a loader (on CUDA by
    indexing the tensors it holds there); a per-tensor optimizer's step counters are CPU tensors on
    either device (counted here, no kernel there); and one call may launch several kernels
    (a convolution's backward, a multi-tensor call split into chunks). The count is the host's work
    per step, a close proxy of a GPU's launches, not their number."""
    counter = WorkCounter()
    boundaries: list[collections.Counter[str]] = []

    def on_step(epoch: int, step: int) -> None:  # noqa: ARG001 (fit's callback signature)
        boundaries.append(counter.calls.copy())
        counter.calls.clear()
        counter.counting = len(boundaries) == 1  # from the end of the first step to the end of the second

    with multi_tensor_optimizers() if multi_tensor else contextlib.nullcontext(), counter:
        fit(model, train_set, val_set, config, device="cpu", progress=False, on_step=on_step)
    if len(boundaries) < 2:
        raise ValueError(f"fit took {len(boundaries)} step(s); give train_set at least two batches to count the second")
    return boundaries[1]


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's garbage collector collected once and paused inside the block: a collection that runs
    finalizers would add their Python calls to whichever step it fell in."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def python_calls(profile: cProfile.Profile) -> int:
    """The calls ``profile`` recorded of Python functions (their primitive calls: a recursion counts
    once per entry from outside), leaving out built-in and C functions, ATen's calls among them."""
    entries = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    return sum(v[0] for (filename, _, _), v in entries.items() if filename != "~")


def plain_step_python_calls(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, steps: int = 3) -> float:
    """Python function calls per plain training step (:func:`plain_step`, itself counted as one), over
    ``steps`` steps after two (:func:`python_calls`)."""
    optimizer = plain_optimizer(model)
    profile = cProfile.Profile()
    with _collector_paused():
        for step in range(2 + steps):
            if step == 2:
                profile.enable()
            plain_step(model, optimizer, images, labels)
        profile.disable()
    return python_calls(profile) / steps


def fit_step_python_calls(
    model: nn.Module, train_set: Dataset, val_set: Dataset, config: TrainConfig, steps: int = 3
) -> float:
    """Python function calls per step of :func:`~reuseprior.training.loop.fit` under ``config`` on the
    CPU, its optimizer on its multi-tensor path, over ``steps`` steps after two (``train_set`` must hold
    more than ``steps + 2`` batches, so that the epoch's evaluation is not profiled). What differs from
    the same step on CUDA is what :func:`fit_step_calls` names (on the CPU a loader's Python per batch and
    a loss check per step), and the optimizer-step hook that picks the multi-tensor path is counted too."""
    if len(train_set) // config.batch_size <= steps + 2:
        raise ValueError(f"give train_set more than {steps + 2} batches of {config.batch_size}")
    profile = cProfile.Profile()

    def on_step(epoch: int, step: int) -> None:
        if epoch == 0 and step == 2:
            profile.enable()
        elif epoch == 0 and step == 2 + steps:
            profile.disable()

    with multi_tensor_optimizers(), _collector_paused():
        fit(model, train_set, val_set, config, device="cpu", progress=False, on_step=on_step)
        profile.disable()
    return python_calls(profile) / steps
