"""A chapter's findings, read from the tables its notebook wrote: what each chapter opens with.

A chapter declares its claims once (a tuple of :class:`PairedFinding` and :class:`MatchFinding`);
:func:`read_findings` reads each claim's verdict, estimate, interval and seeds from the CSV the
notebook saved (the same files the README's results table quotes), and :func:`findings_html` shows
them as one table, each claim linked to the section of the notebook that shows it. Nothing of a
finding is typed: its words are the claim and where it is shown, its values come from the table.

Policy:

* **A paired verdict** (:class:`PairedFinding`): one row of a paired-differences table
  (:func:`reuseprior.reporting.verdicts.paired_differences` and the tables built on it), selected by
  column values; its ``verdict`` column (the gated verdict of
  :func:`reuseprior.reporting.verdicts.gated_verdicts`, one of
  :data:`~reuseprior.core.verdict_policy.VERDICTS`), its mean difference, its t-interval at the level
  its verdict is judged at (95 %, or a family's stricter level, named with it) and its number of paired
  seeds; where the table holds them, its permutation p and its robustness (the permutation steps to the
  level, the leave-one-seed-out agreement: :func:`reuseprior.reporting.verdicts.paired_robustness`),
  and how its estimate moves with a setting the study fixed (:class:`Sensitivity`, described, not
  tested: "under the official recipes the order reverses").
* **Printed values against ours** (:class:`MatchFinding`): the ``<quantity> match`` columns of
  :func:`reuseprior.reporting.reference.side_by_side` tables; *reproduced* when every printed value
  compared is ours rounded or truncated at its printed digit, *contradicted* when any is ``off``
  (``missing``: no printed value, not compared), shown with how many match.
* **Exact values** (:class:`ExactFinding`): a claim answered by values that are exact rather than
  sampled (an expectation over every draw of a protocol): its subject's value beside the others', with
  the differences; exact values need no test, so its verdict is :data:`EXACT`.
* **Links**: a section is linked by an anchor (:func:`anchor`) that the notebook's markdown cell
  of that section holds as ``<a id="..."></a>`` (:func:`anchor_tag`): one id for the book and
  for Jupyter, whatever either makes of the heading's text.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from reuseprior.core import paths
from reuseprior.core.verdict_policy import ALPHA, CONTRADICTED, REPRODUCED, VERDICTS
from reuseprior.reporting.verdicts import ROBUSTNESS_COLUMNS

__all__ = [
    "EXACT",
    "FINDINGS_HEADING",
    "ExactFinding",
    "Finding",
    "FindingResult",
    "MatchFinding",
    "PairedFinding",
    "Sensitivity",
    "anchor",
    "anchor_tag",
    "findings_html",
    "findings_table",
    "read_findings",
    "show_findings",
]

#: the heading of the section every chapter notebook opens with
FINDINGS_HEADING = "Findings"
#: what a side-by-side ``match`` cell says when the printed value agrees with ours
_MATCHING = ("rounded", "truncated")
_NOT_COMPARED = "missing"
#: the verdict cell of an :class:`ExactFinding`: exact values are compared, not tested
EXACT = "exact, no test"


def anchor(section: str) -> str:
    """The link target of the section headed ``section``: ``findings-`` and its words in lower
    case, joined by hyphens (letters and digits only)."""
    words = re.findall(r"[a-z0-9]+", section.lower())
    if not words:
        raise ValueError(f"a section heading needs letters or digits to be linked to, got {section!r}")
    return "findings-" + "-".join(words)


def anchor_tag(section: str) -> str:
    """The HTML anchor a notebook's markdown cell of ``section`` holds (:func:`anchor`)."""
    return f'<a id="{anchor(section)}"></a>'


@dataclass(frozen=True)
class Sensitivity:
    """How a paired finding's estimate moves with a setting its study fixed, described, not tested: the
    rows of ``table`` (a CSV under the chapter's figures folder) that ``where`` selects, one per value of
    the column ``setting``; ``chosen`` is the value the study fixed; ``measure``: what the estimate is
    measured on, in words, when it is not what the finding's own estimate is. Read as the order of the two sides
    under each other value: the same as under ``chosen``, or reversed."""

    table: str
    setting: str
    chosen: str
    where: Mapping[str, str] = field(default_factory=dict)
    estimate: str = "difference (pp)"
    seeds: str = "seeds"
    measure: str = ""


