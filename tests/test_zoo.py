"""Model zoos: NAS-Bench-201 cell space, ground-truth loaders, correlations, stored scores."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from reuseprior.baselines import proxies
from reuseprior.chapters import ch6_predictive_validity as pv
from reuseprior.chapters.ch6_predictive_validity import tables as pv_tables
from reuseprior.commands import main
from reuseprior.core import paths
from reuseprior.zoo import batch_sensitivity as bs
from reuseprior.zoo import correlation, pytorchcv_zoo, scoring
from reuseprior.zoo import nasbench201 as nb
from reuseprior.zoo.distributed import connect
from reuseprior.zoo.pytorchcv_zoo import build_pytorchcv, load_pytorchcv_zoo
from reuseprior.zoo.scoring import (
    UnknownArchitectureError,
    fill_proxies,
    import_scores,
    load_scores,
    rescore_proxies,
    score_architecture,
    score_zoo,
    scores_path,
    stored_columns,
)
from reuseprior.zoo.scoring import fill as scoring_fill
from reuseprior.zoo.scoring import scores as scoring_scores
from reuseprior.zoo.scoring.scores import _is_out_of_memory, says_out_of_memory
from reuseprior.zoo.store import meta_path
from reuseprior.zoo.torchvision_zoo import build_torchvision, load_torchvision_zoo

HAS_ANALOG = importlib.util.find_spec("analognasbench") is not None
HAS_PYTORCHCV = importlib.util.find_spec("pytorchcv") is not None


@pytest.fixture
def dask_client():
    """The scoring runs' Dask client, its one worker a thread of this process (quick to start;
    the worker processes, kills and memory limits are tested in test_zoo_store.py)."""
    with connect(workers=1, processes=False, say=lambda _: None) as client:
        yield client


def test_arch_strings_round_trip_and_bad_strings_are_explained():
    s = "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"
    arch = nb.parse_arch(s)
    assert arch == ("nor_conv_3x3", "none", "avg_pool_3x3", "skip_connect", "nor_conv_1x1", "nor_conv_3x3")
    assert nb.arch_to_string(arch) == s
    with pytest.raises(ValueError, match="3 '\\+'-separated nodes"):
        nb.parse_arch("|none~0|")
    with pytest.raises(ValueError, match="bad edge"):
        nb.parse_arch("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|")


def test_connectivity_of_cells():
    assert not nb.is_connected(("none",) * 6)
    # only 0->1->2->3 chain
    assert nb.is_connected(("skip_connect", "none", "skip_connect", "none", "none", "skip_connect"))
    # edges 0->1 and 2->3 only: node 2 is unreachable, so nothing reaches node 3
    assert not nb.is_connected(("skip_connect", "none", "none", "none", "none", "skip_connect"))
    assert sum(not nb.is_connected(a) for a in nb.all_archs()) == 341


def test_cell_parameter_counts_equal_the_reference_implementation():
    ref = pd.read_csv(paths.DATA_DIR / "nasbench201_reference_params.csv", comment="#")
    assert len(ref) >= 20
    for arch, expected in zip(ref["arch"], ref["params_xautodl"]):
        assert sum(p.numel() for p in nb.build_nb201(arch).parameters()) == expected, arch


def test_cell_forward_shapes_and_disconnected_cell_is_constant():
    x = torch.randn(2, 3, 32, 32)
    net = nb.build_nb201("|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|skip_connect~2|")
    assert net(x).shape == (2, 10)
    dead = nb.build_nb201(nb.arch_to_string(("none",) * 6)).eval()
    out = dead(x)
    assert torch.allclose(out[0], out[1])


@pytest.mark.skipif(not HAS_ANALOG, reason="analog-nasbench not installed")
def test_analog_nasbench_has_all_cells_and_the_inferred_encoding_holds():
    df = nb.load_analog_nasbench()
    assert len(df) == 15625 and df["arch"].is_unique
    check = nb.check_analog_encoding(df)
    assert check["disconnected"] == check["at_chance"] == check["disconnected_at_chance"] == 341
    assert check["best_arch_rank"] <= 10
    # conv3x3 everywhere beats avg-pool everywhere by far
    acc = df.set_index("arch")["accuracy"]
    assert acc[nb.arch_to_string(("nor_conv_3x3",) * 6)] > acc[nb.arch_to_string(("avg_pool_3x3",) * 6)] + 30
    # the seeded sample is a prefix-stable permutation
    assert nb.sample_archs(5, seed=0, df=df) == nb.sample_archs(10, seed=0, df=df)[:5]


def test_torchvision_zoo_recipe_rule_and_metadata():
    df = load_torchvision_zoo()
    assert len(df) >= 70 and df["arch"].is_unique
    row = df.set_index("arch").loc["resnet50"]
    assert row["recipe"] == "IMAGENET1K_V1" and row["accuracy"] == pytest.approx(76.13)
    assert (df["recipe"] != "IMAGENET1K_V1").sum() <= 3
    model = build_torchvision("squeezenet1_1")
    assert sum(p.numel() for p in model.parameters()) == df.set_index("arch").loc["squeezenet1_1", "published_params"]


@pytest.mark.skipif(not HAS_PYTORCHCV, reason="pytorchcv not installed")
def test_pytorchcv_zoo_errors_agree_between_readme_and_metainfo():
    df = load_pytorchcv_zoo()
    assert len(df) >= 250 and df["arch"].is_unique
    r = df.set_index("arch").loc["resnet18"]
    assert r["accuracy"] == pytest.approx(100 - r["top1_error"]) and r["top1_error"] > r["top5_error"]
    model = build_pytorchcv("resnet18")
    assert sum(p.numel() for p in model.parameters()) == r["published_params"]


def test_rank_correlation_and_bootstrap_interval():
    rng = np.random.default_rng(0)
    acc = rng.normal(size=200)
    perfect = correlation.bootstrap_rank_correlation(np.exp(acc), acc, n_boot=200)
    assert perfect["spearman"] == pytest.approx(1.0) and perfect["kendall"] == pytest.approx(1.0)
    noisy = correlation.bootstrap_rank_correlation(acc + rng.normal(size=200), acc, n_boot=200)
    assert noisy["spearman_lo"] < noisy["spearman"] < noisy["spearman_hi"]
    assert 0.5 < noisy["spearman"] < 0.9
    with_nan = correlation.bootstrap_rank_correlation([1, np.nan, 3, 4, np.inf], [1, 2, 3, 4, 5], n_boot=50)
    assert with_nan["n"] == 3


def test_stored_scores_are_reproduced_live():
    """Recompute the cheapest stored NAS-Bench-201 row and compare with the CSV, each score
    held to the cross-kernel tolerance chapter 6's live check holds it to
    (:data:`~reuseprior.chapters.ch6_predictive_validity.LIVE_TOLERANCE`, as a fraction of the
    larger magnitude): #params and FLOPs exactly (1e-9), SynFlow 1e-6 (float64 sums of float32
    initial weights whose last bit depends on fused multiply-adds) and NASWOT 1e-2 (float32
    kernels chosen per instruction set). Rows stored on AVX-512 and AVX2 machines must be
    reproduced on either, and on ATen's ``default`` kernels (measured: with
    ``ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41`` SynFlow moved by 3.4e-9 of its
    value, past a 1e-9 tolerance)."""
    version = scoring.published_version("nb201")
    stored = load_scores("nb201", version)
    if stored.empty:
        pytest.skip("no stored NAS-Bench-201 scores yet")
    row = stored.loc[stored["params"].idxmin()]
    same = scoring.comparable_scores(version)  # the definitions the stored version shares with this code
    names = [n for n in ("params", "flops", "synflow", "naswot") if n in same and pd.notna(row.get(n))]
    assert "params" in names and "naswot" in names
    live = score_architecture(scoring.get_zoo("nb201", version), row["arch"], proxies=names, reuse=False, row=row)
    assert pv.tolerance_kind("params") == pv.tolerance_kind("flops") == "exact"
    for name in names:
        a, b = float(live[name]), float(row[name])
        tolerance = pv.LIVE_TOLERANCE[pv.tolerance_kind(name)]
        assert abs(a - b) <= tolerance * max(abs(a), abs(b)), (name, a, b, tolerance)
    meta = json.loads((paths.DATA_DIR / "zoo_scores_v1_nb201.meta.json").read_text())
    assert meta["seed"] == 0 and meta["batch_size"] == 64


@pytest.mark.skipif(not HAS_ANALOG, reason="analog-nasbench not installed")
def test_score_zoo_stores_fixed_columns_and_resumes(tmp_path, dask_client):
    path = score_zoo("nb201", limit=2, data_dir=tmp_path, progress=False, full_every=2, client=dask_client)
    df = pd.read_csv(path).sort_values("order")
    assert list(df.columns) == stored_columns()
    assert df["order"].tolist() == [0, 1] and df["snip"].isna().tolist() == [False, True] and df["PG"].notna().all()
    score_zoo("nb201", limit=2, data_dir=tmp_path, progress=False, full_every=2, client=dask_client)
    assert len(pd.read_csv(path)) == 2  # nothing rescored
    meta = json.loads(meta_path(path).read_text())
    assert meta["batch_size"] == 64 and "sample photographs" in meta["batch"]


@pytest.mark.skipif(not HAS_ANALOG, reason="analog-nasbench not installed")
def test_fill_proxies_completes_stored_rows_as_a_full_scoring_would(tmp_path, dask_client):
    path = score_zoo("nb201", limit=1, data_dir=tmp_path, progress=False, full_every=10**6, client=dask_client)
    # position 0 is always fully scored; blank its proxies to play a data-free row
    df = pd.read_csv(path)
    df.loc[0, "snip"] = df.loc[0, "naswot"] = np.nan
    for name in ("grasp", "fisher", "grad_norm", "jacob_cov"):
        df.loc[0, name] = np.nan
    df.to_csv(path, index=False, float_format="%.17g")
    import_scores("nb201", data_dir=tmp_path)
    assert fill_proxies("nb201", data_dir=tmp_path, progress=False, client=dask_client) == 1
    filled = pd.read_csv(path).iloc[0]
    fresh = score_architecture(
        "nb201",
        filled["arch"],
        proxies=["snip", "naswot"],
        reuse=False,
        row=pd.Series({"arch": filled["arch"], "accuracy": filled["accuracy"]}),
    )
    for name in ("snip", "naswot"):
        assert filled[name] == pytest.approx(fresh[name], rel=1e-9)
    assert fill_proxies("nb201", data_dir=tmp_path, progress=False, client=dask_client) == 0  # nothing left to fill

    # a proxy that ran out of memory earlier is retried only when asked
    df = pd.read_csv(path)
    df.loc[0, "snip"] = np.nan
    df["errors"] = df["errors"].astype(object)  # read as float when empty
    df.loc[0, "errors"] = json.dumps({"snip": "RuntimeError: can't allocate memory (capped at 1 GiB)", "reuse": "kept"})
    df.to_csv(path, index=False, float_format="%.17g")
    import_scores("nb201", data_dir=tmp_path)
    assert fill_proxies("nb201", data_dir=tmp_path, progress=False, client=dask_client) == 0
    assert fill_proxies("nb201", data_dir=tmp_path, progress=False, retry_out_of_memory=True, client=dask_client) == 1
    retried = pd.read_csv(path).iloc[0]
    assert retried["snip"] == filled["snip"] and json.loads(retried["errors"]) == {"reuse": "kept"}
    assert fill_proxies("nb201", data_dir=tmp_path, progress=False, retry_out_of_memory=True, client=dask_client) == 0


@pytest.mark.skipif(not HAS_ANALOG, reason="analog-nasbench not installed")
def test_fill_proxies_of_named_architectures_only(tmp_path, dask_client):
    path = score_zoo("nb201", limit=3, data_dir=tmp_path, progress=False, full_every=10**6, client=dask_client)
    stored = pd.read_csv(path).sort_values("order")
    lacking = stored["arch"].iloc[1:].tolist()  # only position 0 is scored in full
    assert stored.set_index("arch").loc[lacking, "snip"].isna().all()
    assert stored["pending"].isna().tolist() == [True, False, False]  # what the fill is to compute
    assert (
        fill_proxies("nb201", data_dir=tmp_path, progress=False, archs=[stored["arch"].iloc[0]], client=dask_client)
        == 0
    )
    assert fill_proxies("nb201", data_dir=tmp_path, progress=False, archs=lacking[1:], client=dask_client) == 1
    filled = pd.read_csv(path).set_index("arch")
    assert np.isnan(filled.at[lacking[0], "snip"]) and np.isfinite(filled.at[lacking[1], "snip"])
    assert isinstance(filled.at[lacking[0], "pending"], str) and pd.isna(filled.at[lacking[1], "pending"])


def _scored_then_made_stale(tmp_path, client, stale_values: dict, *, reuse: bool = True):
    """Two NAS-Bench-201 rows scored, then ``stale_values`` (column -> value) written into the first, as
    if stored by an older definition, and imported back into the store: the CSV's path, the rows as
    scored and the first row's architecture."""
    path = score_zoo("nb201", limit=2, data_dir=tmp_path, progress=False, reuse=reuse, client=client)
    scored = pd.read_csv(path).sort_values("order").reset_index(drop=True)
    stale = scored.copy()
    stale["errors"] = stale["errors"].astype(object)
    stale.loc[0, list(stale_values)] = list(stale_values.values())
    stale.to_csv(path, index=False, float_format="%.17g")
    import_scores("nb201", data_dir=tmp_path)
    return path, scored, scored["arch"][0]


