"""``python -m reuseprior compare MODEL [MODEL ...] --input 3,32,32``: several models
ranked by the reusability prior (beyond the thesis: the prior as a tool).

Each MODEL is resolved as ``analyze`` resolves it (reuseprior's names,
torchvision's, ``package.module:factory``). Prints one table ranked by
``--by`` (PG by default) with PG, P'G, ES, H, S, #parameters, FLOPs and the
``--proxies`` asked for, or with ``--json`` one record per model; ``--csv``
writes the table, ``--figure`` a PNG of the score against #parameters. A model
that cannot be built or analysed is reported in the table (``error``) and
does not stop the others; the exit status is 1 when any failure is recorded
(0 when every score of every model was computed, 2 for a usage error). With
``--batch`` the example input is the minibatch's first image (``--input`` is
not used). See :mod:`reuseprior.analysis.compare`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
import torch

from reuseprior.analysis.compare import OPTIONAL_PROXIES, QUANTITIES, compare
from reuseprior.baselines.proxies import ProxyBatch
from reuseprior.baselines.registry import DATA_DEPENDENT
from reuseprior.commands.analyze import add_input_argument

__all__ = ["add_arguments", "check_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "models", nargs="+", metavar="MODEL", help="reuseprior or torchvision model names, or package.module:factory"
    )
    add_input_argument(parser)
    parser.add_argument(
        "--by",
        default="PG",
        help="rank by this score: PG (default), PG_prime, expected_spread, entropy, total_surprisal, params, flops "
        "or one of --proxies",
    )
    parser.add_argument(
        "--proxies",
        nargs="+",
        default=[],
        choices=OPTIONAL_PROXIES,
        metavar="PROXY",
        help=f"zero-cost proxies to add: {', '.join(OPTIONAL_PROXIES)} (the data-dependent ones need --batch)",
    )
    parser.add_argument(
        "--batch",
        type=Path,
        default=None,
        help="a minibatch for the data-dependent proxies: a file saved with torch.save holding "
        "{'inputs': (B, C, H, W) tensor, 'targets': (B,) class indices}",
    )
    parser.add_argument("--output-key", default=None, metavar="KEY", help="for a forward returning a dict/tuple/list")
    parser.add_argument("--seed", type=int, default=0, help="torch.manual_seed before each model is built (default 0)")
    parser.add_argument("--json", action="store_true", help="print JSON records instead of a table")
    parser.add_argument("--csv", type=Path, default=None, help="write the table to this CSV file")
    parser.add_argument("--figure", type=Path, default=None, help="write a PNG: the score against #parameters")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--by`` must name a computed score; data-dependent proxies need ``--batch``: exit 2."""
    scores = [*QUANTITIES, "params", "flops", *args.proxies]
    if args.by not in scores:
        parser.error(f"--by {args.by!r} is not computed; choose from {scores}")
    needing = [p for p in args.proxies if p in DATA_DEPENDENT]
    if needing and args.batch is None:
        parser.error(f"the data-dependent proxies {needing} need --batch FILE (a minibatch saved with torch.save)")


def _load_batch(path: Path) -> ProxyBatch:
    """The user's minibatch (see ``--batch``); ``num_classes`` is the largest target + 1 (at least 2)."""
    data = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(data, dict) or not {"inputs", "targets"} <= set(data):
        raise ValueError(f"{path} must hold a dict with 'inputs' and 'targets' tensors")
    inputs, targets = data["inputs"].float(), data["targets"].long()
    classes = max(int(targets.max()) + 1, 2)
    return ProxyBatch(inputs, targets, classes, f"user minibatch {path.name} ({len(inputs)} examples)")


def _count(value: float) -> str:
    """#parameters and FLOPs in full (integers), NaN as pandas prints it."""
    return f"{value:.0f}" if value == value else "NaN"


def run(args: argparse.Namespace) -> int:
    try:
        batch = _load_batch(args.batch) if args.batch is not None else None
    except (OSError, ValueError, RuntimeError) as err:
        print(f"error: --batch: {err}", file=sys.stderr)
        return 2
    example = batch.inputs[:1] if batch is not None else torch.zeros((1, *args.input))
    result = compare(
        args.models, example, by=args.by, proxies=args.proxies, batch=batch, output_key=args.output_key,
        seed=args.seed, progress=not args.no_progress,
    )  # fmt: skip
    if args.json:
        print(json.dumps(result.records(), indent=2))
    else:
        with pd.option_context("display.width", 200, "display.max_columns", 30, "display.max_colwidth", 80):
            print(f"ranked by {args.by}, input {'x'.join(map(str, result.input_shape))}")
            shown = result.table.assign(error=result.table["error"].str.slice(0, 40))
            counts = {c: _count for c in ("params", "flops")}
            print(shown.to_string(index=False, float_format=lambda v: f"{v:.6g}", formatters=counts))
        for _, row in result.table[result.table["error"] != ""].iterrows():
            print(f"{row['model']}: {row['error']}", file=sys.stderr)
    if args.csv is not None:
        result.to_csv(args.csv)
    if args.figure is not None:
        fig = result.figure()
        args.figure.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.figure.with_suffix(".png"), bbox_inches="tight", metadata={"Software": None})
    return 1 if (result.table["error"] != "").any() else 0
