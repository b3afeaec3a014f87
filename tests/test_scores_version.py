"""Versions of the stored zoo scores (issue 18): the upgrade from the previous
version's CSV, the fill of what it left pending, which version the chapter
reads, and the live check of a table whose definitions are older than the code.

A tiny synthetic zoo (milliseconds per row) in a temporary data folder stands
in for the real ones; one of its models gets a larger input at the current
version than at version 1, as the torchvision models scored at their
evaluation crop do."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import lzma
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

from reuseprior.baselines.registry import DATA_DEPENDENT, ZOO_PROXIES
from reuseprior.chapters import ch6_predictive_validity as pv
from reuseprior.commands import main
from reuseprior.core import paths
from reuseprior.core.cpu import cpu_kernels
from reuseprior.zoo import batch_sensitivity as bs
from reuseprior.zoo import scoring
from reuseprior.zoo.distributed import connect
from reuseprior.zoo.scoring import fill as scoring_fill
from reuseprior.zoo.store import StoreError, csv_bytes, meta_path
from reuseprior.zoo.torchvision_zoo import build_torchvision, eval_crop, load_torchvision_zoo

OLD, NEW = scoring.SCORES_VERSION - 1, scoring.SCORES_VERSION
ARCHS = [f"tiny{i}" for i in range(5)]
#: The model whose input size changes: 8 px at version 1, 12 px now.
RESIZED = "tiny3"


def _catalogue() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "arch": ARCHS,
            "accuracy": [10.0 + 7.123456789 * i for i in range(len(ARCHS))],
            "size": [12 if a == RESIZED else 8 for a in ARCHS],
        }
    )


def _build(arch: str) -> nn.Module:
    width = 2 + int(arch[4:]) % 3
    return nn.Sequential(nn.Conv2d(3, width, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10))


def _order(cat: pd.DataFrame, seed: int) -> list[str]:
    return cat["arch"].tolist()


def _size(row: pd.Series) -> int:
    return int(row["size"])


def _zoo() -> scoring.Zoo:
    return scoring.Zoo("tiny", "versioned test zoo", _catalogue, _build, 4, _size, 10, _order)


@pytest.fixture
def tiny(register, tmp_path) -> Path:
    """The tiny zoo (8 px for every model at version 1) and a data folder holding its
    version-1 CSV: real values of the unchanged scores, stand-ins (x 3) for the changed ones."""
    register(scoring.ZOOS, "tiny", dataclasses.replace(_zoo(), earlier={OLD: {"image_size": 8}}))
    old_zoo = scoring.get_zoo("tiny", OLD)
    rows = []
    for k, arch in enumerate(ARCHS):
        rec = scoring.score_architecture(old_zoo, arch, reuse=True)
        for score in scoring.changed_scores(NEW):
            rec[score] = 3.0 * rec[score]  # as the older definition stored it: another quantity
        rows.append(rec | {"order": k, "scored_at": "2026-01-01T00:00:00+00:00"})
    frame = pd.DataFrame(rows).reindex(columns=scoring.stored_columns(OLD))
    frame["errors"] = frame["errors"].astype(object)
    changed_proxy = [p for p in scoring.changed_scores(NEW) if p in DATA_DEPENDENT][0]
    frame.loc[1, ["grasp", changed_proxy]] = np.nan  # failed at version 1: the changed one's message goes
    frame.loc[1, "errors"] = json.dumps({"grasp": "RuntimeError: out of memory", changed_proxy: "ValueError: old"})
    frame.loc[2, "errors"] = json.dumps({"grasp": "ValueError: kept as written"})
    frame.to_csv(scoring.scores_path("tiny", OLD, tmp_path), index=False, float_format="%.17g")
    meta = {"zoo": "tiny", "scores_version": OLD, "seed": 0}
    meta_path(scoring.scores_path("tiny", OLD, tmp_path)).write_text(json.dumps(meta))
    return tmp_path


@pytest.fixture
def threads_client():
    with connect(workers=1, processes=False, say=lambda _: None) as client:
        yield client


def _cells(path: Path) -> dict[str, dict[str, str]]:
    """The CSV's cells as written (text), by architecture."""
    with open(path, newline="") as fh:
        return {row["arch"]: row for row in csv.DictReader(fh)}


