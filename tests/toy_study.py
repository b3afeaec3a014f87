"""The recipe of CONTRIBUTING.md's "A trained study", followed once: this file is the chapter file of a
toy study (what ``reuseprior/chapters/chN_name/study.py`` would hold), and ``tests/test_study.py`` adds
its one row to the study table. A run "trains" a model: its score is a seeded draw plus the model's
offset, so the rows are the same on every machine."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reuseprior.core import paths
from reuseprior.core.study import RunStore, StudySpec


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


DESIGN = ToyDesign(offsets=(("small", 0.0), ("large", 1.0)), noise=0.5)
SEEDS = (0, 1, 2)
STUDY = StudySpec(
    name="toy",
    design=DESIGN,
    settings={"offsets": dict(DESIGN.offsets), "noise": DESIGN.noise},
    seeds=SEEDS,
    runs=tuple({"model": m, "seed": s} for s in SEEDS for m, _ in DESIGN.offsets),
    run_one=run_one,
    store=RunStore(
        paths.BUILD_DIR / "toy_study_runs.csv", key=("model", "seed"), columns=("plan", "model", "seed", "score")
    ),
    status_by=("model",),
)
