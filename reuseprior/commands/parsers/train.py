"""The arguments of ``python -m reuseprior train`` (:mod:`reuseprior.commands.train` runs it).

Policy: this module imports nothing heavy (no torch, pandas or chapter module), so that ``--help`` and
an argument error answer at once; the names and defaults it repeats from the library are checked against
it by ``tests/test_cli_messages.py``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from reuseprior.commands.argtypes import device_name

#: shown by ``--help`` after the one-line description
EXAMPLES = """Examples::

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

#: the names of :data:`reuseprior.chapters.ch4_sharing_training.PROFILES`, ``MODELS`` and ``RECIPES``
PROFILES = ("full", "quick")
MODELS = ("V2-B0-shared", "V2-B0-original", "V2-S-shared", "V2-S-original", "V2-B0-narrow")
RECIPES = ("cifar10", "cifar100", "digits", "fashion-mnist", "imagenet", "mnist")


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_arguments(parser: argparse.ArgumentParser) -> None:

    parser.description = (parser.description or "") + "\n\n" + EXAMPLES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick", help="settings preset (default quick)")
    parser.add_argument(
        "--models",
        help=f"comma-separated Table 4.2 models, from {', '.join(MODELS)} (default: the profile's, the four "
        "Table 4.2 models)",
    )
    parser.add_argument(
        "--dataset",
        choices=sorted(RECIPES),
        help="dataset, trained with its section 4.5.4 recipe (default: the profile's, quick digits, full cifar10)",
    )
    parser.add_argument("--epochs", type=int, help="epochs (default: the recipe's / profile's)")
    parser.add_argument(
        "--batch-size",
        type=int,
        help="batch size; the learning rate scales with it (default: the profile's, quick 32, full the recipe's)",
    )
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
    parser.add_argument(
        "--device", type=device_name, default="auto", help='"cpu", "cuda", "cuda:N", "mps" or "auto" (default)'
    )
    parser.add_argument("--amp", type=_bool, help="mixed precision true/false (full profile: true)")
    parser.add_argument(
        "--num-workers", type=int, help="data-loader worker processes (default: the profile's, quick 0, full 8)"
    )
    parser.add_argument(
        "--data-dir",
        help="folder of the torchvision datasets / ImageNet (default: $REUSEPRIOR_DATASETS_DIR, else build/datasets)",
    )
    parser.add_argument("--download", action="store_true", help="download CIFAR if missing (never implicit)")
    parser.add_argument(
        "--resume",
        type=_bool,
        default=True,
        help="continue from the run's checkpoint, true (default, every profile) or false (start afresh; "
        "only a checkpoint of ours is deleted)",
    )
    parser.add_argument("--seed", type=int, default=0, help="the random seed of every run (default 0)")
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
