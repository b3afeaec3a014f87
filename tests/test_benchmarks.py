"""The benchmark scripts run end to end on a small case (their numbers are
measurements, printed and written to JSON, not asserted)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from reuseprior.chapters.ch4_sharing_training import table42_study as table42
from reuseprior.zoo.scoring import get_zoo

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_proxy_memory_benchmark_measures_each_batch_in_its_own_process_and_extrapolates(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the spawned children import the script by name
    import bench_proxy_memory

    arch = get_zoo("nb201").catalogue()["arch"].iloc[0]
    out = tmp_path / "memory.json"
    assert (
        bench_proxy_memory.main(
            ["--zoo", "nb201", "--arch", arch, "--proxies", "grad_norm", "--batches", "1", "8", "--out", str(out)]
        )
        == 0
    )
    (result,) = json.loads(out.read_text())["results"]
    runs = pd.DataFrame(result["runs"])
    assert runs["batch"].tolist() == [1, 8] and (runs["peak_gib"] >= runs["before_gib"]).all()
    assert runs["value"].map(math.isfinite).all() and result["zoo_batch"] == 64
    # the fitted line passes through both measurements and predicts the zoo's batch from them
    fitted = result["fixed_gib"] + result["gib_per_example"] * runs["batch"]
    assert (fitted - runs["proxy_gib"]).abs().max() < 1e-9
    assert math.isclose(
        result["predicted_peak_gib"], runs["before_gib"].max() + result["fixed_gib"] + 64 * result["gib_per_example"]
    )
    assert "batch 64: about" in capsys.readouterr().out


def test_registry_listing_benchmark_times_each_answer_against_the_torch_import(tmp_path, monkeypatch, capsys):
    """One round: every answer of issue 74 and the torch import timed in a fresh interpreter, their ratios
    printed and written with the machine and the date (measured, not asserted)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import bench_registry_listing

    out = tmp_path / "listing.json"
    assert bench_registry_listing.main(["--rounds", "1", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    answers = [name for name in bench_registry_listing.COMMANDS if name != "import torch"]
    assert list(result["ratio_to_import_torch"]) == answers and result["machine"]["cores"] and result["date"]
    assert all(len(times) == 1 and times[0] > 0 for times in result["seconds"].values())
    printed = capsys.readouterr().out
    assert all(f"{name} " in printed for name in answers) and "x import torch" in printed


@pytest.mark.dask
def test_study_benchmark_stores_the_same_rows_on_1_and_2_workers(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import bench_study_dask

    out = tmp_path / "study.json"
    assert bench_study_dask.main(["--runs", "2", "--steps", "5", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert [r["workers"] for r in result["results"]] == [1, 2] and result["ratio"] > 0
    assert "rows identical" in capsys.readouterr().out


def test_fit_throughput_benchmark_stores_the_fields_the_notebooks_table_reads(tmp_path, monkeypatch, capsys):
    """On the CPU, a tiny case: each recipe's row carries its width, the same run's plain step and the
    ratio, and ``device_throughput`` reads them back from the file as the device script stores it."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import bench_fit_throughput

    out = tmp_path / "fit_throughput_cpu_w0.25_b8.json"
    argv = ["--device", "cpu", "--models", "V2-B0-original", "--width", "0.25", "--batch", "8", "--steps", "3"]
    assert (
        bench_fit_throughput.main([*argv, "--recipes", "official-steps-peruse", "adamw-cosine", "--out", str(out)]) == 0
    )
    table = table42.device_throughput(tmp_path)
    assert list(table["recipe"]) == ["official-steps-peruse", "adamw-cosine"] and (table["width"] == 0.25).all()
    assert (table["plain step ms"] > 0).all() and table["plain step ms"].nunique() == 1  # one baseline per model
    stored = json.loads(out.read_text())["single"]
    assert [round(r["step_ms"] / r["plain_step_ms"], 9) for r in stored] == [round(v, 9) for v in table["fit / plain"]]
    assert "x the plain step" in capsys.readouterr().out


def test_rule_power_benchmark_never_finds_the_rule_deciding_more_often_than_its_t_interval(tmp_path, monkeypatch):
    """The rule reproduces a "greater" claim only where the t-interval excludes 0, so its measured power
    is at most the t-test's on the same samples; both are shares of the samples drawn."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import bench_rule_power

    out = tmp_path / "power.json"
    assert bench_rule_power.main(["--pairs", "3", "6", "--samples", "200", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["pairs"] for r in rows] == [3, 6]
    assert all(0 <= r["rule"] <= r["t-test"] <= 1 for r in rows)
    assert rows[0]["rule"] == 0  # 3 pairs: the permutation p cannot go below 0.25
