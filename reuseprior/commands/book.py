"""``python -m reuseprior book``: the static site of the executed chapters, as
committed (:mod:`reuseprior.reporting.book` builds it)."""

from __future__ import annotations

import argparse
from pathlib import Path

from reuseprior.core import paths
from reuseprior.reporting.book import DEFAULT_BOOK_DIR, build_book

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--notebooks-dir",
        type=Path,
        default=paths.NOTEBOOKS_DIR,
        help="folder holding the chapter notebooks to render, as they are (default: notebooks/, "
        "the committed executed ones)",
    )
    parser.add_argument(
        "--book-dir",
        type=Path,
        default=DEFAULT_BOOK_DIR,
        help="where the source is assembled and built (default build/book/; emptied first); "
        "the site is <book-dir>/_build/html",
    )
    parser.add_argument("--quiet", action="store_true", help="print only warnings and the result")


def run(args: argparse.Namespace) -> int:
    result = build_book(args.book_dir, args.notebooks_dir, quiet=args.quiet)
    for warning in result.harmless_warnings:
        print(f"note (harmless): {warning}")
    for link in result.unlinked:
        print(f"note: a link to a folder is shown as plain text: {link}")
    print(f"book built in {result.seconds:.1f} s: {result.index}")
    return 0
