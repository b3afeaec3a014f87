"""Every path the project uses, in one place.

Code that takes its paths from here works from any
working directory (a notebook executed by papermill runs with ``notebooks/``
or a build folder as its working directory).

Two ways to run: from a checkout (the package beside ``pyproject.toml``),
where inputs are read from the repository's ``data/`` and outputs go to its
``figures/`` and ``build/``; or from an installed wheel, which carries a copy
of ``data/`` inside the package (``reuseprior/_data``) and writes outputs
under the current working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR: Path = Path(__file__).resolve().parents[1]
#: True when the package runs from a checkout of the repository (editable
#: install or ``PYTHONPATH``), False when it runs from an installed wheel.
IN_CHECKOUT: bool = (PACKAGE_DIR.parent / "pyproject.toml").is_file() and (PACKAGE_DIR.parent / "data").is_dir()
#: Repository root in a checkout; the working directory otherwise.
ROOT: Path = PACKAGE_DIR.parent if IN_CHECKOUT else Path.cwd()
#: Inputs: numbers transcribed from the thesis and stored computed results.
DATA_DIR: Path = ROOT / "data" if IN_CHECKOUT else PACKAGE_DIR / "_data"
#: Thesis tables transcribed exactly as printed (see ``reuseprior.reporting.reference``).
THESIS_DATA_DIR: Path = DATA_DIR / "thesis"
#: Figures and tables written by the notebooks (one sub-folder per notebook).
FIGURES_DIR: Path = ROOT / "figures"
#: Executed notebooks, benchmark outputs and other regenerable artefacts.
BUILD_DIR: Path = ROOT / "build"
NOTEBOOKS_DIR: Path = ROOT / "notebooks"

#: Where a notebook run interactively (Jupyter, nbclient without the batch
#: flag) writes its figures and tables when its ``output_dir`` parameter is
#: None: ``build/figures/interactive/<notebook>/``, never the tracked
#: ``figures/`` (``reuseprior.reporting.notebook.default_output_dir``).
INTERACTIVE_FIGURES_DIR: Path = BUILD_DIR / "figures" / "interactive"

#: Environment variable redirecting notebook outputs (the test suite sets it
#: so that running the notebooks under nbval never rewrites ``figures/``).
FIGURES_ENV_VAR = "REUSEPRIOR_FIGURES_DIR"
#: Environment variable redirecting machine-dependent measurements (timings,
#: memory), which live outside the tracked tree (``build/measured/``).
MEASURED_ENV_VAR = "REUSEPRIOR_MEASURED_DIR"
#: Environment variable naming the datasets folder (``make ... DATA_DIR=`` sets
#: it), read once when the package is imported.
DATASETS_ENV_VAR = "REUSEPRIOR_DATASETS_DIR"
#: Where the datasets are fetched to and read from unless a call names another
#: folder: ``$REUSEPRIOR_DATASETS_DIR`` (a relative one taken from the working
#: directory at import), else ``build/datasets``.
DATASETS_DIR: Path = (
    Path(os.environ[DATASETS_ENV_VAR]).expanduser().absolute()
    if os.environ.get(DATASETS_ENV_VAR)
    else BUILD_DIR / "datasets"
)


def figures_dir(notebook: str) -> Path:
    """Output folder of one notebook: ``figures/<notebook>/`` unless
    ``$REUSEPRIOR_FIGURES_DIR`` redirects the whole figures tree."""
    base = Path(os.environ.get(FIGURES_ENV_VAR, FIGURES_DIR))
    return base / notebook
