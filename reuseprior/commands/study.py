"""``python -m reuseprior study NAME ACTION``: the trained studies of the chapters,
resumable, with the same flags for every study.

Studies (``NAME``, the rows of :data:`reuseprior.commands.parsers.study.STUDIES`)::

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

Policy when something goes wrong: a run whose worker died (out of memory, or killed) is named with
its cause and the command exits with 1, what finished stored; a cluster left without workers ends
the run (:func:`reuseprior.core.distributed.run_jobs`) the same way; each run is claimed before it
trains (:mod:`reuseprior.core.claims`), so a second command skips the runs another holds and says
so. What cannot work is refused before any work, in one line: a device the machine lacks (with what
the runs would cost, the group's ``cost``), a folder it cannot write, a stored file that is not a
UTF-8 CSV table, more workers than the machine holds (the parser), a scheduler that does not answer.

Nothing here is a chapter's: a row of the table names a study's declaration
(:class:`~reuseprior.core.study.StudySpec`, or a
:class:`~reuseprior.core.study.StudyGroup` of several), imported when the
command runs; ``run``, ``status`` and ``floor`` are
:mod:`reuseprior.core.study`'s, a group's own actions its own.
"""

from __future__ import annotations

import argparse
import importlib
import io
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from reuseprior.commands.argtypes import only_problem, only_values, write_problem
from reuseprior.commands.parsers.study import STUDIES, add_arguments, check_arguments
from reuseprior.core import study as core_study
from reuseprior.core.distributed import connect
from reuseprior.core.errors import CommandInputError, RunSettingError
from reuseprior.core.runtime import resolve_device
from reuseprior.core.study import StudyGroup, StudyRequest, StudySpec

__all__ = ["add_arguments", "check_arguments", "check_run_arguments", "declared", "run"]


def declared(name: str) -> StudyGroup:
    """The declaration of study ``name`` (the ``module:NAME`` of its row of
    :data:`~reuseprior.commands.parsers.study.STUDIES`, imported now), as a group: a single
    :class:`~reuseprior.core.study.StudySpec` is a group of one."""
    module, _, attribute = STUDIES[name].spec.partition(":")
    target = getattr(importlib.import_module(module), attribute)
    if isinstance(target, StudySpec):
        return StudyGroup(seeds=target.seeds, choose=lambda _: [target], seed_policy=target.seed_policy)
    return target


def check_run_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Seeds the study does not have: exit 2 (the other flags are checked by
    :func:`reuseprior.commands.parsers.study.check_arguments`)."""
    study = declared(args.name)
    unknown = sorted(set(args.seeds or ()) - set(study.seeds))
    if unknown:
        why = f": {study.seed_policy}" if study.seed_policy else ""
        parser.error(f"seeds {unknown} are not in study {args.name}'s {list(study.seeds)}{why}")


def _request(args: argparse.Namespace, device: str | None = None) -> StudyRequest:
    """What the command was asked, as the declarations read it: only the flags the study takes are
    passed on (the others are at their defaults: the parser refuses them); ``device`` in place of
    ``--device``'s."""
    flags = STUDIES[args.name].flags
    options: dict[str, Any] = {"deadline": core_study.deadline_after(args.max_minutes)}
    if "device" in flags:
        options["device"] = str(resolve_device(device or args.device))
    options.update({k: getattr(args, k) for k in ("data_dir", "threads", "download", "work_dir") if k in flags})
    return StudyRequest(
        profile=args.profile if "profile" in flags else None,
        store=args.store,
        seeds=tuple(args.seeds) if args.seeds else None,
        max_runs=args.max_runs,
        progress=not args.no_progress,
        options=options,
    )


def _only(args: argparse.Namespace) -> dict[str, set[str]]:
    """``--only COLUMN=VALUE ...`` as the values each column may take."""
    return only_values(args.only)


def _chosen(spec: StudySpec, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The runs of ``spec`` that ``--seeds`` and ``--only`` select (all when neither is given)."""
    only = _only(args)
    unknown = [c for c in only if spec.runs and c not in spec.runs[0]]
    if unknown:
        raise CommandInputError(f"--only {unknown}: the key columns are {list(spec.runs[0])}")
    return [
        dict(run)
        for run in spec.runs
        if (not args.seeds or run["seed"] in args.seeds)
        and all(str(run[column]) in values for column, values in only.items())
    ]


def _print_status(group: StudyGroup, specs: list[StudySpec], request: StudyRequest) -> None:
    """Each study's table of stored and pending runs, with a note under it when its store file also
    holds rows of other plans, then the group's reports."""
    tables = [(f"study {spec.name}, plan {spec.plan}", core_study.status_table(spec), spec) for spec in specs]
    if group.reports is not None:
        tables += [(title, table, None) for title, table in group.reports(request)]
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 60):
        for title, table, spec in tables:
            print(f"{title}:")
            print(table.to_string(index=False))
            others = table.attrs.get("other_plans", 0) if spec is not None else 0
            if others:
                rows = "row" if others == 1 else "rows"
                print(
                    f"  ({spec.store.path.name} also holds {others} {rows} of other studies or plans than {spec.plan})"
                )


def _store_floors(specs: list[StudySpec], request: StudyRequest) -> None:
    """Store the linear floors of each study's images that are not stored yet (``--seeds``: of those)."""
    for spec in [s for s in specs if s.floor is not None]:
        floors = core_study.store_floors(spec, request.seeds, progress=request.progress, **request.options)
        print(floors.to_string(index=False))
        print(f"-> {spec.floor.path}")


