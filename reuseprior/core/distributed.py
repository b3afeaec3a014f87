"""Running independent tasks on Dask distributed: one task per job, rows stored by the caller.

Used by every resumable computation of the package (the zoo fills, the
trained studies of :mod:`reuseprior.core.study`).

- :func:`connect` gives the client every run submits to: a
  :class:`distributed.LocalCluster` by default (one single-threaded worker
  process per core, each watched by a nanny that restarts it when it dies or
  exceeds its memory limit: ``max_memory_gb``, else Dask's share of the
  machine's memory), or an existing cluster (``scheduler``: started by
  ``dask scheduler`` / ``dask worker``, or by dask-jobqueue on SLURM). The
  dashboard address is printed when the client connects.
- :func:`run_jobs` drives :class:`Job`\\ s: a job submits :class:`Call`\\ s,
  receives each one's return value or :class:`Killed` (the task's worker died
  ``allowed-failures + 1`` times while running it: Dask's
  :class:`distributed.KilledWorker`, nearly always the memory limit or the
  kernel's out-of-memory killer) and answers with follow-up calls until it is
  done; then the caller stores its result (in the process that holds the
  client). Progress is a tqdm bar over jobs. Any other failure of a task stops
  the run with the task's error (:class:`TaskFailedError`); the results
  finished before it are stored.
- A LocalCluster worker never pauses or spills (its tasks keep no data); its
  nanny restarts it above 95% of its memory limit. Its workers are forked
  from a server process that has imported torch and the modules named by
  ``preload`` (:func:`_preloaded_forkserver`), so a restarted worker is ready
  at once.
- :func:`run_jobs` keeps at most :data:`JOBS_PER_THREAD` jobs per worker
  thread open; the others wait in this process, in their order: the
  scheduler's bookkeeping per task grows with the tasks a worker holds. A
  worker that dies takes only its own task down with it; the LocalCluster's
  scheduler retries that task once (``allowed-failures = 1``) before reporting
  it killed, so that a worker lost for another reason costs a retry.
- A LocalCluster worker keeps glibc's own allocator settings: Dask's default
  ``MALLOC_TRIM_THRESHOLD_=65536`` (its ``nanny.pre-spawn-environ``) is not
  set, because fixing any glibc threshold also switches off glibc's dynamic
  mmap threshold, so every tensor above 128 KiB is mapped and unmapped on
  each use (``benchmarks/bench_worker_allocator.py`` measures the cost).
  A variable set in the caller's environment still reaches the workers.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Protocol, Sequence

import dask
from distributed import Client, Future, KilledWorker, LocalCluster, as_completed
from distributed.utils import get_mp_context

from reuseprior.core.errors import TaskFailedError
from reuseprior.core.progress import ProgressBar, progress_bar

__all__ = ["Call", "Job", "Killed", "TaskFailedError", "connect", "default_workers", "run_jobs"]

GIB = 2**30
#: Times the LocalCluster's scheduler retries a task whose worker died before reporting it killed.
ALLOWED_FAILURES = 1
#: Jobs :func:`run_jobs` keeps started per worker thread: one running, one ready to start when it ends.
JOBS_PER_THREAD = 2
#: Dask's configuration of the environment variables a nanny sets before it starts its worker.
PRE_SPAWN_ENVIRON = "distributed.nanny.pre-spawn-environ"


@dataclass(frozen=True)
class Call:
    """A function call to run as one Dask task; ``what`` names it in messages and on the dashboard."""

    fn: Callable[..., object]
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    what: str = "task"
    tag: str = ""  # the job's name for the step this call is


@dataclass(frozen=True)
class Killed:
    """The outcome of a task whose worker died every time it ran it."""

    memory_limit: int | None  # bytes, of the last worker that ran it (None: unlimited or unknown)
    attempts: int

    def message(self) -> str:
        """How the failure is recorded: out of memory, naming the limit."""
        limit = f"worker limit {self.memory_limit / GIB:.3g} GiB" if self.memory_limit else "no worker memory limit"
        times = "once" if self.attempts == 1 else f"{self.attempts} times"
        return f"out of memory ({limit}): the Dask worker running it was killed, {times}"


class Job(Protocol):
    """One architecture's work: its first calls, then follow-ups chosen from each outcome."""

    def start(self) -> list[Call]: ...

    def receive(self, call: Call, outcome: object) -> list[Call]:
        """``outcome`` is the call's return value or a :class:`Killed`; returns the follow-up calls."""
        ...


