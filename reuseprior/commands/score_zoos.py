"""``python -m reuseprior score-zoos``: score model zoos on Dask into a crash-safe
store, exported to data/zoo_scores_v<N>_<zoo>.csv (``.csv.xz`` for nb201; resumable; N is the
scores version, :data:`reuseprior.zoo.scoring.SCORES_VERSION`).

One Dask task per architecture (a LocalCluster of one worker per core, or
``--scheduler ADDRESS``); each finished row is committed to the store
(``build/zoo_scores.sqlite``) and ``data/zoo_scores_v<N>_<zoo>.csv[.xz]`` is exported
when the run ends. Stored architectures are skipped, so the command can be
stopped (or killed) at any time and run again. Examples::

    python -m reuseprior score-zoos --list                            # the declared zoos
    python -m reuseprior score-zoos nb201 --limit 500                 # first 500 cells of the seeded order
    python -m reuseprior score-zoos nb201 --workers 16 --full-every 4 # data-dependent proxies on 1/4
    python -m reuseprior score-zoos torchvision --max-params 30e6
    python -m reuseprior score-zoos nb201 --fill-proxies              # what stored rows lack (pending, proxies)
    python -m reuseprior score-zoos pytorchcv --fill-proxies --isolate --max-memory-gb 18
    python -m reuseprior score-zoos nb201 --export                    # store -> data/ CSV
    python -m reuseprior score-zoos nb201 --status                    # each version's completeness
    python -m reuseprior score-zoos timm --relabel                    # rows whose chosen result row changed

The zoos are those declared in the zoo registry (:func:`reuseprior.zoo.scoring.list_zoos`, each in its
module of :mod:`reuseprior.zoo.scoring.zoos`): the command keeps no list of them; ``--list`` and an
unknown name (refused before any work with the closest declared ones) are answered by its parser
(:mod:`reuseprior.commands.parsers.score_zoos`) from the registry's records.

A new version of the scores (a definition changed) starts from the previous
version's CSV, then fills what changed; the chapter reads the previous
version until the new one is complete (:func:`reuseprior.zoo.scoring.published_version`)::

    python -m reuseprior score-zoos torchvision --upgrade             # v<N-1> CSV -> v<N> table, changed scores empty
    python -m reuseprior score-zoos torchvision --fill-proxies        # compute them (resumable), export v<N>
"""

from __future__ import annotations

import argparse
import sqlite3
import sys

import torch

from reuseprior.commands.parsers.score_zoos import add_arguments, check_arguments
from reuseprior.core.runtime import resolve_device
from reuseprior.zoo.batch_sensitivity import score_minibatches
from reuseprior.zoo.distributed import TaskFailedError
from reuseprior.zoo.scoring import (
    DEFAULT_SEED,
    SCORES_VERSION,
    CsvFormatError,
    Relabelling,
    StoreError,
    completeness,
    default_store_path,
    export_scores,
    fill_proxies,
    import_scores,
    published_version,
    relabel_rows,
    rescore_proxies,
    score_zoo,
    upgrade_scores,
)
from reuseprior.zoo.store_file import unusable_store

__all__ = ["add_arguments", "check_arguments", "run"]


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(1)
    cluster = {"scheduler": args.scheduler, "workers": args.workers}
    status = 0
    for zoo in args.zoos:
        try:
            status = max(status, _run_one(zoo, args, cluster))
        except (StoreError, CsvFormatError, FileNotFoundError) as err:  # the message names the problem and the fix
            print(f"python -m reuseprior score-zoos: error: {err}", file=sys.stderr)
            return 2
        except PermissionError as err:  # a data folder that cannot be written: the rows stay in the store
            store = args.store or default_store_path(args.data_dir)
            print(
                f"python -m reuseprior score-zoos: error: cannot write {err.filename} ({err.strerror}); every finished "
                f"row is in the store {store}: make the folder writable and run python -m reuseprior score-zoos "
                f"{zoo} --export{'' if args.data_dir is None else f' --data-dir {args.data_dir}'}",
                file=sys.stderr,
            )
            return 2
        except sqlite3.DatabaseError as err:  # a store damaged where opening it did not look
            store = args.store or default_store_path(args.data_dir)
            print(f"python -m reuseprior score-zoos: error: {unusable_store(store, err)}", file=sys.stderr)
            return 2
        except TaskFailedError as err:  # a model that cannot be scored at all; the finished rows are stored
            print(
                f"python -m reuseprior score-zoos: error: {err}; the rows finished before it are stored and "
                f"exported; fix the model's builder, or leave it out (--limit, --max-params, --arch)",
                file=sys.stderr,
            )
            return 1
    return status


