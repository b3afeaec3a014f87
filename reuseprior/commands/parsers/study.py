"""The arguments of ``python -m reuseprior study NAME ACTION`` and ``study --list [PATTERN]``
(:mod:`reuseprior.commands.study` runs it).

Policy: this module imports nothing heavy (no torch, pandas or chapter module), so that ``--help``, a
malformed flag, ``--list`` and a misspelt study answer at once. It knows no study: the names, what each
is, its actions, the flags it takes and its profiles are its declaration's (the study registry,
:func:`reuseprior.chapters.get_study`). ``--list`` (:func:`answer`) and an unknown name (refused with the
closest names, :func:`check_arguments`) are answered from the registry's records
(:mod:`reuseprior.commands.listings`: its stored snapshot, held to the live registry by a test); the rest
is checked once the command has imported the declarations
(:func:`reuseprior.commands.study.check_run_arguments`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from reuseprior.commands import listings
from reuseprior.commands.argtypes import (
    add_oversubscribe_flag,
    check_cluster_flags,
    check_only_flag,
    device_name,
    positive_float,
    positive_int,
)

#: the flags that shape the Dask cluster, which only ``run`` starts (with the value each is unset at)
CLUSTER_FLAGS: dict[str, Any] = {
    "workers": None,
    "scheduler": None,
    "max_memory_gb": None,
    "dashboard": False,
    "allow_oversubscribe": False,
}
#: the flags a study may or may not read, with their defaults (a flag differing from its default was given)
DEFAULTS: dict[str, Any] = {
    "store": None,
    "profile": None,
    "device": None,
    "threads": 1,
    "data_dir": None,
    "download": False,
    "max_minutes": None,
    "work_dir": None,
}
#: the part of a request (:data:`reuseprior.core.declared_study.REQUEST_PARTS`) each of those flags gives
REQUEST_PART = {**{flag: flag for flag in DEFAULTS}, "max_minutes": "deadline"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "name", nargs="?", metavar="NAME", help="the study (every declared one: python -m reuseprior study --list)"
    )
    parser.add_argument(
        "action",
        nargs="?",
        metavar="ACTION",
        help="every study: run (train and store the runs not stored yet, resumable), status (stored and pending "
        "runs, the runs' criteria); floor and check where the study declares a linear floor or a live check, and "
        "its own actions (python -m reuseprior study --list shows each study's)",
    )
    parser.add_argument(
        "--list",
        nargs="?",
        const="*",
        default=None,
        metavar="PATTERN",
        help="print every declared study (those matching the shell wildcard PATTERN), what it is, its actions "
        "and profiles, and exit",
    )
    parser.add_argument("--seeds", type=int, nargs="+", help="only these seeds (of the study's)")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="COLUMN=VALUE",
        help="only runs whose key column has this value, e.g. dataset=mnist, mode=evolve, model=V2-B0-shared, "
        "config=scope, arm=pg (repeatable; values of one column are alternatives)",
    )
    parser.add_argument("--max-runs", type=positive_int, default=None, help="store at most this many new runs")
    checked = parser.add_mutually_exclusive_group()
    checked.add_argument(
        "--runs",
        type=positive_int,
        default=None,
        metavar="N",
        help="'check' recomputes N stored runs: the one it always checks and a seeded sample of the others "
        "(default: 3)",
    )
    checked.add_argument("--all", action="store_true", help="'check' recomputes every stored run it can check")
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        help="LocalCluster workers of 'run' (default: 1/core; more than the cores, or than the memory holds at "
        "--max-memory-gb each, is refused without --allow-oversubscribe)",
    )
    parser.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler (instead)")
    parser.add_argument("--max-memory-gb", type=positive_float, default=None, help="memory limit per worker (GiB)")
    add_oversubscribe_flag(parser)
    parser.add_argument(
        "--dashboard",
        action="store_true",
        help="serve the LocalCluster's Dask dashboard on 127.0.0.1 (default: off; never on other interfaces)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--store", type=Path, default=None, help="the runs CSV (default: the study's in data/)")
    parser.add_argument(
        "--profile",
        default=None,
        help="which of the study's profiles (study --list names them; default: its first)",
    )
    parser.add_argument(
        "--device",
        type=device_name,
        default=None,
        help='"cpu", "cuda", "cuda:N", "mps" or "auto" (default: the device of the study\'s profile for run, '
        "else cpu; a CUDA profile where there is none is refused with the estimated hours: --device cpu trains on "
        "the CPU anyway)",
    )
    parser.add_argument("--threads", type=positive_int, default=1, help="PyTorch threads per run (default: 1)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="datasets folder (default: $REUSEPRIOR_DATASETS_DIR, else build/datasets)",
    )
    parser.add_argument("--download", action="store_true", help="let torchvision download a missing dataset")
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="where unfinished runs keep their checkpoints (default: the study's, under build/)",
    )
    parser.add_argument(
        "--max-minutes",
        type=positive_float,
        default=None,
        help="stop runs after this long (between generations, at an epoch boundary: the study's), resumed later",
    )


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """What no study takes: ``--list`` with a study, a study without an action, an unknown study (with the
    closest names), a malformed ``--only``, flags an action does not take: exit 2. What a study takes is
    checked against its declaration (:func:`reuseprior.commands.study.check_run_arguments`)."""
    if args.list is not None:
        if args.name is not None:
            parser.error("--list prints every study: give it alone (a PATTERN such as 'table42-*' after it)")
        return
    if args.name is None or args.action is None:
        parser.error("give a study and an action (python -m reuseprior study NAME ACTION), or --list")
    unknown = listings.unknown_names("studies", [args.name], "study")
    if unknown:
        parser.error(unknown)
    check_only_flag(parser, args)
    if args.seeds and args.action not in ("run", "floor"):
        parser.error(f"--seeds selects what 'run' trains and 'floor' stores; '{args.action}' does not take it")
    if (args.runs is not None or args.all) and args.action != "check":
        flag = "--all" if args.all else "--runs"
        parser.error(f"{flag} says how many stored runs 'check' recomputes; '{args.action}' does not take it")
    cluster = [k for k, unset in CLUSTER_FLAGS.items() if getattr(args, k) != unset]
    if cluster and args.action != "run":
        flags = ", ".join("--" + k.replace("_", "-") for k in cluster)
        parser.error(f"{flags}: only 'run' starts a Dask cluster; '{args.action}' does not take them")
    check_cluster_flags(parser, args)


def answer(args: argparse.Namespace) -> int | None:
    """``--list [PATTERN]``: every study matching it, from the registry's records
    (:func:`reuseprior.commands.listings.study_listing`); anything else runs the command (None)."""
    if args.list is None:
        return None
    print(listings.study_listing(args.list))
    return 0
