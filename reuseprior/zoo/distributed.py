"""The zoo's Dask runner: :mod:`reuseprior.core.distributed` with the scoring
code preloaded in every LocalCluster worker."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from distributed import Client

from reuseprior.core.distributed import (
    ALLOWED_FAILURES,
    JOBS_PER_THREAD,
    PRE_SPAWN_ENVIRON,
    Call,
    Job,
    Killed,
    TaskFailedError,
    default_workers,
    run_jobs,
)
from reuseprior.core.distributed import connect as connect_cluster

__all__ = [
    "ALLOWED_FAILURES",
    "JOBS_PER_THREAD",
    "PRE_SPAWN_ENVIRON",
    "Call",
    "Job",
    "Killed",
    "TaskFailedError",
    "connect",
    "default_workers",
    "run_jobs",
]

#: what a zoo worker imports before its first task
ZOO_PRELOAD = ("reuseprior.zoo.scoring",)


@contextmanager
def connect(**options: Any) -> Iterator[Client]:
    """:func:`reuseprior.core.distributed.connect` (same options) with :data:`ZOO_PRELOAD`."""
    with connect_cluster(preload=ZOO_PRELOAD, **options) as client:
        yield client
