"""Chapter 6's reading: the correlation tables in words."""

from __future__ import annotations

import pandas as pd

from reuseprior.baselines.registry import proxy_names
from reuseprior.chapters.ch6_predictive_validity.tables import (
    ALL_SCORES,
    PROXY_SCORES,
    THESIS_SCORES,
    published_rho_text,
)


def reading(table: pd.DataFrame, zoo: str) -> str:
    """A plain-language summary computed from the correlation table: which
    scores' Spearman intervals lie above or below those of #params and FLOPs."""
    t = table[table["zoo"] == zoo].set_index("score")
    if t.empty:
        return f"{zoo}: not enough scored architectures for a reading."
    lines = [f"{zoo}: {int(t['n'].max())} architectures scored."]
    for base in proxy_names(kind="naive baseline"):
        if base not in t.index:
            continue
        b = t.loc[base]
        better = [s for s in t.index if s != base and t.at[s, "spearman_lo"] > b["spearman_hi"]]
        worse = [s for s in t.index if s != base and t.at[s, "spearman_hi"] < b["spearman_lo"]]
        lines.append(
            f"vs {base} (rho {b['spearman']:.3f} [{b['spearman_lo']:.3f}, {b['spearman_hi']:.3f}]): "
            f"clearly better (interval above): {', '.join(better) or 'none'}; "
            f"clearly worse: {', '.join(worse) or 'none'}; "
            "the rest overlap."
        )
    thesis = t[t.index.isin(THESIS_SCORES)]
    if not thesis.empty:
        best = thesis["spearman"].idxmax()
        lines.append(f"best reusability-prior score: {best} (rho {thesis.at[best, 'spearman']:.3f}).")
    proxies = t[t.index.isin(PROXY_SCORES)]
    if not proxies.empty:
        best = proxies["spearman"].idxmax()
        lines.append(f"best baseline/proxy: {best} (rho {proxies.at[best, 'spearman']:.3f}).")
    return "\n".join(lines)


def summary_markdown(table: pd.DataFrame, scores: list[str] | None = None) -> str:
    """The correlation table as one Markdown table, a row per score and a
    column per zoo: ``rho [lo, hi] (n; published rho)``, the form docs/predictive-validity.md
    quotes (so its numbers are pasted from here, not retyped)."""
    if table.empty:
        return ""
    zoos = list(dict.fromkeys(table["zoo"]))
    order = [s for s in (scores or ALL_SCORES) if s in set(table["score"])]
    cells = table.set_index(["score", "zoo"])
    lines = ["| score | " + " | ".join(f"{z} (n)" for z in zoos) + " |", "|---" * (len(zoos) + 1) + "|"]
    for score in order:
        row = []
        for zoo in zoos:
            if (score, zoo) not in cells.index:
                row.append("-")
                continue
            r = cells.loc[(score, zoo)]
            pub = r.get("published spearman")
            extra = f"; published {published_rho_text(pub, r['published approximate'])}" if pd.notna(pub) else ""
            row.append(f"{r['spearman']:.3f} [{r['spearman_lo']:.3f}, {r['spearman_hi']:.3f}] ({int(r['n'])}{extra})")
        lines.append(f"| {score} | " + " | ".join(row) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- NAS-Bench-201: which accuracy label?

#: The NAS-Bench-201 accuracy labels compared on the NASLib subset (:func:`nb201_labelled_rows`): name ->
#: (column, the dataset of ``data/published_proxy_correlations.csv`` measured on the same benchmark's label, or None,
#: what the label is). The chapter's tables use the first, ``analog-nasbench``'s own retraining.
NB201_LABELS: dict[str, tuple[str, str | None, str]] = {
    "analog CIFAR-10": (
        "accuracy",
        None,
        "analog-nasbench 0.1.3 baseline_accuracy: the package's own retraining, CIFAR-10 test accuracy",
    ),
    "official CIFAR-10": (
        "val_acc_cifar10",
        "CIFAR-10",
        "NAS-Bench-201 cifar10-valid record at epoch 200 (trained on 25k CIFAR-10 training images, accuracy on "
        "the other 25k), NASLib's val_accuracy",
    ),
    "official CIFAR-100": (
        "val_acc_cifar100",
        "CIFAR-100",
        "NAS-Bench-201 cifar100 record at epoch 200, NASLib's val_accuracy",
    ),
    "official ImageNet16-120": (
        "val_acc_ImageNet16-120",
        "ImageNet16-120",
        "NAS-Bench-201 ImageNet16-120 record at epoch 200, NASLib's val_accuracy",
    ),
}
