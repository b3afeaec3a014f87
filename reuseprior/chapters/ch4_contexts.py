"""Driver of the ``ch4_contexts`` notebook: the chapter-4 definitions on the
toy graphs and on random neuron graphs.

The neuron graphs, their contexts (Definition 1, eq. 4.1), horizontal
unrolling (section 4.4.1, Algorithms 8 and 9) and the uniform graph
(Definition 2) are :mod:`reuseprior.graphs`; the toy graphs of Figures 4.2
and 4.3 are :mod:`reuseprior.models.toy`. This module adds the model-level
quantities of a neuron graph (eqs. 4.2-4.8), the appendix A.3 worked example,
numerical checks of Lemma 1 and Theorem 1 (``H + ES = log2 NC``, eq. 4.6) on
random neuron graphs and on models (counted by :mod:`reuseprior.counting`,
which builds no neuron graph), and the drawings of neuron graphs.
``context_counts`` and ``horizontal_unroll`` are :mod:`reuseprior.graphs`'s,
which the notebook reaches through this module.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Iterable

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import pandas as pd
import torch
from matplotlib.colors import to_rgb
from matplotlib.lines import Line2D

from reuseprior.chapters import register_chapter
from reuseprior.counting import analyze, count_contexts, quantities_from_log2_counts
from reuseprior.graphs import context_counts, horizontal_unroll, random_neuron_graph, unrolled_counts
from reuseprior.models.cnn import constant_width_cnn
from reuseprior.models.mlp import constant_width_mlp
from reuseprior.models.toy import TOY_GRAPHS, toy_graph, toy_model
from reuseprior.reporting.digits import round_residuals
from reuseprior.reporting.findings import MatchFinding
from reuseprior.reporting.notebook import Profile

#: this chapter, as the book and the build command list it (reuseprior.chapters.CHAPTERS)
CHAPTER = register_chapter(
    __name__,
    part="Chapter 4: contexts and the reusability prior",
    title="Chapter 4: contexts, horizontal unrolling and the model-level quantities on toy graphs",
)

__all__ = [
    "FINDINGS",
    "plot_graphs_and_unrolled",
    "plot_theorem_1",
    "context_counts",
    "horizontal_unroll",
    "graph_quantities",
    "worked_example",
    "identity_check",
    "kl_from_uniform",
    "draw_neuron_graph",
    "neuron_graph_legend",
    "analyze_toy_graphs",
    "check_identities",
    "tracked_checks",
    "RESIDUAL_COLUMNS",
    "PROFILES",
]


#: Notebook profiles of ``ch4_contexts``: how many random neuron graphs and
#: random MLP/CNN models the Lemma 1 / Theorem 1 checks use.
@dataclass(frozen=True)
class ContextsProfile(Profile):
    """Settings of the chapter 4 contexts notebook: how many random neuron
    graphs and random models the engine is checked on against brute force."""

    random_graphs: int
    random_models: int


PROFILES: dict[str, ContextsProfile] = {
    "quick": ContextsProfile(random_graphs=30, random_models=4),
    "full": ContextsProfile(random_graphs=500, random_models=24),
}


def graph_quantities(g: nx.DiGraph) -> dict[str, float | int]:
    """Chapter-4 quantities of a neuron graph (eqs. 4.2-4.8): ``NI`` input
    nodes, ``NO`` output nodes, ``WG`` weight nodes, ``NG`` distinct labels,
    counts from :func:`context_counts` (weights without a context dropped)."""
    counts = {k: c for k, c in context_counts(g).items() if c > 0}
    kinds = Counter(d["kind"] for _, d in g.nodes(data=True))
    q = quantities_from_log2_counts(
        np.log2(np.array(list(counts.values()), dtype=float)),
        NI=kinds["input"],
        NO=kinds["output"],
        WG=kinds["weight"],
    )
    q["NC"] = sum(counts.values())
    return q


def worked_example(g: nx.DiGraph) -> pd.DataFrame:
    """Appendix A.3 step by step on ``g``: unroll, count the repetitions of
    every parameter, relative frequencies, and each parameter's share of
    total surprisal, entropy and expected spread (bits)."""
    counts = unrolled_counts(horizontal_unroll(g))
    nc = sum(counts.values())
    rows = []
    for label in sorted(counts, key=lambda s: (len(s), s)):
        c = counts[label]
        p = c / nc
        rows.append(
            {
                "weight": label,
                "count": c,
                "p": p,
                "surprisal": -math.log2(p),
                "entropy term": -p * math.log2(p),
                "spread term": p * math.log2(c),
            }
        )
    return pd.DataFrame(rows)


def kl_from_uniform(log2_counts: Iterable[float]) -> float:
    """``D_KL(P(W) || P_U(W))`` with ``p(w_i) = c_i / NC`` and ``p_U = 1/NC``
    (Lemma 1), evaluated from the definition ``sum p log2(p / p_U)``."""
    l = np.asarray(list(log2_counts), dtype=float)
    l = l[np.isfinite(l)]
    lnc = float(np.logaddexp2.reduce(l))
    p = np.exp2(l - lnc)
    p = p[p > 0]  # terms with p = 0 contribute nothing (and underflow for huge NC)
    log2_p_u = -lnc  # p_U = 1 / NC, kept in the log domain (NC may exceed float range)
    return float(np.sum(p * (np.log2(p) - log2_p_u)))


def identity_check(model: torch.nn.Module, example_input: torch.Tensor) -> dict[str, float]:
    """Lemma 1 and Theorem 1 on one model, from the engine's per-element counts.

    Returns ``ES`` (eq. 4.2), the KL divergence from the uniform distribution
    (Lemma 1: equals ES), the entropy ``H = -sum p log2 p`` evaluated from the
    probabilities themselves (eq. 4.4), ``log2 NC`` and the residual
    ``H + ES - log2 NC`` of eq. 4.6.
    """
    counts = count_contexts(model, example_input)
    l = torch.cat([c.reshape(-1) for c in counts.values()]).numpy()
    l = l[np.isfinite(l)]
    lnc = float(np.logaddexp2.reduce(l))
    p = np.exp2(l - lnc)
    nz = p > 0
    es = float(np.sum(p * l))
    h = float(-np.sum(p[nz] * np.log2(p[nz])))
    return {
        "NG": int(l.size),
        "log2_NC": lnc,
        "ES": es,
        "KL": kl_from_uniform(l),
        "H": h,
        "sum_p": float(p.sum()),
        "H + ES - log2 NC": h + es - lnc,
    }


# ----------------------------------------------------------------------------- drawing
def _layered_positions(g: nx.DiGraph) -> dict:
    """Feature nodes (inputs, neurons, outputs) evenly spaced per layer; each
    weight drawn just left of the neuron it feeds, fanned out vertically."""
    layers: dict[float, list] = {}
    for n, d in g.nodes(data=True):
        if d["kind"] != "weight":
            layers.setdefault(d["layer"], []).append(n)
    pos = {}
    for x, nodes in layers.items():
        k = len(nodes)
        for i, n in enumerate(nodes):
            pos[n] = (x, ((k - 1) / 2 - i) * 1.0)
    for n in [n for n in g.nodes if g.nodes[n]["kind"] != "weight"]:
        weights = [w for w in g.predecessors(n) if g.nodes[w]["kind"] == "weight"]
        x, y = pos[n]
        for j, w in enumerate(weights):
            offset = ((len(weights) - 1) / 2 - j) * 0.3
            pos[w] = (x - 0.38, y + offset)
    return pos


#: node fills (Okabe-Ito colour-blind-safe colours); weights are shaded by
#: their number of contexts on the sequential, lightness-monotonic ``YlOrBr``
NODE_COLOURS = {"input": "#009E73", "neuron": "#D9D9D9", "output": "#0072B2"}


def _relative_luminance(rgb) -> float:
    """WCAG relative luminance of an sRGB colour (components in [0, 1])."""
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb[:3]]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def label_colour(fill) -> str:
    """Black or white, whichever has the higher WCAG contrast ratio against
    ``fill`` (any matplotlib colour): dark fills get white labels."""

    lum = _relative_luminance(to_rgb(fill))
    return "black" if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else "white"


def context_colour(count: int, max_count: int) -> tuple[float, float, float, float]:
    """Fill of a weight node with ``count`` contexts: light for one context,
    darker with more (``YlOrBr`` from 0.15 to 0.85 over 1 .. ``max_count``)."""

    top = max(int(max_count), 2)
    return plt.cm.YlOrBr(0.15 + 0.7 * (min(max(count, 1), top) - 1) / (top - 1))


def neuron_graph_legend(max_count: int) -> list:
    """Legend handles for :func:`draw_neuron_graph` figures: the node kinds
    and one square per number of contexts 1 .. ``max_count``."""

    def handle(marker: str, colour, label: str) -> Line2D:
        return Line2D(
            [], [], ls="none", marker=marker, markersize=10, markerfacecolor=colour, markeredgecolor="none", label=label
        )

    handles = [
        handle("o", NODE_COLOURS["input"], "input"),
        handle("o", NODE_COLOURS["neuron"], "neuron"),
        handle("o", NODE_COLOURS["output"], "output"),
    ]
    handles += [
        handle("s", context_colour(c, max_count), f"weight, {c} context{'s' if c > 1 else ''}")
        for c in range(1, max(int(max_count), 2) + 1)
    ]
    return handles


def draw_neuron_graph(
    g: nx.DiGraph,
    ax=None,
    *,
    title: str | None = None,
    counts: dict[str, int] | None = None,
    max_count: int | None = None,
):
    """Draw a neuron graph layer by layer: inputs, neurons and the output as
    circles (:data:`NODE_COLOURS`), weights as squares left of the neuron they
    feed, labelled ``w:|C_w|`` and shaded by their number of contexts
    (:func:`context_colour`; pass the same ``max_count`` to every panel of a
    figure for one scale). Labels are black or white by contrast with their
    fill (:func:`label_colour`). Returns the matplotlib Axes."""

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    counts = context_counts(g) if counts is None else counts
    pos = _layered_positions(g)
    sizes = {"input": 420, "neuron": 380, "output": 460}
    nx.draw_networkx_edges(g, pos, ax=ax, arrows=True, arrowsize=8, width=0.8, node_size=300, edge_color="#555555")
    fills: dict = {}
    for kind, size in sizes.items():
        nodes = [n for n, d in g.nodes(data=True) if d["kind"] == kind]
        nx.draw_networkx_nodes(
            g, pos, nodelist=nodes, node_shape="o", node_color=NODE_COLOURS[kind], node_size=size, ax=ax
        )
        fills.update(dict.fromkeys(nodes, NODE_COLOURS[kind]))
    weights = [n for n, d in g.nodes(data=True) if d["kind"] == "weight"]
    top = max_count if max_count is not None else max([counts.get(g.nodes[n]["label"], 0) for n in weights] + [2])
    colours = [context_colour(counts.get(g.nodes[n]["label"], 0), top) for n in weights]
    nx.draw_networkx_nodes(g, pos, nodelist=weights, node_shape="s", node_color=colours, node_size=420, ax=ax)
    fills.update(zip(weights, colours))
    labels = {
        n: (f"{d['label']}:{counts.get(d['label'], 0)}" if d["kind"] == "weight" else d["label"])
        for n, d in g.nodes(data=True)
    }
    for text_colour in ("black", "white"):
        subset = {n: t for n, t in labels.items() if label_colour(fills[n]) == text_colour}
        nx.draw_networkx_labels(g, pos, labels=subset, font_size=6.5, font_color=text_colour, ax=ax)
    ax.set_title(title or "")
    ax.set_axis_off()
    return ax


# ----------------------------------------------------------------------------- notebook helpers
def analyze_toy_graphs(names: Iterable[str] | None = None) -> pd.DataFrame:
    """Run the counting engine on the toy ``nn.Module`` s of
    :mod:`reuseprior.models.toy` (input ``(1, 2)``) and return one row per
    graph with the thesis's column names (``S``, ``H``, ``ES``, ``PG``,
    ``P'G``), ``NC`` and the counts read off the neuron-level graph."""
    rows = []
    for name in names or TOY_GRAPHS:
        r = analyze(toy_model(name), torch.zeros(1, 2))
        counts = context_counts(toy_graph(name))
        rows.append(
            {
                "Graph": name,
                "NI": r.NI,
                "NO": r.NO,
                "G": r.G,
                "NG": r.NG,
                "WG": r.WG,
                "NC": round(2.0**r.log2_NC),
                "S": r.total_surprisal,
                "H": r.entropy,
                "ES": r.expected_spread,
                "PG": r.PG,
                "P'G": r.PG_prime,
                "H + ES - log2 NC": r.entropy + r.expected_spread - r.log2_NC,
                "counts (neuron graph)": " ".join(f"{k}:{v}" for k, v in counts.items()),
            }
        )
    return pd.DataFrame(rows)


