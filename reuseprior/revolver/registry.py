"""The module registry and the sharing rules of section 3.3.4.

:class:`ModuleRegistry` is an *object* (one per population or experiment,
never a global): it maps scope names to ``nn.Module`` instances, so
blueprints with the same name resolve to the same module within one model and
across the models of a population (rules 1-2).

The blueprint-level rules:

1. the scope name decides sharing (:attr:`Blueprint.name`);
2. blueprints with equal names build the same object (:meth:`ModuleRegistry.build`);
3. unique objects carry a unique id, so only their parent reaches them;
4. a container with a unique component is unique (:func:`enforce_rule4`);
5. revoking uniqueness recurses, leaving unique what cannot be shared
   (:func:`revoke_uniqueness`);
6. a duplicated blueprint gets fresh ids for all unique components
   (:func:`duplicate`);
7. unregistering an object unregisters its unique components
   (:meth:`ModuleRegistry.unregister`).
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterable

import numpy as np
import torch
import torch.nn as nn

from reuseprior.revolver.blocks import BlueprintModule, make_leaf_module
from reuseprior.revolver.blueprint import Blueprint, new_uid

__all__ = [
    "ModuleRegistry",
    "duplicate",
    "enforce_rule4",
    "make_unique",
    "revoke_uniqueness",
    "unique_names",
]

#: kinds that can never be shared (the original made every batch norm unique)
DEFAULT_ALWAYS_UNIQUE: frozenset[str] = frozenset({"bn2d"})


def enforce_rule4(bp: Blueprint, rng: np.random.Generator) -> Blueprint:
    """Rule 4: give every container that has a unique component a unique id
    (post-order, so uniqueness propagates to the root)."""
    for child in bp.children.values():
        enforce_rule4(child, rng)
    if not bp.unique and any(c.unique for c in bp.children.values()):
        bp.uid = new_uid(rng)
    return bp


def make_unique(root: Blueprint, path: tuple[str, ...], rng: np.random.Generator) -> None:
    """Mark the component at ``path`` unique and propagate to its ancestors (rule 4)."""
    node = root.get(path)
    node.uid = new_uid(rng)
    for i in range(len(path) - 1, -1, -1):
        ancestor = root.get(path[:i])
        if not ancestor.unique:
            ancestor.uid = new_uid(rng)


def revoke_uniqueness(bp: Blueprint, always_unique: Iterable[str] = DEFAULT_ALWAYS_UNIQUE) -> bool:
    """Rule 5: try to make ``bp`` and, hierarchically, all its components
    shared. Components of an ``always_unique`` kind (and their ancestors)
    stay unique. Returns whether ``bp`` ended up shared."""
    always_unique = frozenset(always_unique)
    if bp.kind in always_unique:
        return False
    results = [revoke_uniqueness(c, always_unique) for c in bp.children.values()]
    if all(results):
        bp.uid = None
        return True
    return False


def duplicate(bp: Blueprint, rng: np.random.Generator) -> Blueprint:
    """Rule 6: a deep copy whose unique components all get fresh ids, so the
    copy never reaches the original's unique modules."""
    new = bp.copy()
    for _, node in new.walk():
        if node.unique:
            node.uid = new_uid(rng)
    return new


def unique_names(bp: Blueprint) -> set[str]:
    return {node.name for _, node in bp.walk() if node.unique}


def _stable_seed(seed: int, name: str) -> int:
    return int(hashlib.sha256(f"{seed}:{name}".encode()).hexdigest()[:15], 16)


