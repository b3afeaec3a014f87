"""Scoring the model zoos: one row per architecture, every score and its cost.

A *zoo* is a list of architecture ids, a builder, a ground-truth accuracy per
id and the minibatch settings of the data-dependent proxies. Scoring runs one
Dask task per architecture (:mod:`reuseprior.zoo.distributed`: a LocalCluster
by default, or an existing cluster) and commits each finished row to an
SQLite store (:mod:`reuseprior.zoo.store`, default ``build/zoo_scores.sqlite``)
in one transaction, so a run can be stopped, or killed, and resumed. When a
run ends the store is exported to ``data/zoo_scores_v<VERSION>_<zoo>.csv``
(the diffable, citable copy the notebooks read with :func:`load_scores`) with
a ``.meta.json`` sidecar recording the batch, seeds and package versions.

Versions (policy):

- A *version* of the stored scores is one set of score definitions and
  scoring settings (the model's input size, minibatch, seeds): every value of
  ``data/zoo_scores_v<N>_<zoo>.csv`` was computed under version ``N``'s.
  :data:`SCORES_VERSION` is bumped when a definition or setting changes what
  a stored value would be; the registry records, per score, the version from
  which its definition holds (:attr:`reuseprior.baselines.registry.ProxyInfo.since_version`;
  the reusability quantities: :data:`REUSE_SINCE_VERSION`), and a zoo that
  is scored differently at a version says so (:func:`get_zoo` of an older
  version: the torchvision zoo at 224 px in version 1, at each model's
  evaluation crop from version 2 on). New scoring writes
  :data:`SCORES_VERSION`'s CSV; older CSVs are never rewritten.
- Carried over (:func:`upgrade_scores`, ``score-zoos ZOO --upgrade``): the
  new version's table starts as a copy of the previous version's CSV, every
  column of a score whose definition holds in both (with its timing columns,
  the build time, the shared pass's timing and the messages of the carried
  scores) copied value for value; the scores whose definition changed are
  left empty on every row, and a row whose input size changed is left empty
  entirely (every score depends on the input). What a row still lacks is
  listed in its ``pending`` column (:func:`pending_scores`, from version 2 on),
  which the resumable fill (:func:`fill_proxies`, ``--fill-proxies``)
  computes, one Dask task per row, each committed as it finishes; the
  ``.meta.json`` records what was carried over and what is recomputed.
- Published (:func:`published_version`): the chapter reads, per zoo, the
  newest version whose CSV is complete (:func:`completeness`: every
  architecture of the zoo's catalogue has a row and no row has a pending
  score, i.e. every recomputed score holds a value or the message of its
  failure), else version 1. A partial CSV of a new version can be exported
  and committed while the fill continues over several sessions; the
  chapter's tables stay those of the older version until it is complete.
  :func:`load_scores` without a version reads the published one.

Determinism: the weights of architecture ``a`` are initialised from
``torch.manual_seed(init_seed(seed, a))`` and every score is computed with
one CPU thread, so the notebook can recompute stored rows exactly, and a row
computed by any Dask worker is the row this process would compute.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import math
import platform
import signal
import threading
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

import pandas as pd
import torch
from distributed import Client
from torch import nn
from tqdm.auto import tqdm

from reuseprior.baselines.proxies import PROXIES, ProxyBatch, data_dependent_scores, make_batch, num_params
from reuseprior.baselines.registry import DATA_DEPENDENT, SECOND_ORDER, ZOO_PROXIES, proxy_info, proxy_names
from reuseprior.core import paths
from reuseprior.core.cpu import cpu_kernels
from reuseprior.core.errors import UnknownArchitectureError
from reuseprior.core.files import atomic_write
from reuseprior.counting import analyze
from reuseprior.zoo.distributed import Call, Killed, connect, run_jobs
from reuseprior.zoo.nasbench201 import build_nb201, load_analog_nasbench, sample_archs
from reuseprior.zoo.pytorchcv_zoo import build_pytorchcv, load_pytorchcv_zoo
from reuseprior.zoo.store import (
    ColumnType,
    CsvFormatError,
    OutOfSyncError,
    ScoreStore,
    StoreError,
    TableSpec,
    read_checked_csv,
    read_csv_rows,
)
from reuseprior.zoo.torchvision_zoo import build_at_eval_crop, build_torchvision, load_torchvision_zoo

__all__ = [
    "GRADIENT_PASS_MARKER",
    "REUSE_SCORES",
    "REUSE_SINCE_VERSION",
    "SCORES_VERSION",
    "ZOOS",
    "CsvFormatError",
    "OutOfSyncError",
    "StoreError",
    "UnknownArchitectureError",
    "Zoo",
    "append_rows",
    "changed_scores",
    "comparable_scores",
    "completeness",
    "default_store_path",
    "export_scores",
    "fill_proxies",
    "get_zoo",
    "import_scores",
    "init_seed",
    "load_scores",
    "pending_scores",
    "published_version",
    "rescore_proxies",
    "reusability_scores",
    "score_architecture",
    "score_zoo",
    "scores_path",
    "scores_table",
    "since_version",
    "stored_columns",
    "upgrade_scores",
    "version_complete_on",
]

#: The version of the scores that scoring writes now (see "Versions" in the module docstring).
SCORES_VERSION = 2
#: The version from which the definition of the reusability quantities (:data:`REUSE_SCORES`) holds.
REUSE_SINCE_VERSION = 1
#: The first version whose tables have the ``pending`` column.
_PENDING_SINCE_VERSION = 2
#: How ``pending`` names the reusability quantities (all computed by one ``analyze`` call).
_REUSE = "reuse"

#: Chapter-4 quantities from :func:`reuseprior.counting.analyze` stored per architecture.
REUSE_QUANTITIES = ("PG", "PG_prime", "expected_spread", "entropy", "total_surprisal")
#: Stored reusability-prior columns (quantities, their per-parameter efficiencies, PE/CE).
REUSE_SCORES = (*REUSE_QUANTITIES, *(f"{q}_per_param" for q in REUSE_QUANTITIES), "PE", "CE")
#: The stored column whose value marks a row where the loss-gradient proxies were computed (their shared pass
#: ran and fitted in memory): the first first-order loss-gradient proxy of the registry, SNIP. A second-order
#: proxy (GraSP) is no marker: its double backward can run out of memory where the first-order ones fit.
GRADIENT_PASS_MARKER = proxy_names(data_dependent=True, needs_labels=True, second_order=False)[0]


@dataclass(frozen=True)
class Zoo:
    """A zoo as one version of the scores scores it (:func:`get_zoo`): its
    catalogue (``arch``, ``accuracy`` and what the builder and the image size
    read), the seeded builder, the minibatch size, the input size (one for
    every model, or read from the catalogue row) and the scoring order."""

    name: str
    description: str
    catalogue: Callable[[], pd.DataFrame]  # columns: arch, accuracy, ...
    build: Callable[[str], nn.Module]
    batch_size: int
    image_size: Callable[[pd.Series], int] | int
    num_classes: int
    order: Callable[[pd.DataFrame, int], list[str]]  # (catalogue, seed) -> scoring order

    def batch(self, image_size: int, seed: int) -> ProxyBatch:
        return make_batch(self.batch_size, image_size, self.num_classes, source="sample_images", seed=seed)

    def fixed_batch(self, seed: int) -> ProxyBatch | None:
        """The one minibatch of every architecture when the zoo has a single
        image size (built once per run), else ``None`` (one per image size)."""
        return self.batch(self.image_size, seed) if isinstance(self.image_size, int) else None

    def build_seeded(self, arch: str, seed: int) -> nn.Module:
        """``arch`` with the initialisation every stored score of it used
        (``torch.manual_seed(init_seed(seed, arch))``, then build)."""
        torch.manual_seed(init_seed(seed, arch))
        return self.build(arch)

    def size_of(self, row: pd.Series) -> int:
        return self.image_size if isinstance(self.image_size, int) else int(self.image_size(row))


def _nb201_order(cat: pd.DataFrame, seed: int) -> list[str]:
    return sample_archs(len(cat), seed=seed, df=cat)


def _by_params(cat: pd.DataFrame, seed: int) -> list[str]:
    return cat.sort_values(["published_params", "arch"])["arch"].tolist()


def _eval_crop(row: pd.Series) -> int:
    """A torchvision model's input size from version 2 on: its recipe's evaluation crop."""
    return int(row["eval_crop"])


def _img_size(row: pd.Series) -> int:
    """A pytorchcv model's input size: its ``img_size``."""
    return int(row["img_size"])


