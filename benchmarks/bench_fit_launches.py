"""Benchmark: the ATen calls that do work in one training step of the project's ``fit``, beside a
plain step, with the optimizer updating its tensors one at a time and with multi-tensor calls, in one run.

Why it is counted, not timed: on a GPU, Table 4.2's models at 32 px are launch-bound (a V2-S-shared
step costs about the same at any batch up to 2,048), so a step's time follows the host's work per
step: every ATen call that computes is dispatched by the host and, on GPU tensors, launches at least one
kernel. The count is a property of the step, not of the machine, so this CPU approximates what a GPU
pays for (:mod:`reuseprior.training.step_calls` names where the two differ); the GPU's own rate is
``benchmarks/bench_fit_throughput.py``.

For each model at width 1.0 under ``--recipe``'s settings of Table 4.2's study (RMSprop-TF, the weight
average and the sharing-aware step size by default),
:func:`reuseprior.chapters.ch4_sharing_training.table42_study.count_step_calls` counts a plain step
(forward, cross-entropy, backward, SGD's multi-tensor step), ``fit``'s step with the optimizer one
tensor at a time (RMSprop-TF on a CPU, and on CUDA with timm before 1.0.31, whose RMSpropTF has no
multi-tensor path) and with multi-tensor calls (CUDA with timm 1.0.31 or later). Prints each ``fit``
step's ratio to the plain step and writes ``build/benchmarks/fit_launches.json`` (``--out``; the
stored copy the notebook shows is ``data/benchmarks/fit_launches_cpu.json``).

The ATen count does not see the Python that runs between those calls (walking the module tree,
per-tensor bookkeeping), which costs host time on a GPU as well. So the same run also counts, per model,
the Python function calls of a plain step and of ``fit``'s multi-tensor step
(:func:`reuseprior.chapters.ch4_sharing_training.table42_study.step_python_calls`, cProfile's counts over
``--steps`` steps; built-in and C functions, ATen's calls among them, left out). Counted, not timed:
profiled times vary by tens of percent from run to run on a shared machine, the counts do not. Usage::

    python benchmarks/bench_fit_launches.py [--models V2-S-shared V2-B0-original]  (default: every model of the study)
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import timm
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reuseprior.chapters.ch4_sharing_training import designs  # noqa: E402
from reuseprior.chapters.ch4_sharing_training import table42_study as table42  # noqa: E402
from reuseprior.core.files import write_json  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(designs.STUDY_MODELS), choices=list(designs.STUDY_MODELS))
    parser.add_argument("--recipe", default="official-steps-peruse", choices=list(designs.CANDIDATE_RECIPES))
    parser.add_argument("--steps", type=int, default=3, help="profiled steps for the Python calls per step")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "benchmarks" / "fit_launches.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = [
        {
            "model": m,
            "recipe": args.recipe,
            "calls": table42.count_step_calls(m, args.recipe),
            "python_calls": table42.step_python_calls(m, args.recipe, args.steps),
        }
        for m in args.models
    ]
    summary = {"python": platform.python_version(), "torch": torch.__version__, "timm": timm.__version__, "rows": rows}
    write_json(args.out, summary)
    print(f"ATen calls that do work in one training step (width 1.0, {args.recipe}), and each fit step's ratio:")
    print(table42.step_calls_table(args.out).round(2).to_string(index=False))
    print(f"Python function calls per step ({args.steps} steps counted), and fit's ratio:")
    print(table42.python_calls_table(args.out).round(2).to_string(index=False))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