class ModuleRegistry:
    """Scope name -> module; the same name always returns the same module.

    Initial weights come from a generator seeded by ``(seed, name)``, so they
    do not depend on the order in which modules are created (resumed runs
    rebuild modules in a different order and still match).
    """

    def __init__(
        self, seed: int = 0, device: torch.device | str = "cpu", always_unique: Iterable[str] = DEFAULT_ALWAYS_UNIQUE
    ):
        self.seed = int(seed)
        self.device = torch.device(device)
        self.always_unique = frozenset(always_unique)
        self._modules: dict[str, nn.Module] = {}
        self._blueprints: dict[str, dict[str, Any]] = {}
        #: registry score of shared modules (exponential moving average, lower is better)
        self.scores: dict[str, float] = {}
        self.score_counts: dict[str, int] = {}

    # ----------------------------------------------------------- lookup
    def __contains__(self, name: str) -> bool:
        return name in self._modules

    def __len__(self) -> int:
        return len(self._modules)

    def names(self) -> list[str]:
        """The scope names of the modules held, in the order they were registered."""
        return list(self._modules)

    def get(self, name: str) -> nn.Module:
        """The module of scope name ``name``; a name not held raises KeyError."""
        try:
            return self._modules[name]
        except KeyError:
            raise KeyError(f"no module named {name!r} in the registry ({len(self)} registered)") from None

    def record(self, name: str) -> dict[str, Any]:
        """The flat record of a registered module (kind, args, shapes, children names)."""
        return self._blueprints[name]

    def blueprint_of(self, name: str) -> Blueprint:
        """The blueprint a registered module was built from (children resolved by name)."""
        rec = self._blueprints[name]
        data = {k: v for k, v in rec.items() if k != "children"}
        data["children"] = {role: self.blueprint_of(child).to_dict() for role, child in rec["children"].items()}
        return Blueprint.from_dict(data)

    # ----------------------------------------------------------- building
    def build(self, bp: Blueprint) -> nn.Module:
        """Return the module for ``bp``: the registered one when its name is
        known (rules 1-2), else a new one built from registered children."""
        name = bp.name
        found = self._modules.get(name)
        if found is not None:
            return found
        if bp.kind in self.always_unique and not bp.unique:
            raise ValueError(f"{name!r}: kind {bp.kind!r} must be unique in this registry (always_unique)")
        if bp.is_leaf:
            gen = torch.Generator().manual_seed(_stable_seed(self.seed, name))
            module = make_leaf_module(bp, gen).to(self.device)
        else:
            module = BlueprintModule(bp.kind, name, {role: self.build(c) for role, c in bp.children.items()})
        self._modules[name] = module
        # a flat record: children by name (registered before their parent)
        self._blueprints[name] = {
            "kind": bp.kind,
            "prefix": bp.prefix,
            "uid": bp.uid,
            "args": dict(bp.args),
            "input_shape": list(bp.input_shape) if bp.input_shape is not None else None,
            "output_shape": list(bp.output_shape) if bp.output_shape is not None else None,
            "children": {role: c.name for role, c in bp.children.items()},
        }
        return module

    def unregister(self, bp: Blueprint) -> list[str]:
        """Rule 7: remove ``bp`` (when unique) and all its unique components;
        shared modules stay for later reuse. Returns the removed names."""
        removed = []
        for _, node in bp.walk():
            if node.unique and node.name in self._modules:
                del self._modules[node.name]
                del self._blueprints[node.name]
                self.scores.pop(node.name, None)
                self.score_counts.pop(node.name, None)
                removed.append(node.name)
        return removed

    # ----------------------------------------------------------- scores
    def update_score(self, name: str, value: float, rate: float = 0.05) -> float:
        """Exponential moving average of a shared module's score (appendix C.3)."""
        old = self.scores.get(name)
        new = float(value) if old is None else (1 - rate) * old + rate * float(value)
        self.scores[name] = new
        self.score_counts[name] = self.score_counts.get(name, 0) + 1
        return new

    # ----------------------------------------------------------- sizes
    def num_parameters(self) -> int:
        """Distinct parameters held by the registry."""
        seen: dict[int, int] = {}
        for module in self._modules.values():
            for p in module.parameters():
                seen[id(p)] = p.numel()
        return sum(seen.values())

    # ----------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild the registry bit-identically."""
        weights = {}
        for name, module in self._modules.items():
            if not isinstance(module, BlueprintModule):
                weights[name] = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
        return {
            "seed": self.seed,
            "always_unique": sorted(self.always_unique),
            "blueprints": dict(self._blueprints),
            "weights": weights,
            "scores": dict(self.scores),
            "score_counts": dict(self.score_counts),
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any], device: torch.device | str = "cpu") -> "ModuleRegistry":
        """The registry :meth:`state_dict` describes, its modules rebuilt on ``device`` with their weights."""
        reg = cls(seed=state["seed"], device=device, always_unique=state["always_unique"])
        for name, rec in state["blueprints"].items():
            if rec["children"]:
                children = {role: reg._modules[child] for role, child in rec["children"].items()}
                module = BlueprintModule(rec["kind"], name, children)
            else:
                leaf = Blueprint.from_dict({**rec, "children": {}})
                gen = torch.Generator().manual_seed(_stable_seed(reg.seed, name))
                module = make_leaf_module(leaf, gen).to(reg.device)
            reg._modules[name] = module
            reg._blueprints[name] = dict(rec)
        for name, sd in state["weights"].items():
            reg._modules[name].load_state_dict(sd)
        reg.scores = dict(state["scores"])
        reg.score_counts = dict(state["score_counts"])
        return reg