def _run_one(zoo: str, args: argparse.Namespace, cluster: dict[str, object]) -> int:
    """One zoo's job; its exit status."""
    where = {"data_dir": args.data_dir, "store": args.store}
    if args.status:
        for version in range(1, SCORES_VERSION + 1):
            print(completeness(zoo, version, args.data_dir))
        print(f"{zoo}: the chapter reads version {published_version(zoo, args.data_dir)}")
        return 0
    if args.upgrade:
        record = upgrade_scores(zoo, **where)
        recomputed, entirely = record["recomputed"], record["recomputed_entirely"]["archs"]
        print(
            f"{zoo}: version {SCORES_VERSION} started from {record['csv']}: {len(record['carried_over'])} columns "
            f"carried over; pending: {', '.join(recomputed['scores']) or 'nothing'} on {recomputed['rows']} rows"
            + (
                f", every score on {len(entirely)} rows whose input size changed ({', '.join(entirely)})"
                if entirely
                else ""
            )
            + f"; next: python -m reuseprior score-zoos {zoo} --fill-proxies"
        )
        return 0
    if args.export:
        print(f"{zoo}: {export_scores(zoo, **where)} written from {args.store or default_store_path(args.data_dir)}")
        return 0
    if args.import_csv:
        print(
            f"{zoo}: {import_scores(zoo, **where)} rows imported into {args.store or default_store_path(args.data_dir)}"
        )
        return 0
    if args.minibatch_sensitivity is not None:
        path = score_minibatches(zoo, args.minibatch_sensitivity, seed=DEFAULT_SEED, data_dir=args.data_dir)
        print(f"{zoo}: {path}")
        return 0
    if args.rescore or args.relabel or args.fill_proxies:
        return _compute_on_stored_rows(zoo, args, where, cluster)
    path = score_zoo(
        zoo,
        limit=args.limit,
        seed=args.seed,
        reuse=not args.no_reuse,
        max_params=args.max_params,
        full_every=args.full_every,
        max_memory_gb=args.max_memory_gb,
        retry_out_of_memory=args.retry_out_of_memory,
        **where,
        **cluster,
    )
    state = completeness(zoo, SCORES_VERSION, args.data_dir)
    print(f"{zoo}: {path}; {state}")
    if state.pending:
        print(f"{zoo}: python -m reuseprior score-zoos {zoo} --fill-proxies computes what the pending rows lack")
    return 0


def _compute_on_stored_rows(
    zoo: str, args: argparse.Namespace, where: dict[str, object], cluster: dict[str, object]
) -> int:
    """The jobs that compute scores on stored rows: ``--rescore``, ``--relabel``, ``--fill-proxies``; the
    command's exit status (1: a relabelling left rows it could not rescore)."""
    device = str(resolve_device(args.device))
    if args.rescore:
        done = rescore_proxies(
            zoo,
            args.rescore,
            archs=args.arch,
            with_modules=args.with_module,
            seed=args.seed,
            max_memory_gb=args.max_memory_gb,
            device=device,
            **where,
            **cluster,
        )
        print(f"{zoo}: rescored {', '.join(args.rescore)} of {len(done)} stored rows")
        return 0
    if args.relabel:
        done = relabel_rows(zoo, seed=args.seed, max_memory_gb=args.max_memory_gb, device=device, **where, **cluster)
        _say_relabelled(zoo, done)
        return 1 if done.not_rescored else 0
    if args.fill_proxies:
        filled = fill_proxies(
            zoo,
            every=args.full_every,
            limit=args.limit,
            seed=args.seed,
            isolate=args.isolate,
            max_memory_gb=args.max_memory_gb,
            retry_out_of_memory=args.retry_out_of_memory,
            archs=args.arch,
            device=device,
            **where,
            **cluster,
        )
        print(f"{zoo}: filled {filled} stored rows; {completeness(zoo, SCORES_VERSION, args.data_dir)}")
    return 0


def _say_relabelled(zoo: str, done: Relabelling) -> None:
    """What a relabelling stored, and what it left (its rows not rescored; its rows refused for memory)."""
    if not (done.moves or done.not_rescored):
        print(f"{zoo}: every stored accuracy is its catalogue row's; nothing to relabel")
    for move in done.moves:
        print(f"{zoo}: {move['arch']} relabelled {move['from']} -> {move['to']} ({move['img_size']} px)")
    if done.not_rescored:
        print(
            f"python -m reuseprior score-zoos: error: {zoo}: {', '.join(done.not_rescored)} could not be rescored "
            f"at the new row's size (see above) and keep their accuracy; run --relabel again, with fewer "
            f"--workers or a higher --max-memory-gb",
            file=sys.stderr,
        )
    if done.refused_for_memory:
        print(
            f"{zoo}: {', '.join(done.refused_for_memory)} were refused for memory at the old size; "
            f"python -m reuseprior score-zoos {zoo} --retry-out-of-memory judges them again"
        )
