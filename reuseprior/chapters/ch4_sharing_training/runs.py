"""Section 4.5.4's training runs: one run of a model (:func:`train_model`, its results row), the run
log of a plan's runs (:func:`run_experiments`, a :class:`reuseprior.core.study.RunStore` that keeps every
attempt), and a study's runs: a :class:`.designs.TrainingDesign` declared as a
:class:`~reuseprior.core.study.StudySpec` (:func:`training_study`), one run of it (:func:`train_run`),
the linear floor of a seed's images (:func:`floor_row`, stored in :data:`FLOORS`), the criteria of a
study's stored runs (:func:`stored_criteria`) and the live slice retrained (:func:`retrain_live_slice`, judged by
:func:`slice_rules`; :func:`check_live_slice`, a study's live check)."""

from __future__ import annotations

import datetime as _dt
import math
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Mapping

import pandas as pd
import torch

from reuseprior.chapters import study_command
from reuseprior.chapters.ch4_sharing_training.architecture import build_experiment_model, nominal_macs
from reuseprior.chapters.ch4_sharing_training.configs import (
    LATER_COLUMNS,
    MEASURED_COLUMNS,
    MODELS,
    NOMINAL_RESOLUTION,
    RESULT_COLUMNS,
    RESULT_KINDS,
    ModelSpec,
    SharingTrainingProfile,
)
from reuseprior.chapters.ch4_sharing_training.data import plan_splits
from reuseprior.chapters.ch4_sharing_training.designs import (
    LINEAR_FLOOR,
    LIVE_SLICE_DESIGN,
    STORED_COLUMNS,
    STORED_RUNS,
    WORK_DIR,
    TrainingDesign,
    criteria_table,
)
from reuseprior.chapters.ch4_sharing_training.plan import ExperimentPlan, make_plan
from reuseprior.core import paths
from reuseprior.core.parameters import count_parameters
from reuseprior.core.precision import default_dtype
from reuseprior.core.runtime import set_seed
from reuseprior.core.stored_rows import ColumnKinds, read_stored_csv
from reuseprior.core.study import FloorStore, LiveCheck, RunStore, StudyRequest, StudySpec, checked_runs, stored_runs
from reuseprior.reporting.digits import round_residuals
from reuseprior.training import convergence
from reuseprior.training.convergence import history_json
from reuseprior.training.loop import TrainingInterrupted, amp_active, count_flops, discard_checkpoint, fit


def default_results_csv() -> Path:
    """Where the run log goes unless told otherwise:
    ``build/measured/ch4_sharing_training/results.csv`` (the folder of
    ``ctx.save_measurement``; ``$REUSEPRIOR_MEASURED_DIR`` redirects it).
    Untracked: the log carries timings, memory and local file names."""
    base = Path(os.environ.get(paths.MEASURED_ENV_VAR, paths.BUILD_DIR / "measured"))
    return base / "ch4_sharing_training" / "results.csv"


def portable_path(path: str | os.PathLike | None) -> str | None:
    """``path`` relative to the repository root when it lies inside it (so
    that the log names no machine-specific folder), else absolute."""
    if path is None:
        return None
    p = Path(path).resolve()
    try:
        return p.relative_to(paths.ROOT.resolve()).as_posix()
    except ValueError:
        return str(p)


def resolve_portable_path(path: str) -> Path:
    """Inverse of :func:`portable_path`: relative paths are under the repository root."""
    p = Path(path)
    return p if p.is_absolute() else paths.ROOT / p


#: losses of the run log, kept to :data:`LOSS_DECIMALS` in tracked tables
LOSS_COLUMNS = ("val_loss_initial", "val_loss_final", "train_loss_first_epoch", "train_loss_last_epoch")
#: float64 quick runs reproduce their losses on other CPU kernels to about 3e-6 (measured: the chaotic
#: V2-S-shared's final validation loss after three epochs; the B0 models to every stored digit), so
#: tracked tables keep 4 decimals of a loss: the digits every machine computes
LOSS_DECIMALS = 4


