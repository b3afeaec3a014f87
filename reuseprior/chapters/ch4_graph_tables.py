"""Thesis Tables 4.3 and 4.4: graph analysis of EfficientNetV2 and ResNet-50
without training (section 4.5.1, 4.5.7, 4.5.8), recomputed by the counting
engine, "as published" and corrected.

Each table row is a :class:`GraphRow`: which model, which sharing key, the
image size the graph is counted at and the size ``NI`` (eq. 4.7, 4.8) is
taken from. Two settings reproduce quirks of the published numbers, found by
matching every printed digit of Tables 4.3/4.4:

* V2-M and V2-L ("+" in Table 4.4) were counted at 240 px while NI was that
  of 480 px, so their PG/P'G are lower bounds; ResNet-50 was counted at 380 px
  with NI of 384 px.
* The shared rows of Table 4.3 carry the naming collision reproduced by
  :func:`reuseprior.models.sharing.as_published_share_key`.

:data:`AS_PUBLISHED` reproduces the printed digits; :data:`CORRECTED` fixes
all three (correct key, M/L counted at 480 px, ResNet-50 counted at the NI
size) and adds V2-B2, which the thesis does not list.

Models are counted in eval mode, with NO = 1000 outputs, BN at 4 weights per
channel, biases on the SE convolutions and the classifier only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Hashable, Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from scipy.stats import kendalltau, spearmanr

from reuseprior.chapters import register_chapter
from reuseprior.core.progress import progress_bar
from reuseprior.counting import analyze
from reuseprior.models import build_model, sharing
from reuseprior.reporting.digits import round_residuals
from reuseprior.reporting.findings import MatchFinding
from reuseprior.reporting.notebook import Profile
from reuseprior.reporting.plotting import readable_fontsize
from reuseprior.reporting.reference import load_thesis_table, select_thesis_rows, side_by_side

#: this chapter, as the book and the build command list it (reuseprior.chapters.CHAPTERS)
CHAPTER = register_chapter(
    __name__,
    part="Chapter 4: contexts and the reusability prior",
    title="Chapter 4: graph analysis without training (thesis Tables 4.3 and 4.4)",
)

__all__ = [
    "FINDINGS",
    "AS_PUBLISHED",
    "CORRECTED",
    "GraphRow",
    "PROFILES",
    "PUBLISHED_TOP1",
    "SHARE_KEYS",
    "analyze_row",
    "compare_corrected",
    "compare_with_thesis",
    "thesis_rows",
    "compute_rows",
    "plot_predictors_vs_top1",
    "rank_agreement",
    "rank_agreement_by_table",
    "rows_for",
    "trainable_parameters",
]

#: name -> share key function for ``analyze(share_key=...)``
SHARE_KEYS: dict[str | None, Callable | None] = {
    None: None,
    "as_published": sharing.as_published_share_key,
    "corrected": sharing.corrected_share_key,
}

#: Published ImageNet top-1 accuracy (%) as printed in Tables 4.3 and 4.4
#: (Table 4.3: the thesis's own training; Table 4.4: Tan & Le 2021 [1], ResNet-50 included, except V2-S,
#: whose 83.2 is the thesis's own training as in Table 4.3; its footnote 6 gives Tan & Le's 83.6-83.9).
PUBLISHED_TOP1: dict[str, float] = {
    "V2-B0-shared": 73.7,
    "V2-B0": 76.9,
    "V2-S-shared": 78.3,
    "V2-S": 83.2,
    "V2-B1": 79.80,
    "ResNet-50": 80.30,
    "V2-B3": 82.10,
    "V2-M": 85.10,
    "V2-L": 85.70,
}


@dataclass(frozen=True)
class GraphRow:
    """One model analysed for Table 4.3/4.4."""

    label: str  # row label as in the thesis, e.g. "V2-B0-shared"
    model: str  # registry name, e.g. "efficientnet_v2_b0"
    share: str | None  # key of SHARE_KEYS
    count_size: int  # image side the graph is counted at
    ni_size: int  # image side NI = 3 * ni_size**2 is taken from
    tables: tuple[str, ...]  # thesis tables listing the row ("4.3", "4.4"); () if not in the thesis

    @property
    def cache_key(self) -> tuple:
        return (self.model, self.share, self.count_size, self.ni_size)


def _row(label, model, share, size, ni=None, tables=()) -> GraphRow:
    return GraphRow(label, model, share, size, ni or size, tuple(tables))


#: Rows reproducing the printed Tables 4.3 and 4.4 (quirks included).
AS_PUBLISHED: tuple[GraphRow, ...] = (
    _row("V2-B0-shared", "efficientnet_v2_b0", "as_published", 224, tables=("4.3",)),
    _row("V2-B0", "efficientnet_v2_b0", None, 224, tables=("4.3",)),
    _row("V2-S-shared", "efficientnet_v2_s", "as_published", 384, tables=("4.3",)),
    _row("V2-S", "efficientnet_v2_s", None, 384, tables=("4.3", "4.4")),
    _row("V2-B1", "efficientnet_v2_b1", None, 240, tables=("4.4",)),
    _row("ResNet-50", "resnet50_keras_v1", None, 380, 384, tables=("4.4",)),
    _row("V2-B3", "efficientnet_v2_b3", None, 300, tables=("4.4",)),
    _row("V2-M", "efficientnet_v2_m", None, 240, 480, tables=("4.4",)),
    _row("V2-L", "efficientnet_v2_l", None, 240, 480, tables=("4.4",)),
)

#: The same rows corrected (sharing key, full-size counting), plus V2-B2.
CORRECTED: tuple[GraphRow, ...] = tuple(
    replace(
        r,
        share="corrected" if r.share else None,
        count_size=r.ni_size,
    )
    for r in AS_PUBLISHED
) + (_row("V2-B2", "efficientnet_v2_b2", None, 260),)


#: Notebook profiles (``reuseprior.reporting.notebook.setup(profiles=PROFILES)``): labels of the rows to compute.
#: Every row of Tables 4.3/4.4 (plus V2-B2) takes about 30 s on one CPU core,
#: so both profiles compute the whole tables; "full" exists for symmetry with
#: the other chapters and for papermill batch runs.
@dataclass(frozen=True)
class GraphTablesProfile(Profile):
    """Settings of the chapter 4 graph-tables notebook: the labels of the
    Table 4.3/4.4 rows to compute and the classifier's class count."""

    rows: tuple[str, ...]
    num_classes: int


