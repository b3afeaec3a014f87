"""The checker of the numbers and verdicts the README and the pages under ``docs/`` quote
(``tests/test_readme.py`` runs it on every page): every one of them is tied to the file it
was computed into and checked there, so no page can drift from ``figures/`` and ``data/``
(``make figures`` rewrites the first). Every rule below holds for each page alike ("the
README" stands for any of them); a problem is named by the page's path and line.

**Markers.** An HTML comment ``<!-- KEY: ... KEY: ... -->`` (invisible on
GitHub) opens a *scope*: the text from the comment to the next marker, the
next blank line (the end of the paragraph, list or table it stands in) or the
next list item, whichever comes first. A marker on its own line ties the
block or list item below it (indent it under the previous item to keep a
list whole); a marker at the start of a table row's first cell ties that
row; a marker in the middle of a paragraph ties the rest of it. No ``--``
inside a marker (GitHub shows such an inline comment as text).

The keys below (several per marker, each once) take *terms* that name what
a number was computed into, as narrowly as the claim needs, since a printed
value is only checked against the values it could be confused with:
``PATH`` (a whole file), ``PATH:COLUMN`` (one column of a CSV) and either
followed by row filters ``[COLUMN=VALUE]`` (exactly; nothing after ``=`` for an
empty cell), ``[COLUMN!=VALUE]`` or ``[COLUMN~REGEX]`` (``re.search``), all of
which must hold; quote a part holding spaces: ``PATH:"max rel. diff"``,
``[minibatch="photos, seed 1"]``. Paths are relative to the repository (a CSV may be
xz-compressed, ``.csv.xz``); the
CSVs' ``#`` comment lines are skipped and the trailing ``+`` of the thesis's
lower bounds is dropped. Keys:

- ``source: TERM ...``: the values the numbers are quoted from: the cells of
  the selection (files under ``figures/`` written by the notebooks, stored
  results under ``data/``, the thesis's printed values in ``data/thesis/*.csv``,
  which is how the printed values quoted beside ours are checked), every
  number of a JSON file, every number of another text file (such as the
  ``Makefile``, read with the number rules below).
- ``range: TERM ...``: only the smallest and the largest value of each
  selection, for "from ... to" and "a-b" claims (where a value in between
  would match by accident).
- ``largest: TERM ...``: the value of each selection with the largest
  magnitude, signed and unsigned ("largest error -3.7e-10", "within 0.01").
- ``sum: TERM ...``: the sum of each selection (a total of stored timings).
- ``rows: TERM ...``: the number of rows each selection holds, and their sum
  ("35 models (30 random graphs ...)", "on the 341 cells where ...").
- ``matched: PATH ...``: per ``*_vs_thesis.csv`` and summed, the number of
  ``rounded``/``truncated`` verdicts of ``reference.side_by_side`` in its
  ``... match`` columns (the README's "all N printed values match").
- ``len: module.attribute``: the length of an importable object (the rule
  registry whose size the README states).
- ``verdict: TERM ...``: the verdicts the text names, one term per verdict
  word, in order. A verdict word is *reproduced*, *contradicted*,
  *undetermined* or *not comparable* (not "not reproduced") standing inside
  emphasis (``*...*``, ``**...**``, ``_..._`` or ``__...__``, alone or among other words); each term
  selects cells of a verdict column (its name holds "verdict") that all hold
  one value, and the word must be that value. A scope with this key names as
  many verdict words as it has terms. An emphasised verdict word under no
  ``verdict`` key is a problem: a verdict is computed, never typed. A rule or
  a possibility that names a verdict ("reads 'not comparable' until six seeds
  count") writes it without emphasis; the one exception is a table's
  ``status`` column (the chapter map's status of a chapter, whose printed
  values the row's other keys check), where **reproduced** alone is a status.
- ``given: PHRASE; PHRASE``: the numbers inside these literal phrases are
  not results but inputs: settings of a run ("8 individuals"), hardware,
  versions, citations, thresholds, formulas. Each phrase must occur in its
  scope.
- ``measured: WHERE, WHEN``: numbers measured by a person or a benchmark
  whose output is not in the repository (wall-clock times, peak memory of a
  one-off run, values a later run replaced). They are not checked; the text
  must say where and when (a ``YYYY-MM`` date), so a reader knows their
  provenance and age. A measurement that is stored (a CSV under ``data/``
  with its timing columns) is a ``source`` instead.

**Numbers.** Not numbers: fenced code, code spans, HTML comments and link
targets; references to the thesis (the numbers after ``ch.``, chapter,
section, ``§``, Table, Fig., Figure, eq., Theorem, Lemma, Corollary, Definition, appendix,
algorithm, and the lists and ranges that continue them: "Tables 5.1-5.4",
"eqs. 5.19/5.20", "Theorems 3 and 4"); parts of names (digits touching a
letter or an underscore, or after a letter and one of ``-./@``, or before
``@``: V2-S, nb201, log2, CIFAR-10, ViT-L/16, A.3, 4.2a, 6@4032; ``3.3x``
is a ratio, not a name); dotted versions with two or more dots (2.15.0).
Every other number, anywhere in the README, must lie in a scope: in a
``given`` phrase, in a ``measured`` scope, or it is checked against the
candidates of its scope (those of all its keys together).

**Matching** is strict: a printed number matches only a candidate that rounds
to exactly the printed digits, as Python formats the stored value at the
printed precision (``f"{v:.3f}"``, correctly rounded): 0.698 and 0.70
match 0.69812, 0.698 matches neither 0.6974 nor 0.6986. Scientific notation
keeps its mantissa digits: 2e-12 matches a value whose ``f"{v:.0e}"`` is
2e-12 (2.4e-12 does, 3.68e-10 does not), 2.0e-12 one whose ``f"{v:.1e}"`` is
(2.4e-12 does not). Thousands separators are dropped (15,625 is 15625). The sign must
agree: a minus after a space or an opening bracket belongs to the number, a
hyphen between two numbers is a range ("0.08-0.13", two numbers, each
checked). A percentage (45%) matches a stored percentage (45.1) or a stored
fraction (0.451). A failure lists each README number not found, with its line
and the nearest candidate, and says how to fix it: rerun ``make figures`` and
quote the new value, or fix the marker.
"""

