"""Chapter 7 (beyond the thesis): the sharing schemes of the related works at matched
parameter budgets, counted by the engine, trained, and ranked by the reusability prior.

The question (none of the thesis, NPAS or Bidart asks it): at equal parameter
budget, does the reusability prior (thesis chapter 4: PG eq. 4.7, P'G eq. 4.8,
expected spread ES eq. 4.2, entropy H eq. 4.4) rank the sharing schemes the way
training does? Everything the notebook ``ch7_sharing_schemes`` shows is built here:

* :class:`SchemeConfig` -- one sharing configuration of the study: a scheme of
  :mod:`reuseprior.models.sharing` (``scope``: thesis sections 4.5.3-4.5.4;
  ``channelwise``: Bidart 2023, chapter 3, Table 3.3; ``ssn``: Plummer et al.,
  NPAS, section 3), ``scope+channelwise`` (channel-wise kernels inside scope
  sharing), the unshared model (``none``) and the **unshared narrower model at
  the same budget** (``narrow``, NPAS's "reduced baseline" of Tables 7-9 and 14),
  at a named budget;
* :func:`study_budgets` -- the matched budgets, as parameter counts of the whole
  model (every parameter, batch norm and biases included): the full model, the
  budget scope sharing lands on, the budgets channel-wise sharing lands on, the
  budget of both, and fractions of the model that only the budget-driven schemes
  (SSN, the narrower model) reach (NPAS Table 14's percentages in the paper profile);
* :func:`run_study` -- the trained study, resumable: one row per (configuration,
  seed) appended atomically to a CSV (``data/sharing_study_runs.csv`` for the
  stored study), so an interruption loses at most the running row and a rerun
  skips the finished ones. A seed gives every configuration the same split,
  data order and base-model initialisation;
* :func:`summarize`, :func:`ranking_agreement`, :func:`rank_table`,
  :func:`disagreements` -- the prior's ranking against the trained ranking
  (Spearman and Kendall with bootstrap intervals over seeds, pooled over all
  configurations and within matched budgets) and where they disagree;
* :func:`live_check` -- the cheapest stored run recomputed and compared with its
  stored row within :data:`LIVE_TOLERANCE`;
* :func:`store_bookkeeping` / :func:`read_bookkeeping` -- every scheme on the
  seeds' models (WRN-28-10, ResNet-56, EfficientNet-B0, EfficientNetV2-S) at
  matched budgets, with parameters, FLOPs, PG, P'G, ES, H at 32x32, untrained:
  stored in ``data/ch7_bookkeeping.csv`` (about ten minutes of the engine on one
  CPU core), one row recomputed live (:func:`bookkeeping_live_check`).

Semantics of the runs' columns: ``params`` counts every parameter of the model
as built (:func:`reuseprior.core.parameters.count_parameters`: stores, batch
norm, biases; a tied weight once); ``flops`` is one forward pass of one image
(:func:`reuseprior.baselines.complexity.count_flops`, 2 per multiply-add of
the convolutions and matrix products only): of a generator's operations only
its matrix products count (the Emb generator's linear layer ``E``); template
mixing (multiply and sum), masks, repeats, slicing and interpolation are
elementwise and count 0; the prior's quantities come from :func:`reuseprior.counting.analyze`
on the model as built (eval mode, one input of the training resolution), so a
stored parameter that generates several weights gets the contexts of every use;
``peak_memory_mb`` is the process's peak resident set size during the run
(the high-water mark is reset when the run starts, Linux ``clear_refs``; it
includes the dataset held in memory).

Data policy: the quick profile trains on Fashion-MNIST (shipped offline by
``python -m reuseprior data fetch fashion-mnist``) and never falls back to other
data: a missing dataset raises :class:`~reuseprior.core.errors.DatasetNotFoundError`
naming the command that fetches it. The test split is evaluated once, after
training; the validation split (10 % of the training files, seeded) is the only
data any other decision sees.
"""

from __future__ import annotations

import copy
import datetime as _dt
import functools
import hashlib
import itertools
import json
import math
import os
import re
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from distributed import Client
from scipy import stats
from torch import nn
from torch.utils.data import Dataset, TensorDataset
from tqdm.auto import tqdm

from reuseprior import datasets as data
from reuseprior.core import paths
from reuseprior.core import study as core_study
from reuseprior.core.cpu import cpu_kernels
from reuseprior.core.errors import CsvFormatError, SharingError
from reuseprior.core.files import write_csv
from reuseprior.core.parameters import count_parameters
from reuseprior.core.study import RunStore, Study
from reuseprior.counting import analyze, count_contexts
from reuseprior.models.registry import build_model
from reuseprior.models.sharing import SCHEMES, share
from reuseprior.models.sharing.budgets import load_seed_table
from reuseprior.reporting.notebook import Profile
from reuseprior.reporting.plotting import caption
from reuseprior.reporting.statistics import sign_test_p
from reuseprior.training.loop import TrainConfig, count_flops, fit, peak_rss_bytes, reset_peak_rss

__all__ = [
    "BIDART_STUDY",
    "BOOKKEEPING_COLUMNS",
    "BOOKKEEPING_INPUT",
    "BOOKKEEPING_MODELS",
    "BOOKKEEPING_SETTINGS",
    "BUDGETS",
    "CHANNELWISE_REUSE",
    "BUDGET_FILL",
    "CPU_STUDY",
    "DODGE",
    "INTEGER_WIDTHS",
    "LIVE_TOLERANCE",
    "MASS_GROUPS",
    "MEASURED_COLUMNS",
    "NOT_RUN_NARROW_WRN",
    "NPAS_STUDY",
    "NPAS_TABLE_14_BUDGETS",
    "PAPER_PROFILE",
    "PRIOR_SCORES",
    "PROFILES",
    "READING_NOTES",
    "ROW_COLUMNS",
    "SCHEME_STYLE",
    "SCORE_LABELS",
    "SSN_OPTIONS",
    "STORED_BOOKKEEPING",
    "STORED_RUNS",
    "STUDY_CONFIGS",
    "SchemeConfig",
    "SharingSchemesProfile",
    "StudySpec",
    "as_study",
    "bookkeeping_budgets",
    "bookkeeping_configs",
    "bookkeeping_live_check",
    "bookkeeping_row",
    "bookkeeping_wide",
    "build_config_model",
    "context_mass_shares",
    "depthwise_context_shares",
    "cheapest_runs",
    "data_caption",
    "describe_study",
    "disagreements",
    "fill_scores",
    "live_check",
    "load_study_data",
    "matched_budget_groups",
    "narrow_width",
    "parameters_to_overrides",
    "pending_runs",
    "plan_id",
    "plot_accuracy_vs_parameters",
    "plot_prior_vs_accuracy",
    "printed_beside_trained",
    "printed_number",
    "printed_numbers",
    "prior_scores",
    "profile_rows",
    "rank_table",
    "ranking_agreement",
    "read_bookkeeping",
    "read_runs",
    "reading",
    "reading_notes",
    "run_one",
    "run_store",
    "run_study",
    "runs_path",
    "scheme_run",
    "sharing_shifts",
    "sign_test_p",
    "store_bookkeeping",
    "study_budgets",
    "study_rows",
    "study_settings",
    "study_status",
    "summarize",
    "validate_runs",
]

#: the stored trained study (written by ``python -m reuseprior study ch7 run``)
STORED_RUNS: Path = paths.DATA_DIR / "sharing_study_runs.csv"

#: the prior's quantities recorded per run (thesis chapter 4), as ``analyze`` names them
PRIOR_SCORES: tuple[str, ...] = ("PG", "PG_prime", "expected_spread", "entropy")
SCORE_LABELS: dict[str, str] = {
    "PG": "PG (eq. 4.7, log2 units)",
    "PG_prime": "P'G (eq. 4.8, log2 units)",
    "expected_spread": "ES (eq. 4.2, bits)",
    "entropy": "H (eq. 4.4, bits)",
}

#: the budget names of the study (see :func:`study_budgets`; also ``"<p>%"`` for a StudySpec.percent_budgets entry)
BUDGETS: tuple[str, ...] = (
    "full", "channelwise", "channelwise s=2", "channelwise s=4", "scope", "scope+channelwise", "low",
)  # fmt: skip

#: live recomputation of a stored run: counted columns must agree to this relative
#: tolerance; accuracies exactly (``accuracy_pp_same_software``, 0 pp) when the live
#: run has the stored row's PyTorch version, thread count and CPU kernels (one-thread
#: CPU training of the same software on the same kernels is deterministic), else to
#: ``accuracy_pp`` percentage points (another PyTorch, thread count or CPU kernels round
#: float32 sums differently, and two epochs amplify that). The rows of
#: :data:`ROW_COLUMNS` do not record CPU kernels yet, so the exact case does not arise.
LIVE_TOLERANCE: dict[str, float] = {"counted_rel": 1e-9, "accuracy_pp": 1.0, "accuracy_pp_same_software": 0.0}


# ------------------------------------------------------------------------ configs


@dataclass(frozen=True)
class SchemeConfig:
    """One configuration of the study: ``scheme`` with its ``options`` at budget
    ``budget`` (a name of :data:`BUDGETS`).

    Schemes: ``none`` (the unshared model; budget ``full``), ``narrow`` (the
    unshared model narrowed to the budget, :func:`narrow_width`), ``scope``,
    ``channelwise``, ``scope+channelwise`` (these three land on their own budget,
    which is how the budgets of the same names are defined) and ``ssn`` (any
    budget). ``options`` is a tuple of ``(name, value)`` pairs (hashable)."""

    label: str
    scheme: str
    budget: str
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def options_dict(self) -> dict[str, Any]:
        return dict(self.options)

    def options_json(self) -> str:
        return json.dumps(self.options_dict, sort_keys=True)

    def needs(self) -> tuple[str, ...]:
        """The registered sharing schemes this configuration uses."""
        return {
            "none": (),
            "narrow": (),
            "scope+channelwise": ("scope", "channelwise"),
        }.get(self.scheme, (self.scheme,))

    def available(self) -> bool:
        """Every scheme it needs is registered in :data:`reuseprior.models.sharing.SCHEMES`."""
        return all(name in SCHEMES for name in self.needs())


def _cfg(label: str, scheme: str, budget: str, **options: Any) -> SchemeConfig:
    return SchemeConfig(label, scheme, budget, tuple(sorted(options.items())))


#: the reuse factor of channel-wise sharing in the study (each depthwise kernel used 8 times:
#: 12.5 % of the depthwise weights remain, the smallest share of Bidart's EfficientNet-B0 table)
CHANNELWISE_REUSE = 8
#: the generator, upsampler and mapping of the SSN configurations (NPAS section 3): the paper's
#: own methods (the Emb generator, the Mask upsampler), one store for the whole model (``single``)
SSN_OPTIONS: dict[str, Any] = {"generator": "emb", "upsampler": "mask", "mapping": "single"}

