"""Argument types of the command line (``type=`` of argparse flags): each
rejects a bad value with a message argparse prints next to the flag; and the
checks of flags that several commands share (:func:`check_cluster_flags`, and
``--only COLUMN=VALUE`` of ``study``: :func:`check_only_flag`
when the arguments parse, :func:`only_problem` once the runs are known)."""

from __future__ import annotations

import argparse
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from reuseprior.core.memory import oversubscription

__all__ = [
    "add_oversubscribe_flag",
    "check_cluster_flags",
    "check_only_flag",
    "device_name",
    "non_negative_int",
    "only_problem",
    "only_values",
    "output_file",
    "png_file",
    "positive_float",
    "positive_int",
    "write_problem",
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


def write_problem(path: Path, *, folder: bool = False) -> str | None:
    """Why the command cannot write the file ``path`` (``folder``: the folder ``path``, or files in it),
    or None: a file that names a folder (or a folder that names a file), a part of its folder that is a
    file, or a folder it would be made in that cannot be written (missing folders are made when it is
    written)."""
    text = str(path)
    if path.is_dir() and not folder:
        return f"{text!r} is a folder; name a file in it, e.g. {path / 'out.csv'}"
    if path.exists() and not path.is_dir() and folder:
        return f"cannot write in {text!r}: it is a file, not a folder"
    parent = path.absolute() if folder else path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"cannot write {text!r}: {parent} is a file, not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot write {text!r}: no permission to write in {parent}"
    return None


def output_file(text: str) -> Path:
    """``type=`` of a flag naming a file the command writes, checked before any work (:func:`write_problem`)."""
    problem = write_problem(Path(text))
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return Path(text)


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


def add_oversubscribe_flag(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--allow-oversubscribe``, beside a command's ``--workers`` (:func:`check_cluster_flags` reads it)."""
    parser.add_argument(
        "--allow-oversubscribe",
        action="store_true",
        help="start the --workers asked for even beyond the cores, or the memory at --max-memory-gb each",
    )


def check_cluster_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--workers`` and ``--max-memory-gb`` (where a command has them) shape the LocalCluster a command
    starts, so they are refused beside ``--scheduler``, an existing cluster; and more workers than the
    machine's cores, or than its memory holds at ``--max-memory-gb`` each
    (:func:`reuseprior.core.memory.oversubscription`), are refused with the numbers unless
    ``--allow-oversubscribe`` asks for them (exit 2)."""
    given = [
        f"--{flag.replace('_', '-')}" for flag in ("workers", "max_memory_gb") if getattr(args, flag, None) is not None
    ]
    if args.scheduler is not None and given:
        parser.error(
            f"{' and '.join(given)} {'shapes' if len(given) == 1 else 'shape'} the LocalCluster started here; "
            "an existing cluster (--scheduler) has "
            "its own (dask worker --nworkers N --memory-limit 16GiB)"
        )
    workers = getattr(args, "workers", None)
    too_many = oversubscription(workers, getattr(args, "max_memory_gb", None)) if workers else None
    if too_many and not getattr(args, "allow_oversubscribe", False):
        parser.error(f"--workers {workers}: {too_many}; give fewer, or --allow-oversubscribe to start them anyway")


def only_values(items: Sequence[str]) -> dict[str, set[str]]:
    """``--only COLUMN=VALUE ...`` (checked by :func:`check_only_flag`) as the values each column may take."""
    only: dict[str, set[str]] = {}
    for item in items:
        column, _, value = item.partition("=")
        only.setdefault(column, set()).add(value)
    return only


def check_only_flag(parser: argparse.ArgumentParser, args: argparse.Namespace, *, verb: str = "trains") -> None:
    """``--only`` (``args.only``, a list) takes ``COLUMN=VALUE`` and selects the runs of the ``run`` action
    (``args.action``), which ``verb``; a malformed item, or ``--only`` beside another action, is refused
    rather than ignored (exit 2). Which columns and values there are is :func:`only_problem`'s."""
    bad = [item for item in args.only if "=" not in item]
    if bad:
        parser.error(f"--only takes COLUMN=VALUE, got {bad}")
    if args.only and args.action != "run":
        parser.error(f"--only selects the runs that 'run' {verb}; '{args.action}' does not take it")


def only_problem(runs: Iterable[Mapping[str, Any]], only: Mapping[str, set[str]]) -> str | None:
    """Why ``only`` (:func:`only_values`) selects nothing that it names, or None: a value of a column that no
    run has, with the values there are (a column no run has is the caller's to name)."""
    runs = list(runs)
    for column, values in only.items():
        known = sorted({str(run[column]) for run in runs if column in run})
        unknown = sorted(values - set(known))
        if known and unknown:
            return f"--only {column}={unknown[0]} matches no run; the {column} values: {known}"
    return None