def _random_model(rng: np.random.Generator):
    if rng.random() < 0.5:
        width, depth, ni = int(rng.integers(2, 9)), int(rng.integers(1, 30)), int(rng.integers(1, 6))
        model = constant_width_mlp(
            width,
            depth,
            num_inputs=ni,
            batch_norm=bool(rng.random() < 0.5),
            shared=bool(rng.random() < 0.5),
            bias=bool(rng.random() < 0.5),
        )
        return f"MLP w={width} d={depth} NI={ni}", model, torch.zeros(1, ni)
    ch, depth, size = int(rng.integers(1, 6)), int(rng.integers(1, 12)), int(rng.integers(3, 9))
    model = constant_width_cnn(
        ch, depth, in_channels=3, image_size=size, batch_norm=bool(rng.random() < 0.5), shared=bool(rng.random() < 0.5)
    )
    return f"CNN c={ch} d={depth} {size}x{size}", model, torch.zeros(1, 3, size, size)


def _identity_row(label: str, out: dict[str, float]) -> dict[str, object]:
    """One row of :func:`check_identities` for a model checked by :func:`identity_check`."""
    return {
        "object": label,
        "NG": out["NG"],
        "log2_NC": out["log2_NC"],
        "ES": out["ES"],
        "KL - ES": out["KL"] - out["ES"],
        "H + ES - log2 NC": out["H + ES - log2 NC"],
        "unrolled == paths": None,
    }


