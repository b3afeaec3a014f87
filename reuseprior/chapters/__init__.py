"""Chapter drivers: one module per notebook, named like it, or a package of that name where the
chapter has several roles (a trained study is one: it lives in its chapter's package, declared
once as a :class:`reuseprior.core.study.StudySpec`). Each holds the notebook's typed profiles
(``PROFILES``: ``quick`` for a CPU in minutes, ``full`` for the paper's scale) and the functions
that compute its tables and draw its figures; the notebook holds parameters, calls, side-by-side
tables and narrative. A chapter imports no other chapter: what two chapters share lives in the
library.

Each driver declares its chapter where it is declared, once (:func:`register_chapter`: its book part
and its title), into :data:`CHAPTERS`, a :class:`reuseprior.core.registry.Registry` that imports every
driver before its first listing; :func:`list_chapters` names them in name order (the thesis's order)
and :func:`get_chapter` gives one. The ``build`` command, its ``--list`` and the tests read it instead
of a copy; ``tests/test_chapter_registry.py`` checks every entry against one schema (its notebook, its
paired script, its title heading, its part of the book's ``_toc.yml``).

The studies likewise: each declaration registers its study next to it (:func:`register_study`, a
:class:`~reuseprior.core.declared_study.DeclaredStudy`) into :data:`STUDIES`, which imports every module
of this package before its first listing; :func:`list_studies` and :func:`get_study` read it (the
``study`` command, its ``--list``, the tests). It lives here, not in core, because its discovery names
this package. A study the library declares (the NAS-Bench-201 search of :mod:`reuseprior.zoo.search`)
cannot import a chapter, so the chapter that reads it registers it (``ch8_prior_as_tool``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reuseprior.core import paths
from reuseprior.core.registry import Registry

if TYPE_CHECKING:  # the entries' type only: this package's import stays light
    from reuseprior.core.declared_study import DeclaredStudy


@dataclass(frozen=True)
class Chapter:
    """One chapter: ``name`` is its driver's module name and its notebook's stem (``ch4_contexts``),
    ``part`` the caption of the book part it is listed under (``book/_toc.yml``), ``title`` its notebook's
    title heading (the first ``# `` of its markdown)."""

    name: str
    part: str
    title: str

    @property
    def module(self) -> str:
        """Its driver: ``reuseprior.chapters.<name>`` (a module, or a package of that name)."""
        return f"{__name__}.{self.name}"

    @property
    def notebook(self) -> Path:
        """Its notebook, ``notebooks/<name>.ipynb``."""
        return paths.NOTEBOOKS_DIR / f"{self.name}.ipynb"

    @property
    def script(self) -> Path:
        """The notebook's paired script (jupytext percent format), ``notebooks/<name>.py``: the file edited."""
        return self.notebook.with_suffix(".py")

    @property
    def page(self) -> str:
        """Its page of the book, as ``book/_toc.yml`` names it: ``notebooks/<name>``."""
        return f"notebooks/{self.name}"


#: the chapters, each registered by its driver (:func:`register_chapter`)
CHAPTERS: Registry[Chapter] = Registry(
    "chapter",
    "python -m reuseprior build --list",
    (__name__,),
    name_form=(r"ch[0-9]+_[a-z0-9_]+", "chN_name in lower case: its driver's module and its notebook's stem"),
)


def register_chapter(module: str, *, part: str, title: str) -> Chapter:
    """Declare the chapter whose driver is ``module`` (its ``__name__``: the chapter is named like its driver),
    listed in the book under ``part`` and titled ``title``, and return it."""
    prefix = f"{__name__}."
    if not module.startswith(prefix) or "." in module[len(prefix) :]:
        raise ValueError(f"a chapter is registered by its driver, a module {prefix}<name>, not {module!r}")
    name = module[len(prefix) :]
    return CHAPTERS.register(name, Chapter(name, part, title))


def list_chapters(pattern: str | None = None) -> list[str]:
    """The chapters' names in name order, which is the thesis's; only those matching the shell wildcard
    ``pattern`` if given."""
    return CHAPTERS.names(pattern)


def get_chapter(name: str) -> Chapter:
    """The chapter ``name``; an unknown name is refused with the closest chapters' names."""
    return CHAPTERS.get(name)


def study_command(group: str, action: str) -> str:
    """How a user runs ``action`` of a chapter's trained studies (``group``: ``ch3``, ``ch4``, ``ch7``,
    ``ch8``) from the command line, as the chapters' messages name it."""
    return f"python -m reuseprior study {group} {action}"


#: every declared study by name (its spec's name and its aliases), filled by the chapter modules
STUDIES: Registry[DeclaredStudy] = Registry(
    "study",
    "python -m reuseprior study --list",
    (__name__,),
    name_form=(
        r"[a-z0-9]+(?:[-.][a-z0-9]+)*",
        "lower-case letters and digits, joined by single '-' or '.' (one shell word, part of a file name)",
    ),
)


def register_study(entry: DeclaredStudy) -> DeclaredStudy:
    """Register ``entry`` under each of its names (:attr:`~reuseprior.core.declared_study.DeclaredStudy.names`)
    and return it."""
    for name in entry.names:
        STUDIES.register(name, entry)
    return entry


def list_studies(pattern: str | None = None) -> list[str]:
    """The names of every declared study, sorted; those matching the shell wildcard ``pattern`` if given."""
    return STUDIES.names(pattern)


def get_study(name: str) -> DeclaredStudy:
    """The study registered as ``name``; an unknown name is refused with the closest names
    (:class:`~reuseprior.core.errors.UnknownEntryError`)."""
    return STUDIES.get(name)
