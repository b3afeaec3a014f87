"""``python -m reuseprior depth-width``: recompute thesis Tables 5.1-5.4
(section 5.2) with the counting engine, compare them with the printed values,
and (``--store``) rewrite the stored full run the quick profile of the
chapter 5 notebook reads its deep rows from."""

from __future__ import annotations

import argparse

from reuseprior.chapters import ch5_depth_width as dw
from reuseprior.commands.argtypes import positive_int
from reuseprior.core import paths

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--table", choices=sorted(dw.TABLES), action="append", help="table to compute (repeatable; default: all four)"
    )
    parser.add_argument(
        "--max-depth", type=positive_int, default=None, help="skip rows deeper than this (default: none)"
    )
    parser.add_argument(
        "--store",
        action="store_true",
        help=f"rewrite the stored full run {dw.STORED_RUN.relative_to(paths.ROOT)} (needs all tables, no --max-depth)",
    )


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--store`` replaces the stored run: it needs every table and every row."""
    names = args.table or sorted(dw.TABLES)
    if args.store and (args.max_depth is not None or len(names) != len(dw.TABLES)):
        parser.error("--store needs every table and no --max-depth (it replaces the stored full run)")
    for name in names:  # before computing anything: every asked-for table must keep a row
        try:
            dw.table_configs(name, args.max_depth)
        except ValueError as err:
            parser.error(f"{err}; raise --max-depth or leave out --table {name}")


def run(args: argparse.Namespace) -> int:
    tables = {}
    for name in args.table or sorted(dw.TABLES):
        tables[name] = dw.run_table(name, max_depth=args.max_depth)
        summary = dw.match_summary(dw.compare_table(tables[name], name))
        print(f"{name}: {len(tables[name])} rows computed\n{summary.to_string()}\n")
    if args.store:
        dw.save_stored_run(tables)
        print(f"wrote {dw.STORED_RUN}")
    return 0
