"""The arguments of ``python -m reuseprior train-study`` (:mod:`reuseprior.commands.train_study` runs it).

Policy: this module imports nothing heavy (no torch, pandas or chapter module), so that ``--help`` and
an argument error answer at once; the names and defaults it repeats from the library are checked against
it by ``tests/test_cli_messages.py``.
"""

from __future__ import annotations

import argparse

from reuseprior.commands.argtypes import positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("run", "slice", "status"), help="what to do (see the module help)")
    parser.add_argument("--max-runs", type=positive_int, default=None, help="stop after this many stored runs")
    parser.add_argument("--seeds", type=int, nargs="+", help="only these seeds (of the study's)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
