"""``python -m reuseprior train-study``: a Table 4.2 analogue on Fashion-MNIST
at CPU scale (EfficientNetV2-B0, V2-B0-shared, V2-S-shared over seeds), resumable.

Actions::

    python -m reuseprior train-study run                # every pending (model, seed) -> data/ch4_real_study_runs.csv
    python -m reuseprior train-study run --max-runs 1   # one more run, then stop
    python -m reuseprior train-study slice              # the live slice's reference row (the notebook checks it)
    python -m reuseprior train-study status

Each run checkpoints every epoch (``build/ch4_real_study/``); stop it at any
time and run the command again to continue. Fashion-MNIST comes from
``build/datasets`` (``python -m reuseprior data fetch fashion-mnist``).
"""

from __future__ import annotations

import argparse

from reuseprior.chapters import ch4_real_study as study
from reuseprior.commands.parsers.train_study import add_arguments

__all__ = ["add_arguments", "run"]


def run(args: argparse.Namespace) -> int:
    spec = study.CPU_STUDY
    if args.action == "status":
        print(f"study {spec.name}, plan {study.plan_id(spec)}:")
        print(study.study_status(spec).to_string(index=False))
        return 0
    if args.action == "slice":
        stored = study.run_study(study.LIVE_SLICE, progress=not args.no_progress)
        print("stored the live slice" if stored else "the live slice is already stored")
        return 0
    unknown = sorted(set(args.seeds or ()) - set(spec.seeds))
    if unknown:
        print(f"reuseprior train-study: seeds {unknown} are not in the study's {list(spec.seeds)}")
        return 2
    only = [r for r in spec.runs() if not args.seeds or r[1] in args.seeds]
    stored = study.run_study(spec, only=only, max_runs=args.max_runs, progress=not args.no_progress)
    print(f"stored {len(stored)} runs: {stored}")
    print(f"{len(study.pending_runs(spec))} runs pending")
    return 0
