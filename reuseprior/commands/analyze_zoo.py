"""``python -m reuseprior analyze-torchvision``: analyse every torchvision classifier
at its evaluation crop (thesis section 4.5.1) into data/torchvision_zoo_analysis.csv.

One Dask task per model, each finished row committed to the store
(``build/zoo_scores.sqlite``) and the CSV exported when the run ends;
resumable (:mod:`reuseprior.zoo.torchvision_analysis`). Exit status 1 when a
model failed (listed in the sibling ``*_failures.csv``; the next run tries it
again).
"""

from __future__ import annotations

import argparse
import difflib
import sys

from reuseprior.commands.parsers.analyze_zoo import add_arguments, check_arguments
from reuseprior.zoo.torchvision_analysis import analyze_torchvision_zoo, classifier_names, failures_path

__all__ = ["add_arguments", "check_arguments", "check_run_arguments", "run"]


def check_run_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--models`` that are not torchvision classifiers: exit 2, with the close names."""
    known = classifier_names()
    unknown = [name for name in args.models or () if name not in known]
    if unknown:
        close = sorted({c for name in unknown for c in difflib.get_close_matches(name, known, n=3, cutoff=0.6)})
        guess = f"; did you mean {', '.join(close)}?" if close else ""
        parser.error(
            f"--models {unknown} are not torchvision classifiers{guess} (the names: "
            "torchvision.models.list_models(module=torchvision.models); leave --models out for all of them)"
        )


def run(args: argparse.Namespace) -> int:
    failures = analyze_torchvision_zoo(
        args.out,
        names=args.models,
        threads=args.threads,
        store=args.store,
        workers=args.workers,
        scheduler=args.scheduler,
    )
    for name, message in failures:
        print(f"{name}: {message}", file=sys.stderr)
    if failures:
        print(
            f"{len(failures)} model(s) failed (listed in {failures_path(args.out)}); run again to retry them",
            file=sys.stderr,
        )
    return 1 if failures else 0
