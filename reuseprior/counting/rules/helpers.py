"""Shared pieces of the counting rules: the rule signature, the per-family rule
tables, and helpers that read shapes off graph nodes and reduce a count to the
shape of the operand it is delivered to."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Protocol

import torch
import torch.fx as fx

from reuseprior.counting.capture import CapturedGraph
from reuseprior.counting.scaled import Scaled

aten = torch.ops.aten

__all__ = [
    "RuleContext",
    "RuleFn",
    "RuleTable",
    "aten",
    "carries_counts",
    "optional_ops",
    "per_axis",
    "shape_of",
    "single",
    "sum_to_shape",
    "tensor_nodes",
    "val",
]


class RuleContext(Protocol):
    """What a rule reads of the sweep it runs in (:class:`reuseprior.counting.sweep.SweepContext` is
    one): the captured graph, the discount ``gamma``, which nodes carry counts back to the parameters
    (:meth:`needs`), which operands are weights (:meth:`is_weight`), and where a batch norm's channel
    counts go (:meth:`record_batch_norm`). The rules depend on this interface, not on the sweep, which
    imports them."""

    graph: CapturedGraph
    gamma: float

    def needs(self, node: Any) -> bool:
        """Whether ``node`` has a parameter among its ancestors (a count delivered to it reaches one)."""
        ...

    def is_weight(self, node: Any, consumer: fx.Node | None = None) -> bool:
        """Whether ``node`` is a weight rather than a feature (for the discount)."""
        ...

    def record_batch_norm(self, node: fx.Node, chan: Scaled) -> None:
        """Record a batch norm's per-channel count for its affine parameters."""
        ...


#: ``rule(node, cout, ctx)`` yields ``(operand node, count delivered to it)`` pairs
RuleFn = Callable[[fx.Node, Any, RuleContext], Iterable[tuple[fx.Node, Scaled]]]


class RuleTable:
    """The rules of one op family, in the order they are defined.

    A family module marks each rule with ``@TABLE.rule(op, ...)``;
    :mod:`reuseprior.counting.rules` enters the tables into its registry family by
    family, so a rule registered later (from user code) replaces a built-in one."""

    def __init__(self) -> None:
        self.entries: list[tuple[tuple[Any, ...], RuleFn]] = []

    def rule(self, *ops: Any) -> Callable[[RuleFn], RuleFn]:
        """Record ``fn`` as the rule for the given ATen op packets/overloads."""

        def deco(fn: RuleFn) -> RuleFn:
            self.entries.append((ops, fn))
            return fn

        return deco

    def __iter__(self) -> Iterator[tuple[tuple[Any, ...], RuleFn]]:
        return iter(self.entries)


def optional_ops(*names: str) -> list[Any]:
    """The ATen op packets of ``names`` that this PyTorch build has, in order."""
    return [op for op in (getattr(aten, n, None) for n in names) if op is not None]


def val(node) -> Any:
    """The traced (meta/fake) value of a graph node; ``None`` for a non-node."""
    return node.meta.get("val") if isinstance(node, fx.Node) else None


def shape_of(node) -> tuple[int, ...]:
    return tuple(val(node).shape)


def per_axis(v) -> list[int]:
    """A 2-D convolution's or pooling's size argument (an int, or a list of one or two) as
    ``[height, width]``."""
    v = [v] if isinstance(v, int) else list(v)
    return v * 2 if len(v) == 1 else v


def sum_to_shape(m: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Reduce-sum ``m`` over the dimensions along which ``shape`` was broadcast."""
    shape = tuple(shape)
    if tuple(m.shape) == shape:
        return m
    lead = m.dim() - len(shape)
    if lead > 0:
        m = m.sum(dim=tuple(range(lead)))
    dims = tuple(i for i, s in enumerate(shape) if s == 1 and m.shape[i] != 1)
    if dims:
        m = m.sum(dim=dims, keepdim=True)
    if tuple(m.shape) != shape:
        m = m.expand(shape)  # a 0-d count broadcast to the operand's shape
    return m


def carries_counts(v) -> bool:
    """Floating and complex tensors carry counts: complex values computed from
    weights (FFTs) reach an op without a rule instead of being dropped silently."""
    return isinstance(v, torch.Tensor) and (v.is_floating_point() or v.is_complex())


def tensor_nodes(args) -> list[fx.Node]:
    """The operand nodes in ``args`` (any nesting) whose values carry counts."""
    return [a for a in torch.utils._pytree.tree_leaves(args) if isinstance(a, fx.Node) and carries_counts(val(a))]


def single(cout):
    """The count of a single-output op (the first one of a multi-output op)."""
    if isinstance(cout, list):
        return cout[0]
    return cout