@dataclass(frozen=True)
class PairedFinding:
    """A claim judged by one row of a paired-differences table ``table`` (a CSV name under the
    chapter's figures folder), the row whose columns hold the values of ``where``; ``estimate`` its
    mean difference in ``unit``, ``low``/``high`` its t-interval, ``seeds`` its number of pairs.
    ``section``: the heading of the notebook section that shows it; ``level``: the column holding the
    level the row's verdict and interval are judged at (its interval is ``1 - level``; None: the
    rule's :data:`~reuseprior.core.verdict_policy.ALPHA`). A comparison without seeds (a difference
    of rank correlations over a zoo's architectures) sets ``seeds=None``, names its ``interval`` (e.g. a
    paired bootstrap interval), the ``digits`` it is read to, and ``count``, the column of its number of
    rows, said in the evidence. ``p``: the column of its permutation p, shown when given; ``robustness``:
    show the row's :data:`~reuseprior.reporting.verdicts.ROBUSTNESS_COLUMNS`; ``sensitivity``: how its
    estimate moves with a setting its study fixed (:class:`Sensitivity`)."""

    claim: str
    section: str
    table: str
    where: Mapping[str, str] = field(default_factory=dict)
    estimate: str = "difference (pp)"
    unit: str = "points"
    low: str = "t low"
    high: str = "t high"
    seeds: str | None = "seeds"
    verdict: str = "verdict"
    level: str | None = None
    interval: str = "t-interval"
    digits: int = 2
    count: str | None = None
    p: str | None = None
    robustness: bool = False
    sensitivity: Sensitivity | None = None

    def term(self, notebook: str) -> str:
        """The finding's verdict cell as the README's markers name one (``tests/readme_check.py``):
        ``figures/<notebook>/TABLE:COLUMN[column=value]...``."""
        filters = "".join(f"[{_quoted(c)}={v}]" for c, v in self.where.items())
        return f"figures/{notebook}/{self.table}:{_quoted(self.verdict)}{filters}"


@dataclass(frozen=True)
class MatchFinding:
    """A claim of printed values: every ``<quantity> match`` column of the side-by-side ``tables``
    (CSV names under the chapter's figures folder), or only those of ``quantities`` when given.
    ``misprints``: printed values the chapter shows to be misprints, each ``(model, quantity, why)``
    (the row's ``Model``): reproduced when every other value matches, the misprint named beside it."""

    claim: str
    section: str
    tables: tuple[str, ...]
    quantities: tuple[str, ...] = ()
    misprints: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class ExactFinding:
    """A claim answered by exact values, not by a sample (an expectation over every draw of a protocol):
    the ``column`` of the row of ``table`` whose ``key`` column holds ``subject``, beside the rows whose
    ``key`` holds each of ``against``, in ``unit``, with the subject's difference from each; ``basis``
    says what makes the values exact. Its verdict is :data:`EXACT`."""

    claim: str
    section: str
    table: str
    key: str
    subject: str
    against: tuple[str, ...]
    column: str
    unit: str = ""
    basis: str = "exact values"


Finding = PairedFinding | MatchFinding | ExactFinding


@dataclass(frozen=True)
class FindingResult:
    """A finding as read: its claim, verdict, what supports it (the estimate and interval in words,
    or how many printed values match), its number of seeds (None where it has none) and its link."""

    claim: str
    verdict: str
    evidence: str
    seeds: int | None
    section: str


def _quoted(column: str) -> str:
    return f'"{column}"' if re.search(r"[\s\[\]=:]", column) else column


def _select(frame: pd.DataFrame, where: Mapping[str, str], source: Path) -> pd.Series:
    missing = [c for c in where if c not in frame.columns]
    if missing:
        raise KeyError(f"{source} has no column(s) {missing} (its columns: {list(frame.columns)})")
    chosen = frame
    for column, value in where.items():
        chosen = chosen[chosen[column].astype(str) == str(value)]
    if len(chosen) != 1:
        raise LookupError(f"{source}: {dict(where)} selects {len(chosen)} rows, a finding needs exactly one")
    return chosen.iloc[0]


def _number(value: object) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _signed(value: float) -> str:
    return f"{value:+.2f}"


def _interval_text(finding: PairedFinding, level: float, low: float, high: float) -> str:
    """The interval (a t-interval, or the finding's ``interval``) with its level in words, to the finding's
    ``digits``, and the level the verdict is judged at where a column holds it."""
    digits = finding.digits
    text = f"{100 * (1 - level):g} % {finding.interval} [{low:.{digits}f}, {high:.{digits}f}]"
    return text if finding.level is None else f"{text} at the {finding.level} {level:g}"