PROFILES: dict[str, GraphTablesProfile] = {
    "quick": GraphTablesProfile(rows=tuple(r.label for r in CORRECTED), num_classes=1000),
    "full": GraphTablesProfile(rows=tuple(r.label for r in CORRECTED), num_classes=1000),
}


def rows_for(labels: Iterable[str], rows: Sequence[GraphRow]) -> list[GraphRow]:
    """The rows of ``rows`` whose label is in ``labels`` (in table order)."""
    wanted = set(labels)
    known = {r.label for r in rows}
    if wanted - known:
        raise ValueError(f"unknown table rows {sorted(wanted - known)}; known rows: {sorted(known)}")
    return [r for r in rows if r.label in wanted]


def analyze_row(row: GraphRow, num_classes: int = 1000):
    """Count contexts of one row's model (eval mode, zero input, batch 1) -> ``Report``."""

    model = build_model(row.model, num_classes=num_classes).eval()
    x = torch.zeros(1, 3, row.count_size, row.count_size)
    return analyze(model, x, num_inputs=3 * row.ni_size**2, share_key=SHARE_KEYS[row.share])


def trainable_parameters(row: GraphRow, num_classes: int = 1000) -> int:
    """Trainable parameters of the model a row describes (shared rows: tied by
    the scope key, i.e. the model that was trained; BN statistics excluded)."""
    model = build_model(row.model, num_classes=num_classes)
    return sharing.count_parameters(sharing.share_parameters(model, "all_but_bn" if row.share else None))