#: The zoos as :data:`SCORES_VERSION` scores them (:func:`get_zoo` gives them at an older version).
ZOOS: dict[str, Zoo] = {
    "nb201": Zoo(
        "nb201",
        "NAS-Bench-201 cells (own implementation), "
        "CIFAR-10 test accuracy from analog-nasbench 0.1.3 (baseline_accuracy)",
        load_analog_nasbench,
        build_nb201,
        batch_size=64,
        image_size=32,
        num_classes=10,
        order=_nb201_order,
    ),
    "torchvision": Zoo(
        "torchvision",
        "torchvision ImageNet-1K classifiers, published acc@1 of one recipe per architecture (IMAGENET1K_V1 rule), "
        "each scored at that recipe's evaluation crop",
        load_torchvision_zoo,
        build_at_eval_crop,
        batch_size=16,
        image_size=_eval_crop,
        num_classes=1000,
        order=_by_params,
    ),
    "pytorchcv": Zoo(
        "pytorchcv",
        "pytorchcv ImageNet-1K models, 100 - published top-1 error (package README / metainfo)",
        load_pytorchcv_zoo,
        build_pytorchcv,
        batch_size=16,
        image_size=_img_size,
        num_classes=1000,
        order=_by_params,
    ),
}


#: How a zoo was scored at an older version, where it differs from the next version: version -> zoo -> the
#: :class:`Zoo` fields of that version. Version 1 scored every torchvision model at 224 px (built at the
#: builder's default size).
EARLIER_ZOOS: dict[int, dict[str, dict[str, object]]] = {
    1: {
        "torchvision": {
            "description": "torchvision ImageNet-1K classifiers, published acc@1 of one recipe per architecture "
            "(IMAGENET1K_V1 rule)",
            "build": build_torchvision,
            "image_size": 224,
        }
    },
}


def get_zoo(name: str, version: int = SCORES_VERSION) -> Zoo:
    """The zoo ``name`` as version ``version`` of the scores scored it
    (:data:`ZOOS` with the differences of :data:`EARLIER_ZOOS` applied, newest first)."""
    if name not in ZOOS:
        raise KeyError(f"unknown zoo {name!r}; known: {sorted(ZOOS)}")
    if not 1 <= version <= SCORES_VERSION:
        raise ValueError(f"no version {version} of the scores; versions 1 to {SCORES_VERSION}")
    zoo = ZOOS[name]
    for older in range(SCORES_VERSION - 1, version - 1, -1):
        changes = EARLIER_ZOOS.get(older, {}).get(name)
        if changes:
            zoo = replace(zoo, **changes)
    return zoo


def since_version(score: str) -> int:
    """The version of the scores from which the current definition of ``score`` holds
    (a proxy's registry ``since_version``; :data:`REUSE_SINCE_VERSION` for a reusability quantity)."""
    return REUSE_SINCE_VERSION if score in REUSE_SCORES else proxy_info(score).since_version


def changed_scores(version: int = SCORES_VERSION) -> list[str]:
    """The stored scores whose definition changed in ``version`` (holds from it on), in column order."""
    return [s for s in (*ZOO_PROXIES, *REUSE_SCORES) if since_version(s) == version]


def comparable_scores(version: int) -> list[str]:
    """The stored scores that this code computes as a table of ``version`` stored them (definition
    held since ``version`` or earlier), in column order: the ones a live check compares."""
    return [s for s in (*ZOO_PROXIES, *REUSE_SCORES) if since_version(s) <= version]


def init_seed(seed: int, arch: str) -> int:
    """Seed of the random initialisation of ``arch`` (stable across runs and machines)."""
    return (seed * 1_000_003 + zlib.crc32(arch.encode())) % 2**31


def reusability_scores(model: nn.Module, example: torch.Tensor) -> dict[str, float]:
    """The thesis quantities of ``model`` (``reuseprior.counting.analyze``, eqs.
    4.2-4.8) and their values per trainable parameter."""
    rep = analyze(model, example).to_dict()
    n = num_params(model)
    out = {q: float(rep[q]) for q in REUSE_QUANTITIES}
    out.update({f"{q}_per_param": float(rep[q]) / n for q in REUSE_QUANTITIES})
    out["PE"], out["CE"] = float(rep["PE"]), float(rep["CE"])
    return out


def score_architecture(
    zoo: Zoo | str,
    arch: str,
    *,
    seed: int = 0,
    proxies: Iterable[str] | None = None,
    reuse: bool = True,
    batch: ProxyBatch | None = None,
    row: pd.Series | None = None,
    each_alone: bool = True,
) -> dict[str, object]:
    """Build ``arch`` with its seeded initialisation and compute every score.

    Returns ``arch``, ``accuracy``, each score, ``<score>_seconds`` (wall clock),
    ``<score>_cpu_seconds`` (CPU time of this process: the cost that does not
    depend on how busy a shared machine is),
    ``reuse_seconds`` (all reusability quantities together),
    ``data_dependent_seconds`` (the requested :data:`DATA_DEPENDENT` proxies
    together, one shared pass of :func:`reuseprior.baselines.proxies.data_dependent_scores`;
    their per-score ``_seconds`` columns are left empty), ``build_seconds``
    and ``errors`` (JSON ``{score: message}`` for scores that failed; their value is NaN).
    ``proxies`` are the scores of :data:`reuseprior.baselines.proxies.PROXIES` to compute
    (``None``: those defined on any architecture,
    :data:`reuseprior.baselines.registry.ZOO_PROXIES`; ``[]``: none, say for
    the reusability quantities alone). ``each_alone`` is passed to :func:`_shared_pass`
    (out-of-memory fallback).
    """
    zoo = get_zoo(zoo) if isinstance(zoo, str) else zoo
    if row is None:
        cat = zoo.catalogue()
        row = cat.loc[cat["arch"] == arch].iloc[0]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        t0 = time.perf_counter()
        model = zoo.build_seeded(arch, seed)
        out: dict[str, object] = {
            "arch": arch,
            "accuracy": float(row["accuracy"]),
            "build_seconds": time.perf_counter() - t0,
        }
        errors: dict[str, str] = {}
        batch = batch or zoo.batch(zoo.size_of(row), seed)
        names = list(proxies) if proxies is not None else list(ZOO_PROXIES)
        for name in [p for p in names if p not in DATA_DEPENDENT]:
            torch.manual_seed(seed)
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                value = PROXIES[name](model, batch)
            except Exception as exc:  # recorded, not fatal: some proxies fail on some models
                value = math.nan
                errors[name] = _message(exc)[:300]
            out[name] = value
            out[f"{name}_seconds"] = time.perf_counter() - t0
            out[f"{name}_cpu_seconds"] = time.process_time() - c0
        shared = [p for p in names if p in DATA_DEPENDENT]
        if shared:  # one forward pass for all of them (same values as one pass each)
            t0, c0 = time.perf_counter(), time.process_time()
            values = _shared_pass(model, batch, shared, seed, each_alone=each_alone)
            for p in shared:
                out[p] = values[p]
                if f"{p}_error" in values:
                    errors[p] = values[f"{p}_error"][:300]
            out["data_dependent_seconds"] = time.perf_counter() - t0
            out["data_dependent_cpu_seconds"] = time.process_time() - c0
        if reuse:
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                out.update(reusability_scores(model, batch.example))
            except Exception as exc:
                out.update({k: math.nan for k in REUSE_SCORES})
                errors["reuse"] = _message(exc)[:300]
            out["reuse_seconds"] = time.perf_counter() - t0
            out["reuse_cpu_seconds"] = time.process_time() - c0
        out["errors"] = json.dumps(errors) if errors else ""
        return out
    finally:
        torch.set_num_threads(threads)