def tracked_results(results: pd.DataFrame) -> pd.DataFrame:
    """The run log without :data:`MEASURED_COLUMNS`, its :data:`LOSS_COLUMNS`
    rounded to :data:`LOSS_DECIMALS`: every value a rerun with the same
    software and seed reproduces on any CPU (the ``results`` table of figures/)."""
    tracked = results.drop(columns=[c for c in MEASURED_COLUMNS if c in results.columns]).reset_index(drop=True)
    return round_residuals(tracked, [c for c in LOSS_COLUMNS if c in tracked.columns], LOSS_DECIMALS)


def cost_table(results: pd.DataFrame) -> pd.DataFrame:
    """Cost of each run (a measurement, for ``ctx.save_measurement``):
    training throughput (images/s over the training loop), wall time, peak
    memory and what that peak is (``peak_memory_kind``), beside the counted
    params and FLOPs."""
    cols = [
        "model",
        "dataset",
        "device",
        "params",
        "flops",
        "flops_resolution",
        "train_images_per_s",
        "train_time_s",
        "peak_memory_mb",
        "peak_memory_kind",
    ]
    return results[cols].reset_index(drop=True)


def data_caption(plan: ExperimentPlan, seed: int, train_images: int | None = None) -> str:
    """The caption line of a training figure (Table 4.2 runs): which data
    (and how many training images), resolution, model scale, epochs, batch,
    augmentation, profile and seed."""
    r, c = plan.recipe, plan.config
    sizes = {plan.sizes(MODELS[label].variant) for label in plan.models}
    if len(sizes) == 1 and len({*next(iter(sizes))}) == 1:
        side = next(iter(sizes))[0]
        resolution = f"{side}x{side}"
    else:
        resolution = ", ".join(
            f"{label} {'/'.join(str(s) for s in plan.sizes(MODELS[label].variant))} px (train/eval)"
            for label in plan.models
        )
    if r.dataset == "digits":
        data = f"scikit-learn 8x8 handwritten digits upsampled to {resolution}"
    elif r.grey:
        data = f"{r.label} (28x28 grey, resampled to {resolution}, 3 channels; an analogue of CIFAR-10)"
    elif r.dataset == "imagenet":
        data = f"ImageNet-1K (image folder) at {resolution}"
    else:
        data = f"{r.label} (torchvision) at {resolution}"
    if train_images is not None:
        data += f", {int(train_images)} training images"
    scale = (
        "paper-scale EfficientNetV2"
        if plan.width_mult == 1.0 and plan.depth_mult == 1.0
        else f"EfficientNetV2 scaled down (width x{plan.width_mult:g}, depth x{plan.depth_mult:g})"
    )
    return (
        f"data: {data}; {scale}, {c.epochs} epochs, batch {c.batch_size}, "
        f"augmentation {r.augmentation}; profile {plan.profile!r}, seed {seed}"
    )


