"""The arguments of ``python -m reuseprior compare`` (:mod:`reuseprior.commands.compare` runs it).

Policy: this module imports nothing heavy (no torch, pandas or chapter module), so that ``--help`` and
an argument error answer at once; the names and defaults it repeats from the library are checked against
it by ``tests/test_cli_messages.py``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from reuseprior.commands.argtypes import output_file, png_file
from reuseprior.commands.parsers.analyze import DEFAULT_INPUT, add_input_argument

#: :data:`reuseprior.analysis.compare.QUANTITIES`
QUANTITIES = ("PG", "PG_prime", "expected_spread", "entropy", "total_surprisal")
#: :data:`reuseprior.analysis.compare.SYMBOLS`: the thesis's symbols ``--by`` takes beside the column names
SYMBOLS = {"P'G": "PG_prime", "ES": "expected_spread", "H": "entropy", "S": "total_surprisal"}
#: :data:`reuseprior.analysis.compare.OPTIONAL_PROXIES`
OPTIONAL_PROXIES = ("synflow", "snip", "grasp", "fisher", "grad_norm", "jacob_cov", "naswot")
#: those of :data:`OPTIONAL_PROXIES` in :data:`reuseprior.baselines.registry.DATA_DEPENDENT`
DATA_DEPENDENT = ("snip", "grasp", "fisher", "grad_norm", "jacob_cov", "naswot")


def _proxy(text: str) -> str:
    """``type=`` of ``--proxies``: a word that is no proxy is most often a model written after the list
    (``--proxies synflow resnet18``), so the message says where the models go."""
    if text not in OPTIONAL_PROXIES:
        raise argparse.ArgumentTypeError(
            f"{text!r} is no proxy (choose from {', '.join(OPTIONAL_PROXIES)}); --proxies takes every word up to "
            "the next flag, so give the models before it: compare MODEL ... --proxies PROXY ..."
        )
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "models",
        nargs="+",
        metavar="MODEL",
        help="reuseprior or torchvision model names, timm:NAME, or package.module:factory",
    )
    add_input_argument(parser, default=None)
    parser.add_argument(
        "--by",
        default="PG",
        help="rank by this score: PG (default), P'G, ES, H, S (the thesis's symbols; also by their column names "
        "PG_prime, expected_spread, entropy, total_surprisal), params, flops or one of --proxies",
    )
    parser.add_argument(
        "--proxies",
        nargs="+",
        default=[],
        type=_proxy,
        choices=OPTIONAL_PROXIES,
        metavar="PROXY",
        help=f"zero-cost proxies to add: {', '.join(OPTIONAL_PROXIES)} (the data-dependent ones need --batch); "
        "it takes every word up to the next flag, so give the models before it",
    )
    parser.add_argument(
        "--batch",
        type=Path,
        default=None,
        help="a minibatch for the data-dependent proxies: a file saved with torch.save holding "
        "{'inputs': (B, C, H, W) tensor, 'targets': (B,) class indices}; the example is its first image, "
        "so --input is not given with it",
    )
    parser.add_argument(
        "--output-key",
        action="append",
        default=None,
        metavar="[MODEL=]KEY",
        help="the output analysed: KEY for every model (each forward returns a dict/tuple/list holding it), or "
        "MODEL=KEY, repeated, for models of different output structures (MODEL as given; a model not named "
        "is analysed whole)",
    )
    parser.add_argument("--seed", type=int, default=0, help="torch.manual_seed before each model is built (default 0)")
    parser.add_argument("--json", action="store_true", help="print JSON records instead of a table")
    parser.add_argument("--csv", type=output_file, default=None, help="write the table to this CSV file")
    parser.add_argument(
        "--figure", type=png_file, default=None, help="write a PNG (a .png file): the score against #parameters"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--by`` must name a computed score (a thesis symbol becomes its column name; a proxy not given to
    ``--proxies`` is named with the flag that adds it); data-dependent proxies
    need ``--batch``, which sets the example's shape, so ``--input`` is refused beside it (and is 3,224,224
    when neither is given): exit 2."""
    if args.batch is not None and args.input is not None:
        parser.error(
            "--input and --batch both set the example's shape; give one (with --batch the example is its first image)"
        )
    if args.batch is None and args.input is None:
        args.input = DEFAULT_INPUT
    scores = [*QUANTITIES, "params", "flops", *args.proxies]
    args.by = SYMBOLS.get(args.by, args.by)
    if args.by in OPTIONAL_PROXIES and args.by not in scores:
        parser.error(f"--by {args.by!r} is a proxy that is not computed unless asked for: add --proxies {args.by}")
    if args.by not in scores:
        parser.error(f"--by {args.by!r} is not computed; choose from {[*scores[:1], *SYMBOLS, *scores[1:]]}")
    args.output_key = _output_keys(parser, args.output_key or [], args.models)
    needing = [p for p in args.proxies if p in DATA_DEPENDENT]
    if needing and args.batch is None:
        parser.error(f"the data-dependent proxies {needing} need --batch FILE (a minibatch saved with torch.save)")


def _output_keys(parser: argparse.ArgumentParser, given: list[str], models: list[str]) -> str | dict[str, str] | None:
    """``--output-key``'s entries as :func:`reuseprior.analysis.compare.compare` takes them: one ``KEY`` for
    every model, or ``MODEL=KEY`` entries as a mapping; a mix of the two, a model named twice or one not
    compared exits 2 with the form to give."""
    per_model = [entry.partition("=") for entry in given if "=" in entry]
    if not per_model:
        if len(given) > 1:
            parser.error(
                f"--output-key given {len(given)} times without MODEL=: give one KEY for every model, "
                "or MODEL=KEY for each model"
            )
        return given[0] if given else None
    if len(per_model) < len(given):
        parser.error("--output-key mixes KEY and MODEL=KEY: give MODEL=KEY for each model whose output is picked")
    keys: dict[str, str] = {}
    reported = _reported_names(models)
    for model, _, key in per_model:
        if model not in reported:
            parser.error(f"--output-key {model}={key}: {model!r} is not one of the models compared {reported}")
        if model in keys or not key:
            parser.error(f"--output-key {model}={key}: give each model once, with a key after '='")
        keys[model] = key
    return keys


def _reported_names(models: list[str]) -> list[str]:
    """The names compare gives ``models`` (:func:`reuseprior.analysis.compare.compare`'s rows): each as
    given, a repeated one also as ``NAME#2``, ``NAME#3``, ..."""
    seen: dict[str, int] = {}
    names = []
    for model in models:
        seen[model] = seen.get(model, 0) + 1
        names.append(model if seen[model] == 1 else f"{model}#{seen[model]}")
    return names
