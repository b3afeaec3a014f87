"""Chapter-4 toy graphs (Figures 4.2a, 4.2b, 4.3a-c, Appendix A.3), horizontal
unrolling (Algorithms 8/9), Lemma 1 and Theorem 1."""

from __future__ import annotations

import math

import matplotlib
import networkx as nx
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from reuseprior.chapters.ch4_contexts import (  # noqa: E402
    NODE_COLOURS,
    _relative_luminance,
    analyze_toy_graphs,
    check_identities,
    context_colour,
    draw_neuron_graph,
    graph_quantities,
    identity_check,
    kl_from_uniform,
    label_colour,
    neuron_graph_legend,
    worked_example,
)
from reuseprior.counting import analyze, count_contexts  # noqa: E402
from reuseprior.graphs import (  # noqa: E402
    NeuronGraphBuilder,
    context_counts,
    horizontal_unroll,
    random_neuron_graph,
    uniform_graph,
    unrolled_counts,
)
from reuseprior.models.cnn import constant_width_cnn  # noqa: E402
from reuseprior.models.mlp import constant_width_mlp  # noqa: E402
from reuseprior.models.toy import TOY_GRAPHS, toy_graph, toy_model  # noqa: E402
from reuseprior.reporting.reference import load_thesis_table  # noqa: E402

QUANTITIES = {"S": "total_surprisal", "H": "entropy", "ES": "expected_spread", "PG": "PG", "P'G": "PG_prime"}


def _by_hand(counts: list[int], ni: int, no: int, wg: int) -> dict[str, float]:
    """Eqs. 4.2-4.8 written out directly on integer counts (independent of the engine)."""
    nc = sum(counts)
    p = [c / nc for c in counts]
    s = -sum(math.log2(x) for x in p)
    h = -sum(x * math.log2(x) for x in p)
    es = sum(x * math.log2(c) for x, c in zip(p, counts))
    g = ni + no + wg
    return {"S": s, "H": h, "ES": es, "PG": math.log2(s * ni / g), "P'G": math.log2((es + 1) * len(counts) * ni / g)}


@pytest.fixture(scope="module")
def engine_reports():
    return {name: analyze(toy_model(name), torch.zeros(1, 2)) for name in TOY_GRAPHS}


@pytest.mark.parametrize("name", ["fig_4_2a", "fig_4_2b", "fig_4_3a"])
def test_engine_reproduces_published_figure_values_to_4_decimals(name, engine_reports):
    ref = load_thesis_table("figures_4_2_4_3").set_index("Graph").loc[name]
    report = engine_reports[name]
    assert (report.NI, report.NO, report.G, report.NG) == (ref["NI"], ref["NO"], ref["G"], ref["NG"])
    for col, attr in QUANTITIES.items():
        assert round(getattr(report, attr), 4) == pytest.approx(ref[col], abs=1e-9), col


@pytest.mark.parametrize("name", sorted(TOY_GRAPHS))
def test_neuron_graph_engine_and_hand_formulas_agree(name, engine_reports):
    g = toy_graph(name)
    counts = context_counts(g)
    kinds = [d["kind"] for _, d in g.nodes(data=True)]
    hand = _by_hand(list(counts.values()), kinds.count("input"), kinds.count("output"), kinds.count("weight"))
    q = graph_quantities(g)
    report = engine_reports[name]
    for col, attr in QUANTITIES.items():
        assert q[attr] == pytest.approx(hand[col], abs=1e-12)
        assert getattr(report, attr) == pytest.approx(hand[col], abs=1e-9)
    assert (report.NG, report.WG) == (q["NG"], q["WG"])


@pytest.mark.parametrize("name", sorted(TOY_GRAPHS))
def test_engine_counts_every_weight_element_like_the_neuron_graph(name):
    model = toy_model(name)
    engine = count_contexts(model, torch.zeros(1, 2))
    g = toy_graph(name)
    counts = context_counts(g)
    covered = set()
    for _, d in g.nodes(data=True):
        if d["kind"] == "weight":
            param, index = d["param"]
            assert 2 ** float(engine[param][index]) == pytest.approx(counts[d["label"]]), (param, index)
            covered.add((param, index))
    n_elements = sum(p.numel() for p in model.parameters())
    assert len(covered) == n_elements, "every parameter element appears in the neuron graph"


