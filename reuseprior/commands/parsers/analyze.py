"""The arguments of ``python -m reuseprior analyze`` (:mod:`reuseprior.commands.analyze` runs it).

Policy: this module imports nothing heavy (no torch, pandas or chapter module), so that ``--help``, an
argument error and, from the stored model names (:mod:`reuseprior.commands.model_names`), ``--list-models``,
a misspelt model name and a ``module:factory`` whose module is not on the import path answer at once;
the names and defaults it repeats from the library are checked against it by ``tests/test_cli_messages.py``.
"""

from __future__ import annotations

import argparse

from reuseprior.commands.argtypes import non_negative_int, output_file, positive_float, positive_int
from reuseprior.commands.model_names import listing, stored_names, stored_timm_names
from reuseprior.core.errors import CommandInputError
from reuseprior.core.factories import TIMM_PREFIX, spec_problem, unknown_model_message, unknown_timm_message


def _shape(text: str) -> tuple[int, ...]:
    """``3,224,224`` or ``3x224x224`` -> ``(3, 224, 224)``; every part must be a positive integer."""
    try:
        dims = tuple(int(t) for t in text.replace("x", ",").split(","))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"--input must look like 3,224,224, got {text!r}") from err
    if any(d <= 0 for d in dims):
        raise argparse.ArgumentTypeError(f"--input must be positive sizes like 3,224,224, got {text!r}")
    return dims


def _node_count(text: str) -> int:
    """``type=`` of ``--inputs`` (NI, a count): :func:`positive_int`, and a shape given to it (``3,32,32``,
    ``--inputs`` for ``--input``) is told apart, with the flag that takes it."""
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        if any(sep in text for sep in ",x"):
            raise argparse.ArgumentTypeError(
                f"NI, the number of input nodes, is an integer >= 1, got {text!r}; the input's shape is --input {text}"
            ) from None
        raise


#: the example's shape when ``--input`` is not given
DEFAULT_INPUT = (3, 224, 224)


def add_input_argument(parser: argparse.ArgumentParser, *, default: tuple[int, ...] | None = DEFAULT_INPUT) -> None:
    """``--input C,H,W``: the example's shape without the batch dimension (``analyze`` and ``compare``;
    ``default`` None: the command fills it in, knowing whether it was given)."""
    parser.add_argument(
        "--input",
        type=_shape,
        default=default,
        help="input shape without the batch dimension (default 3,224,224)",
    )


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
        "model",
        nargs="?",
        help="a reuseprior or torchvision model name, timm:NAME (see --list-models) or package.module:factory",
    )
    parser.add_argument(
        "--list-models",
        action="store_true",
        help="print every model name that MODEL accepts (reuseprior's, then torchvision's, then timm's) and exit",
    )
    add_input_argument(parser)
    parser.add_argument(
        "--output-key",
        default=None,
        metavar="KEY",
        help="for a forward that returns a dict, tuple or list: the key (or index) of the output tensor to analyse",
    )
    parser.add_argument(
        "--outputs",
        type=positive_int,
        default=None,
        help="NO, the number of output nodes (default: the output's elements)",
    )
    parser.add_argument(
        "--inputs",
        type=_node_count,
        default=None,
        help="NI, the number of input nodes (default: the input's elements; the shape is --input)",
    )
    parser.add_argument(
        "--bn-params", type=non_negative_int, default=4, help="weights per batch-norm channel (default 4)"
    )
    parser.add_argument(
        "--discount",
        type=positive_float,
        default=1.0,
        help="path-length discount gamma, a finite number > 0 such as 0.5 (default 1: plain counts)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--csv", type=output_file, default=None, help="append a row to this CSV file")


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """MODEL is required unless ``--list-models`` is given."""
    if args.model is None and not args.list_models:
        parser.error("MODEL is required: give a model name or package.module:factory (see them all with --list-models)")


def answer(args: argparse.Namespace) -> int | None:
    """What the stored names answer without importing torch: ``--list-models`` (exit 0), a name that is no
    model, or a ``module:factory`` that cannot import (the library's message, raised as the command's error:
    printed as the run's are, exit 2). ``None``: the command runs (a known name, an importable spec, or stored
    names that are not the installed torchvision's)."""
    names, timm = stored_names(), stored_timm_names()
    if args.list_models:
        if names is None or timm is None:
            return None
        print(listing(*names, timm))
        return 0
    if args.model.startswith(TIMM_PREFIX):
        name = args.model.removeprefix(TIMM_PREFIX)
        problem = None if timm is None or name.split(".", 1)[0] in timm else unknown_timm_message(name, timm)
    elif ":" in args.model:
        problem = spec_problem(args.model)
    elif names is not None and args.model not in {*names[0], *names[1]}:
        problem = unknown_model_message(args.model, {*names[0], *names[1]})
    else:
        problem = None
    if problem is None:
        return None
    raise CommandInputError(problem)
