"""``python -m reuseprior study NAME ACTION``: the trained studies of the chapters,
resumable, with the same flags for every study.

Studies (``NAME``)::

    ch3   random search vs the genetic algorithm on MNIST/Fashion-MNIST over paired seeds
          -> data/revolver_study_*.csv (chapter 3 on real images)
    ch4   EfficientNetV2-B0 / B0-shared / S-shared on Fashion-MNIST over seeds
          -> data/ch4_real_study_runs.csv (a Table 4.2 analogue)
    ch7   the sharing schemes at matched parameter budgets -> data/sharing_study_runs.csv
    ch8   plain Revolver vs Revolver with its offspring screened by PG, Fashion-MNIST, paired seeds
          -> data/ch8_screening_*.csv (chapter 8, beyond the thesis)

Actions::

    python -m reuseprior study ch3 run                       # every pending run, on a LocalCluster
    python -m reuseprior study ch3 run --workers 2 --max-runs 4
    python -m reuseprior study ch3 run --only dataset=mnist --seeds 0 1
    python -m reuseprior study ch7 run --scheduler tcp://host:8786   # an existing Dask cluster
    python -m reuseprior study ch4 status                    # stored / pending runs
    python -m reuseprior study ch4 slice                     # the live slice's reference row
    python -m reuseprior study ch4 probes                    # the width-1.0 recipe probes
    python -m reuseprior study ch7 fill-scores | rescore | bookkeeping | sensitivity | floor
    python -m reuseprior study ch4 floor                     # the linear floor of the study's images
    python -m reuseprior study ch8 run --only arm=pg --seeds 0 --max-minutes 30

Each pending run is one Dask task (one thread per worker): a LocalCluster of
``--workers N`` (default: one per core) or the cluster at ``--scheduler``.
Finished runs are written by this process, each at once and atomically, so
the command can be stopped at any time and run again: stored runs are
skipped, the runs in progress resume from their checkpoints (chapters 3, 4
and 8) or start again (chapter 7). A flag a study does not use is refused.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from reuseprior.chapters import ch3_population_study as ch3
from reuseprior.chapters import ch4_fit_study as ch4_fit
from reuseprior.chapters import ch4_real_study as ch4
from reuseprior.chapters import ch4_recipe_probes as ch4_probes
from reuseprior.chapters import ch4_table42_study as ch4_table42
from reuseprior.chapters import ch7_sharing_schemes as ch7
from reuseprior.chapters import ch8_screening_criteria as ch8_criteria
from reuseprior.chapters import ch8_screening_study as ch8
from reuseprior.chapters.ch7_sharing_schemes import criteria as ch7_criteria
from reuseprior.commands.parsers.study import add_arguments, check_arguments
from reuseprior.core import study as core_study
from reuseprior.core.distributed import connect
from reuseprior.core.study import Study
from reuseprior.reporting.notebook import resolve_device
from reuseprior.revolver import split_floor

__all__ = ["STUDIES", "add_arguments", "check_arguments", "check_run_arguments", "run"]


@dataclass(frozen=True)
class StudyCommand:
    """How the command runs one chapter's study: ``seeds``: the study's seeds; ``studies(args)`` gives the
    :class:`~reuseprior.core.study.Study` objects, ``status(args)`` their tables; ``actions``: its own
    actions. What the study is and the flags it takes are stated in the light
    :data:`reuseprior.commands.parsers.study.STUDIES`."""

    seeds: tuple[int, ...]
    studies: Callable[[argparse.Namespace], list[Study]]
    status: Callable[[argparse.Namespace], list[tuple[str, pd.DataFrame]]]
    actions: dict[str, Callable[[argparse.Namespace], int]] = field(default_factory=dict)


# ---------------------------------------------------------------- chapter 3


def _ch3_studies(args: argparse.Namespace) -> list[Study]:
    deadline = ch3.deadline_after(args.max_minutes)
    return [ch3.as_study(ch3.CPU_STUDY, data_dir=args.data_dir, deadline=deadline)]


def _ch3_status(_: argparse.Namespace) -> list[tuple[str, pd.DataFrame]]:
    table = ch3.study_status(ch3.CPU_STUDY)
    return [(f"study {ch3.CPU_STUDY.name}, plan {ch3.plan_id(ch3.CPU_STUDY)}", table)]


def _ch3_floor(args: argparse.Namespace) -> int:
    """Store the linear floor of each dataset and seed of the chapter 3 study's images (those not stored yet)."""
    floors = ch3.store_floors(ch3.CPU_STUDY, data_dir=args.data_dir, progress=not args.no_progress)
    print(floors.to_string(index=False))
    print(f"-> {split_floor.STORED_FLOOR}")
    return 0


