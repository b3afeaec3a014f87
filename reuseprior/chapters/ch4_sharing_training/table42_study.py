"""Deciding Table 4.2: a recipe protocol fair to every model, then the study at a width where every model
fits, on the CPU, and the same study at Table 4.2's sizes on a GPU.

**Policy.** A model is called unable to learn only against a control trained under the same recipe on
the same images, so the recipe is chosen first, by a protocol applied alike to every model (several
seeds each, the worst model's score deciding, a diverging run refusing its recipe), and only then are
the models compared. The stored fit checks and probes (:mod:`.recipe_probes`, one recipe family, one
seed, 5,000 images, no B0) are read as evidence about that recipe at that data size, not about a
model.

**Models.** Table 4.2's three (V2-B0-shared, V2-B0-original, V2-S-shared) and the control the thesis
does not have, ``V2-B0-narrow``: an unshared B0 narrowed to V2-S-shared's parameter count, which
separates "sharing" from "fewer parameters".

**The recipe protocol** (:data:`.designs.CANDIDATE_RECIPES`, :func:`protocol_table`). Each candidate is trained
for every model on :data:`.designs.PROTOCOL_SEEDS` (two seeds), on a profile's images
(:data:`.designs.STUDY_PROFILES`). A recipe is judged by its *worst* model: per model, the validation top-1
averaged over the last
:data:`JUDGED_EPOCHS` epochs and over the seeds; the recipe's score is the lowest of these. A recipe
with a run that diverges (:func:`diverged`: a validation loss after warm-up above
:data:`DIVERGENCE_FACTOR` times its start, or not finite) is refused. :func:`chosen_recipe` is the
best-scoring recipe not refused (ties: the first of :data:`.designs.CANDIDATE_RECIPES`). The candidates:

* ``official-steps``: section 4.5.4's recipe (TensorFlow 1's RMSprop, decay 0.9, momentum 0.9,
  epsilon 1e-3, peak 0.016 per 256 images, weight decay 1e-5, label smoothing 0.1, EMA 0.9999,
  stochastic depth 0.2) with its warm-up counted in steps, :data:`.designs.WARMUP_STEPS` (the official 5
  epochs of 50,000 CIFAR images at batch 512: 490 steps), and the x0.97 staircase compressed to end
  at the official 0.022 x peak;
* ``official-steps-peruse``: the same with the sharing-aware step size (``lr_per_use``: each tensor's
  rate divided by the sites that hold it; the identity for an unshared model), kept only if the
  protocol shows that it helps;
* ``adamw-cosine``: a generic stable recipe: AdamW (peak 0.001 per 256 images, decoupled weight
  decay 0.05), the same warm-up, a cosine decay to zero, gradient-norm clipping at 1; the official
  recipe's label smoothing 0.1, EMA 0.9999 and stochastic depth 0.2 are kept: it differs from the
  official recipe in the optimiser (with its weight decay), the schedule and the clipping.

Every recipe keeps the analogue's fixed choices: Fashion-MNIST at 32 px, 3 channels, scale
(x - 128) / 128, no augmentation, batch-norm momentum 0.9 (TensorFlow's convention; 0.99 averages
over ~100 steps, longer than the first epochs of these runs), float32.

**The profiles** (:data:`.designs.STUDY_PROFILES`): ``cpu`` at width 0.5 on :data:`.designs.CPU_TRAIN_IMAGES` training
images at batch 128, the study that must decide on this project's 2-core machine; ``gpu`` at Table
4.2's sizes (width 1.0, full depth, all 54,000 training images, batch 512, the official), the
paper-scale column beside it, run where a GPU is lent (``python -m reuseprior study ch4 run --profile
gpu --device cuda``). The protocol runs on the ``cpu`` profile's settings (on any device: the rows name
the machine) and its choice is the recipe of both studies (:func:`decisive_study`); the studies' own
criteria then show whether every model fits.

**The study** (:func:`decisive_study`): the chosen recipe, every model, :data:`.designs.STUDY_SEEDS` (eight)
seeds; every run held to the criteria of :mod:`reuseprior.training.convergence` (plateau, fit at
least the linear floor's training accuracy, test above the floor), and verdicts from
:mod:`reuseprior.reporting.statistics` (:mod:`.readings`' tables of a judged study).
A protocol study and the decisive study of the same recipe and profile are one study (one name, one
plan), so the protocol's two seeds are the study's first two. The models, seeds, recipes and profiles
are :mod:`.designs`'; declared here are the studies on them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
import torch

from reuseprior.chapters import register_study
from reuseprior.chapters.ch4_sharing_training.architecture import build_experiment_model
from reuseprior.chapters.ch4_sharing_training.designs import (
    CANDIDATE_RECIPES,
    PROTOCOL_SEEDS,
    STUDY_MODELS,
    STUDY_PROFILES,
    STUDY_SEEDS,
    StudyProfile,
    TrainingDesign,
    recipe_settings,
)
from reuseprior.chapters.ch4_sharing_training.plan import make_plan
from reuseprior.chapters.ch4_sharing_training.readings import JudgedRuns, control_table, judge, verdict_table
from reuseprior.chapters.ch4_sharing_training.runs import FLOOR_COMMAND, training_study
from reuseprior.core import paths
from reuseprior.core.declared_study import DeclaredStudy
from reuseprior.core.study import StudySpec
from reuseprior.core.verdict_policy import CONFIDENCE
from reuseprior.reporting.statistics import p_value_text, t_interval_text
from reuseprior.training.augment import GreyAsRGB
from reuseprior.training.convergence import read_history
from reuseprior.training.loop import TrainConfig
from reuseprior.training.step_calls import (
    fit_step_calls,
    fit_step_python_calls,
    plain_step_calls,
    plain_step_python_calls,
)

__all__ = [
    "DIVERGENCE_FACTOR",
    "JUDGED_EPOCHS",
    "chosen_recipe",
    "count_step_calls",
    "decisive_study",
    "device_throughput",
    "diverged",
    "floor_study",
    "judged_study",
    "judged_tables",
    "protocol_reading",
    "protocol_runs",
    "protocol_studies",
    "protocol_table",
    "python_calls_table",
    "run_costs",
    "run_summary",
    "step_calls_table",
    "step_python_calls",
    "study_reading",
]

#: epochs at the end of a run whose validation top-1 is averaged to judge a recipe
JUDGED_EPOCHS = 3
#: a run diverged when a validation loss after warm-up exceeds this multiple of its start
DIVERGENCE_FACTOR = 2.0


def _study(profile: StudyProfile, recipe: str, seeds: tuple[int, ...]) -> StudySpec:
    settings = recipe_settings(recipe, profile.name)
    design = TrainingDesign(
        name=f"table42-{profile.name}-{recipe}", models=STUDY_MODELS, seeds=seeds, settings=settings
    )
    return training_study(design)


def floor_study(profile: str = "cpu") -> StudySpec:
    """The images of ``profile``'s runs, named ``table42-<profile>``, for the linear floor (its
    :attr:`~reuseprior.core.study.StudySpec.floor`, :data:`.runs.FLOORS`):
    the floor depends on the images alone (the seed's split, the profile's training images), so one
    serves every recipe of a seed."""
    first = next(iter(CANDIDATE_RECIPES))
    design = TrainingDesign(
        name=f"table42-{profile}", models=STUDY_MODELS, seeds=STUDY_SEEDS, settings=recipe_settings(first, profile)
    )
    spec = training_study(design, floor=True)
    return replace(spec, floor=replace(spec.floor, command=f"{FLOOR_COMMAND} --profile {profile}"))


def protocol_studies(profile: str = "cpu") -> list[StudySpec]:
    """The recipe protocol on ``profile``: one study per candidate recipe, every model, two seeds."""
    return [_study(STUDY_PROFILES[profile], recipe, PROTOCOL_SEEDS) for recipe in CANDIDATE_RECIPES]


def decisive_study(recipe: str, profile: str = "cpu") -> StudySpec:
    """The study of ``recipe`` on ``profile`` over :data:`.designs.STUDY_SEEDS` (the protocol's study of that recipe
    with more seeds: the same name and plan)."""
    return _study(STUDY_PROFILES[profile], recipe, STUDY_SEEDS)


def _register_decisive_studies() -> None:
    """Register every recipe's study on every profile (the protocol's study of a recipe is the same study
    with fewer seeds)."""
    for profile in STUDY_PROFILES:
        for recipe in CANDIDATE_RECIPES:
            register_study(
                DeclaredStudy.of(
                    decisive_study(recipe, profile),
                    f"chapter 4: Table 4.2 with recipe {recipe} on the {profile} profile's sizes "
                    "(data/ch4_real_study_runs.csv)",
                )
            )


_register_decisive_studies()


def judged_study(recipe: str, profile: str = "cpu") -> JudgedRuns:
    """The stored runs of ``recipe``'s study on ``profile`` (:func:`decisive_study`) judged once
    (:func:`~reuseprior.chapters.ch4_sharing_training.readings.judge`) against the linear floor of the same
    images (:func:`floor_study` of ``profile``). ``LookupError`` naming the floor's command when a seed
    with stored runs has no stored floor."""
    study, floors = decisive_study(recipe, profile), floor_study(profile)
    runs = study.rows()
    floor = floors.floor_rows()
    missing = sorted(set(runs["seed"].astype(int)) - set(floor["seed"].astype(int)))
    if missing:
        seeds = " ".join(str(s) for s in missing)
        command = f"{floors.floor.command} --seeds {seeds}"
        raise LookupError(f"no linear floor of seeds {missing} of {floors.name}: run `{command}`")
    return judge(runs, floor, study)


def judged_tables(judged: JudgedRuns) -> dict[str, pd.DataFrame]:
    """The tables a judged study is read by, in reading order: every run's ``criteria``, Table 4.2's pairs
    with their verdicts (``differences``: :func:`~reuseprior.chapters.ch4_sharing_training.readings.verdict_table`)
    and the controls against the narrowed B0 (``controls``)."""
    return {
        "criteria": judged.criteria,
        "differences": verdict_table(judged),
        "controls": control_table(judged),
    }


def diverged(history: list[Mapping[str, float]], warmup_epochs: float) -> bool:
    """Whether a run diverged: a validation loss after warm-up (epochs past ``warmup_epochs``) that is not
    finite or exceeds :data:`DIVERGENCE_FACTOR` times its start (the untrained model's, at least ln 10)."""
    start = max(float(history[0]["val_loss"]), math.log(10.0))
    after = [float(h["val_loss"]) for h in history if h.get("epoch", 0) > warmup_epochs]
    return any(not math.isfinite(v) or v > DIVERGENCE_FACTOR * start for v in after)


#: the columns of :func:`run_summary`
_SUMMARY_COLUMNS = ("model", "seed", "val top-1 last epochs", "val top-1", "train top-1 (eval)", "diverged")


def run_summary(row: Mapping[str, object]) -> dict[str, object]:
    """One stored run read for the protocol: its validation top-1 over the last :data:`JUDGED_EPOCHS`
    epochs, its final validation and eval-mode training top-1, and whether it diverged."""
    history = read_history(row["epoch_history"])
    trained = [h for h in history if h.get("epoch", 0) >= 1]
    warmup_epochs = float(row["lr_warmup_steps"]) / max(1, int(row["train_images"]) // int(row["batch_size"]))
    return {
        "model": row["model"],
        "seed": int(row["seed"]),
        "val top-1 last epochs": float(np.mean([h["val_top1"] for h in trained[-JUDGED_EPOCHS:]])),
        "val top-1": float(row["top1_val"]),
        "train top-1 (eval)": float(row["train_top1_eval"]),
        "diverged": diverged(history, warmup_epochs),
    }


def _protocol_rows(runs: pd.DataFrame, spec: StudySpec) -> pd.DataFrame:
    """The stored rows of the protocol study ``spec`` (its plan, its seeds)."""
    mine = runs[(runs["study"] == spec.name) & (runs["plan"] == spec.plan)]
    return mine[mine["seed"].isin(spec.seeds)]


def protocol_runs(runs: pd.DataFrame, profile: str = "cpu") -> pd.DataFrame:
    """Every stored run of the protocol on ``profile``, one row each (:func:`run_summary`), with its recipe,
    test top-1 and the machine that trained it."""
    rows = []
    for spec in protocol_studies(profile):
        recipe = spec.name.removeprefix(f"table42-{profile}-")
        for _, row in _protocol_rows(runs, spec).iterrows():
            summary = run_summary(row)
            summary.update({"test top-1": float(row["top1_test"]), "machine": row.get("machine")})
            rows.append({"recipe": recipe, **summary})
    columns = ["recipe", "model", "seed", "val top-1 last epochs", "val top-1", "test top-1", "train top-1 (eval)"]
    return pd.DataFrame(rows, columns=[*columns, "diverged", "machine"])


def protocol_table(runs: pd.DataFrame, profile: str = "cpu") -> pd.DataFrame:
    """Per candidate recipe of the protocol on ``profile`` (``runs``: stored rows of
    :func:`~reuseprior.chapters.ch4_sharing_training.designs.read_runs`): runs stored of those planned, the runs that
    diverged, each model's validation top-1 over the last epochs (mean over seeds), the worst model and
    its score, and whether the recipe is refused or complete."""
    rows = []
    for spec in protocol_studies(profile):
        mine = _protocol_rows(runs, spec)
        summary = pd.DataFrame([run_summary(r) for _, r in mine.iterrows()], columns=_SUMMARY_COLUMNS)
        per_model = summary.groupby("model")["val top-1 last epochs"].mean()
        failed = summary.loc[summary["diverged"], ["model", "seed"]].itertuples(index=False)
        row = {
            "recipe": spec.name.removeprefix(f"table42-{profile}-"),
            "plan": spec.plan,
            "runs stored": f"{len(mine)} of {len(spec.runs)}",
            "diverged": ", ".join(f"{m} seed {s}" for m, s in failed),
        }
        row.update({f"{m} (val top-1, last {JUDGED_EPOCHS})": per_model.get(m, np.nan) for m in STUDY_MODELS})
        row["worst model"] = per_model.idxmin() if len(per_model) else None
        row["score (worst model)"] = per_model.min() if len(per_model) else np.nan
        row["complete"] = len(mine) == len(spec.runs)
        rows.append(row)
    table = pd.DataFrame(rows)
    table["refused"] = table["diverged"] != ""
    return table


def chosen_recipe(runs: pd.DataFrame, profile: str = "cpu") -> str | None:
    """The protocol's choice on ``profile``: the recipe whose worst model scores highest among the complete
    recipes not refused (ties: the first of :data:`.designs.CANDIDATE_RECIPES`); None until every recipe is complete
    or when all are refused."""
    table = protocol_table(runs, profile)
    if not table["complete"].all():
        return None
    eligible = table[~table["refused"]]
    if eligible.empty:
        return None
    best = eligible["score (worst model)"].max()
    return str(eligible.loc[eligible["score (worst model)"] == best, "recipe"].iloc[0])


#: the recipe that adds the sharing-aware step size, and the recipe it is compared with
PER_USE_PAIR = ("official-steps-peruse", "official-steps")


def _per_use_reading(table: pd.DataFrame, chosen: str | None) -> str:
    """Whether the sharing-aware step size (``lr_per_use``) helps: the worst-model scores of the two recipes
    of :data:`PER_USE_PAIR`, which differ in it alone, and whether ``chosen`` (the chosen recipe) uses it.
    Empty unless both recipes are scored and neither is refused."""
    rows = table.set_index("recipe").reindex(list(PER_USE_PAIR))
    if rows["score (worst model)"].isna().any() or rows["refused"].fillna(True).astype(bool).any():
        return ""
    (with_it, score_with), (without, score_without) = rows["score (worst model)"].items()
    verb = "raises" if score_with > score_without else "does not raise"
    kept = "uses it" if chosen is not None and CANDIDATE_RECIPES[chosen].get("lr_per_use") else "does not use it"
    return (
        f" The sharing-aware step size {verb} the worst model's score ({with_it} {score_with:.2f} % against "
        f"{without} {score_without:.2f} %); the chosen recipe {kept}."
    )


def protocol_reading(table: pd.DataFrame) -> str:
    """What :func:`protocol_table` says, in words: how far the protocol is, which recipes are refused
    (and why), and the choice with its worst model's score, or why there is none yet."""
    stored = ", ".join(f"{r} {n}" for r, n in zip(table["recipe"], table["runs stored"]))
    text = f"Runs stored per recipe: {stored}."
    refused = table[table["refused"]]
    if not refused.empty:
        reasons = "; ".join(f"{r} ({d})" for r, d in zip(refused["recipe"], refused["diverged"]))
        text += f" Refused (a run diverged): {reasons}."
    complete = bool(table["complete"].all())
    scored = table.dropna(subset=["score (worst model)"])
    if not scored.empty:
        worst = zip(scored["recipe"], scored["worst model"], scored["score (worst model)"])
        lead = " The worst model of each recipe: " if complete else " So far the worst model of each recipe: "
        text += lead + "; ".join(f"{r}: {m} {v:.2f} %" for r, m, v in worst) + "."
    if not complete:
        return text + " No recipe is chosen until every run of every recipe is stored."
    eligible = table[~table["refused"]]
    if eligible.empty:
        return text + " Every recipe is refused: none is chosen, and the study does not run."
    best = eligible.loc[eligible["score (worst model)"].idxmax()]
    text += _per_use_reading(table, str(best["recipe"]))
    score = best["score (worst model)"]
    return (
        f"{text} **Chosen: {best['recipe']}**, whose worst model ({best['worst model']}) reaches {score:.2f} % "
        f"validation top-1 over the last {JUDGED_EPOCHS} epochs."
    )


def _pair_summary(row: pd.Series) -> str:
    """One paired comparison's summary: the mean difference (pp), its t-interval, the exact permutation
    p, and the seeds on each side (columns of :func:`reuseprior.reporting.statistics.paired_summary`)."""
    return (
        f"{row['difference (pp)']:+.2f} points over {int(row['seeds'])} seeds "
        f"({100 * CONFIDENCE:.0f} % {t_interval_text(row['t low'], row['t high'])}, permutation p = "
        f"{p_value_text(row['permutation p'])}; better on {int(row['seeds model better'])}, worse on "
        f"{int(row['seeds against better'])})"
    )


def _shown_verdict(row: pd.Series) -> str:
    """The verdict shown for one pair, in bold, with its reason when it has one (*not comparable*)."""
    reason = str(row["reason"]).strip() if pd.notna(row["reason"]) else ""
    return f"**{row['verdict']}**" + (f" ({reason})" if reason else "")


def study_reading(verdicts: pd.DataFrame, controls: pd.DataFrame, prior: pd.DataFrame) -> str:
    """What the study's tables say, in words (Markdown): per Table 4.2 pair of
    :func:`~reuseprior.chapters.ch4_sharing_training.readings.verdict_table` its paired summary
    (from 2 counting seeds on) beside the thesis's CIFAR-10 difference, and the verdict shown (the
    rule's on the thesis's sign, or *not comparable* with the reason); per control pair of
    :func:`~reuseprior.chapters.ch4_sharing_training.readings.control_table` with 2 counting seeds or
    more the summary alone (the thesis makes no claim about a narrowed B0); and, once a seed counts, the
    models in the order the prior ranks them (PG) beside the order of their mean test top-1
    (:func:`~reuseprior.chapters.ch4_sharing_training.readings.prior_beside_accuracy`). With no pair
    at all it says that nothing is compared yet."""
    lines = []
    for _, row in verdicts.iterrows():
        pair = f"{row['model']} minus {row['against']}"
        if row["seeds"] < 2:
            lines.append(f"- {pair}: verdict {_shown_verdict(row)}.")
            continue
        thesis = row["thesis CIFAR-10 difference (pp)"]
        lines.append(
            f"- {pair}: {_pair_summary(row)}; the thesis's CIFAR-10 difference {thesis:+.1f}; "
            f"verdict {_shown_verdict(row)}."
        )
    for _, row in controls.iterrows():
        if row["seeds"] >= 2:
            lines.append(f"- {row['model']} minus {row['against']} (control, no claim): {_pair_summary(row)}.")
    ranked = prior.dropna(subset=["mean test top-1"])
    if not ranked.empty:
        by_prior = " > ".join(ranked.sort_values(["rank by PG", "model"])["model"])
        by_accuracy = " > ".join(ranked.sort_values(["rank by test top-1", "model"])["model"])
        agree = "the same order" if by_prior == by_accuracy else "a different order"
        lines.append(f"\nThe prior (PG) ranks {by_prior}; the mean test top-1 ranks {by_accuracy}: {agree}.")
    return "\n".join(lines) if lines else "No seed counts yet: nothing to compare."


#: the measurements of ``benchmarks/bench_fit_throughput.py`` on lent GPUs, one JSON file per run
DEVICE_MEASUREMENTS = paths.DATA_DIR / "device"


#: the columns of :func:`device_throughput` that say what was measured
THROUGHPUT_SETTING = ("device", "timm", "recipe", "model", "width", "batch")


def device_throughput(folder: Path = DEVICE_MEASUREMENTS) -> pd.DataFrame:
    """The stored GPU measurements of ``fit``'s training throughput (``bench_fit_throughput.py``), one
    row per measurement file, model, recipe and process count: the device, timm's version ("not
    recorded" where the measurement predates that field), the recipe, model, width, batch, processes,
    images per second (summed over the processes), whether the optimizer updated its tensors one at a
    time, and, for one process, the same model's plain step on that device in that run (milliseconds)
    and ``fit``'s step time divided by it (missing, shown NaN, where a measurement predates the field).
    Empty when no device was lent yet."""
    columns = [*THROUGHPUT_SETTING, "processes", "images/s", "one tensor at a time", "plain step ms", "fit / plain"]
    rows = []
    for path in sorted(Path(folder).glob("fit_throughput_*.json")):
        run = json.loads(path.read_text())
        width_in_name = float(path.stem.split("_w")[-1].split("_b")[0])
        for single in run["single"]:
            setting = {
                "device": run["device"],
                "timm": run.get("timm", "not recorded"),
                "recipe": single["recipe"],
                "model": single["model"],
                "width": single.get("width", width_in_name),
                "batch": single["batch"],
            }
            per_tensor = {"one tensor at a time": single.get("optimizer_one_tensor_at_a_time")}
            baseline = {"plain step ms": single.get("plain_step_ms"), "fit / plain": single.get("fit_to_plain")}
            rows.append({**setting, "processes": 1, "images/s": single["images_per_s"], **per_tensor, **baseline})
            shared = [
                s
                for s in run["shared"]
                if s["model"] == single["model"] and s.get("recipe", single["recipe"]) == single["recipe"]
            ]
            rows.extend(
                {**setting, "processes": s["processes"], "images/s": s["images_per_s_total"], **per_tensor}
                for s in shared
            )
    return pd.DataFrame(rows, columns=columns)


def run_costs(runs: pd.DataFrame) -> pd.DataFrame:
    """What the stored Table 4.2 study runs cost, per machine and model: runs, the median training time
    (seconds of the training loop, evaluation excluded) and training images per second. The time is wall
    time on the machine named, shared with whatever else ran there (a measurement, not a setting)."""
    mine = runs[runs["study"].astype(str).str.startswith("table42-")]
    columns = ["machine", "model", "runs", "median train s", "train images/s"]
    if mine.empty:
        return pd.DataFrame(columns=columns)
    images = mine["train_images"].astype(float) * mine["epochs_completed"].astype(float)
    mine = mine.assign(rate=images / mine["train_time_s"].astype(float))
    grouped = mine.groupby(["machine", "model"], sort=True)
    out = grouped.agg(runs=("seed", "size"), median_s=("train_time_s", "median"), rate=("rate", "median"))
    return out.reset_index().set_axis(columns, axis=1)


#: the stored counts of ``benchmarks/bench_fit_launches.py`` (:func:`count_step_calls` per model)
STEP_CALLS = paths.DATA_DIR / "benchmarks" / "fit_launches_cpu.json"
#: the batch of :func:`count_step_calls` (a count does not depend on it)
COUNTED_BATCH = 8


@dataclass(frozen=True)
class _MeasuredStep:
    """What a step of ``label`` is measured on: the ``gpu`` profile's settings of a recipe at width 1.0,
    random 32 px images (``batches`` batches of :data:`COUNTED_BATCH`), one batch for a plain step."""

    label: str
    config: TrainConfig
    train: GreyAsRGB
    val: GreyAsRGB
    batch: torch.Tensor
    labels: torch.Tensor

    @classmethod
    def of(cls, label: str, recipe: str, batches: int) -> _MeasuredStep:
        settings = recipe_settings(recipe, "gpu")
        plan = make_plan({**settings, "models": (label,), "batch_size": COUNTED_BATCH, "epochs": 1})
        generator = torch.Generator().manual_seed(0)
        images = torch.randn(batches * COUNTED_BATCH, 1, 32, 32, generator=generator)
        labels = torch.randint(0, 10, (batches * COUNTED_BATCH,), generator=generator)
        train, val = GreyAsRGB(images, labels), GreyAsRGB(images[:COUNTED_BATCH], labels[:COUNTED_BATCH])
        batch = images[:COUNTED_BATCH].expand(-1, 3, -1, -1)
        return cls(label, plan.config, train, val, batch, labels[:COUNTED_BATCH])

    def model(self) -> torch.nn.Module:
        """A fresh model, the same weights every time."""
        torch.manual_seed(0)
        return build_experiment_model(self.label, 10, width_mult=1.0, depth_mult=1.0)


def count_step_calls(label: str, recipe: str = "official-steps-peruse") -> dict[str, int]:
    """The ATen calls that do work in one training step of ``label`` at width 1.0 (the ``gpu`` profile's
    settings of ``recipe``), as :mod:`reuseprior.training.step_calls` counts them on the CPU: a plain
    step, and ``fit``'s step with its optimizer updating one tensor at a time (RMSprop-TF on a CPU, and
    on CUDA with timm before 1.0.31) and with multi-tensor calls (CUDA with timm 1.0.31 or later)."""
    step = _MeasuredStep.of(label, recipe, batches=3)
    data = (step.train, step.val, step.config)
    counts = {
        "plain step": plain_step_calls(step.model(), step.batch, step.labels),
        "fit, per-tensor optimizer": fit_step_calls(step.model(), *data, multi_tensor=False),
        "fit, multi-tensor optimizer": fit_step_calls(step.model(), *data, multi_tensor=True),
    }
    return {name: sum(calls.values()) for name, calls in counts.items()}


def step_python_calls(label: str, recipe: str = "official-steps-peruse", steps: int = 3) -> dict[str, float]:
    """Python function calls per training step of ``label`` (the settings of :func:`count_step_calls`),
    over ``steps`` steps, counted with cProfile on the CPU
    (:func:`reuseprior.training.step_calls.plain_step_python_calls` and ``fit_step_python_calls``): a
    plain step, and ``fit``'s with multi-tensor calls. Python that the ATen count does not see."""
    step = _MeasuredStep.of(label, recipe, batches=steps + 4)
    return {
        "plain step": plain_step_python_calls(step.model(), step.batch, step.labels, steps),
        "fit, multi-tensor optimizer": fit_step_python_calls(step.model(), step.train, step.val, step.config, steps),
    }


def step_calls_table(path: Path = STEP_CALLS) -> pd.DataFrame:
    """The stored step counts (:func:`count_step_calls`, one row per model) with each ``fit`` step's
    ratio to the plain step: on a GPU, where these models are launch-bound, the ratio of step times."""
    stored = json.loads(Path(path).read_text())
    table = pd.DataFrame([{"model": row["model"], **row["calls"]} for row in stored["rows"]])
    for column in ("fit, per-tensor optimizer", "fit, multi-tensor optimizer"):
        table[f"{column} / plain"] = table[column] / table["plain step"]
    return table


def python_calls_table(path: Path = STEP_CALLS) -> pd.DataFrame:
    """The stored Python function calls per step (:func:`step_python_calls`, one row per model) with
    ``fit``'s ratio to the plain step: the host's Python that :func:`step_calls_table` does not see."""
    stored = json.loads(Path(path).read_text())
    table = pd.DataFrame([{"model": row["model"], **row["python_calls"]} for row in stored["rows"]])
    table["fit, multi-tensor optimizer / plain"] = table["fit, multi-tensor optimizer"] / table["plain step"]
    return table