def _check_only(specs: list[StudySpec], args: argparse.Namespace) -> None:
    """An ``--only`` value that no run of the chosen studies has: exit with the values there are."""
    problem = only_problem((run for spec in specs for run in spec.runs), _only(args))
    if problem:
        raise CommandInputError(problem)


def _check_writable(specs: list[StudySpec], args: argparse.Namespace) -> None:
    """The files a run writes (each study's runs file and side tables, ch4's ``--work-dir``) in folders that
    cannot be written: refused before any work, naming the folder."""
    problems = [write_problem(path) for path in _stored_files(specs)]
    if getattr(args, "work_dir", None) is not None:
        problems.append(write_problem(args.work_dir, folder=True))
    problem = next((p for p in problems if p), None)
    if problem:
        raise CommandInputError(f"{problem}; give --store (or --work-dir) in a folder this user can write")


def _report(todo: list[tuple[StudySpec, list[dict[str, Any]]]], results: list[core_study.StudyResult]) -> int:
    """What ``run`` did, per study: runs stored and pending, then each run that failed and why, each run
    another command holds; 1 when a run failed or the cluster lost its workers, else 0."""
    failed = False
    for (spec, chosen), done in zip(todo, results):
        left = core_study.pending_runs(spec, chosen)
        again = " (run the command again to continue)" if left else ""
        print(f"{spec.name}: stored {len(done.stored)} runs, {len(left)} pending{again}")
        for label, holder in done.claimed.items():
            print(f"{spec.name}: {label} skipped: {holder}")
        for label, message in done.killed.items():
            print(f"{spec.name}: {label} failed, not stored: {message}", file=sys.stderr)
        failed = failed or bool(done.killed) or done.stopped is not None
    stopped = next((done.stopped for done in results if done.stopped), None)
    if stopped:
        print(f"python -m reuseprior study: error: {stopped}", file=sys.stderr)
    return 1 if failed else 0


def _run(specs: list[StudySpec], args: argparse.Namespace, request: StudyRequest) -> int:
    _check_only(specs, args)
    todo = [(spec, _chosen(spec, args)) for spec in specs]
    if not any(core_study.pending_runs(spec, chosen) for spec, chosen in todo):
        print("nothing to run: every chosen run is stored")
        return 0
    _check_writable(specs, args)
    preload = sorted({spec.run_one.__module__ for spec in specs})
    with connect(
        scheduler=args.scheduler,
        workers=args.workers,
        max_memory_gb=args.max_memory_gb,
        preload=preload,
        dashboard=args.dashboard,
    ) as client:
        results = core_study.run_studies(
            todo, client=client, options=request.options, max_runs=args.max_runs, progress=request.progress
        )
    return _report(todo, results)


def _check_device(group: StudyGroup, args: argparse.Namespace) -> None:
    """A device this machine does not have (ch4 ``--profile gpu`` trains on ``cuda`` unless told): refused
    before any work, with what the chosen runs would cost here (the group's :attr:`StudyGroup.cost`)."""
    try:
        resolve_device(args.device)
    except RunSettingError:
        cost = group.cost(_request(args, device="cpu")) if group.cost is not None else ""
        profile = f" --profile {args.profile}" if "profile" in STUDIES[args.name].flags else ""
        raise CommandInputError(
            f"study {args.name}{profile} trains on {args.device}, and PyTorch sees no CUDA GPU here"
            + (f"; {cost}" if cost else "")
            + "; run it on a machine with a GPU, or give --device cpu to train on this CPU anyway"
        ) from None


def _stored_files(specs: list[StudySpec]) -> list[Path]:
    """The runs file and side tables of each study, once each."""
    kinds = [(spec, kind) for spec in specs for kind in (core_study.RUNS, *spec.store.tables)]
    return list(dict.fromkeys(Path(spec.store.path_of(kind)) for spec, kind in kinds))


def _unreadable(paths: list[Path]) -> str:
    """The first of ``paths`` that is not UTF-8 or not a CSV table, with where and the fix."""
    for path in paths:
        try:
            pd.read_csv(io.StringIO(path.read_bytes().decode("utf-8")))
        except UnicodeDecodeError as err:
            return (
                f"{path}: byte 0x{err.object[err.start]:02x} at offset {err.start} is not UTF-8; re-save it as "
                "UTF-8 (e.g. iconv -f latin1 -t utf-8), or restore it from version control or a copy"
            )
        except pd.errors.ParserError as err:
            return f"{path}: {' '.join(str(err).split())}; mend that line (two rows run together?) or restore the file"
        except (OSError, pd.errors.EmptyDataError):
            continue
    return f"a stored file of the study is not a UTF-8 CSV table ({', '.join(map(str, paths))}); mend or restore it"


def run(args: argparse.Namespace) -> int:
    group = declared(args.name)
    if args.action == "run":
        _check_device(group, args)
    request = _request(args)
    specs: list[StudySpec] = []
    try:
        if args.action in group.actions:
            print(group.actions[args.action](request))
            return 0
        specs = [spec.with_store(request.store) for spec in group.choose(request)]
        if args.action == "status":
            _print_status(group, specs, request)
        elif args.action == "floor":
            _store_floors(specs, request)
        else:
            return _run(specs, args, request)
    except (UnicodeDecodeError, pd.errors.ParserError):  # a stored file edited by hand: name it
        raise CommandInputError(_unreadable(_stored_files(specs) or [p for p in [request.store] if p])) from None
    return 0
