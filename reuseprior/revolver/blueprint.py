"""Blueprints: hierarchical, serialisable descriptions of modules (thesis
section 3.3.1, appendix C.4).

A :class:`Blueprint` is plain data: a ``kind`` (constructor type), its
constructor ``args``, named ``children`` (sub-blueprints, ordered), the
``input_shape``/``output_shape`` *without* batch size, the ``mutables``
(which fields or children may change and their domains), ``meta`` (scores,
mutation history) and a scope ``prefix`` plus an optional unique id.

There are no parent pointers: a tree is navigated from its root, so a
blueprint round-trips through JSON exactly (:meth:`Blueprint.to_json`,
:meth:`Blueprint.from_json`).

Scope names (section 3.3.3) are *derived*, never stored::

    name = prefix "/" kind "[" suffix "]" ["#" hash(children names)] ["+" uid]

The suffix encodes every constructor argument and a container's name holds a
hash of its children's names, so a name changes whenever the content it stands
for changes (the original library kept a kernel-size mutation under the old
name, and the registry silently returned the old module).
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

__all__ = ["Blueprint", "new_uid", "args_suffix"]

Shape = tuple[int, ...]


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "x".join(_fmt(v) for v in value)
    return str(value)


def args_suffix(args: dict[str, Any]) -> str:
    """The scope-name suffix of a set of constructor arguments, e.g.
    ``3_16_7_2_3_1_1_F`` for a 7x7 stride-2 convolution (appendix C.4)."""
    return "_".join(_fmt(v) for v in args.values())


def new_uid(rng: np.random.Generator) -> str:
    """A unique id (8 hex digits) drawn from an explicit RNG."""
    return f"{int(rng.integers(0, 2**32)):08x}"


@dataclass
class Blueprint:
    """A scoped object's description (section 3.3.1).

    ``uid`` is ``None`` for a shareable object; a unique object carries a
    unique id in its name, so no other blueprint can resolve to it.
    """

    kind: str
    prefix: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    children: dict[str, "Blueprint"] = field(default_factory=dict)
    input_shape: Shape | None = None
    output_shape: Shape | None = None
    uid: str | None = None
    mutables: dict[str, list] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    mutation_p: float = 0.8
    toggle_p: float = 0.02

    # ----------------------------------------------------------------- names
    @property
    def unique(self) -> bool:
        """Whether the blueprint carries a unique id, so no other blueprint shares its module (rule 2)."""
        return self.uid is not None

    @property
    def suffix(self) -> str:
        """Its arguments as the name's bracketed part (:func:`args_suffix`)."""
        return args_suffix(self.args)

    @property
    def base_name(self) -> str:
        """The name without the unique id."""
        core = f"{self.kind}[{self.suffix}]"
        name = f"{self.prefix}/{core}" if self.prefix else core
        if self.children:
            joined = "|".join(f"{role}={child.name}" for role, child in self.children.items())
            name += "#" + hashlib.sha1(joined.encode()).hexdigest()[:8]
        return name

    @property
    def name(self) -> str:
        """The scope name: equal names are the same module (rules 1-2)."""
        return self.base_name + (f"+{self.uid}" if self.uid else "")

    @property
    def is_leaf(self) -> bool:
        """Whether it has no children (a layer, built directly, not a block of blueprints)."""
        return not self.children

    # ------------------------------------------------------------ traversal
    def walk(self, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], "Blueprint"]]:
        """Pre-order ``(path, blueprint)`` pairs; ``path`` is the tuple of roles."""
        yield path, self
        for role, child in self.children.items():
            yield from child.walk(path + (role,))

    def get(self, path: tuple[str, ...]) -> "Blueprint":
        """The blueprint at ``path`` (a tuple of roles; empty: this one)."""
        node = self
        for role in path:
            node = node.children[role]
        return node

    def replace(self, path: tuple[str, ...], new: "Blueprint") -> None:
        """Put ``new`` at ``path`` (a non-empty tuple of roles)."""
        if not path:
            raise ValueError("cannot replace the root in place; assign a new blueprint instead")
        self.get(path[:-1]).children[path[-1]] = new

    def copy(self) -> "Blueprint":
        """A deep copy (arguments hold plain values, so they are copied shallowly)."""
        return Blueprint(
            kind=self.kind,
            prefix=self.prefix,
            args=dict(self.args),
            children={role: child.copy() for role, child in self.children.items()},
            input_shape=self.input_shape,
            output_shape=self.output_shape,
            uid=self.uid,
            mutables={k: list(v) for k, v in self.mutables.items()},
            meta=copy.deepcopy(self.meta) if self.meta else {},
            mutation_p=self.mutation_p,
            toggle_p=self.toggle_p,
        )

    # -------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values, children nested; :meth:`from_dict` reads it back."""
        return {
            "kind": self.kind,
            "name": self.name,
            "prefix": self.prefix,
            "uid": self.uid,
            "args": dict(self.args),
            "input_shape": list(self.input_shape) if self.input_shape is not None else None,
            "output_shape": list(self.output_shape) if self.output_shape is not None else None,
            "mutables": {k: list(v) for k, v in self.mutables.items()},
            "meta": copy.deepcopy(self.meta) if self.meta else {},
            "mutation_p": self.mutation_p,
            "toggle_p": self.toggle_p,
            "children": {role: child.to_dict() for role, child in self.children.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Blueprint":
        bp = cls(
            kind=data["kind"],
            prefix=data.get("prefix", ""),
            args=dict(data.get("args", {})),
            children={role: cls.from_dict(c) for role, c in data.get("children", {}).items()},
            input_shape=tuple(data["input_shape"]) if data.get("input_shape") is not None else None,
            output_shape=tuple(data["output_shape"]) if data.get("output_shape") is not None else None,
            uid=data.get("uid"),
            mutables={k: list(v) for k, v in data.get("mutables", {}).items()},
            meta=copy.deepcopy(data.get("meta", {})),
            mutation_p=data.get("mutation_p", 0.8),
            toggle_p=data.get("toggle_p", 0.02),
        )
        stored = data.get("name")
        if stored is not None and stored != bp.name:
            raise ValueError(f"blueprint name {stored!r} does not match its content (derived {bp.name!r})")
        return bp

    def to_json(self, **kwargs: Any) -> str:
        """:meth:`to_dict` as JSON (``kwargs`` go to :func:`json.dumps`)."""
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_json(cls, text: str) -> "Blueprint":
        """The blueprint :meth:`to_json` wrote (:meth:`from_dict`, which checks its name)."""
        return cls.from_dict(json.loads(text))

    def __repr__(self) -> str:  # short, the full form is to_json()
        return (
            f"Blueprint({self.name!r}, in={self.input_shape}, out={self.output_shape}, children={len(self.children)})"
        )
