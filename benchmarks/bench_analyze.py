"""Benchmark: ``analyze(EfficientNetV2-S, 384 px)`` (capture included) vs one float64
SynFlow-style forward+backward of the same model (|weights|, all-ones input, batch norm
replaced by identity, eval mode).

Both are measured in one run on the same machine; prints the ratio and writes
``build/benchmarks/analyze_vs_synflow.json``.  Usage::

    python benchmarks/bench_analyze.py [--model efficientnet_v2_s] [--size 384] [--threads N]
"""

from __future__ import annotations

import argparse
import copy
import platform
import sys
import time
from pathlib import Path

import torch
import torchvision
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reuseprior.core.files import write_json  # noqa: E402
from reuseprior.counting import analyze  # noqa: E402


def _strip_bn(model: nn.Module) -> nn.Module:
    for name, child in model.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(model, name, nn.Identity())
        else:
            _strip_bn(child)
    return model


def synflow_seconds(model: nn.Module, size: int) -> float:
    """One float64 SynFlow forward+backward (Tanaka et al. 2020 style) in seconds."""
    m = _strip_bn(copy.deepcopy(model)).double().eval()
    with torch.no_grad():
        for p in m.parameters():
            p.abs_()
    x = torch.ones(1, 3, size, size, dtype=torch.float64)
    t = time.perf_counter()
    m(x).sum().backward()
    return time.perf_counter() - t


def analyze_seconds(model: nn.Module, size: int) -> tuple[float, dict]:
    t = time.perf_counter()
    rep = analyze(model, torch.zeros(1, 3, size, size))
    return time.perf_counter() - t, rep.to_dict()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="efficientnet_v2_s")
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "benchmarks" / "analyze_vs_synflow.json")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    model = torchvision.models.get_model(args.model, weights=None).eval()
    # warm-up both code paths on a tiny input (imports, kernels), not timed
    analyze(model, torch.zeros(1, 3, 32, 32))
    t_analyze, quantities = analyze_seconds(model, args.size)
    t_syn = synflow_seconds(model, args.size)
    ratio = t_analyze / t_syn
    result = {
        "model": args.model,
        "size": args.size,
        "threads": torch.get_num_threads(),
        "analyze_seconds": round(t_analyze, 3),
        "synflow_float64_seconds": round(t_syn, 3),
        "ratio_analyze_over_synflow": round(ratio, 4),
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "PG": quantities["PG"],
        "PG_prime": quantities["PG_prime"],
    }
    write_json(args.out, result, indent=2)
    print(
        f"analyze({args.model}, {args.size}px): {t_analyze:.2f} s; float64 SynFlow fwd+bwd: {t_syn:.2f} s; "
        f"ratio {ratio:.3f} ({'faster' if ratio <= 1 else 'slower'} than SynFlow)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
