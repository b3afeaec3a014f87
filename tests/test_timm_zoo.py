"""timm's zoo: the published files, the rules that choose a row per architecture and its pretraining data,
the builder (no weights, no download), and the scoring run that records a refused architecture and goes on."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import subprocess
import sys

import pandas as pd
import psutil
import pytest
import timm
import torch
from torch import nn

from reuseprior import compare
from reuseprior.chapters.ch6_predictive_validity.timm import (
    headline_markdown,
    stored_count,
    timm_beyond_size,
    timm_ceiling,
    timm_correlations,
    timm_refusals,
    timm_rows,
)
from reuseprior.commands import main, model_names
from reuseprior.commands.parsers.score_zoos import add_arguments, check_arguments
from reuseprior.core import paths
from reuseprior.core.errors import ArchitectureRefusedError
from reuseprior.models.registry import build_model
from reuseprior.models.timm_models import build_timm
from reuseprior.zoo import scoring, timm_zoo
from reuseprior.zoo.distributed import connect

# --- the rules, on hand-made rows


def test_pretraining_reads_the_metadata_by_legacy_name_then_by_default_tag_then_the_tag():
    metadata = {"old_name": "in21k", "net": "in1k-dist", "adv": "in1k-adv"}
    legacy = {"vit_x.augreg_in21k_ft_in1k": "old_name"}
    first_tag = {"net": "fb_in1k", "adv": "tf_adv_in1k"}
    assert timm_zoo.pretraining(
        "vit_x.augreg_in21k_ft_in1k", "vit_x", "augreg_in21k_ft_in1k", metadata, legacy, {}
    ) == (
        "in21k",
        False,
    )
    # the bare name meant the first-listed weights: a distilled student is not ImageNet-1k alone
    assert timm_zoo.pretraining("net.fb_in1k", "net", "fb_in1k", metadata, legacy, first_tag) == ("in1k-dist", False)
    assert timm_zoo.pretraining("adv.tf_adv_in1k", "adv", "tf_adv_in1k", metadata, legacy, first_tag)[1]
    # other weights of the same architecture are read from their tag
    assert timm_zoo.pretraining("net.a1_in1k", "net", "a1_in1k", metadata, legacy, first_tag) == ("tag:a1_in1k", True)
    for tag in ("fb_in22k_ft_in1k", "laion2b_ft_in1k", "fb_swsl_ig1b_ft_in1k", "dist_in1k", "in12k"):
        assert not timm_zoo.pretraining(f"net.{tag}", "net", tag, metadata, legacy, first_tag)[1], tag
    # the bare name described older weights: a first-listed tag naming more data is read from the tag
    first_tag["plain"], metadata["plain"] = "sw_in12k_ft_in1k", "in1k"
    assert timm_zoo.pretraining("plain.sw_in12k_ft_in1k", "plain", "sw_in12k_ft_in1k", metadata, legacy, first_tag) == (
        "tag:sw_in12k_ft_in1k",
        False,
    )
    # a student named so, whatever its tag
    assert not timm_zoo.pretraining("s_distilled_224.in1k", "s_distilled_224", "in1k", {}, {}, {})[1]


def test_one_row_per_architecture_prefers_imagenet1k_only_weights_timms_first_tag_and_the_native_size():
    rows = pd.DataFrame(
        [
            ("a.in22k_ft_in1k", "a", "in22k_ft_in1k", 384, 90.0, False),  # best, but more data
            ("a.b_in1k", "a", "b_in1k", 224, 80.0, True),
            ("a.b_in1k", "a", "b_in1k", 288, 81.0, True),
            ("a.c_in1k", "a", "c_in1k", 224, 82.0, True),  # better, but listed after b_in1k
            ("z.in22k_ft_in1k", "z", "in22k_ft_in1k", 224, 70.0, False),
        ],
        columns=["model", "arch", "tag", "img_size", "top1", "in1k_only"],
    )
    order = {"a": ["in22k_ft_in1k", "b_in1k", "c_in1k"], "z": ["in22k_ft_in1k"]}
    chosen = timm_zoo.choose_rows(rows, order, native={"a.b_in1k": 288}).set_index("arch")
    assert chosen.loc["a", ["tag", "img_size", "top1"]].tolist() == ["b_in1k", 288, 81.0]
    assert chosen.loc["z", "tag"] == "in22k_ft_in1k"  # no ImageNet-1k-only weights: all of them
    smallest = timm_zoo.choose_rows(rows, order, native={}).set_index("arch")
    assert smallest.loc["a", "img_size"] == 224  # no native size in the file: the smallest


def test_every_family_rule_names_a_family_and_an_unknown_module_is_refused():
    assert set(timm_zoo.FAMILY_OF_MODULE.values()) <= set(timm_zoo.FAMILIES)
    assert timm_zoo.family("caformer_s18", "metaformer") == "hybrid"
    assert timm_zoo.family("poolformer_s12", "metaformer") == "convolutional"
    assert timm_zoo.family("vit_small_patch16_224", "vision_transformer") == "transformer"
    with pytest.raises(KeyError, match="add it to FAMILY_OF_MODULE"):
        timm_zoo.family("new_net", "new_module")


# --- the published files, read by the installed timm


@pytest.fixture(scope="module")
def zoo() -> pd.DataFrame:
    return timm_zoo.load_timm_zoo()


def test_the_catalogue_has_one_row_per_architecture_with_the_published_top1_of_its_chosen_row(zoo):
    results = pd.read_csv(paths.DATA_DIR / "timm" / timm_zoo.RESULTS_FILE)
    assert zoo["arch"].is_unique and len(zoo) == results["model"].str.split(".").str[0].nunique()
    published = results.set_index(["model", "img_size"])["top1"]
    keys = list(zip(zoo["arch"] + "." + zoo["tag"], zoo["img_size"]))
    assert (published.loc[keys].to_numpy() == zoo["accuracy"].to_numpy()).all()
    assert zoo["family"].isin(timm_zoo.FAMILIES).all() and zoo["in1k_only"].any() and not zoo["in1k_only"].all()
    assert timm_zoo.unbuildable().empty  # the pinned timm builds every architecture of the file


@pytest.mark.parametrize(
    ("model", "pretrain", "in1k_only"),
    [
        # legacy names: timm's map of deprecated names gives the weights the metadata's name described
        ("tf_efficientnetv2_l.in21k_ft_in1k", "in21k", False),  # was tf_efficientnetv2_l_in21ft1k
        ("tf_efficientnet_b7.ns_jft_in1k", "jft300m-ns", False),  # was tf_efficientnet_b7_ns
        ("xcit_large_24_p8_384.fb_dist_in1k", "in1k-dist", False),  # was xcit_large_24_p8_384_dist
        # a bare name's "in1k" described older weights, not the in21k/in22k/in12k fine-tunes now listed first
        ("regnety_120.sw_in12k_ft_in1k", "tag:sw_in12k_ft_in1k", False),
        ("regnety_160.sw_in12k_ft_in1k", "tag:sw_in12k_ft_in1k", False),
        ("swin_small_patch4_window7_224.ms_in22k_ft_in1k", "tag:ms_in22k_ft_in1k", False),
        ("tf_efficientnetv2_b3.in21k_ft_in1k", "tag:in21k_ft_in1k", False),
        ("mixer_b16_224.goog_in21k_ft_in1k", "tag:goog_in21k_ft_in1k", False),
        ("mixer_l16_224.goog_in21k_ft_in1k", "tag:goog_in21k_ft_in1k", False),
        # their ImageNet-1K weights, read from the tag
        ("regnety_120.pycls_in1k", "tag:pycls_in1k", True),
        ("tf_efficientnetv2_b3.in1k", "tag:in1k", True),
        # distilled students: by the bare name of an architecture whose tag says only in1k, or by the tag
        ("deit_small_distilled_patch16_224.fb_in1k", "in1k-dist", False),
        ("pit_xs_distilled_224.in1k", "in1k-dist", False),
        ("levit_128.fb_dist_in1k", "tag:fb_dist_in1k", False),
        ("cait_s24_224.fb_dist_in1k", "tag:fb_dist_in1k", False),
        # a bare name whose first-listed weights it did describe
        ("resnet50.a1_in1k", "in1k", True),
    ],
)
def test_the_pretraining_of_named_result_rows(model, pretrain, in1k_only):
    row = timm_zoo.load_timm_results().set_index("model").loc[[model]].iloc[0]
    assert (row["pretrain"], bool(row["in1k_only"])) == (pretrain, in1k_only)


def test_no_architecture_whose_chosen_weights_saw_more_than_imagenet1k_is_in_the_imagenet1k_subset(zoo):
    headline = zoo[zoo["in1k_only"]]
    named_more = headline["tag"].str.split("_").map(lambda tokens: bool(set(tokens) & timm_zoo.OTHER_DATA_TOKENS))
    assert not named_more.any(), headline[named_more]["arch"].tolist()
    assert headline["pretrain"].map(lambda p: p.startswith("tag:") or p in timm_zoo.IN1K_ONLY_METADATA).all()
    chosen = zoo.set_index("arch")
    # the four whose ImageNet-1K weights were once skipped for a fine-tune of a larger data set
    assert chosen.loc["regnety_120", ["tag", "img_size", "accuracy"]].tolist() == ["pycls_in1k", 224, 80.382]
    assert chosen.loc["regnety_160", "tag"] == "deit_in1k" and chosen.loc["tf_efficientnetv2_b3", "tag"] == "in1k"
    assert chosen.loc["swin_small_patch4_window7_224", "tag"] == "ms_in1k"
    assert not chosen.loc[["mixer_b16_224", "mixer_l16_224"], "in1k_only"].any()


def test_the_scoring_order_puts_the_headline_subset_first_each_by_size(zoo):
    order = scoring.get_zoo("timm").order(zoo, 0)
    flags = zoo.set_index("arch").loc[order, "in1k_only"].tolist()
    assert flags == sorted(flags, reverse=True)
    head = zoo.set_index("arch").loc[order[: int(zoo["in1k_only"].sum())], "published_params"]
    assert head.is_monotonic_increasing


# --- the builder


def test_build_passes_pretrained_false_with_the_hub_offline(monkeypatch):
    seen = {}

    def create_model(name, **kwargs):
        seen.update(kwargs, name=name)
        return nn.Linear(1, 1)

    monkeypatch.setattr(timm, "create_model", create_model)
    build_timm("resnet18.a1_in1k", image_size=160)
    assert seen == {"name": "resnet18.a1_in1k", "pretrained": False, "num_classes": 1000, "img_size": 160}
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_a_misspelt_name_gets_the_closest_ones_and_a_failing_constructor_one_line():
    with pytest.raises(ValueError, match="did you mean timm:convnext_tiny"):
        build_timm("convnext_tiy")
    with pytest.raises(ArchitectureRefusedError, match="timm cannot build test_vit without weights: ") as err:
        build_timm("test_vit", image_size=-3)
    assert "\n" not in str(err.value)


def test_a_size_the_constructor_takes_builds_that_size():
    model = build_timm("test_vit", image_size=64)
    assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 1000)


def test_a_model_needing_more_memory_than_its_budget_is_refused_saying_how_much(monkeypatch, zoo):
    monkeypatch.setattr(timm_zoo, "memory_budget_gib", lambda: 0.001)
    with pytest.raises(
        ArchitectureRefusedError,
        match=r"needs at least 0\.004\d* GiB \(0\.27 M parameters x 16 B\) and its budget is 0\.001 GiB",
    ):
        timm_zoo.build_zoo_model("test_convnext")


def test_the_memory_budget_is_the_machine_s_not_what_is_free_at_the_moment():
    """Outside a worker the budget is the machine's total memory, whatever else holds memory now."""
    assert timm_zoo.memory_budget_gib() == psutil.virtual_memory().total / 2**30


