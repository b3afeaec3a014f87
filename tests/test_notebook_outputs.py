"""The committed notebooks are executed, and ``make test`` compares their
outputs (nbval in comparing mode with ``notebooks/nbval_sanitize.cfg``).

These tests show the comparison bites: a stored output with one digit
changed fails, the sanitizer only touches what it names, and
``reuseprior.reporting.build.normalize_executed`` removes exactly the run metadata
that would make two executions differ."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from reuseprior.core import paths
from reuseprior.reporting.build import normalize_executed

SANITIZE = paths.NOTEBOOKS_DIR / "nbval_sanitize.cfg"


def _sanitizers() -> list[tuple[re.Pattern, str]]:
    config = configparser.ConfigParser()
    config.read(SANITIZE)
    return [(re.compile(config[s]["regex"]), config[s]["replace"]) for s in config.sections()]


def _sanitize(text: str) -> str:
    for pattern, replacement in _sanitizers():
        text = pattern.sub(replacement, text)
    return text


@pytest.mark.parametrize(
    "volatile, expected",
    [
        (
            "ch4_contexts : 100%|##########| 14/14 [00:10<00:00,  1.29cell/s]",
            "ch4_contexts : 100%|##########| 14/14 [ELAPSED]",
        ),
        ("fill: 40%|####      | 2/5 [01:02:03<00:09, 3.01s/it]", "fill: 40%|####      | 2/5 [ELAPSED]"),
        ("  0%|          | 0/30 [00:00<?, ?it/s]", "  0%|          | 0/30 [ELAPSED]"),
        (' "output_dir": "/tmp/reuseprior-test-figures-x1/ch4_contexts",', ' "output_dir": "OUTPUT_DIR",'),
        ("<Foo object at 0x7f3a2c1e4d90>", "<Foo object at 0xADDRESS>"),
        ("max |H + ES - log2 NC| (bits)   3.68e-10", "max |H + ES - log2 NC| (bits)   RESIDUAL<1e-8"),
        ("0.000000e+00      8.881784e-16", "RESIDUAL<1e-8      RESIDUAL<1e-8"),  # 0 on one CPU, 9e-16 on another
        ("-0e+00 0.0e-00", "RESIDUAL<1e-8 RESIDUAL<1e-8"),
        (
            "/root/.cache/reuseprior/venv-43ce/lib/python3.11/site-packages/torch/nn.py:3: UserWarning",
            "SITE-PACKAGES/torch/nn.py:3: UserWarning",
        ),
    ],
)
def test_sanitizer_replaces_what_varies_between_runs(volatile, expected):
    assert _sanitize(volatile) == expected


@pytest.mark.parametrize(
    "computed",
    [
        "0.744 [0.737, 0.750] (15625; published 0.740)",
        "max |KL - ES| (bits)  2.5e-08 and 1.2e-3, 1.000000e+00, 10.0e+00",
        "V2-S  384  28.7211 (28.72)  1505.5465",
        "2024-11-23 12:00:00 rounded 0.5406 -0.00003",
        "0x1.8p3 is not an address; 0xff neither",
    ],
)
def test_sanitizer_leaves_computed_numbers_alone(computed):
    assert _sanitize(computed) == computed


def _first_numeric_output(nb: nbformat.NotebookNode) -> tuple[int, str]:
    """Index of the first code cell whose text/plain output holds a decimal number, and that number."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "NBVAL_IGNORE_OUTPUT" in cell.source:
            continue
        for output in cell.get("outputs", []):
            text = output.get("data", {}).get("text/plain", "")
            match = re.search(r"\b\d+\.\d{3,}\b", text)
            if match:
                return i, match.group(0)
    raise AssertionError("no stored numeric output: the committed notebooks must be executed (make figures)")


