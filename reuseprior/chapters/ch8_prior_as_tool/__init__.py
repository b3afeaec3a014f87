"""Chapter 8 (beyond the thesis): the reusability prior as a tool, behind
``notebooks/ch8_prior_as_tool.ipynb``.

Two uses of the prior that need no training: ranking a user's models
(:func:`reuseprior.analysis.compare`, ``python -m reuseprior compare``), and
searching NAS-Bench-201 with it from the stored scores
(:mod:`reuseprior.zoo.search`: the NASWOT protocol and a zero-cost warm-up of
random search and aging evolution), read from ``data/nb201_search_runs.csv``
(``python -m reuseprior study nb201-search run``) with a live slice recomputed.

Policy: the NASWOT protocol has an exact answer (:func:`reuseprior.zoo.search.naswot_exact`:
the expectation and SD of the picked cell's accuracy over every draw), which is what the chapter
reports (:func:`exact_rows`, :func:`naswot_table`); the stored seeded repeats are its check
(:func:`naswot_check`). The warm-up searches are reported from the repeats (mean and standard
error): no closed form is derived here for the best of a score-ranked pool, and aging evolution
has none.

The published numbers of the NASWOT protocol (Mellor et al. 2021, Table
2(a), transcribed in ``data/seeds/naswot_table2a.csv``) stand beside ours in
:func:`published_beside_ours`, with the label difference stated per row
(:data:`LABEL_DIFFERENCES`). Abdelfattah et al.'s (2021) warm-up and
move-proposal results are printed as figures only, so no number of theirs is
compared (``data/seeds/README.md`` says what was looked for).

The third use, Revolver with its offspring screened by the prior, is a
trained study: :mod:`reuseprior.chapters.ch8_prior_as_tool.screening`
(``python -m reuseprior study ch8 run``).
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from reuseprior.analysis.compare import Comparison, compare
from reuseprior.chapters import register_chapter, register_study
from reuseprior.core.declared_study import DeclaredStudy
from reuseprior.core.ordering import sort_rows
from reuseprior.reporting.findings import ExactFinding, PairedFinding
from reuseprior.reporting.notebook import Profile
from reuseprior.reporting.plotting import caption, readable_fontsize
from reuseprior.reporting.reference import load_seed_table
from reuseprior.zoo import search
from reuseprior.zoo.scoring import load_scores, published_version

#: this chapter, as the book and the build command list it (reuseprior.chapters.CHAPTERS)
CHAPTER = register_chapter(
    __name__,
    part="Beyond the thesis",
    title="Chapter 8: the reusability prior as a tool",
)

__all__ = [
    "FINDINGS",
    "LABEL_DIFFERENCES",
    "PROFILES",
    "SCORE_NAMES",
    "compare_figure",
    "compare_models",
    "curves_figure",
    "exact_rows",
    "live_slice",
    "naswot_check",
    "naswot_figure",
    "naswot_table",
    "pool_cost",
    "published_beside_ours",
    "published_naswot",
    "stored_rows",
    "warmup_table",
]

#: How the scores are named in tables and legends.
SCORE_NAMES: dict[str, str] = {
    "PG": "PG",
    "PG_prime": "P'G",
    "total_surprisal": "S",
    "params": "parameter count",
    "synflow": "SynFlow",
    "naswot": "NASWOT",
    "random": "random (floor)",
    "oracle": "oracle (ceiling)",
}


@dataclass(frozen=True)
class PriorAsToolProfile(Profile):
    """Settings of the chapter 8 notebook: the models compared and their input
    size, the proxies added to them, and the stored search runs recomputed live
    (the live slice; each a few seconds of CPU)."""

    compare_models: list[str]
    compare_input: tuple[int, int, int]
    compare_proxies: list[str]
    live_runs: list[dict[str, str]]


_LIVE_QUICK = [
    {"protocol": "naswot", "label": "analog", "score": "PG"},
    {"protocol": "naswot", "label": "analog", "score": "synflow"},
    {"protocol": "naswot", "label": "official", "score": "PG"},
    {"protocol": "warmup-rs", "label": "official", "score": "PG"},
]

PROFILES: dict[str, PriorAsToolProfile] = {
    # quick: CPU, under a minute: four small torchvision models at 32 px, four stored runs recomputed
    "quick": PriorAsToolProfile(
        compare_models=["squeezenet1_1", "mobilenet_v3_small", "shufflenet_v2_x0_5", "resnet18"],
        compare_input=(3, 32, 32),
        compare_proxies=["synflow"],
        live_runs=_LIVE_QUICK,
    ),
    # full: the same models, and every stored run recomputed (a few minutes of CPU)
    "full": PriorAsToolProfile(
        compare_models=["squeezenet1_1", "mobilenet_v3_small", "shufflenet_v2_x0_5", "resnet18"],
        compare_input=(3, 32, 32),
        compare_proxies=["synflow"],
        live_runs=[dict(r) for r in search.SearchSettings().all_runs()],
    ),
}


def compare_models(settings: PriorAsToolProfile) -> Comparison:
    """The profile's models compared by the prior (:func:`reuseprior.analysis.compare`)."""
    return compare(settings.compare_models, settings.compare_input, proxies=settings.compare_proxies, progress=False)