def compute_rows(
    rows: Sequence[GraphRow],
    num_classes: int = 1000,
    cache: dict | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Analyse every row; one DataFrame row each with the thesis's columns.

    Columns: ``Model``, ``share``, ``count size``, ``NI size``, ``PG``,
    ``P'G``, ``Exp. spread``, ``Entropy``, ``NG``, ``WG``, ``NI``,
    ``Params (M)`` (NG / 1e6), ``Trainable (M)`` (:func:`trainable_parameters`), ``Img.``,
    ``Score`` (published top-1, NaN if
    the thesis has none). Rows with identical settings are analysed once
    (``cache`` maps ``GraphRow.cache_key`` to reports and can be shared
    between calls).
    """
    cache = {} if cache is None else cache
    out = []
    for row in progress_bar(rows, desc="graph analysis", disable=not progress):
        if row.cache_key not in cache:
            cache[row.cache_key] = analyze_row(row, num_classes)
        rep = cache[row.cache_key]
        trainable_key = ("trainable", row.model, bool(row.share), num_classes)
        if trainable_key not in cache:
            cache[trainable_key] = trainable_parameters(row, num_classes)
        out.append(
            {
                "Model": row.label,
                "share": row.share or "none",
                "count size": row.count_size,
                "NI size": row.ni_size,
                "PG": rep.PG,
                "P'G": rep.PG_prime,
                "Exp. spread": rep.expected_spread,
                "Entropy": rep.entropy,
                "NG": int(rep.NG),
                "WG": int(rep.WG),
                "NI": int(rep.NI),
                "Params (M)": rep.NG / 1e6,
                "Trainable (M)": cache[trainable_key] / 1e6,
                "Img.": row.ni_size,
                "Score": PUBLISHED_TOP1.get(row.label, np.nan),
            }
        )
    return pd.DataFrame(out)


def compare_corrected(as_published: pd.DataFrame, corrected: pd.DataFrame) -> pd.DataFrame:
    """Per model: the as-published and corrected PG, P'G, NG and their
    difference, the differences of PG and P'G to
    :data:`~reuseprior.reporting.digits.RESIDUAL_DECIMALS` decimals (the
    digits every CPU computes)."""
    cols = ["PG", "P'G", "Exp. spread", "Entropy", "NG"]
    merged = as_published[["Model", *cols]].merge(
        corrected[["Model", "share", "count size", *cols]],
        on="Model",
        how="outer",
        suffixes=(" (as published)", " (corrected)"),
    )
    for c in ["PG", "P'G", "NG"]:
        merged[f"Δ {c}"] = merged[f"{c} (corrected)"] - merged[f"{c} (as published)"]
    return round_residuals(merged, ["Δ PG", "Δ P'G"])


def rank_agreement(
    table: pd.DataFrame, score: str = "Score", predictors: Sequence[str] = ("Params (M)", "PG", "P'G")
) -> pd.DataFrame:
    """Spearman's rho and Kendall's tau between each predictor and ``score``.

    ``Params (M)`` is the naive baseline of Tables 4.3/4.4 (rank by parameter
    count). Rows without a score are left out; with fewer than 3 rows the
    coefficients are NaN (not meaningful).
    """
    data = table.dropna(subset=[score])
    rows = []
    for p in predictors:
        if len(data) >= 3:
            rho = spearmanr(data[p], data[score]).statistic
            tau = kendalltau(data[p], data[score]).statistic
        else:
            rho = tau = np.nan
        rows.append({"predictor": p, "models": len(data), "Spearman rho": float(rho), "Kendall tau": float(tau)})
    return pd.DataFrame(rows)


def key_of(share: str | None) -> Callable[[object], Hashable | None] | None:
    """The share-key function registered under ``share``."""
    if share not in SHARE_KEYS:
        raise ValueError(f"unknown share key {share!r}; choose one of {list(SHARE_KEYS)}")
    return SHARE_KEYS[share]


def thesis_rows(name: str, models: Iterable[str]) -> pd.DataFrame:
    """Rows of the transcribed thesis table ``name`` for ``models`` only, with the
    printed strings kept aligned (for :func:`reuseprior.reporting.reference.side_by_side`)."""

    table = load_thesis_table(name)
    return select_thesis_rows(table, table["Model"].isin(list(models)).to_numpy())


def compare_with_thesis(ours: pd.DataFrame, name: str, columns: Sequence[str]) -> pd.DataFrame:
    """:func:`reuseprior.reporting.reference.side_by_side` of ``ours`` against the thesis
    table ``name``, restricted to the models both contain."""

    ref = thesis_rows(name, ours["Model"])
    return side_by_side(ours[ours["Model"].isin(ref["Model"])], ref, on=["Model"], columns=list(columns))


def rank_agreement_by_table(versions: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """:func:`rank_agreement` of each version of the tables (e.g. as published,
    corrected) within Table 4.3 and within Table 4.4 (the tables are not pooled)."""
    parts = []
    for version, df in versions.items():
        for table in ("4.3", "4.4"):
            rows = df[df["Model"].isin([r.label for r in AS_PUBLISHED if table in r.tables])]
            parts.append(rank_agreement(rows).assign(version=version, table=f"Table {table}"))
    columns = ["version", "table", "predictor", "models", "Spearman rho", "Kendall tau"]
    return pd.concat(parts, ignore_index=True)[columns]


def plot_predictors_vs_top1(published: pd.DataFrame, corrected: pd.DataFrame):
    """Published top-1 accuracy against the parameter count, PG (eq. 4.7) and
    P'G (eq. 4.8) of the Table 4.3/4.4 models, as published and corrected;
    returns the figure."""
    # one panel per row, as wide as the book's column: the point labels stay readable (plotting.readable_fontsize)
    fig, axes = plt.subplots(3, 1, figsize=(6.8, 10.5))
    units = ["parameters NG (millions)", "PG (bits, eq. 4.7)", "P'G (bits, eq. 4.8)"]
    label_size = readable_fontsize(fig)
    for ax, col, unit in zip(axes, ["Params (M)", "PG", "P'G"], units):
        for version, df, marker in (("as published", published, "o"), ("corrected", corrected, "x")):
            scored = df.dropna(subset=["Score"])
            ax.scatter(scored[col], scored["Score"], marker=marker, label=version)
            if version == "corrected":
                for _, r in scored.iterrows():
                    where = (r[col], r["Score"])
                    ax.annotate(r["Model"], where, fontsize=label_size, xytext=(3, 3), textcoords="offset points")
        ax.set(xlabel=unit, ylabel="published top-1 (%)")
        ax.margins(x=0.12, y=0.1)  # room for the labels of the outermost points
    axes[0].set_xscale("log")
    axes[0].legend()
    fig.suptitle("Tables 4.3/4.4: parameter count vs graph estimates (ImageNet-1K)")
    fig.tight_layout()
    return fig


#: The thesis's claims this chapter tests, each read from the table the notebook writes (the findings it opens with).
FINDINGS: tuple[MatchFinding, ...] = (
    MatchFinding(
        "PG, P'G and the expected spread of Tables 4.3 and 4.4, as published",
        '"As published" rows',
        ("table_4_3_vs_thesis.csv", "table_4_4_vs_thesis.csv"),
        ("PG", "P'G", "Exp. spread"),
    ),
    MatchFinding(
        "The entropy H of Tables 4.3 and 4.4, as published",
        '"As published" rows',
        ("table_4_3_vs_thesis.csv", "table_4_4_vs_thesis.csv"),
        ("Entropy",),
        misprints=(("ResNet-50", "Entropy", "ResNet-50's H, printed 13.3 where its graph gives 13.247"),),
    ),
)
