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
  nanny restarts it above 95% of its memory limit.
- A LocalCluster's scheduler never restarts a worker for missed heartbeats
  (Dask's ``worker-ttl``, 5 minutes by default, is off): a worker that dies
  is seen at once by its nanny and its closed connection, so a silent worker
  on this machine is a suspended one (a laptop asleep, a command paused with
  SIGSTOP or Ctrl-Z), and restarting it on resume would throw away the run
  it was training. Its workers are forked
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
- A LocalCluster that fails to start for a passing reason (Dask's event loop
  or a worker not up within Dask's timeouts on a loaded machine) is started
  again, up to :data:`LOCAL_CLUSTER_ATTEMPTS` times in all, each retry said;
  a worker that died while starting (a memory limit too low to import torch,
  the machine out of memory) is not retried, since it would die again.
"""

from __future__ import annotations

import importlib.util
import logging
import multiprocessing
import re
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Protocol, Sequence

import dask
from distributed import Client, Future, KilledWorker, LocalCluster, as_completed
from distributed.utils import get_mp_context

from reuseprior.core.errors import ClusterError, NoWorkersError, TaskFailedError, in_one_line
from reuseprior.core.memory import usable_cores
from reuseprior.core.progress import ProgressBar, progress_bar

__all__ = ["Call", "Job", "Killed", "TaskFailedError", "connect", "default_workers", "run_jobs"]

GIB = 2**30
#: Times the LocalCluster's scheduler retries a task whose worker died before reporting it killed.
ALLOWED_FAILURES = 1
#: Jobs :func:`run_jobs` keeps started per worker thread: one running, one ready to start when it ends.
JOBS_PER_THREAD = 2
#: Dask's configuration of the environment variables a nanny sets before it starts its worker.
PRE_SPAWN_ENVIRON = "distributed.nanny.pre-spawn-environ"
#: The share of its memory limit above which a LocalCluster worker's nanny restarts it (Dask's
#: ``distributed.worker.memory.terminate``, set by :func:`connect`).
NANNY_RESTART_FRACTION = 0.95
#: Seconds :func:`run_jobs` waits for a worker when the cluster has none left before it gives up.
NO_WORKER_GRACE_S = 60.0
# starts of a LocalCluster before its failure is the command's (see the module docstring)
LOCAL_CLUSTER_ATTEMPTS = 3
#: Seconds without a nanny's memory restart after which a worker counts as up (:func:`run_jobs`).
STABLE_S = 5.0
#: Seconds between two looks at the cluster while :func:`run_jobs` waits for a task.
POLL_S = 0.5
#: Where a LocalCluster started by :func:`connect` serves its dashboard (``--dashboard``): the loopback
#: only, never every interface (Dask's default ``:8787``); port 8787, or a free one if it is taken.
LOOPBACK = "127.0.0.1"
DASHBOARD_ADDRESS = f"{LOOPBACK}:8787"


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
    """The outcome of a task whose worker died every time it ran it. ``memory_kills``: how many of
    those deaths were its nanny's restart above :data:`NANNY_RESTART_FRACTION` of the memory limit
    (a LocalCluster's nannies report them; None where that is not known: an existing cluster)."""

    memory_limit: int | None  # bytes, of the last worker that ran it (None: unlimited or unknown)
    attempts: int
    memory_kills: int | None = None

    def message(self) -> str:
        """Why the task failed, in one line: out of memory, naming the limit and the memory at which the
        nanny restarted the worker, or a death that was not the memory limit's."""
        limit = f"worker limit {self.memory_limit / GIB:.3g} GiB" if self.memory_limit else "no worker memory limit"
        times = "once" if self.attempts == 1 else f"{self.attempts} times"
        if self.memory_kills == 0:
            return (
                f"its Dask worker died {times} while running it, not at the memory limit ({limit}): "
                "killed from outside (the kernel's out-of-memory killer, a signal) or crashed"
            )
        if self.memory_kills and self.memory_limit:
            used = NANNY_RESTART_FRACTION * self.memory_limit / GIB
            return (
                f"out of memory ({limit}): its worker used more than {used:.3g} GiB "
                f"({NANNY_RESTART_FRACTION:.0%} of the limit) and was restarted by its nanny, {times}; "
                "give a larger --max-memory-gb (with fewer --workers)"
            )
        return f"out of memory ({limit}): the Dask worker running it was killed, {times}"


class Job(Protocol):
    """One architecture's work: its first calls, then follow-ups chosen from each outcome."""

    def start(self) -> list[Call]: ...

    def receive(self, call: Call, outcome: object) -> list[Call]:
        """``outcome`` is the call's return value or a :class:`Killed`; returns the follow-up calls."""
        ...


def default_workers() -> int:
    """One worker per core this process may run on."""
    return usable_cores()


@contextmanager
def connect(
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    max_memory_gb: float | None = None,
    processes: bool = True,
    allowed_failures: int = ALLOWED_FAILURES,
    preload: Sequence[str] = (),
    dashboard: bool = False,
    say: Callable[[str], None] = print,
) -> Iterator[Client]:
    """A client of an existing cluster (``scheduler``: its address) or of a
    new LocalCluster of ``workers`` single-threaded workers (default: one
    per core), each limited to ``max_memory_gb`` GiB (default: Dask's
    ``"auto"``, the machine's memory shared out). ``processes=False`` runs
    the workers as threads of this process (tests: no memory limit, no
    kill). ``preload``: modules the workers import before their first task
    (with :data:`FORKSERVER_PRELOAD`). ``dashboard``: serve the LocalCluster's
    dashboard; with it or without, the scheduler's HTTP endpoints listen at
    :data:`DASHBOARD_ADDRESS`, the loopback (another port if that one is
    taken), never on every interface. A scheduler that does not answer, or workers that do not start, raise
    :class:`ClusterError`. Closed, with its cluster, on leaving the block."""
    if max_memory_gb is not None and not max_memory_gb > 0:
        raise ValueError(f"max_memory_gb={max_memory_gb!r}: give a positive memory limit in GiB")
    if scheduler is not None:
        if workers is not None or max_memory_gb is not None:
            raise ValueError(
                "--workers and --max-memory-gb shape the LocalCluster started here; an existing cluster "
                "(--scheduler) has its own workers and limits (dask worker --nworkers, --memory-limit)"
            )
        with _existing(scheduler) as client:
            info = client.scheduler_info()["workers"]
            say(f"Dask: connected to {scheduler} ({len(info)} workers); dashboard {client.dashboard_link}")
            yield client
        return
    n = workers or default_workers()
    limit = f"{max_memory_gb}GiB" if max_memory_gb is not None else "auto"
    with (
        dask.config.set(_local_config(allowed_failures, processes)),
        _preloaded_forkserver(preload),
        _local_cluster(n, processes, limit if processes else None, dashboard, say) as cluster,
        _NANNY_KILLS.watching(),
        Client(cluster) as client,
    ):
        gib = {w["memory_limit"] / GIB for w in client.scheduler_info()["workers"].values()}
        kind = ("process" if processes else "thread") + ("" if n == 1 else "es" if processes else "s")
        memory = f", memory limit {min(gib):.3g} GiB each" if processes and gib and min(gib) > 0 else ""
        say(f"Dask LocalCluster: {n} single-threaded worker {kind}{memory}; {_dashboard_note(cluster, dashboard)}")
        yield client


def _local_config(allowed_failures: int, processes: bool) -> dict[str, object]:
    """The Dask configuration of a LocalCluster of :func:`connect` (see the module docstring)."""
    config: dict[str, object] = {
        "distributed.scheduler.allowed-failures": allowed_failures,
        "distributed.scheduler.worker-saturation": 1.0,
        # a task keeps no data on its worker: nothing to spill, and a worker paused above 80% of its
        # limit (memory a failed pass left held) would wait forever; above 95% the nanny restarts it
        "distributed.worker.memory.target": False,
        "distributed.worker.memory.spill": False,
        "distributed.worker.memory.pause": False,
        "distributed.worker.memory.terminate": NANNY_RESTART_FRACTION,
        # a paused or suspended machine resumes its runs (see the module docstring)
        "distributed.scheduler.worker-ttl": None,
        # glibc's dynamic mmap threshold (see the module docstring); None unsets Dask's default
        f"{PRE_SPAWN_ENVIRON}.MALLOC_TRIM_THRESHOLD_": None,
    }
    if processes and "forkserver" in multiprocessing.get_all_start_methods():
        config["distributed.worker.multiprocessing-method"] = "forkserver"
    return config


@contextmanager
def _existing(scheduler: str) -> Iterator[Client]:
    """A client of the cluster at ``scheduler``; an address that is malformed or does not answer within
    Dask's connect timeout is :class:`ClusterError`."""
    try:
        client = Client(scheduler)
    except (OSError, ValueError, TypeError) as err:  # TimeoutError is an OSError
        reason = " ".join(str(err).split()) or type(err).__name__
        raise ClusterError(
            f"--scheduler {scheduler}: no Dask scheduler answers there ({reason}); give the address "
            "`dask scheduler` prints, e.g. tcp://host:8786, or leave --scheduler out for a LocalCluster"
        ) from None
    with client:
        yield client


def _local_cluster(
    n: int, processes: bool, limit: str | None, dashboard: bool, say: Callable[[str], None]
) -> LocalCluster:
    """A started LocalCluster of ``n`` single-threaded workers (closed by leaving its ``with`` block). A start
    that fails for a passing reason (Dask's event loop or a worker not up within its timeouts on a loaded
    machine; Dask asserts, without a message, that its event-loop thread ran within 10 s) is tried again, up to
    :data:`LOCAL_CLUSTER_ATTEMPTS` starts, each retry said with why; a nanny's worker that died while it
    started (a memory limit below what importing torch takes, the machine out of memory or processes) is
    :class:`ClusterError` at once, as is the last failed start."""
    attempt = 1
    while True:
        try:
            return LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=processes,
                memory_limit=limit,
                # the scheduler's HTTP endpoints, on the loopback either way (without a dashboard, on a free port)
                dashboard_address=DASHBOARD_ADDRESS if dashboard else f"{LOOPBACK}:0",
                scheduler_kwargs={"dashboard": dashboard},
                # a worker in this process (threads) has no loopback address of its own to listen on
                **({} if processes else {"worker_dashboard_address": f"{LOOPBACK}:0"}),
            )
        except (RuntimeError, AssertionError, OSError) as err:  # Dask's start-up failures (TimeoutError: an OSError)
            died = "failed to start" in str(err)
            if died or attempt == LOCAL_CLUSTER_ATTEMPTS:
                raise _start_failure(err, n, limit, died, attempt) from None
            attempt += 1
            say(f"Dask LocalCluster did not start ({in_one_line(err)}); start {attempt} of {LOCAL_CLUSTER_ATTEMPTS}")


def _start_failure(err: BaseException, n: int, limit: str | None, died: bool, starts: int) -> ClusterError:
    """The :class:`ClusterError` of a LocalCluster that did not start: why (a worker that died while
    starting, or the last start's exception and how many starts were made) and what to do."""
    memory = f" of {limit} each" if limit not in (None, "auto") else ""
    reason = (
        "a worker died while starting: a memory limit below what a worker takes to import torch, "
        "or the machine out of memory"
        if died
        else f"{in_one_line(err)}, after {starts} starts"
    )
    return ClusterError(
        f"the LocalCluster's {n} Dask workers{memory} did not start ({reason}); "
        "give fewer --workers or a larger --max-memory-gb, or wait for a less loaded machine"
    )


def _dashboard_note(cluster: LocalCluster, dashboard: bool) -> str:
    """What the connection message says of the dashboard: where it is served (the address it listens on),
    or that it is off."""
    if not dashboard:
        return f"dashboard off (--dashboard serves it on {LOOPBACK})"
    link = f"http://{LOOPBACK}:{cluster.scheduler_info['services']['dashboard']}/status"  # where it listens
    if importlib.util.find_spec("bokeh") is None:
        link += " (served once bokeh is installed: pip install bokeh)"
    return f"dashboard {link}"


class _NannyKills(logging.Handler):
    """The workers a LocalCluster's nannies restarted for memory (the address of each, as their log
    record names it), recorded while :meth:`watching`: a killed task is then known to have died at the
    memory limit, or not."""

    PATTERN = re.compile(r"Worker (\S+) \(pid=\d+\) exceeded")

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.addresses: dict[str, int] = {}
        self.active = False

    def emit(self, record: logging.LogRecord) -> None:
        found = self.PATTERN.search(record.getMessage())
        if found:
            self.addresses[found.group(1)] = self.addresses.get(found.group(1), 0) + 1

    @contextmanager
    def watching(self) -> Iterator[None]:
        logger = logging.getLogger("distributed.nanny.memory")
        self.addresses.clear()
        self.active = True
        logger.addHandler(self)
        try:
            yield
        finally:
            logger.removeHandler(self)
            self.active = False

    def total(self) -> int:
        """The memory restarts recorded while watching."""
        return sum(self.addresses.values())

    def kills(self, address: str | None) -> int | None:
        """The memory restarts of the worker at ``address``: 0 only when no worker was restarted for memory
        at all (a worker restarted in a storm of them may come back at another address); None when that is
        not known (not watched, no address, or restarts at other addresses)."""
        if not self.active or not address:
            return None
        return self.addresses.get(address) or (0 if not self.addresses else None)


_NANNY_KILLS = _NannyKills()


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
    futures still pending are released, which cancels them). A cluster left
    without any worker for :data:`NO_WORKER_GRACE_S` seconds (every worker
    dead and none restarted) raises :class:`NoWorkersError` naming the jobs
    started and not finished: its tasks could never run. A task whose result
    was lost with its worker before this process read it runs again."""
    jobs = list(jobs)
    running: dict[Future, tuple[Job, Call]] = {}
    open_calls: dict[int, int] = {}
    done = as_completed()
    limits = _memory_limits(client)

    rank = {id(job): i for i, job in enumerate(jobs)}

    def submit(job: Job, calls: list[Call]) -> None:
        open_calls[id(job)] = open_calls.get(id(job), 0) + len(calls)
        for call in calls:  # in the jobs' order (Dask runs the higher priority first), follow-ups with their job
            future = _submit(client, call, priority=-rank[id(job)])
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

    def receive(future: Future, bar: ProgressBar) -> None:
        """A finished task's outcome to its job, its follow-ups submitted (a result lost with its worker
        before it was read: the call again), the job finished when none is left."""
        job, call = running.pop(future)
        lost = future.status == "lost"
        follow = [call] if lost else job.receive(call, _outcome(future, call, limits))
        future.release()
        open_calls[id(job)] -= 1
        submit(job, follow)
        if open_calls[id(job)] == 0:
            finish(job, bar)
            start_jobs(bar)

    with progress_bar(total=len(jobs), desc=desc, disable=not progress, unit=unit) as bar:
        try:
            start_jobs(bar)
            while running:
                receive(_next_finished(done, client, {id(job): job for job, _ in running.values()}), bar)
        finally:
            for future in running:
                future.release()
    return len(jobs)


def _submit(client: Client, call: Call, *, priority: int) -> Future:
    """``call`` as a task of its own (``pure=False``: a key named after ``call.what``, never shared)."""
    key = f"{call.what}-{uuid.uuid4().hex[:8]}"
    return client.submit(call.fn, *call.args, key=key, pure=False, priority=priority, **call.kwargs)


def _next_finished(done: as_completed, client: Client, open_jobs: dict[int, Job]) -> Future:
    """The next finished future of ``done``; :class:`NoWorkersError` when the cluster has had no worker that
    stays up for :data:`NO_WORKER_GRACE_S` seconds while ``open_jobs`` wait: none at all (a nanny
    restarts a dead worker within seconds; one that cannot start again never comes back), or only
    workers that their nannies keep restarting for memory (none lasting :data:`STABLE_S` seconds: a
    memory limit below what an idle worker holds)."""
    since = None
    kills, last_kill = _NANNY_KILLS.total(), time.monotonic()
    while not done.has_ready():
        now = time.monotonic()
        if _NANNY_KILLS.total() != kills:
            kills, last_kill = _NANNY_KILLS.total(), now
        if client.nthreads() and now - last_kill > STABLE_S:
            since = None
        elif since is None:
            since = now
        elif now - since > NO_WORKER_GRACE_S:
            raise NoWorkersError(_no_workers_message(len(open_jobs)), list(open_jobs.values()))
        time.sleep(POLL_S)
    return next(done)


def _no_workers_message(unfinished: int) -> str:
    """Why :func:`run_jobs` stopped with tasks open and no worker: what the nannies reported, if anything."""
    restarts = _NANNY_KILLS.total() if _NANNY_KILLS.active else 0
    cause = (
        f"their nannies restarted them {restarts} times above {NANNY_RESTART_FRACTION:.0%} of their memory limit "
        "until they no longer started: give a larger --max-memory-gb (with fewer --workers)"
        if restarts
        else "they died (killed from outside, or crashed) and none came back"
    )
    return (
        f"no Dask worker left for {NO_WORKER_GRACE_S:g} s, {unfinished} started tasks unfinished: {cause}; "
        "what finished is stored, run the command again to continue"
    )


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
        kills = _NANNY_KILLS.kills(getattr(worker, "address", None))
        return Killed(memory_limit=worker_limit, attempts=error.allowed_failures + 1, memory_kills=kills)
    reason = f"{type(error).__name__}: {error}" if error is not None else f"the task was {future.status}"
    reason = " ".join(reason.split())  # one line, whatever the exception's message holds
    raise TaskFailedError(f"{call.what} failed on a Dask worker: {reason}") from error
