"""Benchmark: runs per hour of a tiny synthetic trained study on a Dask
LocalCluster of 1 and of 2 workers, in one run, and their ratio.

The study (:mod:`reuseprior.core.study`, the path of ``python -m reuseprior
study``): every run trains a small MLP on seeded random data for a fixed
number of steps on one thread and returns its final loss; each run is one Dask
task and this process writes its row to a fresh CSV store as it arrives. The
cluster is started and each worker has run one warm-up run before the clock
starts. The rows of both measurements are checked equal. The load average is
printed beside each measurement: on a machine shared with other work the
ratio is only as good as the cores were free. Writes
``build/benchmarks/study_dask.json``. Usage::

    python benchmarks/bench_study_dask.py [--runs 12] [--steps 1000] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_common import write_worker_ratio  # noqa: E402

from reuseprior.core import study_runner  # noqa: E402
from reuseprior.core.distributed import connect  # noqa: E402
from reuseprior.core.study import RunStore, StudySpec  # noqa: E402


def train_run(*, seed: int, spec: StudySpec) -> dict:
    """One run: an MLP of 64-256-10 trained on 512 seeded random examples, full batch, for the
    study's design (its number of steps)."""
    steps = spec.design
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(seed)
    x, y = torch.randn(512, 64, generator=gen), torch.randint(0, 10, (512,), generator=gen)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    return {"plan": spec.plan, "seed": seed, "loss": loss.item()}


def _study(path: Path, seeds: range, steps: int) -> StudySpec:
    store = RunStore(path, key=("seed",), columns=("plan", "seed", "loss"))
    runs = tuple({"seed": s} for s in seeds)
    return StudySpec("bench", steps, {"steps": steps}, tuple(seeds), runs, train_run, store)


def measure(workers: int, runs: int, steps: int) -> tuple[dict[str, float], pd.DataFrame]:
    """Runs per hour of ``runs`` runs on ``workers`` workers, and the rows stored."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-study-dask-") as tmp,
        connect(workers=workers, say=lambda _: None) as client,
    ):
        warm = _study(Path(tmp) / "warm.csv", range(1000, 1000 + workers), steps)
        study_runner.run_study(warm, client=client, progress=False)
        study = _study(Path(tmp) / "runs.csv", range(runs), steps)
        load = os.getloadavg()[0]
        start = time.perf_counter()
        done = study_runner.run_study(study, client=client, progress=False)
        seconds = time.perf_counter() - start
        rows = pd.read_csv(study.store.path).sort_values("seed").reset_index(drop=True)
    assert len(done.stored) == runs == len(rows), f"{len(rows)} rows stored, {runs} expected"
    return {
        "workers": workers,
        "runs": runs,
        "steps": steps,
        "seconds": seconds,
        "runs_per_hour": 3600 * runs / seconds,
        "load_average_1min": load,
    }, rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=12, help="runs per measurement")
    ap.add_argument("--steps", type=int, default=1000, help="training steps per run")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="LocalCluster sizes to compare")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "benchmarks" / "study_dask.json")
    args = ap.parse_args(argv)
    results, rows = [], []
    for workers in args.workers:
        result, stored = measure(workers, args.runs, args.steps)
        results.append(result)
        rows.append(stored)
        print(
            f"{workers} worker(s): {args.runs} runs in {result['seconds']:.1f} s = "
            f"{result['runs_per_hour']:.0f} runs/hour (load average {result['load_average_1min']:.1f})",
            flush=True,
        )
    for other in rows[1:]:
        pd.testing.assert_frame_equal(other, rows[0])
    write_worker_ratio(results, "runs_per_hour", args.out, note="goal >= 1.8x with 2 workers; ")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
