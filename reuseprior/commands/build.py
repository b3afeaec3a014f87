"""``python -m reuseprior build``: execute the chapter notebooks with papermill
on a profile (the policy of what an executed notebook keeps is
:mod:`reuseprior.reporting.build`'s)."""

from __future__ import annotations

import argparse

from reuseprior.commands.parsers.build import CHAPTER_PROFILES, PATH_PARAMETERS, add_arguments, check_arguments
from reuseprior.reporting.build import build_notebooks, find_notebooks, parameter_value

__all__ = ["CHAPTER_PROFILES", "add_arguments", "check_arguments", "notebook_parameter", "run"]


def notebook_parameter(name: str, text: str) -> object:
    """The value of ``-p NAME TEXT``: a path parameter (:data:`PATH_PARAMETERS`) as written, others a Python
    literal where ``TEXT`` parses as one, else the string."""
    return text if name in PATH_PARAMETERS else parameter_value(text)


def run(args: argparse.Namespace) -> int:
    notebooks = find_notebooks(args.notebooks)
    params = {name: notebook_parameter(name, value) for name, value in args.parameter}
    results = build_notebooks(notebooks, args.profile, params, args.output_dir, args.jobs)
    for name, outcome in results.items():
        if isinstance(outcome, Exception):
            lines = str(outcome).strip().splitlines()
            status = f"FAILED: {lines[-1] if lines else type(outcome).__name__}"
        else:
            status = f"ok in {outcome:.1f} s"
        print(f"{name:32s} {status}")
    return 1 if any(isinstance(v, Exception) for v in results.values()) else 0
