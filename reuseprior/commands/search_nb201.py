"""``python -m reuseprior search-nb201 run|status``: search NAS-Bench-201 with the
prior and the zero-cost proxies from the stored scores (no training; beyond the thesis).

One run is one protocol (``naswot``: Mellor et al. 2021's pick-the-best of N
sampled cells; ``warmup-rs`` / ``warmup-ae``: random search and aging evolution
with Abdelfattah et al. 2021's zero-cost warm-up), one label (``analog``: all
15,625 cells; ``official``: NASLib's 725-cell subset) and one score; its rows
(one per sample size or budget) are written to ``data/nb201_search_runs.csv``
atomically as soon as it finishes, so the command can be stopped and run
again: stored runs are skipped (see :mod:`reuseprior.zoo.search`)::

    python -m reuseprior search-nb201 run                 # every pending run (about a minute of CPU)
    python -m reuseprior search-nb201 run --only protocol=naswot --only score=PG
    python -m reuseprior search-nb201 status
"""

from __future__ import annotations

import argparse

import pandas as pd

from reuseprior.commands.argtypes import only_problem, only_values
from reuseprior.commands.parsers.search_nb201 import add_arguments, check_arguments
from reuseprior.core.errors import CommandInputError
from reuseprior.core.study import StudySpec, pending_runs, run_study
from reuseprior.zoo import search

__all__ = ["add_arguments", "check_arguments", "run"]


def _chosen(study: StudySpec, only: list[str]) -> list[dict[str, str]]:
    """The runs that ``--only`` selects (all without it); a value no run has is refused with the values there
    are, as ``study`` refuses it (:func:`~reuseprior.commands.argtypes.only_problem`)."""
    wanted = only_values(only)
    problem = only_problem(study.runs, wanted)
    if problem:
        raise CommandInputError(problem)
    return [dict(r) for r in study.runs if all(str(r[c]) in values for c, values in wanted.items())]


def _status(study: StudySpec) -> pd.DataFrame:
    done = study.store.stored_keys(study.plan)
    rows = [{**r, "stored": study.store.key_of(r) in done} for r in study.runs]
    table = pd.DataFrame(rows)
    return table.groupby(["protocol", "label"], sort=True)["stored"].agg(["sum", "size"]).reset_index()


def run(args: argparse.Namespace) -> int:
    study = search.search_study(path=args.store)
    chosen = _chosen(study, args.only)  # an --only value no run has: refused before anything is printed
    print(f"plan {study.plan}, store {study.store.path}")
    if args.action == "status":
        with pd.option_context("display.width", 160):
            print(_status(study).rename(columns={"sum": "stored", "size": "runs"}).to_string(index=False))
        return 0
    todo = pending_runs(study, chosen)
    print(f"{len(chosen) - len(todo)} of {len(chosen)} chosen runs stored, {len(todo)} to run")
    result = run_study(study, only=chosen, max_runs=args.max_runs, progress=not args.no_progress)
    print(f"stored {len(result.stored)} runs in {study.store.path}")
    return 0
