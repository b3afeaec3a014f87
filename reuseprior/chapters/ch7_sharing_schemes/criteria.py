"""When chapter 7's trained study can decide: its linear floor, the per-run convergence and fit criteria
(:mod:`reuseprior.training.convergence`), the seeds every configuration has, and the verdicts they allow.

Policy: the design is paired (a seed fixes the data order and initialisation of every
configuration), so a seed stands or falls whole (:func:`counting_seeds`); a ranking verdict
(reproduced / contradicted / undetermined, by :func:`reuseprior.core.verdict_policy.verdict`) is given
only from the paired seeds whose runs all count (plateaued, fit their training images at least as well
as the linear floor, test accuracy above it), at least
:func:`~reuseprior.reporting.statistics.fewest_decisive_pairs` of them
(:func:`reuseprior.reporting.verdicts.decidability`). Otherwise the verdict is *not comparable*, with
the reason (:func:`reuseprior.reporting.verdicts.gated_verdicts`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from reuseprior.chapters import study_command
from reuseprior.chapters.ch7_sharing_schemes.configs import SharingDesign
from reuseprior.chapters.ch7_sharing_schemes.models import load_study_data
from reuseprior.core import paths
from reuseprior.core.study import FloorStore, StudySpec
from reuseprior.core.verdict_policy import seeds_that_count
from reuseprior.reporting.verdicts import paired_seeds
from reuseprior.training.convergence import (
    LINEAR_FLOOR_KINDS,
    linear_floor,
    read_history,
    run_criteria,
)

#: the linear floor of each stored study's images (:func:`floor_row`), tracked
STORED_FLOOR: Path = paths.DATA_DIR / "ch7_linear_floor.csv"
#: the command that stores the floors of the profile's studies
FLOOR_COMMAND = study_command("ch7", "floor")


def floor_row(
    key: Mapping[str, Any],  # noqa: ARG001 - a FloorStore's compute; the study has one floor, of its plan
    spec: StudySpec,
    *,
    data_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """The study's linear floor (:func:`reuseprior.training.convergence.linear_floor`): a logistic
    regression on the study's training images (the same fixed subset for every run seed), scored on
    its test images; with the study's name and plan id."""
    splits = load_study_data(spec.design, data_dir=data_dir)
    return {"study": spec.name, "plan_id": spec.plan, **linear_floor(splits.train, splits.test)}


#: the floors of chapter 7's studies, one row per study and plan
FLOORS = FloorStore(STORED_FLOOR, ("study", "plan_id"), FLOOR_COMMAND, floor_row, LINEAR_FLOOR_KINDS)


