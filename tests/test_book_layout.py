"""The book as a reader sees it at a 1280 px window (issue 35, items 10-11;
:mod:`reuseprior.reporting.book_layout`, ``python -m reuseprior book --check-layout``):

* no page shows a progress bar (the notebooks are committed as a batch build
  executed them, which draws none);
* no ``match`` column of any table is out of view, and on chapter 5's pages
  (Tables 5.1-5.4 and the energy priors) every column of every table is;
* no table cell is cut short by pandas (``...``; issue 45, item 3), in the
  committed notebooks' outputs and on the pages;
* the check itself reports a table cut by the content's edge, or scrollable
  sideways in its own box, a bar and a cut cell, on a page made to have them.

The browser tests need Chromium: without it they are skipped saying so
(``make browser`` installs it); ``REUSEPRIOR_SKIP_BROWSER=1`` skips them too.
The estimate that tags wide cells ``full-width`` is tested without a browser;
the rest is marked ``book`` (``make test-fast`` leaves it out).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from reuseprior.core import paths
from reuseprior.reporting.book import BookResult, build_book, chapter_files
from reuseprior.reporting.book_layout import (
    CONTENT_PX,
    CUT_MARK,
    FINDINGS_CLASS,
    FULL_WIDTH_TAG,
    LayoutReport,
    breakable_headers,
    check_pages,
    cut_cells,
    find_chromium,
    findings_first,
    fit_tables,
    page_findings_first,
    table_min_width,
)

NOTEBOOKS_DIR = Path(os.environ.get("REUSEPRIOR_BOOK_NOTEBOOKS_DIR", paths.NOTEBOOKS_DIR))
#: The pages whose every table must be wholly in view (chapter 5: Tables 5.1-5.4, the energy priors).
ALL_COLUMNS_IN_VIEW = ("notebooks/ch5_depth_width", "notebooks/ch5_energy_priors")


def _chapter_params(prefix: str = "") -> list[str]:
    """Every chapter notebook's name (with ``prefix``)."""
    return [prefix + path.stem for path in sorted(paths.NOTEBOOKS_DIR.glob("ch*.ipynb"))]


def _table(columns: int, value: str = "12345.67890") -> str:
    head = "".join(f"<th>column {i}</th>" for i in range(columns))
    body = "".join(f"<td>{value}</td>" for _ in range(columns))
    return f"<table><thead><tr>{head}</tr></thead><tbody><tr>{body}</tr></tbody></table>"


def test_the_width_estimate_counts_the_longest_word_of_each_column() -> None:
    assert table_min_width(_table(4)) == pytest.approx(4 * (11 * 7.0 + 10.0))  # 12345.67890
    assert table_min_width(_table(4, "a few short words")) == pytest.approx(4 * (6 * 7.0 + 10.0))  # column
    snake = "<table><tr><th>total_surprisal_in_bits</th></tr><tr><td>1</td></tr></table>"
    assert table_min_width(snake) == pytest.approx(len("surprisal_") * 7.0 + 10.0), "a header breaks after _"
    assert table_min_width(_table(2) + _table(20)) == table_min_width(_table(20)), "the widest table counts"
    assert table_min_width("<p>no table</p>") == 0


def test_only_a_cell_with_a_table_wider_than_the_column_is_tagged_full_width() -> None:
    def cell(html: str, tags: list[str] | None = None) -> dict:
        return {
            "cell_type": "code",
            "metadata": {"tags": list(tags or [])},
            "outputs": [{"output_type": "display_data", "data": {"text/html": [html]}}],
        }

    nb = {"cells": [cell(_table(3)), cell(_table(12)), {"cell_type": "markdown", "source": _table(30)}]}
    assert table_min_width(_table(3)) < CONTENT_PX < table_min_width(_table(12))
    assert fit_tables(nb) == [1]
    assert nb["cells"][1]["metadata"]["tags"] == [FULL_WIDTH_TAG] and nb["cells"][0]["metadata"]["tags"] == []
    assert fit_tables(nb) == [1] and nb["cells"][1]["metadata"]["tags"] == [FULL_WIDTH_TAG], "tagged once"


