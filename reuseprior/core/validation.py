"""Argument checks shared by the package's public functions: a bad value is
reported by name, with the accepted range, before any work starts."""

from __future__ import annotations

from typing import Mapping

__all__ = ["check_integer", "entry_problems"]


def check_integer(name: str, value: object, minimum: int = 1) -> None:
    """Raise ``ValueError`` unless ``value`` is a Python ``int`` (not ``bool``) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def entry_problems(
    state: Mapping[str, object],
    expected: Mapping[str, type | tuple[type, ...]],
    *,
    non_negative: tuple[str, ...] = (),
    optional: tuple[str, ...] = (),
) -> list[str]:
    """What is wrong with the entries of a loaded file (a checkpoint) against ``expected`` types:
    ``"no 'model'"``, ``"'epoch' is a str, not int"``, ``"'epoch' is -1, not >= 0"``; empty when
    nothing is. Entries in ``optional`` may be absent; ``bool`` never passes for ``int``."""
    problems: list[str] = []
    for name, types in expected.items():
        if name not in state:
            if name not in optional:
                problems.append(f"no {name!r}")
            continue
        value = state[name]
        wanted = types if isinstance(types, tuple) else (types,)
        if (isinstance(value, bool) and bool not in wanted) or not isinstance(value, wanted):
            problems.append(f"{name!r} is a {type(value).__name__}, not {' or '.join(t.__name__ for t in wanted)}")
        elif name in non_negative and value < 0:  # type: ignore[operator]
            problems.append(f"{name!r} is {value!r}, not >= 0")
    return problems
