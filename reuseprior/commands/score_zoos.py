"""``python -m reuseprior score-zoos``: score model zoos on Dask into a crash-safe
store, exported to data/zoo_scores_v<N>_<zoo>.csv (resumable; N is the
scores version, :data:`reuseprior.zoo.scoring.SCORES_VERSION`).

One Dask task per architecture (a LocalCluster of one worker per core, or
``--scheduler ADDRESS``); each finished row is committed to the store
(``build/zoo_scores.sqlite``) and ``data/zoo_scores_v<N>_<zoo>.csv`` is exported
when the run ends. Stored architectures are skipped, so the command can be
stopped (or killed) at any time and run again. Examples::

    python -m reuseprior score-zoos nb201 --limit 500                 # first 500 cells of the seeded order
    python -m reuseprior score-zoos nb201 --workers 16 --full-every 4 # data-dependent proxies on 1/4
    python -m reuseprior score-zoos torchvision --max-params 30e6
    python -m reuseprior score-zoos nb201 --fill-proxies              # what stored rows lack (pending, proxies)
    python -m reuseprior score-zoos pytorchcv --fill-proxies --isolate --max-memory-gb 18
    python -m reuseprior score-zoos nb201 --export                    # store -> data/ CSV
    python -m reuseprior score-zoos nb201 --status                    # each version's completeness

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
from pathlib import Path

import torch

from reuseprior.baselines.registry import ZOO_PROXIES
from reuseprior.commands.argtypes import positive_float, positive_int
from reuseprior.zoo.batch_sensitivity import score_minibatches
from reuseprior.zoo.distributed import TaskFailedError
from reuseprior.zoo.scoring import (
    SCORES_VERSION,
    ZOOS,
    CsvFormatError,
    StoreError,
    completeness,
    default_store_path,
    export_scores,
    fill_proxies,
    import_scores,
    published_version,
    rescore_proxies,
    score_zoo,
    upgrade_scores,
)
from reuseprior.zoo.store import unusable_store


def _no_shard(text: str) -> tuple[int, int]:
    """``--shard`` is gone: refuse it with what to do instead (argparse prints the message)."""
    raise argparse.ArgumentTypeError(
        f"{text!r}: sharding was removed; one command runs one task per architecture on Dask and stores every row "
        "once: give it more --workers, or a cluster with --scheduler ADDRESS"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("zoos", nargs="+", choices=sorted(ZOOS), help="zoos to score")
    parser.add_argument(
        "--limit", type=positive_int, default=None, help="score only the first N architectures of the zoo's order"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the order, the initialisations and the minibatch")
    parser.add_argument(
        "--max-params", type=float, default=None, help="ImageNet zoos: skip models with more published parameters"
    )
    parser.add_argument(
        "--full-every", type=positive_int, default=1, help="data-dependent proxies only for every M-th architecture"
    )
    parser.add_argument("--shard", type=_no_shard, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--no-reuse", action="store_true", help="skip the reusability-prior quantities (analyze)")
    parser.add_argument("--data-dir", type=Path, default=None, help="where the CSVs go (default: data/)")
    parser.add_argument(
        "--store",
        type=Path,
        default=None,
        metavar="FILE",
        help="the SQLite store every finished row is committed to (default: build/zoo_scores.sqlite "
        "for data/, else zoo_scores.sqlite in --data-dir); keep it on a local disk",
    )
    cluster = parser.add_argument_group("Dask (one task per architecture)")
    cluster.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        help="LocalCluster: single-threaded worker processes (default: one per core)",
    )
    cluster.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run on an existing Dask cluster instead (e.g. tcp://10.0.0.1:8786, or a dask-jobqueue "
        "SLURMCluster's scheduler_address)",
    )
    parser.add_argument(
        "--fill-proxies",
        action="store_true",
        help="instead of scoring new architectures, compute what stored rows lack: the scores in their "
        "'pending' column (after --upgrade: the scores whose definition changed) and the data-dependent "
        "proxies of rows that have none (rows at order %% FULL_EVERY == 0, in the zoo's order; with --limit, "
        "the first LIMIT of them, as for scoring: a fill stopped and run again fills the same rows)",
    )
    parser.add_argument(
        "--upgrade",
        action="store_true",
        help=f"instead, start the version-{SCORES_VERSION} table from data/zoo_scores_v{SCORES_VERSION - 1}_<zoo>.csv:"
        " the scores whose definition is unchanged copied, the changed ones (and every score of a model whose "
        "input size changed) left pending for --fill-proxies; exported at once",
    )
    parser.add_argument(
        "--status",
        action="store_true",
        help="instead, print how complete each version's CSV is and which version the chapter reads",
    )
    parser.add_argument(
        "--isolate",
        action="store_true",
        help="with --fill-proxies: score alone, each in its own task, the proxies that ran out of "
        "memory in the shared pass (a model that kills its worker is always followed up: GraSP "
        "dropped, then each proxy alone)",
    )
    parser.add_argument(
        "--retry-out-of-memory",
        action="store_true",
        help="with --fill-proxies: also rescore the stored rows where some proxy ran out of memory "
        "(e.g. with a higher --max-memory-gb, the machine to itself)",
    )
    parser.add_argument(
        "--rescore",
        nargs="+",
        default=None,
        choices=list(ZOO_PROXIES),
        metavar="PROXY",
        help="instead, score these proxies again on the stored rows (all, or --arch, --with-module) and "
        "replace their values: after a proxy's definition changed, or its counter learned an op it failed on",
    )
    parser.add_argument(
        "--arch",
        nargs="+",
        default=None,
        metavar="NAME",
        help="with --fill-proxies or --rescore and one zoo: only these stored architectures",
    )
    parser.add_argument(
        "--with-module",
        nargs="+",
        default=None,
        metavar="CLASS",
        help="with --rescore: only the models holding a module of one of these class names (e.g. Swish HSwish)",
    )
    parser.add_argument(
        "--max-memory-gb",
        type=positive_float,
        default=None,
        metavar="GIB",
        help="with --isolate or --rescore: the memory limit of each LocalCluster worker; a worker beyond it is "
        "restarted by its nanny and the proxies it was scoring are recorded as out of memory, naming "
        "the limit (in a fill: then GraSP dropped, then each proxy alone)",
    )
    parser.add_argument(
        "--minibatch-sensitivity",
        type=positive_int,
        default=None,
        metavar="N",
        help="instead, rescore the data-dependent proxies of the first N architectures on other "
        f"minibatches (another photo seed, noise): data/zoo_batch_sensitivity_v{SCORES_VERSION}_<zoo>.csv",
    )
    sync = parser.add_mutually_exclusive_group()
    sync.add_argument(
        "--export",
        action="store_true",
        help=f"instead, write the store's rows to data/zoo_scores_v{SCORES_VERSION}_<zoo>.csv (and .meta.json), "
        "atomically (also a partial table: the chapter reads it only once complete)",
    )
    sync.add_argument(
        "--import",
        dest="import_csv",
        action="store_true",
        help=f"instead, replace the store's rows by data/zoo_scores_v{SCORES_VERSION}_<zoo>.csv (refused, with the "
        "line number, when the file is malformed)",
    )


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Flags that only act together with another are refused without it, not ignored."""
    if args.isolate and not args.fill_proxies:
        parser.error("--isolate applies to --fill-proxies only; add --fill-proxies")
    if args.max_memory_gb is not None and not (args.isolate or args.rescore):
        parser.error(
            "--max-memory-gb limits the workers of an isolated fill or a rescoring; "
            "add --fill-proxies --isolate, or --rescore PROXY"
        )
    if args.retry_out_of_memory and not args.fill_proxies:
        parser.error("--retry-out-of-memory applies to --fill-proxies only; add --fill-proxies")
    if args.arch is not None and not ((args.fill_proxies or args.rescore) and len(args.zoos) == 1):
        parser.error(
            "--arch names architectures of one zoo to fill or rescore; give one zoo and --fill-proxies or --rescore"
        )
    if args.rescore is not None and args.fill_proxies:
        parser.error("--rescore and --fill-proxies are two different jobs; give one of them")
    if args.with_module is not None and args.rescore is None:
        parser.error("--with-module selects the rows of --rescore; add --rescore PROXY")
    if args.scheduler is not None and (args.workers is not None or args.max_memory_gb is not None):
        parser.error(
            "--workers and --max-memory-gb shape the LocalCluster started here; an existing cluster "
            "(--scheduler) has its own (dask worker --nworkers N --memory-limit 16GiB)"
        )
    jobs = [
        args.fill_proxies,
        args.rescore is not None,
        args.minibatch_sensitivity is not None,
        args.export or args.import_csv,
        args.upgrade,
        args.status,
    ]
    if sum(jobs) > 1:
        parser.error(
            "--fill-proxies, --rescore, --minibatch-sensitivity, --export/--import, --upgrade and --status are "
            "different jobs; give one of them"
        )


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(1)
    cluster = {"scheduler": args.scheduler, "workers": args.workers}
    for zoo in args.zoos:
        try:
            _run_one(zoo, args, cluster)
        except (StoreError, CsvFormatError, FileNotFoundError) as err:  # the message names the problem and the fix
            print(f"python -m reuseprior score-zoos: error: {err}", file=sys.stderr)
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
    return 0


