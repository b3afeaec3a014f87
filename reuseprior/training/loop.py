"""A small, generic, resumable image-classification trainer.

It implements the EfficientNetV2 training recipe the thesis follows
(section 4.5.4, "Hyperparameters", defaults of Tan & Le's official
TensorFlow implementation unless the thesis changes them):

* RMSprop (decay 0.9, momentum 0.9, epsilon 1e-3), weight decay 1e-5 on
  every parameter except biases and batch-norm scales/shifts, label
  smoothing 0.1. Two RMSprops differ in exactly the places that matter at
  epsilon 1e-3: ``optimizer="rmsprop_tf"`` is TensorFlow 1's (the official
  code's ``tf.compat.v1.train.RMSPropOptimizer``: epsilon inside the square
  root, the mean square started at 1, the learning rate inside the momentum;
  timm's ``RMSpropTF``), ``"rmsprop"`` is PyTorch's (epsilon outside the root,
  mean square started at 0), whose first steps are far larger;
* learning rate ``lr_base * batch_size / 256`` (the official code scales the
  base rate per 256 images; thesis: "reduce the batch size and learning rate
  based on the same ratio"), linear warm-up for ``lr_warmup_epochs`` (5) and
  then a staircase exponential decay by 0.97 every 2.4 epochs
  (``train.lr_sched=exponential``);
* batch-norm momentum 0.99 *in TensorFlow's convention* (the weight of the
  old running average), i.e. ``momentum=0.01`` for PyTorch's ``BatchNorm``;
* optional exponential moving average of the weights (``train.ema_decay``).

What makes it more than a loop:

* **checkpoint/resume** -- after every epoch a checkpoint with the model,
  optimizer, schedule, AMP scaler, EMA, every random-number generator state,
  the epoch and the history so far is written atomically (a uniquely named,
  fsynced temporary file, then ``os.replace``) and read back with
  ``torch.load(weights_only=True)``, so a crafted file cannot run code on
  resume (:func:`read_checkpoint_file`). The order of the training images is a pure function
  of ``(seed, epoch)``, so a run killed at any point and resumed from its
  last checkpoint reproduces the uninterrupted run bit for bit on CPU;
* **interrupt safety** -- Ctrl-C (SIGINT / KeyboardInterrupt) is honoured at
  the next batch boundary: the partial epoch is checkpointed and
  :class:`TrainingInterrupted` carries the partial :class:`TrainResult`, so
  nothing already computed is lost; a second Ctrl-C interrupts immediately;
* **measurements** -- trainable parameters
  (:func:`reuseprior.core.parameters.count_parameters`: shared weights count
  once), FLOPs of one forward pass (``torch.utils.flop_counter``), training
  throughput and peak memory (CUDA ``max_memory_allocated``; on CPU the
  process's peak resident set size from :mod:`resource`, which is a
  process-lifetime high-water mark and says so in ``peak_memory_kind``).
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import pickle
import random
import re
import resource
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm.auto import tqdm

from reuseprior.baselines import complexity
from reuseprior.core.errors import CheckpointMismatchError, UnreadableCheckpointError
from reuseprior.core.files import atomic_write
from reuseprior.core.parameters import count_parameters
from reuseprior.core.validation import entry_problems

__all__ = [
    "CheckpointMismatchError",
    "EpochSampler",
    "ModelEma",
    "TrainConfig",
    "TrainResult",
    "TrainingInterrupted",
    "UnreadableCheckpointError",
    "WarmupExponentialSchedule",
    "amp_active",
    "config_from_mapping",
    "count_flops",
    "evaluate",
    "fit",
    "discard_checkpoint",
    "load_checkpoint",
    "peak_memory",
    "read_checkpoint_file",
    "save_checkpoint",
    "set_bn_momentum",
]

#: 2: every random-number generator state stored as tensors and plain numbers, so
#: that :func:`load_checkpoint` reads it with ``torch.load(weights_only=True)``
#: (format 1 pickled NumPy's and Python's states, which that refuses)
CHECKPOINT_FORMAT = 2
_OPTIMIZERS = ("rmsprop", "rmsprop_tf", "sgd", "adamw")
_SCHEDULES = ("exponential", "constant", "cosine")


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (defaults: thesis section 4.5.4 /
    the official EfficientNetV2 ``hparams.py``)."""

    epochs: int = 300
    batch_size: int = 512
    lr_base: float = 0.016
    #: the peak learning rate is ``lr_base * batch_size / lr_reference_batch``
    lr_reference_batch: int = 256
    lr_warmup_epochs: float = 5.0
    lr_schedule: str = "exponential"
    lr_decay_epochs: float = 2.4
    lr_decay_factor: float = 0.97
    lr_min: float = 0.0
    optimizer: str = "rmsprop"
    momentum: float = 0.9
    rmsprop_decay: float = 0.9
    rmsprop_eps: float = 1e-3
    weight_decay: float = 1e-5
    label_smoothing: float = 0.1
    #: TensorFlow convention (weight of the old running mean); None leaves the model's BN alone
    bn_momentum_tf: float | None = 0.99
    ema_decay: float | None = None
    grad_clip: float | None = None
    amp: bool = False
    num_workers: int = 0
    eval_batch_size: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first invalid field and its valid range."""

        def bad(name: str, expected: str) -> ValueError:
            return ValueError(f"TrainConfig.{name}={getattr(self, name)!r} is invalid: expected {expected}")

        def positive_int(name: str) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise bad(name, "a positive integer")

        for name in ("epochs", "batch_size", "lr_reference_batch"):
            positive_int(name)
        if self.eval_batch_size is not None:
            positive_int("eval_batch_size")
        if isinstance(self.num_workers, bool) or not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise bad("num_workers", "a non-negative integer")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise bad("seed", "a non-negative integer")
        for name in ("lr_base", "lr_decay_epochs", "rmsprop_eps"):
            if not (isinstance(getattr(self, name), (int, float)) and getattr(self, name) > 0):
                raise bad(name, "a positive number")
        for name in ("lr_warmup_epochs", "lr_min", "weight_decay"):
            if not (isinstance(getattr(self, name), (int, float)) and getattr(self, name) >= 0):
                raise bad(name, "a non-negative number")
        for name in ("lr_decay_factor", "momentum", "rmsprop_decay"):
            if not (isinstance(getattr(self, name), (int, float)) and 0 <= getattr(self, name) <= 1):
                raise bad(name, "a number in [0, 1]")
        if not (isinstance(self.label_smoothing, (int, float)) and 0 <= self.label_smoothing < 1):
            raise bad("label_smoothing", "a number in [0, 1)")
        if self.bn_momentum_tf is not None and not (0 <= self.bn_momentum_tf < 1):
            raise bad("bn_momentum_tf", "None or a number in [0, 1) (TensorFlow convention, e.g. 0.99)")
        if self.ema_decay is not None and not (0 < self.ema_decay < 1):
            raise bad("ema_decay", "None or a number in (0, 1), e.g. 0.9999")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise bad("grad_clip", "None or a positive number")
        if self.optimizer not in _OPTIMIZERS:
            raise bad("optimizer", f"one of {_OPTIMIZERS}")
        if self.lr_schedule not in _SCHEDULES:
            raise bad("lr_schedule", f"one of {_SCHEDULES}")
        if not isinstance(self.amp, bool):
            raise bad("amp", "True or False")

    @property
    def peak_lr(self) -> float:
        """Learning rate after warm-up: ``lr_base * batch_size / lr_reference_batch``."""
        return self.lr_base * self.batch_size / self.lr_reference_batch

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------ schedule, EMA


class WarmupExponentialSchedule:
    """Per-step learning rate of the EfficientNetV2 recipe (section 4.5.4).

    ``lr(step) = peak * step / warmup_steps`` during warm-up, afterwards
    ``peak * decay_factor ** floor(step / decay_steps)`` (staircase, counted
    from step 0 as in the official implementation) for ``"exponential"``,
    ``peak`` for ``"constant"`` and a half cosine to ``lr_min`` for
    ``"cosine"``; never below ``lr_min``. Its only state is the step count.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int):
        self.optimizer = optimizer
        self.config = config
        self.steps_per_epoch = steps_per_epoch
        self.step_count = 0
        self._apply()

    def lr_at(self, step: int) -> float:
        c = self.config
        peak = c.peak_lr
        warmup = c.lr_warmup_epochs * self.steps_per_epoch
        if warmup > 0 and step < warmup:
            return peak * step / warmup
        if c.lr_schedule == "exponential":
            decay_steps = c.lr_decay_epochs * self.steps_per_epoch
            lr = peak * c.lr_decay_factor ** math.floor(step / decay_steps)
        elif c.lr_schedule == "cosine":
            total = max(1.0, c.epochs * self.steps_per_epoch - warmup)
            progress = min(1.0, (step - warmup) / total)
            lr = c.lr_min + 0.5 * (peak - c.lr_min) * (1 + math.cos(math.pi * progress))
        else:
            lr = peak
        return max(lr, c.lr_min)

    def _apply(self) -> None:
        lr = self.lr_at(self.step_count)
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def step(self) -> None:
        self.step_count += 1
        self._apply()

    def get_last_lr(self) -> float:
        return self.lr_at(self.step_count)

    def state_dict(self) -> dict[str, Any]:
        return {"step_count": self.step_count, "steps_per_epoch": self.steps_per_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["steps_per_epoch"] != self.steps_per_epoch:
            raise CheckpointMismatchError(
                f"checkpoint was made with {state['steps_per_epoch']} steps per epoch, this run has "
                f"{self.steps_per_epoch}: the training set or batch size changed. Resume with the same "
                "data and batch size, or start a fresh run (resume=False / a new checkpoint path)."
            )
        self.step_count = int(state["step_count"])
        self._apply()


class ModelEma:
    """Exponential moving average of a model's parameters and buffers
    (``train.ema_decay``), with TensorFlow's warm-up
    ``decay_t = min(decay, (1 + t) / (10 + t))``."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.num_updates = 0
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.num_updates += 1
        d = min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))
        # named_parameters/named_buffers list a shared tensor once (state_dict
        # would list it under every name and average it twice)
        source = dict(model.named_parameters())
        source.update(model.named_buffers())
        shadow = dict(self.module.named_parameters())
        shadow.update(self.module.named_buffers())
        for name, value in source.items():
            if value.dtype.is_floating_point:
                shadow[name].mul_(d).add_(value.detach(), alpha=1 - d)
            else:
                shadow[name].copy_(value)

    def state_dict(self) -> dict[str, Any]:
        return {"num_updates": self.num_updates, "module": self.module.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.num_updates = int(state["num_updates"])
        self.module.load_state_dict(state["module"])


# -------------------------------------------------------------------- measurements


def count_flops(model: nn.Module, input_shape: Sequence[int], device: str | torch.device = "cpu") -> int:
    """FLOPs of one forward pass on a batch of one image of ``input_shape``
    (C, H, W), by :func:`reuseprior.baselines.complexity.count_flops` (a
    multiply-add is 2 FLOPs; divide by 2 for the multiply-add counts the
    EfficientNetV2 paper and Table 4.2 call "FLOPs")."""
    return int(complexity.count_flops(model, torch.zeros(1, *input_shape, device=device)))


def peak_memory(device: torch.device) -> tuple[int, str]:
    """``(bytes, kind)``: CUDA ``max_memory_allocated`` since the last reset
    on a GPU, otherwise the process's peak resident set size (``ru_maxrss``,
    a high-water mark over the whole process lifetime, not just this run)."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device)), "cuda_max_memory_allocated"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024  # Linux reports KiB, macOS bytes
    return int(rss * scale), "cpu_process_peak_rss"


