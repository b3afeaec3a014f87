"""Chapter 7's trained study: its runs file, one run, the resumable study (reuseprior.core.study) and its status."""

from __future__ import annotations

import copy
import datetime as _dt
import functools
import hashlib
import json
import math
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from distributed import Client
from torch import nn

from reuseprior import datasets as data
from reuseprior.chapters.ch7_sharing_schemes.configs import (
    LIVE_EPOCHS,
    LIVE_TOLERANCE,
    PRIOR_SCORES,
    STORED_RUNS,
    SchemeConfig,
    StudySpec,
)
from reuseprior.chapters.ch7_sharing_schemes.models import build_config_model, load_study_data, study_budgets
from reuseprior.core import study as core_study
from reuseprior.core.cpu import cpu_kernels
from reuseprior.core.errors import CsvFormatError, SharingError
from reuseprior.core.files import write_csv
from reuseprior.core.parameters import count_parameters
from reuseprior.core.precision import within_float32_tolerance
from reuseprior.core.progress import progress_bar
from reuseprior.core.study import RunStore, Study
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
#: columns a rerun measures differently (kept in the CSV, out of tracked tables)
MEASURED_COLUMNS: tuple[str, ...] = (
    "train_time_s", "engine_time_s", "peak_memory_mb", "peak_memory_kind", "threads", "finished_utc",
)  # fmt: skip


def plan_id(spec: StudySpec) -> str:
    """A short hash of the study's settings (dataset, model, training, subsets,
    budgets); rows with another plan id belong to other settings."""
    settings = {
        "dataset": spec.dataset,
        "model": spec.model,
        "model_kwargs": spec.kwargs,
        "train": {k: v for k, v in spec.train.plan_settings().items() if k not in ("seed", "num_workers")},
        "train_limit": spec.train_limit,
        "val_limit": spec.val_limit,
        "augment": spec.augment,
        "split_seed": spec.split_seed,
        "low_budget_fraction": spec.low_budget_fraction,
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]