def read_results(path: str | os.PathLike) -> pd.DataFrame:
    """The results CSV (empty frame with :data:`RESULT_COLUMNS` if absent);
    the :data:`LATER_COLUMNS` an older log lacks are added, empty."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=list(RESULT_COLUMNS))
    df = read_stored_csv(path, RESULT_KINDS)
    unknown = [c for c in RESULT_COLUMNS if c not in df.columns and c not in LATER_COLUMNS]
    if unknown:
        raise ValueError(f"{path} is not a sharing-training results file (missing columns {unknown})")
    for column in LATER_COLUMNS:  # a log written before these columns existed: empty there
        if column not in df.columns:
            df[column] = pd.NA
    return df[[*RESULT_COLUMNS, *(c for c in df.columns if c not in RESULT_COLUMNS)]]


def results_store(path: str | os.PathLike) -> RunStore:
    """The run log as a :class:`~reuseprior.core.study.RunStore`: every attempt
    appended (an interrupted run's partial row too), one row per ``run_id`` and attempt."""
    return RunStore(
        Path(path),
        key=("run_id",),
        plan_column="profile",
        columns=RESULT_COLUMNS,
        read=read_results,
        kinds={"runs": RESULT_KINDS},
        row_key=None,
    )


def _row(
    plan: ExperimentPlan,
    spec: ModelSpec,
    res,
    *,
    run_id: str,
    seed: int,
    device: torch.device,
    image_size: int,
    eval_image_size: int,
    flops: int,
    macs_nominal: float,
    train_images: int,
) -> dict[str, Any]:
    c = plan.config
    return {
        "run_id": run_id,
        "profile": plan.profile,
        "model": spec.label,
        "variant": spec.variant,
        "sharing": spec.sharing or "none",
        "dataset": plan.recipe.dataset,
        "dataset_label": plan.recipe.label,
        "augmentation": plan.recipe.augmentation,
        "width_mult": plan.width_mult,
        "depth_mult": plan.depth_mult,
        "image_size": image_size,
        "eval_image_size": eval_image_size,
        "epochs": c.epochs,
        "epochs_completed": res.epochs_completed,
        "status": res.status,
        "batch_size": c.batch_size,
        "lr_base": c.lr_base,
        "lr_peak": c.peak_lr,
        "ema_decay": c.ema_decay,
        "optimizer": c.optimizer,
        "seed": seed,
        "device": str(device),
        "machine": res.machine,
        "amp": amp_active(c.amp, device),  # what the run used: mixed precision only on CUDA
        "params": res.params,
        "flops": flops,
        "flops_resolution": image_size,
        "macs_nominal": macs_nominal,
        "nominal_resolution": NOMINAL_RESOLUTION[spec.variant],
        "top1_val": res.val_top1,
        "top1_test": res.test_top1,
        "val_loss_initial": res.initial_val_loss,
        "val_loss_final": res.val_loss,
        "train_loss_first_epoch": res.first_train_loss,
        "train_loss_last_epoch": res.final_train_loss,
        "train_images_per_s": res.train_images_per_s,
        "train_time_s": res.train_time_s,
        "peak_memory_mb": res.peak_memory_bytes / 2**20,
        "peak_memory_kind": res.peak_memory_kind,
        "train_images": train_images,
        "validation_split": plan.validation_split if plan.validation_split is not None else 0.0,
        "checkpoint": portable_path(res.checkpoint_path),
        "finished_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "torch_version": torch.__version__,
        "lr_warmup_steps": round(c.lr_warmup_epochs * (train_images // c.batch_size)),
        "lr_decay_epochs": c.lr_decay_epochs,
        "grad_clip": c.grad_clip,
        "train_top1_last_epoch": res.history[-1]["train_top1"] if len(res.history) > 1 else math.nan,
        "train_top1_eval": res.train_top1_eval,
        "epoch_history": history_json(res.history),
    }


def run_experiments(
    plan: ExperimentPlan,
    *,
    device: torch.device | str = "cpu",
    seed: int = 0,
    results_csv: str | os.PathLike | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    progress: bool = True,
    deadline: float | None = None,
) -> pd.DataFrame:
    """Train every model of ``plan`` (:func:`train_model`) and append one row per run to the run
    log ``results_csv`` (default :func:`default_results_csv`; rewritten atomically after each run).
    Returns all rows of the file. The log's ``checkpoint`` column is relative to the repository root
    when the checkpoint lies inside it. Ctrl-C writes the partial row (``status="interrupted"``)
    before re-raising, so finished runs and the partial one are kept. Past ``deadline`` (a
    :func:`time.time`) a run stops at its next epoch boundary (``status="stopped"``, checkpointed)
    and the models after it are not started."""
    log = results_store(Path(results_csv) if results_csv is not None else default_results_csv())
    if not plan.append_results and log.path.exists():
        log.path.unlink()
    df = read_results(log.path)
    for label in plan.models:
        if deadline is not None and time.time() > deadline:
            break
        row = train_model(
            plan,
            MODELS[label],
            device=device,
            seed=seed,
            checkpoint_dir=checkpoint_dir,
            progress=progress,
            deadline=deadline,
            on_interrupt=log.append,
        )
        df = log.append(row)
    return df


def train_model(
    plan: ExperimentPlan,
    spec: ModelSpec,
    *,
    device: torch.device | str = "cpu",
    seed: int = 0,
    checkpoint_dir: str | os.PathLike | None = None,
    progress: bool = True,
    deadline: float | None = None,
    on_interrupt: Callable[[dict[str, Any]], Any] | None = None,
) -> dict[str, Any]:
    """One training run of ``plan`` (model ``spec``, run seed ``seed``) in the plan's precision and
    threads; its results row (:data:`RESULT_COLUMNS`). It checkpoints every epoch to
    ``<checkpoint_dir>/<run_id>.pt`` (default under ``build/checkpoints/``) and, with
    ``plan.resume``, continues from it; past ``deadline`` it stops at an epoch boundary
    (``status="stopped"``). Ctrl-C gives the partial row to ``on_interrupt`` before re-raising."""
    device = torch.device(device)
    plan = replace(plan, config=replace(plan.config, seed=seed))
    ckpt_dir = (
        Path(checkpoint_dir) if checkpoint_dir is not None else paths.BUILD_DIR / "checkpoints" / "ch4_sharing_training"
    )
    run_id = f"{plan.profile}-{plan.recipe.dataset}-{spec.label}-w{plan.width_mult:g}-d{plan.depth_mult:g}-s{seed}"
    ckpt = ckpt_dir / f"{run_id}.pt"
    if not plan.resume:
        discard_checkpoint(ckpt)  # ours only: another file there is refused, not deleted
    threads_before = torch.get_num_threads()
    if plan.torch_threads is not None:
        torch.set_num_threads(plan.torch_threads)
    try:
        with default_dtype(plan.precision):
            model, splits, measured = _prepared(plan, spec, run_id=run_id, seed=seed, device=device)
            try:
                res = fit(
                    model,
                    splits.train,
                    splits.val,
                    plan.config,
                    device=device,
                    test_set=splits.test,
                    fit_set=splits.train if plan.recipe.grey else None,  # grey images are trained on unaugmented
                    checkpoint_path=ckpt,
                    resume=plan.resume,
                    progress=progress,
                    description=spec.label,
                    deadline=deadline,
                )
            except TrainingInterrupted as stop:
                if on_interrupt is not None:
                    on_interrupt(_row(plan, spec, stop.result, **measured))  # partial results are kept
                raise
    finally:
        torch.set_num_threads(threads_before)
    return _row(plan, spec, res, **measured)


def _prepared(
    plan: ExperimentPlan, spec: ModelSpec, *, run_id: str, seed: int, device: torch.device
) -> tuple[torch.nn.Module, Any, dict[str, Any]]:
    """The model of one run (seeded: the same initialisation whether or not the run resumes), its data
    and what its row records besides the training result. Policy: a run draws only from the generators
    its seed sets here, so its numbers do not depend on what its process ran before; what its row
    measures (FLOPs) leaves those generators as it found them."""
    splits, image_size, eval_image_size = plan_splits(plan, spec.variant, seed)
    model = _seeded_model(plan, spec, seed)
    with torch.random.fork_rng(devices=[]):  # measuring draws nothing from the run's seeded stream
        flops = count_flops(model, (3, image_size, image_size))
        macs_nominal = nominal_macs(
            spec.variant,
            plan.recipe.num_classes,
            width_mult=plan.width_mult * spec.width_scale,
            depth_mult=plan.depth_mult,
        )
    measured = dict(
        run_id=run_id,
        seed=seed,
        device=device,
        image_size=image_size,
        eval_image_size=eval_image_size,
        flops=flops,
        macs_nominal=macs_nominal,
        train_images=len(splits.train),
    )
    return model, splits, measured


def _seeded_model(plan: ExperimentPlan, spec: ModelSpec, seed: int) -> torch.nn.Module:
    """The model of one run of ``plan``, initialised from ``seed`` (the global generators set first)."""
    set_seed(seed)
    return build_experiment_model(
        spec,
        plan.recipe.num_classes,
        width_mult=plan.width_mult,
        depth_mult=plan.depth_mult,
        dropout=plan.recipe.dropout,
        stochastic_depth=plan.stochastic_depth,
    )


# ------------------------------------------------------------------------------------ a study's runs


def training_study(
    design: TrainingDesign, path: str | Path = STORED_RUNS, *, floor: bool = False, live: bool = False
) -> StudySpec:
    """``design`` declared as a study of :mod:`reuseprior.core.study`: one run per (model, seed), seed-major,
    trained by :func:`train_run` and stored in ``path`` (one row per (study, model, seed) of a plan); with
    ``floor``, read against the linear floor of each seed's images (:data:`FLOORS`) by its criteria
    (:func:`stored_criteria`); with ``live``, checked by retraining the live slice (:func:`check_live_slice`)."""
    store = RunStore(
        Path(path),
        key=("study", "model", "seed"),
        name_column="study",
        columns=STORED_COLUMNS,
        kinds={"runs": RESULT_KINDS},
    )
    return StudySpec.of(
        design,
        run_one=train_run,
        store=store,
        floor=FLOORS if floor else None,
        criteria=stored_criteria if floor else None,
        floor_keys=tuple({"study": design.name, "seed": s} for s in design.seeds) if floor else (),
        live_check=check_live_slice if live else None,
        status_by=("model",),
    )


def _model_settings(spec: StudySpec, model: str, data_dir: str | Path | None) -> SharingTrainingProfile:
    """The design's training settings of ``spec`` for ``model`` alone, its images read from ``data_dir``
    (None: the design's folder). Where the files are is no part of the plan: ``spec.plan`` hashes the
    design's settings, never these."""
    settings = replace(spec.design.settings, models=(model,))
    return settings if data_dir is None else replace(settings, data_dir=str(data_dir))


def train_run(
    *,
    study: str,
    model: str,
    seed: int,
    spec: StudySpec,
    work_dir: Path | None = None,
    data_dir: Path | None = None,
    progress: bool = False,
    device: str = "cpu",
    deadline: float | None = None,
) -> dict | None:
    """Train one (model, seed) of ``spec`` (named ``study``) on ``device``, resumed from its checkpoint (under
    ``work_dir``, default :data:`.designs.WORK_DIR`) if one exists, its images read from
    ``data_dir`` (default: the design's, the datasets folder :data:`~reuseprior.core.paths.DATASETS_DIR`;
    where the files are is no part of the plan); returns its row
    (:data:`STORED_COLUMNS`, ``machine`` naming the device), or None when ``deadline`` stopped it first
    (its checkpoint is kept for the next call). A run that starts after ``deadline`` returns None at once,
    before its images are loaded and its model built (a cluster's later tasks, on a machine lent by the
    minute, would otherwise spend it preparing runs that stop before their first epoch)."""
    if study != spec.name:
        raise ValueError(f"a run of study {study!r} given to {spec.name!r}")
    if deadline is not None and time.time() >= deadline:
        return None
    plan = make_plan(_model_settings(spec, model, data_dir), profile=f"{spec.name}-{spec.plan}", seed=seed)
    checkpoints = Path(work_dir or WORK_DIR) / spec.plan / "checkpoints"
    row = train_model(
        plan,
        MODELS[model],
        device=device,
        seed=seed,
        checkpoint_dir=checkpoints,
        progress=progress,
        deadline=deadline,
    )
    if row["status"] == "stopped":
        return None
    if row["status"] != "completed":
        raise RuntimeError(f"{model} seed {seed} did not complete (status {row['status']})")
    # ``machine``, among the stored columns, names the machines that trained it: float32 digits depend on them
    return {"study": spec.name, "plan": spec.plan, **{c: row.get(c) for c in STORED_COLUMNS[2:]}}


FLOOR_COMMAND = study_command("ch4", "floor")


def floor_row(key: Mapping[str, Any], spec: StudySpec, data_dir: str | Path | None = None) -> dict[str, Any]:
    """The fit criterion of :func:`with_verdicts` for seed ``key["seed"]`` of ``spec``: the training and
    test accuracy (%) of the linear floor (:func:`reuseprior.training.convergence.linear_floor`: a
    multinomial logistic regression) on the same training images as the study's runs (the seed's split,
    resampled as they were; one channel of the three equal ones, read from ``data_dir`` as
    :func:`train_run`'s), scored on the same test images; keyed by ``key`` (study and seed). About 20 s a
    seed on one CPU thread."""
    design, seed = spec.design, int(key["seed"])
    plan = make_plan(_model_settings(spec, design.models[0], data_dir), profile=f"{design.name}-floor", seed=seed)
    splits, _, _ = plan_splits(plan, MODELS[design.models[0]].variant, seed)
    floor = convergence.linear_floor(splits.train, splits.test)
    return {
        "study": key["study"],
        "plan": spec.plan,
        "seed": seed,
        "classifier": floor["classifier"],
        "train_images": floor["train_images"],
        "test_images": floor["test_images"],
        "top1_train": floor["train_top1"],
        "top1_test": floor["test_top1"],
    }


#: the kinds of a stored floor's values (:func:`floor_row`)
FLOOR_KINDS = ColumnKinds(
    required=("classifier", "train_images", "test_images", "top1_train", "top1_test"),
    numeric=("seed", "train_images", "test_images", "top1_train", "top1_test"),
)
#: the floors of chapter 4's studies, one row per study and seed (:func:`floor_row`), tracked in :data:`LINEAR_FLOOR`
FLOORS = FloorStore(LINEAR_FLOOR, ("study", "seed"), FLOOR_COMMAND, floor_row, FLOOR_KINDS)


def stored_criteria(spec: StudySpec) -> pd.DataFrame:
    """:func:`~.designs.criteria_table` of ``spec``'s stored runs against its stored floors (what ``status``
    shows)."""
    return criteria_table(spec.rows(), spec.floor_rows())


#: the live slice "learns" when its validation and test top-1 reach this (percent: twice the 10 % of
#: chance) and its last epoch's training loss is below its first epoch's
LIVE_SLICE_LEARNS_PP = 20.0


def retrain_live_slice(path: str | Path = STORED_RUNS, work_dir: Path | None = None) -> pd.DataFrame:
    """Retrain the live slice (:data:`.designs.LIVE_SLICE_DESIGN`, stored in ``path``) from scratch (its
    checkpoints in ``work_dir``, by default under ``build/``) and set its row beside the stored slice row,
    one quantity per row with the ``rule`` it
    is held to and whether it ``holds`` here.

    Policy (the same rules on every machine): parameters and FLOPs must equal the stored ones; the
    trained quantities are held to *learning*, not to the stored digits: validation and test top-1 at
    least :data:`LIVE_SLICE_LEARNS_PP` and a training loss that falls from the first epoch to the last.
    The digits cannot be held: 125 RMSprop steps of this network amplify float64 rounding into
    different runs. Measured with the same seed, data and code on an AVX-512/AMX machine: test top-1
    52.58 % on its own kernels and 37.74 % with ATen's default kernels, oneDNN at SSE4.1 and OpenBLAS's
    Nehalem kernels (first-epoch training loss 2.869 and 2.922); the stored row, from an AVX2 machine,
    has 31.07 % (2.827). Replacing the dropout and drop-path masks by serially drawn ones does not
    make the kernel sets agree, so rounding, not the random masks, decides. ``stored`` and
    ``deviation`` are shown for the reader, never judged."""
    live_slice = training_study(LIVE_SLICE_DESIGN, path)
    stored = live_slice.rows()
    if stored.empty:
        raise ValueError(f"no stored live-slice row in {path}: run `python -m reuseprior study ch4 slice`")
    work_dir = work_dir or WORK_DIR / "live"
    run = live_slice.runs[0]
    settings = replace(LIVE_SLICE_DESIGN.settings, models=(run["model"],), resume=False, append_results=False)
    plan = make_plan(settings, profile="live-slice", seed=run["seed"])
    row = train_model(
        plan, MODELS[run["model"]], seed=run["seed"], checkpoint_dir=work_dir / "checkpoints", progress=False
    )
    return slice_rules(stored.iloc[-1], row)


def check_live_slice(spec: StudySpec, request: StudyRequest) -> LiveCheck:
    """The live check of the width-0.25 study and its slice (``study NAME check``): :func:`recount_stored_runs`
    of ``request.checked`` of the study's stored runs (:func:`~reuseprior.core.study.checked_runs`, in the
    study's order: its first stored run and a seeded sample of the others; every one for ``--all``), then
    :func:`retrain_live_slice` of the slice row in the study's runs file (the command gives it ``--store``
    when told; by default :data:`.designs.STORED_RUNS`), its checkpoints under the request's ``work_dir``
    when given. One table: the slice's rows have no ``model`` and ``seed`` of the study."""
    candidates = stored_runs(spec)
    recounted = recount_stored_runs(spec, checked_runs(candidates, request.checked)) if candidates else None
    work_dir = request.options.get("work_dir")
    live = retrain_live_slice(spec.store.path, Path(work_dir) / "live" if work_dir else None)
    return LiveCheck(pd.concat([recounted, live.assign(model="live slice")], ignore_index=True), "holds")


def recount_stored_runs(spec: StudySpec, runs: list[Mapping[str, Any]]) -> pd.DataFrame:
    """Each of ``runs`` (stored runs of ``spec``) built again from its seed, its parameters
    (:func:`~reuseprior.core.parameters.count_parameters`, as :func:`~reuseprior.training.loop.fit` counts
    them) and FLOPs (:func:`~reuseprior.training.loop.count_flops` at the run's training resolution)
    counted and held equal to its stored row: counting depends on no kernel, so a stored count that differs
    was edited, or stored by other code. One row per run and quantity; no training."""
    stored = spec.rows()
    out = []
    for run in runs:
        row = stored[(stored["model"] == run["model"]) & (stored["seed"] == run["seed"])].iloc[0]
        plan = make_plan(
            _model_settings(spec, run["model"], None), profile=f"{spec.name}-{spec.plan}", seed=run["seed"]
        )
        model_spec = MODELS[run["model"]]
        model = _seeded_model(plan, model_spec, int(run["seed"]))
        image_size, _ = plan.sizes(model_spec.variant)
        counted = {"params": count_parameters(model), "flops": count_flops(model, (3, image_size, image_size))}
        for column, value in counted.items():
            kept = float(row[column])
            out.append(
                {
                    "model": run["model"],
                    "seed": int(run["seed"]),
                    "quantity": column,
                    "stored": kept,
                    "live": float(value),
                    "deviation": float(value) - kept,
                    "rule": "equal (counted again, no training)",
                    "holds": float(value) == kept,
                }
            )
    return pd.DataFrame(out)


def slice_rules(reference: Mapping[str, Any], live: Mapping[str, Any]) -> pd.DataFrame:
    """The rules of :func:`retrain_live_slice` applied to a ``live`` slice row beside the ``reference`` row."""
    learns = f">= {LIVE_SLICE_LEARNS_PP:g} % (learns)"
    falls = "below the first epoch's training loss (learns)"
    rules = {
        "params": ("equal", lambda v: v == float(reference["params"])),
        "flops": ("equal", lambda v: v == float(reference["flops"])),
        "top1_val": (learns, lambda v: v >= LIVE_SLICE_LEARNS_PP),
        "top1_test": (learns, lambda v: v >= LIVE_SLICE_LEARNS_PP),
        "train_loss_last_epoch": (falls, lambda v: v < float(live["train_loss_first_epoch"])),
    }
    out = []
    for column, (rule, holds) in rules.items():
        a, b = float(reference[column]), float(live[column])
        out.append(
            {"quantity": column, "stored": a, "live": b, "deviation": b - a, "rule": rule, "holds": bool(holds(b))}
        )
    return pd.DataFrame(out)
