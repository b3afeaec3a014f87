"""Benchmark: CPU seconds per NAS-Bench-201 cell of a ``score-zoos --fill-proxies``
task (FLOPs, SynFlow and Fisher: the scores version 2 recomputes) in a Dask
worker started by :func:`reuseprior.zoo.distributed.connect` (glibc's own
allocator settings) and in one started with Dask's defaults (its nanny sets
``MALLOC_TRIM_THRESHOLD_=65536`` before it starts the worker), in one run, and
their ratio; in this process too, as the floor.

The same cells (positions 0..N-1 of the zoo's seeded order) are scored in
each worker after one warm-up cell; the time is the task thread's own CPU
time (``time.thread_time``), so that the worker's event loop and other work
on a shared machine do not count. The scores of the two workers are checked
equal, value for value. Writes ``build/benchmarks/worker_allocator.json``.
Usage::

    python benchmarks/bench_worker_allocator.py [--cells 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from distributed import Client, LocalCluster

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reuseprior.core.files import write_json  # noqa: E402
from reuseprior.zoo.distributed import connect  # noqa: E402
from reuseprior.zoo.scoring import get_zoo, score_architecture  # noqa: E402

#: The scores a version-2 fill recomputes on a NAS-Bench-201 cell.
FILLED = ["flops", "synflow", "fisher"]
VARIABLE = "MALLOC_TRIM_THRESHOLD_"


def score_cells(archs: list[str]) -> dict[str, object]:
    """Score ``archs`` (after one warm-up cell) in the calling process; CPU seconds per cell and the scores."""
    zoo = get_zoo("nb201")
    catalogue = zoo.catalogue().set_index("arch", drop=False)
    batch = zoo.batch(zoo.image_size, 0)
    score_architecture(zoo, archs[0], proxies=FILLED, reuse=False, batch=batch, row=catalogue.loc[archs[0]])
    start = time.thread_time()
    scores = [
        {p: rec[p] for p in FILLED}
        for rec in (
            score_architecture(zoo, a, proxies=FILLED, reuse=False, batch=batch, row=catalogue.loc[a]) for a in archs
        )
    ]
    return {
        "cpu_seconds_per_cell": (time.thread_time() - start) / len(archs),
        "scores": scores,
        VARIABLE: os.environ.get(VARIABLE),
    }


def in_worker(client: Client, archs: list[str]) -> dict[str, object]:
    return client.submit(score_cells, archs, pure=False).result()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=20)
    args = ap.parse_args(argv)
    zoo = get_zoo("nb201")
    archs = zoo.order(zoo.catalogue(), 0)[: args.cells]
    caller_sets = os.environ.get(VARIABLE)
    load = os.getloadavg()[0]
    with connect(workers=1, say=lambda _: None) as client:
        ours = in_worker(client, archs)
    # Dask's defaults: its nanny writes the variable into this process's environment before it starts the worker
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True) as cluster, Client(cluster) as client:
        dask_default = in_worker(client, archs)
    if caller_sets is None:
        os.environ.pop(VARIABLE, None)
    here = score_cells(archs)
    assert ours["scores"] == dask_default["scores"] == here["scores"], "the workers scored the cells differently"
    result = {
        "cells": args.cells,
        "scores": FILLED,
        "cpu_seconds_per_cell": {
            "connect (glibc defaults)": ours["cpu_seconds_per_cell"],
            "Dask defaults": dask_default["cpu_seconds_per_cell"],
            "this process": here["cpu_seconds_per_cell"],
        },
        f"{VARIABLE} in the worker": {"connect": ours[VARIABLE], "Dask defaults": dask_default[VARIABLE]},
        "ratio_dask_defaults_over_connect": dask_default["cpu_seconds_per_cell"] / ours["cpu_seconds_per_cell"],
        "load_average_1min": load,
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }
    out = ROOT / "build" / "benchmarks" / "worker_allocator.json"
    write_json(out, result, indent=2)
    for name, seconds in result["cpu_seconds_per_cell"].items():
        print(f"{name:>26}: {seconds:.3f} CPU s per cell")
    print(f"{VARIABLE} in the worker: {result[f'{VARIABLE} in the worker']}")
    print(f"Dask defaults / connect: {result['ratio_dask_defaults_over_connect']:.2f} (load average {load:.1f})")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
