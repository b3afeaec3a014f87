"""``python -m reuseprior depth-width``: recompute thesis Tables 5.1-5.4
(section 5.2) with the counting engine, compare them with the printed values,
and (``--store``) rewrite the stored full run the quick profile of the
chapter 5 notebook reads its deep rows from."""

from __future__ import annotations

import argparse

from reuseprior.chapters import ch5_depth_width as dw
from reuseprior.commands.parsers.depth_width import add_arguments, check_arguments

__all__ = ["add_arguments", "check_arguments", "check_run_arguments", "run"]


def check_run_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Every asked-for table must keep a row under ``--max-depth`` (the library knows the rows)."""
    for name in args.table or sorted(dw.TABLES):  # before computing anything: every asked-for table must keep a row
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