def stored_rows() -> pd.DataFrame:
    """The stored search rows of the current plan (``data/nb201_search_runs.csv``)."""
    study = search.search_study()
    return study.store.rows(study.plan)


def _order(rows: pd.DataFrame) -> pd.DataFrame:
    order = {s: k for k, s in enumerate(SCORE_NAMES)}
    return sort_rows(rows.assign(_o=rows["score"].map(order)), ["_o", "size"], then="label").drop(columns="_o")


def _wide(mine: pd.DataFrame, name: str, first: tuple[str, ...]) -> pd.DataFrame:
    """One row per score (table order), a mean and an SD column per size (``name``
    formats the size), after the per-score columns ``first``."""
    wide = mine.pivot(index="score", columns="size", values=["mean", "sd"])
    wide = wide.reindex([s for s in SCORE_NAMES if s in wide.index])
    wide.columns = [f"{name.format(n)} {stat}" for stat, n in wide.columns]
    sizes = sorted(mine["size"].unique())
    wide = wide[[f"{name.format(n)} {stat}" for n in sizes for stat in ("mean", "sd")]]
    for k, column in enumerate(first):
        wide.insert(k, column, mine.groupby("score")[column].first())
    return wide.rename(index=SCORE_NAMES).rename_axis("score").reset_index()


def exact_rows(settings: search.SearchSettings | None = None) -> pd.DataFrame:
    """The exact answer of the NASWOT protocol (:func:`reuseprior.zoo.search.naswot_exact`) for
    every label, score and sample size of the stored study's settings, in the stored rows' long
    format (``protocol`` naswot, ``label``, ``score``, ``size``, ``mean``, ``sd``) with ``method``
    ``exact``."""
    settings = settings or search.SearchSettings()
    frames = []
    for label in search.PROTOCOLS["naswot"]:
        space = search.load_space(label)
        for score in settings.scores:
            exact = search.naswot_exact(space, score, settings.naswot_sizes)
            frames.append(exact.assign(protocol="naswot", label=label, score=score, method="exact"))
    columns = ["protocol", "label", "score", "size", "mean", "sd", "method"]
    return pd.concat(frames, ignore_index=True)[columns]


def naswot_table(exact: pd.DataFrame, label: str) -> pd.DataFrame:
    """The NASWOT protocol on ``label``, exact (:func:`exact_rows`): per score, the expected accuracy
    (%) of the picked cell and its SD at each sample size N, one column pair per N."""
    mine = exact[(exact["protocol"] == "naswot") & (exact["label"] == label)]
    return _wide(mine, "N={}", ())


def naswot_check(rows: pd.DataFrame, exact: pd.DataFrame, label: str) -> pd.DataFrame:
    """The stored seeded repeats (``rows``) against the exact answer (``exact``) on ``label``: per
    score and N, the exact mean and SD, the repeats' mean, SD and standard error, the repeats' miss in
    standard errors (``(repeats - exact) / SEM``) and the ratio of the SDs (below 1 where the repeats
    missed a heavy tail)."""
    keys = ["label", "score", "size"]
    mine = rows[(rows["protocol"] == "naswot") & (rows["label"] == label)][[*keys, "repeats", "mean", "sd", "sem"]]
    truth = exact[(exact["protocol"] == "naswot") & (exact["label"] == label)][[*keys, "mean", "sd"]]
    both = truth.merge(mine, on=keys, suffixes=(" exact", " repeats"), validate="one_to_one")
    both["(repeats - exact) / SEM"] = (both["mean repeats"] - both["mean exact"]) / both["sem"]
    both["SD repeats / SD exact"] = both["sd repeats"] / both["sd exact"]
    both = _order(both).rename(columns={"size": "N"})
    both["score"] = both["score"].map(SCORE_NAMES)
    return both.reset_index(drop=True)


