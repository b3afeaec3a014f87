"""A Table 4.2 analogue on real images at CPU scale: EfficientNetV2-B0,
V2-B0-shared and V2-S-shared trained on Fashion-MNIST over several seeds,
stored row by row in ``data/`` (section 4.5.4; the thesis's claim is that
V2-S-shared, with fewer parameters than B0, scores higher).

Declared here: :data:`CPU_STUDY` and :data:`LIVE_SLICE` (:func:`.runs.training_study` of
:data:`.designs.CPU_DESIGN` and :data:`.designs.LIVE_SLICE_DESIGN`: a
:class:`~reuseprior.core.study.StudySpec` that :mod:`reuseprior.core.study` runs); chapter 4's other
studies are declared alike, each in its module, on a :class:`.designs.TrainingDesign`.

**Design.** Every (model, seed) is one run of
:func:`.runs.train_model` with the
study's settings (:data:`CPU_STUDY`). Width is scaled, depth is not: the
shared variants save parameters by tying the repeated blocks of a stage, and
a depth multiplier below 1 removes those repeats (at depth 0.25 V2-S-shared
has more parameters than B0). A seed fixes the validation split, the
initialisation and the batch order of every model alike, so models are
compared per seed. The test split is read once, at the end of each run.

**Storage.** Runs checkpoint every epoch under ``build/ch4_real_study/`` and
resume; a finished run's row is written to :data:`.designs.STORED_RUNS` (the whole
file replaced atomically under a file lock): what a rerun reproduces, plus
two measurements of the machine that ran it, ``train_time_s`` and
``peak_memory_mb`` (one thread of a 2-core CPU for the stored rows), and that machine (``machine``: its
cores, torch and CPU kernels, on which float32 digits depend; empty in rows stored before the column
existed). Rows of other settings (another
``plan``) are never read. The floor of each seed's images (:func:`.runs.floor_row`) is stored once in
:data:`.designs.LINEAR_FLOOR` (:data:`.runs.FLOORS`). :func:`.runs.retrain_live_slice` retrains the slice
:data:`LIVE_SLICE` (one model, one short run) and holds it to the stored
slice row's counts and to learning (its digits depend on the CPU's kernels).
"""

from __future__ import annotations

from reuseprior.chapters import register_study
from reuseprior.chapters.ch4_sharing_training.designs import CPU_DESIGN, LIVE_SLICE_DESIGN
from reuseprior.chapters.ch4_sharing_training.runs import training_study
from reuseprior.core.declared_study import DeclaredStudy

__all__ = ["CPU_STUDY", "LIVE_SLICE"]

#: the stored studies: the width-0.25 study with the floor of its seeds' images, and the live slice
CPU_STUDY = training_study(CPU_DESIGN, floor=True, live=True)
LIVE_SLICE = training_study(LIVE_SLICE_DESIGN, live=True)
register_study(
    DeclaredStudy.of(
        CPU_STUDY, "chapter 4: the width-0.25 Table 4.2 analogue on Fashion-MNIST (data/ch4_real_study_runs.csv)"
    )
)
register_study(
    DeclaredStudy.of(
        LIVE_SLICE,
        "chapter 4: the live slice, V2-B0-original for two epochs on 2,000 images (data/ch4_real_study_runs.csv)",
    )
)
