"""The stored scores: paths, completeness, published versions, the store's import and export, upgrades."""

from __future__ import annotations

import functools
import json
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import pandas as pd
import torch
import torchvision

from reuseprior.baselines.proxies import ProxyBatch
from reuseprior.baselines.registry import ZOO_PROXIES
from reuseprior.core import paths
from reuseprior.core.cpu import cpu_kernels
from reuseprior.zoo.scoring.registry import REUSE_SCORES, SCORES_VERSION, ZOOS, Zoo, get_zoo, scoring_command
from reuseprior.zoo.scoring.scores import pending_scores, stored_columns
from reuseprior.zoo.store import (
    ColumnType,
    ScoreStore,
    StoreError,
    TableSpec,
    meta_path,
    read_checked_csv,
)


def scores_path(zoo: str, version: int = SCORES_VERSION, data_dir: Path | None = None) -> Path:
    """``data_dir``'s CSV of ``zoo``'s scores at ``version``: ``zoo_scores_v<version>_<zoo>.csv``, with
    ``.xz`` after it for a zoo stored compressed (:attr:`Zoo.compressed_csv`).

    Policy: a table is read and written in its zoo's form only, so the other form in the folder (the
    plain ``.csv`` of a compressed table, decompressed to be edited, or the reverse) is refused with
    :class:`StoreError` saying how to restore the expected one: it would otherwise be ignored, and its
    edits overwritten by the next export."""
    compressed = zoo in ZOOS and ZOOS.get(zoo).compressed_csv
    folder = data_dir or paths.DATA_DIR
    path = folder / (_table_name(zoo, version) + (".csv.xz" if compressed else ".csv"))
    other = folder / (_table_name(zoo, version) + (".csv" if compressed else ".csv.xz"))
    if other.exists():
        restore = f"xz -9f {other}" if compressed else f"xz -df {other}"
        raise StoreError(
            f"{other} is {zoo}'s score table in the wrong form: the chapters and the store read {path.name} "
            f"only. Put it in that form ({restore}: the edits in {other.name} replace {path.name}), or "
            f"delete {other.name}"
        )
    return path


def _table_name(zoo: str, version: int) -> str:
    """The store's table of ``zoo``'s scores at ``version``, named like its CSV without the extension."""
    return f"zoo_scores_v{version}_{zoo}"


def load_scores(zoo: str, version: int | None = None, data_dir: Path | None = None) -> pd.DataFrame:
    """Stored rows of a zoo at ``version`` (default: :func:`published_version`,
    the version reported); an empty frame when nothing is scored yet."""
    version = published_version(zoo, data_dir) if version is None else version
    path = scores_path(zoo, version, data_dir)
    if not path.exists():
        return pd.DataFrame(columns=["arch", "accuracy"])
    return read_checked_csv(scores_table(zoo, version), path)


@dataclass(frozen=True)
class Completeness:
    """How far a zoo's CSV of one version is: ``rows`` stored, ``missing``
    architectures of the zoo's catalogue without a row (``None`` when the
    catalogue cannot be read and the ``.meta.json`` records no size), ``pending``
    rows that still lack a score (:func:`pending_scores`)."""

    zoo: str
    version: int
    rows: int
    missing: int | None
    pending: int

    @property
    def complete(self) -> bool:
        return self.rows > 0 and self.missing == 0 and self.pending == 0

    def __str__(self) -> str:
        if self.rows == 0:
            return f"{self.zoo} v{self.version}: no rows"
        missing = "?" if self.missing is None else f"{self.missing:,}"
        state = "complete" if self.complete else f"{missing} architectures missing, {self.pending:,} rows pending"
        return f"{self.zoo} v{self.version}: {self.rows:,} rows, {state}"


