"""Benchmark: how often a nominal-95 % interval of a mean difference covers
the true mean over few pairs, for the percentile bootstrap and the paired
t-interval of :mod:`reuseprior.reporting.statistics`.

Per number of pairs ``n``: ``--samples`` seeded samples of ``n`` differences
drawn from N(0, 1) (the true mean is 0; a location or scale would not change
the coverage), each given the percentile bootstrap interval
(:func:`~reuseprior.reporting.statistics.percentile_bootstrap`, ``--resamples``
resamples, the pair minimum lifted) and the t-interval
(:func:`~reuseprior.reporting.statistics.t_interval`); prints the share of
samples whose interval contains 0, with its binomial standard error, and the
smallest ``n`` whose bootstrap coverage is within
:data:`~reuseprior.reporting.statistics.BOOTSTRAP_COVERAGE_TOLERANCE` of the
nominal level, which :data:`~reuseprior.reporting.statistics.MIN_PAIRS_FOR_BOOTSTRAP`
must equal. Writes ``build/benchmarks/interval_coverage.json``. Usage::

    python benchmarks/bench_interval_coverage.py [--pairs 3 5 10 20] [--samples 10000] [--resamples 1000]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reuseprior.core.files import write_json  # noqa: E402
from reuseprior.core.verdict_policy import CONFIDENCE  # noqa: E402
from reuseprior.reporting import statistics as st  # noqa: E402


def coverage(n: int, samples: int, resamples: int, confidence: float, seed: int) -> dict[str, float]:
    """Measured coverage of both intervals over ``samples`` normal samples of ``n`` pairs."""
    rng = np.random.default_rng(seed)
    boot = t = 0
    for k in range(samples):
        d = rng.standard_normal(n)
        low, high = st.percentile_bootstrap(d, confidence, resamples=resamples, seed=k, min_pairs=1)
        boot += low <= 0 <= high
        low, high = st.t_interval(d, confidence)
        t += low <= 0 <= high
    se = math.sqrt(confidence * (1 - confidence) / samples)
    return {"pairs": n, "bootstrap": boot / samples, "t-interval": t / samples, "standard error": se}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, nargs="+", default=[3, 5, 10, 20])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = [coverage(n, args.samples, args.resamples, CONFIDENCE, args.seed + n) for n in args.pairs]
    print(f"nominal {CONFIDENCE:.0%}, {args.samples} samples of N(0, 1) differences, {args.resamples} resamples")
    print(f"{'pairs':>6} {'bootstrap':>10} {'t-interval':>11} {'s.e. at nominal':>16}")
    for r in rows:
        print(f"{r['pairs']:>6} {r['bootstrap']:>10.3f} {r['t-interval']:>11.3f} {r['standard error']:>16.3f}")
    enough = [r["pairs"] for r in rows if r["bootstrap"] >= CONFIDENCE - st.BOOTSTRAP_COVERAGE_TOLERANCE]
    first = min(enough) if enough else None
    print(
        f"first n with bootstrap coverage >= {CONFIDENCE - st.BOOTSTRAP_COVERAGE_TOLERANCE:.3f}: {first}; "
        f"MIN_PAIRS_FOR_BOOTSTRAP = {st.MIN_PAIRS_FOR_BOOTSTRAP}"
    )
    out = ROOT / "build" / "benchmarks" / "interval_coverage.json"
    write_json(out, {"settings": vars(args), "rows": rows, "first_n": first})


if __name__ == "__main__":
    main()
