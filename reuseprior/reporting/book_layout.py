"""What a reader of the built book sees at a given window width, measured
in headless Chromium: tables cut at the content's edge, and progress bars.

:func:`check_pages` runs this check on the pages of a built book (every page,
or the chapter pages only). Policy:

* **Every column of every table is in view** at 1280 px (a common laptop
  window): a table is reported when the right edge of its last column lies
  beyond the page's content area (``article.bd-article``), beyond the
  window, or beyond any ancestor that clips or scrolls its overflow. A
  column reachable only by scrolling a box sideways counts as *out of view*:
  the last columns of the comparison tables are their verdicts (``match``),
  which a reader must not have to look for.
* **No table cell is cut short**: pandas ends a cell longer than its
  ``display.max_colwidth`` with ``...``; a cell whose text ends so is
  reported (:func:`cut_cells` on a notebook's HTML, the probe on a page), since
  the cut columns are the ones that say why (a verdict's reason, a recipe's
  departures). A notebook shows such a table inside
  ``pd.option_context("display.max_colwidth", None)``.
* **No progress bar is shown**: a committed notebook's outputs are the
  finished run, so a tqdm bar's text (``0%|          | 0/7``) on a page is
  reported, whatever its percentage.
* **A cell whose table needs more than the content column spans the page's
  margin**: when the book is assembled, :func:`fit_tables` lets a header
  break after its underscores (``expected_energy``) and tags such a cell
  ``full-width`` (sphinx-book-theme's wide cells, 136 % of the column:
  919 px instead of 676 px at 1280 px; the theme folds the page's table of
  contents while one is in view), from an estimate of the table's narrowest
  width (:func:`table_min_width`). The check counts a full-width cell's own
  right edge as the edge of its content.
* **A chapter opens with its findings**: the section headed "Findings" and its table of verdicts
  (:mod:`reuseprior.reporting.findings`) stand above the first code cell whose input the page shows,
  checked on the notebook (:func:`findings_first`) and on a built page without a browser
  (:func:`page_findings_first`); the browser test measures the same on screen.
* **Nothing but Chromium is needed**: the site is served on 127.0.0.1 by a
  handler that adds a small measuring script (:data:`PROBE_JS`) to the page
  asked for; ``chromium --headless --dump-dom`` loads it, the script writes
  its findings as JSON into the document, and the dumped DOM is parsed here.
"""

from __future__ import annotations

import functools
import html.parser
import http.server
import json
import re
import shutil
import subprocess
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

__all__ = [
    "CHROMIUM_CANDIDATES",
    "CONTENT_PX",
    "FULL_WIDTH_TAG",
    "LayoutReport",
    "PROBE_JS",
    "check_pages",
    "find_chromium",
    "format_reports",
    "FINDINGS_CLASS",
    "FINDINGS_SECTION_ID",
    "breakable_headers",
    "findings_first",
    "page_findings_first",
    "cut_cells",
    "fit_tables",
    "table_min_width",
]

#: The id Sphinx gives the section headed "Findings", and the class of the findings table
#: (:func:`reuseprior.reporting.findings.findings_html`).
FINDINGS_SECTION_ID, FINDINGS_CLASS = "findings", "reuseprior-findings"
#: Cell tags under which the book shows no code of the cell.
HIDDEN_INPUT_TAGS = frozenset({"hide-input", "remove-input", "remove-cell", "hide-cell"})
#: How many cells a chapter notebook may hold before its findings cell.
FINDINGS_WITHIN = 3
#: Where Chromium is looked for (Debian's name first, then others' and Chrome).
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: The window the check opens (width in CSS pixels; the height only sets the first screen).
WINDOW = (1280, 900)
#: Width of the book's content column at a 1280 px window (sphinx-book-theme
#: 1.3: 1265 px less the two sidebars and the article's padding), as measured.
CONTENT_PX = 676
#: The cell tag MyST-NB turns into the class sphinx-book-theme widens.
FULL_WIDTH_TAG = "full-width"
#: Estimated width of one character, and of a cell's padding and border, of
#: an output table (book/_assets/reuseprior.css: 0.75rem type, 0.25rem padding a side).
CHAR_PX, CELL_PAD_PX = 7.0, 10.0
#: The query string that makes the test server add the probe to a page.
PROBE_QUERY = "reuseprior-layout-check"
#: Id of the element the probe writes its JSON report into.
REPORT_ID = "reuseprior-layout-report"
#: How pandas ends a cell's text cut at ``display.max_colwidth``.
CUT_MARK = "..."
#: A tqdm bar as text: ``  0%|          | 0/7 [00:00<?, ?it/s]``.
BAR_PATTERN = r"\d{1,3}%\|[^|\n]*\|\s*\d+/\d+"