STUDY_CONFIGS: tuple[SchemeConfig, ...] = (
    _cfg("unshared", "none", "full"),
    _cfg(f"channel-wise s={CHANNELWISE_REUSE}", "channelwise", "channelwise", reuse=CHANNELWISE_REUSE),
    _cfg("SSN @ channel-wise", "ssn", "channelwise", **SSN_OPTIONS),
    _cfg("narrower @ channel-wise", "narrow", "channelwise"),
    _cfg("scope", "scope", "scope"),
    _cfg(
        f"scope + channel-wise s={CHANNELWISE_REUSE}",
        "scope+channelwise",
        "scope+channelwise",
        reuse=CHANNELWISE_REUSE,
    ),
    _cfg("SSN @ scope + channel-wise", "ssn", "scope+channelwise", **SSN_OPTIONS),
    _cfg("narrower @ scope + channel-wise", "narrow", "scope+channelwise"),
    _cfg("SSN @ scope", "ssn", "scope", **SSN_OPTIONS),
    _cfg("narrower @ scope", "narrow", "scope"),
)


@dataclass(frozen=True)
class StudySpec:
    """One trained study: the model family, dataset, configurations, seeds and
    training settings. Its :func:`plan_id` (a hash of everything but the seeds
    and the configuration list) keys the stored rows, so rows of other settings
    are never taken for this study's."""

    name: str
    dataset: str  # "fashion-mnist", "mnist", "cifar10", "cifar100" or "imagenet"
    model: str  # a registered model name (reuseprior.models.build_model)
    model_kwargs: tuple[tuple[str, Any], ...]
    configs: tuple[SchemeConfig, ...]
    seeds: tuple[int, ...]
    low_budget_fraction: float
    train: TrainConfig
    train_limit: int | None  # training images kept (a fixed seeded subset), None: all
    val_limit: int | None  # validation images kept, None: all
    augment: bool  # random crop (pad 4), flip and cutout (CIFAR); none for the grey datasets
    split_seed: int = 0  # the validation split and the training subset (fixed across run seeds)
    #: the builder's width argument the narrower baseline varies: a float multiplier
    #: ("width_mult") or, for a name in INTEGER_WIDTHS, a whole width (WRN's "width")
    width_option: str = "width_mult"
    #: further budgets, in percent of the unshared model (named like "4.1%")
    percent_budgets: tuple[float, ...] = ()

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.model_kwargs)


@dataclass(frozen=True)
class SharingSchemesProfile(Profile):
    """Settings of the chapter 7 notebook.

    ``studies``: the trained studies; ``train_live``: whether the notebook trains
    them (the paper profile, on a GPU) or reads the stored rows and recomputes
    ``live_rows`` of the cheapest ones (the quick profile); ``n_boot``: bootstrap
    resamples of every interval; ``bookkeeping_models``: the models of the
    matched-budget bookkeeping table; ``bookkeeping_live``: compute that table
    in the notebook (else read the stored one and recompute its smallest row);
    ``data_dir``/``download``: where the datasets are (``None``:
    ``build/datasets``) and whether the notebook may download them."""

    studies: tuple[StudySpec, ...]
    train_live: bool
    live_rows: int
    n_boot: int
    bookkeeping_models: tuple[str, ...]
    bookkeeping_live: bool
    data_dir: str | None
    download: bool


#: the stored CPU study: compact_net (reuseprior.models.compact) on Fashion-MNIST, 3 seeds
CPU_STUDY = StudySpec(
    name="compact-fashion-mnist",
    dataset="fashion-mnist",
    model="compact_net",
    model_kwargs=(("in_channels", 1), ("num_classes", 10)),
    configs=STUDY_CONFIGS,
    seeds=(0, 1, 2),
    low_budget_fraction=0.3,
    train=TrainConfig(
        epochs=2,
        batch_size=64,
        optimizer="adamw",
        lr_base=0.012,  # peak 0.012 * 64 / 256 = 0.003
        lr_warmup_epochs=0.2,
        lr_schedule="cosine",
        weight_decay=1e-4,
        label_smoothing=0.0,
        bn_momentum_tf=None,  # PyTorch's 0.1: ~300 steps are too few for TF's 0.99
        eval_batch_size=500,
    ),
    train_limit=8_000,
    val_limit=1_000,
    augment=False,
)

#: NPAS's WRN-28-10 on CIFAR-100 (Tables 7-11 and 14). The text names the implementation it adapts
#: (Savarese et al.'s, with cutout) but not its hyper-parameters; these are the usual WRN CIFAR recipe.
NPAS_STUDY = StudySpec(
    name="npas-wrn-28-10-cifar100",
    dataset="cifar100",
    model="wide_resnet_cifar",
    model_kwargs=(("depth", 28), ("num_classes", 100), ("width", 10)),
    # no "narrower" (NPAS's reduced baseline) yet: wide_resnet_cifar takes whole widths, and no WRN-28-k is within
    # 3 % of these budgets (WRN-28-1 has 0.38 M parameters against 0.51 M at 1.4 %); add
    # _cfg(f"narrower @ {p:g}%", "narrow", f"{p:g}%") once the builder accepts fractional widths
    configs=(
        _cfg("unshared", "none", "full"),
        _cfg("scope", "scope", "scope"),
        _cfg("SSN @ scope", "ssn", "scope", **SSN_OPTIONS),
        *(_cfg(f"SSN @ {p:g}%", "ssn", f"{p:g}%", **SSN_OPTIONS) for p in (1.4, 4.1, 5.5, 16.4, 24.6)),
    ),
    seeds=(0, 1, 2),
    low_budget_fraction=0.041,  # 4.1 % of WRN-28-10, a Table 14 budget
    train=TrainConfig(
        epochs=200,
        batch_size=128,
        optimizer="sgd",
        lr_base=0.2,  # peak 0.1
        lr_warmup_epochs=0.0,
        lr_schedule="cosine",
        weight_decay=5e-4,
        label_smoothing=0.0,
        bn_momentum_tf=None,
        num_workers=8,
    ),
    train_limit=None,
    val_limit=None,
    augment=True,
    width_option="width",
    percent_budgets=(1.4, 4.1, 5.5, 16.4, 24.6),  # Table 14
)

#: Bidart's EfficientNet-B0 on ImageNet (thesis section 3.6.3: RMSprop, lr 0.072, batch 120, 550 epochs,
#: linear warm-up), channel-wise sharing at 50 % / 25 % of the depthwise weights.
BIDART_STUDY = StudySpec(
    name="bidart-efficientnet-b0-imagenet",
    dataset="imagenet",
    model="efficientnet_b0",
    model_kwargs=(("num_classes", 1000),),
    configs=(
        _cfg("unshared", "none", "full"),
        _cfg("channel-wise s=2", "channelwise", "channelwise s=2", reuse=2),
        _cfg("channel-wise s=4", "channelwise", "channelwise s=4", reuse=4),
        _cfg("SSN @ channel-wise s=2", "ssn", "channelwise s=2", **SSN_OPTIONS),
        _cfg("SSN @ channel-wise s=4", "ssn", "channelwise s=4", **SSN_OPTIONS),
    ),
    seeds=(0,),
    low_budget_fraction=0.5,
    train=TrainConfig(
        epochs=550,
        batch_size=120,
        optimizer="rmsprop",
        lr_base=0.072 * 256 / 120,  # peak 0.072 at batch 120
        lr_warmup_epochs=5.0,
        lr_schedule="exponential",
        num_workers=8,
    ),
    train_limit=None,
    val_limit=None,
    augment=True,
)

#: the seeds' models of the bookkeeping table (reuseprior / torchvision registry names)
BOOKKEEPING_MODELS: tuple[str, ...] = ("resnet56_cifar", "wrn_28_10", "efficientnet_b0", "efficientnet_v2_s")

#: the seeds' own settings on a GPU (CIFAR-100 under ``data_dir``, ImageNet under ``data_dir/imagenet``)
PAPER_PROFILE = SharingSchemesProfile(
    studies=(NPAS_STUDY, BIDART_STUDY),
    train_live=True,
    live_rows=0,
    n_boot=2000,
    bookkeeping_models=BOOKKEEPING_MODELS,
    bookkeeping_live=True,
    data_dir=None,
    download=False,
)

PROFILES: dict[str, SharingSchemesProfile] = {
    # quick: CPU; reads data/sharing_study_runs.csv and data/ch7_bookkeeping.csv, retrains the cheapest run
    # and recounts the cheapest bookkeeping row live (about two minutes on one core)
    "quick": SharingSchemesProfile(
        studies=(CPU_STUDY,),
        train_live=False,
        live_rows=1,
        n_boot=1000,
        bookkeeping_models=BOOKKEEPING_MODELS,
        bookkeeping_live=False,
        data_dir=None,
        download=False,
    ),
    # paper: the seeds' own settings (WRN-28-10 on CIFAR-100, NPAS Tables 7-11 and 14; EfficientNet-B0 on
    # ImageNet, Bidart section 3.6.3) for a GPU; without the datasets it stops with DatasetNotFoundError
    "paper": PAPER_PROFILE,
    # full: the same profile under the name `make full` (`python -m reuseprior build --profile full`) passes
    "full": PAPER_PROFILE,
}


# ----------------------------------------------------------------------- the data


