"""Training settings and results, the learning-rate schedule, the weight average, measurements."""

from __future__ import annotations

import copy
import math
import resource
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from reuseprior.baselines import complexity
from reuseprior.core.errors import CheckpointMismatchError

#: 2: every random-number generator state stored as tensors and plain numbers, so
#: that :func:`load_checkpoint` reads it with ``torch.load(weights_only=True)``
#: (format 1 pickled NumPy's and Python's states, which that refuses)
CHECKPOINT_FORMAT = 2
_OPTIMIZERS = ("rmsprop", "rmsprop_tf", "sgd", "adamw")
_SCHEDULES = ("exponential", "constant", "cosine")


# --------------------------------------------------------------------------- config


def _is_int(value: Any, least: int) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and value >= least


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float))


#: :meth:`TrainConfig.validate`'s checks, in order: (fields, valid(value), what is expected)
_FIELD_CHECKS: tuple[tuple[tuple[str, ...], Callable[[Any], bool], str], ...] = (
    (("epochs", "batch_size", "lr_reference_batch"), lambda v: _is_int(v, 1), "a positive integer"),
    (("eval_batch_size",), lambda v: v is None or _is_int(v, 1), "a positive integer"),
    (("num_workers", "seed"), lambda v: _is_int(v, 0), "a non-negative integer"),
    (("lr_base", "lr_decay_epochs", "rmsprop_eps"), lambda v: _is_number(v) and v > 0, "a positive number"),
    (("lr_warmup_epochs", "lr_min", "weight_decay"), lambda v: _is_number(v) and v >= 0, "a non-negative number"),
    (("lr_decay_factor", "momentum", "rmsprop_decay"), lambda v: _is_number(v) and 0 <= v <= 1, "a number in [0, 1]"),
    (("label_smoothing",), lambda v: _is_number(v) and 0 <= v < 1, "a number in [0, 1)"),
    (
        ("bn_momentum_tf",),
        lambda v: v is None or 0 <= v < 1,
        "None or a number in [0, 1) (TensorFlow convention, e.g. 0.99)",
    ),
    (("ema_decay",), lambda v: v is None or 0 < v < 1, "None or a number in (0, 1), e.g. 0.9999"),
    (("grad_clip",), lambda v: v is None or v > 0, "None or a positive number"),
    (("optimizer",), lambda v: v in _OPTIMIZERS, f"one of {_OPTIMIZERS}"),
    (("lr_schedule",), lambda v: v in _SCHEDULES, f"one of {_SCHEDULES}"),
    (("amp", "lr_per_use"), lambda v: isinstance(v, bool), "True or False"),
)


#: TrainConfig fields that joined after studies had stored runs, with the value those runs trained with
FIELDS_ADDED_LATER: dict[str, Any] = {"lr_per_use": False}


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
    #: a sharing-aware step size: each parameter's learning rate divided by the number of sites of the
    #: module tree that hold it (:func:`parameter_uses`), so a weight tied at k sites moves the function
    #: about as far per step as an untied one; False (the official recipe): one rate for every tensor
    lr_per_use: bool = False
    amp: bool = False
    num_workers: int = 0
    eval_batch_size: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first invalid field and its valid range."""
        for names, valid, expected in _FIELD_CHECKS:
            for name in names:
                if not valid(getattr(self, name)):
                    raise ValueError(f"TrainConfig.{name}={getattr(self, name)!r} is invalid: expected {expected}")

    @property
    def peak_lr(self) -> float:
        """Learning rate after warm-up: ``lr_base * batch_size / lr_reference_batch``."""
        return self.lr_base * self.batch_size / self.lr_reference_batch

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def plan_settings(self) -> dict[str, Any]:
        """:meth:`to_dict` without the fields of :data:`FIELDS_ADDED_LATER` that hold the value every
        run had before the field existed: what a study's plan id hashes, so stored runs keep theirs."""
        return {k: v for k, v in asdict(self).items() if not (k in FIELDS_ADDED_LATER and FIELDS_ADDED_LATER[k] == v)}


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
            group["lr"] = lr * group.get("lr_scale", 1.0)

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
    ``decay_t = min(decay, (1 + t) / (10 + t))``. The floating-point tensors
    are averaged with one multi-tensor multiply and one multi-tensor add per
    update (the same two roundings per element as ``mul_`` then ``add_``);
    the others (batch-norm counters) are copied."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.num_updates = 0
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        #: ``(id(model), its tensor pairs)`` of the model last averaged (:meth:`_tensor_pairs`)
        self._pairs: tuple[int, tuple[list[torch.Tensor], ...]] | None = None

    def _tensor_pairs(self, model: nn.Module) -> tuple[list[torch.Tensor], ...]:
        """``(shadow floats, source floats, shadow others, source others)``, matched by name.
        ``named_parameters``/``named_buffers`` list a shared tensor once (``state_dict`` would list it
        under every name and average it twice)."""
        source = dict(model.named_parameters())
        source.update(model.named_buffers())
        shadow = dict(self.module.named_parameters())
        shadow.update(self.module.named_buffers())
        floats = [name for name, value in source.items() if value.dtype.is_floating_point]
        others = [name for name, value in source.items() if not value.dtype.is_floating_point]
        return (
            [shadow[n] for n in floats],
            [source[n] for n in floats],
            [shadow[n] for n in others],
            [source[n] for n in others],
        )

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.num_updates += 1
        d = min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))
        if self._pairs is None or self._pairs[0] != id(model):  # the same tensor objects while it trains
            self._pairs = (id(model), self._tensor_pairs(model))
        shadow, source, shadow_other, source_other = self._pairs[1]
        if shadow:
            torch._foreach_mul_(shadow, d)
            torch._foreach_add_(shadow, source, alpha=1 - d)
        if shadow_other:
            torch._foreach_copy_(shadow_other, source_other)

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


