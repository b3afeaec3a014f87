"""Benchmark: the six data-dependent proxies in one shared pass
(:func:`reuseprior.baselines.proxies.data_dependent_scores`) vs one pass per proxy.

Scores the same NAS-Bench-201 cells (spread over the FLOPs range: the median
and the extremes of the stored sample) both ways on one CPU thread, checks the
values are identical, and prints the CPU-time ratio; writes
``build/benchmarks/proxies_shared_vs_separate.json``. Usage::

    python benchmarks/bench_proxies.py [--cells 3] [--repeats 1]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reuseprior.baselines.proxies import PROXIES, data_dependent_scores  # noqa: E402
from reuseprior.baselines.registry import proxy_names  # noqa: E402
from reuseprior.core.files import write_json  # noqa: E402
from reuseprior.core.ordering import sort_rows  # noqa: E402
from reuseprior.zoo.scoring import get_zoo, load_scores  # noqa: E402


def cpu_seconds(fn) -> tuple[float, object]:
    t = time.process_time()
    out = fn()
    return time.process_time() - t, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=3, help="cells spread over the FLOPs range of the stored rows")
    ap.add_argument("--repeats", type=int, default=1, help="best of N per way")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "benchmarks" / "proxies_shared_vs_separate.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    zoo = get_zoo("nb201")
    stored = sort_rows(load_scores("nb201"), "flops", then="arch")  # many cells share a FLOP count
    if stored.empty:
        raise SystemExit("no stored NAS-Bench-201 rows: run python -m reuseprior score-zoos nb201 --limit 10 first")
    picks = stored.iloc[[round(i * (len(stored) - 1) / max(args.cells - 1, 1)) for i in range(args.cells)]]
    batch = zoo.batch(zoo.image_size, seed=0)
    names = proxy_names(data_dependent=True)
    rows = []
    for arch, flops in zip(picks["arch"], picks["flops"]):
        model = zoo.build_seeded(arch, 0)

        def separate():
            out = {}
            for name in names:
                torch.manual_seed(0)
                out[name] = PROXIES[name](model, batch)  # noqa: B023 - called within the same iteration
            return out

        def shared():
            torch.manual_seed(0)
            return data_dependent_scores(model, batch)  # noqa: B023 - called within the same iteration

        t_sep, v_sep = min((cpu_seconds(separate) for _ in range(args.repeats)), key=lambda r: r[0])
        t_sh, v_sh = min((cpu_seconds(shared) for _ in range(args.repeats)), key=lambda r: r[0])
        identical = all(v_sep[n] == v_sh[n] for n in names)
        rows.append(
            {
                "arch": arch,
                "flops": flops,
                "separate_cpu_s": round(t_sep, 3),
                "shared_cpu_s": round(t_sh, 3),
                "ratio_shared_over_separate": round(t_sh / t_sep, 4),
                "identical_values": identical,
            }
        )
        print(
            f"{arch}  {flops / 1e6:7.1f} MFLOPs  separate {t_sep:6.2f} s  shared {t_sh:6.2f} s  "
            f"ratio {t_sh / t_sep:.3f}  values identical: {identical}"
        )
    total_sep = sum(r["separate_cpu_s"] for r in rows)
    total_sh = sum(r["shared_cpu_s"] for r in rows)
    result = {
        "cells": rows,
        "ratio_total": round(total_sh / total_sep, 4),
        "threads": 1,
        "batch": batch.description,
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
    }
    write_json(args.out, result, indent=2)
    print(f"all cells: shared {total_sh:.2f} s vs separate {total_sep:.2f} s CPU, ratio {total_sh / total_sep:.3f}")
    return 0 if all(r["identical_values"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
