"""Filling and rescoring proxies of stored rows."""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import pandas as pd
import torch
from distributed import Client

from reuseprior.baselines.proxies import PROXIES
from reuseprior.baselines.registry import DATA_DEPENDENT, ZOO_PROXIES
from reuseprior.core.cpu import cpu_kernels, device_description
from reuseprior.core.errors import UnknownArchitectureError
from reuseprior.core.progress import progress_bar
from reuseprior.zoo.scoring.jobs import ArchJob
from reuseprior.zoo.scoring.registry import (
    REUSE_COLUMN,
    REUSE_SCORES,
    SCORES_VERSION,
    Zoo,
    get_zoo,
    scoring_command,
)
from reuseprior.zoo.scoring.results import scores_meta, scores_path, scores_table
from reuseprior.zoo.scoring.runs import DEFAULT_SEED, ScoringCluster, ScoringSession, run_arch_jobs, scoring_session
from reuseprior.zoo.scoring.scores import (
    catalogue_row,
    changed_scores,
    error_messages,
    pending_cell,
    pending_scores,
    ran_out_of_memory,
    refused,
    score_columns,
)
from reuseprior.zoo.store import (
    StoreError,
    csv_bytes,
    meta_path,
    read_csv_rows,
)


def _resized_archs(old_zoo: Zoo, zoo: Zoo, by_arch: pd.DataFrame, old_rows: list[dict]) -> dict[str, list[int]]:
    """The stored architectures whose model gets another input size in the new version: arch -> [old, new]."""
    resized: dict[str, list[int]] = {}
    for old in old_rows if old_zoo.image_size != zoo.image_size else []:
        if old["arch"] in by_arch.index:
            row = pd.Series(catalogue_row(by_arch, old["arch"]))
            sizes = [old_zoo.size_of(row), zoo.size_of(row)]
            if sizes[0] != sizes[1]:
                resized[old["arch"]] = sizes
    return resized