# ---------------------------------------------------------------- chapter 4


def _ch4_path(args: argparse.Namespace) -> Path:
    return args.store or ch4.STORED_RUNS


#: chapter 4's studies, in the order they run: the width-0.25 study, then the one at a width that fits
CH4_STUDIES = (ch4.CPU_STUDY, ch4_fit.FIT_STUDY)


def _ch4_table42_studies(args: argparse.Namespace) -> list[ch4.TrainingStudy]:
    """The Table 4.2 study of ``--profile`` (:mod:`reuseprior.chapters.ch4_table42_study`): the recipe
    protocol (on the cpu profile's settings, whatever the device) until it has chosen a recipe, then the
    chosen recipe's study over every seed."""
    recipe = ch4_table42.chosen_recipe(ch4.read_runs(_ch4_path(args)))
    if recipe is None:
        return ch4_table42.protocol_studies()
    return [ch4_table42.decisive_study(recipe, args.profile)]


def _ch4_specs(args: argparse.Namespace) -> list[ch4.TrainingStudy]:
    """Chapter 4's studies of ``--profile`` that may run: on ``cpu`` the width-0.25 study, the fit study
    (only once its recipe's fit check passed) and the Table 4.2 study; on ``gpu`` the Table 4.2 study."""
    if args.profile == "gpu":
        return _ch4_table42_studies(args)
    waits = ch4_fit.recipe_check()
    if waits:
        print(f"study {ch4_fit.FIT_STUDY.name} waits: {waits}")
    older = [spec for spec in CH4_STUDIES if not (waits and spec is ch4_fit.FIT_STUDY)]
    return [*older, *_ch4_table42_studies(args)]


def _ch4_studies(args: argparse.Namespace) -> list[Study]:
    deadline = core_study.deadline_after(args.max_minutes)
    device = resolve_device(args.device)
    return [ch4.as_study(spec, path=_ch4_path(args), device=device, deadline=deadline) for spec in _ch4_specs(args)]


def _ch4_status(args: argparse.Namespace) -> list[tuple[str, pd.DataFrame]]:
    stored = ch4.read_runs(_ch4_path(args))
    protocol = ch4_table42.protocol_table(stored).drop(columns="plan")
    return [
        *((f"study {spec.name}, plan {ch4.plan_id(spec)}", ch4.study_status(spec, _ch4_path(args)))
          for spec in _ch4_specs(args)),
        ("the Table 4.2 recipe protocol", protocol),
    ]  # fmt: skip


def _ch4_probes(args: argparse.Namespace) -> int:
    """Probe the recipes of :mod:`reuseprior.chapters.ch4_recipe_probes` (resumable), then print their status."""
    done = ch4_probes.run_probes(
        args.store or ch4_probes.STORED_PROBES, max_runs=args.max_runs, progress=not args.no_progress
    )
    print(f"stored {len(done)} probe runs")
    print(ch4_probes.probe_status(args.store or ch4_probes.STORED_PROBES).to_string(index=False))
    return 0


def _ch4_fit_checks(args: argparse.Namespace) -> int:
    """Train chapter 4's fit checks (a probed recipe for the whole schedule; resumable), then print them."""
    path = args.store or ch4_probes.STORED_PROBES
    done = ch4_probes.run_fit_checks(path, max_runs=args.max_runs, progress=not args.no_progress)
    print(f"stored {len(done)} fit-check runs")
    print(ch4_probes.fit_check_table(path).to_string(index=False))
    return 0