def test_the_registry_names_what_changed_in_this_version():
    changed = scoring.changed_scores(NEW)
    assert changed and set(changed) <= set(ZOO_PROXIES)  # the reusability quantities are unchanged
    assert set(scoring.comparable_scores(OLD)) == {*ZOO_PROXIES, *scoring.REUSE_SCORES} - set(changed)
    assert scoring.stored_columns(OLD) == [c for c in scoring.stored_columns(NEW) if c != "pending"]


def test_the_upgrade_copies_unchanged_columns_bit_for_bit_and_blanks_the_changed_ones(tiny):
    record = scoring.upgrade_scores("tiny", data_dir=tiny, progress=False)
    old, new = _cells(scoring.scores_path("tiny", OLD, tiny)), _cells(scoring.scores_path("tiny", NEW, tiny))
    assert list(new) == list(old)  # every row, in the same order
    changed = scoring.changed_scores(NEW)
    blank = {c for s in changed for c in (s, f"{s}_seconds", f"{s}_cpu_seconds")}
    carried = [c for c in scoring.stored_columns(OLD) if c not in blank and c not in ("order", "arch", "accuracy")]
    assert record["carried_over"] == carried and record["recomputed"]["scores"] == changed
    assert record["recomputed_entirely"]["archs"] == {RESIZED: {"image_size": [8, 12]}}
    changed_proxy = [p for p in changed if p in DATA_DEPENDENT][0]
    for arch in ARCHS:
        assert [new[arch][c] for c in ("order", "arch", "accuracy")] == [
            old[arch][c] for c in ("order", "arch", "accuracy")
        ]
        if arch == RESIZED:  # its input changed: every score waits for the fill
            assert all(new[arch][c] == "" for c in carried)
            assert new[arch]["pending"].split() == [*ZOO_PROXIES, "reuse"]
            continue
        assert all(new[arch][c] == "" for c in blank) and new[arch]["pending"].split() == changed
        for column in carried:
            if column != "errors" or arch != "tiny1":
                assert new[arch][column] == old[arch][column], (arch, column)  # the text as written: bit for bit
    assert json.loads(new["tiny1"]["errors"]) == {"grasp": "RuntimeError: out of memory"}  # not changed_proxy's
    assert json.loads(old["tiny1"]["errors"])[changed_proxy] == "ValueError: old"
    meta = json.loads(meta_path(scoring.scores_path("tiny", NEW, tiny)).read_text())
    assert meta["scores_version"] == NEW and meta["upgraded_from"] == record and meta["archs_in_zoo"] == len(ARCHS)
    with pytest.raises(StoreError, match="already holds 5 rows .* --fill-proxies"):
        scoring.upgrade_scores("tiny", data_dir=tiny, progress=False)  # a fill in progress is never started over