def set_bn_momentum(model: nn.Module, momentum_tf: float) -> int:
    """Set every batch-norm layer's momentum from TensorFlow's convention
    (``0.99`` -> PyTorch ``momentum=0.01``); returns the number of layers."""
    n = 0
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = 1.0 - momentum_tf
            n += 1
    return n


# ------------------------------------------------------------------------- data


class EpochSampler(Sampler[int]):
    """A permutation of ``range(n)`` that depends only on ``(seed, epoch)``,
    optionally skipping its first ``start`` indices (resuming mid-epoch)."""

    def __init__(self, n: int, seed: int, epoch: int, start: int = 0):
        self.n, self.seed, self.epoch, self.start = n, seed, epoch, start

    def order(self) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(self.n, generator=g)

    def __iter__(self) -> Iterator[int]:
        return iter(self.order()[self.start :].tolist())

    def __len__(self) -> int:
        return self.n - self.start


def _loader(
    dataset: Dataset,
    batch_size: int,
    sampler: Sampler | None,
    config: TrainConfig,
    device: torch.device,
    *,
    drop_last: bool,
    generator_seed: int,
) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        shuffle=False,
        drop_last=drop_last,
        num_workers=config.num_workers,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
        generator=torch.Generator().manual_seed(generator_seed),
    )


