"""``scripts/measure_make.py`` (``make timings``): what it reads from pytest's output and what it writes,
which the README quotes (``<!-- source: data/make_timings.csv... -->``; issue 45, item 4)."""

from __future__ import annotations

import csv
import importlib.util

import pytest

from reuseprior.core import paths

_SPEC = importlib.util.spec_from_file_location("measure_make", paths.ROOT / "scripts" / "measure_make.py")
measure_make = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(measure_make)

XDIST_LOG = """
created: 2/2 workers
2 workers [2108 items]

........s...
= 2093 passed, 15 skipped, 3 warnings in 1440.12s (0:24:00) =
"""
PLAIN_LOG = """
collected 1904 items / 52 deselected / 1852 selected

...F..E
= 1 failed, 1849 passed, 1 error in 301.50s (0:05:01) =
"""


@pytest.mark.parametrize(
    ("log", "expected"),
    [
        (XDIST_LOG, {"items": 2108, "passed": 2093, "skipped": 15, "pytest_minutes": 24.0}),
        (PLAIN_LOG, {"items": 1852, "passed": 1849, "failed": 2, "pytest_minutes": 5.0}),
        (
            "bringing up nodes...\n....\n1738 passed, 5 skipped in 95.40s (0:01:35)\n",
            {"passed": 1738, "skipped": 5, "pytest_minutes": 1.6},
        ),
        ("no pytest here", {}),
    ],
)
def test_the_counts_and_minutes_come_from_pytests_summary(log, expected):
    assert measure_make.pytest_summary(log) == expected


def test_the_rows_are_written_under_the_header_and_read_back(tmp_path):
    path = tmp_path / "timings.csv"
    measure_make.write_rows([{"step": "test", "command": "make test", "minutes": 24.5, "items": 2108}], path)
    text = path.read_text()
    assert text.startswith(measure_make.HEADER)
    (row,) = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    assert (row["step"], row["minutes"], row["items"], row["passed"]) == ("test", "24.5", "2108", "")


def test_the_stored_timings_have_the_scripts_columns_and_steps():
    """The README's markers select columns and steps of this file: they must be the script's."""
    lines = (paths.ROOT / "data" / "make_timings.csv").read_text().splitlines()
    rows = list(csv.DictReader(line for line in lines if not line.startswith("#")))
    assert tuple(rows[0]) == measure_make.COLUMNS
    assert [r["step"] for r in rows] == [s for s in measure_make.STEPS if s in {r["step"] for r in rows}]
    assert all(r["command"] == measure_make.STEPS[r["step"]] for r in rows)


def test_only_a_prefix_of_the_steps_is_accepted(capsys):
    with pytest.raises(SystemExit):
        measure_make.main(["--steps", "test"])
    assert "must be a prefix" in capsys.readouterr().err
