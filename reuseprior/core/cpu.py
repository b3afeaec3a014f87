"""Which CPU kernels produced a floating-point result.

PyTorch (ATen), oneDNN and MKL each pick their float32 kernels by the CPU's
instruction set (AVX2, AVX-512, with or without AMX and the AVX-512
extensions), and kernels for different instruction sets sum in different
orders. A computation repeated with the same software on the same kind of CPU
is bit for bit the same; on another kind its float32 results differ in the
last bits, and a training run, which feeds every rounding back into the next
step, follows another trajectory (measured: the quick Revolver population
runs and the tiny EfficientNets of the Table 4.2 sharing runs differ by
several accuracy points after a few epochs, :mod:`reuseprior.core.precision`).
:func:`cpu_kernels` names the kind, so that stored results and executed
notebooks can record it and a check can tell "same kernels, must be equal"
from "other kernels, compare within a tolerance".
"""

from __future__ import annotations

import functools
import os
import platform
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import torch

from reuseprior.core.errors import MachineKindError

__all__ = [
    "PINNED_CPU_KERNELS",
    "PINNED_CPU_KIND",
    "SIMD_FLAGS",
    "cpu_kernels",
    "device_description",
    "kernel_pinned_kind",
    "kernels_pinned",
    "kind_folder",
    "machine_kind",
    "machine_kinds",
    "other_machine_kinds",
    "run_provenance",
    "torch_versions",
]

#: The instruction-set extensions (Linux ``/proc/cpuinfo`` flag names) that
#: change which float32 kernels the libraries dispatch to.
SIMD_FLAGS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
)


@functools.cache
def cpu_kernels() -> str:
    """The kind of CPU kernels this process runs: the machine, PyTorch's CPU
    capability and the extensions of :data:`SIMD_FLAGS` present, e.g.
    ``"x86_64 AVX512 avx2 fma avx512f avx512bw avx512vl avx512_vnni"``. Equal
    strings mean the same float32 kernels (for the same software); on a system
    without ``/proc/cpuinfo`` only the machine and the capability are named."""
    flags: set[str] = set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    present = [f for f in SIMD_FLAGS if f in flags]
    return " ".join([platform.machine(), torch.backends.cpu.get_cpu_capability(), *present])


def device_description(device: torch.device | str = "cpu") -> str:
    """The machine a run's numbers come from: on CUDA the GPU's name, multiprocessors and memory, the CUDA
    and torch versions and the host's cores; elsewhere the architecture, cores, torch, one thread and the
    CPU kernels ATen uses (on which float32 results depend, :func:`cpu_kernels`)."""
    device = torch.device(device)
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return (
            f"{props.name} ({props.multi_processor_count} SMs, {props.total_memory / 2**30:.0f} GiB), "
            f"CUDA {torch.version.cuda}, torch {torch.__version__}, host {os.cpu_count()} cores"
        )
    pinned = ", AVX2 kernels pinned" if kernels_pinned() else ""
    return (
        f"{platform.machine()} {os.cpu_count()} cores, torch {torch.__version__}, 1 thread, "
        f"CPU kernels {cpu_kernels()}{pinned}"
    )


#: the environment that makes ATen, oneDNN and MKL run their AVX2 kernels on any x86-64 CPU that has AVX2
#: (AVX-512 and AMX machines included), set before the process starts: MKL_CBWR is MKL's conditional
#: numerical reproducibility, the same results on every processor of that branch
PINNED_CPU_KERNELS = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}


def kernels_pinned() -> bool:
    """Whether this process runs the pinned AVX2 kernels (:data:`PINNED_CPU_KERNELS` in its environment,
    and ATen's capability AVX2)."""
    environment = all(os.environ.get(k, "").upper() == v.upper() for k, v in PINNED_CPU_KERNELS.items())
    return environment and torch.backends.cpu.get_cpu_capability() == "AVX2"


#: the kind of CPU machine of :func:`machine_kind` whose kernels are pinned (any AVX2 CPU)
PINNED_CPU_KIND = "CPU, pinned AVX2 kernels"


def machine_kind(description: str) -> str:
    """The kind of machine one :func:`device_description` names: on CUDA the GPU's model (its name), on a
    CPU with pinned kernels :data:`PINNED_CPU_KIND` (every such CPU runs the same kernels), on any other
    CPU ``"CPU, "`` and its kernels (:func:`cpu_kernels`). Runs of one kind run the same kernels."""
    if " CPU kernels " not in description:
        return description.split(" (", 1)[0]
    if description.endswith(", AVX2 kernels pinned"):
        return PINNED_CPU_KIND
    return "CPU, " + description.split(" CPU kernels ", 1)[1]


def machine_kinds(machine: str | None) -> list[str]:
    """The kinds (:func:`machine_kind`) of the machines a stored run's ``machine`` names, in order, each
    once: one description, or several joined as ``"A (epochs 1-15), then B (epochs 16-20)"`` when a
    checkpoint moved between machines. Empty for an empty text or none (a row that names no machine)."""
    kinds: list[str] = []
    if not isinstance(machine, str):
        return kinds
    for part in filter(None, str(machine).split(", then ")):
        described = part.rsplit(" (epoch", 1)[0] if part.endswith(")") and " (epoch" in part else part
        kind = machine_kind(described)
        if kind not in kinds:
            kinds.append(kind)
    return kinds


def kernel_pinned_kind(device: str, command: str) -> str:
    """This process's machine kind on ``device`` (:func:`machine_kind`) for a study that trains each seed
    on one kind: a GPU's model, or a CPU running :data:`PINNED_CPU_KERNELS`. A CPU process without them is
    refused (``MachineKindError``), naming the environment to start ``command`` (``python -m reuseprior
    ...``) with, so that every CPU of the study computes the same kernels."""
    if device.startswith("cuda") or kernels_pinned():
        return machine_kind(device_description(device))
    prefix = " ".join(f"{k}={v}" for k, v in PINNED_CPU_KERNELS.items())
    raise MachineKindError(
        f"this study trains on a CPU only with its AVX2 kernels pinned, so that every CPU of the study "
        f"computes alike: start the command as `{prefix} {command}`"
    )


def other_machine_kinds(machines: Iterable[str | None], kind: str) -> list[str]:
    """The machine kinds other than ``kind`` that the stored ``machine`` texts of a seed's runs name
    (:func:`machine_kinds`), sorted: a non-empty list means a run of ``kind`` would mix kinds in the seed."""
    return sorted({k for machine in machines for k in machine_kinds(machine)} - {kind})


def kind_folder(kind: str) -> str:
    """A folder name for a machine kind (its letters and digits, other characters as ``-``): where a
    study keeping its checkpoints per kind puts those of ``kind``."""
    return "".join(c if c.isalnum() else "-" for c in kind).strip("-")


#: a torch version as :func:`device_description` writes it ("torch 2.11.0+cu130,")
_TORCH_VERSION = re.compile(r"torch ([^\s,]+)")


def torch_versions(machine: str | None) -> list[str]:
    """The torch versions the machines of a stored run's ``machine`` name (:func:`machine_kinds` reads the
    same text), sorted, each once: a kind pins the hardware and its kernels, not the library. Empty for
    none."""
    return sorted(set(_TORCH_VERSION.findall(machine))) if isinstance(machine, str) else []


def run_provenance(device: torch.device | str = "cpu") -> dict[str, str]:
    """When and where a run finished, for its summary row: the UTC time, and the
    machine (:func:`device_description` of the device it trained on)."""
    return {
        "finished_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": device_description(device),
    }
