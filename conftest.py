"""Test-suite wide settings.

* ``--runslow`` enables tests marked ``@pytest.mark.slow`` (full model zoos,
  paper-scale checks); they are skipped by default to keep CI short.
* Figures show inline in the notebooks nbval runs, whatever ``MPLBACKEND``
  names (the notebooks' ``setup`` switches a kernel to the inline backend);
  the test processes themselves draw with Agg.
* Notebooks executed by nbval write their figures and measurements into
  temporary folders (``$REUSEPRIOR_FIGURES_DIR``, ``$REUSEPRIOR_MEASURED_DIR``),
  never into the committed ``figures/`` or ``build/measured/``.
* A notebook cell tagged ``cpu-dependent-output`` (float32 training and
  live recomputations: bit for bit only on the same CPU kernels) has its
  output compared only when the notebook's recorded ``cpu_kernels`` (written
  by ``python -m reuseprior build``) equal this machine's; otherwise it is
  executed, its in-cell assertions hold, and the summary counts it as not
  compared.
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

from reuseprior.core.cpu import cpu_kernels
from reuseprior.reporting.build import CPU_DEPENDENT_TAG, NOTEBOOK_METADATA_KEY

#: Marks the report of a cpu-dependent cell executed without comparing its output (it travels
#: from pytest-xdist's workers, where the cells are collected, to the process that prints the summary).
_UNCOMPARED_PROPERTY = ("cpu-dependent output", "not compared")
#: node ids of those cells, as their reports arrive
_UNCOMPARED: set[str] = set()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: long-running checks (run with --runslow)")
    # Agg in the test processes (an MPLBACKEND variable would also reach the
    # kernels nbval starts, where setup() switches back to the inline backend).
    matplotlib.use("Agg")
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if "REUSEPRIOR_FIGURES_DIR" not in os.environ:
        os.environ["REUSEPRIOR_FIGURES_DIR"] = tempfile.mkdtemp(prefix="reuseprior-test-figures-")
    if "REUSEPRIOR_MEASURED_DIR" not in os.environ:  # keep make figures' timings in build/measured/
        os.environ["REUSEPRIOR_MEASURED_DIR"] = tempfile.mkdtemp(prefix="reuseprior-test-measured-")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        cell, options = getattr(item, "cell", None), getattr(item, "options", None)  # nbval's notebook cells
        if cell is None or options is None or CPU_DEPENDENT_TAG not in cell.metadata.get("tags", []):
            continue
        recorded = item.parent.nb.metadata.get(NOTEBOOK_METADATA_KEY, {}).get("cpu_kernels")
        if recorded != cpu_kernels():
            options["check"] = False
            item.user_properties.append(_UNCOMPARED_PROPERTY)
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


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and any(tuple(p) == _UNCOMPARED_PROPERTY for p in report.user_properties):
        _UNCOMPARED.add(report.nodeid)


def pytest_terminal_summary(terminalreporter) -> None:
    if _UNCOMPARED:
        notebooks = sorted({nodeid.split("::")[0] for nodeid in _UNCOMPARED})
        terminalreporter.write_line(
            f"{len(_UNCOMPARED)} notebook cells tagged {CPU_DEPENDENT_TAG} were executed without comparing their "
            f"output: {', '.join(notebooks)} record other CPU kernels than this machine's, or none "
            f"({cpu_kernels()}); make figures on this kind of machine records them"
        )
