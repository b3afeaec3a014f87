"""``python -m reuseprior study NAME ACTION``: the declared studies, resumable, with the same flags for
every study; ``python -m reuseprior study --list`` names them all, with what each is.

A study is what its declaration registers (:func:`reuseprior.chapters.get_study`, a
:class:`~reuseprior.core.declared_study.DeclaredStudy`): its name and aliases, what it is, the flags it
reads, its actions and profiles. This module and its parser know none of them: a new study is its
declaration. Actions::

    python -m reuseprior study --list                        # every study, its actions and profiles
    python -m reuseprior study --list 'table42-*'            # those matching a shell wildcard
    python -m reuseprior study ch3 run                       # every pending run, on a LocalCluster
    python -m reuseprior study ch3 run --workers 2 --max-runs 4
    python -m reuseprior study ch3 run --only dataset=mnist --seeds 0 1
    python -m reuseprior study ch7 run --scheduler tcp://host:8786   # an existing Dask cluster
    python -m reuseprior study ch4 status                    # stored / pending runs, the runs' criteria
    python -m reuseprior study ch4 floor                     # the linear floor of the study's images
    python -m reuseprior study ch3 check                     # its live check: 3 stored runs recomputed here
    python -m reuseprior study ch3 check --runs 6            # 6 of them (the first, 5 drawn by a fixed seed)
    python -m reuseprior study ch3 check --all               # every stored run it can check
    python -m reuseprior study ch4 slice                     # a study's own action

``run``, ``status``, ``floor`` and ``check`` are :mod:`reuseprior.core.study`'s; ``floor`` where a study
declares a linear floor, ``check`` where it declares a live check (it prints the check's table and exits
with 1 when a row does not hold); a group's own actions are its own. ``status`` prints, per study, its
stored and pending runs and, where it declares criteria, the criteria of its stored runs.

Each pending run is one Dask task (one thread per worker): a LocalCluster of
``--workers N`` (default: one per core) or the cluster at ``--scheduler``.
Finished runs are written by this process, each at once and atomically, so
the command can be stopped at any time and run again: stored runs are
skipped, the runs in progress resume from their checkpoints where the study
checkpoints, or start again. A flag a study does not read is refused.

Policy when something goes wrong: a run whose worker died (out of memory, or killed), or that was
refused before training for its own settings (:data:`reuseprior.core.study_runner.RUN_REFUSALS`), is named with
its cause while the other runs go on, and so is any other exception of a run (one line: its type, message
and where it was raised); the command exits with 1, what finished stored; a cluster left without workers ends
the run (:func:`reuseprior.core.distributed.run_jobs`) the same way; each run is claimed before it
trains (:mod:`reuseprior.core.claims`), so a second command skips the runs another holds and says
so. What cannot work is refused before any work, in one line: an unknown study (with the closest
names), an action, flag or profile the study does not take, a device the machine lacks (with what
the runs would cost, the group's ``cost``), a folder it cannot write, a stored file that is not a
UTF-8 CSV table, more workers than the machine holds (the parser), a scheduler that does not answer.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from reuseprior.chapters import get_study
from reuseprior.commands.argtypes import only_problem, only_values, write_problem
from reuseprior.commands.parsers.study import DEFAULTS, REQUEST_PART, add_arguments, check_arguments
from reuseprior.core import study as core_study
from reuseprior.core import study_runner
from reuseprior.core.declared_study import DeclaredStudy
from reuseprior.core.distributed import connect
from reuseprior.core.errors import CommandInputError, RunSettingError, UnknownEntryError
from reuseprior.core.runtime import resolve_device
from reuseprior.core.study import StudyGroup, StudyRequest, StudySpec

__all__ = ["add_arguments", "check_arguments", "check_run_arguments", "run"]


def _either(choices: list[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    return " or ".join([", ".join(choices[:-1]), choices[-1]] if len(choices) > 1 else choices)


def check_run_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """What the study named does not take, read off its declaration: an unknown name (with the closest
    names), an action, a flag or a profile it does not take, seeds it does not have: exit 2. Sets the
    default profile and the device (the profile's for ``run``, else cpu). (``--list`` is answered before:
    :func:`reuseprior.commands.parsers.study.answer`.)"""
    try:
        entry = get_study(args.name)
    except UnknownEntryError as err:
        parser.error(str(err))
    actions = entry.all_actions
    if args.action not in actions:
        parser.error(f"study {args.name} has no action {args.action!r}; choose from {list(actions)}")
    given = [k for k, default in DEFAULTS.items() if getattr(args, k) != default and REQUEST_PART[k] not in entry.reads]
    if given:
        parser.error(f"study {args.name} does not use {', '.join('--' + k.replace('_', '-') for k in given)}")
    if entry.profiles:
        args.profile = args.profile or entry.default_profile
        if args.profile not in entry.profiles:
            parser.error(f"study {args.name} takes --profile {_either(list(entry.profiles))}, not {args.profile!r}")
    run_device = entry.profiles.get(args.profile, "cpu") if args.action == "run" else "cpu"
    args.device = args.device or run_device
    study = entry.group
    unknown = sorted(set(args.seeds or ()) - set(study.seeds))
    if unknown:
        why = f": {study.seed_policy}" if study.seed_policy else ""
        parser.error(f"seeds {unknown} are not in study {args.name}'s {list(study.seeds)}{why}")


def _request(args: argparse.Namespace, entry: DeclaredStudy, device: str | None = None) -> StudyRequest:
    """What the command was asked, as the declarations read it: only the parts of a request the study reads
    are passed on (the others are at their defaults: :func:`check_run_arguments` refuses them); ``device``
    in place of ``--device``'s."""
    reads = entry.reads
    options: dict[str, Any] = {"deadline": study_runner.deadline_after(args.max_minutes)}
    if "device" in reads:
        options["device"] = str(resolve_device(device or args.device))
    options.update({k: getattr(args, k) for k in ("data_dir", "threads", "download", "work_dir") if k in reads})
    return StudyRequest(
        profile=args.profile if "profile" in reads else None,
        store=args.store,
        seeds=tuple(args.seeds) if args.seeds else None,
        max_runs=args.max_runs,
        checked=None if args.all else (args.runs or core_study.CHECKED_RUNS),
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
    holds rows of other plans, and the criteria of its stored runs where it declares them; then the
    group's reports."""
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 60):
        for spec in specs:
            _print_table(f"study {spec.name}, plan {spec.plan}", core_study.status_table(spec), spec)
            _print_hours_left(spec)
            _print_criteria(spec)
        for title, table in group.reports(request) if group.reports is not None else []:
            _print_table(title, table)