def check_identities(random_graphs: int, random_models: int, seed: int = 0, *, deep_model: bool = True) -> pd.DataFrame:
    """Lemma 1 (``KL(P || P_U) = ES``) and Theorem 1 (``H + ES = log2 NC``,
    eq. 4.6) on random neuron graphs (counts from paths *and* from horizontal
    unrolling, which must agree) and on random MLP/CNN models (engine counts).
    With ``deep_model`` a 300-layer CNN whose counts exceed the float64 range
    (``log2 NC`` about 1250) is added. One row per object with the residuals."""
    rows = []
    rng = np.random.default_rng(seed)
    for i in range(random_graphs):
        g = random_neuron_graph(
            int(rng.integers(1, 4)),
            int(rng.integers(2, 9)),
            edge_prob=float(rng.uniform(0.3, 0.8)),
            num_params=None if rng.random() < 0.5 else int(rng.integers(2, 10)),
            seed=int(rng.integers(2**31)),
        )
        counts = context_counts(g)
        l = np.log2(np.array([c for c in counts.values() if c > 0], dtype=float))
        q = graph_quantities(g)
        rows.append(
            {
                "object": f"random graph {i}",
                "NG": q["NG"],
                "log2_NC": q["log2_NC"],
                "ES": q["expected_spread"],
                "KL - ES": kl_from_uniform(l) - q["expected_spread"],
                "H + ES - log2 NC": q["entropy"] + q["expected_spread"] - q["log2_NC"],
                "unrolled == paths": unrolled_counts(horizontal_unroll(g)) == counts,
            }
        )
    for _ in range(random_models):
        label, model, x = _random_model(rng)
        rows.append(_identity_row(label, identity_check(model, x)))
    if deep_model:
        out = identity_check(constant_width_cnn(2, 300, image_size=5), torch.zeros(1, 2, 5, 5))
        rows.append(_identity_row("CNN c=2 d=300 5x5", out))
    return pd.DataFrame(rows)