def read_runs(path: str | os.PathLike = STORED_RUNS) -> pd.DataFrame:
    """The stored runs (an empty frame with :data:`ROW_COLUMNS` when the file
    does not exist), validated by :func:`validate_runs`."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=list(ROW_COLUMNS))
    df = pd.read_csv(path, keep_default_na=True)
    validate_runs(df, source=str(path))
    return df


def validate_runs(df: pd.DataFrame, *, source: str = "runs") -> None:
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


def run_store(path: str | os.PathLike = STORED_RUNS) -> RunStore:
    """The runs file: one row per (configuration, seed) of a plan, validated by :func:`validate_runs`."""
    return RunStore(
        Path(path),
        key=("config", "seed"),
        plan_column="plan_id",
        columns=ROW_COLUMNS,
        read=read_runs,
        validate=lambda df, source: validate_runs(df, source=source),
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


def run_one(
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
    """Train ``config`` with run seed ``seed`` and return its row (:data:`ROW_COLUMNS`):
    the model as built is counted (parameters, FLOPs of one image, the prior's
    quantities), trained with ``spec.train`` (seed ``seed``: data order), the
    validation split evaluated after every epoch and the test split once at the
    end. The row keeps the per-epoch history (``epoch_history``, JSON of
    :func:`reuseprior.training.convergence.history_json`) from which the
    convergence criteria are read. ``stop_after_epoch=k``: only the first ``k``
    epochs of the schedule (a live check; no test-set accuracy)."""
    device = torch.device(device)
    model = build_config_model(spec, config, seed, budgets)
    params = count_parameters(model)
    if config.scheme in ("narrow", "ssn") and abs(params / budgets[config.budget] - 1) > 0.03:
        raise SharingError(
            f"{config.label}: the model has {params:,} parameters for a budget of {budgets[config.budget]:,} "
            "(more than 3 % off), so it is not matched; nothing was trained. Give the builder a finer width "
            f"({spec.width_option}) or drop the configuration"
        )
    flops = count_flops(model, splits.input_shape)
    scores = prior_scores(model, splits.input_shape)
    memory_kind = reset_peak_rss() if device.type == "cpu" else "cuda_max_memory_allocated"
    result = fit(
        model,
        splits.train,
        splits.val,
        replace(spec.train, seed=seed),
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
        "plan_id": plan_id(spec),
        "study": spec.name,
        "dataset": spec.dataset,
        "model": spec.model,
        "config": config.label,
        "scheme": config.scheme,
        "options": config.options_json(),
        "budget": config.budget,
        "budget_target": int(budgets[config.budget]),
        "seed": seed,
        "params": params,
        "params_fraction": params / budgets["full"],
        "flops": flops,
        "input_shape": "x".join(str(s) for s in splits.input_shape),
        **{k: scores[k] for k in (*PRIOR_SCORES, "NG", "engine_error")},
        "epochs": result.epochs_completed,
        "batch_size": spec.train.batch_size,
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


def pending_runs(
    spec: StudySpec, path: str | os.PathLike = STORED_RUNS, configs: Iterable[SchemeConfig] | None = None
) -> list[tuple[SchemeConfig, int]]:
    """(configuration, seed) pairs of ``spec`` without a stored row in the
    runs file ``path`` (:func:`reuseprior.core.study.pending_runs` of
    :func:`as_study`), seed-major (every configuration of seed 0 first),
    skipping configurations whose scheme is not registered."""
    chosen = {c.label: c for c in (configs if configs is not None else spec.configs) if c.available()}
    only = [{"config": label, "seed": s} for s in spec.seeds for label in chosen]
    return [(chosen[r["config"]], int(r["seed"])) for r in core_study.pending_runs(as_study(spec, path), only)]


def as_study(
    spec: StudySpec,
    path: str | os.PathLike = STORED_RUNS,
    *,
    splits: data.DatasetSplits | None = None,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    device: torch.device | str = "cpu",
    threads: int | None = 1,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> Study:
    """``spec`` as a resumable study of :mod:`reuseprior.core.study`: its runs
    the (configuration, seed) pairs of registered schemes, seed-major; each
    row validated and written to ``path`` as it arrives, then given to ``on_row``."""
    store = run_store(path)
    runs = tuple({"config": c.label, "seed": s} for s in spec.seeds for c in spec.configs if c.available())
    context = {"spec": spec, "splits": splits, "data_dir": data_dir, "download": download, "device": str(device),
               "threads": threads}  # fmt: skip

    def store_row(_: Mapping[str, Any], row: dict[str, Any]) -> None:
        store.put(row)
        if on_row is not None:
            on_row(row)

    return Study(spec.name, plan_id(spec), store, runs, scheme_run, context, store_row, live_check)


@functools.lru_cache(maxsize=2)
def _cached_study_data(spec: StudySpec, data_dir: str | None, download: bool) -> data.DatasetSplits:
    return load_study_data(spec, data_dir=data_dir, download=download)


def scheme_run(
    *,
    config: str,
    seed: int,
    spec: StudySpec,
    splits: data.DatasetSplits | None,
    data_dir: str | os.PathLike | None,
    download: bool,
    device: str,
    threads: int | None,
) -> dict[str, Any]:
    """One run of the study (:func:`run_one`), as a task: the configuration by
    its label, the splits loaded once per process when not given, PyTorch's
    intra-op threads set to ``threads`` for its duration."""
    if splits is None:
        splits = _cached_study_data(spec, None if data_dir is None else str(data_dir), download)
    by_label = {c.label: c for c in spec.configs}
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return run_one(spec, by_label[config], seed, splits, budgets=study_budgets(spec), device=device)
    finally:
        torch.set_num_threads(before)


def run_study(
    spec: StudySpec,
    path: str | os.PathLike = STORED_RUNS,
    *,
    splits: data.DatasetSplits | None = None,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    device: torch.device | str = "cpu",
    max_runs: int | None = None,
    configs: Iterable[SchemeConfig] | None = None,
    threads: int | None = 1,
    progress: bool = True,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    client: Client | None = None,
) -> pd.DataFrame:
    """Run the study's pending runs (:func:`pending_runs`; on the Dask
    ``client``'s workers when given) and write each row to ``path`` as soon as
    it finishes (atomically: the file is always a complete CSV; an
    interruption loses at most the running rows). Rerunning skips the stored
    runs. ``max_runs`` stops after that many new rows; ``splits`` replaces the
    study's dataset (tests); ``threads`` sets PyTorch's intra-op threads of a
    run (one thread: tiny models train fastest and deterministically on a
    shared CPU). Returns every row of the file."""
    path = Path(path)
    todo = pending_runs(spec, path, configs)
    if max_runs is not None:
        todo = todo[:max_runs]
    if not todo:
        return read_runs(path)
    if splits is None and client is None:
        splits = load_study_data(spec, data_dir=data_dir, download=download)
    runs = as_study(spec, path, splits=splits, data_dir=data_dir, download=download, device=device, threads=threads,
                    on_row=on_row)  # fmt: skip
    only = [{"config": c.label, "seed": s} for c, s in todo]
    core_study.run_study(runs, only=only, client=client, progress=progress)
    return read_runs(path)


def fill_scores(spec: StudySpec, path: str | os.PathLike = STORED_RUNS, *, every_row: bool = False) -> int:
    """Recompute the prior's quantities of stored rows: those that carry an
    engine error, or with ``every_row`` all of them (after a change of the
    engine). They depend on the model as built, not on training, so no run is
    repeated. Returns the number of rows whose scores were written; the file is
    rewritten atomically."""
    path = Path(path)
    df = read_runs(path)
    mine = df["plan_id"] == plan_id(spec)
    todo = df.index[mine if every_row else mine & df["engine_error"].notna()]
    if not len(todo):
        return 0
    budgets = study_budgets(spec)
    by_label = {c.label: c for c in spec.configs}
    filled = 0
    for i in progress_bar(todo, desc="prior scores", unit="row"):
        config = by_label.get(df.at[i, "config"])
        if config is None:
            continue
        shape = tuple(int(v) for v in str(df.at[i, "input_shape"]).split("x"))
        scores = prior_scores(build_config_model(spec, config, int(df.at[i, "seed"]), budgets), shape)
        if scores["engine_error"] is None or every_row:
            for k in (*PRIOR_SCORES, "NG", "engine_error", "engine_time_s"):
                df.at[i, k] = scores[k]
            filled += 1
    validate_runs(df, source=str(path))
    write_csv(df, path)
    return filled


def study_status(spec: StudySpec, path: str | os.PathLike = STORED_RUNS) -> pd.DataFrame:
    """Per configuration of ``spec``: stored seeds, pending seeds, whether its
    scheme is registered, and rows with an engine error."""
    df = read_runs(path)
    mine = df[df["plan_id"] == plan_id(spec)] if not df.empty else df
    rows = []
    for c in spec.configs:
        got = mine[mine["config"] == c.label] if not mine.empty else mine
        seeds = sorted(int(s) for s in got["seed"]) if not got.empty else []
        rows.append(
            {
                "config": c.label,
                "scheme": c.scheme,
                "budget": c.budget,
                "registered": c.available(),
                "stored seeds": seeds,
                "pending seeds": [s for s in spec.seeds if s not in seeds],
                "engine errors": int(got["engine_error"].notna().sum()) if not got.empty else 0,
            }
        )
    return pd.DataFrame(rows)


# -------------------------------------------------------------------- live check


def cheapest_runs(rows: pd.DataFrame, k: int = 1) -> pd.DataFrame:
    """The ``k`` stored runs with the fewest FLOPs x training images (the
    cheapest to recompute), ties broken by configuration and seed."""
    cost = rows["flops"].astype(float) * rows["train_images"].astype(float) * rows["epochs"].astype(float)
    return rows.assign(_cost=cost).sort_values(["_cost", "config", "seed"]).head(k).drop(columns="_cost")


def live_check(
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
        splits = load_study_data(spec, data_dir=data_dir)
    budgets = study_budgets(spec)
    by_label = {c.label: c for c in spec.configs}
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
            live = run_one(spec, by_label[stored["config"]], int(stored["seed"]), splits, budgets=budgets,
                           stop_after_epoch=epochs)  # fmt: skip
            live_history = {int(h["epoch"]): h for h in read_history(live["epoch_history"])}
            pairs = [(col, float(stored[col]), float(live[col])) for col in ("params", "flops", *PRIOR_SCORES)]
            pairs += [(f"{q} (epoch {epochs})", history[epochs][q], live_history[epochs][q])
                      for q in ("val_top1", "train_loss")]  # fmt: skip
            for column, a, b in pairs:
                ok, tol = _within_live_tolerance(column, a, b)
                out.append(
                    {"config": stored["config"], "seed": int(stored["seed"]), "column": column, "stored": a,
                     "live": b, "difference": b - a, "tolerance": tol, "within tolerance": ok,
                     "stored software": f"torch {stored['torch_version']}, {int(stored['threads'])} thread(s)",
                     "live software": f"torch {live['torch_version']}, {int(live['threads'])} thread(s), "
                     f"CPU kernels {cpu_kernels()}"}
                )  # fmt: skip
    finally:
        torch.set_num_threads(before)
    return pd.DataFrame(out)


def _within_live_tolerance(column: str, stored: float, live: float) -> tuple[bool, str]:
    """Whether a live value agrees with the stored one (:func:`live_check`), and the tolerance as text."""
    if column.startswith(("val_top1", "train_loss")):
        tolerance, ok = within_float32_tolerance("percent" if column.startswith("val") else "loss", stored, live)
        return ok, tolerance
    rel = LIVE_TOLERANCE["counted_rel"]
    return abs(stored - live) <= rel * max(1.0, abs(stored)), f"rel {rel:g}"


# ------------------------------------------------------------------- the ranking
