"""The CPU-kernel record that tells "same kernels, must be equal" from "other kernels"."""

from __future__ import annotations

import platform
from pathlib import Path

import torch

from reuseprior.core.cpu import SIMD_FLAGS, cpu_kernels


def test_cpu_kernels_names_the_machine_the_capability_and_the_extensions_present():
    words = cpu_kernels().split()
    assert words[:2] == [platform.machine(), torch.backends.cpu.get_cpu_capability()]
    assert set(words[2:]) <= set(SIMD_FLAGS)
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        line = next((x for x in cpuinfo.read_text().splitlines() if x.startswith("flags")), None)
        flags = line.split() if line else []  # aarch64 names its extensions "Features": none of SIMD_FLAGS
        assert words[2:] == [f for f in SIMD_FLAGS if f in flags]  # in SIMD_FLAGS's order: one string per kind
    assert cpu_kernels() is cpu_kernels()  # read once per process
