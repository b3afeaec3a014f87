"""Benchmark: how long the registries' answers take against ``python -c "import torch"``, in one run.

Issue 74 asks that ``study --list``, ``score-zoos --list``, ``build --list`` and a misspelt study
(``study ch44 status``) each take at most half the time of importing torch on the same machine. Each is
timed as a fresh ``python -m reuseprior ...`` process (wall clock, start to exit), the torch import
likewise, in rounds (every command once per round, in turn, so that a machine shared with other work
slows each alike); the median of the rounds is each one's time and the ratio its median over torch's.
The load average is printed and stored beside: on a shared machine the ratios are only as good as the
cores were free. Writes ``data/benchmarks/registry_listing.json`` (machine, date, every time). Usage::

    python benchmarks/bench_registry_listing.py [--rounds 5] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reuseprior.core.files import write_json  # noqa: E402

#: the baseline, then the answers the issue names (each a command line after ``python``)
COMMANDS: dict[str, list[str]] = {
    "import torch": ["-c", "import torch"],
    "study --list": ["-m", "reuseprior", "study", "--list"],
    "score-zoos --list": ["-m", "reuseprior", "score-zoos", "--list"],
    "build --list": ["-m", "reuseprior", "build", "--list"],
    "study ch44 status": ["-m", "reuseprior", "study", "ch44", "status"],
}
#: what each answer may take, as a fraction of the torch import's time
LIMIT = 0.5


def _timed(argv: list[str]) -> float:
    """Wall-clock seconds of ``python ARGV`` from the checkout (its output discarded; a misspelt study exits 2)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, check=False)
    return time.perf_counter() - start


def measure(rounds: int) -> dict[str, list[float]]:
    """Every command's times, one per round, the commands in turn within a round."""
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(rounds):
        for name, argv in COMMANDS.items():
            times[name].append(_timed(argv))
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of every command (default 5)")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "benchmarks" / "registry_listing.json")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    times = measure(args.rounds)
    medians = {name: statistics.median(values) for name, values in times.items()}
    base = medians["import torch"]
    ratios = {name: medians[name] / base for name in COMMANDS if name != "import torch"}
    print(f"import torch: {base:.2f} s (median of {args.rounds}); load average before {load_before[0]:.2f}")
    for name, ratio in ratios.items():
        verdict = "within" if ratio <= LIMIT else "OVER"
        print(f"{name:20s} {medians[name]:6.2f} s  {ratio:5.2f}x import torch ({verdict} the limit {LIMIT})")
    summary = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": load_before[0],
            "load_average_after": os.getloadavg()[0],
        },
        "rounds": args.rounds,
        "limit": LIMIT,
        "seconds": times,
        "median_seconds": medians,
        "ratio_to_import_torch": ratios,
    }
    write_json(args.out, summary)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