@pytest.mark.skipif(not HAS_ANALOG, reason="analog-nasbench not installed")
def test_rescore_replaces_only_the_named_proxies_of_the_selected_rows(tmp_path, dask_client):
    message = json.dumps({"naswot": "ValueError: NASWOT undefined", "reuse": "kept"})
    path, scored, first = _scored_then_made_stale(
        tmp_path, dask_client, {"naswot": 1.0, "snip": 2.0, "errors": message}, reuse=False
    )
    assert rescore_proxies(
        "nb201", ["naswot"], archs=[first], data_dir=tmp_path, progress=False, client=dask_client
    ) == [first]
    after = pd.read_csv(path).sort_values("order").reset_index(drop=True)
    assert after["naswot"][0] == scored["naswot"][0] and after["snip"][0] == 2.0  # only NASWOT is rescored
    assert json.loads(after["errors"][0]) == {"reuse": "kept"}  # its old message goes, other messages stay
    assert after["data_dependent_seconds"][0] == scored["data_dependent_seconds"][0]  # the shared pass's timing stays
    pd.testing.assert_series_equal(after.loc[1], scored.loc[1], check_dtype=False)  # the other row is untouched
    history = json.loads(meta_path(path).read_text())["rescored"]
    assert [(h["proxies"], h["archs"]) for h in history] == [(["naswot"], [first])]
    assert (
        rescore_proxies(
            "nb201", ["naswot"], with_modules=["Swish"], data_dir=tmp_path, progress=False, client=dask_client
        )
        == []
    )
    assert (
        rescore_proxies(
            "nb201", ["naswot"], with_modules=["ReLU"], data_dir=tmp_path, progress=False, client=dask_client
        )
        == scored["arch"].tolist()
    )
    with pytest.raises(ValueError, match=r"\['PG'\] are not stored scores; choose from .*'reuse'"):
        rescore_proxies("nb201", ["PG"], data_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="max_memory_gb=0: give a positive memory limit in GiB"):
        rescore_proxies("nb201", ["naswot"], data_dir=tmp_path, progress=False, max_memory_gb=0)


