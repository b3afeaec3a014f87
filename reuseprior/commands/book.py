"""``python -m reuseprior book``: the static site of the executed chapters, as
committed (:mod:`reuseprior.reporting.book` builds it)."""

from __future__ import annotations

import argparse

from reuseprior.commands.parsers.book import add_arguments
from reuseprior.reporting.book import build_book

__all__ = ["add_arguments", "run"]


def run(args: argparse.Namespace) -> int:
    result = build_book(args.book_dir, args.notebooks_dir, quiet=args.quiet)
    for warning in result.harmless_warnings:
        print(f"note (harmless): {warning}")
    for link in result.unlinked:
        print(f"note: a link to a folder is shown as plain text: {link}")
    print(f"book built in {result.seconds:.1f} s: {result.index}")
    return 0
