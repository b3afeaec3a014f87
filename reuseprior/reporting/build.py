"""Regenerate every chapter: execute each notebook with papermill.

:func:`build_notebooks` runs ``notebooks/ch*.ipynb`` on the quick
profile **in place**: the committed notebooks are the executed ones (outputs
included), figures and tables go to ``figures/<notebook>/`` (written by the
notebooks themselves), and nbval compares every stored output on rerun.
Any other run (another profile, a parameter given, an output folder)
writes its executed copies to ``build/notebooks/<profile>/`` and each
notebook's figures and tables to ``build/figures/<profile>/<notebook>/``
(its ``output_dir`` parameter, unless given) instead, so the committed
notebooks always hold the quick profile with default parameters and such a
run writes no tracked file.

Policy for what an executed notebook stores, so that a rerun on the same
software rewrites it byte for byte:

* the kernels run as a batch run (:func:`reuseprior.core.progress.batch_environment`):
  no progress bar is drawn, so none is stored (a stored bar is the frozen
  ``0%|          | 0/7`` it showed when its cell started), and a notebook
  left to its default ``output_dir`` writes to ``figures/<notebook>/``
  (an interactive run writes under ``build/``);
* papermill's and nbclient's run metadata (start and end times, durations,
  input and output paths, widget model state and ids) is removed;
* in the committed notebooks, cells marked ``# NBVAL_IGNORE_OUTPUT`` (they
  show wall-clock measurements) keep a note instead of this run's numbers,
  which go to ``build/measured/<notebook>/``;
* the ``injected-parameters`` cell papermill adds is removed when it only
  repeats the values of the ``parameters`` cell;
* no cell is exempt from comparison on another machine: the quick profiles
  compute the same numbers on every CPU (float64 training,
  :mod:`reuseprior.core.precision`), and the outputs that stay CPU-dependent
  (live recomputations of stored float32 values) are shown in cells marked
  ``# NBVAL_IGNORE_OUTPUT`` beside a verdict cell that is compared;
* the stored results under ``data/`` (what the notebooks read) must not change
  while a notebook runs: a study storing a row meanwhile would leave outputs
  that read two states of them, so the executed copy is then not kept
  (:class:`~reuseprior.core.errors.InputsChangedError`, naming the files and
  the command that runs the notebook again);
* a notebook opens with its findings, read from the tables its later cells
  write to ``figures/<notebook>/``: an in-place run that changed those tables
  is run a second time, so that the findings kept are those of the tables
  kept;
* the executed copy is written to a temporary file (``build/notebooks/tmp/``)
  and moved over the target only when execution and clean-up have finished, so an
  interrupted or failed run leaves the previous notebook intact (a failed
  run's partly executed copy is kept in ``build/notebooks/failed/``).

Notebooks run ``jobs`` at a time (default 2, one per core; each kernel
uses one thread, set by the Makefile), each with a progress bar counting its
cells. A failing notebook does not stop the others: its error is returned in
place of its seconds, beside the others' results.
"""

from __future__ import annotations

import ast
import fnmatch
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Sequence

import jupytext.cli
import nbformat
import papermill

from reuseprior.core import paths
from reuseprior.core.errors import InputsChangedError, NotebookNotFoundError, NotebookParameterError
from reuseprior.core.files import atomic_path, changed_files, folder_state
from reuseprior.core.progress import batch_environment

__all__ = [
    "build_notebooks",
    "check_parameters",
    "execute_notebook",
    "figures_root",
    "find_notebooks",
    "normalize_executed",
    "notebook_parameters",
    "sync_paired_script",
]

#: Run metadata that differs on every execution (timestamps, paths, ids).
VOLATILE_NOTEBOOK_METADATA = ("papermill", "widgets")
VOLATILE_CELL_METADATA = ("papermill", "execution")
#: Progress-bar widgets: their model ids are random and their state is not kept.
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
#: First line of a cell whose output is a measurement of the run (nbval skips it too).
MEASUREMENT_MARKER = "# NBVAL_IGNORE_OUTPUT"
MEASUREMENT_NOTE = (
    "Wall-clock measurements of the run that executed this notebook are not committed (they differ "
    "on every run and machine); `make figures` writes them to build/measured/<notebook>/, and "
    "running this cell shows them.\n"
)


def find_notebooks(patterns: list[str] | None = None, notebooks: Sequence[Path] | None = None) -> list[Path]:
    """The chapter notebooks, in chapter order, optionally filtered by glob (none matching raises
    :class:`~reuseprior.core.errors.NotebookNotFoundError`). ``notebooks`` are those to choose from (the
    ``build`` command gives the registered chapters'); by default every ``ch*.ipynb`` of the notebooks
    folder."""
    if notebooks is None:
        notebooks = [p for p in paths.NOTEBOOKS_DIR.glob("ch*.ipynb") if ".ipynb_checkpoints" not in p.parts]
    every = sorted(notebooks)
    found = every
    if patterns:
        found = [
            p for p in every if any(fnmatch.fnmatch(p.stem, pat) or fnmatch.fnmatch(p.name, pat) for pat in patterns)
        ]
        if not found:
            raise NotebookNotFoundError(f"no notebook matches {patterns}; available: {[p.stem for p in every]}")
    return found


