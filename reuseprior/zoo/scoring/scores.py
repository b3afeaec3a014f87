"""Scoring one architecture: the data-free scores, the shared gradient pass, the columns each version stores."""

from __future__ import annotations

import json
import math
import time
from typing import Iterable

import pandas as pd
import torch
from torch import nn

from reuseprior.baselines.proxies import PROXIES, ProxyBatch, data_dependent_scores, num_params
from reuseprior.baselines.registry import DATA_DEPENDENT, SECOND_ORDER, ZOO_PROXIES, proxy_info
from reuseprior.core.errors import ArchitectureRefusedError
from reuseprior.counting import analyze
from reuseprior.zoo.scoring.registry import (
    PENDING_SINCE_VERSION,
    REUSE_COLUMN,
    REUSE_QUANTITIES,
    REUSE_SCORES,
    REUSE_SINCE_VERSION,
    SCORES_VERSION,
    Zoo,
    get_zoo,
)

#: the ``errors`` key of an architecture refused before any score (:func:`refused_row`)
BUILD_ERROR = "build"


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


def reusability_scores(model: nn.Module, example: torch.Tensor) -> dict[str, float]:
    """The thesis quantities of ``model`` (``reuseprior.counting.analyze``, eqs.
    4.2-4.8) and their values per trainable parameter."""
    report = analyze(model, example)
    n = num_params(model)
    out = {q: float(getattr(report, q)) for q in REUSE_QUANTITIES}
    out.update({f"{q}_per_param": float(getattr(report, q)) / n for q in REUSE_QUANTITIES})
    out["PE"], out["CE"] = float(report.PE), float(report.CE)
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
    device: torch.device | str = "cpu",
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
    the reusability quantities alone). ``each_alone`` is passed to :func:`shared_pass`
    (out-of-memory fallback). ``device``: where the shared pass of the data-dependent proxies runs
    (:func:`shared_pass`); the model is built, and every other score computed, on the CPU. On CUDA the
    memory this process's allocator kept is returned when the scoring ends, so that workers sharing
    the GPU do not hold each other's memory.
    """
    zoo = get_zoo(zoo) if isinstance(zoo, str) else zoo
    if row is None:
        cat = zoo.catalogue()
        row = cat.loc[cat["arch"] == arch].iloc[0]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        t0 = time.perf_counter()
        try:
            model = zoo.build_seeded(arch, seed)
        except ArchitectureRefusedError as err:  # stored with the reason; the run goes on
            return refused_row(arch, row, time.perf_counter() - t0, err)
        out: dict[str, object] = {
            "arch": arch,
            "accuracy": float(row["accuracy"]),
            "build_seconds": time.perf_counter() - t0,
        }
        errors: dict[str, str] = {}
        batch = batch or zoo.batch(zoo.size_of(row), seed)
        names = list(proxies) if proxies is not None else list(ZOO_PROXIES)
        out |= _data_free_scores(model, batch, [p for p in names if p not in DATA_DEPENDENT], seed, errors)
        shared = [p for p in names if p in DATA_DEPENDENT]
        if shared:  # one forward pass for all of them (same values as one pass each)
            t0, c0 = time.perf_counter(), time.process_time()
            values = shared_pass(model, batch, shared, seed, each_alone=each_alone, device=device)
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
        if torch.device(device).type == "cuda":  # a GPU shared by workers: its cache goes back to the others
            torch.cuda.empty_cache()


def _data_free_scores(
    model: nn.Module, batch: ProxyBatch, names: list[str], seed: int, errors: dict[str, str]
) -> dict[str, object]:
    """Each of ``names`` (scores that need no gradient pass of the minibatch) with its wall-clock and CPU
    seconds, from the seed; a failure is NaN with its message added to ``errors``."""
    out: dict[str, object] = {}
    for name in names:
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
    return out


def refused_row(arch: str, row: pd.Series, seconds: float, err: ArchitectureRefusedError) -> dict[str, object]:
    """The stored row of an architecture the zoo refuses to build: its accuracy, the time the refusal
    took and the reason under ``errors["build"]``; every score empty."""
    return {
        "arch": arch,
        "accuracy": float(row["accuracy"]),
        "build_seconds": seconds,
        "errors": json.dumps({BUILD_ERROR: str(err)[:300]}),
    }


def _is_out_of_memory(exc: BaseException) -> bool:
    return says_out_of_memory(_message(exc))


def _message(exc: BaseException) -> str:
    """How a failure is recorded in ``errors``."""
    return f"{type(exc).__name__}: {exc}"


def error_messages(cell: object) -> dict[str, str]:
    """``{score: message}`` of an ``errors`` field: JSON, or empty (``""``, or
    NaN as pandas reads an empty CSV cell) when nothing failed."""
    return json.loads(cell) if isinstance(cell, str) and cell else {}


def ran_out_of_memory(errors: object, proxies: list[str]) -> bool:
    """Whether a stored ``errors`` cell records an out-of-memory failure of one of ``proxies``."""
    return any(p in proxies and says_out_of_memory(m) for p, m in error_messages(errors).items())


#: How an allocation failure reads in a recorded message: PyTorch's CPU
#: allocator ("can't allocate memory"), Python's ``MemoryError`` (whose
#: message is empty), our own fallback notes ("out of memory"), and oneDNN,
#: which answers a convolution whose buffers cannot be allocated with "could
#: not create a primitive".
OUT_OF_MEMORY_SIGNS = ("can't allocate memory", "out of memory", "memoryerror:", "could not create a primitive")


def says_out_of_memory(message: str) -> bool:
    """Whether an error ``message`` is an out-of-memory one (:data:`OUT_OF_MEMORY_SIGNS`)."""
    text = message.lower()
    return any(sign in text for sign in OUT_OF_MEMORY_SIGNS)


def refused(errors: object) -> bool:
    """Whether a stored ``errors`` cell refuses its architecture (``errors["build"]``: before any score,
    or after every scoring task ran out of memory)."""
    return BUILD_ERROR in error_messages(errors)


def refused_for_memory(errors: object) -> bool:
    """Whether a stored ``errors`` cell refuses its architecture for memory: before building (more memory
    needed than its budget) or after every scoring task ran out of it."""
    return says_out_of_memory(error_messages(errors).get(BUILD_ERROR, ""))


def shared_pass(
    model: nn.Module,
    batch: ProxyBatch,
    names: list[str],
    seed: int,
    *,
    each_alone: bool = True,
    device: torch.device | str = "cpu",
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
    (:class:`ArchJob`; in the failed process the memory may stay held).

    ``device``: where the pass runs (:func:`data_dependent_scores` on a copy moved there); on CUDA the
    memory a failed pass held is returned to the device before the next attempt, and CUDA's "out of
    memory" reads as the CPU's does (:data:`OUT_OF_MEMORY_SIGNS`)."""
    torch.manual_seed(seed)
    try:
        return data_dependent_scores(model, batch, names, device=device)
    except Exception as exc:  # noqa: BLE001 - recorded per row, not fatal
        failure = (_is_out_of_memory(exc), _message(exc))
    # outside the except block, so that the failed pass's tensors are freed first
    if torch.device(device).type == "cuda":
        torch.cuda.empty_cache()
    out_of_memory, message = failure
    heavy = [p for p in names if p in SECOND_ORDER]
    if heavy and out_of_memory and len(heavy) < len(names):
        values = shared_pass(
            model, batch, [p for p in names if p not in heavy], seed, each_alone=each_alone, device=device
        )
        for p in heavy:
            reason = (
                f"out of memory in {proxy_info(p).label}'s double backward (batch {batch.inputs.shape[0]}); "
                "the other proxies computed without it"
            )
            if each_alone:
                alone = shared_pass(model, batch, [p], seed, device=device)
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
        alone |= shared_pass(model, batch, [name], seed, device=device)
    return alone


