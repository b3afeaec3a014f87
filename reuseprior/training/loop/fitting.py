"""Training a model: evaluation, one run of fit (prepared, resumed, trained epoch by epoch, checkpointed)."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from reuseprior.core.cpu import device_description
from reuseprior.core.errors import CheckpointMismatchError, UnreadableCheckpointError
from reuseprior.core.parameters import count_parameters
from reuseprior.core.precision import loss_precision, match_input, model_dtype
from reuseprior.core.progress import progress_bar
from reuseprior.core.validation import entry_problems
from reuseprior.training.loop.batches import DeviceTensors, device_tensors
from reuseprior.training.loop.checkpoints import (
    CHECKPOINT_ENTRIES,
    EpochSampler,
    TrainingInterrupted,
    check_resumed_config,
    data_loader,
    load_checkpoint,
    progress_problems,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from reuseprior.training.loop.config import (
    CHECKPOINT_FORMAT,
    ModelEma,
    TrainConfig,
    TrainResult,
    WarmupExponentialSchedule,
    parameter_uses,
    peak_memory,
    set_bn_momentum,
)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset: Dataset,
    device: torch.device | str = "cpu",
    batch_size: int = 256,
    amp: bool = False,
    num_workers: int = 0,
    *,
    on_device: DeviceTensors | None = None,
) -> tuple[float, float]:
    """``(mean cross-entropy, top-1 accuracy in %)`` of ``model`` on ``dataset``
    (no label smoothing, eval mode). ``on_device``: the dataset's tensors
    already on ``device`` (:func:`~reuseprior.training.loop.batches.device_tensors`),
    batched there instead of through a loader; the sums stay on the device
    until the end (one synchronisation per evaluation)."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    if on_device is not None:
        batches = on_device.batches(torch.arange(len(on_device)), batch_size, drop_last=False)
    else:
        batches = DataLoader(
            dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers, pin_memory=device.type == "cuda"
        )
    total_loss = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    count = 0
    dtype = model_dtype(model)
    try:
        for images, labels in batches:
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            with _autocast(device, amp):
                logits = model(match_input(images, dtype))
            total_loss += nn.functional.cross_entropy(loss_precision(logits), labels, reduction="sum")
            correct += (logits.argmax(1) == labels).sum()
            count += labels.numel()
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("cannot evaluate on an empty dataset")
    return total_loss.item() / count, 100.0 * correct.item() / count


def amp_active(amp: bool, device: torch.device | str) -> bool:
    """Whether mixed precision is used: only when asked for *and* on CUDA
    (float16 autocast with a gradient scaler). On a CPU, autocast means
    bfloat16, measured 20x (V2-B0) to 54x (V2-S) slower per step than
    float32, so ``amp=True`` there trains in float32 (``fit`` prints a note)."""
    return bool(amp) and torch.device(device).type == "cuda"


def synchronize(device: torch.device) -> None:
    """Wait for ``device``'s queued work, so that a clock read next times it (a CPU's work is done when
    its call returns)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def cudnn_autotune(device: torch.device) -> Iterator[None]:
    """On CUDA, cuDNN's algorithm search on (``torch.backends.cudnn.benchmark``) while a run trains: its
    shapes repeat every step, so the fastest convolution algorithms are found once; restored after."""
    if device.type != "cuda":
        yield
        return
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def _autocast(device: torch.device, amp: bool):
    if not amp_active(amp, device):
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=torch.float16)


def _param_groups(model: nn.Module, weight_decay: float, per_use: bool = False) -> list[dict[str, Any]]:
    """Weight decay on weights only; biases and BN scales/shifts (every 0-D or
    1-D tensor) are excluded, as ``weight_decay_exclude='.*(bias|gamma|beta).*'``.
    With ``per_use`` (``TrainConfig.lr_per_use``) the groups are split further by
    the uses of their tensors (:func:`parameter_uses`), each with ``lr_scale`` =
    1 / uses, which the schedule multiplies its rate by; otherwise two groups."""
    uses = parameter_uses(model) if per_use else {}
    groups: dict[tuple[bool, int], list[nn.Parameter]] = {}
    for _, p in model.named_parameters():  # unique tensors: shared weights appear once
        if not p.requires_grad:
            continue
        groups.setdefault((p.ndim > 1, uses.get(id(p), 1)), []).append(p)
    out = []
    for decays in (True, False):
        for n in sorted(k for d, k in groups if d == decays) or [1]:
            group: dict[str, Any] = {
                "params": groups.get((decays, n), []),
                "weight_decay": weight_decay if decays else 0.0,
            }
            if per_use:
                group["lr_scale"] = 1.0 / n
            out.append(group)
    return out


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer ``config`` names (PyTorch's RMSprop, TensorFlow 1's, AdamW or SGD with Nesterov
    momentum) over ``model``'s parameter groups (weight decay where it applies; with ``lr_per_use``
    each tensor's rate divided by the sites that use it), at the peak learning rate."""
    groups = _param_groups(model, config.weight_decay, config.lr_per_use)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(
            groups, lr=config.peak_lr, alpha=config.rmsprop_decay, eps=config.rmsprop_eps, momentum=config.momentum
        )
    if config.optimizer == "rmsprop_tf":
        from timm.optim import RMSpropTF  # noqa: PLC0415 (timm's model registry: only for this optimizer)

        return RMSpropTF(
            groups, lr=config.peak_lr, alpha=config.rmsprop_decay, eps=config.rmsprop_eps, momentum=config.momentum
        )
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.peak_lr, momentum=config.momentum, nesterov=config.momentum > 0)
    return torch.optim.AdamW(groups, lr=config.peak_lr)