@pytest.mark.skipif(not HAS_ANALOG, reason="analog-nasbench not installed")
def test_a_row_whose_catalogue_accuracy_changed_is_rescored_then_relabelled_and_recorded(tmp_path, dask_client):
    """The first row stored as if under an older choice of its published row (another accuracy, scores
    of another input): relabelling computes every score it holds again, then gives it the catalogue's
    accuracy and records the move; the other row stays as stored, and a second relabelling finds nothing."""
    stale = {"accuracy": 1.0, "PG": 1.0, "synflow": 2.0, "snip": 3.0}
    path, scored, first = _scored_then_made_stale(tmp_path, dask_client, stale)
    assert not np.isnan(scored["snip"][0])  # the first row holds the data-dependent proxies too
    done = scoring.relabel_rows("nb201", data_dir=tmp_path, progress=False, client=dask_client)
    moves = done.moves
    assert moves == [{"arch": first, "from": 1.0, "to": scored["accuracy"][0], "img_size": 32}]
    assert done.not_rescored == [] and done.refused_for_memory == []
    after = pd.read_csv(path).sort_values("order").reset_index(drop=True)
    assert after["accuracy"][0] == scored["accuracy"][0]
    for score in stale.keys() - {"accuracy"}:
        assert after[score][0] == pytest.approx(scored[score][0], rel=1e-9), score
    pd.testing.assert_series_equal(after.loc[1], scored.loc[1], check_dtype=False)
    meta = json.loads(meta_path(path).read_text())
    assert [entry["archs"] for entry in meta["relabelled"]] == [moves]
    assert sorted(entry["proxies"][-1] for entry in meta["rescored"]) == ["reuse"]
    assert scoring.relabel_rows("nb201", data_dir=tmp_path, progress=False, client=dask_client).moves == []
    assert json.loads(meta_path(path).read_text()) == meta


