"""The arguments of ``python -m reuseprior revolver-study`` (:mod:`reuseprior.commands.revolver_study` runs it).

Policy: this module imports nothing heavy (no torch, pandas or chapter module), so that ``--help`` and
an argument error answer at once; the names and defaults it repeats from the library are checked against
it by ``tests/test_cli_messages.py``.
"""

from __future__ import annotations

import argparse

from reuseprior.commands.argtypes import positive_int

#: ``datasets`` and ``modes`` of :data:`reuseprior.chapters.ch3_population_study.CPU_STUDY`
DATASETS = ("mnist", "fashion-mnist")
MODES = ("random", "evolve")


ACTIONS = ("run", "status")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=ACTIONS, help="what to do (see the module help)")
    parser.add_argument("--dataset", choices=DATASETS, action="append", help="only this dataset (repeatable)")
    parser.add_argument("--mode", choices=MODES, action="append", help="only this mode (repeatable)")
    parser.add_argument("--seeds", type=int, nargs="+", help="only these seeds (of the study's)")
    parser.add_argument("--max-runs", type=positive_int, default=None, help="stop after this many stored runs")
    parser.add_argument(
        "--max-minutes", type=float, default=None, help="stop between generations after this many minutes"
    )
    parser.add_argument("--data-dir", default=None, help="datasets folder (default: build/datasets)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
