"""A batch build and an interactive run differ in two ways
(:mod:`reuseprior.core.progress`, :func:`reuseprior.reporting.notebook.default_output_dir`):

* a batch build (``python -m reuseprior build``) draws no progress bar, so no
  executed notebook stores one (the frozen ``0%|          | 0/7`` the book
  showed above finished tables), while an interactive run keeps its bars;
* a notebook run interactively writes its tables and figures under
  ``build/``, a batch build into the tracked ``figures/``.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from reuseprior.core import paths
from reuseprior.core.errors import InputsChangedError
from reuseprior.core.progress import BATCH_ENV_VAR, TQDM_ENV_VAR, batch_environment, in_batch_run, progress_bar
from reuseprior.reporting.build import execute_notebook
from reuseprior.reporting.notebook import default_output_dir, output_note, setup

#: a tqdm bar as text, as it is stored in a notebook or written to a terminal
BAR = re.compile(r"\d+%\|")


@pytest.fixture
def interactive(monkeypatch: pytest.MonkeyPatch) -> None:
    """No batch flag and no figures redirection: as a notebook opened in Jupyter."""
    for name in (BATCH_ENV_VAR, TQDM_ENV_VAR, paths.FIGURES_ENV_VAR):
        monkeypatch.delenv(name, raising=False)


def test_the_batch_environment_is_set_inside_the_block_only(interactive: None) -> None:
    assert not in_batch_run()
    with batch_environment():
        assert in_batch_run() and os.environ[TQDM_ENV_VAR] == "1"
    assert not in_batch_run()
    assert BATCH_ENV_VAR not in os.environ and TQDM_ENV_VAR not in os.environ


def test_a_chapter_draws_its_bar_interactively_and_none_in_a_batch_run(
    interactive: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Chapter 5's table loop asks for a bar (``progress=True``, its default):
    shown in an interactive run, not in a batch run whatever the caller asks."""
    from reuseprior.chapters import ch5_depth_width as dw

    configs = dw.table_configs("table_5_1", max_depth=1)
    dw.run_configs(configs, desc="table_5_1")
    assert BAR.search(capsys.readouterr().err), "an interactive run keeps its progress bar"
    monkeypatch.setenv(BATCH_ENV_VAR, "1")
    dw.run_configs(configs, desc="table_5_1")
    assert not BAR.search(capsys.readouterr().err), "a batch run must draw no bar"


def test_progress_bar_iterates_and_updates_when_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BATCH_ENV_VAR, "1")
    bar = progress_bar(range(3), desc="x")
    assert bar.disable and list(bar) == [0, 1, 2]
    with progress_bar(total=2) as bar:
        bar.update()
        bar.set_postfix_str("fine")


