"""Chapter 7's trained study, declared (:func:`sharing_study`: a :class:`~reuseprior.core.study.StudySpec`
that :mod:`reuseprior.core.study` runs): its runs file and its validation, one run (:func:`scheme_run`,
:func:`train_config`), the prior's scores of a stored row and the live check of the cheapest runs."""

from __future__ import annotations

import copy
import datetime as _dt
import functools
import math
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from reuseprior import datasets as data
from reuseprior.chapters.ch7_sharing_schemes.configs import (
    CPU_DESIGN,
    LIVE_EPOCHS,
    LIVE_TOLERANCE,
    PRIOR_SCORES,
    STORED_RUNS,
    SchemeConfig,
    SharingDesign,
)
from reuseprior.chapters.ch7_sharing_schemes.criteria import FLOORS, stored_criteria
from reuseprior.chapters.ch7_sharing_schemes.models import build_config_model, load_study_data, study_budgets
from reuseprior.core import paths
from reuseprior.core.cpu import cpu_kernels
from reuseprior.core.errors import CsvFormatError, SharingError
from reuseprior.core.files import write_csv
from reuseprior.core.parameters import count_parameters
from reuseprior.core.precision import within_float32_tolerance
from reuseprior.core.progress import progress_bar
from reuseprior.core.stored_rows import ColumnKinds
from reuseprior.core.study import LiveCheck, RunStore, StudyRequest, StudySpec, checked_runs, read_csv_or_empty
from reuseprior.counting import analyze
from reuseprior.training.convergence import history_json, read_history
from reuseprior.training.loop import count_flops, fit, peak_rss_bytes, reset_peak_rss

#: the columns of a stored run (one row per configuration and seed)
ROW_COLUMNS: tuple[str, ...] = (
    "plan_id", "study", "dataset", "model", "config", "scheme", "options", "budget", "budget_target",
    "seed", "params", "params_fraction", "flops", "input_shape",
    "PG", "PG_prime", "expected_spread", "entropy", "NG", "engine_error",
    "epochs", "batch_size", "train_images", "val_images", "test_images",
    "val_top1", "test_top1", "test_loss", "train_loss_last_epoch", "train_top1_last_epoch", "epoch_history",
    "train_time_s", "engine_time_s", "peak_memory_mb", "peak_memory_kind", "threads", "torch_version", "finished_utc",
)  # fmt: skip
#: the numbers of a configuration's model, in a run's row and in a bookkeeping row alike: its budget,
#: parameters and FLOPs, the prior's scores and NG
MODEL_NUMBERS: tuple[str, ...] = ("budget_target", "params", "params_fraction", "flops", *PRIOR_SCORES, "NG")
#: the kinds of a stored row's values (the prior's scores are empty in a row with an engine error)
ROW_KINDS = ColumnKinds(
    required=(
        "study",
        "dataset",
        "model",
        "scheme",
        "budget",
        "params",
        "epochs",
        "batch_size",
        "train_images",
        "val_images",
        "test_images",
        "val_top1",
        "test_top1",
    ),
    numeric=(
        "seed",
        *MODEL_NUMBERS,
        "epochs",
        "batch_size",
        "train_images",
        "val_images",
        "test_images",
        "val_top1",
        "test_top1",
        "test_loss",
        "train_loss_last_epoch",
        "train_top1_last_epoch",
        "train_time_s",
        "engine_time_s",
        "peak_memory_mb",
        "threads",
    ),
)
#: columns a rerun measures differently (kept in the CSV, out of tracked tables)
MEASURED_COLUMNS: tuple[str, ...] = (
    "train_time_s", "engine_time_s", "peak_memory_mb", "peak_memory_kind", "threads", "finished_utc",
)  # fmt: skip