#: the residual columns of :func:`check_identities` (bits)
RESIDUAL_COLUMNS = ("KL - ES", "H + ES - log2 NC")
#: decimals of a residual kept in tracked and shown tables: the residuals grow with log2 NC (measured:
#: up to 3.7e-10 bits at log2 NC of about 1,250), so 8 decimals, not :mod:`reuseprior.reporting.digits`' 12
CHECK_DECIMALS = 8


def tracked_checks(checks: pd.DataFrame) -> pd.DataFrame:
    """:func:`check_identities`'s table with :data:`RESIDUAL_COLUMNS` kept to
    :data:`CHECK_DECIMALS` (:func:`~reuseprior.reporting.digits.round_residuals`):
    the digits every CPU computes."""
    return round_residuals(checks, RESIDUAL_COLUMNS, CHECK_DECIMALS)


def plot_graphs_and_unrolled(names: Iterable[str]):
    """Each toy graph (left) beside its horizontal unrolling (right,
    Algorithms 8 and 9), weights shaded by their context count on one scale
    for all panels; returns the figure."""
    graphs = {name: toy_graph(name) for name in names}
    max_count = max(max(context_counts(g).values()) for g in graphs.values())
    fig, axes = plt.subplots(len(graphs), 2, figsize=(12, 4.2 * len(graphs)))
    for row, (name, graph) in zip(axes, graphs.items()):
        draw_neuron_graph(graph, row[0], title=TOY_GRAPHS[name].title, max_count=max_count)
        draw_neuron_graph(
            horizontal_unroll(graph), row[1], max_count=max_count, title=f"{name} horizontally unrolled (Alg. 8/9)"
        )
    fig.tight_layout()
    fig.legend(
        handles=neuron_graph_legend(max_count), loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=5, frameon=False
    )
    return fig


def plot_theorem_1(theorem: pd.DataFrame):
    """Theorem 1 as stacked bars: ES + H = log2 NC for graphs with equal NC
    (``theorem`` has columns ES, H and "H + ES", one row per graph); returns
    the figure."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    theorem[["ES", "H"]].plot.bar(stacked=True, ax=ax, rot=0)
    ax.axhline(theorem["H + ES"].iloc[0], color="k", ls="--", lw=1, label="log2 NC")
    ax.set_ylabel("ES, H (bits)")
    ax.set_xlabel("graph (thesis figure)")
    ax.set_title("Theorem 1: same NC, more spread, less entropy")
    ax.legend(loc="lower right")
    return fig


#: The thesis's claims this chapter tests, each read from the table the notebook writes (the findings it opens with).
FINDINGS: tuple[MatchFinding, ...] = (
    MatchFinding(
        "The quantities of the toy graphs of Figures 4.2a, 4.2b and 4.3a",
        "Quantities of the toy graphs vs the thesis",
        ("toy_graphs_vs_thesis.csv",),
    ),
    MatchFinding("The worked example of appendix A.3", "Appendix A.3 step by step", ("appendix_a3_vs_thesis.csv",)),
)
