"""The two settings every run takes first: its seed and its device.

:func:`set_seed` seeds Python, NumPy and PyTorch from one integer; :func:`resolve_device` turns a
device name (``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` or ``"auto"``, CUDA when present) into a
:class:`torch.device` that exists on this machine. Both refuse a bad value with
:class:`~reuseprior.core.errors.RunSettingError`, whose message names the value and what is accepted;
a caller with its own way of spelling the setting (a notebook's papermill flag, a command's flag)
adds it.
"""

from __future__ import annotations

import random

import numpy as np
import torch

from reuseprior.core.errors import RunSettingError

__all__ = ["DEVICE_CHOICES", "full_float32", "resolve_device", "set_seed"]

#: the device names :func:`resolve_device` accepts, as its messages spell them
DEVICE_CHOICES = '"cpu", "cuda", "cuda:N", "mps" or "auto"'


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) from one non-negative integer."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise RunSettingError("seed", seed, "a non-negative integer")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def resolve_device(device: str | torch.device) -> torch.device:
    """The device ``device`` names: ``"auto"`` picks CUDA when present; asking for CUDA on a machine
    without it is refused, never silently replaced by the CPU."""
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise RunSettingError("device", device, DEVICE_CHOICES)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise RunSettingError("device", device, DEVICE_CHOICES) from None
    if resolved.type not in {"cpu", "cuda", "mps"}:
        raise RunSettingError("device", device, DEVICE_CHOICES)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RunSettingError(
            "device",
            device,
            '"cpu" or "auto": PyTorch sees no CUDA GPU on this machine (or run on a machine with a GPU and a '
            "CUDA build of torch)",
        )
    return resolved


def full_float32(device: str | torch.device) -> None:
    """Float32 arithmetic on ``device`` as the CPU computes it: on CUDA, TensorFloat-32 (10-bit
    mantissas in matrix products and cuDNN convolutions, cuDNN's default) turned off for this process,
    so that a score computed there differs from the CPU's by float32 rounding only; nothing elsewhere."""
    if torch.device(device).type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
