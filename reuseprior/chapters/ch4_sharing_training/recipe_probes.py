"""Which recipe trains all three Table 4.2 models at the thesis's sizes: a probe of warm-up length and
peak learning rate on Fashion-MNIST at width 1.0 (section 4.5.4's recipe, compressed to CPU scale).

At width 1.0 and full depth the three models have Table 4.2's CIFAR-10 sizes (B0 5.9M, B0-shared,
V2-S-shared 3.0M parameters). Sharing all but batch norm (section 4.5.3) ties every block of a stage
to one set of weights (up to 15 uses in V2-S), so one update moves the function many times as far as
in B0. A trial of 2026-11 (not stored) ran V2-S-shared at that width under the study recipe (one warm-up
epoch of 39 steps, peak 0.008 at batch 128, 5,000 images) and its training loss stayed above chance for
the first epochs; no B0 ran under that recipe, so it showed a recipe failing at that data size, not a
model that cannot fit (the Table 4.2 study, :mod:`~reuseprior.chapters.ch4_sharing_training.table42_study`,
chooses its recipe by a protocol applied alike to all four models on 20,000 images). The official
recipe warms up for 5 epochs of 50,000 images at batch 512 (about 490 steps).

**Protocol.** Every recipe of :data:`PROBE_RECIPES` is planned alike for all three models (the same
grid, one seed, so every model gets the same tuning budget; the stored rows are V2-S-shared's alone,
superseded by the Table 4.2 study before any B0 ran): the first :data:`PROBE_EPOCHS` epochs of a
:data:`SCHEDULE_EPOCHS`-epoch schedule whose exponential decay is compressed to end at the official
0.022 x peak (:func:`~reuseprior.chapters.ch4_sharing_training.configs.compressed_decay_epochs`), on
the study's 5,000 Fashion-MNIST images at 32 px, EMA at the official decay 0.9999 (for runs of about
1,200 steps TensorFlow's EMA warm-up ``min(decay, (1 + t) / (10 + t))`` governs throughout: 0.992 at
the end). Each row keeps its per-epoch history. :func:`chosen_recipe` picks the recipe whose *worst*
model has the highest validation top-1 at the probe's last epoch: a recipe is judged by the model it
trains least well, so no model is favoured. The "w0.5" recipes probe the fallback of half the
width (a quarter of the cost, smaller models than Table 4.2's): a width is usable only where V2-S-shared
fits its training images.

**Cost** (measured on one thread of a 2-core AVX2 EPYC): about 125 s per epoch for V2-S-shared and
45 s for each B0 on 5,000 training images, so about 18 CPU-minutes per recipe.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pandas as pd
from distributed import Client

from reuseprior.chapters import register_study
from reuseprior.chapters.ch4_sharing_training.configs import TABLE_4_2_MODELS
from reuseprior.chapters.ch4_sharing_training.designs import (
    PROBE_BASE,
    PROBE_EPOCHS,
    PROBE_RECIPES,
    TrainingDesign,
    whole_schedule,
)
from reuseprior.chapters.ch4_sharing_training.runs import training_study
from reuseprior.core import paths
from reuseprior.core.declared_study import DeclaredStudy
from reuseprior.core.ordering import sort_rows
from reuseprior.core.study import StudySpec
from reuseprior.core.study_runner import run_study
from reuseprior.training.convergence import read_history

#: where the probes' rows are stored (one row per recipe and model, the ch4 study's columns)
STORED_PROBES = paths.DATA_DIR / "ch4_recipe_probes.csv"
WORK_DIR = paths.BUILD_DIR / "ch4_recipe_probes"

PROBE_PREFIX = "probe-"
#: the recipes whose best probe reading is followed for the whole schedule (:func:`fit_check_studies`):
#: does the hardest model then fit its training images and beat the linear floor?
FIT_CHECK_RECIPES: tuple[str, ...] = (
    "w0.5-lr0.016-warmup39",
    "w0.5-lr0.016-warmup39-nodroppath",
    "w0.5-lr0.016-warmup39-nodroppath-60",
    "w0.5-lr0.016-warmup39-peruse",
    "w0.5-lr0.016-warmup39-nodroppath-peruse",
)
FIT_CHECK_PREFIX = "fit-"
#: the model probed first: the one the width-0.25 study's recipe left furthest below the linear floor
PROBE_ORDER: tuple[str, ...] = ("V2-S-shared", "V2-B0-original", "V2-B0-shared")


def probe_studies(path: Path = STORED_PROBES) -> tuple[StudySpec, ...]:
    """One study per recipe (all three models, seed 0), stored in ``path``
    (:func:`~reuseprior.chapters.ch4_sharing_training.runs.training_study`)."""
    return tuple(
        training_study(
            TrainingDesign(
                name=f"{PROBE_PREFIX}{label}",
                models=TABLE_4_2_MODELS,
                seeds=(0,),
                settings=replace(PROBE_BASE, **overrides),
            ),
            path,
        )
        for label, overrides in PROBE_RECIPES.items()
    )


def run_probes(
    path: Path = STORED_PROBES, *, max_runs: int | None = None, progress: bool = True, client: Client | None = None
) -> list[tuple[str, str, int]]:
    """Train the probes' pending runs, model by model in :data:`PROBE_ORDER` and recipe by recipe in
    :data:`PROBE_RECIPES` order (resumable: stored rows are skipped, a killed run continues from its
    last epoch's checkpoint). Returns (recipe, model, seed) of the runs stored by this call."""
    done: list[tuple[str, str, int]] = []
    for model in PROBE_ORDER:
        for study in probe_studies(path):
            left = None if max_runs is None else max_runs - len(done)
            if left is not None and left <= 0:
                return done
            only = [{"study": study.name, "model": model, "seed": 0}]
            result = run_study(
                study,
                options={"work_dir": WORK_DIR, "progress": progress and client is None},
                only=only,
                max_runs=left,
                client=client,
                progress=progress,
            )
            done += [(study.name, run["model"], run["seed"]) for run in result.stored]
    return done


def fit_check_studies(path: Path = STORED_PROBES) -> tuple[StudySpec, ...]:
    """One study per recipe of :data:`FIT_CHECK_RECIPES`: the hardest model (the first of
    :data:`PROBE_ORDER`) trained, seed 0, for the whole schedule its probe is the beginning of
    (:data:`.designs.SCHEDULE_EPOCHS` epochs unless the recipe lays out another), stored beside the probes
    (study name ``fit-<recipe>``)."""
    return tuple(
        training_study(
            TrainingDesign(
                name=f"{FIT_CHECK_PREFIX}{label}",
                models=PROBE_ORDER[:1],
                seeds=(0,),
                settings=whole_schedule(replace(PROBE_BASE, **PROBE_RECIPES[label])),
            ),
            path,
        )
        for label in FIT_CHECK_RECIPES
    )


def _register_probes_and_fit_checks() -> None:
    """Register every probe and fit check under its own name (:func:`reuseprior.chapters.register_study`)."""
    for probe in probe_studies():
        register_study(
            DeclaredStudy.of(
                probe,
                f"chapter 4: the width-{probe.design.settings.width_mult} recipe probe {probe.name} "
                f"(data/{STORED_PROBES.name})",
            )
        )
    for check in fit_check_studies():
        register_study(
            DeclaredStudy.of(
                check,
                f"chapter 4: the fit check {check.name}, a probed recipe's whole schedule (data/{STORED_PROBES.name})",
            )
        )


_register_probes_and_fit_checks()


def run_fit_checks(
    path: Path = STORED_PROBES, *, max_runs: int | None = None, progress: bool = True, client: Client | None = None
) -> list[tuple[str, str, int]]:
    """Train the pending fit checks (:func:`fit_check_studies`) in order, resumable as the probes are;
    (study, model, seed) of the runs stored by this call."""
    done: list[tuple[str, str, int]] = []
    for study in fit_check_studies(path):
        left = None if max_runs is None else max_runs - len(done)
        if left is not None and left <= 0:
            break
        options = {"work_dir": WORK_DIR, "progress": progress and client is None}
        result = run_study(study, options=options, max_runs=left, client=client, progress=progress)
        done += [(study.name, run["model"], run["seed"]) for run in result.stored]
    return done


def probe_status(path: Path = STORED_PROBES) -> pd.DataFrame:
    """Per recipe: the models stored and pending."""
    rows = []
    for study in probe_studies(path):
        stored = study.rows()
        rows.append({"recipe": study.name, "stored": list(stored["model"]), "pending": len(study.runs) - len(stored)})
    return pd.DataFrame(rows)


def probe_table(path: Path = STORED_PROBES) -> pd.DataFrame:
    """Per recipe and model: the width and parameters, the peak learning rate and warm-up steps, and
    the training loss and training/validation top-1 (%) of every probe epoch (from the stored histories)."""
    out = []
    for study in probe_studies(path):
        for _, row in study.rows().iterrows():
            entry = {
                "recipe": study.name.removeprefix(PROBE_PREFIX),
                "model": row["model"],
                "width": row["width_mult"],
                "params": row["params"],
                "lr_peak": row["lr_peak"],
                "warm-up steps": row["lr_warmup_steps"],
            }
            for h in read_history(row["epoch_history"]):
                if h["epoch"] >= 1:
                    e = int(h["epoch"])
                    entry[f"train loss e{e}"] = h["train_loss"]
                    entry[f"train top-1 e{e}"] = h["train_top1"]
                    entry[f"val top-1 e{e}"] = h["val_top1"]
            out.append(entry)
    return pd.DataFrame(out)


def probe_reading(table: pd.DataFrame) -> str:
    """The probes in words, generated from :func:`probe_table`: how many runs are stored, each model's
    training loss per epoch under each recipe beside chance (ln 10 = 2.30), and the chosen recipe
    (:func:`chosen_recipe`) or why none is chosen yet."""
    total = len(PROBE_RECIPES) * len(TABLE_4_2_MODELS)
    lines = [f"{len(table)} of {total} probe runs stored (chance: training loss ln 10 = {math.log(10):.2f})."]
    for _, row in table.iterrows():
        losses = [row[c] for c in table.columns if c.startswith("train loss e") and pd.notna(row[c])]
        last = row.get(f"val top-1 e{PROBE_EPOCHS}", math.nan)
        lines.append(
            f"- {row['model']} (width {row['width']:g}, {row['params'] / 1e6:.2f}M parameters), {row['recipe']}: "
            "training loss by epoch "
            + ", ".join(f"{v:.2f}" for v in losses)
            + (f"; validation top-1 {last:.1f} % at epoch {PROBE_EPOCHS}" if pd.notna(last) else "")
        )
    try:
        chosen, worst = chosen_recipe(table)
    except ValueError as err:
        return "\n".join([*lines, "", f"No recipe is chosen yet: {err}."])
    best = worst.iloc[0]["worst model's val top-1 (%)"]
    return "\n".join(
        [
            *lines,
            "",
            f"Chosen recipe: **{chosen}** (its worst model reaches {best:.1f} % at epoch "
            f"{PROBE_EPOCHS}), among {len(worst)} fully probed recipe(s).",
        ]
    )


def chosen_recipe(table: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    """The recipe whose worst model reaches the highest validation top-1 at the last probe epoch
    (module docstring), among recipes with every model stored; with the per-recipe worst values
    (ties broken by :data:`PROBE_RECIPES` order). Raises ``ValueError`` when no recipe is complete."""
    last = f"val top-1 e{PROBE_EPOCHS}"
    if table.empty or last not in table.columns:
        raise ValueError("no recipe has all three models probed yet: run `python -m reuseprior study ch4 probes`")
    order = {label: i for i, label in enumerate(PROBE_RECIPES)}
    complete = table.groupby("recipe").filter(lambda g: len(g) == len(TABLE_4_2_MODELS) and g[last].notna().all())
    if complete.empty:
        raise ValueError("no recipe has all three models probed yet: run `python -m reuseprior study ch4 probes`")
    worst = complete.groupby("recipe")[last].min().rename("worst model's val top-1 (%)").reset_index()
    worst["order"] = worst["recipe"].map(order)
    worst = sort_rows(worst, "worst model's val top-1 (%)", then="order", ascending=False).drop(columns="order")
    return str(worst.iloc[0]["recipe"]), worst.reset_index(drop=True)