def test_a_changed_stored_value_fails_make_tests_comparison(tmp_path):
    """The check ``make test`` runs (nbval --nbval with the project's sanitizer),
    on a copy of an executed chapter whose first stored number is altered in
    both its text and HTML forms: the recomputed output no longer matches."""
    source = paths.NOTEBOOKS_DIR / "ch4_contexts.ipynb"
    nb = nbformat.read(source, as_version=4)
    index, number = _first_numeric_output(nb)
    altered = number[:-1] + str((int(number[-1]) + 1) % 10)
    for output in nb.cells[index].outputs:
        for mime in ("text/plain", "text/html"):
            if mime in output.get("data", {}):
                output.data[mime] = output.data[mime].replace(number, altered, 1)
    copy = tmp_path / "ch4_contexts.ipynb"
    nbformat.write(nb, copy)
    shutil.copy(SANITIZE, tmp_path / SANITIZE.name)
    env = {**os.environ, paths.FIGURES_ENV_VAR: str(tmp_path / "figures"), "PYTHONPATH": str(paths.ROOT)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval",
            "--nbval-sanitize-with",
            SANITIZE.name,
            copy.name,
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "--rootdir",
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 failed" in result.stdout and altered in result.stdout, result.stdout[-3000:]


def test_normalize_executed_removes_run_metadata_and_default_parameters():
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"start_time": "2026-11-23T10:00:00", "input_path": "/somewhere/ch.ipynb"}
    nb.metadata["widgets"] = {"state": {"model-id": {}}}
    params = nbformat.v4.new_code_cell('profile = "quick"\nseed = 0', metadata={"tags": ["parameters"]})
    injected_default = nbformat.v4.new_code_cell('profile = "quick"', metadata={"tags": ["injected-parameters"]})
    body = nbformat.v4.new_code_cell("x = 1", execution_count=3)
    body.metadata["execution"] = {"iopub.status.busy": "2026-11-23T10:00:01"}
    body.metadata["papermill"] = {"duration": 0.5}
    nb.cells = [params, injected_default, body]
    normalize_executed(nb)
    assert "papermill" not in nb.metadata and "widgets" not in nb.metadata
    assert [c.source for c in nb.cells] == [params.source, "x = 1"]
    assert nb.cells[1].metadata == {} and nb.cells[1].execution_count == 3


def test_normalize_executed_keeps_parameters_that_differ_from_the_defaults():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell('profile = "quick"', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell('profile = "full"', metadata={"tags": ["injected-parameters"]}),
    ]
    normalize_executed(nb)
    assert len(nb.cells) == 2


def test_the_sanitizer_file_parses_and_every_section_has_a_regex_and_a_replacement():
    config = configparser.ConfigParser()
    assert config.read(SANITIZE) == [str(SANITIZE)]
    assert config.sections()
    for section in config.sections():
        assert set(config[section]) == {"regex", "replace"}, section
        re.compile(config[section]["regex"])


