"""Benchmark: ``analyze`` against one float64 SynFlow-style forward+backward of the same model,
with the time and peak memory of each stage of ``analyze``.

For each model (EfficientNetV2-S at 384 px, ResNet-50, ViT-B/16, Swin-T and ConvNeXt-T at 224 px
by default), ``--repeats`` repetitions alternate one ``analyze(model, zeros(1, 3, s, s))``
(capture included) and one float64 SynFlow pass (|weights|, all-ones input, batch norm replaced
by identity, eval mode); each figure is the minimum over the repetitions, so that other work on
a shared machine (a background job, other users) does not decide it. The ratio is
``min analyze / min SynFlow``. Each ``analyze`` is split into its stages:

* ``capture``: the ATen graph (:func:`reuseprior.counting.capture.capture`: the meta
  recording, the memory check and the input check, which runs the model eagerly on the
  example only where the trace cannot settle it, :mod:`reuseprior.counting.input_check`);
* ``sweep set-up``: what the sweep reads of the graph before counting
  (:class:`reuseprior.counting.sweep.SweepContext`);
* ``rules``: the time spent inside the counting rules, summed over every op;
* ``sweep, the rest``: the propagation around the rules (adding counts, recording uses);
* ``quantities``: everything after the sweep (merging, log2 counts, eqs. 4.2-4.8).

Peak memory is the resident set (``VmHWM`` of ``/proc/self/status``, reset through
``/proc/self/clear_refs`` before each stage) above the resident set when the stage started,
in MiB, freed memory handed back to the system before each stage (glibc's ``malloc_trim``);
``None`` where the system offers neither file. It is measured in one extra repetition after the
timed ones, never in a timed one: the hand-back makes the next stage fault its pages in again. ``--growth``
adds the time and peak memory of ``analyze`` alone for EfficientNetV2-S at 224, 384 and 480 px
and for EfficientNetV2-S, -M and -L at 384 px. The machine, its CPU kernels, the threads, the
load average before and after, and the date are stored with the figures in
``data/benchmarks/analyze_vs_synflow.json`` (``--out``). Usage::

    python benchmarks/bench_analyze.py [--models efficientnet_v2_s:384 resnet50:224] [--repeats 5]
        [--threads N] [--growth] [--out PATH]
"""

from __future__ import annotations

import argparse
import copy
import ctypes
import os
import platform
import re
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import torch
import torchvision
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reuseprior.core.cpu import cpu_kernels  # noqa: E402
from reuseprior.core.files import write_json  # noqa: E402
from reuseprior.counting import analyze  # noqa: E402
from reuseprior.counting import quantities as quantities_module  # noqa: E402
from reuseprior.counting import sweep as sweep_module  # noqa: E402

MODELS = ["efficientnet_v2_s:384", "resnet50:224", "vit_b_16:224", "swin_t:224", "convnext_tiny:224"]
GROWTH_SIZES = ["efficientnet_v2_s:224", "efficientnet_v2_s:384", "efficientnet_v2_s:480"]
GROWTH_DEPTHS = ["efficientnet_v2_s:384", "efficientnet_v2_m:384", "efficientnet_v2_l:384"]
STAGES = ["capture", "sweep set-up", "rules", "sweep, the rest", "quantities"]
OUT = ROOT / "data" / "benchmarks" / "analyze_vs_synflow.json"


# ------------------------------------------------------------------------------ memory
try:
    _LIBC = ctypes.CDLL("libc.so.6")
except OSError:  # not glibc: the peaks may read pages reused from an earlier stage
    _LIBC = None


def _status_kib(field: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    found = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) if found else None


