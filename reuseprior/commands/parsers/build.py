"""The arguments of ``python -m reuseprior build`` (:mod:`reuseprior.commands.build` runs it).

Policy: this module imports nothing heavy (no torch, pandas or chapter module), so that ``--help`` and
an argument error answer at once; the names and defaults it repeats from the library are checked against
it by ``tests/test_cli_messages.py``. It keeps no list of the chapters: they are registered by their
drivers (:func:`reuseprior.chapters.list_chapters`, which imports every chapter), so a notebook glob is
checked once the arguments have parsed (:func:`reuseprior.commands.build.check_run_arguments`);
``--list`` names the chapters from the registry's records (:func:`answer`,
:mod:`reuseprior.commands.listings`: its stored snapshot, held to the live registry by a test).
Likewise a profile that only some chapters have (each chapter driver's ``PROFILES`` beyond quick and
full) is checked against the registered chapters after parsing
(:func:`reuseprior.commands.build.profile_problem`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from reuseprior.commands import listings
from reuseprior.commands.argtypes import positive_int

#: Parameters that are paths: their values are taken as written (``-p output_dir 42`` is the folder ``42``).
PATH_PARAMETERS = ("output_dir", "data_dir")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "notebooks", nargs="*", help="glob(s) of chapter names to run (default: every chapter; --list names them)"
    )
    parser.add_argument("--list", action="store_true", help="name every chapter, its title and its part, and exit")
    parser.add_argument(
        "--profile",
        default="quick",
        help="parameter profile: quick (the default), full, or a chapter's own profile (--list names each "
        "chapter's); a profile other than quick first prints its plan (data, estimated time per chapter) and stops "
        "before any notebook runs when a chapter's dataset is missing, naming the command that fetches it",
    )
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="extra papermill parameter for every notebook (a Python literal, else a string; "
        f"{' and '.join(PATH_PARAMETERS)} are paths, taken as written)",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=None,
        help="where executed notebooks go (default: in place for the quick profile with default "
        "parameters, else build/notebooks/<profile>/, their figures and tables in build/figures/<profile>/)",
    )
    parser.add_argument("--jobs", type=positive_int, default=2, help="notebooks executed at a time (default 2)")


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--list`` takes no chapter (the profile is checked against the chapters once they are imported:
    :func:`reuseprior.commands.build.check_run_arguments`)."""
    if args.list and args.notebooks:
        parser.error("--list names every chapter; give it without chapter names")


def answer(args: argparse.Namespace) -> int | None:
    """``--list``: every chapter, its title, part and profiles, and the notebook a chapter lacks, from the
    registry's records (:func:`reuseprior.commands.listings.chapter_listing`); anything else runs (None)."""
    if not args.list:
        return None
    print(listings.chapter_listing())
    return 0
