"""Every missing stored score carries its reason (:func:`reuseprior.zoo.scoring.scores.missing_score_reasons`).

A NaN score in a stored zoo table is one of: not yet computed (``pending``), its architecture refused, out of
memory, undefined on the model, or another failure, each with its message in ``errors``. A NaN with no message
is a silent gap: the scorer never stores one, and the stored tables hold none.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import pandas as pd
import pytest

from reuseprior.baselines.registry import ZOO_PROXIES
from reuseprior.zoo.scoring import fill, load_scores
from reuseprior.zoo.scoring.registry import REUSE_SCORES
from reuseprior.zoo.scoring.scores import MISSING_REASONS, missing_score_reasons


def _row(arch: str, synflow: float, PG: float, errors: dict | None = None, pending: str | None = None) -> dict:
    return {
        "arch": arch,
        "synflow": synflow,
        "PG": PG,
        "errors": json.dumps(errors) if errors else np.nan,
        "pending": pending,
    }


def test_each_gap_is_read_as_its_reason() -> None:
    rows = pd.DataFrame(
        [
            _row("a", 1.0, 2.0),
            _row("b", np.nan, 2.0, pending="synflow"),
            _row("c", np.nan, np.nan, {"build": "needs 40 GiB"}, pending="synflow"),
            _row("d", np.nan, 2.0, {"synflow": "out of memory (worker limit 8 GiB)"}),
            _row("e", np.nan, 2.0, {"synflow": "ValueError: SynFlow undefined: R = inf"}),
            _row("f", np.nan, 2.0, {"synflow": "RuntimeError: modified by an inplace operation"}),
            _row("g", np.nan, 2.0),
            _row("h", 1.0, np.nan, {"reuse": "aten.foo: no counting rule"}),
            _row("i", 1.0, np.nan, pending="reuse"),
            _row("j", -np.inf, 2.0),
        ]
    )
    table = missing_score_reasons(rows, ["synflow", "PG"])
    assert table[["score", "reason", "for example"]].values.tolist() == [
        ["synflow", "not yet computed", "b"],
        ["synflow", "architecture refused", "c"],
        ["synflow", "out of memory", "d"],
        ["synflow", "undefined on the model", "e"],
        ["synflow", "failed", "f"],
        ["synflow", "no reason recorded", "g"],
        ["PG", "not yet computed", "i"],
        ["PG", "architecture refused", "c"],
    ]
    assert table.loc[table["score"] == "PG", "rows"].tolist() == [1, 2], "c and h: refused by build or by counting"
    assert set(table["reason"]) <= set(MISSING_REASONS)


@pytest.mark.parametrize("zoo", ["nb201", "pytorchcv", "timm", "torchvision"])
def test_no_stored_score_is_missing_without_a_reason(zoo: str) -> None:
    rows = load_scores(zoo)
    scores = [s for s in (*ZOO_PROXIES, *REUSE_SCORES) if s in rows.columns]
    table = missing_score_reasons(rows, scores)
    silent = table[table["reason"] == "no reason recorded"]
    assert silent.empty, f"{zoo}: scores missing with no reason in errors:\n{silent.to_string()}"


def test_a_fill_leaves_a_refused_architecture_alone() -> None:
    """A refused row lists its proxies in ``pending`` (the scoring run skipped them) but a fill does not try to
    build it again: that is the scoring run's, with ``--retry-out-of-memory``."""
    wants = functools.partial(fill._wanted, proxies=["snip", "naswot"], retry=True)
    refused = _row("big", np.nan, np.nan, {"build": "out of memory before building: big needs 40 GiB"}, "snip naswot")
    assert wants(refused) == set()
    assert wants(_row("small", 1.0, 2.0, pending="snip naswot")) == {"snip", "naswot"}
