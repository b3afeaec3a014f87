"""What the ImageNet-1K zoos share: their scoring order by published parameter count, and an input size
read from the catalogue's ``img_size``."""

from __future__ import annotations

import pandas as pd


def by_params(cat: pd.DataFrame, seed: int) -> list[str]:  # noqa: ARG001 - the signature every proxy / hook / builder of its kind takes
    """The scoring order of an ImageNet-1K zoo: by published parameter count, then name (the seed is unused:
    the order depends on the catalogue alone)."""
    return cat.sort_values(["published_params", "arch"])["arch"].tolist()


def img_size(row: pd.Series) -> int:
    """A model's input size: its catalogue row's ``img_size``."""
    return int(row["img_size"])
