"""The rendered book (``make book``, ``reuseprior.reporting.book``) in a real browser.

The book is built once (into a temporary folder) from the committed notebooks
as they are, served over HTTP on 127.0.0.1 and every page is opened in
headless Chromium through Selenium. Policy:

* **Expectations come from the notebooks**: a chapter page must show an HTML
  ``<table>`` for every DataFrame (HTML table) output its notebook stores, a
  loaded ``<img>`` (``naturalWidth > 0``) for every figure output, and
  equations typeset by MathJax where its markdown or outputs hold math. A
  notebook **without any output fails** (the committed notebooks are the
  executed ones; a stripped one would make every check vacuous), as does one
  that stores an error output.
* **Every page**: its heading is the chapter's (the notebook's first ``#``
  heading), nothing is requested from another host, no request fails or
  answers 4xx/5xx, the browser logs no error, no link into the site leads to
  a missing page, file or anchor, no raw ``$$``, TeX error,
  traceback, error output or Sphinx error box is shown, and the table of
  contents and the previous/next links follow ``book/_toc.yml`` (thesis order).
* **Every chapter page opens with its findings**: its "Findings" section and table stand above the
  first code cell it shows, on screen and (without a browser) in the built page's HTML.
* A screenshot of one chapter page (the first showing equations, tables and
  figures, around its first equation) is saved to ``build/book/screenshot.png``.

Chromium and chromedriver are required: missing, the browser tests **fail**
saying how to install them (``make browser``, or ``apt-get install chromium
chromium-driver``); ``REUSEPRIOR_SKIP_BROWSER=1`` skips them (the build is
still tested). ``REUSEPRIOR_BOOK_NOTEBOOKS_DIR`` builds from other notebooks
than ``notebooks/`` (e.g. executed copies), as ``--notebooks-dir`` does.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import unquote, urlsplit

import pytest

from reuseprior import chapters
from reuseprior.core import paths
from reuseprior.reporting.book import BookResult, build_book, chapter_files, external_resources, notebook_chapters
from reuseprior.reporting.book_layout import FINDINGS_CLASS, FINDINGS_SECTION_ID, page_findings_first

pytestmark = pytest.mark.book  # make test-fast leaves these out

NOTEBOOKS_DIR = Path(os.environ.get("REUSEPRIOR_BOOK_NOTEBOOKS_DIR", paths.NOTEBOOKS_DIR))
PAGES = chapter_files()  # after the landing page, in book/_toc.yml order
CHAPTERS = [page for page in PAGES if page.startswith("notebooks/")]
MATHJAX_TIMEOUT_S = 90
SCREENSHOT_PATH = paths.BUILD_DIR / "book" / "screenshot.png"
CHROMIUM = ("/usr/bin/chromium", "chromium")
CHROMEDRIVER = ("/usr/bin/chromedriver", "chromedriver")
INSTALL_HINT = (
    "run `make browser` (as root it runs `apt-get install chromium chromium-driver`), or "
    "`sudo apt-get install chromium chromium-driver`; REUSEPRIOR_SKIP_BROWSER=1 skips these checks"
)


# ---------------------------------------------------------------- what the notebooks hold


@dataclass(frozen=True)
class Expected:
    """What a chapter page must show, read from its notebook."""

    title: str
    outputs: int
    tables: int
    figures: int
    math: bool
    errors: list[str]


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)
_MATH = re.compile(r"\$[^$\n]+\$|\$\$.+?\$\$|\\begin\{(?:equation|align)", re.DOTALL)


@functools.cache
def expected(chapter: str) -> Expected:
    nb = json.loads((NOTEBOOKS_DIR / f"{Path(chapter).name}.ipynb").read_text(encoding="utf-8"))
    title, outputs, tables, figures, math, errors = "", 0, 0, 0, False, []
    for cell in nb["cells"]:
        source = _text(cell.get("source"))
        if cell["cell_type"] == "markdown":
            heading = re.search(r"^# +(.+?)\s*$", _CODE.sub("", source), re.MULTILINE)
            title = title or (heading.group(1) if heading else "")
            math = math or bool(_MATH.search(_CODE.sub("", source)))
        for output in cell.get("outputs", []):
            outputs += 1
            data = output.get("data", {})
            if output["output_type"] == "error":
                errors.append(f"{output.get('ename')}: {output.get('evalue')}")
            tables += "<table" in _text(data.get("text/html"))
            figures += any(kind in data for kind in ("image/png", "image/jpeg", "image/svg+xml"))
            math = math or "text/latex" in data or bool(_MATH.search(_text(data.get("text/markdown"))))
    return Expected(title, outputs, tables, figures, math, errors)


# ---------------------------------------------------------------- the site and the browser


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> BookResult:
    with warnings.catch_warnings():  # Sphinx extensions' own deprecations (docutils' traverse)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return build_book(tmp_path_factory.mktemp("book"), NOTEBOOKS_DIR, quiet=True)


@pytest.fixture(scope="module")
def site(book: BookResult) -> Iterator[str]:
    """The built site served on 127.0.0.1 (as a web server would; file://
    URLs block web fonts in Chromium)."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(book.html_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _find(candidates: tuple[str, ...]) -> str | None:
    for name in candidates:
        found = shutil.which(name) if "/" not in name else (name if Path(name).is_file() else None)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if os.environ.get("REUSEPRIOR_SKIP_BROWSER") == "1":
        pytest.skip("REUSEPRIOR_SKIP_BROWSER=1: the book is not opened in a browser (its build is still tested)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed: run make env (it is in requirements-lock.txt)")
    chromium, chromedriver = _find(CHROMIUM), _find(CHROMEDRIVER)
    if chromium is None or chromedriver is None:
        missing = " and ".join(
            name for name, path in (("chromium", chromium), ("chromedriver", chromedriver)) if path is None
        )
        pytest.fail(f"the book's browser test needs {missing}, not found: {INSTALL_HINT}")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium  # with the driver's path given, Selenium Manager never downloads
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,1400",
        "--hide-scrollbars",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@dataclass