def _print_table(title: str, table: pd.DataFrame, spec: StudySpec | None = None) -> None:
    print(f"{title}:")
    print(table.to_string(index=False))
    others = table.attrs.get("other_plans", 0) if spec is not None else 0
    if others:
        rows = "row" if others == 1 else "rows"
        print(f"  ({spec.store.path.name} also holds {others} {rows} of other studies or plans than {spec.plan})")


def _print_hours_left(spec: StudySpec) -> None:
    """The run-hours the pending runs need at the stored runs' mean (:func:`reuseprior.core.study.hours_left`),
    one line per hours column, when runs are pending and some are stored."""
    for label, hours in core_study.hours_left(spec).items():
        if hours > 0:
            print(
                f"  left: about {hours:.1f} run-hours of {label!r} at the stored runs' mean "
                "(runs trained at once divide the wall time)"
            )


def _print_criteria(spec: StudySpec) -> None:
    """The criteria of ``spec``'s stored runs (:func:`reuseprior.core.study.criteria_of`), or why they cannot
    be read yet (a floor not stored: the command that stores it)."""
    try:
        criteria = core_study.criteria_of(spec)
    except LookupError as err:
        print(f"criteria of study {spec.name}: not read: {str(err).strip(chr(39))}")
        return
    if criteria is not None:
        _print_table(f"criteria of study {spec.name}'s stored runs", criteria)


def _check(specs: list[StudySpec], args: argparse.Namespace, request: StudyRequest) -> int:
    """Each chosen study's live check (:func:`reuseprior.core.study.check_live`): its table, and whether it
    passed; 1 when one did not."""
    checked = [spec for spec in specs if spec.live_check is not None]
    if not checked:
        profile = f" --profile {args.profile}" if args.profile else ""
        raise CommandInputError(
            f"no study of {args.name}{profile} declares a live check; python -m reuseprior study --list names "
            "each study's actions"
        )
    failed = False
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 60):
        for spec in checked:
            check = core_study.check_live(spec, request)
            _print_table(f"live check of study {spec.name}, plan {spec.plan}", check.table)
            held = "every row holds" if check.passed else "a row does not hold"
            print(f"{spec.name}: {held} (column {check.holds_column!r})")
            failed = failed or not check.passed
    return 1 if failed else 0


def _store_floors(specs: list[StudySpec], request: StudyRequest) -> None:
    """Store the linear floors of each study's images that are not stored yet (``--seeds``: of those)."""
    for spec in [s for s in specs if s.floor is not None]:
        floors = study_runner.store_floors(spec, request.seeds, progress=request.progress, **request.options)
        print(floors.to_string(index=False))
        print(f"-> {spec.floor.path}")


def _check_only(specs: list[StudySpec], args: argparse.Namespace) -> None:
    """An ``--only`` value that no run of the chosen studies has: exit with the values there are."""
    problem = only_problem((run for spec in specs for run in spec.runs), _only(args))
    if problem:
        raise CommandInputError(problem)


def _check_writable(specs: list[StudySpec], args: argparse.Namespace) -> None:
    """The files a run writes (each study's runs file and side tables, its ``--work-dir``) in folders that
    cannot be written: refused before any work, naming the folder."""
    problems = [write_problem(path) for path in _stored_files(specs)]
    if getattr(args, "work_dir", None) is not None:
        problems.append(write_problem(args.work_dir, folder=True))
    problem = next((p for p in problems if p), None)
    if problem:
        raise CommandInputError(f"{problem}; give --store (or --work-dir) in a folder this user can write")


def _report(todo: list[tuple[StudySpec, list[dict[str, Any]]]], results: list[study_runner.StudyResult]) -> int:
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
        results = study_runner.run_studies(
            todo, client=client, options=request.options, max_runs=args.max_runs, progress=request.progress
        )
    return _report(todo, results)


def _check_device(entry: DeclaredStudy, args: argparse.Namespace) -> None:
    """A device this machine does not have (a profile meant for a GPU trains on ``cuda`` unless told): refused
    before any work, with what the chosen runs would cost here (the group's :attr:`StudyGroup.cost`)."""
    try:
        resolve_device(args.device)
    except RunSettingError:
        group = entry.group
        cost = group.cost(_request(args, entry, device="cpu")) if group.cost is not None else ""
        profile = f" --profile {args.profile}" if "profile" in entry.reads else ""
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
    entry = get_study(args.name)
    group = entry.group
    if args.action == "run":
        _check_device(entry, args)
    request = _request(args, entry)
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
        elif args.action == "check":
            return _check(specs, args, request)
        else:
            return _run(specs, args, request)
    except (UnicodeDecodeError, pd.errors.ParserError):  # a stored file edited by hand: name it
        raise CommandInputError(_unreadable(_stored_files(specs) or [p for p in [request.store] if p])) from None
    return 0
