"""How much memory and how many cores this machine has, for refusing up front a job that cannot fit.

Policy: a computation whose size is known before it starts (a sharing budget's
parameter stores, the tensors of a captured graph, a LocalCluster's workers at
their memory limit) is compared with the machine's physical memory (and cores)
and refused, with both figures, when it needs more; the check never refuses on
a guess: where the size of the memory is unknown (a system without ``sysconf``)
nothing is refused for memory. Torch-free, so that a command's argument checks
can use it.
"""

from __future__ import annotations

import os

__all__ = ["gib", "oversubscription", "physical_memory_bytes", "usable_cores"]


def physical_memory_bytes() -> int | None:
    """The machine's physical memory in bytes (``None`` where the system does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return None


def gib(size: float) -> str:
    """``size`` bytes as GiB for a message: ``"4,096.0 GiB"``."""
    return f"{size / 2**30:,.1f} GiB"


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, where the system has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def oversubscription(workers: int, memory_gib: float | None) -> str | None:
    """Why ``workers`` single-threaded workers of ``memory_gib`` GiB each (None: Dask's share of the
    memory, which fits whenever the workers do not outnumber the cores) do not fit on this machine: more
    workers than cores, or more memory in all than the machine has; None when they fit."""
    cores = usable_cores()
    if workers > cores:
        return f"{workers} workers on {cores} cores: each single-threaded worker wants a core of its own"
    memory = physical_memory_bytes()
    if memory_gib is not None and memory is not None and workers * memory_gib * 2**30 > memory:
        return (
            f"{workers} workers of {memory_gib:g} GiB each need {gib(workers * memory_gib * 2**30)}; "
            f"this machine has {gib(memory)}"
        )
    return None
