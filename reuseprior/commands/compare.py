"""``python -m reuseprior compare MODEL [MODEL ...] --input 3,32,32``: several models
ranked by the reusability prior (beyond the thesis: the prior as a tool).

Each MODEL is resolved as ``analyze`` resolves it (reuseprior's names,
torchvision's, ``package.module:factory``). Prints one table ranked by
``--by`` (PG by default) with PG, P'G, ES, H, S, #parameters, FLOPs and the
``--proxies`` asked for, or with ``--json`` one record per model; ``--csv``
writes the table, ``--figure`` a PNG of the score against #parameters, both before anything is printed
(a reader that closes the output early, ``| head``, does not cost them). A model
that cannot be built or analysed is reported in the table (``error``) and
does not stop the others; the exit status is 1 when any failure is recorded
(0 when every score of every model was computed, 2 for a usage error). With
``--batch`` the example input is the minibatch's first image (``--input`` is
refused beside it). See :mod:`reuseprior.analysis.compare`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
import torch

from reuseprior.analysis.compare import Comparison, compare
from reuseprior.baselines.proxies import ProxyBatch
from reuseprior.commands.parsers.compare import add_arguments, check_arguments
from reuseprior.core.errors import CommandInputError
from reuseprior.core.torch_files import load_weights_only
from reuseprior.reporting.plotting import save_figure

__all__ = ["add_arguments", "check_arguments", "run"]


#: what ``--batch`` must hold, for the messages
BATCH_FORMAT = "a dict {'inputs': (B, C, H, W) tensor, 'targets': (B,) tensor of class indices >= 0}, B >= 1"


def _load_batch(path: Path) -> ProxyBatch:
    """The user's minibatch (see ``--batch``), checked against :data:`BATCH_FORMAT`; ``num_classes`` is
    the largest target + 1 (at least 2)."""
    data = load_weights_only(path, "minibatch file", f"save {BATCH_FORMAT} with torch.save")
    if not isinstance(data, dict) or not {"inputs", "targets"} <= set(data):
        raise ValueError(f"{path} must hold {BATCH_FORMAT}")
    inputs, targets = data["inputs"], data["targets"]
    if not (isinstance(inputs, torch.Tensor) and isinstance(targets, torch.Tensor)):
        raise ValueError(f"{path}: 'inputs' and 'targets' must be tensors; it must hold {BATCH_FORMAT}")
    if inputs.dim() != 4 or targets.dim() != 1 or len(targets) != len(inputs) or not len(inputs):
        raise ValueError(
            f"{path}: 'inputs' has shape {tuple(inputs.shape)} and 'targets' {tuple(targets.shape)}; "
            f"it must hold {BATCH_FORMAT}"
        )
    if targets.is_floating_point() or targets.is_complex() or int(targets.min()) < 0:
        raise ValueError(f"{path}: 'targets' must be class indices (integers >= 0), not {targets.dtype} {targets[:5]}")
    inputs, targets = inputs.float(), targets.long()
    classes = max(int(targets.max()) + 1, 2)
    return ProxyBatch(inputs, targets, classes, f"user minibatch {path.name} ({len(inputs)} examples)")


def _count(value: float) -> str:
    """#parameters and FLOPs in full (integers), NaN as pandas prints it."""
    return f"{value:.0f}" if value == value else "NaN"


def _write_files(result: Comparison, args: argparse.Namespace) -> None:
    """``--csv`` and ``--figure``, each written whole (atomically)."""
    if args.csv is not None:
        result.to_csv(args.csv)
    if args.figure is not None:
        save_figure(result.figure(), args.figure)


def run(args: argparse.Namespace) -> int:
    try:
        batch = _load_batch(args.batch) if args.batch is not None else None
    except (OSError, ValueError, RuntimeError) as err:
        raise CommandInputError(f"--batch: {err}") from None
    example = batch.inputs[:1] if batch is not None else tuple(args.input)  # a shape: checked before it is allocated
    result = compare(
        args.models,
        example,
        by=args.by,
        proxies=args.proxies,
        batch=batch,
        output_key=args.output_key,
        seed=args.seed,
        progress=not args.no_progress,
    )
    _write_files(result, args)  # first: a closed standard output must not cost them
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
    return 1 if (result.table["error"] != "").any() else 0