def updates_one_tensor_at_a_time(optimizer: torch.optim.Optimizer, device: torch.device) -> bool:
    """Whether ``optimizer`` updates ``device``'s parameters one tensor at a time where the rule is one
    multi-tensor call per group: on CUDA, an optimizer class without a ``foreach`` option (timm's
    RMSpropTF before 1.0.31). Each tensor then costs several kernel launches a step, which a model
    that is launch-bound on a GPU pays in time (``benchmarks/bench_fit_launches.py`` counts them)."""
    return device.type == "cuda" and "foreach" not in optimizer.defaults


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


def checks_each_step(device: torch.device) -> bool:
    """Whether :func:`fit` checks the training loss for a non-finite value after every step (before the
    weights change) or once per epoch. Policy: every step except on CUDA, where reading the loss back
    would make the host wait for the device at every step; there the running sums stay on the device
    and the check runs when the epoch ends (the last checkpoint then predates the bad epoch)."""
    return device.type != "cuda"


@dataclass
class _DeviceSums:
    """The running loss and correct-prediction sums of the epoch in progress, kept on the training
    device (no host synchronisation per step) and started from the checkpointed partial sums, so that
    the additions happen in the same order as one running sum of the whole epoch."""

    loss_sum: torch.Tensor
    correct: torch.Tensor

    @classmethod
    def starting_from(cls, partial: dict[str, Any], device: torch.device) -> "_DeviceSums":
        return cls(
            torch.tensor(float(partial["loss_sum"]), dtype=torch.float64, device=device),
            torch.tensor(int(partial["correct"]), dtype=torch.int64, device=device),
        )


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
    #: ``model.parameters()`` listed once (gradient clipping reads them every step; listing them walks
    #: the module tree)
    parameter_list: list[torch.Tensor]
    # --- progress: what a checkpoint carries
    history: list[dict[str, float]] = field(default_factory=list)
    epoch: int = 0  # epochs completed
    step_in_epoch: int = 0  # steps done in the current epoch
    partial: dict[str, Any] = field(default_factory=_new_partial)
    #: the partial sums while an epoch runs (None between epochs: ``partial`` holds them)
    sums: _DeviceSums | None = None
    train_time_s: float = 0.0
    train_images: int = 0
    #: (machine, first epoch it finished) for each machine that trained the run (:attr:`TrainResult.trained_on`)
    trained_on: list[tuple[str, int]] = field(default_factory=list)
    resumed_from: float | None = None
    # --- interrupt bookkeeping
    consistent: bool = True  # False while an optimisation step is half-done
    tick: float | None = None  # start of the timed part of the current epoch
    #: datasets held on the training device, by ``id`` (:func:`~reuseprior.training.loop.batches.device_tensors`)
    on_device: dict[int, DeviceTensors | None] = field(default_factory=dict)

    def device_copy(self, dataset: Dataset) -> DeviceTensors | None:
        """``dataset``'s tensors on the training device (copied once per run), or None: a loader serves it."""
        key = id(dataset)
        if key not in self.on_device:
            self.on_device[key] = device_tensors(dataset, self.device)
        return self.on_device[key]

    def eval_model(self) -> nn.Module:
        """The weights that are evaluated: the EMA copy when there is one."""
        return self.ema.module if self.ema is not None else self.model

    @property
    def input_dtype(self) -> torch.dtype:
        """The model's precision, in which it reads its floating input batches."""
        return model_dtype(self.model)


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
    optimizer = make_optimizer(model, config)
    schedule = WarmupExponentialSchedule(optimizer, config, steps_per_epoch)
    use_scaler = amp_active(config.amp, device)
    if config.amp and not use_scaler:
        print(
            f"note: amp=True asks for mixed precision, which is used only on CUDA; {description} trains in "
            f"float32 on {device} (bfloat16 autocast on a CPU is 20-54x slower per step)"
        )
    if updates_one_tensor_at_a_time(optimizer, device):
        print(
            f"note: {type(optimizer).__module__}.{type(optimizer).__name__} has no multi-tensor path, so {description} "
            f"updates its parameters one tensor at a time on {device}, a step of launches per tensor; "
            "for RMSprop-TF install timm 1.0.31 or later (pip install -U 'timm>=1.0.31')"
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
        parameter_list=list(model.parameters()),
    )