def parameter_value(text: str) -> Any:
    """Command-line parameter values: Python literals where they parse, else strings."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def notebook_parameters(notebook: Path) -> set[str]:
    """Names assigned in the notebook's cell tagged ``parameters``."""
    return set(_parameter_defaults(nbformat.read(str(notebook), as_version=4)))


def _parameter_defaults(nb: nbformat.NotebookNode) -> dict[str, Any]:
    """The literal values assigned in the cell tagged ``parameters``."""
    for cell in nb.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            return _assigned_literals(cell.source)
    return {}


def _assigned_literals(source: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    values[target.id] = ast.literal_eval(node.value)
    return values


def check_parameters(notebooks: list[Path], parameters: dict) -> dict[str, set[str]]:
    """Which of ``parameters`` each notebook declares. A parameter that no
    selected notebook declares is a typo, not something to pass silently:
    raises :class:`~reuseprior.core.errors.NotebookParameterError` naming it and the parameters that exist."""
    declared = {nb.stem: notebook_parameters(nb) for nb in notebooks}
    known = set().union(*declared.values()) if declared else set()
    unknown = sorted(set(parameters) - known)
    if unknown:
        raise NotebookParameterError(
            f"unknown notebook parameter(s) {unknown}: none of {sorted(declared)} declares them; "
            f"the parameters cells declare {sorted(known)}"
        )
    return declared


def normalize_executed(nb: nbformat.NotebookNode, *, keep_measurements: bool = True) -> nbformat.NotebookNode:
    """Remove what changes on every execution (see the module docstring), in place.

    With ``keep_measurements=False`` (the committed, in-place notebooks) the
    output of a cell marked ``# NBVAL_IGNORE_OUTPUT`` (wall-clock times,
    memory: they differ on every run) is replaced by a note saying where the
    run wrote them, so regenerating leaves the tracked tree unchanged."""
    for key in VOLATILE_NOTEBOOK_METADATA:
        nb.metadata.pop(key, None)
    defaults = _parameter_defaults(nb)
    kept = []
    for cell in nb.cells:
        for key in VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and _assigned_literals(cell.source).items() <= defaults.items():
            continue
        if cell.cell_type == "code":
            for output in cell.outputs:
                output.get("data", {}).pop(WIDGET_VIEW, None)  # random model ids; the text form stays
            if not keep_measurements and cell.source.lstrip().startswith(MEASUREMENT_MARKER):
                cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=MEASUREMENT_NOTE)]
        kept.append(cell)
    nb.cells = kept
    return nb


def sync_paired_script(notebook: Path) -> None:
    """Bring ``notebook`` and its percent-format script ``<name>.py`` to the
    same source (jupytext ``--sync``: the more recently modified one wins;
    outputs stay in the notebook). Configured in ``pyproject.toml``."""
    jupytext.cli.jupytext(["--sync", "--quiet", str(notebook)])


def execute_notebook(
    notebook: Path,
    target: Path,
    parameters: dict,
    position: int = 0,
    *,
    inputs: Path | None = None,
    tables: Path | None = None,
) -> float:
    """Execute ``notebook`` with ``parameters`` into ``target`` (atomically, :func:`_execute_once`) and
    return the seconds it took. ``tables``: the folder of the tables the notebook writes, which its
    findings cell, at the top, reads back (an in-place build passes ``figures/<notebook>/``); a run that
    changed a file there is followed by a second run, whose copy is kept, so that the findings read the
    tables of the run they are shown with."""
    start = time.perf_counter()
    tables_before = folder_state(tables) if tables is not None else {}
    _execute_once(notebook, target, parameters, position, inputs=inputs)
    if tables is not None and changed_files(tables_before, folder_state(tables)):
        _execute_once(notebook, target, parameters, position, inputs=inputs)
    return time.perf_counter() - start


