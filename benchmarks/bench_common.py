"""What the benchmarks of 1 against 2 Dask workers share: the ratio of their
rates, printed and written with the measurements to a JSON file."""

from __future__ import annotations

import platform
from pathlib import Path

from reuseprior.core.distributed import default_workers
from reuseprior.core.files import write_json


def write_worker_ratio(results: list[dict], rate: str, out: Path, *, note: str = "") -> float:
    """The ratio of ``rate`` between the last and the first of ``results`` (one per
    cluster size, each with ``workers``), printed and written to ``out`` with them."""
    ratio = results[-1][rate] / results[0][rate]
    print(
        f"ratio {results[-1]['workers']} vs {results[0]['workers']} workers: {ratio:.2f}x "
        f"({note}this machine: {default_workers()} cores; rows identical)"
    )
    summary = {"results": results, "ratio": ratio, "cores": default_workers(), "python": platform.python_version()}
    write_json(out, summary)
    print(f"wrote {out}")
    return ratio
