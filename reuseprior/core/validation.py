"""Argument checks shared by the package's public functions: a bad value is
reported by name, with the accepted range, before any work starts."""

from __future__ import annotations

__all__ = ["check_integer"]


def check_integer(name: str, value: object, minimum: int = 1) -> None:
    """Raise ``ValueError`` unless ``value`` is a Python ``int`` (not ``bool``) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
