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

**Design.** :data:`FIT_STUDY` is the fit check :data:`FIT_RECIPE` run for every model of Table 4.2 at
width 0.5 and full depth (V2-S-shared 0.82M parameters, V2-B0-shared 0.45M, V2-B0-original 1.52M),
plus the control the thesis does not have: an unshared B0 narrowed to V2-S-shared's parameter count
(``V2-B0-narrow``, 0.84M), which separates "sharing" from "fewer parameters". 30 epochs on the study's
5,000 Fashion-MNIST images at 32 px, the x0.97 decay compressed to end at the official 0.022 x peak,
EMA 0.9999, 39 warm-up steps, batch 128. Six seeds: the fewest at which the verdict rule's exact
permutation test can reach p < 0.05 (:func:`~reuseprior.reporting.statistics.fewest_decisive_pairs`).

**When a run counts** (:func:`~.real_study.criteria_table`, the study's ``criteria``: those of
:mod:`reuseprior.training.convergence`): its validation top-1 has plateaued, it fits its training images
at least as well as the seed's linear floor (eval-mode top-1 on the training images,
``train_top1_eval``), and its test top-1 beats the floor's. A seed stands or falls whole (every model of
a seed shares its split, initialisation seed and batch order):
:func:`~reuseprior.training.convergence.seeds_that_count`. The verdicts on Table 4.2's pairs
(:func:`verdict_table`) are computed on the counting seeds of the runs judged once (:func:`judge`)
and read *not comparable* while fewer than the fewest decisive seeds count, the rule's own verdict
beside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from reuseprior.analysis.compare import compare
from reuseprior.chapters import register_study
from reuseprior.chapters.ch4_sharing_training import TABLE_4_2_MODELS
from reuseprior.chapters.ch4_sharing_training import real_study as real
from reuseprior.chapters.ch4_sharing_training import recipe_probes as probes
from reuseprior.chapters.ch4_sharing_training.architecture import build_experiment_model
from reuseprior.chapters.ch4_sharing_training.real_study import criteria_table
from reuseprior.core.declared_study import DeclaredStudy
from reuseprior.core.study import StudySpec
from reuseprior.reporting import verdicts
from reuseprior.reporting.verdicts import Comparison, gated_verdicts, per_seed_differences

__all__ = [
    "CONTROL_PAIRS",
    "FIT_RECIPE",
    "FIT_STUDY",
    "JudgedRuns",
    "NARROW_CONTROL",
    "control_table",
    "counting_seeds",
    "judge",
    "paired_figure_tables",
    "prior_beside_accuracy",
    "recipe_check",
    "verdict_table",
]

#: the fit check whose recipe the study uses (:data:`.recipe_probes.FIT_CHECK_RECIPES`)
FIT_RECIPE = "w0.5-lr0.016-warmup39-peruse"
#: the unshared B0 narrowed to V2-S-shared's parameter count
NARROW_CONTROL = "V2-B0-narrow"
FIT_STUDY = real.training_study(
    real.TrainingDesign(
        name="fashion-mnist-w05-peruse",
        models=(*TABLE_4_2_MODELS, NARROW_CONTROL),
        seeds=tuple(range(6)),
        settings=next(
            s for s in probes.fit_check_studies() if s.name == probes.FIT_CHECK_PREFIX + FIT_RECIPE
        ).design.settings,
    ),
    floor=True,
)
register_study(
    DeclaredStudy.of(
        FIT_STUDY,
        "chapter 4: the fit study, width 0.5 with a fitted recipe and a narrowed B0 control "
        "(data/ch4_real_study_runs.csv)",
    )
)
#: the control comparisons (not Table 4.2's, so no thesis direction and no verdict): each shared model
#: against the unshared B0 of V2-S-shared's parameter count
CONTROL_PAIRS: tuple[tuple[str, str], ...] = (("V2-S-shared", NARROW_CONTROL), ("V2-B0-shared", NARROW_CONTROL))


def recipe_check(path: Path = probes.STORED_PROBES) -> str:
    """Why :data:`FIT_STUDY` may not be trained yet ("" when it may): a study is run only once its
    recipe's fit check (:func:`~reuseprior.chapters.ch4_sharing_training.recipe_probes.fit_check_table`) shows the
    hardest model fitting its training images and beating the linear floor; otherwise the study would
    again compare a model that underfits."""
    table = probes.fit_check_table(path)
    row = table[table["recipe"] == FIT_RECIPE]
    if row.empty:
        return (
            f"the fit check of its recipe {FIT_RECIPE!r} is not stored: run `python -m reuseprior study ch4 fit-checks`"
        )
    row = row.iloc[0]
    if not (row["fits training set"] and row["above floor"]):
        return (
            f"under its recipe {FIT_RECIPE!r} {row['model']} does not fit (training top-1 {row['train top-1']:.2f} "
            f"against the floor's {row['floor train top-1']:.2f}, test {row['test top-1']:.2f} against "
            f"{row['floor test top-1']:.2f})"
        )
    return ""


def counting_seeds(criteria: pd.DataFrame, runs: pd.DataFrame, study: StudySpec = FIT_STUDY) -> tuple[list[int], str]:
    """The seeds stored for every model whose runs all count, and why the study cannot give a verdict
    yet ("" when it can): :func:`reuseprior.reporting.verdicts.decidability` of the seeds stored for
    every model (a seed stands or falls whole; at least
    :func:`~reuseprior.reporting.statistics.fewest_decisive_pairs` of them)."""
    complete, _ = verdicts.paired_seeds(runs, study.design.models, arm="model")
    return verdicts.decidability(criteria, complete, arm="model", noun="model", planned=len(study.seeds))


