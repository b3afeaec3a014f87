"""Search-space bounds of the random generator (thesis section 3.5.5): the
default space draws as it always did, the thesis-scale space reaches the
thesis's model sizes (Table 3.2) and channel counts (Table C.1), and
profiles pick a space by name."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from reuseprior.core.parameters import count_parameters
from reuseprior.revolver.blocks import Builder, validate_shapes
from reuseprior.revolver.genotype import size_stats
from reuseprior.revolver.registry import ModuleRegistry
from reuseprior.revolver.search import SearchSpace, random_blueprint

torch.set_num_threads(1)


def draws_digest(shape, aggressive: bool) -> str:
    rng = np.random.default_rng(11)
    builder = Builder(rng, aggressive=aggressive)
    h = hashlib.sha256()
    for _ in range(25):
        h.update(random_blueprint(SearchSpace(input_shape=shape), builder).to_json(sort_keys=True).encode())
    h.update(str(int(rng.integers(2**31))).encode())
    return h.hexdigest()[:16]


@pytest.mark.parametrize(
    "shape,aggressive,digest", [((1, 8, 8), True, "c9e76e75471c397d"), ((3, 32, 32), False, "4658124721fd7e4b")]
)
def test_the_default_space_draws_exactly_what_it_drew_before_dropout(shape, aggressive, digest):
    """Digests recorded with the generator before dropout, training sessions
    and the thesis space existed: the quick profile's results cannot move."""
    assert draws_digest(shape, aggressive) == digest


def sample(space: SearchSpace, n: int, seed: int = 0):
    builder = Builder(np.random.default_rng(seed), aggressive=True)
    return [random_blueprint(space, builder) for _ in range(n)]


def widest_conv(bp) -> int:
    return max(max(n.args["in_channels"], n.args["out_channels"]) for _, n in bp.walk() if n.kind == "conv2d")


def test_the_thesis_space_reaches_the_thesis_sizes_and_the_default_does_not():
    """Table 3.2's top models hold 0.62-3.1M parameters and Table C.1 lists
    convolutions with 512 and 1024 input channels."""
    thesis = sample(SearchSpace.thesis((3, 32, 32), 10), 200)
    params = np.array([size_stats(bp)[1] for bp in thesis])
    assert 100_000 < np.median(params) < 400_000
    assert np.percentile(params, 90) > 620_000 and params.max() > 3_100_000
    assert max(widest_conv(bp) for bp in thesis) >= 512
    default = sample(SearchSpace(input_shape=(3, 32, 32)), 200)
    assert max(size_stats(bp)[1] for bp in default) < 620_000
    assert max(widest_conv(bp) for bp in default) < 128
    wide = sample(SearchSpace.thesis((1, 28, 28), 10, width=2), 200)
    assert max(widest_conv(bp) for bp in wide) >= 1000


def test_thesis_models_are_valid_carry_dropout_and_count_as_built():
    models = sample(SearchSpace.thesis((1, 14, 14), 10), 6, seed=3)
    for bp in models[:3]:
        assert validate_shapes(bp) == []
        model = ModuleRegistry().build(bp).eval()
        assert count_parameters(model, trainable_only=False) == size_stats(bp)[1]
        with torch.no_grad():
            assert tuple(model(torch.randn(2, 1, 14, 14)).shape) == (2, 10)
    for bp in models:
        rates = [n.args["p"] for _, n in bp.walk() if n.kind == "dropout"]
        groups = [c for role, c in bp.children.items() if role.startswith("g")]
        # one per ResNet block (in its first unit) or per dense unit; none in the stem or transitions
        assert len(rates) == sum(len(g.children) for g in groups)
        assert set(rates) == {0.5}


def test_thesis_width_is_the_largest_multiplier_and_doublings_are_capped():
    space = SearchSpace.thesis((1, 28, 28), 10, width=2)
    assert space.base_widths == (16, 32, 32, 64) and space.growths == (8, 16, 16, 32) and space.width == 1
    capped = SearchSpace(input_shape=(3, 32, 32), skeletons=("resnet",), num_groups=(4,), base_widths=(16,))
    capped.max_doublings = 2
    bp = sample(capped, 1)[0]
    assert [bp.children[f"g{g}"].output_shape[0] for g in range(4)] == [16, 32, 64, 64]


def test_search_space_json_round_trip_with_the_new_fields():
    space = SearchSpace.thesis((3, 32, 32), 100, width=2)
    back = SearchSpace.from_dict(json.loads(json.dumps(space.to_dict())))
    assert back == space and back.dropout_rates == (0.5,) and back.max_doublings == 2
    old = SearchSpace().to_dict()  # as stored before the new fields existed: stored plans keep their hashes
    assert sorted(old) == sorted(
        "input_shape num_classes skeletons num_groups depths base_widths width growths kernels res_blocks "
        "dense_groups stem_kernel stem_stride stem_pool max_depth random_mutations".split()
    )
    assert SearchSpace.from_dict(old) == SearchSpace()


def test_from_settings_reads_presets_and_overrides():
    quick = {"base_widths": [8], "growths": [4], "depths": [1, 2], "num_groups": [2], "lr": 0.2, "epochs": 20}
    expected = SearchSpace(
        input_shape=(1, 8, 8), num_classes=10, base_widths=(8,), growths=(4,), depths=(1, 2), num_groups=(2,)
    )
    assert SearchSpace.from_settings(quick, (1, 8, 8), 10) == expected
    thesis = SearchSpace.from_settings({"space": "thesis", "width": 2, "base_widths": None}, (1, 28, 28), 10)
    assert thesis == SearchSpace.thesis((1, 28, 28), 10, width=2)
    custom = SearchSpace.from_settings(
        {"space": "thesis", "depths": [1, 2], "dropout_rates": [], "max_depth": 4}, (1, 14, 14), 10
    )
    assert (custom.depths, custom.dropout_rates, custom.max_depth, custom.num_groups) == ((1, 2), (), 4, (3, 4))
    with pytest.raises(ValueError, match="preset"):
        SearchSpace.from_settings({"space": "huge"}, (1, 8, 8), 10)