def test_a_cut_cell_is_one_pandas_ended_with_dots() -> None:
    frame = pd.DataFrame({"model": ["a", "b"], "reason": ["short", "x" * 60]})
    with pd.option_context("display.max_colwidth", 50):
        (cut,) = cut_cells(frame._repr_html_())
    assert cut.endswith(CUT_MARK) and cut.startswith("xxx") and len(cut) <= 50
    with pd.option_context("display.max_colwidth", None):
        assert cut_cells(frame._repr_html_()) == []
    assert cut_cells("<table><tr><th>header...</th></tr></table><p>prose...</p>") == []


@pytest.mark.parametrize("notebook", _chapter_params())
def test_no_committed_table_cell_is_cut_short(notebook: str) -> None:
    """The committed outputs' HTML tables (what the book shows) hold every cell in full."""
    nb = nbformat.read(NOTEBOOKS_DIR / f"{notebook}.ipynb", as_version=4)
    cut = {}
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            html = output.get("data", {}).get("text/html", "")
            if cut_cells(html):
                cut[index] = [text[-50:] for text in cut_cells(html)][:3]
    assert not cut, (
        f"{notebook}: cells cut short by pandas (show those tables inside "
        f'pd.option_context("display.max_colwidth", None)), by notebook cell: {cut}'
    )


def test_a_header_may_break_after_its_underscores_and_nothing_else_changes() -> None:
    html = '<table><tr><th class="x">expected_energy</th><td>a_b</td></tr></table>'
    assert breakable_headers(html) == '<table><tr><th class="x">expected_<wbr>energy</th><td>a_b</td></tr></table>'


# ---------------------------------------------------------------- in Chromium


@pytest.fixture(scope="module")
def chromium() -> str:
    if os.environ.get("REUSEPRIOR_SKIP_BROWSER") == "1":
        pytest.skip("REUSEPRIOR_SKIP_BROWSER=1: the book's layout is not measured in a browser")
    found = find_chromium()
    if found is None:
        pytest.skip("no Chromium on PATH: the book's layout is not measured (make browser installs it)")
    return found


_PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>
body {{ margin: 0; font: 16px sans-serif; }} article {{ width: 600px; padding: 0 20px; }}
.scroll {{ overflow-x: auto; }} td, th {{ padding: 2px 8px; white-space: nowrap; }}
</style></head><body><article class="bd-article">
<h2>Fits</h2>{narrow}
<h2>Cut by the edge</h2>{wide}
<h2>Scrolls in its box</h2><div class="scroll">{scrolled}</div>
<pre>table_5_1:   0%|          | 0/7 [00:00&lt;?, ?it/s]</pre>
<h2>Cut short</h2><table><tr><th>reason</th></tr><tr><td>the run ended below the floor becau...</td></tr></table>
</article></body></html>"""


@pytest.mark.book
def test_the_check_reports_cut_and_scrolled_tables_and_bars(chromium: str, tmp_path: Path) -> None:
    def table(columns: int, last: str) -> str:
        head = "".join(f"<th>quantity {i}</th>" for i in range(columns - 1)) + f"<th>{last}</th>"
        return f"<table><tr>{head}</tr><tr>{'<td>14400.000</td>' * columns}</tr></table>"

    page = _PAGE.format(narrow=table(3, "fits"), wide=table(12, "cut match"), scrolled=table(12, "scrolled match"))
    (tmp_path / "page.html").write_text(page, encoding="utf-8")
    (report,) = check_pages(tmp_path, ["page"], chromium=chromium)
    assert not report.error, report.error
    assert [t["last_column"] for t in report.tables] == ["fits", "cut match", "scrolled match", "reason"]
    assert [t["last_column"] for t in report.cut_tables] == ["cut match", "scrolled match"]
    assert report.cut_tables[1]["heading"] == "Scrolls in its box"
    assert report.bars == ["0%|          | 0/7"] and not report.ok
    assert any("'cut match'" in line for line in report.problems())
    assert report.cut == [{"index": 3, "heading": "Cut short", "text": "the run ended below the floor becau..."}]
    assert any("a cell cut short by pandas" in line for line in report.problems())


@pytest.fixture(scope="module")
def reports(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, LayoutReport]:
    with warnings.catch_warnings():  # Sphinx extensions' own deprecations
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        book: BookResult = build_book(tmp_path_factory.mktemp("book"), NOTEBOOKS_DIR, quiet=True)
    return {r.page: r for r in check_pages(book.html_dir, ["intro", *chapter_files()], chromium=chromium)}


@pytest.mark.book
def test_every_page_was_measured(reports: dict[str, LayoutReport]) -> None:
    assert not {page: r.error for page, r in reports.items() if r.error}
    assert all(r.width >= 1200 for r in reports.values()), "measured in a 1280 px window"


@pytest.mark.book
def test_no_page_shows_a_progress_bar(reports: dict[str, LayoutReport]) -> None:
    bars = {page: r.bars for page, r in reports.items() if r.bars}
    assert not bars, f"progress bars in the book (rebuild those notebooks: python -m reuseprior build): {bars}"


@pytest.mark.book
def test_no_match_column_is_out_of_view(reports: dict[str, LayoutReport]) -> None:
    hidden = {
        page: [(t["heading"], c) for t in r.cut_tables for c in t["hidden_columns"] if c.endswith("match")]
        for page, r in reports.items()
    }
    assert not {page: cols for page, cols in hidden.items() if cols}


@pytest.mark.book
@pytest.mark.parametrize("page", ALL_COLUMNS_IN_VIEW)
def test_every_column_of_chapter_5_is_in_view(reports: dict[str, LayoutReport], page: str) -> None:
    report = reports[page]
    assert report.tables, f"{page}: no table measured"
    assert not report.cut_tables, "\n".join(report.problems())


@pytest.mark.book
@pytest.mark.parametrize("page", _chapter_params("notebooks/"))
def test_no_table_cell_is_cut_short(reports: dict[str, LayoutReport], page: str) -> None:
    """Issue 45, item 3: the "why" columns (a verdict's reason, a recipe's departures) were cut with "..."."""
    assert not reports[page].cut, "\n".join(reports[page].problems())


# ---------------------------------------------------------------- findings first (issue 63, item 4)


def _cell(kind: str, source: str, tags: tuple[str, ...] = (), html: str = "") -> dict:
    cell = {"cell_type": kind, "source": source, "metadata": {"tags": list(tags)}}
    if kind == "code":
        cell["outputs"] = [{"output_type": "display_data", "data": {"text/html": html}}] if html else []
    return cell


FINDINGS_TABLE = f'<table class="dataframe {FINDINGS_CLASS}"><tr><td>claim</td></tr></table>'


def test_a_notebook_opens_with_its_findings_above_any_code_it_shows() -> None:
    title = _cell("markdown", "# Chapter 9\n\nintro")
    heading = _cell("markdown", "## Findings\n\nread from the tables")
    table = _cell("code", "show_findings(...)", ("hide-input",), FINDINGS_TABLE)
    parameters = _cell("code", "profile = 'quick'", ("parameters",))
    assert findings_first({"cells": [title, heading, table, parameters]}) == ""
    shown = _cell("code", "show_findings(...)", (), FINDINGS_TABLE)
    assert "shows its code above the findings" in findings_first({"cells": [title, heading, shown, parameters]})
    late = [title, _cell("markdown", "more"), _cell("markdown", "more"), heading, table]
    assert "among the first 3" in findings_first({"cells": late})
    assert "no '## Findings'" in findings_first({"cells": [title, table]})
    assert "findings table" in findings_first({"cells": [title, heading, parameters]})


def test_a_built_page_shows_its_findings_above_its_first_shown_code() -> None:
    hidden = f'<div class="cell tag_hide-input docutils container">{FINDINGS_TABLE}</div>'
    findings = f'<section id="findings"><h2>Findings</h2>{hidden}</section>'
    code = '<div class="cell tag_parameters docutils container"><div class="cell_input">x</div></div>'
    assert page_findings_first(f"<h1>Chapter</h1>{findings}{code}") == ""
    assert "above the findings" in page_findings_first(f"<h1>Chapter</h1>{code}{findings}")
    assert "no findings section" in page_findings_first(f"<h1>Chapter</h1>{code}")
