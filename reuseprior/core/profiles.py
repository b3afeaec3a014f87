"""Typed settings readable as a mapping: :class:`Profile`, the base of every named profile (a chapter's
``PROFILES``, a notebook's settings) and of the library's settings that are chosen like one (a Revolver
search's :class:`reuseprior.revolver.settings.RevolverProfile`).

Policy: a profile is a frozen dataclass whose fields are the settings (``settings.epochs``), also read as
a mapping in field order (``settings["epochs"]``, ``dict(settings)``); a copy with some settings
replaced names the settings it has when a name is unknown (a typo would otherwise be ignored). It lives
in core so that a library's settings derive from it without depending on the notebooks' set-up
(:mod:`reuseprior.reporting.notebook`, which re-exports it for the notebooks and chapters).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Iterator, Mapping

from reuseprior.core.errors import NotebookParameterError

__all__ = ["Profile"]


@dataclass(frozen=True)
class Profile(Mapping[str, Any]):
    """Base of the typed profiles: a frozen dataclass whose fields
    are the settings (``ctx.settings.epochs``), also readable as a mapping
    (``settings["epochs"]``, ``dict(settings)``) in field order."""

    def __getitem__(self, key: str) -> Any:
        if key not in self._names():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    @classmethod
    def _names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def with_overrides(self, overrides: Mapping[str, Any]) -> "Profile":
        """A copy with some settings replaced; an unknown name is an error (a
        typo would otherwise be ignored), worded as a notebook parameter's (the overrides come from a
        notebook's ``parameters`` cell or papermill's ``-p``)."""
        for key, value in overrides.items():
            if key not in self._names():
                raise NotebookParameterError(
                    f"invalid notebook parameter {key}={value!r}: expected one of the profile's settings "
                    f"{sorted(self._names())}. Fix it in the 'parameters' cell or pass it with papermill: "
                    f"-p {key} <value>"
                )
        return replace(self, **overrides)
