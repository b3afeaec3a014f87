"""The recipe of CONTRIBUTING.md's "A trained study", followed once: this file is the chapter file of a
toy study (what ``reuseprior/chapters/chN_name/study.py`` would hold): it declares the studies, each as
the entry a chapter registers next to its declaration (:func:`reuseprior.chapters.register_study`), and
the ``study`` command lists and runs them while they are registered, with no edit to a command, a parser
or a list. Unlike a chapter's, these entries are registered for one test at a time (:func:`registered`,
the ``toy_studies`` fixture), so that the real registry holds no toy outside the tests that use them.
A run "trains" a model: its score is a seeded draw plus the model's offset, so the rows are the same on
every machine."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from reuseprior.chapters import STUDIES
from reuseprior.core import paths
from reuseprior.core.declared_study import DeclaredStudy
from reuseprior.core.study import LiveCheck, RunStore, StudyGroup, StudyRequest, StudySpec, checked_runs, stored_runs


@dataclass(frozen=True)
class ToyDesign:
    """What ``run_one`` reads: the models and their offsets, and the noise of a run."""

    offsets: tuple[tuple[str, float], ...]
    noise: float


def run_one(*, model: str, seed: int, spec: StudySpec) -> dict:
    """One run (module level, so that a Dask worker imports it): its row, keyed by the plan."""
    offset = dict(spec.design.offsets)[model]
    score = offset + spec.design.noise * float(np.random.default_rng(seed).standard_normal())
    return {"plan": spec.plan, "model": model, "seed": seed, "score": score}


def toy_study(name: str, noise: float) -> StudySpec:
    """The toy study named ``name`` with runs of ``noise``; every toy study shares one store file."""
    design = ToyDesign(offsets=(("small", 0.0), ("large", 1.0)), noise=noise)
    return StudySpec(
        name=name,
        design=design,
        settings={"offsets": dict(design.offsets), "noise": design.noise},
        seeds=SEEDS,
        runs=tuple({"model": m, "seed": s} for s in SEEDS for m, _ in design.offsets),
        run_one=run_one,
        store=RunStore(
            paths.BUILD_DIR / "toy_study_runs.csv", key=("model", "seed"), columns=("plan", "model", "seed", "score")
        ),
        status_by=("model",),
    )


SEEDS = (0, 1, 2)
STUDY_ENTRY = DeclaredStudy.of(toy_study("toy", noise=0.5), "a toy study (CONTRIBUTING.md's recipe)")
STUDY = STUDY_ENTRY.spec
QUIET_ENTRY = DeclaredStudy.of(toy_study("toy-quiet", noise=0.1), "a quieter toy study")
QUIET = QUIET_ENTRY.spec
#: two toy studies under one name, sharing a store file (as chapter 4's protocol and study do)
PAIR = StudyGroup(seeds=SEEDS, choose=lambda _: [STUDY, QUIET])
PAIR_ENTRY = DeclaredStudy.of(PAIR, "two toy studies sharing a store", aliases=("toys",), reads=frozenset({"store"}))


def score_above_zero(spec: StudySpec) -> pd.DataFrame:
    """The toy's criteria: per stored run, whether its score is above zero."""
    rows = spec.rows()
    return rows[["model", "seed", "score"]].assign(**{"above zero": rows["score"] > 0})


def stored_runs_recomputed(spec: StudySpec, request: StudyRequest) -> LiveCheck:
    """The toy's live check: ``request.checked`` of its stored runs (:func:`checked_runs`: the first in the
    declared order and a seeded sample of the others) recomputed here, each score equal to the stored one."""
    stored = spec.rows()
    runs = checked_runs(stored_runs(spec), request.checked)
    rows = []
    for run in runs:
        kept = stored[(stored["model"] == run["model"]) & (stored["seed"] == run["seed"])].iloc[0]
        live = run_one(**run, spec=spec)
        rows.append({**run, "stored": kept["score"], "live": live["score"]})
    table = pd.DataFrame(rows)
    return LiveCheck(table.assign(equal=(table["stored"] - table["live"]).abs() <= 1e-9), "equal")


#: a toy study that declares criteria and a live check
CHECKED_ENTRY = DeclaredStudy.of(
    replace(toy_study("toy-checked", noise=0.5), criteria=score_above_zero, live_check=stored_runs_recomputed),
    "a toy study with criteria and a live check",
)
CHECKED = CHECKED_ENTRY.spec


def risky_run(*, model: str, seed: int, spec: StudySpec) -> dict:
    """A run of the risky toy study: ``hungry`` takes memory 64 MiB at a time (touched, so that it is
    resident) until its worker's nanny restarts it, ``doomed`` kills its own worker, ``broken`` raises;
    any other model is a toy run."""
    if model == "hungry":
        chunks = [np.ones(2**23) for _ in range(64)]  # 4 GiB at most, far above the test's limit
        return {"plan": spec.plan, "model": model, "seed": seed, "score": float(len(chunks))}
    if model == "doomed":
        os.kill(os.getpid(), signal.SIGKILL)
    if model == "broken":
        raise ValueError("no such layer\nin the toy model")
    return run_one(model=model, seed=seed, spec=spec)


def risky_study(name: str, models: tuple[str, ...]) -> StudySpec:
    """The toy study ``name`` of ``models`` (risky ones among them) run by :func:`risky_run`, one seed."""
    design = ToyDesign(offsets=tuple((m, 0.0) for m in models), noise=0.5)
    return replace(
        toy_study(name, noise=0.5),
        design=design,
        settings={"offsets": dict(design.offsets), "noise": design.noise},
        seeds=(0,),
        runs=tuple({"model": m, "seed": 0} for m in models),
        run_one=risky_run,
    )


#: a toy run, one that kills its worker (before any worker is restarted for memory), one that outgrows its memory
RISKY_ENTRY = DeclaredStudy.of(
    risky_study("toy-risky", ("small", "doomed", "hungry")), "toy runs that kill or outgrow their worker"
)
RISKY = RISKY_ENTRY.spec
#: a run that raises on its worker, queued before a toy run
BROKEN_ENTRY = DeclaredStudy.of(risky_study("toy-broken", ("broken", "small")), "a toy run that raises, and a toy run")
BROKEN = BROKEN_ENTRY.spec

#: every toy entry, as a chapter would register them
ENTRIES = (STUDY_ENTRY, QUIET_ENTRY, PAIR_ENTRY, CHECKED_ENTRY, RISKY_ENTRY, BROKEN_ENTRY)


@contextmanager
def registered() -> Iterator[tuple[DeclaredStudy, ...]]:
    """Every toy entry in the study registry under each of its names for the ``with`` block only
    (:meth:`reuseprior.core.registry.Registry.registered`)."""
    with ExitStack() as stack:
        for entry in ENTRIES:
            for name in entry.names:
                stack.enter_context(STUDIES.registered(name, entry))
        yield ENTRIES