def completeness(zoo: str, version: int = SCORES_VERSION, data_dir: Path | None = None) -> Completeness:
    """:class:`Completeness` of ``data_dir``'s ``zoo_scores_v<version>_<zoo>.csv[.xz]``
    (read once per state of the file). The catalogue is :func:`get_zoo`'s; when
    it cannot be read (an optional package missing) the size recorded in the
    ``.meta.json`` (``archs_in_zoo``) stands in, else ``missing`` is unknown
    and the CSV is not complete."""
    path = scores_path(zoo, version, data_dir)
    if not path.exists():
        return Completeness(zoo, version, 0, None, 0)
    stat = path.stat()
    declared = id(ZOOS.get(zoo)) if zoo in ZOOS else 0  # a zoo registered again is read again
    return _completeness(zoo, version, path, (stat.st_ino, stat.st_mtime_ns, stat.st_size), declared)


@functools.lru_cache(maxsize=32)
def _completeness(zoo: str, version: int, path: Path, state: tuple[int, int, int], zoo_id: int) -> Completeness:  # noqa: ARG001 - the signature every proxy / hook / builder of its kind takes
    """:func:`completeness` of the file in ``state`` (its inode, modification time and size)."""
    stored = read_checked_csv(scores_table(zoo, version), path, usecols=lambda c: c in ("arch", "pending"))
    pending = int(stored["pending"].map(pending_scores).map(bool).sum()) if "pending" in stored else 0
    try:
        archs = set(get_zoo(zoo, version).catalogue()["arch"])
    except Exception:  # noqa: BLE001 - an optional package missing; the recorded size stands in
        sidecar = meta_path(path)
        size_in_meta = json.loads(sidecar.read_text()).get("archs_in_zoo") if sidecar.exists() else None
        missing = None if size_in_meta is None else max(int(size_in_meta) - len(stored), 0)
    else:
        missing = len(archs - set(stored["arch"]))
    return Completeness(zoo, version, len(stored), missing, pending)


def published_version(zoo: str, data_dir: Path | None = None) -> int:
    """The version of ``zoo``'s scores that is reported (read by default): the newest
    version up to :data:`SCORES_VERSION` whose CSV is complete
    (:func:`completeness`), else the zoo's first published version, whatever its
    state (:func:`first_version`). A newer version's partial CSV is never read by
    default, while an older one exists."""
    for version in range(SCORES_VERSION, 1, -1):
        if completeness(zoo, version, data_dir).complete:
            return version
    return first_version(zoo, data_dir)


def first_version(zoo: str, data_dir: Path | None = None) -> int:
    """The oldest version of which ``zoo`` has a CSV: 1 for the zoos scored since version 1, the
    version a zoo added later was first scored at, whose rows are read while it is
    partial; 1 when no CSV exists."""
    for version in range(1, SCORES_VERSION + 1):
        if scores_path(zoo, version, data_dir).exists():
            return version
    return 1


def version_complete_on(zoo: str, archs: Iterable[str], data_dir: Path | None = None) -> int:
    """The version of ``zoo``'s scores that an analysis restricted to ``archs``
    reads: the newest version up to :data:`SCORES_VERSION` whose CSV has a row
    for every one of ``archs`` and no pending score on those rows, else version
    1. The same rule as :func:`published_version`, applied to the rows the
    analysis uses (else :func:`first_version`): a version being filled is read on a
    subset once that subset is whole, and never mixed with an older one."""
    wanted = set(archs)
    for version in range(SCORES_VERSION, 1, -1):
        path = scores_path(zoo, version, data_dir)
        if not path.exists():
            continue
        stored = read_checked_csv(scores_table(zoo, version), path, usecols=lambda c: c in ("arch", "pending"))
        rows = stored[stored["arch"].isin(wanted)]
        if len(rows) == len(wanted) and not rows["pending"].map(pending_scores).map(bool).any():
            return version
    return first_version(zoo, data_dir)


