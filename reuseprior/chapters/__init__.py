"""Chapter drivers: one module per notebook, named like it, or a package of that name where the
chapter has several roles (a trained study is one: it lives in its chapter's package, declared
once as a :class:`reuseprior.core.study.StudySpec`). Each holds the notebook's typed profiles
(``PROFILES``: ``quick`` for a CPU in minutes, ``full`` for the paper's scale) and the functions
that compute its tables and draw its figures; the notebook holds parameters, calls, side-by-side
tables and narrative. A chapter imports no other chapter: what two chapters share lives in the
library.

========================  ==========================================
module                    thesis
========================  ==========================================
``ch3_revolver``          chapter 3, appendix C (Revolver); ``.study``: on real images
``ch4_contexts``          chapter 4, contexts on toy graphs
``ch4_graph_tables``      Tables 4.3/4.4, appendix A
``ch4_sharing_training``  section 4.5.4 (EfficientNetV2 shared); its studies
``ch5_energy_priors``     chapter 5, energy priors
``ch5_depth_width``       section 5.2, Tables 5.1-5.4
``ch6_predictive_validity``  chapter 6 (beyond the thesis): zoos
``ch7_sharing_schemes``   chapter 7 (beyond the thesis): sharing schemes
``ch8_prior_as_tool``     beyond the thesis: compare, NB201 search; ``.screening``
========================  ==========================================

The notebooks on disk are the one list of chapters: :data:`CHAPTERS` and the
book's ``_toc.yml`` are checked against them (``tests/test_book.py``).

**The study registry.** :data:`STUDIES` holds every declared study (a
:class:`~reuseprior.core.declared_study.DeclaredStudy`), read through :func:`list_studies` and
:func:`get_study` by the ``study`` command, its help and the tests. It lives here, not in core, because
its discovery names this package: the first listing or lookup imports every chapter module, and each
registers its studies next to their declarations (:func:`register_study`). A study the library
declares (the NAS-Bench-201 search of :mod:`reuseprior.zoo.search`) cannot import a chapter, so the
chapter that reads it registers it (``ch8_prior_as_tool``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reuseprior.core.registry import Registry

if TYPE_CHECKING:  # the entries' type only: this package's import stays light
    from reuseprior.core.declared_study import DeclaredStudy

__all__ = ["CHAPTERS", "STUDIES", "get_study", "list_studies", "register_study", "study_command"]

#: the chapter driver modules, one per notebook (``notebooks/<name>.ipynb``), in thesis order
CHAPTERS: tuple[str, ...] = (
    "ch3_revolver",
    "ch4_contexts",
    "ch4_graph_tables",
    "ch4_sharing_training",
    "ch5_depth_width",
    "ch5_energy_priors",
    "ch6_predictive_validity",
    "ch7_sharing_schemes",
    "ch8_prior_as_tool",
)


def study_command(group: str, action: str) -> str:
    """How a user runs ``action`` of a chapter's trained studies (``group``: ``ch3``, ``ch4``, ``ch7``,
    ``ch8``) from the command line, as the chapters' messages name it."""
    return f"python -m reuseprior study {group} {action}"


#: every declared study by name (its spec's name and its aliases), filled by the chapter modules
STUDIES: Registry[DeclaredStudy] = Registry("study", "python -m reuseprior study --list", ("reuseprior.chapters",))


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
