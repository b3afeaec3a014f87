"""The arguments of ``python -m reuseprior depth-width`` (:mod:`reuseprior.commands.depth_width` runs it).

Policy: this module imports nothing heavy (no torch, pandas or chapter module), so that ``--help`` and
an argument error answer at once; the names and defaults it repeats from the library are checked against
it by ``tests/test_cli_messages.py``.
"""

from __future__ import annotations

import argparse

from reuseprior.commands.argtypes import positive_int
from reuseprior.core import paths

#: the tables of :data:`reuseprior.chapters.ch5_depth_width.TABLES`
TABLES = ("table_5_1", "table_5_2", "table_5_3", "table_5_4")
#: :data:`reuseprior.chapters.ch5_depth_width.STORED_RUN`
STORED_RUN = paths.DATA_DIR / "computed" / "ch5_depth_width_tables.csv"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--table", choices=TABLES, action="append", help="table to compute (repeatable; default: all four)"
    )
    parser.add_argument(
        "--max-depth", type=positive_int, default=None, help="skip rows deeper than this (default: none)"
    )
    parser.add_argument(
        "--store",
        action="store_true",
        help=f"rewrite the stored full run {STORED_RUN.relative_to(paths.ROOT)} (needs all tables, no --max-depth; "
        "resumable: each row is kept under build/ as it is done, and an interrupted run continues)",
    )


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--store`` replaces the stored run: it needs every table (the set of ``--table``, however often
    each is given) and every row."""
    missing = sorted(set(TABLES) - set(args.table or TABLES))
    if args.store and (args.max_depth is not None or missing):
        left_out = f" (left out: --table {', --table '.join(missing)})" if missing else ""
        parser.error(
            f"--store needs every table and no --max-depth (it replaces the stored full run){left_out}; "
            "leave out --table and --max-depth"
        )