# --- a run records a refused architecture and goes on


def _refusing_build(arch: str) -> nn.Module:
    if arch == "needs_weights":
        raise ArchitectureRefusedError("timm cannot build needs_weights without weights: RuntimeError: no file")
    return nn.Sequential(nn.Conv2d(3, 2, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 10))


def _refusing_catalogue() -> pd.DataFrame:
    return pd.DataFrame({"arch": ["a", "needs_weights", "b"], "accuracy": [10.0, 20.0, 30.0]})


def _as_listed(cat: pd.DataFrame, seed: int) -> list[str]:
    return cat["arch"].tolist()


def test_a_scoring_run_stores_a_refused_architecture_with_its_reason_and_goes_on(tmp_path, monkeypatch, register):
    zoo = scoring.Zoo("refusing", "test", _refusing_catalogue, _refusing_build, 4, 8, 10, _as_listed)
    register(scoring.ZOOS, "refusing", zoo)
    with connect(workers=1, processes=False, say=lambda _: None) as client:
        scoring.score_zoo("refusing", data_dir=tmp_path, client=client, progress=False, limit=2)
        # a zoo first scored at this version is read partial, at that version, while it is filled
        assert scoring.published_version("refusing", tmp_path) == scoring.SCORES_VERSION
        assert len(scoring.load_scores("refusing", data_dir=tmp_path)) == 2
        path = scoring.score_zoo("refusing", data_dir=tmp_path, client=client, progress=False)
    rows = pd.read_csv(path).set_index("arch")
    assert rows.index.tolist() == ["a", "needs_weights", "b"]
    refused = rows.loc["needs_weights"]
    assert json.loads(refused["errors"]) == {
        "build": "timm cannot build needs_weights without weights: RuntimeError: no file"
    }
    assert pd.isna(refused["PG"]) and pd.isna(refused["pending"]) and refused["accuracy"] == 20.0
    assert rows.loc[["a", "b"], "PG"].notna().all()


