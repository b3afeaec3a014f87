"""``python -m reuseprior train``: EfficientNetV2 original vs shared (thesis
section 4.5.4, Table 4.2), the same experiment as the notebook
``ch4_sharing_training`` with the same parameters.

The examples and the resume policy are in :data:`reuseprior.commands.parsers.train.EXAMPLES`
(shown by ``--help``).
"""

from __future__ import annotations

import argparse

from reuseprior.chapters.ch4_sharing_training import (
    GPU_REFERENCE_THROUGHPUT,
    MODELS,
    PROFILES,
    ExperimentPlan,
    compare_with_thesis,
    default_results_csv,
    expected_gpu_hours,
    make_plan,
    run_experiments,
    table_4_2,
)
from reuseprior.commands.parsers.train import add_arguments
from reuseprior.core.errors import CommandInputError
from reuseprior.core.runtime import resolve_device, set_seed
from reuseprior.training.loop import TrainingInterrupted, settling_warnings

__all__ = ["add_arguments", "run"]


def _print_gpu_estimate(plan: ExperimentPlan) -> None:
    """For a paper-scale plan on a thesis dataset: each model's estimated
    hours on one H100 (``expected_gpu_hours``: an estimate, not a measurement)."""
    if (plan.width_mult, plan.depth_mult) != (1.0, 1.0) or plan.recipe.dataset not in (
        "cifar10",
        "cifar100",
        "imagenet",
    ):
        return
    c = plan.config
    for label in plan.models:
        if MODELS[label].variant not in GPU_REFERENCE_THROUGHPUT:
            continue
        hours = expected_gpu_hours(
            plan.recipe.dataset,
            label,
            epochs=c.epochs,
            image_size=plan.image_size,
            validation_split=plan.validation_split,
        )
        duration = f"{hours:.1f} h" if hours >= 1 else f"{hours * 60:.0f} min"
        print(f"estimated time of {label} on one H100: {duration} (estimate; see expected_gpu_hours)")


def run(args: argparse.Namespace) -> int:

    settings = dict(PROFILES[args.profile])
    overrides = {
        "models": args.models,
        "dataset": args.dataset,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr_base": args.lr_base,
        "width_mult": args.width_mult,
        "depth_mult": args.depth_mult,
        "image_size": args.image_size,
        "validation_split": args.validation_split,
        "optimizer": args.optimizer,
        "train_limit": args.train_limit,
        "amp": args.amp,
        "num_workers": args.num_workers,
        "data_dir": args.data_dir,
        "resume": args.resume,
    }
    settings.update({k: v for k, v in overrides.items() if v is not None})
    if args.download:
        settings["download"] = True
    try:
        set_seed(args.seed)
        device = resolve_device(args.device)
        plan = make_plan(settings, profile=args.profile, seed=args.seed)
    except ValueError as err:
        raise CommandInputError(str(err)) from None
    results_csv = args.output_dir / "results.csv" if args.output_dir else default_results_csv()
    results_csv.parent.mkdir(parents=True, exist_ok=True)
    print(plan.describe())
    for warning in settling_warnings(plan.config, plan.total_steps()):
        print(f"warning: {warning}")
    _print_gpu_estimate(plan)
    try:
        rows = run_experiments(
            plan,
            device=device,
            seed=args.seed,
            results_csv=results_csv,
            checkpoint_dir=args.checkpoint_dir,
            progress=not args.no_progress,
        )
    except TrainingInterrupted as stop:
        again = "the same command" if plan.resume else "the same command with --resume true (false starts afresh)"
        print(f"\ninterrupted: {stop}. Partial results in {results_csv}; run {again} to resume.")
        return 130
    table = table_4_2(rows)
    print(f"\nresults: {results_csv}\n\nTable 4.2 rebuilt from the results:\n{table.to_string(index=False)}")
    try:
        print("\nbeside the thesis:\n" + compare_with_thesis(table).to_string(index=False))
    except FileNotFoundError as err:
        print(f"\n(thesis table not available: {err})")
    return 0