class Visit:
    """One page as the browser saw it."""

    url: str
    requests: list[str]
    failed: list[str]
    console_errors: list[str]
    math: str


#: Sphinx's equations (MathJax 2 also names its own inner spans ``math``).
MATH = "span.math.notranslate, div.math.notranslate"
TYPESET = ".MathJax, .MathJax_Display, .MathJax_SVG, mjx-container"

_MATHJAX_STATE = """
const [MATH, TYPESET] = arguments;
const math = document.querySelectorAll(MATH);
if (!math.length) return 'no math';
const MJ = window.MathJax;
if (!MJ || !(MJ.Hub || MJ.startup)) return 'MathJax not loaded';
const idle = MJ.Hub ? (MJ.isReady && !MJ.Hub.queue.pending && !MJ.Hub.queue.running) : true;
const left = Array.from(math).filter(e => !e.querySelector(TYPESET)).length;
return idle && !left ? 'typeset' : `typesetting (${left} of ${math.length} left)`;
"""


def visit(driver: Any, site: str, page: str) -> Visit:
    """Open ``page`` (a docname), wait for MathJax, and collect what the page
    requested, what failed and what the console reported."""
    driver.get_log("performance"), driver.get_log("browser")  # drop the previous page's entries
    url = site + page + ".html"
    driver.get(url)
    deadline = time.monotonic() + 30  # get() may return before the new document is the one shown
    while not driver.execute_script("return document.readyState === 'complete' && location.href === arguments[0]", url):
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not finish loading in 30 s")
        time.sleep(0.1)
    deadline = time.monotonic() + MATHJAX_TIMEOUT_S  # MathJax 2 typesets a long chapter in seconds
    while (math := driver.execute_script(_MATHJAX_STATE, MATH, TYPESET)).startswith(("typesetting", "MathJax not")):
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    driver.execute_script("return document.fonts ? document.fonts.ready.then(() => true) : true")
    requests, failed = [], []
    statuses: dict[str, int] = {}
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            requests.append(params["request"]["url"])
        elif message["method"] == "Network.responseReceived":
            statuses[params["response"]["url"]] = params["response"]["status"]
        elif message["method"] == "Network.loadingFailed" and not params.get("canceled"):
            failed.append(f"{params.get('type')}: {params.get('errorText')} (request {params.get('requestId')})")
    failed += [
        f"HTTP {status}: {address}"
        for address, status in statuses.items()
        if status >= 400 and not address.endswith("/favicon.ico")
    ]
    console = [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and "favicon.ico" not in entry["message"]
    ]
    return Visit(url, requests, failed, console, math)