#: Measures the page after load and web fonts, writes ``{width, content_right,
#: tables: [...], bars: [...], cut: [...]}`` as JSON into ``<pre id=REPORT_ID>``.
PROBE_JS = r"""
(function () {
  const report = (value) => {
    const pre = document.createElement('pre');
    pre.id = '%(report_id)s';
    pre.textContent = JSON.stringify(value);
    document.body.appendChild(pre);
  };
  const heading = (el, headings) => {
    let last = '';
    for (const h of headings) {
      if (!(h.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING)) break;
      last = h.textContent.replace(/[#\u00b6]/g, '').trim();
    }
    return last;
  };
  const measure = () => {
    const width = document.documentElement.clientWidth;
    const article = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
    const articleRight = Math.min(article.getBoundingClientRect().right, width);
    const headings = Array.from(article.querySelectorAll('h1, h2, h3, h4'));
    const tables = [];
    const cut = [];
    article.querySelectorAll('table').forEach((table, index) => {
      table.querySelectorAll('td').forEach((c) => {
        const text = c.textContent.trim();
        if (text.endsWith('%(cut)s')) cut.push({index: index, heading: heading(table, headings), text: text});
      });
      const wide = table.closest('.tag_full-width, .full-width');
      let visible = wide ? Math.min(wide.getBoundingClientRect().right, width) : articleRight;
      for (let el = table.parentElement; el && el !== document.documentElement; el = el.parentElement) {
        const style = getComputedStyle(el);
        if (['hidden', 'auto', 'scroll', 'clip'].includes(style.overflowX)) {
          const box = el.getBoundingClientRect();
          visible = Math.min(visible, box.left + el.clientLeft + el.clientWidth);
        }
      }
      const rows = Array.from(table.rows).filter((r) => r.cells.length);
      if (!rows.length) return;
      // the header row naming most columns (a multi-level header has a row of groups, one of index names)
      const named = (r) => Array.from(r.cells).filter((c) => c.textContent.trim()).length;
      const heads = table.tHead && table.tHead.rows.length ? Array.from(table.tHead.rows) : rows.slice(0, 1);
      const header = heads.reduce((best, r) => (named(r) > named(best) ? r : best));
      const names = Array.from(header.cells).map((c) => c.textContent.trim());
      let right = 0;
      rows.forEach((r) => { right = Math.max(right, r.cells[r.cells.length - 1].getBoundingClientRect().right); });
      const hidden = Array.from(header.cells).filter((c) => c.getBoundingClientRect().right > visible + 1)
        .map((c) => c.textContent.trim());
      tables.push({
        index: index, heading: heading(table, headings), columns: names.length,
        last_column: names[names.length - 1] || '', right: Math.round(right),
        visible_right: Math.round(visible), hidden_columns: hidden,
      });
    });
    const bars = [];
    const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
    const pattern = new RegExp('%(bar)s', 'g');
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const m of node.textContent.matchAll(pattern)) bars.push(m[0]);
    }
    report({width: width, content_right: Math.round(articleRight), tables: tables, bars: bars, cut: cut});
  };
  const start = () => (document.fonts ? document.fonts.ready : Promise.resolve()).then(() => setTimeout(measure, 200));
  if (document.readyState === 'complete') start(); else window.addEventListener('load', start);
})();
""" % {"report_id": REPORT_ID, "bar": BAR_PATTERN.replace("\\", "\\\\"), "cut": CUT_MARK}


@dataclass
class LayoutReport:
    """One page as measured: tables with columns out of view, progress bars."""

    page: str
    width: int = 0
    content_right: int = 0
    #: every table measured (dicts as :data:`PROBE_JS` writes them)
    tables: list[dict[str, Any]] = field(default_factory=list)
    bars: list[str] = field(default_factory=list)
    #: table cells whose text ends with :data:`CUT_MARK` (``{index, heading, text}``)
    cut: list[dict[str, Any]] = field(default_factory=list)
    #: why the page could not be measured (Chromium failed, no report)
    error: str = ""

    @property
    def cut_tables(self) -> list[dict[str, Any]]:
        """The tables whose last column ends beyond what is in view."""
        return [t for t in self.tables if t["right"] > t["visible_right"] + 1]

    @property
    def ok(self) -> bool:
        return not (self.error or self.cut_tables or self.bars or self.cut)

    def problems(self) -> list[str]:
        """One line per problem, naming the table by its section and columns."""
        found = [f"not measured: {self.error}"] if self.error else []
        for t in self.cut_tables:
            found.append(
                f"table {t['index'] + 1} under {t['heading']!r} ({t['columns']} columns): its last column "
                f"{t['last_column']!r} ends at {t['right']} px, {t['right'] - t['visible_right']} px beyond "
                f"what is in view ({t['visible_right']} px); out of view: {t['hidden_columns']}"
            )
        found += [f"progress bar shown: {bar!r}" for bar in self.bars]
        found += [
            f"table {c['index'] + 1} under {c['heading']!r}: a cell cut short by pandas: {c['text'][-60:]!r}"
            for c in self.cut
        ]
        return found


