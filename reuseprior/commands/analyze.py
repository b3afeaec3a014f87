"""``python -m reuseprior analyze MODEL --input 3,224,224``: context-count analysis (ch. 4).

MODEL is a name registered in reuseprior, a torchvision classifier name, ``timm:NAME`` (a timm
architecture, built without weights), or ``package.module:factory``.  Prints the chapter-4
quantities (PG, P'G, ES, H, ...) as a table, or as JSON with ``--json``; ``--csv PATH`` appends one
row (the quantities and the settings that change them: :data:`CSV_COLUMNS`; a file with other columns is
refused before any work).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

import torch

from reuseprior.commands.model_names import listing
from reuseprior.commands.parsers.analyze import add_arguments, add_input_argument, check_arguments
from reuseprior.core.errors import ArchitectureRefusedError, CommandInputError, InputRefusedError
from reuseprior.core.files import write_text
from reuseprior.counting.capture import refuse_what_cannot_fit
from reuseprior.counting.quantities import REPORT_KEYS, analyze
from reuseprior.models.registry import available_models, build_model, collision_note, torchvision_names
from reuseprior.models.timm_models import timm_names

__all__ = ["add_arguments", "add_input_argument", "check_arguments", "run"]


def _list_models() -> None:
    """The live listing (the stored one answers first when it is the installed torchvision's)."""
    print(listing(available_models(), torchvision_names(), timm_names()))


def _with_input_flag(message: str, sizes: list[int]) -> str:
    """The error of a model that does not run on the input, in the command's terms: the tensor the command
    built is ``--input``'s sizes with a batch dimension of 1 in front, so the fix is another ``--input``."""
    given = ",".join(map(str, sizes))
    return (
        f"{message}. Here the input was built from --input {given}: give the sizes of one example, without the "
        "batch dimension (e.g. --input 3,224,224)"
    )


def run(args: argparse.Namespace) -> int:
    if args.list_models:
        _list_models()
        return 0
    if args.model is None:
        raise CommandInputError(
            "MODEL is required: give a model name or package.module:factory (see them all with --list-models)"
        )
    problem = _csv_problem(args.csv) if args.csv is not None else None
    if problem:
        raise CommandInputError(problem)
    try:
        model = build_model(args.model)
    except (ValueError, TypeError, ArchitectureRefusedError) as err:
        raise CommandInputError(str(err)) from None
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
    except InputRefusedError as err:  # the model does not run on the tensor built from --input
        raise CommandInputError(_with_input_flag(str(err), args.input)) from None
    except (ValueError, RuntimeError, NotImplementedError) as err:  # the model, at these settings
        raise CommandInputError(str(err)) from None
    rep.model_name = args.model
    head = {"model": args.model, "input": ",".join(map(str, args.input))}
    settings = {"discount": args.discount, "bn_params": args.bn_params, "output_key": args.output_key or ""}
    if args.csv is not None:  # the numbers themselves, -inf included; first, so that a reader that closes the
        _append_row(args.csv, {**head, **{k: getattr(rep, k) for k in REPORT_KEYS}, **settings})  # output loses none
    if args.json:  # strict JSON: a non-finite quantity (PG of a model with NG = 1) is null (Report.to_dict)
        print(json.dumps({**head, **rep.to_dict(), **settings}, indent=2))
    else:
        print(rep)
    return 0


#: the settings that change the quantities, the last columns of ``--csv``
SETTING_COLUMNS: tuple[str, ...] = ("discount", "bn_params", "output_key")
#: the columns of ``--csv``: the model and its input, the quantities, and the settings
CSV_COLUMNS: tuple[str, ...] = ("model", "input", *REPORT_KEYS, *SETTING_COLUMNS)


def _csv_header(text: str) -> list[str]:
    """The header of a CSV's ``text`` (empty for an empty file)."""
    return next(csv.reader(io.StringIO(text)), [])


def _csv_text(path: Path) -> str:
    """The CSV at ``path`` (empty when there is none)."""
    return path.read_text(encoding="utf-8") if path.exists() else ""


def _csv_problem(path: Path) -> str | None:
    """Why ``--csv`` cannot take the rows of this command, or None. It takes a new file and one of
    :data:`CSV_COLUMNS`, or of those without :data:`SETTING_COLUMNS` (as this command wrote it before
    it recorded them: :func:`_append_row` adds them, empty in the old rows)."""
    header = _csv_header(_csv_text(path))
    if not header or tuple(header) in (CSV_COLUMNS, CSV_COLUMNS[: -len(SETTING_COLUMNS)]):
        return None
    extra = [c for c in header if c not in CSV_COLUMNS]
    missing = [c for c in CSV_COLUMNS if c not in header]
    differences = []
    if extra:
        differences.append(f"columns it does not write: {extra}")
    if missing:
        differences.append(f"columns it lacks: {missing}")
    return (
        f"--csv {path} is not a table of this command ({'; '.join(differences) or 'its columns in another order'}); "
        "give a new file, or one this command wrote"
    )


def _append_row(path: Path, row: dict) -> None:
    """``row`` appended to the CSV at ``path`` (its header first when the file is new; a file without
    the settings columns gains them, empty in its old rows), the file rewritten whole
    (:func:`reuseprior.core.files.write_text`): an interruption leaves the old rows."""
    old = _csv_text(path)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(CSV_COLUMNS))
    if tuple(_csv_header(old)) == CSV_COLUMNS:
        out.write(old)
    else:
        writer.writeheader()
        writer.writerows(csv.DictReader(io.StringIO(old)))
    writer.writerow(row)
    write_text(path, out.getvalue())
