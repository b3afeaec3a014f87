"""The counting engine on shared models of every scheme, checked against the
horizontal-unrolling oracle (``tests/unrolling_oracle.py``).

The engine counts a shared model as built: a generated layer's weight is computed
from stored parameters by the generator's own ops, and the counts flow back through
them (path counting, :mod:`reuseprior.counting.sweep`).  The oracle runs the same
generator element by element (:class:`unrolling_oracle.ElementTensor`, checked to
reproduce the generated weights), builds the neuron graph of the whole model with
the generator's element graph feeding the generated weights, and unrolls it
(thesis Algorithms 8 and 9).

Also: a model materialized from a shared one has, at its layers' weights, the counts
of the shared model's generated weights and the same ``WG``; a stored parameter's
count is the sum over the generated weights it feeds (by hand, per scheme).
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch
from torch import nn
from unrolling_oracle import (
    ArchSpec,
    build_module,
    build_neuron_graph,
    count_generated,
    count_occurrences,
    oracle_quantities,
)

from reuseprior.core.parameters import count_parameters
from reuseprior.counting import analyze
from reuseprior.counting.scaled import Scaled, SliceCount, SliceSum
from reuseprior.counting.sweep import SweepResult, run_sweep
from reuseprior.graphs import horizontal_unroll
from reuseprior.models.sharing import generated_layers, materialize, share, weight_sources
from reuseprior.models.sharing.channelwise import kernel_map
from reuseprior.models.sharing.stores import store_summary

GAMMA = Fraction(1, 2)

#: dense stem, two depthwise 3x3 convolutions of one scope (one with a bias) around
#: batch norm and a skip, a pointwise convolution, a dense head
SEPARABLE = ArchSpec(
    (2, 2, 2),
    [
        ("conv", 4, 1, 1, 0, 1, False, None),
        ("relu",),
        ("conv", 4, 3, 1, 1, 4, True, None),
        ("bn",),
        ("save", 0),
        ("conv", 4, 3, 1, 1, 4, True, None),
        ("add", 0),
        ("conv", 2, 1, 1, 0, 1, False, None),
        ("gap",),
        ("dense", 2, True, None),
    ],
)
#: a small convolutional net (a padded and a strided 3x3 convolution) for the stores
CONVNET = ArchSpec(
    (1, 3, 3),
    [
        ("conv", 2, 3, 1, 1, 1, True, None),
        ("relu",),
        ("conv", 2, 3, 2, 1, 1, False, None),
        ("bn",),
        ("gap",),
        ("dense", 2, True, None),
    ],
)
#: an MLP for the stores
MLP = ArchSpec((3,), [("dense", 4, True, None), ("relu",), ("dense", 4, False, None), ("dense", 2, True, None)])

#: depthwise-separable, as the chapter-7 study's networks are built: a 1x1 stem, a
#: depthwise 3x3 convolution (groups = its 4 channels, with a bias), a pointwise 1x1
#: convolution and a dense head; shared layers ``layers.0`` (12 weights), ``layers.2``
#: (36), ``layers.4`` (4), ``layers.6`` (2)
DEPTHWISE_SEPARABLE = ArchSpec(
    (3, 2, 2),
    [
        ("conv", 4, 1, 1, 0, 1, False, None),
        ("relu",),
        ("conv", 4, 3, 1, 1, 4, True, None),
        ("relu",),
        ("conv", 1, 1, 1, 0, 1, False, None),
        ("gap",),
        ("dense", 2, True, None),
    ],
)

SPECS = {"separable": SEPARABLE, "convnet": CONVNET, "mlp": MLP, "depthwise_separable": DEPTHWISE_SEPARABLE}

#: the stores the learned mapping's synthetic pretraining plants (layer -> store)
PLANTED_STORES = {"layers.0": 0, "layers.2": 1, "layers.4": 0, "layers.6": 1}


def planted_pretrain(model: nn.Module) -> None:
    """A synthetic stand-in for the learned mapping's short pretraining: the
    coefficients of the layers of each planted store end up nearly equal (one-hot
    on the store's label), so k-means recovers :data:`PLANTED_STORES`."""
    source = weight_sources(model)["ssn_mapping"]
    with torch.no_grad():
        for index, key in enumerate(source.keys()):
            row = torch.zeros(source.coefficients.shape[1])
            row[PLANTED_STORES[key]] = 1.0
            source.coefficients[index] = row + 0.01 * index


#: the chapter-7 study's SSN options (Emb generator, Mask upsampler; default embedding
#: size 24 and mask window 9)
STUDY_SSN = {"generator": "emb", "upsampler": "mask"}

#: (spec, share options): every scheme, both channel-wise layouts, every generator
#: (SSN+ budgets, so that layers mix several templates) and every upsampler (SSN-
#: budgets below the largest layer), one and two stores; and the chapter-7 study's
#: Emb + Mask on a depthwise-separable net at SSN- budgets (the depthwise layer
#: upsampled, others mixing templates) under the single, manual and learned mappings
CASES = {
    "scope": ("separable", ("scope", {})),
    "channelwise-tiling": ("separable", ("channelwise", {"reuse": 2})),
    "channelwise-interleaving": ("separable", ("channelwise", {"reuse": 4, "layout": "interleaving"})),
    "scope+channelwise": ("separable", ("scope+channelwise", {"reuse": 2})),
    "ssn-rr-mlp": ("mlp", ("ssn", {"budget": 2.0, "generator": "rr"})),
    "ssn-avg-mlp": ("mlp", ("ssn", {"budget": 2.0, "generator": "avg"})),
    "ssn-wavg-mlp": ("mlp", ("ssn", {"budget": 2.0, "generator": "wavg"})),
    "ssn-emb-mlp": ("mlp", ("ssn", {"budget": 2.0, "generator": "emb", "embedding_size": 3})),
    "ssn-rr-conv": ("convnet", ("ssn", {"budget": 3.0, "generator": "rr"})),
    "ssn-avg-conv": ("convnet", ("ssn", {"budget": 3.0, "generator": "avg"})),
    "ssn-wavg-conv": ("convnet", ("ssn", {"budget": 3.0, "generator": "wavg"})),
    "ssn-emb-conv": ("convnet", ("ssn", {"budget": 2.0, "generator": "emb", "embedding_size": 2, "max_templates": 2})),
    "ssn-repeat-conv": ("convnet", ("ssn", {"budget": 0.5, "generator": "wavg", "upsampler": "repeat"})),
    "ssn-inter-conv": ("convnet", ("ssn", {"budget": 0.5, "generator": "wavg", "upsampler": "inter"})),
    "ssn-mask-conv": ("convnet", ("ssn", {"budget": 0.5, "generator": "wavg", "upsampler": "mask", "mask_window": 3})),
    "ssn-inter-emb-mlp": (
        "mlp",
        ("ssn", {"budget": 0.4, "generator": "emb", "upsampler": "inter", "embedding_size": 2}),
    ),
    "ssn-two-stores-conv": ("convnet", ("ssn", {"budget": 1.5, "mapping": "random", "num_stores": 2})),
    "ssn-emb-mask-separable": ("depthwise_separable", ("ssn", {"budget": 186, **STUDY_SSN, "mapping": "single"})),
    "ssn-manual-separable": (
        "depthwise_separable",
        (
            "ssn",
            {
                "budget": 233,
                **STUDY_SSN,
                "mapping": "manual",
                "stores": [["layers.0", "layers.6"], ["layers.2", "layers.4"]],
            },
        ),
    ),
    "ssn-learned-separable": (
        "depthwise_separable",
        ("ssn", {"budget": 173, **STUDY_SSN, "mapping": "learned", "num_stores": 2, "pretrain": planted_pretrain}),
    ),
}

#: what the depthwise-separable cases exercise, per store: ``(layer, templates, copies
#: of the store)``; templates > 1: Emb mixes them (one ``E`` per template count, shared
#: by the store's layers with that count), copies > 1: the Mask upsampler
SEPARABLE_LAYOUTS = {
    "ssn-emb-mask-separable": [[("layers.0", 1, 1), ("layers.2", 1, 2), ("layers.4", 4, 1), ("layers.6", 4, 1)]],
    "ssn-manual-separable": [[("layers.0", 1, 3), ("layers.6", 2, 1)], [("layers.2", 1, 3), ("layers.4", 3, 1)]],
    "ssn-learned-separable": [[("layers.0", 1, 2), ("layers.4", 1, 1)], [("layers.2", 1, 2), ("layers.6", 4, 1)]],
}


def _shared(case: str) -> tuple[ArchSpec, nn.Module]:
    spec_name, (scheme, options) = CASES[case]
    spec = SPECS[spec_name]
    torch.manual_seed(0)
    model = build_module(spec)
    if scheme == "scope+channelwise":
        shared = share(share(model, "scope"), "channelwise", **options)
    elif scheme == "ssn":
        shared = share(model, "ssn", seed=0, **{"generator": "wavg", **options})
    else:
        shared = share(model, scheme, **options)
    return spec, shared.eval()


@pytest.mark.parametrize("case", list(SEPARABLE_LAYOUTS))
def test_separable_cases_mix_templates_and_upsample_with_masks(case):
    """The depthwise-separable cases are what they claim: the stores (one; the manual
    groups; the planted groups the learned mapping recovers), their layers' template
    counts and copies, the Emb and Mask parameters, and the budget met exactly."""
    _, (_, options) = CASES[case]
    _, shared = _shared(case)
    summary = store_summary(shared)
    layout = [
        [(r.layer, r.templates, r.repeats) for r in rows.itertuples()]
        for _, rows in summary.groupby("store", sort=True)
    ]
    assert layout == SEPARABLE_LAYOUTS[case]
    assert count_parameters(shared) == options["budget"]
    assert dict(shared.named_modules())["layers.2"].groups == 4  # generated, still depthwise
    for source in weight_sources(shared).values():
        for selection in source.selections.values():
            coefficients = source.coefficients.get(f"layer{selection.position}")
            masks = source.masks.get(f"layer{selection.position}")
            assert (coefficients is not None) == (selection.templates > 1)
            assert (masks is not None) == (selection.repeats > 1)
            if masks is not None:
                assert masks.shape == (selection.repeats - 1, 9)
        assert sorted(source.embedders) == sorted(
            {f"templates{s.templates}" for s in source.selections.values() if s.templates > 1}
        )


def _input(spec: ArchSpec) -> torch.Tensor:
    return torch.randn(1, *spec.input_shape, generator=torch.Generator().manual_seed(1))


def _oracle(spec: ArchSpec, shared: nn.Module, gamma=1) -> tuple[dict, dict, dict | None]:
    """(count of every parameter element summed over its uses, count of every
    generated weight element per use, chapter-4 quantities) by unrolling."""
    graph = build_neuron_graph(spec, shared)
    unrolled = horizontal_unroll(graph)
    uses = count_occurrences(unrolled, gamma)
    generated = count_generated(unrolled, gamma)
    totals: dict = {}
    for (name, index, _use), c in uses.items():
        totals[(name, index)] = totals.get((name, index), 0) + c
    kinds = [d["kind"] for _, d in graph.nodes(data=True)]
    quantities = None
    if gamma == 1:
        quantities = oracle_quantities(
            uses, NI=kinds.count("input"), NO=kinds.count("output"), generated_counts=generated
        )
    return totals, generated, quantities


def _assert_counts_equal(shared: nn.Module, sweep: SweepResult, totals: dict, tag: str) -> None:
    for name, p in shared.named_parameters():
        s = sweep.param_counts.get(name)
        engine = s.log2().reshape(p.shape) if s is not None else torch.full(p.shape, -math.inf, dtype=torch.float64)
        for index in (tuple(i) for i in torch.nonzero(torch.ones(p.shape)).tolist()):
            expected, got = totals.get((name, index), 0), float(engine[index])
            if expected == 0:
                assert got == -math.inf, f"{tag}: {name}{index} has 2^{got} contexts, the oracle none"
            else:
                assert got == pytest.approx(math.log2(expected), abs=1e-9), f"{tag}: {name}{index}"


@pytest.mark.parametrize("case", list(CASES))
def test_engine_equals_the_unrolling_oracle_on_shared_models(case):
    """Every stored parameter element's count, plain and discounted (gamma = 1/2),
    and the chapter-4 quantities (NG, WG, ES, H, PG, P'G) equal the oracle's."""
    spec, shared = _shared(case)
    x = _input(spec)
    totals, _, quantities = _oracle(spec, shared)
    _assert_counts_equal(shared, run_sweep(shared, x), totals, case)
    report = analyze(shared, x).to_dict()
    for k, v in quantities.items():
        assert report[k] == pytest.approx(v, rel=1e-9, abs=1e-9), (case, k)
    discounted, _, _ = _oracle(spec, shared, GAMMA)
    _assert_counts_equal(
        shared,
        run_sweep(shared, x, discount=float(GAMMA)),
        {k: float(v) for k, v in discounted.items()},
        f"{case}, gamma {GAMMA}",
    )


def _weight_counts_in_order(sweep: SweepResult, names: set[str] | None) -> list[torch.Tensor]:
    """Per use, in graph order: the counts of the generated weights (``names`` None)
    or of the parameters ``names``."""
    order = {n: i for i, n in enumerate(sweep.graph.gm.graph.nodes)}
    if names is None:
        uses = [(order[g.consumer], g.count) for g in sweep.generated_uses]
    else:
        uses = [(order[u.consumer], u.count) for u in sweep.uses if u.param_name in names]
    return [c.log2() for _, c in sorted(uses, key=lambda t: t[0])]


@pytest.mark.parametrize("case", [c for c in CASES if c != "scope"])
def test_materialized_model_has_the_generated_weights_counts(case):
    """Materializing turns every generated weight into a parameter: its count at
    each use is the generated weight's, and the weight nodes (WG) are the same."""
    spec, shared = _shared(case)
    x = _input(spec)
    plain = materialize(shared)
    sites = {
        f"{name}.weight"
        for name, m in shared.named_modules(remove_duplicate=False)
        if m in set(generated_layers(shared).values())
    }
    generated = _weight_counts_in_order(run_sweep(shared, x), None)
    materialized = _weight_counts_in_order(run_sweep(plain, x), sites)
    assert len(generated) == len(materialized) == len(sites) > 0
    for g, m in zip(generated, materialized):
        assert torch.equal(g.reshape(m.shape), m)
    assert analyze(shared, x).WG == analyze(plain, x).WG


def test_weight_nodes_count_every_use_and_parameters_once():
    """NG counts the stored parameters (all have a context in these SSN- and
    channel-wise models; batch norm counts 4 per channel); WG the weight nodes
    before merging, i.e. the materialized model's weights (eq. 4.7)."""
    for case in ("channelwise-tiling", "scope+channelwise", "ssn-repeat-conv", "ssn-inter-conv", "ssn-mask-conv"):
        spec, shared = _shared(case)
        x = _input(spec)
        report, plain = analyze(shared, x), analyze(materialize(shared), x)
        batch_norm = sum(4 * m.num_features for m in shared.modules() if isinstance(m, nn.BatchNorm2d))
        bn_params = sum(2 * m.num_features for m in shared.modules() if isinstance(m, nn.BatchNorm2d))
        assert report.NG == count_parameters(shared) - bn_params + batch_norm, case
        assert report.WG == plain.WG == plain.NG > report.NG, case


def _total(sweep: SweepResult, name: str) -> torch.Tensor:
    return sweep.param_counts[name].log2().exp2()


def test_channelwise_kernel_gets_the_sum_over_its_channels():
    """A stored depthwise kernel's count is the sum of the counts of the channels
    that use it (both layouts; each site of a scope-tied layer counts)."""
    for case in ("channelwise-tiling", "channelwise-interleaving", "scope+channelwise"):
        spec, shared = _shared(case)
        x = _input(spec)
        sweep, plain = run_sweep(shared, x), run_sweep(materialize(shared), x)
        source = weight_sources(shared)["channelwise"]
        sites = [
            (name, m)
            for name, m in shared.named_modules(remove_duplicate=False)
            if m in set(generated_layers(shared).values())
        ]
        for key in source.keys():
            stored = source.stored_kernels(key)
            expected = torch.zeros(stored.shape, dtype=torch.float64)
            for name, m in sites:
                if m.key == key:
                    counts = _total(plain, f"{name}.weight")
                    for c, j in enumerate(kernel_map(counts.shape[0], source.reuse, source.layout)):
                        expected[j] += counts[c]
            name = next(n for n, p in shared.named_parameters() if p is stored)
            assert torch.allclose(_total(sweep, name), expected, rtol=1e-12), (case, key)


def _expected_store_counts(store, plain: SweepResult) -> torch.Tensor:
    """A store's counts by hand from the materialized model's weight counts: each
    layer adds its weight's counts to the store elements it reads, at every
    template row it mixes (round robin: the one row it uses), or, upsampled, at
    ``position mod |store|`` for every copy."""
    stored = store.store.numel()
    expected = torch.zeros(stored, dtype=torch.float64)
    for key, selection in store.selections.items():
        counts = _total(plain, f"{key}.weight").reshape(-1)
        n = counts.numel()
        if selection.upsampled:
            for position, c in enumerate(counts):
                expected[position % stored] += c
            continue
        rows = selection.rows
        if store.generator == "rr":
            rows = (rows[selection.position % len(rows)],)
        for row in rows:
            expected[row * n : (row + 1) * n] += counts
    return expected


@pytest.mark.parametrize(
    "case",
    ["ssn-rr-mlp", "ssn-wavg-conv", "ssn-wavg-mlp", "ssn-repeat-conv", "ssn-mask-conv", "ssn-emb-mask-separable"],
)
def test_store_element_gets_the_sum_over_the_weights_it_generates(case):
    """A store element's count is the sum, over the layers whose templates hold it
    (or, upsampled, over its copies), of the counts of the weight positions it
    generates; a weighted-average coefficient gets the sum of its layer's counts
    (each weight element mixes it once); a mask element gets the counts of the
    weights it scales (one per copy after the first, window by window)."""
    spec, shared = _shared(case)
    x = _input(spec)
    sweep, plain = run_sweep(shared, x), run_sweep(materialize(shared), x)
    ((source_name, store),) = weight_sources(shared).items()
    prefix = f"weight_sources.{source_name}"
    assert torch.allclose(_total(sweep, f"{prefix}.store"), _expected_store_counts(store, plain), rtol=1e-12)
    stored, window = store.store.numel(), store.mask_window
    for key, selection in store.selections.items():
        counts = _total(plain, f"{key}.weight").reshape(-1)
        if store.generator == "wavg" and selection.templates > 1:
            alpha = _total(sweep, f"{prefix}.coefficients.layer{selection.position}")
            assert torch.allclose(alpha, counts.sum().expand(selection.templates), rtol=1e-12), key
        if store.upsampler == "mask" and selection.upsampled:
            masks = _total(sweep, f"{prefix}.masks.layer{selection.position}")
            for copy in range(1, selection.repeats):
                for w in range(window):
                    scaled = [copy * stored + p for p in range(w, stored, window) if copy * stored + p < counts.numel()]
                    assert float(masks[copy - 1, w]) == pytest.approx(float(counts[scaled].sum()), rel=1e-12)


def test_analyze_leaves_a_scope_shared_model_intact():
    """Capturing a model whose modules sit at several paths keeps its parameters
    (``torch.func.functional_call`` alone would leave plain tensors behind)."""
    spec, shared = _shared("scope")
    before = [(n, p) for n, p in shared.named_parameters()]
    analyze(shared, _input(spec))
    after = [(n, p) for n, p in shared.named_parameters()]
    assert [n for n, _ in after] == [n for n, _ in before]
    assert all(a is b and isinstance(a, nn.Parameter) for (_, a), (_, b) in zip(after, before))


@pytest.mark.parametrize("align", [True, False])
@pytest.mark.parametrize("n_in, n_out", [(1, 4), (2, 3), (3, 5), (4, 10), (5, 9), (7, 7), (6, 4), (3, 64)])
def test_linear_resizing_reads_the_neighbours_with_non_zero_weight(n_in, n_out, align):
    """The linear-interpolation rule gives an output's count to each neighbour the
    op weighs by a non-zero amount: the pattern of the op's Jacobian, read off one-hot
    inputs (sizes where outputs fall on stored positions included)."""
    x = nn.Parameter(torch.ones(1, 1, n_in))

    class Resize(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.x = x

        def forward(self, scale: torch.Tensor) -> torch.Tensor:
            w = torch.nn.functional.interpolate(self.x, size=n_out, mode="linear", align_corners=align)
            return scale * w.reshape(1, n_out)

    counts = run_sweep(Resize(), torch.ones(1, n_out)).param_counts["x"].to_ints()
    eye = torch.eye(n_in, dtype=torch.float64).reshape(1, n_in, n_in)
    pattern = torch.nn.functional.interpolate(eye, size=n_out, mode="linear", align_corners=align)[0] != 0
    assert counts == pattern.sum(1).tolist()


def test_slices_of_a_store_gather_piece_by_piece_exactly():
    """Counts of slices far apart in magnitude (2**2000 and 2**-30 next to 1)
    gather as exactly as adding whole-store counts, and an edge inside a generator
    keeps no store-sized count of its own."""
    shape = (6, 2)
    pieces = [
        SliceCount(Scaled(torch.tensor([[0.75, 0.5]], dtype=torch.float64), 2000), shape, 0, 1, 2, 1),
        SliceCount(Scaled(torch.full((2, 2), 0.5, dtype=torch.float64), -30), shape, 0, 2, 6, 2),
        SliceCount(Scaled(torch.ones(3, 2, dtype=torch.float64), 0), shape, 0, 0, 3, 1),
    ]
    gathered = SliceSum(shape)
    dense = None
    for p in pieces:
        gathered.add(p)
        dense = p.dense() if dense is None else dense + p.dense()
    got = gathered.result(None)
    assert got.exponent == dense.exponent and torch.equal(got.mantissa, dense.mantissa)
    spec, shared = _shared("ssn-wavg-conv")
    sweep = run_sweep(shared, _input(spec))
    internal = [u for u in sweep.uses if u.internal]
    assert internal and all(u.count is None for u in internal)
