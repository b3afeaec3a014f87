"""Copy the unfinished training checkpoints of a device call into its $OUT folder, so that they come back.

Usage: python scripts/device/return_checkpoints.py WORK_DIR OUT_DIR

The device tool returns at most 8 files of 16 MiB each and 64 MiB together, from at most two folders
down; a study's checkpoints live three down (WORK_DIR/<plan>/checkpoints/<run>.pt). This picks the
unfinished ones (epoch below the configured epochs) that fit, the costliest model first and then the
furthest along (V2-S-shared costs the CPU most to finish), copies each atomically (a copy, then a
rename) and deletes earlier copies that are no longer unfinished. Back here, each file goes into
build/ch4_real_study/<plan>/checkpoints/ (its name holds the plan) and `study ch4 run` resumes it.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from reuseprior.training.loop.checkpoints import read_checkpoint_file

MAX_FILES = 6  # the runs CSV is the 7th
MAX_FILE_BYTES = 16 * 2**20
MAX_TOTAL_BYTES = 56 * 2**20
COST_ORDER = ("V2-S-shared", "V2-B0-original", "V2-B0-shared", "V2-B0-narrow")


def unfinished(work: Path) -> list[tuple[int, int, Path]]:
    """(cost rank, -epochs done, path) of every unfinished checkpoint under ``work`` small enough to return."""
    found = []
    for path in sorted(work.glob("*/checkpoints/*.pt")):
        if path.stat().st_size > MAX_FILE_BYTES:
            continue
        state = read_checkpoint_file(path)
        if state["epoch"] >= int(state["config"]["epochs"]):
            continue
        rank = next((i for i, model in enumerate(COST_ORDER) if f"-{model}-" in path.name), len(COST_ORDER))
        found.append((rank, -int(state["epoch"]), path))
    return sorted(found)


def main(work: Path, out: Path) -> None:
    chosen, total = [], 0
    for _, _, path in unfinished(work):
        size = path.stat().st_size
        if len(chosen) < MAX_FILES and total + size <= MAX_TOTAL_BYTES:
            chosen.append(path)
            total += size
    for path in chosen:
        partial = out / f".{path.name}.part"
        shutil.copyfile(path, partial)
        partial.replace(out / path.name)
    for stale in set(out.glob("*.pt")) - {out / p.name for p in chosen}:
        stale.unlink()
    print(f"returning {len(chosen)} unfinished checkpoints ({total / 2**20:.1f} MiB): {[p.name for p in chosen]}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
