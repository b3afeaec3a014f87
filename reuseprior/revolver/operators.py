"""Genetic operators on blueprints (thesis section 3.5.5.3-3.5.5.4):
hierarchical mutation (Algorithms 4-6), hierarchical crossover (Algorithm 7)
and copyover (crossover that overwrites instead of swapping).

All operators work in place on blueprints the caller owns (offspring are
first duplicated with :func:`~reuseprior.revolver.registry.duplicate`),
draw every random choice from an explicit ``numpy.random.Generator``, keep
input/output shapes valid, and re-apply sharing rule 4 afterwards. Moved or
copied sub-trees get fresh unique ids (rule 6).

Dropout leaves are not mutable and not swappable; a block that replaces a
convolution carries no dropout (as in the original library), while blocks a
depth mutation adds to a group get the group's rate.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reuseprior.revolver.blocks import CONV_REPLACEMENTS, Builder, conv_output_hw
from reuseprior.revolver.blueprint import Blueprint, new_uid
from reuseprior.revolver.registry import duplicate, enforce_rule4, revoke_uniqueness

__all__ = ["SWAPPABLE_KINDS", "copyover", "crossover", "mutate", "mutate_blueprint"]

#: kinds that crossover may exchange when their input and output shapes match: what a convolution may
#: mutate into, and the group and dense blocks
SWAPPABLE_KINDS = {*CONV_REPLACEMENTS, "group", "dense_concat", "dense_sum"}
MAX_LEVEL = 6


def _summary(bp: Blueprint) -> dict[str, Any]:
    """A compact record of a replaced component (appendix C.5)."""
    return {
        "kind": bp.kind,
        "name": bp.name,
        "args": dict(bp.args),
        "unique": bp.unique,
        "input_shape": list(bp.input_shape or ()),
        "output_shape": list(bp.output_shape or ()),
        "num_children": len(bp.children),
    }


def _conv_signature(bp: Blueprint) -> tuple[int, int]:
    """(kernel, stride) of the convolution a block stands for."""
    kernel = bp.args.get("kernel_size", bp.args.get("kernel", 3))
    _, h, w = bp.input_shape
    for stride in range(1, 5):
        if conv_output_hw(h, w, kernel, stride, kernel // 2) == tuple(bp.output_shape[1:]):
            return kernel, stride
    return kernel, 1


def _toggle_uniqueness(node: Blueprint, rng: np.random.Generator, always_unique) -> None:
    if node.unique:
        revoke_uniqueness(node, always_unique)
    else:
        node.uid = new_uid(rng)


def _mutate_element(g: Blueprint, key: str, builder: Builder, always_unique) -> bool:
    """Algorithm 6: draw a new value from the key's domain and adjust."""
    rng = builder.rng
    domain = g.mutables[key]
    value = domain[int(rng.integers(len(domain)))]
    target = g
    changed = False
    if key in g.children:  # replace a child by another block of the same shape
        old = g.children[key]
        if old.input_shape is None or len(old.input_shape) != 3:
            return False
        kernel, stride = _conv_signature(old)
        new = builder.block(value, f"{g.prefix}/{key}", tuple(old.input_shape), old.output_shape[0], kernel, stride)
        if tuple(new.output_shape) != tuple(old.output_shape) or new.name == old.name:
            return False
        history = g.meta.setdefault(key, {}).setdefault("mutation_history", [])
        history.append(_summary(old))
        g.children[key] = new
        target, changed = new, True
    elif g.kind == "conv2d" and key == "kernel_size":
        if value != g.args["kernel_size"]:
            g.args["kernel_size"], g.args["padding"] = int(value), int(value) // 2
            changed = True
    elif g.kind == "bn2d" and key == "momentum":
        if value != g.args["momentum"]:
            g.args["momentum"] = float(value)
            changed = True
    elif g.kind == "group" and key == "depth":
        changed = _set_group_depth(g, int(value), builder)
    else:
        raise ValueError(f"no mutation rule for mutable {key!r} of kind {g.kind!r}")
    if changed and rng.random() < target.toggle_p:
        _toggle_uniqueness(target, rng, always_unique)
    return changed


def _set_group_depth(g: Blueprint, depth: int, builder: Builder) -> bool:
    n = len(g.children)
    if depth == n or depth < 1:
        return False
    roles = list(g.children)
    if depth < n:
        for role in roles[depth:]:
            del g.children[role]
        return True
    first = g.children[roles[0]]
    kind = g.args["block"]
    kernel, _ = _conv_signature(first) if first.kind == "conv2d" else (first.args.get("kernel", 3), 1)
    dropout = float(g.args.get("dropout", 0.0))  # the group's rate (blocks.Builder.res_group)
    for i in range(n, depth):
        g.children[str(i)] = builder.block(
            kind, f"{g.prefix}/block", tuple(first.output_shape), first.output_shape[0], kernel, 1, dropout
        )
    return True