def _reset_peak() -> int | None:
    """Reset the resident-set peak to the current resident set; returns it (KiB), or None.
    Freed heap memory is handed back to the system first (glibc's ``malloc_trim``), so that
    what a stage allocates raises the resident set instead of reusing pages still resident."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return None
    return _status_kib("VmRSS")


def _peak_mib(start_kib: int | None) -> float | None:
    peak = _status_kib("VmHWM")
    return None if start_kib is None or peak is None else round((peak - start_kib) / 1024, 1)


# ------------------------------------------------------------------------------ the stages
class StageClock:
    """Times the stages of one ``analyze`` call by wrapping the functions it calls (module
    attributes of :mod:`reuseprior.counting.quantities` and :mod:`reuseprior.counting.sweep`,
    put back on exit); a wrapper adds one clock reading per call."""

    def __init__(self, memory: bool) -> None:
        self.memory = memory
        self.seconds = dict.fromkeys(STAGES, 0.0)
        self.peak_mib: dict[str, float | None] = dict.fromkeys(["capture", "sweep", "quantities"])
        self._start: int | None = None

    def _timed(self, stage: str, fn, *, memory: str | None = None):
        memory = memory if self.memory else None

        def wrapped(*args, **kwargs):
            if memory:
                self._start = _reset_peak()
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - t
                if memory:
                    self.peak_mib[memory] = _peak_mib(self._start)

        return wrapped

    def _timed_lookup(self, lookup):
        def timed_lookup(target):
            rule = lookup(target)
            if rule is None:
                return None

            def timed_rule(node, cout, ctx):
                t = time.perf_counter()
                try:
                    yield from rule(node, cout, ctx)
                finally:
                    self.seconds["rules"] += time.perf_counter() - t

            return timed_rule

        return timed_lookup

    @contextmanager
    def installed(self):
        patches = [
            (
                quantities_module,
                "_capture_one_output",
                self._timed("capture", quantities_module._capture_one_output, memory="capture"),
            ),
            (quantities_module, "run_sweep", self._timed("sweep", quantities_module.run_sweep, memory="sweep")),
            (sweep_module, "SweepContext", self._timed("sweep set-up", sweep_module.SweepContext)),
            (sweep_module, "lookup_rule", self._timed_lookup(sweep_module.lookup_rule)),
        ]
        saved = [(module, name, getattr(module, name)) for module, name, _ in patches]
        self.seconds["sweep"] = 0.0
        for module, name, value in patches:
            setattr(module, name, value)
        try:
            yield self
        finally:
            for module, name, value in saved:
                setattr(module, name, value)

    def stages(self, total: float) -> dict[str, float]:
        """The seconds of each stage (the rest of the sweep and the quantities by difference)."""
        s = self.seconds
        rest = s["sweep"] - s["sweep set-up"] - s["rules"]
        return {
            "capture": s["capture"],
            "sweep set-up": s["sweep set-up"],
            "rules": s["rules"],
            "sweep, the rest": rest,
            "quantities": total - s["capture"] - s["sweep"],
        }


def timed_analyze(model: nn.Module, size: int, *, memory: bool = False) -> dict:
    """One ``analyze`` of ``model`` at ``size`` px: its seconds, each stage's, PG and, with
    ``memory``, the peak memory of the capture, the sweep and the quantities. A repetition that
    measures memory is not a timing: each peak reset hands the freed heap back to the system,
    and the stage that follows pays the page faults of taking it again."""
    clock = StageClock(memory)
    x = torch.zeros(1, 3, size, size)
    with clock.installed():
        start = _reset_peak() if memory else None
        t = time.perf_counter()
        report = analyze(model, x)
        total = time.perf_counter() - t
        if memory:  # the whole call's peak (it holds the sweep's result)
            clock.peak_mib["quantities"] = _peak_mib(start)
    return {"seconds": total, "stages": clock.stages(total), "peak_mib": dict(clock.peak_mib), "PG": report.PG}


# ------------------------------------------------------------------------------ SynFlow
def _strip_bn(model: nn.Module) -> nn.Module:
    for name, child in model.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(model, name, nn.Identity())
        else:
            _strip_bn(child)
    return model


def synflow_model(model: nn.Module) -> nn.Module:
    """The float64 SynFlow copy of ``model`` (Tanaka et al. 2020): |weights|, batch norm as identity."""
    m = _strip_bn(copy.deepcopy(model)).double().eval()
    with torch.no_grad():
        for p in m.parameters():
            p.abs_()
    return m


def synflow_seconds(model: nn.Module, size: int) -> float:
    """One float64 SynFlow forward+backward of the prepared copy, in seconds (gradients cleared first)."""
    model.zero_grad(set_to_none=True)
    x = torch.ones(1, 3, size, size, dtype=torch.float64)
    t = time.perf_counter()
    model(x).sum().backward()
    return time.perf_counter() - t


# ------------------------------------------------------------------------------ the runs
def _load() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def _spec(text: str) -> tuple[str, int]:
    name, _, size = text.partition(":")
    return name, int(size or 224)


def compare_with_synflow(spec: str, repeats: int) -> dict:
    """``repeats`` interleaved runs of ``analyze`` and SynFlow on one model; minima and the ratio."""
    name, size = _spec(spec)
    model = torchvision.models.get_model(name, weights=None).eval()
    synflow = synflow_model(model)
    analyze(model, torch.zeros(1, 3, size, size))  # warm-up, not timed (imports, kernels, caches)
    runs, synflows = [], []
    for _ in range(repeats):
        runs.append(timed_analyze(model, size))
        synflows.append(synflow_seconds(synflow, size))
    best = min(runs, key=lambda r: r["seconds"])
    stages = {k: round(min(r["stages"][k] for r in runs), 4) for k in STAGES}
    peak_mib = timed_analyze(model, size, memory=True)["peak_mib"]
    result = {
        "model": name,
        "size": size,
        "analyze_seconds": round(best["seconds"], 4),
        "synflow_float64_seconds": round(min(synflows), 4),
        "ratio_analyze_over_synflow": round(best["seconds"] / min(synflows), 4),
        "stages_min_seconds": stages,
        "peak_mib": peak_mib,
        "analyze_seconds_all": [round(r["seconds"], 4) for r in runs],
        "synflow_seconds_all": [round(s, 4) for s in synflows],
        "PG": best["PG"],
    }
    print(
        f"{name} {size}px: analyze {result['analyze_seconds']:.3f} s, "
        f"SynFlow {result['synflow_float64_seconds']:.3f} s, "
        f"ratio {result['ratio_analyze_over_synflow']:.3f}; stages "
        + ", ".join(f"{k} {v:.3f}" for k, v in stages.items())
        + f"; peak MiB {result['peak_mib']}",
        flush=True,
    )
    return result


def growth(spec: str, repeats: int) -> dict:
    """The time (minimum of ``repeats``) and peak memory of ``analyze`` alone on one model."""
    name, size = _spec(spec)
    model = torchvision.models.get_model(name, weights=None).eval()
    best = min(timed_analyze(model, size)["seconds"] for _ in range(repeats))
    peak = timed_analyze(model, size, memory=True)["peak_mib"]["quantities"]
    params = sum(p.numel() for p in model.parameters())
    print(f"growth {name} {size}px: analyze {best:.3f} s, peak {peak} MiB ({params:,} parameters)", flush=True)
    return {"model": name, "size": size, "parameters": params, "analyze_seconds": round(best, 4), "peak_mib": peak}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--models",
        nargs="*",
        default=MODELS,
        help="name:size, torchvision names; none with --growth alone (default: %(default)s)",
    )
    ap.add_argument("--repeats", type=int, default=5, help="interleaved repetitions per model (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--growth", action="store_true", help="also EfficientNetV2-S at 224/384/480 px and -S/-M/-L")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error(f"--repeats must be at least 1, got {args.repeats}")
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = _load()
    rows = [compare_with_synflow(spec, args.repeats) for spec in args.models]
    grown = {}
    if args.growth:
        grown = {
            "input_size": [growth(spec, min(args.repeats, 3)) for spec in GROWTH_SIZES],
            "depth": [growth(spec, min(args.repeats, 3)) for spec in GROWTH_DEPTHS],
        }
    result = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "cpu_kernels": cpu_kernels(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "load_average_before": load_before,
        "load_average_after": _load(),
        "repeats": args.repeats,
        "note": (
            "minimum of the interleaved repetitions (analyze, SynFlow, analyze, ...); the machine may be shared "
            "(a background job at nice 19, other users), so the load average is stored and the minimum is read"
        ),
        "peak_memory": (
            "resident set (VmHWM) above its value at the stage's start, MiB, one extra repetition after the timed ones"
        ),
        "rows": rows,
        **({"growth": grown} if grown else {}),
    }
    write_json(args.out, result, indent=1)
    print(f"wrote {args.out} (load average {load_before} before, {result['load_average_after']} after)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