@pytest.mark.skipif(not HAS_ANALOG, reason="analog-nasbench not installed")
def test_a_row_whose_rescoring_fails_keeps_its_accuracy_and_the_command_says_so(
    tmp_path, dask_client, monkeypatch, capsys
):
    """Every rescoring task of the moved row fails (say, out of memory at the new size): its accuracy,
    its scores and the history stay as they were, and the command names the row and exits with 1."""
    path, _, first = _scored_then_made_stale(tmp_path, dask_client, {"accuracy": 1.0, "PG": 1.0})
    before = (pd.read_csv(path), json.loads(meta_path(path).read_text()))
    monkeypatch.setattr(scoring_fill, "run_arch_jobs", lambda jobs, on_done, **kwargs: None)  # no task finished
    done = scoring.relabel_rows("nb201", data_dir=tmp_path, progress=False, client=dask_client)
    assert done.moves == [] and done.not_rescored == [first]
    pd.testing.assert_frame_equal(pd.read_csv(path), before[0])
    assert json.loads(meta_path(path).read_text()) == before[1]
    assert main(["score-zoos", "nb201", "--relabel", "--data-dir", str(tmp_path), "--workers", "1"]) == 1
    assert f"{first} could not be rescored" in capsys.readouterr().err


def test_relabelling_a_zoo_with_no_stored_rows_says_to_score_it_first(tmp_path):
    with pytest.raises(FileNotFoundError, match="no stored rows for nb201 .* score the zoo first"):
        scoring.relabel_rows("nb201", data_dir=tmp_path, progress=False)


def test_relabelling_is_a_job_of_its_own(capsys):
    for other in (["--rescore", "naswot"], ["--fill-proxies"], ["--status"]):
        with pytest.raises(SystemExit) as exit:
            main(["score-zoos", "nb201", "--relabel", *other])
        assert exit.value.code == 2
        assert "--relabel, --minibatch-sensitivity" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["score-zoos", "nb201", "--relabel", "--retry-out-of-memory"])
    assert "--rescore and --relabel recompute anyway" in capsys.readouterr().err


@pytest.mark.skipif(not HAS_ANALOG, reason="analog-nasbench not installed")
def test_rescoring_the_reusability_quantities_replaces_them_alone(tmp_path, dask_client):
    """``reuse``: the quantities of one analyze call, recounted on the named row (as after the engine
    learned to count a layer it miscounted); the proxies and the other row stay as stored."""
    path, scored, first = _scored_then_made_stale(tmp_path, dask_client, {"PG": 1.0, "entropy": 2.0, "naswot": 3.0})
    assert rescore_proxies(
        "nb201", ["reuse"], archs=[first], data_dir=tmp_path, progress=False, client=dask_client
    ) == [first]
    after = pd.read_csv(path).sort_values("order").reset_index(drop=True)
    assert after["PG"][0] == pytest.approx(scored["PG"][0], rel=1e-12)
    assert after["entropy"][0] == pytest.approx(scored["entropy"][0], rel=1e-12) and after["naswot"][0] == 3.0
    pd.testing.assert_series_equal(after.loc[1], scored.loc[1], check_dtype=False)
    assert json.loads(meta_path(path).read_text())["rescored"][-1]["proxies"] == ["reuse"]


