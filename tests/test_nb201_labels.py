"""NAS-Bench-201's official labels (NASLib's NAS-Bench-Suite-Zero subset):
the converter, the stored ``data/nasbench201_naslib_subset.csv`` and the
chapter 6 comparison of analog-nasbench's label with the official one."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from reuseprior.chapters import ch6_predictive_validity as pv
from reuseprior.core import paths
from reuseprior.zoo import nasbench201 as nb
from reuseprior.zoo.scoring import SCORES_VERSION, changed_scores, load_scores, pending_scores

SUBSET = paths.DATA_DIR / nb.NASLIB_SUBSET_CSV


def _cell(idx: int, acc: float, **scores: float) -> dict:
    return {"idx": str(idx), "val_accuracy": acc, **{k: {"score": v, "time": 0.5} for k, v in scores.items()}}


def _tiny() -> dict:
    """Three cells in NASLib's layout; the last has no ImageNet16-120 record and no SynFlow."""
    keys = ["(2, 2, 0, 2, 2, 2)", "(0, 1, 2, 3, 4, 0)", "(1, 1, 1, 1, 1, 1)"]
    c10 = {
        keys[0]: _cell(1, 90.5, params=1.2, synflow=30.0, nwot=700.0),
        keys[1]: _cell(0, 80.25, params=0.4, synflow=10.0, nwot=650.0),
        keys[2]: _cell(2, 10.0, params=0.07, nwot=float("-inf")),
    }
    c100 = {k: _cell(int(v["idx"]), v["val_accuracy"] - 20) for k, v in c10.items()}
    in16 = {k: _cell(int(c10[k]["idx"]), 40.0) for k in keys[:2]}
    return {"cifar10": c10, "cifar100": c100, "ImageNet16-120": in16}


# --------------------------------------------------------------------------- converter


def test_converter_maps_naslib_op_indices_to_the_architecture_strings():
    df = nb.naslib_subset_from_json(_tiny())
    assert df["naslib_idx"].tolist() == [0, 1, 2]  # ordered by NASLib's idx
    # NASLib: op per edge (0->1, 0->2, 0->3, 1->2, 1->3, 2->3), ops [skip_connect, none, conv3x3, conv1x1, avg_pool]
    assert df["arch"].tolist() == [
        "|skip_connect~0|+|none~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|skip_connect~2|",
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    ]
    assert df["naslib_op_indices"].tolist() == ["(0, 1, 2, 3, 4, 0)", "(2, 2, 0, 2, 2, 2)", "(1, 1, 1, 1, 1, 1)"]
    assert df["val_acc_cifar10"].tolist() == [80.25, 90.5, 10.0]
    assert df["val_acc_cifar100"].tolist() == [60.25, 70.5, -10.0]
    in16 = df["val_acc_ImageNet16-120"]
    assert in16.iloc[:2].tolist() == [40.0, 40.0] and np.isnan(in16.iloc[2])
    assert df["ref_params"].tolist() == [0.4, 1.2, 0.07]
    assert np.isnan(df.at[2, "ref_synflow"]) and df.at[2, "ref_nwot"] == -np.inf
    assert df["ref_snip"].isna().all()  # a proxy absent from the file: a NaN column, not a missing one
    assert list(df.columns) == (
        ["arch", "naslib_idx", "naslib_op_indices"]
        + [f"val_acc_{ds}" for ds in nb.NASLIB_DATASETS]
        + [f"ref_{p}" for p in nb.NASLIB_PROXIES]
    )


def test_converter_rejects_malformed_input():
    data = _tiny()
    with pytest.raises(ValueError, match="lacks datasets"):
        nb.naslib_subset_from_json({"cifar10": data["cifar10"]})
    bad = json.loads(json.dumps(data))
    bad["cifar10"]["(0, 1, 2, 3, 5, 0)"] = _cell(7, 50.0)
    with pytest.raises(ValueError, match="6 op indices"):
        nb.naslib_subset_from_json(bad)
    bad = json.loads(json.dumps(data))
    bad["cifar100"]["(2, 2, 0, 2, 2, 2)"]["idx"] = "9"
    with pytest.raises(ValueError, match="idx"):
        nb.naslib_subset_from_json(bad)