def _ch4_floor(args: argparse.Namespace) -> int:
    """Store the linear floor of each chapter 4 study's images, per seed (the seeds not stored yet, of
    ``--seeds`` when given); the Table 4.2 study's floor is its cpu profile's (the gpu profile's 54,000
    images take longer: stored once its rows exist)."""
    for spec in (*CH4_STUDIES, ch4_table42.floor_study("cpu")):
        seeds = tuple(s for s in spec.seeds if not args.seeds or s in args.seeds)
        print(ch4.store_linear_floor(replace(spec, seeds=seeds)).to_string(index=False))
    print(f"-> {ch4.LINEAR_FLOOR}")
    return 0


def _ch4_slice(args: argparse.Namespace) -> int:
    stored = ch4.run_study(ch4.LIVE_SLICE, path=_ch4_path(args), progress=not args.no_progress)
    print("stored the live slice" if stored else "the live slice is already stored")
    return 0


# ---------------------------------------------------------------- chapter 7


def _ch7_path(args: argparse.Namespace) -> Path:
    return args.store or ch7.STORED_RUNS


def _ch7_studies(args: argparse.Namespace) -> list[Study]:
    profile = ch7.PROFILES[args.profile]
    device = resolve_device(args.device)
    studies = []
    for spec in profile.studies:
        skipped = [c.label for c in spec.configs if not c.available()]
        if skipped:
            print(f"{spec.name}: skipping {skipped}: their schemes are not registered in this version")
        studies.append(
            ch7.as_study(
                spec,
                _ch7_path(args),
                data_dir=args.data_dir,
                download=args.download,
                device=device,
                threads=args.threads,
            )  # fmt: skip
        )
    return studies


def _ch7_status(args: argparse.Namespace) -> list[tuple[str, pd.DataFrame]]:
    path = _ch7_path(args)
    return [
        (f"{spec.name} (plan {ch7.plan_id(spec)}), {path}", ch7.study_status(spec, path))
        for spec in ch7.PROFILES[args.profile].studies
    ]


def _ch7_scores(every_row: bool) -> Callable[[argparse.Namespace], int]:
    def fill(args: argparse.Namespace) -> int:
        path = _ch7_path(args)
        for spec in ch7.PROFILES[args.profile].studies:
            filled = ch7.fill_scores(spec, path, every_row=every_row)
            print(f"{spec.name}: wrote the prior's quantities of {filled} rows of {path}")
        return 0

    return fill


def _ch7_floor(args: argparse.Namespace) -> int:
    """Store the linear floor of each chapter 7 study's images."""
    for spec in ch7.PROFILES[args.profile].studies:
        row = ch7_criteria.store_floor(spec, data_dir=args.data_dir)
        print(f"{spec.name}: {row} -> {ch7_criteria.STORED_FLOOR}")
    return 0


def _ch7_bookkeeping(args: argparse.Namespace) -> int:
    profile = ch7.PROFILES[args.profile]
    table = ch7.store_bookkeeping(profile.bookkeeping_models, progress=not args.no_progress)
    print(f"{len(table)} rows in {ch7.STORED_BOOKKEEPING}")
    return 0


def _ch7_sensitivity(args: argparse.Namespace) -> int:
    table = ch7.store_generator_sensitivity(progress=not args.no_progress)
    print(f"{len(table)} rows in {ch7.STORED_SENSITIVITY}")
    return 0


# ---------------------------------------------------------------- chapter 8


def _ch8_studies(args: argparse.Namespace) -> list[Study]:
    deadline = ch3.deadline_after(args.max_minutes)
    return [ch8.as_study(ch8.CPU_SCREENING, data_dir=args.data_dir, deadline=deadline)]


def _ch8_status(_: argparse.Namespace) -> list[tuple[str, pd.DataFrame]]:
    spec = ch8.CPU_SCREENING
    return [(f"study {spec.name}, plan {ch8.plan_id(spec)}", ch8.study_status(spec))]


