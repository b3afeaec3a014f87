"""reuseprior.zoo.device_agreement: the proxies of one zoo computed on two devices, compared."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reuseprior.zoo.device_agreement import device_agreement


def test_agreement_reads_ranks_relative_differences_and_one_sided_gaps():
    archs = ["a", "b", "c", "d", "e"]
    cpu = pd.DataFrame({"snip": [1.0, 2.0, 3.0, 4.0, np.nan], "grasp": [1.0, -1.0, 2.0, np.nan, 5.0]}, index=archs)
    gpu = pd.DataFrame({"snip": [1.0, 2.2, 3.0, 4.0, np.nan], "grasp": [-1.0, 1.0, 2.0, 1.0, 5.0]}, index=archs)
    table = device_agreement(cpu, gpu, ["snip", "grasp"], archs).set_index("proxy")
    assert table.at["snip", "n"] == 4 and table.at["snip", "spearman"] == pytest.approx(1.0)
    assert (
        table.at["snip", "largest relative difference"] == pytest.approx(0.1) and table.at["snip", "largest at"] == "b"
    )
    assert table.at["snip", "both missing"] == 1 and table.at["snip", "one missing"] == 0
    assert table.at["grasp", "one missing"] == 1 and table.at["grasp", "largest relative difference"] == pytest.approx(
        2.0
    )
    assert table.at["grasp", "spearman"] < 1


def test_an_architecture_missing_from_either_table_is_named():
    cpu = pd.DataFrame({"snip": [1.0]}, index=["a"])
    with pytest.raises(KeyError, match="'b'"):
        device_agreement(cpu, cpu, ["snip"], ["a", "b"])