from __future__ import annotations

import bisect
import csv
import importlib
import io
import json
import lzma
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

FIX = (
    "fix: rerun `make figures` and quote the value the source now holds, or fix the marker "
    "(`<!-- source: ... -->`, `given:`, `measured:`; rules in tests/readme_check.py's docstring)"
)

_MARKER = re.compile(r"<!--(.*?)-->", re.S)
_KEYS = ("source", "range", "largest", "sum", "rows", "matched", "len", "verdict", "given", "measured")
#: emphasis with asterisks, and with underscores outside a word (``snake_case`` is no emphasis), and the
#: verdict words of ``reuseprior.reporting.statistics`` inside it
_EMPHASES = (
    re.compile(r"(\*\*|\*)(?=\S)(.+?)(?<=\S)\1", re.S),
    re.compile(r"(?<!\w)(__|_)(?=\S)(.+?)(?<=\S)\1(?!\w)", re.S),
)
_VERDICT = re.compile(r"\bnot\s+comparable\b|(?<!\bnot )\b(?:reproduced|contradicted|undetermined)\b", re.I)
_KEY = re.compile(r"\b(" + "|".join(_KEYS) + r"):")
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d+\.)[ \t]", re.M)
_DATE = re.compile(r"\b\d{4}-\d{2}\b")
_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.S | re.M)
_CODE_SPAN = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.S)
_LINK_TARGET = re.compile(r"\]\([^)\s]*\)")
_REFERENCE = re.compile(
    r"(?:§\s*|\b(?i:ch\.|chapters?|sections?|tables?|figs?\.?|figures?|eqs?\.|equations?|theorems?|lemmas?"
    r"|corollary|corollaries|definitions?|appendix|algorithms?)\s+)"
    r"[A-Z]?\d+(?:\.\d+)*[a-z]?(?:\s*(?:,\s*and|,|/|-|–|and)\s*[A-Z]?\d+(?:\.\d+)*[a-z]?)*"
)
_NAME_WITH_NUMBERS = re.compile(r"\b[A-Za-z]+-\d+(?:/\d+)+")  # a family of names: CIFAR-10/100
_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,]\d)|\d+(?:\.\d+)*(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class Quoted:
    """One number as printed: its text (sign included), value, notation
    (``f`` fixed, ``e`` scientific), digits after the point (of the mantissa
    for ``e``), whether it is a percentage, and where it stands."""

    text: str
    value: Decimal
    notation: str
    decimals: int
    percent: bool
    start: int
    end: int


@dataclass
class Scope:
    """The text a marker ties: ``[start, end)`` of the page and its keys."""

    line: int
    start: int
    end: int
    keys: dict[str, str] = field(default_factory=dict)


def _blank(text: str, pattern: re.Pattern) -> str:
    """``text`` with every match of ``pattern`` replaced by spaces (newlines
    kept), so that offsets and line numbers do not move."""
    return pattern.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def quoted_numbers(text: str) -> list[Quoted]:
    """Every number of ``text`` under the docstring's rules, in order."""
    masked = text
    for pattern in (_FENCE, _MARKER, _CODE_SPAN, _LINK_TARGET, _REFERENCE, _NAME_WITH_NUMBERS):
        masked = _blank(masked, pattern)
    found = []
    for m in _NUMBER.finditer(masked):
        s, e, body = m.start(), m.end(), m.group(0)
        before = masked[s - 1] if s else " "
        before2 = masked[s - 2] if s > 1 else " "
        after = masked[e] if e < len(masked) else " "
        after2 = masked[e + 1] if e + 1 < len(masked) else " "
        if before.isalnum() or before in "_@" or (before in "-./" and before2.isalpha()):
            continue  # part of a name: nb201, V2-S, CIFAR-10, ViT-L/16, A.3, 6@4032
        if after == "@" or after == "_" or (after.isalpha() and not (after == "x" and not after2.isalnum())):
            continue  # part of a name: 4.2a, 128GF, 269b, 3x3 (but 3.3x is a ratio)
        if body.count(".") > 1:
            continue  # a dotted version: 2.15.0
        sign = ""
        if before in "-−" and (s < 2 or before2.isspace() or before2 in "([{,;:"):
            sign, s = "-", s - 1
        mantissa, _, exponent = body.replace(",", "").lower().partition("e")
        decimals = len(mantissa.partition(".")[2])
        pct = re.match(r"\s?%", masked[e : e + 2])
        found.append(
            Quoted(
                sign + body,
                Decimal(sign + mantissa) * (Decimal(10) ** int(exponent or 0)),
                "e" if exponent else "f",
                decimals,
                bool(pct),
                s,
                e,
            )
        )
    return found


def parse_markers(text: str, name: str = "README.md") -> tuple[list[Scope], list[str]]:
    """The scopes of every marker of ``text`` (the page ``name``), and the problems of malformed ones."""
    problems, scopes = [], []
    markers = list(_MARKER.finditer(text))
    blank = [m.start() for m in re.finditer(r"\n[ \t]*\n", text)]
    for i, m in enumerate(markers):
        line = text.count("\n", 0, m.start()) + 1
        body = m.group(1).strip()
        parts = _KEY.split(body)
        if len(parts) < 3:
            continue  # an ordinary comment
        if parts[0].strip():
            problems.append(f"{name}:{line}: marker {m.group(0)!r} does not start with a key ({', '.join(_KEYS)})")
        if "--" in body:
            problems.append(
                f"{name}:{line}: marker {m.group(0)[:60]!r}... holds '--': GitHub does not read an "
                f"inline comment holding it as a comment and shows it as text; write it without"
            )
        keys: dict[str, str] = {}
        for key, value in zip(parts[1::2], parts[2::2]):
            if key in keys:
                problems.append(f"{name}:{line}: key {key!r} twice in one marker; list its values once")
            keys[key] = value.strip()
        end = min([b for b in blank if b >= m.end()] + [len(text)])
        if i + 1 < len(markers):
            end = min(end, markers[i + 1].start())
        first = re.compile(r"\S").search(text, m.end())  # the tied text begins on this line
        line_end = text.find("\n", first.start()) if first is not None else -1
        item = _LIST_ITEM.search(text, line_end + 1) if line_end >= 0 else None
        if item is not None:
            end = min(end, item.start())  # the next list item
        scopes.append(Scope(line, m.end(), end, keys))
    return scopes, problems


def _as_float(cell: str) -> float | None:
    try:
        value = float(cell.strip().rstrip("+"))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _json_numbers(obj) -> list[float]:
    if isinstance(obj, bool) or obj is None:
        return []
    if isinstance(obj, (int, float)):
        return [float(obj)] if math.isfinite(obj) else []
    if isinstance(obj, str):
        value = _as_float(obj)
        return [] if value is None else [value]
    items = obj.values() if isinstance(obj, dict) else obj
    return [v for item in items for v in _json_numbers(item)]


@lru_cache(maxsize=None)
def _cells(path: Path) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """Header and rows of a CSV (``.csv``, or xz-compressed ``.csv.xz``), ``#`` comment lines skipped
    (cached: the chapter 6 zoo tables are read by several markers)."""
    text = lzma.decompress(path.read_bytes()).decode() if path.suffix == ".xz" else path.read_text()
    lines = [ln for ln in text.splitlines() if not ln.startswith("#")]
    rows = [tuple(row) for row in csv.reader(io.StringIO("\n".join(lines)))]
    return (rows[0], tuple(rows[1:])) if rows else ((), ())


@lru_cache(maxsize=None)
def _text_values(path: Path) -> tuple[float, ...]:
    if path.suffix == ".json":
        return tuple(_json_numbers(json.loads(path.read_text())))
    return tuple(float(q.value) for q in quoted_numbers(path.read_text()))


_TERM_PART = re.compile(r'(?:[^\s"]|"[^"]*")+')
_TERM = re.compile(r"([^:\[]+)(?::([^\[]+))?((?:\[[^\]]*\])*)")
_FILTER = re.compile(r"\[([^\]=~!]+)(!=|=|~)([^\]]*)\]")


class TermError(ValueError):
    """A marker term that names no existing selection."""


def _resolve(term: str, root: Path) -> tuple[Path, str | None, list[tuple[str, str, str]]]:
    """The file, column and row filters one term names (docstring), checked: the file exists and, when a
    column or filter is given, is a CSV holding those columns."""
    m = _TERM.fullmatch(term.replace('"', ""))
    if m is None:
        raise TermError(f"{term!r} is not PATH[:COLUMN][FILTER...]")
    name, column, filters = m.group(1), m.group(2), _FILTER.findall(m.group(3))
    if "".join(f"[{c}{op}{v}]" for c, op, v in filters) != m.group(3):
        raise TermError(f"{term!r}: a filter is not [COLUMN=VALUE], [COLUMN!=VALUE] or [COLUMN~REGEX]")
    path = root / name
    if not path.is_file():
        raise TermError(f"{name} does not exist")
    if (column or filters) and not _is_csv(path):
        raise TermError(f"{term!r}: columns and filters select from a CSV only")
    header = _cells(path)[0] if _is_csv(path) else ()
    for col in [column] * bool(column) + [c for c, _, _ in filters]:
        if col not in header:
            raise TermError(f"{name} has no column {col!r} (it has {', '.join(header)})")
    return path, column, filters


def _is_csv(path: Path) -> bool:
    return path.name.endswith((".csv", ".csv.xz"))


def _csv_selection(path: Path, column: str | None, filters: list[tuple[str, str, str]]) -> tuple[int, list[str]]:
    """``(rows, cells)`` of a CSV whose term :func:`_resolve` checked: how many rows the filters keep and the
    cells of ``column`` in them (of every column without one)."""
    header, rows = _cells(path)
    for col, op, value in filters:
        i = header.index(col)
        keep = {
            "=": lambda cell, v=value: cell == v,
            "!=": lambda cell, v=value: cell != v,
            "~": lambda cell, v=value: re.search(v, cell) is not None,
        }[op]
        rows = tuple(row for row in rows if keep(row[i] if i < len(row) else ""))
    cells = [row[header.index(column)] for row in rows] if column else [cell for row in rows for cell in row]
    return len(rows), cells


def select(term: str, root: Path) -> tuple[int | None, list[float]]:
    """``(rows, values)`` of one term (docstring): how many rows it selects
    (None for a file that is not a CSV, which has no rows) and its numbers."""
    path, column, filters = _resolve(term, root)
    if not _is_csv(path):
        return None, list(_text_values(path))
    n, cells = _csv_selection(path, column, filters)
    return n, [v for cell in cells if (v := _as_float(cell)) is not None]


def _prose(text: str) -> str:
    """``text`` with its markers and code spans blanked (offsets kept): where verdict words are read."""
    return _blank(_blank(text, _MARKER), _CODE_SPAN)


def _verdict_word_matches(prose: str) -> Iterator[tuple[int, str]]:
    """``(offset, word)`` of each verdict word of ``prose`` (:func:`_prose`'s; docstring), in order,
    the word lower case with one space inside."""
    found = []
    for pattern in _EMPHASES:
        for emphasis in pattern.finditer(prose):
            for word in _VERDICT.finditer(emphasis.group(2)):
                found.append((emphasis.start(2) + word.start(), " ".join(word.group(0).lower().split())))
    yield from sorted(found)


def verdict_words(text: str) -> list[str]:
    """The verdict words of ``text`` (docstring), in order, lower case, one space inside."""
    return [word for _, word in _verdict_word_matches(_prose(text))]


def checked_verdicts(text: str, name: str = "README.md") -> int:
    """How many verdict words of ``text`` stand in a scope with a ``verdict`` key (and so are checked)."""
    scopes, _ = parse_markers(text, name)
    return sum(len(verdict_words(text[s.start : s.end])) for s in scopes if "verdict" in s.keys)


def _table_column(text: str, offset: int) -> str | None:
    """The header, lower case, of the table column ``offset`` stands in (None outside a table); ``text``
    with its markers and code spans blanked, so that a ``|`` inside them does not count."""
    start = text.rfind("\n", 0, offset) + 1
    if not text.startswith("|", start):
        return None
    column = text.count("|", start, offset) - 1
    while start > 0 and text.startswith("|", text.rfind("\n", 0, start - 1) + 1):
        start = text.rfind("\n", 0, start - 1) + 1  # up to the table's header row
    header = text[start : text.find("\n", start)].strip().strip("|").split("|")
    return header[column].strip().lower() if 0 <= column < len(header) else None


def _unkeyed_verdict_problems(text: str, scopes: list[Scope], name: str) -> list[str]:
    """A problem for each emphasised verdict word under no ``verdict`` key, but *reproduced* in a table's
    ``status`` column (docstring)."""
    keyed = [(s.start, s.end) for s in scopes if "verdict" in s.keys]
    prose = _prose(text)
    problems = []
    for at, word in _verdict_word_matches(prose):
        status = word == "reproduced" and _table_column(prose, at) == "status"
        if status or any(a <= at < b for a, b in keyed):
            continue
        problems.append(
            f"{name}:{text.count(chr(10), 0, at) + 1}: *{word}* is a verdict word under no `verdict` key; "
            "tie it to the column it was computed into (`verdict: PATH:COLUMN[...]`), or, where it names a "
            "rule or a possibility, write it without emphasis"
        )
    return problems


def _verdict_problems(scope: Scope, scope_text: str, root: Path, name: str) -> list[str]:
    """The problems of a scope's ``verdict`` key (docstring): words and terms that do not pair up, a
    term that is not one value of a verdict column, and a word that is not its term's value."""
    terms, words = _TERM_PART.findall(scope.keys["verdict"]), verdict_words(scope_text)
    where = f"{name}:{scope.line}: verdict:"
    problems = []
    if len(words) != len(terms):
        problems.append(
            f"{where} the text names {len(words)} verdict word(s) {words} and the key {len(terms)} term(s); "
            "give one term per emphasised verdict word, in order"
        )
    for word, term in zip(words, terms):
        try:
            path, column, filters = _resolve(term, root)
            cells = _csv_selection(path, column, filters)[1] if column and "verdict" in column else []
        except TermError as err:
            problems.append(f"{where} {err}")
            continue
        values = sorted(set(cells))
        if len(values) != 1:
            problems.append(f"{where} {term} must select one value of a verdict column (it selects {values})")
        elif word != values[0].lower():
            problems.append(f"{where} *{word}* is not the verdict {term} holds, {values[0]!r}")
    return problems


def _candidates(scope: Scope, root: Path, name: str = "README.md") -> tuple[list[float], list[str]]:
    """Every candidate value of a scope's keys, and the problems of their terms."""
    values, problems = [], []
    for key in ("source", "range", "largest", "sum", "rows", "matched"):
        counts = []
        for term in _TERM_PART.findall(scope.keys.get(key, "")):
            try:
                n, selected = select(term, root)
            except TermError as err:
                problems.append(f"{name}:{scope.line}: {key}: {err}")
                continue
            if n is None and key in ("rows", "matched"):
                problems.append(f"{name}:{scope.line}: {key}: {term} is not a CSV")
            elif key == "source":
                values += selected
            elif key == "range":
                values += [min(selected), max(selected)] if selected else []
            elif key == "largest":
                big = max(selected, key=abs, default=None)
                values += [big, abs(big)] if selected else []
            elif key == "sum":
                values.append(math.fsum(selected))
            elif key == "rows":
                counts.append(n)
            else:
                header, rows = _cells(root / term.partition(":")[0].partition("[")[0])
                cols = [i for i, h in enumerate(header) if h.endswith(" match")]
                if not cols:
                    problems.append(
                        f"{name}:{scope.line}: matched: {term} has no '... match' column "
                        f"(reference.side_by_side writes them)"
                    )
                counts.append(sum(row[i] in ("rounded", "truncated") for row in rows for i in cols))
            if key in ("source", "range", "largest", "sum") and not selected:
                problems.append(f"{name}:{scope.line}: {key}: {term} selects no number")
        values += counts + ([sum(counts)] if len(counts) > 1 else [])
    for dotted in scope.keys.get("len", "").split():
        module, _, attr = dotted.rpartition(".")
        try:
            values.append(len(getattr(importlib.import_module(module), attr)))
        except (ImportError, ValueError, AttributeError, TypeError) as err:
            problems.append(f"{name}:{scope.line}: len: {dotted} is not an importable sized object ({err})")
    return sorted(float(v) for v in values), problems


def matches(quoted: Quoted, candidates: tuple[float, ...] | list[float]) -> bool:
    """Whether a candidate rounds to exactly the printed digits (docstring)."""
    targets = [quoted.value] + ([quoted.value / 100] if quoted.percent else [])
    for target, scale in zip(targets, [1, 100]):
        if quoted.notation == "f":
            half = Decimal(5) / (Decimal(10) ** (quoted.decimals + 1)) / scale
        else:
            exponent = math.floor(math.log10(abs(target))) if target else 0
            half = Decimal(5) * Decimal(10) ** (exponent - quoted.decimals - 1)
        lo, hi = float(target - half * 2), float(target + half * 2)  # generous window, exact test below
        for v in candidates[bisect.bisect_left(candidates, lo) : bisect.bisect_right(candidates, hi)]:
            v = v * scale
            if quoted.notation == "f":
                if f"{v:.{quoted.decimals}f}" == quoted.text.replace(",", "").replace("−", "-"):
                    return True
            else:
                mantissa, _, exp = f"{v:.{quoted.decimals}e}".partition("e")
                printed_mantissa, _, printed_exp = quoted.text.lower().partition("e")
                if mantissa == printed_mantissa and int(exp) == int(printed_exp):
                    return True
    return False


def _nearest(quoted: Quoted, candidates) -> str:
    if not candidates:
        return "no candidates"
    target = float(quoted.value)
    i = bisect.bisect_left(candidates, target)
    near = min(candidates[max(0, i - 1) : i + 1], key=lambda v: abs(v - target))
    return f"nearest {near:.10g}"


def check_readme(text: str, root: Path, name: str = "README.md") -> tuple[list[str], int]:
    """Problems of ``text`` (the README, or the page ``name``: the path the
    problems are reported under) against the files under ``root``, and how
    many numbers were checked against a source."""
    problems, checked = _check(text, root, name)
    return problems, len(checked)


def _given_spans(scope: Scope, scope_text: str, name: str) -> tuple[list[tuple[int, int]], list[str]]:
    """Where a scope's ``given`` phrases stand in the page (their numbers are inputs, not results),
    and a problem for each phrase the scope does not hold."""
    spans, problems = [], []
    for phrase in filter(None, (p.strip() for p in scope.keys.get("given", "").split(";"))):
        found = [(scope.start + m.start(), scope.start + m.end()) for m in re.finditer(re.escape(phrase), scope_text)]
        if not found:
            problems.append(
                f"{name}:{scope.line}: given phrase {phrase!r} is not in the text this marker ties; "
                "copy it exactly, or drop it"
            )
        spans += found
    return spans, problems


def _check(text: str, root: Path, name: str) -> tuple[list[str], list[Quoted]]:
    """:func:`check_readme`, returning the numbers checked against a source."""
    scopes, problems = parse_markers(text, name)
    numbers = quoted_numbers(text)
    checked: list[Quoted] = []

    def line_of(offset: int) -> int:
        return text.count("\n", 0, offset) + 1

    for scope in scopes:
        inside = [q for q in numbers if scope.start <= q.start < scope.end]
        scope_text = text[scope.start : scope.end]
        exempt, missing = _given_spans(scope, scope_text, name)
        problems += missing
        inside = [q for q in inside if not any(a <= q.start and q.end <= b for a, b in exempt)]
        if "verdict" in scope.keys:
            problems += _verdict_problems(scope, scope_text, root, name)
        tied = [k for k in _KEYS if k not in ("verdict", "given", "measured") and scope.keys.get(k)]
        if "measured" in scope.keys:
            if tied:
                problems.append(
                    f"{name}:{scope.line}: a marker is 'measured' or tied to a source, not both; "
                    f"split the text with a second marker"
                )
            if not _DATE.search(scope.keys["measured"]):
                problems.append(
                    f"{name}:{scope.line}: measured: {scope.keys['measured']!r} says where but "
                    f"not when; add the date of the measurement (YYYY-MM)"
                )
            continue
        if not tied:
            problems += [
                f"{name}:{line_of(q.start)}: {q.text} is under a marker with neither a source nor "
                f"'measured'; add its source, or a 'given' phrase if it is an input"
                for q in inside
            ]
            continue
        candidates, more = _candidates(scope, root, name)
        problems += more
        if not inside:
            problems.append(
                f"{name}:{scope.line}: this marker ties no number (a stale marker?); "
                f"move it before the numbers it sources, or remove it"
            )
        for q in inside:
            checked.append(q)
            if not matches(q, candidates):
                where = "; ".join(f"{k}: {scope.keys[k]}" for k in tied)
                problems.append(
                    f"{name}:{line_of(q.start)}: {q.text}{'%' if q.percent else ''} is not in "
                    f"[{where}] at its printed precision ({_nearest(q, candidates)})"
                )
    problems += _unkeyed_verdict_problems(text, scopes, name)
    covered = [(s.start, s.end) for s in scopes]
    for q in numbers:
        if not any(a <= q.start < b for a, b in covered):
            problems.append(
                f"{name}:{line_of(q.start)}: {q.text} is tied to no source; put "
                f"`<!-- source: FILE -->` (or `given:`/`measured:`) before it"
            )
    if problems:
        problems.append(FIX)
    return problems, checked
