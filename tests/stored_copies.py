"""Copies of committed stored CSVs for tests that edit them: as a file stored before row digests (their
column dropped, every other field as written), so that an edit reaches the checks of cuts, values and keys,
which a file with digests would refuse first as an edited row (:mod:`reuseprior.core.row_digests`)."""

from __future__ import annotations

import csv
from pathlib import Path

from reuseprior.core.row_digests import DIGEST_COLUMN


def copy_without_digests(source: Path, target: Path) -> Path:
    """A copy of the stored CSV ``source`` at ``target`` without its row digests; returns ``target``."""
    with open(source, encoding="utf-8", newline="") as fh:
        records = list(csv.reader(fh))
    position = records[0].index(DIGEST_COLUMN)
    with open(target, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(r[:position] + r[position + 1 :] for r in records if r)
    return target
