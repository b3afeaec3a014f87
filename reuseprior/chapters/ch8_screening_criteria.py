"""When chapter 8's screening study can decide: the linear floor of each seed's images, the criteria a
run must meet to count, and the verdicts gated by them (issue 36).

A search run counts in the comparison when the model it ends with has learnt the task at least as well
as a linear classifier of the same images (:mod:`reuseprior.training.convergence`, adapted to a search):

- **Above the floor**: the final top individual's test top-1 exceeds the test top-1 of a logistic
  regression fitted to the seed's training images (:func:`seed_floor`; the seed fixes the validation
  split, so the training images, and the floor, are the seed's own).
- **Fit**: the final top individual's top-1 on every training image (``top_train_acc_final``, stored
  by the run) is at least the logistic regression's training top-1. A run stored before that column
  existed has no such reading and does not count.
- **Plateau**: the search's best validation top-1 so far (``best_val_acc`` of the generation log, 512
  images a session) gained less than
  :data:`~reuseprior.training.convergence.PLATEAU_TOLERANCE_PP` points from the mean of its previous
  :data:`~reuseprior.training.convergence.PLATEAU_WINDOW` generations to the mean of its last ones
  (:func:`~reuseprior.training.convergence.plateaued`).

The design is paired, so a seed stands or falls whole
(:func:`~reuseprior.training.convergence.seeds_that_count`), and a verdict needs at least
:func:`~reuseprior.chapters.ch8_screening_study.fewest_decisive_pairs` counting seeds (the fewest
whose exact permutation p can fall below 0.05); otherwise every verdict reads *not comparable*
(:func:`~reuseprior.reporting.statistics.gated_verdicts`) with the reason, the rule's own verdict kept
beside it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from reuseprior.chapters.ch8_screening_study import (
    ScreeningStudy,
    fewest_decisive_pairs,
    matched_spend,
    paired_differences,
    spend_levels,
)
from reuseprior.core import paths
from reuseprior.core.progress import progress_bar
from reuseprior.datasets import load_standard_splits
from reuseprior.reporting.statistics import gated_verdicts
from reuseprior.training.convergence import (
    linear_floor,
    plateaued,
    read_floor_rows,
    seeds_that_count,
    store_floor_row,
)

__all__ = [
    "FLOOR_COMMAND",
    "STORED_FLOOR",
    "decidability",
    "judged_differences",
    "read_floors",
    "run_criteria_table",
    "seed_floor",
    "store_floors",
]

#: the linear floor of each seed's images (:func:`seed_floor`), tracked
STORED_FLOOR: Path = paths.DATA_DIR / "ch8_linear_floor.csv"
#: the command that stores them
FLOOR_COMMAND = "python -m reuseprior study ch8 floor"
#: what names a floor: the images depend on the dataset, the resolution and the seed's split, not on the plan
_FLOOR_KEY = ("dataset", "image_size", "seed")


def seed_floor(spec: ScreeningStudy, seed: int, *, data_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """The linear floor (:func:`reuseprior.training.convergence.linear_floor`) of the images a run of
    ``spec`` with ``seed`` trains on (the seed's training split, at the study's resolution), scored on
    the test images; keyed by dataset, image size and seed."""
    splits = load_standard_splits(spec.dataset, data_dir, seed=seed, image_size=spec.image_size)
    key = {"dataset": spec.dataset, "image_size": spec.image_size, "seed": int(seed)}
    return {**key, **linear_floor(splits.train, splits.test)}


def read_floors(spec: ScreeningStudy, path: Path = STORED_FLOOR) -> pd.DataFrame:
    """The stored floors of ``spec``'s images, one row per seed; ``LookupError`` naming
    :data:`FLOOR_COMMAND` when none is stored."""
    match = {"dataset": spec.dataset, "image_size": spec.image_size}
    return read_floor_rows(path, match, FLOOR_COMMAND).sort_values("seed", kind="stable").reset_index(drop=True)


def store_floors(
    spec: ScreeningStudy,
    seeds: Sequence[int] | None = None,
    path: Path = STORED_FLOOR,
    *,
    data_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Compute and store the floor of every seed of ``seeds`` (default: the study's) that ``path`` does
    not hold yet, one row at a time (an interrupted call keeps the rows it finished); the stored floors."""
    try:
        stored = set(read_floors(spec, path)["seed"].astype(int))
    except LookupError:
        stored = set()
    missing = [int(s) for s in (spec.seeds if seeds is None else seeds) if int(s) not in stored]
    for seed in progress_bar(missing, desc="linear floors", disable=not progress):
        store_floor_row(path, seed_floor(spec, seed, data_dir=data_dir), _FLOOR_KEY)
    return read_floors(spec, path)


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
        log = logs.get((run.arm, run.seed), pd.DataFrame({"best_val_acc": []}))
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


def decidability(criteria: pd.DataFrame, pairs: Sequence[int]) -> str:
    """Why the study cannot give a verdict ("" when it can): fewer than
    :func:`~reuseprior.chapters.ch8_screening_study.fewest_decisive_pairs` of the paired seeds ``pairs``
    with both runs counting (:func:`run_criteria_table`)."""
    kept, failing = seeds_that_count(criteria, pairs)
    needed = fewest_decisive_pairs()
    if len(kept) >= needed:
        return ""
    reason = f"{len(kept)} of {len(pairs)} paired seeds have both runs counting (a verdict needs {needed})"
    if not failing.empty:
        below = int((~failing["above floor"]).sum())
        unread = int(failing["final top train top-1"].isna().sum())
        underfit = int((~failing["fits training set"]).sum()) - unread
        flat = int((~failing["plateaued"]).sum())
        reason += (f"; of the {len(failing)} runs that do not count, {below} end below the linear floor, "
                   f"{underfit} fit their training images worse than it, {unread} have no training-set reading "
                   f"(stored before the study recorded one), {flat} have not plateaued")  # fmt: skip
    return reason


def judged_differences(
    spec: ScreeningStudy, runs: pd.DataFrame, generations: pd.DataFrame, floors: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The paired differences of :func:`~reuseprior.chapters.ch8_screening_study.paired_differences`
    over the seeds whose runs all count, with their verdicts gated by :func:`decidability`
    (:func:`~reuseprior.reporting.statistics.gated_verdicts`), and the per-run criteria behind them.
    With no counting seed the differences of every paired seed are shown instead, under the gate; the
    ``seeds`` column says which."""
    criteria = run_criteria_table(runs, generations, floors)
    arms = criteria.groupby("seed")["arm"].agg(set)
    pairs = sorted(int(s) for s, have in arms.items() if set(spec.arms) <= have)
    kept, _ = seeds_that_count(criteria, pairs)
    # no counting seed: the statistics of every paired seed are still shown, under a not-comparable verdict
    used, label = (kept, "seeds whose runs count") if kept else (pairs, "every paired seed (none counts)")
    matched = matched_spend(generations[generations["seed"].isin(used)], spend_levels(spec))
    differences = paired_differences(matched).assign(seeds=label)
    return gated_verdicts(differences, decidability(criteria, pairs)), criteria
