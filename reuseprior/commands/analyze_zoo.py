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

from reuseprior.commands.parsers.analyze_zoo import add_arguments, check_arguments
from reuseprior.zoo.torchvision_analysis import analyze_torchvision_zoo

__all__ = ["add_arguments", "check_arguments", "run"]


def run(args: argparse.Namespace) -> int:
    failures = analyze_torchvision_zoo(
        args.out,
        names=args.models,
        threads=args.threads,
        store=args.store,
        workers=args.workers,
        scheduler=args.scheduler,
    )
    return 1 if failures else 0
