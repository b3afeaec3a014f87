"""Chapter 6's NAS-Bench-201 labels: two label sources and two scores versions compared."""

from __future__ import annotations

import numpy as np
import pandas as pd

from reuseprior.baselines.registry import DATA_DEPENDENT
from reuseprior.chapters.ch6_predictive_validity.live import LIVE_TOLERANCE
from reuseprior.chapters.ch6_predictive_validity.reading import NB201_LABELS
from reuseprior.chapters.ch6_predictive_validity.tables import (
    ALL_SCORES,
    SCORE_UNITS,
    load_published,
    published_rho_text,
    score_kind,
    with_published,
)
from reuseprior.core.ordering import sort_rows
from reuseprior.zoo.correlation import bootstrap_rank_correlation, correlation_table
from reuseprior.zoo.nasbench201 import NASLIB_PROXIES, is_connected, load_naslib_subset, parse_arch
from reuseprior.zoo.scoring import (
    load_scores,
    published_version,
    since_version,
    version_complete_on,
)

#: Our score -> the same proxy's name in NASLib's file (the reference implementation's score is ``ref_<name>``).
NASLIB_NAMES: dict[str, str] = {
    "params": "params",
    "flops": "flops",
    "synflow": "synflow",
    "snip": "snip",
    "grasp": "grasp",
    "fisher": "fisher",
    "grad_norm": "grad_norm",
    "jacob_cov": "jacov",
    "naswot": "nwot",
}


def nb201_labelled_rows(version: int | None = None) -> pd.DataFrame:
    """The stored NAS-Bench-201 scores (``data/zoo_scores_v<version>_nb201.csv.xz``,
    whose ``accuracy`` is analog-nasbench's label) of the cells of the NASLib
    subset (``data/nasbench201_naslib_subset.csv``: NAS-Bench-201's official
    validation accuracies ``val_acc_<dataset>`` and the reference
    implementation's CIFAR-10 scores ``ref_<proxy>``), joined on the
    architecture string; ``connected`` marks the cells whose output depends
    on their input. ``version`` defaults to the newest scores version that is
    complete on the subset's cells
    (:func:`reuseprior.zoo.scoring.version_complete_on`), recorded in
    ``attrs["scores_version"]``: these comparisons need only the 725 cells,
    so they follow the reference definitions as soon as those cells are
    rescored, while the full-zoo tables wait for the whole zoo."""
    subset = load_naslib_subset()
    version = version_complete_on("nb201", subset["arch"]) if version is None else version
    rows = load_scores("nb201", version).merge(subset, on="arch", how="inner", validate="one_to_one")
    rows["connected"] = [is_connected(parse_arch(a)) for a in rows["arch"]]
    rows.attrs["scores_version"] = version
    return rows