def test_appendix_a3_worked_example_matches_printed_steps():
    g = toy_graph("fig_4_3a")
    table = worked_example(g)
    printed = load_thesis_table("appendix_a3_counts")
    assert dict(zip(table["weight"], table["count"])) == dict(zip(printed["Weight"], printed["Count"]))
    a3 = load_thesis_table("appendix_a3").iloc[0]
    assert table["count"].sum() == a3["NC"]
    assert round(table["surprisal"].sum(), 2) == pytest.approx(a3["S"])
    assert round(table["entropy term"].sum(), 2) == pytest.approx(a3["H"])
    assert round(table["spread term"].sum(), 2) == pytest.approx(a3["ES"])
    q = graph_quantities(g)
    assert round(q["PG"], 2) == pytest.approx(a3["PG"]) and round(q["PG_prime"], 2) == pytest.approx(a3["P'G"])


def test_unrolling_gives_single_consumers_and_one_copy_per_context():
    g = toy_graph("fig_4_3a")
    u = horizontal_unroll(g)
    for n, d in u.nodes(data=True):
        if d["kind"] != "input":
            assert u.out_degree(n) <= 1
    assert (
        unrolled_counts(u)
        == context_counts(g)
        == {**{f"w{i}": 2 for i in range(1, 5)}, **{f"w{i}": 1 for i in range(5, 9)}}
    )
    # the unrolled graph of 4.3a is the graph of Figure 4.3b (same counts, 12 weight nodes)
    assert sum(d["kind"] == "weight" for _, d in u.nodes(data=True)) == 12
    assert unrolled_counts(u) == context_counts(toy_graph("fig_4_3b"))


def test_builder_rejects_unknown_kinds_and_unknown_nodes():
    b = NeuronGraphBuilder()
    with pytest.raises(ValueError, match="unknown node kind"):
        b.node("b", "bias", 0)
    x = b.node("x", "input", 0)
    with pytest.raises(KeyError, match="not in the graph yet"):
        b.connect(x, "h")
    h = b.node("h", "neuron", 1)
    b.weight("w@h", h, "w")
    assert b.graph.nodes["w@h"] == {"kind": "weight", "layer": 0.5, "label": "w"}


def test_unrolling_shares_inputs_and_keeps_attributes():
    b = NeuronGraphBuilder()
    x = b.node("x", "input", 0)
    h = b.node("h", "neuron", 1)
    b.connect(x, h, tag="x->h")
    b.weight("w@h", h, "w", param=("fc.weight", (0, 0)))
    o = b.node("o", "output", 2)
    b.connect(h, o, tag="h->o")
    b.connect(x, o, tag="x->o")
    u = horizontal_unroll(b.graph)
    assert sorted(u.nodes) == ["h#1", "o#1", "w@h#1", "x"]  # h has one consumer: nothing duplicated
    assert u.edges["x", "h#1"] == {"tag": "x->h"} and u.edges["h#1", "o#1"] == {"tag": "h->o"}
    assert u.out_degree("x") == 2  # the input is a root: shared, not duplicated
    assert u.nodes["w@h#1"] == {
        "kind": "weight",
        "layer": 0.5,
        "label": "w",
        "param": ("fc.weight", (0, 0)),
        "original": "w@h",
    }
    assert unrolled_counts(u) == context_counts(b.graph) == {"w": 1}


def test_uniform_graph_has_nc_weights_each_with_one_context():
    g = toy_graph("fig_4_3a")
    u = uniform_graph(g)
    counts = context_counts(u)
    assert set(counts.values()) == {1}
    assert len(counts) == sum(context_counts(g).values()) == 12
    assert graph_quantities(u)["expected_spread"] == 0.0


@pytest.mark.parametrize("seed", range(6))
def test_unrolling_counts_equal_path_counts_on_random_dags(seed):
    g = random_neuron_graph(3, 7, seed=seed, num_params=None if seed % 2 else 5)
    assert unrolled_counts(horizontal_unroll(g)) == context_counts(g)
    assert nx.is_directed_acyclic_graph(horizontal_unroll(g))


