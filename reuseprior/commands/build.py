"""``python -m reuseprior build``: execute the chapter notebooks with papermill
on a profile (the policy of what an executed notebook keeps is
:mod:`reuseprior.reporting.build`'s)."""

from __future__ import annotations

import argparse
from pathlib import Path

from reuseprior.commands.argtypes import positive_int
from reuseprior.reporting.build import build_notebooks, find_notebooks, parameter_value

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebooks", nargs="*", help="glob(s) of notebook names to run (default: all ch*.ipynb)")
    parser.add_argument("--profile", default="quick", choices=["quick", "full"], help="parameter profile")
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="extra papermill parameter for every notebook (Python literal or string)",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=None,
        help="where executed notebooks go (default: in place for the quick profile with default "
        "parameters, else build/notebooks/<profile>/)",
    )
    parser.add_argument("--jobs", type=positive_int, default=2, help="notebooks executed at a time (default 2)")


def run(args: argparse.Namespace) -> int:
    notebooks = find_notebooks(args.notebooks)
    params = {name: parameter_value(value) for name, value in args.parameter}
    results = build_notebooks(notebooks, args.profile, params, args.output_dir, args.jobs)
    for name, outcome in results.items():
        if isinstance(outcome, Exception):
            lines = str(outcome).strip().splitlines()
            status = f"FAILED: {lines[-1] if lines else type(outcome).__name__}"
        else:
            status = f"ok in {outcome:.1f} s"
        print(f"{name:32s} {status}")
    return 1 if any(isinstance(v, Exception) for v in results.values()) else 0