def test_written_subset_carries_the_licence_and_reads_back_unchanged(tmp_path):
    df = nb.naslib_subset_from_json(_tiny())
    path = nb.write_naslib_subset(df, tmp_path / "subset.csv")
    header = [line for line in path.read_text().splitlines() if line.startswith("#")]
    text = "\n".join(header)
    assert "Apache License, Version 2.0" in text and nb.NASLIB_SOURCE["licence_url"] in text
    assert nb.NASLIB_SOURCE["copyright"] in text and nb.NASLIB_SOURCE["blob"] in text and "changes:" in text
    pd.testing.assert_frame_equal(nb.load_naslib_subset(path), df, check_dtype=False)


# --------------------------------------------------------------------------- the stored subset


def test_stored_subset_is_725_distinct_benchmark_cells():
    df = nb.load_naslib_subset()
    assert len(df) == 725 and df["arch"].is_unique and df["naslib_idx"].tolist() == list(range(725))
    space = set(nb.all_archs())
    assert len(space) == 15625
    for arch, key in zip(df["arch"], df["naslib_op_indices"]):
        ops = nb.parse_arch(arch)
        assert ops in space and nb.arch_to_string(ops) == arch
        assert nb.arch_from_analog(int(c) for c in key.strip("()").split(",")) == ops
    assert df["val_acc_cifar10"].notna().sum() == 725 and df["val_acc_cifar100"].notna().sum() == 725
    assert df["val_acc_ImageNet16-120"].notna().sum() == 724
    assert sum(not nb.is_connected(nb.parse_arch(a)) for a in df["arch"]) == 1  # not a uniform sample


def test_stored_subset_names_its_source_and_licence():
    header = [line for line in SUBSET.read_text().splitlines() if line.startswith("#")]
    assert header == [f"# {line}" for line in nb.NASLIB_SUBSET_HEADER]


def test_our_parameter_counts_equal_the_reference_implementation_on_every_cell():
    rows = load_scores("nb201").merge(nb.load_naslib_subset(), on="arch", validate="one_to_one")
    assert len(rows) == 725
    reference = np.rint(rows["ref_params"] * 1e6)  # NASLib stores millions with 6 decimals: exact counts
    assert (rows["params"] == reference).all(), rows.loc[rows["params"] != reference, ["arch", "params", "ref_params"]]


@pytest.mark.skipif(
    not os.environ.get("REUSEPRIOR_NASLIB_GIT_DIR"),
    reason="set REUSEPRIOR_NASLIB_GIT_DIR to a clone of automl/NASLib (its .git) to rebuild the subset from source",
)
def test_stored_subset_is_the_conversion_of_the_source_file(tmp_path):
    raw = subprocess.run(
        ["git", "--git-dir", os.environ["REUSEPRIOR_NASLIB_GIT_DIR"], "cat-file", "blob", nb.NASLIB_SOURCE["blob"]],
        check=True,
        capture_output=True,
    ).stdout
    assert hashlib.sha256(raw).hexdigest() == nb.NASLIB_SOURCE["sha256"]
    path = nb.write_naslib_subset(nb.naslib_subset_from_json(json.loads(raw)), tmp_path / "subset.csv")
    assert path.read_bytes() == SUBSET.read_bytes()


# --------------------------------------------------------------------------- chapter 6 analysis


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return pv.nb201_labelled_rows()


def test_the_two_cifar10_labels_rank_alike_but_differ_in_level(rows):
    table = pv.nb201_label_agreement(rows)
    assert table["label"].tolist() == ["analog CIFAR-10"] * 2 + ["official CIFAR-100", "official ImageNet16-120"]
    assert table["n"].tolist() == [725, 724, 725, 724]
    # recomputed here from the two stored CSVs, not through the chapter's join
    merged = load_scores("nb201").merge(pd.read_csv(SUBSET, comment="#"), on="arch")
    rho = spearmanr(merged["accuracy"], merged["val_acc_cifar10"]).statistic
    diff = merged["accuracy"] - merged["val_acc_cifar10"]
    assert 0.97 < rho < 0.99 and 3.0 < diff.mean() < 4.0
    first = table.iloc[0]
    assert first["spearman"] == pytest.approx(rho, abs=1e-12)
    assert first["mean difference"] == pytest.approx(diff.mean())
    assert (first["min difference"], first["max difference"]) == (diff.min(), diff.max())
    assert table.loc[2:, "mean difference"].isna().all()  # other test sets: no difference