def _is_out_of_memory(exc: BaseException) -> bool:
    return _says_out_of_memory(_message(exc))


def _message(exc: BaseException) -> str:
    """How a failure is recorded in ``errors``."""
    return f"{type(exc).__name__}: {exc}"


def _error_messages(cell: object) -> dict[str, str]:
    """``{score: message}`` of an ``errors`` field: JSON, or empty (``""``, or
    NaN as pandas reads an empty CSV cell) when nothing failed."""
    return json.loads(cell) if isinstance(cell, str) and cell else {}


def _ran_out_of_memory(errors: object, proxies: list[str]) -> bool:
    """Whether a stored ``errors`` cell records an out-of-memory failure of one of ``proxies``."""
    return any(p in proxies and _says_out_of_memory(m) for p, m in _error_messages(errors).items())


#: How an allocation failure reads in a recorded message: PyTorch's CPU
#: allocator ("can't allocate memory"), Python's ``MemoryError`` (whose
#: message is empty), our own fallback notes ("out of memory"), and oneDNN,
#: which answers a convolution whose buffers cannot be allocated with "could
#: not create a primitive".
OUT_OF_MEMORY_SIGNS = ("can't allocate memory", "out of memory", "memoryerror:", "could not create a primitive")


def _says_out_of_memory(message: str) -> bool:
    text = message.lower()
    return any(sign in text for sign in OUT_OF_MEMORY_SIGNS)


def _shared_pass(
    model: nn.Module, batch: ProxyBatch, names: list[str], seed: int, *, each_alone: bool = True
) -> dict[str, object]:
    """:func:`data_dependent_scores` with fallbacks when the shared pass runs
    out of memory: first the second-order proxies
    (:data:`reuseprior.baselines.registry.SECOND_ORDER`: GraSP) are dropped and
    the others are computed again without their double backward, whose graph
    is by far the largest; if they still do not fit (or no second-order proxy
    was asked for), each proxy is computed alone, so the ones that fit keep
    their value (NASWOT alone needs no graph at all). Then each second-order
    proxy is tried alone, since it may fit where beside the others it did not
    (``benchmarks/bench_proxy_memory.py`` measures a proxy's memory); if it
    does not, it is NaN with the reason. The values equal the shared pass's:
    same seed, same forward. Any other failure makes every proxy NaN.

    ``each_alone=False`` stops before the one-by-one passes (the second-order
    proxies' included) and leaves the proxies NaN with the out-of-memory message: for a
    task of an isolated fill, whose follow-up tasks score each of them alone
    (:class:`_ArchJob`; in the failed process the memory may stay held)."""
    torch.manual_seed(seed)
    try:
        return data_dependent_scores(model, batch, names)
    except Exception as exc:  # noqa: BLE001 - recorded per row, not fatal
        failure = (_is_out_of_memory(exc), _message(exc))
    # outside the except block, so that the failed pass's tensors are freed first
    out_of_memory, message = failure
    heavy = [p for p in names if p in SECOND_ORDER]
    if heavy and out_of_memory and len(heavy) < len(names):
        values = _shared_pass(model, batch, [p for p in names if p not in heavy], seed, each_alone=each_alone)
        for p in heavy:
            reason = (
                f"out of memory in {proxy_info(p).label}'s double backward (batch {batch.inputs.shape[0]}); "
                "the other proxies computed without it"
            )
            if each_alone:
                alone = _shared_pass(model, batch, [p], seed)
                if f"{p}_error" not in alone:
                    values |= alone
                    continue
                reason += f"; alone too: {alone[f'{p}_error']}"
            values |= {p: math.nan, f"{p}_error": reason}
        return values
    if not (out_of_memory and len(names) > 1 and each_alone):
        return {p: math.nan for p in names} | {f"{p}_error": message for p in names}
    alone: dict[str, object] = {}
    for name in names:
        alone |= _shared_pass(model, batch, [name], seed)
    return alone


def stored_columns(version: int = SCORES_VERSION) -> list[str]:
    """The fixed column order of the stored CSVs of ``version`` (a score not computed for a row is empty);
    from version 2 on, ``pending`` lists the scores a row still lacks (:func:`pending_scores`)."""
    cols = ["order", "arch", "accuracy", "build_seconds"]
    for p in ZOO_PROXIES:
        cols += [p, f"{p}_seconds", f"{p}_cpu_seconds"]
    cols += ["data_dependent_seconds", "data_dependent_cpu_seconds"]
    cols += [*REUSE_SCORES, "reuse_seconds", "reuse_cpu_seconds", "errors"]
    return cols + (["pending", "scored_at"] if version >= _PENDING_SINCE_VERSION else ["scored_at"])


def _score_columns(name: str) -> list[str]:
    """The stored columns of one entry of ``pending``: a score with its timing, or every reusability quantity."""
    if name == _REUSE:
        return [*REUSE_SCORES, "reuse_seconds", "reuse_cpu_seconds"]
    return [name, f"{name}_seconds", f"{name}_cpu_seconds"]


def pending_scores(cell: object) -> list[str]:
    """The scores a stored row still lacks, from its ``pending`` cell: names of
    :data:`reuseprior.baselines.registry.ZOO_PROXIES`, and ``reuse`` for the
    reusability quantities (computed together); empty (``""``, NaN as pandas
    reads an empty cell, or no such column) when the row is complete. A score
    leaves the list once computed, whether it got a value (NaN where it is
    undefined on the model) or the message of its failure in ``errors``."""
    return cell.split() if isinstance(cell, str) else []


def _pending_cell(names: Iterable[str]) -> str | None:
    """``pending`` of a row lacking ``names`` (in column order), ``None`` (empty) for none."""
    names = set(names)
    ordered = [p for p in ZOO_PROXIES if p in names] + ([_REUSE] if _REUSE in names else [])
    return " ".join(ordered) or None


