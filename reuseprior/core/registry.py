"""Registries that list themselves: one :class:`Registry` per kind of declared thing (studies,
chapters, zoos, models), filled where each entry is declared, read through ``list_*`` / ``get_*``.

The pattern is torchvision's ``list_models()`` / ``get_model()``: a declaration module registers
its entry next to the declaration (``register_study(DeclaredStudy.of(spec, ...))``,
``register_zoo(Zoo(...))``), and whoever needs the list (a command, a test) asks the registry
instead of keeping a copy.

Policy:

- A name has the form its registry declares (``name_form``: a regular expression and what it means,
  e.g. a zoo's name becomes an SQLite table's): a name of another form is refused when its entry
  registers, not later by the code that uses the name.
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
- A registry says whether it has discovered its entries (:attr:`Registry.discovered`), so a caller that
  must not import the declarations (a command-line parser) can read the live entries where this process
  has already imported them, and a stored copy of them otherwise.
"""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
import importlib
import pkgutil
import re
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

from reuseprior.core.errors import UnknownEntryError

__all__ = ["Registry", "matching_names", "unknown_entry_message"]

T = TypeVar("T")


def unknown_entry_message(kind: str, name: str, names: Iterable[str], list_hint: str) -> str:
    """What an unknown ``name`` of a ``kind`` is refused with: the closest of ``names`` and how to list them."""
    close = difflib.get_close_matches(name, list(names), n=3, cutoff=0.5)
    suggestion = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
    return f"unknown {kind} {name!r}: {suggestion}list them with {list_hint}"


def matching_names(names: Iterable[str], pattern: str | None = None) -> list[str]:
    """``names`` sorted; only those matching the shell wildcard ``pattern`` if given."""
    ordered = sorted(names)
    return ordered if pattern is None else [n for n in ordered if fnmatch.fnmatchcase(n, pattern)]


class Registry(Generic[T]):
    """Entries of one ``kind`` by name.

    ``kind`` names an entry in messages (``"study"``); ``list_hint`` says how a user lists every name
    (``"python -m reuseprior study --list"``); ``packages`` are the dotted names of the packages
    whose modules register entries, imported in full before the first listing or lookup;
    ``name_form`` is ``(regular expression, what it means)``, the form every name must have in full
    (default: any non-empty string)."""

    def __init__(
        self,
        kind: str,
        list_hint: str,
        packages: tuple[str, ...] = (),
        name_form: tuple[str, str] | None = None,
    ) -> None:
        self.kind = kind
        self.list_hint = list_hint
        self.packages = packages
        self.name_form = name_form
        self._entries: dict[str, T] = {}
        self._discovered = not packages

    @property
    def discovered(self) -> bool:
        """Whether every module of :attr:`packages` has been imported (the entries are all there)."""
        return self._discovered

    def check_name(self, name: object) -> None:
        """Refuse a name that is not a non-empty string of :attr:`name_form`, saying which form it must have."""
        if not name or not isinstance(name, str):
            raise ValueError(f"a {self.kind} is registered under a non-empty string name, not {name!r}")
        if self.name_form is not None and re.fullmatch(self.name_form[0], name) is None:
            raise ValueError(f"{self.kind} name {name!r} is refused: a {self.kind}'s name is {self.name_form[1]}")

    def register(self, name: str, entry: T) -> T:
        """Add ``entry`` under ``name`` and return it (so a declaration reads
        ``CHAPTER = CHAPTERS.register(name, Chapter(...))``); a name not of :attr:`name_form` is refused."""
        self.check_name(name)
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
        declared one); whatever was registered under ``name`` before is restored when the block ends. Its name
        is held to :attr:`name_form` as a declared one's."""
        self.check_name(name)
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
        return matching_names(self._entries, pattern)

    def get(self, name: str) -> T:
        """The entry registered under ``name``; an unknown name is refused with the closest names."""
        self.discover()
        if name in self._entries:
            return self._entries[name]
        raise UnknownEntryError(unknown_entry_message(self.kind, name, self._entries, self.list_hint))

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