def default_workers() -> int:
    """One worker per core this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@contextmanager
def connect(
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    max_memory_gb: float | None = None,
    processes: bool = True,
    allowed_failures: int = ALLOWED_FAILURES,
    preload: Sequence[str] = (),
    say: Callable[[str], None] = print,
) -> Iterator[Client]:
    """A client of an existing cluster (``scheduler``: its address) or of a
    new LocalCluster of ``workers`` single-threaded workers (default: one
    per core), each limited to ``max_memory_gb`` GiB (default: Dask's
    ``"auto"``, the machine's memory shared out). ``processes=False`` runs
    the workers as threads of this process (tests: no memory limit, no
    kill). ``preload``: modules the workers import before their first task
    (with :data:`FORKSERVER_PRELOAD`). Closed, with its cluster, on leaving the block."""
    if max_memory_gb is not None and not max_memory_gb > 0:
        raise ValueError(f"max_memory_gb={max_memory_gb!r}: give a positive memory limit in GiB")
    if scheduler is not None:
        if workers is not None or max_memory_gb is not None:
            raise ValueError(
                "--workers and --max-memory-gb shape the LocalCluster started here; an existing cluster "
                "(--scheduler) has its own workers and limits (dask worker --nworkers, --memory-limit)"
            )
        with Client(scheduler) as client:
            info = client.scheduler_info()["workers"]
            say(f"Dask: connected to {scheduler} ({len(info)} workers); dashboard {client.dashboard_link}")
            yield client
        return
    n = workers or default_workers()
    limit = f"{max_memory_gb}GiB" if max_memory_gb is not None else "auto"
    config = {
        "distributed.scheduler.allowed-failures": allowed_failures,
        "distributed.scheduler.worker-saturation": 1.0,
        # a task keeps no data on its worker: nothing to spill, and a worker paused above 80% of its
        # limit (memory a failed pass left held) would wait forever; above 95% the nanny restarts it
        "distributed.worker.memory.target": False,
        "distributed.worker.memory.spill": False,
        "distributed.worker.memory.pause": False,
        # glibc's dynamic mmap threshold (see the module docstring); None unsets Dask's default
        f"{PRE_SPAWN_ENVIRON}.MALLOC_TRIM_THRESHOLD_": None,
    }
    if processes and "forkserver" in multiprocessing.get_all_start_methods():
        config["distributed.worker.multiprocessing-method"] = "forkserver"
    with (
        dask.config.set(config),
        _preloaded_forkserver(preload),
        LocalCluster(
            n_workers=n, threads_per_worker=1, processes=processes, memory_limit=limit if processes else None
        ) as cluster,
    ):
        with Client(cluster) as client:
            gib = {w["memory_limit"] / GIB for w in client.scheduler_info()["workers"].values()}
            kind = ("process" if processes else "thread") + ("" if n == 1 else "es" if processes else "s")
            memory = f", memory limit {min(gib):.3g} GiB each" if processes and gib and min(gib) > 0 else ""
            dashboard = cluster.dashboard_link
            if importlib.util.find_spec("bokeh") is None:
                dashboard += " (served once bokeh is installed: pip install bokeh)"
            say(f"Dask LocalCluster: {n} single-threaded worker {kind}{memory}; dashboard {dashboard}")
            yield client


#: Modules the LocalCluster's fork server imports once, before it forks any
#: worker: a worker (also one restarted after a kill) starts with them loaded.
FORKSERVER_PRELOAD = ("distributed", "numpy", "pandas", "torch")


@contextmanager
def _preloaded_forkserver(extra: Sequence[str] = ()) -> Iterator[None]:
    """Workers forked from a server that has imported :data:`FORKSERVER_PRELOAD` and ``extra``
    (when ``distributed.worker.multiprocessing-method`` is ``forkserver``),
    instead of spawned interpreters that import torch each: a worker restarted
    after an out-of-memory kill is ready in a fraction of a second. (The server
    only imports; torch's thread pools start in the workers.) Applies to the
    first fork server of this process."""
    if dask.config.get("distributed.worker.multiprocessing-method") == "forkserver":
        context = get_mp_context()  # Dask's own preload list, set once per process ...
        context.set_forkserver_preload([*FORKSERVER_PRELOAD, *extra])  # ... extended with torch and the callers' code
    yield


def run_jobs(
    client: Client,
    jobs: Iterable[Job],
    *,
    on_done: Callable[[Job], None],
    desc: str,
    progress: bool = True,
    unit: str = "arch",
) -> int:
    """Run every job to its end on ``client``, calling ``on_done(job)`` (in
    this process) as each finishes; returns the number of jobs. Jobs start
    in the order of ``jobs``, at most :data:`JOBS_PER_THREAD` per worker
    thread of the cluster open at a time (its threads counted again as each
    job ends, so workers that join are used), and a job's follow-ups keep its
    place, so an interrupted run has done about a prefix of them; follow-up
    calls are submitted as their job's outcomes arrive, so a slow job holds up
    no other. An exception of a task raises :class:`TaskFailedError` (the
    futures still pending are released, which cancels them)."""
    jobs = list(jobs)
    running: dict[Future, tuple[Job, Call]] = {}
    open_calls: dict[int, int] = {}
    done = as_completed()
    limits = _memory_limits(client)

    rank = {id(job): i for i, job in enumerate(jobs)}

    def submit(job: Job, calls: list[Call]) -> None:
        open_calls[id(job)] = open_calls.get(id(job), 0) + len(calls)
        for call in calls:  # in the jobs' order (Dask runs the higher priority first), follow-ups with their job
            future = client.submit(
                call.fn,
                *call.args,
                key=f"{call.what}-{uuid.uuid4().hex[:8]}",
                pure=False,
                priority=-rank[id(job)],
                **call.kwargs,
            )
            running[future] = (job, call)
            done.add(future)

    waiting = iter(jobs)

    def start_jobs(bar: ProgressBar) -> None:
        """Start the next jobs in order until :data:`JOBS_PER_THREAD` per worker thread are open."""
        room = JOBS_PER_THREAD * max(1, sum(client.nthreads().values()))
        while len(open_calls) < room and (job := next(waiting, None)) is not None:
            first = job.start()
            submit(job, first)
            if not first:
                finish(job, bar)

    def finish(job: Job, bar: ProgressBar) -> None:
        del open_calls[id(job)]
        on_done(job)
        bar.update()

    with progress_bar(total=len(jobs), desc=desc, disable=not progress, unit=unit) as bar:
        try:
            start_jobs(bar)
            while running:
                future = next(done)
                job, call = running.pop(future)
                outcome = _outcome(future, call, limits)
                future.release()
                follow = job.receive(call, outcome)
                open_calls[id(job)] -= 1
                submit(job, follow)
                if open_calls[id(job)] == 0:
                    finish(job, bar)
                    start_jobs(bar)
        finally:
            for future in running:
                future.release()
    return len(jobs)


def _memory_limits(client: Client) -> int | None:
    """The smallest worker memory limit of the cluster (bytes; None when unlimited)."""
    limits = [w.get("memory_limit") or 0 for w in client.scheduler_info()["workers"].values()]
    limits = [x for x in limits if x > 0]
    return min(limits) if limits else None


def _outcome(future: Future, call: Call, limit: int | None) -> object:
    """A finished future's value, :class:`Killed`, or :class:`TaskFailedError` raised."""
    if future.status == "finished":
        return future.result()
    error = future.exception() if future.status == "error" else None
    if isinstance(error, KilledWorker):
        worker = error.last_worker
        worker_limit = getattr(worker, "memory_limit", None) or limit
        return Killed(memory_limit=worker_limit, attempts=error.allowed_failures + 1)
    reason = f"{type(error).__name__}: {error}" if error is not None else f"the task was {future.status}"
    raise TaskFailedError(f"{call.what} failed on a Dask worker: {reason}") from error
