"""Scoring a zoo: a session with its store and Dask client, the run loop."""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import pandas as pd
from distributed import Client

from reuseprior.baselines.registry import DATA_DEPENDENT, ZOO_PROXIES
from reuseprior.core.errors import StoreError
from reuseprior.core.files import file_lock, write_csv
from reuseprior.core.interrupts import sigterm_as_interrupt
from reuseprior.core.stored_rows import NO_KINDS, ColumnKinds, read_stored_csv
from reuseprior.zoo.distributed import connect, run_jobs
from reuseprior.zoo.scoring.jobs import ArchJob
from reuseprior.zoo.scoring.registry import REUSE_COLUMN, Zoo, get_zoo
from reuseprior.zoo.scoring.results import default_store_path, scores_meta, scores_path, scores_table
from reuseprior.zoo.scoring.scores import (
    BUILD_ERROR,
    catalogue_row,
    pending_cell,
    refused_for_memory,
    says_out_of_memory,
)
from reuseprior.zoo.store import (
    ScoreStore,
    TableSpec,
)

DEFAULT_SEED = 0
"""The seed of a table scored for the first time without one."""


@dataclass
class ScoringSession:
    """A run's store, table and CSV; ``changed`` once it wrote something."""

    store: ScoreStore
    spec: TableSpec
    csv: Path
    say: Callable[[str], None]
    changed: bool = False

    def seed(self, asked: int | None) -> int:
        """The seed this run scores under. Policy: a table is scored under one seed, its
        ``.meta.json``'s ``seed`` (the zoo's order, each model's initialisation and the minibatch), so that
        every stored row is what one full scoring would have stored. ``asked=None`` takes the table's
        seed (:data:`DEFAULT_SEED` for a table not started yet); a different seed for a started table is
        :class:`StoreError` naming both and the fix (another ``store``/``data_dir``). A table that holds
        rows but records no seed (a CSV imported without its ``.meta.json``) is read as scored under
        :data:`DEFAULT_SEED`, as :func:`~reuseprior.zoo.scoring.upgrade_scores` reads it."""
        meta = self.store.meta(self.spec)
        if meta is None and not self.store.keys(self.spec):
            return DEFAULT_SEED if asked is None else asked
        stored = int((meta or {}).get("seed", DEFAULT_SEED))
        if asked is not None and asked != stored:
            raise StoreError(
                f"{self.spec.name} is scored under seed {stored} (its .meta.json), and seed {asked} was asked: "
                f"its rows would mix two seeds' initialisations and minibatches; leave --seed out to go on "
                f"with seed {stored}, or score seed {asked} into a table of its own (--data-dir and --store "
                f"elsewhere)"
            )
        return stored


@contextmanager
def scoring_session(
    zoo_name: str, data_dir: Path | None, store: Path | None, progress: bool
) -> Iterator[ScoringSession]:
    """Open the store, bring in the zoo's CSV (:meth:`ScoreStore.attach`) and,
    when the run ends (also by Ctrl-C or SIGTERM: :func:`sigterm_as_interrupt`),
    export the table to the CSV if the run stored anything."""
    csv = scores_path(zoo_name, data_dir=data_dir)
    say = print if progress else _quiet
    with ScoreStore(store or default_store_path(data_dir)) as db, sigterm_as_interrupt():
        spec = scores_table(zoo_name)
        db.attach(spec, csv, say=say)
        session = ScoringSession(db, spec, csv, say)
        try:
            yield session
        finally:
            if session.changed:
                count = db.export_csv(spec, csv, overwrite_changed=False)
                say(f"{zoo_name}: {count} rows in {csv} (store: {db.path})")


def _quiet(message: str) -> None:
    """``say`` of a run without progress output."""