def test_the_chapter_reads_the_old_version_until_the_fill_completes_the_new_one(tiny, threads_client):
    scoring.upgrade_scores("tiny", data_dir=tiny, progress=False)
    old = pd.read_csv(scoring.scores_path("tiny", OLD, tiny))
    assert scoring.published_version("tiny", tiny) == OLD
    pd.testing.assert_frame_equal(scoring.load_scores("tiny", data_dir=tiny), old)
    state = scoring.completeness("tiny", NEW, tiny)
    assert (state.rows, state.missing, state.pending, state.complete) == (5, 0, 5, False)

    fill = dict(data_dir=tiny, client=threads_client, progress=False)
    assert scoring.fill_proxies("tiny", limit=2, **fill) == 2  # a partial export: the next session goes on
    assert scoring.completeness("tiny", NEW, tiny).pending == 3 and scoring.published_version("tiny", tiny) == OLD
    assert scoring.fill_proxies("tiny", **fill) == 3
    assert scoring.fill_proxies("tiny", **fill) == 0  # nothing left
    assert scoring.completeness("tiny", NEW, tiny).complete and scoring.published_version("tiny", tiny) == NEW
    new = scoring.load_scores("tiny", data_dir=tiny).set_index("arch")
    assert new["pending"].isna().all()
    filled = json.loads(meta_path(scoring.scores_path("tiny", NEW, tiny)).read_text())["filled"]
    assert [f["rows"] for f in filled] == [2, 3] and filled[1]["scores"].split() == [*ZOO_PROXIES, "reuse"]
    assert all(f["cpu_kernels"] == cpu_kernels() for f in filled)  # which float32 kernels computed them

    # every value is what this code computes at this version (the resized model at its new size), and the
    # unchanged scores of the other rows are the old version's
    zoo = scoring.get_zoo("tiny")
    old = old.set_index("arch")
    for arch in ARCHS:
        here = scoring.score_architecture(zoo, arch, reuse=True)
        fresh = scoring.changed_scores(NEW) if arch != RESIZED else [*ZOO_PROXIES, *scoring.REUSE_SCORES]
        for score in [*ZOO_PROXIES, *scoring.REUSE_SCORES]:
            want = here[score] if score in fresh else old.at[arch, score]
            got = new.at[arch, score]
            assert got == want or (np.isnan(got) and np.isnan(want)), (arch, score)
    assert new.at[RESIZED, "PG"] != old.at[RESIZED, "PG"]  # the larger input changes the counts
    assert np.isfinite(new.loc[RESIZED, ["build_seconds", "reuse_seconds", "data_dependent_seconds"]]).all()
    assert json.loads(new.at["tiny1", "errors"]) == {"grasp": "RuntimeError: out of memory"}

    # a catalogue architecture without a row: not complete
    elsewhere = tiny / "elsewhere"
    elsewhere.mkdir()
    csv_path = scoring.scores_path("tiny", NEW, tiny)
    pd.read_csv(csv_path).iloc[1:].to_csv(scoring.scores_path("tiny", NEW, elsewhere), index=False)
    (elsewhere / scoring.scores_path("tiny", OLD, tiny).name).write_bytes(
        scoring.scores_path("tiny", OLD, tiny).read_bytes()
    )
    assert scoring.completeness("tiny", NEW, elsewhere).missing == 1
    assert scoring.published_version("tiny", elsewhere) == OLD


def test_a_subset_reads_the_new_version_once_its_own_rows_are_filled(tiny, threads_client):
    scoring.upgrade_scores("tiny", data_dir=tiny, progress=False)
    first, rest = ARCHS[:2], ARCHS[2:]
    assert scoring.version_complete_on("tiny", first, tiny) == OLD  # the subset's rows are pending
    scoring.fill_proxies("tiny", archs=first, data_dir=tiny, client=threads_client, progress=False)
    assert scoring.version_complete_on("tiny", first, tiny) == NEW
    assert scoring.published_version("tiny", tiny) == OLD  # the whole zoo still waits
    assert scoring.version_complete_on("tiny", [*first, rest[0]], tiny) == OLD  # one pending row is enough
    assert scoring.version_complete_on("tiny", [*first, "not-in-the-zoo"], tiny) == OLD  # nor is a missing row


