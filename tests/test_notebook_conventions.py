"""Every chapter notebook follows the repository's conventions
(``docs/notebook-conventions.md``): committed executed on the quick profile (outputs
included, no run metadata, under 2.5 MB), paired with a percent-format script
that holds the same source, a first markdown cell naming what it
reproduces and saying where the notebook writes (one sentence,
``reuseprior.reporting.notebook.output_note``), a ``parameters`` cell of literal assignments including the
common ones, and a call to ``reuseprior.reporting.notebook.setup``."""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass

import pytest

from reuseprior.core import paths
from reuseprior.reporting.build import find_notebooks
from reuseprior.reporting.notebook import output_note, shown_setting
from tests.readme_check import verdict_words

NOTEBOOKS = find_notebooks()
COMMON_PARAMETERS = {"profile", "seed", "device", "output_dir"}


def test_there_are_chapter_notebooks():
    assert len(NOTEBOOKS) >= 1


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_conventions(path):
    nb = json.loads(path.read_text())
    cells = nb["cells"]
    assert path.stem.startswith("ch") and "_" in path.stem, "name notebooks ch<N>_<topic>.ipynb"
    assert cells[0]["cell_type"] == "markdown" and "thesis" in "".join(cells[0]["source"]).lower()
    assert " ".join(output_note(path.stem).split()) in " ".join("".join(cells[0]["source"]).split()), (
        "the first markdown cell must say where the notebook writes: reuseprior.reporting.notebook.output_note"
    )
    counts = [cell.get("execution_count") for cell in cells if cell["cell_type"] == "code"]
    assert counts == list(range(1, len(counts) + 1)), "commit notebooks executed top to bottom: run make figures"
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    tree = ast.parse("".join(tagged[0]["source"]))
    names = set()
    for node in tree.body:
        assert isinstance(node, ast.Assign), "the parameters cell holds assignments only"
        ast.literal_eval(node.value)  # literal values only (papermill overrides them)
        names |= {t.id for t in node.targets}
    assert COMMON_PARAMETERS <= names
    code = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert "setup(" in code, "call reuseprior.reporting.notebook.setup(...) right after the parameters"
    assert nb["metadata"].get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_valid_nbformat_with_unique_cell_ids(path):
    import nbformat

    raw = json.loads(path.read_text())
    ids = [c.get("id") for c in raw["cells"]]
    assert None not in ids, "nbformat >= 4.5 needs an id on every cell (nbformat.validator.normalize adds them)"
    assert len(set(ids)) == len(ids)
    nbformat.validate(nbformat.reads(path.read_text(), as_version=4))


def test_notebooks_live_in_the_notebooks_folder():
    assert all(p.parent == paths.NOTEBOOKS_DIR for p in NOTEBOOKS)


def test_build_rejects_a_parameter_no_notebook_declares_and_routes_the_others():
    from reuseprior.core.errors import NotebookParameterError
    from reuseprior.reporting.build import build_notebooks, check_parameters

    notebooks = find_notebooks(["ch3_revolver", "ch4_contexts"])
    declared = check_parameters(notebooks, {"profile": "quick", "data_dir": "/data"})
    assert "data_dir" in declared["ch3_revolver"] and "data_dir" not in declared["ch4_contexts"]
    with pytest.raises(NotebookParameterError, match=r"unknown notebook parameter\(s\) \['nosuch'\].*'seed'"):
        build_notebooks(notebooks, parameters={"nosuch": 1})  # stops before any kernel starts


#: the largest, chapter 6's, shows three zoos' scatter grids (1.4 MB of PNG) and every table with a timm column
MAX_NOTEBOOK_BYTES = 2_500_000


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_executed_without_run_metadata(path):
    from reuseprior.reporting.build import VOLATILE_CELL_METADATA, VOLATILE_NOTEBOOK_METADATA

    nb = json.loads(path.read_text())
    assert path.stat().st_size < MAX_NOTEBOOK_BYTES, f"{path.name}: keep executed notebooks under 2.5 MB"
    assert not set(VOLATILE_NOTEBOOK_METADATA) & set(nb["metadata"]), "run metadata left: use make figures"
    for cell in nb["cells"]:
        assert not set(VOLATILE_CELL_METADATA) & set(cell.get("metadata", {})), cell.get("id")
        assert "injected-parameters" not in cell.get("metadata", {}).get("tags", []), (
            "committed notebooks hold the quick profile with default parameters"
        )
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", f"{path.name} cell {cell.get('id')} stored an error"
    outputs = [o for c in nb["cells"] for o in c.get("outputs", [])]
    assert outputs, f"{path.name} has no outputs: run make figures"
    absolute = re.findall(r"/[\w.-]+(?:/[\w.-]+)*/(?:figures|build|notebooks|data)/", json.dumps(outputs))
    assert not absolute, f"{path.name} stores absolute paths of the machine that ran it: {sorted(set(absolute))}"
    code = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "plt.show()" not in code, (
        f"{path.name}: show figures with reuseprior.reporting.plotting.show(fig), which closes them"
    )
    if "save_figure(" in code:
        assert any("image/png" in o.get("data", {}) for o in outputs), (
            f"{path.name} saves figures but shows none inline (does it call setup() and show(fig)?)"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_narrative_types_no_verdict(path):
    """A verdict (reproduced, contradicted, undetermined, not comparable) is what a cell computes and
    prints: the markdown around it never emphasises one, as if it were a result. A rule or a
    possibility names the word without emphasis (``tests/readme_check.py`` reads the words)."""
    cells = json.loads(path.read_text())["cells"]
    typed = [
        (cell.get("id"), word)
        for cell in cells
        if cell["cell_type"] == "markdown"
        for word in verdict_words("".join(cell["source"]))
    ]
    assert not typed, f"{path.name}: emphasised verdict words in markdown (cell id, word): {typed}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_paired_script_holds_the_notebook_source(path):
    """notebooks/<name>.py (jupytext percent format) is what reviewers diff; it
    must hold exactly the notebook's cells (jupytext --sync, or make figures)."""
    import jupytext

    script = path.with_suffix(".py")
    assert script.exists(), f"missing {script.name}: run 'jupytext --sync {path}'"
    expected = jupytext.writes(jupytext.read(path), fmt="py:percent")
    assert script.read_text() == expected, f"{script.name} differs from {path.name}: run 'jupytext --sync {path}'"


def test_a_study_design_in_the_settings_is_named_not_dumped():
    """A notebook's settings print a dataclass (a study's whole design) by its type and name, inside a
    tuple too; every other value as its repr."""

    @dataclass(frozen=True)
    class Design:
        name: str
        seeds: tuple[int, ...] = (0, 1, 2)

    assert shown_setting(Design("toy")) == "Design('toy')"
    assert shown_setting((Design("a"), Design("b"))) == "(Design('a'), Design('b'))"
    assert shown_setting((Design("a"),)) == "(Design('a'),)"
    assert shown_setting([Design("a")]) == "[Design('a')]"  # a list stays a list
    assert shown_setting(("x", 1)) == "('x', 1)" and shown_setting(None) == "None"
