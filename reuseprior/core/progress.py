"""Progress bars, and what tells a batch run from an interactive one.

Policy:

* **A batch run shows no progress bar.** The notebook build (``make
  figures``, ``make full``) executes the notebooks with
  ``$REUSEPRIOR_BATCH=1`` in the environment their kernels inherit
  (:func:`batch_environment`), and ``make test`` re-executes them the same way
  (``conftest.py``). An executed notebook is committed and rendered in the
  book; a bar stored in it is the frozen ``0%|          | 0/7`` it showed
  when the cell started (the widget's text form), above the finished table.
  Every bar of the package comes from :func:`progress_bar`, which is
  disabled in a batch run whatever its caller asks; ``$TQDM_DISABLE=1`` is set
  too, for other libraries' bars.
* **An interactive run keeps its bars** (Jupyter, a terminal, a command-line
  run): nothing changes there.
* The same flag decides where an interactive notebook writes its tables and
  figures (:func:`reuseprior.reporting.notebook.setup`): ``build/``, not the
  tracked ``figures/``.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Iterable, Iterator

from tqdm.auto import tqdm

__all__ = ["BATCH_ENV_VAR", "ProgressBar", "batch_environment", "in_batch_run", "progress_bar"]

#: The type of a bar :func:`progress_bar` returns.
ProgressBar = tqdm
#: Set to ``1`` by a batch build (and the test suite) for the kernels it starts.
BATCH_ENV_VAR = "REUSEPRIOR_BATCH"
#: tqdm's own switch (its default for ``disable``), for bars of other libraries.
TQDM_ENV_VAR = "TQDM_DISABLE"


def in_batch_run() -> bool:
    """Whether this process runs as part of a batch build (``$REUSEPRIOR_BATCH=1``)."""
    return os.environ.get(BATCH_ENV_VAR) == "1"


@contextmanager
def batch_environment() -> Iterator[None]:
    """Mark the processes started inside the block (notebook kernels) as a
    batch run: sets ``$REUSEPRIOR_BATCH=1`` and ``$TQDM_DISABLE=1`` in this
    process's environment, which they inherit, and restores both after.
    tqdm reads ``$TQDM_DISABLE`` when it is imported, so bars of this process
    (papermill's bar of cells) stay as they are."""
    saved = {name: os.environ.get(name) for name in (BATCH_ENV_VAR, TQDM_ENV_VAR)}
    os.environ[BATCH_ENV_VAR] = "1"
    os.environ[TQDM_ENV_VAR] = "1"
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def progress_bar(iterable: Iterable | None = None, *, disable: bool = False, **kwargs: Any) -> ProgressBar:
    """A ``tqdm.auto`` bar (a widget in Jupyter, text in a terminal) with
    ``kwargs`` as tqdm takes them, disabled when ``disable`` is true or in a
    batch run (:func:`in_batch_run`). A disabled bar still iterates and
    accepts ``update``/``set_postfix_str``, so callers need no second branch."""
    return tqdm(iterable, disable=disable or in_batch_run(), **kwargs)