def _run_one(zoo: str, args: argparse.Namespace, cluster: dict[str, object]) -> None:
    where = {"data_dir": args.data_dir, "store": args.store}
    if args.status:
        for version in range(1, SCORES_VERSION + 1):
            print(completeness(zoo, version, args.data_dir))
        print(f"{zoo}: the chapter reads version {published_version(zoo, args.data_dir)}")
        return
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
        return
    if args.export:
        print(f"{zoo}: {export_scores(zoo, **where)} written from {args.store or default_store_path(args.data_dir)}")
        return
    if args.import_csv:
        print(
            f"{zoo}: {import_scores(zoo, **where)} rows imported into {args.store or default_store_path(args.data_dir)}"
        )
        return
    if args.minibatch_sensitivity is not None:
        path = score_minibatches(zoo, args.minibatch_sensitivity, seed=args.seed, data_dir=args.data_dir)
        print(f"{zoo}: {path}")
        return
    if args.rescore:
        done = rescore_proxies(
            zoo,
            args.rescore,
            archs=args.arch,
            with_modules=args.with_module,
            seed=args.seed,
            max_memory_gb=args.max_memory_gb,
            **where,
            **cluster,
        )
        print(f"{zoo}: rescored {', '.join(args.rescore)} of {len(done)} stored rows")
        return
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
            **where,
            **cluster,
        )
        print(f"{zoo}: filled {filled} stored rows; {completeness(zoo, SCORES_VERSION, args.data_dir)}")
        return
    path = score_zoo(
        zoo,
        limit=args.limit,
        seed=args.seed,
        reuse=not args.no_reuse,
        max_params=args.max_params,
        full_every=args.full_every,
        **where,
        **cluster,
    )
    state = completeness(zoo, SCORES_VERSION, args.data_dir)
    print(f"{zoo}: {path}; {state}")
    if state.pending:
        print(f"{zoo}: python -m reuseprior score-zoos {zoo} --fill-proxies computes what the pending rows lack")
