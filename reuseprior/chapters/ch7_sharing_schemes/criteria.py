"""When chapter 7's trained study can decide: its linear floor, the per-run convergence and fit criteria
(:mod:`reuseprior.training.convergence`), the seeds every configuration has, and the verdicts they allow.

Policy: a ranking verdict (reproduced / contradicted / undetermined, by
:func:`reuseprior.reporting.statistics.verdict`) is given only when every configuration's runs count
(plateaued, fit their training images at least as well as the linear floor, test accuracy above it)
and the statistics use the seeds every configuration has (paired seeds). Otherwise the verdict is
*not comparable*, with the reason.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from reuseprior.chapters.ch7_sharing_schemes.configs import StudySpec
from reuseprior.chapters.ch7_sharing_schemes.models import load_study_data
from reuseprior.chapters.ch7_sharing_schemes.runs import plan_id
from reuseprior.core import paths
from reuseprior.reporting.statistics import gated_verdicts
from reuseprior.training.convergence import (
    linear_floor,
    read_floor_rows,
    read_history,
    run_criteria,
    seeds_that_count,
    store_floor_row,
)

#: the linear floor of each stored study's images (:func:`study_floor`), tracked
STORED_FLOOR: Path = paths.DATA_DIR / "ch7_linear_floor.csv"
#: the smallest number of paired seeds a ranking verdict is computed from
MIN_SEEDS_FOR_VERDICT = 5


def study_floor(spec: StudySpec, *, data_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """The study's linear floor (:func:`reuseprior.training.convergence.linear_floor`): a logistic
    regression on the study's training images (the same fixed subset for every run seed), scored on
    its test images; with the study's name and plan id."""
    splits = load_study_data(spec, data_dir=data_dir)
    return {"study": spec.name, "plan_id": plan_id(spec), **linear_floor(splits.train, splits.test)}


def store_floor(spec: StudySpec, path: Path = STORED_FLOOR, *, data_dir: str | os.PathLike | None = None) -> dict:
    """Compute :func:`study_floor` and store it in ``path`` (its row replaced, the file written atomically)."""
    return store_floor_row(path, study_floor(spec, data_dir=data_dir), ("study", "plan_id"))


def read_floor(spec: StudySpec, path: Path = STORED_FLOOR) -> dict[str, Any]:
    """The stored floor of ``spec``'s plan; ``LookupError`` naming the command when it is missing."""
    match = {"study": spec.name, "plan_id": plan_id(spec)}
    return read_floor_rows(path, match, "python -m reuseprior study ch7 floor").iloc[0].to_dict()


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


def complete_seeds(rows: pd.DataFrame, spec: StudySpec) -> tuple[pd.DataFrame, list[int], list[int]]:
    """The rows of the seeds every configuration of ``spec`` has (paired seeds), those seeds, and the
    seeds that are stored only in part (a study still running)."""
    labels = {c.label for c in spec.configs}
    per_seed = rows.groupby("seed")["config"].agg(lambda c: labels <= set(c))
    full = sorted(int(s) for s, ok in per_seed.items() if ok)
    partial = sorted(int(s) for s, ok in per_seed.items() if not ok)
    return rows[rows["seed"].isin(full)].reset_index(drop=True), full, partial


def run_criteria_table(rows: pd.DataFrame, floor: dict[str, Any]) -> pd.DataFrame:
    """Per stored run: the criteria of :func:`reuseprior.training.convergence.run_criteria` against
    ``floor`` (plateaued, fits its training set, above the floor, counts) and the values they read."""
    out = []
    for _, row in rows.iterrows():
        c = run_criteria(read_history(row["epoch_history"]), float(row["test_top1"]), floor)
        out.append(
            {"config": row["config"], "seed": int(row["seed"]), "test_top1": row["test_top1"],
             "train top-1 last epoch": c.train_top1, "val gain last 3 epochs (pp)":
             c.val_gain_last_window_pp, "plateaued": c.plateaued, "fits training set": c.fits_training_set,
             "above floor": c.above_floor, "counts": c.counts}
        )  # fmt: skip
    return pd.DataFrame(out)


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
    count, by seed and configuration: :func:`reuseprior.training.convergence.seeds_that_count` (a seed
    stands or falls whole, every configuration of a seed sharing its data order and initialisation)."""
    kept, failing = seeds_that_count(criteria, seeds)
    return kept, failing.sort_values(["seed", "config"], kind="stable").reset_index(drop=True)


def decidability(criteria: pd.DataFrame, seeds: list[int], spec: StudySpec) -> str:
    """Why the study cannot give a verdict yet ("" when it can), from the per-run ``criteria``
    (:func:`run_criteria_table`) of the paired ``seeds``: fewer than :data:`MIN_SEEDS_FOR_VERDICT`
    paired seeds whose runs all count (:func:`counting_seeds`)."""
    kept, failing = counting_seeds(criteria, seeds)
    if len(kept) >= MIN_SEEDS_FOR_VERDICT:
        return ""
    reason = (f"{len(kept)} of the study's {len(spec.seeds)} seeds stored for every configuration with every run "
              f"counting (a verdict needs {MIN_SEEDS_FOR_VERDICT} paired seeds)")  # fmt: skip
    if not failing.empty:
        reason += ("; runs that do not count (not plateaued, underfit, or below the linear floor) in "
                   + ", ".join(dict.fromkeys(failing["config"])))  # fmt: skip
    return reason


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


def with_decidability(table: pd.DataFrame, reason: str) -> pd.DataFrame:
    """``table`` (the agreement of
    :func:`~reuseprior.chapters.ch7_sharing_schemes.ranking.ranking_agreement` or the pairs of
    :func:`~reuseprior.chapters.ch7_sharing_schemes.ranking.disagreements`) with every verdict column
    replaced by *not comparable* when ``reason`` is not empty, and a ``reason`` column; the rule's own
    verdicts are kept beside them (``X verdict`` -> ``X rule verdict``, ``verdict on Y`` -> ``rule
    verdict on Y``)."""
    return gated_verdicts(table, reason)