@pytest.mark.skipif(not HAS_ANALOG, reason="analog-nasbench not installed")
def test_rescoring_a_data_free_score_replaces_its_value_message_and_timing(tmp_path, dask_client):
    """A FLOP count that once failed (an op its counter did not know) is
    counted again on the named row; its message and its own timing go with
    the old value, every other column stays."""
    message = json.dumps({"flops": "UncountedOpError: ops without a FLOP formula ran"})
    path, scored, first = _scored_then_made_stale(
        tmp_path, dask_client, {"flops": np.nan, "flops_seconds": -1.0, "errors": message}, reuse=False
    )
    done = rescore_proxies("nb201", ["flops"], archs=[first], data_dir=tmp_path, progress=False, client=dask_client)
    assert done == [first]
    after = pd.read_csv(path).sort_values("order").reset_index(drop=True)
    assert after["flops"][0] == scored["flops"][0] and after["flops_seconds"][0] > 0
    assert pd.isna(after["errors"][0])
    unchanged = [c for c in scored.columns if not c.startswith("flops") and c != "errors"]
    pd.testing.assert_frame_equal(after[unchanged], scored[unchanged], check_dtype=False)


def test_fill_proxies_of_an_unknown_architecture_names_the_stored_ones(tmp_path, capsys):
    for job in (fill_proxies, lambda zoo, **kw: rescore_proxies(zoo, ["naswot"], **kw)):
        with pytest.raises(FileNotFoundError, match="no stored rows for torchvision .* score-zoos torchvision"):
            job("torchvision", data_dir=tmp_path, progress=False)
    row = {col: np.nan for col in stored_columns()} | {"order": 0, "arch": "resnet18", "accuracy": 69.8, "errors": ""}
    pd.DataFrame([row]).to_csv(scores_path("torchvision", data_dir=tmp_path), index=False)
    with pytest.raises(
        UnknownArchitectureError, match="'resnet81' is not a stored torchvision row; did you mean resnet18"
    ):
        fill_proxies("torchvision", data_dir=tmp_path, progress=False, archs=["resnet81"])
    with pytest.raises(UnknownArchitectureError, match="'resnet81' is not a stored"):
        rescore_proxies("torchvision", ["naswot"], data_dir=tmp_path, progress=False, archs=["resnet81"])
    code = main(["score-zoos", "torchvision", "--fill-proxies", "--arch", "vgg", "--data-dir", str(tmp_path)])
    assert code == 2 and "'vgg' is not a stored torchvision row; score it first" in capsys.readouterr().err


def test_missing_pytorchcv_names_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pytorchcv" else real(name, *a))
    with pytest.raises(ModuleNotFoundError, match=r"pip install pytorchcv==0\.0\.74"):
        pytorchcv_zoo.build_pytorchcv("resnet18")


def test_correlation_forest_draws_one_panel_per_zoo_and_refuses_an_empty_table():
    import matplotlib

    matplotlib.use("Agg")

    table = pd.DataFrame(
        {
            "zoo": ["a", "a", "b"],
            "score": ["params", "PG", "PG"],
            "n": [10, 10, 12],
            "spearman": [0.5, 0.7, -0.2],
            "spearman_lo": [0.3, 0.6, -0.5],
            "spearman_hi": [0.6, 0.8, 0.1],
            "published spearman": [0.74, np.nan, np.nan],
        }
    )
    fig = pv.correlation_forest(table)
    assert len(fig.axes) == 2
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["params", "PG"]
    with pytest.raises(ValueError, match="score-zoos"):
        pv.correlation_forest(table.iloc[0:0])


def test_partial_rank_correlation_is_zero_for_a_function_of_the_control_and_positive_for_new_information():
    rng = np.random.default_rng(0)
    size = rng.normal(size=400)
    signal = rng.normal(size=400)
    accuracy = size + signal
    same_ranks = correlation.partial_rank_correlation(np.exp(size), accuracy, size, n_boot=200)
    assert np.isnan(same_ranks["partial_spearman"])  # a monotone function of the control: nothing left
    noisy_size = correlation.partial_rank_correlation(size + 0.1 * rng.normal(size=400), accuracy, size, n_boot=200)
    assert noisy_size["partial_lo"] < 0 < noisy_size["partial_hi"]  # size plus noise adds nothing
    new_info = correlation.partial_rank_correlation(signal, accuracy, size, n_boot=200)
    assert new_info["partial_lo"] > 0.3 and new_info["n"] == 400
    assert np.isnan(correlation.partial_rank_correlation([1, 2], [1, 2], [1, 2])["partial_spearman"])


