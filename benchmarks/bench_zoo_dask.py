"""Benchmark: NAS-Bench-201 rows per minute of ``score-zoos`` on a Dask
LocalCluster of 1 and of 2 workers, in one run, and their ratio.

Each measurement scores the same cells (positions 1..N of the seeded order,
data-free scores: #params, FLOPs, SynFlow and every reusability quantity, the
data-dependent proxies left out to keep it short) with
:func:`reuseprior.zoo.scoring.score_zoo`, the command's own path: one Dask
task per cell, each finished row committed to a fresh SQLite store, the CSV
exported at the end. The cluster is started and each worker has scored one
cell before the clock starts (worker start-up is paid once per run, not per
row). The rows of both runs are checked equal, value for value. The load
average is printed beside each measurement: on a machine shared with other
work the ratio is only as good as the cores were free. Writes
``build/benchmarks/zoo_dask.json``. Usage::

    python benchmarks/bench_zoo_dask.py [--cells 24] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_common import write_worker_ratio  # noqa: E402

from reuseprior.core.files import write_csv  # noqa: E402
from reuseprior.zoo.distributed import connect  # noqa: E402
from reuseprior.zoo.scoring import load_scores, score_zoo, scores_path  # noqa: E402

#: Columns that are measurements of time, not scores.
_TIMES = ("_seconds", "scored_at")


def _warm(data_dir: Path, cells: int, workers: int, client) -> None:
    """Give every worker a cell to score before the clock starts (the first
    score of a process loads the sample photographs and sets up FLOP counting)."""
    warm_dir = data_dir / "warm"
    warm_dir.mkdir()
    _seed_rows(warm_dir, cells)  # so that it scores the next cells, not the measured ones
    score_zoo("nb201", limit=1 + cells + workers, full_every=10**9, data_dir=warm_dir, client=client, progress=False)


def _seed_rows(data_dir: Path, last: int = 0) -> None:
    """Store positions 0..``last`` of the order (the committed rows): position 0,
    which ``full_every`` would score with every proxy, and any not to be scored."""
    stored = load_scores("nb201")
    write_csv(stored[stored["order"] <= last], scores_path("nb201", data_dir=data_dir), float_format="%.17g")


def measure(workers: int, cells: int) -> tuple[dict[str, float], pd.DataFrame]:
    """Rows per minute of ``cells`` data-free NAS-Bench-201 rows on ``workers`` workers, and the rows."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-zoo-dask-") as tmp,
        connect(workers=workers, say=lambda _: None) as client,
    ):
        data_dir = Path(tmp)
        _warm(data_dir, cells, workers, client)
        _seed_rows(data_dir)
        load = os.getloadavg()[0]
        start = time.perf_counter()
        path = score_zoo("nb201", limit=1 + cells, full_every=10**9, data_dir=data_dir, client=client, progress=False)
        seconds = time.perf_counter() - start
        rows = pd.read_csv(path)
    rows = rows[rows["order"] > 0].sort_values("order").reset_index(drop=True)
    assert len(rows) == cells, f"{len(rows)} rows stored, {cells} expected"
    return {
        "workers": workers,
        "cells": cells,
        "seconds": seconds,
        "rows_per_minute": 60 * cells / seconds,
        "load_average_1min": load,
    }, rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=24, help="NAS-Bench-201 cells scored per measurement")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="LocalCluster sizes to compare")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "benchmarks" / "zoo_dask.json")
    args = ap.parse_args(argv)
    results, rows = [], []
    for workers in args.workers:
        result, scored = measure(workers, args.cells)
        results.append(result)
        rows.append(scored)
        print(
            f"{workers} worker(s): {args.cells} rows in {result['seconds']:.1f} s = "
            f"{result['rows_per_minute']:.1f} rows/min (load average {result['load_average_1min']:.1f})",
            flush=True,
        )
    values = [c for c in rows[0].columns if not c.endswith(_TIMES)]
    for other in rows[1:]:
        pd.testing.assert_frame_equal(other[values], rows[0][values])
    write_worker_ratio(results, "rows_per_minute", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