class _TableCells(html.parser.HTMLParser):
    """The text of every cell (``th``/``td``) of each ``<table>``, by row."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[tuple[str, str]]]] = []
        self._cell: list[str] | None = None
        self._kind = ""

    def handle_starttag(self, tag: str, attrs: list) -> None:  # noqa: ARG002 (html.parser's signature)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in {"th", "td"} and self.tables and self.tables[-1]:
            self._cell, self._kind = [], tag

    def handle_endtag(self, tag: str) -> None:
        if tag in {"th", "td"} and self._cell is not None:
            self.tables[-1][-1].append((self._kind, "".join(self._cell)))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table_min_width(table_html: str) -> float:
    """Estimated narrowest width, in px, of the widest table in ``table_html``
    as the book lays it out: per column, its longest word (cells wrap at
    spaces, headers also after ``_`` or ``<wbr>``) times :data:`CHAR_PX`, plus
    padding. Columns are counted by position in each row."""
    parser = _TableCells()
    parser.feed(table_html)
    widest = 0.0
    for rows in parser.tables:
        columns: dict[int, int] = {}
        for row in rows:
            for i, (kind, text) in enumerate(row):
                words = text.split() if kind == "td" else text.replace("_", "_ ").split()
                longest = max((len(word) for word in words), default=0)
                columns[i] = max(columns.get(i, 0), longest)
        widest = max(widest, sum(n * CHAR_PX + CELL_PAD_PX for n in columns.values()))
    return widest


def cut_cells(table_html: str) -> list[str]:
    """The data cells of the tables in ``table_html`` whose text pandas cut short (ending with :data:`CUT_MARK`)."""
    parser = _TableCells()
    parser.feed(table_html)
    cells = [(kind, text.strip()) for rows in parser.tables for row in rows for kind, text in row]
    return [text for kind, text in cells if kind == "td" and text.endswith(CUT_MARK)]


_HEADER_CELL = re.compile(r"(<th\b[^>]*>)([^<]*)(</th>)")


def breakable_headers(table_html: str) -> str:
    """``table_html`` with a ``<wbr>`` after every ``_`` of a header or index
    cell, so that ``PG_prime_printed_5_19`` may wrap inside its column."""
    return _HEADER_CELL.sub(lambda m: m.group(1) + m.group(2).replace("_", "_<wbr>") + m.group(3), table_html)


def fit_tables(notebook: dict[str, Any], content_px: float = CONTENT_PX) -> list[int]:
    """Prepare the HTML tables of ``notebook``'s outputs (nbformat JSON, in
    place) for the book's column: headers break after underscores
    (:func:`breakable_headers`), and a code cell with a table estimated wider
    than ``content_px`` is tagged ``full-width``. Returns those cells' indices."""
    marked = []
    for index, cell in enumerate(notebook.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        widths = []
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "text/html" in data:
                html = data["text/html"]
                html = breakable_headers("".join(html) if isinstance(html, list) else str(html))
                data["text/html"] = html
                widths.append(table_min_width(html))
        if any(width > content_px for width in widths):
            tags = cell.setdefault("metadata", {}).setdefault("tags", [])
            if FULL_WIDTH_TAG not in tags:
                tags.append(FULL_WIDTH_TAG)
            marked.append(index)
    return marked


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _holds_findings_table(cell: dict[str, Any]) -> bool:
    for output in cell.get("outputs", []):
        html = output.get("data", {}).get("text/html", "")
        if FINDINGS_CLASS in ("".join(html) if isinstance(html, list) else str(html)):
            return True
    return False


def findings_first(notebook: dict[str, Any]) -> str:
    """Why ``notebook`` (nbformat JSON) does not open with its findings, "" when it does: among its first
    :data:`FINDINGS_WITHIN` cells a markdown cell headed ``## Findings`` and, after it, a code cell whose
    output holds the findings table, both before the first code cell whose input the book shows (one
    not tagged with any of :data:`HIDDEN_INPUT_TAGS`)."""
    cells = notebook.get("cells", [])
    heading = next(
        (
            i
            for i, c in enumerate(cells)
            if c.get("cell_type") == "markdown" and re.search(r"(?m)^##\s+Findings\s*$", _source(c))
        ),
        None,
    )
    table = next((i for i, c in enumerate(cells) if c.get("cell_type") == "code" and _holds_findings_table(c)), None)
    shown = next(
        (
            i
            for i, c in enumerate(cells)
            if c.get("cell_type") == "code" and not HIDDEN_INPUT_TAGS & set(c.get("metadata", {}).get("tags", []))
        ),
        len(cells),
    )
    if heading is None or table is None:
        return "no '## Findings' markdown cell" if heading is None else "no cell whose output is the findings table"
    if not heading < table < FINDINGS_WITHIN:
        where = f"cells {heading} and {table}"
        return f"the findings are {where}: they must be among the first {FINDINGS_WITHIN} cells, heading first"
    if shown <= table:
        return f"cell {shown} shows its code above the findings (tag it hide-input, or move the findings up)"
    return ""


_CELL_DIV = re.compile(r'<div class="cell\b([^"]*)"')


def page_findings_first(page_html: str) -> str:
    """Why a built chapter page does not show its findings above its first shown code, "" when it does:
    the findings section (id :data:`FINDINGS_SECTION_ID`) and table (class :data:`FINDINGS_CLASS`) must
    come before the first cell whose input is not hidden (MyST-NB marks a cell's tags as ``tag_<tag>``
    classes)."""
    section = page_html.find(f'id="{FINDINGS_SECTION_ID}"')
    table = page_html.find(FINDINGS_CLASS)
    if section < 0 or table < 0:
        return "the page has no findings section" if section < 0 else "the page has no findings table"
    for cell in _CELL_DIV.finditer(page_html):
        classes = set(cell.group(1).split())
        if not {f"tag_{tag}" for tag in HIDDEN_INPUT_TAGS} & classes:
            if cell.start() < table:
                return "a cell shows its code above the findings table"
            break
    return ""


def find_chromium() -> str | None:
    """The path of a Chromium (or Chrome) executable on ``PATH``, or None."""
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


class _ProbeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the site; an ``.html`` page asked for with :data:`PROBE_QUERY`
    gets :data:`PROBE_JS` added before ``</body>``."""

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        parts = urlsplit(self.path)
        if parts.query != PROBE_QUERY or not parts.path.endswith(".html"):
            return super().do_GET()
        page = Path(self.translate_path(parts.path))
        if not page.is_file():
            return self.send_error(404)
        html = page.read_text(encoding="utf-8", errors="replace")
        body = _inject(html).encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _inject(html: str) -> str:
    script = f"<script>{PROBE_JS}</script>"
    at = html.lower().rfind("</body>")
    return html + script if at < 0 else html[:at] + script + html[at:]


@contextmanager
def _serve(html_dir: Path) -> Iterator[str]:
    handler = functools.partial(_ProbeHandler, directory=str(html_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _measure(chromium: str, url: str, page: str, width: int, timeout_s: float) -> LayoutReport:
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-extensions",
        f"--window-size={width},{WINDOW[1]}",
        "--virtual-time-budget=10000",
        "--dump-dom",
        url,
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return LayoutReport(page, error=f"Chromium did not finish in {timeout_s:.0f} s")
    found = re.search(rf'<pre id="{REPORT_ID}"[^>]*>(.*?)</pre>', done.stdout, re.DOTALL)
    if not found:
        tail = (done.stderr or done.stdout)[-500:].strip()
        return LayoutReport(page, error=f"no report in the page Chromium dumped (exit {done.returncode}): {tail}")
    data = json.loads(_unescape(found.group(1)))
    return LayoutReport(page, data["width"], data["content_right"], data["tables"], data["bars"], data["cut"])


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")


def check_pages(
    html_dir: Path, pages: list[str], *, width: int = WINDOW[0], chromium: str | None = None, timeout_s: float = 90
) -> list[LayoutReport]:
    """Measure each of ``pages`` (docnames such as ``notebooks/<name>``)
    of the built site ``html_dir`` at ``width`` px in headless Chromium.

    Raises ``FileNotFoundError`` when no Chromium is found (``make browser``
    installs it) or a page does not exist."""
    chromium = chromium or find_chromium()
    if chromium is None:
        raise FileNotFoundError(
            "the layout check needs Chromium, not found on PATH (looked for "
            f"{', '.join(CHROMIUM_CANDIDATES)}): run make browser, or apt-get install chromium"
        )
    missing = [p for p in pages if not (Path(html_dir) / f"{p}.html").is_file()]
    if missing:
        raise FileNotFoundError(f"{html_dir} has no page(s) {missing}: build the book first (make book)")
    with _serve(Path(html_dir)) as site:
        return [_measure(chromium, f"{site}{page}.html?{PROBE_QUERY}", page, width, timeout_s) for page in pages]


def format_reports(reports: list[LayoutReport]) -> str:
    """A readable summary: per page, its tables measured and every problem."""
    lines = []
    for r in reports:
        status = "ok" if r.ok else f"{len(r.problems())} problem(s)"
        lines.append(
            f"{r.page}: {len(r.tables)} table(s), content right edge {r.content_right} px of {r.width}: {status}"
        )
        lines += [f"  - {p}" for p in r.problems()]
    return "\n".join(lines)
