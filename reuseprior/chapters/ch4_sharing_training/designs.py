"""Chapter 4's study designs: what every trained study is declared from, below the code that runs
or reads it (so that its declarations, :mod:`.real_study`, :mod:`.recipe_probes`, :mod:`.fit_study`,
:mod:`.table42_study` and :mod:`.confirmatory`, import none of each other).

* the stored rows: :data:`STORED_RUNS` (one row per run, :data:`STORED_COLUMNS`, read by
  :func:`read_runs`), :data:`LINEAR_FLOOR`, and :class:`TrainingDesign` (every model trained once per
  seed with a section 4.5.4 profile; what :func:`.runs.training_study` declares as a study);
* when a run counts (:func:`criteria_table`, the studies' ``criteria``: those of
  :mod:`reuseprior.training.convergence` against the seed's linear floor);
* the width-0.25 study and the live slice (:data:`CPU_DESIGN`, :data:`LIVE_SLICE_DESIGN`), Table 4.2's
  pairs (:data:`PAIRS`);
* the recipe probes' base and recipes (:data:`PROBE_BASE`, :data:`PROBE_RECIPES`), the fit study's
  (:data:`FIT_DESIGN`: the probed recipe :data:`FIT_RECIPE` for every model and the narrowed B0,
  :data:`NARROW_CONTROL`, :data:`CONTROL_PAIRS`);
* the Table 4.2 study's models, seeds, candidate recipes and profiles (:data:`STUDY_MODELS`,
  :data:`PROTOCOL_SEEDS`, :data:`STUDY_SEEDS`, :data:`CANDIDATE_RECIPES`, :data:`STUDY_PROFILES`,
  :func:`recipe_settings`; the policy: :mod:`.table42_study`);
* the confirmatory study's family and its Bonferroni level (:data:`FAMILY`, :data:`FAMILY_ALPHA`; the
  policy: :mod:`.confirmatory`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from reuseprior.chapters.ch4_sharing_training.configs import (
    OFFICIAL_END_FRACTION,
    PROFILES,
    RESULT_KINDS,
    TABLE_4_2_MODELS,
    SharingTrainingProfile,
)
from reuseprior.core import paths
from reuseprior.core.study import read_csv_or_empty
from reuseprior.core.verdict_policy import ALPHA
from reuseprior.reporting.verdicts import Comparison
from reuseprior.training.convergence import read_history, run_criteria

STORED_RUNS = paths.DATA_DIR / "ch4_real_study_runs.csv"
#: the linear floors of the studies' images (:data:`.runs.FLOORS`), tracked
LINEAR_FLOOR = paths.DATA_DIR / "ch4_real_study_linear_floor.csv"
WORK_DIR = paths.BUILD_DIR / "ch4_real_study"
#: the stored columns: identity, settings, what a rerun reproduces and two measurements (time, memory)
STORED_COLUMNS: tuple[str, ...] = (
    "study", "plan", "model", "seed", "variant", "sharing", "dataset", "width_mult", "depth_mult", "image_size",
    "epochs", "epochs_completed", "status", "batch_size", "lr_peak", "optimizer", "params", "flops",
    "top1_val", "top1_test", "val_loss_initial", "val_loss_final", "train_loss_first_epoch",
    "train_loss_last_epoch", "train_images", "validation_split", "train_time_s", "peak_memory_mb", "torch_version",
    "ema_decay", "lr_warmup_steps", "lr_decay_epochs", "grad_clip", "train_top1_last_epoch", "epoch_history",
    "train_top1_eval", "machine",
)  # fmt: skip


@dataclass(frozen=True)
class TrainingDesign:
    """Every model of ``models`` trained once per seed with ``settings`` (a section 4.5.4 profile)."""

    name: str
    models: tuple[str, ...]
    seeds: tuple[int, ...]
    settings: SharingTrainingProfile

    def runs(self) -> tuple[dict[str, Any], ...]:
        """Seed-major order: after k seeds every model has k runs."""
        return tuple({"study": self.name, "model": model, "seed": seed} for seed in self.seeds for model in self.models)

    def plan_settings(self) -> dict[str, Any]:
        """The settings the plan id hashes (models and seeds aside; the settings of
        :data:`_SETTINGS_ADDED_LATER` only where they differ from the value the stored runs had)."""
        return {
            k: v
            for k, v in dict(self.settings).items()
            if k not in _SETTINGS_ADDED_LATER or _SETTINGS_ADDED_LATER[k] != v
        }


#: settings that joined the profiles after runs were stored, with the value those runs had: a
#: setting at that value is left out of the plan's hash, so the stored runs keep their plan id
_SETTINGS_ADDED_LATER = {
    "precision": "float32",
    "lr_warmup_steps": None,
    "lr_end_fraction": None,
    "schedule_epochs": None,
    "grad_clip": None,
    "stochastic_depth": None,
    "lr_per_use": False,
    "lr_schedule": None,
    "weight_decay": None,
}


def read_runs(path: str | Path = STORED_RUNS) -> pd.DataFrame:
    """Every stored row of the runs file ``path`` (an empty frame of :data:`STORED_COLUMNS` when there is none)."""
    return read_csv_or_empty(Path(path), STORED_COLUMNS, RESULT_KINDS)


# ------------------------------------------------------------------- the width-0.25 study and the live slice

#: Fashion-MNIST at 32 px (3 channels, the official (x-128)/128 scale), 5,000
#: training images (the first after a seeded 10 % of the 60,000 is held out
#: for validation), width
#: 0.25 and full depth, 10 epochs, batch 128, TensorFlow 1's RMSprop, the
#: recipe's learning rate (0.016 per 256 images), BN momentum 0.9 (TensorFlow's
#: convention), three seeds.
CPU_DESIGN = TrainingDesign(
    name="fashion-mnist-w025",
    models=TABLE_4_2_MODELS,
    seeds=(0, 1, 2),
    settings=replace(
        PROFILES["quick"],
        dataset="fashion-mnist",
        width_mult=0.25,
        depth_mult=1.0,
        image_size=32,
        epochs=10,
        batch_size=128,
        lr_base=0.016,
        lr_warmup_epochs=1.0,
        train_limit=5000,
        validation_split=0.1,
        # section 4.5.4's 0.99 averages the BN statistics over ~100 steps; a 390-step run evaluated with
        # them is near chance until its last epochs (measured), so the study uses 0.9 (~10 steps)
        bn_momentum_tf=0.9,
        optimizer="rmsprop_tf",
        resume=True,
        append_results=True,
        precision="float32",  # the thesis's precision; the stored rows depend on the CPU's kernels
    ),
)
#: the live slice: V2-B0-original at the study's width, seed 0, two epochs on 2,000 images at batch 32
#: (125 steps, enough to learn: about 55 % validation top-1 after them), in **float64** so that a run that
#: learns is the same run on every CPU (float32 training this early moves by points between kernel sets)
LIVE_SLICE_DESIGN = replace(
    CPU_DESIGN,
    name="live-slice",
    models=("V2-B0-original",),
    seeds=(0,),
    settings=replace(
        CPU_DESIGN.settings, epochs=2, train_limit=2000, batch_size=32, lr_warmup_epochs=0.2, precision="float64"
    ),
)

#: the comparisons of Table 4.2's claim: each shared model against the original B0
PAIRS: tuple[tuple[str, str], ...] = (("V2-S-shared", "V2-B0-original"), ("V2-B0-shared", "V2-B0-original"))

# ------------------------------------------------------------------------------------- when a run counts

#: the columns of :func:`criteria_table`
CRITERIA_COLUMNS: tuple[str, ...] = (
    "model", "seed", "params", "test top-1", "floor test top-1", "train top-1", "floor train top-1",
    "val gain last 3 epochs (pp)", "plateaued", "fits training set", "above floor", "counts",
)  # fmt: skip


def criteria_table(runs: pd.DataFrame, floor: pd.DataFrame) -> pd.DataFrame:
    """Per stored run (``runs``: rows of :func:`read_runs`): the
    criteria of :func:`~reuseprior.training.convergence.run_criteria` against its seed's ``floor`` row
    (the study's :meth:`~reuseprior.core.study.StudySpec.floor_rows`), the fit judged by the eval-mode
    training top-1 where stored, and the values they read. A run whose seed has no floor row is refused,
    naming the seeds and the command that computes their floors."""
    by_seed = floor.set_index("seed")
    missing = sorted(set(runs["seed"].astype(int)) - set(by_seed.index.astype(int)))
    if missing:
        raise ValueError(
            f"stored runs of seed(s) {missing} have no linear floor to be judged against: compute it with "
            "the study's floor action (python -m reuseprior study NAME floor; study --list names the studies)"
        )
    rows = []
    for _, row in runs.iterrows():
        seed = int(row["seed"])
        seed_floor = {"train_top1": by_seed.loc[seed, "top1_train"], "test_top1": by_seed.loc[seed, "top1_test"]}
        c = run_criteria(
            read_history(row["epoch_history"]),
            float(row["top1_test"]),
            seed_floor,
            train_top1=row.get("train_top1_eval"),
        )
        rows.append(
            {
                "model": row["model"],
                "seed": seed,
                "params": int(row["params"]),
                "test top-1": row["top1_test"],
                "floor test top-1": seed_floor["test_top1"],
                "train top-1": c.train_top1,
                "floor train top-1": seed_floor["train_top1"],
                "val gain last 3 epochs (pp)": c.val_gain_last_window_pp,
                "plateaued": c.plateaued,
                "fits training set": c.fits_training_set,
                "above floor": c.above_floor,
                "counts": c.counts,
            }
        )
    return pd.DataFrame(rows, columns=list(CRITERIA_COLUMNS))


# ------------------------------------------------------------------------ the recipe probes and the fit study

#: the epochs of the schedule every probe is the beginning of, and the epochs a probe trains
SCHEDULE_EPOCHS = 30
PROBE_EPOCHS = 5
#: the study's recipe at the thesis's width, as the probes' common base
PROBE_BASE = replace(
    CPU_DESIGN.settings,
    width_mult=1.0,
    epochs=PROBE_EPOCHS,
    schedule_epochs=SCHEDULE_EPOCHS,
    lr_end_fraction=OFFICIAL_END_FRACTION,
    ema_decay=0.9999,
)
#: the probed recipes, most promising first: warm-up in optimisation steps (39 = one epoch of 5,000
#: images at batch 128; 117 = three, a tenth of the 30-epoch schedule) and the peak rate (lr_base
#: 0.016 per 256 images = 0.008 at batch 128, the recipe's; 0.004 = a quarter of it); a "w0.5" recipe
#: also halves the width (the models are then smaller than Table 4.2's, which its rows say). Keys name
#: the stored study (file-name safe).
PROBE_RECIPES: dict[str, dict[str, object]] = {
    "lr0.004-warmup117": {"lr_base": 0.004, "lr_warmup_steps": 117},
    "lr0.016-warmup117": {"lr_base": 0.016, "lr_warmup_steps": 117},
    # the two stored probes left V2-S-shared at chance for three epochs; with every block of a stage tied,
    # randomly dropped blocks (stochastic depth, up to 0.2) change a shared stage's output far more than an
    # unshared one's, so the next probe removes it
    "lr0.004-warmup117-nodroppath": {"lr_base": 0.004, "lr_warmup_steps": 117, "stochastic_depth": 0.0},
    # the fallback: at half the width (a quarter of the cost) does the study's own recipe, or the
    # gentler one, train V2-S-shared? (width 0.25 underfits: about 75 % training top-1 after 30 epochs)
    "w0.5-lr0.016-warmup39": {"width_mult": 0.5, "lr_base": 0.016, "lr_warmup_steps": 39},
    "w0.5-lr0.004-warmup117": {"width_mult": 0.5, "lr_base": 0.004, "lr_warmup_steps": 117},
    "lr0.004-warmup39": {"lr_base": 0.004, "lr_warmup_steps": 39},
    "lr0.016-warmup39": {"lr_base": 0.016, "lr_warmup_steps": 39},  # the width-0.25 study's recipe
    # the 30-epoch fit check of "w0.5-lr0.016-warmup39" left V2-S-shared at a training loss of 1.05 (75 %
    # training top-1), as width 0.25 did: is it stochastic depth through the tied blocks that keeps it there?
    "w0.5-lr0.016-warmup39-nodroppath": {
        "width_mult": 0.5,
        "lr_base": 0.016,
        "lr_warmup_steps": 39,
        "stochastic_depth": 0.0,
    },
    # without it, 80 % training top-1 after 30 epochs, still short of the floor's 94 %: does a schedule twice
    # as long (the decay stretched over 60 epochs) let it fit?
    "w0.5-lr0.016-warmup39-nodroppath-60": {
        "width_mult": 0.5,
        "lr_base": 0.016,
        "lr_warmup_steps": 39,
        "stochastic_depth": 0.0,
        "schedule_epochs": 60,
    },
    # neither a longer schedule nor dropping stochastic depth lets it fit. Under RMSprop every element of
    # a tensor steps about lr per update whatever its gradient's size, and a convolution tied at k sites
    # takes that step at all k of them: the sharing-aware step size divides each tensor's rate by its
    # uses (TrainConfig.lr_per_use; a listed departure, the identity for an untied model)
    "w0.5-lr0.016-warmup39-peruse": {"width_mult": 0.5, "lr_base": 0.016, "lr_warmup_steps": 39, "lr_per_use": True},
    "w0.5-lr0.016-warmup39-nodroppath-peruse": {
        "width_mult": 0.5,
        "lr_base": 0.016,
        "lr_warmup_steps": 39,
        "stochastic_depth": 0.0,
        "lr_per_use": True,
    },
}


def whole_schedule(settings: SharingTrainingProfile) -> SharingTrainingProfile:
    """``settings`` run for every epoch of the schedule they are laid out for."""
    return replace(settings, epochs=settings.schedule_epochs)


#: the fit check whose recipe the study uses (:data:`.recipe_probes.FIT_CHECK_RECIPES`, :data:`PROBE_RECIPES`)
FIT_RECIPE = "w0.5-lr0.016-warmup39-peruse"
#: the unshared B0 narrowed to V2-S-shared's parameter count
NARROW_CONTROL = "V2-B0-narrow"

#: the fit study (:mod:`.fit_study`): the fit check of :data:`FIT_RECIPE` (the probe base under that recipe,
#: for the whole schedule) for every model of Table 4.2 and the narrowed B0, six seeds
FIT_DESIGN = TrainingDesign(
    name="fashion-mnist-w05-peruse",
    models=(*TABLE_4_2_MODELS, NARROW_CONTROL),
    seeds=tuple(range(6)),
    settings=whole_schedule(replace(PROBE_BASE, **PROBE_RECIPES[FIT_RECIPE])),
)

#: the control comparisons (not Table 4.2's, so no thesis direction and no verdict): each shared model
#: against the unshared B0 of V2-S-shared's parameter count
CONTROL_PAIRS: tuple[tuple[str, str], ...] = (("V2-S-shared", NARROW_CONTROL), ("V2-B0-shared", NARROW_CONTROL))

# ------------------------------------------------------------------------------------ the Table 4.2 study

#: Table 4.2's models and the parameter-matched unshared B0
STUDY_MODELS: tuple[str, ...] = (*TABLE_4_2_MODELS, "V2-B0-narrow")
#: seeds of the recipe protocol, and of the decisive study (its first two are the protocol's)
PROTOCOL_SEEDS: tuple[int, ...] = (0, 1)
STUDY_SEEDS: tuple[int, ...] = tuple(range(8))
#: the official warm-up (5 epochs of 50,000 images at batch 512), counted in optimisation steps
WARMUP_STEPS = 490

#: training images of the CPU study (the first of the seed's 54,000 after the held-out 10 %)
CPU_TRAIN_IMAGES = 20_000

_OFFICIAL = {
    "optimizer": "rmsprop_tf",
    "lr_base": 0.016,
    "lr_warmup_steps": WARMUP_STEPS,
    "lr_end_fraction": OFFICIAL_END_FRACTION,
}
#: the candidate recipes of the protocol (:mod:`.table42_study`), in order of preference on a tie
CANDIDATE_RECIPES: dict[str, dict[str, object]] = {
    "official-steps": dict(_OFFICIAL),
    "official-steps-peruse": {**_OFFICIAL, "lr_per_use": True},
    "adamw-cosine": {
        "optimizer": "adamw",
        "lr_base": 0.001,
        "lr_warmup_steps": WARMUP_STEPS,
        "lr_schedule": "cosine",
        "weight_decay": 0.05,
        "grad_clip": 1.0,
    },
}


@dataclass(frozen=True)
class StudyProfile:
    """Where a protocol and its study run: the model width, the training images (None: all 54,000 left
    after the seeded 10 % validation split), the batch, the epochs and the device it is meant for."""

    name: str
    width_mult: float
    train_limit: int | None
    batch_size: int
    epochs: int
    device: str


STUDY_PROFILES: dict[str, StudyProfile] = {
    "cpu": StudyProfile("cpu", width_mult=0.5, train_limit=CPU_TRAIN_IMAGES, batch_size=128, epochs=20, device="cpu"),
    "gpu": StudyProfile("gpu", width_mult=1.0, train_limit=None, batch_size=512, epochs=30, device="cuda"),
}


def recipe_settings(recipe: str, profile: str = "cpu") -> SharingTrainingProfile:
    """The chapter-4 settings of ``recipe`` (a key of :data:`CANDIDATE_RECIPES`) on ``profile`` (a key of
    :data:`STUDY_PROFILES`): what the study's runs of that recipe train with."""
    if recipe not in CANDIDATE_RECIPES:
        raise ValueError(f"recipe {recipe!r} is not a candidate; choose one of {list(CANDIDATE_RECIPES)}")
    if profile not in STUDY_PROFILES:
        raise ValueError(f"profile {profile!r} is not one of {list(STUDY_PROFILES)}")
    sizes = STUDY_PROFILES[profile]
    base = replace(
        CPU_DESIGN.settings,
        width_mult=sizes.width_mult,
        train_limit=sizes.train_limit,
        batch_size=sizes.batch_size,
        epochs=sizes.epochs,
        ema_decay=0.9999,
        lr_warmup_epochs=0.0,
    )
    return replace(base, **CANDIDATE_RECIPES[recipe])


# ------------------------------------------------------------------------------- the confirmatory study

#: the family judged, in order: Table 4.2's two differences (the thesis's CIFAR-10 signs), then the controls
FAMILY: tuple[Comparison, ...] = (
    Comparison("V2-S-shared", "V2-B0-original", "greater"),
    Comparison("V2-B0-shared", "V2-B0-original", "less"),
    Comparison("V2-S-shared", NARROW_CONTROL, "greater"),
    Comparison("V2-B0-shared", NARROW_CONTROL, "greater"),
)
#: the Bonferroni level of each comparison of :data:`FAMILY`
FAMILY_ALPHA = ALPHA / len(FAMILY)