def stored_columns(version: int = SCORES_VERSION) -> list[str]:
    """The fixed column order of the stored CSVs of ``version`` (a score not computed for a row is empty;
    a proxy introduced in a later version is not a column of it);
    from version 2 on, ``pending`` lists the scores a row still lacks (:func:`pending_scores`)."""
    cols = ["order", "arch", "accuracy", "build_seconds"]
    for p in (p for p in ZOO_PROXIES if proxy_info(p).introduced_in <= version):
        cols += [p, f"{p}_seconds", f"{p}_cpu_seconds"]
    cols += ["data_dependent_seconds", "data_dependent_cpu_seconds"]
    cols += [*REUSE_SCORES, "reuse_seconds", "reuse_cpu_seconds", "errors"]
    return cols + (["pending", "scored_at"] if version >= PENDING_SINCE_VERSION else ["scored_at"])


def score_columns(name: str) -> list[str]:
    """The stored columns of one entry of ``pending``: a score with its timing, or every reusability quantity."""
    if name == REUSE_COLUMN:
        return [*REUSE_SCORES, "reuse_seconds", "reuse_cpu_seconds"]
    return [name, f"{name}_seconds", f"{name}_cpu_seconds"]


def pending_scores(cell: object) -> list[str]:
    """The scores a stored row still lacks, from its ``pending`` cell: names of
    :data:`reuseprior.baselines.registry.ZOO_PROXIES`, and ``reuse`` for the
    reusability quantities (computed together); empty (``""``, NaN as pandas
    reads an empty cell, or no such column) when the row is complete. A score
    leaves the list once computed, whether it got a value or NaN with the
    reason in ``errors`` (undefined on the model, out of memory, a failure)."""
    return cell.split() if isinstance(cell, str) else []


