"""The linear floor of a population study's images: a logistic regression on the training split a
seed gives, the row every Revolver search on those images must beat.

A population run trains on :func:`reuseprior.datasets.load_standard_splits` of its dataset, split by
its seed (the seed draws the validation share), at the study's resolution. The floor of those images
(:func:`reuseprior.training.convergence.linear_floor`: the same images, float64, solved to a tight
tolerance, so every machine gets the same digits) depends on the dataset, the image size and the seed,
not on a study's plan: it is stored once per (dataset, image size, seed) in :data:`STORED_FLOOR` and
shared by every study on those images (:func:`population_floors`).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Mapping

from reuseprior.core import paths
from reuseprior.core.study import FloorStore, StudySpec
from reuseprior.datasets import load_standard_splits
from reuseprior.training.convergence import LINEAR_FLOOR_KINDS, linear_floor

__all__ = [
    "FLOOR_KEY",
    "FLOOR_KINDS",
    "STORED_FLOOR",
    "floor_keys",
    "population_floor",
    "population_floors",
    "split_floor",
]

#: the floors of every population study's images, tracked
STORED_FLOOR: Path = paths.DATA_DIR / "population_linear_floor.csv"
#: what names a floor
FLOOR_KEY = ("dataset", "image_size", "seed")
#: the kinds of a stored floor's values
FLOOR_KINDS = replace(LINEAR_FLOOR_KINDS, numeric=("image_size", "seed", *LINEAR_FLOOR_KINDS.numeric))


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


def population_floor(
    key: Mapping[str, Any],
    spec: StudySpec,  # noqa: ARG001 - a FloorStore's compute; the floor is the images', not the study's
    *,
    data_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """The floor of one key of :data:`FLOOR_KEY` (a :class:`~reuseprior.core.study.FloorStore`'s
    ``compute``)."""
    return split_floor(key["dataset"], key["image_size"], key["seed"], data_dir=data_dir)


def population_floors(command: str, path: Path = STORED_FLOOR) -> FloorStore:
    """The floors of population studies' images in ``path``; ``command`` stores the missing ones."""
    return FloorStore(Path(path), FLOOR_KEY, command, population_floor, FLOOR_KINDS)


def floor_keys(datasets: Iterable[str], image_size: int, seeds: Iterable[int]) -> tuple[dict[str, Any], ...]:
    """The floor keys of every dataset and seed at ``image_size`` px, dataset-major."""
    return tuple({"dataset": d, "image_size": int(image_size), "seed": int(s)} for d in datasets for s in seeds)
