"""The scores versions and the registry of zoos (:data:`ZOOS`, read by :func:`list_zoos` / :func:`get_zoo`).

Policy: a zoo is declared once, in its own module of :mod:`reuseprior.zoo.scoring.zoos`
(``register_zoo(Zoo(...))`` beside the functions only it uses); the registry imports that package
before its first listing or lookup (:class:`reuseprior.core.registry.Registry`), so the command
``score-zoos``, its ``--list``, the chapters and the tests read every declared zoo and a new zoo
touches none of them. How a zoo was scored at an older version of the scores, where it differs, is its
own declaration's (:attr:`Zoo.earlier`).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Callable

import pandas as pd
import torch
from torch import nn

from reuseprior.baselines.proxies import ProxyBatch, make_batch
from reuseprior.baselines.registry import proxy_names
from reuseprior.core.registry import Registry

#: The version of the scores that scoring writes now (see "Versions" in the module docstring).
SCORES_VERSION = 2
#: The version from which the definition of the reusability quantities (:data:`REUSE_SCORES`) holds.
REUSE_SINCE_VERSION = 1
#: The first version whose tables have the ``pending`` column.
PENDING_SINCE_VERSION = 2
#: How ``pending`` names the reusability quantities (all computed by one ``analyze`` call).
REUSE_COLUMN = "reuse"


def scoring_command(zoo_name: str, *flags: str) -> str:
    """How a user scores ``zoo_name`` from the command line (with ``flags``), as the store's messages
    name the remedy."""
    return " ".join(["python -m reuseprior score-zoos", zoo_name, *flags])


#: Chapter-4 quantities from :func:`reuseprior.counting.analyze` stored per architecture.
REUSE_QUANTITIES = ("PG", "PG_prime", "expected_spread", "entropy", "total_surprisal")
#: Stored reusability-prior columns (quantities, their per-parameter efficiencies, PE/CE).
REUSE_SCORES = (*REUSE_QUANTITIES, *(f"{q}_per_param" for q in REUSE_QUANTITIES), "PE", "CE")
#: The stored column whose value marks a row where the loss-gradient proxies were computed (their shared pass
#: ran and fitted in memory): the first first-order loss-gradient proxy of the registry, SNIP. A second-order
#: proxy (GraSP) is no marker: its double backward can run out of memory where the first-order ones fit.
GRADIENT_PASS_MARKER = proxy_names(data_dependent=True, needs_labels=True, second_order=False)[0]


def init_seed(seed: int, arch: str) -> int:
    """Seed of the random initialisation of ``arch`` (stable across runs and machines)."""
    return (seed * 1_000_003 + zlib.crc32(arch.encode())) % 2**31


@dataclass(frozen=True)
class Zoo:
    """A zoo as one version of the scores scores it (:func:`get_zoo`): its name (how the command
    and the stored tables name it), a one-line description (what it holds and which published
    accuracy), its catalogue (``arch``, ``accuracy`` and what the builder and the image size read),
    the seeded builder, the minibatch size, the input size (one for every model, or read from the
    catalogue row), the number of classes and the scoring order (a function of the catalogue and
    the seed alone, never of a score). ``earlier`` says how older versions scored it, where they differ:
    version -> the fields of that version (:func:`get_zoo` applies them, newest first)."""

    name: str
    description: str
    catalogue: Callable[[], pd.DataFrame]  # columns: arch, accuracy, ...
    build: Callable[[str], nn.Module]
    batch_size: int
    image_size: Callable[[pd.Series], int] | int
    num_classes: int
    order: Callable[[pd.DataFrame, int], list[str]]  # (catalogue, seed) -> scoring order
    #: its CSV is stored xz-compressed (``.csv.xz``): a catalogue of thousands of architectures
    compressed_csv: bool = False
    #: version -> the fields in which that older version of the scores scored it otherwise (none: as now)
    earlier: Mapping[int, Mapping[str, object]] = field(default_factory=dict, hash=False)

    def batch(self, image_size: int, seed: int) -> ProxyBatch:
        return make_batch(self.batch_size, image_size, self.num_classes, source="sample_images", seed=seed)

    def fixed_batch(self, seed: int) -> ProxyBatch | None:
        """The one minibatch of every architecture when the zoo has a single
        image size (built once per run), else ``None`` (one per image size)."""
        return self.batch(self.image_size, seed) if isinstance(self.image_size, int) else None

    def build_seeded(self, arch: str, seed: int) -> nn.Module:
        """``arch`` with the initialisation every stored score of it used
        (``torch.manual_seed(init_seed(seed, arch))``, then build)."""
        torch.manual_seed(init_seed(seed, arch))
        return self.build(arch)

    def size_of(self, row: pd.Series) -> int:
        return self.image_size if isinstance(self.image_size, int) else int(self.image_size(row))


#: The zoos as :data:`SCORES_VERSION` scores them (:func:`get_zoo` gives them at an older version), each
#: registered by its module of :mod:`reuseprior.zoo.scoring.zoos`.
ZOOS: Registry[Zoo] = Registry(
    "zoo",
    "python -m reuseprior score-zoos --list",
    ("reuseprior.zoo.scoring.zoos",),
    name_form=(
        r"[a-z][a-z0-9_]*",
        "lower-case letters, digits and '_', starting with a letter (it names the zoo's SQLite tables and CSV files)",
    ),
)


def register_zoo(zoo: Zoo) -> Zoo:
    """Declare ``zoo`` under its name (``NB201 = register_zoo(Zoo("nb201", ...))``) and return it."""
    return ZOOS.register(zoo.name, zoo)


def list_zoos(pattern: str | None = None) -> list[str]:
    """The names of the declared zoos, sorted; only those matching the shell wildcard ``pattern`` if given."""
    return ZOOS.names(pattern)


def get_zoo(name: str, version: int = SCORES_VERSION) -> Zoo:
    """The zoo ``name`` as version ``version`` of the scores scored it
    (:data:`ZOOS` with the differences of its :attr:`Zoo.earlier` applied, newest first). An unknown name
    is refused (:class:`~reuseprior.core.errors.UnknownEntryError`) with the closest declared names."""
    zoo = ZOOS.get(name)
    if not 1 <= version <= SCORES_VERSION:
        raise ValueError(f"no version {version} of the scores; versions 1 to {SCORES_VERSION}")
    earlier = zoo.earlier
    for older in range(SCORES_VERSION - 1, version - 1, -1):
        changes = earlier.get(older)
        if changes:
            zoo = replace(zoo, **changes)
    return zoo