@pytest.mark.skipif(not HAS_ANALOG, reason="analog-nasbench not installed")
def test_a_csv_with_an_older_header_is_imported_and_exported_with_every_column(tmp_path, dask_client):
    old = load_scores("nb201").sort_values("order").head(2)  # orders 0 and 1 of the committed rows
    old = old.drop(columns=["data_dependent_seconds", "data_dependent_cpu_seconds"])
    old.to_csv(scores_path("nb201", data_dir=tmp_path), index=False, float_format="%.17g")  # before the shared pass
    path = score_zoo("nb201", limit=3, data_dir=tmp_path, progress=False, full_every=10**6, client=dask_client)
    df = pd.read_csv(path)
    assert list(df.columns) == stored_columns() and df["order"].tolist() == [0, 1, 2]
    assert df["PG"].notna().all() and df["accuracy"].between(0, 100).all()
    assert df["data_dependent_seconds"].isna().all()  # the old rows' missing columns stay empty


def test_summary_markdown_quotes_each_zoo_beside_the_published_value():
    table = pd.DataFrame(
        {
            "zoo": ["a", "a", "b"],
            "score": ["params", "PG", "PG"],
            "spearman": [0.5, 0.61234, -0.2],
            "spearman_lo": [0.4, 0.6, -0.3],
            "spearman_hi": [0.6, 0.7, -0.1],
            "n": [10, 9, 5],
            "published spearman": [0.74, 0.596, np.nan],
            "published approximate": [True, False, np.nan],
        }
    )
    lines = pv.summary_markdown(table).splitlines()
    assert lines[0] == "| score | a (n) | b (n) |"
    # an approximate published value keeps its source's two decimals; an exact one gets three
    assert lines[2] == "| params | 0.500 [0.400, 0.600] (10; published about 0.74) | - |"
    assert lines[3] == "| PG | 0.612 [0.600, 0.700] (9; published 0.596) | -0.200 [-0.300, -0.100] (5) |"
    assert pv.summary_markdown(pd.DataFrame()) == ""


def test_sensitivity_table_reads_accuracy_correlation_and_agreement_with_the_reference():
    acc = np.arange(8.0)
    frames = []
    for name, sign in [(bs.REFERENCE, 1.0), ("reversed", -1.0)]:
        frames.append(
            pd.DataFrame(
                {
                    "arch": [f"a{i}" for i in range(8)],
                    "accuracy": acc,
                    "minibatch": name,
                    **{p: sign * acc for p in bs._PROXIES},
                }
            )
        )
    t = bs.sensitivity_table(pd.concat(frames), n_boot=50).set_index(["score", "minibatch"])
    agree = f"rank agreement with '{bs.REFERENCE}'"
    assert t.loc[("snip", bs.REFERENCE), "spearman with accuracy"] == pytest.approx(1.0)
    assert t.loc[("naswot", "reversed"), "spearman with accuracy"] == pytest.approx(-1.0)
    assert t.loc[("grasp", "reversed"), agree] == pytest.approx(-1.0)
    assert t.loc[("grasp", bs.REFERENCE), agree] == pytest.approx(1.0)


@pytest.mark.skipif(not HAS_ANALOG, reason="analog-nasbench not installed")
def test_minibatch_sensitivity_reproduces_the_stored_minibatch_and_resumes(tmp_path):
    variants = {bs.REFERENCE: bs.MINIBATCHES[bs.REFERENCE], "noise, seed 0": bs.MINIBATCHES["noise, seed 0"]}
    path = bs.score_minibatches("nb201", 1, minibatches=variants, data_dir=tmp_path, progress=False)
    scores = pd.read_csv(path)
    assert sorted(scores["minibatch"]) == sorted(variants) and scores["arch"].nunique() == 1
    check = bs.reference_matches_stored(scores)
    check = check[check["score"].isin(scoring.comparable_scores(scoring.published_version("nb201")))]
    if check["rows compared"].max() > 0:  # the first cell of the seeded order carries stored proxies
        # float32 proxies scored on another CPU differ by its rounding (the live check's tolerance);
        # GraSP, whose terms cancel, is judged against their magnitude there, not here
        check = check[check["score"] != "grasp"]
        assert (check["max relative difference"].fillna(0) <= pv.LIVE_TOLERANCE["float32"]).all(), check
    noisy = scores.set_index("minibatch").loc["noise, seed 0"]
    assert noisy["snip"] != scores.set_index("minibatch").loc[bs.REFERENCE, "snip"]
    bs.score_minibatches("nb201", 1, minibatches=variants, data_dir=tmp_path, progress=False)
    assert len(pd.read_csv(path)) == 2  # nothing rescored


