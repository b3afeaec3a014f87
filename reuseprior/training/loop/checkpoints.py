"""The data order of an epoch, interruption, random-number state and checkpoints (read and checked)."""

from __future__ import annotations

import math
import os
import random
from dataclasses import fields
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from reuseprior.core.errors import CheckpointMismatchError, UnreadableCheckpointError
from reuseprior.core.files import atomic_write
from reuseprior.core.torch_files import load_weights_only
from reuseprior.training.loop.config import CHECKPOINT_FORMAT, TrainConfig, TrainResult


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


def data_loader(
    dataset: Dataset,
    batch_size: int,
    sampler: Sampler | None,
    config: TrainConfig,
    device: torch.device,
    *,
    drop_last: bool,
    generator_seed: int,
) -> DataLoader:
    """The loader ``fit`` draws batches from: ``sampler``'s order (None: the dataset's), ``config``'s
    workers, pinned memory on CUDA, and its own generator seeded by ``generator_seed`` (workers' random
    augmentations repeat on a resumed run)."""
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


def rng_state() -> dict[str, Any]:
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


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the Python, NumPy, torch (and CUDA) generators from :func:`rng_state`'s ``state``."""
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
    """The checkpoint dictionary at ``path`` (on the CPU), for checkpoints that are resumed from
    (training here, Revolver populations): :func:`reuseprior.core.torch_files.load_weights_only`, whose
    policy it follows (a pickled object refused unread, as an older reuseprior checkpoint's), and
    :class:`UnreadableCheckpointError` too when the file holds no dictionary. A missing file raises
    ``FileNotFoundError`` as usual."""
    fresh = "start a fresh run: delete the file or choose another checkpoint path"
    older = (
        f"a checkpoint of an older reuseprior (training checkpoints before format {CHECKPOINT_FORMAT} pickled "
        "NumPy's random state) or a file from elsewhere"
    )
    state = load_weights_only(path, what, fresh, older)
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
CHECKPOINT_ENTRIES: dict[str, type | tuple[type, ...]] = {
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


def progress_problems(state: dict[str, Any], epochs: int, steps_per_epoch: int) -> list[str]:
    """What makes a training checkpoint's progress impossible for a run of ``epochs`` epochs of
    ``steps_per_epoch`` steps (empty: none). Policy: a checkpoint is checked against the run it resumes
    and against its own history before anything of it is used: its ``epoch`` within ``epochs``, its step
    within an epoch, its history one row per finished epoch after the untrained model's (``history[0]``),
    and its totals finite; a checkpoint that fails is refused, so no result is stored from it."""
    problems = []
    epoch, step, history = state["epoch"], state["step_in_epoch"], state["history"]
    if epoch > epochs:
        problems.append(f"epoch {epoch} is beyond the run's {epochs} epochs")
    if step >= steps_per_epoch:
        problems.append(f"step_in_epoch {step} is not within an epoch of {steps_per_epoch} steps")
    if history and len(history) != epoch + 1:
        problems.append(f"its history has {len(history)} rows where epoch {epoch} has {epoch + 1}")
    if not math.isfinite(state["train_time_s"]):
        problems.append(f"train_time_s is {state['train_time_s']}")
    return problems


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


def check_resumed_config(saved: dict[str, Any], config: TrainConfig, path: Path) -> None:
    """Refuse to resume the checkpoint at ``path`` (:class:`CheckpointMismatchError`, naming every
    difference) when its ``saved`` configuration differs from ``config`` in a setting a resumed run may
    not change (every one but ``_RESUMABLE_CHANGES``)."""
    current = config.to_dict()
    # a setting that joined TrainConfig after the checkpoint was written had its default there
    default = {f.name: f.default for f in fields(TrainConfig)}
    diff = {
        k: (saved.get(k, default[k]), v)
        for k, v in current.items()
        if k not in _RESUMABLE_CHANGES and saved.get(k, default[k]) != v
    }
    if diff:
        lines = ", ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in sorted(diff.items()))
        raise CheckpointMismatchError(
            f"cannot resume from {path}: the training configuration changed ({lines}). "
            "Use the same settings, or start a fresh run with resume=False or another checkpoint path."
        )


# ---------------------------------------------------------------------- training
