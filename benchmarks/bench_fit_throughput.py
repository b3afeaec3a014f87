"""Benchmark: training throughput of the project's ``fit`` for Table 4.2's models, one process and
several processes sharing one device, in one run.

Each measurement trains one model with :func:`reuseprior.training.loop.fit` under each of ``--recipes``
of :mod:`reuseprior.chapters.ch4_sharing_training.table42_study` (RMSprop-TF, EMA, the sharing-aware step
size by default; ``adamw-cosine`` is what the study trains) on random 32 px grey images served as 3
channels (throughput does not depend on the pixels), at ``--batch``, for two epochs of ``--steps`` steps
each: the first epoch pays for cuDNN's algorithm search and allocator warm-up, so the rate reported is
the second epoch's (``images_per_s`` of the history: training steps only, evaluation excluded). Beside
it, in the same run on the same device, the same model's plain step (forward, cross-entropy, backward,
SGD's multi-tensor step: :func:`reuseprior.training.step_calls.plain_step_seconds`) and ``fit``'s step
time divided by it: on a GPU, where these models are launch-bound, the ratio is what ``fit`` adds to the
least a step costs on that card. With ``--processes K > 1`` the first model is then
trained by K processes at once (spawned; each its own CUDA context), and their summed rate is set
beside the one-process rate: on a GPU that a small model at 32 px leaves idle between kernel launches,
several processes fill it. Each row says whether the optimizer updated its tensors one at a time
(:func:`reuseprior.training.loop.updates_one_tensor_at_a_time`: timm's RMSpropTF before 1.0.31 on
CUDA), and the summary names timm's version. Prints a table and writes ``build/benchmarks/fit_throughput.json``
(``--out``). Usage::

    python benchmarks/bench_fit_throughput.py --device cuda [--batch 512] [--steps 40] [--processes 4]
        [--recipes official-steps-peruse adamw-cosine]
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import sys
import time
from pathlib import Path

import timm
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reuseprior.chapters.ch4_sharing_training import MODELS, build_experiment_model, designs, make_plan  # noqa: E402
from reuseprior.core.cpu import device_description  # noqa: E402
from reuseprior.core.files import write_json  # noqa: E402
from reuseprior.training.augment import GreyAsRGB  # noqa: E402
from reuseprior.training.loop import fit, make_optimizer, updates_one_tensor_at_a_time  # noqa: E402
from reuseprior.training.step_calls import plain_step_seconds  # noqa: E402


def measure(model_label: str, recipe: str, batch: int, steps: int, device: str, width: float) -> dict:
    """Images per second of the second of two epochs of ``fit`` (``steps`` steps each)."""
    torch.manual_seed(0)
    settings = designs.recipe_settings(recipe, "gpu")
    plan = make_plan({**settings, "models": (model_label,), "width_mult": width, "batch_size": batch, "epochs": 2})
    model = build_experiment_model(MODELS[model_label], 10, width_mult=width, depth_mult=1.0)
    images = torch.randn(batch * steps, 1, 32, 32)
    labels = torch.randint(0, 10, (batch * steps,))
    val = GreyAsRGB(images[:batch], labels[:batch])
    result = fit(model, GreyAsRGB(images, labels), val, plan.config, device=device, progress=False)
    second = result.history[-1]
    return {
        "model": model_label,
        "recipe": recipe,
        "width": width,
        "batch": batch,
        "steps": steps,
        "images_per_s": second["images_per_s"],
        "step_ms": 1000.0 * second["epoch_time_s"] / steps,
        "params": result.params,
        "optimizer_one_tensor_at_a_time": updates_one_tensor_at_a_time(
            make_optimizer(model, plan.config), torch.device(device)
        ),
    }


def plain_step_ms(model_label: str, batch: int, steps: int, device: str, width: float) -> float:
    """Milliseconds per plain training step (:func:`reuseprior.training.step_calls.plain_step`) of a fresh
    ``model_label`` on ``device``, at the batch and 32 px grey images :func:`measure` trains on, served
    as ``fit`` serves them on a GPU (the grey channel repeated as a view): the baseline that ``fit``'s
    step is divided by, on the same card in the same run."""
    torch.manual_seed(0)
    model = build_experiment_model(MODELS[model_label], 10, width_mult=width, depth_mult=1.0).to(device)
    images = torch.randn(batch, 1, 32, 32, device=device).expand(-1, 3, -1, -1)
    labels = torch.randint(0, 10, (batch,), device=device)
    return 1000.0 * plain_step_seconds(model, images, labels, steps)


def _worker(args: tuple) -> dict:
    torch.set_num_threads(1)
    return measure(*args)


def concurrent(k: int, job: tuple) -> dict:
    """``job`` (the arguments of :func:`measure`) run by ``k`` spawned processes at once: their summed rate."""
    start = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(k) as pool:
        rows = pool.map(_worker, [job] * k)
    return {
        "processes": k,
        "model": job[0],
        "recipe": job[1],
        "images_per_s_total": sum(r["images_per_s"] for r in rows),
        "images_per_s_each": [round(r["images_per_s"]) for r in rows],
        "wall_s": time.perf_counter() - start,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument(
        "--recipes",
        nargs="+",
        default=["official-steps-peruse"],
        choices=list(designs.CANDIDATE_RECIPES),
        help="fit's recipes to measure (the study trains adamw-cosine; the 10,000 img/s goal was set on the default)",
    )
    parser.add_argument("--models", nargs="+", default=list(designs.STUDY_MODELS))
    parser.add_argument("--processes", type=int, nargs="*", default=[])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "benchmarks" / "fit_throughput.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for model in args.models:
        plain_ms = plain_step_ms(model, args.batch, args.steps, args.device, args.width)
        print(f"{model:>15}: plain step {plain_ms:6.1f} ms (batch {args.batch}, SGD multi-tensor)", flush=True)
        for recipe in args.recipes:
            row = measure(model, recipe, args.batch, args.steps, args.device, args.width)
            row.update(plain_step_ms=plain_ms, fit_to_plain=row["step_ms"] / plain_ms)
            rows.append(row)
            print(
                f"{model:>15}: {row['images_per_s']:9.0f} images/s, {row['step_ms']:6.1f} ms a step with {recipe}, "
                f"{row['fit_to_plain']:.2f}x the plain step ({row['params']:,} parameters, timm {timm.__version__}"
                f"{'; the optimizer updated one tensor at a time' if row['optimizer_one_tensor_at_a_time'] else ''})",
                flush=True,
            )
    shared = []
    for k in args.processes:
        row = concurrent(k, (args.models[0], args.recipes[0], args.batch, args.steps, args.device, args.width))
        ratio = row["images_per_s_total"] / rows[0]["images_per_s"]
        print(
            f"{k} processes of {row['model']}: {row['images_per_s_total']:9.0f} images/s together "
            f"({ratio:.2f}x one process; each {row['images_per_s_each']})",
            flush=True,
        )
        shared.append({**row, "ratio_to_one": ratio})
    summary = {
        "device": device_description(args.device),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "single": rows,
        "shared": shared,
    }
    write_json(args.out, summary)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
