"""The settings of a Revolver population search (thesis chapter 3, appendix C.2), as a profile, and the
search that the stored CPU population studies share.

:func:`reuseprior.revolver.population.config_from_settings` turns such settings into a
:class:`~reuseprior.revolver.population.PopulationConfig` for one search mode and seed; named profiles
and the designs of stored population studies are :class:`RevolverProfile` values. Their base,
:class:`reuseprior.core.profiles.Profile` (typed settings read as a mapping), is core's: the search's
settings depend on no notebook set-up.
"""

from __future__ import annotations

from dataclasses import dataclass

from reuseprior.core.profiles import Profile

__all__ = ["CPU_SEARCH", "RevolverProfile"]


@dataclass(frozen=True)
class RevolverProfile(Profile):
    """Settings of a Revolver search (a named profile, or the design of a stored population study): the
    dataset, the search modes run, and the :class:`~reuseprior.revolver.population.PopulationConfig` and
    search-space values that differ from their defaults."""

    dataset: str
    image_size: int | None  # None: the dataset's native size
    modes: list[str]
    population_size: int
    sample_size: int
    #: a mode's own sample size where it differs (Table 3.2's rows use 8 or 16)
    sample_sizes: dict[str, int] | None
    epochs: int  # generations (appendix C.2 ``--epochs``)
    warmup_x: int
    warmup_epoch: int
    genotype_cost: float
    lr: float
    min_lr: float
    decay_start: int
    batch_size: int
    base_batches: int
    min_batches: int
    max_batches: int | None  # training batches of the best-scored individuals; None: one epoch (section 3.5.5.2)
    test_every: int
    search_budget: int
    mean_val_last: int
    #: the search-space preset (``SearchSpace.from_settings``): "default" (small, CPU) or "thesis"
    #: (``SearchSpace.thesis``: models up to ~3M parameters, dropout blocks); the four bounds
    #: below override the preset, None keeps its value
    space: str
    base_widths: list[int] | None
    growths: list[int] | None
    depths: list[int] | None
    num_groups: list[int] | None
    width: int  # width multiplier of the random generator (appendix C.2 ``--width``)
    data_dir: str | None  # None: paths.DATASETS_DIR ($REUSEPRIOR_DATASETS_DIR, else build/datasets)
    download: bool
    num_workers: int
    resume: bool  # continue each mode from its checkpoint (written every ``checkpoint_every`` generations)
    checkpoint_every: int
    #: "float64": the same numbers on every CPU (quick); "float32": the paper's (reuseprior.core.precision)
    precision: str


#: The search of the stored CPU population studies, and the start of the screening studies built on
#: them: a population of 16 with 4 trained per generation for 30 generations,
#: learning rate 0.35 up to generation 19 (of 0-29) then decayed to 0.00085 (appendix C.2's rates and its
#: 100-of-160 split, scaled), batch 128, 48 batches per training session and at most 96 for the
#: best-scored individuals (appendix C.2: 96, and up to one epoch: cut for CPU time, as the best
#: individuals would take most of it), the default search space at width 1 (the thesis's MNIST runs used
#: width 2 and batch 512), the top individual tested every 5 generations; "Mean Val." averages the last
#: 19 evaluations (the thesis's 200 of 1,280, scaled); float32, the thesis's precision (the stored runs
#: depend on the CPU's kernels). A study replaces ``dataset``, ``image_size`` and ``modes`` by its runs'.
CPU_SEARCH = RevolverProfile(
    dataset="mnist",
    image_size=14,
    modes=["random", "evolve"],
    population_size=16,
    sample_size=4,
    sample_sizes=None,
    epochs=30,
    warmup_x=2,
    warmup_epoch=0,
    genotype_cost=32.0,
    lr=0.35,
    min_lr=0.00085,
    decay_start=19,
    batch_size=128,
    base_batches=48,
    min_batches=48,
    max_batches=96,
    test_every=5,
    search_budget=10,
    mean_val_last=19,
    space="default",
    base_widths=[8, 16],
    growths=[4, 8],
    depths=[1, 2],
    num_groups=[2, 3],
    width=1,
    data_dir=None,
    download=False,
    num_workers=0,
    resume=False,
    checkpoint_every=5,
    precision="float32",
)