def scores_path(zoo: str, version: int = SCORES_VERSION, data_dir: Path | None = None) -> Path:
    return (data_dir or paths.DATA_DIR) / f"zoo_scores_v{version}_{zoo}.csv"


def load_scores(zoo: str, version: int | None = None, data_dir: Path | None = None) -> pd.DataFrame:
    """Stored rows of a zoo at ``version`` (default: :func:`published_version`,
    the version the chapter reads); an empty frame when nothing is scored yet."""
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
    """:class:`Completeness` of ``data_dir``'s ``zoo_scores_v<version>_<zoo>.csv``
    (read once per state of the file). The catalogue is :func:`get_zoo`'s; when
    it cannot be read (an optional package missing) the size recorded in the
    ``.meta.json`` (``archs_in_zoo``) stands in, else ``missing`` is unknown
    and the CSV is not complete."""
    path = scores_path(zoo, version, data_dir)
    if not path.exists():
        return Completeness(zoo, version, 0, None, 0)
    stat = path.stat()
    return _completeness(zoo, version, path, (stat.st_ino, stat.st_mtime_ns, stat.st_size), id(ZOOS.get(zoo)))


@functools.lru_cache(maxsize=32)
def _completeness(zoo: str, version: int, path: Path, state: tuple[int, int, int], zoo_id: int) -> Completeness:
    """:func:`completeness` of the file in ``state`` (its inode, modification time and size)."""
    stored = read_checked_csv(scores_table(zoo, version), path, usecols=lambda c: c in ("arch", "pending"))
    pending = int(stored["pending"].map(pending_scores).map(bool).sum()) if "pending" in stored else 0
    try:
        archs = set(get_zoo(zoo, version).catalogue()["arch"])
    except Exception:  # noqa: BLE001 - an optional package missing; the recorded size stands in
        meta_path = path.with_suffix(".meta.json")
        size_in_meta = json.loads(meta_path.read_text()).get("archs_in_zoo") if meta_path.exists() else None
        missing = None if size_in_meta is None else max(int(size_in_meta) - len(stored), 0)
    else:
        missing = len(archs - set(stored["arch"]))
    return Completeness(zoo, version, len(stored), missing, pending)


def published_version(zoo: str, data_dir: Path | None = None) -> int:
    """The version of ``zoo``'s scores that the chapter reads: the newest
    version up to :data:`SCORES_VERSION` whose CSV is complete
    (:func:`completeness`), else version 1 (the first published one, whatever
    its state). A newer version's partial CSV is never read by default."""
    for version in range(SCORES_VERSION, 1, -1):
        if completeness(zoo, version, data_dir).complete:
            return version
    return 1


def version_complete_on(zoo: str, archs: Iterable[str], data_dir: Path | None = None) -> int:
    """The version of ``zoo``'s scores that an analysis restricted to ``archs``
    reads: the newest version up to :data:`SCORES_VERSION` whose CSV has a row
    for every one of ``archs`` and no pending score on those rows, else version
    1. The same rule as :func:`published_version`, applied to the rows the
    analysis uses: a version being filled is read on a subset once that subset
    is whole, and never mixed with an older one."""
    wanted = set(archs)
    for version in range(SCORES_VERSION, 1, -1):
        path = scores_path(zoo, version, data_dir)
        if not path.exists():
            continue
        stored = read_checked_csv(scores_table(zoo, version), path, usecols=lambda c: c in ("arch", "pending"))
        rows = stored[stored["arch"].isin(wanted)]
        if len(rows) == len(wanted) and not rows["pending"].map(pending_scores).map(bool).any():
            return version
    return 1


def _meta(zoo: Zoo, seed: int, batch: ProxyBatch | None, archs_in_zoo: int) -> dict[str, object]:
    import torchvision  # the version only; a heavy import

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
    exported as ``zoo_scores_v<version>_<zoo>.csv`` (pandas, ``%.17g``)."""
    types: dict[str, ColumnType] = {
        "order": "INTEGER",
        "arch": "TEXT",
        "errors": "TEXT",
        "pending": "TEXT",
        "scored_at": "TEXT",
    }
    columns = tuple((c, types.get(c, "REAL")) for c in stored_columns(version))
    required = ("order", "arch", "accuracy", *ZOO_PROXIES, *REUSE_SCORES)  # a file without them is never filled
    return TableSpec(
        scores_path(zoo, version).stem,
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
                f"(python -m reuseprior score-zoos {zoo_name})"
            )
        db.export_csv(spec, path)
    return path


def upgrade_scores(
    zoo_name: str, *, data_dir: Path | None = None, store: Path | None = None, progress: bool = True
) -> dict[str, object]:
    """Start the table of :data:`SCORES_VERSION` from the previous version's
    CSV in ``data_dir`` (see "Versions" in the module docstring), export it,
    and return what its ``.meta.json`` records under ``upgraded_from``.

    Every row of the previous CSV becomes a row of the new table, in the same
    order, with its ``order``, ``arch`` and ``accuracy``:

    - a row whose model gets the same input at both versions (:meth:`Zoo.size_of`
      of :func:`get_zoo` at each): every other column copied value for value,
      except the value, timing and message of each score whose definition
      changed (:func:`changed_scores`), left empty and listed in ``pending``.
      The shared pass's timing is copied: it timed the pass of the carried
      proxies (a changed proxy filled alone is not timed on its own);
    - a row whose input size changed (the torchvision models whose
      evaluation crop is not 224 px): nothing else; every score pending.

    Then :func:`fill_proxies` computes the pending scores (resumable, over
    several sessions), with the previous table's seed (its ``.meta.json``).
    Architectures of the catalogue that the previous CSV lacks are left to
    :func:`score_zoo`. ``FileNotFoundError`` without the previous CSV;
    :class:`StoreError` when the store (or the new version's CSV, which the
    store takes in first) already holds the new table: a fill in progress is
    never started over."""
    old_version = SCORES_VERSION - 1
    source = scores_path(zoo_name, old_version, data_dir)
    if old_version < 1 or not source.exists():
        raise FileNotFoundError(f"no {source} to upgrade from (score the zoo instead: score-zoos {zoo_name})")
    zoo, old_zoo = get_zoo(zoo_name), get_zoo(zoo_name, old_version)
    old_spec, spec = scores_table(zoo_name, old_version), scores_table(zoo_name)
    old_rows = [dict(zip(old_spec.names, values)) for values in read_csv_rows(old_spec, source)]
    old_meta_path = source.with_suffix(".meta.json")
    old_meta = json.loads(old_meta_path.read_text()) if old_meta_path.exists() else {}
    seed = int(old_meta.get("seed", 0))
    cat = zoo.catalogue()
    by_arch = cat.set_index("arch")
    resized: dict[str, list[int]] = {}
    for old in old_rows if old_zoo.image_size != zoo.image_size else []:
        if old["arch"] in by_arch.index:
            row = pd.Series(_catalogue_row(by_arch, old["arch"]))
            sizes = [old_zoo.size_of(row), zoo.size_of(row)]
            if sizes[0] != sizes[1]:
                resized[old["arch"]] = sizes
    changed = changed_scores(SCORES_VERSION)
    recomputed = [p for p in ZOO_PROXIES if p in changed] + ([_REUSE] if set(changed) & set(REUSE_SCORES) else [])
    blank = {c for name in recomputed for c in _score_columns(name)}
    identity = ["order", "arch", "accuracy"]
    rows = []
    for old in old_rows:
        if old["arch"] in resized:
            rows.append({c: old[c] for c in identity} | {"pending": _pending_cell([*ZOO_PROXIES, _REUSE])})
            continue
        row = {c: old[c] for c in spec.names if c in old and c not in blank}
        errors = _error_messages(old["errors"])
        if set(errors) & set(recomputed):  # the old definitions' messages go; the text is kept where none does
            errors = {k: v for k, v in errors.items() if k not in recomputed}
            row["errors"] = json.dumps(errors) if errors else None
        rows.append(row | {"pending": _pending_cell(recomputed)})
    record = {
        "version": old_version,
        "csv": source.name,
        "sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "carried_over": [c for c in spec.names if c in old_spec.names and c not in blank and c not in identity],
        "recomputed": {
            "scores": recomputed,
            "why": "definition changed in this version (registry since_version)",
            "rows": len(old_rows) - len(resized),
        },
        "recomputed_entirely": {
            "archs": {arch: {"image_size": sizes} for arch, sizes in resized.items()},
            "why": "input size changed (previous version, this version): every score depends on it",
        },
        "not_in_previous": len(set(by_arch.index) - {r["arch"] for r in old_rows}),
        "rescored_in_previous": old_meta.get("rescored", []),  # where carried values were replaced there
    }
    meta = _meta(zoo, seed, zoo.fixed_batch(seed), len(cat)) | {"upgraded_from": record}
    with _session(zoo_name, data_dir, store, progress) as run:
        held = run.store.count(run.spec)
        if held or run.store.meta(run.spec) is not None:
            raise StoreError(
                f"the store {run.store.path} already holds {held} rows of {zoo_name} version {SCORES_VERSION} "
                f"({run.spec.name}: upgraded or scored before); compute what they lack with "
                f"python -m reuseprior score-zoos {zoo_name} --fill-proxies"
            )
        run.store.create_with_rows(run.spec, rows, meta)
        run.changed = True
    return record


@dataclass
class _Session:
    """A run's store, table and CSV; ``changed`` once it wrote something."""

    store: ScoreStore
    spec: TableSpec
    csv: Path
    say: Callable[[str], None]
    changed: bool = False