def pending_cell(names: Iterable[str]) -> str | None:
    """``pending`` of a row lacking ``names`` (in column order), ``None`` (empty) for none."""
    names = set(names)
    ordered = [p for p in ZOO_PROXIES if p in names] + ([REUSE_COLUMN] if REUSE_COLUMN in names else [])
    return " ".join(ordered) or None


#: Why a stored score is missing (:func:`missing_score_reasons`); a refused architecture's scores are refused,
#: whatever its ``pending`` lists.
MISSING_REASONS = (
    "not yet computed",
    "architecture refused",
    "out of memory",
    "undefined on the model",
    "failed",
    "no reason recorded",
)


def _missing_reason(score: str, errors: dict[str, str], pending: list[str]) -> str:
    """The :data:`MISSING_REASONS` entry of one missing ``score`` of a row."""
    reuse = score in REUSE_SCORES
    message = errors.get(REUSE_COLUMN if reuse else score)
    if BUILD_ERROR in errors or (reuse and message):
        return "architecture refused"
    if (REUSE_COLUMN if reuse else score) in pending:
        return "not yet computed"
    if message is None:
        return "no reason recorded"
    if says_out_of_memory(message):
        return "out of memory"
    return "undefined on the model" if "undefined" in message else "failed"


def missing_score_reasons(rows: pd.DataFrame, scores: Iterable[str]) -> pd.DataFrame:
    """Why each of ``scores`` is missing where it is, over stored ``rows`` (``arch``, ``errors``,
    ``pending`` where stored, and the scores): one row per score and reason (:data:`MISSING_REASONS`: listed in
    ``pending``; the architecture refused before scoring, or by the counting engine for the prior's
    quantities; out of memory; undefined on the model, e.g. SynFlow's float64 pass overflowing; another
    failure; none recorded, which the scorer never leaves) with the count and the first architecture.
    A score given as ``-inf`` or ``inf`` is a value, not a gap."""
    pending = rows["pending"] if "pending" in rows else pd.Series(None, index=rows.index, dtype=object)
    out = []
    for score in scores:
        missing = rows[score].isna()
        reasons = [
            _missing_reason(score, error_messages(cell), pending_scores(waiting))
            for cell, waiting in zip(rows.loc[missing, "errors"], pending[missing])
        ]
        archs = rows.loc[missing, "arch"].tolist()
        for reason in MISSING_REASONS:
            hits = [arch for arch, why in zip(archs, reasons) if why == reason]
            if hits:
                out.append({"score": score, "reason": reason, "rows": len(hits), "for example": hits[0]})
    return pd.DataFrame(out, columns=["score", "reason", "rows", "for example"])


def _plain(value: object) -> object:
    return value.item() if hasattr(value, "item") else value


def catalogue_row(rows: pd.DataFrame, arch: str) -> dict[str, object]:
    """The catalogue row of ``arch`` (accuracy, image size, ...) as the task receives it."""
    return {"arch": arch, **{k: _plain(v) for k, v in rows.loc[arch].items()}}
