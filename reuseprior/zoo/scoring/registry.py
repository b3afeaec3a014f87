"""The scores versions and the registry of zoos."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from typing import Callable

import pandas as pd
import torch
from torch import nn

from reuseprior.baselines.proxies import ProxyBatch, make_batch
from reuseprior.baselines.registry import proxy_names
from reuseprior.zoo.nasbench201 import build_nb201, load_analog_nasbench, sample_archs
from reuseprior.zoo.pytorchcv_zoo import build_pytorchcv, load_pytorchcv_zoo
from reuseprior.zoo.timm_zoo import build_zoo_model, load_timm_zoo
from reuseprior.zoo.torchvision_zoo import build_at_eval_crop, build_torchvision, load_torchvision_zoo

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
    """A zoo as one version of the scores scores it (:func:`get_zoo`): its
    catalogue (``arch``, ``accuracy`` and what the builder and the image size
    read), the seeded builder, the minibatch size, the input size (one for
    every model, or read from the catalogue row) and the scoring order."""

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


def _nb201_order(cat: pd.DataFrame, seed: int) -> list[str]:
    return sample_archs(len(cat), seed=seed, df=cat)


def _by_params(cat: pd.DataFrame, seed: int) -> list[str]:  # noqa: ARG001 - the signature every proxy / hook / builder of its kind takes
    return cat.sort_values(["published_params", "arch"])["arch"].tolist()


def _eval_crop(row: pd.Series) -> int:
    """A torchvision model's input size from version 2 on: its recipe's evaluation crop."""
    return int(row["eval_crop"])


def _img_size(row: pd.Series) -> int:
    """A pytorchcv model's input size: its ``img_size``."""
    return int(row["img_size"])


def _headline_then_params(cat: pd.DataFrame, seed: int) -> list[str]:  # noqa: ARG001 - the signature every proxy / hook / builder of its kind takes
    """timm's scoring order: the ImageNet-1K-only architectures (the headline subset) first, then the
    others, each by published parameter count (then name). The order depends on the catalogue alone,
    never on an accuracy or a score, so a partly scored zoo is a size-ordered prefix of each subset:
    its correlations are those of the smaller models, and are reported with their count."""
    return cat.sort_values(["in1k_only", "published_params", "arch"], ascending=[False, True, True])["arch"].tolist()


def _timm_build(arch: str) -> nn.Module:
    """A timm zoo model: its chosen weights' configuration at its image size, without weights."""
    return build_zoo_model(arch)


#: The zoos as :data:`SCORES_VERSION` scores them (:func:`get_zoo` gives them at an older version).
ZOOS: dict[str, Zoo] = {
    "nb201": Zoo(
        "nb201",
        "NAS-Bench-201 cells (own implementation), "
        "CIFAR-10 test accuracy from analog-nasbench 0.1.3 (baseline_accuracy)",
        load_analog_nasbench,
        build_nb201,
        batch_size=64,
        image_size=32,
        num_classes=10,
        order=_nb201_order,
        compressed_csv=True,
    ),
    "torchvision": Zoo(
        "torchvision",
        "torchvision ImageNet-1K classifiers, published acc@1 of one recipe per architecture (IMAGENET1K_V1 rule), "
        "each scored at that recipe's evaluation crop",
        load_torchvision_zoo,
        build_at_eval_crop,
        batch_size=16,
        image_size=_eval_crop,
        num_classes=1000,
        order=_by_params,
    ),
    "pytorchcv": Zoo(
        "pytorchcv",
        "pytorchcv ImageNet-1K models, 100 - published top-1 error (package README / metainfo)",
        load_pytorchcv_zoo,
        build_pytorchcv,
        batch_size=16,
        image_size=_img_size,
        num_classes=1000,
        order=_by_params,
    ),
    "timm": Zoo(
        "timm",
        "timm ImageNet-1K classifiers, published top-1 of one result row per architecture (ImageNet-1K-only "
        "weights first, timm's first-listed tag, its native evaluation size: reuseprior.zoo.timm_zoo), "
        "each scored at that size",
        load_timm_zoo,
        _timm_build,
        batch_size=16,
        image_size=_img_size,
        num_classes=1000,
        order=_headline_then_params,
    ),
}


#: How a zoo was scored at an older version, where it differs from the next version: version -> zoo -> the
#: :class:`Zoo` fields of that version. Version 1 scored every torchvision model at 224 px (built at the
#: builder's default size).
EARLIER_ZOOS: dict[int, dict[str, dict[str, object]]] = {
    1: {
        "torchvision": {
            "description": "torchvision ImageNet-1K classifiers, published acc@1 of one recipe per architecture "
            "(IMAGENET1K_V1 rule)",
            "build": build_torchvision,
            "image_size": 224,
        }
    },
}


def get_zoo(name: str, version: int = SCORES_VERSION) -> Zoo:
    """The zoo ``name`` as version ``version`` of the scores scored it
    (:data:`ZOOS` with the differences of :data:`EARLIER_ZOOS` applied, newest first)."""
    if name not in ZOOS:
        raise KeyError(f"unknown zoo {name!r}; known: {sorted(ZOOS)}")
    if not 1 <= version <= SCORES_VERSION:
        raise ValueError(f"no version {version} of the scores; versions 1 to {SCORES_VERSION}")
    zoo = ZOOS[name]
    for older in range(SCORES_VERSION - 1, version - 1, -1):
        changes = EARLIER_ZOOS.get(older, {}).get(name)
        if changes:
            zoo = replace(zoo, **changes)
    return zoo