def _resume(run: _Run) -> None:
    """Continue from the checkpoint at ``run.checkpoint_path``: the settings
    must match (:func:`check_resumed_config`) and so must the model; every state and
    random-number generator is restored, so the run goes on bit for bit."""
    path = run.checkpoint_path
    state = load_checkpoint(path)
    problems = entry_problems(state, CHECKPOINT_ENTRIES, non_negative=("epoch", "step_in_epoch", "train_images"))
    problems = problems or progress_problems(state, run.config.epochs, run.steps_per_epoch)
    if problems:
        raise UnreadableCheckpointError(
            f"{path} is a reuseprior training checkpoint whose entries are damaged ({'; '.join(problems)}) "
            "and cannot be resumed: start a fresh run (resume=False, or delete the file)"
        )
    check_resumed_config(state["config"], run.config, path)
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
        set_rng_state(state["rng"])
        run.trained_on = _trained_on(state)
    except (KeyError, TypeError, AttributeError, ValueError) as err:
        raise UnreadableCheckpointError(
            f"{path} is a reuseprior training checkpoint whose entries are damaged ({type(err).__name__}: {err}) "
            "and cannot be resumed: start a fresh run (resume=False, or delete the file)"
        ) from err
    run.history = state["history"]
    run.epoch, run.step_in_epoch = state["epoch"], state["step_in_epoch"]
    run.partial = state["partial"]
    run.train_time_s, run.train_images = state["train_time_s"], state["train_images"]
    run.resumed_from = run.epoch + run.step_in_epoch / run.steps_per_epoch


#: the machine credited with the epochs of a checkpoint written before checkpoints recorded their machines
MACHINE_NOT_RECORDED = "machine not recorded"


def _trained_on(state: dict[str, Any]) -> list[tuple[str, int]]:
    """A checkpoint's machines (:attr:`TrainResult.trained_on`); one written before checkpoints recorded
    them credits its epochs to :data:`MACHINE_NOT_RECORDED`."""
    if "trained_on" not in state:
        return [(MACHINE_NOT_RECORDED, 1)] if state["epoch"] > 0 else []
    return [(str(machine), int(first)) for machine, first in state["trained_on"]]


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
            "rng": rng_state(),
            "epoch": run.epoch,
            "step_in_epoch": run.step_in_epoch,
            "partial": dict(run.partial),
            "history": list(run.history),
            "train_time_s": run.train_time_s,
            "train_images": run.train_images,
            "trained_on": [list(entry) for entry in run.trained_on],
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
        trained_on=tuple(run.trained_on),
    )


