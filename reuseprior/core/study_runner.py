"""The engine that runs a declared study (:class:`reuseprior.core.study.StudySpec`): each pending run a
task, each finished run stored at once by the one process that owns the store.

Policy:

- :func:`run_study`, :func:`run_studies` -- every pending run (or those chosen) once: in this process
  one after the other when no Dask client is given, else each run a task of
  :func:`reuseprior.core.distributed.run_jobs` (one thread per worker, the runs of several studies one
  set of tasks); results are stored in this process as they arrive, with a tqdm progress bar over
  runs. Each run is claimed before it starts (:mod:`reuseprior.core.claims`) and skipped when another
  process holds it. ``run_one`` returning ``None`` means the run stopped before its end (a deadline,
  see :func:`deadline_after`): nothing is stored and it stays pending.
- A run refused for its own settings (:data:`RUN_REFUSALS`) or failing in its own code is recorded as
  failed, in one line, and the other runs finish; what is wrong with the machine or its files
  (:data:`SETUP_ERRORS`) ends the command in one line.
- :func:`store_floors` -- the linear floors a study's images lack, one row at a time.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import pandas as pd
from distributed import Client

from reuseprior.core.claims import RunClaims
from reuseprior.core.distributed import Call, Killed, run_jobs
from reuseprior.core.errors import (
    CheckpointMismatchError,
    CsvFormatError,
    DatasetDownloadError,
    DatasetVerificationError,
    MachineKindError,
    NoWorkersError,
    RunSettingError,
    in_one_line,
    raised_at,
)
from reuseprior.core.progress import progress_bar
from reuseprior.core.study import Key, StudySpec, pending_runs

__all__ = [
    "RUN_REFUSALS",
    "SETUP_ERRORS",
    "StudyResult",
    "deadline_after",
    "run_studies",
    "run_study",
    "store_floors",
]


def store_floors(
    spec: StudySpec, seeds: Iterable[int] | None = None, *, progress: bool = True, **options: Any
) -> pd.DataFrame:
    """Compute and store the floors of ``spec`` (of ``seeds`` only, when given and its floor keys have
    a seed) that its floor store lacks, one row at a time (an interrupted call keeps the rows it
    finished; ``options``: those ``compute`` names, e.g. ``data_dir``); returns its stored floors."""
    if spec.floor is None:
        raise ValueError(f"study {spec.name} has no linear floor to store")
    chosen = None if seeds is None else {int(s) for s in seeds}
    keys = [k for k in spec.floor_keys if chosen is None or "seed" not in k or int(k["seed"]) in chosen]
    missing = [k for k in keys if not spec.floor.stored(k)]
    for key in progress_bar(missing, desc=f"linear floors, {spec.name}", unit="floor", disable=not progress):
        spec.floor.put(spec.floor.compute(dict(key), spec, **_named_options(spec.floor.compute, options)))
    return spec.floor_rows()


@dataclass
class StudyResult:
    """What :func:`run_study` did: the runs stored, those that failed (a worker's death, no worker left,
    or a refusal of the run before it trained: label -> why), those left unfinished, those skipped because
    another process claimed them (label -> by whom), and why the run stopped early (``stopped``: no worker
    left), if it did."""

    stored: list[Key] = field(default_factory=list)
    killed: dict[str, str] = field(default_factory=dict)
    unfinished: list[Key] = field(default_factory=list)
    claimed: dict[str, str] = field(default_factory=dict)
    stopped: str | None = None


#: the refusals of one run before it trains, for its own settings (its seed, device or machine kind): the
#: run is recorded as failed with the reason and the others go on. Any other exception of a run but
#: :data:`SETUP_ERRORS` (and a ``SystemExit`` its code raises) is recorded the same way, in one line naming
#: it and where it was raised (:func:`_failure`): the other runs finish; the caller names every failure
RUN_REFUSALS: tuple[type[Exception], ...] = (MachineKindError, RunSettingError)
#: what is wrong with the machine or its files rather than with one run (a dataset not on disk or not
#: verified, a stored file refused, a checkpoint of other settings or unreadable, a file that cannot be
#: written): it ends the command, in one line
SETUP_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    DatasetDownloadError,
    DatasetVerificationError,
    CsvFormatError,
    CheckpointMismatchError,
)


@dataclass(frozen=True)
class _Refused:
    """The outcome of a run refused before it trained (:data:`RUN_REFUSALS`) or failed, with why in one line."""

    reason: str


@dataclass(frozen=True)
class _Claimed:
    """The outcome of a run that another process holds a claim on (``holder``), or stored meanwhile."""

    holder: str


def deadline_after(minutes: float | None) -> float | None:
    """The :func:`time.time` ``minutes`` from now (None: no deadline), the ``deadline`` a study's
    ``run_one`` may take to stop at (between generations, at an epoch boundary)."""
    return None if minutes is None else time.time() + 60.0 * minutes


def _named_options(function: Callable[..., Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """The ``options`` that ``function`` names as parameters (all of them when it takes ``**kwargs``):
    a study's ``run_one`` takes the options it uses and is not given the others."""
    parameters = inspect.signature(function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return dict(options)
    return {k: v for k, v in options.items() if k in parameters}


def _claim(spec: StudySpec, run: Key, claims: RunClaims) -> _Claimed | None:
    """Claim ``run`` before it trains (:mod:`reuseprior.core.claims`): None when this process may train
    it, else why not (another live process holds it, or it was stored since the pending runs were read)."""
    key = spec.store.key_of(run)
    holder = claims.claim(key, spec.label(run))
    if holder is not None:
        return _Claimed(holder)
    if key in spec.stored_keys():
        claims.release(key)
        return _Claimed("stored by another command meanwhile")
    return None


def _run_unless_stored(spec: StudySpec, run: Key, options: Mapping[str, Any]) -> Any:
    """A run's task, on its worker when its turn comes: ``spec.run_one`` on ``run``, unless another command
    stored the run after this one claimed it (runs are claimed as they are queued, :data:`JOBS_PER_THREAD`
    per worker thread ahead of their turn, and a copy of the store merged meanwhile may hold them). The
    worker reads ``spec.store.path``: a cluster on other machines needs the store at that path there too."""
    if spec.store.key_of(run) in spec.stored_keys():
        return _Claimed("stored by another command meanwhile")
    return _run_or_refusal(spec, run, options)


def _run_or_refusal(spec: StudySpec, run: Key, options: Mapping[str, Any]) -> Any:
    """``spec.run_one`` on ``run``; a refusal of the run (:data:`RUN_REFUSALS`) or any exception it raises is
    its outcome (:class:`_Refused`, with why), not the command's end."""
    try:
        return spec.run_one(**run, spec=spec, **options)
    except RUN_REFUSALS as refusal:
        return _Refused(f"refused before training: {type(refusal).__name__}: {refusal}")
    except SETUP_ERRORS:
        raise
    except (Exception, SystemExit) as error:  # noqa: BLE001 - the run's outcome; the other runs go on
        return _Refused(_failure(error))


def _failure(error: BaseException) -> str:
    """A run's exception in one line: its type, its message's words and the last line of code it passed
    through (a Dask worker would log its traceback in a block, and end the other runs)."""
    if isinstance(error, SystemExit):
        return f"SystemExit({error.code!r}): the run's code called sys.exit{raised_at(error)}"
    return in_one_line(error)


class _RunJob:
    """One run as a job of :func:`reuseprior.core.distributed.run_jobs`: one call, its outcome kept; a run
    claimed elsewhere (:func:`_claim`) has no call."""

    def __init__(self, spec: StudySpec, run: Key, options: Mapping[str, Any], claims: RunClaims):
        self.spec, self.run, self.options, self.claims, self.outcome = spec, run, options, claims, None

    def start(self) -> list[Call]:
        self.outcome = _claim(self.spec, self.run, self.claims)
        if self.outcome is not None:
            return []
        kwargs = {"spec": self.spec, "run": self.run, "options": self.options}
        return [Call(_run_unless_stored, kwargs=kwargs, what=f"{self.spec.name} run {self.spec.label(self.run)}")]

    def receive(self, call: Call, outcome: object) -> list[Call]:  # noqa: ARG002 - the protocol's signature
        self.outcome = outcome
        return []


def _keeper(spec: StudySpec, result: StudyResult, claims: RunClaims) -> Callable[[Key, Any], None]:
    """How an outcome of ``spec``'s run is recorded in ``result``: claimed elsewhere or stored meanwhile,
    killed or refused, unfinished (None) or stored; then this process's claim on it, if it holds one, is released."""

    def keep(run: Key, outcome: Any) -> None:
        try:
            if isinstance(outcome, _Claimed):
                result.claimed[spec.label(run)] = outcome.holder
            elif isinstance(outcome, Killed):
                result.killed[spec.label(run)] = outcome.message()
            elif isinstance(outcome, _Refused):
                result.killed[spec.label(run)] = outcome.reason
            elif outcome is None:
                result.unfinished.append(run)
            else:
                spec.store.save(outcome)
                result.stored.append(run)
        finally:
            claims.release(spec.store.key_of(run))

    return keep


def run_study(
    spec: StudySpec,
    *,
    options: Mapping[str, Any] | None = None,
    only: Iterable[Key] | None = None,
    max_runs: int | None = None,
    client: Client | None = None,
    progress: bool = True,
) -> StudyResult:
    """Run the pending runs of ``spec`` (or of ``only``), at most ``max_runs`` of them, and store each
    result as it arrives (see the module docstring). ``options``: keyword arguments of ``run_one``
    (``data_dir``, ``device``, ``deadline``, ...), each given only to a ``run_one`` that names it."""
    if client is not None:
        return run_studies([(spec, only)], options=options, max_runs=max_runs, client=client, progress=progress)[0]
    spec.store.check_tables()
    todo = pending_runs(spec, only)
    if max_runs is not None:
        todo = todo[:max_runs]
    result = StudyResult()
    claims = RunClaims(spec.store.path, spec.plan)
    keep = _keeper(spec, result, claims)
    kwargs = _named_options(spec.run_one, options or {})
    bar = progress_bar(todo, desc=spec.name, unit="run", disable=not progress)
    try:
        for run in bar:
            bar.set_postfix_str(spec.label(run))
            outcome = _claim(spec, run, claims) or _run_or_refusal(spec, run, kwargs)  # _claim read the store
            keep(run, outcome)
            if outcome is None:  # a deadline: the runs after it would stop at once as well
                break
    finally:
        claims.release_all()
    return result


def run_studies(
    chosen: Sequence[tuple[StudySpec, Iterable[Key] | None]],
    *,
    client: Client,
    options: Mapping[str, Any] | None = None,
    max_runs: int | None = None,
    progress: bool = True,
) -> list[StudyResult]:
    """The pending runs of every ``(spec, only)`` of ``chosen`` (``only``: its runs to consider, None:
    all), at most ``max_runs`` of them in all, as one set of tasks on ``client``, in the order given;
    each result is stored in its study as it arrives; each run is claimed before it starts and skipped
    when another process holds it (:mod:`reuseprior.core.claims`). A cluster left without workers
    (:class:`~reuseprior.core.errors.NoWorkersError`) ends the run: the runs in progress are recorded
    as failed with its reason, and every result's ``stopped`` says why. Returns one
    :class:`StudyResult` per study."""
    for spec, _ in chosen:
        spec.store.check_tables()
    results = [StudyResult() for _ in chosen]
    jobs: list[_RunJob] = []
    keepers, claims = {}, []
    for (spec, only), result in zip(chosen, results):
        claims.append(RunClaims(spec.store.path, spec.plan))
        keepers[id(spec)] = _keeper(spec, result, claims[-1])
        kwargs = _named_options(spec.run_one, options or {})
        jobs.extend(_RunJob(spec, run, kwargs, claims[-1]) for run in pending_runs(spec, only))
    if max_runs is not None:
        jobs = jobs[:max_runs]
    desc = chosen[0][0].name if len(chosen) == 1 else f"{len(chosen)} studies"
    try:
        run_jobs(
            client,
            jobs,
            on_done=lambda job: keepers[id(job.spec)](job.run, job.outcome),
            desc=desc,
            progress=progress,
            unit="run",
        )
    except NoWorkersError as err:
        index = {id(spec): i for i, (spec, _) in enumerate(chosen)}
        for job in err.unfinished:
            results[index[id(job.spec)]].killed[job.spec.label(job.run)] = "no Dask worker left to finish it"
        for result in results:
            result.stopped = str(err)
    finally:
        for held in claims:
            held.release_all()
    return results
