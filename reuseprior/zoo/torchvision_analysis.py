"""Every torchvision classifier analysed at its evaluation crop (thesis section 4.5.1).

Policy:

- The models are those of ``torchvision.models.list_models(module=torchvision.models)``
  (:func:`classifier_names`), built with ``weights=None``; each is analysed
  (:func:`reuseprior.counting.analyze`) on one zero image at the crop size of
  its default weights' evaluation transform (:func:`eval_crop`; 224 px for a
  model without weights). A builder whose ``image_size`` differs from that
  crop is built again at the crop (``vit_h_14``: its default, SWAG, weights are
  for 518 px, the bare builder is 224 px).
- One Dask task per model (:mod:`reuseprior.zoo.distributed`); each finished
  row is committed to the store (:mod:`reuseprior.zoo.store`, table named
  after the CSV) in one transaction, and the CSV (default
  ``data/torchvision_zoo_analysis.csv``) is exported from it, atomically and in
  ``csv.DictWriter``'s format, when the run ends. Stored models are skipped, so
  a run can be stopped or killed and started again.
- A model that fails (or kills its worker) is not stored: it is listed in the
  sibling ``<csv stem>_failures.csv`` (this run's failures only) and tried again
  by the next run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision

from reuseprior.core import paths
from reuseprior.core.files import write_text
from reuseprior.counting import analyze
from reuseprior.zoo.distributed import Call, Killed, connect, run_jobs
from reuseprior.zoo.scoring import default_store_path
from reuseprior.zoo.store import ScoreStore, TableSpec

__all__ = [
    "DEFAULT_OUT",
    "FIELDS",
    "TYPES",
    "ModelJob",
    "analyze_one",
    "analyze_task",
    "analyze_torchvision_zoo",
    "build_at_eval_crop",
    "classifier_names",
    "eval_crop",
    "failures_path",
    "table",
]

#: The committed analysis of every classifier.
DEFAULT_OUT = paths.DATA_DIR / "torchvision_zoo_analysis.csv"
FIELDS = ["model", "crop", "NG", "WG", "PG", "PG_prime", "ES", "H", "seconds"]
#: Column types of the stored rows; exported with csv.DictWriter's format (as the committed file was written).
TYPES = {
    "model": "TEXT",
    "crop": "INTEGER",
    "NG": "INTEGER",
    "WG": "INTEGER",
    "PG": "REAL",
    "PG_prime": "REAL",
    "ES": "REAL",
    "H": "REAL",
    "seconds": "REAL",
}


def table(out: Path) -> TableSpec:
    """The store's table of the CSV ``out`` (named after it)."""
    return TableSpec(out.stem, tuple((name, TYPES[name]) for name in FIELDS), "model", dialect="csv")


def failures_path(out: Path) -> Path:
    """Where a run lists the models it could not analyse: ``<out stem>_failures.csv`` beside ``out``."""
    return out.with_name(out.stem + "_failures.csv")


def eval_crop(name: str) -> int:
    """Crop size of the default weights' eval transform (224 if unavailable)."""
    try:
        weights = torchvision.models.get_model_weights(name).DEFAULT
        crop = weights.transforms().crop_size
        return int(crop[0] if isinstance(crop, (list, tuple)) else crop)
    except Exception:  # noqa: BLE001 - models without weights
        return 224


def classifier_names() -> list[str]:
    """Every classifier of ``torchvision.models``, sorted."""
    return sorted(torchvision.models.list_models(module=torchvision.models))


def build_at_eval_crop(name: str) -> tuple[torch.nn.Module, int]:
    """The classifier ``name`` (``weights=None``) built for its :func:`eval_crop`, and that crop."""
    crop = eval_crop(name)
    model = torchvision.models.get_model(name, weights=None)
    if getattr(model, "image_size", crop) != crop:
        model = torchvision.models.get_model(name, weights=None, image_size=crop)
    return model, crop


def analyze_one(name: str) -> dict:
    """The stored row of ``name``: its crop, the chapter-4 quantities and the seconds ``analyze`` took."""
    model, crop = build_at_eval_crop(name)
    t = time.perf_counter()
    rep = analyze(model, torch.zeros(1, 3, crop, crop))
    sec = time.perf_counter() - t
    return {
        "model": name,
        "crop": crop,
        "NG": rep.NG,
        "WG": rep.WG,
        "PG": rep.PG,
        "PG_prime": rep.PG_prime,
        "ES": rep.expected_spread,
        "H": rep.entropy,
        "seconds": round(sec, 2),
    }


def analyze_task(name: str, threads: int) -> dict | str:
    """One Dask task: the row of ``name``, or its failure as ``"Type: message"`` (recorded, not fatal)."""
    torch.set_num_threads(threads)
    try:
        return analyze_one(name)
    except Exception as exc:  # noqa: BLE001 - recorded and retried by the next run
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"


@dataclass
class ModelJob:
    """One model: a single task; ``row`` or ``failure`` once it is done."""

    name: str
    threads: int
    row: dict | None = None
    failure: str = ""

    def start(self) -> list[Call]:
        return [Call(analyze_task, (self.name, self.threads), what=f"analyze {self.name}")]

    def receive(self, call: Call, outcome: object) -> list[Call]:  # noqa: ARG002 - the Job protocol's signature
        if isinstance(outcome, Killed):
            self.failure = outcome.message()
        elif isinstance(outcome, str):
            self.failure = outcome
        else:
            self.row = outcome
        return []


def analyze_torchvision_zoo(
    out: Path = DEFAULT_OUT,
    *,
    names: list[str] | None = None,
    threads: int = 1,
    store: Path | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
) -> list[tuple[str, str]]:
    """Analyse ``names`` (default: :func:`classifier_names`) that the store
    does not hold yet into the CSV ``out``, one Dask task per model (a
    LocalCluster of ``workers`` processes, or the cluster at ``scheduler``),
    ``threads`` torch threads per task. ``store`` is the SQLite file (default
    :func:`reuseprior.zoo.scoring.default_store_path` of ``out``'s folder). The
    CSV is exported when anything was stored or it does not exist yet, also
    when the run is interrupted; returns this run's failures as (model,
    message), also written to :func:`failures_path`."""
    names = names or classifier_names()
    spec = table(out)
    failures: list[tuple[str, str]] = []
    with ScoreStore(store or default_store_path(out.parent)) as db:
        db.attach(spec, out)
        done = db.keys(spec)
        jobs = [ModelJob(name, threads) for name in names if name not in done]
        stored = 0

        def on_done(job: ModelJob) -> None:
            nonlocal stored
            if job.row is None:
                failures.append((job.name, job.failure))
            else:
                stored += db.insert(spec, job.row)

        try:
            if jobs:
                with connect(scheduler=scheduler, workers=workers) as client:
                    run_jobs(client, jobs, on_done=on_done, desc="torchvision zoo", unit="model")
        finally:
            if stored or not out.exists():
                db.export_csv(spec, out)
            write_text(failures_path(out), "".join(f"{name},{message!r}\n" for name, message in failures))
    return failures
