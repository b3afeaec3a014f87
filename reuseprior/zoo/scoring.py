"""Scoring the model zoos: one row per architecture, every score and its cost.

A *zoo* is a list of architecture ids, a builder, a ground-truth accuracy per
id and the minibatch settings of the data-dependent proxies. Stored results
live in ``data/zoo_scores_v<VERSION>_<zoo>.csv`` (one row per architecture,
appended as each finishes, so a run can be stopped and resumed) with a
``.meta.json`` sidecar recording the batch, seeds and package versions.
Bump :data:`SCORES_VERSION` whenever a score's definition changes.

Determinism: the weights of architecture ``a`` are initialised from
``torch.manual_seed(init_seed(seed, a))`` and every score is computed with
one CPU thread, so the notebook can recompute stored rows exactly.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, TypeVar

import pandas as pd
import torch
from torch import nn

from .. import paths
from ..proxies import DATA_DEPENDENT, PROXIES, ProxyBatch, data_dependent_scores, make_batch, num_params

T = TypeVar("T")

__all__ = [
    "REUSE_SCORES",
    "append_rows",
    "call_in_child",
    "SCORES_VERSION",
    "ZOOS",
    "Zoo",
    "get_zoo",
    "init_seed",
    "load_scores",
    "reusability_scores",
    "score_architecture",
    "score_isolated",
    "score_zoo",
    "fill_proxies",
    "scores_path",
    "stored_columns",
]

SCORES_VERSION = 1

#: Chapter-4 quantities from :func:`reuseprior.counting.analyze` stored per architecture.
REUSE_QUANTITIES = ("PG", "PG_prime", "expected_spread", "entropy", "total_surprisal")
#: Stored reusability-prior columns (quantities, their per-parameter efficiencies, PE/CE).
REUSE_SCORES = (*REUSE_QUANTITIES, *(f"{q}_per_param" for q in REUSE_QUANTITIES), "PE", "CE")


@dataclass(frozen=True)
class Zoo:
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


def _nb201_catalogue() -> pd.DataFrame:
    from .nasbench201 import load_analog_nasbench

    return load_analog_nasbench()


def _nb201_build(arch: str) -> nn.Module:
    from .nasbench201 import build_nb201

    return build_nb201(arch)


def _nb201_order(cat: pd.DataFrame, seed: int) -> list[str]:
    from .nasbench201 import sample_archs

    return sample_archs(len(cat), seed=seed, df=cat)


def _by_params(cat: pd.DataFrame, seed: int) -> list[str]:
    return cat.sort_values(["published_params", "arch"])["arch"].tolist()


def _tv_catalogue() -> pd.DataFrame:
    from .torchvision_zoo import load_torchvision_zoo

    return load_torchvision_zoo()


def _tv_build(arch: str) -> nn.Module:
    from .torchvision_zoo import build_torchvision

    return build_torchvision(arch)


def _cv_catalogue() -> pd.DataFrame:
    from .pytorchcv_zoo import load_pytorchcv_zoo

    return load_pytorchcv_zoo()


def _cv_build(arch: str) -> nn.Module:
    from .pytorchcv_zoo import build_pytorchcv

    return build_pytorchcv(arch)


ZOOS: dict[str, Zoo] = {
    "nb201": Zoo(
        "nb201",
        "NAS-Bench-201 cells (own implementation), CIFAR-10 test accuracy from analog-nasbench 0.1.3 (baseline_accuracy)",
        _nb201_catalogue, _nb201_build, batch_size=64, image_size=32, num_classes=10, order=_nb201_order,
    ),
    "torchvision": Zoo(
        "torchvision",
        "torchvision ImageNet-1K classifiers, published acc@1 of one recipe per architecture (IMAGENET1K_V1 rule)",
        _tv_catalogue, _tv_build, batch_size=16, image_size=224, num_classes=1000, order=_by_params,
    ),
    "pytorchcv": Zoo(
        "pytorchcv",
        "pytorchcv ImageNet-1K models, 100 - published top-1 error (package README / metainfo)",
        _cv_catalogue, _cv_build, batch_size=16, image_size=lambda row: int(row["img_size"]), num_classes=1000, order=_by_params,
    ),
}


def get_zoo(name: str) -> Zoo:
    if name not in ZOOS:
        raise KeyError(f"unknown zoo {name!r}; known: {sorted(ZOOS)}")
    return ZOOS[name]


def init_seed(seed: int, arch: str) -> int:
    """Seed of the random initialisation of ``arch`` (stable across runs and machines)."""
    return (seed * 1_000_003 + zlib.crc32(arch.encode())) % 2**31


def reusability_scores(model: nn.Module, example: torch.Tensor) -> dict[str, float]:
    """The thesis quantities of ``model`` (``reuseprior.counting.analyze``, eqs.
    4.2-4.8) and their values per trainable parameter."""
    from ..counting import analyze

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
    together, one shared pass of :func:`reuseprior.proxies.data_dependent_scores`;
    their per-score ``_seconds`` columns are left empty), ``build_seconds``
    and ``errors`` (JSON ``{score: message}`` for scores that failed; their value is NaN).
    ``each_alone`` is passed to :func:`_shared_pass` (out-of-memory fallback).
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
        out: dict[str, object] = {"arch": arch, "accuracy": float(row["accuracy"]), "build_seconds": time.perf_counter() - t0}
        errors: dict[str, str] = {}
        batch = batch or zoo.batch(zoo.size_of(row), seed)
        names = list(proxies or [p for p in PROXIES if p != "nn_mass"])
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
#: not create a primitive" (ResNeSt-269 at 416 px under the 18 GiB cap, after
#: its shared pass had run out of memory).
OUT_OF_MEMORY_SIGNS = ("can't allocate memory", "out of memory", "memoryerror:", "could not create a primitive")


def _says_out_of_memory(message: str) -> bool:
    text = message.lower()
    return any(sign in text for sign in OUT_OF_MEMORY_SIGNS)


def _shared_pass(
    model: nn.Module, batch: ProxyBatch, names: list[str], seed: int, *, each_alone: bool = True
) -> dict[str, object]:
    """:func:`data_dependent_scores` with fallbacks when the shared pass runs
    out of memory: first GraSP is dropped and the others are computed again
    without its double backward, whose graph is by far the largest; if they
    still do not fit (or GraSP was not asked for), each proxy is computed
    alone, so the ones that fit keep their value (NASWOT alone needs no graph
    at all). Then GraSP is tried alone: it may fit where beside the others it
    did not (PreResNet-269b: about 15 GiB alone, over 18 GiB in the shared
    pass; ``benchmarks/bench_proxy_memory.py``); if it does not, it is NaN
    with the reason. The values equal the shared pass's: same seed, same
    forward. Any other failure makes every proxy NaN.

    ``each_alone=False`` stops before the one-by-one passes (GraSP's
    included) and leaves the proxies NaN with the out-of-memory message: for a
    child of :func:`score_isolated`, whose parent scores each of them alone in
    a fresh process anyway (in the failed process the memory may stay held)."""
    torch.manual_seed(seed)
    try:
        return data_dependent_scores(model, batch, names)
    except Exception as exc:  # noqa: BLE001 - recorded per row, not fatal
        failure = (_is_out_of_memory(exc), _message(exc))
    # outside the except block, so that the failed pass's tensors are freed first
    out_of_memory, message = failure
    if "grasp" in names and out_of_memory and len(names) > 1:
        values = _shared_pass(model, batch, [p for p in names if p != "grasp"], seed, each_alone=each_alone)
        reason = f"out of memory in GraSP's double backward (batch {batch.inputs.shape[0]}); the other proxies computed without it"
        if each_alone:
            grasp = _shared_pass(model, batch, ["grasp"], seed)
            if "grasp_error" not in grasp:
                return values | grasp
            reason += f"; alone too: {grasp['grasp_error']}"
        return values | {"grasp": math.nan, "grasp_error": reason}
    if not (out_of_memory and len(names) > 1 and each_alone):
        return {p: math.nan for p in names} | {f"{p}_error": message for p in names}
    alone: dict[str, object] = {}
    for name in names:
        alone |= _shared_pass(model, batch, [name], seed)
    return alone


def stored_columns() -> list[str]:
    """The fixed column order of the stored CSVs (a score not computed for a row is empty)."""
    cols = ["order", "arch", "accuracy", "build_seconds"]
    for p in PROXIES:
        if p != "nn_mass":
            cols += [p, f"{p}_seconds", f"{p}_cpu_seconds"]
    cols += ["data_dependent_seconds", "data_dependent_cpu_seconds"]
    return cols + list(REUSE_SCORES) + ["reuse_seconds", "reuse_cpu_seconds", "errors", "scored_at"]


def scores_path(zoo: str, version: int = SCORES_VERSION, data_dir: Path | None = None) -> Path:
    return (data_dir or paths.DATA_DIR) / f"zoo_scores_v{version}_{zoo}.csv"


def load_scores(zoo: str, version: int = SCORES_VERSION, data_dir: Path | None = None) -> pd.DataFrame:
    """Stored rows of a zoo (empty frame when nothing is scored yet)."""
    path = scores_path(zoo, version, data_dir)
    if not path.exists():
        return pd.DataFrame(columns=["arch", "accuracy"])
    return pd.read_csv(path)


def _meta(zoo: Zoo, seed: int, batch: ProxyBatch | None) -> dict[str, object]:
    import platform

    import torchvision

    return {
        "zoo": zoo.name,
        "description": zoo.description,
        "scores_version": SCORES_VERSION,
        "seed": seed,
        "batch_size": zoo.batch_size,
        "batch": batch.description if batch is not None else "per-model image size (see rows)",
        "init": "torch.manual_seed(reuseprior.zoo.scoring.init_seed(seed, arch)) before building",
        "threads": 1,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "python": platform.python_version(),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def score_zoo(
    zoo_name: str,
    *,
    limit: int | None = None,
    seed: int = 0,
    data_dir: Path | None = None,
    reuse: bool = True,
    progress: bool = True,
    max_params: float | None = None,
    shard: tuple[int, int] = (0, 1),
    full_every: int = 1,
) -> Path:
    """Score the next architectures of ``zoo_name`` (in its fixed order) that are
    not yet in the stored CSV, appending one row per architecture.

    ``limit`` caps the number of *stored* rows (e.g. 500 = the first 500
    architectures of the order); ``max_params`` skips ImageNet models whose
    published parameter count is larger (recorded in the sidecar, not scored).
    ``shard=(i, n)`` scores only positions ``k`` of the order with ``k % n == i``,
    so that ``n`` processes can share one CSV (appends are serialised by a file lock).
    ``full_every=M`` computes the data-dependent proxies (:data:`DATA_DEPENDENT`)
    only at positions ``k % M == 0`` of the order (the rest get the data-free
    scores: params, FLOPs, SynFlow and the reusability quantities; their
    data-dependent columns stay empty), a cheaper sample when time is short.
    """
    from tqdm.auto import tqdm

    zoo = get_zoo(zoo_name)
    cat = zoo.catalogue()
    order = zoo.order(cat, seed)
    if limit is not None:
        order = order[:limit]
    if max_params is not None and "published_params" in cat.columns:
        small = set(cat.loc[cat["published_params"] <= max_params, "arch"])
        order = [a for a in order if a in small]
    path = scores_path(zoo_name, data_dir=data_dir)
    done = set(load_scores(zoo_name, data_dir=data_dir)["arch"]) if path.exists() else set()
    index, count = shard
    todo = [(k, a) for k, a in enumerate(order) if k % count == index and a not in done]
    data_free = [p for p in PROXIES if p != "nn_mass" and p not in DATA_DEPENDENT]
    rows_by_arch = cat.set_index("arch")
    fixed_batch = zoo.fixed_batch(seed)
    meta_path = path.with_suffix(".meta.json")
    if not meta_path.exists():
        meta_path.write_text(json.dumps(_meta(zoo, seed, fixed_batch), indent=1) + "\n")
    for k, arch in tqdm(todo, desc=f"scoring {zoo_name}", disable=not progress):
        row = rows_by_arch.loc[arch].copy()
        row["arch"] = arch
        names = None if k % full_every == 0 else data_free
        rec = score_architecture(zoo, arch, seed=seed, reuse=reuse, batch=fixed_batch, row=row, proxies=names)
        rec["order"] = k
        rec["scored_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        append_rows(path, pd.DataFrame([rec]).reindex(columns=stored_columns()))
    return path


def append_rows(path: Path, frame: pd.DataFrame) -> None:
    """Append ``frame`` to the CSV at ``path`` under the writers' lock (header
    only for a new file). A file whose header differs from ``frame``'s columns
    (written before a column was added) is first rewritten in ``frame``'s
    column order, new columns empty, so that the appended rows line up."""
    with _csv_lock(path):
        if not path.exists() or path.stat().st_size == 0:
            frame.to_csv(path, index=False, float_format="%.17g")
            return
        with open(path) as fh:
            header = fh.readline().rstrip("\n").split(",")
        if header != list(frame.columns):
            _rewrite_csv(path, pd.read_csv(path).reindex(columns=frame.columns))
        frame.to_csv(path, mode="a", header=False, index=False, float_format="%.17g")


def _rewrite_csv(path: Path, df: pd.DataFrame) -> None:
    """Replace the CSV at ``path`` by ``df`` atomically (a temporary file, then a
    rename: readers see the old or the new file, never half of one); call under the lock."""
    import os

    tmp = path.with_suffix(".csv.tmp")
    df.to_csv(tmp, index=False, float_format="%.17g")
    os.replace(tmp, path)


@contextmanager
def _csv_lock(path: Path):
    """Exclusive lock serialising every writer of one stored CSV (appends and rewrites)."""
    import fcntl

    with open(Path(tempfile.gettempdir()) / f"reuseprior-{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def fill_proxies(
    zoo_name: str,
    *,
    every: int = 1,
    limit: int | None = None,
    seed: int = 0,
    data_dir: Path | None = None,
    progress: bool = True,
    shard: tuple[int, int] = (0, 1),
    flush_seconds: float = 60.0,
    isolate: bool = False,
    max_memory_gb: float | None = None,
    retry_out_of_memory: bool = False,
    archs: Iterable[str] | None = None,
) -> int:
    """Compute the data-dependent proxies (:data:`DATA_DEPENDENT`) of stored
    rows that lack them, at positions ``order % every == 0``, in the zoo's
    order (a seeded permutation for NAS-Bench-201, so any prefix is a uniform
    random sample), at most ``limit`` rows; returns how many rows were filled.
    ``shard=(i, n)`` takes only the rows of ``order % (every * n) == every * i``
    (parallel workers fill disjoint rows).

    Filled rows are written back at least every ``flush_seconds`` and when the
    fill ends, also by Ctrl-C or SIGTERM (the CSV is rewritten atomically under
    the writers' lock, so appending workers may run meanwhile). Only a hard
    kill (SIGKILL, out of memory) loses work: the rows of the last
    ``flush_seconds`` at most, which the next fill computes again. (Rewriting
    the 10 MB NAS-Bench-201 CSV after every row cost about a third of a row's
    time.) The proxies see the same seeded initialisation and minibatch as in
    :func:`score_zoo`, so a filled row is what a full scoring would have stored.

    ``isolate=True`` scores each architecture in a child process
    (:func:`score_isolated`): a model whose proxies exhaust the machine's
    memory gets the system's kill, not the fill. Costs a few seconds of start-up per
    architecture, so it is meant for the large ImageNet models.
    ``max_memory_gb`` (only with ``isolate``) caps each child's memory, see
    :func:`score_isolated`. ``retry_out_of_memory=True`` also takes the rows
    where some proxy ran out of memory before (say, under a lower cap or
    beside another fill); not by default, since such a row usually fails
    again and costs minutes each time. ``archs`` restricts the fill to these
    stored architectures (say, the models to retry under a higher cap).
    """
    if max_memory_gb is not None and not (isolate and max_memory_gb > 0):
        raise ValueError(f"max_memory_gb={max_memory_gb!r}: a positive cap of the isolated child processes, "
                         "so it needs isolate=True (--isolate)")
    zoo = get_zoo(zoo_name)
    path, stored = _stored_rows(zoo_name, data_dir)
    proxies = [p for p in PROXIES if p in DATA_DEPENDENT]
    index, count = shard
    lacking = stored[proxies].isna().all(axis=1)
    if retry_out_of_memory:
        lacking |= stored["errors"].map(lambda text: _ran_out_of_memory(text, proxies))
    if archs is not None:
        lacking &= stored["arch"].isin(_stored_archs(stored, zoo_name, archs))
    missing = stored[lacking & (stored["order"] % (every * count) == every * index)]
    todo = missing.sort_values("order")["arch"].tolist()[:limit]
    fixed_batch = zoo.fixed_batch(seed)

    def score(arch: str) -> dict[str, object]:
        if isolate:
            return score_isolated(zoo_name, arch, seed=seed, proxies=proxies, max_memory_gb=max_memory_gb)
        return score_architecture(zoo, arch, seed=seed, reuse=False, batch=fixed_batch, proxies=proxies)

    _score_and_write(path, todo, score, proxies, desc=f"filling proxies of {zoo_name}", progress=progress,
                     flush_seconds=flush_seconds)
    return len(todo)


def rescore_proxies(
    zoo_name: str,
    proxies: Iterable[str],
    *,
    archs: Iterable[str] | None = None,
    with_modules: Iterable[str] | None = None,
    seed: int = 0,
    data_dir: Path | None = None,
    progress: bool = True,
    flush_seconds: float = 60.0,
) -> list[str]:
    """Score ``proxies`` again on stored rows and replace their stored values
    (and messages); returns the architectures rescored.

    For a proxy whose definition changed: NASWOT reads pytorchcv's own
    ``Swish`` and ``HSwish`` modules since they were added to
    :data:`reuseprior.proxies.LIBRARY_ACTIVATIONS`, which changes (or, on
    its EfficientNets, defines) the value of every model holding one:
    ``rescore_proxies("pytorchcv", ["naswot"], with_modules=["Swish", "HSwish"])``.
    The rows are ``archs`` (default: every stored row), narrowed by
    ``with_modules`` to the models that hold a module of one of these class
    names (each model is built to look). Same seeds and minibatch as a full
    scoring; the shared pass's timing columns are kept (a proxy rescored alone
    is not the pass they timed). Interruptible like :func:`fill_proxies`;
    a finished rescoring is recorded under ``rescored`` in the ``.meta.json``."""
    proxies = list(proxies)
    unknown = set(proxies) - DATA_DEPENDENT
    if unknown:
        raise ValueError(f"only data-dependent proxies are rescored here, not {sorted(unknown)}; "
                         f"choose from {sorted(DATA_DEPENDENT)} (the others are rescored by score_zoo)")
    zoo = get_zoo(zoo_name)
    path, stored = _stored_rows(zoo_name, data_dir)
    todo = stored.sort_values("order")["arch"].tolist() if archs is None else _stored_archs(stored, zoo_name, archs)
    if with_modules is not None:
        todo = archs_with_modules(zoo, todo, with_modules, progress=progress)
    fixed_batch = zoo.fixed_batch(seed)
    _score_and_write(path, todo, lambda arch: score_architecture(zoo, arch, seed=seed, reuse=False, batch=fixed_batch,
                                                                 proxies=proxies),
                     proxies, desc=f"rescoring {', '.join(proxies)} of {zoo_name}", progress=progress,
                     flush_seconds=flush_seconds, timing=False)
    meta_path = path.with_suffix(".meta.json")
    if todo and meta_path.exists():  # the CSV's history: which values were replaced, when
        meta = json.loads(meta_path.read_text())
        meta.setdefault("rescored", []).append({
            "proxies": proxies, "rows": len(todo), "with_modules": sorted(with_modules) if with_modules else None,
            "archs": todo if archs is not None or with_modules is not None else "all",
            "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "torch": torch.__version__})
        meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    return todo


def archs_with_modules(zoo: Zoo | str, archs: Iterable[str], class_names: Iterable[str], *, progress: bool = False) -> list[str]:
    """Those of ``archs`` whose model (built, untrained) holds a module whose class is named one of ``class_names``."""
    from tqdm.auto import tqdm

    zoo = get_zoo(zoo) if isinstance(zoo, str) else zoo
    names = set(class_names)
    return [arch for arch in tqdm(list(archs), desc=f"looking for {', '.join(sorted(names))}", disable=not progress)
            if any(type(m).__name__ in names for m in zoo.build(arch).modules())]


def _score_and_write(
    path: Path,
    todo: list[str],
    score: Callable[[str], dict[str, object]],
    proxies: list[str],
    *,
    desc: str,
    progress: bool,
    flush_seconds: float,
    timing: bool = True,
) -> None:
    """``score`` each architecture of ``todo`` and write its ``proxies`` into
    the stored CSV at ``path``: at least every ``flush_seconds``, and at the
    end, also on Ctrl-C or SIGTERM (see :func:`fill_proxies`)."""
    from tqdm.auto import tqdm

    pending: dict[str, dict[str, object]] = {}
    last_flush = time.monotonic()
    with _sigterm_as_interrupt():
        try:
            for arch in tqdm(todo, desc=desc, disable=not progress):
                pending[arch] = score(arch)
                if time.monotonic() - last_flush >= flush_seconds:
                    _write_filled(path, pending, proxies, timing=timing)
                    pending, last_flush = {}, time.monotonic()
        finally:
            _write_filled(path, pending, proxies, timing=timing)


def _stored_rows(zoo_name: str, data_dir: Path | None) -> tuple[Path, pd.DataFrame]:
    """The path and rows of a zoo's stored scores, which must exist."""
    path = scores_path(zoo_name, data_dir=data_dir)
    stored = load_scores(zoo_name, data_dir=data_dir)
    if stored.empty:
        raise FileNotFoundError(f"no stored rows for {zoo_name} at {path}; score the zoo first (python -m reuseprior score-zoos {zoo_name})")
    return path, stored