def test_sanitizing_keeps_almost_all_stored_output_text():
    """Guard against a sanitizer that swallows whole outputs: on every committed
    notebook, sanitizing removes less than 5 % of the stored output text."""
    for path in sorted(paths.NOTEBOOKS_DIR.glob("ch*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        texts = "".join(
            output.get("text", "") + output.get("data", {}).get("text/plain", "")
            for cell in nb.cells
            if cell.cell_type == "code"
            for output in cell.outputs
        )
        assert texts, f"{path.name} has no stored outputs: run make figures"
        assert len(_sanitize(texts)) > 0.95 * len(texts), path.name


def test_committed_notebooks_keep_no_measurement_or_widget_id():
    """Regenerating must leave the tracked tree unchanged: no random widget
    model id and no wall-clock measurement is stored in a committed notebook."""
    from reuseprior.reporting.build import MEASUREMENT_MARKER, MEASUREMENT_NOTE, WIDGET_VIEW

    for path in sorted(paths.NOTEBOOKS_DIR.glob("ch*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            assert not any(WIDGET_VIEW in o.get("data", {}) for o in cell.outputs), (path.name, cell.id)
            if cell.source.lstrip().startswith(MEASUREMENT_MARKER):
                assert [o.get("text") for o in cell.outputs] == [MEASUREMENT_NOTE], (path.name, cell.id)


#: a tqdm bar's text (``  0%|          | 0/7 [00:00<?, ?it/s]``) in a stored output
PROGRESS_BAR = re.compile(r"\d+%\|")


def test_committed_notebooks_show_no_progress_bar():
    """A batch build draws no bar (reuseprior.core.progress), so an executed
    notebook stores none: a stored bar is the frozen 0 % its widget showed
    when the cell started, above the finished table (the book showed 14)."""
    found = []
    for path in sorted(paths.NOTEBOOKS_DIR.glob("ch*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            for output in cell.get("outputs", []):
                text = output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
                found += [
                    f"{path.name} cell {cell.get('id')}: {line.strip()[:60]}"
                    for line in text.splitlines()
                    if PROGRESS_BAR.search(line)
                ]
    assert not found, "stored progress bars (rebuild: python -m reuseprior build <notebook>):\n" + "\n".join(found)


def test_normalize_executed_replaces_measurements_only_when_asked():
    from reuseprior.reporting.build import MEASUREMENT_NOTE, WIDGET_VIEW

    def notebook():
        nb = nbformat.v4.new_notebook()
        timing = nbformat.v4.new_code_cell("# NBVAL_IGNORE_OUTPUT\n# seconds\nshow(t)", execution_count=1)
        timing.outputs = [nbformat.v4.new_output("stream", name="stdout", text="12.3 s\n")]
        bar = nbformat.v4.new_code_cell("run()", execution_count=2)
        bar.outputs = [
            nbformat.v4.new_output(
                "display_data", data={WIDGET_VIEW: {"model_id": "abc"}, "text/plain": "100%|##| 2/2"}
            )
        ]
        nb.cells = [timing, bar]
        return nb

    committed = normalize_executed(notebook(), keep_measurements=False)
    assert committed.cells[0].outputs[0].text == MEASUREMENT_NOTE
    assert dict(committed.cells[1].outputs[0].data) == {"text/plain": "100%|##| 2/2"}
    elsewhere = normalize_executed(notebook())
    assert elsewhere.cells[0].outputs[0].text == "12.3 s\n"


def _run_nbval(folder, notebook, workers: int = 0) -> subprocess.CompletedProcess:
    """``make test``'s notebook check (nbval, the project's sanitizer and conftest) on ``notebook`` in ``folder``;
    ``workers`` pytest-xdist processes as ``make test`` uses (0: none)."""
    shutil.copy(SANITIZE, folder / SANITIZE.name)
    shutil.copy(paths.ROOT / "conftest.py", folder / "conftest.py")
    env = {**os.environ, paths.FIGURES_ENV_VAR: str(folder / "figures"), "PYTHONPATH": str(paths.ROOT)}
    command = [sys.executable, "-m", "pytest", "--nbval", "--nbval-sanitize-with", SANITIZE.name, notebook.name]
    command += ["-q", "-p", "no:cacheprovider", "--rootdir", str(folder)]
    command += ["-n", str(workers), "--dist", "loadscope"] if workers else ["-p", "no:xdist"]
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=600)


def test_the_sanitizers_comments_name_only_tags_the_notebooks_carry():
    """Issue 45, item 9: its comments described the removed ``cpu-dependent-output`` tag."""
    comments = " ".join(line for line in SANITIZE.read_text().splitlines() if line.startswith("#"))
    named = set(re.findall(r"\btagged\s+([\w-]+)", comments))
    carried = {
        tag
        for path in paths.NOTEBOOKS_DIR.glob("ch*.ipynb")
        for cell in nbformat.read(path, as_version=4).cells
        for tag in cell.metadata.get("tags", [])
    }
    assert named <= carried, f"nbval_sanitize.cfg names tags no notebook carries: {sorted(named - carried)}"
    assert "cpu-dependent-output" not in comments


@pytest.mark.parametrize("workers", [0, 2])
def test_every_cell_is_compared_whatever_its_tags_and_metadata(tmp_path, workers):
    """No cell is exempt from nbval's comparison by a tag or by the machine
    that executed the notebook (the former ``cpu-dependent-output`` tag and
    ``reuseprior.cpu_kernels`` record included): a cell whose stored output
    differs from its recomputation fails, with or without pytest-xdist."""
    nb = nbformat.v4.new_notebook()
    differs = nbformat.v4.new_code_cell(
        "print(0.1 + 0.2)", metadata={"tags": ["cpu-dependent-output"]}, execution_count=1
    )
    differs.outputs = [nbformat.v4.new_output("stream", name="stdout", text="0.3\n")]  # as other kernels rounded it
    same = nbformat.v4.new_code_cell("print(2 + 2)", execution_count=2)
    same.outputs = [nbformat.v4.new_output("stream", name="stdout", text="4\n")]
    nb.cells = [differs, same]
    nb.metadata["reuseprior"] = {"cpu_kernels": "x86_64 OTHER"}
    notebook = tmp_path / "tagged.ipynb"
    nbformat.write(nb, notebook)
    result = _run_nbval(tmp_path, notebook, workers=workers)
    assert result.returncode == 1 and "1 failed, 1 passed" in result.stdout, result.stdout[-3000:]


_FIGURE_CELLS = [
    "from reuseprior.reporting.notebook import setup\n"
    "from reuseprior.reporting.plotting import show\n"
    "import matplotlib.pyplot as plt\n"
    "ctx = setup('agg_check', profile='quick', seed=0, output_dir=OUT, profiles={'quick': {}})",
    "fig, ax = plt.subplots()\nax.plot([0, 1], [1, 0])\nshow(fig)",
    "fig, ax = plt.subplots()\nax.plot([0, 1], [0, 1])\nplt.show()",
]


def test_figures_show_inline_when_the_environment_names_agg(tmp_path, monkeypatch):
    """``MPLBACKEND=Agg`` reaches the kernels papermill and nbval start (headless
    servers, many CI set-ups): after the notebooks' ``setup`` a figure still
    shows as an image, through ``show(fig)`` and through ``plt.show()``."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONPATH", str(paths.ROOT))
    cells = [_FIGURE_CELLS[0].replace("OUT", repr(str(tmp_path))), *_FIGURE_CELLS[1:]]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(tmp_path)}}).execute()
    for cell in nb.cells[1:]:
        kinds = [sorted(o.get("data", {})) for o in cell.outputs]
        assert any("image/png" in k for k in kinds), f"{cell.source!r} showed {kinds}, no image"
