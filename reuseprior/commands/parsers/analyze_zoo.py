"""The arguments of ``python -m reuseprior analyze-torchvision`` (:mod:`reuseprior.commands.analyze_zoo` runs it).

Policy: this module imports nothing heavy (no torch, pandas or chapter module), so that ``--help`` and
an argument error answer at once; the names and defaults it repeats from the library are checked against
it by ``tests/test_cli_messages.py``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from reuseprior.commands.argtypes import add_oversubscribe_flag, check_cluster_flags, output_file, positive_int
from reuseprior.core import paths

#: :data:`reuseprior.zoo.torchvision_analysis.DEFAULT_OUT`
DEFAULT_OUT = paths.DATA_DIR / "torchvision_zoo_analysis.csv"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        type=output_file,
        default=DEFAULT_OUT,
        help="the CSV of the rows (default: data/torchvision_zoo_analysis.csv)",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        metavar="NAME",
        help="only these torchvision classifiers, one name or more (leave the flag out for all of them)",
    )
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads per task (default 1)")
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
    add_oversubscribe_flag(parser)
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS", help="an existing Dask cluster instead")


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--workers`` shapes a LocalCluster, so it is refused beside ``--scheduler``."""
    check_cluster_flags(parser, args)
