"""The arguments of ``python -m reuseprior score-zoos`` (:mod:`reuseprior.commands.score_zoos` runs it).

Policy: this module imports nothing heavy (no torch, pandas or chapter module), so that ``--help`` and
an argument error answer at once; the names and defaults it repeats from the library are checked against
it by ``tests/test_cli_messages.py``. It keeps no list of the zoos: they are declared, each in its module,
in the zoo registry (:func:`reuseprior.zoo.scoring.list_zoos`), which imports torch. ``--list``
(:func:`answer`) and an unknown zoo (refused in one line naming the closest declared zoos,
:func:`check_arguments`) are answered from the registry's records (:mod:`reuseprior.commands.listings`:
its stored snapshot, held to the live registry by a test).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from reuseprior.baselines.registry import ZOO_PROXIES
from reuseprior.commands import listings
from reuseprior.commands.argtypes import (
    add_oversubscribe_flag,
    check_cluster_flags,
    device_name,
    positive_float,
    positive_int,
)

#: ``--rescore``'s name for the reusability quantities, the store's ``REUSE_COLUMN``
#: (reuseprior.zoo.scoring.registry, not imported here: this module must stay light)
RESCORE_REUSE = "reuse"

#: :data:`reuseprior.zoo.scoring.SCORES_VERSION`
SCORES_VERSION = 2


def _no_shard(text: str) -> tuple[int, int]:
    """``--shard`` is gone: refuse it with what to do instead (argparse prints the message)."""
    raise argparse.ArgumentTypeError(
        f"{text!r}: sharding was removed; one command runs one task per architecture on Dask and stores every row "
        "once: give it more --workers, or a cluster with --scheduler ADDRESS"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's flags, in the groups ``--help`` shows: what to score and where its rows go, the
    Dask cluster, the jobs done instead of scoring, and which stored rows a fill or a rescoring takes."""
    _add_scoring_arguments(parser)
    _add_cluster_arguments(parser)
    _add_job_arguments(parser)
    _add_selection_arguments(parser)