@contextmanager
def _session(zoo_name: str, data_dir: Path | None, store: Path | None, progress: bool) -> Iterator[_Session]:
    """Open the store, bring in the zoo's CSV (:meth:`ScoreStore.attach`) and,
    when the run ends (also by Ctrl-C or SIGTERM: :func:`_sigterm_as_interrupt`),
    export the table to the CSV if the run stored anything."""
    csv = scores_path(zoo_name, data_dir=data_dir)
    say = print if progress else _quiet
    with ScoreStore(store or default_store_path(data_dir)) as db, _sigterm_as_interrupt():
        spec = scores_table(zoo_name)
        db.attach(spec, csv, say=say)
        session = _Session(db, spec, csv, say)
        try:
            yield session
        finally:
            if session.changed:
                count = db.export_csv(spec, csv, overwrite_changed=False)
                say(f"{zoo_name}: {count} rows in {csv} (store: {db.path})")


def _quiet(message: str) -> None:
    """``say`` of a run without progress output."""


def _run(
    jobs: list[_ArchJob],
    on_done: Callable[[_ArchJob], None],
    *,
    desc: str,
    progress: bool,
    client: Client | None,
    scheduler: str | None,
    workers: int | None,
    max_memory_gb: float | None = None,
) -> None:
    """Run ``jobs`` on ``client``, or on a cluster started for them (none when there is nothing to do)."""
    if not jobs:
        return
    if client is not None:
        run_jobs(client, jobs, on_done=on_done, desc=desc, progress=progress)
        return
    with connect(
        scheduler=scheduler, workers=workers, max_memory_gb=max_memory_gb, say=print if progress else _quiet
    ) as started:
        run_jobs(started, jobs, on_done=on_done, desc=desc, progress=progress)