def test_the_live_check_compares_only_the_definitions_the_table_was_stored_with(tiny, monkeypatch):
    monkeypatch.setattr(paths, "DATA_DIR", tiny)
    assert scoring.published_version("tiny") == OLD
    live = pv.rescore_stored_rows("tiny", 1, reuse=True)
    changed = set(scoring.changed_scores(NEW))
    compared = live[live["note"] == ""]
    skipped = live[live["note"] != ""]
    assert set(skipped["score"]) == changed and set(compared["score"]).isdisjoint(changed)
    assert compared["within tolerance"].astype(bool).all() and len(compared) >= 2
    assert skipped["within tolerance"].isna().all() and skipped["live"].isna().all()
    assert (skipped["note"] == f"definition changed in v{NEW}, not compared").all()
    both = pd.concat([live.assign(zoo="tiny"), live.assign(zoo="again")])
    assert both["within tolerance"].all()  # the notebook's assertion: the compared scores agree, the rest skipped


@pytest.mark.parametrize(
    ("score", "change", "agrees"),
    [
        ("snip", 1 + 1e-4, True),  # float32 proxy: another CPU's kernels sum in another order
        ("grad_norm", 1.05, False),  # ... but 5 % is another computation
        ("PG", 1 + 1e-7, False),  # an exact score must reproduce to 1e-9
        ("params", 1 + 1e-7, False),
    ],
)
def test_the_live_check_holds_each_score_to_its_tolerance(tiny, monkeypatch, score, change, agrees):
    monkeypatch.setattr(paths, "DATA_DIR", tiny)
    path = scoring.scores_path("tiny", OLD, tiny)
    frame = pd.read_csv(path)
    frame[score] = frame[score] * change
    frame.to_csv(path, index=False, float_format="%.17g")
    live = pv.rescore_stored_rows("tiny", 1, reuse=True).set_index("score")
    assert bool(live.loc[score, "within tolerance"]) is agrees
    assert live.loc[score, "tolerance"] == pv.LIVE_TOLERANCE["float32" if score in DATA_DEPENDENT else "exact"]
    assert pv.tolerance_kind(score) == ("float32" if score in DATA_DEPENDENT else "exact")
    others = live.drop(index=score)
    assert others["within tolerance"].dropna().all()  # only the changed score moves


def test_synflow_is_held_to_the_tolerance_of_float32_initial_weights():
    """SynFlow is float64 arithmetic on float32-initialised weights: 1e-6, between the exact scores and the proxies."""
    assert pv.tolerance_kind("synflow") == "float32 weights" and pv.tolerance_kind("grasp") == "grasp"
    assert pv.LIVE_TOLERANCE["exact"] < pv.LIVE_TOLERANCE["float32 weights"] < pv.LIVE_TOLERANCE["float32"]


def test_the_live_check_judges_grasp_against_the_magnitude_of_its_summands(tiny, monkeypatch):
    """GraSP cancels: its rounding is a fraction of sum |theta * H g|, not of GraSP."""
    monkeypatch.setattr(paths, "DATA_DIR", tiny)
    live = pv.rescore_stored_rows("tiny", 1, reuse=True).set_index("score")
    magnitude = live.loc["grasp", "scale"]
    assert magnitude > abs(live.loc["grasp", "live"])  # the summands are larger than their sum
    path = scoring.scores_path("tiny", OLD, tiny)
    frame = pd.read_csv(path)
    arch = live.loc["grasp", "arch"]
    for shift, agrees in ((0.5e-4, True), (2e-4, False)):
        frame.loc[frame["arch"] == arch, "grasp"] = live.loc["grasp", "live"] + shift * magnitude
        frame.to_csv(path, index=False, float_format="%.17g")
        again = pv.rescore_stored_rows("tiny", 1, reuse=True).set_index("score")
        assert bool(again.loc["grasp", "within tolerance"]) is agrees
        assert again.loc["grasp", "difference / scale"] == pytest.approx(shift, rel=1e-3)


