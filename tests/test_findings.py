"""The findings each chapter opens with (issue 63; :mod:`reuseprior.reporting.findings`):

* a finding is read from its table, never typed: a paired verdict's row (verdict, mean, t-interval at
  its level, seeds; its permutation p, robustness and sensitivity to a fixed setting where declared),
  the ``match`` columns of a side-by-side table, or exact values (no test); a selection that is not one row, a verdict
  outside the four and a missing column are errors naming the file;
* every chapter declares its findings (``FINDINGS`` of its driver), each read from the tracked tables
  its notebook writes and linked to a section its notebook holds (an ``<a id>`` anchor);
* every chapter notebook opens with them (:func:`reuseprior.reporting.book_layout.findings_first`),
  and the committed findings table is what the tables give now;
* the README's results table cannot disagree with them: every verdict the README names from a
  chapter's tables is a declared finding of that chapter, with the same verdict, and where the
  README quotes that finding's interval it quotes the finding's.
"""

from __future__ import annotations

import importlib
import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from reuseprior.chapters import get_chapter, list_chapters
from reuseprior.core import paths
from reuseprior.core.verdict_policy import VERDICTS
from reuseprior.reporting.book_layout import findings_first
from reuseprior.reporting.findings import (
    EXACT,
    ExactFinding,
    FindingResult,
    MatchFinding,
    PairedFinding,
    Sensitivity,
    anchor,
    anchor_tag,
    findings_html,
    read_findings,
)
from tests.readme_check import _TERM_PART, _resolve, parse_markers, verdict_words


def _findings(chapter: str):
    return importlib.import_module(get_chapter(chapter).module).FINDINGS


def _notebook(chapter: str) -> dict:
    return json.loads(get_chapter(chapter).notebook.read_text())


def _write(folder: Path, name: str, frame: pd.DataFrame) -> None:
    frame.to_csv(folder / name, index=False)


PAIRS = pd.DataFrame(
    {
        "model": ["A", "B"],
        "seeds": [8, 8],
        "difference (pp)": [0.37375, -0.13375],
        "t low": [0.090385, -0.465609],
        "t high": [0.657115, 0.198109],
        "verdict": ["reproduced", "undetermined"],
    }
)


def test_a_paired_finding_is_read_from_its_row(tmp_path: Path) -> None:
    _write(tmp_path, "pairs.csv", PAIRS)
    (a, b) = read_findings(
        [
            PairedFinding("A wins", "Study", "pairs.csv", {"model": "A"}),
            PairedFinding("B", "Study", "pairs.csv", {"model": "B"}),
        ],
        tmp_path,
    )
    assert a == FindingResult("A wins", "reproduced", "+0.37 points, 95 % t-interval [0.09, 0.66]", 8, "Study")
    assert b.verdict == "undetermined" and b.evidence == "-0.13 points, 95 % t-interval [-0.47, 0.20]"
    _write(tmp_path, "pairs.csv", PAIRS.assign(verdict=["not comparable", "undetermined"]))
    assert (
        read_findings([PairedFinding("A", "S", "pairs.csv", {"model": "A"})], tmp_path)[0].verdict == "not comparable"
    )


def test_a_single_pair_has_no_interval(tmp_path: Path) -> None:
    _write(tmp_path, "pairs.csv", PAIRS.assign(seeds=[1, 1], **{"t low": [math.nan] * 2, "t high": [math.nan] * 2}))
    (result,) = read_findings([PairedFinding("A", "S", "pairs.csv", {"model": "A"})], tmp_path)
    assert result.evidence == "+0.37 points, no interval" and result.seeds == 1


def test_a_finding_judged_at_its_own_level_names_its_interval_and_one_without_seeds_says_so(tmp_path: Path) -> None:
    family = PAIRS.assign(**{"family level": [0.0125, 0.0125]})
    family.loc[1, ["difference (pp)", "t low", "t high"]] = math.nan
    _write(tmp_path, "pairs.csv", family)
    a, b = read_findings(
        [PairedFinding(m, "S", "pairs.csv", {"model": m}, level="family level") for m in ("A", "B")], tmp_path
    )
    assert a.evidence == "+0.37 points, 98.75 % t-interval [0.09, 0.66] at the family level 0.0125"
    assert b.evidence == "no paired seed yet"


