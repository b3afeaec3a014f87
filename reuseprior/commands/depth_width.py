"""``python -m reuseprior depth-width``: recompute thesis Tables 5.1-5.4
(section 5.2) with the counting engine, compare them with the printed values,
and (``--store``) rewrite the stored full run the quick profile of the
chapter 5 notebook reads its deep rows from.

Policy of ``--store`` (about half an hour of counting): every row is kept as
soon as it is computed, atomically, in :data:`PARTIAL_RUN` (the stored run's
format, under ``build/``), and a run of ``--store`` skips the rows kept there,
so Ctrl-C or SIGTERM loses at most the row in progress and the same command
continues. Only when every row of every table is in, the stored run
(:data:`reuseprior.chapters.ch5_depth_width.STORED_RUN`) is replaced, atomically
and with the content a run without an interruption writes, and the partial
file is deleted: the notebook never reads a half-finished run. Delete the
partial file to count every row afresh (after a change of the engine).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from reuseprior.chapters import ch5_depth_width as dw
from reuseprior.commands import Interrupted
from reuseprior.commands.parsers.depth_width import add_arguments, check_arguments
from reuseprior.core import paths
from reuseprior.core.errors import CommandInputError
from reuseprior.core.interrupts import sigterm_as_interrupt
from reuseprior.core.progress import progress_bar

__all__ = ["PARTIAL_RUN", "add_arguments", "check_arguments", "check_run_arguments", "run"]

#: the rows of an unfinished ``--store`` run (the format of the stored run; deleted once it is complete)
PARTIAL_RUN = paths.BUILD_DIR / "depth_width" / "ch5_depth_width_tables.partial.csv"


def check_run_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Every asked-for table must keep a row under ``--max-depth`` (the library knows the rows)."""
    for name in args.table or sorted(dw.TABLES):  # before computing anything: every asked-for table must keep a row
        try:
            dw.table_configs(name, args.max_depth)
        except ValueError as err:
            parser.error(f"{err}; raise --max-depth or leave out --table {name}")


def _row_key(config: dw.DepthWidthConfig) -> tuple[int, int, bool]:
    return int(config.width), int(config.depth), bool(config.shared)


def _kept_rows(name: str, partial: Path) -> dict[tuple[int, int, bool], dict]:
    """The rows of table ``name`` an interrupted ``--store`` run kept in ``partial``, by (width, depth, shared)."""
    if not partial.exists():
        return {}
    try:
        kept = dw.load_stored_run(name, partial)
    except (ValueError, KeyError) as err:  # not what this command writes there (pandas' errors are ValueErrors)
        raise CommandInputError(
            f"{partial} (the rows of an interrupted depth-width --store) cannot be read ({type(err).__name__}: "
            f"{err}); delete it to count every row afresh"
        ) from None
    label = dw.TABLE_KEYS[name][0]
    return {(int(r[label]), int(r["Depth"]), bool(r["Shared"])): r for r in kept.to_dict("records")}


def _store_rows(partial: Path, stored: Path) -> dict[str, pd.DataFrame]:
    """Count every row of every table, keeping each in ``partial`` as it is done and skipping those kept
    there, and print each table beside the thesis's; then replace ``stored`` by the whole run and delete
    ``partial``. Returns the tables."""
    done: dict[str, list[dict]] = {}
    for name in sorted(dw.TABLES):
        kept = _kept_rows(name, partial)
        configs = dw.table_configs(name)
        rows = done.setdefault(name, [])
        todo = sum(_row_key(c) not in kept for c in configs)
        if todo < len(configs):
            print(f"{name}: {len(configs) - todo} rows kept in {partial}, {todo} to count")
        for config in progress_bar(configs, desc=name):
            if _row_key(config) in kept:
                rows.append(kept[_row_key(config)])
                continue
            rows.append(dw.analyze_config(config))
            dw.save_stored_run(_frames(done), partial)  # written whole, atomically: old rows or old + this one
        print(_summary(name, _frames(done)[name]))
    tables = _frames(done)
    dw.save_stored_run(tables, stored)
    partial.unlink(missing_ok=True)
    return tables


def _frames(rows: dict[str, list[dict]]) -> dict[str, pd.DataFrame]:
    return {name: pd.DataFrame(table) for name, table in rows.items() if table}


def _summary(name: str, table: pd.DataFrame) -> str:
    summary = dw.match_summary(dw.compare_table(table, name))
    return f"{name}: {len(table)} rows computed\n{summary.to_string()}\n"


def run(args: argparse.Namespace) -> int:
    """Print each table beside the thesis's; with ``--store`` count them resumably (module docstring)."""
    if not args.store:
        for name in args.table or sorted(dw.TABLES):
            print(_summary(name, dw.run_table(name, max_depth=args.max_depth)))
        return 0
    try:
        with sigterm_as_interrupt():
            _store_rows(PARTIAL_RUN, dw.STORED_RUN)
    except KeyboardInterrupt:
        kept = f"the rows counted so far are kept in {PARTIAL_RUN}" if PARTIAL_RUN.exists() else "no row was done"
        raise Interrupted(
            f"{kept}; {dw.STORED_RUN} is unchanged: run the same command to count the rest and store the run"
        ) from None
    print(f"wrote {dw.STORED_RUN}")
    return 0
