"""``python -m reuseprior score-zoos``: score model zoos into data/zoo_scores_v1_<zoo>.csv
(same as ``scripts/score_zoos.py``; resumable)."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..cli import positive_float, positive_int
from ..proxies import DATA_DEPENDENT
from .scoring import ZOOS, fill_proxies, rescore_proxies, score_zoo


def _shard(text: str) -> tuple[int, int]:
    i, _, n = text.partition("/")
    try:
        shard = (int(i), int(n or 1))
    except ValueError:
        shard = (-1, 0)
    if not 0 <= shard[0] < shard[1]:
        raise argparse.ArgumentTypeError(f"must be I/N with 0 <= I < N, got {text!r}")
    return shard


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("zoos", nargs="+", choices=sorted(ZOOS), help="zoos to score")
    parser.add_argument("--limit", type=positive_int, default=None, help="score only the first N architectures of the zoo's order")
    parser.add_argument("--seed", type=int, default=0, help="seed of the order, the initialisations and the minibatch")
    parser.add_argument("--max-params", type=float, default=None, help="ImageNet zoos: skip models with more published parameters")
    parser.add_argument("--full-every", type=positive_int, default=1, help="data-dependent proxies only for every M-th architecture")
    parser.add_argument("--shard", type=_shard, default=(0, 1), help="I/N: score every N-th architecture starting at I (parallel workers)")
    parser.add_argument("--no-reuse", action="store_true", help="skip the reusability-prior quantities (analyze)")
    parser.add_argument("--data-dir", type=Path, default=None, help="where the CSVs go (default: data/)")
    parser.add_argument("--fill-proxies", action="store_true",
                        help="instead of scoring new architectures, compute the data-dependent proxies of stored rows "
                        "that lack them (at order %% FULL_EVERY == 0, in the zoo's order, at most LIMIT rows)")
    parser.add_argument("--isolate", action="store_true",
                        help="with --fill-proxies: score each architecture in its own process, so that a model the "
                        "system kills for lack of memory is recorded (GraSP dropped, then every proxy) and the fill goes on")
    parser.add_argument("--retry-out-of-memory", action="store_true",
                        help="with --fill-proxies: also rescore the stored rows where some proxy ran out of memory "
                        "(e.g. with a higher --max-memory-gb, the machine to itself)")
    parser.add_argument("--rescore", nargs="+", default=None, choices=sorted(DATA_DEPENDENT), metavar="PROXY",
                        help="instead, score these data-dependent proxies again on the stored rows (all, or --arch, "
                        "--with-module) and replace their values: after a proxy's definition changed")
    parser.add_argument("--arch", nargs="+", default=None, metavar="NAME",
                        help="with --fill-proxies or --rescore and one zoo: only these stored architectures")
    parser.add_argument("--with-module", nargs="+", default=None, metavar="CLASS",
                        help="with --rescore: only the models holding a module of one of these class names "
                        "(e.g. Swish HSwish)")
    parser.add_argument("--max-memory-gb", type=positive_float, default=None, metavar="GIB",
                        help="with --isolate: cap each scoring process's memory; an allocation beyond it is an "
                        "out-of-memory error (GraSP dropped first, then each proxy alone) instead of the machine "
                        "paging until the kernel kills")
    parser.add_argument("--minibatch-sensitivity", type=positive_int, default=None, metavar="N",
                        help="instead, rescore the data-dependent proxies of the first N architectures on other "
                        "minibatches (another photo seed, noise): data/zoo_batch_sensitivity_v1_<zoo>.csv")


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Flags that only act together with another are refused without it, not ignored."""
    if args.isolate and not args.fill_proxies:
        parser.error("--isolate applies to --fill-proxies only; add --fill-proxies")
    if args.max_memory_gb is not None and not args.isolate:
        parser.error("--max-memory-gb caps the isolated scoring processes; add --fill-proxies --isolate")
    if args.retry_out_of_memory and not args.fill_proxies:
        parser.error("--retry-out-of-memory applies to --fill-proxies only; add --fill-proxies")
    if args.arch is not None and not ((args.fill_proxies or args.rescore) and len(args.zoos) == 1):
        parser.error("--arch names architectures of one zoo to fill or rescore; give one zoo and --fill-proxies or --rescore")
    if args.rescore is not None and args.fill_proxies:
        parser.error("--rescore and --fill-proxies are two different jobs; give one of them")
    if args.with_module is not None and args.rescore is None:
        parser.error("--with-module selects the rows of --rescore; add --rescore PROXY")


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(1)
    for zoo in args.zoos:
        if args.minibatch_sensitivity is not None:
            from .batch_sensitivity import score_minibatches

            path = score_minibatches(zoo, args.minibatch_sensitivity, seed=args.seed, data_dir=args.data_dir)
            print(f"{zoo}: {path}")
            continue
        if args.rescore:
            done = rescore_proxies(zoo, args.rescore, archs=args.arch, with_modules=args.with_module, seed=args.seed,
                                   data_dir=args.data_dir)
            print(f"{zoo}: rescored {', '.join(args.rescore)} of {len(done)} stored rows")
            continue
        if args.fill_proxies:
            filled = fill_proxies(zoo, every=args.full_every, limit=args.limit, seed=args.seed, data_dir=args.data_dir,
                                  shard=args.shard, isolate=args.isolate, max_memory_gb=args.max_memory_gb,
                                  retry_out_of_memory=args.retry_out_of_memory, archs=args.arch)
            print(f"{zoo}: filled the data-dependent proxies of {filled} stored rows")
            continue
        path = score_zoo(zoo, limit=args.limit, seed=args.seed, data_dir=args.data_dir, reuse=not args.no_reuse,
                         max_params=args.max_params, shard=args.shard, full_every=args.full_every)
        print(f"{zoo}: {path}")
    return 0