def _evaluate_run(run: _Run, dataset: Dataset) -> tuple[float, float]:
    """:func:`evaluate` of the evaluated weights (:meth:`_Run.eval_model`)."""
    c = run.config
    return evaluate(
        run.eval_model(),
        dataset,
        run.device,
        run.eval_batch_size,
        c.amp,
        c.num_workers,
        on_device=run.device_copy(dataset),
    )


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
    """One optimisation step on a batch, added to the epoch's running sums
    (:class:`_DeviceSums`). ``run.consistent`` is False while the step is
    half-done; a non-finite loss raises ``FloatingPointError``, before the
    weights change where :func:`checks_each_step`, else when the epoch ends."""
    c, device = run.config, run.device
    images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
    run.consistent = False
    run.optimizer.zero_grad(set_to_none=True)
    with _autocast(device, c.amp):
        logits = run.model(match_input(images, run.input_dtype))
        loss = run.criterion(loss_precision(logits), labels)
    if checks_each_step(device) and not torch.isfinite(loss):
        raise FloatingPointError(
            f"training loss became {loss.item()} at epoch {epoch + 1}, step {run.step_in_epoch + 1}; "
            "lower lr_base or enable grad_clip"
        )
    run.scaler.scale(loss).backward()
    if c.grad_clip is not None:
        run.scaler.unscale_(run.optimizer)
        nn.utils.clip_grad_norm_(run.parameter_list, c.grad_clip)
    run.scaler.step(run.optimizer)
    run.scaler.update()
    run.schedule.step()
    if run.ema is not None:
        run.ema.update(run.model)
    run.step_in_epoch += 1
    run.sums.loss_sum += loss.detach().to(torch.float64) * labels.numel()
    run.sums.correct += (logits.argmax(1) == labels).sum()
    run.partial["count"] += labels.numel()
    run.consistent = True


def _close_sums(run: _Run, epoch: int) -> None:
    """Read the device sums back into ``run.partial`` (one synchronisation) and, where the loss is not
    checked each step, refuse a non-finite one."""
    if run.sums is None:
        return
    run.partial["loss_sum"] = run.sums.loss_sum.item()
    run.partial["correct"] = int(run.sums.correct.item())
    run.sums = None
    if not math.isfinite(run.partial["loss_sum"]):
        raise FloatingPointError(
            f"training loss became non-finite during epoch {epoch + 1} (checked at the epoch's end on "
            f"{run.device}); lower lr_base or enable grad_clip, and resume from the last checkpoint"
        )


def _epoch_batches(run: _Run, train_set: Dataset, epoch: int):
    """The remaining batches of epoch ``epoch`` in the order :class:`EpochSampler` gives for
    ``(seed, epoch)``: indexed on the device when the training set is held there, else a loader."""
    c = run.config
    sampler = EpochSampler(run.n_train, c.seed, epoch, start=run.step_in_epoch * c.batch_size)
    held = run.device_copy(train_set)
    if held is not None:
        return held.batches(sampler.order()[sampler.start :], c.batch_size, drop_last=True)
    return data_loader(
        train_set, c.batch_size, sampler, c, run.device, drop_last=True, generator_seed=c.seed * 1_000_003 + epoch
    )


def _train_epoch(
    run: _Run, train_set: Dataset, epoch: int, sigint: _SigintDeferral, progress: bool, on_step: StepCallback | None
) -> None:
    """The remaining steps of epoch ``epoch`` (from ``run.step_in_epoch``), in
    the order :class:`EpochSampler` gives for ``(seed, epoch)``; a requested
    Ctrl-C stops at the next batch boundary. The epoch's training time is
    added to ``run.partial``."""
    device = run.device
    run.model.train()
    batches = progress_bar(
        _epoch_batches(run, train_set, epoch),
        desc=f"epoch {epoch + 1}",
        unit="batch",
        leave=False,
        disable=not progress,
        total=run.steps_per_epoch - run.step_in_epoch,
    )
    run.sums = _DeviceSums.starting_from(run.partial, device)
    run.tick = time.perf_counter()
    for images, labels in batches:
        if sigint.requested:
            raise KeyboardInterrupt
        _train_step(run, images, labels, epoch)
        if on_step is not None:
            on_step(epoch, run.step_in_epoch)
        if run.step_in_epoch >= run.steps_per_epoch:
            break
    _close_sums(run, epoch)
    synchronize(device)
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
    _credit_epoch(run)


def _credit_epoch(run: _Run) -> None:
    """Credit the epoch just finished to this machine (:func:`device_description`) in ``run.trained_on``,
    whose entries name each machine that trained the run and the first epoch it finished: an epoch
    belongs to the machine that finishes it, and a checkpoint that moves between machines names each."""
    machine = device_description(run.device)
    if not run.trained_on or run.trained_on[-1][0] != machine:
        run.trained_on.append((machine, run.epoch))


