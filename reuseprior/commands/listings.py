"""What ``study --list``, ``score-zoos --list`` and ``build --list`` print, and the study and zoo names
the commands accept, answered without importing the declarations: the registries of studies, chapters
and zoos fill themselves by importing every chapter and zoo module (torch, pandas: 8-25 s of a
2-core machine's, against 2 s for torch alone).

Policy: a registry that this process has already discovered answers (a test's toy entry among its
entries: :attr:`reuseprior.core.registry.Registry.discovered`); otherwise its snapshot stored beside
this module, ``registry_snapshot.json``, answers. ``tests/test_cli_messages.py`` holds the snapshot
equal to the live registries; after a study, chapter or zoo is declared, renamed or described anew,
``python -m reuseprior.commands.registry_snapshot`` rewrites it. The records are the same either way
(:func:`study_record`, :func:`chapter_record`, :func:`zoo_record`), and so are the listings and the
refusals of an unknown name (:func:`reuseprior.core.registry.unknown_entry_message`). Nothing here
imports torch, pandas, a chapter or a zoo.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

from reuseprior.core import paths
from reuseprior.core.errors import CommandInputError
from reuseprior.core.registry import Registry, matching_names, unknown_entry_message

__all__ = [
    "COMMON_PROFILES",
    "KINDS",
    "SNAPSHOT",
    "chapter_listing",
    "chapter_record",
    "records",
    "stored_snapshot",
    "study_listing",
    "study_record",
    "unknown_names",
    "zoo_listing",
    "zoo_record",
]

#: the snapshot of the registries (:func:`stored_snapshot`), written by :mod:`reuseprior.commands.registry_snapshot`
SNAPSHOT = Path(__file__).with_name("registry_snapshot.json")
#: the profiles every chapter has (a chapter's own come after them)
COMMON_PROFILES = ("quick", "full")
#: each kind of registry -> the module that makes it and its name there (imported only by the declarations)
KINDS: dict[str, tuple[str, str]] = {
    "studies": ("reuseprior.chapters", "STUDIES"),
    "chapters": ("reuseprior.chapters", "CHAPTERS"),
    "zoos": ("reuseprior.zoo.scoring.registry", "ZOOS"),
}


def study_record(entry: Any) -> dict[str, Any]:
    """A study as the listing reads it (a :class:`~reuseprior.core.declared_study.DeclaredStudy`): its names
    (the first is the one it is listed by), what it is, its actions and its profiles with their devices."""
    return {
        "names": list(entry.names),
        "description": entry.description,
        "actions": dict(entry.all_actions),
        "profiles": dict(entry.profiles),
    }


def chapter_record(chapter: Any) -> dict[str, Any]:
    """A chapter as the listing reads it (a :class:`~reuseprior.chapters.Chapter`): its name, title, book part
    and its driver's own profiles (beyond :data:`COMMON_PROFILES`; none when no driver module is imported)."""
    driver = sys.modules.get(chapter.module)
    own = [p for p in getattr(driver, "PROFILES", {}) if p not in COMMON_PROFILES]
    return {"name": chapter.name, "title": chapter.title, "part": chapter.part, "profiles": own}


def zoo_record(zoo: Any) -> dict[str, Any]:
    """A zoo as the listing reads it (a :class:`~reuseprior.zoo.scoring.Zoo`): its name and what it holds."""
    return {"name": zoo.name, "description": zoo.description}


_RECORD = {"studies": study_record, "chapters": chapter_record, "zoos": zoo_record}


def live_records(kind: str, registry: Registry[Any]) -> dict[str, Any]:
    """The records of a discovered ``registry`` of ``kind`` (a study once, however many names it has), in name
    order, with the hint its refusals name."""
    entries = list({id(entry): entry for _, entry in registry.items()}.values())
    found = sorted((_RECORD[kind](entry) for entry in entries), key=_listed_name)
    return {"list_hint": registry.list_hint, "entries": found}


@cache
def stored_snapshot() -> dict[str, Any]:
    """The stored snapshot: kind -> ``{"list_hint": ..., "entries": [record, ...]}``."""
    return json.loads(SNAPSHOT.read_text(encoding="utf-8"))


def _live_registry(kind: str) -> Registry[Any] | None:
    """The registry of ``kind`` when this process has imported its module and discovered its entries."""
    module, attribute = KINDS[kind]
    registry = getattr(sys.modules.get(module), attribute, None)
    return registry if registry is not None and registry.discovered else None


def records(kind: str) -> dict[str, Any]:
    """The records of ``kind`` (``studies``, ``chapters``, ``zoos``): the live registry's where this process
    has discovered it, else the stored snapshot's (the module docstring)."""
    registry = _live_registry(kind)
    return live_records(kind, registry) if registry is not None else stored_snapshot()[kind]


def _listed_name(record: dict[str, Any]) -> str:
    return record["names"][0] if "names" in record else record["name"]


def _names(record: dict[str, Any]) -> list[str]:
    return record.get("names") or [record["name"]]


def unknown_names(kind: str, names: list[str], what: str) -> str | None:
    """The refusal of the first of ``names`` that no entry of ``kind`` has (``what`` names one in the message:
    ``study``, ``zoo``), with the closest names and how to list them; None when each is known."""
    found = records(kind)
    known = [name for record in found["entries"] for name in _names(record)]
    unknown = next((name for name in names if name not in known), None)
    return None if unknown is None else unknown_entry_message(what, unknown, known, found["list_hint"])


def study_listing(pattern: str = "*") -> str:
    """Every study one of whose names matches the shell wildcard ``pattern``, one per study: its name and its
    other names beside it, what it is, then its actions and its profiles (the first the default, each with the
    device its runs train on). None matching is refused, naming how to list them all."""
    lines = []
    for record in records("studies")["entries"]:
        if not matching_names(record["names"], pattern):
            continue
        name, *others = record["names"]
        also = f" (also {', '.join(others)})" if others else ""
        lines.append(f"{name}{also}: {record['description']}")
        details = [f"actions {', '.join(record['actions'])}"]
        if record["profiles"]:
            details.append("profiles " + ", ".join(f"{p} ({device})" for p, device in record["profiles"].items()))
        lines.append("    " + "; ".join(details))
    if not lines:
        raise CommandInputError(f"no study matches {pattern!r}; list them all with python -m reuseprior study --list")
    return "\n".join(lines)


def chapter_listing() -> str:
    """Every chapter in name order: its title, its part and its profiles; in a checkout, a chapter whose notebook
    is missing is named with the file it lacks."""
    lines = []
    for record in records("chapters")["entries"]:
        profiles = ", ".join([*COMMON_PROFILES, *record["profiles"]])
        line = f"{record['name']}: {record['title']} ({record['part']}; profiles {profiles})"
        notebook = paths.NOTEBOOKS_DIR / f"{record['name']}.ipynb"
        if paths.IN_CHECKOUT and not notebook.is_file():  # an installed wheel has no notebooks to build
            line += f"; its notebook {notebook} is missing (CONTRIBUTING.md, 'A chapter', makes it)"
        lines.append(line)
    return "\n".join(lines)


def zoo_listing() -> str:
    """Every zoo in name order and what it holds."""
    return "\n".join(f"{record['name']}: {record['description']}" for record in records("zoos")["entries"])