def reset_peak_rss() -> str:
    """Reset the process's resident-set high-water mark (Linux ``clear_refs``);
    returns the kind of peak :func:`peak_rss_bytes` then reads."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return "cpu_peak_rss_since_run_start"
    except OSError:
        return "cpu_process_peak_rss"


def peak_rss_bytes() -> int:
    """The process's peak resident set size: Linux's ``VmHWM`` (reset by
    :func:`reset_peak_rss`), else ``ru_maxrss`` (the whole process lifetime)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss * (1 if sys.platform == "darwin" else 1024))  # Linux reports KiB, macOS bytes


def peak_memory(device: torch.device) -> tuple[int, str]:
    """``(bytes, kind)``: CUDA ``max_memory_allocated`` since the last reset
    on a GPU, otherwise the process's peak resident set size (:func:`peak_rss_bytes`)."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device)), "cuda_max_memory_allocated"
    return peak_rss_bytes(), "cpu_process_peak_rss"


def parameter_uses(model: nn.Module) -> dict[int, int]:
    """``id(parameter) -> sites``: for every parameter of ``model``, the number of places in its module
    tree that hold it directly (``named_modules(remove_duplicate=False)``). A weight tied by installing
    one module at k sites (:func:`reuseprior.models.sharing.share_parameters`) or by assigning one
    ``nn.Parameter`` to k modules is used k times; an untied one once. A module called repeatedly
    from one site (a loop in ``forward``) counts once: the count is of the tree, not of a trace."""
    uses: dict[int, int] = {}
    for _, module in model.named_modules(remove_duplicate=False):
        for p in module.parameters(recurse=False):
            uses[id(p)] = uses.get(id(p), 0) + 1
    return uses


#: a run's evaluated model is flagged as unsettled when this share of it still comes from where it
#: started: the batch-norm running statistics' initial values, or the weights of the run's first half
#: in the weight average
UNSETTLED_SHARE = 0.05


def ema_share_of_first_half(decay: float, steps: int) -> float:
    """The share of :class:`ModelEma`'s average after ``steps`` updates that comes from the weights of
    the first half of the run (TensorFlow's warm-up ``min(decay, (1 + t) / (10 + t))`` included): update
    t enters with weight ``1 - d_t`` and is then multiplied by every later ``d_s``."""
    later = 1.0  # product of the decays after the update being weighed
    first_half = 0.0
    for t in range(steps, 0, -1):
        d = min(decay, (1 + t) / (10 + t))
        if t <= steps // 2:
            first_half += (1 - d) * later
        later *= d
    return first_half + later  # the initial weights belong to the first half


def settling_warnings(config: TrainConfig, steps: int) -> list[str]:
    """Why the evaluated model of a run of ``steps`` optimisation steps under ``config`` may read near
    chance though it learns: batch-norm running statistics that still hold more than
    :data:`UNSETTLED_SHARE` of their initial values (``bn_momentum_tf ** steps``), or a weight average
    (``ema_decay``) more than half of which is the first half of the run (:func:`ema_share_of_first_half`).
    Empty when neither applies."""
    out = []
    if config.bn_momentum_tf is not None and config.bn_momentum_tf**steps > UNSETTLED_SHARE:
        share = config.bn_momentum_tf**steps
        out.append(
            f"the batch-norm running statistics still hold {share:.0%} of their initial values after {steps} "
            f"steps (bn_momentum_tf={config.bn_momentum_tf}): evaluation-mode accuracy reads near chance "
            "until they settle; train longer or lower bn_momentum_tf (0.9 settles in about 30 steps)"
        )
    if config.ema_decay is not None and steps > 0:
        early = ema_share_of_first_half(config.ema_decay, steps)
        if early > 0.5:
            out.append(
                f"the weight average (ema_decay={config.ema_decay}) is {early:.0%} the weights of the run's first "
                f"half after {steps} steps: the evaluated model lags the trained one; train longer or lower ema_decay"
            )
    return out


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


@dataclass
class TrainResult:
    """What :func:`fit` returns (and what a results row is made from)."""

    status: str  # "completed", "interrupted" or "stopped" (fit(stop_after_epoch=...))
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
    #: top-1 (%) on ``fit(fit_set=...)``'s training images in eval mode, once the run completed
    train_top1_eval: float = math.nan
    checkpoint_path: str | None = None
    resumed_from_epoch: float | None = None
    #: the machines that trained the run, in order: (``device_description``, the first epoch it finished)
    trained_on: tuple[tuple[str, int], ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def machine(self) -> str:
        """The machine the run's numbers come from: the one machine that trained it, or each of them
        with the epochs it finished (``"A (epochs 1-15), then B (epochs 16-20)"``) when a checkpoint
        moved between machines; empty when no epoch was trained."""
        if len(self.trained_on) <= 1:
            return self.trained_on[0][0] if self.trained_on else ""
        ends = [first - 1 for _, first in self.trained_on[1:]] + [self.epochs_completed]
        spans = [f"epoch {a}" if a == b else f"epochs {a}-{b}" for (_, a), b in zip(self.trained_on, ends, strict=True)]
        return ", then ".join(f"{machine} ({span})" for (machine, _), span in zip(self.trained_on, spans, strict=True))

    @property
    def final_train_loss(self) -> float:
        rows = [h for h in self.history if h["epoch"] >= 1]
        return rows[-1]["train_loss"] if rows else math.nan

    @property
    def first_train_loss(self) -> float:
        rows = [h for h in self.history if h["epoch"] >= 1]
        return rows[0]["train_loss"] if rows else math.nan
