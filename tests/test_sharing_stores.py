"""Shapeshifter parameter stores, the ``ssn`` sharing scheme (Plummer et al., NPAS,
section 3 and appendix B): the selector, the round robin, the generators and
upsamplers against hand-worked values, exact budgets below and above the
model's size, materialize, training through the stores, the mappings (the
learned one with a synthetic pretraining) and the error messages."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from reuseprior.core.errors import SharingError
from reuseprior.models.cnn import constant_width_cnn
from reuseprior.models.sharing import (
    GeneratedLayer,
    count_parameters,
    generated_layers,
    materialize,
    share,
    weight_sources,
)
from reuseprior.models.sharing.store_mapping import split_budget
from reuseprior.models.sharing.stores import (
    ParameterStore,
    select_templates,
    store_summary,
    templates_per_layer,
)

GENERATORS = ["rr", "avg", "wavg", "emb"]
UPSAMPLERS = ["repeat", "inter", "mask"]


class TinyCNN(nn.Module):
    """Weights 216, 576, 1152 (conv) and 160 (linear); 64 BN and 10 bias parameters."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.conv3 = nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        x = torch.relu(self.bn3(self.conv3(x)))
        return self.fc(x.mean((2, 3)))


class TinyMLP(nn.Module):
    """Weights 192, 256, 64; 36 bias parameters."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.fc1 = nn.Linear(12, 16)
        self.fc2 = nn.Linear(16, 16)
        self.fc3 = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


#: model, an SSN- budget (some layers upsampled, some mixing several templates), manual groups, an input
CASES = {
    "cnn": (TinyCNN, 850, [["conv1", "conv3"], ["conv2", "fc"]], (4, 3, 8, 8)),
    "mlp": (TinyMLP, 390, [["fc1", "fc3"], ["fc2"]], (4, 12)),
}
MAPPINGS = {
    "single": lambda manual: {},
    "random": lambda manual: {"num_stores": 2},
    "manual": lambda manual: {"stores": manual},
}


def example(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# the selector and the round robin (section 3.1), hand-worked


@pytest.mark.parametrize(
    ("store", "layer", "most", "expected"),
    [
        (100, 30, 4, 3),  # floor(100/30) = 3 <= P
        (100, 10, 4, 4),  # floor(100/10) = 10, capped at P = 4
        (99, 10, 8, 8),  # floor(9.9) = 9, capped at 8
        (100, 100, 4, 1),  # exactly one template
        (100, 101, 4, 1),  # too few parameters: one template, upsampled
        (5, 1000, 4, 1),
    ],
)
def test_templates_per_layer_is_the_papers_formula(store, layer, most, expected):
    assert templates_per_layer(store, layer, most) == expected


def test_round_robin_allocates_consecutive_rows_and_wraps():
    # store of 100, P = 2, layers of 10, 30, 10, 20 weights (worked by hand):
    # a: 10 rows, cursor 0 -> rows 0, 1; cursor 20
    # b: 3 rows, first row at or after 20 is ceil(20/30) = 1 -> rows 1, 2; cursor 90
    # c: 10 rows, ceil(90/10) = 9 -> rows 9, 0 (wraps); cursor (9 + 2 - 10) * 10 = 10
    # d: 5 rows, ceil(10/20) = 1 -> rows 1, 2
    layers = [("a", (10,)), ("b", (5, 6)), ("c", (10,)), ("d", (4, 5))]
    selections = select_templates(100, layers, max_templates=2)
    assert [s.rows for s in selections] == [(0, 1), (1, 2), (9, 0), (1, 2)]
    assert [s.position for s in selections] == [0, 1, 2, 3]
    # no round robin when at most P rows fit; a layer larger than the store is upsampled
    few = select_templates(100, [("a", (30,)), ("b", (150,)), ("c", (50,))], max_templates=4)
    assert [s.rows for s in few] == [(0, 1, 2), (), (0, 1)]
    assert [s.repeats for s in few] == [1, 2, 1]
    assert [s.templates for s in few] == [3, 1, 2]


def hand_store(generator: str, upsampler: str = "repeat") -> ParameterStore:
    layers = [("a", (10,)), ("b", (5, 6)), ("c", (10,)), ("d", (4, 5))]
    source = ParameterStore(
        100,
        select_templates(100, layers, max_templates=2),
        generator=generator,
        upsampler=upsampler,
        rng=torch.Generator().manual_seed(0),
        init_std=1.0,
    )
    with torch.no_grad():
        source.store.copy_(torch.arange(100.0))
    return source


def rows_of(values: np.ndarray, size: int, rows: list[int]) -> np.ndarray:
    return np.stack([values[r * size : (r + 1) * size] for r in rows])


def test_round_robin_generator_uses_template_i_mod_p():
    source = hand_store("rr")
    theta = np.arange(100.0)
    # layer i uses template i mod 2 of its rows: a row 0, b row 2, c row 9, d row 2
    assert np.array_equal(source.weight("a").detach().numpy(), theta[0:10])
    assert np.array_equal(source.weight("b").detach().numpy().ravel(), theta[60:90])
    assert np.array_equal(source.weight("c").detach().numpy(), theta[90:100])
    assert np.array_equal(source.weight("d").detach().numpy().ravel(), theta[40:60])
    assert source.weight("b").shape == (5, 6)


def test_avg_wavg_and_emb_mix_the_selected_rows():
    theta = np.arange(100.0)
    avg = hand_store("avg")
    assert np.allclose(avg.weight("c").detach().numpy(), rows_of(theta, 10, [9, 0]).mean(0))

    wavg = hand_store("wavg")
    with torch.no_grad():
        wavg.coefficients["layer1"].copy_(torch.tensor([0.5, -2.0]))
    expected = 0.5 * theta[30:60] - 2.0 * theta[60:90]
    assert np.allclose(wavg.weight("b").detach().numpy().ravel(), expected)

    emb = hand_store("emb")
    embedding = np.linspace(-1, 1, 24)
    weight = np.stack([np.linspace(0, 0.5, 24), np.linspace(0.3, -0.2, 24)])
    bias = np.array([0.1, -0.4])
    with torch.no_grad():
        emb.coefficients["layer3"].copy_(torch.tensor(embedding, dtype=torch.float32))
        emb.embedders["templates2"].weight.copy_(torch.tensor(weight, dtype=torch.float32))
        emb.embedders["templates2"].bias.copy_(torch.tensor(bias, dtype=torch.float32))
    logits = weight @ embedding + bias
    mixing = np.exp(logits) / np.exp(logits).sum()
    expected = mixing[0] * theta[20:40] + mixing[1] * theta[40:60]
    assert np.allclose(emb.weight("d").detach().numpy().ravel(), expected, atol=1e-4)
    # one Emb mixing layer per template count, shared by the layers with that count
    assert list(emb.embedders) == ["templates2"]


def test_coefficients_start_orthonormal_within_a_store():
    layers = [(f"l{i}", (10,)) for i in range(3)]
    source = ParameterStore(
        100,
        select_templates(100, layers, max_templates=4),
        generator="wavg",
        upsampler="repeat",
        rng=torch.Generator().manual_seed(3),
        init_std=1.0,
    )
    alphas = torch.stack([source.coefficients[f"layer{i}"] for i in range(3)])
    assert alphas.shape == (3, 4)
    assert torch.allclose(alphas @ alphas.T, torch.eye(3), atol=1e-5)
    emb = ParameterStore(
        100,
        select_templates(100, layers, max_templates=4),
        generator="emb",
        upsampler="repeat",
        rng=torch.Generator().manual_seed(3),
        init_std=1.0,
    )
    embeddings = torch.stack([emb.coefficients[f"layer{i}"] for i in range(3)])
    assert embeddings.shape == (3, 24)
    assert torch.allclose(embeddings @ embeddings.T, torch.eye(3), atol=1e-5)


def test_emb_embeddings_start_orthonormal_across_template_counts():
    # store 100, P = 4: layers of 10, 30 and 50 weights select 4, 3 and 2 templates; Emb's
    # embeddings all have 24 values, so all three start orthogonal to each other
    layers = [("a", (10,)), ("b", (30,)), ("c", (50,))]
    selections = select_templates(100, layers, max_templates=4)
    assert [s.templates for s in selections] == [4, 3, 2]
    emb = ParameterStore(
        100, selections, generator="emb", upsampler="repeat", rng=torch.Generator().manual_seed(3), init_std=1.0
    )
    embeddings = torch.stack([emb.coefficients[f"layer{i}"] for i in range(3)])
    assert torch.allclose(embeddings @ embeddings.T, torch.eye(3), atol=1e-5)
    assert sorted(emb.embedders) == ["templates2", "templates3", "templates4"]  # one E per template count


def upsampling_store(upsampler: str, values: list[float], size: int, window: int = 9) -> ParameterStore:
    source = ParameterStore(
        len(values),
        select_templates(len(values), [("w", (size,))]),
        generator="emb",
        upsampler=upsampler,
        rng=torch.Generator().manual_seed(0),
        init_std=1.0,
        mask_window=window,
    )
    with torch.no_grad():
        source.store.copy_(torch.tensor(values))
    return source


def test_upsamplers_by_hand():
    assert upsampling_store("repeat", [1, 2, 3], 7).weight("w").tolist() == [1, 2, 3, 1, 2, 3, 1]
    inter = upsampling_store("inter", [0, 1, 2], 5).weight("w")
    assert torch.allclose(inter, torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0]))
    # mask, window 2: copies 1 and 2 of [1, 2, 3] are multiplied by [2, 3] and [5, 7] tiled over the copy
    mask = upsampling_store("mask", [1, 2, 3], 8, window=2)
    assert tuple(mask.masks["layer0"].shape) == (2, 2)
    assert mask.weight("w").tolist() == [1, 2, 3, 1, 2, 3, 1, 2]  # masks start at one
    with torch.no_grad():
        mask.masks["layer0"].copy_(torch.tensor([[2.0, 3.0], [5.0, 7.0]]))
    assert mask.weight("w").tolist() == [1, 2, 3, 1 * 2, 2 * 3, 3 * 2, 1 * 5, 2 * 7]


def test_split_budget_is_proportional_and_exact():
    assert split_budget(100, [1, 1, 2]) == [25, 25, 50]
    assert split_budget(10, [1, 1, 1]) == [4, 3, 3]  # largest remainders, ties to the earlier store
    assert split_budget(3, [1, 1000, 1]) == [1, 1, 1]  # every store keeps one parameter


# the scheme on small models: every generator x upsampler x mapping


def allowed_parameter_ids(model: nn.Module) -> set[int]:
    """Stores, coefficients, embeddings, masks, biases and batch norm: what training may change."""
    allowed = {id(p) for source in weight_sources(model).values() for p in source.parameters()}
    for module in model.modules():
        if isinstance(module, GeneratedLayer) and module.bias is not None:
            allowed.add(id(module.bias))
        if isinstance(module, nn.BatchNorm2d):
            allowed.update({id(module.weight), id(module.bias)})
    return allowed


@pytest.mark.parametrize("mapping", list(MAPPINGS))
@pytest.mark.parametrize("upsampler", UPSAMPLERS)
@pytest.mark.parametrize("generator", GENERATORS)
@pytest.mark.parametrize("case", list(CASES))
def test_shared_model_materializes_counts_the_budget_and_trains_through_the_stores(case, generator, upsampler, mapping):
    build, budget, manual, shape = CASES[case]
    original = build()
    shared = share(
        original,
        "ssn",
        budget=budget,
        seed=0,
        generator=generator,
        upsampler=upsampler,
        mapping=mapping,
        **MAPPINGS[mapping](manual),
    )
    assert count_parameters(shared) == budget
    assert set(generated_layers(shared)) == {
        n for n, m in original.named_modules() if type(m) in (nn.Conv2d, nn.Linear)
    }
    # every parameter is a store's, a bias or batch norm's: no layer weight is left
    assert {id(p) for p in shared.parameters()} == allowed_parameter_ids(shared)

    x = example(shape)
    shared.eval()
    plain = materialize(shared).eval()
    assert not generated_layers(plain) and not weight_sources(plain)
    assert torch.allclose(shared(x), plain(x), atol=1e-6, rtol=0)

    # the gradient of every generated weight reaches its store
    for name, layer in generated_layers(shared).items():
        probe = torch.randn(layer.weight.shape, generator=torch.Generator().manual_seed(1))
        (grad,) = torch.autograd.grad((layer.weight * probe).sum(), layer.source.store)
        assert grad.abs().sum() > 0, name

    # one step changes the stores (and so the generated weights) and nothing else exists to change
    shared.train()
    before = {id(p): p.detach().clone() for p in shared.parameters()}
    weights_before = {n: m.weight.detach().clone() for n, m in generated_layers(shared).items()}
    optimizer = torch.optim.SGD(shared.parameters(), lr=0.1)
    shared(x).square().mean().backward()
    optimizer.step()
    changed = {id(p) for p in shared.parameters() if not torch.equal(p.detach(), before[id(p)])}
    stores = {id(source.store) for source in weight_sources(shared).values()}
    assert stores <= changed
    assert changed <= allowed_parameter_ids(shared)
    for name, layer in generated_layers(shared).items():
        assert not torch.equal(layer.weight.detach(), weights_before[name]), name
    coefficients = [p for s in weight_sources(shared).values() for p in s.coefficients.values()]
    mixing = int((store_summary(shared)["templates"] > 1).sum())
    assert len(coefficients) == (mixing if generator in ("wavg", "emb") else 0)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in coefficients)


@pytest.mark.parametrize("mapping", list(MAPPINGS))
@pytest.mark.parametrize("generator", GENERATORS)
@pytest.mark.parametrize("case", list(CASES))
def test_ssn_plus_uses_more_parameters_than_the_model(case, generator, mapping):
    build, _, manual, shape = CASES[case]
    original = build()
    budget = 3 * count_parameters(original)
    shared = share(
        original, "ssn", budget=3.0, seed=0, generator=generator, mapping=mapping, **MAPPINGS[mapping](manual)
    )
    assert count_parameters(shared) == budget
    summary = store_summary(shared)
    assert (summary["repeats"] == 1).all()  # nothing is upsampled
    assert (summary["templates"] > 1).any()
    x = example(shape)
    shared.eval()
    assert torch.allclose(shared(x), materialize(shared).eval()(x), atol=1e-6, rtol=0)


@pytest.mark.parametrize("generator", ["rr", "avg"])
def test_generators_without_coefficients_reach_every_budget(generator):
    original = TinyCNN()
    for budget in range(80, 3000, 97):
        shared = share(original, "ssn", budget=budget, seed=0, generator=generator, upsampler="inter")
        assert count_parameters(shared) == budget


def test_a_budget_in_an_emb_step_lands_just_below_it():
    # at 600 the Emb coefficients jump past the budget (a layer gaining a second template gains an
    # embedding of 24 and a mixing layer of 2 x 25): the count is the largest below it
    original = TinyCNN()
    reached = count_parameters(share(original, "ssn", budget=600, seed=0, generator="emb", upsampler="repeat"))
    assert 600 - (24 + 25 * 4) < reached < 600
    assert count_parameters(share(original, "ssn", budget=reached, seed=0, generator="emb", upsampler="repeat")) == (
        reached
    )


def test_without_a_budget_each_store_is_its_largest_layer():
    original = TinyCNN()
    single = store_summary(share(original, "ssn", seed=0, generator="rr"))
    assert set(single["store_size"]) == {1152}
    manual = share(original, "ssn", seed=0, generator="rr", mapping="manual", stores=CASES["cnn"][2])
    assert store_summary(manual).groupby("store")["store_size"].first().tolist() == [1152, 576]
    assert count_parameters(manual) == 1152 + 576 + 64 + 10  # stores, BN, the linear bias


def test_budget_is_split_in_proportion_to_the_layers():
    original = TinyCNN()
    shared = share(
        original,
        "ssn",
        budget=0.5,
        seed=0,
        generator="rr",
        upsampler="repeat",
        mapping="manual",
        stores=CASES["cnn"][2],
    )
    sizes = store_summary(shared).groupby("store")["store_size"].first().tolist()
    total = round(0.5 * count_parameters(original)) - 74
    assert sizes == split_budget(total, [216 + 1152, 576 + 160])
    assert abs(sizes[0] / sizes[1] - 1368 / 736) < 0.01


def test_excluded_layers_stay_plain_and_count():
    original = TinyCNN()
    shared = share(original, "ssn", budget=900, seed=0, exclude=["fc"])
    assert type(shared.fc) is nn.Linear and set(generated_layers(shared)) == {"conv1", "conv2", "conv3"}
    assert count_parameters(shared) == 900
    by_rule = share(original, "ssn", budget=900, seed=0, exclude=lambda name, m: isinstance(m, nn.Linear))
    assert set(generated_layers(by_rule)) == {"conv1", "conv2", "conv3"}


def test_the_seed_decides_everything_and_the_original_is_untouched():
    original = TinyCNN()
    state = {k: v.clone() for k, v in original.state_dict().items()}
    a = share(original, "ssn", budget=850, seed=5, mapping="random", num_stores=2)
    b = share(original, "ssn", budget=850, seed=5, mapping="random", num_stores=2)
    c = share(original, "ssn", budget=850, seed=6, mapping="random", num_stores=2)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    assert not torch.equal(a.weight_sources.ssn_store0.store, c.weight_sources.ssn_store0.store)
    assert all(torch.equal(v, original.state_dict()[k]) for k, v in state.items())


def test_state_dict_round_trip_and_scope_sharing_underneath():
    original = TinyCNN()
    a = share(original, "ssn", budget=850, seed=0)
    b = share(original, "ssn", budget=850, seed=1)
    b.load_state_dict(a.state_dict())
    x = example((2, 3, 8, 8))
    assert torch.equal(a.eval()(x), b.eval()(x))

    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.first = nn.Conv2d(4, 4, 3, padding=1, bias=False)
            self.second = nn.Conv2d(4, 4, 3, padding=1, bias=False)
            self.head = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.second(torch.relu(self.first(x))).mean((2, 3)))

    scoped = share(Twice(), "scope")
    shared = share(scoped, "ssn", budget=100, seed=0, generator="wavg")
    assert shared.first is shared.second and isinstance(shared.first, GeneratedLayer)
    assert list(store_summary(shared)["layer"]) == ["first", "head"]
    assert count_parameters(shared) == 100
    y = example((2, 4, 5, 5))
    assert torch.allclose(shared.eval()(y), materialize(shared).eval()(y), atol=1e-6, rtol=0)


def test_resnet18_at_a_small_input():
    torchvision = pytest.importorskip("torchvision")
    original = torchvision.models.resnet18(num_classes=10)
    budget = round(0.05 * count_parameters(original))
    shared = share(original, "ssn", budget=0.05, seed=0, mapping="random", num_stores=3)
    assert count_parameters(shared) == budget
    summary = store_summary(shared)
    assert len(summary) == 21 and (summary["repeats"] > 1).any() and (summary["templates"] > 1).any()
    x = example((2, 3, 32, 32))
    shared.eval()
    assert torch.allclose(shared(x), materialize(shared).eval()(x), atol=1e-6, rtol=0)
    shared.train()
    shared(x).sum().backward()
    assert all(source.store.grad.abs().sum() > 0 for source in weight_sources(shared).values())


# the learned mapping (section 3.4)


def planted_pretrain(groups: dict[str, int]):
    """A synthetic pretraining that leaves the layers of each planted group with nearly equal
    coefficients, as if training had made them alike."""

    def pretrain(model: nn.Module) -> None:
        source = weight_sources(model)["ssn_mapping"]
        assert set(generated_layers(model)) == set(groups)
        with torch.no_grad():
            for index, key in enumerate(source.keys()):
                row = torch.zeros(source.coefficients.shape[1])
                row[groups[key]] = 1.0
                source.coefficients[index] = row + 0.01 * index

    return pretrain


@pytest.mark.parametrize("generator", ["wavg", "emb", "rr"])
def test_learned_mapping_groups_layers_with_alike_coefficients(generator):
    original = TinyCNN()
    planted = {"conv1": 0, "conv2": 1, "conv3": 0, "fc": 1}
    shared = share(
        original,
        "ssn",
        budget=1200,
        seed=0,
        generator=generator,
        upsampler="repeat",
        mapping="learned",
        num_stores=2,
        pretrain=planted_pretrain(planted),
    )
    summary = store_summary(shared)
    assert summary.groupby("store")["layer"].apply(list).tolist() == [["conv1", "conv3"], ["conv2", "fc"]]
    sizes = summary.groupby("store")["store_size"].first().tolist()
    assert abs(sizes[0] / sizes[1] - (216 + 1152) / (576 + 160)) < 0.01  # in proportion to the layers
    assert count_parameters(shared) <= 1200


def test_learned_mapping_warns_when_kmeans_finds_fewer_groups():
    def identical(model: nn.Module) -> None:
        source = weight_sources(model)["ssn_mapping"]
        with torch.no_grad():
            source.coefficients.copy_(torch.eye(source.coefficients.shape[1])[0].expand_as(source.coefficients))

    with pytest.warns(UserWarning, match="k-means found 1 distinct groups of coefficients for num_stores=2"):
        shared = share(TinyCNN(), "ssn", budget=1200, seed=0, mapping="learned", num_stores=2, pretrain=identical)
    assert len(weight_sources(shared)) == 1


def test_learned_mapping_after_a_real_short_pretraining():
    original = TinyMLP()
    x, y = example((32, 12), 1), example((32, 4), 2)
    seen: list[int] = []

    def pretrain(model: nn.Module) -> None:
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
        source = weight_sources(model)["ssn_mapping"]
        seen.append(source.coefficients.shape[1])
        start = source.features()
        for _ in range(5):
            optimizer.zero_grad()
            (model(x) - y).square().mean().backward()
            optimizer.step()
        assert not torch.equal(start, source.features())  # the coefficients learned

    shared = share(
        original, "ssn", budget=400, seed=0, generator="wavg", mapping="learned", num_stores=2, pretrain=pretrain
    )
    assert seen == [4]  # C = 4 templates in the pretraining
    assert len(weight_sources(shared)) == 2 and count_parameters(shared) == 400
    assert torch.allclose(shared.eval()(x), materialize(shared).eval()(x), atol=1e-6, rtol=0)


# errors


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"generator": "mlp"}, r"unknown ssn generator 'mlp'; choose one of \['rr', 'avg', 'wavg', 'emb'\]"),
        ({"upsampler": "bicubic"}, "unknown ssn upsampler 'bicubic'"),
        ({"mapping": "auto"}, "unknown ssn mapping 'auto'"),
        ({"seed": None}, "pass seed=<int>"),
        ({"mapping": "random"}, "needs num_stores"),
        ({"mapping": "random", "num_stores": 9}, "exceeds the 4 shared layers"),
        ({"mapping": "learned", "num_stores": 2}, "needs pretrain="),
        ({"mapping": "manual", "stores": [["conv1", "conv2"]]}, r"without a store: \['conv3', 'fc'\]"),
        ({"mapping": "manual", "stores": {"conv9": 0}}, "not shared"),
        ({"stores": [["conv1"]]}, "mapping='manual' only"),
        ({"exclude": ["conv9"]}, "exclude names layers"),
        ({"max_templates": 0}, "max_templates must be an integer >= 1"),
        ({"templates": 4}, r"unknown ssn option\(s\) \['templates'\]"),
    ],
)
def test_bad_options_say_what_to_do(options, message):
    with pytest.raises(SharingError, match=message):
        share(TinyCNN(), "ssn", budget=900, **{"seed": 0, **options})


def test_a_budget_below_the_unshared_parameters_names_the_minimum():
    # 64 BN + 10 bias parameters stay, plus one parameter per store
    with pytest.raises(SharingError, match="below the minimum 75 "):
        share(TinyCNN(), "ssn", budget=74, seed=0, upsampler="repeat")
    with pytest.raises(SharingError, match="below the minimum 76 "):
        share(TinyCNN(), "ssn", budget=75, seed=0, mapping="random", num_stores=2)
    with pytest.raises(SharingError, match="below the minimum 76 "):
        share(TinyCNN(), "ssn", budget=75, seed=0, mapping="learned", num_stores=2, pretrain=lambda model: None)
    assert count_parameters(share(TinyCNN(), "ssn", budget=75, seed=0, upsampler="repeat")) == 75
    with pytest.raises(SharingError, match="upsampler='repeat' or 'inter'"):
        share(TinyCNN(), "ssn", budget=100, seed=0, upsampler="mask")


def test_expected_masks_for_an_upsampled_layer():
    shared = share(TinyCNN(), "ssn", budget=900, seed=0, generator="rr", upsampler="mask")
    source = shared.weight_sources.ssn_store0
    size = source.store.numel()
    for _key, selection in source.selections.items():
        if selection.upsampled:
            assert selection.repeats == math.ceil(selection.size / size)
            assert tuple(source.masks[f"layer{selection.position}"].shape) == (selection.repeats - 1, 9)


def test_a_sequential_model_shares_through_its_wrapper():
    original = constant_width_cnn(8, 4, in_channels=3, batch_norm=True)
    shared = share(original, "ssn", budget=0.3, seed=0, generator="wavg")
    assert count_parameters(shared) == round(0.3 * count_parameters(original))
    x = example((2, 3, 8, 8))
    plain = materialize(shared).eval()
    assert type(plain) is nn.Sequential
    assert torch.allclose(shared.eval()(x), plain(x), atol=1e-6, rtol=0)


@pytest.mark.parametrize("generator", ["wavg", "emb"])
def test_double_precision_and_deepcopy_follow_the_model(generator):
    """``.double()`` converts the stores with the model (the generated layers reference the
    registered source, not a copy of it), and a deep copy generates from its own stores."""
    shared = share(TinyCNN(), "ssn", budget=850, seed=0, generator=generator, upsampler="mask").eval()
    x = example((2, 3, 8, 8))
    expected = shared(x).double()
    double = shared.double()
    assert all(p.dtype == torch.float64 for p in double.parameters())
    assert all(layer.weight.dtype == torch.float64 for layer in generated_layers(double).values())
    out = double(x.double())
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(materialize(double).eval()(x.double()), out, atol=1e-12, rtol=0)

    clone = copy.deepcopy(double)
    with torch.no_grad():
        clone.weight_sources.ssn_store0.store.zero_()
    assert all(layer.source is clone.weight_sources.ssn_store0 for layer in generated_layers(clone).values())
    assert not torch.equal(clone(x.double()), out)
    assert torch.equal(double(x.double()), out)  # the original's stores are untouched