def study_floor(spec: StudySpec, *, data_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """The floor of ``spec`` computed now (:func:`floor_row`), to set beside the stored one."""
    return floor_row({}, spec, data_dir=data_dir)


def read_floor(spec: StudySpec) -> dict[str, Any]:
    """The stored floor of ``spec``'s plan; ``LookupError`` naming the command when it is missing."""
    return spec.floor_rows().iloc[0].to_dict()


#: how far a refitted floor may move (points): its fit is float64 and deterministic, so only rounding
FLOOR_TOLERANCE_PP = 0.01


def floor_check(stored: dict[str, Any], live: dict[str, Any]) -> pd.DataFrame:
    """The stored floor beside one refitted now: training and test top-1, the difference and whether
    it is within :data:`FLOOR_TOLERANCE_PP`."""
    rows = [
        {"quantity": q, "stored": stored[q], "live": live[q], "difference (pp)": live[q] - stored[q]}
        for q in ("train_top1", "test_top1")
    ]
    out = pd.DataFrame(rows)
    out["within tolerance"] = out["difference (pp)"].abs() <= FLOOR_TOLERANCE_PP
    return out


def complete_seeds(rows: pd.DataFrame, design: SharingDesign) -> tuple[pd.DataFrame, list[int], list[int]]:
    """The rows of the seeds every configuration of ``design`` has (paired seeds), those seeds, and the
    seeds that are stored only in part (a study still running)."""
    full, partial = paired_seeds(rows, (c.label for c in design.configs), arm="config")
    return rows[rows["seed"].isin(full)].reset_index(drop=True), full, partial


def run_criteria_table(rows: pd.DataFrame, floor: dict[str, Any]) -> pd.DataFrame:
    """Per stored run: the criteria of :func:`reuseprior.training.convergence.run_criteria` against
    ``floor`` (plateaued, fits its training set, above the floor, counts) and the values they read."""
    out = []
    for _, row in rows.iterrows():
        c = run_criteria(read_history(row["epoch_history"]), float(row["test_top1"]), floor)
        out.append(
            {
                "config": row["config"],
                "seed": int(row["seed"]),
                "test_top1": row["test_top1"],
                "train top-1 last epoch": c.train_top1,
                "val gain last 3 epochs (pp)": c.val_gain_last_window_pp,
                "plateaued": c.plateaued,
                "fits training set": c.fits_training_set,
                "above floor": c.above_floor,
                "counts": c.counts,
            }
        )
    return pd.DataFrame(out)


def stored_criteria(spec: StudySpec) -> pd.DataFrame:
    """:func:`run_criteria_table` of ``spec``'s stored rows against its stored floor (what ``status`` shows)."""
    return run_criteria_table(spec.rows(), read_floor(spec))


def criteria_summary(criteria: pd.DataFrame, floor: dict[str, Any]) -> pd.DataFrame:
    """Per configuration: runs, runs that plateaued / fit / beat the floor / count, mean test top-1 and
    its margin over the floor's test top-1 (points), in the rows' order."""
    grouped = criteria.groupby("config", sort=False)
    out = grouped.agg(
        runs=("seed", "size"),
        plateaued=("plateaued", "sum"),
        fit=("fits training set", "sum"),
        above_floor=("above floor", "sum"),
        counting=("counts", "sum"),
        test_top1_mean=("test_top1", "mean"),
    ).reset_index()
    out["floor test top-1"] = floor["test_top1"]
    out["margin over floor (pp)"] = out["test_top1_mean"] - floor["test_top1"]
    return out


def counting_seeds(criteria: pd.DataFrame, seeds: list[int]) -> tuple[list[int], pd.DataFrame]:
    """The paired ``seeds`` whose runs all count (:func:`run_criteria_table`), and the runs that do not
    count, by seed and configuration: :func:`reuseprior.core.verdict_policy.seeds_that_count` (a seed
    stands or falls whole, every configuration of a seed sharing its data order and initialisation)."""
    kept, failing = seeds_that_count(criteria, seeds)
    return kept, failing.sort_values(["seed", "config"], kind="stable").reset_index(drop=True)


def verdicts_beside(counting: pd.DataFrame, every_seed: pd.DataFrame) -> pd.DataFrame:
    """Per score and statistic, the verdict on the seeds whose runs all count (``counting``, after
    :func:`with_decidability`) beside the rule's verdict on every paired seed (``every_seed``, the same
    table computed with the left-out seeds kept): how much the seeds left out move the answer. Where the
    tables carry them, also each estimate on both sets of seeds (the mean of the per-seed statistic, the
    one the verdict judges) and, beside, the statistic of the seed-averaged accuracies (another
    estimand, without an interval), with how far adding the left-out seeds moves each."""
    statistics = [c[: -len(" verdict")] for c in counting.columns if c.endswith(" verdict") and "rule" not in c]
    rows = []
    for _, row in counting.iterrows():
        other = every_seed[every_seed["score"] == row["score"]].iloc[0]
        for stat in statistics:
            entry = {
                "score": row["score"],
                "statistic": stat,
                "verdict (seeds whose runs count)": row[f"{stat} verdict"],
                "rule verdict (every paired seed)": other[f"{stat} verdict"],
            }
            for key, label in ((stat, "per-seed mean"), (f"{stat} of mean accuracy", "of mean accuracy")):
                if key in row and key in other:
                    entry[f"{label} (seeds whose runs count)"] = row[key]
                    entry[f"{label} (every paired seed)"] = other[key]
                    entry[f"{label}: change"] = other[key] - row[key]
            rows.append(entry)
    out = pd.DataFrame(rows)
    out["same"] = out["verdict (seeds whose runs count)"] == out["rule verdict (every paired seed)"]
    return out