def warmup_table(rows: pd.DataFrame, protocol: str, label: str, budgets: tuple[int, ...]) -> pd.DataFrame:
    """Best accuracy found (%, mean and SD over repeats) after each of ``budgets`` trained cells."""
    mine = rows[(rows["protocol"] == protocol) & (rows["label"] == label) & rows["size"].isin(budgets)]
    return _wide(mine, "{} trained", ("pool", "repeats"))


def _styles() -> dict[str, dict[str, object]]:
    colours = {s: f"C{k}" for k, s in enumerate(SCORE_NAMES)}
    return {s: {"color": colours[s], "ls": "--" if s in search.BASELINES else "-"} for s in SCORE_NAMES}


def naswot_figure(exact: pd.DataFrame) -> plt.Figure:
    """The NASWOT protocol, exact (:func:`exact_rows`), one column per label: above, the expected
    accuracy of the picked cell against N, zoomed to the scores (the random pick, the mean label at
    every N, far below, is named in the panel's title); below, each score's difference to the
    oracle (points), where the tenths of a point between the scores show."""
    labels = [lb for lb in search.LABELS if (exact["label"] == lb).any()]
    fig, axes = plt.subplots(2, len(labels), figsize=(6.0 * len(labels), 8.0), squeeze=False)
    styles = _styles()
    for column, label in enumerate(labels):
        mine = exact[exact["label"] == label]
        oracle = _order(mine[mine["score"] == "oracle"]).set_index("size")["mean"]
        top, bottom = axes[0][column], axes[1][column]
        for score, style in styles.items():
            r = _order(mine[mine["score"] == score])
            if r.empty or score == "random":
                continue
            top.plot(r["size"], r["mean"], marker="o", ms=4, label=SCORE_NAMES[score], **style)
            if score != "oracle":
                gap = r["mean"].to_numpy() - oracle.loc[r["size"]].to_numpy()
                bottom.plot(r["size"], gap, marker="o", ms=4, label=SCORE_NAMES[score], **style)
        floor = float(mine.loc[mine["score"] == "random", "mean"].iloc[0])
        top.set(
            xscale="log",
            ylabel="expected accuracy of the picked cell (%)",
            title=f"{label} label (random pick: {floor:.2f} % at every N, off the scale)",
        )
        bottom.axhline(0.0, color="k", lw=0.8)
        bottom.set(xscale="log", xlabel="N, cells sampled (log scale)", ylabel="score minus oracle (points)")
    size = readable_fontsize(fig)
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", bbox_to_anchor=(0.5, 0.01), ncol=4, fontsize=size)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    caption(fig, _naswot_caption(exact, labels[0]), fontsize=size)
    return fig


def _naswot_caption(exact: pd.DataFrame, label: str) -> str:
    """What :func:`naswot_figure` shows, and how far apart the scores' picks lie at N = 100 (the largest N
    below it when absent) on ``label``."""
    mine = exact[exact["label"] == label]
    size = int(mine.loc[mine["size"] <= 100, "size"].max())
    at = mine[mine["size"] == size].set_index("score")["mean"]
    scores = at.drop(list(search.BASELINES), errors="ignore")
    return (
        "Above: the expected accuracy of the cell each score picks from N sampled cells, exact over every draw; "
        f"below: its distance to the oracle's pick. At N = {size} on the {label} label the scores' picks lie "
        f"within {scores.max() - scores.min():.2f} points of each other, the best {at['oracle'] - scores.max():.2f} "
        "below the oracle's."
    )


def curves_figure(rows: pd.DataFrame) -> plt.Figure:
    """Best accuracy found against trained cells (mean +- standard error), one panel
    per protocol and label, every score."""
    panels = [("warmup-rs", "analog"), ("warmup-ae", "analog"), ("warmup-rs", "official")]
    titles = {"warmup-rs": "random search, warm-up", "warmup-ae": "aging evolution, warm-up"}
    fig, axes = plt.subplots(1, len(panels), figsize=(15.0, 5.6))
    for ax, (protocol, label) in zip(axes, panels):
        for score, style in _styles().items():
            mask = (rows["protocol"] == protocol) & (rows["label"] == label) & (rows["score"] == score)
            r = _order(rows[mask])
            ax.plot(r["size"], r["mean"], marker="o", ms=2.5, label=SCORE_NAMES[score], **style)
            ax.fill_between(r["size"], r["mean"] - r["sem"], r["mean"] + r["sem"], color=style["color"], alpha=0.15)
        ax.set_xscale("log")
        ax.set_xlabel("cells trained (accuracy looked up; log scale)")
        ax.set_ylabel("best accuracy found (%)")
        ax.set_title(f"{titles[protocol]}, {label} label")
        ax.set_ylim(bottom=max(ax.get_ylim()[0], 88.0 if label == "analog" else 86.0))
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", bbox_to_anchor=(0.5, 0.01), ncol=4, fontsize=readable_fontsize(fig))
    fig.tight_layout(rect=(0, 0.22, 1, 1))
    caption(
        fig,
        "The best accuracy found against the cells trained (mean and standard error over the stored repeats), "
        "each search started from the best-scoring cells of a pool (solid), beside plain random search and the best "
        "cell of the space (dashed): the gap over the first cells trained is what a score's warm-up gains.",
        fontsize=readable_fontsize(fig),
    )
    return fig