def _add_scoring_arguments(parser: argparse.ArgumentParser) -> None:
    """The zoos, which of their architectures, the seed, and where the rows go."""
    parser.add_argument(
        "zoos",
        nargs="*",
        metavar="ZOO",
        help="zoos to score (the declared zoos: --list; a name is checked once the arguments have parsed)",
    )
    parser.add_argument("--list", action="store_true", help="name every declared zoo and what it holds, and exit")
    parser.add_argument(
        "--limit", type=positive_int, default=None, help="score only the first N architectures of the zoo's order"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the order, the initialisations and the minibatch (default: the stored table's, else 0; "
        "a table is scored under one seed, so another one is refused)",
    )
    parser.add_argument(
        "--max-params",
        type=positive_float,
        default=None,
        metavar="COUNT",
        help="ImageNet zoos: skip models with more published parameters than COUNT, a number of parameters "
        "(e.g. 5e7: 50 million; default: no limit)",
    )
    parser.add_argument(
        "--full-every",
        type=positive_int,
        default=1,
        help="data-dependent proxies only for every M-th architecture (default 1: for every one)",
    )
    parser.add_argument("--shard", type=_no_shard, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--no-reuse", action="store_true", help="skip the reusability-prior quantities (analyze)")
    parser.add_argument(
        "--device",
        type=device_name,
        default="cpu",
        help='with --fill-proxies, --rescore or --relabel: where the data-dependent proxies\' shared pass runs, "cpu" '
        '(default) or a GPU ("cuda", "cuda:N"; shared by the workers, full float32, the device recorded in the '
        ".meta.json); models are built and every other score computed on the CPU",
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="where the CSVs go (default: data/)")
    parser.add_argument(
        "--store",
        type=Path,
        default=None,
        metavar="FILE",
        help="the SQLite store every finished row is committed to (default: build/zoo_scores.sqlite "
        "for data/, else zoo_scores.sqlite in --data-dir); keep it on a local disk",
    )


def _add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """The LocalCluster started here, or an existing cluster's address."""
    group = parser.add_argument_group("Dask (one task per architecture)")
    group.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        help="LocalCluster: single-threaded worker processes (default: one per core)",
    )
    add_oversubscribe_flag(group)
    group.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run on an existing Dask cluster instead (e.g. tcp://10.0.0.1:8786, or a dask-jobqueue "
        "SLURMCluster's scheduler_address)",
    )
    group.add_argument(
        "--max-memory-gb",
        type=positive_float,
        default=None,
        metavar="GIB",
        help="when scoring, with --isolate, --rescore or --relabel: the memory limit of each LocalCluster "
        "worker; a worker beyond it is restarted by its nanny and the proxies it was scoring are recorded "
        "as out of memory, naming the limit (in a fill: then GraSP dropped, then each proxy alone)",
    )


def _add_job_arguments(parser: argparse.ArgumentParser) -> None:
    """Jobs on the stored rows, each done instead of scoring."""
    group = parser.add_argument_group("instead of scoring new architectures (one job at a time)")
    group.add_argument(
        "--fill-proxies",
        action="store_true",
        help="instead of scoring new architectures, compute what stored rows lack: the scores in their "
        "'pending' column (after --upgrade: the scores whose definition changed) and the data-dependent "
        "proxies of rows that have none (rows at order %% FULL_EVERY == 0, in the zoo's order; with --limit, "
        "the first LIMIT of them, as for scoring: a fill stopped and run again fills the same rows)",
    )
    group.add_argument(
        "--upgrade",
        action="store_true",
        help=f"instead, start the version-{SCORES_VERSION} table from "
        f"data/zoo_scores_v{SCORES_VERSION - 1}_<zoo>.csv[.xz]: the scores whose definition is unchanged "
        "copied, the changed ones (and every score of a model whose input size changed) left pending for "
        "--fill-proxies; exported at once",
    )
    group.add_argument(
        "--status",
        action="store_true",
        help="instead, print how complete each version's CSV is and which version the chapter reads",
    )
    group.add_argument(
        "--rescore",
        nargs="+",
        default=None,
        choices=[*ZOO_PROXIES, RESCORE_REUSE],
        metavar="PROXY",
        help="instead, score these proxies again on the stored rows (all, or --arch, --with-module) and "
        "replace their values: after a proxy's definition changed, or its counter learned an op it failed on; "
        f"{RESCORE_REUSE!r}: the reusability quantities (PG, P'G, ES, H, S), after the counting engine learned to "
        "count a layer it miscounted",
    )
    group.add_argument(
        "--relabel",
        action="store_true",
        help="instead, give the stored rows whose catalogue row changed (the zoo's rule choosing each "
        "architecture's published result was corrected) that row's accuracy, after computing every score "
        "they hold again at its input size; recorded under 'relabelled' in the .meta.json",
    )
    group.add_argument(
        "--minibatch-sensitivity",
        type=positive_int,
        default=None,
        metavar="N",
        help="instead, rescore the data-dependent proxies of the first N architectures on other "
        f"minibatches (another photo seed, noise): data/zoo_batch_sensitivity_v{SCORES_VERSION}_<zoo>.csv",
    )
    sync = group.add_mutually_exclusive_group()
    sync.add_argument(
        "--export",
        action="store_true",
        help=f"instead, write the store's rows to data/zoo_scores_v{SCORES_VERSION}_<zoo>.csv "
        "(.csv.xz for nb201; and .meta.json), atomically (also a partial table: the chapter reads it only "
        "once complete)",
    )
    sync.add_argument(
        "--import",
        dest="import_csv",
        action="store_true",
        help=f"instead, replace the store's rows by data/zoo_scores_v{SCORES_VERSION}_<zoo>.csv[.xz] "
        "(refused, with the line number, when the file is malformed)",
    )


def _add_selection_arguments(parser: argparse.ArgumentParser) -> None:
    """The stored rows a fill or a rescoring takes, and how it isolates what ran out of memory."""
    group = parser.add_argument_group("which stored rows a fill or a rescoring takes")
    group.add_argument(
        "--isolate",
        action="store_true",
        help="with --fill-proxies: score alone, each in its own task, the proxies that ran out of "
        "memory in the shared pass (a model that kills its worker is always followed up: GraSP "
        "dropped, then each proxy alone)",
    )
    group.add_argument(
        "--retry-out-of-memory",
        action="store_true",
        help="with --fill-proxies: also rescore the stored rows where some proxy ran out of memory; in a "
        "scoring run: also score again the architectures stored as refused for memory, replacing their rows "
        "(e.g. with a higher --max-memory-gb, the machine to itself)",
    )
    group.add_argument(
        "--arch",
        nargs="+",
        default=None,
        metavar="NAME",
        help="with --fill-proxies or --rescore and one zoo: only these stored architectures",
    )
    group.add_argument(
        "--with-module",
        nargs="+",
        default=None,
        metavar="CLASS",
        help="with --rescore: only the models holding a module of one of these class names (e.g. Swish HSwish)",
    )


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Flags that only act together with another are refused without it, not ignored; a run names its
    zoos, each a declared one (an unknown name with the closest declared ones), ``--list`` none."""
    if args.list and args.zoos:
        parser.error("--list names every declared zoo; give it without zoos")
    if not args.list and not args.zoos:
        parser.error("name the zoos to score (python -m reuseprior score-zoos --list names them)")
    unknown = listings.unknown_names("zoos", args.zoos, "zoo")
    if unknown:
        parser.error(unknown)
    if args.isolate and not args.fill_proxies:
        parser.error("--isolate applies to --fill-proxies only; add --fill-proxies")
    if args.max_memory_gb is not None and args.fill_proxies and not args.isolate:
        parser.error(
            "--max-memory-gb limits the workers of a scoring run, an isolated fill or a rescoring; "
            "add --isolate to the fill"
        )
    if args.retry_out_of_memory and (args.rescore is not None or args.relabel):
        parser.error(
            "--retry-out-of-memory applies to a scoring run or --fill-proxies; --rescore and --relabel recompute anyway"
        )
    if args.arch is not None and not ((args.fill_proxies or args.rescore) and len(args.zoos) == 1):
        parser.error(
            "--arch names architectures of one zoo to fill or rescore; give one zoo and --fill-proxies or --rescore"
        )
    if args.rescore is not None and args.fill_proxies:
        parser.error("--rescore and --fill-proxies are two different jobs; give one of them")
    if args.device != "cpu" and not (args.fill_proxies or args.rescore or args.relabel):
        parser.error(
            f"--device {args.device} moves the data-dependent proxies of --fill-proxies, --rescore or --relabel; "
            "a scoring run computes every score on the CPU: add --fill-proxies (or --rescore PROXY)"
        )
    if args.seed is not None and (
        args.minibatch_sensitivity is not None or args.export or args.import_csv or args.upgrade or args.status
    ):
        parser.error(
            "--seed is the seed of a score table's scoring, fill, rescoring or relabelling; --upgrade keeps the "
            "old table's, --export, --import and --status compute nothing, and --minibatch-sensitivity is "
            "read against the tables scored under the default seed: leave --seed out"
        )
    if args.with_module is not None and args.rescore is None:
        parser.error("--with-module selects the rows of --rescore; add --rescore PROXY")
    check_cluster_flags(parser, args)
    jobs = [
        args.fill_proxies,
        args.rescore is not None,
        args.relabel,
        args.minibatch_sensitivity is not None,
        args.export or args.import_csv,
        args.upgrade,
        args.status,
    ]
    if sum(jobs) > 1:
        parser.error(
            "--fill-proxies, --rescore, --relabel, --minibatch-sensitivity, --export/--import, --upgrade and "
            "--status are different jobs; give one of them"
        )


def answer(args: argparse.Namespace) -> int | None:
    """``--list``: every declared zoo and what it holds, from the registry's records
    (:func:`reuseprior.commands.listings.zoo_listing`); anything else runs the command (None)."""
    if not args.list:
        return None
    print(listings.zoo_listing())
    return 0
