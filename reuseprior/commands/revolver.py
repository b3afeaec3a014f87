"""``python -m reuseprior revolver``: a Revolver population run with the
flags of thesis appendix C.2, e.g.::

    python -m reuseprior revolver --batch-size 128 --search-mode evolve --sample-size 16 \\
        --epochs 160 --lr 0.35 --min-lr .00085 --genotype-cost 32 --warmup-x 2 \\
        --warmup-epoch 30 --population-size 80 --dataset CIFAR10 --data-dir data/datasets --download

Options are spelt with hyphens like every other command; the underscore
spellings of appendix C.2 (``--batch_size``, ``--data_dir``, ...) are accepted
as hidden aliases. Writes ``results.csv`` (one row per evaluation),
``generations.csv``, ``table_3_2.csv`` and a checkpoint; ``--resume`` continues
an interrupted run from its checkpoint exactly where it stopped. The population
trains in its profile's precision (:mod:`reuseprior.core.precision`): float64 on
``quick``, so the command computes the notebook's numbers on every CPU; float32,
the thesis's, on the others.

Policy on an interruption: the checkpoint, then the result files, each
written atomically, are written every ``--checkpoint-every`` generations (default 1:
after each), at the end, and when the run is interrupted (Ctrl-C or SIGTERM),
then with the last finished generation (the unfinished one is dropped), so
``--resume`` loses no finished generation; a larger ``--checkpoint-every``
writes less often and only risks a hard kill (SIGKILL, a power cut) losing
up to that many generations less one.

Policy for an ``--output-dir`` that already holds a run: without ``--resume``
or ``--overwrite`` the command refuses to touch it; ``--resume`` continues it
only with the settings it was started with (the differing flags are named,
with the checkpoint's value and the new one); ``--overwrite`` deletes its
checkpoint and result files and starts afresh. ``--resume`` on a folder that
holds no run is refused (a mistyped folder must not start a long run).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from reuseprior.chapters.ch3_revolver import PROFILES, table_3_2
from reuseprior.commands import Interrupted
from reuseprior.commands.parsers.revolver import add_arguments, check_arguments
from reuseprior.core.errors import CheckpointMismatchError, CommandInputError
from reuseprior.core.files import write_csv
from reuseprior.core.interrupts import sigterm_as_interrupt
from reuseprior.core.precision import default_dtype
from reuseprior.core.runtime import resolve_device, set_seed
from reuseprior.datasets import DatasetSplits, load_standard_splits
from reuseprior.revolver.population import Population, PopulationConfig, config_from_settings, load_matching

__all__ = ["add_arguments", "check_arguments", "run"]

#: the files a run writes into ``--output-dir`` (``--overwrite`` deletes them)
RUN_FILES = ("checkpoint.pt", "results.csv", "generations.csv", "table_3_2.csv")

#: the flag that sets each configuration field (the others come from --profile)
_FLAG_OF = {
    "search_mode": "--search-mode",
    "population_size": "--population-size",
    "sample_size": "--sample-size",
    "epochs": "--epochs",
    "warmup_x": "--warmup-x",
    "warmup_epoch": "--warmup-epoch",
    "genotype_cost": "--genotype-cost",
    "lr": "--lr",
    "min_lr": "--min-lr",
    "batch_size": "--batch-size",
    "seed": "--seed",
    "space.width": "--width",
    "space.input_shape": "--dataset / --image-size (input shape)",
    "space.num_classes": "--dataset (classes)",
    "dataset": "--dataset",
}


def _flag(field: str) -> str:
    return _FLAG_OF.get(field, f"{field} (a --profile setting)")


def _existing_run(args: argparse.Namespace, out: Path) -> list[str]:
    """The run files already in ``out``; raises when the flags do not say what to do with them, or when
    ``--resume`` finds no run to continue (a mistyped folder must not start a long run)."""
    existing = [name for name in RUN_FILES if (out / name).exists()]
    if args.resume and not existing:
        raise CheckpointMismatchError(
            f"--resume: {out} holds no run to continue (no checkpoint.pt); give the --output-dir of the run, "
            "or leave --resume out to start one"
        )
    if existing and not args.overwrite and not (args.resume and (out / "checkpoint.pt").exists()):
        why = (
            "holds results but no checkpoint.pt to resume from"
            if args.resume
            else f"already holds a run ({', '.join(existing)})"
        )
        fix = "" if args.resume else "pass --resume to continue it with the same flags, "
        raise CheckpointMismatchError(
            f"{out} {why}; {fix}pass --overwrite to delete it and start afresh, or choose another --output-dir"
        )
    return existing


_SETTING_FLAGS = (
    "dataset", "data_dir", "population_size", "sample_size", "epochs", "warmup_x", "warmup_epoch", "genotype_cost",
    "lr", "min_lr", "batch_size", "width", "num_workers",
)  # fmt: skip


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """The profile's settings with the flags given."""
    settings = dict(PROFILES[args.profile])
    for key in _SETTING_FLAGS:
        value = getattr(args, key)
        if value is not None:
            settings[key] = value
    if args.download:
        settings["download"] = True
    if args.image_size is not None:
        settings["image_size"] = args.image_size
    elif settings["dataset"] != PROFILES[args.profile].dataset:  # another dataset: its native size
        settings["image_size"] = None
    return settings