@dataclass(frozen=True)
class ScoringCluster:
    """Where a scoring run's jobs run: on ``client`` when given, else on the cluster at ``scheduler`` (an
    address) or on a LocalCluster of ``workers`` processes, each limited to ``max_memory_gb`` GiB, that
    :func:`~reuseprior.zoo.distributed.connect` starts for them."""

    client: Client | None = None
    scheduler: str | None = None
    workers: int | None = None
    max_memory_gb: float | None = None


def run_arch_jobs(
    jobs: list[ArchJob], on_done: Callable[[ArchJob], None], *, desc: str, progress: bool, cluster: ScoringCluster
) -> None:
    """Run ``jobs`` on ``cluster`` (:class:`ScoringCluster`: its client, or one started for them; none
    when there is nothing to do)."""
    if not jobs:
        return
    if cluster.client is not None:
        run_jobs(cluster.client, jobs, on_done=on_done, desc=desc, progress=progress)
        return
    with connect(
        scheduler=cluster.scheduler,
        workers=cluster.workers,
        max_memory_gb=cluster.max_memory_gb,
        say=print if progress else _quiet,
    ) as started:
        run_jobs(started, jobs, on_done=on_done, desc=desc, progress=progress)


def _store_scored(run: ScoringSession, everything: list[str], reuse: bool) -> Callable[[ArchJob], None]:
    """How :func:`score_zoo` stores a finished job's row (with what it left ``pending``). A job that
    ran out of memory in every task is stored as refused (:func:`_memory_refusal_row`); a job that
    failed otherwise is not stored and the next run tries it again. The row of an architecture
    stored before as refused for memory (a retry) is replaced whole."""

    def store_row(job: ArchJob) -> None:
        stamp = {"order": job.order, "scored_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        if job.rec is None and not says_out_of_memory(job.failure):
            run.say(f"{job.arch}: not stored ({job.failure}); the next run tries it again")
            return
        if job.rec is None:
            run.say(f"{job.arch}: stored as refused ({job.failure})")
            rec = _memory_refusal_row(job) | stamp
        else:
            skipped = [p for p in everything if p not in job.names] + ([] if reuse else [REUSE_COLUMN])
            rec = job.rec | stamp | {"pending": pending_cell(skipped)}  # what --fill-proxies computes later
        whole = {name: rec.get(name) for name in run.spec.names}
        run.changed |= run.store.insert(run.spec, rec) or run.store.modify(
            run.spec, job.arch, lambda current: whole if refused_for_memory(current["errors"]) else {}
        )

    return store_row


def _memory_refusal_row(job: ArchJob) -> dict[str, object]:
    """The stored row of an architecture whose every scoring task exhausted its worker's memory: its
    accuracy and, under ``errors["build"]``, the message naming the worker's limit (it needs more); every
    score empty. ``score_zoo(retry_out_of_memory=True)`` scores it again, say under a higher limit."""
    message = f"out of memory while scoring, in every task: {job.failure}"
    return {"arch": job.arch, "accuracy": job.row.get("accuracy"), "errors": json.dumps({BUILD_ERROR: message[:300]})}


def score_zoo(
    zoo_name: str,
    *,
    limit: int | None = None,
    seed: int | None = None,
    data_dir: Path | None = None,
    reuse: bool = True,
    progress: bool = True,
    max_params: float | None = None,
    full_every: int = 1,
    store: Path | None = None,
    client: Client | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    max_memory_gb: float | None = None,
    retry_out_of_memory: bool = False,
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
    or of a LocalCluster of ``workers`` processes, each limited to ``max_memory_gb`` GiB
    (:func:`connect`). Two runs
    at once never store a row twice (the first one stored wins), but each
    computes the rows the other has not stored yet: give one run more workers.
    A model that kills its worker is retried as :class:`ArchJob` says; one whose every task ran out of
    memory is stored as refused, naming the limit (:func:`_store_scored`), and
    ``retry_out_of_memory=True`` scores the architectures stored so refused again (say, the machine to
    itself with a higher ``max_memory_gb``), replacing their rows. ``seed`` (default: the table's, else
    0) is the table's one seed (:meth:`ScoringSession.seed`): a run that continues a table with another
    seed is refused.
    """
    zoo = get_zoo(zoo_name)
    cat = zoo.catalogue()
    everything = list(ZOO_PROXIES)
    data_free = [p for p in everything if p not in DATA_DEPENDENT]
    rows = cat.set_index("arch")
    with scoring_session(zoo_name, data_dir, store, progress) as run:
        asked, seed = seed, run.seed(seed)
        if run.store.meta(run.spec) is None:  # pinned in one transaction: the first of two runs at once wins
            run.store.set_meta(
                run.spec, update=lambda meta: meta or scores_meta(zoo, seed, zoo.fixed_batch(seed), len(cat))
            )
            run.changed = True
            seed = run.seed(asked)
        order = _scoring_order(zoo, cat, seed, limit, max_params)
        done = _skipped(run, retry_out_of_memory)
        jobs = [
            ArchJob(zoo, arch, catalogue_row(rows, arch), seed, names, reuse=reuse, each_alone=True, order=k)
            for k, arch in enumerate(order)
            if arch not in done
            for names in [everything if k % full_every == 0 else data_free]
        ]

        run_arch_jobs(
            jobs,
            _store_scored(run, everything, reuse),
            desc=f"scoring {zoo_name}",
            progress=progress,
            cluster=ScoringCluster(client, scheduler, workers, max_memory_gb),
        )
    return run.csv


def _scoring_order(zoo: Zoo, cat: pd.DataFrame, seed: int, limit: int | None, max_params: float | None) -> list[str]:
    """The architectures a scoring run takes, in the zoo's order under ``seed``: its first ``limit``, less
    those whose published parameter count is above ``max_params``."""
    order = zoo.order(cat, seed)
    if limit is not None:
        order = order[:limit]
    if max_params is not None and "published_params" in cat.columns:
        small = set(cat.loc[cat["published_params"] <= max_params, "arch"])
        order = [a for a in order if a in small]
    return order


def _skipped(run: ScoringSession, retry_out_of_memory: bool) -> set[str]:
    """The architectures a scoring run leaves alone: every stored one, less, with ``retry_out_of_memory``,
    those stored as refused for memory (:func:`refused_for_memory`)."""
    done = run.store.keys(run.spec)
    if retry_out_of_memory:
        stored = run.store.rows(run.spec)
        done -= set(stored.loc[stored["errors"].map(refused_for_memory), "arch"])
    return done


def append_rows(path: Path, frame: pd.DataFrame, kinds: ColumnKinds = NO_KINDS) -> None:
    """Append ``frame`` to the CSV at ``path``, for tables that have no store (the minibatch-sensitivity
    rows): under the file's lock the stored rows are read and the file rewritten whole, atomically
    (:func:`_rewrite_csv`), so an interruption leaves the old rows or the old rows and all of these,
    never part of a row. The columns are ``frame``'s, then any the file has beyond them (a stored
    column is never dropped); a column one side lacks is empty in its rows. The stored rows are checked
    whole and of ``kinds`` first (:func:`reuseprior.core.stored_rows.read_stored_csv`): a cut row is
    refused, never rewritten as a whole one."""
    with file_lock(path):
        if path.exists() and path.stat().st_size > 0:
            stored = read_stored_csv(path, kinds)
            columns = [*frame.columns, *(c for c in stored.columns if c not in frame.columns)]
            frame = pd.concat([stored.reindex(columns=columns), frame.reindex(columns=columns)], ignore_index=True)
        _rewrite_csv(path, frame)


def _rewrite_csv(path: Path, df: pd.DataFrame) -> None:
    """Replace the CSV at ``path`` by ``df`` with every float's shortest exact digits, whole
    (:func:`reuseprior.core.files.write_csv`: readers see the old or the new file, never half of one)."""
    write_csv(df, path, float_format="%.17g")
