"""``python -m reuseprior revolver``: a Revolver population run with the
flags of thesis appendix C.2, e.g.::

    python -m reuseprior revolver --batch-size 128 --search-mode evolve --sample-size 16 \\
        --epochs 160 --lr 0.35 --min-lr .00085 --genotype-cost 32 --warmup-x 2 \\
        --warmup-epoch 30 --population-size 80 --dataset CIFAR10 --data-dir data/datasets --download

Options are spelt with hyphens like every other command; the underscore
spellings of appendix C.2 (``--batch_size``, ``--data_dir``, ...) are accepted
as hidden aliases. Writes ``results.csv`` (one row per evaluation),
``generations.csv``, ``table_3_2.csv`` and a checkpoint; ``--resume`` continues
an interrupted run from its checkpoint exactly where it stopped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .analysis import table_3_2
from .population import PROFILES, Population, config_from_settings, dataset_splits
from .search import SEARCH_MODES

__all__ = ["add_arguments", "run"]


def _option(parser: argparse.ArgumentParser, dest: str, **kwargs: Any) -> None:
    """Add ``--dest-with-hyphens`` (shown in ``--help``) and, when ``dest`` has an
    underscore, ``--dest_with_underscores`` (the appendix C.2 spelling) as a
    hidden alias storing into the same ``dest``."""
    parser.add_argument("--" + dest.replace("_", "-"), dest=dest, **kwargs)
    if "_" in dest:
        parser.add_argument("--" + dest, dest=dest, **{**kwargs, "help": argparse.SUPPRESS})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    p = parser
    p.epilog = ("The underscore spellings of thesis appendix C.2 (--batch_size, --data_dir, --search_mode, ...) "
                "are accepted too.")
    _option(p, "profile", choices=sorted(PROFILES), default="quick",
            help="defaults for every flag below (quick: digits on CPU; full: appendix C.2)")
    _option(p, "dataset", help="digits, MNIST or CIFAR10")
    _option(p, "data_dir", help="folder of the torchvision datasets")
    _option(p, "download", action="store_true", help="download MNIST/CIFAR10 into --data-dir if missing")
    _option(p, "search_mode", choices=SEARCH_MODES, default="evolve")
    _option(p, "population_size", type=int)
    _option(p, "sample_size", type=int, help="individuals trained per generation")
    _option(p, "epochs", type=int, help="number of generations")
    _option(p, "warmup_x", type=int, help="initial candidates = warmup-x * population-size")
    _option(p, "warmup_epoch", type=int, help="genotype-only generations of the *_warmup* modes")
    _option(p, "genotype_cost", type=float, help="initial genotype fitness coefficient")
    _option(p, "lr", type=float)
    _option(p, "min_lr", type=float)
    _option(p, "batch_size", type=int)
    _option(p, "width", type=int, default=1, help="width multiplier of the random generator")
    _option(p, "seed", type=int, default=0)
    _option(p, "device", default="auto", help="cpu, cuda or auto")
    _option(p, "num_workers", type=int)
    _option(p, "output_dir", default="build/revolver", help="results, tables and checkpoint go here")
    _option(p, "checkpoint_every", type=int, default=10, help="generations between checkpoints")
    _option(p, "resume", action="store_true", help="continue from <output-dir>/checkpoint.pt")


def run(args: argparse.Namespace) -> int:
    from reuseprior.notebook import resolve_device, set_seed

    settings = dict(PROFILES[args.profile])
    for key in ("dataset", "data_dir", "population_size", "sample_size", "epochs", "warmup_x", "warmup_epoch",
                "genotype_cost", "lr", "min_lr", "batch_size", "num_workers"):
        value = getattr(args, key)
        if value is not None:
            settings[key] = value
    if args.download:
        settings["download"] = True
    settings["width"] = args.width
    set_seed(args.seed)
    device = resolve_device(args.device)
    image_size = settings.get("image_size", 8) if settings["dataset"].lower() == "digits" else None
    try:
        splits = dataset_splits(settings["dataset"], settings.get("data_dir"), settings.get("download", False),
                                args.seed, image_size or 8)
        config = config_from_settings(settings, args.search_mode, args.seed, splits.input_shape, splits.num_classes)
    except (ValueError, FileNotFoundError) as err:  # bad flag value or missing dataset: say which, no traceback
        print(f"reuseprior revolver: {err}", file=sys.stderr)
        return 2
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "checkpoint.pt"
    workers = int(settings.get("num_workers", 0))
    if args.resume and ckpt.exists():
        pop = Population.load(ckpt, splits, device, workers)
        print(f"resumed {ckpt} at generation {pop.generation}")
    else:
        pop = Population(config, splits, device, workers)
    print(splits.description)
    pop.run(checkpoint=ckpt, checkpoint_every=args.checkpoint_every, progress=True)
    results = pop.results_frame()
    results.to_csv(out / "results.csv", index=False)
    pop.generations_frame().to_csv(out / "generations.csv", index=False)
    if not results.empty and results["test_acc"].notna().any():
        table = table_3_2(results, settings["dataset"], pop.config.sample_size)
        table.to_csv(out / "table_3_2.csv", index=False)
        print(table.to_string(index=False))
    print(f"wrote {out}/results.csv ({len(results)} evaluations)")
    return 0