class UnknownArchitectureError(LookupError):
    """An architecture name that the zoo's stored scores do not hold."""


def _stored_archs(stored: pd.DataFrame, zoo_name: str, archs: Iterable[str]) -> list[str]:
    """``archs``, each checked to be a stored row of the zoo (else
    :class:`UnknownArchitectureError` with the closest names)."""
    import difflib

    archs = list(archs)
    known = set(stored["arch"])
    for arch in archs:
        if arch not in known:
            close = difflib.get_close_matches(arch, sorted(known), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; score it first (python -m reuseprior score-zoos {zoo_name})"
            raise UnknownArchitectureError(f"{arch!r} is not a stored {zoo_name} row{hint}")
    return archs


def score_isolated(
    zoo: Zoo | str, arch: str, *, seed: int = 0, proxies: list[str], max_memory_gb: float | None = None
) -> dict[str, object]:
    """:func:`score_architecture` (proxies only) in a fresh child process.

    If the child dies (the kernel's out-of-memory killer, typically), it is
    tried once more without GraSP, whose double backward needs by far the most
    memory; if that dies too, every proxy is NaN. The reason goes to ``errors``
    like any other failure. Then each proxy that ran out of memory (or was
    killed), GraSP last, is scored alone in a fresh child
    (:func:`_rescore_alone_in_fresh_processes`). The child computes exactly
    what the parent would (same seeds, one thread). ``zoo`` is a name of
    :data:`ZOOS` or a :class:`Zoo` whose functions the child can import.
    Ctrl-C or SIGTERM kills the child at once (its model is scored again by
    the next fill).

    ``max_memory_gb`` caps the child's data memory (``RLIMIT_DATA``: heap and
    anonymous mappings, which hold every tensor). An allocation beyond it fails
    at once with PyTorch's "can't allocate memory", which :func:`_shared_pass`
    answers like any out-of-memory error (GraSP dropped first, then each proxy
    alone), instead of the whole machine paging until the kernel kills the
    largest process: a fill running beside another one keeps the other's
    memory, and a model that needs more than the cap costs seconds instead of
    minutes. Errors caused by the cap name it."""
    rec = _score_in_child(zoo, arch, seed, proxies, max_memory_gb)
    if rec is None:
        killed = "the scoring process was killed (out of memory?)"
        rest = [p for p in proxies if p != "grasp"]
        rec = _score_in_child(zoo, arch, seed, rest, max_memory_gb) if "grasp" in proxies and rest else None
        if rec is None:
            rec = {"arch": arch, **{p: math.nan for p in proxies}, "data_dependent_seconds": math.nan,
                   "data_dependent_cpu_seconds": math.nan, "errors": json.dumps({p: killed for p in proxies})}
        else:
            errors = _error_messages(rec["errors"])
            errors["grasp"] = f"{killed}; the other proxies computed without GraSP's double backward"
            rec = {**rec, "grasp": math.nan, "errors": json.dumps(errors)}
    return _rescore_alone_in_fresh_processes(zoo, arch, seed, rec, proxies, max_memory_gb)


def _rescore_alone_in_fresh_processes(
    zoo: Zoo | str, arch: str, seed: int, rec: dict[str, object], proxies: list[str], max_memory_gb: float | None
) -> dict[str, object]:
    """Score once more, each alone in a fresh child, the proxies of ``rec``
    that ran out of memory or were killed beside others; GraSP last, as the
    one most likely to fail again (see :func:`_shared_pass`).

    The child does not try them one by one itself (``each_alone=False`` of
    :func:`_shared_pass`), since a failed pass can leave its memory held in
    its process: after PNASNet-5-Large's shared pass ran out of memory under
    the 18 GiB cap, the process stayed at 18 GB resident through every later
    pass, so NASWOT alone (2.6 GB peak in a fresh process) failed too. A
    fresh process starts clean. A proxy that fails alone gets that
    attempt's message, marked as such; one killed alone keeps the earlier
    message."""
    if len(proxies) < 2:
        return rec
    errors = _error_messages(rec["errors"])
    for name in sorted((p for p in proxies if _says_out_of_memory(errors.get(p, ""))), key=lambda p: p == "grasp"):
        alone = _score_in_child(zoo, arch, seed, [name], max_memory_gb)
        if alone is None:  # killed again: the earlier message stands
            continue
        rec = rec | {name: alone[name]}
        errors.pop(name)
        errors |= {p: f"{m} (alone, in a fresh process)" for p, m in _error_messages(alone["errors"]).items()}
    return rec | {"errors": json.dumps(errors) if errors else ""}


def call_in_child(fn: Callable[..., T], *args: object, what: str) -> T | None:
    """``fn(*args)`` in a spawned child process (a fresh interpreter, holding
    none of this process's memory) and its return value; ``None`` if the
    child died without answering (killed: by the kernel's out-of-memory
    killer, typically). An exception in the child is raised here as
    ``RuntimeError("<what> failed in the child process: <its message>")``.
    Ctrl-C (or SIGTERM under :func:`_sigterm_as_interrupt`) while waiting
    kills the child at once. ``fn`` and ``args`` must be picklable (``fn``
    defined at a module's top level)."""
    from multiprocessing import get_context

    ctx = get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_answer_parent, args=(send, fn, args), daemon=True)
    child.start()
    send.close()  # the child holds the only write end: its death ends recv() with EOFError
    try:
        ok, answer = receive.recv()
    except EOFError:
        return None
    finally:  # also on KeyboardInterrupt: never wait for a model that may take minutes
        if child.is_alive():
            child.kill()
        child.join()
        receive.close()
    if not ok:
        raise RuntimeError(f"{what} failed in the child process: {answer}")
    return answer