def _page_problems(driver: Any, visit_: Visit, site: str, html_dir: Path) -> list[str]:
    """What is wrong on any page: loads from other hosts, failed loads,
    console errors, broken images, links to missing pages or anchors, error
    boxes, tracebacks, raw or broken math."""
    problems: list[str] = []
    dead = _dead_links(driver, site, html_dir)
    if dead:
        problems.append(f"links to missing pages, files or anchors: {dead[:10]}")
    host = urlsplit(site).netloc
    external = [
        u
        for u in visit_.requests
        if urlsplit(u).scheme in {"http", "https", "ws", "wss"} and urlsplit(u).netloc != host
    ]
    if external:
        problems.append(f"requests to other hosts (the book must work offline): {external}")
    if visit_.failed:
        problems.append(f"failed loads: {visit_.failed}")
    if visit_.console_errors:
        problems.append(f"browser console errors: {visit_.console_errors}")
    broken = driver.execute_script(
        "return Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)"
        ".map(i => i.getAttribute('src'))"
    )
    if broken:
        problems.append(f"images that did not load: {broken}")
    found = driver.execute_script("""
        const q = s => document.querySelectorAll(s).length;
        const main = document.querySelector('main') || document.body;
        const copy = main.cloneNode(true);
        copy.querySelectorAll('pre, code, script, style, .MathJax, .MathJax_Display, mjx-container')
            .forEach(e => e.remove());
        return {
          sphinx_errors: q('.system-message, .problematic, div.error'),
          error_outputs: q('.output.error, .output.traceback, .cell_output .traceback'),
          traceback: main.innerText.includes('Traceback (most recent call last)'),
          not_found: /^\\s*(404|Page not found)/i.test(document.title),
          raw_math: (copy.textContent.match(/\\$\\$|\\\\\\(|\\\\\\[|\\\\begin\\{/g) || []).slice(0, 5),
          tex_errors: Array.from(document.querySelectorAll('.MathJax_Error, .noError, merror, mjx-merror'))
              .map(e => e.textContent.slice(0, 80)),
        };""")
    if found["sphinx_errors"]:
        problems.append(f"{found['sphinx_errors']} Sphinx/docutils error box(es) on the page")
    if found["error_outputs"] or found["traceback"]:
        problems.append("an error output or a Python traceback is shown")
    if found["not_found"]:
        problems.append("the page is a 404")
    if found["raw_math"]:
        problems.append(f"math left untypeset (raw delimiters {found['raw_math']})")
    if found["tex_errors"]:
        problems.append(f"TeX errors in equations: {found['tex_errors']}")
    return problems


def _dead_links(driver: Any, site: str, html_dir: Path) -> list[str]:
    """Links of the page into the site whose file, or anchor, does not exist."""
    dead = []
    for href in driver.execute_script("return Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"):
        parts = urlsplit(href)
        if not href.startswith(site):
            continue
        target = html_dir / parts.path.lstrip("/")
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            dead.append(href)
        elif (
            parts.fragment
            and target.suffix == ".html"
            and not re.search(rf"""\bid=["']{re.escape(unquote(parts.fragment))}["']""", _read(target))
        ):
            dead.append(href)
    return dead


@functools.cache
def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def _toc_links(driver: Any) -> list[str]:
    return driver.execute_script("""
        return Array.from(document.querySelectorAll('nav.bd-docs-nav a.reference.internal'))
            .map(a => new URL(a.href).pathname);""")


def _docname(pathname: str) -> str:
    return pathname.strip("/").removesuffix(".html")


