"""Argument types of the command line (``type=`` of argparse flags): each
rejects a bad value with a message argparse prints next to the flag; and the
checks of flags that several commands share (:func:`check_cluster_flags`)."""

from __future__ import annotations

import argparse
import math
import os
import re
from pathlib import Path

__all__ = [
    "check_cluster_flags",
    "device_name",
    "non_negative_int",
    "output_file",
    "png_file",
    "positive_float",
    "positive_int",
]

#: the devices a command trains on (whether CUDA is present is checked when the command runs)
DEVICE_NAMES = re.compile(r"(cpu|mps|cuda)(:\d+)?|auto")


def positive_float(text: str) -> float:
    """``type=`` of a flag that takes a finite number > 0 (argparse prints the message)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """``type=`` of a flag that takes an integer >= 1 (argparse prints the message)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """``type=`` of a flag that takes an integer >= 0 (argparse prints the message)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def output_file(text: str) -> Path:
    """``type=`` of a flag naming a file the command writes, checked before any work: refused when it
    names a folder, when a part of its folder is a file, or when the folder it would be made in cannot
    be written (missing folders are made when the file is written)."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; name a file in it, e.g. {path / 'out.csv'}")
    folder = path.absolute().parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: no permission to write in {folder}")
    return path


def png_file(text: str) -> Path:
    """``type=`` of a flag naming a PNG the command writes: :func:`output_file` ending in ``.png``."""
    path = output_file(text)
    if path.suffix.lower() != ".png":
        raise argparse.ArgumentTypeError(f"{text!r}: the figure is written as PNG; name a .png file")
    return path


def device_name(text: str) -> str:
    """``type=`` of ``--device``: ``cpu``, ``cuda``, ``mps`` (each with an optional ``:N``) or ``auto``
    (CUDA when present)."""
    if not DEVICE_NAMES.fullmatch(text):
        raise argparse.ArgumentTypeError(f'must be "cpu", "cuda", "cuda:N", "mps" or "auto", got {text!r}')
    return text


def check_cluster_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--workers`` and ``--max-memory-gb`` (where a command has them) shape the LocalCluster a command
    starts, so they are refused beside ``--scheduler``, an existing cluster (exit 2)."""
    given = [
        f"--{flag.replace('_', '-')}" for flag in ("workers", "max_memory_gb") if getattr(args, flag, None) is not None
    ]
    if args.scheduler is not None and given:
        parser.error(
            f"{' and '.join(given)} {'shapes' if len(given) == 1 else 'shape'} the LocalCluster started here; "
            "an existing cluster (--scheduler) has "
            "its own (dask worker --nworkers N --memory-limit 16GiB)"
        )