def test_every_score_against_both_labels_on_the_same_cells(rows):
    table = pv.nb201_scores_both_labels(n_boot=20, seed=0, rows=rows)
    scores = [s for s in pv.ALL_SCORES if s in rows.columns]
    assert len(scores) >= 20 and {"PG", "PG_prime", "total_surprisal"} <= set(scores)
    assert len(table) == len(scores) * len(pv.NB201_LABELS)
    assert (table["spearman_lo"] <= table["spearman"]).all() and (table["spearman"] <= table["spearman_hi"]).all()
    official = table[table["label"] == "official CIFAR-10"].set_index("score")
    analog = table[table["label"] == "analog CIFAR-10"].set_index("score")
    assert (official["n"] == analog["n"]).all()  # the same cells for both labels
    assert official.at["params", "n"] == 725 and official.at["jacob_cov", "n"] == 724  # undefined when disconnected
    synflow = spearmanr(rows["synflow"], rows["val_acc_cifar10"]).statistic
    assert official.at["synflow", "spearman"] == pytest.approx(synflow, abs=1e-12)
    # like for like: the published CIFAR-10 value sits beside the official label only
    assert official.at["synflow", "published spearman"] == pytest.approx(0.737)
    assert analog["published spearman"].isna().all()
    assert abs(official.at["synflow", "spearman"] - 0.737) < 0.01 < analog.at["synflow", "spearman"] - 0.737
    wide = pv.nb201_labels_wide(table)
    assert wide["score"].tolist() == scores
    assert {"analog CIFAR-10", "official CIFAR-10", "published CIFAR-10", "published ImageNet16-120"} <= set(wide)


def test_our_proxies_against_the_reference_implementation(rows):
    table = pv.nb201_reference_agreement(n_boot=20, seed=0, rows=rows).set_index("naslib proxy")
    assert list(table.index) == list(nb.NASLIB_PROXIES)
    assert table.at["params", "ours vs reference"] == pytest.approx(1.0)
    assert table.at["synflow", "n"] == 724  # the reference has no SynFlow for one cell
    for proxy in ("synflow", "nwot", "snip", "grad_norm", "flops", "fisher"):
        assert table.at[proxy, "ours vs reference"] > 0.95, proxy  # Fisher: only with the reference weighting
    reference_only = table[table["score"] == ""]
    assert list(reference_only.index) == ["l2_norm", "plain", "epe_nas"]
    assert reference_only["ours vs reference"].isna().all()
    assert reference_only["reference vs official CIFAR-10"].notna().all()


def test_the_subset_reads_the_current_definitions(rows):
    """The 725 cells are rescored at the current scores version, so every
    comparison with the reference implementation uses its definitions."""
    assert rows.attrs["scores_version"] == SCORES_VERSION
    assert not rows["pending"].map(pending_scores).map(bool).any()


def test_the_version_change_shows_fisher_moving_to_the_reference():
    change = pv.nb201_version_change(n_boot=20, seed=0).set_index("score")
    assert set(change.index) == set(changed_scores(SCORES_VERSION))
    new = f"v{SCORES_VERSION} vs reference"
    assert change.at["fisher", "v1 vs reference"] < 0.92 < 0.95 < change.at["fisher", new]
    assert change.at["synflow", new] > 0.99 and change.at["flops", new] > 0.99
    assert (change["n"] >= 724).all()


def test_the_reading_is_generated_from_the_tables(rows):
    agreement = pv.nb201_label_agreement(rows)
    both = pv.nb201_scores_both_labels(n_boot=20, seed=0, rows=rows)
    reference = pv.nb201_reference_agreement(n_boot=20, seed=0, rows=rows)
    text = pv.nb201_reading(rows, agreement, both, reference)
    official = both[both["label"] == "official CIFAR-10"].set_index("score")
    assert f"scores version {SCORES_VERSION} on these 725 cells" in text
    assert f"SynFlow** gives {official.at['synflow', 'spearman']:.3f}" in text
    outside = [
        s
        for s, r in official.dropna(subset=["published spearman"]).iterrows()
        if not r["spearman_lo"] <= r["published spearman"] <= r["spearman_hi"]
    ]
    for score in outside:
        assert f"{pv.SCORE_UNITS[score][0]} ({official.at[score, 'spearman']:.3f} [" in text
    far = reference[(reference["score"] != "") & (reference["ours vs reference"] < 0.95)]
    assert ("less so" in text) == (not far.empty)
