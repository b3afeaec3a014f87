"""Chapter 6 on timm (issue 72): the declared family of rank-correlation differences, the reading with the
resolution held fixed, and the data-dependent proxies' sample, devices and non-finite values."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from reuseprior.chapters.ch6_predictive_validity import estimands, timm_proxies, timm_rows
from reuseprior.chapters.ch6_predictive_validity.timm import HEADLINE
from reuseprior.core.verdict_policy import ALPHA, interval_verdict


def _timm(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """Rows as :func:`timm_rows` gives them: PG ranks top-1 within a resolution, #params only across."""
    rng = np.random.default_rng(seed)
    img = rng.choice([224, 288], size=n)
    quality = rng.normal(size=n)
    rows = pd.DataFrame(
        {
            "arch": [f"a{k:03d}" for k in range(n)],
            "img_size": img,
            "in1k_only": np.arange(n) % 6 != 0,
            "family": np.array(["convolutional", "transformer", "hybrid"])[np.arange(n) % 3],
            "accuracy": img / 20 + quality,
            "PG": quality + rng.normal(scale=0.2, size=n),
            "PG_prime": quality,
            "total_surprisal": quality + img / 20,
            "params": img / 20 + rng.normal(scale=0.01, size=n),
            "flops": img / 20 + rng.normal(scale=0.5, size=n),
            "synflow": rng.normal(size=n),
            "errors": "",
        }
    )
    return rows


def test_the_family_is_declared_with_its_bonferroni_level():
    assert len(estimands.TIMM_FAMILY) == 11
    assert estimands.family_level() == pytest.approx(ALPHA / 11)
    keys = [e.key for e, _ in estimands.family_estimands()]
    assert len(set(keys)) == len(keys) == 11 + 3 * 4
    assert "timm/in1k/all/within/PG-flops" in keys and "nb201/all/all/pooled/total_surprisal-flops" in keys
    findings = estimands.family_findings()
    assert [f.where["key"] for f in findings] == keys and all(f.seeds is None for f in findings)


def test_the_declared_family_is_computed_with_a_verdict_read_from_each_interval():
    table = estimands.declared_family(n_boot=300, timm=_timm(), zoos=()).set_index("key")
    assert len(table) == 11 and (table["family level"] == estimands.family_level()).all()
    for _, row in table.iterrows():
        assert row["verdict"] == interval_verdict(row["low"], row["high"], "greater")
        assert row["low"] <= row["difference"] <= row["high"]
    within = table.loc["timm/in1k/all/within/PG-params"]
    assert within["strata"] == 2 and within["verdict"] == "reproduced"  # #params ranks nothing within a size
    assert table.loc["timm/in1k/all/pooled/PG-params", "strata"] == 1
    assert (
        table.loc["timm/in1k/hybrid/pooled/PG-params", "n"]
        == ((_timm()["family"] == "hybrid") & _timm()["in1k_only"]).sum()
    )


def test_the_resolution_table_gives_each_stratum_the_pooled_within_and_the_mixed_rho():
    table = estimands.timm_by_resolution(_timm(), n_boot=20)
    pg = table[table["score"] == "PG"].set_index("rows")
    assert list(pg.index) == [estimands.POOLED, estimands.WITHIN, "224 px", "288 px"]
    assert (table["subset"] == HEADLINE).all()
    params = table[table["score"] == "#params"].set_index("rows")
    assert params.at[estimands.POOLED, "rho"] > 0.5 and abs(params.at[estimands.WITHIN, "rho"]) < 0.3
    assert table.iloc[-1]["score"] == "resolution (px)"


def test_infinite_values_are_listed_with_their_recorded_message_or_their_meaning():
    rows = pd.DataFrame(
        {
            "arch": ["a", "b", "c"],
            "naswot": [-math.inf, 1.0, -math.inf],
            "snip": [math.inf, 2.0, 1.0],
            "errors": ["", "", json.dumps({"naswot": "ValueError: the kernel is singular\nmore"})],
        }
    )
    found = timm_proxies.timm_non_finite(rows, ["snip", "naswot"])
    assert found[["score", "arch"]].values.tolist() == [["snip", "a"], ["naswot", "a"], ["naswot", "c"]]
    assert found["reason"].tolist() == [
        "no reason recorded",
        timm_proxies.NON_FINITE_MEANING[("naswot", -math.inf)],
        "ValueError: the kernel is singular",
    ]


def test_the_proxies_sample_is_counted_per_size_quintile():
    sizes = pd.Series(np.arange(1, 101) * 1e6, index=[f"a{k}" for k in range(100)])
    rows = pd.DataFrame({"arch": sizes.index, "snip": [1.0] * 10 + [np.nan] * 90, "errors": ""})
    rows.loc[95:, "snip"] = 2.0  # five of the largest
    rows.loc[5, "snip"] = -np.inf
    sample = timm_proxies.proxy_sample(rows, sizes).set_index("score").loc["snip"]
    assert (sample["finite"], sample["infinite"], sample["missing"]) == (14, 1, 85)
    quintiles = [c for c in sample.index if c.startswith("Q")]
    assert [int(sample[c]) for c in quintiles] == [9, 0, 0, 0, 5]
    assert sample["largest (M)"] == 100


def test_each_stored_proxy_is_given_the_device_of_the_fill_that_names_it():
    rows = pd.DataFrame({"arch": ["a", "b", "c"], "snip": [1.0, 2.0, np.nan], "naswot": [1.0, np.nan, np.nan]})
    meta = {
        "cpu_kernels": "x86_64 AVX2",
        "torch": "2.x",
        "filled": [
            {"scores": "flops", "archs": ["a"], "device": "cpu", "at": "t0"},  # no data-dependent proxy
            {"scores": "snip naswot", "archs": ["b"], "device": "NVIDIA H200", "at": "t1"},
        ],
    }
    table = timm_proxies.proxy_provenance(rows, meta=meta).set_index("device")
    assert table.at["NVIDIA H200", "rows"] == 1 and table.at["NVIDIA H200", "scores"] == "snip naswot"
    (first,) = [d for d in table.index if d.startswith("first scoring")]
    assert "AVX2" in first and table.at[first, "rows"] == 1
    meta["filled"].append({"scores": "snip", "rows": 3, "at": "t2"})  # an older fill: no architectures on record
    unknown = timm_proxies.proxy_provenance(rows, meta=meta).set_index("device")
    assert unknown.filter(like="not on record", axis=0)["rows"].sum() == 1


def test_the_proxies_are_read_on_the_systematic_sample_alone():
    rows = _timm(n=300)
    rows["order"] = np.arange(len(rows))
    rows["snip"] = rows["PG"] + 0.1
    rows["params"] = rows["img_size"].astype(float)
    table = timm_proxies.sample_correlations(rows, n_boot=50, min_rows=5).set_index(["subset", "score"])
    assert table.at[("all", "snip"), "n"] == 30 and table.at[("all", "PG"), "n"] == 30  # orders 0, 10, ..., 290
    assert set(table.index.get_level_values("score")) <= {*timm_proxies.PROXIES, "PG", "params"}


def test_the_cpu_s_stored_proxies_agree_in_rank_with_the_gpu_s_rescoring_of_them():
    table = timm_proxies.device_agreement_table(timm_rows()).set_index("proxy")
    assert table.at["snip", "n"] == 42  # the rows the CPU scored, none of the GPU's fills
    assert (table.loc[["snip", "fisher", "grad_norm", "naswot"], "spearman"] > 0.99).all()
    assert table.at["snip", "median relative difference"] < 1e-5
