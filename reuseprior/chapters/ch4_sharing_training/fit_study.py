"""Table 4.2's trained claim at a width where every model can fit its training images: the study that
can decide what the width-0.25 study (:data:`reuseprior.chapters.ch4_sharing_training.real_study.CPU_STUDY`) cannot.

**Why this study.** Under the compressed official recipe V2-S-shared underfits at widths 0.25 and 0.5
(its training top-1 stays near 75 %, below a logistic regression of the same 5,000 images), and
neither a schedule twice as long nor removing stochastic depth changes that
(:mod:`reuseprior.chapters.ch4_sharing_training.recipe_probes`' fit checks). Sharing all but batch norm ties one
convolution to up to 14 sites, and under RMSprop every element of a tensor steps about the learning
rate per update whatever its gradient's size, so a tied tensor takes that step at all of its sites.
The study therefore trains with the **sharing-aware step size** (``lr_per_use``: each tensor's rate
divided by the number of sites that hold it; the identity for an unshared model), a departure from
the official recipe listed in the settings table, applied to every model alike.

**Design** (:data:`.designs.FIT_DESIGN`). :data:`FIT_STUDY` is the fit check :data:`.designs.FIT_RECIPE`
run for every model of Table 4.2 at width 0.5 and full depth (V2-S-shared 0.82M parameters, V2-B0-shared
0.45M, V2-B0-original 1.52M),
plus the control the thesis does not have: an unshared B0 narrowed to V2-S-shared's parameter count
(``V2-B0-narrow``, 0.84M), which separates "sharing" from "fewer parameters". 30 epochs on the study's
5,000 Fashion-MNIST images at 32 px, the x0.97 decay compressed to end at the official 0.022 x peak,
EMA 0.9999, 39 warm-up steps, batch 128. Six seeds: the fewest at which the verdict rule's exact
permutation test can reach p < 0.05 (:func:`~reuseprior.reporting.statistics.fewest_decisive_pairs`).

**When a run counts** (:func:`~.designs.criteria_table`, the study's ``criteria``: those of
:mod:`reuseprior.training.convergence`): its validation top-1 has plateaued, it fits its training images
at least as well as the seed's linear floor (eval-mode top-1 on the training images,
``train_top1_eval``), and its test top-1 beats the floor's. A seed stands or falls whole (every model of
a seed shares its split, initialisation seed and batch order):
:func:`~reuseprior.core.verdict_policy.seeds_that_count`. The verdicts on Table 4.2's pairs
(:func:`.readings.verdict_table`) are computed on the counting seeds of the runs judged once (:func:`.readings.judge`)
and read *not comparable* while fewer than the fewest decisive seeds count, the rule's own verdict
beside them. The study is trained only once its recipe's fit check passes
(:func:`.studies.recipe_check`).
"""

from __future__ import annotations

from reuseprior.chapters import register_study
from reuseprior.chapters.ch4_sharing_training.designs import FIT_DESIGN
from reuseprior.chapters.ch4_sharing_training.runs import training_study
from reuseprior.core.declared_study import DeclaredStudy

__all__ = ["FIT_STUDY"]

#: the declared study (module docstring), read against the linear floor of its seeds' images
FIT_STUDY = training_study(FIT_DESIGN, floor=True)
register_study(
    DeclaredStudy.of(
        FIT_STUDY,
        "chapter 4: the fit study, width 0.5 with a fitted recipe and a narrowed B0 control "
        "(data/ch4_real_study_runs.csv)",
    )
)
