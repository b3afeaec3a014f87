"""Chapter 7's studies as ``python -m reuseprior study ch7`` runs them (registered as ``ch7``, and each
trained study under its own name, :func:`reuseprior.chapters.register_study`): the trained studies of a profile
(``--profile``, :data:`~reuseprior.chapters.ch7_sharing_schemes.configs.PROFILES`), each declared by
:func:`~reuseprior.chapters.ch7_sharing_schemes.runs.sharing_study`, and the chapter's own actions:
the prior's scores of stored rows (``fill-scores``: those with an engine error; ``rescore``: all),
the bookkeeping of the seeds' models (``bookkeeping``) and the generator sensitivity
(``sensitivity``)."""

from __future__ import annotations

from typing import Callable

from reuseprior.chapters import register_study
from reuseprior.chapters.ch7_sharing_schemes.bookkeeping import STORED_BOOKKEEPING, store_bookkeeping
from reuseprior.chapters.ch7_sharing_schemes.configs import PROFILES
from reuseprior.chapters.ch7_sharing_schemes.runs import fill_scores, runs_path, sharing_study
from reuseprior.chapters.ch7_sharing_schemes.sensitivity import STORED_SENSITIVITY, store_generator_sensitivity
from reuseprior.core.declared_study import CHECK_ACTION, FLOOR_ACTION, DeclaredStudy
from reuseprior.core.study import StudyGroup, StudyRequest, StudySpec

__all__ = ["STUDY_GROUP", "profile_studies"]


def profile_studies(request: StudyRequest) -> list[StudySpec]:
    """The trained studies of ``request.profile`` (default ``quick``), in ``request.store`` when given."""
    designs = PROFILES[request.profile or "quick"].designs
    return [sharing_study(design, request.store) for design in designs]


def _scores(every_row: bool) -> Callable[[StudyRequest], str]:
    def fill(request: StudyRequest) -> str:
        return "\n".join(
            f"{spec.name}: wrote the prior's quantities of {fill_scores(spec, every_row=every_row)} rows of "
            f"{spec.store.path}"
            for spec in profile_studies(request)
        )

    return fill


def _bookkeeping(request: StudyRequest) -> str:
    table = store_bookkeeping(PROFILES[request.profile or "quick"].bookkeeping_models, progress=request.progress)
    return f"{len(table)} rows in {STORED_BOOKKEEPING}"


def _sensitivity(request: StudyRequest) -> str:
    table = store_generator_sensitivity(progress=request.progress)
    return f"{len(table)} rows in {STORED_SENSITIVITY}"


#: chapter 7's studies and actions, chosen by ``--profile``
STUDY_GROUP = StudyGroup(
    seeds=tuple(sorted({s for p in PROFILES.values() for design in p.designs for s in design.seeds})),
    choose=profile_studies,
    actions={
        "fill-scores": _scores(False),
        "rescore": _scores(True),
        "bookkeeping": _bookkeeping,
        "sensitivity": _sensitivity,
    },
)
register_study(
    DeclaredStudy.of(
        STUDY_GROUP,
        "chapter 7: the sharing schemes at matched budgets (data/sharing_study_runs.csv)",
        aliases=("ch7",),
        reads=frozenset({"store", "profile", "device", "threads", "data_dir", "download"}),
        actions={
            "fill-scores": "compute the prior's quantities of stored rows that lack them",
            "rescore": "recompute the prior's quantities of every stored row",
            "bookkeeping": "store the parameter bookkeeping of the profile's models",
            **FLOOR_ACTION,
            "sensitivity": "store the generator-sensitivity table",
            **CHECK_ACTION,
        },
        profiles=dict.fromkeys(["quick", *PROFILES], "cpu"),  # quick first: the default
    )
)


def _register_design_studies() -> None:
    """Register each trained study of every profile under its own name (a study in several profiles once)."""
    for design in {design.name: design for profile in PROFILES.values() for design in profile.designs}.values():
        register_study(
            DeclaredStudy.of(
                sharing_study(design), f"chapter 7: the sharing schemes of {design.name} ({runs_path(design).name})"
            )
        )


_register_design_studies()