def test_a_scoring_run_takes_a_worker_memory_limit_and_a_plain_fill_still_refuses_it():
    parser = argparse.ArgumentParser(prog="score-zoos")
    add_arguments(parser)
    args = parser.parse_args(["timm", "--workers", "1", "--max-memory-gb", "8"])
    check_arguments(parser, args)
    assert args.zoos == ["timm"] and args.max_memory_gb == 8.0
    with pytest.raises(SystemExit):
        check_arguments(parser, parser.parse_args(["timm", "--fill-proxies", "--max-memory-gb", "8"]))


# --- analyze and compare take timm:NAME


def test_build_model_takes_timm_names_without_weights_and_names_the_closest_for_a_misspelt_one():
    model = build_model("timm:test_vit")
    assert isinstance(model, nn.Module)
    with pytest.raises(ValueError, match=r"unknown timm model 'convnext_tiy'; did you mean timm:convnext_tiny"):
        build_model("timm:convnext_tiy")


def test_analyze_counts_a_timm_model_and_refuses_a_misspelt_one_in_one_line(capsys):
    assert main(["analyze", "timm:test_convnext", "--input", "3,32,32", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"] == "timm:test_convnext" and report["PG"] > 0
    assert main(["analyze", "timm:convnext_tiy"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("python -m reuseprior analyze: error: unknown timm model 'convnext_tiy'; did you mean")
    assert "\n" not in err


def test_compare_ranks_timm_models_and_records_a_misspelt_one():
    result = compare(["timm:test_vit", "timm:test_convnext", "timm:no_such_net"], (3, 32, 32), progress=False)
    table = result.table.set_index("model")
    assert table.loc[["timm:test_vit", "timm:test_convnext"], "PG"].notna().all()
    assert "unknown timm model 'no_such_net'" in table.loc["timm:no_such_net", "error"]


def test_the_stored_timm_names_are_the_locked_timms_and_answer_without_torch(tmp_path):
    locked = re.search(r"^timm==(\S+)$", (paths.ROOT / "requirements-lock.txt").read_text(), re.M)
    assert locked and model_names.TIMM_VERSION == locked.group(1), "the lock moved timm: store its names"
    if importlib.metadata.version("timm") == model_names.TIMM_VERSION:
        assert model_names.TIMM_MODELS == tuple(sorted(timm.list_models()))
    code = (
        "import contextlib, io, sys\nfrom reuseprior.commands import main\nerr = io.StringIO()\n"
        "with contextlib.redirect_stderr(err): status = main(['analyze', 'timm:convnext_tiy'])\n"
        "print(status, err.getvalue().strip())\n"
        "print([m for m in ('torch', 'timm') if m in sys.modules])"
    )
    env = {**os.environ, "PYTHONPATH": str(paths.ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
    status_line, heavy = done.stdout.splitlines()
    assert heavy == "[]", done.stdout + done.stderr
    assert status_line.startswith("2 python -m reuseprior analyze: error: unknown timm model 'convnext_tiy'")
    assert "timm:convnext_tiny" in status_line


# --- the chapter's analysis, on stored rows


def _stored(zoo: pd.DataFrame, archs: list[str]) -> pd.DataFrame:
    """Rows as the store holds them: PG ranks top-1 exactly, #params by the reverse of the name order."""
    rows = zoo.set_index("arch").loc[archs, ["accuracy"]].reset_index()
    rows["PG"] = rows["accuracy"] * 2.0
    rows["params"] = range(len(rows), 0, -1)
    rows["flops"] = rows["accuracy"].rank() + 0.5 * (rows.index % 2)
    rows["errors"] = ""
    return rows


def test_the_timm_tables_come_from_the_stored_rows_with_their_count(zoo):
    archs = zoo.sort_values("arch")["arch"].tolist()[:60]
    rows = timm_rows(_stored(zoo, archs))
    assert rows["family"].notna().all() and len(rows) == 60
    headline = int(zoo.set_index("arch").loc[archs, "in1k_only"].sum())
    assert stored_count(rows).startswith(f"timm: 60 of 900 architectures stored, {headline} of the ")
    table = timm_correlations(rows, n_boot=50, min_rows=5).set_index(["subset", "score"])
    assert table.loc[("ImageNet-1K only", "PG"), "n"] == headline
    assert table.loc[("all", "PG"), "n"] == 60 and table.loc[("all", "PG"), "spearman"] == pytest.approx(1.0)
    assert table.loc[("all", "PG"), "kendall"] == pytest.approx(1.0)
    partial = timm_beyond_size(rows, n_boot=50, min_rows=5).set_index(["subset", "score", "given"])
    assert ("all", "PG", "params") in partial.index and ("all", "PG", "flops") in partial.index
    assert partial.loc[("all", "PG", "params"), "partial_spearman"] == pytest.approx(1.0)
    text = headline_markdown(timm_correlations(rows, n_boot=50, min_rows=5), ["PG"])
    assert text.splitlines()[1].startswith("all: PG 1.00 [1.00, 1.00] (n=60)")


def test_the_ceiling_is_the_spread_of_top1_among_an_architectures_weights():
    ceiling = timm_ceiling().set_index("arch")
    results = pd.read_csv(paths.DATA_DIR / "timm" / timm_zoo.RESULTS_FILE)
    atto = results[results["model"].str.startswith("convnext_atto.")]["top1"]
    assert ceiling.loc["convnext_atto", "spread"] == pytest.approx(atto.max() - atto.min())
    assert (ceiling["rows"] >= 2).all() and (ceiling["spread"] >= 0).all()


def test_refusals_are_read_from_the_stored_errors_one_line_each():
    rows = pd.DataFrame(
        {
            "arch": ["a", "b", "c"],
            "errors": [
                json.dumps({"build": "a needs at least 40 GiB"}),
                json.dumps({"reuse": "UnsupportedOpError: aten.foo has no counting rule\nmore"}),
                "",
            ],
        }
    )
    refused = timm_refusals(rows)
    assert refused.values.tolist() == [
        ["a", "build", "a needs at least 40 GiB"],
        ["b", "reuse", "UnsupportedOpError: aten.foo has no counting rule"],
    ]


def test_the_stored_top1_of_every_timm_row_is_the_published_one(zoo):
    stored = scoring.load_scores("timm")
    assert len(stored) > 0
    published = zoo.set_index("arch").loc[stored["arch"], "accuracy"].to_numpy()
    assert (stored["accuracy"].to_numpy() == published).all()