def scores_meta(zoo: Zoo, seed: int, batch: ProxyBatch | None, archs_in_zoo: int) -> dict[str, object]:
    """The ``.meta.json`` of a zoo's scores: what they were computed with (zoo, version, seed, batch,
    initialisation, software and CPU kernels of this process)."""
    return {
        "zoo": zoo.name,
        "description": zoo.description,
        "scores_version": SCORES_VERSION,
        "seed": seed,
        "batch_size": zoo.batch_size,
        "batch": batch.description if batch is not None else "per-model image size (the zoo's catalogue)",
        "init": "torch.manual_seed(reuseprior.zoo.scoring.init_seed(seed, arch)) before building",
        "threads": 1,
        "torch": torch.__version__,
        "cpu_kernels": cpu_kernels(),  # of this process; workers of a cluster elsewhere may run others
        "torchvision": torchvision.__version__,
        "python": platform.python_version(),
        "archs_in_zoo": archs_in_zoo,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def scores_table(zoo: str, version: int = SCORES_VERSION) -> TableSpec:
    """The store's table of a zoo's scores: :func:`stored_columns`, key ``arch``,
    exported as :func:`scores_path` (pandas, ``%.17g``)."""
    types: dict[str, ColumnType] = {
        "order": "INTEGER",
        "arch": "TEXT",
        "errors": "TEXT",
        "pending": "TEXT",
        "scored_at": "TEXT",
    }
    columns = tuple((c, types.get(c, "REAL")) for c in stored_columns(version))
    # a file without the scores of its version is never filled (a proxy introduced later is not a column of it)
    required = tuple(c for c in ("order", "arch", "accuracy", *ZOO_PROXIES, *REUSE_SCORES) if c in dict(columns))
    return TableSpec(
        _table_name(zoo, version),
        columns,
        "arch",
        required=required,
        unique=("order",),
        non_negative=("order",),
    )


def default_store_path(data_dir: Path | None = None) -> Path:
    """Where the rows are stored while they are computed: ``build/zoo_scores.sqlite``
    for the repository's ``data/`` (``build/`` is not tracked), else
    ``zoo_scores.sqlite`` inside ``data_dir`` (a folder of one's own)."""
    if data_dir is None or Path(data_dir).resolve() == paths.DATA_DIR.resolve():
        return paths.BUILD_DIR / "zoo_scores.sqlite"
    return Path(data_dir) / "zoo_scores.sqlite"


def import_scores(zoo_name: str, *, data_dir: Path | None = None, store: Path | None = None) -> int:
    """Replace the store's rows of ``zoo_name`` by its CSV in ``data_dir`` (a
    malformed CSV is refused with the line number: :class:`CsvFormatError`;
    so is a header without the score columns, a negative or repeated
    ``order``, and an architecture the zoo does not have, when its catalogue
    can be read); returns the number of rows."""
    path = scores_path(zoo_name, data_dir=data_dir)
    if not path.exists():
        raise FileNotFoundError(f"no {path} to import; export the store's rows there with --export")
    try:
        known = set(get_zoo(zoo_name).catalogue()["arch"])
    except Exception:  # noqa: BLE001 - an optional package missing: the names cannot be checked
        known = None
    with ScoreStore(store or default_store_path(data_dir)) as db:
        return db.import_csv(scores_table(zoo_name), path, keys=known)


def export_scores(zoo_name: str, *, data_dir: Path | None = None, store: Path | None = None) -> Path:
    """Write the store's rows of ``zoo_name`` to its CSV in ``data_dir``
    (atomically; the committed files' columns, order and formatting)."""
    path = scores_path(zoo_name, data_dir=data_dir)
    with ScoreStore(store or default_store_path(data_dir)) as db:
        spec = scores_table(zoo_name)
        if not db.has_table(spec):
            raise StoreError(
                f"the store {db.path} holds no {zoo_name} rows to export; score them first "
                f"({scoring_command(zoo_name)})"
            )
        db.export_csv(spec, path)
    return path
