"""``python -m reuseprior train``: EfficientNetV2 original vs shared (thesis
section 4.5.4, Table 4.2), the same experiment as the notebook
``ch4_sharing_training`` with the same parameters.

Examples::

    python -m reuseprior train --profile quick                      # CPU, ~1 min, digits
    python -m reuseprior train --profile full --dataset cifar10 --device cuda \\
        --data-dir ~/data --download                                # paper scale
    python -m reuseprior train --profile full --dataset cifar100 --models V2-S-shared --epochs 10
    python -m reuseprior train --profile full --dataset fashion-mnist --device cpu \\
        --width-mult 0.25 --depth-mult 1 --train-limit 5000 --epochs 5 \\
        --num-workers 0                                             # CPU analogue of Table 4.2

The full profile prints each run's estimated H100 time (an estimate derived
from counted multiply-adds and a published throughput, not a measurement).

Runs resume from their checkpoint on every profile (``--resume false`` starts
afresh, deleting only the run's own checkpoint; the notebook's quick profile
starts afresh); Ctrl-C checkpoints and writes the partial results row, run the
same command again to continue.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from reuseprior.chapters.ch4_sharing_training import (
    GPU_REFERENCE_THROUGHPUT,
    MODELS,
    PROFILES,
    RECIPES,
    ExperimentPlan,
    compare_with_thesis,
    default_results_csv,
    expected_gpu_hours,
    make_plan,
    run_experiments,
    table_4_2,
)
from reuseprior.reporting.notebook import resolve_device, set_seed
from reuseprior.training.loop import TrainingInterrupted

__all__ = ["add_arguments", "run"]


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_arguments(parser: argparse.ArgumentParser) -> None:

    parser.description = (parser.description or "") + "\n\n" + (__doc__ or "").split("\n\n", 1)[1]
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick", help="settings preset (default quick)")
    parser.add_argument("--models", help=f"comma-separated Table 4.2 models, from {', '.join(MODELS)}")
    parser.add_argument("--dataset", choices=sorted(RECIPES), help="dataset (its section 4.5.4 recipe)")
    parser.add_argument("--epochs", type=int, help="epochs (default: the recipe's / profile's)")
    parser.add_argument("--batch-size", type=int, help="batch size; the learning rate scales with it")
    parser.add_argument(
        "--lr-base", type=float, help="base learning rate per 256 images (default 0.016; 0.025 ImageNet)"
    )
    parser.add_argument("--width-mult", type=float, help="extra width multiplier (quick profile 0.25)")
    parser.add_argument("--depth-mult", type=float, help="extra depth multiplier (quick profile 0.25)")
    parser.add_argument(
        "--image-size", type=int, help="train and eval resolution of every model (default: quick 32, full official)"
    )
    parser.add_argument(
        "--validation-split",
        help='share of training images held out for validation, "none" (train on all, evaluate on the test '
        'split) or "recipe" (the official choice; full profile default)',
    )
    parser.add_argument(
        "--optimizer",
        choices=("rmsprop_tf", "rmsprop", "sgd", "adamw"),
        help="rmsprop_tf: TensorFlow 1's (official, full profile); rmsprop: PyTorch's (quick profile)",
    )
    parser.add_argument("--train-limit", type=int, help="keep only the first N training images")
    parser.add_argument("--device", default="auto", help='"cpu", "cuda", "cuda:N" or "auto" (default)')
    parser.add_argument("--amp", type=_bool, help="mixed precision true/false (full profile: true)")
    parser.add_argument("--num-workers", type=int, help="data-loader worker processes")
    parser.add_argument("--data-dir", help="folder of the torchvision datasets / ImageNet (default build/datasets)")
    parser.add_argument("--download", action="store_true", help="download CIFAR if missing (never implicit)")
    parser.add_argument(
        "--resume",
        type=_bool,
        default=True,
        help="continue from the run's checkpoint, true (default, every profile) or false (start afresh; "
        "only a checkpoint of ours is deleted)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--output-dir",
        type=Path,
        help="where the run log results.csv goes (default build/measured/ch4_sharing_training/, "
        "shared with the notebook; it holds timings and memory, so it is not tracked)",
    )
    parser.add_argument(
        "--checkpoint-dir", type=Path, help="checkpoint folder (default build/checkpoints/ch4_sharing_training)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


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
        raise SystemExit(f"reuseprior train: {err}") from None
    results_csv = args.output_dir / "results.csv" if args.output_dir else default_results_csv()
    results_csv.parent.mkdir(parents=True, exist_ok=True)
    print(plan.describe())
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
