"""Blueprints, scope names and the sharing rules 1-7 of thesis section 3.3.4."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from reuseprior.revolver.blocks import Builder
from reuseprior.revolver.blueprint import Blueprint
from reuseprior.revolver.operators import mutate
from reuseprior.revolver.registry import (
    ModuleRegistry,
    duplicate,
    enforce_rule4,
    make_unique,
    revoke_uniqueness,
    unique_names,
)
from reuseprior.revolver.search import SearchSpace, random_blueprint

torch.set_num_threads(1)


def builder(seed: int = 0, **kw) -> Builder:
    return Builder(np.random.default_rng(seed), **kw)


def small_resnet(b: Builder, name: str = "net") -> Blueprint:
    return b.resnet(name, (1, 8, 8), 10, [8, 16], [2, 2], ["residual", "residual"], stem_width=8)


# --------------------------------------------------------------------------- blueprints
def test_json_round_trip_of_random_blueprints_is_exact():
    b = builder(1)
    space = SearchSpace()
    for _ in range(20):
        bp = random_blueprint(space, b)
        text = bp.to_json()
        back = Blueprint.from_json(text)
        assert back.to_dict() == bp.to_dict()
        assert back.name == bp.name
        assert json.loads(text)["input_shape"] == [1, 8, 8]  # no batch size


def test_blueprint_has_no_parent_pointers_and_shapes_without_batch():
    bp = small_resnet(builder())
    for _, node in bp.walk():
        assert "parent" not in node.to_dict()
        assert len(node.input_shape) in (1, 3)


def test_loading_a_blueprint_whose_name_does_not_match_its_content_fails():
    d = small_resnet(builder()).to_dict()
    d["children"]["stem"]["children"]["conv"]["args"]["kernel_size"] = 5
    with pytest.raises(ValueError, match="does not match its content"):
        Blueprint.from_dict(d)


def test_name_changes_when_a_kernel_size_changes_and_registry_builds_new_module():
    b = builder()
    reg = ModuleRegistry()
    conv = b.conv("p/conv", (4, 8, 8), 8, 3)
    old_name, old_module = conv.name, reg.build(conv)
    conv.args["kernel_size"], conv.args["padding"] = 5, 2
    assert conv.name != old_name
    new_module = reg.build(conv)
    assert new_module is not old_module and new_module.kernel_size == (5, 5)


def test_container_name_changes_when_a_descendant_changes():
    b = builder()
    bp = b.ensemble_mean("ens", (4, 8, 8), 8, 3, 1)
    assert not bp.unique  # BN-free container: shareable
    before = bp.name
    bp.children["1"].args["kernel_size"], bp.children["1"].args["padding"] = 1, 0
    assert bp.name != before


# --------------------------------------------------------------------------- rules
def test_rule1_scope_name_dictates_sharing():
    b, reg = builder(), ModuleRegistry()
    a1 = reg.build(b.conv("x/conv", (4, 8, 8), 8, 3))
    a2 = reg.build(b.conv("x/conv", (4, 8, 8), 8, 3))
    other = reg.build(b.conv("y/conv", (4, 8, 8), 8, 3))
    assert a1 is a2 and a1 is not other


def test_aggressive_sharing_keys_convolutions_by_shape_only():
    b, reg = builder(aggressive=True), ModuleRegistry()
    c1 = b.conv("x/conv", (4, 8, 8), 8, 3)
    c2 = b.conv("completely/elsewhere", (4, 8, 8), 8, 3)
    assert c1.name == c2.name and reg.build(c1) is reg.build(c2)
    assert b.conv("x", (4, 8, 8), 8, 3, stride=2).name != c1.name


def test_rule2_same_name_same_object_within_and_across_models():
    b, reg = builder(aggressive=True), ModuleRegistry()
    m1 = reg.build(small_resnet(b, "a"))
    m2 = reg.build(small_resnet(b, "b"))
    ids1 = {id(p) for p in m1.parameters()}
    ids2 = {id(p) for p in m2.parameters()}
    assert ids1 & ids2, "aggressively shared convolutions must be the same tensors across models"
    # within a model: the repeated blocks of a group share their convolutions
    bp = b.resnet("c", (1, 8, 8), 10, [8], [3], ["residual"], stem_width=8)
    group = bp.children["g0"]
    path = ("body", "u1", "conv")
    assert group.children["1"].get(path).name == group.children["2"].get(path).name
    model = reg.build(bp)
    blocks = model.parts["g0"].parts
    assert blocks["1"].parts["body"].parts["u1"].parts["conv"] is blocks["2"].parts["body"].parts["u1"].parts["conv"]
    assert blocks["1"] is not blocks["2"], "the blocks hold unique batch norms, so they are distinct"


def test_rule3_unique_objects_are_not_shared():
    b, reg = builder(), ModuleRegistry()
    bn1, bn2 = b.bn("p/bn", (8, 4, 4)), b.bn("p/bn", (8, 4, 4))
    assert bn1.unique and bn2.unique and bn1.name != bn2.name
    assert reg.build(bn1) is not reg.build(bn2)
    bp = small_resnet(b)
    copy = duplicate(bp, b.rng)
    m1, m2 = reg.build(bp), reg.build(copy)
    bns1 = {id(m) for m in m1.modules() if isinstance(m, torch.nn.BatchNorm2d)}
    bns2 = {id(m) for m in m2.modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert bns1 and not (bns1 & bns2)


def test_rule4_a_unique_component_makes_all_ancestors_unique():
    b = builder(bn_unique=False)
    bp = small_resnet(b)
    assert all(not n.unique for _, n in bp.walk()), "BN-free uniqueness: everything shareable"
    path = ("g1", "0", "body", "u2", "conv")
    make_unique(bp, path, b.rng)
    for i in range(len(path) + 1):
        assert bp.get(path[:i]).unique
    assert not bp.get(("g0",)).unique
    # enforce_rule4 repairs a hand-edited tree
    bp2 = small_resnet(builder(bn_unique=False))
    bp2.get(path).uid = "deadbeef"
    enforce_rule4(bp2, np.random.default_rng(0))
    assert all(bp2.get(path[:i]).unique for i in range(len(path)))


def test_rule5_revoking_uniqueness_recurses_and_keeps_what_cannot_be_shared():
    b = builder()
    block = b.residual("r", (8, 8, 8), 8, 3, 1)  # contains unique batch norms
    for _, n in block.walk():
        if n.kind == "conv2d":
            n.uid = "0000000a"
    enforce_rule4(block, b.rng)
    shared = revoke_uniqueness(block)
    assert not shared and block.unique  # BN stays unique, so the block does too
    convs = [n for _, n in block.walk() if n.kind == "conv2d"]
    assert convs and all(not c.unique for c in convs)
    assert all(n.unique for _, n in block.walk() if n.kind == "bn2d")
    ens = b.ensemble_mean("e", (8, 8, 8), 8)
    ens.uid = "0000000b"
    ens.children["0"].uid = "0000000c"
    assert revoke_uniqueness(ens) and not any(n.unique for _, n in ens.walk())


def test_rule6_duplicate_refreshes_every_unique_name_and_keeps_shared_names():
    b = builder()
    bp = small_resnet(b)
    copy = duplicate(bp, b.rng)
    assert unique_names(bp).isdisjoint(unique_names(copy))
    shared = lambda t: {n.name for _, n in t.walk() if not n.unique}  # noqa: E731
    assert shared(bp) == shared(copy) and shared(bp)


def test_rule7_unregistering_removes_unique_components_only():
    b, reg = builder(), ModuleRegistry()
    bp = small_resnet(b)
    reg.build(bp)
    uniques = unique_names(bp)
    shared = {n.name for _, n in bp.walk() if not n.unique}
    removed = reg.unregister(bp)
    assert set(removed) == uniques
    assert all(name not in reg for name in uniques)
    assert all(name in reg for name in shared)


def test_registry_is_an_object_not_a_global():
    b = builder()
    conv = b.conv("p", (4, 8, 8), 8)
    r1, r2 = ModuleRegistry(), ModuleRegistry()
    assert r1.build(conv) is not r2.build(conv)
    assert len(r1) == len(r2) == 1


def test_initial_weights_depend_on_name_and_seed_not_on_creation_order():
    b = builder()
    c1, c2 = b.conv("a", (4, 8, 8), 8), b.conv("b", (4, 8, 8), 8)
    r1, r2 = ModuleRegistry(seed=3), ModuleRegistry(seed=3)
    w1a, w1b = r1.build(c1).weight, r1.build(c2).weight
    w2b, w2a = r2.build(c2).weight, r2.build(c1).weight
    assert torch.equal(w1a, w2a) and torch.equal(w1b, w2b) and not torch.equal(w1a, w1b)


def test_mutating_a_shared_module_does_not_alter_other_models():
    b, reg = builder(5, aggressive=True), ModuleRegistry()
    a = small_resnet(b, "a")
    other = duplicate(a, b.rng)
    names_before = {n.name for _, n in other.walk()}
    for _ in range(10):
        mutate(a, b)
    assert {n.name for _, n in other.walk()} == names_before
    reg.build(a), reg.build(other)


def test_without_unique_batch_norm_repeated_blocks_are_one_shared_module():
    b = builder(bn_unique=False)
    reg = ModuleRegistry(always_unique=())
    bp = b.resnet("c", (1, 8, 8), 10, [8], [3], ["residual"], stem_width=8)
    blocks = reg.build(bp).parts["g0"].parts
    assert blocks["1"] is blocks["2"], "cross-layer sharing of identical blocks (section 3.5.2)"
    with pytest.raises(ValueError, match="must be unique"):
        ModuleRegistry().build(bp)


def test_dropout_leaves_are_shared_by_name_and_survive_json_and_unregistering():
    b = builder(4, aggressive=True)
    space = SearchSpace.thesis((1, 8, 8), 10)
    bp = random_blueprint(space, b)
    back = Blueprint.from_json(bp.to_json())
    assert back.to_dict() == bp.to_dict()
    drops = [node for _, node in bp.walk() if node.kind == "dropout"]
    assert drops and not any(d.unique for d in drops)  # parameter-free, shareable like an activation
    reg = ModuleRegistry()
    reg.build(bp)
    copy = duplicate(bp, np.random.default_rng(0))  # a second model with the same shared leaves
    reg.build(copy)
    for d in drops:
        same = [node for _, node in copy.walk() if node.name == d.name]
        assert same and reg.build(same[0]) is reg.build(d)
    reg.unregister(bp)  # rule 7: shared leaves stay for the other model
    assert all(d.name in reg for d in drops)
