"""Benchmark: how often the verdict rule (:func:`~reuseprior.core.verdict_policy.verdict`)
decides a true difference, beside the paired t-test whose power
(:func:`~reuseprior.reporting.statistics.paired_power`) the studies' design
tables quote.

Per number of pairs ``n``: the true difference is the one the two-sided paired
t-test at :data:`~reuseprior.core.verdict_policy.ALPHA` finds with
:data:`~reuseprior.core.verdict_policy.DESIGN_POWER`
(:func:`~reuseprior.reporting.statistics.detectable_difference` at SD 1);
``--samples`` seeded samples of ``n`` differences drawn from N(that, 1), each
given the t-interval and the exact permutation p. Prints the share of samples
whose t-interval excludes 0 (the t-test's power, measured: it should be near
the design power) and the share the rule calls *reproduced* for the claim
``"greater"`` (the t-interval above 0 **and** the permutation p below
``ALPHA``), with the binomial standard error. The gap is what the
t-test's power overstates of the rule's. Writes
``build/benchmarks/rule_power.json`` (``--out``). Usage::

    python benchmarks/bench_rule_power.py [--pairs 6 8 10] [--samples 4000]
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
from reuseprior.core.verdict_policy import DESIGN_POWER, REPRODUCED, verdict  # noqa: E402
from reuseprior.reporting import statistics as st  # noqa: E402


def decided(n: int, samples: int, seed: int) -> dict[str, float]:
    """The measured power of the t-test and of the rule over ``samples`` samples of ``n`` pairs."""
    difference = st.detectable_difference(1.0, n)
    rng = np.random.default_rng(seed)
    t_test = rule = 0
    for _ in range(samples):
        d = rng.normal(difference, 1.0, n)
        low, high = st.t_interval(d)
        t_test += low > 0 or high < 0
        summary = {"t low": low, "t high": high, "permutation p": st.permutation_p(d)}
        rule += verdict(summary, "greater") == REPRODUCED
    se = math.sqrt(DESIGN_POWER * (1 - DESIGN_POWER) / samples)
    return {"pairs": n, "difference (SD)": difference, "t-test": t_test / samples, "rule": rule / samples, "se": se}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, nargs="+", default=[6, 8, 10])
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "benchmarks" / "rule_power.json")
    args = parser.parse_args(argv)
    rows = [decided(n, args.samples, args.seed + n) for n in args.pairs]
    print(f"true difference: what the paired t-test finds with {DESIGN_POWER:.0%} power; {args.samples} samples")
    print(f"{'pairs':>6} {'difference (SD)':>16} {'t-test':>7} {'rule':>6} {'s.e.':>6}")
    for r in rows:
        print(f"{r['pairs']:>6} {r['difference (SD)']:>16.3f} {r['t-test']:>7.3f} {r['rule']:>6.3f} {r['se']:>6.3f}")
    write_json(args.out, {"settings": {**vars(args), "out": str(args.out)}, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