def compare_figure(result: Comparison) -> plt.Figure:
    """``result``'s score against #parameters (:meth:`~reuseprior.analysis.compare.Comparison.figure`),
    captioned with what to see: the model the prior ranks first, and where it ranks the largest one."""
    fig = result.figure()
    table = result.table[result.table[result.by].notna() & result.table["params"].notna()]
    first, largest = table.iloc[0], table.loc[table["params"].idxmax()]
    caption(
        fig,
        f"Up: preferred by the prior ({result.by}); right: more parameters. {result.by} ranks {first['model']} "
        f"first, and the largest model, {largest['model']}, {int(largest['rank'])} of {len(table)}.",
        fontsize=readable_fontsize(fig),
    )
    return fig


def pool_cost() -> pd.DataFrame:
    """What the warm-up pool's scores cost, from the stored timings of the
    published NAS-Bench-201 scores: the median CPU seconds of one cell and the
    CPU hours of a pool of :attr:`reuseprior.zoo.search.SearchSettings.pool` cells."""
    version = published_version("nb201")
    scores = load_scores("nb201", version)
    pool = search.SearchSettings().pool
    parts = {
        "PG, P'G and S (one analyze)": "reuse_cpu_seconds",
        "parameter count": "params_cpu_seconds",
        "SynFlow": "synflow_cpu_seconds",
        "NASWOT (shared data-dependent pass)": "data_dependent_cpu_seconds",
    }
    out = []
    for name, column in parts.items():
        values = scores[column].astype(float).to_numpy() if column in scores else np.array([])
        values = values[np.isfinite(values)]
        median = float(np.median(values)) if values.size else float("nan")
        out.append(
            {
                "score": name,
                "cells timed": int(values.size),
                "median CPU s / cell": median,
                f"CPU h / pool of {pool}": median * pool / 3600,
                "scores version": version,
            }
        )
    return pd.DataFrame(out)


def live_slice(rows: pd.DataFrame, settings: PriorAsToolProfile) -> pd.DataFrame:
    """The profile's stored runs recomputed and compared (:func:`reuseprior.zoo.search.recompute_searches`)."""
    return search.recompute_searches(rows, settings.live_runs, search.SearchSettings())


#: How each of our labels differs from the published column it stands beside
#: (NAS-Bench-201's CIFAR-10 ``validation`` and ``test`` columns of Mellor et al.'s Table 2(a)).
LABEL_DIFFERENCES: dict[str, tuple[str, str]] = {
    "official": (
        "validation",
        "the published column's label (NAS-Bench-201 cifar10-valid, epoch 200: trained on 25k CIFAR-10 images, "
        "accuracy on the other 25k), but the N cells are drawn from NASLib's 725-cell subset (one of its cells "
        "disconnected), not from all 15,625; N = 1000 exceeds the subset and is not run",
    ),
    "analog": (
        "test",
        "analog-nasbench 0.1.3's CIFAR-10 test accuracy of all 15,625 cells, from its own retraining (on the "
        "725 cells it ranks them like NAS-Bench-201's cifar10-valid label and sits a few points above that label: "
        "chapter 6), not NAS-Bench-201's own CIFAR-10 test accuracy (trained on the whole training set)",
    ),
}
#: published row (its method without "(N=...)") -> our scores set beside it
_PUBLISHED_TO_OURS: dict[str, tuple[str, ...]] = {"NASWOT": ("naswot", "PG"), "Optimal": ("oracle",),
                                                   "Random": ("random",)}  # fmt: skip


def published_naswot() -> pd.DataFrame:
    """Mellor et al.'s Table 2(a) CIFAR-10 rows that have a counterpart here
    (NASWOT at N = 10, 100, 1000, Optimal at N = 10, 100, Random), from
    ``data/seeds/naswot_table2a.csv``; ``attrs["meta"]`` holds its source."""
    table = load_seed_table("naswot_table2a")
    kept = table[(table["dataset"] == "CIFAR-10") & table["method"].str.split(" ").str[0].isin(_PUBLISHED_TO_OURS)]
    kept = kept.reset_index(drop=True)
    kept.attrs = table.attrs
    return kept


