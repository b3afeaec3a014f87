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

from reuseprior.commands.argtypes import positive_float, positive_int
from reuseprior.counting.capture import refuse_what_cannot_fit
from reuseprior.counting.quantities import analyze
from reuseprior.models.registry import available_models, build_model, collision_note

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


#: the name-resolution and output policies, shown by ``--help``
EPILOG = (
    "MODEL names are resolved in this order: a model registered in reuseprior, a torchvision classifier, "
    "'package.module:factory'. Three names exist in both libraries: efficientnet_v2_s, efficientnet_v2_m and "
    "efficientnet_v2_l build reuseprior's EfficientNetV2 (the thesis's builders, graph- and parameter-identical "
    "to torchvision's), and the command prints a note saying so; give torchvision.models:efficientnet_v2_s (_m, "
    "_l) for torchvision's. The forward must return one tensor: its elements are the output nodes. For a model "
    "that returns a dict, tuple or list, --output-key names the entry to analyse; without it such a model is "
    "refused."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.add_argument(
        "model", nargs="?", help="a reuseprior or torchvision model name (see --list-models) or package.module:factory"
    )
    parser.add_argument(
        "--list-models",
        action="store_true",
        help="print every model name that MODEL accepts (reuseprior's, then torchvision's) and exit",
    )
    parser.add_argument(
        "--input",
        type=_shape,
        default=(3, 224, 224),
        help="input shape without the batch dimension (default 3,224,224)",
    )
    parser.add_argument(
        "--output-key",
        default=None,
        metavar="KEY",
        help="for a forward that returns a dict, tuple or list: the key (or index) of the output tensor to analyse",
    )
    parser.add_argument("--outputs", type=positive_int, default=None, help="NO (default: output elements)")
    parser.add_argument("--inputs", type=positive_int, default=None, help="NI (default: input elements)")
    parser.add_argument("--bn-params", type=int, default=4, help="weights per batch-norm channel (default 4)")
    parser.add_argument(
        "--discount",
        type=positive_float,
        default=1.0,
        help="path-length discount gamma, a finite number > 0 such as 0.5 (default 1: plain counts)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--csv", type=Path, default=None, help="append a row to this CSV file")


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """MODEL is required unless ``--list-models`` is given."""
    if args.model is None and not args.list_models:
        parser.error("MODEL is required: give a model name or package.module:factory (see them all with --list-models)")


def _list_models() -> None:
    ours = available_models()
    both = {name for name in ours if collision_note(name)}
    print("reuseprior models:")
    for name in ours:
        print(f"  {name}" + (f"  (torchvision's of this name: torchvision.models:{name})" if name in both else ""))
    print("torchvision classifiers:")
    print("\n".join(f"  {name}" for name in available_models(include_torchvision=True) if name not in ours))
    print("any other model: package.module:factory")


def run(args: argparse.Namespace) -> int:
    if args.list_models:
        _list_models()
        return 0
    if args.model is None:
        print(
            "error: MODEL is required: give a model name or package.module:factory (see them all with --list-models)",
            file=sys.stderr,
        )
        return 2
    try:
        model = build_model(args.model)
    except (ValueError, TypeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    note = collision_note(args.model)
    if note:
        print(f"note: {note}", file=sys.stderr)
    try:
        refuse_what_cannot_fit(model, (1, *args.input))  # before the input is allocated
        x = torch.zeros((1,) + tuple(args.input))
        rep = analyze(
            model,
            x,
            num_inputs=args.inputs,
            num_outputs=args.outputs,
            bn_params_per_channel=args.bn_params,
            discount=args.discount,
            output_key=args.output_key,
        )
    except (ValueError, RuntimeError, NotImplementedError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    rep.model_name = args.model
    row = {"model": args.model, "input": ",".join(map(str, args.input)), **rep.to_dict()}
    if args.json:
        print(
            json.dumps(
                {k: (v if not (isinstance(v, float) and not math.isfinite(v)) else str(v)) for k, v in row.items()},
                indent=2,
            )
        )
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
