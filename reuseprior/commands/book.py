"""``python -m reuseprior book``: the static site of the executed chapters, as
committed (:mod:`reuseprior.reporting.book` builds it)."""

from __future__ import annotations

import argparse

from reuseprior.commands.parsers.book import add_arguments
from reuseprior.reporting.book import build_book, chapter_files
from reuseprior.reporting.book_layout import check_pages, format_reports

__all__ = ["add_arguments", "run"]


def run(args: argparse.Namespace) -> int:
    result = build_book(args.book_dir, args.notebooks_dir, quiet=args.quiet)
    for warning in result.harmless_warnings:
        print(f"note (harmless): {warning}")
    for link in result.unlinked:
        print(f"note: a link to a folder is shown as plain text: {link}")
    print(f"book built in {result.seconds:.1f} s: {result.index}")
    if not args.check_layout:
        return 0
    try:
        reports = check_pages(result.html_dir, ["intro", *chapter_files()])
    except FileNotFoundError as err:
        print(f"layout not checked: {err}")
        return 1
    print(format_reports(reports))
    bad = [r.page for r in reports if not r.ok]
    print(f"layout at 1280 px: {len(reports) - len(bad)} of {len(reports)} pages ok" + (f"; fix {bad}" if bad else ""))
    return 1 if bad else 0
