"""The arguments of ``python -m reuseprior search-nb201`` (:mod:`reuseprior.commands.search_nb201` runs it).

Policy: this module imports nothing heavy (no torch, pandas or chapter module), so that ``--help`` and
an argument error answer at once; the names and defaults it repeats from the library are checked against
it by ``tests/test_cli_messages.py``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from reuseprior.commands.argtypes import check_only_flag, positive_int
from reuseprior.core import paths

#: the key columns of a run of :func:`reuseprior.zoo.search.search_study` (besides ``plan``)
KEY_COLUMNS = ("protocol", "label", "score")
#: :data:`reuseprior.zoo.search.STORED_RUNS`
STORED_RUNS = paths.DATA_DIR / "nb201_search_runs.csv"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("run", "status"), help="run the pending runs, or show what is stored")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="COLUMN=VALUE",
        help=f"only runs whose key column ({', '.join(KEY_COLUMNS)}) has this value, e.g. protocol=naswot "
        "(repeatable; values of one column are alternatives; 'run' only)",
    )
    parser.add_argument("--max-runs", type=positive_int, default=None, help="store at most this many new runs")
    parser.add_argument(
        "--store", type=Path, default=None, help=f"the runs CSV (default: {STORED_RUNS.relative_to(paths.ROOT)})"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--only`` as ``study`` checks it (:func:`~reuseprior.commands.argtypes.check_only_flag`: COLUMN=VALUE,
    refused beside ``status``), of a key column: exit 2. Its values are checked against the runs when the
    command runs (:func:`~reuseprior.commands.argtypes.only_problem`)."""
    check_only_flag(parser, args, verb="searches")
    for item in args.only:
        column, sep, _ = item.partition("=")
        if not sep or column not in KEY_COLUMNS:
            parser.error(f"--only takes protocol=..., label=... or score=..., got {item!r}")