def _answer_parent(send, fn: Callable[..., object], args: tuple) -> None:
    try:
        send.send((True, fn(*args)))
    except Exception as exc:  # noqa: BLE001 - sent to the parent, which raises it
        send.send((False, _message(exc)))
    finally:
        send.close()


def _score_in_child(
    zoo: Zoo | str, arch: str, seed: int, names: list[str], max_memory_gb: float | None = None
) -> dict[str, object] | None:
    """:func:`score_architecture` (proxies ``names`` only) in a spawned child
    process (:func:`call_in_child`); ``None`` if the child was killed."""
    return call_in_child(_child_score, zoo, arch, seed, names, max_memory_gb, what=f"scoring {arch}")


def _child_score(zoo: Zoo | str, arch: str, seed: int, names: list[str], max_memory_gb: float | None) -> dict[str, object]:
    if max_memory_gb is not None:
        import resource

        limit = int(max_memory_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    rec = score_architecture(zoo, arch, seed=seed, reuse=False, proxies=names, each_alone=False)
    return rec if max_memory_gb is None else _name_memory_limit(rec, max_memory_gb)


def _name_memory_limit(rec: dict[str, object], max_memory_gb: float) -> dict[str, object]:
    """Append the cap to the out-of-memory messages of ``rec["errors"]``."""
    errors = _error_messages(rec["errors"])
    if not any(_says_out_of_memory(message) for message in errors.values()):
        return rec
    suffix = f" (the scoring process was capped at {max_memory_gb:g} GiB, --max-memory-gb)"
    return rec | {"errors": json.dumps({p: m + suffix if _says_out_of_memory(m) else m for p, m in errors.items()})}


def _write_filled(path: Path, filled: dict[str, dict[str, object]], proxies: list[str], *, timing: bool = True) -> None:
    """Write the proxy columns of ``filled`` (arch -> record) into the stored
    CSV, with the shared pass's timing columns unless ``timing=False``."""
    if not filled:
        return
    timing_columns = ["data_dependent_seconds", "data_dependent_cpu_seconds"] if timing else []
    with _csv_lock(path):
        df = pd.read_csv(path)
        df["errors"] = df["errors"].astype(object)  # all-empty columns are read as float
        row_of = dict(zip(df["arch"], df.index))
        for arch, rec in filled.items():
            i = row_of[arch]
            for col in [*proxies, *timing_columns]:
                if col not in df.columns:  # a CSV written before the shared pass existed
                    df[col] = math.nan
                df.at[i, col] = rec[col]
            old = _error_messages(df.at[i, "errors"])
            # messages of an earlier attempt at these proxies are replaced by this attempt's
            errors = {k: v for k, v in old.items() if k not in proxies} | _error_messages(rec["errors"])
            df.at[i, "errors"] = json.dumps(errors) if errors else ""
        _rewrite_csv(path, df.reindex(columns=stored_columns()))


@contextmanager
def _sigterm_as_interrupt():
    """SIGTERM raises KeyboardInterrupt while active (main thread only), so
    ``finally`` blocks run when a batch job is stopped politely."""
    import signal
    import threading

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