def test_a_built_notebook_stores_no_progress_bar(interactive: None, tmp_path: Path) -> None:
    """``execute_notebook`` (what ``python -m reuseprior build`` runs) on a
    notebook drawing a bar of the package and a terminal bar of tqdm itself
    (as a library's would be): the executed copy stores neither."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell(
            "from reuseprior.core.progress import progress_bar\n_ = list(progress_bar(range(3), desc='ours'))"
        ),
        nbformat.v4.new_code_cell(  # a library's terminal bar (tqdm.std honours $TQDM_DISABLE)
            "from tqdm import tqdm\n_ = list(tqdm(range(3), desc='a library'))\nprint('done')"
        ),
    ]
    source = tmp_path / "bars.ipynb"
    nbformat.write(nb, source)
    executed = tmp_path / "executed.ipynb"
    execute_notebook(source, executed, {})
    outputs = [o for c in nbformat.read(executed, as_version=4).cells for o in c.outputs]
    texts = [o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in outputs]
    assert not [t for t in texts if BAR.search(t)], texts
    assert "done\n" in texts, "the notebook ran"


def test_an_interactive_run_writes_under_build(interactive: None) -> None:
    """``setup(output_dir=None)`` outside a batch build resolves to
    ``build/figures/interactive/<notebook>/``, never the tracked ``figures/``."""
    name = "test_batch_runs_probe"
    ctx = None
    try:
        ctx = setup(name, profile="quick", seed=0, output_dir=None, profiles={"quick": {}})
        assert ctx.output_dir == paths.INTERACTIVE_FIGURES_DIR / name
        assert ctx.output_dir.is_relative_to(paths.BUILD_DIR)
        assert not ctx.output_dir.is_relative_to(paths.FIGURES_DIR)
    finally:
        shutil.rmtree(paths.INTERACTIVE_FIGURES_DIR / name, ignore_errors=True)


def test_a_batch_build_writes_to_figures(interactive: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(BATCH_ENV_VAR, "1")
    assert default_output_dir("ch5_depth_width") == paths.FIGURES_DIR / "ch5_depth_width"
    monkeypatch.setenv(paths.FIGURES_ENV_VAR, str(tmp_path))  # the test suite's redirection wins in both
    assert default_output_dir("ch5_depth_width") == tmp_path / "ch5_depth_width"
    monkeypatch.delenv(BATCH_ENV_VAR)
    assert default_output_dir("ch5_depth_width") == tmp_path / "ch5_depth_width"
    ctx = setup("ch5_depth_width", profile="quick", seed=0, output_dir=str(tmp_path / "asked"), profiles={"quick": {}})
    assert ctx.output_dir == tmp_path / "asked", "an output_dir given is used as it is"


def test_the_output_note_names_both_folders() -> None:
    note = output_note("ch5_depth_width")
    assert "`build/figures/interactive/ch5_depth_width/`" in note
    assert "`figures/ch5_depth_width/`" in note and "python -m reuseprior build ch5_depth_width" in note


def test_a_notebook_whose_stored_inputs_change_while_it_runs_is_not_kept(interactive: None, tmp_path: Path) -> None:
    """A row landing in the watched ``inputs`` folder during the run (here written by the notebook
    itself, as a study's worker would) refuses the executed copy, naming the file and the command
    to run again; the same notebook over an unchanged folder is kept."""
    inputs = tmp_path / "data"
    inputs.mkdir()
    (inputs / "runs.csv").write_text("seed\n0\n")
    (inputs / "runs.lock").write_text("")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(f"open({str(inputs / 'runs.lock')!r}, 'w').close()\nprint('read')")]
    quiet = tmp_path / "quiet.ipynb"
    nbformat.write(nb, quiet)
    execute_notebook(quiet, tmp_path / "kept.ipynb", {}, inputs=inputs)  # a file rewritten unchanged is no change
    assert (tmp_path / "kept.ipynb").exists()
    nb.cells.append(nbformat.v4.new_code_cell(f"open({str(inputs / 'runs.csv')!r}, 'a').write('1\\n')"))
    busy = tmp_path / "busy.ipynb"
    nbformat.write(nb, busy)
    with pytest.raises(InputsChangedError, match=r"runs\.csv changed while busy ran.*reuseprior build busy"):
        execute_notebook(busy, tmp_path / "refused.ipynb", {}, inputs=inputs)
    assert not (tmp_path / "refused.ipynb").exists()


def _findings_notebook(tables: Path, runs_log: Path) -> nbformat.NotebookNode:
    """A notebook shaped as a chapter's: its first cell shows the table its last cell writes (the findings),
    and every run is logged."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    table = tables / "verdict.csv"
    nb.cells = [
        nbformat.v4.new_code_cell(f"from pathlib import Path\nprint('findings:', Path({str(table)!r}).read_text())"),
        nbformat.v4.new_code_cell(f"open({str(runs_log)!r}, 'a').write('run\\n')"),
        nbformat.v4.new_code_cell(f"Path({str(table)!r}).write_text('reproduced')"),
    ]
    return nb


def _shown_findings(executed: Path) -> str:
    return nbformat.read(executed, as_version=4).cells[0].outputs[0]["text"].strip()


def test_a_run_that_changes_its_tables_runs_again_so_its_findings_read_them(interactive: None, tmp_path: Path) -> None:
    tables = tmp_path / "figures"
    tables.mkdir()
    (tables / "verdict.csv").write_text("undetermined")
    runs_log = tmp_path / "runs.log"
    source = tmp_path / "chapter.ipynb"
    nbformat.write(_findings_notebook(tables, runs_log), source)

    execute_notebook(source, tmp_path / "once.ipynb", {})  # no tables watched: one run, findings a run behind
    assert _shown_findings(tmp_path / "once.ipynb") == "findings: undetermined"
    assert runs_log.read_text().count("run") == 1

    (tables / "verdict.csv").write_text("undetermined")
    execute_notebook(source, tmp_path / "kept.ipynb", {}, tables=tables)
    assert _shown_findings(tmp_path / "kept.ipynb") == "findings: reproduced"
    assert runs_log.read_text().count("run") == 3, "the tables changed: run a second time"

    execute_notebook(source, tmp_path / "again.ipynb", {}, tables=tables)
    assert _shown_findings(tmp_path / "again.ipynb") == "findings: reproduced"
    assert runs_log.read_text().count("run") == 4, "tables written with the same bytes: one run"