def _execute_once(
    notebook: Path, target: Path, parameters: dict, position: int = 0, *, inputs: Path | None = None
) -> None:
    """Execute ``notebook`` with ``parameters`` into ``target`` (atomically). The kernel runs in
    ``notebooks/``. In place,
    the paired script is synced first (an edited ``.py`` is what runs) and
    after (it matches the executed notebook). A file under ``inputs`` (default
    ``data/``) that changes during the run refuses the executed copy
    (:func:`_refuse_changed_inputs`)."""
    inputs = paths.DATA_DIR if inputs is None else inputs
    inputs_before = folder_state(inputs)
    in_place = target.resolve() == notebook.resolve()
    if in_place:
        sync_paired_script(notebook)
    # Only values that differ from the parameters cell are injected, so a
    # default run gets no injected cell and keeps contiguous execution counts.
    defaults = _parameter_defaults(nbformat.read(str(notebook), as_version=4))
    missing = object()
    parameters = {k: v for k, v in parameters.items() if defaults.get(k, missing) != v}
    scratch = paths.BUILD_DIR / "notebooks" / "tmp"  # same file system as the target, never collected by nbval
    failed = paths.BUILD_DIR / "notebooks" / "failed" / notebook.name  # the partly executed copy, to read the error
    with atomic_path(target, suffix=".ipynb", scratch=scratch, keep_failed=failed) as tmp:
        with batch_environment():  # the kernel inherits it: no bars, outputs to figures/
            executed = papermill.execute_notebook(
                str(notebook),
                str(tmp),
                parameters=parameters,
                cwd=str(paths.NOTEBOOKS_DIR),
                kernel_name="python3",
                progress_bar={"desc": f"{notebook.stem:26s}", "position": position, "leave": True},
                extra_arguments=["--IPKernelApp.log_level=ERROR"],  # no start-up chatter (TCP transport notice)
            )
        executed_nb = normalize_executed(nbformat.from_dict(executed), keep_measurements=not in_place)
        nbformat.write(executed_nb, str(tmp))
        _refuse_changed_inputs(notebook, inputs, inputs_before)
    if in_place:
        sync_paired_script(target)


def _refuse_changed_inputs(notebook: Path, inputs: Path, before: dict[str, str]) -> None:
    """Raise :class:`~reuseprior.core.errors.InputsChangedError` when a file under ``inputs`` differs
    from its state ``before`` the run of ``notebook`` (:func:`~reuseprior.core.files.folder_state`)."""
    changed = changed_files(before, folder_state(inputs))
    if changed:
        raise InputsChangedError(
            f"{', '.join(str(inputs / name) for name in changed)} changed while {notebook.stem} ran (a study "
            "storing rows meanwhile): its outputs may read two states of them, so the executed notebook was "
            f"not kept; run `python -m reuseprior build {notebook.stem}` again once the rows have landed"
        )


def figures_root(profile: str) -> Path:
    """Where a build that is not in place writes its notebooks' figures and
    tables (``<figures_root>/<notebook>/``): under ``build/``, never the tracked
    ``figures/``."""
    return paths.BUILD_DIR / "figures" / profile


def build_notebooks(
    notebooks: list[Path],
    profile: str = "quick",
    parameters: dict | None = None,
    output_dir: Path | None = None,
    jobs: int = 2,
) -> dict[str, float | Exception]:
    """Execute ``notebooks``; returns seconds or the error per notebook.

    Each notebook gets the ``parameters`` its parameters cell declares (a
    chapter-specific one such as ``data_dir`` goes only to the chapters that
    take it); one that no notebook declares stops the build before it starts.
    The quick profile with default parameters and no ``output_dir`` writes
    the notebooks in place; anything else writes to ``build/notebooks/<profile>/``
    and passes each notebook ``output_dir=<figures_root(profile)>/<notebook>``
    (unless the parameters name one), so that it writes no tracked file."""
    parameters = {"profile": profile, **(parameters or {})}
    declared = check_parameters(notebooks, parameters)
    in_place = output_dir is None and profile == "quick" and set(parameters) == {"profile"}
    out_dir = paths.NOTEBOOKS_DIR if in_place else Path(output_dir or paths.BUILD_DIR / "notebooks" / profile)
    # Kernels inherit the environment: this checkout's package comes first on
    # the path even when another checkout is installed editable.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(paths.ROOT), os.environ.get("PYTHONPATH")]))
    results: dict[str, float | Exception] = {}
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {
            pool.submit(
                execute_notebook,
                nb,
                out_dir / nb.name,
                _notebook_parameters(nb, parameters, declared[nb.stem], None if in_place else profile),
                i,
                tables=paths.figures_dir(nb.stem) if in_place else None,
            ): nb.stem
            for i, nb in enumerate(notebooks)
        }
        for future in as_completed(futures):
            try:
                results[futures[future]] = future.result()
            except Exception as err:  # keep going: report every failing chapter at the end
                results[futures[future]] = err
    return {nb.stem: results[nb.stem] for nb in notebooks}


def _notebook_parameters(notebook: Path, parameters: dict, declared: set[str], profile: str | None) -> dict:
    """The parameters ``notebook`` declares; with ``profile`` (a build not in
    place), ``output_dir`` under :func:`figures_root` unless one was given."""
    own = {k: v for k, v in parameters.items() if k in declared}
    if profile is not None and "output_dir" in declared and own.get("output_dir") is None:
        own["output_dir"] = str(figures_root(profile) / notebook.stem)
    return own
