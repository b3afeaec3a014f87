"""The smallest Revolver population that runs generations, shared by the tests of its checkpoints,
resumes and interruptions."""

from __future__ import annotations

from typing import Any

from reuseprior.datasets import load_digits_splits
from reuseprior.revolver.population import Population, PopulationConfig
from reuseprior.revolver.search import SearchSpace


def tiny_population(epochs: int = 1, seed: int = 1, **settings: Any) -> Population:
    """Two networks of one width-4 group each, one trained per generation, on the 8x8 digits;
    ``settings`` are further :class:`PopulationConfig` fields."""
    config = PopulationConfig(
        population_size=2,
        sample_size=1,
        epochs=epochs,
        warmup_x=1,
        seed=seed,
        space=SearchSpace(base_widths=(4,), growths=(4,), num_groups=(2,), depths=(1,)),
        **settings,
    )
    return Population(config, load_digits_splits(seed=0))