# ---------------------------------------------------------------- tests


def _findings_on_screen(driver: Any) -> list[str]:
    """The page's findings section and table stand above the first code cell it shows (its input not
    hidden by a ``hide-input`` or ``remove-input`` tag), as laid out on screen."""
    at = driver.execute_script(
        """
        const [SECTION, TABLE] = arguments;
        const top = (el) => (el ? el.getBoundingClientRect().top + window.scrollY : null);
        const hidden = (cell) => ['tag_hide-input', 'tag_remove-input', 'tag_hide-cell', 'tag_remove-cell']
          .some((t) => cell.classList.contains(t));
        const code = Array.from(document.querySelectorAll('main div.cell'))
          .find((cell) => !hidden(cell) && cell.querySelector('.cell_input'));
        return {section: top(document.getElementById(SECTION)), table: top(document.querySelector('table.' + TABLE)),
                code: code ? top(code.querySelector('.cell_input')) : null};""",
        FINDINGS_SECTION_ID,
        FINDINGS_CLASS,
    )
    if at["section"] is None or at["table"] is None:
        return [f"no findings {'section' if at['section'] is None else 'table'} on the page"]
    if at["code"] is not None and not at["section"] < at["table"] < at["code"]:
        return [
            f"the findings (section at {at['section']:.0f} px, table at {at['table']:.0f} px) are not above "
            f"the first code shown ({at['code']:.0f} px)"
        ]
    return []


def test_book_builds_offline(book: BookResult) -> None:
    assert book.index.is_file(), f"no {book.index}"
    for page in ["intro", *PAGES]:
        assert (book.html_dir / f"{page}.html").is_file(), f"the book has no page {page}.html"
    assert (book.html_dir / "_static" / "mathjax" / "MathJax.js").is_file(), "MathJax is not served by the site"
    assert external_resources(book.html_dir) == []


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_each_chapter_page_opens_with_its_findings(chapter: str, book: BookResult) -> None:
    """Without a browser: the built page holds its findings section and table before any cell that shows
    its code (:func:`reuseprior.reporting.book_layout.page_findings_first`); the browser test measures it."""
    page = (book.html_dir / f"{chapter}.html").read_text(encoding="utf-8")
    assert page_findings_first(page) == "", f"{chapter}: {page_findings_first(page)}"


def test_toc_lists_the_chapters_in_thesis_order() -> None:
    """The notebooks on disk are the one list of chapters: the book lists every one, in name (thesis) order."""
    assert CHAPTERS == notebook_chapters(), "book/_toc.yml must list exactly the notebooks/ch*.ipynb, in name order"
    declared = [chapters.get_chapter(name).page for name in chapters.list_chapters()]
    assert declared == CHAPTERS, "reuseprior.chapters.list_chapters(): the registered chapters"
    assert PAGES[0] == "README", "the README's results come first, before the chapters"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[Path(c).name for c in CHAPTERS])
