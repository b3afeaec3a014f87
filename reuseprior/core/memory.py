"""How much memory this machine has, for refusing up front a job that cannot fit.

Policy: a computation whose size is known before it starts (a sharing budget's
parameter stores, the tensors of a captured graph) is compared with the
machine's physical memory and refused, with both figures, when it needs more;
the check never refuses on a guess: where the size of the memory is unknown
(a system without ``sysconf``) nothing is refused.
"""

from __future__ import annotations

import os

__all__ = ["gib", "physical_memory_bytes"]


def physical_memory_bytes() -> int | None:
    """The machine's physical memory in bytes (``None`` where the system does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return None


def gib(size: float) -> str:
    """``size`` bytes as GiB for a message: ``"4,096.0 GiB"``."""
    return f"{size / 2**30:,.1f} GiB"