def _upgraded_row(
    old: dict, names: Sequence[str], identity: list[str], blank: set[str], recomputed: list[str], resized: bool
) -> dict:
    """A previous version's row in the new table: its identity and every score pending when its input
    was ``resized``, else every column but the ``blank`` ones of the ``recomputed`` scores (pending)."""
    if resized:
        return {c: old[c] for c in identity} | {"pending": pending_cell([*ZOO_PROXIES, REUSE_COLUMN])}
    row = {c: old[c] for c in names if c in old and c not in blank}
    errors = error_messages(old["errors"])
    if set(errors) & set(recomputed):  # the old definitions' messages go; the text is kept where none does
        errors = {k: v for k, v in errors.items() if k not in recomputed}
        row["errors"] = json.dumps(errors) if errors else None
    return row | {"pending": pending_cell(recomputed)}


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
    old_meta_path = meta_path(source)
    old_meta = json.loads(old_meta_path.read_text()) if old_meta_path.exists() else {}
    seed = int(old_meta.get("seed", DEFAULT_SEED))
    cat = zoo.catalogue()
    by_arch = cat.set_index("arch")
    resized = _resized_archs(old_zoo, zoo, by_arch, old_rows)
    changed = changed_scores(SCORES_VERSION)
    recomputed = [p for p in ZOO_PROXIES if p in changed] + ([REUSE_COLUMN] if set(changed) & set(REUSE_SCORES) else [])
    blank = {c for name in recomputed for c in score_columns(name)}
    identity = ["order", "arch", "accuracy"]
    rows = [_upgraded_row(old, spec.names, identity, blank, recomputed, old["arch"] in resized) for old in old_rows]
    record = {
        "version": old_version,
        "csv": source.name,
        "sha256": hashlib.sha256(csv_bytes(source)).hexdigest(),  # of its text, compressed or not
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
    meta = scores_meta(zoo, seed, zoo.fixed_batch(seed), len(cat)) | {"upgraded_from": record}
    with scoring_session(zoo_name, data_dir, store, progress) as run:
        held = run.store.count(run.spec)
        if held or run.store.meta(run.spec) is not None:
            raise StoreError(
                f"the store {run.store.path} already holds {held} rows of {zoo_name} version {SCORES_VERSION} "
                f"({run.spec.name}: upgraded or scored before); compute what they lack with "
                f"{scoring_command(zoo_name, '--fill-proxies')}"
            )
        run.store.create_with_rows(run.spec, rows, meta)
        run.changed = True
    return record


def fill_proxies(
    zoo_name: str,
    *,
    every: int = 1,
    limit: int | None = None,
    seed: int | None = None,
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
    device: str = "cpu",
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
    see the same seeded initialisation and minibatch as in :func:`score_zoo` (``seed``: default the
    table's; another one is refused, :meth:`ScoringSession.seed`), so a filled row is what a full scoring
    would have stored.

    Every architecture is scored in a worker process (of the LocalCluster,
    or of the cluster at ``scheduler``). A model whose proxies exhaust the
    worker's memory kills the worker, which the nanny restarts; the row is
    then scored by follow-up tasks: GraSP dropped, then each proxy alone
    (:class:`ArchJob`). ``isolate=True`` also scores alone, each in its own
    task, the proxies that failed by an allocation error inside the task
    (otherwise the task itself tries them one by one: :func:`shared_pass`).
    ``max_memory_gb`` (only with ``isolate``) is the LocalCluster's memory
    limit per worker: a worker beyond it is restarted by its nanny, and the
    proxies it was scoring are recorded as out of memory, naming the limit.
    ``retry_out_of_memory=True`` also takes the rows where some proxy ran out
    of memory before (say, under a lower limit); not by default, since such a
    row usually fails again and costs minutes each time. ``archs`` restricts
    the fill to these stored architectures (say, the models to retry under a
    higher limit). A fill appends to the ``.meta.json``'s ``filled`` what it
    computed, when and with which torch, also when it is interrupted (Ctrl-C, SIGTERM, a time limit: the
    rows it stored by then);
    a row that another fill running at once stored first is neither written
    again nor counted (:func:`_write_filled`).

    ``device`` (default the CPU) is where the data-dependent proxies' shared pass runs: a GPU
    (``"cuda"``) shared by the workers computes them in full float32 on a copy of the CPU-built,
    seeded model (:func:`~reuseprior.baselines.proxies.data_dependent_scores`); the ``filled`` entry
    then names the device (:func:`~reuseprior.core.cpu.device_description`) and the architectures it
    filled, so that every value's device is on record.
    """
    if max_memory_gb is not None and not (isolate and max_memory_gb > 0):
        raise ValueError(
            f"max_memory_gb={max_memory_gb!r}: a positive memory limit of the isolated workers, "
            "so it needs isolate=True (--isolate)"
        )
    zoo = get_zoo(zoo_name)
    wants = functools.partial(_wanted, proxies=[p for p in PROXIES if p in DATA_DEPENDENT], retry=retry_out_of_memory)
    with scoring_session(zoo_name, data_dir, store, progress) as run:
        stored = stored_rows(run, zoo_name)
        names = _fill_candidates(stored, zoo_name, every, limit, archs, wants)
        jobs = _fill_jobs(zoo, stored, names, run.seed(seed), each_alone=not isolate, device=device)
        cluster = ScoringCluster(client, scheduler, workers, max_memory_gb)
        return len(
            _run_fill(run, jobs, names, wants, device, desc=f"filling {zoo_name}", progress=progress, cluster=cluster)
        )


def _run_fill(
    run: ScoringSession,
    jobs: list[ArchJob],
    names: dict[str, set[str]],
    wants: Callable[[Mapping[str, object]], set[str]],
    device: str,
    *,
    desc: str,
    progress: bool,
    cluster: ScoringCluster,
) -> list[str]:
    """Run a fill's ``jobs`` on ``cluster`` and return the architectures it stored; what it stored is
    recorded in the ``.meta.json``'s ``filled`` whether the fill ends or is cut short (:func:`_record_fill`)."""
    filled: list[str] = []
    try:
        run_arch_jobs(
            jobs,
            _write_filled(run, timing=True, wants=wants, filled=filled),
            desc=desc,
            progress=progress,
            cluster=cluster,
        )
    finally:  # the CSV's history, also of a fill cut short: what was computed later, when, with what
        if filled and "pending" in run.spec.names:
            _record_fill(run, filled, set().union(*(names[arch] for arch in filled)), device)
    return filled


def _fill_jobs(
    zoo: Zoo, stored: pd.DataFrame, names: dict[str, set[str]], seed: int, *, each_alone: bool, device: str
) -> list[ArchJob]:
    """One :class:`ArchJob` per architecture of ``names`` that wants a score: its stored row, the zoo
    proxies it wants and whether it wants the prior's reuse columns."""
    todo = [arch for arch, wanted in names.items() if wanted]
    rows = _rows_for(zoo, stored, todo)
    return [
        ArchJob(
            zoo,
            arch,
            rows[arch],
            seed,
            [p for p in ZOO_PROXIES if p in names[arch]],
            reuse=REUSE_COLUMN in names[arch],
            each_alone=each_alone,
            device=device,
        )
        for arch in todo
    ]


def _fill_candidates(
    stored: pd.DataFrame,
    zoo_name: str,
    every: int,
    limit: int | None,
    archs: Iterable[str] | None,
    wants: Callable[[Mapping[str, object]], set[str]],
) -> dict[str, set[str]]:
    """The rows a fill looks at, in the zoo's order, with what each still lacks (:func:`_wanted`): those at
    ``order % every == 0``, of ``archs`` when given, the first ``limit`` of them (a prefix of the zoo's order,
    whatever an earlier, interrupted fill did)."""
    candidates = stored[stored["order"] % every == 0].sort_values("order")
    if archs is not None:
        candidates = candidates[candidates["arch"].isin(_stored_archs(stored, zoo_name, archs))]
    if limit is not None:
        candidates = candidates.head(limit)
    return {row["arch"]: wants(row) for _, row in candidates.iterrows()}


def _wanted(row: Mapping[str, object], *, proxies: list[str], retry: bool) -> set[str]:
    """What a fill computes on a stored row (a committed row, or a row of the stored frame): the scores in
    its ``pending``, and ``proxies`` (the data-dependent ones) when it has none of them or, with ``retry``,
    when one of them ran out of memory; nothing on a refused architecture (``errors["build"]``: scoring it
    again is the scoring run's, :func:`~reuseprior.zoo.scoring.runs.score_zoo` with ``retry_out_of_memory``)."""
    if refused(row.get("errors")):
        return set()
    lacking = all(pd.isna(row.get(p)) for p in proxies) or (retry and ran_out_of_memory(row.get("errors"), proxies))
    return set(pending_scores(row.get("pending"))) | (set(proxies) if lacking else set())


def _record_fill(run: ScoringSession, archs: list[str], scores: set[str], device: str) -> None:
    """The CSV's history in its ``.meta.json``: what a fill computed later, on which rows, when, with
    what, and on which device (:func:`~reuseprior.core.cpu.device_description`)."""
    entry = {
        "rows": len(archs),
        "scores": pending_cell(scores),
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "cpu_kernels": cpu_kernels(),
        "device": device_description(device),
        "archs": sorted(archs),
    }
    run.store.set_meta(run.spec, update=lambda meta: meta | {"filled": [*meta.get("filled", []), entry]})
    run.changed = True


def rescore_proxies(
    zoo_name: str,
    proxies: Iterable[str],
    *,
    archs: Iterable[str] | None = None,
    with_modules: Iterable[str] | None = None,
    seed: int | None = None,
    data_dir: Path | None = None,
    progress: bool = True,
    store: Path | None = None,
    client: Client | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    max_memory_gb: float | None = None,
    device: str = "cpu",
) -> list[str]:
    """Score ``proxies`` (any of :data:`reuseprior.baselines.registry.ZOO_PROXIES`,
    and :data:`REUSE_COLUMN` for the reusability quantities of one ``analyze``
    call, :data:`REUSE_SCORES`) again on stored rows and replace their stored
    values (and messages); returns the architectures rescored.

    For a proxy whose definition changed, on the models it changes: say,
    after a module class is added to
    :data:`reuseprior.baselines.proxies.LIBRARY_ACTIVATIONS`, NASWOT's value
    changes (or becomes defined) on every model holding one:
    ``rescore_proxies("pytorchcv", ["naswot"], with_modules=["Swish", "HSwish"])``.
    The rows are ``archs`` (default: every stored row), narrowed by
    ``with_modules`` to the models that hold a module of one of these class
    names (each model is built to look). Same seeds and minibatch as a full
    scoring (``seed``: default the table's; another one is refused, :meth:`ScoringSession.seed`); the
    shared pass's timing columns are kept (a proxy rescored alone is not the pass they timed), a data-free
    score's own timing is replaced.
    Also for a score whose counter once failed on some models and now counts
    them (``rescore_proxies("pytorchcv", ["flops"], archs=[...])``), or for the reusability
    quantities of the models whose graph the counting engine once miscounted, within the convention
    the version states (``rescore_proxies("pytorchcv", ["reuse"], archs=[...])``); a change of the
    convention itself is a new scores version (:func:`upgrade_scores`). One Dask task per architecture, each row
    committed as it finishes, like :func:`fill_proxies`; the rows rescored (not those whose every task
    failed: each is named, its values kept) are returned and recorded under ``rescored`` in the
    ``.meta.json``. ``max_memory_gb`` is
    the memory limit of each worker of the LocalCluster started for it
    (default: Dask's share of the machine per worker): a model that needs
    more than that share alone, the machine otherwise idle (checked by
    :func:`reuseprior.zoo.distributed.connect`). ``device``: where the data-dependent proxies' pass
    runs, as for :func:`fill_proxies`; the ``rescored`` entry names it."""
    asked = list(proxies)
    unknown = set(asked) - {*ZOO_PROXIES, REUSE_COLUMN}
    if unknown:
        raise ValueError(f"{sorted(unknown)} are not stored scores; choose from {[*ZOO_PROXIES, REUSE_COLUMN]}")
    reuse = REUSE_COLUMN in asked
    proxies = [p for p in asked if p != REUSE_COLUMN]
    zoo = get_zoo(zoo_name)
    with scoring_session(zoo_name, data_dir, store, progress) as run:
        seed = run.seed(seed)
        stored = stored_rows(run, zoo_name)
        todo = stored.sort_values("order")["arch"].tolist() if archs is None else _stored_archs(stored, zoo_name, archs)
        if with_modules is not None:
            todo = archs_with_modules(zoo, todo, with_modules, progress=progress)
        rows = _rows_for(zoo, stored, todo)
        jobs = [
            ArchJob(zoo, arch, rows[arch], seed, proxies, reuse=reuse, each_alone=True, device=device) for arch in todo
        ]
        written: list[str] = []
        run_arch_jobs(
            jobs,
            _write_filled(run, timing=False, filled=written),
            desc=f"rescoring {', '.join(asked)} of {zoo_name}",
            progress=progress,
            cluster=ScoringCluster(client, scheduler, workers, max_memory_gb),
        )
        rescored = set(written)
        done = [arch for arch in todo if arch in rescored]
        if done:  # the CSV's history: which values were replaced, when
            every_row = archs is None and with_modules is None and len(done) == len(stored)
            _record_rescore(run, asked, done, "all" if every_row else done, with_modules, device)
    return done


def _record_rescore(
    run: ScoringSession,
    asked: list[str],
    todo: list[str],
    named: list[str] | str,
    with_modules: Iterable[str] | None,
    device: str,
) -> None:
    """The ``.meta.json``'s ``rescored`` entry of a rescoring: the scores, the rows (``named``: the
    architectures, or ``"all"``), the modules that selected them, when, with what and on which device."""
    entry = {
        "proxies": asked,
        "rows": len(todo),
        "with_modules": sorted(with_modules) if with_modules else None,
        "archs": named,
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "cpu_kernels": cpu_kernels(),
        "device": device_description(device),
    }
    run.store.set_meta(run.spec, update=lambda meta: meta | {"rescored": [*meta.get("rescored", []), entry]})
    run.changed = True


def archs_with_modules(
    zoo: Zoo | str, archs: Iterable[str], class_names: Iterable[str], *, progress: bool = False
) -> list[str]:
    """Those of ``archs`` whose model (built, untrained) holds a module whose class is named one of ``class_names``."""
    zoo = get_zoo(zoo) if isinstance(zoo, str) else zoo
    names = set(class_names)
    return [
        arch
        for arch in progress_bar(list(archs), desc=f"looking for {', '.join(sorted(names))}", disable=not progress)
        if any(type(m).__name__ in names for m in zoo.build(arch).modules())
    ]


def _write_filled(
    run: ScoringSession,
    *,
    timing: bool,
    wants: Callable[[Mapping[str, object]], set[str]] | None = None,
    filled: list[str] | None = None,
) -> Callable[[ArchJob], None]:
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

    def change(job: ArchJob) -> Callable[[dict[str, object]], dict[str, object]]:
        rec = job.rec
        done = [*job.names, *([REUSE_COLUMN] if job.reuse else [])]
        columns = [*job.names, *(REUSE_SCORES if job.reuse else ())]
        columns += [c for p in job.names if p not in DATA_DEPENDENT for c in score_columns(p)[1:]]
        if timing:
            if set(job.proxies) == DATA_DEPENDENT:
                columns += ["data_dependent_seconds", "data_dependent_cpu_seconds"]
            if job.reuse:
                columns += ["reuse_seconds", "reuse_cpu_seconds"]

        def new_values(current: dict[str, object]) -> dict[str, object]:
            if wants is not None and not wants(current) & set(done):
                return {}  # stored meanwhile by another fill
            errors = {k: v for k, v in error_messages(current["errors"]).items() if k not in done}
            errors |= error_messages(rec["errors"])
            values = {c: rec.get(c, math.nan) for c in columns} | {"errors": json.dumps(errors) if errors else None}
            if timing and current.get("build_seconds") is None:
                values["build_seconds"] = rec.get("build_seconds", math.nan)
            if "pending" in current:
                values["pending"] = pending_cell(set(pending_scores(current["pending"])) - set(done))
            if "scored_at" in current and current["scored_at"] is None:
                values["scored_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
            return values

        return new_values

    def on_done(job: ArchJob) -> None:
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


def stored_rows(run: ScoringSession, zoo_name: str) -> pd.DataFrame:
    """The rows of a zoo's stored scores, which must exist."""
    stored = run.store.rows(run.spec)
    if stored.empty:
        raise FileNotFoundError(
            f"no stored rows for {zoo_name} at {run.csv} (store {run.store.path}); score the zoo "
            f"first ({scoring_command(zoo_name)})"
        )
    return stored


def _rows_for(zoo: Zoo, stored: pd.DataFrame, archs: list[str]) -> dict[str, dict[str, object]]:
    """Catalogue rows of ``archs`` (stored rows that the catalogue lacks: their stored accuracy)."""
    if not archs:
        return {}
    cat = zoo.catalogue().set_index("arch")
    by_arch = stored.set_index("arch")
    return {
        arch: catalogue_row(cat, arch)
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
            hint = f"; did you mean {', '.join(close)}?" if close else f"; score it first ({scoring_command(zoo_name)})"
            raise UnknownArchitectureError(f"{arch!r} is not a stored {zoo_name} row{hint}")
    return archs