@dataclass(frozen=True)
class JudgedRuns:
    """A study's stored runs judged once: every run's criteria (:func:`~.real_study.criteria_table`), the
    seeds whose runs all count (:func:`counting_seeds`), their runs, and why a verdict must wait ("" when
    it need not). The verdicts, the controls and the prior's table all read this one judgement."""

    study: StudySpec
    criteria: pd.DataFrame
    kept: list[int]
    reason: str
    counting: pd.DataFrame


def judge(runs: pd.DataFrame, floor: pd.DataFrame, study: StudySpec = FIT_STUDY) -> JudgedRuns:
    """``study``'s stored ``runs`` held to its criteria against the linear ``floor`` of their images."""
    criteria = criteria_table(runs, floor)
    kept, reason = counting_seeds(criteria, runs, study)
    return JudgedRuns(study, criteria, kept, reason, runs[runs["seed"].isin(kept)])


def verdict_table(judged: JudgedRuns) -> pd.DataFrame:
    """Table 4.2's pairs (:data:`~reuseprior.chapters.ch4_sharing_training.real_study.PAIRS`) over the seeds whose runs
    all count: the paired summary, the thesis's CIFAR-10 difference and sign beside ours, its claim and
    the rule's verdict, gated to *not comparable* while the counting seeds are too few (the rule's
    verdict kept beside it)."""
    table = real.with_rule_verdicts(real.with_thesis_direction(real.model_differences(judged.counting)))
    table = table.drop(columns="rule verdict").assign(verdict=table["rule verdict"])
    return gated_verdicts(table, judged.reason)


def control_table(judged: JudgedRuns) -> pd.DataFrame:
    """The control pairs (:data:`CONTROL_PAIRS`) over the same counting seeds as :func:`verdict_table`:
    the paired summary only (the thesis makes no claim about a narrowed B0)."""
    return real.model_differences(judged.counting, CONTROL_PAIRS)


def _figure_rows(table: pd.DataFrame, study: str) -> pd.DataFrame:
    """The rows of a pairs table (:func:`verdict_table`, :func:`control_table`) as a figure's summary."""
    return pd.DataFrame(
        {
            "panel": table["model"] + " minus " + table["against"],
            "study": study,
            "mean": table["difference (pp)"],
            "low": table["t low"],
            "high": table["t high"],
            "verdict": table["verdict"] if "verdict" in table else "control: no claim",
            "thesis": table.get("thesis CIFAR-10 difference (pp)", pd.Series(np.nan, index=table.index)),
        }
    )


def paired_figure_tables(studies: Mapping[str, JudgedRuns]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 4.2's pairs and the controls against the narrowed B0 of each judged study (``studies``:
    label to judged runs, in the order drawn side by side), as the summary and per-seed tables of
    :func:`reuseprior.reporting.paired_figures.paired_differences_figure`: one panel per pair (``model
    minus against``, test top-1 in percentage points), the per-seed differences over each study's
    counting seeds, and Table 4.2's CIFAR-10 difference where it prints one. Returns ``(summary, per_seed)``."""
    summaries, seeds = [], []
    for study, judged in studies.items():
        summaries += [_figure_rows(verdict_table(judged), study), _figure_rows(control_table(judged), study)]
        comparisons = [Comparison(model, against) for model, against in (*real.PAIRS, *CONTROL_PAIRS)]
        differences = per_seed_differences(judged.counting, comparisons, arm="model", metrics=["top1_test"])
        seeds.append(
            pd.DataFrame(
                {
                    "panel": differences["treatment"] + " minus " + differences["control"],
                    "study": study,
                    "seed": differences["seed"],
                    "difference": differences["difference"],
                }
            )
        )
    return pd.concat(summaries, ignore_index=True), pd.concat(seeds, ignore_index=True)


def prior_beside_accuracy(judged: JudgedRuns) -> pd.DataFrame:
    """The prior's prediction and the trained outcome side by side: per model of the judged study, built
    as its runs are (width, depth, 10 classes) and analysed without training on one image of the study's
    size (:func:`reuseprior.analysis.compare.compare`: PG, P'G, parameters), its rank by PG, and beside it
    the mean test top-1 over the counting seeds (NaN before any counts) and its rank."""
    study = judged.study
    settings = study.design.settings
    models = {
        m: build_experiment_model(m, 10, width_mult=settings.width_mult, depth_mult=settings.depth_mult)
        for m in study.design.models
    }
    size = settings.image_size
    prior = compare(models, (3, size, size), progress=False).table
    accuracy = judged.counting.groupby("model")["top1_test"].mean()
    out = prior[["model", "params", "PG", "PG_prime"]].rename(columns={"PG_prime": "P'G"})
    out["rank by PG"] = out["PG"].rank(ascending=False, method="min").astype(int)
    out["counting seeds"] = len(judged.kept)
    out["mean test top-1"] = out["model"].map(accuracy)
    out["rank by test top-1"] = out["mean test top-1"].rank(ascending=False, method="min")
    return out.reset_index(drop=True)