def test_chapter_page(chapter: str, browser: Any, site: str, book: BookResult) -> None:
    want = expected(chapter)
    seen = visit(browser, site, chapter)
    problems = _page_problems(browser, seen, site, book.html_dir)

    heading = browser.execute_script(
        "const h = document.querySelector('main h1'); return h ? h.textContent.replace(/[#¶]/g, '').trim() : ''"
    )
    if not want.title:
        problems.append("the notebook has no '# ' title heading in a markdown cell")
    elif heading != want.title:
        problems.append(f"page heading {heading!r}, expected the chapter's {want.title!r}")
    if want.title and not browser.title.startswith(want.title):
        problems.append(f"page title {browser.title!r} does not start with {want.title!r}")

    nb_path = NOTEBOOKS_DIR / f"{Path(chapter).name}.ipynb"
    if want.outputs == 0:
        problems.append(
            f"{nb_path} stores no outputs: the book would show its code without results. "
            "Commit it executed (make figures executes every chapter in place)"
        )
    if want.errors:
        problems.append(f"{nb_path} stores error outputs: {want.errors}")
    counts = browser.execute_script(
        """
        const [MATH, TYPESET] = arguments;
        const outputs = '.cell_output';
        return {
          tables: document.querySelectorAll(outputs + ' table').length,
          figures: Array.from(document.querySelectorAll(outputs + ' img')).filter(i => i.naturalWidth > 0).length,
          math: document.querySelectorAll(MATH).length,
          typeset: document.querySelectorAll(TYPESET).length,
          untypeset: Array.from(document.querySelectorAll(MATH)).filter(e => !e.querySelector(TYPESET)).length,
        };""",
        MATH,
        TYPESET,
    )
    if counts["tables"] < want.tables:
        problems.append(
            f"{counts['tables']} rendered <table> in outputs, the notebook stores {want.tables} "
            "DataFrame/HTML table output(s)"
        )
    if counts["figures"] < want.figures:
        problems.append(f"{counts['figures']} loaded figure(s) in outputs, the notebook stores {want.figures}")
    if want.math and counts["math"] == 0:
        problems.append("the notebook holds math but the page has no equation (not parsed as math)")
    if counts["math"]:  # every equation on the page, expected or not, is typeset
        if seen.math != "typeset":
            problems.append(f"MathJax did not typeset the page ({seen.math})")
        if counts["typeset"] == 0 or counts["untypeset"]:
            problems.append(f"{counts['untypeset']} of {counts['math']} equations not typeset by MathJax")

    problems += _findings_on_screen(browser)

    index = PAGES.index(chapter)
    previous, following = (["intro", *PAGES])[index], (PAGES + [None])[index + 1]
    links = browser.execute_script("""
        const get = s => { const a = document.querySelector(s); return a ? new URL(a.href).pathname : null; };
        return {prev: get('.prev-next-area a.left-prev'), next: get('.prev-next-area a.right-next')};""")
    if links["prev"] is None or _docname(links["prev"]) != previous:
        problems.append(f"previous link {links['prev']}, expected {previous}.html")
    if following is not None and (links["next"] is None or _docname(links["next"]) != following):
        problems.append(f"next link {links['next']}, expected {following}.html")
    toc = [_docname(p) for p in _toc_links(browser)]
    if [p for p in toc if p in PAGES] != PAGES:
        problems.append(f"sidebar table of contents {toc}, expected {PAGES}")

    if chapter == _screenshot_chapter():
        _screenshot(browser)
    assert not problems, f"{seen.url} ({chapter}):\n- " + "\n- ".join(problems)


def test_landing_page_and_readme(browser: Any, site: str, book: BookResult) -> None:
    """The landing page, then every markdown page of the repository in the
    book (the README, the pages of docs/ it links to, CONTRIBUTING): whole,
    with every table rendered and every image loaded."""
    problems: list[str] = []
    seen = visit(browser, site, "intro")
    problems += [f"intro: {p}" for p in _page_problems(browser, seen, site, book.html_dir)]
    targets = browser.execute_script(
        "return Array.from(document.querySelectorAll('main a.reference.internal')).map(a => new URL(a.href).pathname)"
    )
    listed = [_docname(t) for t in targets]
    if "README" not in listed:
        problems.append("intro: no link to the README's results")
    if [p for p in listed if p in CHAPTERS] != CHAPTERS:
        problems.append(f"intro: chapters listed {listed}, expected {CHAPTERS} in this order")
    if [p for p in (_docname(x) for x in _toc_links(browser)) if p in PAGES] != PAGES:
        problems.append("intro: the sidebar does not list every page in book/_toc.yml order")

    for page in [p for p in PAGES if p not in CHAPTERS]:
        seen = visit(browser, site, page)
        problems += [f"{page}: {p}" for p in _page_problems(browser, seen, site, book.html_dir)]
        source = (paths.ROOT / f"{page}.md").read_text(encoding="utf-8")
        counts = browser.execute_script(
            "return {tables: document.querySelectorAll('main table').length,"
            " images: Array.from(document.querySelectorAll('main img')).filter(i => i.naturalWidth > 0).length}"
        )
        want_tables = len(re.findall(r"^\|[-| :]+\|\s*$", source, re.MULTILINE))
        want_images = len(re.findall(r"!\[[^\]]*\]\([^)]+\)", _CODE.sub("", source)))
        if counts["tables"] < want_tables:
            problems.append(f"{page}: {counts['tables']} tables rendered, {page}.md has {want_tables}")
        if counts["images"] < want_images:
            problems.append(f"{page}: {counts['images']} images loaded, {page}.md has {want_images}")
    assert not problems, "\n- ".join(["", *problems])


