"""Registries that list themselves: one :class:`Registry` per kind of declared thing (studies,
chapters, zoos, models), filled where each entry is declared, read through ``list_*`` / ``get_*``.

The pattern is torchvision's ``list_models()`` / ``get_model()``: a declaration module registers
its entry next to the declaration (``register_study(DeclaredStudy.of(spec, ...))``,
``register_zoo(Zoo(...))``), and whoever needs the list (a command, a test) asks the registry
instead of keeping a copy.

Policy:

- A name is registered once. Registering another object under a taken name is refused with both
  owners named; registering the same object again (a module imported twice) is a no-op.
- A registry whose entries are declared in packages names them (``packages``): the first
  :meth:`Registry.names` or :meth:`Registry.get` imports every module of those packages, so the
  list is complete whatever was imported before. A module that fails to import stops the listing
  with its error: an entry silently missing from a list is worse than a loud import error.
- An unknown name raises :class:`~reuseprior.core.errors.UnknownEntryError` naming the closest
  registered names and how to list them all.
- ``names(pattern)`` filters with shell wildcards (``fnmatch``, as ``timm.list_models``) and
  returns the names sorted.
- A test's toy entry is registered for a ``with`` block only (:meth:`Registry.registered`): the
  registry is as before once the block ends, so no test leaves an entry behind for the next.
"""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
import importlib
import pkgutil
from collections.abc import Iterator
from typing import Generic, TypeVar

from reuseprior.core.errors import UnknownEntryError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries of one ``kind`` by name.

    ``kind`` names an entry in messages (``"study"``); ``list_hint`` says how a user lists every name
    (``"python -m reuseprior study --list"``); ``packages`` are the dotted names of the packages
    whose modules register entries, imported in full before the first listing or lookup."""

    def __init__(self, kind: str, list_hint: str, packages: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.list_hint = list_hint
        self.packages = packages
        self._entries: dict[str, T] = {}
        self._discovered = not packages

    def register(self, name: str, entry: T) -> T:
        """Add ``entry`` under ``name`` and return it (so a declaration reads
        ``CHAPTER = CHAPTERS.register(name, Chapter(...))``)."""
        if not name or not isinstance(name, str):
            raise ValueError(f"a {self.kind} is registered under a non-empty string name, not {name!r}")
        taken = self._entries.get(name)
        if taken is not None and taken is not entry:
            raise ValueError(
                f"{self.kind} name {name!r} is already registered ({taken!r}); give the new {self.kind} another name"
            )
        self._entries[name] = entry
        return entry

    @contextlib.contextmanager
    def registered(self, name: str, entry: T) -> Iterator[T]:
        """``entry`` under ``name`` for the ``with`` block only (a test's toy entry, or a variant of a
        declared one); whatever was registered under ``name`` before is restored when the block ends."""
        self.discover()  # the declared entries first, so that the one restored is the declared one
        before = self._entries.get(name)
        self._entries[name] = entry
        try:
            yield entry
        finally:
            if before is None:
                self._entries.pop(name, None)
            else:
                self._entries[name] = before

    def discover(self) -> None:
        """Import every module of :attr:`packages` once, so that each registers its entries."""
        if self._discovered:
            return
        for package_name in self.packages:
            package = importlib.import_module(package_name)
            for module in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."):
                importlib.import_module(module.name)
        self._discovered = True

    def names(self, pattern: str | None = None) -> list[str]:
        """The registered names, sorted; only those matching the shell wildcard ``pattern`` if given."""
        self.discover()
        names = sorted(self._entries)
        return names if pattern is None else [n for n in names if fnmatch.fnmatchcase(n, pattern)]

    def get(self, name: str) -> T:
        """The entry registered under ``name``; an unknown name is refused with the closest names."""
        self.discover()
        if name in self._entries:
            return self._entries[name]
        close = difflib.get_close_matches(name, self._entries, n=3, cutoff=0.5)
        suggestion = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
        raise UnknownEntryError(f"unknown {self.kind} {name!r}: {suggestion}list them with {self.list_hint}")

    def items(self) -> Iterator[tuple[str, T]]:
        """``(name, entry)`` pairs in name order."""
        for name in self.names():
            yield name, self._entries[name]

    def __contains__(self, name: object) -> bool:
        self.discover()
        return name in self._entries

    def __len__(self) -> int:
        self.discover()
        return len(self._entries)
