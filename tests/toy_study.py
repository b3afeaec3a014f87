"""The recipe of CONTRIBUTING.md's "A trained study", followed once: this file is the chapter file of a
toy study (what ``reuseprior/chapters/chN_name/study.py`` would hold), and ``tests/test_study.py`` adds
its one row to the study table. A run "trains" a model: its score is a seeded draw plus the model's
offset, so the rows are the same on every machine."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reuseprior.core import paths
from reuseprior.core.study import RunStore, StudyGroup, StudySpec


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
STUDY = toy_study("toy", noise=0.5)
#: two toy studies under one name, sharing a store file (as chapter 4's protocol and study do)
PAIR = StudyGroup(seeds=SEEDS, choose=lambda _: [STUDY, toy_study("toy-quiet", noise=0.1)])