def test_out_of_memory_in_the_shared_pass_drops_grasp_then_computes_each_proxy_alone(monkeypatch):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))
    batch = proxies.make_batch(6, 12, 10, seed=0)
    names = sorted(proxies.DATA_DEPENDENT)
    full = scoring.shared_pass(model, batch, names, seed=0)
    real = scoring.data_dependent_scores

    def passes_that_fit(fits):
        """data_dependent_scores on a machine where only the passes ``fits(wanted)`` fit in memory."""

        def scores(model, batch, wanted, device=None):
            if not fits(wanted):
                raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 GB")
            return real(model, batch, wanted, device=device)

        return scores

    for fits in (lambda wanted: "grasp" not in wanted, lambda wanted: len(wanted) == 1):
        monkeypatch.setattr(scoring_scores, "data_dependent_scores", passes_that_fit(fits))
        out = scoring.shared_pass(model, batch, names, seed=0)
        assert all(out[p] == full[p] for p in names if p != "grasp")
        if fits(["grasp"]):  # GraSP alone fits where beside the others it did not: the shared pass's value
            assert out["grasp"] == full["grasp"] and "grasp_error" not in out
        else:
            assert np.isnan(out["grasp"]) and "out of memory in GraSP" in out["grasp_error"]
            assert "; alone too: RuntimeError: DefaultCPUAllocator: can't allocate memory" in out["grasp_error"]
    monkeypatch.setattr(scoring_scores, "data_dependent_scores", passes_that_fit(lambda wanted: "grasp" not in wanted))
    assert "grasp_error" in scoring.shared_pass(model, batch, names, seed=0, each_alone=False)  # no second try

    monkeypatch.setattr(scoring_scores, "data_dependent_scores", passes_that_fit(lambda wanted: wanted == ["naswot"]))
    out = scoring.shared_pass(model, batch, names, seed=0)
    assert out["naswot"] == full["naswot"] and "naswot_error" not in out
    others = [p for p in names if p not in ("naswot", "grasp")]
    assert all(np.isnan(out[p]) and "can't allocate memory" in out[f"{p}_error"] for p in others)

    def broken(model, batch, wanted, device=None):
        raise ValueError("not a memory problem")

    monkeypatch.setattr(scoring_scores, "data_dependent_scores", broken)
    out = scoring.shared_pass(model, batch, names, seed=0)
    assert all(np.isnan(out[p]) and "not a memory problem" in out[f"{p}_error"] for p in names)


@pytest.mark.parametrize(
    "message, out_of_memory",
    [
        ("RuntimeError: DefaultCPUAllocator: can't allocate memory: you tried to allocate 41336832 bytes", True),
        ("MemoryError: ", True),  # Python's, with an empty message (PolyNet under the 18 GiB cap)
        ("RuntimeError: could not create a primitive", True),  # oneDNN's (ResNeSt-269 under the cap)
        ("the scoring process was killed (out of memory?)", True),  # as the former process pool recorded it
        ("out of memory (worker limit 18 GiB): the Dask worker running it was killed, 2 times", True),
        ("ValueError: NASWOT undefined: no activation module of a known type", False),
        ("LinAlgError: singular matrix", False),
    ],
)
def test_out_of_memory_is_recognised_in_every_form_it_is_recorded(message, out_of_memory):
    assert says_out_of_memory(message) is out_of_memory
    assert _is_out_of_memory(MemoryError()) and not _is_out_of_memory(ValueError("singular"))


def _live_candidates() -> pd.DataFrame:
    """Rows for the live-check selection rule: costs in CPU seconds (wall where CPU is missing)."""
    proxies = [p for p in pv.PROXY_SCORES if p not in pv.DATA_FREE_PROXIES]
    rows = {
        "no_synflow": dict(synflow=np.nan, cost=0.1),  # cheapest, but a data-free score is missing
        "no_proxy": dict(proxies=0, cost=0.2),  # no data-dependent proxy to compare
        "five_proxies": dict(proxies=5, cost=0.3),  # cheaper than any complete row
        "complete_costly": dict(cost=300.0),  # EfficientNet-B7 at 600 px, say
        "complete_cheap": dict(cost=2.0, wall_only=True),
        "inf_naswot": dict(naswot=-np.inf, cost=0.05),  # a non-finite proxy does not count
    }
    out = []
    for arch, spec in rows.items():
        r = {"arch": arch, "accuracy": 70.0, "build_seconds": 0.0}
        for s in pv.DATA_FREE_PROXIES + pv.THESIS_SCORES:
            r[s] = 1.0
        r["synflow"] = spec.get("synflow", 1.0)
        for i, p in enumerate(proxies):
            r[p] = 1.0 if i < spec.get("proxies", 6) else np.nan
        if "naswot" in spec:
            r["naswot"] = spec["naswot"]
        r["data_dependent_seconds"] = spec["cost"]
        r["data_dependent_cpu_seconds"] = np.nan if spec.get("wall_only") else spec["cost"] / 2
        out.append(r)
    return pd.DataFrame(out)


def test_live_check_takes_the_cheapest_rows_that_carry_the_data_free_scores_and_the_proxies():
    df = _live_candidates()
    cost = pv.recompute_cost(df)
    assert cost.tolist() == [0.05, 0.1, 0.15, 150.0, 2.0, 0.025]  # CPU seconds; wall where no CPU time is stored
    # complete rows first, by cost; then rows with fewer finite proxies; never a row without data-free scores or proxies
    assert pv.live_rows(df, 1).arch.tolist() == ["complete_cheap"]
    assert pv.live_rows(df, 10).arch.tolist() == ["complete_cheap", "complete_costly", "inf_naswot", "five_proxies"]
    # without the reusability quantities, a row that lacks them is eligible
    no_reuse = df.assign(PG=np.where(df.arch == "complete_costly", np.nan, 1.0))
    assert "complete_costly" not in pv.live_rows(no_reuse, 10).arch.tolist()
    assert "complete_costly" in pv.live_rows(no_reuse, 10, reuse=False).arch.tolist()


