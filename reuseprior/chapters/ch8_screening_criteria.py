"""When chapter 8's screening study can decide: the linear floor of each seed's images, the criteria a
run must meet to count, and the verdicts gated by them (issue 36).

A search run counts in the comparison when the model it ends with has learnt the task at least as well
as a linear classifier of the same images (:mod:`reuseprior.training.convergence`, adapted to a search):

- **Above the floor**: the final top individual's test top-1 exceeds the test top-1 of a logistic
  regression fitted to the seed's training images (:mod:`reuseprior.revolver.split_floor`; the seed
  fixes the validation split, so the training images, and the floor, are the seed's own).
- **Fit**: the final top individual's top-1 on every training image (``top_train_acc_final``, stored
  by the run) is at least the logistic regression's training top-1. A run stored before that column
  existed has no such reading and does not count.
- **Plateau**: the search's best validation top-1 so far (``best_val_acc`` of the generation log, 512
  images a session) gained less than
  :data:`~reuseprior.training.convergence.PLATEAU_TOLERANCE_PP` points from the mean of its previous
  :data:`~reuseprior.training.convergence.PLATEAU_WINDOW` generations to the mean of its last ones
  (:func:`~reuseprior.training.convergence.plateaued`).

**When the study decides.** Unlike chapter 7, which drops a seed any of whose runs does not count, no
seed is dropped here. A run's final model *is* the outcome of its arm's search: a search that ends below the floor is a
result, and dropping its seed would select seeds on the outcome being compared (if one arm failed more
often, the seeds it lost on would vanish). So the paired statistics use every paired seed, and the
criteria judge the *budget* instead. A verdict needs at least
:func:`~reuseprior.reporting.statistics.fewest_decisive_pairs` paired seeds (the fewest whose
exact permutation p can fall below 0.05) and, in every arm, more than half of the runs counting
(:data:`~reuseprior.training.convergence.SEARCH_MIN_COUNTING_SHARE`: the budget lets a typical search
learn the task); otherwise every verdict
reads *not comparable* (:func:`~reuseprior.reporting.statistics.gated_verdicts`) with the reason, the
rule's own verdict kept beside it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import pandas as pd

from reuseprior.chapters.ch8_screening_study import (
    ScreeningStudy,
    matched_spend,
    paired_differences,
    spend_levels,
)
from reuseprior.reporting.statistics import fewest_decisive_pairs, gated_verdicts
from reuseprior.revolver import split_floor
from reuseprior.training.convergence import SEARCH_MIN_COUNTING_SHARE, plateaued

__all__ = [
    "FLOOR_COMMAND",
    "decidability",
    "judged_differences",
    "read_floors",
    "run_criteria_table",
    "store_floors",
]

#: the command that stores the floors of the study's seeds
FLOOR_COMMAND = "python -m reuseprior study ch8 floor"


def read_floors(spec: ScreeningStudy, path: Path = split_floor.STORED_FLOOR) -> pd.DataFrame:
    """The stored floors of ``spec``'s images (:mod:`reuseprior.revolver.split_floor`), one row per
    seed; ``LookupError`` naming :data:`FLOOR_COMMAND` when none is stored."""
    return split_floor.read_floors(spec.dataset, spec.image_size, FLOOR_COMMAND, path)


def store_floors(
    spec: ScreeningStudy,
    seeds: Sequence[int] | None = None,
    path: Path = split_floor.STORED_FLOOR,
    *,
    data_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Store the floor of every seed of ``seeds`` (default: the study's) not stored yet
    (:func:`reuseprior.revolver.split_floor.store_floors`); the stored floors."""
    seeds = spec.seeds if seeds is None else seeds
    return split_floor.store_floors(spec.dataset, spec.image_size, seeds, path, data_dir=data_dir, progress=progress)


