"""Building blocks of thesis section 3.3.5: declared shapes equal real ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reuseprior.revolver.blocks import Builder, validate_shapes
from reuseprior.revolver.registry import ModuleRegistry

torch.set_num_threads(1)

BLOCKS = ["conv2d", "conv_unit", "residual", "bottleneck", "ensemble_mean", "separable_conv", "conv_deconv"]


def check_every_node(bp, reg):
    """Forward a random input through every node; shapes must match."""
    assert validate_shapes(bp) == []
    for _, node in bp.walk():
        module = reg.build(node)
        x = torch.randn(2, *node.input_shape)
        module.eval()
        with torch.no_grad():
            y = module(x)
        assert tuple(y.shape[1:]) == tuple(node.output_shape), node.name


@pytest.mark.parametrize("kind", BLOCKS)
@pytest.mark.parametrize(
    "in_shape,out_ch,kernel,stride",
    [((8, 8, 8), 8, 3, 1), ((8, 8, 8), 16, 3, 2), ((6, 7, 7), 12, 5, 2), ((4, 4, 4), 8, 1, 1)],
)
def test_block_shapes_match_a_real_forward(kind, in_shape, out_ch, kernel, stride):
    b = Builder(np.random.default_rng(0))
    bp = b.block(kind, "blk", in_shape, out_ch, kernel, stride)
    assert bp.input_shape == in_shape
    check_every_node(bp, ModuleRegistry())
    plain = b.conv("ref", in_shape, out_ch, kernel, stride)
    assert bp.output_shape == plain.output_shape, "every block is a drop-in replacement for a convolution"


def test_conv_unit_is_pre_activation_and_stem_is_post():
    b = Builder(np.random.default_rng(0))
    assert list(b.conv_unit("u", (4, 8, 8), 8).children) == ["bn", "act", "conv"]
    assert list(b.stem("s", (3, 32, 32), 16, 7, 2, pool=True).children) == ["conv", "bn", "act", "pool"]
    stem = b.stem("s", (3, 32, 32), 16, 7, 2, pool=True)
    assert stem.output_shape == (16, 8, 8)  # the C.4 example's stem


def test_bottleneck_reduces_to_a_quarter_and_pools_the_strided_shortcut():
    b = Builder(np.random.default_rng(0))
    bp = b.bottleneck("bt", (16, 8, 8), 32, 3, 2)
    body = bp.children["body"].children
    assert body["u1"].output_shape[0] == 8 and body["u3"].output_shape == (32, 4, 4)
    assert bp.children["shortcut"].children["pool"].kind == "avgpool"


def test_dense_groups_channel_arithmetic():
    b = Builder(np.random.default_rng(0))
    cat = b.dense_concat("d", (8, 4, 4), growth=4, depth=3)
    assert cat.output_shape == (8 + 3 * 4, 4, 4)
    s = b.dense_sum("s", (8, 4, 4), growth=4, depth=3)
    assert s.output_shape == (12, 4, 4)
    reg = ModuleRegistry()
    check_every_node(cat, reg)
    check_every_node(s, reg)


def test_ensemble_mean_has_three_distinct_members_even_under_aggressive_sharing():
    b = Builder(np.random.default_rng(0), aggressive=True)
    ens = b.ensemble_mean("e", (4, 8, 8), 8)
    reg = ModuleRegistry()
    members = [reg.build(c) for c in ens.children.values()]
    assert len(members) == 3 and len({id(m) for m in members}) == 3


@pytest.mark.parametrize("aggressive", [False, True])
def test_skeletons_build_and_match_declared_shapes(aggressive):
    b = Builder(np.random.default_rng(0), aggressive=aggressive)
    reg = ModuleRegistry()
    res = b.resnet("R", (3, 32, 32), 10, [16, 32, 64], [2, 1, 2], ["residual", "bottleneck", "residual"], stem_width=16)
    dense = b.densenet("D", (1, 8, 8), 10, [4, 8], [2, 3], ["dense_concat", "dense_sum"], stem_width=8)
    for bp in (res, dense):
        assert list(bp.children)[-1] == "head"
        assert [c.kind for c in bp.children["head"].children.values()] == ["bn2d", "relu", "gap", "linear"]
        check_every_node(bp, reg)
    assert res.children["g1"].output_shape == (32, 16, 16) and res.children["g2"].output_shape == (64, 8, 8)


# ----------------------------------------------------------------------------- dropout (section 3.3.5)
def test_dropout_sits_between_activation_and_convolution_of_the_first_unit():
    b = Builder(np.random.default_rng(0))
    unit = b.conv_unit("u", (4, 8, 8), 8, dropout=0.3)
    assert list(unit.children) == ["bn", "act", "drop", "conv"] and unit.args["order"] == "bn_act_drop_conv"
    assert unit.children["drop"].kind == "dropout" and unit.children["drop"].args == {"p": 0.3}
    for kind in ("residual", "bottleneck"):
        block = b.block(kind, "blk", (8, 8, 8), 16, 3, 2, dropout=0.25)
        units = block.children["body"].children
        assert units["u1"].children["drop"].args["p"] == 0.25
        assert all("drop" not in u.children for role, u in units.items() if role != "u1")
        check_every_node(block, ModuleRegistry())
    dense = b.dense_concat("d", (8, 4, 4), growth=4, depth=3, dropout=0.1)
    assert all(u.children["drop"].args["p"] == 0.1 for u in dense.children.values())
    assert dense.args["dropout"] == 0.1
    check_every_node(dense, ModuleRegistry())
    with pytest.raises(ValueError, match="dropout rate"):
        b.dropout("x", (4, 8, 8), 1.0)


def test_blocks_without_dropout_have_no_dropout_leaf_and_their_former_names():
    b = Builder(np.random.default_rng(0), bn_unique=False)
    unit = b.conv_unit("u", (4, 8, 8), 8)
    assert list(unit.children) == ["bn", "act", "conv"] and unit.args == {"order": "bn_act_conv"}
    group = b.res_group("g", (8, 8, 8), 8, 2, "residual")
    assert group.args == {"block": "residual", "stride": 1}
    assert b.dense_sum("s", (8, 4, 4), 4, 2).args == {"growth": 4, "depth": 2}


def test_dropout_module_masks_scale_and_come_from_its_own_generator():
    b = Builder(np.random.default_rng(0))
    drop_bp = b.dropout("net/unit/drop", (16, 8, 8), 0.25)
    module = ModuleRegistry(seed=5).build(drop_bp)
    assert sum(p.numel() for p in module.parameters()) == 0
    x = torch.ones(64, 16, 8, 8)
    module.eval()
    assert torch.equal(module(x), x)
    module.train()
    global_state = torch.get_rng_state()
    y = module(x)
    assert torch.equal(torch.get_rng_state(), global_state), "dropout must not draw from torch's global generator"
    kept = y != 0
    assert abs(1 - kept.float().mean().item() - 0.25) < 0.01  # 65,536 draws: std of the rate ~0.0017
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / 0.75))
    # the same run seed and scope name give the same masks; another name, other masks
    again = ModuleRegistry(seed=5).build(drop_bp).train()
    other = ModuleRegistry(seed=5).build(b.dropout("net/other/drop", (16, 8, 8), 0.25)).train()
    assert torch.equal(again(x), y) and not torch.equal(other(x), y)


def test_dropout_generator_state_travels_with_the_registry_checkpoint(tmp_path):
    b = Builder(np.random.default_rng(1))
    bp = b.residual("blk", (4, 6, 6), 4, dropout=0.5)
    registry = ModuleRegistry(seed=2)
    model = registry.build(bp).train()
    x = torch.randn(3, 4, 6, 6)
    model(x)  # advance the mask generator
    torch.save(registry.state_dict(), tmp_path / "reg.pt")
    expected = model(x)
    restored = ModuleRegistry.from_state_dict(torch.load(tmp_path / "reg.pt", weights_only=True))
    assert torch.equal(restored.build(bp).train()(x), expected)