def _method(row: pd.Series | None) -> str:
    """How one of our rows was computed: ``exact``, ``<n> repeats``, or ``not run``."""
    if row is None:
        return "not run"
    method = row.get("method")
    return str(method) if isinstance(method, str) else f"{int(row['repeats'])} repeats"


def published_beside_ours(rows: pd.DataFrame, published: pd.DataFrame | None = None) -> pd.DataFrame:
    """The NASWOT protocol's published CIFAR-10 numbers beside ours: per
    published row and our label (:data:`LABEL_DIFFERENCES`: ``official`` beside
    the ``validation`` column, ``analog`` beside ``test``), our score(s) of the
    same role at the same N (NASWOT: NASWOT and PG; Optimal: the oracle;
    Random: a random pick, which is one uniformly drawn cell at any N, read at
    our smallest N), with our mean and SD, how they were computed (``our
    method``: ``exact`` for :func:`exact_rows`, else the stored repeats), the
    deviation ``ours - published`` (points) and the label difference. A row
    whose N we do not run (N = 1000 on the 725-cell subset) keeps NaN."""
    published = published_naswot() if published is None else published
    mine = rows[rows["protocol"] == "naswot"]
    out = []
    for pub in published.itertuples():
        role = pub.method.split(" ")[0]
        for label, (split, difference) in LABEL_DIFFERENCES.items():
            if pub.split != split:
                continue
            ours = mine[mine["label"] == label]
            size = int(pub.sample_size) if role != "Random" else int(ours["size"].min()) if len(ours) else 0
            for score in _PUBLISHED_TO_OURS[role]:
                hit = ours[(ours["score"] == score) & (ours["size"] == size)]
                row = hit.iloc[0] if len(hit) else None
                mean = float(row["mean"]) if row is not None else float("nan")
                out.append(
                    {
                        "published": pub.method,
                        "published column": f"CIFAR-10 {split}",
                        "published (printed)": pub.accuracy_printed,
                        "published mean": pub.accuracy_mean,
                        "published sd": pub.accuracy_std,
                        "published runs": pub.runs,
                        "our label": label,
                        "our score": SCORE_NAMES[score],
                        "our N": size,
                        "our method": _method(row),
                        "our mean": mean,
                        "our sd": float(row["sd"]) if row is not None else float("nan"),
                        "ours - published": mean - pub.accuracy_mean,
                        "label difference": difference,
                    }
                )
    return pd.DataFrame(out)


#: The claims this chapter tests, each read from the table the notebook writes (the findings it opens with): the
#: NAS-Bench-201 search (the NASWOT protocol at N = 100 on the analog label, exact over every draw), then the
#: planned screening study and its first pilot.
FINDINGS: tuple[ExactFinding | PairedFinding, ...] = (
    ExactFinding(
        "Searching NAS-Bench-201 without training: the expected accuracy of the cell PG picks from N = 100 sampled "
        "cells (NASWOT protocol, analog label), against the picks of SynFlow, the parameter count, a random choice "
        "and the oracle",
        "The NASWOT protocol on NAS-Bench-201",
        "naswot_protocol_analog.csv",
        "score",
        "PG",
        ("SynFlow", "parameter count", "random (floor)", "oracle (ceiling)"),
        "N=100 mean",
        unit="%",
        basis="the exact expectation over every draw",
    ),
    PairedFinding(
        "Screening Revolver's offspring by PG finds more accurate models than the plain search (planned study)",
        "Screening Revolver's offspring with the prior: the study",
        "screening_paired_differences_cpu-14px-thesis-long.csv",
        {"primary": "True"},
        estimate="pg - plain (pp)",
        seeds="pairs",
    ),
    PairedFinding(
        "The same at the first pilot's budget",
        "Screening Revolver's offspring with the prior: the study",
        "screening_paired_differences_cpu-14px-thesis.csv",
        {"primary": "True"},
        estimate="pg - plain (pp)",
        seeds="pairs",
    ),
)


# the NAS-Bench-201 search: declared by the library (reuseprior.zoo.search.search_study), which imports no
# chapter, so registered by the chapter that reads it
register_study(
    DeclaredStudy.of(
        search.search_study(),
        "beyond the thesis: NAS-Bench-201 searched with the prior and the zero-cost proxies, from the stored "
        "scores, no training (data/nb201_search_runs.csv)",
    )
)
