"""Regenerate every chapter: execute each notebook with papermill.

``python -m reuseprior build`` runs ``notebooks/ch*.ipynb`` on the quick
profile; executed copies go to ``build/notebooks/<profile>/``, figures and
tables to ``figures/<notebook>/`` (written by the notebooks themselves).
``--profile full`` is the paper scale; ``-p name value`` passes any other
parameter to every notebook (e.g. ``-p device auto``). Notebooks run one
after another; a failing notebook does not stop the others, and the command
exits non-zero listing the failures. Papermill saves the executed copy after
every cell, so an interrupted build keeps what it had computed.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import os
import time
from pathlib import Path

from . import paths

__all__ = ["build_notebooks", "check_parameters", "find_notebooks", "notebook_parameters"]


def find_notebooks(patterns: list[str] | None = None) -> list[Path]:
    """The chapter notebooks, in chapter order, optionally filtered by glob."""
    found = sorted(p for p in paths.NOTEBOOKS_DIR.glob("ch*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if patterns:
        found = [p for p in found if any(fnmatch.fnmatch(p.stem, pat) or fnmatch.fnmatch(p.name, pat) for pat in patterns)]
        if not found:
            raise SystemExit(f"no notebook matches {patterns}; available: {[p.stem for p in find_notebooks()]}")
    return found


def _literal(text: str):
    """Command-line parameter values: Python literals where they parse, else strings."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def notebook_parameters(notebook: Path) -> set[str]:
    """Names assigned in the notebook's cell tagged ``parameters``."""
    import papermill

    return set(papermill.inspect_notebook(str(notebook)))


def check_parameters(notebooks: list[Path], parameters: dict) -> dict[str, set[str]]:
    """Which of ``parameters`` each notebook declares. A parameter that no
    selected notebook declares is a typo, not something to pass silently:
    raises ``SystemExit`` naming it and the parameters that exist."""
    declared = {nb.stem: notebook_parameters(nb) for nb in notebooks}
    known = set().union(*declared.values()) if declared else set()
    unknown = sorted(set(parameters) - known)
    if unknown:
        raise SystemExit(f"unknown notebook parameter(s) {unknown}: none of {sorted(declared)} declares them; "
                         f"the parameters cells declare {sorted(known)}")
    return declared


def build_notebooks(
    notebooks: list[Path], profile: str = "quick", parameters: dict | None = None, output_dir: Path | None = None
) -> dict[str, float | Exception]:
    """Execute ``notebooks`` with papermill; returns seconds or the error per notebook.

    Each notebook gets the ``parameters`` its parameters cell declares (a
    chapter-specific one such as ``data_dir`` goes only to the chapters that
    take it); one that no notebook declares stops the build before it starts."""
    import papermill
    from tqdm.auto import tqdm

    parameters = {"profile": profile, **(parameters or {})}
    declared = check_parameters(notebooks, parameters)
    # Kernels inherit the environment: make this checkout's package importable
    # even when it is not pip-installed (kernels run with cwd=notebooks/).
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(paths.ROOT), os.environ.get("PYTHONPATH")]))
    out_dir = Path(output_dir or paths.BUILD_DIR / "notebooks" / profile)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, float | Exception] = {}
    for nb in tqdm(notebooks, desc=f"notebooks ({profile})", unit="nb"):
        start = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(nb),
                str(out_dir / nb.name),
                parameters={k: v for k, v in parameters.items() if k in declared[nb.stem]},
                cwd=str(paths.NOTEBOOKS_DIR),
                kernel_name="python3",
                progress_bar=False,
            )
            results[nb.stem] = time.perf_counter() - start
        except Exception as err:  # keep going: report every failing chapter at the end
            results[nb.stem] = err
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebooks", nargs="*", help="glob(s) of notebook names to run (default: all ch*.ipynb)")
    parser.add_argument("--profile", default="quick", choices=["quick", "full"], help="parameter profile")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="extra papermill parameter for every notebook (Python literal or string)")
    parser.add_argument("--output-dir", type=Path, default=None, help="where executed notebooks go")


def run(args: argparse.Namespace) -> int:
    notebooks = find_notebooks(args.notebooks)
    params = {name: _literal(value) for name, value in args.parameter}
    results = build_notebooks(notebooks, args.profile, params, args.output_dir)
    failed = {k: v for k, v in results.items() if isinstance(v, Exception)}
    for name, outcome in results.items():
        status = f"FAILED: {str(outcome).strip().splitlines()[-1] if str(outcome).strip() else type(outcome).__name__}" if name in failed else f"ok in {outcome:.1f} s"
        print(f"{name:32s} {status}")
    return 1 if failed else 0