def test_version_change_lists_what_the_new_definitions_and_the_new_input_size_moved(tiny, threads_client, monkeypatch):
    with monkeypatch.context() as reading:  # the chapter reads data/; the fill keeps its store beside the CSVs
        reading.setattr(paths, "DATA_DIR", tiny)
        assert pv.version_change(["tiny"], n_boot=20).empty  # still read at version 1: nothing to compare
    scoring.upgrade_scores("tiny", data_dir=tiny, progress=False)
    scoring.fill_proxies("tiny", data_dir=tiny, client=threads_client, progress=False)
    monkeypatch.setattr(paths, "DATA_DIR", tiny)
    table = pv.version_change(["tiny"], n_boot=20).set_index("score")
    old = pd.read_csv(scoring.scores_path("tiny", OLD, tiny)).set_index("arch")
    new = pd.read_csv(scoring.scores_path("tiny", NEW, tiny)).set_index("arch").reindex(old.index)
    for score in scoring.changed_scores(NEW):  # the stand-ins are 3x the new values: every finite row moved
        finite = old[score].notna() & new[score].notna()
        moved = int(finite.sum() + (old[score].notna() != new[score].notna()).sum())
        assert table.loc[score, "rows changed"] == moved and table.loc[score, "n"] == finite.sum()
        for version, values in ((1, old), (NEW, new)):  # each version's rho with the accuracy read, on the same rows
            rho = spearmanr(values.loc[finite, score], new.loc[finite, "accuracy"]).statistic
            assert table.loc[score, f"v{version} spearman"] == pytest.approx(rho)
    assert table.loc["snip", "rows changed"] == 1  # unchanged definition: only the model scored at 12 px moves
    assert "params" not in table.index  # a convolution's parameters do not depend on the input size
    assert table[f"v{NEW} spearman lo"].le(table[f"v{NEW} spearman"]).all()


def test_the_minibatch_study_scores_each_model_at_its_own_input_size(tiny):
    """As the stored scores do (a torchvision model at its evaluation crop): the
    stored minibatch's rows equal the scores of the zoo's own minibatch at the
    model's size, the resized model's included."""
    variants = {bs.REFERENCE: bs.MINIBATCHES[bs.REFERENCE], "noise, seed 0": bs.MINIBATCHES["noise, seed 0"]}
    path = bs.score_minibatches("tiny", len(ARCHS), minibatches=variants, data_dir=tiny, progress=False)
    rows = pd.read_csv(path)
    assert path.name == f"zoo_batch_sensitivity_v{NEW}_tiny.csv" and len(rows) == 2 * len(ARCHS)
    reference = rows[rows["minibatch"] == bs.REFERENCE].set_index("arch")
    zoo = scoring.get_zoo("tiny")
    for arch in ARCHS:
        size = 12 if arch == RESIZED else 8
        assert f"{size}x{size}" in reference.at[arch, "batch"]
        expected = scoring.score_architecture(zoo, arch, proxies=sorted(DATA_DEPENDENT), reuse=False)
        for proxy in DATA_DEPENDENT:
            assert reference.at[arch, proxy] == pytest.approx(expected[proxy], rel=1e-9, nan_ok=True), (arch, proxy)


def test_torchvision_models_get_their_recipes_crop_from_this_version_on():
    cat = load_torchvision_zoo().set_index("arch")
    row = pd.Series({"arch": "vit_h_14", **cat.loc["vit_h_14"]})
    assert scoring.get_zoo("torchvision", 1).size_of(row) == 224 and scoring.get_zoo("torchvision").size_of(row) == 518
    assert (cat["eval_crop"] != 224).sum() == 16 and eval_crop("inception_v3") == 299
    with torch.device("meta"):  # no memory, no random numbers: only the shapes
        vit = build_torchvision("vit_h_14", image_size=518)
        efficientnet = build_torchvision("efficientnet_b7", image_size=600)  # takes any input as built
    assert vit.image_size == 518 and sum(p.numel() for p in vit.parameters()) == cat.at["vit_h_14", "published_params"]
    assert sum(p.numel() for p in efficientnet.parameters()) == cat.at["efficientnet_b7", "published_params"]