def test_lemma_1_kl_equals_expected_spread_on_a3():
    l = np.log2([2, 2, 2, 2, 1, 1, 1, 1])
    assert kl_from_uniform(l) == pytest.approx(2 / 3)


def test_theorem_1_same_nc_higher_spread_lower_entropy():
    a, c = graph_quantities(toy_graph("fig_4_3a")), graph_quantities(toy_graph("fig_4_3c"))
    assert a["NC"] == c["NC"] == 12
    assert a["expected_spread"] > c["expected_spread"] and a["entropy"] < c["entropy"]
    for q in (a, c):
        assert q["entropy"] + q["expected_spread"] == pytest.approx(math.log2(12))


@pytest.mark.parametrize(
    "build, x",
    [
        (lambda: constant_width_mlp(5, 6, num_inputs=3), torch.zeros(1, 3)),
        (lambda: constant_width_mlp(3, 40, shared=True, batch_norm=True), torch.zeros(1, 3)),
        (lambda: constant_width_cnn(4, 5, in_channels=3, batch_norm=True), torch.zeros(1, 3, 6, 6)),
        (lambda: constant_width_cnn(2, 300), torch.zeros(1, 2, 5, 5)),  # counts beyond float64 range
    ],
)
def test_lemma_1_and_theorem_1_on_models(build, x):
    out = identity_check(build(), x)
    assert out["sum_p"] == pytest.approx(1.0, abs=1e-12)
    assert out["KL"] == pytest.approx(out["ES"], rel=1e-9, abs=1e-9)
    assert out["H + ES - log2 NC"] == pytest.approx(0.0, abs=1e-8 * max(1.0, out["log2_NC"]))


def test_draw_neuron_graph_labels_weights_with_counts():
    import matplotlib.pyplot as plt

    ax = draw_neuron_graph(toy_graph("fig_4_3a"), title="4.3a")
    texts = {t.get_text() for t in ax.texts}
    assert "w1:2" in texts and "w8:1" in texts
    plt.close(ax.figure)


def test_analyze_toy_graphs_table_has_thesis_columns_and_counts():
    df = analyze_toy_graphs(["fig_4_3a", "fig_4_3c"]).set_index("Graph")
    assert list(df["NC"]) == [12, 12] and list(df["WG"]) == [8, 12]
    assert df.loc["fig_4_3a", "counts (neuron graph)"].startswith("w1:2 w2:2")
    assert df["H + ES - log2 NC"].abs().max() < 1e-12


def test_check_identities_reports_tiny_residuals():
    df = check_identities(random_graphs=4, random_models=2, seed=1, deep_model=False)
    assert len(df) == 6
    assert df["KL - ES"].abs().max() < 1e-8 and df["H + ES - log2 NC"].abs().max() < 1e-8
    assert df["unrolled == paths"].dropna().all()


def _contrast(fg, bg) -> float:
    """WCAG contrast ratio of two matplotlib colours."""
    from matplotlib.colors import to_rgb

    a, b = sorted((_relative_luminance(to_rgb(fg)), _relative_luminance(to_rgb(bg))), reverse=True)
    return (a + 0.05) / (b + 0.05)


def test_node_labels_contrast_with_their_fill():
    """Every label of the toy-graph figure is black or white, whichever reads
    better on its fill: dark (many-context) weights get white labels, and each
    label has at least the WCAG AA contrast of 4.5 with its node."""
    import matplotlib.pyplot as plt

    assert label_colour(context_colour(2, 2)) == "white" and label_colour(context_colour(1, 2)) == "black"
    fills = [*NODE_COLOURS.values(), *(context_colour(c, 4) for c in range(1, 5))]
    assert min(_contrast(label_colour(f), f) for f in fills) >= 4.5
    ax = draw_neuron_graph(toy_graph("fig_4_3a"), max_count=2)
    colours = {t.get_text(): t.get_color() for t in ax.texts}
    assert colours["w1:2"] == "white" and colours["w8:1"] == "black"
    plt.close(ax.figure)


def test_neuron_graph_legend_names_kinds_and_context_counts():
    labels = [h.get_label() for h in neuron_graph_legend(3)]
    assert labels == ["input", "neuron", "output", "weight, 1 context", "weight, 2 contexts", "weight, 3 contexts"]
