"""Benchmark: peak memory of one data-dependent proxy on one zoo model, measured
at small minibatches and extrapolated to the zoo's minibatch.

What a proxy that runs out of memory would need, measured rather than
guessed: each (architecture, proxy, batch size) runs in its own process (the
one worker of a Dask LocalCluster started for it), which builds the model and
the seeded minibatch (:func:`reuseprior.baselines.proxies.make_batch`, as the
fill does), notes its resident memory, resets the kernel's high-water mark
(``/proc/self/clear_refs``), scores the one proxy
(:func:`reuseprior.baselines.proxies.data_dependent_scores`, as a proxy scored
alone) and reads the high-water mark (``VmHWM``). The proxy's extra memory is fitted as
``a + b * batch`` (least squares; activations grow linearly with the batch)
and extrapolated to the zoo's batch; the table prints the fit, the predicted
peak and this machine's total memory. Writes
``build/benchmarks/proxy_memory.json``. Usage::

    python benchmarks/bench_proxy_memory.py --zoo pytorchcv --arch efficientnet_b5b \\
        --proxies grad_norm grasp --batches 1 2 4
"""

from __future__ import annotations

import argparse
import platform
import signal
import sys
from pathlib import Path

import numpy as np
from distributed import KilledWorker
from tqdm.auto import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reuseprior.baselines.proxies import data_dependent_scores, make_batch  # noqa: E402
from reuseprior.baselines.registry import DATA_DEPENDENT  # noqa: E402
from reuseprior.core.files import write_json  # noqa: E402
from reuseprior.zoo.distributed import Killed, connect  # noqa: E402
from reuseprior.zoo.scoring import get_zoo  # noqa: E402

GIB = 2**30


def _proc_bytes(path: str, field: str) -> int:
    """A ``field: N kB`` line of a ``/proc`` file (``VmRSS`` of ``/proc/self/status``, ``MemTotal`` of
    ``/proc/meminfo``), in bytes."""
    with open(path) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{path} has no {field} (this benchmark needs Linux)")


def _measure(zoo_name: str, arch: str, proxy: str, batch_size: int, seed: int) -> tuple[int, int, float]:
    """In a spawned child: (resident bytes before the proxy, peak bytes while it ran, its value)."""
    zoo = get_zoo(zoo_name)
    row = zoo.catalogue().set_index("arch").loc[arch]
    model = zoo.build_seeded(arch, seed)
    batch = make_batch(batch_size, zoo.size_of(row), zoo.num_classes, source="sample_images", seed=seed)
    before = _proc_bytes("/proc/self/status", "VmRSS")
    with open("/proc/self/clear_refs", "w") as f:  # the high-water mark restarts from the current RSS
        f.write("5")
    value = data_dependent_scores(model, batch, [proxy])[proxy]
    return before, _proc_bytes("/proc/self/status", "VmHWM"), float(value)


def measure(zoo_name: str, arch: str, proxy: str, batch_size: int, seed: int = 0) -> dict[str, float]:
    """Peak memory of ``proxy`` on ``arch`` at ``batch_size``, in a fresh
    process: the one worker of a LocalCluster started for this measurement
    (closed after it, which also stops it on Ctrl-C)."""
    what = f"{arch} {proxy} at batch {batch_size}"
    with connect(workers=1, allowed_failures=0, say=lambda _: None) as client:
        future = client.submit(_measure, zoo_name, arch, proxy, batch_size, seed, key=f"measure {what}", pure=False)
        outcome = _outcome(future)
    if isinstance(outcome, Killed):
        raise RuntimeError(f"{what}: the measuring process was killed (out of memory?); measure smaller --batches")
    if isinstance(outcome, BaseException):
        raise RuntimeError(f"{what} failed in the measuring process: {type(outcome).__name__}: {outcome}")
    before, peak, value = outcome
    return {
        "batch": batch_size,
        "before_gib": before / GIB,
        "peak_gib": peak / GIB,
        "proxy_gib": (peak - before) / GIB,
        "value": value,
    }


def _outcome(future) -> object:
    """The measurement, :class:`Killed` when its worker died, or the exception it raised."""
    error = future.exception()
    if isinstance(error, KilledWorker):
        return Killed(memory_limit=None, attempts=1)
    return error if error is not None else future.result()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo", default="pytorchcv")
    ap.add_argument("--arch", nargs="+", default=["efficientnet_b5b"])
    ap.add_argument("--proxies", nargs="+", default=["grad_norm"], choices=sorted(DATA_DEPENDENT))
    ap.add_argument(
        "--batches",
        nargs="+",
        type=int,
        default=[1, 2, 4],
        help="measured minibatch sizes, at least two (models whose batch norm sees 1x1 maps in training mode, "
        "like ResNeSt's split attention, need 2 or more examples)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "benchmarks" / "proxy_memory.json")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # killed: stop the measuring child too
    if len(set(args.batches)) < 2 or min(args.batches) < 1:
        ap.error(f"--batches {args.batches}: give at least two different sizes >= 1 to fit a line through")
    zoo = get_zoo(args.zoo)
    known = set(zoo.catalogue()["arch"])
    for arch in args.arch:
        if arch not in known:
            ap.error(f"{arch!r} is not in the {args.zoo} catalogue")
    total_gib = _proc_bytes("/proc/meminfo", "MemTotal") / GIB
    results = []
    for arch in args.arch:
        for proxy in args.proxies:
            try:
                runs = [
                    measure(args.zoo, arch, proxy, n, args.seed)
                    for n in tqdm(sorted(set(args.batches)), desc=f"{arch} {proxy}", leave=False)
                ]
            except RuntimeError as exc:  # reported, and the other measurements go on
                results.append({"arch": arch, "proxy": proxy, "error": str(exc)})
                print(f"{arch:22s} {proxy:10s} not measured: {exc}", flush=True)
                continue
            sizes = np.array([r["batch"] for r in runs], dtype=float)
            extra = np.array([r["proxy_gib"] for r in runs])
            slope, intercept = np.polyfit(sizes, extra, 1)
            base = max(r["before_gib"] for r in runs)
            predicted = base + intercept + slope * zoo.batch_size
            results.append(
                {
                    "arch": arch,
                    "proxy": proxy,
                    "runs": runs,
                    "gib_per_example": float(slope),
                    "fixed_gib": float(intercept),
                    "zoo_batch": zoo.batch_size,
                    "predicted_peak_gib": float(predicted),
                }
            )
            print(
                f"{arch:22s} {proxy:10s} {slope:6.2f} GiB/example + {intercept:5.2f} GiB -> "
                f"batch {zoo.batch_size}: about {predicted:5.1f} GiB peak (machine: {total_gib:.1f} GiB)",
                flush=True,
            )
    write_json(
        args.out,
        {
            "zoo": args.zoo,
            "seed": args.seed,
            "machine_gib": total_gib,
            "python": platform.python_version(),
            "results": results,
        },
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