def score_zoo(
    zoo_name: str,
    *,
    limit: int | None = None,
    seed: int = 0,
    data_dir: Path | None = None,
    reuse: bool = True,
    progress: bool = True,
    max_params: float | None = None,
    full_every: int = 1,
    store: Path | None = None,
    client: Client | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
) -> Path:
    """Score the next architectures of ``zoo_name`` (in its fixed order) that
    are not stored yet, one Dask task per architecture, and store each row in
    one transaction as it finishes; returns the CSV, exported at the end.

    ``limit`` caps the number of *stored* rows (e.g. 500 = the first 500
    architectures of the order); ``max_params`` skips ImageNet models whose
    published parameter count is larger (recorded in the sidecar, not scored).
    ``full_every=M`` computes the data-dependent proxies (:data:`DATA_DEPENDENT`)
    only at positions ``k % M == 0`` of the order (the rest get the data-free
    scores: params, FLOPs, SynFlow and the reusability quantities; their
    data-dependent columns stay empty and are listed in ``pending``, as the
    reusability quantities are with ``reuse=False``: :func:`fill_proxies`
    computes them later), a cheaper sample when time is short.
    ``store`` is the SQLite file (default :func:`default_store_path`);
    ``client`` a Dask client to use, else one of ``scheduler`` (an address)
    or of a LocalCluster of ``workers`` processes (:func:`connect`). Two runs
    at once never store a row twice (the first one stored wins), but each
    computes the rows the other has not stored yet: give one run more workers.
    A model that kills its worker is retried as :class:`_ArchJob` says.
    """
    zoo = get_zoo(zoo_name)
    cat = zoo.catalogue()
    order = zoo.order(cat, seed)
    if limit is not None:
        order = order[:limit]
    if max_params is not None and "published_params" in cat.columns:
        small = set(cat.loc[cat["published_params"] <= max_params, "arch"])
        order = [a for a in order if a in small]
    everything = list(ZOO_PROXIES)
    data_free = [p for p in everything if p not in DATA_DEPENDENT]
    rows = cat.set_index("arch")
    with _session(zoo_name, data_dir, store, progress) as run:
        if run.store.meta(run.spec) is None:
            run.store.set_meta(run.spec, _meta(zoo, seed, zoo.fixed_batch(seed), len(cat)))
            run.changed = True
        done = run.store.keys(run.spec)
        jobs = [
            _ArchJob(
                zoo,
                arch,
                _catalogue_row(rows, arch),
                seed,
                everything if k % full_every == 0 else data_free,
                reuse=reuse,
                each_alone=True,
                order=k,
            )
            for k, arch in enumerate(order)
            if arch not in done
        ]

        def store_row(job: _ArchJob) -> None:
            if job.rec is None:
                run.say(f"{job.arch}: not stored ({job.failure}); the next run tries it again")
                return
            rec = job.rec | {"order": job.order, "scored_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            skipped = [p for p in everything if p not in job.names] + ([] if reuse else [_REUSE])
            rec["pending"] = _pending_cell(skipped)  # stored from version 2 on: what --fill-proxies computes later
            run.changed |= run.store.insert(run.spec, rec)

        _run(
            jobs,
            store_row,
            desc=f"scoring {zoo_name}",
            progress=progress,
            client=client,
            scheduler=scheduler,
            workers=workers,
        )
    return run.csv


def append_rows(path: Path, frame: pd.DataFrame) -> None:
    """Append ``frame`` to the CSV at ``path`` (header only for a new file),
    for tables that have no store (the minibatch-sensitivity rows): the rows go
    in one ``write`` to a file opened in append mode, so appends of other
    processes land before or after them, not inside. A file whose header
    differs from ``frame``'s columns (written before a column was added) is
    first rewritten, atomically, in ``frame``'s column order, new columns empty."""
    if path.exists() and path.stat().st_size > 0:
        with open(path) as fh:
            header = fh.readline().rstrip("\n").split(",")
        if header != list(frame.columns):
            _rewrite_csv(path, pd.read_csv(path).reindex(columns=frame.columns))
        text = frame.to_csv(index=False, header=False, float_format="%.17g", lineterminator="\n")
    else:
        text = frame.to_csv(index=False, float_format="%.17g", lineterminator="\n")
    with open(path, "a") as fh:
        fh.write(text)


def _rewrite_csv(path: Path, df: pd.DataFrame) -> None:
    """Replace the CSV at ``path`` by ``df`` atomically (a temporary file, then a
    rename: readers see the old or the new file, never half of one)."""
    with atomic_write(path, "w", newline="") as fh:
        df.to_csv(fh, index=False, float_format="%.17g")


def fill_proxies(
    zoo_name: str,
    *,
    every: int = 1,
    limit: int | None = None,
    seed: int = 0,
    data_dir: Path | None = None,
    progress: bool = True,
    isolate: bool = False,
    max_memory_gb: float | None = None,
    retry_out_of_memory: bool = False,
    archs: Iterable[str] | None = None,
    store: Path | None = None,
    client: Client | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
) -> int:
    """Compute what stored rows lack: the scores listed in their ``pending``
    column (:func:`pending_scores`: after :func:`upgrade_scores`, the scores
    whose definition changed, or every score of a row whose input size
    changed; after a ``score_zoo`` with ``full_every``, the data-dependent
    proxies), and the data-dependent proxies (:data:`DATA_DEPENDENT`) of rows
    that have none of them (a table of version 1, which has no ``pending``).
    Rows at positions ``order % every == 0``, in the zoo's
    order (a seeded permutation for NAS-Bench-201, so any prefix is a uniform
    random sample); ``limit`` takes the first ``limit`` of those rows (as
    ``score_zoo``'s: a prefix of the order, so a fill killed and run again fills
    the rows one uninterrupted fill would have), one Dask task per architecture;
    returns how many rows this fill filled. Each filled row is committed to the
    store as it finishes (a hard kill loses only the rows in flight; a row
    leaves ``pending`` in the same transaction); the CSV
    is exported when the fill ends, also by Ctrl-C or SIGTERM. The scores
    see the same seeded initialisation and minibatch as in :func:`score_zoo`,
    so a filled row is what a full scoring would have stored.

    Every architecture is scored in a worker process (of the LocalCluster,
    or of the cluster at ``scheduler``). A model whose proxies exhaust the
    worker's memory kills the worker, which the nanny restarts; the row is
    then scored by follow-up tasks: GraSP dropped, then each proxy alone
    (:class:`_ArchJob`). ``isolate=True`` also scores alone, each in its own
    task, the proxies that failed by an allocation error inside the task
    (otherwise the task itself tries them one by one: :func:`_shared_pass`).
    ``max_memory_gb`` (only with ``isolate``) is the LocalCluster's memory
    limit per worker: a worker beyond it is restarted by its nanny, and the
    proxies it was scoring are recorded as out of memory, naming the limit.
    ``retry_out_of_memory=True`` also takes the rows where some proxy ran out
    of memory before (say, under a lower limit); not by default, since such a
    row usually fails again and costs minutes each time. ``archs`` restricts
    the fill to these stored architectures (say, the models to retry under a
    higher limit). A fill that ends (not interrupted) appends to the
    ``.meta.json``'s ``filled`` what it computed, when and with which torch;
    a row that another fill running at once stored first is neither written
    again nor counted (:func:`_write_filled`).
    """
    if max_memory_gb is not None and not (isolate and max_memory_gb > 0):
        raise ValueError(
            f"max_memory_gb={max_memory_gb!r}: a positive memory limit of the isolated workers, "
            "so it needs isolate=True (--isolate)"
        )
    zoo = get_zoo(zoo_name)
    wants = functools.partial(_wanted, proxies=[p for p in PROXIES if p in DATA_DEPENDENT], retry=retry_out_of_memory)
    with _session(zoo_name, data_dir, store, progress) as run:
        stored = _stored_rows(run, zoo_name)
        candidates = stored[stored["order"] % every == 0].sort_values("order")
        if archs is not None:
            candidates = candidates[candidates["arch"].isin(_stored_archs(stored, zoo_name, archs))]
        if limit is not None:  # a prefix of the zoo's order, whatever an earlier (interrupted) fill did
            candidates = candidates.head(limit)
        names = {row["arch"]: wants(row) for _, row in candidates.iterrows()}
        todo = [arch for arch, wanted in names.items() if wanted]
        rows = _rows_for(zoo, stored, todo)
        jobs = [
            _ArchJob(
                zoo,
                arch,
                rows[arch],
                seed,
                [p for p in ZOO_PROXIES if p in names[arch]],
                reuse=_REUSE in names[arch],
                each_alone=not isolate,
            )
            for arch in todo
        ]
        filled: list[str] = []
        _run(
            jobs,
            _write_filled(run, timing=True, wants=wants, filled=filled),
            desc=f"filling {zoo_name}",
            progress=progress,
            client=client,
            scheduler=scheduler,
            workers=workers,
            max_memory_gb=max_memory_gb,
        )
        if filled and "pending" in run.spec.names:  # the CSV's history: what was computed later, when, with what
            entry = {
                "rows": len(filled),
                "scores": _pending_cell(set().union(*(names[arch] for arch in filled))),
                "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "torch": torch.__version__,
                "cpu_kernels": cpu_kernels(),
            }
            run.store.set_meta(run.spec, update=lambda meta: meta | {"filled": [*meta.get("filled", []), entry]})
            run.changed = True
    return len(filled)


def _wanted(row: Mapping[str, object], *, proxies: list[str], retry: bool) -> set[str]:
    """What a fill computes on a stored row (a committed row, or a row of the stored frame): the scores in
    its ``pending``, and ``proxies`` (the data-dependent ones) when it has none of them or, with ``retry``,
    when one of them ran out of memory."""
    lacking = all(pd.isna(row.get(p)) for p in proxies) or (retry and _ran_out_of_memory(row.get("errors"), proxies))
    return set(pending_scores(row.get("pending"))) | (set(proxies) if lacking else set())


def rescore_proxies(
    zoo_name: str,
    proxies: Iterable[str],
    *,
    archs: Iterable[str] | None = None,
    with_modules: Iterable[str] | None = None,
    seed: int = 0,
    data_dir: Path | None = None,
    progress: bool = True,
    store: Path | None = None,
    client: Client | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    max_memory_gb: float | None = None,
) -> list[str]:
    """Score ``proxies`` (any of :data:`reuseprior.baselines.registry.ZOO_PROXIES`)
    again on stored rows and replace their stored values (and messages);
    returns the architectures rescored.

    For a proxy whose definition changed, on the models it changes: say,
    after a module class is added to
    :data:`reuseprior.baselines.proxies.LIBRARY_ACTIVATIONS`, NASWOT's value
    changes (or becomes defined) on every model holding one:
    ``rescore_proxies("pytorchcv", ["naswot"], with_modules=["Swish", "HSwish"])``.
    The rows are ``archs`` (default: every stored row), narrowed by
    ``with_modules`` to the models that hold a module of one of these class
    names (each model is built to look). Same seeds and minibatch as a full
    scoring; the shared pass's timing columns are kept (a proxy rescored alone
    is not the pass they timed), a data-free score's own timing is replaced.
    Also for a score whose counter once failed on some models and now counts
    them (``rescore_proxies("pytorchcv", ["flops"], archs=[...])``). One Dask task per architecture, each row
    committed as it finishes, like :func:`fill_proxies`; a finished rescoring
    is recorded under ``rescored`` in the ``.meta.json``. ``max_memory_gb`` is
    the memory limit of each worker of the LocalCluster started for it
    (default: Dask's share of the machine per worker): a model that needs
    more than that share alone, the machine otherwise idle (checked by
    :func:`reuseprior.zoo.distributed.connect`)."""
    proxies = list(proxies)
    unknown = set(proxies) - set(ZOO_PROXIES)
    if unknown:
        raise ValueError(
            f"{sorted(unknown)} are not stored proxies; choose from {list(ZOO_PROXIES)} "
            "(the reusability quantities are recomputed by a new scores version: upgrade_scores)"
        )
    zoo = get_zoo(zoo_name)
    with _session(zoo_name, data_dir, store, progress) as run:
        stored = _stored_rows(run, zoo_name)
        todo = stored.sort_values("order")["arch"].tolist() if archs is None else _stored_archs(stored, zoo_name, archs)
        if with_modules is not None:
            todo = archs_with_modules(zoo, todo, with_modules, progress=progress)
        rows = _rows_for(zoo, stored, todo)
        jobs = [_ArchJob(zoo, arch, rows[arch], seed, proxies, reuse=False, each_alone=True) for arch in todo]
        _run(
            jobs,
            _write_filled(run, timing=False),
            desc=f"rescoring {', '.join(proxies)} of {zoo_name}",
            progress=progress,
            client=client,
            scheduler=scheduler,
            workers=workers,
            max_memory_gb=max_memory_gb,
        )
        if todo:  # the CSV's history: which values were replaced, when
            entry = {
                "proxies": proxies,
                "rows": len(todo),
                "with_modules": sorted(with_modules) if with_modules else None,
                "archs": todo if archs is not None or with_modules is not None else "all",
                "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "torch": torch.__version__,
                "cpu_kernels": cpu_kernels(),
            }
            run.store.set_meta(run.spec, update=lambda meta: meta | {"rescored": [*meta.get("rescored", []), entry]})
            run.changed = True
    return todo


def archs_with_modules(
    zoo: Zoo | str, archs: Iterable[str], class_names: Iterable[str], *, progress: bool = False
) -> list[str]:
    """Those of ``archs`` whose model (built, untrained) holds a module whose class is named one of ``class_names``."""
    zoo = get_zoo(zoo) if isinstance(zoo, str) else zoo
    names = set(class_names)
    return [
        arch
        for arch in tqdm(list(archs), desc=f"looking for {', '.join(sorted(names))}", disable=not progress)
        if any(type(m).__name__ in names for m in zoo.build(arch).modules())
    ]


def _write_filled(
    run: _Session,
    *,
    timing: bool,
    wants: Callable[[Mapping[str, object]], set[str]] | None = None,
    filled: list[str] | None = None,
) -> Callable[[_ArchJob], None]:
    """``on_done`` of a fill or rescoring: write what a finished job computed
    (its ``names``, and the reusability quantities if it computed them) into
    its stored row, in one transaction, and take them off the row's
    ``pending``; the messages of an earlier attempt at these scores are
    replaced by this attempt's, the others kept, and so are a data-free
    score's own timing columns (it is timed alone). With ``timing``, also the
    timing columns of what was timed here: the reusability quantities', the
    model build's (on a row without one), and the shared pass's when the job computed every data-dependent proxy
    (a pass over some of them is not the pass those columns time). A row that
    had no ``scored_at`` gets the time of the fill. With ``wants`` (a fill: what
    the committed row still lacks, :func:`_wanted`), a job whose scores the row
    no longer lacks (another fill at once stored them) writes nothing; the
    architectures written are appended to ``filled``, so that two fills at once
    never both record one row in the history."""

    def change(job: _ArchJob) -> Callable[[dict[str, object]], dict[str, object]]:
        rec = job.rec
        done = [*job.names, *([_REUSE] if job.reuse else [])]
        columns = [*job.names, *(REUSE_SCORES if job.reuse else ())]
        columns += [c for p in job.names if p not in DATA_DEPENDENT for c in _score_columns(p)[1:]]
        if timing:
            if set(job.proxies) == DATA_DEPENDENT:
                columns += ["data_dependent_seconds", "data_dependent_cpu_seconds"]
            if job.reuse:
                columns += ["reuse_seconds", "reuse_cpu_seconds"]

        def new_values(current: dict[str, object]) -> dict[str, object]:
            if wants is not None and not wants(current) & set(done):
                return {}  # stored meanwhile by another fill
            errors = {k: v for k, v in _error_messages(current["errors"]).items() if k not in done}
            errors |= _error_messages(rec["errors"])
            values = {c: rec.get(c, math.nan) for c in columns} | {"errors": json.dumps(errors) if errors else None}
            if timing and current.get("build_seconds") is None:
                values["build_seconds"] = rec.get("build_seconds", math.nan)
            if "pending" in current:
                values["pending"] = _pending_cell(set(pending_scores(current["pending"])) - set(done))
            if "scored_at" in current and current["scored_at"] is None:
                values["scored_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
            return values

        return new_values

    def on_done(job: _ArchJob) -> None:
        if job.rec is None:
            run.say(f"{job.arch}: not stored ({job.failure})")
            return
        written: list[bool] = []
        new_values = change(job)

        def recorded(current: dict[str, object]) -> dict[str, object]:
            values = new_values(current)
            written.append(bool(values))
            return values

        run.changed |= run.store.modify(run.spec, job.arch, recorded)
        if filled is not None and any(written):
            filled.append(job.arch)

    return on_done


def _stored_rows(run: _Session, zoo_name: str) -> pd.DataFrame:
    """The rows of a zoo's stored scores, which must exist."""
    stored = run.store.rows(run.spec)
    if stored.empty:
        raise FileNotFoundError(
            f"no stored rows for {zoo_name} at {run.csv} (store {run.store.path}); score the zoo "
            f"first (python -m reuseprior score-zoos {zoo_name})"
        )
    return stored


def _catalogue_row(rows: pd.DataFrame, arch: str) -> dict[str, object]:
    """The catalogue row of ``arch`` (accuracy, image size, ...) as the task receives it."""
    return {"arch": arch, **{k: _plain(v) for k, v in rows.loc[arch].items()}}


def _plain(value: object) -> object:
    return value.item() if hasattr(value, "item") else value


def _rows_for(zoo: Zoo, stored: pd.DataFrame, archs: list[str]) -> dict[str, dict[str, object]]:
    """Catalogue rows of ``archs`` (stored rows that the catalogue lacks: their stored accuracy)."""
    if not archs:
        return {}
    cat = zoo.catalogue().set_index("arch")
    by_arch = stored.set_index("arch")
    return {
        arch: _catalogue_row(cat, arch)
        if arch in cat.index
        else {"arch": arch, "accuracy": by_arch.at[arch, "accuracy"]}
        for arch in archs
    }


def _stored_archs(stored: pd.DataFrame, zoo_name: str, archs: Iterable[str]) -> list[str]:
    """``archs``, each checked to be a stored row of the zoo (else
    :class:`UnknownArchitectureError` with the closest names)."""
    archs = list(archs)
    known = set(stored["arch"])
    for arch in archs:
        if arch not in known:
            close = difflib.get_close_matches(arch, sorted(known), n=3)
            hint = (
                f"; did you mean {', '.join(close)}?"
                if close
                else f"; score it first (python -m reuseprior score-zoos {zoo_name})"
            )
            raise UnknownArchitectureError(f"{arch!r} is not a stored {zoo_name} row{hint}")
    return archs


#: Minibatches built in this worker process, by (zoo, batch size, image size, classes, seed).
_BATCHES: dict[tuple, ProxyBatch] = {}


def _score_task(
    zoo: Zoo, arch: str, row: dict[str, object], seed: int, names: list[str], reuse: bool, each_alone: bool
) -> dict[str, object]:
    """One Dask task: :func:`score_architecture` of ``arch`` (scores ``names``)
    with the zoo's seeded minibatch, built once per worker process."""
    series = pd.Series(row)
    size = zoo.size_of(series)
    key = (zoo.name, zoo.batch_size, size, zoo.num_classes, seed)
    if key not in _BATCHES:
        _BATCHES[key] = zoo.batch(size, seed)
    return score_architecture(
        zoo, arch, seed=seed, proxies=names, reuse=reuse, batch=_BATCHES[key], row=series, each_alone=each_alone
    )


@dataclass
class _ArchJob:
    """The scoring of one architecture as Dask tasks, with the out-of-memory
    fallbacks expressed as follow-up tasks:

    1. ``all``: every score asked for (the data-dependent proxies in one shared
       pass; ``each_alone`` as :func:`_shared_pass` takes it).
    2. If its worker was killed (:class:`~reuseprior.zoo.distributed.Killed`,
       recorded as "out of memory (worker limit N GiB)"): ``without_<names>``
       (``without_grasp``): every score but the second-order proxies
       (:data:`reuseprior.baselines.registry.SECOND_ORDER`), whose double
       backward needs by far the most memory, when they were asked for beside
       other proxies; then ``data_free`` (the scores that
       need no minibatch, and the reusability quantities) when there are any;
       a fill (proxies only) killed again stores every proxy NaN with the message.
    3. ``alone``: each data-dependent proxy that ran out of memory (killed, or,
       with ``each_alone=False``, an allocation error in the task) is scored
       alone in its own task, when at least two were asked for. One that
       succeeds keeps its value; one that fails gets that attempt's message,
       marked "(alone, in a follow-up task)"; one killed again keeps the
       earlier message.

    ``rec`` is the finished row (``None`` when not even the data-free scores
    survived: nothing is stored, ``failure`` says why). Every task computes
    what the client would (same seeds, one thread), so follow-ups change which
    values exist, never their value."""

    zoo: Zoo
    arch: str
    row: dict[str, object]
    seed: int
    names: list[str]
    reuse: bool
    each_alone: bool
    order: int = -1
    rec: dict[str, object] | None = None
    failure: str = ""
    killed: str = ""

    @property
    def proxies(self) -> list[str]:
        return [p for p in self.names if p in DATA_DEPENDENT]

    @property
    def second_order(self) -> list[str]:
        """The proxies asked for whose double backward is dropped first when memory runs out."""
        return [p for p in self.proxies if p in SECOND_ORDER]

    @property
    def without_second_order(self) -> str:
        """The tag of the task that scores everything but :attr:`second_order` (``without_grasp``)."""
        return "_".join(["without", *self.second_order])

    def _call(self, names: list[str], tag: str, *, reuse: bool | None = None, each_alone: bool | None = None) -> Call:
        reuse = self.reuse if reuse is None else reuse
        each_alone = self.each_alone if each_alone is None else each_alone
        return Call(
            _score_task,
            (self.zoo, self.arch, self.row, self.seed, names, reuse, each_alone),
            what=f"scoring {self.arch} ({self.zoo.name}, {tag})",
            tag=tag,
        )

    def start(self) -> list[Call]:
        return [self._call(self.names, "all")]

    def receive(self, call: Call, outcome: object) -> list[Call]:
        if call.tag == "alone":
            self._take_alone(call.args[4][0], outcome)
            return []
        if isinstance(outcome, Killed):
            return self._after_kill(call.tag, outcome.message())
        rec = dict(outcome)
        errors = _error_messages(rec["errors"])
        if self.second_order and call.tag == self.without_second_order:
            for p in self.second_order:
                rec[p] = math.nan
                errors[p] = f"{self.killed}; the other proxies computed without {proxy_info(p).label}'s double backward"
        elif call.tag == "data_free":
            rec |= {p: math.nan for p in self.proxies}
            errors |= {p: self.killed for p in self.proxies}
        rec["errors"] = json.dumps(errors) if errors else ""
        self.rec = rec
        return self._alone()

    def _after_kill(self, tag: str, message: str) -> list[Call]:
        self.killed = message
        proxies, others, heavy = self.proxies, [n for n in self.names if n not in DATA_DEPENDENT], self.second_order
        if tag == "all" and heavy and len(heavy) < len(proxies):
            return [self._call([n for n in self.names if n not in heavy], self.without_second_order)]
        first_tries = ("all", self.without_second_order) if heavy else ("all",)
        if tag in first_tries and proxies and (others or self.reuse):
            return [self._call(others, "data_free")]
        if tag in first_tries and proxies:  # proxies only (a fill): each NaN, with the message
            self.rec = {
                "arch": self.arch,
                "accuracy": self.row.get("accuracy", math.nan),
                **{p: math.nan for p in proxies},
                "data_dependent_seconds": math.nan,
                "data_dependent_cpu_seconds": math.nan,
                "errors": json.dumps({p: message for p in proxies}),
            }
            return self._alone()
        self.failure = message
        return []

    def _alone(self) -> list[Call]:
        """Step 3: the proxies to score alone, each in its own task."""
        proxies = self.proxies
        if len(proxies) < 2:
            return []
        errors = _error_messages(self.rec["errors"])
        killed = {p for p, m in errors.items() if self.killed and m.startswith(self.killed)}
        # with each_alone the task already tried the others one by one: only the killed ones are left
        again = [p for p in proxies if _says_out_of_memory(errors.get(p, "")) and (not self.each_alone or p in killed)]
        return [self._call([p], "alone", reuse=False, each_alone=False) for p in again]

    def _take_alone(self, proxy: str, outcome: object) -> None:
        if isinstance(outcome, Killed):  # killed again: the earlier message stands
            return
        errors = _error_messages(self.rec["errors"])
        errors.pop(proxy, None)
        errors |= {p: f"{m} (alone, in a follow-up task)" for p, m in _error_messages(outcome["errors"]).items()}
        self.rec = self.rec | {proxy: outcome[proxy], "errors": json.dumps(errors) if errors else ""}


@contextmanager
def _sigterm_as_interrupt():
    """SIGTERM raises KeyboardInterrupt while active (main thread only), so
    ``finally`` blocks run when a batch job is stopped politely."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