def run_criteria_table(runs: pd.DataFrame, generations: pd.DataFrame, floors: pd.DataFrame) -> pd.DataFrame:
    """Per stored run (arm, seed): the criteria of the module docstring against its seed's floor and the
    values they read (percent), and whether the run ``counts``. ``LookupError`` naming
    :data:`FLOOR_COMMAND` for a seed whose floor is not stored."""
    by_seed = floors.set_index("seed")
    missing = sorted(set(runs["seed"].astype(int)) - set(by_seed.index.astype(int)))
    if missing:
        raise LookupError(f"no linear floor of seeds {missing}: run `{FLOOR_COMMAND}`")
    logs = {key: log for key, log in generations.groupby(["arm", "seed"], sort=False)}
    rows = []
    for run in runs.itertuples():
        floor = by_seed.loc[int(run.seed)]
        log = logs.get((run.arm, run.seed), pd.DataFrame({"generation": [], "best_val_acc": []}))
        val = (100 * log.sort_values("generation")["best_val_acc"]).tolist()
        train = 100 * float(getattr(run, "top_train_acc_final", math.nan))
        test = 100 * float(run.top_test_acc_final)
        criteria = {
            "plateaued": plateaued(val),
            "fits training set": bool(train >= floor["train_top1"]),
            "above floor": bool(test > floor["test_top1"]),
        }
        rows.append(
            {"arm": run.arm, "seed": int(run.seed), "final top test top-1": test,
             "floor test top-1": floor["test_top1"], "final top train top-1": train,
             "floor train top-1": floor["train_top1"], **criteria, "counts": all(criteria.values())}
        )  # fmt: skip
    return pd.DataFrame(rows).sort_values(["seed", "arm"], kind="stable").reset_index(drop=True)


def decidability(criteria: pd.DataFrame, pairs: Sequence[int], arms: Sequence[str]) -> str:
    """Why the study cannot give a verdict ("" when it can), from the per-run ``criteria``
    (:func:`run_criteria_table`) of the paired seeds ``pairs``: fewer pairs than
    :func:`~reuseprior.reporting.statistics.fewest_decisive_pairs`, or an arm of ``arms`` with
    no more than :data:`~reuseprior.training.convergence.SEARCH_MIN_COUNTING_SHARE` of its runs
    counting (module docstring)."""
    paired = criteria[criteria["seed"].isin(list(pairs))]
    needed = fewest_decisive_pairs()
    reasons = [] if len(pairs) >= needed else [f"{len(pairs)} paired seeds stored (a verdict needs {needed})"]
    for arm in arms:
        mine = paired[paired["arm"] == arm]
        counting = int(mine["counts"].sum())
        if len(mine) and counting > SEARCH_MIN_COUNTING_SHARE * len(mine):
            continue
        below = int((~mine["above floor"]).sum())
        unread = int(mine["final top train top-1"].isna().sum())
        underfit = int((~mine["fits training set"]).sum()) - unread
        flat = int((~mine["plateaued"]).sum())
        reasons.append(
            f"{arm}: {counting} of {len(mine)} runs count (more than half must); {below} end below the linear "
            f"floor, {underfit} fit their training images worse than it, {unread} have no training-set reading "
            f"(stored before the study recorded one), {flat} have not plateaued"
        )
    return "; ".join(reasons)


def judged_differences(
    spec: ScreeningStudy, runs: pd.DataFrame, generations: pd.DataFrame, floors: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The paired differences of :func:`~reuseprior.chapters.ch8_screening_study.paired_differences`
    over every paired seed, with their verdicts gated by :func:`decidability`
    (:func:`~reuseprior.reporting.statistics.gated_verdicts`), and the per-run criteria behind them."""
    criteria = run_criteria_table(runs, generations, floors)
    arms = criteria.groupby("seed")["arm"].agg(set)
    pairs = sorted(int(s) for s, have in arms.items() if set(spec.arms) <= have)
    matched = matched_spend(generations[generations["seed"].isin(pairs)], spend_levels(spec))
    return gated_verdicts(paired_differences(matched), decidability(criteria, pairs, spec.arms)), criteria