@functools.cache
def _screenshot_chapter() -> str:
    """The first chapter showing equations, tables and figures (ch5_energy_priors)."""
    for wanted in (lambda e: e.math and e.tables and e.figures, lambda e: e.outputs, lambda e: True):
        for chapter in CHAPTERS:
            if wanted(expected(chapter)):
                return chapter
    raise AssertionError("book/_toc.yml lists no chapter")


def _screenshot(driver: Any) -> None:
    """The page around its first equation in an output, else its first
    figure, else its heading."""
    driver.execute_script("""
        const target = ['.cell_output .MathJax_Display', '.cell_output img', 'main h1']
            .map(s => document.querySelector(s)).find(Boolean);
        target.scrollIntoView({block: 'start'});
        window.scrollBy(0, -80);""")
    SCREENSHOT_PATH.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOT_PATH))


def test_links_are_made_to_work_in_the_book(tmp_path: Path) -> None:
    """A linked repository file is copied to its own path, a link to a folder
    becomes its text, a chapter's name in code links to the chapter, a link to
    a section of a chapter becomes an HTML link to it on the chapter's page,
    and a link to nothing stops the build naming it."""
    from reuseprior.reporting.book import BookError, assemble_book

    repo, config = tmp_path / "repo", tmp_path / "config"
    (repo / "figures" / "ch1").mkdir(parents=True)
    (repo / "figures" / "ch1" / "plot.png").write_bytes(b"png")
    (repo / "notebooks").mkdir()
    (repo / "notebooks" / "ch1_demo.ipynb").write_text(
        json.dumps(
            {
                "cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# Demo\n", "[README](../README.md)"]}],
                "metadata": {},
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        )
    )
    config.mkdir()
    (config / "_config.yml").write_text("title: t\n")
    (config / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nchapters:\n- file: README\n- file: notebooks/ch1_demo\n"
    )
    (config / "intro.md").write_text("# Intro\n[results](README.md)\n")
    readme = (
        "# R\n![plot](figures/ch1/plot.png) [folder](figures/ch1/) `ch1_demo` [`ch1_demo`](#r)\n"
        "[notebook](notebooks/ch1_demo.ipynb#findings-demo)\n"
        "```\n`ch1_demo` [bad](missing.csv)\n[notebook](notebooks/ch1_demo.ipynb#findings-demo)\n```\n"
    )
    (repo / "README.md").write_text(readme)
    book = tmp_path / "book"
    unlinked = assemble_book(book, repo / "notebooks", config, repo)
    text = (book / "README.md").read_text()
    assert (book / "figures" / "ch1" / "plot.png").read_bytes() == b"png"
    assert "folder figures/ch1/" not in text and " folder " in text, text
    assert unlinked == ["README.md: figures/ch1/"]
    assert "[`ch1_demo`](notebooks/ch1_demo.ipynb) [`ch1_demo`](#r)" in text
    assert '<a href="notebooks/ch1_demo.html#findings-demo">notebook</a>\n' in text, text
    assert "```\n`ch1_demo` [bad](missing.csv)\n[notebook](notebooks/ch1_demo.ipynb#findings-demo)\n```" in text, (
        "fenced code must stay as it is"
    )
    assert (book / "notebooks" / "ch1_demo.ipynb").is_file() and (book / "intro.md").is_file()
    assert (book / "_assets" / "mathjax" / "MathJax.js").is_file()

    (repo / "README.md").write_text(readme + "\n[gone](data/gone.csv)\n")
    with pytest.raises(BookError, match=r"README.md links to files that do not exist: data/gone.csv"):
        assemble_book(book, repo / "notebooks", config, repo)
