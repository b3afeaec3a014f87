"""Copy the unfinished training checkpoints of a device call into its $OUT folder, so that they come back.

Usage: python scripts/device/return_checkpoints.py WORK_DIR OUT_DIR

The device tool returns at most 8 files of 16 MiB each and 64 MiB together, from at most two folders
down; a study's checkpoints live three down (WORK_DIR/<plan>/checkpoints/<run>.pt). This picks the
unfinished ones (epoch below the configured epochs) of at most 16 MiB, the costliest model first and
then the furthest along (V2-S-shared costs the CPU most to finish), within the tool's limits less what
OUT_DIR holds besides checkpoints (the runs CSV, its lock, the study's log, a benchmark's JSON). A file
over 16 MiB (every checkpoint of the gpu profile at width 1.0) is left out before it is read. Each is
copied atomically (:func:`reuseprior.core.files.atomic_write`) and earlier copies that are no longer
chosen are deleted; a lock in WORK_DIR keeps two passes (the periodic one and the last) from
overlapping. What is left out is named. Back here, each file goes into
build/ch4_real_study/<plan>/checkpoints/ (its name holds the plan), unless a checkpoint there has more
epochs, and `study ch4 run` resumes it.
"""

from __future__ import annotations

import fcntl
import shutil
import sys
from pathlib import Path

from reuseprior.core.files import atomic_write
from reuseprior.training.loop.checkpoints import read_checkpoint_file

TOOL_FILES = 8  # what the device tool returns: files, bytes per file, bytes in all
MAX_FILE_BYTES = 16 * 2**20
TOOL_BYTES = 64 * 2**20
MARGIN_BYTES = 2**20  # for the runs CSV and the log, which grow after the last pass
COST_ORDER = ("V2-S-shared", "V2-B0-original", "V2-B0-shared", "V2-B0-narrow")


def unfinished(work: Path) -> list[tuple[int, int, Path]]:
    """(cost rank, -epochs done, path) of every unfinished checkpoint under ``work``, in that order."""
    found = []
    for path in sorted(work.glob("*/checkpoints/*.pt")):
        if path.stat().st_size > MAX_FILE_BYTES:  # cannot come back: not read
            continue
        state = read_checkpoint_file(path)
        if state["epoch"] >= int(state["config"]["epochs"]):
            continue
        rank = next((i for i, model in enumerate(COST_ORDER) if f"-{model}-" in path.name), len(COST_ORDER))
        found.append((rank, -int(state["epoch"]), path))
    return sorted(found)


def choose(candidates: list[Path], out: Path) -> tuple[list[Path], list[Path]]:
    """The candidates, in order, that fit the limits left by what ``out`` holds besides checkpoints, and
    those left out."""
    others = [p for p in out.iterdir() if p.is_file() and p.suffix != ".pt"]
    max_files = TOOL_FILES - len(others)
    max_bytes = TOOL_BYTES - MARGIN_BYTES - sum(p.stat().st_size for p in others)
    chosen, left_out, total = [], [], 0
    for path in candidates:
        size = path.stat().st_size
        if size <= MAX_FILE_BYTES and len(chosen) < max_files and total + size <= max_bytes:
            chosen.append(path)
            total += size
        else:
            left_out.append(path)
    return chosen, left_out


def main(work: Path, out: Path) -> None:
    with open(work / ".return.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        chosen, left_out = choose([path for _, _, path in unfinished(work)], out)
        for path in chosen:
            with open(path, "rb") as source, atomic_write(out / path.name) as copy:
                shutil.copyfileobj(source, copy)
        for stale in set(out.glob("*.pt")) - {out / p.name for p in chosen}:
            stale.unlink()
    print(f"returning {len(chosen)} unfinished checkpoints: {[p.name for p in chosen]}")
    too_large = sorted(p.name for p in work.glob("*/checkpoints/*.pt") if p.stat().st_size > MAX_FILE_BYTES)
    if left_out or too_large:
        print(f"left on the machine (over the tool's limits): {[p.name for p in left_out] + too_large}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