def test_a_compressed_table_is_upgraded_as_its_plain_text_would_be(tiny, monkeypatch, register):
    """The upgrade of a zoo stored xz-compressed reads and writes ``.csv.xz``, records the SHA-256 of the
    old table's text, and writes the text a plain table's upgrade writes."""
    old_text = scoring.scores_path("tiny", OLD, tiny).read_bytes()
    scoring.upgrade_scores("tiny", data_dir=tiny, progress=False)
    plain_new = scoring.scores_path("tiny", NEW, tiny).read_bytes()
    packed = tiny / "packed"
    packed.mkdir()
    register(scoring.ZOOS, "tiny", dataclasses.replace(scoring.ZOOS.get("tiny"), compressed_csv=True))
    old = scoring.scores_path("tiny", OLD, packed)
    assert old.name.endswith(".csv.xz")
    old.write_bytes(lzma.compress(old_text))
    meta_path(old).write_text(json.dumps({"zoo": "tiny", "scores_version": OLD, "seed": 0}))
    record = scoring.upgrade_scores("tiny", data_dir=packed, progress=False)
    new = scoring.scores_path("tiny", NEW, packed)
    assert new.name.endswith(".csv.xz") and csv_bytes(new) == plain_new
    assert record["sha256"] == json.loads(meta_path(new).read_text())["upgraded_from"]["sha256"]
    assert record["sha256"] == hashlib.sha256(old_text).hexdigest()


def test_cli_upgrades_exports_imports_and_reports_the_status(tmp_path, capsys):
    for suffix in (".csv", ".meta.json"):
        source = scoring.scores_path("torchvision", OLD).with_suffix(suffix)
        (tmp_path / source.name).write_bytes(source.read_bytes())
    where = ["--data-dir", str(tmp_path), "--store", str(tmp_path / "a.sqlite")]
    assert main(["score-zoos", "torchvision", "--upgrade", *where]) == 0
    out = capsys.readouterr().out
    assert "pending: " in out and "on 64 rows, every score on 16 rows whose input size changed" in out
    upgraded = scoring.scores_path("torchvision", NEW, tmp_path)
    written = upgraded.read_bytes()
    assert main(["score-zoos", "torchvision", "--upgrade", *where]) == 2
    assert "already holds 80 rows" in capsys.readouterr().err
    other = ["--data-dir", str(tmp_path), "--store", str(tmp_path / "b.sqlite")]
    assert main(["score-zoos", "torchvision", "--import", *other]) == 0
    upgraded.unlink()
    assert main(["score-zoos", "torchvision", "--export", *other]) == 0
    assert upgraded.read_bytes() == written
    assert main(["score-zoos", "torchvision", "--status", *other]) == 0
    status = capsys.readouterr().out
    assert f"torchvision v{NEW}: 80 rows, 0 architectures missing, 80 rows pending" in status
    assert f"the chapter reads version {OLD}" in status


def test_a_fill_limit_is_a_prefix_of_the_order_and_two_fills_at_once_record_a_row_once(
    tiny, threads_client, monkeypatch
):
    """Issue 35, item 6: ``--limit N`` counted per invocation (a fill killed and run again filled more rows
    than one uninterrupted fill), and two fills at once each recorded the same rows in the history."""
    scoring.upgrade_scores("tiny", data_dir=tiny, progress=False)
    fill = dict(data_dir=tiny, client=threads_client, progress=False)
    real_run = scoring_fill.run_arch_jobs

    def another_fill_first(jobs, on_done, **kwargs):
        monkeypatch.setattr(scoring_fill, "run_arch_jobs", real_run)
        assert scoring.fill_proxies("tiny", limit=2, **fill) == 2  # the other fill stores the same rows first
        real_run(jobs, on_done, **kwargs)

    monkeypatch.setattr(scoring_fill, "run_arch_jobs", another_fill_first)
    assert scoring.fill_proxies("tiny", limit=2, **fill) == 0  # computed, but stored by the other one
    assert scoring.fill_proxies("tiny", limit=2, **fill) == 0  # the same 2 rows: run again, nothing more
    assert scoring.completeness("tiny", NEW, tiny).pending == 3
    assert scoring.fill_proxies("tiny", limit=4, **fill) == 2
    filled = json.loads(meta_path(scoring.scores_path("tiny", NEW, tiny)).read_text())["filled"]
    assert [f["rows"] for f in filled] == [2, 2]