def _write_results(pop: Population, out: Path, dataset: str) -> pd.DataFrame | None:
    """Write ``results.csv``, ``generations.csv`` and, once a top individual was tested, ``table_3_2.csv``
    (returned; None before) for the generations ``pop`` has finished, each atomically."""
    results = pop.results_frame()
    generations = pop.generations_frame()
    write_csv(results, out / "results.csv")
    write_csv(generations, out / "generations.csv")
    if results.empty or not generations["top_test_acc"].notna().any():
        return None
    table = table_3_2(results, generations, dataset)
    write_csv(table, out / "table_3_2.csv")
    return table


def _interrupted(pop: Population, args: argparse.Namespace, out: Path, started_at: int) -> Interrupted:
    """What an interrupted run says: the generation saved in ``out`` (the population has rolled back to it,
    :meth:`Population.run`) and how to continue it."""
    again = "run the same command" if args.resume else "run the same command with --resume"
    if args.overwrite:
        again += " instead of --overwrite"
    total = pop.config.epochs
    if pop.generation == 0:
        return Interrupted(f"no generation had finished, nothing was saved in {out}; run the same command to start")
    if pop.generation == started_at:
        return Interrupted(
            f"no generation finished since the resume; {out}/checkpoint.pt still holds {pop.generation} of "
            f"{total} generations: {again} to continue it"
        )
    return Interrupted(
        f"{pop.generation} of {total} generations finished and are saved in {out} (checkpoint.pt, results.csv, "
        f"generations.csv; the unfinished one is dropped): {again} to continue from them"
    )


def run(args: argparse.Namespace) -> int:
    """Run (or continue) the population; Ctrl-C or SIGTERM saves the last finished generation
    (:meth:`Population.run`) and its results, then ends with :class:`~reuseprior.commands.Interrupted`
    saying what was saved and how to continue."""
    out = Path(args.output_dir)
    existing = _existing_run(args, out)
    settings = _settings(args)
    set_seed(args.seed)
    device = resolve_device(args.device)
    try:
        splits = load_standard_splits(
            settings["dataset"],
            settings.get("data_dir"),
            settings.get("download", False),
            args.seed,
            settings.get("image_size"),
        )
        config = config_from_settings(settings, args.search_mode, args.seed, splits.input_shape, splits.num_classes)
    except (ValueError, FileNotFoundError) as err:  # bad flag value or missing dataset: say which, no traceback
        raise CommandInputError(str(err)) from None
    out.mkdir(parents=True, exist_ok=True)
    with default_dtype(settings.get("precision", "float32")):  # the profile's: float64 on quick, as the notebook
        return _search(args, settings, splits, config, device, existing)


def _search(
    args: argparse.Namespace,
    settings: dict[str, Any],
    splits: DatasetSplits,
    config: PopulationConfig,
    device: torch.device,
    existing: list[str],
) -> int:
    """Start or resume the population in ``--output-dir``, run it, and write its results."""
    out = Path(args.output_dir)
    ckpt = out / "checkpoint.pt"
    workers = int(settings.get("num_workers", 0))
    if args.resume and ckpt.exists():
        pop = load_matching(
            ckpt,
            config,
            splits,
            device,
            workers,
            fix="give the flags of that run to continue it, or start afresh with --overwrite or another --output-dir",
            dataset=settings["dataset"],
            name=_flag,
            saved="in the checkpoint",
        )
        print(f"resumed {ckpt} at generation {pop.generation}")
    else:
        for name in existing:  # --overwrite: the old run's files go before the new run writes any
            (out / name).unlink()
        pop = Population(config, splits, device, workers)
    pop.metadata.setdefault("dataset", settings["dataset"])
    print(splits.description)
    started_at = pop.generation
    written: dict[str, pd.DataFrame | None] = {}  # the table of the last save: Population.run saves at its end

    def save(saved: Population) -> None:
        written["table"] = _write_results(saved, out, settings["dataset"])

    try:
        with sigterm_as_interrupt():
            pop.run(checkpoint=ckpt, checkpoint_every=args.checkpoint_every, progress=True, on_save=save)
    except KeyboardInterrupt:
        raise _interrupted(pop, args, out, started_at) from None
    if written.get("table") is not None:
        print(written["table"].to_string(index=False))
    print(f"wrote {out}/results.csv ({len(pop.rows)} evaluations)")
    return 0
