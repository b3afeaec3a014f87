"""Markers of the test files, given here rather than in each file (markers in pyproject.toml):

* ``dask``: a test that uses a Dask client fixture (a fixture named ``*client``);
* ``heavy``: the checks that take more than about :data:`HEAVY_SECONDS` on the
  2-core machine (measured with ``--durations``, issue 45), named in
  :data:`HEAVY_TESTS` (a test, all its parametrizations) or by the expensive
  module fixture they share (:data:`HEAVY_FIXTURES`: marking one of its tests
  alone would only move the fixture's cost to the next).

``make test`` runs them all; ``make test-fast`` (``-m "not heavy and not dask
and not wheel and not book"``), the check between commits, leaves them out,
and lists at its end any test it ran that took longer than
:data:`HEAVY_SECONDS`, to be named here. An entry that names no collected test
is an error (a renamed test would otherwise silently join the fast path).

**The long work first** (``make test``: pytest-xdist's ``--dist loadscope
--no-loadscope-reorder``): in a pytest-xdist worker, the notebooks come first,
then the test files holding a heavy, ``wheel`` or ``book`` check, then the
rest, each group in collection order and every file's (notebook's) items
together and in order; so the two workers end on short files, not one of
them on a two-minute file while the other waits (xdist's own order, by the
number of tests in a file, put the three tests of ``test_cross_kernel.py``
and of ``test_wheel.py`` last). A run without workers keeps pytest's order.
"""

from __future__ import annotations

import contextlib
import os

import pytest

from tests import toy_study

#: what makes a check heavy on the 2-core machine (seconds of set-up and call)
HEAVY_SECONDS = 5.0
#: tests (``file::test``, every parametrization) that take over :data:`HEAVY_SECONDS`, and why
HEAVY_TESTS: dict[str, str] = {
    "tests/test_compare.py::test_the_files_are_written_behind_a_closed_pipe": "the command in a subprocess",
    "tests/test_study_runner.py::test_runs_whose_workers_die_are_named_with_the_cause_and_the_command_fails": (
        "a LocalCluster of worker processes, four of them killed"
    ),
    "tests/test_counting_zoo_recount.py::test_stored_zoo_rows_are_recounted_to_the_stored_quantities": (
        "seven zoo models built and counted again"
    ),
    "tests/test_ch4_table42_study.py::test_the_stored_step_counts_are_recomputed_for_one_model": (
        "three steps of V2-B0 at width 1.0, three times"
    ),
    "tests/test_ch4_table42_study.py::test_the_gpu_profile_runs_the_protocol_then_the_chosen_recipe_on_a_tiny_plan": (
        "the recipe protocol and the chosen recipe trained on a tiny plan"
    ),
    "tests/test_device_batches.py::test_the_package_imports_without_ipython": "every module imported in a subprocess",
    "tests/test_counting_zoo.py::test_full_torchvision_zoo_at_eval_crop": "80 classifiers at their eval crops",
    "tests/test_proxy_definitions.py::test_torchvision_flops_at_eval_crop_are_twice_the_published_multiply_adds": (
        "80 classifiers' FLOPs at their eval crops"
    ),
    "tests/test_notebook_outputs.py::test_every_cell_is_compared_whatever_its_tags_and_metadata": "nbval subprocesses",
    "tests/test_notebook_outputs.py::test_a_changed_stored_value_fails_make_tests_comparison": "nbval subprocess",
    "tests/test_notebook_outputs.py::test_figures_show_inline_when_the_environment_names_agg": "papermill kernels",
    "tests/test_cross_kernel.py::test_chapter_3_quick_populations_are_the_committed_ones_on_other_kernels": (
        "chapter 3's quick populations retrained"
    ),
    "tests/test_cross_kernel.py::test_chapter_4_quick_runs_are_the_committed_ones_on_other_kernels": (
        "chapter 4's quick runs retrained"
    ),
    "tests/test_ch7_sharing_schemes.py::test_the_stored_floor_is_of_the_study_and_recomputes": "a linear floor refit",
    "tests/test_ch6_figures.py::test_every_scatter_panel_of_the_stored_rows_shows_finite_spread_data_with_units": (
        "every zoo's scatter grid drawn"
    ),
    "tests/test_paper_profile_smoke.py::test_paper_profile_runs_every_path_on_cpu": "paper recipes trained briefly",
    "tests/test_stable_order.py::test_failure_examples_equal_without_simd_sort_kernels": "a subprocess per kernel set",
    "tests/test_benchmarks.py::test_registry_listing_benchmark_times_each_answer_against_the_torch_import": (
        "five fresh interpreters, torch imported in one"
    ),
    "tests/test_benchmarks.py::test_proxy_memory_benchmark_measures_each_batch_in_its_own_process_and_extrapolates": (
        "a process per batch"
    ),
    "tests/test_revolver_population.py::test_population_best_validation_accuracy_improves_on_digits": (
        "a population trained"
    ),
    "tests/test_ch4_fit_study.py::test_the_prior_is_read_beside_the_trained_accuracy": "models trained",
    "tests/test_ch7_generator_sensitivity.py::test_a_live_slice_equals_the_stored_table": "a live slice counted",
    "tests/test_zoo.py::test_minibatch_sensitivity_reproduces_the_stored_minibatch_and_resumes": "proxies rescored",
    "tests/test_training.py::test_sigkilled_process_resumes_bit_identical": "two train processes, one killed",
    "tests/test_sharing.py::test_tie_survives_torch_compile_with_inductor": "inductor compiles the model",
    "tests/test_ch7_sharing_schemes.py::test_the_quick_profiles_live_slice_matches_its_stored_row": (
        "an epoch of the study retrained"
    ),
}
#: ``file -> module fixture``: the tests of that file that use the fixture are heavy (it runs a study, or
#: computes every row once for all of them)
HEAVY_FIXTURES: dict[str, str] = {
    "tests/test_ch4_real_study.py": "stored",
    "tests/test_ch8_screening_study.py": "stored",
    "tests/test_graph_tables.py": "every_row",
    "tests/test_revolver_study.py": "stored",
    "tests/test_seed_bookkeeping.py": "npas",
}