def _ch8_floor(args: argparse.Namespace) -> int:
    """Store the linear floor of each seed's images (the seeds not stored yet)."""
    floors = ch8_criteria.store_floors(
        ch8.CPU_SCREENING, args.seeds, data_dir=args.data_dir, progress=not args.no_progress
    )
    print(floors.to_string(index=False))
    print(f"-> {split_floor.STORED_FLOOR}")
    return 0


STUDIES: dict[str, StudyCommand] = {
    "ch3": StudyCommand(ch3.CPU_STUDY.seeds, _ch3_studies, _ch3_status, {"floor": _ch3_floor}),
    "ch4": StudyCommand(
        tuple(sorted({seed for spec in CH4_STUDIES for seed in spec.seeds})),
        _ch4_studies,
        _ch4_status,
        {"slice": _ch4_slice, "probes": _ch4_probes, "fit-checks": _ch4_fit_checks, "floor": _ch4_floor},
    ),
    "ch7": StudyCommand(
        tuple(sorted({s for p in ch7.PROFILES.values() for spec in p.studies for s in spec.seeds})),
        _ch7_studies,
        _ch7_status,
        {
            "fill-scores": _ch7_scores(False),
            "rescore": _ch7_scores(True),
            "bookkeeping": _ch7_bookkeeping,
            "floor": _ch7_floor,
            "sensitivity": _ch7_sensitivity,
        },
    ),
    "ch8": StudyCommand(ch8.CPU_SCREENING.seeds, _ch8_studies, _ch8_status, {"floor": _ch8_floor}),
}


def check_run_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Seeds the study does not have: exit 2 (the other flags are checked by
    :func:`reuseprior.commands.parsers.study.check_arguments`)."""
    entry = STUDIES[args.name]
    unknown = sorted(set(args.seeds or ()) - set(entry.seeds))
    if unknown:
        parser.error(f"seeds {unknown} are not in study {args.name}'s {list(entry.seeds)}")


def _chosen(study: Study, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The runs of ``study`` that ``--seeds`` and ``--only`` select (all when neither is given)."""
    only: dict[str, set[str]] = {}
    for item in args.only:
        column, value = item.split("=", 1)
        only.setdefault(column, set()).add(value)
    unknown = [c for c in only if study.runs and c not in study.runs[0]]
    if unknown:
        raise SystemExit(f"reuseprior study: --only {unknown}: the key columns are {list(study.runs[0])}")
    return [
        dict(run)
        for run in study.runs
        if (not args.seeds or run["seed"] in args.seeds)
        and all(str(run[column]) in values for column, values in only.items())
    ]


def _print_status(entry: StudyCommand, args: argparse.Namespace) -> None:
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 60):
        for title, table in entry.status(args):
            print(f"{title}:")
            print(table.to_string(index=False))
    for study in entry.studies(args):
        counts = core_study.status(study)
        if counts["other plans"]:
            print(f"({counts['other plans']} stored rows of {study.store.path.name} belong to other plans)")


def run(args: argparse.Namespace) -> int:
    entry = STUDIES[args.name]
    if args.action == "status":
        _print_status(entry, args)
        return 0
    if args.action in entry.actions:
        return entry.actions[args.action](args)
    studies = entry.studies(args)
    todo = [(study, _chosen(study, args)) for study in studies]
    if not any(core_study.pending_runs(study, chosen) for study, chosen in todo):
        print("nothing to run: every chosen run is stored")
        return 0
    preload = sorted({study.run_one.__module__ for study in studies})
    with connect(
        scheduler=args.scheduler, workers=args.workers, max_memory_gb=args.max_memory_gb, preload=preload
    ) as client:
        results = core_study.run_studies(todo, client=client, max_runs=args.max_runs, progress=not args.no_progress)
    for (study, chosen), done in zip(todo, results):
        left = core_study.pending_runs(study, chosen)
        again = " (run the command again to continue)" if left else ""
        print(f"{study.name}: stored {len(done.stored)} runs, {len(left)} pending{again}")
        for label, message in done.killed.items():
            print(f"{study.name}: {label} was not stored: {message}")
    return 0
