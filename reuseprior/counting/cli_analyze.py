"""``python -m reuseprior analyze MODEL --input 3,224,224``: context-count analysis (ch. 4).

MODEL is a name registered in reuseprior, a torchvision classifier name, or
``package.module:factory``.  Prints the chapter-4 quantities (PG, P'G, ES, H, ...) as a
table, or as JSON with ``--json``; ``--csv PATH`` appends one row.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

import torch

from ..cli import positive_int

__all__ = ["add_arguments", "run"]


def _shape(text: str) -> tuple[int, ...]:
    """``3,224,224`` or ``3x224x224`` -> ``(3, 224, 224)``; every part must be a positive integer."""
    try:
        dims = tuple(int(t) for t in text.replace("x", ",").split(","))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"--input must look like 3,224,224, got {text!r}") from err
    if any(d <= 0 for d in dims):
        raise argparse.ArgumentTypeError(f"--input must be positive sizes like 3,224,224, got {text!r}")
    return dims


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="reuseprior/torchvision model name or package.module:factory")
    parser.add_argument("--input", type=_shape, default=(3, 224, 224),
                        help="input shape without the batch dimension (default 3,224,224)")
    parser.add_argument("--outputs", type=positive_int, default=None, help="NO (default: output elements)")
    parser.add_argument("--inputs", type=positive_int, default=None, help="NI (default: input elements)")
    parser.add_argument("--bn-params", type=int, default=4, help="weights per batch-norm channel (default 4)")
    parser.add_argument("--discount", type=float, default=1.0, help="path-length discount gamma (default 1)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--csv", type=Path, default=None, help="append a row to this CSV file")


def run(args: argparse.Namespace) -> int:
    from reuseprior.counting import analyze
    from reuseprior.models.registry import build_model

    try:
        model = build_model(args.model)
    except (ValueError, TypeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    x = torch.zeros((1,) + tuple(args.input))
    try:
        rep = analyze(model, x, num_inputs=args.inputs, num_outputs=args.outputs,
                      bn_params_per_channel=args.bn_params, discount=args.discount)
    except (ValueError, RuntimeError, NotImplementedError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    rep.model_name = args.model
    row = {"model": args.model, "input": ",".join(map(str, args.input)), **rep.to_dict()}
    if args.json:
        print(json.dumps({k: (v if not (isinstance(v, float) and not math.isfinite(v)) else str(v))
                          for k, v in row.items()}, indent=2))
    else:
        print(rep)
    if args.csv is not None:
        new = not args.csv.exists()
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        with args.csv.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)
    return 0
