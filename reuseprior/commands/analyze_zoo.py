"""``python -m reuseprior analyze-torchvision``: analyse every torchvision classifier
at its evaluation crop (thesis section 4.5.1) into data/torchvision_zoo_analysis.csv.

One Dask task per model, each finished row committed to the store
(``build/zoo_scores.sqlite``) and the CSV exported when the run ends;
resumable (:mod:`reuseprior.zoo.torchvision_analysis`). Exit status 1 when a
model failed (listed in the sibling ``*_failures.csv``; the next run tries it
again).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from reuseprior.commands.argtypes import positive_int
from reuseprior.zoo.torchvision_analysis import DEFAULT_OUT, analyze_torchvision_zoo

__all__ = ["add_arguments", "check_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="the CSV of the rows (default: data/torchvision_zoo_analysis.csv)"
    )
    parser.add_argument("--models", nargs="*", help="subset of model names (default: all classifiers)")
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads per task")
    parser.add_argument(
        "--store",
        type=Path,
        default=None,
        help="the SQLite store of the rows (default: build/zoo_scores.sqlite for data/, else "
        "zoo_scores.sqlite beside --out)",
    )
    parser.add_argument(
        "--workers", type=positive_int, default=None, help="LocalCluster worker processes (default: one per core)"
    )
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS", help="an existing Dask cluster instead")


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--workers`` shapes a LocalCluster, so it is refused beside ``--scheduler``."""
    if args.scheduler is not None and args.workers is not None:
        parser.error("--workers shapes the LocalCluster started here; an existing cluster (--scheduler) has its own")


def run(args: argparse.Namespace) -> int:
    failures = analyze_torchvision_zoo(
        args.out,
        names=args.models,
        threads=args.threads,
        store=args.store,
        workers=args.workers,
        scheduler=args.scheduler,
    )
    return 1 if failures else 0