class _AugmentedImages(Dataset):
    """Random crop (zero padding 4), horizontal flip and one 8x8 cutout square
    per image of a float tensor dataset (the CIFAR recipe of the NPAS WRN runs);
    draws from PyTorch's global generator, which the trainer seeds and restores."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, cutout: int = 8):
        self.images, self.labels, self.cutout = images, labels, cutout

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = nn.functional.pad(self.images[i], (4, 4, 4, 4))
        h, w = self.images.shape[-2:]
        top, left = (int(v) for v in torch.randint(0, 9, (2,)))
        x = x[:, top : top + h, left : left + w]
        if torch.rand(()) < 0.5:
            x = x.flip(-1)
        cy, cx = (int(v) for v in torch.randint(0, h, (2,)))
        half = self.cutout // 2
        x = x.clone()
        x[:, max(0, cy - half) : cy + half, max(0, cx - half) : cx + half] = 0
        return x, self.labels[i]


def _as_tensors(source: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """(images N x C x H x W in [0, 1], labels) of a torchvision MNIST/CIFAR dataset."""
    images = source.data
    images = torch.as_tensor(images)
    if images.ndim == 3:  # MNIST family: N x H x W uint8
        images = images.unsqueeze(1)
    else:  # CIFAR: N x H x W x C uint8
        images = images.permute(0, 3, 1, 2)
    return images.float() / 255.0, torch.as_tensor(source.targets, dtype=torch.long)


def load_study_data(
    spec: StudySpec, *, data_dir: str | os.PathLike | None = None, download: bool = False
) -> data.DatasetSplits:
    """The study's train / validation / test splits as in-memory tensors.

    The validation split is :func:`reuseprior.datasets.load_torchvision_splits`'s
    (10 % of the training files, ``spec.split_seed``); the training subset is the
    first ``spec.train_limit`` images of a ``split_seed`` permutation of the rest
    (the same images for every run seed); the test set is the official one.
    Images are scaled to [0, 1] and standardised per channel with the training
    subset's mean and standard deviation. A missing dataset raises
    :class:`~reuseprior.core.errors.DatasetNotFoundError` naming the command that
    fetches it; nothing else is substituted. ImageNet: the folder of
    :func:`reuseprior.datasets.load_imagenet_folder` (streamed, not in memory)."""
    root = Path(data_dir) if data_dir is not None else data.DEFAULT_DATA_DIR
    if spec.dataset == "imagenet":
        return data.load_imagenet_folder(root / "imagenet", seed=spec.split_seed)
    splits = data.load_torchvision_splits(spec.dataset, root, download=download, seed=spec.split_seed)
    train_images, train_labels = _as_tensors(splits.train.dataset)
    test_images, test_labels = _as_tensors(splits.test)
    train_idx = torch.as_tensor(splits.train.indices)
    val_idx = torch.as_tensor(splits.val.indices)
    order = torch.randperm(len(train_idx), generator=torch.Generator().manual_seed(spec.split_seed))
    train_idx = train_idx[order[: spec.train_limit] if spec.train_limit is not None else order]
    if spec.val_limit is not None:
        val_idx = val_idx[: spec.val_limit]
    train_x = train_images[train_idx]
    mean = train_x.mean(dim=(0, 2, 3), keepdim=True)
    std = train_x.std(dim=(0, 2, 3), keepdim=True)

    def norm(x: torch.Tensor) -> torch.Tensor:
        return (x - mean) / std

    train_set: Dataset = (
        _AugmentedImages(norm(train_x), train_labels[train_idx])
        if spec.augment
        else TensorDataset(norm(train_x), train_labels[train_idx])
    )
    return data.DatasetSplits(
        train=train_set,
        val=TensorDataset(norm(train_images[val_idx]), train_labels[val_idx]),
        test=TensorDataset(norm(test_images), test_labels),
        num_classes=splits.num_classes,
        input_shape=splits.input_shape,
        description=(
            f"{spec.dataset} (torchvision files), train/val/test = {len(train_idx)}/{len(val_idx)}/"
            f"{len(test_labels)} images (split seed {spec.split_seed})"
        ),
    )


# -------------------------------------------------------------------- the models


def _base_model(spec: StudySpec, seed: int, **overrides: Any) -> nn.Module:
    """The unshared model of the study, initialised from ``seed`` (its own
    generator state; the caller's global generator is left alone)."""
    kwargs = {**spec.kwargs, **overrides}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(spec.model, **kwargs)


def study_budgets(spec: StudySpec, seed: int = 0) -> dict[str, int]:
    """The matched budgets (parameter counts of the whole model) of the study:
    ``full`` (the unshared model), ``scope`` (where scope sharing lands),
    ``channelwise`` (where channel-wise sharing with :data:`CHANNELWISE_REUSE`
    lands; ``channelwise s=2`` and ``s=4`` for the other reuses),
    ``scope+channelwise`` (both), ``low`` (``spec.low_budget_fraction`` of
    ``full``) and ``"<p>%"`` for each of ``spec.percent_budgets``. A budget whose
    scheme is not registered (or does not apply) is left out."""
    base = _base_model(spec, seed)
    full = count_parameters(base)
    budgets = {"full": full}
    if "scope" in SCHEMES:
        budgets["scope"] = count_parameters(share(base, "scope"))
    if "channelwise" in SCHEMES:
        try:
            budgets["channelwise"] = count_parameters(share(base, "channelwise", reuse=CHANNELWISE_REUSE))
        except SharingError:  # no depthwise convolution: channel-wise sharing does not apply
            pass
        else:
            for reuse in (2, 4):
                budgets[f"channelwise s={reuse}"] = count_parameters(share(base, "channelwise", reuse=reuse))
            if "scope" in SCHEMES:
                budgets["scope+channelwise"] = count_parameters(
                    share(share(base, "scope"), "channelwise", reuse=CHANNELWISE_REUSE)
                )
    budgets["low"] = max(1, round(spec.low_budget_fraction * full))
    for percent in spec.percent_budgets:
        budgets[f"{percent:g}%"] = round(percent / 100 * full)
    return budgets


#: width arguments that take whole numbers (the narrower baseline scans them upwards)
INTEGER_WIDTHS = ("width",)


@functools.lru_cache(maxsize=64)
def narrow_width(spec: StudySpec, budget: int, *, tolerance: int = 48) -> float:
    """The width (``spec.width_option``) of the unshared model whose parameter
    count is nearest to ``budget``. A multiplier (``width_mult``; channels
    rounded to whole numbers, ``channel_divisor=1`` for the compact family):
    bisection (the count grows with it), ``tolerance`` steps, then the nearer of
    the two counts around the budget. A whole width (:data:`INTEGER_WIDTHS`):
    the nearest of 1, 2, 3, ... Cached per (spec, budget)."""
    extra = {"channel_divisor": 1} if spec.model == "compact_net" else {}
    option = spec.width_option

    def params(w: float) -> int:
        return count_parameters(build_model(spec.model, **{**spec.kwargs, **extra, option: w}))

    if option in INTEGER_WIDTHS:
        width, below = 1, params(1)
        while (above := params(width + 1)) <= budget:
            width, below = width + 1, above
        return width if abs(below - budget) <= abs(above - budget) else width + 1

    lo, hi = 1e-3, 1.0
    while params(hi) <= budget:
        hi *= 2
    for _ in range(tolerance):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if params(mid) <= budget else (lo, mid)
    return lo if abs(params(lo) - budget) <= abs(params(hi) - budget) else hi


def build_config_model(
    spec: StudySpec, config: SchemeConfig, seed: int, budgets: Mapping[str, int] | None = None
) -> nn.Module:
    """The model of ``config`` for run seed ``seed``: the base model initialised
    from ``seed`` (every configuration of one seed starts from the same draw),
    then shared by the configuration's scheme at its budget; ``narrow`` builds
    the unshared model at :func:`narrow_width` instead (its own architecture, so
    its own draw from the same seed)."""
    budgets = dict(budgets) if budgets is not None else study_budgets(spec)
    if config.budget not in budgets:
        raise SharingError(
            f"{config.label}: budget {config.budget!r} is not defined for {spec.name} (known: {sorted(budgets)}); "
            "its scheme is not registered or does not apply to this model"
        )
    options = config.options_dict
    if config.scheme == "narrow":
        extra = {"channel_divisor": 1} if spec.model == "compact_net" else {}
        extra[spec.width_option] = narrow_width(spec, budgets[config.budget])
        return _base_model(spec, seed, **extra)
    base = _base_model(spec, seed)
    if config.scheme == "none":
        return base
    if config.scheme == "scope":
        return share(base, "scope", inplace=True)
    if config.scheme == "channelwise":
        return share(base, "channelwise", inplace=True, **options)
    if config.scheme == "scope+channelwise":
        return share(share(base, "scope", inplace=True), "channelwise", inplace=True, **options)
    if config.scheme == "ssn":
        return share(base, "ssn", budget=int(budgets[config.budget]), inplace=True, seed=seed, **options)
    raise SharingError(
        f"{config.label}: unknown scheme {config.scheme!r}; use none, narrow, scope, channelwise, "
        "scope+channelwise or ssn"
    )


# -------------------------------------------------------------------- the runs

#: the columns of a stored run (one row per configuration and seed)
ROW_COLUMNS: tuple[str, ...] = (
    "plan_id", "study", "dataset", "model", "config", "scheme", "options", "budget", "budget_target",
    "seed", "params", "params_fraction", "flops", "input_shape",
    "PG", "PG_prime", "expected_spread", "entropy", "NG", "engine_error",
    "epochs", "batch_size", "train_images", "val_images", "test_images",
    "val_top1", "test_top1", "test_loss", "train_loss_last_epoch",
    "train_time_s", "engine_time_s", "peak_memory_mb", "peak_memory_kind", "threads", "torch_version", "finished_utc",
)  # fmt: skip
#: columns a rerun measures differently (kept in the CSV, out of tracked tables)
MEASURED_COLUMNS: tuple[str, ...] = (
    "train_time_s", "engine_time_s", "peak_memory_mb", "peak_memory_kind", "threads", "finished_utc",
)  # fmt: skip


def plan_id(spec: StudySpec) -> str:
    """A short hash of the study's settings (dataset, model, training, subsets,
    budgets); rows with another plan id belong to other settings."""
    settings = {
        "dataset": spec.dataset,
        "model": spec.model,
        "model_kwargs": spec.kwargs,
        "train": {k: v for k, v in asdict(spec.train).items() if k not in ("seed", "num_workers")},
        "train_limit": spec.train_limit,
        "val_limit": spec.val_limit,
        "augment": spec.augment,
        "split_seed": spec.split_seed,
        "low_budget_fraction": spec.low_budget_fraction,
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]


def read_runs(path: str | os.PathLike = STORED_RUNS) -> pd.DataFrame:
    """The stored runs (an empty frame with :data:`ROW_COLUMNS` when the file
    does not exist), validated by :func:`validate_runs`."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=list(ROW_COLUMNS))
    df = pd.read_csv(path, keep_default_na=True)
    validate_runs(df, source=str(path))
    return df


def validate_runs(df: pd.DataFrame, *, source: str = "runs") -> None:
    """Check stored rows; raise :class:`~reuseprior.core.errors.CsvFormatError`
    naming the file, the line (header = line 1) and the first problem: missing
    columns, a duplicated (plan, config, seed), a non-positive parameter count,
    accuracies outside [0, 100], a matched configuration (``narrow``, ``ssn``)
    more than 3 % off its budget, or a row that has neither the prior's scores
    nor an engine error."""
    missing = [c for c in ROW_COLUMNS if c not in df.columns]
    if missing:
        raise CsvFormatError(source, 1, f"missing columns {missing}", "it is not a sharing-study runs file")
    if df.empty:
        return

    def refuse(mask: pd.Series, problem: str, fix: str) -> None:
        if mask.any():
            position = int(np.flatnonzero(mask.to_numpy())[0])
            row = df.iloc[position]
            what = f"{row['config']} (seed {row['seed']})"
            raise CsvFormatError(source, position + 2, f"{what}: {problem.format(**row.to_dict())}", fix)

    refuse(
        df.duplicated(["plan_id", "config", "seed"], keep="first"),
        "this run is stored twice",
        "delete one of the rows",
    )
    params = pd.to_numeric(df["params"], errors="coerce")
    refuse(~(params > 0), "no positive parameter count", "rerun the row")
    for col in ("val_top1", "test_top1"):
        acc = pd.to_numeric(df[col], errors="coerce")
        refuse(~((acc >= 0) & (acc <= 100)), f"{col} must be a percentage in [0, 100]", "rerun the row")
    matched = df["scheme"].isin(["narrow", "ssn"])
    off = (params / pd.to_numeric(df["budget_target"], errors="coerce") - 1).abs() > 0.03
    refuse(
        matched & off,
        "{params} parameters for a budget of {budget_target} (more than 3 % off)",
        "a matched configuration must meet its budget",
    )
    refuse(
        df[list(PRIOR_SCORES)].isna().any(axis=1) & df["engine_error"].isna(),
        "neither the prior's scores nor an engine error",
        "recompute them: python -m reuseprior study ch7 fill-scores",
    )


def run_store(path: str | os.PathLike = STORED_RUNS) -> RunStore:
    """The runs file: one row per (configuration, seed) of a plan, validated by :func:`validate_runs`."""
    return RunStore(
        Path(path),
        key=("config", "seed"),
        plan_column="plan_id",
        columns=ROW_COLUMNS,
        read=read_runs,
        validate=lambda df, source: validate_runs(df, source=source),
    )


def prior_scores(model: nn.Module, input_shape: Sequence[int]) -> dict[str, Any]:
    """PG, P'G, ES, H and NG of ``model`` as built (thesis section 4.5.1 engine,
    one input of ``input_shape``, eval mode, on a copy), or NaN with the
    engine's error message."""
    started = time.perf_counter()
    probe = copy.deepcopy(model).eval()
    try:
        report = analyze(probe, torch.zeros(1, *input_shape))
    except Exception as err:  # noqa: BLE001 - recorded in the row; the run itself is still useful
        out: dict[str, Any] = {k: math.nan for k in (*PRIOR_SCORES, "NG")}
        out["engine_error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:300]}"
    else:
        out = {k: getattr(report, k) for k in (*PRIOR_SCORES, "NG")}
        out["engine_error"] = None
    out["engine_time_s"] = time.perf_counter() - started
    return out


def run_one(
    spec: StudySpec,
    config: SchemeConfig,
    seed: int,
    splits: data.DatasetSplits,
    *,
    budgets: Mapping[str, int],
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> dict[str, Any]:
    """Train ``config`` with run seed ``seed`` and return its row (:data:`ROW_COLUMNS`):
    the model as built is counted (parameters, FLOPs of one image, the prior's
    quantities), trained with ``spec.train`` (seed ``seed``: data order), the
    validation split evaluated after every epoch and the test split once at the
    end."""
    device = torch.device(device)
    model = build_config_model(spec, config, seed, budgets)
    params = count_parameters(model)
    if config.scheme in ("narrow", "ssn") and abs(params / budgets[config.budget] - 1) > 0.03:
        raise SharingError(
            f"{config.label}: the model has {params:,} parameters for a budget of {budgets[config.budget]:,} "
            "(more than 3 % off), so it is not matched; nothing was trained. Give the builder a finer width "
            f"({spec.width_option}) or drop the configuration"
        )
    flops = count_flops(model, splits.input_shape)
    scores = prior_scores(model, splits.input_shape)
    memory_kind = reset_peak_rss() if device.type == "cpu" else "cuda_max_memory_allocated"
    result = fit(
        model,
        splits.train,
        splits.val,
        replace(spec.train, seed=seed),
        device=device,
        test_set=splits.test,
        checkpoint_path=None,
        progress=progress,
        description=config.label,
    )
    peak = peak_rss_bytes() / 2**20 if device.type == "cpu" else result.peak_memory_bytes / 2**20
    history = result.history
    return {
        "plan_id": plan_id(spec),
        "study": spec.name,
        "dataset": spec.dataset,
        "model": spec.model,
        "config": config.label,
        "scheme": config.scheme,
        "options": config.options_json(),
        "budget": config.budget,
        "budget_target": int(budgets[config.budget]),
        "seed": seed,
        "params": params,
        "params_fraction": params / budgets["full"],
        "flops": flops,
        "input_shape": "x".join(str(s) for s in splits.input_shape),
        **{k: scores[k] for k in (*PRIOR_SCORES, "NG", "engine_error")},
        "epochs": result.epochs_completed,
        "batch_size": spec.train.batch_size,
        "train_images": len(splits.train),
        "val_images": len(splits.val),
        "test_images": len(splits.test),
        "val_top1": result.val_top1,
        "test_top1": result.test_top1,
        "test_loss": result.test_loss,
        "train_loss_last_epoch": history[-1]["train_loss"] if len(history) > 1 else math.nan,
        "train_time_s": result.train_time_s,
        "engine_time_s": scores["engine_time_s"],
        "peak_memory_mb": peak,
        "peak_memory_kind": memory_kind,
        "threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "finished_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def pending_runs(
    spec: StudySpec, done: pd.DataFrame, configs: Iterable[SchemeConfig] | None = None
) -> list[tuple[SchemeConfig, int]]:
    """(configuration, seed) pairs of ``spec`` without a stored row in ``done``,
    seed-major (every configuration of seed 0 first), skipping configurations
    whose scheme is not registered."""
    pid = plan_id(spec)
    mine = done[done["plan_id"] == pid] if not done.empty else done
    finished = set(zip(mine["config"], mine["seed"].astype(int))) if not mine.empty else set()
    chosen = [c for c in (configs if configs is not None else spec.configs) if c.available()]
    return [(c, s) for s in spec.seeds for c in chosen if (c.label, s) not in finished]


def as_study(
    spec: StudySpec,
    path: str | os.PathLike = STORED_RUNS,
    *,
    splits: data.DatasetSplits | None = None,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    device: torch.device | str = "cpu",
    threads: int | None = 1,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> Study:
    """``spec`` as a resumable study of :mod:`reuseprior.core.study`: its runs
    the (configuration, seed) pairs of registered schemes, seed-major; each
    row validated and written to ``path`` as it arrives, then given to ``on_row``."""
    store = run_store(path)
    runs = tuple({"config": c.label, "seed": s} for s in spec.seeds for c in spec.configs if c.available())
    context = {"spec": spec, "splits": splits, "data_dir": data_dir, "download": download, "device": str(device),
               "threads": threads}  # fmt: skip

    def store_row(_: Mapping[str, Any], row: dict[str, Any]) -> None:
        store.put(row)
        if on_row is not None:
            on_row(row)

    return Study(spec.name, plan_id(spec), store, runs, scheme_run, context, store_row, live_check)


@functools.lru_cache(maxsize=2)
def _cached_study_data(spec: StudySpec, data_dir: str | None, download: bool) -> data.DatasetSplits:
    return load_study_data(spec, data_dir=data_dir, download=download)


def scheme_run(
    *,
    config: str,
    seed: int,
    spec: StudySpec,
    splits: data.DatasetSplits | None,
    data_dir: str | os.PathLike | None,
    download: bool,
    device: str,
    threads: int | None,
) -> dict[str, Any]:
    """One run of the study (:func:`run_one`), as a task: the configuration by
    its label, the splits loaded once per process when not given, PyTorch's
    intra-op threads set to ``threads`` for its duration."""
    if splits is None:
        splits = _cached_study_data(spec, None if data_dir is None else str(data_dir), download)
    by_label = {c.label: c for c in spec.configs}
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return run_one(spec, by_label[config], seed, splits, budgets=study_budgets(spec), device=device)
    finally:
        torch.set_num_threads(before)


def run_study(
    spec: StudySpec,
    path: str | os.PathLike = STORED_RUNS,
    *,
    splits: data.DatasetSplits | None = None,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    device: torch.device | str = "cpu",
    max_runs: int | None = None,
    configs: Iterable[SchemeConfig] | None = None,
    threads: int | None = 1,
    progress: bool = True,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    client: Client | None = None,
) -> pd.DataFrame:
    """Run the study's pending runs (:func:`pending_runs`; on the Dask
    ``client``'s workers when given) and write each row to ``path`` as soon as
    it finishes (atomically: the file is always a complete CSV; an
    interruption loses at most the running rows). Rerunning skips the stored
    runs. ``max_runs`` stops after that many new rows; ``splits`` replaces the
    study's dataset (tests); ``threads`` sets PyTorch's intra-op threads of a
    run (one thread: tiny models train fastest and deterministically on a
    shared CPU). Returns every row of the file."""
    path = Path(path)
    todo = pending_runs(spec, read_runs(path), configs)
    if max_runs is not None:
        todo = todo[:max_runs]
    if not todo:
        return read_runs(path)
    if splits is None and client is None:
        splits = load_study_data(spec, data_dir=data_dir, download=download)
    runs = as_study(spec, path, splits=splits, data_dir=data_dir, download=download, device=device, threads=threads,
                    on_row=on_row)  # fmt: skip
    only = [{"config": c.label, "seed": s} for c, s in todo]
    core_study.run_study(runs, only=only, client=client, progress=progress)
    return read_runs(path)


def fill_scores(spec: StudySpec, path: str | os.PathLike = STORED_RUNS, *, every_row: bool = False) -> int:
    """Recompute the prior's quantities of stored rows: those that carry an
    engine error, or with ``every_row`` all of them (after a change of the
    engine). They depend on the model as built, not on training, so no run is
    repeated. Returns the number of rows whose scores were written; the file is
    rewritten atomically."""
    path = Path(path)
    df = read_runs(path)
    mine = df["plan_id"] == plan_id(spec)
    todo = df.index[mine if every_row else mine & df["engine_error"].notna()]
    if not len(todo):
        return 0
    budgets = study_budgets(spec)
    by_label = {c.label: c for c in spec.configs}
    filled = 0
    for i in tqdm(todo, desc="prior scores", unit="row"):
        config = by_label.get(df.at[i, "config"])
        if config is None:
            continue
        shape = tuple(int(v) for v in str(df.at[i, "input_shape"]).split("x"))
        scores = prior_scores(build_config_model(spec, config, int(df.at[i, "seed"]), budgets), shape)
        if scores["engine_error"] is None or every_row:
            for k in (*PRIOR_SCORES, "NG", "engine_error", "engine_time_s"):
                df.at[i, k] = scores[k]
            filled += 1
    validate_runs(df, source=str(path))
    write_csv(df, path)
    return filled


def study_status(spec: StudySpec, path: str | os.PathLike = STORED_RUNS) -> pd.DataFrame:
    """Per configuration of ``spec``: stored seeds, pending seeds, whether its
    scheme is registered, and rows with an engine error."""
    df = read_runs(path)
    mine = df[df["plan_id"] == plan_id(spec)] if not df.empty else df
    rows = []
    for c in spec.configs:
        got = mine[mine["config"] == c.label] if not mine.empty else mine
        seeds = sorted(int(s) for s in got["seed"]) if not got.empty else []
        rows.append(
            {
                "config": c.label,
                "scheme": c.scheme,
                "budget": c.budget,
                "registered": c.available(),
                "stored seeds": seeds,
                "pending seeds": [s for s in spec.seeds if s not in seeds],
                "engine errors": int(got["engine_error"].notna().sum()) if not got.empty else 0,
            }
        )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------- the ranking


def study_rows(spec: StudySpec, path: str | os.PathLike = STORED_RUNS) -> pd.DataFrame:
    """The stored rows of ``spec`` (its plan id), in its configuration order."""
    df = read_runs(path)
    df = df[df["plan_id"] == plan_id(spec)].copy()
    order = {c.label: i for i, c in enumerate(spec.configs)}
    df["_order"] = df["config"].map(order)
    return df.sort_values(["_order", "seed"], kind="stable").drop(columns="_order").reset_index(drop=True)


def summarize(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration: scheme, budget, parameters (and fraction of the
    unshared model), FLOPs, the prior's quantities, number of seeds, and the test
    top-1 accuracy's mean, standard deviation, minimum and maximum over seeds."""
    keys = ["config", "scheme", "budget"]
    agg = rows.groupby(keys, sort=False).agg(
        params=("params", "mean"),
        params_fraction=("params_fraction", "mean"),
        flops=("flops", "mean"),
        **{k: (k, "mean") for k in PRIOR_SCORES},
        seeds=("seed", "nunique"),
        test_top1_mean=("test_top1", "mean"),
        test_top1_std=("test_top1", "std"),
        test_top1_min=("test_top1", "min"),
        test_top1_max=("test_top1", "max"),
        val_top1_mean=("val_top1", "mean"),
    )
    return agg.reset_index()


def _accuracy_matrix(rows: pd.DataFrame) -> tuple[list[str], list[int], np.ndarray]:
    """(configs, seeds, accuracy[config, seed]) of the test top-1; NaN where a run is missing."""
    wide = rows.pivot_table(index="config", columns="seed", values="test_top1", aggfunc="mean", sort=False)
    return list(wide.index), [int(s) for s in wide.columns], wide.to_numpy(dtype=float)


def matched_budget_groups(summary: pd.DataFrame, tolerance: float = 0.06) -> dict[str, str]:
    """Configuration -> budget group: configurations whose parameter counts lie
    within ``tolerance`` (relative) of their budget's are compared with each
    other; ``scope+channelwise`` joins ``scope`` when within tolerance of it."""
    params = dict(zip(summary["config"], summary["params"]))
    budgets = dict(zip(summary["config"], summary["budget"]))
    anchors = summary.groupby("budget")["params"].median().to_dict()
    groups = {}
    for config, budget in budgets.items():
        group = budget
        if (
            budget == "scope+channelwise"
            and "scope" in anchors
            and abs(params[config] / anchors["scope"] - 1) <= tolerance
        ):
            group = "scope"
        groups[config] = group
    return groups


def _kendall_within(score: np.ndarray, acc: np.ndarray, groups: Sequence[str]) -> float:
    """Kendall's tau-a over the pairs of configurations in the same group:
    (concordant - discordant) / pairs compared (ties in either count as 0)."""
    total, agree = 0, 0.0
    for i, j in itertools.combinations(range(len(score)), 2):
        if groups[i] != groups[j] or not (np.isfinite(acc[i]) and np.isfinite(acc[j])):
            continue
        total += 1
        agree += np.sign(score[i] - score[j]) * np.sign(acc[i] - acc[j])
    return agree / total if total else math.nan


def ranking_agreement(
    rows: pd.DataFrame, scores: Sequence[str] = PRIOR_SCORES, *, n_boot: int = 1000, ci: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """Does the prior rank the configurations the way training does?

    Per score: Spearman rho and Kendall tau-b between the score and the mean test
    accuracy over seeds, across every configuration (``pooled``: the budgets
    differ, so size enters), and Kendall's tau over the pairs at a matched budget
    only (``within budget``, :func:`matched_budget_groups`: the study's
    question). Intervals: percentile bootstrap over seeds -- a resample draws
    as many seeds as were run, with replacement, the same draw for every
    configuration (a seed fixes data order and initialisation for all of them),
    and recomputes the mean accuracies; the prior's scores do not depend on the
    seed's draw. Also ``params`` (the naive baseline: more parameters, better)."""
    summary = summarize(rows)
    configs, seeds, acc = _accuracy_matrix(rows)
    summary = summary.set_index("config").loc[configs].reset_index()
    groups_map = matched_budget_groups(summary)
    groups = [groups_map[c] for c in configs]
    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, len(seeds), size=len(seeds)) for _ in range(n_boot)]
    lo_q, hi_q = (1 - ci) / 2 * 100, (1 + ci) / 2 * 100
    out = []
    for name in (*scores, "params"):
        s = summary[name].to_numpy(dtype=float)
        if not np.isfinite(s).all():
            continue
        mean = np.nanmean(acc, axis=1)

        def stats_of(a: np.ndarray) -> tuple[float, float, float]:
            if np.ptp(s) == 0 or np.ptp(a) == 0:
                return math.nan, math.nan, _kendall_within(s, a, groups)
            return (
                float(stats.spearmanr(s, a).statistic),
                float(stats.kendalltau(s, a).statistic),
                _kendall_within(s, a, groups),
            )

        point = stats_of(mean)
        boot = np.array([stats_of(np.nanmean(acc[:, d], axis=1)) for d in draws])
        row = {"score": name, "configs": len(configs), "seeds": len(seeds)}
        for k, label in enumerate(("spearman", "kendall", "kendall within budget")):
            row[label] = point[k]
            finite = boot[:, k][np.isfinite(boot[:, k])]
            row[f"{label} lo"] = float(np.percentile(finite, lo_q)) if len(finite) else math.nan
            row[f"{label} hi"] = float(np.percentile(finite, hi_q)) if len(finite) else math.nan
        out.append(row)
    return pd.DataFrame(out)


def rank_table(rows: pd.DataFrame, score: str = "PG") -> pd.DataFrame:
    """Per configuration: mean test accuracy and its trained rank, ``score`` and
    the prior's rank (1 = best: highest accuracy, highest score), the rank
    difference, and the same two ranks within its matched budget group."""
    summary = summarize(rows)
    groups = matched_budget_groups(summary)
    t = summary[["config", "budget", "params", score, "test_top1_mean", "test_top1_std"]].copy()
    t["group"] = t["config"].map(groups)
    t["trained rank"] = t["test_top1_mean"].rank(ascending=False, method="min").astype(int)
    t["prior rank"] = t[score].rank(ascending=False, method="min").astype(int)
    t["rank difference"] = t["prior rank"] - t["trained rank"]
    t["trained rank in group"] = t.groupby("group")["test_top1_mean"].rank(ascending=False, method="min").astype(int)
    t["prior rank in group"] = t.groupby("group")[score].rank(ascending=False, method="min").astype(int)
    return t


def disagreements(rows: pd.DataFrame, score: str = "PG", *, within_budget: bool = True) -> pd.DataFrame:
    """The pairs of configurations that the prior orders one way and training
    the other (``within_budget``: only pairs at a matched budget), with the
    score difference, the accuracy gap (difference of the means over seeds) and
    the seeds' paired differences: a seed fixes the data order and base
    initialisation of every configuration, so each seed gives one paired
    difference (trained better - prior prefers); the table shows how many seeds
    agree in sign with the trained order, their mean, and the two-sided sign
    test's p (:func:`sign_test_p`; with 3 seeds its smallest value is 0.25, so
    no pair can be resolved either way). Sorted by the accuracy gap, largest
    first (the prior's worst mistakes on top)."""
    summary = summarize(rows).set_index("config")
    groups = matched_budget_groups(summary.reset_index())
    per_seed = rows.pivot_table(index="config", columns="seed", values="test_top1", aggfunc="mean")
    out = []
    for a, b in itertools.combinations(summary.index, 2):
        if within_budget and groups[a] != groups[b]:
            continue
        ds = summary.at[a, score] - summary.at[b, score]
        da = summary.at[a, "test_top1_mean"] - summary.at[b, "test_top1_mean"]
        if np.sign(ds) * np.sign(da) >= 0:
            continue
        better, worse = (a, b) if da > 0 else (b, a)
        diff = (per_seed.loc[better] - per_seed.loc[worse]).dropna()
        agreeing, nonzero = int((diff > 0).sum()), int((diff != 0).sum())
        out.append(
            {
                "trained better": better,
                "prior prefers": worse,
                "group": groups[a] if groups[a] == groups[b] else f"{groups[a]} / {groups[b]}",
                f"{score} difference (prior prefers - trained better)": summary.at[worse, score]
                - summary.at[better, score],
                "accuracy gap (pp)": abs(da),
                "seeds agreeing with trained order": f"{agreeing} of {len(diff)}",
                "mean paired difference (pp)": float(diff.mean()),
                "sign test p": sign_test_p(agreeing, nonzero),
            }
        )
    cols = [
        "trained better",
        "prior prefers",
        "group",
        f"{score} difference (prior prefers - trained better)",
        "accuracy gap (pp)",
        "seeds agreeing with trained order",
        "mean paired difference (pp)",
        "sign test p",
    ]
    df = pd.DataFrame(out, columns=cols)
    return df.sort_values("accuracy gap (pp)", ascending=False, kind="stable").reset_index(drop=True)


# -------------------------------------------------------------------- live check


def cheapest_runs(rows: pd.DataFrame, k: int = 1) -> pd.DataFrame:
    """The ``k`` stored runs with the fewest FLOPs x training images (the
    cheapest to recompute), ties broken by configuration and seed."""
    cost = rows["flops"].astype(float) * rows["train_images"].astype(float) * rows["epochs"].astype(float)
    return rows.assign(_cost=cost).sort_values(["_cost", "config", "seed"]).head(k).drop(columns="_cost")


def live_check(
    spec: StudySpec,
    rows: pd.DataFrame,
    *,
    k: int = 1,
    splits: data.DatasetSplits | None = None,
    data_dir: str | os.PathLike | None = None,
    threads: int | None = 1,
) -> pd.DataFrame:
    """Retrain the ``k`` cheapest stored runs (:func:`cheapest_runs`) and compare
    with their stored rows: per compared column the stored value, the live one,
    the difference and whether it is within :data:`LIVE_TOLERANCE` (counted
    columns -- parameters, FLOPs, the prior's quantities -- to a relative
    ``counted_rel``; accuracies exactly when the live run has the stored row's
    ``torch_version`` and ``threads`` and the stored row records the same CPU
    kernels (:func:`reuseprior.core.cpu.cpu_kernels`: float32 training is bit
    for bit only on the same kernels; column ``case``: ``same software``),
    else to ``accuracy_pp`` percentage points (``other software``; the stored
    rows of :data:`ROW_COLUMNS` record no kernels, so always this case))."""
    if splits is None:
        splits = load_study_data(spec, data_dir=data_dir)
    budgets = study_budgets(spec)
    by_label = {c.label: c for c in spec.configs}
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    out = []
    try:
        for _, stored in cheapest_runs(rows, k).iterrows():
            live = run_one(spec, by_label[stored["config"]], int(stored["seed"]), splits, budgets=budgets)
            same = (
                str(stored["torch_version"]) == str(live["torch_version"])
                and int(stored["threads"]) == int(live["threads"])
                and str(stored.get("cpu_kernels", "")) == cpu_kernels()
            )
            case = "same software" if same else "other software"
            recorded_kernels = stored["cpu_kernels"] if pd.notna(stored.get("cpu_kernels")) else "not recorded"
            pp = LIVE_TOLERANCE["accuracy_pp_same_software" if same else "accuracy_pp"]
            for col in ("params", "flops", *PRIOR_SCORES, "val_top1", "test_top1"):
                a, b = float(stored[col]), float(live[col])
                if col in ("val_top1", "test_top1"):
                    ok, tol = abs(a - b) <= pp, ("exact" if pp == 0 else f"{pp} pp") + f" ({case})"
                else:
                    ok = abs(a - b) <= LIVE_TOLERANCE["counted_rel"] * max(1.0, abs(a))
                    tol = f"rel {LIVE_TOLERANCE['counted_rel']:g}"
                out.append(
                    {
                        "config": stored["config"],
                        "seed": int(stored["seed"]),
                        "column": col,
                        "stored": a,
                        "live": b,
                        "difference": b - a,
                        "tolerance": tol,
                        "within tolerance": bool(ok),
                        "case": case,
                        "stored software": f"torch {stored['torch_version']}, {int(stored['threads'])} thread(s), "
                        f"CPU kernels {recorded_kernels}",
                        "live software": f"torch {live['torch_version']}, {int(live['threads'])} thread(s), "
                        f"CPU kernels {cpu_kernels()}",
                    }
                )
    finally:
        torch.set_num_threads(before)
    return pd.DataFrame(out)


# ------------------------------------------------------------------------- plots


def data_caption(spec: StudySpec, rows: pd.DataFrame, source: str) -> str:
    """Caption of a trained-study figure: data, model family, runs, seeds, where the rows come from."""
    n_train = int(rows["train_images"].iloc[0]) if not rows.empty else spec.train_limit
    return (
        f"data: {spec.dataset} ({n_train} training images, test set once per run); {spec.model}, "
        f"{spec.train.epochs} epochs, batch {spec.train.batch_size}; {rows['config'].nunique()} configurations x "
        f"{rows['seed'].nunique()} seeds; rows: {source}"
    )


#: marker and colour of each scheme in the figures (colour-blind palette, distinct shapes)
SCHEME_STYLE: dict[str, tuple[str, str]] = {
    "none": ("o", "#0173b2"),
    "narrow": ("D", "#d55e00"),
    "scope": ("P", "#cc78bc"),
    "channelwise": ("s", "#de8f05"),
    "scope+channelwise": ("X", "#56b4e9"),
    "ssn": ("^", "#029e73"),
}
#: horizontal offset of the schemes that share a budget (thousands of parameters), for legibility only: the
#: markers of one budget would otherwise overlap (SSN sits at the exact budget); the figure caption says so
DODGE: dict[str, float] = {"none": 0.0, "narrow": 0.3, "scope": -0.3, "channelwise": -0.3, "scope+channelwise": -0.3}
#: fill of the markers by budget (the schemes at several budgets, SSN and the narrower model, differ by it)
BUDGET_FILL: dict[str, str] = {"full": "full", "channelwise": "full", "scope": "none", "scope+channelwise": "left"}


def _seed_range(r: pd.Series) -> list[list[float]]:
    return [[r["test_top1_mean"] - r["test_top1_min"]], [r["test_top1_max"] - r["test_top1_mean"]]]


def _style(r: pd.Series) -> dict[str, Any]:
    """Marker, colour and fill of a configuration: shape and colour by scheme, fill by budget."""
    marker, color = SCHEME_STYLE.get(r["scheme"], ("o", "grey"))
    return {"fmt": marker, "color": color, "fillstyle": BUDGET_FILL.get(r["budget"], "full"), "mfc": color}


def _legend(handles_of: Any, labels_of: Any) -> tuple[list[Any], list[str]]:
    unique = dict(zip(labels_of, handles_of))
    return list(unique.values()), list(unique.keys())


def plot_accuracy_vs_parameters(rows: pd.DataFrame, spec: StudySpec, source: str) -> plt.Figure:
    """Test accuracy against parameters, one marker per configuration (mean over
    seeds, bars from the lowest to the highest seed, the seeds as small dots),
    shape and colour by scheme, fill by budget, the configuration's label in the
    legend. Schemes at one budget are offset sideways by :data:`DODGE` (0.3
    thousand parameters; SSN sits at the exact budget), as the caption says."""
    summary = summarize(rows)
    fig, ax = plt.subplots(figsize=(9.5, 5.0))
    for _, r in summary.iterrows():
        style = _style(r)
        x = r["params"] / 1e3 + DODGE.get(r["scheme"], 0.0)
        ax.errorbar(x, r["test_top1_mean"], yerr=_seed_range(r), ms=7, capsize=3, label=r["config"], **style)
        seeds = rows.loc[rows["config"] == r["config"], "test_top1"]
        ax.scatter([x] * len(seeds), seeds, s=10, color=style["color"], alpha=0.45, zorder=1)
    ax.legend(*_legend(*ax.get_legend_handles_labels()), title="configuration", fontsize=7, loc="lower right")
    ax.set(
        xlabel="parameters of the whole model (thousands)",
        ylabel="test top-1 accuracy (%)",
        title="accuracy vs parameters per sharing scheme (mean over seeds, seed range, seeds as dots)",
    )
    fig.tight_layout()
    caption(
        fig,
        data_caption(spec, rows, source) + "; markers of one budget are offset sideways by 0.3 thousand "
        "parameters for legibility (narrower model right, scope / channel-wise left, SSN at the exact count)",
    )
    return fig


def plot_prior_vs_accuracy(rows: pd.DataFrame, spec: StudySpec, source: str) -> plt.Figure:
    """One panel per prior quantity: the configuration's score against its mean
    test accuracy (bars: seed range), shape and colour by scheme, fill by
    budget; every configuration (each SSN budget too) is named in the legend,
    and SSN's points are labelled with their budget in the panels."""
    summary = summarize(rows)
    fig, axes = plt.subplots(1, len(PRIOR_SCORES), figsize=(4 * len(PRIOR_SCORES), 3.8), sharey=True)
    for ax, score in zip(axes, PRIOR_SCORES):
        for _, r in summary.iterrows():
            ax.errorbar(r[score], r["test_top1_mean"], yerr=_seed_range(r), ms=7, capsize=3, label=r["config"],
                        **_style(r))  # fmt: skip
            if r["scheme"] == "ssn":
                where = (r[score], r["test_top1_mean"])
                name = r["budget"].replace("channelwise", "cw")
                color = _style(r)["color"]
                ax.annotate(name, where, xytext=(5, 3), textcoords="offset points", fontsize=6, color=color)
        ax.set(xlabel=SCORE_LABELS[score], title=score.replace("_prime", "'").replace("_", " "))
    axes[0].set_ylabel("test top-1 accuracy (%)")
    fig.legend(*_legend(*axes[0].get_legend_handles_labels()), title="configuration", fontsize=7, loc="center left",
               bbox_to_anchor=(1.0, 0.5))  # fmt: skip
    fig.tight_layout()
    caption(fig, data_caption(spec, rows, source) + "; SSN's points carry their budget (cw: channel-wise)")
    return fig


# -------------------------------------------------------------- seeds and settings


def describe_study(spec: StudySpec, budgets: Mapping[str, int], rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """The study's configurations with their schemes, options, budgets (count and
    fraction of the unshared model) and whether the scheme is registered; with
    ``rows`` (the stored runs) also the models' actual parameter counts and FLOPs
    as built, their offset from the budget and their FLOPs relative to the
    unshared model (the narrower baseline meets its budget only to the nearest
    width, and it has fewer FLOPs than the shared models, which keep the
    unshared model's computation)."""
    full = budgets["full"]
    table = pd.DataFrame(
        [
            {
                "config": c.label,
                "scheme": c.scheme,
                "options": c.options_json(),
                "budget": c.budget,
                "budget params": budgets.get(c.budget, math.nan),
                "budget fraction": budgets.get(c.budget, math.nan) / full,
                "registered": c.available(),
            }
            for c in spec.configs
        ]
    )
    if rows is None or rows.empty:
        return table
    built = rows.groupby("config")[["params", "flops"]].first()
    table["params (built)"] = table["config"].map(built["params"])
    table["params vs budget (%)"] = 100 * (table["params (built)"] / table["budget params"] - 1)
    table["MFLOPs (built)"] = table["config"].map(built["flops"]) / 1e6
    unshared = built.loc[[c.label for c in spec.configs if c.scheme == "none"], "flops"]
    if len(unshared):
        table["FLOPs vs unshared (%)"] = 100 * (table["MFLOPs (built)"] * 1e6 / float(unshared.iloc[0]) - 1)
    return table


def study_settings(spec: StudySpec) -> dict[str, Any]:
    """The study's settings as plain values (the notebook shows them)."""
    return {
        "study": spec.name,
        "plan_id": plan_id(spec),
        "dataset": spec.dataset,
        "model": spec.model,
        "model kwargs": spec.kwargs,
        "seeds": list(spec.seeds),
        "train images": spec.train_limit,
        "val images": spec.val_limit,
        "augment": spec.augment,
        "low budget fraction": spec.low_budget_fraction,
        "train": {k: v for k, v in asdict(spec.train).items() if k != "seed"},
    }


# ------------------------------------------------------------------ bookkeeping

#: the stored matched-budget bookkeeping table (``python -m reuseprior study ch7 bookkeeping``)
STORED_BOOKKEEPING: Path = paths.DATA_DIR / "ch7_bookkeeping.csv"
#: the seeds' models at 32x32: classes of the dataset each was trained on by the work that uses it
#: (WRN-28-10: NPAS, CIFAR-100; ResNet-56: NPAS, CIFAR-10; EfficientNet-B0: Bidart, ImageNet;
#: EfficientNetV2-S: the thesis, ImageNet)
BOOKKEEPING_SETTINGS: dict[str, dict[str, Any]] = {
    "resnet56_cifar": {"num_classes": 10},
    "wrn_28_10": {"num_classes": 100},
    "efficientnet_b0": {"num_classes": 1000},
    "efficientnet_v2_s": {"num_classes": 1000},
}
#: input of the bookkeeping table's FLOPs and engine counts (one 32x32 RGB image)
BOOKKEEPING_INPUT: tuple[int, int, int] = (3, 32, 32)
#: NPAS Table 14 budgets of WRN-28-10 (percent of the original model)
NPAS_TABLE_14_BUDGETS: tuple[float, ...] = (1.4, 4.1, 5.5, 16.4, 24.6)
BOOKKEEPING_COLUMNS: tuple[str, ...] = (
    "model", "config", "scheme", "options", "budget", "budget_target", "params", "params_fraction", "flops",
    "PG", "PG_prime", "expected_spread", "entropy", "NG", "engine_error", "engine_time_s",
)  # fmt: skip


def bookkeeping_configs(model: str, budgets: Mapping[str, int]) -> list[SchemeConfig]:
    """The configurations of one model's bookkeeping rows: unshared, scope,
    channel-wise s in {2, 4, 8} and scope + channel-wise s=8 where the model has
    depthwise convolutions, and SSN at every budget those land on (SSN- below the
    model's size); for WRN-28-10 also SSN at NPAS Table 14's budgets."""
    configs = [_cfg("unshared", "none", "full"), _cfg("scope", "scope", "scope")]
    if "channelwise" in budgets:
        configs += [_cfg(f"channel-wise s={s}", "channelwise", f"channelwise s={s}", reuse=s) for s in (2, 4)]
        configs.append(_cfg(f"channel-wise s={CHANNELWISE_REUSE}", "channelwise", "channelwise", reuse=8))
        configs.append(
            _cfg(f"scope + channel-wise s={CHANNELWISE_REUSE}", "scope+channelwise", "scope+channelwise", reuse=8)
        )
    for budget in ("scope", "channelwise", "scope+channelwise"):
        if budget in budgets:
            configs.append(
                _cfg(f"SSN @ {budget.replace('+', ' + ').replace('wise', '-wise')}", "ssn", budget, **SSN_OPTIONS)
            )
    if model == "wrn_28_10":
        for percent in NPAS_TABLE_14_BUDGETS:
            configs.append(_cfg(f"SSN @ {percent:g} % (NPAS Table 14)", "ssn", f"{percent:g}%", **SSN_OPTIONS))
    return configs


def _bookkeeping_spec(model: str) -> StudySpec:
    """A study spec that only carries the model (its budgets and configurations are the bookkeeping's)."""
    kwargs = tuple(sorted(BOOKKEEPING_SETTINGS.get(model, {}).items()))
    percents = NPAS_TABLE_14_BUDGETS if model == "wrn_28_10" else ()
    return replace(
        CPU_STUDY, name=f"bookkeeping-{model}", model=model, model_kwargs=kwargs, configs=(), percent_budgets=percents
    )


def bookkeeping_budgets(model: str) -> dict[str, int]:
    """:func:`study_budgets` of ``model`` (without ``low``); for WRN-28-10 with NPAS Table 14's percentages."""
    budgets = study_budgets(_bookkeeping_spec(model))
    budgets.pop("low", None)
    return budgets


def bookkeeping_row(model: str, config: SchemeConfig, budgets: Mapping[str, int]) -> dict[str, Any]:
    """One bookkeeping row: ``config`` on ``model`` as built (seed 0), its
    parameters, FLOPs of one 32x32 image and the prior's quantities."""
    spec = _bookkeeping_spec(model)
    built = build_config_model(spec, config, 0, budgets)
    scores = prior_scores(built, BOOKKEEPING_INPUT)
    params = count_parameters(built)
    return {
        "model": model,
        "config": config.label,
        "scheme": config.scheme,
        "options": config.options_json(),
        "budget": config.budget,
        "budget_target": int(budgets[config.budget]),
        "params": params,
        "params_fraction": params / budgets["full"],
        "flops": count_flops(built, BOOKKEEPING_INPUT),
        **{k: scores[k] for k in (*PRIOR_SCORES, "NG", "engine_error", "engine_time_s")},
    }


def read_bookkeeping(path: str | os.PathLike = STORED_BOOKKEEPING) -> pd.DataFrame:
    """The stored bookkeeping rows (empty with :data:`BOOKKEEPING_COLUMNS` when absent)."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=list(BOOKKEEPING_COLUMNS))
    df = pd.read_csv(path)
    missing = [c for c in BOOKKEEPING_COLUMNS if c not in df.columns]
    if missing:
        raise CsvFormatError(path, 1, f"missing columns {missing}", "it is not a chapter 7 bookkeeping table")
    dup = df.duplicated(["model", "config"])
    if dup.any():
        line = int(np.flatnonzero(dup.to_numpy())[0]) + 2
        raise CsvFormatError(path, line, "this (model, config) row is stored twice", "delete one")
    return df


def store_bookkeeping(
    models: Iterable[str] = BOOKKEEPING_MODELS,
    path: str | os.PathLike = STORED_BOOKKEEPING,
    *,
    progress: bool = True,
) -> pd.DataFrame:
    """Compute the missing bookkeeping rows of ``models`` and append each to
    ``path`` as it finishes (atomically; a rerun skips stored rows). Returns
    every stored row."""
    path = Path(path)
    for model in models:
        done = read_bookkeeping(path)
        have = set(done.loc[done["model"] == model, "config"]) if not done.empty else set()
        budgets = bookkeeping_budgets(model)
        todo = [c for c in bookkeeping_configs(model, budgets) if c.available() and c.label not in have]
        for config in tqdm(todo, desc=model, unit="row", disable=not progress):
            row = bookkeeping_row(model, config, budgets)
            done = read_bookkeeping(path)
            new = pd.DataFrame([{c: row.get(c) for c in BOOKKEEPING_COLUMNS}])
            write_csv(new if done.empty else pd.concat([done, new], ignore_index=True), path)
    return read_bookkeeping(path)


def bookkeeping_live_check(stored: pd.DataFrame) -> pd.DataFrame:
    """Recompute one stored bookkeeping row, the cheapest: of the model whose
    unshared size is smallest (building it is cheap), the configuration the
    engine counted fastest when stored; compare every counted column (relative
    tolerance ``LIVE_TOLERANCE["counted_rel"]``)."""
    sizes = stored[stored["scheme"] == "none"].set_index("model")["params"]
    smallest = stored[stored["model"] == sizes.idxmin()]
    row = smallest.sort_values(["engine_time_s", "config"]).iloc[0]
    budgets = bookkeeping_budgets(row["model"])
    config = {c.label: c for c in bookkeeping_configs(row["model"], budgets)}[row["config"]]
    live = bookkeeping_row(row["model"], config, budgets)
    out = []
    for col in ("params", "flops", *PRIOR_SCORES):
        a, b = float(row[col]), float(live[col])
        out.append(
            {
                "model": row["model"],
                "config": row["config"],
                "column": col,
                "stored": a,
                "live": b,
                "difference": b - a,
                "within tolerance": bool(abs(a - b) <= LIVE_TOLERANCE["counted_rel"] * max(1.0, abs(a))),
            }
        )
    return pd.DataFrame(out)


def bookkeeping_wide(stored: pd.DataFrame) -> pd.DataFrame:
    """The bookkeeping rows side by side: per model and configuration, parameters
    (M and % of the unshared model), GFLOPs of one 32x32 image, PG, P'G, ES, H."""
    t = stored.copy()
    t["params (M)"] = t["params"] / 1e6
    t["params (%)"] = 100 * t["params_fraction"]
    t["GFLOPs @32"] = t["flops"] / 1e9
    cols = ["model", "config", "params (M)", "params (%)", "GFLOPs @32", *PRIOR_SCORES, "engine_error"]
    return t[cols].rename(columns={"PG_prime": "P'G", "expected_spread": "ES", "entropy": "H"})


#: why each reading of a seed's printed number that does not reproduce it fails (keyed by the
#: reading's quantity and source in :func:`reuseprior.models.sharing.budgets.npas_bookkeeping`);
#: the matching reading of the same printed number, where there is one, is the one adopted
READING_NOTES: dict[tuple[str, str], str] = {
    ("WRN-28-10 parameters, CIFAR-100", "NPAS Tables 7, 9, 12"): (
        "36.54 M does not round to 36; the CIFAR-10 model's 36.48 M does (or 36.54 M truncated): "
        "these tables' 36 M reads as the 10-class count"
    ),
    ("WRN-28-10 budget at 11.3 % (Tables 4, 7)", "NPAS section 4.3: 'just under 4M parameters'"): (
        "11.3 % of 36.5 M is 4.13 M, above 4 M; 'just under 4M' fits the largest layer (3.69 M) instead"
    ),
    ("WRN-28-10 largest layer as % (Tables 4, 7)", "NPAS Table 7"): (
        "the largest layer is 10.1 % of the model, not 11.3 %; no reading tried gives 11.3 %"
    ),
    ("Table 14 budget 24.6 % as 9 M, CIFAR-10", "NPAS Table 14"): (
        "9 M is 24.67 % of the 10-class model; Table 14's percentages read as the 100-class (CIFAR-100) count"
    ),
    ("Table 12(c) rule, SSN-WRN-28-10, one store", "NPAS Table 12(c)"): (
        "one store of the largest layer is 10.1 %; with the classifier as a second store 10.3 % (the adopted reading)"
    ),
    ("WRN-40-10 as % of WRN-28-10, CIFAR-100", "NPAS Table 12(a)"): (
        "the 100-class ratio is 153.0 %; the 10-class ratio gives the printed 153.1 % (adopted)"
    ),
    ("WRN-52-10 as % of WRN-28-10, CIFAR-100", "NPAS Table 12(a)"): (
        "the 100-class ratio is 206.0 %; the 10-class ratio gives the printed 206.2 % (adopted)"
    ),
    ("WRN-76-12 as % of WRN-28-10, CIFAR-100", "NPAS Table 12(a)"): (
        "449.2 %; neither class count gives the printed 449.6 % (10 classes: 449.7 %)"
    ),
    ("WRN-76-12 as % of WRN-28-10, CIFAR-10", "NPAS Table 12(a)"): (
        "449.7 %; neither class count gives the printed 449.6 % (100 classes: 449.2 %)"
    ),
    ("ResNet-56 parameters, option B shortcuts", "He et al. 2016 Table 6"): (
        "projection shortcuts make ResNet-56 0.856 M, which does not round to 0.85 M; option A (adopted) does"
    ),
    ("ResNet-56 SSN- read as a round total of 100,000 parameters", "NPAS Table 2(b)"): (
        "Table 14's reading (a round total) gives 11.7 %; a 100,000-weight store plus the BN and bias "
        "parameters gives the printed 12.2 % (adopted)"
    ),
}

_READING_QUALIFIERS = (
    r", (CIFAR-10|CIFAR-100)$",
    r", option [AB] shortcuts$",
    r", (one store|two stores.*)$",
    r" as (a round count, )?[\d.]+ M$",
    r" read as .*$",
)


def printed_number(quantity: str) -> str:
    """The printed number a reading reads: the reading's quantity without its
    qualifier (the class count, the shortcut option, the store count, the round
    count it is read as), so every reading of one printed number shares it."""
    base = quantity
    for _ in range(2):  # "... as 9 M, CIFAR-10": the class count, then the round count
        for pattern in _READING_QUALIFIERS:
            base = re.sub(pattern, "", base)
    return base


def printed_numbers(readings: pd.DataFrame) -> pd.DataFrame:
    """The seeds' bookkeeping per distinct printed number (work, source, printed
    value, unit, :func:`printed_number`): how many readings were tried, how many
    reproduce it, and which do. A printed number counts as reproduced when at
    least one of its readings does."""
    keyed = readings.assign(number=readings["quantity"].map(printed_number))
    keys = ["work", "source", "number", "printed", "unit"]
    out = keyed.groupby(keys, sort=False).agg(
        readings=("matches", "size"),
        matching=("matches", "sum"),
        matching_readings=("quantity", lambda q: "; ".join(q[keyed.loc[q.index, "matches"]]) or "none"),
    )
    out["reproduced"] = out["matching"] > 0
    return out.reset_index().rename(columns={"matching_readings": "readings that reproduce it"})


def reading_notes(readings: pd.DataFrame) -> pd.DataFrame:
    """The readings that do not reproduce their printed number, each with its
    note from :data:`READING_NOTES` (``"(no note)"`` where none is written)."""
    off = readings.loc[~readings["matches"].astype(bool)].copy()
    off["note"] = [READING_NOTES.get((q, src), "(no note)") for q, src in zip(off["quantity"], off["source"])]
    return off


#: the groups of a shared model's parameters in :func:`context_mass_shares` (matched in this order)
MASS_GROUPS: tuple[tuple[str, str], ...] = (
    (".store", "SSN store elements"),
    (".coefficients.", "SSN per-layer embeddings / coefficients (alpha)"),
    (".embedders.", "Emb linear layer E (weight and bias)"),
    (".masks.", "Mask upsampler masks"),
)


def _mass_group(name: str) -> str:
    if name.startswith("weight_sources."):
        for marker, group in MASS_GROUPS:
            if marker in name:
                return group
        return "other generator parameters"
    return "the model's own parameters (BN, biases, unshared layers)"


def context_mass_shares(model: nn.Module, input_shape: Sequence[int]) -> pd.DataFrame:
    """Where the probability mass of the prior sits in ``model`` (thesis eq. 4.1
    counts, :func:`reuseprior.counting.count_contexts` per parameter element,
    one zero input of ``input_shape``, eval mode): per group of parameters
    (:data:`MASS_GROUPS`) the elements, the share of ``NC = sum_i c_i`` they
    carry (``p_i = c_i / NC``) and their part of ``H = -sum_i p_i log2 p_i``
    (batch norm's running statistics, which ``analyze`` adds, are left out);
    a last row ``all`` sums them (its H is within a few hundredths of bits of
    ``analyze``'s)."""
    probe = copy.deepcopy(model).eval()
    logs = count_contexts(probe, torch.zeros(1, *input_shape))
    flat = {name: v.detach().double().flatten().numpy() for name, v in logs.items()}
    top = max(float(v.max()) for v in flat.values() if v.size)
    total = sum(float(np.sum(np.exp2(v - top))) for v in flat.values())
    acc: dict[str, list[float]] = {}
    for name, v in flat.items():
        p = np.exp2(v - top) / total
        p = p[p > 0]
        entry = acc.setdefault(_mass_group(name), [0, 0.0, 0.0])
        entry[0] += v.size
        entry[1] += float(p.sum())
        entry[2] += float(-(p * np.log2(p)).sum())
    table = pd.DataFrame(
        [{"parameters": g, "elements": int(n), "share of NC": m, "part of H (bits)": h} for g, (n, m, h) in acc.items()]
    ).sort_values("share of NC", ascending=False, kind="stable")
    total_row = {
        "parameters": "all",
        "elements": int(table["elements"].sum()),
        "share of NC": float(table["share of NC"].sum()),
        "part of H (bits)": float(table["part of H (bits)"].sum()),
    }
    table = pd.concat([table, pd.DataFrame([total_row])], ignore_index=True)
    table["log2 elements"] = np.log2(table["elements"].astype(float))
    return table


def depthwise_context_shares(models: Iterable[str] = ("efficientnet_b0", "efficientnet_v2_s")) -> pd.DataFrame:
    """Per bookkeeping model (unshared, seed 0, one 32x32 input): its depthwise
    convolutions, their weights, the first one's module name, and the share of
    the context mass ``NC`` their weights carry. Channel-wise sharing with reuse
    ``s`` merges ``s`` kernels into one stored kernel, which lowers H by about
    ``share x log2 s`` bits (when the merged kernels have similar counts), so a
    negligible share leaves ES and H unchanged."""
    out = []
    for name in models:
        model = _base_model(_bookkeeping_spec(name), 0).eval()
        depthwise = [
            (n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d) and m.groups == m.in_channels > 1
        ]
        logs = count_contexts(model, torch.zeros(1, *BOOKKEEPING_INPUT))
        flat = {k: v.detach().double().flatten().numpy() for k, v in logs.items()}
        top = max(float(v.max()) for v in flat.values() if v.size)
        total = sum(float(np.sum(np.exp2(v - top))) for v in flat.values())
        names = {f"{n}.weight" for n, _ in depthwise}
        mass = sum(float(np.sum(np.exp2(v - top))) for k, v in flat.items() if k in names)
        out.append(
            {
                "model": name,
                "depthwise convolutions": len(depthwise),
                "depthwise weights": sum(m.weight.numel() for _, m in depthwise),
                "first depthwise convolution": depthwise[0][0] if depthwise else "none",
                "share of NC": mass / total,
            }
        )
    return pd.DataFrame(out)


def sharing_shifts(stored: pd.DataFrame, scheme: str) -> pd.DataFrame:
    """Per bookkeeping model: the largest absolute change of ES and H between
    the unshared model and its rows of ``scheme`` (``scope``, ``channelwise``,
    ``scope+channelwise``)."""
    out = []
    for model, rows in stored.groupby("model", sort=False):
        base = rows[rows["scheme"] == "none"]
        mine = rows[rows["scheme"] == scheme]
        if base.empty or mine.empty:
            continue
        out.append(
            {
                "model": model,
                "scheme": scheme,
                "rows": len(mine),
                "max |change of ES|": float((mine["expected_spread"] - base["expected_spread"].iloc[0]).abs().max()),
                "max |change of H|": float((mine["entropy"] - base["entropy"].iloc[0]).abs().max()),
            }
        )
    return pd.DataFrame(out)


# ----------------------------------------------------------------- the notebook


def parameters_to_overrides(*, data_dir: str | None = None, download: bool | None = None) -> dict[str, Any]:
    """The notebook's papermill parameters as ``setup(overrides=...)`` (``None``: the profile's value)."""
    if download is not None and not isinstance(download, bool):
        raise ValueError(f"download={download!r} must be True or False (papermill: -p download True)")
    return {k: v for k, v in {"data_dir": data_dir, "download": download}.items() if v is not None}


def runs_path(spec: StudySpec) -> Path:
    """Where a study's rows are: the stored CPU study under ``data/``, any other
    (the paper profile's) in its own run log under ``build/`` (untracked)."""
    if spec == CPU_STUDY:
        return STORED_RUNS
    return paths.BUILD_DIR / "ch7_sharing_schemes" / f"runs_{spec.name}.csv"


def profile_rows(
    settings: SharingSchemesProfile, device: torch.device | str = "cpu", *, progress: bool = True
) -> dict[str, tuple[pd.DataFrame, str]]:
    """Per study of the profile: its rows and where they come from. ``train_live``
    trains the pending runs first (:func:`run_study`, resumable, into
    :func:`runs_path`); otherwise the stored rows are read. A missing dataset
    raises :class:`~reuseprior.core.errors.DatasetNotFoundError` with the command
    that fetches it."""
    out = {}
    for spec in settings.studies:
        path = runs_path(spec)
        if settings.train_live:
            run_study(
                spec,
                path,
                data_dir=settings.data_dir,
                download=settings.download,
                device=device,
                threads=None,
                progress=progress,
            )
        source = str(path.relative_to(paths.ROOT)) if path.is_relative_to(paths.ROOT) else str(path)
        out[spec.name] = (study_rows(spec, path), source + (" (trained by this run)" if settings.train_live else ""))
    return out


#: what the NPAS comparison shows for the reduced baseline (the narrower WRN), which the paper profile does not train
NOT_RUN_NARROW_WRN = "not run (no fractional-width WRN builder)"


def printed_beside_trained(spec: StudySpec, rows: pd.DataFrame) -> pd.DataFrame:
    """The seed's printed errors beside this study's trained ones, where the study
    is a seed's own setting: NPAS Table 14 (WRN-28-10 on CIFAR-100: the reduced
    baseline ``WRN`` and ``SSN-WRN-28-10`` per budget) and Bidart's
    EfficientNet-B0 table (top-1 per depthwise share). Columns: setting, printed
    error (%), ours (100 - mean test top-1, NaN until trained), difference."""
    summary = summarize(rows) if not rows.empty else pd.DataFrame(columns=["config", "test_top1_mean"])
    ours = dict(zip(summary["config"], 100 - summary["test_top1_mean"]))
    out = []
    if spec.name == NPAS_STUDY.name:
        printed = load_seed_table("npas_table14")
        printed = printed[printed["group"] == "wrn"]
        run = {c.label for c in spec.configs}
        for _, r in printed.iterrows():
            label = f"SSN @ {r['percent']:g}%" if r["method"].startswith("SSN") else f"narrower @ {r['percent']:g}%"
            out.append(
                {
                    "setting": f"{r['method']} @ {r['percent_printed']}",
                    "printed error (%)": r["error"],
                    "source": "NPAS Table 14 (CIFAR-100 Error@1)",
                    "ours": label if label in run else NOT_RUN_NARROW_WRN,
                    "our error (%)": ours.get(label, math.nan) if label in run else math.nan,
                }
            )
    elif spec.name == BIDART_STUDY.name:
        printed = load_seed_table("bidart_efficientnet_b0_imagenet")
        for _, r in printed.iterrows():
            label = "unshared" if int(r["reuse"]) == 1 else f"channel-wise s={int(r['reuse'])}"
            out.append(
                {
                    "setting": f"EfficientNet-B0, {r['remaining_printed']}",
                    "printed error (%)": 100 - r["top1"],
                    "source": "Bidart section 3.6.3 (ImageNet top-1 error)",
                    "ours": label,
                    "our error (%)": ours.get(label, math.nan),
                }
            )
    df = pd.DataFrame(out)
    if not df.empty:
        df["difference (pp)"] = df["our error (%)"] - df["printed error (%)"]
    return df


def reading(agreement: pd.DataFrame, rank: pd.DataFrame, disagree: pd.DataFrame, score: str = "PG") -> str:
    """The ranking result in words, generated from the tables (so the narrative
    cannot fall behind the stored rows): the pooled and within-budget agreement
    of every score with its interval, the naive baseline's, and the prior's
    largest within-budget mistake."""

    def interval(r: pd.Series, key: str) -> str:
        return f"{r[key]:+.2f} [{r[f'{key} lo']:+.2f}, {r[f'{key} hi']:+.2f}]"

    def verdict(r: pd.Series, key: str) -> str:
        lo, hi = r[f"{key} lo"], r[f"{key} hi"]
        if not (np.isfinite(lo) and np.isfinite(hi)):
            return "undefined"
        if lo > 0:
            return "agreement (interval above 0)"
        if hi < 0:
            return "the opposite ranking (interval below 0)"
        return "no detectable agreement (interval contains 0)"

    lines = [
        f"From {int(agreement['configs'].iloc[0])} configurations x {int(agreement['seeds'].iloc[0])} seeds "
        "(95 % bootstrap intervals over seeds):",
        "",
    ]
    for _, r in agreement.iterrows():
        name = "parameter count (naive baseline)" if r["score"] == "params" else SCORE_LABELS[r["score"]]
        lines.append(
            f"- **{name}**: pooled Spearman {interval(r, 'spearman')}, Kendall {interval(r, 'kendall')}; "
            f"within matched budgets Kendall {interval(r, 'kendall within budget')}: "
            f"{verdict(r, 'kendall within budget')}."
        )
    if not disagree.empty:
        worst = disagree.iloc[0]
        lines += [
            "",
            f"The largest within-budget mistake of {score}: it prefers **{worst['prior prefers']}** to "
            f"**{worst['trained better']}**, which trains {worst['accuracy gap (pp)']:.2f} points better "
            f"({worst['seeds agreeing with trained order']} seeds agree in sign, mean paired difference "
            f"{worst['mean paired difference (pp)']:+.2f} points, sign test p = {worst['sign test p']:.2f}).",
        ]
    lines += ["", f"Order within each matched budget (best first), by training and by {score}:", ""]
    for group, members in rank.groupby("group", sort=False):
        if len(members) < 2:
            continue
        trained = " > ".join(members.sort_values("test_top1_mean", ascending=False)["config"])
        prior = " > ".join(members.sort_values(score, ascending=False)["config"])
        lines.append(f"- {group}: trained {trained}; {score} {prior}.")
    top_trained = rank.sort_values("trained rank").iloc[0]
    top_prior = rank.sort_values("prior rank").iloc[0]
    lines += [
        "",
        f"Best trained configuration: {top_trained['config']} ({top_trained['test_top1_mean']:.2f} %); "
        f"the configuration {score} ranks first: {top_prior['config']} ({top_prior['test_top1_mean']:.2f} %).",
    ]
    return "\n".join(lines)
