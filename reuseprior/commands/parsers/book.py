"""The arguments of ``python -m reuseprior book`` (:mod:`reuseprior.commands.book` runs it).

Policy: this module imports nothing heavy (no torch, pandas or chapter module), so that ``--help`` and
an argument error answer at once; the names and defaults it repeats from the library are checked against
it by ``tests/test_cli_messages.py``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from reuseprior.core import paths

#: :data:`reuseprior.reporting.book.DEFAULT_BOOK_DIR`
DEFAULT_BOOK_DIR: Path = paths.BUILD_DIR / "book"


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
    parser.add_argument(
        "--check-layout",
        action="store_true",
        help="after the build, open every page in headless Chromium at 1280 px and report tables with a "
        "column out of view, table cells pandas cut short with '...' and progress bars shown (exit status 1 "
        "when there is one; needs Chromium)",
    )
