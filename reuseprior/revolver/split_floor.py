"""The linear floor of a population study's images: a logistic regression on the training split a
seed gives, the row every Revolver search on those images must beat (chapters 3 and 8).

A population run trains on :func:`reuseprior.datasets.load_standard_splits` of its dataset, split by
its seed (the seed draws the validation share), at the study's resolution. The floor of those images
(:func:`reuseprior.training.convergence.linear_floor`: the same images, float64, solved to a tight
tolerance, so every machine gets the same digits) depends on the dataset, the image size and the seed,
not on a study's plan: it is stored once per (dataset, image size, seed) in :data:`STORED_FLOOR` and
shared by every study on those images.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from reuseprior.core import paths
from reuseprior.core.progress import progress_bar
from reuseprior.datasets import load_standard_splits
from reuseprior.training.convergence import linear_floor, read_floor_rows, store_floor_row

__all__ = ["FLOOR_KEY", "STORED_FLOOR", "read_floors", "split_floor", "store_floors"]

#: the floors of every population study's images, tracked
STORED_FLOOR: Path = paths.DATA_DIR / "population_linear_floor.csv"
#: what names a floor
FLOOR_KEY = ("dataset", "image_size", "seed")


def split_floor(
    dataset: str, image_size: int, seed: int, *, data_dir: str | os.PathLike | None = None
) -> dict[str, Any]:
    """The linear floor of the training images ``seed`` splits off ``dataset`` at ``image_size`` px,
    scored on the test images; keyed by :data:`FLOOR_KEY`."""
    splits = load_standard_splits(dataset, data_dir, seed=seed, image_size=image_size)
    return {
        "dataset": dataset,
        "image_size": int(image_size),
        "seed": int(seed),
        **linear_floor(splits.train, splits.test),
    }


def read_floors(dataset: str, image_size: int, command: str, path: Path = STORED_FLOOR) -> pd.DataFrame:
    """The stored floors of ``dataset`` at ``image_size`` px, one row per seed (ascending);
    ``LookupError`` naming ``command`` (the one that stores them) when there is none."""
    match = {"dataset": dataset, "image_size": int(image_size)}
    return read_floor_rows(path, match, command).sort_values("seed", kind="stable").reset_index(drop=True)


def store_floors(
    dataset: str,
    image_size: int,
    seeds: Sequence[int],
    path: Path = STORED_FLOOR,
    *,
    data_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Compute and store the floor of every seed of ``seeds`` that ``path`` does not hold yet, one row
    at a time (an interrupted call keeps the rows it finished); the stored floors of the dataset."""
    try:
        stored = set(read_floors(dataset, image_size, "store_floors", path)["seed"].astype(int))
    except LookupError:  # nothing stored yet for these images
        stored = set()
    missing = [int(s) for s in seeds if int(s) not in stored]
    for seed in progress_bar(missing, desc=f"linear floors, {dataset} {image_size}px", disable=not progress):
        store_floor_row(path, split_floor(dataset, image_size, seed, data_dir=data_dir), FLOOR_KEY)
    return read_floors(dataset, image_size, "store_floors", path)