def read_runs(path: str | os.PathLike = STORED_RUNS) -> pd.DataFrame:
    """The stored runs (an empty frame with :data:`ROW_COLUMNS` when the file
    does not exist), each row whole and of :data:`ROW_KINDS`, validated by :func:`validate_runs`."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=list(ROW_COLUMNS))
    df = read_csv_or_empty(path, ROW_COLUMNS, ROW_KINDS)
    validate_runs(df, source=str(path))
    return df


def validate_runs(df: pd.DataFrame, source: str = "runs") -> None:
    """Check stored rows; raise :class:`~reuseprior.core.errors.CsvFormatError`
    naming the file, the line (header = line 1) and the first problem: missing
    columns, a duplicated (plan, config, seed), a non-positive parameter count,
    accuracies outside [0, 100], a matched configuration (``narrow``, ``ssn``)
    more than 3 % off its budget, or a row that has neither the prior's scores
    nor an engine error."""
    missing = [c for c in ROW_COLUMNS if c not in df.columns]
    if missing:
        raise CsvFormatError(source, 1, f"missing columns {missing}", "it is not a sharing-study runs file")
    if df.empty:
        return

    def refuse(mask: pd.Series, problem: str, fix: str) -> None:
        if mask.any():
            position = int(np.flatnonzero(mask.to_numpy())[0])
            row = df.iloc[position]
            what = f"{row['config']} (seed {row['seed']})"
            raise CsvFormatError(source, position + 2, f"{what}: {problem.format(**row.to_dict())}", fix)

    refuse(
        df.duplicated(["plan_id", "config", "seed"], keep="first"),
        "this run is stored twice",
        "delete one of the rows",
    )
    params = pd.to_numeric(df["params"], errors="coerce")
    refuse(~(params > 0), "no positive parameter count", "rerun the row")
    for col in ("val_top1", "test_top1"):
        acc = pd.to_numeric(df[col], errors="coerce")
        refuse(~((acc >= 0) & (acc <= 100)), f"{col} must be a percentage in [0, 100]", "rerun the row")
    matched = df["scheme"].isin(["narrow", "ssn"])
    off = (params / pd.to_numeric(df["budget_target"], errors="coerce") - 1).abs() > 0.03
    refuse(
        matched & off,
        "{params} parameters for a budget of {budget_target} (more than 3 % off)",
        "a matched configuration must meet its budget",
    )
    refuse(
        df[list(PRIOR_SCORES)].isna().any(axis=1) & df["engine_error"].isna(),
        "neither the prior's scores nor an engine error",
        "recompute them: python -m reuseprior study ch7 fill-scores",
    )


def prior_scores(model: nn.Module, input_shape: Sequence[int]) -> dict[str, Any]:
    """PG, P'G, ES, H and NG of ``model`` as built (thesis section 4.5.1 engine,
    one input of ``input_shape``, eval mode, on a copy), or NaN with the
    engine's error message."""
    started = time.perf_counter()
    probe = copy.deepcopy(model).eval()
    try:
        report = analyze(probe, torch.zeros(1, *input_shape))
    except Exception as err:  # noqa: BLE001 - recorded in the row; the run itself is still useful
        out: dict[str, Any] = {k: math.nan for k in (*PRIOR_SCORES, "NG")}
        out["engine_error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:300]}"
    else:
        out = {k: getattr(report, k) for k in (*PRIOR_SCORES, "NG")}
        out["engine_error"] = None
    out["engine_time_s"] = time.perf_counter() - started
    return out


def train_config(
    spec: StudySpec,
    config: SchemeConfig,
    seed: int,
    splits: data.DatasetSplits,
    *,
    budgets: Mapping[str, int],
    device: torch.device | str = "cpu",
    progress: bool = False,
    stop_after_epoch: int | None = None,
) -> dict[str, Any]:
    """Train ``config`` of study ``spec`` with run seed ``seed`` and return its row (:data:`ROW_COLUMNS`):
    the model as built is counted (parameters, FLOPs of one image, the prior's
    quantities), trained with the design's ``train`` (seed ``seed``: data order), the
    validation split evaluated after every epoch and the test split once at the
    end. The row keeps the per-epoch history (``epoch_history``, JSON of
    :func:`reuseprior.training.convergence.history_json`) from which the
    convergence criteria are read. ``stop_after_epoch=k``: only the first ``k``
    epochs of the schedule (a live check; no test-set accuracy)."""
    design = spec.design
    device = torch.device(device)
    model = _matched_model(design, config, seed, budgets)
    counted = {"params": count_parameters(model), "flops": count_flops(model, splits.input_shape)}
    scores = prior_scores(model, splits.input_shape)
    memory_kind = reset_peak_rss() if device.type == "cpu" else "cuda_max_memory_allocated"
    result = fit(
        model,
        splits.train,
        splits.val,
        replace(design.train, seed=seed),
        device=device,
        test_set=splits.test,
        checkpoint_path=None,
        progress=progress,
        description=config.label,
        stop_after_epoch=stop_after_epoch,
    )
    peak = peak_rss_bytes() / 2**20 if device.type == "cpu" else result.peak_memory_bytes / 2**20
    history = result.history
    return {
        "plan_id": spec.plan,
        "study": spec.name,
        "dataset": design.dataset,
        "model": design.model,
        "config": config.label,
        "scheme": config.scheme,
        "options": config.options_json(),
        "budget": config.budget,
        "budget_target": int(budgets[config.budget]),
        "seed": seed,
        "params": counted["params"],
        "params_fraction": counted["params"] / budgets["full"],
        "flops": counted["flops"],
        "input_shape": "x".join(str(s) for s in splits.input_shape),
        **{k: scores[k] for k in (*PRIOR_SCORES, "NG", "engine_error")},
        "epochs": result.epochs_completed,
        "batch_size": design.train.batch_size,
        "train_images": len(splits.train),
        "val_images": len(splits.val),
        "test_images": len(splits.test),
        "val_top1": result.val_top1,
        "test_top1": result.test_top1,
        "test_loss": result.test_loss,
        "train_loss_last_epoch": history[-1]["train_loss"] if len(history) > 1 else math.nan,
        "train_top1_last_epoch": history[-1]["train_top1"] if len(history) > 1 else math.nan,
        "epoch_history": history_json(history),
        "train_time_s": result.train_time_s,
        "engine_time_s": scores["engine_time_s"],
        "peak_memory_mb": peak,
        "peak_memory_kind": memory_kind,
        "threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "finished_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _matched_model(design: SharingDesign, config: SchemeConfig, seed: int, budgets: Mapping[str, int]) -> nn.Module:
    """The model of ``config`` as built for seed ``seed``; a matched configuration (``narrow``, ``ssn``)
    more than 3 % off its budget raises :class:`~reuseprior.core.errors.SharingError` before training."""
    model = build_config_model(design, config, seed, budgets)
    params = count_parameters(model)
    if config.scheme in ("narrow", "ssn") and abs(params / budgets[config.budget] - 1) > 0.03:
        raise SharingError(
            f"{config.label}: the model has {params:,} parameters for a budget of {budgets[config.budget]:,} "
            "(more than 3 % off), so it is not matched; nothing was trained. Give the builder a finer width "
            f"({design.width_option}) or drop the configuration"
        )
    return model


@functools.lru_cache(maxsize=2)
def _cached_study_data(design: SharingDesign, data_dir: str | None, download: bool) -> data.DatasetSplits:
    return load_study_data(design, data_dir=data_dir, download=download)


def scheme_run(
    *,
    config: str,
    seed: int,
    spec: StudySpec,
    splits: data.DatasetSplits | None = None,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    device: str = "cpu",
    threads: int | None = 1,
) -> dict[str, Any]:
    """One run of the study (its ``run_one``: :func:`train_config`): the configuration by its label,
    the splits loaded once per process when not given (``splits`` replaces the study's dataset: tests),
    PyTorch's intra-op threads set to ``threads`` for its duration (one thread: tiny models train
    fastest and deterministically on a shared CPU)."""
    design = spec.design
    if splits is None:
        splits = _cached_study_data(design, None if data_dir is None else str(data_dir), download)
    by_label = {c.label: c for c in design.configs}
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return train_config(spec, by_label[config], seed, splits, budgets=study_budgets(design), device=device)
    finally:
        torch.set_num_threads(before)


def runs_path(design: SharingDesign) -> Path:
    """Where a study's rows are: the stored CPU study under ``data/``, any other
    (the paper profile's) in its own run log under ``build/`` (untracked)."""
    if design == CPU_DESIGN:
        return STORED_RUNS
    return paths.BUILD_DIR / "ch7_sharing_schemes" / f"runs_{design.name}.csv"


def sharing_study(design: SharingDesign, path: str | os.PathLike | None = None) -> StudySpec:
    """``design`` declared as a study of :mod:`reuseprior.core.study`: one run per (configuration,
    seed) of its registered schemes, seed-major (every configuration of seed 0 first), trained by
    :func:`scheme_run`; each row validated (:func:`validate_runs`) and written to ``path`` (default
    :func:`runs_path`) as it arrives; read against the linear floor of its images."""
    store = RunStore(
        Path(path or runs_path(design)),
        key=("config", "seed"),
        plan_column="plan_id",
        columns=ROW_COLUMNS,
        read=read_runs,
        validate=validate_runs,
        kinds={"runs": ROW_KINDS},
    )
    spec = StudySpec.of(
        design,
        run_one=scheme_run,
        store=store,
        floor=FLOORS,
        criteria=stored_criteria,
        live_check=check_first_epoch,
        status_by=("config",),
    )
    return replace(spec, floor_keys=({"study": design.name, "plan_id": spec.plan},))


def fill_scores(spec: StudySpec, *, every_row: bool = False) -> int:
    """Recompute the prior's quantities of ``spec``'s stored rows: those that carry an
    engine error, or with ``every_row`` all of them (after a change of the
    engine). They depend on the model as built, not on training, so no run is
    repeated. Returns the number of rows whose scores were written; the file is
    rewritten atomically."""
    path, design = spec.store.path, spec.design
    df = read_runs(path)
    mine = df["plan_id"] == spec.plan
    todo = df.index[mine if every_row else mine & df["engine_error"].notna()]
    if not len(todo):
        return 0
    budgets = study_budgets(design)
    by_label = {c.label: c for c in design.configs}
    filled = 0
    for i in progress_bar(todo, desc="prior scores", unit="row"):
        config = by_label.get(df.at[i, "config"])
        if config is None:
            continue
        shape = tuple(int(v) for v in str(df.at[i, "input_shape"]).split("x"))
        scores = prior_scores(build_config_model(design, config, int(df.at[i, "seed"]), budgets), shape)
        if scores["engine_error"] is None or every_row:
            for k in (*PRIOR_SCORES, "NG", "engine_error", "engine_time_s"):
                df.at[i, k] = scores[k]
            filled += 1
    validate_runs(df, source=str(path))
    write_csv(df, path)
    return filled


# -------------------------------------------------------------------- live check


def cheapest_runs(rows: pd.DataFrame, k: int = 1) -> pd.DataFrame:
    """The ``k`` stored runs with the fewest FLOPs x training images (the
    cheapest to recompute), ties broken by configuration and seed."""
    cost = rows["flops"].astype(float) * rows["train_images"].astype(float) * rows["epochs"].astype(float)
    return rows.assign(_cost=cost).sort_values(["_cost", "config", "seed"]).head(k).drop(columns="_cost")


def retrain_cheapest_runs(
    spec: StudySpec,
    rows: pd.DataFrame,
    *,
    k: int = 1,
    epochs: int = LIVE_EPOCHS,
    splits: data.DatasetSplits | None = None,
    data_dir: str | os.PathLike | None = None,
    threads: int | None = 1,
) -> pd.DataFrame:
    """Retrain the first ``epochs`` epochs of the ``k`` cheapest stored runs
    (:func:`cheapest_runs`; the learning rate as in the full run) and compare
    with their stored rows: the counted columns (parameters, FLOPs, the prior's
    quantities) to a relative ``counted_rel``, and the validation top-1 and
    training loss of epoch ``epochs`` with the same epoch of the stored
    ``epoch_history`` to :data:`~reuseprior.core.precision.FLOAT32_ACROSS_KERNELS`
    (float32 training rounds differently on other CPU kernels, threads or
    PyTorch versions; the tolerances are the same on every machine). A run that learns: epoch 1 is
    far above chance, so the check tests training, not only determinism."""
    if splits is None:
        splits = load_study_data(spec.design, data_dir=data_dir)
    budgets = study_budgets(spec.design)
    by_label = {c.label: c for c in spec.design.configs}
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    out = []
    try:
        for _, stored in cheapest_runs(rows, k).iterrows():
            history = {int(h["epoch"]): h for h in read_history(stored["epoch_history"])}
            if epochs not in history:
                raise ValueError(
                    f"the stored run {stored['config']} (seed {stored['seed']}) has no epoch {epochs} in its "
                    "epoch_history, so it cannot be checked live; rerun the row (python -m reuseprior study ch7 run)"
                )
            live = train_config(
                spec, by_label[stored["config"]], int(stored["seed"]), splits, budgets=budgets, stop_after_epoch=epochs
            )
            live_history = {int(h["epoch"]): h for h in read_history(live["epoch_history"])}
            pairs = [(col, float(stored[col]), float(live[col])) for col in ("params", "flops", *PRIOR_SCORES)]
            pairs += [
                (f"{q} (epoch {epochs})", history[epochs][q], live_history[epochs][q])
                for q in ("val_top1", "train_loss")
            ]
            for column, a, b in pairs:
                ok, tol = _within_live_tolerance(column, a, b)
                out.append(
                    {
                        "config": stored["config"],
                        "seed": int(stored["seed"]),
                        "column": column,
                        "stored": a,
                        "live": b,
                        "difference": b - a,
                        "tolerance": tol,
                        "within tolerance": ok,
                        "stored software": f"torch {stored['torch_version']}, {int(stored['threads'])} thread(s)",
                        "live software": f"torch {live['torch_version']}, {int(live['threads'])} thread(s), "
                        f"CPU kernels {cpu_kernels()}",
                    }
                )
    finally:
        torch.set_num_threads(before)
    return pd.DataFrame(out)


def check_first_epoch(spec: StudySpec, request: StudyRequest) -> LiveCheck:
    """The study's live check as ``study NAME check`` runs it: :func:`retrain_cheapest_runs` of ``request.checked``
    of its stored runs (:func:`~reuseprior.core.study.checked_runs` of them from the cheapest up: the cheapest
    and a seeded sample of the others; every one for ``--all``); ``data_dir``, ``download`` and ``threads``
    from the request."""
    rows = spec.rows()
    if rows.empty:
        raise ValueError(f"study {spec.name} has no stored run to check: run it first")
    by_cost = cheapest_runs(rows, len(rows))
    chosen = pd.DataFrame(checked_runs(by_cost.to_dict("records"), request.checked), columns=by_cost.columns)
    options = request.options
    splits = load_study_data(spec.design, data_dir=options.get("data_dir"), download=bool(options.get("download")))
    table = retrain_cheapest_runs(spec, chosen, k=len(chosen), splits=splits, threads=options.get("threads", 1))
    return LiveCheck(table, "within tolerance")


def _within_live_tolerance(column: str, stored: float, live: float) -> tuple[bool, str]:
    """Whether a live value agrees with the stored one (:func:`retrain_cheapest_runs`), and the tolerance as text."""
    if column.startswith(("val_top1", "train_loss")):
        tolerance, ok = within_float32_tolerance("percent" if column.startswith("val") else "loss", stored, live)
        return ok, tolerance
    rel = LIVE_TOLERANCE["counted_rel"]
    return abs(stored - live) <= rel * max(1.0, abs(stored)), f"rel {rel:g}"


# ------------------------------------------------------------------- the ranking