def nb201_version_change(n_boot: int, seed: int = 0, rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """What the scores version changed on the NASLib subset: for every score
    whose definition changed after version 1 (:func:`reuseprior.zoo.scoring.since_version`),
    its rank agreement with the reference implementation's score and its rho
    with the official CIFAR-10 label, under version 1 and under the version the
    subset reads (:func:`nb201_labelled_rows`), on the same cells (bootstrap
    95% intervals on the version the subset reads; ``rows``: that
    function's table, read when not given). Empty while the subset reads
    version 1."""
    new = nb201_labelled_rows() if rows is None else rows
    version = new.attrs["scores_version"]
    if version == 1:
        return pd.DataFrame()
    old = nb201_labelled_rows(1).set_index("arch").reindex(new["arch"]).reset_index()
    label = new[NB201_LABELS["official CIFAR-10"][0]].astype(float).to_numpy()
    out = []
    for score in [s for s in ALL_SCORES if since_version(s) > 1 and s in new.columns]:
        ref_name = NASLIB_NAMES.get(score)
        theirs = new[f"ref_{ref_name}"].astype(float).to_numpy() if ref_name else np.full(len(new), np.nan)
        a, b = old[score].astype(float).to_numpy(), new[score].astype(float).to_numpy()
        ok = np.isfinite(a) & np.isfinite(b) & np.isfinite(label) & (np.isfinite(theirs) if ref_name else True)
        agree_old = bootstrap_rank_correlation(a[ok], theirs[ok], n_boot=0) if ref_name else {"spearman": np.nan}
        agree_new = (
            bootstrap_rank_correlation(b[ok], theirs[ok], n_boot=n_boot, seed=seed)
            if ref_name
            else {"spearman": np.nan, "spearman_lo": np.nan, "spearman_hi": np.nan}
        )
        label_new = bootstrap_rank_correlation(b[ok], label[ok], n_boot=n_boot, seed=seed)
        out.append(
            {
                "score": score,
                "changed in": f"v{since_version(score)}",
                "n": int(ok.sum()),
                "v1 vs reference": agree_old["spearman"],
                **with_interval(f"v{version} vs reference", agree_new),
                "v1 vs official CIFAR-10": bootstrap_rank_correlation(a[ok], label[ok], n_boot=0)["spearman"],
                **with_interval(f"v{version} vs official CIFAR-10", label_new),
                f"v1 vs v{version} (same cells)": bootstrap_rank_correlation(a[ok], b[ok], n_boot=0)["spearman"],
            }
        )
    return pd.DataFrame(out)


def with_interval(column: str, result: dict[str, float]) -> dict[str, float]:
    """A :func:`reuseprior.zoo.correlation.bootstrap_rank_correlation` result's rho and 95%
    interval as the columns ``column``, ``column lo`` and ``column hi``."""
    return {column: result["spearman"], f"{column} lo": result["spearman_lo"], f"{column} hi": result["spearman_hi"]}


def version_change(zoos: list[str], n_boot: int, seed: int = 0) -> pd.DataFrame:
    """What the newest scores version changed on each zoo: for every score
    whose stored values differ between version 1 and the version the zoo is
    read at (:func:`reuseprior.zoo.scoring.published_version`) on at least one
    row (finite in one version only, or a relative difference beyond
    :data:`LIVE_TOLERANCE`: 1e-9 for exact and float64 scores, 1e-2 for the
    float32 proxies, whose rows scored again on another CPU differ by its
    rounding; GraSP's rounding can exceed that, see :func:`rescore_stored_rows`), the
    rows that changed and the Spearman rho with accuracy under each version,
    on the rows finite in both (the accuracy of the version read; bootstrap
    95% interval on that version). A changed definition (Fisher, SynFlow,
    FLOPs) shows on every zoo; a changed setting (torchvision's evaluation
    crop) on every score of the models it moves. A zoo still read at version
    1 has no rows here."""
    out = []
    for zoo in zoos:
        version = published_version(zoo)
        if version == 1:
            continue
        new = load_scores(zoo, version).set_index("arch")
        old = load_scores(zoo, 1).set_index("arch").reindex(new.index)
        accuracy = new["accuracy"].astype(float).to_numpy()
        for score in [s for s in ALL_SCORES if s in new.columns and s in old.columns]:
            a, b = old[score].astype(float).to_numpy(), new[score].astype(float).to_numpy()
            finite_a, finite_b = np.isfinite(a), np.isfinite(b)
            both = finite_a & finite_b
            scale = np.maximum(np.abs(a), np.abs(b))
            moved = np.zeros(len(a), dtype=bool)
            tolerance = LIVE_TOLERANCE["float32" if score in DATA_DEPENDENT else "exact"]
            moved[both] = np.abs(a[both] - b[both]) > tolerance * scale[both]
            changed = moved | (finite_a != finite_b)
            if not changed.any():
                continue
            rho_new = bootstrap_rank_correlation(b[both], accuracy[both], n_boot=n_boot, seed=seed)
            out.append(
                {
                    "zoo": zoo,
                    "score": score,
                    "rows changed": int(changed.sum()),
                    "n": int(both.sum()),
                    "v1 spearman": bootstrap_rank_correlation(a[both], accuracy[both], n_boot=0)["spearman"],
                    **with_interval(f"v{version} spearman", rho_new),
                    f"v1 vs v{version}": bootstrap_rank_correlation(a[both], b[both], n_boot=0)["spearman"],
                }
            )
    return pd.DataFrame(out)


def nb201_label_agreement(rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """How far analog-nasbench's CIFAR-10 label is from NAS-Bench-201's
    official one on the common cells: Spearman rho between them, and the mean,
    smallest and largest difference analog minus official (percentage
    points), on every common cell and on the connected ones. For scale, the
    official CIFAR-100 and ImageNet16-120 labels against the official CIFAR-10
    one (their accuracies are on other test sets: no difference is given)."""
    rows = nb201_labelled_rows() if rows is None else rows
    reference = NB201_LABELS["official CIFAR-10"][0]
    out = []
    for label, (column, _, _) in NB201_LABELS.items():
        if column == reference:
            continue
        subsets = {"all common cells": rows}
        if label == "analog CIFAR-10":
            subsets["connected cells"] = rows[rows["connected"]]
        for cells, df in subsets.items():
            a, b = df[column].astype(float), df[reference].astype(float)
            ok = np.isfinite(a) & np.isfinite(b)
            diff = (a - b)[ok] if label.endswith("CIFAR-10") else pd.Series(dtype=float)
            r = bootstrap_rank_correlation(a[ok], b[ok], n_boot=0)
            out.append(
                {
                    "label": label,
                    "against": "official CIFAR-10",
                    "cells": cells,
                    "n": r["n"],
                    "spearman": r["spearman"],
                    "mean difference": diff.mean() if len(diff) else np.nan,
                    "min difference": diff.min() if len(diff) else np.nan,
                    "max difference": diff.max() if len(diff) else np.nan,
                }
            )
    return pd.DataFrame(out)


def nb201_scores_both_labels(n_boot: int, seed: int = 0, rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every stored NAS-Bench-201 score (baselines, proxies and reusability
    quantities) against each label of :data:`NB201_LABELS` on the cells of
    the NASLib subset: Spearman/Kendall with bootstrap 95% intervals
    (:func:`reuseprior.zoo.correlation.correlation_table`), one row per score
    and label. ``published spearman`` / ``published n`` are the published rho
    measured on the same benchmark's label (the official rows only:
    ``data/published_proxy_correlations.csv``, which records NAS-Bench-201's
    own accuracies over all 15,625 cells, NASWOT and #params over a
    ~725-cell subset, but not the split)."""
    rows = nb201_labelled_rows() if rows is None else rows
    published = load_published()
    published = published[published["zoo"] == "nb201"]
    scores = [s for s in ALL_SCORES if s in rows.columns and rows[s].notna().sum() >= 3]
    frames = []
    for label, (column, dataset, _) in NB201_LABELS.items():
        t = correlation_table(rows, scores, accuracy=column, n_boot=n_boot, seed=seed)
        pub = published[published["dataset"] == dataset]
        t.insert(0, "label", label)
        t.insert(1, "kind", [score_kind(s) for s in t["score"]])
        frames.append(with_published(t, pub))
    out = pd.concat(frames, ignore_index=True)
    return out[["score", *[c for c in out.columns if c != "score"]]]


def nb201_labels_wide(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`nb201_scores_both_labels` as one row per score: rho with each
    label, the change from the analog to the official CIFAR-10 label, and the
    published rho beside the label it was measured on."""
    rho = table.pivot(index="score", columns="label", values="spearman")
    pub = table.pivot(index="score", columns="label", values="published spearman")
    n = table.pivot(index="score", columns="label", values="n")
    out = pd.DataFrame(index=pd.Index([s for s in ALL_SCORES if s in rho.index], name="score"))
    out["n"] = n["official CIFAR-10"]
    out["analog CIFAR-10"] = rho["analog CIFAR-10"]
    out["official CIFAR-10"] = rho["official CIFAR-10"]
    out["official - analog"] = out["official CIFAR-10"] - out["analog CIFAR-10"]
    for label, (_, dataset, _) in NB201_LABELS.items():
        if dataset is None:
            continue
        if label != "official CIFAR-10":
            out[label] = rho[label]
        out[f"published {dataset}"] = pub[label]
    return out.reset_index()


def nb201_reference_agreement(n_boot: int, seed: int = 0, rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """Our scores against the reference implementation's scores of the same
    proxies (NASLib's file, :data:`NASLIB_NAMES`) on the same cells: Spearman
    rho ours vs reference (bootstrap 95% interval), and each one's rho with
    the official CIFAR-10 label, all on the cells where ours, the reference
    and the label are finite (``n``). The reference's proxies we do not
    compute are listed with their own rho only. Our data-dependent proxies
    see the stand-in minibatch, the reference's a CIFAR-10 one."""
    rows = nb201_labelled_rows() if rows is None else rows
    label = rows[NB201_LABELS["official CIFAR-10"][0]].astype(float)
    ours_of = {ref: ours for ours, ref in NASLIB_NAMES.items()}
    out = []
    for ref in NASLIB_PROXIES:
        theirs = rows[f"ref_{ref}"].astype(float)
        ours_name = ours_of.get(ref)
        ours = rows[ours_name].astype(float) if ours_name in rows.columns else pd.Series(np.nan, index=rows.index)
        ok = np.isfinite(theirs) & np.isfinite(label) & (np.isfinite(ours) if ours_name else True)
        agree = bootstrap_rank_correlation(ours[ok], theirs[ok], n_boot=n_boot, seed=seed)
        out.append(
            {
                "naslib proxy": ref,
                "score": ours_name or "",
                "n": int(ok.sum()),
                "ours vs reference": agree["spearman"],
                "ours vs reference lo": agree["spearman_lo"],
                "ours vs reference hi": agree["spearman_hi"],
                "ours vs official CIFAR-10": bootstrap_rank_correlation(ours[ok], label[ok], n_boot=0)["spearman"],
                "reference vs official CIFAR-10": bootstrap_rank_correlation(theirs[ok], label[ok], n_boot=0)[
                    "spearman"
                ],
            }
        )
    return pd.DataFrame(out)


def nb201_reading(
    rows: pd.DataFrame, label_agreement: pd.DataFrame, both_labels: pd.DataFrame, reference: pd.DataFrame
) -> str:
    """The NASLib-subset comparison in words, generated from its three tables
    (:func:`nb201_label_agreement`, :func:`nb201_scores_both_labels`,
    :func:`nb201_reference_agreement`) so the narrative follows the stored
    rows: how the two CIFAR-10 labels differ, SynFlow on each label beside its
    published value, every score with a published value on the official
    label (the like-for-like comparison) and whether the published value lies
    inside our interval, the reusability quantities beside #params, and how
    closely our implementations rank the cells as the reference's do."""
    agree = label_agreement.set_index(["label", "cells"])
    analog = agree.loc[("analog CIFAR-10", "all common cells")]
    c100 = agree.loc[("official CIFAR-100", "all common cells")]
    table = both_labels.set_index(["label", "score"])
    official = table.xs("official CIFAR-10")
    on_analog = table.xs("analog CIFAR-10")

    def rho(score: str, where: pd.DataFrame = official, interval: bool = False) -> str:
        r = where.loc[score]
        return f"{r['spearman']:.3f}" + (f" [{r['spearman_lo']:.3f}, {r['spearman_hi']:.3f}]" if interval else "")

    published = official[official["published spearman"].notna()]

    def published_text(r: pd.Series) -> str:
        return published_rho_text(r["published spearman"], r["published approximate"])

    like = ", ".join(f"{SCORE_UNITS[s][0]} {rho(s)} ({published_text(r)})" for s, r in published.iterrows())
    ours = reference[reference["score"] != ""].set_index("score")  # the reference's proxies we also compute
    reference_rho = ours["reference vs official CIFAR-10"]

    def beside_reference(score: str) -> str:
        if score not in reference_rho.index:
            return ""
        return f"; the reference implementation's own score gives {reference_rho[score]:.3f} on these cells"

    outside = [
        f"{SCORE_UNITS[s][0]} ({rho(s, interval=True)} vs {published_text(r)}{beside_reference(s)})"
        for s, r in published.iterrows()
        if not r["spearman_lo"] <= r["published spearman"] <= r["spearman_hi"]
    ]
    thesis = [s for s in ("PG", "PG_prime", "total_surprisal") if s in official.index]
    ref = sort_rows(ours, "ours vs reference", then="score", ascending=False)
    close = ref[ref["ours vs reference"] >= 0.95]
    far = ref[ref["ours vs reference"] < 0.95]

    def listed(t: pd.DataFrame) -> str:
        return ", ".join(f"{SCORE_UNITS[s][0]} {v:.3f}" for s, v in t["ours vs reference"].items())

    synflow_pub = official.at["synflow", "published spearman"]
    return "\n".join(
        [
            f"Reading (scores version {rows.attrs.get('scores_version', 1)} on these {len(rows)} cells, generated "
            "from the three tables above; intervals of this run's profile):",
            "",
            f"- **The two CIFAR-10 labels** rank the cells alike (rho {analog['spearman']:.3f}; the official "
            f"CIFAR-10 and CIFAR-100 labels: {c100['spearman']:.3f}), but analog-nasbench's is "
            f"{analog['mean difference']:.2f} points higher on average (up to {analog['max difference']:.2f}).",
            f"- **SynFlow** gives {rho('synflow', interval=True)} on the official label against the published "
            f"{synflow_pub:.3f}, and {rho('synflow', on_analog)} on the analog label of the same cells: a reading "
            "above the published value on the analog label comes from the label.",
            f"- **Like for like** (official CIFAR-10 label; published rho in brackets): {like}. "
            + (
                f"Published values outside our 95% interval: {'; '.join(outside)}."
                if outside
                else "Every published value lies inside our 95% interval."
            ),
            "- **The reusability quantities** on the official label: "
            + ", ".join(f"{SCORE_UNITS[s][0]} {rho(s)}" for s in thesis)
            + f", against #params {rho('params')}.",
            f"- **Our implementations against the reference's** scores of the same cells: {listed(close)} rank "
            "them alike (rho at least 0.95)"
            + (
                f"; {listed(far)} less so. The data-dependent proxies see our stand-in minibatch, the reference "
                "a CIFAR-10 one (the stand-in minibatch section below measures how far the minibatch moves each)."
                if not far.empty
                else "."
            ),
        ]
    )
