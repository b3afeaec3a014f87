"""NAS-Bench-201's cells (own implementation), scored in a seeded random order."""

from __future__ import annotations

import pandas as pd

from reuseprior.zoo.nasbench201 import build_nb201, load_analog_nasbench, sample_archs
from reuseprior.zoo.scoring.registry import Zoo, register_zoo


def seeded_order(cat: pd.DataFrame, seed: int) -> list[str]:
    """NAS-Bench-201's scoring order: a random permutation of the cells, seeded by ``seed``."""
    return sample_archs(len(cat), seed=seed, df=cat)


NB201 = register_zoo(
    Zoo(
        "nb201",
        "NAS-Bench-201 cells (own implementation), "
        "CIFAR-10 test accuracy from analog-nasbench 0.1.3 (baseline_accuracy)",
        load_analog_nasbench,
        build_nb201,
        batch_size=64,
        image_size=32,
        num_classes=10,
        order=seeded_order,
        compressed_csv=True,
    )
)
