"""Test-suite wide settings.

* ``--runslow`` enables the tests marked ``@pytest.mark.slow``: the two that
  ``make test`` cannot afford or cannot run offline (Tables 5.1-5.4 to full
  depth, about half an hour; a fetch from the package index). Every other
  check runs in ``make test``.
* Figures show inline in the notebooks nbval runs, whatever ``MPLBACKEND``
  names (the notebooks' ``setup`` switches a kernel to the inline backend);
  the test processes themselves draw with Agg.
* Notebooks executed by nbval write their figures and measurements into
  temporary folders (``$REUSEPRIOR_FIGURES_DIR``, ``$REUSEPRIOR_MEASURED_DIR``),
  never into the committed ``figures/`` or ``build/measured/``.
* nbval re-executes the notebooks as the batch build executed them
  (``$REUSEPRIOR_BATCH=1``, ``$TQDM_DISABLE=1``: :mod:`reuseprior.core.progress`),
  so they draw no progress bar, as the committed outputs hold none.
* Every notebook cell is compared on every machine: nothing is exempt by
  tag or by the CPU that executed the notebook (``# NBVAL_IGNORE_OUTPUT``
  cells show measurements beside a compared verdict).
* Ctrl-C is Python's ``KeyboardInterrupt`` in every test process, also when
  the suite was started in the background by a non-interactive shell
  (``make test &``), which starts it with SIGINT ignored: the interruption
  tests send themselves SIGINT.
"""

from __future__ import annotations

import os
import signal
import tempfile

import matplotlib
import pytest
import torch


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: the checks make test leaves out: half an hour of engine, or the network (run with --runslow)"
    )
    # Agg in the test processes (an MPLBACKEND variable would also reach the
    # kernels nbval starts, where setup() switches back to the inline backend).
    matplotlib.use("Agg")
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if "REUSEPRIOR_FIGURES_DIR" not in os.environ:
        os.environ["REUSEPRIOR_FIGURES_DIR"] = tempfile.mkdtemp(prefix="reuseprior-test-figures-")
    os.environ.setdefault("REUSEPRIOR_BATCH", "1")  # as python -m reuseprior build runs the kernels
    os.environ.setdefault("TQDM_DISABLE", "1")
    if "REUSEPRIOR_MEASURED_DIR" not in os.environ:  # keep make figures' timings in build/measured/
        os.environ["REUSEPRIOR_MEASURED_DIR"] = tempfile.mkdtemp(prefix="reuseprior-test-measured-")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def one_torch_thread():
    """One torch thread for the test (``pytest.mark.usefixtures("one_torch_thread")``):
    tiny models train and score much faster single-threaded on a shared CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