def _checkpoint_interrupted(run: _Run) -> None:
    """After Ctrl-C: count the partial epoch's time and, at a batch boundary,
    checkpoint it so that it resumes exactly; in the middle of a step the last
    checkpoint (end of the previous epoch or batch) stays valid."""
    if run.tick is not None:
        run.partial["time_s"] += time.perf_counter() - run.tick
    if run.consistent:
        _close_sums(run, run.epoch)
        _write_checkpoint(run)


def _train_epochs(
    run: _Run,
    train_set: Dataset,
    val_set: Dataset,
    *,
    last_epoch: int,
    deadline: float | None,
    sigint: _SigintDeferral,
    progress: bool,
    description: str,
    on_step: StepCallback | None,
) -> None:
    """Epochs ``run.epoch`` to ``last_epoch`` of :func:`fit`, each evaluated on ``val_set`` and
    checkpointed; none is started past ``deadline``."""
    epochs = progress_bar(
        range(run.epoch, last_epoch),
        desc=description,
        unit="epoch",
        disable=not progress,
        initial=run.epoch,
        total=run.config.epochs,
    )
    for e in epochs:
        if deadline is not None and time.time() > deadline:
            break
        _train_epoch(run, train_set, e, sigint, progress, on_step)
        if sigint.requested:
            raise KeyboardInterrupt
        _finish_epoch(run, val_set, e)
        _write_checkpoint(run)
        last = run.history[-1]
        epochs.set_postfix(train_loss=f"{last['train_loss']:.3f}", val_top1=f"{last['val_top1']:.1f}")


def fit(
    model: nn.Module,
    train_set: Dataset,
    val_set: Dataset,
    config: TrainConfig,
    *,
    device: torch.device | str = "cpu",
    test_set: Dataset | None = None,
    fit_set: Dataset | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    resume: bool = True,
    progress: bool = True,
    on_step: StepCallback | None = None,
    description: str = "train",
    stop_after_epoch: int | None = None,
    deadline: float | None = None,
) -> TrainResult:
    """Train ``model`` for ``config.epochs`` epochs (thesis section 4.5.4 recipe).

    ``stop_after_epoch=k`` trains only the first ``k`` epochs of that schedule
    (the learning rate as in the full run; status ``"stopped"``, no test-set
    evaluation): a live check of a stored run's early epochs. ``deadline`` (a
    :func:`time.time`) stops the run the same way at the first epoch boundary
    past it, its checkpoint written, so that a later call resumes it.

    ``fit_set`` (the training images without augmentation) is evaluated once
    a run completes, in eval mode with the evaluated weights
    (``train_top1_eval``): how well the model fits its training images, which
    the running training top-1 of the history (train mode: dropout, stochastic
    depth, weights that move during the epoch) understates.

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
    with _SigintDeferral() as sigint, cudnn_autotune(device):
        try:
            if not run.history:  # epoch 0: the untrained model
                _record_untrained(run, val_set)
            last_epoch = config.epochs if stop_after_epoch is None else min(config.epochs, stop_after_epoch)
            _train_epochs(
                run,
                train_set,
                val_set,
                last_epoch=last_epoch,
                deadline=deadline,
                sigint=sigint,
                progress=progress,
                description=description,
                on_step=on_step,
            )
        except KeyboardInterrupt:
            _checkpoint_interrupted(run)
            raise TrainingInterrupted(_result(run, "interrupted")) from None

    if run.epoch < config.epochs:
        return _result(run, "stopped")
    return _completed(run, test_set, fit_set)


def _completed(run: _Run, test_set: Dataset | None, fit_set: Dataset | None) -> TrainResult:
    """The result of a completed run, with its test-set and fit-set evaluations (:func:`fit`)."""
    out = _result(run, "completed")
    if test_set is not None:
        out.test_loss, out.test_top1 = _evaluate_run(run, test_set)
    if fit_set is not None:
        _, out.train_top1_eval = _evaluate_run(run, fit_set)
    return out


def config_from_mapping(values: dict[str, Any]) -> TrainConfig:
    """A :class:`TrainConfig` from a mapping, ignoring keys it does not know."""
    names = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in values.items() if k in names})
