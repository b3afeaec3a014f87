"""``python -m reuseprior revolver``: a Revolver population run with the
flags of thesis appendix C.2, e.g.::

    python -m reuseprior revolver --batch_size 128 --search_mode evolve --sample_size 16 \\
        --epochs 160 --lr 0.35 --min_lr .00085 --genotype_cost 32 --warmup_x 2 \\
        --warmup_epoch 30 --population_size 80 --dataset CIFAR10 --data_dir data/datasets --download

Writes ``results.csv`` (one row per evaluation), ``generations.csv``,
``table_3_2.csv`` and a checkpoint; ``--resume`` continues an interrupted run
from its checkpoint exactly where it stopped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .analysis import table_3_2
from .population import PROFILES, Population, config_from_settings, dataset_splits
from .search import SEARCH_MODES

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    p = parser
    p.add_argument("--profile", choices=sorted(PROFILES), default="quick",
                   help="defaults for every flag below (quick: digits on CPU; full: appendix C.2)")
    p.add_argument("--dataset", help="digits, MNIST or CIFAR10")
    p.add_argument("--data_dir", help="folder of the torchvision datasets")
    p.add_argument("--download", action="store_true", help="download MNIST/CIFAR10 into --data_dir if missing")
    p.add_argument("--search_mode", choices=SEARCH_MODES, default="evolve")
    p.add_argument("--population_size", type=int)
    p.add_argument("--sample_size", type=int, help="individuals trained per generation")
    p.add_argument("--epochs", type=int, help="number of generations")
    p.add_argument("--warmup_x", type=int, help="initial candidates = warmup_x * population_size")
    p.add_argument("--warmup_epoch", type=int, help="genotype-only generations of the *_warmup* modes")
    p.add_argument("--genotype_cost", type=float, help="initial genotype fitness coefficient")
    p.add_argument("--lr", type=float)
    p.add_argument("--min_lr", type=float)
    p.add_argument("--batch_size", type=int)
    p.add_argument("--width", type=int, default=1, help="width multiplier of the random generator")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument("--num_workers", type=int)
    p.add_argument("--output_dir", default="build/revolver", help="results, tables and checkpoint go here")
    p.add_argument("--checkpoint_every", type=int, default=10, help="generations between checkpoints")
    p.add_argument("--resume", action="store_true", help="continue from <output_dir>/checkpoint.pt")


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
