"""Datasets with one fixed validation split and a test set kept for reporting.

* ``load_digits_splits``: the real 8x8 handwritten digits that ship with
  scikit-learn (1,797 images, 10 classes). Runs anywhere, no download; the
  quick profile of every training notebook uses it.
* ``load_torchvision_splits``: MNIST, CIFAR-10 and CIFAR-100 through
  torchvision (paper profile). Nothing is downloaded unless ``download=True``;
  a missing dataset raises :class:`DatasetNotFoundError` with the command that
  fetches it.
* ``load_imagenet_folder``: an ImageNet-1K folder in torchvision's
  ``ImageFolder`` layout (``train/<wnid>/*.JPEG``, ``val/<wnid>/*.JPEG``).

The validation set is carved once from the training set by a seeded
permutation (10% by default, thesis section 3.5 and appendix C.2) and is
disjoint from the training indices; the test set is only for reporting.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, Subset, TensorDataset

__all__ = [
    "DatasetDownloadError",
    "DatasetNotFoundError",
    "DatasetSplits",
    "download_command",
    "load_digits_splits",
    "load_imagenet_folder",
    "load_torchvision_splits",
    "split_indices",
]

TorchvisionName = Literal["mnist", "cifar10", "cifar100"]
_TORCHVISION_CLASSES = {"mnist": ("MNIST", 10, (1, 28, 28)), "cifar10": ("CIFAR10", 10, (3, 32, 32)), "cifar100": ("CIFAR100", 100, (3, 32, 32))}


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is not on disk and downloading was not requested."""


class DatasetDownloadError(RuntimeError):
    """Downloading a dataset was requested and failed (no network, server down)."""