def _robustness_text(row: pd.Series) -> str:
    """The permutation steps to the level and the leave-one-seed-out agreement, in words."""
    steps_column, agreement_column = ROBUSTNESS_COLUMNS
    steps, agreement = _number(row[steps_column]), _number(row[agreement_column])
    if not math.isfinite(steps):
        steps_text = "no permutation p of so few seeds can pass the level"
    elif steps > 0:
        steps_text = f"{steps:g} permutation steps below the level"
    elif steps == 0:
        steps_text = "no permutation step to spare below the level"
    else:
        steps_text = f"{-steps:g} permutation steps above the level"
    if not math.isfinite(agreement):
        agreement_text = "too few seeds to leave one out"
    elif agreement == 1:
        agreement_text = "every leave-one-seed-out subset agrees"
    elif agreement == 0:
        agreement_text = "no leave-one-seed-out subset agrees"
    else:
        agreement_text = f"{agreement:.0%} of leave-one-seed-out subsets agree"
    return f"{steps_text}, {agreement_text}"


def _sensitivity_text(sensitivity: Sensitivity, folder: Path, unit: str) -> str:
    """The estimate under the chosen setting and under each other, and whether the order holds."""
    source = folder / sensitivity.table
    frame = pd.read_csv(source)
    if sensitivity.setting not in frame.columns:
        raise KeyError(f"{source} has no column {sensitivity.setting!r} (its columns: {list(frame.columns)})")
    values = sorted({str(v) for v in frame[sensitivity.setting]} - {sensitivity.chosen})
    rows = {
        value: _select(frame, {**sensitivity.where, sensitivity.setting: value}, source)
        for value in [sensitivity.chosen, *values]
    }
    estimate = {value: _number(row[sensitivity.estimate]) for value, row in rows.items()}
    chosen_sign = math.copysign(1, estimate[sensitivity.chosen])
    reversed_under = [v for v in values if math.copysign(1, estimate[v]) != chosen_sign]
    if not reversed_under:
        order = "the order holds"
    elif len(reversed_under) == len(values):
        order = f"under the other {sensitivity.setting}s the order reverses"
    else:
        order = "the order reverses under " + " and ".join(reversed_under)
    others = " and ".join(f"{_signed(estimate[v])} under {v}" for v in values)
    seeds = sorted({int(_number(row[sensitivity.seeds])) for row in rows.values()})
    seeds_text = " or ".join(str(n) for n in seeds)
    measure = f"{sensitivity.measure}, " if sensitivity.measure else ""
    return (
        f"{order}: {_signed(estimate[sensitivity.chosen])} {unit} under the {sensitivity.setting} chosen, "
        f"{sensitivity.chosen}, {others} ({measure}{seeds_text} seeds each, described, not tested)"
    )


def _read_paired(finding: PairedFinding, folder: Path) -> FindingResult:
    source = folder / finding.table
    row = _select(pd.read_csv(source), finding.where, source)
    verdict = str(row[finding.verdict])
    if verdict not in VERDICTS:
        raise ValueError(f"{source}: {finding.verdict} holds {verdict!r}, not one of {VERDICTS}")
    mean, low, high = (_number(row[c]) for c in (finding.estimate, finding.low, finding.high))
    level = ALPHA if finding.level is None else _number(row[finding.level])
    digits = finding.digits
    evidence = f"{mean:+.{digits}f} {finding.unit}" if math.isfinite(mean) else "no paired seed yet"
    if math.isfinite(mean):
        evidence += f", {_interval_text(finding, level, low, high)}" if math.isfinite(low) else ", no interval"
        if finding.p is not None:
            evidence += f", permutation p {_number(row[finding.p]):.2g}"
        if finding.robustness:
            evidence += f"; {_robustness_text(row)}"
    if finding.count is not None:
        evidence += f", n = {int(_number(row[finding.count]))}"
    if finding.sensitivity is not None:
        evidence += f"; {_sensitivity_text(finding.sensitivity, folder, finding.unit)}"
    seeds = _number(row[finding.seeds]) if finding.seeds is not None else math.nan
    return FindingResult(
        finding.claim, verdict, evidence, int(seeds) if math.isfinite(seeds) else None, finding.section
    )


