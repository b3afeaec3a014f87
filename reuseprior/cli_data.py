"""``python -m reuseprior data download <name> --data-dir DIR``."""

from __future__ import annotations

import argparse

from .data import _TORCHVISION_CLASSES, download


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["download"], help="what to do")
    parser.add_argument("name", choices=sorted(_TORCHVISION_CLASSES), help="torchvision dataset")
    parser.add_argument("--data-dir", required=True, help="folder to put the dataset in")


def run(args: argparse.Namespace) -> int:
    path = download(args.name, args.data_dir)
    print(f"{args.name} is in {path}")
    return 0
