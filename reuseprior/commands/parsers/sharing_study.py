"""The arguments of ``python -m reuseprior sharing-study`` (:mod:`reuseprior.commands.sharing_study` runs it).

Policy: this module imports nothing heavy (no torch, pandas or chapter module), so that ``--help`` and
an argument error answer at once; the names and defaults it repeats from the library are checked against
it by ``tests/test_cli_messages.py``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from reuseprior.commands.argtypes import positive_int
from reuseprior.core import paths

#: the names of :data:`reuseprior.chapters.ch7_sharing_schemes.PROFILES`
PROFILES = ("full", "paper", "quick")
#: :data:`reuseprior.chapters.ch7_sharing_schemes.STORED_RUNS`
STORED_RUNS = paths.DATA_DIR / "sharing_study_runs.csv"


ACTIONS = ("run", "status", "fill-scores", "rescore", "bookkeeping")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=ACTIONS, help="what to do (see the module help)")
    parser.add_argument("--profile", choices=PROFILES, default="quick", help="whose studies (default: quick)")
    parser.add_argument(
        "--runs-csv",
        type=Path,
        default=None,
        help=f"the runs file (default: {STORED_RUNS.relative_to(paths.ROOT)})",
    )
    parser.add_argument("--max-runs", type=positive_int, default=None, help="stop after this many new runs")
    parser.add_argument("--device", default="cpu", help='"cpu", "cuda" or "auto" (default: cpu)')
    parser.add_argument(
        "--threads", type=positive_int, default=1, help="PyTorch intra-op threads while training (default: 1)"
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="datasets folder (default: build/datasets)")
    parser.add_argument("--download", action="store_true", help="let torchvision download a missing dataset")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