def _read_exact(finding: ExactFinding, folder: Path) -> FindingResult:
    source = folder / finding.table
    frame = pd.read_csv(source)
    value = {
        name: _number(_select(frame, {finding.key: name}, source)[finding.column])
        for name in (finding.subject, *finding.against)
    }
    unit = f" {finding.unit}" if finding.unit else ""
    subject = value[finding.subject]
    others = "; ".join(
        f"{name} {value[name]:.2f}{unit} ({finding.subject} {_signed(subject - value[name])})"
        for name in finding.against
    )
    evidence = f"{finding.subject} {subject:.2f}{unit}; {others} ({finding.column}: {finding.basis})"
    return FindingResult(finding.claim, EXACT, evidence, None, finding.section)


def _read_match(finding: MatchFinding, folder: Path) -> FindingResult:
    cells: list[tuple[str, str, str]] = []  # (model, quantity, match)
    for name in finding.tables:
        frame = pd.read_csv(folder / name)
        columns = [c for c in frame.columns if c.endswith(" match")]
        if finding.quantities:
            columns = [c for c in columns if c.removesuffix(" match") in finding.quantities]
        if not columns:
            raise KeyError(f"{folder / name} has no '<quantity> match' column of {finding.quantities or 'any'}")
        models = frame["Model"].astype(str) if "Model" in frame.columns else pd.Series([""] * len(frame))
        cells += [(m, c.removesuffix(" match"), str(v)) for c in columns for m, v in zip(models, frame[c])]
    compared = [cell for cell in cells if cell[2] != _NOT_COMPARED]
    matching = sum(match in _MATCHING for _, _, match in compared)
    misprinted = {(m, q): why for m, q, why in finding.misprints}
    off = [(m, q) for m, q, match in compared if match not in _MATCHING]
    explained = [misprinted[cell] for cell in off if cell in misprinted]
    verdict = REPRODUCED if compared and len(explained) == len(off) else CONTRADICTED
    evidence = f"{matching} of {len(compared)} printed values match"
    if explained:
        evidence += (
            "; the other" + ("s are misprints: " if len(explained) > 1 else " is a misprint: ") + "; ".join(explained)
        )
    return FindingResult(finding.claim, verdict, evidence, None, finding.section)


def read_findings(findings: Sequence[Finding], folder: Path) -> list[FindingResult]:
    """Each of ``findings`` read from the tables under ``folder`` (a notebook's figures folder).
    A missing table, a selection that is not one row or a verdict outside
    :data:`~reuseprior.core.verdict_policy.VERDICTS` is an error naming the file."""
    readers = {PairedFinding: _read_paired, MatchFinding: _read_match, ExactFinding: _read_exact}
    return [readers[type(f)](f, Path(folder)) for f in findings]


def findings_table(results: Sequence[FindingResult]) -> pd.DataFrame:
    """The findings as a table: claim, verdict, evidence, seeds (empty where none) and section."""
    return pd.DataFrame(
        {
            "claim": [r.claim for r in results],
            "verdict": [r.verdict for r in results],
            "evidence": [r.evidence for r in results],
            "seeds": [str(r.seeds) if r.seeds is not None else "" for r in results],
            "shown in": [r.section for r in results],
        }
    )


def findings_html(results: Sequence[FindingResult], source: str) -> str:
    """The findings as an HTML table (:func:`findings_table`), each section a link to its anchor
    (:func:`anchor`), and a line naming the folder ``source`` they were read from."""
    frame = findings_table(results)
    frame["shown in"] = [f'<a href="#{anchor(r.section)}">{html.escape(r.section)}</a>' for r in results]
    for column in ("claim", "evidence"):
        frame[column] = frame[column].map(html.escape)
    table = frame.to_html(index=False, escape=False, classes="reuseprior-findings", border=0)
    note = f"<p>Read from <code>{html.escape(source)}</code>, the tables this notebook writes.</p>"
    return table + "\n" + note


def show_findings(findings: Sequence[Finding], notebook: str, folder: Path | None = None):
    """The findings a chapter notebook opens with, as a displayable HTML object: ``findings`` read
    from ``folder``, by default the tracked ``figures/<notebook>/`` (the tables the README's status
    table quotes, written by the notebook's last batch build), whatever folder this run writes to."""
    from IPython.display import HTML  # noqa: PLC0415 (IPython: the notebooks extra)

    folder = Path(folder) if folder is not None else paths.FIGURES_DIR / notebook
    shown = folder.relative_to(paths.ROOT) if folder.is_relative_to(paths.ROOT) else folder
    return HTML(findings_html(read_findings(findings, folder), f"{shown}/"))