def test_a_difference_of_rank_correlations_names_its_bootstrap_interval_digits_and_rows(tmp_path: Path) -> None:
    rows = pd.DataFrame(
        {
            "estimand": ["rho(PG) - rho(#params)"],
            "n": [731],
            "difference": [-0.01523],
            "low": [-0.0928],
            "high": [0.0630],
            "family level": [0.05 / 11],
            "verdict": ["undetermined"],
        }
    )
    _write(tmp_path, "differences.csv", rows)
    finding = PairedFinding(
        "PG ranks top-1 better than #params",
        "S",
        "differences.csv",
        {"estimand": "rho(PG) - rho(#params)"},
        estimate="difference",
        unit="in rho",
        low="low",
        high="high",
        seeds=None,
        level="family level",
        interval="paired bootstrap interval",
        digits=3,
        count="n",
    )
    (result,) = read_findings([finding], tmp_path)
    assert result.evidence == (
        "-0.015 in rho, 99.5455 % paired bootstrap interval [-0.093, 0.063] at the family level 0.00454545, n = 731"
    )
    assert result.seeds is None and result.verdict == "undetermined"


def test_a_finding_shows_its_permutation_p_and_robustness_when_declared(tmp_path: Path) -> None:
    family = PAIRS.assign(
        **{
            "family level": [0.0125, 0.0125],
            "permutation p": [0.0009765625, 0.79],
            "permutation steps to the level": [23, -1602],
            "leave-one-seed-out agreement": [1.0, 0.5],
        }
    )
    _write(tmp_path, "pairs.csv", family)
    declared = [
        PairedFinding(m, "S", "pairs.csv", {"model": m}, level="family level", p="permutation p", robustness=True)
        for m in ("A", "B")
    ]
    a, b = read_findings(declared, tmp_path)
    assert a.evidence == (
        "+0.37 points, 98.75 % t-interval [0.09, 0.66] at the family level 0.0125, permutation p 0.00098; "
        "23 permutation steps below the level, every leave-one-seed-out subset agrees"
    )
    assert b.evidence.endswith(
        "permutation p 0.79; 1602 permutation steps above the level, 50% of leave-one-seed-out subsets agree"
    )
    (plain,) = read_findings([PairedFinding("A", "S", "pairs.csv", {"model": "A"})], tmp_path)
    assert "permutation" not in plain.evidence and "95 % t-interval" in plain.evidence  # only when declared


RECIPES = pd.DataFrame(
    {
        "recipe": ["official", "chosen", "other", "official", "chosen", "other"],
        "model": ["A", "A", "A", "B", "B", "B"],
        "seeds": [2] * 6,
        "difference (pp)": [-1.30, 0.28, -1.52, 0.5, 0.2, -0.1],
    }
)


def test_a_sensitivity_says_whether_the_order_holds_under_the_other_settings(tmp_path: Path) -> None:
    _write(tmp_path, "pairs.csv", PAIRS)
    _write(tmp_path, "recipes.csv", RECIPES)

    def evidence(model: str, chosen: str = "chosen") -> str:
        sensitivity = Sensitivity("recipes.csv", "recipe", chosen, {"model": model}, measure="on validation")
        finding = PairedFinding("A", "S", "pairs.csv", {"model": "A"}, sensitivity=sensitivity)
        return read_findings([finding], tmp_path)[0].evidence

    assert evidence("A").endswith(
        "; under the other recipes the order reverses: +0.28 points under the recipe chosen, chosen, "
        "-1.30 under official and -1.52 under other (on validation, 2 seeds each, described, not tested)"
    )
    assert "; the order reverses under other: +0.20 points" in evidence("B")
    assert "; the order reverses under other: +0.50 points under the recipe chosen, official" in evidence(
        "B", "official"
    )
    _write(tmp_path, "recipes.csv", RECIPES[RECIPES["model"] == "A"].assign(**{"difference (pp)": [1.0, 0.28, 2.0]}))
    assert "; the order holds: +0.28 points" in evidence("A")
    with pytest.raises(LookupError, match="selects 0 rows"):
        evidence("C")


def test_an_exact_finding_gives_its_values_and_differences_without_a_test(tmp_path: Path) -> None:
    _write(
        tmp_path, "exact.csv", pd.DataFrame({"score": ["PG", "SynFlow", "oracle"], "N=100 mean": [92.72, 92.77, 93.5]})
    )
    finding = ExactFinding(
        "PG picks",
        "Search",
        "exact.csv",
        "score",
        "PG",
        ("SynFlow", "oracle"),
        "N=100 mean",
        "%",
        basis="the exact expectation over every draw",
    )
    (result,) = read_findings([finding], tmp_path)
    assert (result.verdict, result.seeds) == (EXACT, None)
    assert result.evidence == (
        "PG 92.72 %; SynFlow 92.77 % (PG -0.05); oracle 93.50 % (PG -0.78) "
        "(N=100 mean: the exact expectation over every draw)"
    )
    with pytest.raises(LookupError, match="exact.csv"):
        read_findings([ExactFinding("x", "S", "exact.csv", "score", "NASWOT", (), "N=100 mean")], tmp_path)


