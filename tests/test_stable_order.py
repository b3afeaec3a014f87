"""Orders that tie-breaks make total (reuseprior.core.ordering): the same rows
in the same order whichever SIMD sort kernels NumPy dispatches to."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from reuseprior.chapters.ch6_predictive_validity import (
    PROXY_SCORES,
    THESIS_SCORES,
    failure_examples,
    overestimated_rows,
)
from reuseprior.core import paths
from reuseprior.core.ordering import sort_rows

#: 40 architectures in reverse alphabetical order, 24 of them tied at the top
#: gap: more than 16 rows, so NumPy's quicksort leaves its insertion-sort path.
NAMES = [f"arch{i:02d}" for i in range(40)][::-1]


def _tied_frame() -> pd.DataFrame:
    score = np.array([1.0] * 24 + [0.0] * 16)
    return pd.DataFrame({"arch": NAMES, "accuracy": 50.0, "params": score})


def test_sort_rows_breaks_ties_by_the_named_column() -> None:
    frame = _tied_frame()
    ordered = sort_rows(frame, "params", then="arch", ascending=False)
    expected = sorted(NAMES, key=lambda n: (-float(frame.loc[frame["arch"] == n, "params"].iloc[0]), n))
    assert ordered["arch"].tolist() == expected
    # the old call (no tie-break) keeps the tied rows in another order: the input's at best
    untied = frame.sort_values("params", ascending=False, kind="stable")["arch"].tolist()
    assert untied[:3] != expected[:3]


def test_sort_rows_keeps_one_flag_per_key_and_missing_last() -> None:
    frame = pd.DataFrame({"n": [2, 2, 1, 2], "cost": [1.0, np.nan, 0.5, 1.0], "arch": ["d", "c", "b", "a"]})
    ordered = sort_rows(frame, ["n", "cost"], then="arch", ascending=[False, True])
    assert ordered["arch"].tolist() == ["a", "d", "c", "b"]
    with pytest.raises(ValueError, match="tie-break"):
        sort_rows(frame, "n", then=[])
    with pytest.raises(ValueError, match="2 flags for 1"):
        sort_rows(frame, "n", then="arch", ascending=[True, False])


def test_overestimated_rows_list_tied_architectures_by_name() -> None:
    """All 24 top rows over-estimate equally: the first three by name are listed."""
    rows = overestimated_rows(_tied_frame(), ["params"], k=3)
    assert rows["arch"].tolist() == ["arch16", "arch17", "arch18"]


def _disabled_features() -> str:
    """Every SIMD group above NumPy's baseline, by the names this NumPy accepts
    in ``NPY_DISABLE_CPU_FEATURES`` (AVX-512 and AVX2 groups on x86)."""
    simd = np.__config__.CONFIG["SIMD Extensions"]
    return " ".join([*simd.get("found", []), *simd.get("not found", [])])


_CHILD = (
    "import json, numpy as np;"
    "from reuseprior.chapters.ch6_predictive_validity import failure_examples, PROXY_SCORES, THESIS_SCORES;"
    "rows = failure_examples('nb201', PROXY_SCORES + THESIS_SCORES, k=3);"
    "print(json.dumps({'found': np.__config__.CONFIG['SIMD Extensions'].get('found', []),"
    " 'rows': rows[['score', 'arch']].values.tolist()}))"
)


def test_failure_examples_equal_without_simd_sort_kernels() -> None:
    """The chapter 6 cell whose ties (3 rows for params and FLOPs, 4 for the
    entropy, 201 for PE/CE) NumPy's AVX2 and AVX-512 quicksorts ordered
    differently: the same rows with the vector kernels disabled."""
    here = failure_examples("nb201", PROXY_SCORES + THESIS_SCORES, k=3)[["score", "arch"]].values.tolist()
    env = dict(os.environ, NPY_DISABLE_CPU_FEATURES=_disabled_features(), PYTHONPATH=str(paths.ROOT))
    done = subprocess.run(
        [sys.executable, "-c", _CHILD], env=env, cwd=paths.ROOT, capture_output=True, text=True, check=True
    )
    child = json.loads(done.stdout.strip().splitlines()[-1])
    assert child["found"] == [], f"NumPy kept {child['found']} with NPY_DISABLE_CPU_FEATURES={_disabled_features()!r}"
    assert child["rows"] == here
