"""What ``make figures`` writes into the tracked tree, and what the executed
notebooks show, is reproducible: a rerun on the same software leaves
``figures/`` byte-identical and every compared notebook output text-identical.

Policy (``docs/notebook-conventions.md``; ``RunContext.save_measurement``):

* tracked tables (``figures/<notebook>/*.csv|json``) hold no wall-clock time,
  throughput, memory measurement, timestamp or machine path; those go to
  ``build/measured/`` through ``ctx.save_measurement``;
* a figure is displayed once (``reuseprior.reporting.plotting.show``) after it is saved,
  and a cell never ends on ``ctx.save_figure(...)`` (its value is an absolute
  path);
* a volatile display sits in a cell starting ``# NBVAL_IGNORE_OUTPUT`` with a
  comment line saying why;
* figures of the training chapters name the data that produced them.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import json
import re
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from reuseprior.core import paths  # noqa: E402
from reuseprior.reporting.build import find_notebooks  # noqa: E402
from reuseprior.reporting.plotting import caption, show  # noqa: E402

#: column names that denote a measurement of the machine or the moment
VOLATILE_WORDS = re.compile(
    r"second|\bsec\b|/s\b|per_s|time|stamp|\bdate\b|utc|throughput|memory|\brss\b|\bpath\b|_path|checkpoint|wall",
    re.IGNORECASE,
)
#: a trailing unit "s" (seconds): "train_time_s", "median CPU s", "time (s)"; case-sensitive,
#: since "S" is the total surprisal of chapter 4
SECONDS_UNIT = re.compile(r"(?:^|[\s_(])s\)?$")
#: columns that match the pattern but are counted, hence reproducible:
#: bytes of parameters and buffers (chapter 3), not a measured peak
COUNTED_NOT_MEASURED = {
    "memory_MiB_shared",
    "memory_MiB_unshared",
    # chapter 4's GPU-time estimate: computed from counted multiply-adds and a published throughput
    "train images/s (est.)",
    "GPU hours (est.)",
}
#: tables that summarise timings stored under data/ (read, not measured, when
#: the notebook runs: byte-identical on every rerun), quoted by docs/predictive-validity.md
STORED_TIMINGS = {"ch6_predictive_validity/cost_per_architecture"}
#: values that only a particular machine or moment produces
ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:home|root|tmp|Users|work|mnt|var|private)/")
ISO_TIMESTAMP = re.compile(r"\b20\d\d-\d\d-\d\d[T ]\d\d:\d\d")

TABLES = sorted(p for p in paths.FIGURES_DIR.glob("*/*") if p.suffix in {".csv", ".json"})
NOTEBOOKS = find_notebooks()


def _columns(path: Path) -> list[str]:
    if path.suffix == ".csv":
        return path.read_text().splitlines()[0].split(",") if path.stat().st_size else []
    records = json.loads(path.read_text())
    rows = records if isinstance(records, list) else [records]
    return sorted({k for r in rows if isinstance(r, dict) for k in r})


def _volatile(column: str) -> bool:
    return bool(VOLATILE_WORDS.search(column) or SECONDS_UNIT.search(column))


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


@pytest.mark.parametrize("path", TABLES, ids=_id)
def test_tracked_tables_have_no_volatile_columns(path):
    if f"{path.parent.name}/{path.stem}" in STORED_TIMINGS:
        pytest.skip("summarises timings stored in data/, not measured by the run")
    volatile = [c for c in _columns(path) if _volatile(c.strip('"')) and c.strip('"') not in COUNTED_NOT_MEASURED]
    assert not volatile, (
        f"{_id(path)} has machine- or moment-dependent columns {volatile}: save them with "
        "ctx.save_measurement (build/measured/), keep the tracked table reproducible"
    )


@pytest.mark.parametrize("path", TABLES, ids=_id)
def test_tracked_tables_hold_no_machine_paths_or_timestamps(path):
    text = path.read_text()
    assert str(paths.ROOT) not in text and not ABSOLUTE_PATH.search(text), (
        f"{_id(path)} names a folder of the machine that wrote it; store paths relative to the repository root"
    )
    assert not ISO_TIMESTAMP.search(text), f"{_id(path)} holds a timestamp"


def test_volatile_column_pattern():
    for name in (
        "seconds",
        "train_time_s",
        "train_images_per_s",
        "peak_memory_mb",
        "checkpoint",
        "finished_utc",
        "median CPU s",
        "seconds/generation (training)",
        "timestamp",
        "wall",
        "time (s)",
        "images/s",
    ):
        assert _volatile(name), name
    for name in (
        "Params (M)",
        "PG",
        "P'G",
        "S",
        "S (ours)",
        "Δ ES",
        "Exp. spread",
        "source",
        "Score",
        "Updates",
        "unrolled == paths",
        "status",
        "shared_params",
        "Δ Params",
        "epochs_completed",
        "train_images",
        "torch_version",
        "config.image_size",
        "NI size",
        "output",
    ):
        assert not _volatile(name), name


# ------------------------------------------------------------------ notebooks


def _code_cells(path: Path) -> list[str]:
    nb = json.loads(path.read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def _last_statement(source: str) -> ast.stmt | None:
    try:
        body = ast.parse(source).body
    except SyntaxError:  # IPython syntax (magics): not this check's business
        return None
    return body[-1] if body else None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_saved_figure_is_shown_once_and_no_cell_ends_on_a_path(path):
    for source in _code_cells(path):
        last = _last_statement(source)
        if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call):
            func = ast.unparse(last.value.func)
            assert not func.endswith("save_figure"), (
                f"{path.stem}: a cell ends on {func}(...), whose value (an absolute path) would be displayed:\n{source}"
            )
        saves = source.count("save_figure(")
        if saves:
            shows = len(re.findall(r"\bshow(?:_figure)?\(fig\w*\)|plt\.show\(\)|display\(fig\w*\)", source))
            assert shows >= saves, (
                f"{path.stem}: display each saved figure once (reuseprior.reporting.plotting.show):\n{source}"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_ignored_outputs_say_why(path):
    for source in _code_cells(path):
        if "NBVAL_IGNORE_OUTPUT" not in source:
            continue
        lines = source.splitlines()
        assert lines[0].strip() == "# NBVAL_IGNORE_OUTPUT", f"{path.stem}: the marker must be the first line"
        assert len(lines) > 1 and lines[1].startswith("#") and len(lines[1]) > 10, (
            f"{path.stem}: the line after # NBVAL_IGNORE_OUTPUT says why the output is volatile:\n{source}"
        )


@pytest.mark.parametrize("name", ["ch3_revolver", "ch4_sharing_training"])
def test_training_figures_carry_a_data_caption(name):
    """Figures made from trained models name the data that produced them: the
    cell that saves a figure captions it, or draws it with a chapter function
    that does."""
    path = paths.NOTEBOOKS_DIR / f"{name}.ipynb"
    cells = _code_cells(path)
    aliases = {  # the chapter modules the notebook imports (a chapter's driver, or a module of its package)
        alias.asname or alias.name: importlib.import_module(f"{node.module}.{alias.name}")
        for source in cells
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("reuseprior.chapters")
        for alias in node.names
        if importlib.util.find_spec(f"{node.module}.{alias.name}") is not None
    }
    saving = [source for source in cells if "save_figure(" in source]
    assert saving, f"{name}: no cell saves a figure"
    for source in saving:
        drawers = [
            getattr(aliases[call.func.value.id], call.func.attr)
            for call in ast.walk(ast.parse(source))
            if isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and isinstance(call.func.value, ast.Name)
            and call.func.value.id in aliases
            and call.func.attr.startswith("plot_")
        ]
        captions = re.compile(r"caption\(\s*fig")  # as written, or wrapped by the formatter
        captioned = bool(captions.search(source)) or any(captions.search(inspect.getsource(f)) for f in drawers)
        assert captioned, f"{name}: add reuseprior.reporting.plotting.caption(fig, <data caption>):\n{source}"


# ------------------------------------------------------------------ plotting helpers


def test_caption_lands_in_the_saved_figure(tmp_path):
    from reuseprior.reporting.plotting import save_figure

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    ax.set(xlabel="x (units)", ylabel="y (units)")
    fig.tight_layout()
    text = caption(fig, "data: scikit-learn 8x8 handwritten digits; profile 'quick'")
    assert text in fig.texts and text.get_text().startswith("data: ")
    tight = fig.get_tightbbox(fig.canvas.get_renderer())
    assert tight.y0 < 0  # below the axes, and bbox_inches="tight" keeps it in the PNG
    first = save_figure(fig, tmp_path / "a").read_bytes()
    assert save_figure(fig, tmp_path / "b").read_bytes() == first  # deterministic PNG
    plt.close(fig)


def test_show_displays_once_and_closes(capsys):
    fig, _ = plt.subplots()
    number = fig.number
    show(fig)
    assert not plt.fignum_exists(number)
    assert capsys.readouterr().out.count("Figure") == 1  # outside IPython, display() prints the repr once