def _heavy(item: pytest.Item) -> bool:
    path, _, rest = item.nodeid.partition("::")
    test = rest.split("[")[0]
    return f"{path}::{test}" in HEAVY_TESTS or HEAVY_FIXTURES.get(path) in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    modules = {}
    for item in items:
        if any(name.endswith("client") for name in getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.dask)
        if _heavy(item):
            item.add_marker(pytest.mark.heavy)
        if getattr(item, "module", None) is not None:
            modules[item.nodeid.partition("::")[0]] = item.module
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items[:] = _long_work_first(items)
    named = [(entry.partition("::")[0], entry.partition("::")[2]) for entry in HEAVY_TESTS]
    named += list(HEAVY_FIXTURES.items())
    stale = [f"{path}: {name}" for path, name in named if path in modules and not hasattr(modules[path], name)]
    if stale:
        raise pytest.UsageError(
            f"tests/conftest.py names heavy tests or fixtures that their file does not define (renamed?): {stale}"
        )


def _long_work_first(items: list[pytest.Item]) -> list[pytest.Item]:
    """``items`` with the notebooks' first, then the files' with a heavy, wheel or book check (see above)."""
    group: dict[str, int] = {}
    for item in items:
        path = item.nodeid.partition("::")[0]
        if path.endswith(".ipynb"):
            rank = 0
        else:
            rank = 1 if any(item.get_closest_marker(mark) for mark in ("heavy", "wheel", "book")) else 2
        group[path] = min(group.get(path, 2), rank)
    return sorted(items, key=lambda item: group[item.nodeid.partition("::")[0]])  # stable: the order within


#: seconds of set-up and call of each test this process saw (on pytest-xdist's controller: every worker's)
_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when in ("setup", "call"):
        _SECONDS[report.nodeid] = _SECONDS.get(report.nodeid, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """In a run that leaves the heavy checks out, the tests it ran that were as slow as one."""
    if "not heavy" not in (config.option.markexpr or ""):
        return
    slow = sorted(((s, n) for n, s in _SECONDS.items() if s > HEAVY_SECONDS), reverse=True)
    if slow:
        terminalreporter.section(f"tests over {HEAVY_SECONDS:.0f} s in the fast path")
        terminalreporter.line("name them in tests/conftest.py (HEAVY_TESTS, HEAVY_FIXTURES) if always this slow:")
        for seconds, nodeid in slow:
            terminalreporter.line(f"{seconds:6.1f} s  {nodeid}")


@pytest.fixture
def register():
    """``register(REGISTRY, name, entry)``: a toy entry in a registry (:class:`reuseprior.core.registry.Registry`)
    for this test only; the registry is restored when the test ends."""
    with contextlib.ExitStack() as stack:
        yield lambda registry, name, entry: stack.enter_context(registry.registered(name, entry))


@pytest.fixture
def toy_studies():
    """The toy studies of ``tests/toy_study.py`` registered for this test only (the modules that run them
    use it for every test: ``pytestmark = pytest.mark.usefixtures("toy_studies")``)."""
    with toy_study.registered() as entries:
        yield entries