@dataclass(frozen=True)
class DatasetSplits:
    """Train / validation / test datasets plus what a model needs to know."""

    train: Dataset
    val: Dataset
    test: Dataset
    num_classes: int
    input_shape: tuple[int, ...]
    description: str

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint (train, val) index arrays: a seeded permutation, the first
    ``round(val_fraction * n)`` indices for validation."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction={val_fraction!r} must be strictly between 0 and 1")
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(val_fraction * n)))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def load_digits_splits(
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    image_size: int = 8,
    channels: int = 1,
    limit: int | None = None,
) -> DatasetSplits:
    """scikit-learn's 8x8 digits as image tensors.

    The test set is a stratified ``test_fraction`` of the 1,797 images, the
    validation set ``val_fraction`` of the rest. Pixels are scaled to [0, 1],
    bilinearly resized to ``image_size`` and repeated to ``channels``, then
    standardised with the training set's mean and standard deviation.
    ``limit`` keeps only the first ``limit`` training images (tiny CI runs).
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if channels not in (1, 3):
        raise ValueError(f"channels={channels!r}: use 1 (grey) or 3 (repeated grey, for RGB models)")
    if image_size < 8:
        raise ValueError(f"image_size={image_size!r}: the digits are 8x8; use 8 or larger")
    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(digits.target, dtype=torch.long)
    if image_size != 8:
        images = F.interpolate(images, size=(image_size, image_size), mode="bilinear", align_corners=False)
    images = images.repeat(1, channels, 1, 1)
    rest, test = train_test_split(
        np.arange(len(labels)), test_size=test_fraction, random_state=seed, stratify=digits.target
    )
    rest = np.sort(rest)
    tr, va = split_indices(len(rest), val_fraction, seed)
    train_idx, val_idx = rest[tr], rest[va]
    if limit is not None:
        train_idx = train_idx[:limit]
    mean, std = images[train_idx].mean(), images[train_idx].std()
    images = (images - mean) / std

    def part(idx: np.ndarray) -> TensorDataset:
        index = torch.as_tensor(idx)
        return TensorDataset(images[index], labels[index])

    return DatasetSplits(
        train=part(train_idx),
        val=part(val_idx),
        test=part(np.sort(test)),
        num_classes=10,
        input_shape=(channels, image_size, image_size),
        description=(
            f"scikit-learn digits (real 8x8 handwritten digits) resized to {image_size}x{image_size}, "
            f"{channels} channel(s); train/val/test = {len(train_idx)}/{len(val_idx)}/{len(test)} "
            f"(seed {seed}, val {val_fraction:.0%} of train, test {test_fraction:.0%} stratified)"
        ),
    )


def download_command(name: str, data_dir: str | Path) -> str:
    return f"python -m reuseprior data download {name} --data-dir {data_dir}"


def load_torchvision_splits(
    name: TorchvisionName,
    data_dir: str | Path,
    download: bool = False,
    seed: int = 0,
    val_fraction: float = 0.1,
    train_transform: Callable | None = None,
    eval_transform: Callable | None = None,
) -> DatasetSplits:
    """MNIST / CIFAR-10 / CIFAR-100 with a fixed validation split.

    Validation images come from the training files but use
    ``eval_transform`` (no augmentation); the official test split is the
    test set. Default transforms convert to tensors only.
    """
    import torchvision
    from torchvision import transforms as T

    key = name.lower()
    if key not in _TORCHVISION_CLASSES:
        raise ValueError(f"dataset {name!r} is not supported; use one of {sorted(_TORCHVISION_CLASSES)}")
    cls_name, num_classes, shape = _TORCHVISION_CLASSES[key]
    cls = getattr(torchvision.datasets, cls_name)
    train_transform = train_transform or T.ToTensor()
    eval_transform = eval_transform or T.ToTensor()
    root = Path(data_dir).expanduser()
    try:
        train_aug = cls(root, train=True, transform=train_transform, download=download)
        train_plain = cls(root, train=True, transform=eval_transform, download=False)
        test = cls(root, train=False, transform=eval_transform, download=download)
    except (RuntimeError, OSError) as err:
        if download:
            reason = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
            raise DatasetDownloadError(
                f"could not download {cls_name} into {root} ({reason}). Without network access here, run "
                f"`{download_command(key, root)}` on a connected machine and copy {root} over, then run without download."
            ) from err
        if "not found" in str(err).lower() or "download=True" in str(err):
            raise DatasetNotFoundError(
                f"{cls_name} is not under {root}. Fetch it with `{download_command(key, root)}` "
                f"or pass download=True (papermill: -p download true)."
            ) from err
        raise
    tr, va = split_indices(len(train_aug), val_fraction, seed)
    return DatasetSplits(
        train=Subset(train_aug, tr.tolist()),
        val=Subset(train_plain, va.tolist()),
        test=test,
        num_classes=num_classes,
        input_shape=shape,
        description=f"torchvision {cls_name} from {root}; train/val/test = {len(tr)}/{len(va)}/{len(test)} (seed {seed})",
    )


def load_imagenet_folder(
    data_dir: str | Path,
    seed: int = 0,
    val_fraction: float = 0.01,
    train_transform: Callable | None = None,
    eval_transform: Callable | None = None,
) -> DatasetSplits:
    """ImageNet-1K from ``data_dir/train`` and ``data_dir/val`` (ImageFolder
    layout; ImageNet cannot be downloaded automatically). The official
    validation split serves as the test set; a seeded ``val_fraction`` of
    train is held out for validation."""
    from torchvision import datasets
    from torchvision import transforms as T

    root = Path(data_dir).expanduser()
    missing = [d for d in ("train", "val") if not (root / d).is_dir()]
    if missing:
        raise DatasetNotFoundError(
            f"ImageNet folders {missing} not found under {root}. ImageNet must be obtained from "
            "image-net.org and laid out as train/<wnid>/*.JPEG and val/<wnid>/*.JPEG."
        )
    default = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor()])
    train_aug = datasets.ImageFolder(root / "train", transform=train_transform or default)
    train_plain = datasets.ImageFolder(root / "train", transform=eval_transform or default)
    test = datasets.ImageFolder(root / "val", transform=eval_transform or default)
    tr, va = split_indices(len(train_aug), val_fraction, seed)
    return DatasetSplits(
        Subset(train_aug, tr.tolist()),
        Subset(train_plain, va.tolist()),
        test,
        num_classes=len(train_aug.classes),
        input_shape=(3, 224, 224),
        description=f"ImageNet-1K folder {root}; train/val/test = {len(tr)}/{len(va)}/{len(test)} (seed {seed})",
    )


def download(name: TorchvisionName, data_dir: str | Path) -> Path:
    """Fetch a torchvision dataset (train and test files) into ``data_dir``."""
    load_torchvision_splits(name, data_dir, download=True)
    return Path(data_dir)