def _mutate(g: Blueprint, key: str | None, p: float, builder: Builder, always_unique) -> bool:
    """Algorithm 4 (with Algorithm 5 inlined): mutate ``g[key]`` with
    probability ``p`` when it is mutable, else descend into the sub-element."""
    rng = builder.rng
    if key is None:
        keys = list(g.mutables) + [r for r in g.children if r not in g.mutables]
        if not keys:
            return False
        key = keys[int(rng.integers(len(keys)))]
    if rng.random() > p or key not in g.mutables:
        element = g.children.get(key)  # Algorithm 5
        if element is not None and (element.mutables or element.children):
            return _mutate(element, None, p, builder, always_unique)
        return False
    return _mutate_element(g, key, builder, always_unique)


def mutate(root: Blueprint, builder: Builder, p: float | None = None, tries: int = 20, always_unique=None) -> bool:
    """Hierarchical mutation of ``root`` in place; retries until something
    changed (at most ``tries`` times). Returns whether it mutated.
    ``always_unique`` defaults to the builder's (batch norm when ``bn_unique``)."""
    p = root.mutation_p if p is None else p
    always_unique = builder.always_unique if always_unique is None else always_unique
    for _ in range(tries):
        if _mutate(root, None, p, builder, always_unique):
            enforce_rule4(root, builder.rng)
            root.meta.setdefault("history", []).append("mutation")
            return True
    return False


def mutate_blueprint(root: Blueprint, builder: Builder, **kwargs) -> Blueprint:
    """A mutated duplicate of ``root`` (the original is untouched)."""
    child = duplicate(root, builder.rng)
    mutate(child, builder, **kwargs)
    return child


def _swappable(bp: Blueprint) -> bool:
    if bp.kind not in SWAPPABLE_KINDS or bp.input_shape is None or len(bp.input_shape) != 3:
        return False
    return not (bp.kind == "conv2d" and bp.args.get("groups", 1) != 1)


def _vanilla(g1: Blueprint, g2: Blueprint, rng: np.random.Generator, overwrite: bool) -> bool:
    """Swap (or copy over) one shape-compatible pair of direct children."""
    pairs = [
        (r1, r2)
        for r1, a in g1.children.items()
        for r2, b in g2.children.items()
        if _swappable(a)
        and _swappable(b)
        and a.input_shape == b.input_shape
        and a.output_shape == b.output_shape
        and a.base_name != b.base_name
    ]
    if not pairs:
        return False
    r1, r2 = pairs[int(rng.integers(len(pairs)))]
    a, b = g1.children[r1], g2.children[r2]
    g1.children[r1] = duplicate(b, rng)
    if not overwrite:
        g2.children[r2] = duplicate(a, rng)
    return True


def _crossover(g1: Blueprint, g2: Blueprint, p: float, rng: np.random.Generator, overwrite: bool, level: int) -> bool:
    """Algorithm 7 at one level of the hierarchy."""
    if rng.random() < p and _vanilla(g1, g2, rng, overwrite):
        return True
    if level < MAX_LEVEL and rng.random() < p:
        opts1 = [g1] + [c for c in g1.children.values() if c.children]
        opts2 = [g2] + [c for c in g2.children.values() if c.children]
        prog1 = opts1[int(rng.integers(len(opts1)))]
        prog2 = opts2[int(rng.integers(len(opts2)))]
        return _crossover(prog1, prog2, p, rng, overwrite, level + 1)
    return False


def crossover(root1: Blueprint, root2: Blueprint, rng: np.random.Generator, p: float = 0.5, tries: int = 20) -> bool:
    """Hierarchical crossover (Algorithm 7): swap shape-compatible parts of
    two blueprints in place, at a probabilistically chosen level."""
    for _ in range(tries):
        if _crossover(root1, root2, p, rng, False, 0):
            for r in (root1, root2):
                enforce_rule4(r, rng)
                r.meta.setdefault("history", []).append("crossover")
            return True
    return False


def copyover(target: Blueprint, source: Blueprint, rng: np.random.Generator, p: float = 0.5, tries: int = 20) -> bool:
    """Copyover: like crossover, but a copy of a part of ``source``
    overwrites the compatible part of ``target`` (``source`` is unchanged)."""
    for _ in range(tries):
        if _crossover(target, source, p, rng, True, 0):
            enforce_rule4(target, rng)
            target.meta.setdefault("history", []).append("copyover")
            return True
    return False
