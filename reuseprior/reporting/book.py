"""The executed chapter notebooks as a static site (Jupyter Book).

``make book`` builds ``build/book/_build/html/index.html`` with Jupyter Book 1
(Sphinx + MyST-NB). Policy:

* **Nothing is executed.** The notebooks are rendered with the outputs they
  hold (``execute_notebooks: off``): the committed ones, executed on the quick
  profile by ``make figures``, or the copies in ``notebooks_dir``. A
  notebook without outputs still renders (code and narrative only).
* **The committed configuration lives in** ``book/`` at the repository root:
  ``_config.yml`` (site settings), ``_toc.yml`` (the chapters, in thesis
  order) and ``intro.md`` (the landing page). Nothing else is hand-written.
* **The source is assembled in** ``build/book/`` (generated, never edited:
  it is emptied at the start of every build, except the screenshot
  ``tests/test_book.py`` leaves there), mirroring the repository's
  layout so that relative links work unchanged: ``README.md`` at the top,
  the notebooks under ``notebooks/``, the repository's markdown pages that
  ``_toc.yml`` names at their own paths (``CONTRIBUTING.md``, ``docs/*.md``),
  and every repository file that a link or image in the README, a page or a
  notebook's markdown points at (e.g.
  ``figures/<notebook>/*.png``) at its own path. A link to a folder becomes
  plain text (a static site cannot list a folder); a link to a file that does
  not exist stops the build, naming the file and the link. In the README, a
  code span that is exactly a chapter notebook's name (`` `ch<N>_<topic>` ``,
  as in its results table) becomes a link to that chapter, and a link to a section of a
  chapter (``notebooks/<chapter>.ipynb#<id>``, the ``<a id>`` anchors of its findings'
  sections) an HTML link to that section of the chapter's page. In the book's copy of a
  notebook, a table header may break after its underscores and a cell whose
  table is wider than the content column at 1280 px is tagged ``full-width``
  (:func:`reuseprior.reporting.book_layout.fit_tables`);
  ``book/_assets/reuseprior.css`` makes output tables compact and code wrap,
  and :func:`reuseprior.reporting.book_layout.check_pages` measures the result.
* **Nothing is loaded from another site**, at build or view time: MathJax 2.7
  is copied from the ``jupyter_server_mathjax`` package into the site's
  ``_static/mathjax/`` and Sphinx's ``mathjax_path`` points at it; after the
  build every page is checked for scripts, stylesheets, images or frames
  with an absolute ``http(s)://`` address.
* **Warnings that mean a broken page are errors**: every Sphinx warning
  fails the build (a missing notebook or document, an unreadable image, a
  reference without target, a notebook that does not parse) except the
  harmless kinds listed in :data:`HARMLESS_WARNINGS`, which are printed.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from reuseprior.core import paths
from reuseprior.core.errors import BookError
from reuseprior.core.files import write_text
from reuseprior.reporting.book_layout import fit_tables

__all__ = [
    "BOOK_CONFIG_DIR",
    "HARMLESS_WARNINGS",
    "BookError",
    "BookResult",
    "assemble_book",
    "build_book",
    "chapter_files",
    "notebook_chapters",
    "external_resources",
]

#: The committed configuration: ``_config.yml``, ``_toc.yml``, ``intro.md``.
BOOK_CONFIG_DIR: Path = paths.ROOT / "book"
#: Where the source is assembled and built by default (output: ``_build/html``).
DEFAULT_BOOK_DIR: Path = paths.BUILD_DIR / "book"
#: Written into the book folder; a non-empty folder without it is never emptied.
MARKER = ".reuseprior-book"
#: Written into the book folder by tests/test_book.py (a browser's view of a
#: chapter), possibly before any build: a folder holding only it is ours too.
SCREENSHOT = "screenshot.png"
#: The repository's own pages at its top, copied into the book at their own
#: path (as are the pages of docs/ that _toc.yml names).
REPOSITORY_PAGES = ("README.md", "CONTRIBUTING.md")

#: Sphinx warnings that leave every page whole (matched against the message).
HARMLESS_WARNINGS: dict[str, str] = {
    r"Non-consecutive header level increase": "a heading level skipped (README's H1 -> H3): renders fine",
    r"Document headings start at H\d": "a page opening below H1: renders fine",
    r"Lexing literal_block .* resulted in an error|Could not lex literal_block": (
        "a code block that Pygments cannot colour: shown uncoloured"
    ),
}

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_WARNING_LINE = re.compile(r"\b(WARNING|ERROR|CRITICAL|SEVERE):")
_ABSOLUTE_URL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)
_HTML_URL_ATTR = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


@dataclass
class BookResult:
    """What one build produced."""

    html_dir: Path
    seconds: float
    #: Harmless Sphinx warnings (kept out of the failure, printed by the command).
    harmless_warnings: list[str] = field(default_factory=list)
    #: Links rewritten to plain text (links to folders), as ``file: target``.
    unlinked: list[str] = field(default_factory=list)

    @property
    def index(self) -> Path:
        return self.html_dir / "index.html"


# ---------------------------------------------------------------- table of contents


def notebook_chapters(notebooks_dir: Path | None = None) -> list[str]:
    """The chapters, as the notebooks on disk name them (the one list of
    chapters: ``_toc.yml`` and any other list of them are checked against
    it): ``notebooks/<name>`` of every ``ch*.ipynb``, in name order, which is
    the thesis's order."""
    folder = notebooks_dir if notebooks_dir is not None else paths.NOTEBOOKS_DIR
    return [f"notebooks/{p.stem}" for p in sorted(folder.glob("ch*.ipynb"))]


