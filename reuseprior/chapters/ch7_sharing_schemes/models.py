"""Chapter 7's data and models: the study's splits, the matched budgets and the configured models."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from reuseprior import datasets as data
from reuseprior.chapters.ch7_sharing_schemes.configs import CHANNELWISE_REUSE, PROFILES, SchemeConfig, SharingDesign
from reuseprior.core.errors import SharingError
from reuseprior.core.parameters import count_parameters
from reuseprior.models.registry import build_model
from reuseprior.models.sharing import SCHEMES, share
from reuseprior.reporting.plan import ChapterNeeds, DataNeed, data_dir_of


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


def build_needs(profile: str, parameters: Mapping[str, Any]) -> ChapterNeeds:
    """What the notebook reads on ``profile`` (:mod:`reuseprior.reporting.plan`):
    the dataset of every study of the profile (the paper profile trains them;
    the quick profile retrains one stored run), under ``data_dir`` as
    :func:`load_study_data` looks for it (ImageNet in ``data_dir/imagenet``).
    The code has no time estimate for the studies."""
    root = data_dir_of(parameters)
    needs = {
        design.dataset: DataNeed(design.dataset, root / "imagenet" if design.dataset == "imagenet" else root)
        for design in PROFILES[profile].designs
    }
    return ChapterNeeds(tuple(needs.values()))


def load_study_data(
    design: SharingDesign, *, data_dir: str | os.PathLike | None = None, download: bool = False
) -> data.DatasetSplits:
    """The study's train / validation / test splits as in-memory tensors.

    The validation split is :func:`reuseprior.datasets.load_torchvision_splits`'s
    (10 % of the training files, ``design.split_seed``); the training subset is the
    first ``design.train_limit`` images of a ``split_seed`` permutation of the rest
    (the same images for every run seed); the test set is the official one.
    Images are scaled to [0, 1] and standardised per channel with the training
    subset's mean and standard deviation. A missing dataset raises
    :class:`~reuseprior.core.errors.DatasetNotFoundError` naming the command that
    fetches it; nothing else is substituted. ImageNet: the folder of
    :func:`reuseprior.datasets.load_imagenet_folder` (streamed, not in memory)."""
    root = Path(data_dir) if data_dir is not None else data.DEFAULT_DATA_DIR
    if design.dataset == "imagenet":
        return data.load_imagenet_folder(root / "imagenet", seed=design.split_seed)
    splits = data.load_torchvision_splits(design.dataset, root, download=download, seed=design.split_seed)
    train_images, train_labels = _as_tensors(splits.train.dataset)
    test_images, test_labels = _as_tensors(splits.test)
    train_idx = torch.as_tensor(splits.train.indices)
    val_idx = torch.as_tensor(splits.val.indices)
    order = torch.randperm(len(train_idx), generator=torch.Generator().manual_seed(design.split_seed))
    train_idx = train_idx[order[: design.train_limit] if design.train_limit is not None else order]
    if design.val_limit is not None:
        val_idx = val_idx[: design.val_limit]
    train_x = train_images[train_idx]
    mean = train_x.mean(dim=(0, 2, 3), keepdim=True)
    std = train_x.std(dim=(0, 2, 3), keepdim=True)

    def norm(x: torch.Tensor) -> torch.Tensor:
        return (x - mean) / std

    train_set: Dataset = (
        _AugmentedImages(norm(train_x), train_labels[train_idx])
        if design.augment
        else TensorDataset(norm(train_x), train_labels[train_idx])
    )
    return data.DatasetSplits(
        train=train_set,
        val=TensorDataset(norm(train_images[val_idx]), train_labels[val_idx]),
        test=TensorDataset(norm(test_images), test_labels),
        num_classes=splits.num_classes,
        input_shape=splits.input_shape,
        description=(
            f"{design.dataset} (torchvision files), train/val/test = {len(train_idx)}/{len(val_idx)}/"
            f"{len(test_labels)} images (split seed {design.split_seed})"
        ),
    )


# -------------------------------------------------------------------- the models


def base_model(design: SharingDesign, seed: int, **overrides: Any) -> nn.Module:
    """The unshared model of the study, initialised from ``seed`` (its own
    generator state; the caller's global generator is left alone)."""
    kwargs = {**design.kwargs, **overrides}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(design.model, **kwargs)


def study_budgets(design: SharingDesign, seed: int = 0) -> dict[str, int]:
    """The matched budgets (parameter counts of the whole model) of the study:
    ``full`` (the unshared model), ``scope`` (where scope sharing lands),
    ``channelwise`` (where channel-wise sharing with :data:`CHANNELWISE_REUSE`
    lands; ``channelwise s=2`` and ``s=4`` for the other reuses),
    ``scope+channelwise`` (both), ``low`` (``design.low_budget_fraction`` of
    ``full``) and ``"<p>%"`` for each of ``design.percent_budgets``. A budget whose
    scheme is not registered (or does not apply) is left out."""
    base = base_model(design, seed)
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
    budgets["low"] = max(1, round(design.low_budget_fraction * full))
    for percent in design.percent_budgets:
        budgets[f"{percent:g}%"] = round(percent / 100 * full)
    return budgets


#: width arguments that take whole numbers (the narrower baseline scans them upwards)
INTEGER_WIDTHS = ("width",)


@functools.lru_cache(maxsize=64)
def narrow_width(design: SharingDesign, budget: int, *, tolerance: int = 48) -> float:
    """The width (``design.width_option``) of the unshared model whose parameter
    count is nearest to ``budget``. A multiplier (``width_mult``; channels
    rounded to whole numbers, ``channel_divisor=1`` for the compact family):
    bisection (the count grows with it), ``tolerance`` steps, then the nearer of
    the two counts around the budget. A whole width (:data:`INTEGER_WIDTHS`):
    the nearest of 1, 2, 3, ... Cached per (design, budget)."""
    extra = {"channel_divisor": 1} if design.model == "compact_net" else {}
    option = design.width_option

    def params(w: float) -> int:
        return count_parameters(build_model(design.model, **{**design.kwargs, **extra, option: w}))

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
    design: SharingDesign, config: SchemeConfig, seed: int, budgets: Mapping[str, int] | None = None
) -> nn.Module:
    """The model of ``config`` for run seed ``seed``: the base model initialised
    from ``seed`` (every configuration of one seed starts from the same draw),
    then shared by the configuration's scheme at its budget; ``narrow`` builds
    the unshared model at :func:`narrow_width` instead (its own architecture, so
    its own draw from the same seed)."""
    budgets = dict(budgets) if budgets is not None else study_budgets(design)
    if config.budget not in budgets:
        raise SharingError(
            f"{config.label}: budget {config.budget!r} is not defined for {design.name} (known: {sorted(budgets)}); "
            "its scheme is not registered or does not apply to this model"
        )
    options = config.options_dict
    if config.scheme == "narrow":
        extra = {"channel_divisor": 1} if design.model == "compact_net" else {}
        extra[design.width_option] = narrow_width(design, budgets[config.budget])
        return base_model(design, seed, **extra)
    base = base_model(design, seed)
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