def _scores(path: Path) -> pd.DataFrame:
    """A table's scores by architecture, without the columns that time them."""
    frame = pd.read_csv(path).set_index("arch")
    return frame[[c for c in frame.columns if not c.endswith("seconds") and c not in ("scored_at", "order")]]


def test_a_table_is_continued_under_its_own_seed_and_another_seed_is_refused(register, tmp_path, capsys):
    """A table is scored under one seed (its ``.meta.json``'s): a run that leaves the seed out goes on with
    it, so a table scored in two runs is the table one run stores; any other seed is refused, by each job
    on stored rows and by the command, before anything is computed."""
    register(scoring.ZOOS, "tiny", _zoo())
    with connect(workers=1, processes=False, say=lambda _: None) as client:
        run = dict(client=client, progress=False)
        whole = scoring.score_zoo("tiny", limit=3, seed=3, data_dir=tmp_path / "one", **run)
        scoring.score_zoo("tiny", limit=2, seed=3, data_dir=tmp_path / "two", **run)
        continued = scoring.score_zoo("tiny", limit=3, data_dir=tmp_path / "two", **run)
        other_seed = scoring.score_zoo("tiny", limit=3, data_dir=tmp_path / "zero", **run)
        assert not _scores(other_seed).equals(_scores(whole))  # the seed moves the scores: a mix would show
        pd.testing.assert_frame_equal(_scores(continued), _scores(whole))
        assert json.loads(meta_path(continued).read_text())["seed"] == 3
        written = continued.read_bytes()
        two = dict(data_dir=tmp_path / "two", **run)
        refused = "scored under seed 3 .* seed 0 was asked: its rows would mix two seeds"
        for job in (
            lambda: scoring.score_zoo("tiny", limit=5, seed=0, **two),
            lambda: scoring.fill_proxies("tiny", seed=0, **two),
            lambda: scoring.rescore_proxies("tiny", ["synflow"], seed=0, **two),
            lambda: scoring.relabel_rows("tiny", seed=0, **two),
        ):
            with pytest.raises(StoreError, match=refused):
                job()
        assert continued.read_bytes() == written
    store = ["--data-dir", str(tmp_path / "two"), "--store", str(tmp_path / "two" / "zoo_scores.sqlite")]
    assert main(["score-zoos", "tiny", "--seed", "0", *store]) == 2
    err = capsys.readouterr().err
    assert "seed 3" in err and "leave --seed out to go on with seed 3" in err
    assert continued.read_bytes() == written


def test_a_table_imported_without_its_meta_is_read_as_scored_under_the_default_seed(register, tmp_path):
    """Rows with no recorded seed (a CSV brought in without its ``.meta.json``) are read as the default
    seed's, as the upgrade reads them: another seed is refused, and a scoring that goes on records it."""
    register(scoring.ZOOS, "tiny", _zoo())
    with connect(workers=1, processes=False, say=lambda _: None) as client:
        run = dict(client=client, progress=False, data_dir=tmp_path)
        csv_path = scoring.score_zoo("tiny", limit=2, **run)
        meta_path(csv_path).unlink()
        (tmp_path / "zoo_scores.sqlite").unlink()  # a fresh store imports the CSV alone
        with pytest.raises(StoreError, match=f"scored under seed {scoring.DEFAULT_SEED} .* seed 3 was asked"):
            scoring.rescore_proxies("tiny", ["synflow"], seed=3, **run)
        scoring.score_zoo("tiny", limit=3, **run)
    assert json.loads(meta_path(csv_path).read_text())["seed"] == scoring.DEFAULT_SEED
