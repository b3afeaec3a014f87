"""Chapter 4's studies as ``python -m reuseprior study ch4`` runs them (its row of
:data:`reuseprior.commands.parsers.study.STUDIES`), chosen by ``--profile``:

- ``cpu`` (the default): the width-0.25 study (:data:`~reuseprior.chapters.ch4_sharing_training.real_study.CPU_STUDY`),
  the fit study (:data:`~reuseprior.chapters.ch4_sharing_training.fit_study.FIT_STUDY`, only once its recipe's fit
  check passed: :func:`~reuseprior.chapters.ch4_sharing_training.fit_study.recipe_check`) and the Table 4.2 study;
- ``gpu``: the Table 4.2 study at Table 4.2's sizes.

The Table 4.2 study (:mod:`reuseprior.chapters.ch4_sharing_training.table42_study`) is its recipe protocol (on the cpu
profile's settings, whatever the device) until the protocol has chosen a recipe, then the chosen
recipe's study over every seed. ``status`` adds the protocol's table; the chapter's own actions store
the live slice (``slice``), the width-1.0 recipe probes (``probes``), their fit checks
(``fit-checks``) and the linear floors of the studies' images (``floor``: on the ``cpu`` profile the
width-0.25 and fit studies' and the Table 4.2 study's; on ``gpu`` the Table 4.2 study's 54,000 images).
"""

from __future__ import annotations

import pandas as pd

from reuseprior.chapters.ch4_sharing_training import fit_study as fit
from reuseprior.chapters.ch4_sharing_training import real_study as real
from reuseprior.chapters.ch4_sharing_training import recipe_probes as probes
from reuseprior.chapters.ch4_sharing_training import table42_study as table42
from reuseprior.core.study import StudyGroup, StudyRequest, StudySpec, run_study, store_floors

__all__ = ["STUDY_GROUP", "chosen_studies"]

#: the width-0.25 study and the fit checks, in the order they run (before the Table 4.2 protocol's studies)
WIDTH_025_AND_FIT_STUDIES = (real.CPU_STUDY, fit.FIT_STUDY)


def _runs(request: StudyRequest) -> pd.DataFrame:
    return real.read_runs(request.store or real.STORED_RUNS)


def _table42(request: StudyRequest) -> list[StudySpec]:
    """The recipe protocol until it has chosen a recipe, then the chosen recipe's study on ``--profile``."""
    recipe = table42.chosen_recipe(_runs(request))
    if recipe is None:
        return table42.protocol_studies()
    return [table42.decisive_study(recipe, request.profile or "cpu")]


def chosen_studies(request: StudyRequest) -> list[StudySpec]:
    """Chapter 4's studies of ``request.profile`` that may run (module docstring); says why the fit study
    waits, when it does."""
    if request.profile == "gpu":
        return _table42(request)
    waits = fit.recipe_check()
    if waits:
        print(f"study {fit.FIT_STUDY.name} waits: {waits}")
    earlier = [spec for spec in WIDTH_025_AND_FIT_STUDIES if not (waits and spec is fit.FIT_STUDY)]
    return [*earlier, *_table42(request)]


def _protocol(request: StudyRequest) -> list[tuple[str, pd.DataFrame]]:
    return [("the Table 4.2 recipe protocol", table42.protocol_table(_runs(request)).drop(columns="plan"))]


def _slice(request: StudyRequest) -> str:
    spec = real.LIVE_SLICE.with_store(request.store)
    stored = run_study(spec, options={"progress": request.progress}, progress=request.progress).stored
    return "stored the live slice" if stored else "the live slice is already stored"


def _probes(request: StudyRequest) -> str:
    """Probe the recipes of :mod:`reuseprior.chapters.ch4_sharing_training.recipe_probes` (resumable); their status."""
    path = request.store or probes.STORED_PROBES
    done = probes.run_probes(path, max_runs=request.max_runs, progress=request.progress)
    return f"stored {len(done)} probe runs\n" + probes.probe_status(path).to_string(index=False)


def _fit_checks(request: StudyRequest) -> str:
    """Train chapter 4's fit checks (a probed recipe for the whole schedule; resumable); their table."""
    path = request.store or probes.STORED_PROBES
    done = probes.run_fit_checks(path, max_runs=request.max_runs, progress=request.progress)
    return f"stored {len(done)} fit-check runs\n" + probes.fit_check_table(path).to_string(index=False)


def _floors(request: StudyRequest) -> str:
    """Store the linear floor of each study's images of ``--profile``, per seed (the seeds not stored yet,
    of ``--seeds`` when given): on ``cpu`` the earlier studies' and the Table 4.2 study's, on ``gpu`` the
    Table 4.2 study's (all 54,000 training images)."""
    table42_floor = table42.floor_study(request.profile or "cpu")
    specs = (table42_floor,) if request.profile == "gpu" else (*WIDTH_025_AND_FIT_STUDIES, table42_floor)
    tables = [store_floors(spec, request.seeds, progress=request.progress) for spec in specs]
    return "\n".join(t.to_string(index=False) for t in tables) + f"\n-> {real.LINEAR_FLOOR}"


#: chapter 4's studies and actions, chosen by ``--profile`` (``cpu`` or ``gpu``)
STUDY_GROUP = StudyGroup(
    seeds=tuple(sorted({seed for spec in WIDTH_025_AND_FIT_STUDIES for seed in spec.seeds} | set(table42.STUDY_SEEDS))),
    choose=chosen_studies,
    reports=_protocol,
    actions={"slice": _slice, "probes": _probes, "fit-checks": _fit_checks, "floor": _floors},
)
