"""The arguments of ``python -m reuseprior revolver`` (:mod:`reuseprior.commands.revolver` runs it).

Policy: this module imports nothing heavy (no torch, pandas or chapter module), so that ``--help`` and
an argument error answer at once; the names and defaults it repeats from the library are checked against
it by ``tests/test_cli_messages.py``.
"""

from __future__ import annotations

import argparse
from typing import Any

from reuseprior.commands.argtypes import device_name, positive_int

#: the names of :data:`reuseprior.chapters.ch3_revolver.PROFILES`
PROFILES = ("full", "full-mnist", "quick")
#: :data:`reuseprior.revolver.search.SEARCH_MODES`
SEARCH_MODES = ("random", "evolve", "random_warmup", "random_warmup_evolve")


def _option(parser: argparse.ArgumentParser, dest: str, **kwargs: Any) -> None:
    """Add ``--dest-with-hyphens`` (shown in ``--help``) and, when ``dest`` has an
    underscore, ``--dest_with_underscores`` (the appendix C.2 spelling) as a
    hidden alias storing into the same ``dest``."""
    parser.add_argument("--" + dest.replace("_", "-"), dest=dest, **kwargs)
    if "_" in dest:
        parser.add_argument("--" + dest, dest=dest, **{**kwargs, "help": argparse.SUPPRESS})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    p = parser
    p.epilog = (
        "The underscore spellings of thesis appendix C.2 (--batch_size, --data_dir, --search_mode, ...) "
        "are accepted too."
    )
    _option(
        p,
        "profile",
        choices=sorted(PROFILES),
        default="quick",
        help="defaults for every flag below (quick: digits on CPU; full: appendix C.2 CIFAR-10; full-mnist: its MNIST)",
    )
    _option(p, "dataset", help="digits, MNIST, fashion-mnist or CIFAR10 (default: the profile's)")
    _option(
        p,
        "image_size",
        type=int,
        help="digits: upsample to this size; MNIST/fashion-mnist: area-average down to it (default: native size)",
    )
    _option(
        p,
        "data_dir",
        help="folder of the torchvision datasets (default: $REUSEPRIOR_DATASETS_DIR, else build/datasets)",
    )
    _option(p, "download", action="store_true", help="download MNIST/CIFAR10 into --data-dir if missing")
    _option(
        p,
        "search_mode",
        choices=SEARCH_MODES,
        default="evolve",
        help="random search, the genetic algorithm (evolve) or their warm-up variants (default: evolve)",
    )
    _option(p, "population_size", type=int, help="individuals kept (default: the profile's)")
    _option(p, "sample_size", type=int, help="individuals trained per generation (default: the profile's)")
    _option(p, "epochs", type=int, help="number of generations (default: the profile's)")
    _option(p, "warmup_x", type=int, help="initial candidates = warmup-x * population-size (default: the profile's)")
    _option(
        p, "warmup_epoch", type=int, help="genotype-only generations of the *_warmup* modes (default: the profile's)"
    )
    _option(p, "genotype_cost", type=float, help="initial genotype fitness coefficient (default: the profile's)")
    _option(p, "lr", type=float, help="learning rate before the decay (default: the profile's)")
    _option(p, "min_lr", type=float, help="learning rate at the last generation (default: the profile's)")
    _option(p, "batch_size", type=int, help="images per training step (default: the profile's)")
    _option(p, "width", type=int, help="width multiplier of the random generator (default: the profile's)")
    _option(p, "seed", type=int, default=0, help="seed of the split, the population and every draw (default 0)")
    _option(p, "device", type=device_name, default="auto", help="cpu, cuda, cuda:N, mps or auto (default)")
    _option(p, "num_workers", type=int, help="data-loader worker processes (default: the profile's)")
    _option(
        p,
        "output_dir",
        default="build/revolver",
        help="results, tables and checkpoint go here (default: build/revolver)",
    )
    _option(
        p,
        "checkpoint_every",
        type=positive_int,
        default=1,
        help="write the checkpoint and results every N generations (default 1: after each); Ctrl-C or SIGTERM "
        "saves the last finished generation anyway, so a larger N only risks a hard kill losing up to N-1",
    )
    _option(
        p,
        "resume",
        action="store_true",
        help="continue the run in <output-dir> from its checkpoint.pt (with the flags it was started with)",
    )
    _option(
        p,
        "overwrite",
        action="store_true",
        help="start afresh in an <output-dir> that holds a run, deleting its checkpoint and result files",
    )


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--resume`` and ``--overwrite`` exclude each other."""
    if args.resume and args.overwrite:
        parser.error("--resume continues the run in --output-dir and --overwrite deletes it: give one of them")