# ------------------------------------------------------------------ checkpointing


class TrainingInterrupted(KeyboardInterrupt):
    """Raised by :func:`fit` after Ctrl-C once the checkpoint is written;
    ``.result`` is the partial :class:`TrainResult`."""

    def __init__(self, result: "TrainResult"):
        super().__init__(
            f"training interrupted after {result.epochs_completed} epoch(s); checkpoint: {result.checkpoint_path}"
        )
        self.result = result


def _rng_state() -> dict[str, Any]:
    """Python's, NumPy's (legacy global), torch's and CUDA's generator states as
    tensors and plain numbers: what ``torch.load(weights_only=True)`` reads back."""
    py_version, py_internal, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": {
            "version": int(py_version),
            "internal": torch.tensor(py_internal, dtype=torch.int64),
            "gauss_next": py_gauss,
        },
        "numpy": {
            "bit_generator": str(np_name),
            "keys": torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "cached_gaussian": float(np_gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    py, npy = state["python"], state["numpy"]
    random.setstate((py["version"], tuple(int(v) for v in py["internal"].tolist()), py["gauss_next"]))
    np.random.set_state(
        (
            npy["bit_generator"],
            npy["keys"].numpy().astype(np.uint32),
            npy["pos"],
            npy["has_gauss"],
            npy["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``state`` with ``torch.save`` atomically (:func:`reuseprior.core.files.atomic_write`:
    a crash or an error leaves either the old or the new checkpoint, never a
    truncated one, and no temporary file)."""
    path = Path(path)
    with atomic_write(path) as fh:
        torch.save(state, fh)
    return path


def read_checkpoint_file(path: str | os.PathLike, what: str = "reuseprior checkpoint") -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` on the CPU, for checkpoints that
    are resumed from (training here, Revolver populations).

    Policy: a checkpoint holds tensors, numbers, strings and containers of
    them only; a file with any other pickled object (an older reuseprior
    checkpoint, or a crafted file whose unpickling would run code) is refused
    *without* unpickling it, and so is a file that is not a torch checkpoint
    dictionary at all: :class:`UnreadableCheckpointError` says what the file is
    and what to do. A missing file raises ``FileNotFoundError`` as usual."""
    path = Path(path)
    fresh = "start a fresh run: delete the file or choose another checkpoint path"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise
    except pickle.UnpicklingError as err:
        if "weights only load failed" not in str(err).lower():
            raise UnreadableCheckpointError(
                f"{path} is not a {what}: torch.load cannot read it ({err}); {fresh}"
            ) from None
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        if found is None:  # no pickled object named: bytes that are no pickle at all
            raise UnreadableCheckpointError(
                f"{path} is not a {what}: torch.load cannot read it; it is truncated, corrupt or another kind of "
                f"file; {fresh}"
            ) from None
        raise UnreadableCheckpointError(
            f"{path} was not loaded: it holds a pickled {found.group(1)}, which a {what} of this version never "
            "contains and whose "
            "unpickling could run arbitrary code, so it is refused unread. It is a checkpoint of an older reuseprior "
            f"(training checkpoints before format {CHECKPOINT_FORMAT} pickled NumPy's random state) or a file from "
            f"elsewhere; {fresh}"
        ) from None
    except Exception as err:  # noqa: BLE001 - truncated, corrupt or another kind of file
        raise UnreadableCheckpointError(
            f"{path} is not a {what}: torch.load cannot read it ({type(err).__name__}: {err}); it is truncated, "
            f"corrupt or another kind of file; {fresh}"
        ) from None
    if not isinstance(state, dict):
        raise UnreadableCheckpointError(
            f"{path} is not a {what}: it holds a {type(state).__name__}, not a checkpoint dictionary; {fresh}"
        )
    return state


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (on the CPU) with
    :func:`read_checkpoint_file` (``weights_only=True``): a file of an older
    format or another kind raises :class:`UnreadableCheckpointError` (a
    :class:`CheckpointMismatchError`) naming what it is and what to do."""
    state = read_checkpoint_file(path, "reuseprior training checkpoint")
    fmt = state.get("format")
    if fmt != CHECKPOINT_FORMAT:
        if isinstance(fmt, int) and not isinstance(fmt, bool) and 0 < fmt < CHECKPOINT_FORMAT:
            raise UnreadableCheckpointError(
                f"{path} is a reuseprior training checkpoint of an older format ({fmt}; this version writes and reads "
                f"{CHECKPOINT_FORMAT}) and cannot be resumed: start a fresh run (resume=False, or delete the file)"
            )
        raise UnreadableCheckpointError(
            f"{path} is not a reuseprior training checkpoint (format {fmt!r}, expected "
            f"{CHECKPOINT_FORMAT}); start a fresh run with another checkpoint path"
        )
    return state


#: The entries of a training checkpoint (format :data:`CHECKPOINT_FORMAT`) and their types.
_ENTRIES: dict[str, type | tuple[type, ...]] = {
    "config": dict,
    "model": dict,
    "optimizer": dict,
    "schedule": dict,
    "scaler": dict,
    "ema": (dict, type(None)),
    "rng": dict,
    "epoch": int,
    "step_in_epoch": int,
    "partial": dict,
    "history": list,
    "train_time_s": (float, int),
    "train_images": int,
}


def discard_checkpoint(path: str | os.PathLike) -> None:
    """Delete the training checkpoint at ``path`` before a fresh run, so that an interrupted fresh run
    never leaves an older one to resume. Policy: only a file :func:`load_checkpoint` reads as a
    training checkpoint is deleted; any other file there is kept, and refused with
    :class:`UnreadableCheckpointError` naming it (move it away, or choose another checkpoint folder)."""
    path = Path(path)
    if not path.exists():
        return
    try:
        load_checkpoint(path)
    except UnreadableCheckpointError as err:
        raise UnreadableCheckpointError(
            f"{err}. It was kept: a fresh run deletes only its own checkpoint, and {path.name} is where this "
            f"run's goes; move the file away or choose another checkpoint folder (--checkpoint-dir)"
        ) from None
    path.unlink()


#: config fields that may differ between a checkpoint and the resuming run
_RESUMABLE_CHANGES = {"epochs", "num_workers", "eval_batch_size"}


def _check_config(saved: dict[str, Any], config: TrainConfig, path: Path) -> None:
    current = config.to_dict()
    diff = {k: (saved.get(k), v) for k, v in current.items() if k not in _RESUMABLE_CHANGES and saved.get(k) != v}
    if diff:
        lines = ", ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in sorted(diff.items()))
        raise CheckpointMismatchError(
            f"cannot resume from {path}: the training configuration changed ({lines}). "
            "Use the same settings, or start a fresh run with resume=False or another checkpoint path."
        )


# ---------------------------------------------------------------------- training


@dataclass
class TrainResult:
    """What :func:`fit` returns (and what a results row is made from)."""

    status: str  # "completed" or "interrupted"
    epochs_completed: int
    history: list[dict[str, float]]
    params: int
    train_images_per_s: float
    train_time_s: float
    peak_memory_bytes: int
    peak_memory_kind: str
    val_top1: float
    val_loss: float
    initial_val_loss: float
    test_top1: float = math.nan
    test_loss: float = math.nan
    checkpoint_path: str | None = None
    resumed_from_epoch: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def final_train_loss(self) -> float:
        rows = [h for h in self.history if h["epoch"] >= 1]
        return rows[-1]["train_loss"] if rows else math.nan

    @property
    def first_train_loss(self) -> float:
        rows = [h for h in self.history if h["epoch"] >= 1]
        return rows[0]["train_loss"] if rows else math.nan


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset: Dataset,
    device: torch.device | str = "cpu",
    batch_size: int = 256,
    amp: bool = False,
    num_workers: int = 0,
) -> tuple[float, float]:
    """``(mean cross-entropy, top-1 accuracy in %)`` of ``model`` on ``dataset``
    (no label smoothing, eval mode)."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers, pin_memory=device.type == "cuda"
    )
    total_loss, correct, count = 0.0, 0, 0
    try:
        for images, labels in loader:
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            with _autocast(device, amp):
                logits = model(images)
            total_loss += nn.functional.cross_entropy(logits.float(), labels, reduction="sum").item()
            correct += (logits.argmax(1) == labels).sum().item()
            count += labels.numel()
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("cannot evaluate on an empty dataset")
    return total_loss / count, 100.0 * correct / count


def amp_active(amp: bool, device: torch.device | str) -> bool:
    """Whether mixed precision is used: only when asked for *and* on CUDA
    (float16 autocast with a gradient scaler). On a CPU, autocast means
    bfloat16, measured 20x (V2-B0) to 54x (V2-S) slower per step than
    float32, so ``amp=True`` there trains in float32 (``fit`` prints a note)."""
    return bool(amp) and torch.device(device).type == "cuda"


def _autocast(device: torch.device, amp: bool):
    if not amp_active(amp, device):
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=torch.float16)


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on weights only; biases and BN scales/shifts (every 0-D or
    1-D tensor) are excluded, as ``weight_decay_exclude='.*(bias|gamma|beta).*'``."""
    decay, no_decay = [], []
    for _, p in model.named_parameters():  # unique tensors: shared weights appear once
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    groups = _param_groups(model, config.weight_decay)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(
            groups, lr=config.peak_lr, alpha=config.rmsprop_decay, eps=config.rmsprop_eps, momentum=config.momentum
        )
    if config.optimizer == "rmsprop_tf":
        from timm.optim import RMSpropTF  # heavy (timm's model registry): loaded only for this optimizer

        return RMSpropTF(
            groups, lr=config.peak_lr, alpha=config.rmsprop_decay, eps=config.rmsprop_eps, momentum=config.momentum
        )
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.peak_lr, momentum=config.momentum, nesterov=config.momentum > 0)
    return torch.optim.AdamW(groups, lr=config.peak_lr)


class _SigintDeferral:
    """While active, the first SIGINT only sets ``requested``; the training
    loop stops at the next batch boundary. A second SIGINT raises at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None
        self._installed = False

    def _handler(self, signum, frame):  # noqa: ARG002
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> "_SigintDeferral":
        if threading.current_thread() is threading.main_thread():
            try:
                self._previous = signal.signal(signal.SIGINT, self._handler)
                self._installed = True
            except (ValueError, OSError):
                self._installed = False
        return self

    def __exit__(self, *exc) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)


StepCallback = Callable[[int, int], None]


def _new_partial() -> dict[str, Any]:
    """Running sums of the epoch in progress (checkpointed with it)."""
    return {"loss_sum": 0.0, "correct": 0, "count": 0, "time_s": 0.0}


@dataclass
class _Run:
    """One call of :func:`fit`: what it trains with, and the progress that a
    checkpoint carries (``history`` to ``train_images``)."""

    model: nn.Module
    config: TrainConfig
    device: torch.device
    n_train: int
    steps_per_epoch: int
    eval_batch_size: int
    checkpoint_path: Path | None
    params: int
    optimizer: torch.optim.Optimizer
    schedule: WarmupExponentialSchedule
    scaler: torch.amp.GradScaler
    ema: ModelEma | None
    criterion: nn.Module
    # --- progress: what a checkpoint carries
    history: list[dict[str, float]] = field(default_factory=list)
    epoch: int = 0  # epochs completed
    step_in_epoch: int = 0  # steps done in the current epoch
    partial: dict[str, Any] = field(default_factory=_new_partial)
    train_time_s: float = 0.0
    train_images: int = 0
    resumed_from: float | None = None
    # --- interrupt bookkeeping
    consistent: bool = True  # False while an optimisation step is half-done
    tick: float | None = None  # start of the timed part of the current epoch

    def eval_model(self) -> nn.Module:
        """The weights that are evaluated: the EMA copy when there is one."""
        return self.ema.module if self.ema is not None else self.model


def _steps_per_epoch(train_set: Dataset, val_set: Dataset, config: TrainConfig) -> int:
    """Optimisation steps per epoch (the last incomplete batch is dropped, as
    in the official recipe); refuses a batch larger than the training set and
    an empty validation set."""
    n_train = len(train_set)
    if n_train < config.batch_size:
        raise ValueError(
            f"batch_size={config.batch_size} is larger than the training set ({n_train} images); "
            "the last incomplete batch is dropped (as in the official recipe), so no step would run. "
            "Lower the batch size."
        )
    if len(val_set) == 0:
        raise ValueError("the validation set is empty; pass a non-empty val_set")
    return n_train // config.batch_size


def _prepare(
    model: nn.Module,
    n_train: int,
    config: TrainConfig,
    device: torch.device,
    steps_per_epoch: int,
    checkpoint_path: str | os.PathLike | None,
    description: str,
) -> _Run:
    """Move the model to ``device``, set its batch-norm momentum, count its
    parameters and build the optimizer, schedule, AMP scaler, EMA and loss of
    the recipe (section 4.5.4)."""
    model.to(device)
    if config.bn_momentum_tf is not None:
        set_bn_momentum(model, config.bn_momentum_tf)
    params = count_parameters(model)
    optimizer = _make_optimizer(model, config)
    schedule = WarmupExponentialSchedule(optimizer, config, steps_per_epoch)
    use_scaler = amp_active(config.amp, device)
    if config.amp and not use_scaler:
        print(
            f"note: amp=True asks for mixed precision, which is used only on CUDA; {description} trains in "
            f"float32 on {device} (bfloat16 autocast on a CPU is 20-54x slower per step)"
        )
    scaler = torch.amp.GradScaler(device.type, enabled=use_scaler)
    ema = ModelEma(model, config.ema_decay) if config.ema_decay is not None else None
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    return _Run(
        model=model,
        config=config,
        device=device,
        n_train=n_train,
        steps_per_epoch=steps_per_epoch,
        eval_batch_size=config.eval_batch_size or config.batch_size,
        checkpoint_path=Path(checkpoint_path) if checkpoint_path is not None else None,
        params=params,
        optimizer=optimizer,
        schedule=schedule,
        scaler=scaler,
        ema=ema,
        criterion=criterion,
    )


def _resume(run: _Run) -> None:
    """Continue from the checkpoint at ``run.checkpoint_path``: the settings
    must match (:func:`_check_config`) and so must the model; every state and
    random-number generator is restored, so the run goes on bit for bit."""
    path = run.checkpoint_path
    state = load_checkpoint(path)
    problems = entry_problems(state, _ENTRIES, non_negative=("epoch", "step_in_epoch", "train_images"))
    if problems:
        raise UnreadableCheckpointError(
            f"{path} is a reuseprior training checkpoint whose entries are damaged ({'; '.join(problems)}) "
            "and cannot be resumed: start a fresh run (resume=False, or delete the file)"
        )
    _check_config(state["config"], run.config, path)
    try:
        run.model.load_state_dict(state["model"])
    except (RuntimeError, ValueError) as err:  # shape/key mismatch, or tied entries that differ
        raise CheckpointMismatchError(
            f"checkpoint {path} holds another model ({err}); resume with the model it was made for "
            "or start a fresh run (resume=False or another checkpoint path)"
        ) from err
    try:  # the entries' types are checked (load_checkpoint); what they hold is read here
        run.optimizer.load_state_dict(state["optimizer"])
        run.schedule.load_state_dict(state["schedule"])
        run.scaler.load_state_dict(state["scaler"])
        if run.ema is not None:
            run.ema.load_state_dict(state["ema"])
        _set_rng_state(state["rng"])
    except (KeyError, TypeError, AttributeError) as err:
        raise UnreadableCheckpointError(
            f"{path} is a reuseprior training checkpoint whose entries are damaged ({type(err).__name__}: {err}) "
            "and cannot be resumed: start a fresh run (resume=False, or delete the file)"
        ) from err
    run.history = state["history"]
    run.epoch, run.step_in_epoch = state["epoch"], state["step_in_epoch"]
    run.partial = state["partial"]
    run.train_time_s, run.train_images = state["train_time_s"], state["train_images"]
    run.resumed_from = run.epoch + run.step_in_epoch / run.steps_per_epoch


def _write_checkpoint(run: _Run) -> None:
    """Save the run (format :data:`CHECKPOINT_FORMAT`) when it has a checkpoint path."""
    if run.checkpoint_path is None:
        return
    save_checkpoint(
        {
            "format": CHECKPOINT_FORMAT,
            "config": run.config.to_dict(),
            "model": run.model.state_dict(),
            "optimizer": run.optimizer.state_dict(),
            "schedule": run.schedule.state_dict(),
            "scaler": run.scaler.state_dict(),
            "ema": run.ema.state_dict() if run.ema is not None else None,
            "rng": _rng_state(),
            "epoch": run.epoch,
            "step_in_epoch": run.step_in_epoch,
            "partial": dict(run.partial),
            "history": list(run.history),
            "train_time_s": run.train_time_s,
            "train_images": run.train_images,
        },
        run.checkpoint_path,
    )


def _result(run: _Run, status: str) -> TrainResult:
    """The :class:`TrainResult` of the run so far."""
    mem, kind = peak_memory(run.device)
    history = run.history
    last = history[-1] if history else {"val_top1": math.nan, "val_loss": math.nan}
    return TrainResult(
        status=status,
        epochs_completed=run.epoch,
        history=list(history),
        params=run.params,
        train_images_per_s=run.train_images / run.train_time_s if run.train_time_s > 0 else math.nan,
        train_time_s=run.train_time_s,
        peak_memory_bytes=mem,
        peak_memory_kind=kind,
        val_top1=last["val_top1"],
        val_loss=last["val_loss"] if history else math.nan,
        initial_val_loss=history[0]["val_loss"] if history else math.nan,
        checkpoint_path=str(run.checkpoint_path) if run.checkpoint_path is not None else None,
        resumed_from_epoch=run.resumed_from,
    )


def _evaluate_run(run: _Run, dataset: Dataset) -> tuple[float, float]:
    """:func:`evaluate` of the evaluated weights (:meth:`_Run.eval_model`)."""
    c = run.config
    return evaluate(run.eval_model(), dataset, run.device, run.eval_batch_size, c.amp, c.num_workers)


def _record_untrained(run: _Run, val_set: Dataset) -> None:
    """``history[0]``: the validation loss and accuracy before training."""
    vl, va = _evaluate_run(run, val_set)
    run.history.append(
        {
            "epoch": 0,
            "train_loss": math.nan,
            "train_top1": math.nan,
            "val_loss": vl,
            "val_top1": va,
            "lr": run.schedule.get_last_lr(),
            "epoch_time_s": 0.0,
            "images_per_s": math.nan,
        }
    )


def _train_step(run: _Run, images: torch.Tensor, labels: torch.Tensor, epoch: int) -> None:
    """One optimisation step on a batch, added to the epoch's running sums.
    ``run.consistent`` is False while the step is half-done; a non-finite
    loss raises ``FloatingPointError`` before the weights change."""
    c, device = run.config, run.device
    images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
    run.consistent = False
    run.optimizer.zero_grad(set_to_none=True)
    with _autocast(device, c.amp):
        logits = run.model(images)
        loss = run.criterion(logits.float(), labels)
    if not torch.isfinite(loss):
        raise FloatingPointError(
            f"training loss became {loss.item()} at epoch {epoch + 1}, step {run.step_in_epoch + 1}; "
            "lower lr_base or enable grad_clip"
        )
    run.scaler.scale(loss).backward()
    if c.grad_clip is not None:
        run.scaler.unscale_(run.optimizer)
        nn.utils.clip_grad_norm_(run.model.parameters(), c.grad_clip)
    run.scaler.step(run.optimizer)
    run.scaler.update()
    run.schedule.step()
    if run.ema is not None:
        run.ema.update(run.model)
    run.step_in_epoch += 1
    run.partial["loss_sum"] += loss.item() * labels.numel()
    run.partial["correct"] += int((logits.argmax(1) == labels).sum().item())
    run.partial["count"] += labels.numel()
    run.consistent = True


def _train_epoch(
    run: _Run, train_set: Dataset, epoch: int, sigint: _SigintDeferral, progress: bool, on_step: StepCallback | None
) -> None:
    """The remaining steps of epoch ``epoch`` (from ``run.step_in_epoch``), in
    the order :class:`EpochSampler` gives for ``(seed, epoch)``; a requested
    Ctrl-C stops at the next batch boundary. The epoch's training time is
    added to ``run.partial``."""
    c, device = run.config, run.device
    run.model.train()
    sampler = EpochSampler(run.n_train, c.seed, epoch, start=run.step_in_epoch * c.batch_size)
    loader = _loader(
        train_set, c.batch_size, sampler, c, device, drop_last=True, generator_seed=c.seed * 1_000_003 + epoch
    )
    batches = tqdm(
        loader,
        desc=f"epoch {epoch + 1}",
        unit="batch",
        leave=False,
        disable=not progress,
        total=run.steps_per_epoch - run.step_in_epoch,
    )
    run.tick = time.perf_counter()
    for images, labels in batches:
        if sigint.requested:
            raise KeyboardInterrupt
        _train_step(run, images, labels, epoch)
        if on_step is not None:
            on_step(epoch, run.step_in_epoch)
        if run.step_in_epoch >= run.steps_per_epoch:
            break
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    run.partial["time_s"] += time.perf_counter() - run.tick
    run.tick = None


def _finish_epoch(run: _Run, val_set: Dataset, epoch: int) -> None:
    """Close epoch ``epoch``: add its time and images to the totals, evaluate
    on ``val_set``, append its history row and start the next epoch's sums."""
    partial = run.partial
    run.train_time_s += partial["time_s"]
    run.train_images += partial["count"]
    vl, va = _evaluate_run(run, val_set)
    count = max(1, partial["count"])
    run.history.append(
        {
            "epoch": epoch + 1,
            "train_loss": partial["loss_sum"] / count,
            "train_top1": 100.0 * partial["correct"] / count,
            "val_loss": vl,
            "val_top1": va,
            "lr": run.schedule.get_last_lr(),
            "epoch_time_s": partial["time_s"],
            "images_per_s": partial["count"] / partial["time_s"] if partial["time_s"] > 0 else math.nan,
        }
    )
    run.epoch, run.step_in_epoch = epoch + 1, 0
    run.partial = _new_partial()


def _checkpoint_interrupted(run: _Run) -> None:
    """After Ctrl-C: count the partial epoch's time and, at a batch boundary,
    checkpoint it so that it resumes exactly; in the middle of a step the last
    checkpoint (end of the previous epoch or batch) stays valid."""
    if run.tick is not None:
        run.partial["time_s"] += time.perf_counter() - run.tick
    if run.consistent:
        _write_checkpoint(run)


def fit(
    model: nn.Module,
    train_set: Dataset,
    val_set: Dataset,
    config: TrainConfig,
    *,
    device: torch.device | str = "cpu",
    test_set: Dataset | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    resume: bool = True,
    progress: bool = True,
    on_step: StepCallback | None = None,
    description: str = "train",
) -> TrainResult:
    """Train ``model`` for ``config.epochs`` epochs (thesis section 4.5.4 recipe).

    ``history[0]`` is the validation loss/accuracy *before* training (epoch 0);
    each further row is one epoch: train loss/accuracy (label-smoothed loss,
    running mean over the epoch), validation loss/top-1, learning rate,
    seconds and images per second.

    With ``checkpoint_path`` a checkpoint is written after every epoch, and
    with ``resume=True`` an existing one is continued (raising
    :class:`CheckpointMismatchError` if it belongs to other settings).
    ``on_step(epoch, step)`` is called after every optimisation step (tests
    use it to simulate kills). Ctrl-C checkpoints the partial epoch and
    raises :class:`TrainingInterrupted` with the partial result.
    """
    device = torch.device(device)
    config.validate()
    steps_per_epoch = _steps_per_epoch(train_set, val_set, config)
    run = _prepare(model, len(train_set), config, device, steps_per_epoch, checkpoint_path, description)
    if run.checkpoint_path is not None and resume and run.checkpoint_path.exists():
        _resume(run)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with _SigintDeferral() as sigint:
        try:
            if not run.history:  # epoch 0: the untrained model
                _record_untrained(run, val_set)
            epochs = tqdm(
                range(run.epoch, config.epochs),
                desc=description,
                unit="epoch",
                disable=not progress,
                initial=run.epoch,
                total=config.epochs,
            )
            for e in epochs:
                _train_epoch(run, train_set, e, sigint, progress, on_step)
                if sigint.requested:
                    raise KeyboardInterrupt
                _finish_epoch(run, val_set, e)
                _write_checkpoint(run)
                last = run.history[-1]
                epochs.set_postfix(train_loss=f"{last['train_loss']:.3f}", val_top1=f"{last['val_top1']:.1f}")
        except KeyboardInterrupt:
            _checkpoint_interrupted(run)
            raise TrainingInterrupted(_result(run, "interrupted")) from None

    out = _result(run, "completed")
    if test_set is not None:
        out.test_loss, out.test_top1 = _evaluate_run(run, test_set)
    return out


def config_from_mapping(values: dict[str, Any]) -> TrainConfig:
    """A :class:`TrainConfig` from a mapping, ignoring keys it does not know."""
    names = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in values.items() if k in names})
