"""``python -m reuseprior sharing-study``: the trained study of chapter 7 (the sharing
schemes at matched parameter budgets, ranked by the reusability prior), resumable.

Actions::

    python -m reuseprior sharing-study run                 # the stored CPU study -> data/sharing_study_runs.csv
    python -m reuseprior sharing-study run --max-runs 2    # two more runs, then stop (a smoke test)
    python -m reuseprior sharing-study status              # stored / pending runs per configuration
    python -m reuseprior sharing-study fill-scores         # the prior's quantities of rows whose engine failed
    python -m reuseprior sharing-study rescore             # the prior's quantities of every row (engine changed)
    python -m reuseprior sharing-study bookkeeping         # the matched-budget table of the seeds' models

Each finished run is appended to the CSV atomically, so the command can be
stopped (Ctrl-C, or killed) at any time and run again: stored runs are
skipped, at most the running one is lost. ``--profile paper`` runs the seeds'
own settings (WRN-28-10 on CIFAR-100, EfficientNet-B0 on ImageNet; a GPU, and
the datasets present under ``--data-dir``: a missing one is an error naming the
command that fetches it).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from reuseprior.chapters import ch7_sharing_schemes as study
from reuseprior.commands.parsers.sharing_study import add_arguments
from reuseprior.reporting.notebook import resolve_device

__all__ = ["add_arguments", "run"]


def _status(profile: study.SharingSchemesProfile, path: Path) -> None:
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 60):
        for spec in profile.studies:
            print(f"{spec.name} (plan {study.plan_id(spec)}), {path}:")
            print(study.study_status(spec, path).to_string(index=False))


def run(args: argparse.Namespace) -> int:
    profile = study.PROFILES[args.profile]
    path = args.runs_csv or study.STORED_RUNS
    if args.action == "status":
        _status(profile, path)
        return 0
    if args.action in ("fill-scores", "rescore"):
        for spec in profile.studies:
            filled = study.fill_scores(spec, path, every_row=args.action == "rescore")
            print(f"{spec.name}: wrote the prior's quantities of {filled} rows of {path}")
        return 0
    if args.action == "bookkeeping":
        table = study.store_bookkeeping(profile.bookkeeping_models, progress=not args.no_progress)
        print(f"{len(table)} rows in {study.STORED_BOOKKEEPING}")
        return 0
    device = resolve_device(args.device)
    for spec in profile.studies:
        skipped = [c.label for c in spec.configs if not c.available()]
        if skipped:
            print(f"{spec.name}: skipping {skipped}: their schemes are not registered in this version")
        before = len(study.pending_runs(spec, study.read_runs(path)))
        study.run_study(
            spec,
            path,
            data_dir=args.data_dir,
            download=args.download,
            device=device,
            max_runs=args.max_runs,
            threads=args.threads,
            progress=not args.no_progress,
        )
        after = len(study.pending_runs(spec, study.read_runs(path)))
        print(f"{spec.name}: {before - after} runs stored in {path}, {after} pending")
    return 0