def test_quick_profile_live_rows_are_cheap_and_carry_every_checked_score():
    """The quick profile's live check (about a minute in all) recomputes, per zoo,
    a stored row with #params, FLOPs, SynFlow, the reusability quantities and
    data-dependent proxies, chosen by its stored cost."""
    quick = pv.PROFILES["quick"]
    total = 0.0
    for zoo in quick["zoos"]:
        stored = pv.load_scores(zoo)
        if stored.empty:
            continue
        picked = pv.live_rows(stored, quick["live_rows"], quick["live_reuse"])
        assert len(picked) == quick["live_rows"]
        proxies = [p for p in pv.PROXY_SCORES if p not in pv.DATA_FREE_PROXIES]
        assert np.isfinite(picked[pv.DATA_FREE_PROXIES + pv.THESIS_SCORES].astype(float)).all(axis=None)
        assert np.isfinite(picked[proxies].astype(float)).any(axis=1).all()
        cost = pv.recompute_cost(picked)
        total += float(cost.sum())
        complete = stored[np.isfinite(stored[proxies].astype(float)).all(axis=1)]
        assert cost.max() <= pv.recompute_cost(complete).nsmallest(quick["live_rows"]).max() + 1e-12
    assert total < 30.0, f"the quick live check would recompute {total:.0f} stored CPU seconds"


def test_proxy_coverage_reading_is_generated_from_the_coverage_numbers(monkeypatch):
    full = pd.DataFrame(
        {
            "arch": ["a", "b", "c"],
            "snip": [1.0, 2.0, 3.0],
            "grasp": [1.0, np.nan, 2.0],
            "fisher": 1.0,
            "grad_norm": 1.0,
            "jacob_cov": 1.0,
            "naswot": [1.0, -np.inf, 2.0],
        }
    )
    part = full.assign(
        **{p: [1.0, np.nan, np.nan] for p in ["snip", "grasp", "fisher", "grad_norm", "jacob_cov", "naswot"]}
    )
    stored = {"full": full, "part": part}
    monkeypatch.setattr(pv_tables, "load_scores", lambda zoo: stored[zoo])
    cov = pd.DataFrame({"zoo": ["full"], "scored": [3], "with data-dependent proxies": [3], "with every proxy": [2]})
    text = pv.proxy_coverage_reading(cov)
    assert "**full**: all 3 scored architectures carry at least one of them, 2 all six" in text
    assert "finite values fewer than 3 for GraSP 2, NASWOT 2, the others on every row" in text
    assert "Every scored architecture of every zoo carries data-dependent proxies" in text and "part of" not in text
    assert "keeps the rows that carry SNIP (full 3 of 3)" in text
    cov = pd.DataFrame(
        {"zoo": ["full", "part"], "scored": [3, 3], "with data-dependent proxies": [3, 1], "with every proxy": [2, 1]}
    )
    text = pv.proxy_coverage_reading(cov)
    assert "**part**: 1 of the 3 scored architectures carry" in text
    assert "On part the proxies cover part of the scored rows" in text and "Every scored architecture" not in text


def test_bootstrap_correlations_from_multiplicities_equal_ranking_each_resample():
    """The resamples are evaluated from their multiplicities; ranking and
    regressing each resample directly (scipy) gives the same intervals."""
    from scipy import stats

    rng = np.random.default_rng(3)
    size = rng.integers(0, 40, size=150).astype(float)  # ties, as stored parameter counts have
    accuracy = np.round(size + rng.normal(scale=8, size=150), 1)
    score = np.where(rng.random(150) < 0.2, 0.0, size**2 + rng.normal(scale=50, size=150))

    def direct(n_boot: int) -> tuple[list[float], list[float]]:
        draw = np.random.default_rng(0)
        rhos, partials = [], []
        for _ in range(n_boot):
            idx = draw.integers(0, 150, size=150)
            rhos.append(stats.spearmanr(score[idx], accuracy[idx]).statistic)
            rc = stats.rankdata(size[idx])
            design = np.column_stack([np.ones_like(rc), rc])
            res = [
                r - design @ np.linalg.lstsq(design, r, rcond=None)[0]
                for r in (stats.rankdata(score[idx]), stats.rankdata(accuracy[idx]))
            ]
            partials.append((res[0] @ res[1]) / np.sqrt((res[0] @ res[0]) * (res[1] @ res[1])))
        return rhos, partials

    rhos, partials = direct(300)
    fast = correlation.bootstrap_rank_correlation(score, accuracy, n_boot=300, seed=0)
    assert fast["spearman_lo"] == pytest.approx(np.percentile(rhos, 2.5), abs=1e-12)
    assert fast["spearman_hi"] == pytest.approx(np.percentile(rhos, 97.5), abs=1e-12)
    part = correlation.partial_rank_correlation(score, accuracy, size, n_boot=300, seed=0)
    assert part["partial_lo"] == pytest.approx(np.percentile(partials, 2.5), abs=1e-12)
    assert part["partial_hi"] == pytest.approx(np.percentile(partials, 97.5), abs=1e-12)


def test_the_rescore_flag_names_the_reusability_quantities_as_the_store_does():
    from reuseprior.commands.parsers.score_zoos import RESCORE_REUSE
    from reuseprior.zoo.scoring.registry import REUSE_COLUMN

    assert RESCORE_REUSE == REUSE_COLUMN