@pytest.mark.parametrize(
    ("frame", "where", "error", "message"),
    [
        (PAIRS, {"model": "C"}, LookupError, "selects 0 rows"),
        (pd.concat([PAIRS, PAIRS]), {"model": "A"}, LookupError, "selects 2 rows"),
        (PAIRS, {"arm": "A"}, KeyError, "no column"),
        (PAIRS.assign(verdict=["maybe", "x"]), {"model": "A"}, ValueError, "'maybe', not one of"),
    ],
)
def test_a_finding_that_is_not_one_row_with_a_verdict_is_refused(tmp_path, frame, where, error, message) -> None:
    _write(tmp_path, "pairs.csv", frame)
    with pytest.raises(error, match=message) as raised:
        read_findings([PairedFinding("A", "S", "pairs.csv", where)], tmp_path)
    assert "pairs.csv" in str(raised.value)


def test_printed_values_are_reproduced_only_when_every_compared_one_matches(tmp_path: Path) -> None:
    table = pd.DataFrame({"PG match": ["rounded", "truncated", "missing"], "H match": ["rounded", "off", "rounded"]})
    _write(tmp_path, "vs.csv", table)
    (pg, both) = read_findings(
        [MatchFinding("PG", "T", ("vs.csv",), ("PG",)), MatchFinding("all", "T", ("vs.csv",))], tmp_path
    )
    assert (pg.verdict, pg.evidence, pg.seeds) == ("reproduced", "2 of 2 printed values match", None)
    assert (both.verdict, both.evidence) == ("contradicted", "4 of 5 printed values match")
    with pytest.raises(KeyError, match="no '<quantity> match' column"):
        read_findings([MatchFinding("S", "T", ("vs.csv",), ("S",))], tmp_path)


def test_a_value_the_chapter_shows_to_be_a_misprint_is_named_and_does_not_contradict(tmp_path: Path) -> None:
    table = pd.DataFrame({"Model": ["X", "Y"], "H match": ["rounded", "off"], "PG match": ["off", "rounded"]})
    _write(tmp_path, "vs.csv", table)
    misprint = (("Y", "H", "Y's H, printed 13.3 where its graph gives 13.247"),)
    (h, every) = read_findings(
        [MatchFinding("H", "T", ("vs.csv",), ("H",), misprint), MatchFinding("all", "T", ("vs.csv",), (), misprint)],
        tmp_path,
    )
    assert h.verdict == "reproduced"
    assert (
        h.evidence
        == "1 of 2 printed values match; the other is a misprint: Y's H, printed 13.3 where its graph gives 13.247"
    )
    assert every.verdict == "contradicted"  # X's PG is off and no misprint explains it


def test_the_findings_table_links_each_claim_to_its_section_and_escapes_text() -> None:
    shown = findings_html([FindingResult("a < b", "reproduced", "1 of 1", None, "Table 5.1: MLP, 14400")], "figures/x/")
    assert f'<a href="#{anchor("Table 5.1: MLP, 14400")}">' in shown and "a &lt; b" in shown
    assert anchor("Table 5.1: MLP, 14400") == "findings-table-5-1-mlp-14400"
    assert "figures/x/" in shown and "reuseprior-findings" in shown
    with pytest.raises(ValueError, match="letters or digits"):
        anchor("...")


@pytest.mark.parametrize("chapter", list_chapters())
def test_every_chapter_declares_findings_read_from_its_tables(chapter: str) -> None:
    findings = _findings(chapter)
    assert findings, f"{chapter} declares no findings"
    results = read_findings(findings, paths.FIGURES_DIR / chapter)
    assert all(
        r.verdict in VERDICTS or (r.verdict == EXACT and isinstance(f, ExactFinding)) for f, r in zip(findings, results)
    )


def test_chapter4_confirmatory_findings_name_their_level_p_robustness_and_the_recipe_dependence() -> None:
    """Table 4.2's confirmatory rows: the family's 98.75 %, the permutation p, the robustness, and the
    order under the official recipes, as the chapter's tables give them."""
    findings = _findings("ch4_sharing_training")
    results = read_findings(findings, paths.FIGURES_DIR / "ch4_sharing_training")
    confirmatory = [r for f, r in zip(findings, results) if f.where.get("study") == "confirmatory"]
    assert len(confirmatory) == 2
    for result in confirmatory:
        assert "98.75 % t-interval" in result.evidence and "at the family level 0.0125" in result.evidence
        assert "permutation p" in result.evidence and "leave-one-seed-out" in result.evidence
        assert "order reverses" in result.evidence and "official-steps" in result.evidence