def chapter_files(config_dir: Path = BOOK_CONFIG_DIR) -> list[str]:
    """Every ``file:`` of ``_toc.yml`` after the root, in order (e.g. ``README``,
    ``notebooks/<name>``): the pages of the book besides the landing page."""
    toc = _read_toc(config_dir)
    files: list[str] = []

    def walk(entries: list) -> None:
        for entry in entries or []:
            if "file" in entry:
                files.append(str(entry["file"]))
            walk(entry.get("sections", []))

    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    walk(toc.get("chapters", []))
    return files


def _read_toc(config_dir: Path) -> dict:
    import yaml  # noqa: PLC0415 (the book's tools: requirements-lock.txt, not the package)

    toc_path = config_dir / "_toc.yml"
    if not toc_path.is_file():
        raise BookError(
            f"{toc_path} is missing: the book's table of contents is committed there "
            "(restore it with git checkout book/_toc.yml)"
        )
    return yaml.safe_load(toc_path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- assembling the source


def assemble_book(
    book_dir: Path = DEFAULT_BOOK_DIR,
    notebooks_dir: Path = paths.NOTEBOOKS_DIR,
    config_dir: Path = BOOK_CONFIG_DIR,
    repo_root: Path = paths.ROOT,
) -> list[str]:
    """Fill ``book_dir`` with the book's source (see the module docstring) and
    return the links rewritten to plain text.

    ``book_dir`` is emptied first when it holds a previous build (the marker
    file) or nothing; any other folder is refused rather than deleted."""
    book_dir, notebooks_dir = Path(book_dir).resolve(), Path(notebooks_dir).resolve()
    config_dir, repo_root = Path(config_dir), Path(repo_root)
    _prepare_folder(book_dir)

    for name in ("_config.yml", "_toc.yml"):
        if not (config_dir / name).is_file():
            raise BookError(
                f"{config_dir / name} is missing: the book's configuration is committed in "
                f"{config_dir} (restore it with git checkout book/)"
            )
    shutil.copytree(
        config_dir,
        book_dir,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("_build", "__pycache__", ".ipynb_checkpoints"),
    )

    pages: dict[str, Path] = {}  # book-relative path -> where it is copied from
    missing: list[str] = []
    for file in chapter_files(config_dir):
        rel = _page_path(file, config_dir, repo_root)
        if rel.parts[0] == "notebooks":
            source = notebooks_dir / Path(*rel.parts[1:])
        elif (config_dir / rel).is_file():
            continue  # a committed page of book/ (already copied)
        else:
            source = repo_root / rel
        if not source.is_file():
            missing.append(f"{file} (looked for {source})")
        pages[rel.as_posix()] = source
    if missing:
        where = "" if notebooks_dir == paths.NOTEBOOKS_DIR.resolve() else f" in --notebooks-dir {notebooks_dir}"
        raise BookError(
            "book/_toc.yml names pages that do not exist"
            + where
            + ": "
            + "; ".join(missing)
            + ". Point --notebooks-dir at a folder holding every chapter notebook "
            "(make figures writes them to notebooks/), or fix book/_toc.yml"
        )

    unlinked: list[str] = []
    for rel, source in pages.items():
        target = book_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.suffix == ".ipynb":
            nb = json.loads(source.read_text(encoding="utf-8"))
            fit_tables(nb)
            for cell in nb.get("cells", []):
                if cell.get("cell_type") == "markdown":
                    text = "".join(cell.get("source", []))
                    new = _resolve_links(text, rel, book_dir, repo_root, set(pages), unlinked)
                    if new != text:
                        cell["source"] = new
            write_text(target, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        else:
            text = _link_chapter_names(source.read_text(encoding="utf-8"), pages, rel)
            text = _resolve_links(text, rel, book_dir, repo_root, set(pages), unlinked)
            write_text(target, _link_notebook_sections(text))
    for page in config_dir.glob("*.md"):
        text = page.read_text(encoding="utf-8")
        write_text(
            book_dir / page.name,
            _resolve_links(text, page.name, book_dir, repo_root, set(pages) | {page.name}, unlinked),
        )

    _copy_mathjax(book_dir / "_assets" / "mathjax")  # html_static_path in _config.yml: served as _static/mathjax
    return unlinked


def _prepare_folder(book_dir: Path) -> None:
    if book_dir.exists():
        if not book_dir.is_dir():
            raise BookError(f"{book_dir} is a file: pass a folder to build the book in")
        foreign = {p.name for p in book_dir.iterdir()} - {MARKER, SCREENSHOT}
        if foreign and not (book_dir / MARKER).exists():
            raise BookError(
                f"{book_dir} is not empty and does not hold a previous book build "
                f"(no {MARKER} file): refusing to empty it; choose an empty or new folder"
            )
        for entry in book_dir.iterdir():  # the test's screenshot outlives a rebuild
            if entry.name == SCREENSHOT:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    book_dir.mkdir(parents=True, exist_ok=True)
    write_text(book_dir / MARKER, "built by python -m reuseprior book; emptied by every build\n")


def _page_path(file: str, config_dir: Path, repo_root: Path) -> Path:
    """The source file of a TOC entry, relative to the book (suffix added)."""
    rel = Path(file)
    if rel.suffix in {".md", ".ipynb"}:
        return rel
    if rel.parts[0] == "notebooks":
        return rel.with_suffix(".ipynb")
    for suffix in (".md", ".ipynb"):
        if (config_dir / rel.with_suffix(suffix)).is_file() or (repo_root / rel.with_suffix(suffix)).is_file():
            return rel.with_suffix(suffix)
    return rel.with_suffix(".md")


def _link_chapter_names(markdown: str, pages: dict[str, Path], page: str) -> str:
    """In a markdown page of the repository (the README, a page of docs/), turn a code span
    that is exactly a chapter notebook's name (`` `ch<N>_<topic>` ``, as the README's
    results table names them) into a link to that chapter; fenced code and
    spans that already are link text are left alone."""
    depth = len(Path(page).parts) - 1
    chapters = {Path(rel).stem: "../" * depth + rel for rel in pages if rel.endswith(".ipynb")}
    span = re.compile(
        r"(?<![\[`])`(" + "|".join(map(re.escape, sorted(chapters, key=len, reverse=True))) + r")`(?![`\]])"
    )
    if not chapters:
        return markdown
    parts = re.split(r"(^(?:```|~~~).*?^(?:```|~~~)[ \t]*$)", markdown, flags=re.MULTILINE | re.DOTALL)
    return "".join(
        part if i % 2 else span.sub(lambda m: f"[`{m.group(1)}`]({chapters[m.group(1)]})", part)
        for i, part in enumerate(parts)
    )


#: a link to a section of a chapter notebook: its text, the notebook's path without ``.ipynb``, the section's id
_SECTION_LINK = re.compile(r"(?<!!)\[([^\]\n]+)\]\(((?:\.\./)*notebooks/[\w.-]+)\.ipynb#([A-Za-z][\w-]*)\)")


def _link_notebook_sections(markdown: str) -> str:
    """In a markdown page of the repository, turn a link to a section of a chapter notebook
    (``[text](notebooks/<chapter>.ipynb#<id>)``, an id that the notebook's markdown holds as an
    ``<a id>`` anchor, as its findings' sections do) into an HTML link to that section of the
    chapter's page. Sphinx knows a notebook's headings, not the ids of its raw HTML, so it would
    report the Markdown link as a reference without a target; the browser finds the id on the
    page. Fenced code is left alone."""
    parts = re.split(r"(^(?:```|~~~).*?^(?:```|~~~)[ \t]*$)", markdown, flags=re.MULTILINE | re.DOTALL)
    return "".join(
        part
        if i % 2
        else _SECTION_LINK.sub(lambda m: f'<a href="{m.group(2)}.html#{m.group(3)}">{m.group(1)}</a>', part)
        for i, part in enumerate(parts)
    )


def _link_targets(markdown: str) -> Iterator[str]:
    """Every link and image address of a markdown text, code excluded."""
    from markdown_it import MarkdownIt  # noqa: PLC0415 (the book's tools: requirements-lock.txt, not the package)

    def walk(tokens) -> Iterator[str]:
        for token in tokens:
            if token.type == "link_open" and token.attrGet("href"):
                yield str(token.attrGet("href"))
            elif token.type == "image" and token.attrGet("src"):
                yield str(token.attrGet("src"))
            elif token.type in {"html_inline", "html_block"}:
                content = re.sub(r"<!--.*?-->", "", token.content, flags=re.DOTALL)
                yield from _HTML_URL_ATTR.findall(content)
            if token.children:
                yield from walk(token.children)

    yield from walk(MarkdownIt("commonmark").parse(markdown))


def _resolve_links(
    markdown: str, page: str, book_dir: Path, repo_root: Path, book_pages: set[str], unlinked: list[str]
) -> str:
    """Make every relative link of ``page`` (book-relative path, the same as its
    repository path) work in the book: copy the file it points at, turn a
    link to a folder into its text, and raise on a link to nothing."""
    broken: list[str] = []
    folders: set[str] = set()
    page_dir = Path(page).parent
    for target in set(_link_targets(markdown)):
        if _ABSOLUTE_URL.match(target) or target.startswith(("#", "/")):
            continue
        path_part = re.split(r"[#?]", target, maxsplit=1)[0]
        if not path_part:
            continue
        rel = Path(_normalise(page_dir / path_part))
        if rel.as_posix() in book_pages or rel.as_posix().startswith("../"):
            if rel.as_posix().startswith("../"):
                broken.append(f"{target} (outside the repository)")
            continue
        source = repo_root / rel
        if source.is_dir():
            folders.add(target)
        elif source.is_file():
            destination = book_dir / rel
            destination.parent.mkdir(parents=True, exist_ok=True)
            if not destination.exists():
                shutil.copy2(source, destination)
        else:
            broken.append(f"{target} (no file {rel.as_posix()} in the repository)")
    if broken:
        raise BookError(
            f"{page} links to files that do not exist: {'; '.join(sorted(broken))}. "
            "Fix the link (paths are relative to the page's folder in the repository) "
            "or commit the file"
        )
    for target in sorted(folders):
        unlinked.append(f"{page}: {target}")
        pattern = re.compile(r"(?<!!)\[([^\]]*)\]\(" + re.escape(target) + r"(?:\s+\"[^\"]*\")?\)")
        markdown = pattern.sub(lambda m: m.group(1), markdown)
    return markdown


def _normalise(path: Path) -> str:
    """``a/b/../c`` -> ``a/c`` without touching the file system; a path that
    climbs above the repository keeps its leading ``../``."""
    parts: list[str] = []
    for part in path.as_posix().split("/"):
        if part in {"", "."}:
            continue
        if part == ".." and parts and parts[-1] != "..":
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts) or "."


def _copy_mathjax(destination: Path) -> None:
    try:
        import jupyter_server_mathjax  # noqa: PLC0415 (the book's tools: requirements-lock.txt, not the package)
    except ImportError as err:
        raise BookError(
            "the book serves MathJax itself and copies it from the jupyter-server-mathjax package, "
            "which is not installed: run make env (it is in requirements-lock.txt)"
        ) from err
    static = Path(jupyter_server_mathjax.__file__).parent / "static"
    if not (static / "MathJax.js").is_file():
        raise BookError(
            f"{static} holds no MathJax.js: reinstall jupyter-server-mathjax "
            "(pip install --force-reinstall jupyter-server-mathjax)"
        )
    shutil.copytree(static, destination, dirs_exist_ok=True)


# ---------------------------------------------------------------- building


class _Tee(io.TextIOBase):
    """Writes to a stream and keeps a copy (Sphinx's warning stream)."""

    def __init__(self, stream: io.TextIOBase | None) -> None:
        self.stream, self.buffer_ = stream, io.StringIO()

    def write(self, text: str) -> int:
        self.buffer_.write(text)
        if self.stream is not None:
            self.stream.write(text)
        return len(text)

    def flush(self) -> None:
        if self.stream is not None:
            self.stream.flush()

    def isatty(self) -> bool:  # no colour codes in the captured warnings
        return False


def build_book(
    book_dir: Path = DEFAULT_BOOK_DIR,
    notebooks_dir: Path = paths.NOTEBOOKS_DIR,
    config_dir: Path = BOOK_CONFIG_DIR,
    quiet: bool = False,
) -> BookResult:
    """Assemble the source in ``book_dir`` and build ``book_dir/_build/html``.

    Raises :class:`BookError` when the source cannot be assembled, when
    Sphinx fails or warns of a broken page, or when a page loads anything
    from another site."""
    from jupyter_book.sphinx import build_sphinx  # noqa: PLC0415 (the book's tools: requirements-lock.txt, not the package)

    start = time.perf_counter()
    book_dir = Path(book_dir).resolve()
    unlinked = assemble_book(book_dir, notebooks_dir, config_dir)
    html_dir = book_dir / "_build" / "html"
    tee = _Tee(None if quiet else sys.stderr)
    with contextlib.redirect_stderr(tee):  # build_sphinx writes its warnings to sys.stderr
        # the arguments `jupyter-book build --all <book_dir>` passes (jupyter_book/cli/main.py)
        status = build_sphinx(
            book_dir,
            html_dir,
            noconfig=True,
            path_config=str(book_dir / "_config.yml"),
            confoverrides={"external_toc_path": (book_dir / "_toc.yml").as_posix(), "latex_individualpages": False},
            freshenv=True,
            quiet=quiet,
            builder="html",
        )
    warnings = _warnings(tee.buffer_.getvalue())
    harmful = [w for w in warnings if not _is_harmless(w)]
    if isinstance(status, BaseException) or status or harmful:
        problem = f"Sphinx failed ({status!r})" if isinstance(status, BaseException) or status else ""
        lines = "\n  ".join(harmful)
        raise BookError(
            f"the book's build in {book_dir} is broken: {problem}"
            + (
                f"{' and ' if problem else ''}{len(harmful)} warning(s) that mean a broken page:\n  {lines}\n"
                if harmful
                else "\n"
            )
            + "Fix the notebook, README or book/ file named; a warning that leaves the page whole "
            "can be listed in HARMLESS_WARNINGS in reuseprior/reporting/book.py"
        )
    external = external_resources(html_dir)
    if external:
        raise BookError(
            "pages of the book load resources from other sites (the book must work offline): "
            + "; ".join(external[:20])
            + ". Serve them from _static/ or switch off the option of book/_config.yml that adds them"
        )
    return BookResult(
        html_dir=html_dir,
        seconds=time.perf_counter() - start,
        harmless_warnings=[w for w in warnings if _is_harmless(w)],
        unlinked=unlinked,
    )


def _warnings(log: str) -> list[str]:
    """Sphinx's warning lines (a message continued on following lines is joined)."""
    found: list[str] = []
    for line in _ANSI.sub("", log).splitlines():
        if _WARNING_LINE.search(line):
            found.append(line.strip())
        elif found and line.startswith((" ", "\t")) and line.strip():
            found[-1] += " " + line.strip()
    return found


def _is_harmless(warning: str) -> bool:
    return "WARNING:" in warning and any(re.search(p, warning) for p in HARMLESS_WARNINGS)


_RESOURCE_TAG = re.compile(r"<(script|img|iframe|link|source|video|audio|embed)\b[^>]*>", re.IGNORECASE)
_LINK_REL = re.compile(r"""\brel\s*=\s*["']([^"']*)["']""", re.IGNORECASE)
_CSS_URL = re.compile(r"""url\(\s*["']?((?:https?:)?//[^"')]+)""", re.IGNORECASE)


def external_resources(html_dir: Path) -> list[str]:
    """Every resource a page of ``html_dir`` would load from another site:
    ``<script src>``, ``<img src>``, ``<iframe src>``, stylesheets, icons and
    preloads with an absolute ``http(s)://`` or ``//`` address, and ``url(...)``
    of the site's CSS files. Hyperlinks (``<a href>``) are not loads."""
    found: list[str] = []
    for page in sorted(html_dir.rglob("*.html")):
        text = page.read_text(encoding="utf-8", errors="replace")
        for tag in _RESOURCE_TAG.finditer(text):
            element = tag.group(1).lower()
            if element == "link":
                rel = _LINK_REL.search(tag.group(0))
                if rel and not re.search(r"stylesheet|icon|preload|modulepreload|manifest", rel.group(1), re.I):
                    continue  # rel=canonical, next, prev, search: navigation, not loads
            for url in _HTML_URL_ATTR.findall(tag.group(0)):
                if re.match(r"^(?:https?:)?//", url, re.IGNORECASE):
                    found.append(f"{page.relative_to(html_dir)}: <{element}> {url}")
    for css in sorted(html_dir.rglob("*.css")):
        for url in _CSS_URL.findall(css.read_text(encoding="utf-8", errors="replace")):
            found.append(f"{css.relative_to(html_dir)}: url({url})")
    return found
