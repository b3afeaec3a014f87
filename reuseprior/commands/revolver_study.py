"""``python -m reuseprior revolver-study``: chapter 3 on MNIST and Fashion-MNIST,
random search against the genetic algorithm over paired seeds, resumable.

Actions::

    python -m reuseprior revolver-study run                    # every pending run -> data/revolver_study_*.csv
    python -m reuseprior revolver-study run --max-minutes 60   # stop between generations after an hour
    python -m reuseprior revolver-study run --dataset mnist --seeds 0 1
    python -m reuseprior revolver-study status                 # stored / pending runs per dataset and mode

A run checkpoints every generation (``build/revolver_study/``); stop it at
any time (Ctrl-C, or killed) and run the command again: it continues where it
stopped. Finished runs are stored in the four ``data/revolver_study_*.csv``
files and skipped afterwards. The datasets come from ``--data-dir`` (default
``build/datasets``; ``python -m reuseprior data fetch mnist fashion-mnist``
puts them there).
"""

from __future__ import annotations

import argparse

import pandas as pd

from reuseprior.chapters import ch3_population_study as study
from reuseprior.commands.parsers.revolver_study import add_arguments

__all__ = ["add_arguments", "run"]


def run(args: argparse.Namespace) -> int:
    spec = study.CPU_STUDY
    if args.action == "status":
        table = study.study_status(spec)
        print(f"study {spec.name}, plan {study.plan_id(spec)}:")
        with pd.option_context("display.width", 200):
            print(table.to_string(index=False))
        if table.attrs["other_plans"]:
            print(f"({table.attrs['other_plans']} stored runs belong to other plans and are not read)")
        return 0
    unknown = sorted(set(args.seeds or ()) - set(spec.seeds))
    if unknown:
        print(f"reuseprior revolver-study: seeds {unknown} are not in the study's {list(spec.seeds)}")
        return 2
    only = [
        key
        for key in spec.runs()
        if (not args.dataset or key.dataset in args.dataset)
        and (not args.mode or key.mode in args.mode)
        and (not args.seeds or key.seed in args.seeds)
    ]
    stored = study.run_study(
        spec,
        data_dir=args.data_dir,
        max_runs=args.max_runs,
        max_minutes=args.max_minutes,
        only=only,
        progress=not args.no_progress,
    )
    print(f"stored {len(stored)} runs: " + ", ".join(k.label() for k in stored) if stored else "stored no new run")
    wanted = set(only)
    left = [k for k in study.pending_runs(spec) if k in wanted]
    print(f"{len(left)} runs pending" + (" (run the command again to continue)" if left else ""))
    return 0