def test_chapter8_findings_hold_its_nas_bench_201_search() -> None:
    findings = _findings("ch8_prior_as_tool")
    results = read_findings(findings, paths.FIGURES_DIR / "ch8_prior_as_tool")
    (search,) = [r for f, r in zip(findings, results) if isinstance(f, ExactFinding)]
    for pick in ("PG", "SynFlow", "parameter count", "oracle (ceiling)"):
        assert f"{pick} " in search.evidence


@pytest.mark.parametrize("chapter", list_chapters())
def test_each_finding_links_to_a_section_its_notebook_holds(chapter: str) -> None:
    markdown = ["".join(c["source"]) for c in _notebook(chapter)["cells"] if c["cell_type"] == "markdown"]
    for section in {f.section for f in _findings(chapter)}:
        holding = [m for m in markdown if re.search(rf"(?m)^#+ {re.escape(section)}", m)]
        assert holding, f"{chapter}: no markdown cell headed {section!r}"
        assert anchor_tag(section) in holding[0], f"{chapter}: the cell headed {section!r} lacks {anchor_tag(section)}"


@pytest.mark.parametrize("chapter", list_chapters())
def test_each_notebook_opens_with_its_findings_as_its_tables_give_them(chapter: str) -> None:
    notebook = _notebook(chapter)
    assert findings_first(notebook) == "", f"{chapter}: {findings_first(notebook)}"
    cell = next(c for c in notebook["cells"] if c["cell_type"] == "code" and "show_findings(" in "".join(c["source"]))
    assert f"show_findings({chapter}.FINDINGS" in "".join(cell["source"])
    (shown,) = [o["data"]["text/html"] for o in cell["outputs"] if "text/html" in o.get("data", {})]
    now = findings_html(read_findings(_findings(chapter), paths.FIGURES_DIR / chapter), f"figures/{chapter}/")
    assert "".join(shown) == now, f"{chapter}: the committed findings are not what its tables give (rerun it)"


def _readme_verdicts() -> list[tuple[str, str, str]]:
    """``(term, word, scope text)`` of every verdict the README names."""
    text = (paths.ROOT / "README.md").read_text()
    scopes, _ = parse_markers(text)
    named = []
    for scope in scopes:
        if "verdict" in scope.keys:
            scope_text = text[scope.start : scope.end]
            terms = _TERM_PART.findall(scope.keys["verdict"])
            named += [(term, word, scope_text) for term, word in zip(terms, verdict_words(scope_text))]
    return named


def _declared(term: str) -> list[tuple[PairedFinding, FindingResult]]:
    """The declared findings the README term selects: same file and verdict column, filters agreeing."""
    path, column, filters = _resolve(term, paths.ROOT)
    chapter = path.parent.name
    found = []
    for finding in (f for f in _findings(chapter) if isinstance(f, PairedFinding)):
        if paths.FIGURES_DIR / chapter / finding.table != path or finding.verdict != column:
            continue
        if all(op == "=" and finding.where.get(c, v) == v for c, op, v in filters):
            found.append((finding, read_findings([finding], path.parent)[0]))
    return found


def test_the_readme_names_no_verdict_of_a_chapter_that_its_findings_do_not_hold() -> None:
    named = _readme_verdicts()
    assert len(named) >= 8, "the README's results table names the verdicts of chapters 3, 4, 7 and 8"
    problems = []
    for term, word, scope_text in named:
        if not term.replace('"', "").startswith("figures/ch"):
            continue
        declared = _declared(term)
        if not declared:
            problems.append(f"README names {term} ({word}), which no chapter's FINDINGS declares")
        for finding, result in declared:
            if result.verdict != word:
                problems.append(f"README says {word} for {term}, the chapter's findings {result.verdict}")
            interval = re.search(r"\[[^\]]+\]", result.evidence)
            quoted = re.findall(r"\[-?\d+\.\d+, -?\d+\.\d+\]", scope_text)
            outside_intervals = re.sub(r"\[-?\d+\.\d+, -?\d+\.\d+\]", "", scope_text)  # a bound is no estimate
            near = f"{result.evidence.split()[0].lstrip('+')}" in outside_intervals
            if interval and near and interval.group(0) not in quoted:
                problems.append(f"README quotes {finding.claim!r} without its interval {interval.group(0)}")
    assert not problems, "\n".join(problems)
