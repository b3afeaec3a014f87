"""Analyse every torchvision classifier at its evaluation crop (thesis section 4.5.1).

One Dask task per model (a LocalCluster of one single-threaded worker per
core, or an existing cluster with ``--scheduler ADDRESS``); each finished row
is committed to the store (``build/zoo_scores.sqlite``, table
``torchvision_zoo_analysis``) in one transaction, and
data/torchvision_zoo_analysis.csv is exported from it, atomically and in the
committed file's format, when the run ends. Resumable: stored models are
skipped, so the run can be stopped or killed and started again. Models that
fail (or kill their worker) are listed in a sibling *_failures.csv (this run's
failures; they are tried again by the next run). Run with
``nice -n 10 python scripts/analyze_torchvision_zoo.py``.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reuseprior.counting import analyze  # noqa: E402
from reuseprior.zoo.distributed import Call, Killed, connect, run_jobs  # noqa: E402
from reuseprior.zoo.scoring import default_store_path  # noqa: E402
from reuseprior.zoo.store import ScoreStore, TableSpec  # noqa: E402

FIELDS = ["model", "crop", "NG", "WG", "PG", "PG_prime", "ES", "H", "seconds"]
#: Column types of the stored rows; exported with csv.DictWriter's format (as the committed file was written).
TYPES = {"model": "TEXT", "crop": "INTEGER", "NG": "INTEGER", "WG": "INTEGER", "PG": "REAL", "PG_prime": "REAL",
         "ES": "REAL", "H": "REAL", "seconds": "REAL"}


def table(out: Path) -> TableSpec:
    """The store's table of the CSV ``out`` (named after it)."""
    return TableSpec(out.stem, tuple((name, TYPES[name]) for name in FIELDS), "model", dialect="csv")


def eval_crop(name: str) -> int:
    """Crop size of the default weights' eval transform (224 if unavailable)."""
    try:
        weights = torchvision.models.get_model_weights(name).DEFAULT
        crop = weights.transforms().crop_size
        return int(crop[0] if isinstance(crop, (list, tuple)) else crop)
    except Exception:  # noqa: BLE001 - models without weights
        return 224


def classifier_names() -> list[str]:
    return sorted(torchvision.models.list_models(module=torchvision.models))


def analyze_one(name: str) -> dict:
    crop = eval_crop(name)
    model = torchvision.models.get_model(name, weights=None)
    if getattr(model, "image_size", crop) != crop:
        # e.g. vit_h_14: its default (SWAG) weights are for 518 px, the bare builder is 224 px
        model = torchvision.models.get_model(name, weights=None, image_size=crop)
    t = time.perf_counter()
    rep = analyze(model, torch.zeros(1, 3, crop, crop))
    sec = time.perf_counter() - t
    return {"model": name, "crop": crop, "NG": rep.NG, "WG": rep.WG, "PG": rep.PG,
            "PG_prime": rep.PG_prime, "ES": rep.expected_spread, "H": rep.entropy,
            "seconds": round(sec, 2)}


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

    def receive(self, call: Call, outcome: object) -> list[Call]:
        if isinstance(outcome, Killed):
            self.failure = outcome.message()
        elif isinstance(outcome, str):
            self.failure = outcome
        else:
            self.row = outcome
        return []


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "torchvision_zoo_analysis.csv")
    ap.add_argument("--models", nargs="*", help="subset of model names (default: all classifiers)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per task")
    ap.add_argument("--store", type=Path, default=None,
                    help="the SQLite store of the rows (default: build/zoo_scores.sqlite for data/, else "
                    "zoo_scores.sqlite beside --out)")
    ap.add_argument("--workers", type=int, default=None, help="LocalCluster worker processes (default: one per core)")
    ap.add_argument("--scheduler", default=None, metavar="ADDRESS", help="an existing Dask cluster instead")
    args = ap.parse_args(argv)
    if args.scheduler is not None and args.workers is not None:
        ap.error("--workers shapes the LocalCluster started here; an existing cluster (--scheduler) has its own")
    names = args.models or classifier_names()
    spec = table(args.out)
    fail_path = args.out.with_name(args.out.stem + "_failures.csv")
    failures: list[str] = []
    with ScoreStore(args.store or default_store_path(args.out.parent)) as store:
        store.attach(spec, args.out)
        done = store.keys(spec)
        jobs = [ModelJob(name, args.threads) for name in names if name not in done]
        stored = 0

        def on_done(job: ModelJob) -> None:
            nonlocal stored
            if job.row is None:
                failures.append(f"{job.name},{job.failure!r}\n")
            else:
                stored += store.insert(spec, job.row)

        try:
            if jobs:
                with connect(scheduler=args.scheduler, workers=args.workers) as client:
                    run_jobs(client, jobs, on_done=on_done, desc="torchvision zoo", unit="model")
        finally:
            if stored or not args.out.exists():
                store.export_csv(spec, args.out)
            fail_path.write_text("".join(failures))  # failures of this run only (they are retried on every run)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
