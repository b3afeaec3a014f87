"""The arguments of ``python -m reuseprior study NAME ACTION`` (:mod:`reuseprior.commands.study` runs it),
and the one table of the command's studies (:data:`STUDIES`).

Policy: this module imports nothing heavy (no torch, pandas or chapter module), so that ``--help`` and
an argument error answer at once; the names and defaults it repeats from the library are checked against
it by ``tests/test_cli_messages.py``. A study of the command is one row of :data:`STUDIES`: where its
declaration is (``module:NAME``, a :class:`~reuseprior.core.study.StudySpec` or a
:class:`~reuseprior.core.study.StudyGroup`, imported only when the command runs, as
:mod:`reuseprior.models.registry` names its factories), what it is, the flags it takes and its own
actions. The seeds a study has are checked once it is imported
(:func:`reuseprior.commands.study.check_run_arguments`).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reuseprior.commands.argtypes import (
    add_oversubscribe_flag,
    check_cluster_flags,
    check_only_flag,
    device_name,
    positive_float,
    positive_int,
)

#: every study's actions, with what each does (``--help`` shows them)
ACTIONS = {
    "run": "train and store the runs not stored yet, resumable",
    "status": "how many runs are stored, and the study's tables",
}
#: the engine's action for a study that declares a floor (:func:`reuseprior.core.study.store_floors`)
FLOOR = {"floor": "store the logistic-regression floors of the images its runs train on"}
#: flags every study takes
COMMON = {"seeds", "only", "max_runs", "workers", "scheduler", "max_memory_gb", "no_progress"}
#: the flags that shape the Dask cluster, which only ``run`` starts (with the value each is unset at)
CLUSTER_FLAGS: dict[str, Any] = {
    "workers": None,
    "scheduler": None,
    "max_memory_gb": None,
    "dashboard": False,
    "allow_oversubscribe": False,
}
#: the names of :data:`reuseprior.chapters.ch7_sharing_schemes.PROFILES`
PROFILES = ("full", "paper", "quick")
#: the names of :data:`reuseprior.chapters.ch4_sharing_training.designs.STUDY_PROFILES` (ch4's ``--profile``,
#: its default cpu) with the device each is meant for (the ``--device`` it trains on unless told)
CH4_PROFILES = ("cpu", "gpu")
CH4_PROFILE_DEVICES = {"cpu": "cpu", "gpu": "cuda"}


@dataclass(frozen=True)
class StudyOptions:
    """One study of the command: ``spec``, where it is declared (``module:NAME``); ``chapter``, what it
    is (``--help`` shows it); ``flags``, the flags it takes beyond :data:`COMMON`; ``actions``, its own
    actions beyond :data:`ACTIONS`, each with what it does (``--help`` shows them)."""

    spec: str
    chapter: str
    flags: frozenset[str] = frozenset()
    actions: Mapping[str, str] = field(default_factory=dict)


#: the command's studies: a new study is one row here and its declaration in its chapter
STUDIES: dict[str, StudyOptions] = {
    "ch3": StudyOptions(
        "reuseprior.chapters.ch3_revolver.study:CPU_STUDY",
        "chapter 3: random search vs the genetic algorithm on MNIST/Fashion-MNIST (data/revolver_study_*.csv)",
        frozenset({"data_dir", "max_minutes"}),
        FLOOR,
    ),
    "ch4": StudyOptions(
        "reuseprior.chapters.ch4_sharing_training.studies:STUDY_GROUP",
        "chapter 4: EfficientNetV2 original vs shared on Fashion-MNIST (data/ch4_real_study_runs.csv)",
        frozenset({"store", "profile", "device", "max_minutes", "work_dir", "data_dir"}),
        {
            "slice": "store the live slice that the notebook retrains",
            "probes": "train the width-1.0 recipe probes on 5,000 images, resumable",
            "fit-checks": "train the fit checks, a probed recipe for its whole schedule, resumable",
            **FLOOR,
        },
    ),
    "ch4-confirm": StudyOptions(
        "reuseprior.chapters.ch4_sharing_training.confirmatory:STUDY",
        "chapter 4: Table 4.2 confirmed on 12 fresh seeds, declared before its runs (data/ch4_real_study_runs.csv)",
        frozenset({"store", "device", "max_minutes", "work_dir"}),
        FLOOR,
    ),
    "ch7": StudyOptions(
        "reuseprior.chapters.ch7_sharing_schemes.study:STUDY_GROUP",
        "chapter 7: the sharing schemes at matched budgets (data/sharing_study_runs.csv)",
        frozenset({"store", "profile", "device", "threads", "data_dir", "download"}),
        {
            "fill-scores": "compute the prior's quantities of stored rows that lack them",
            "rescore": "recompute the prior's quantities of every stored row",
            "bookkeeping": "store the parameter bookkeeping of the profile's models",
            **FLOOR,
            "sensitivity": "store the generator-sensitivity table",
        },
    ),
    "ch8": StudyOptions(
        "reuseprior.chapters.ch8_prior_as_tool.screening:CPU_SCREENING",
        "chapter 8: plain vs PG-screened Revolver on Fashion-MNIST (data/ch8_screening_*.csv)",
        frozenset({"data_dir", "max_minutes"}),
        FLOOR,
    ),
}

#: every flag with its default (a flag differing from its default was given)
DEFAULTS: dict[str, Any] = {
    "store": None,
    "profile": None,
    "device": None,
    "threads": 1,
    "data_dir": None,
    "download": False,
    "max_minutes": None,
    "work_dir": None,
}


def action_help() -> str:
    """The actions' help: those every study takes, then each study's own, each with what it does."""
    own = {study: dict(entry.actions) for study, entry in STUDIES.items()}
    everywhere = {
        **ACTIONS,
        **{a: what for a, what in next(iter(own.values())).items() if all(a in o for o in own.values())},
    }
    listed = (
        f"{study} also: " + "; ".join(f"{a} ({what})" for a, what in actions.items() if a not in everywhere)
        for study, actions in own.items()
        if set(actions) - set(everywhere)
    )
    return ". ".join(["every study: " + "; ".join(f"{a} ({what})" for a, what in everywhere.items()), *listed])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "name", choices=sorted(STUDIES), help="the study: " + "; ".join(f"{k}: {v.chapter}" for k, v in STUDIES.items())
    )
    actions = sorted({*ACTIONS, *(a for s in STUDIES.values() for a in s.actions)})
    parser.add_argument("action", choices=actions, help=action_help())
    parser.add_argument("--seeds", type=int, nargs="+", help="only these seeds (of the study's)")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="COLUMN=VALUE",
        help="only runs whose key column has this value, e.g. dataset=mnist, mode=evolve, model=V2-B0-shared, "
        "config=scope, arm=pg (repeatable; values of one column are alternatives)",
    )
    parser.add_argument("--max-runs", type=positive_int, default=None, help="store at most this many new runs")
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        help="LocalCluster workers of 'run' (default: 1/core; more than the cores, or than the memory holds at "
        "--max-memory-gb each, is refused without --allow-oversubscribe)",
    )
    parser.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler (instead)")
    parser.add_argument("--max-memory-gb", type=positive_float, default=None, help="memory limit per worker (GiB)")
    add_oversubscribe_flag(parser)
    parser.add_argument(
        "--dashboard",
        action="store_true",
        help="serve the LocalCluster's Dask dashboard on 127.0.0.1 (default: off; never on other interfaces)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--store", type=Path, default=None, help="the runs CSV (default: the study's in data/)")
    parser.add_argument(
        "--profile",
        choices=sorted({*PROFILES, *CH4_PROFILES}),
        default=None,
        help="whose studies: ch7 full, paper or quick (its default); ch4 cpu (its default) or gpu",
    )
    parser.add_argument(
        "--device",
        type=device_name,
        default=None,
        help='"cpu", "cuda", "cuda:N", "mps" or "auto" (default: cpu; ch4 --profile gpu: cuda, refused with the '
        "estimated hours where there is none: --device cpu trains on the CPU anyway)",
    )
    parser.add_argument("--threads", type=positive_int, default=1, help="PyTorch threads per run (default: 1)")
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="datasets folder (ch3, ch4, ch7, ch8; default: build/datasets)"
    )
    parser.add_argument("--download", action="store_true", help="let torchvision download a missing dataset")
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="where unfinished runs keep their checkpoints (ch4; default: build/ch4_real_study)",
    )
    parser.add_argument(
        "--max-minutes",
        type=positive_float,
        default=None,
        help="stop runs after this long: between generations (ch3, ch8), at an epoch boundary (ch4), resumed later",
    )


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """A flag or action the study does not take, or a malformed ``--only``: exit 2."""
    entry = STUDIES[args.name]
    if args.action not in (*ACTIONS, *entry.actions):
        parser.error(f"study {args.name} has no action {args.action!r}; choose from {[*ACTIONS, *entry.actions]}")
    given = [k for k, default in DEFAULTS.items() if getattr(args, k) != default and k not in entry.flags]
    if given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        parser.error(f"study {args.name} does not use {flags}")
    if args.name == "ch4":
        args.profile = args.profile or CH4_PROFILES[0]
        if args.profile not in CH4_PROFILES:
            parser.error(f"study ch4 takes --profile {' or '.join(CH4_PROFILES)}, not {args.profile!r}")
        # the profile's device is the one its runs train on; the other actions (floors, status) read or fit on the CPU
        args.device = args.device or (CH4_PROFILE_DEVICES[args.profile] if args.action == "run" else "cpu")
    elif args.profile in CH4_PROFILES:
        parser.error(f"--profile {args.profile} is chapter 4's; study {args.name} takes {list(PROFILES)}")
    else:
        args.profile = args.profile or "quick"
    check_only_flag(parser, args)
    if args.seeds and args.action not in ("run", "floor"):
        parser.error(f"--seeds selects what 'run' trains and 'floor' stores; '{args.action}' does not take it")
    cluster = [k for k, unset in CLUSTER_FLAGS.items() if getattr(args, k) != unset]
    if cluster and args.action != "run":
        flags = ", ".join("--" + k.replace("_", "-") for k in cluster)
        parser.error(f"{flags}: only 'run' starts a Dask cluster; '{args.action}' does not take them")
    args.device = args.device or "cpu"
    check_cluster_flags(parser, args)
