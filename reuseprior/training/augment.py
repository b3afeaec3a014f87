"""Input pipelines of the thesis's EfficientNetV2 runs (section 4.5.4), as
the official EfficientNetV2 code builds them (``preprocessing.preprocess_image``;
CIFAR images go through the same function as ImageNet's).

Policy:

* **training geometry, always** -- also when no augmentation policy is named
  (``data.augname`` unset, the thesis's CIFAR-10 runs): an Inception-style
  random crop covering 5-100% of the image's area with an aspect ratio in
  [3/4, 4/3] (TensorFlow's ``sample_distorted_bounding_box`` with
  ``area_range=(0.05, 1.0)``), resized to the training size, then a random
  horizontal flip with probability 1/2. No padding. A 32x32 CIFAR image is
  thus cropped and *enlarged* to the training size (224 px for B0).
* **then the policy** of ``augmentation`` (:data:`AUGMENTATIONS`):
  ``"none"`` -- no policy (CIFAR-10, section 4.5.4: "without any ...
  augmentation"; the geometry above still applies); ``"autoaug"`` --
  AutoAugment (CIFAR-100, ``data.augname=autoaug``); ``"randaug"`` --
  RandAugment (ImageNet-1K, two operations, ``data.ram=2`` magnitude on the
  official 0-10 scale).
* **evaluation geometry**: below 320 px a central square crop of
  ``image_size / (image_size + 32)`` of the shorter side, resized to
  ``image_size``; at 320 px or more the whole image resized to
  ``image_size`` x ``image_size`` (no crop), as the official
  ``preprocess_for_eval``.
* **normalisation** (``normalization``): ``"official"`` (default) maps a
  pixel ``x`` in 0..255 to ``(x - 128) / 128``, the [-1, 1] scaling of the
  official EfficientNetV2 input pipeline (EfficientNet V1 used the ImageNet
  channel mean and standard deviation instead); ``"imagenet"`` keeps that V1
  convention, for weights trained with it.

Where torchvision stands in for TensorFlow: torchvision's ImageNet
AutoAugment policy for the official ``v0`` policy; ``RandomResizedCrop``
draws the aspect ratio log-uniformly and falls back to the whole (square)
image after 10 failed draws, TensorFlow uniformly after 100; PIL's bilinear
resize is antialiased when shrinking, ``tf.image.resize`` is not.

Grey images held as tensors (MNIST, Fashion-MNIST; the CPU analogue of
Table 4.2) get no geometry and no policy: :func:`grey_to_rgb` only resamples
them to the training size, and :class:`GreyAsRGB` serves the grey channel as
three (EfficientNetV2's stem takes RGB).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset
from torchvision import transforms as T
from torchvision.transforms import functional as TF

from reuseprior.datasets import IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "AUGMENTATIONS",
    "CROP_AREA",
    "CROP_PADDING",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "NO_EVAL_CROP_FROM",
    "NORMALIZATIONS",
    "CentralCropResize",
    "GreyAsRGB",
    "build_transforms",
    "grey_to_rgb",
    "official_scale",
]

AUGMENTATIONS = ("none", "autoaug", "randaug")
#: area range of the official training crop (``sample_distorted_bounding_box(area_range=...)``)
CROP_AREA = (0.05, 1.0)
#: the evaluation crop keeps ``image_size / (image_size + CROP_PADDING)`` of the shorter side
CROP_PADDING = 32
#: from this evaluation size on, the official code resizes the whole image (no central crop)
NO_EVAL_CROP_FROM = 320

#: ``(mean, std)`` of ``torchvision.transforms.Normalize`` on ToTensor's 0..1 scale, per convention:
#: ``(x / 255 - 128 / 255) / (128 / 255) = (x - 128) / 128`` for the official EfficientNetV2 one
NORMALIZATIONS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "official": ((128 / 255,) * 3, (128 / 255,) * 3),
    "imagenet": (IMAGENET_MEAN, IMAGENET_STD),
}


class CentralCropResize:
    """The official evaluation geometry of a PIL image (module docstring):
    below :data:`NO_EVAL_CROP_FROM` px a central square of
    ``image_size / (image_size + 32)`` of the shorter side (offsets rounded
    down, as the official code), then a resize to ``image_size`` x
    ``image_size``; from that size on the resize alone."""

    def __init__(self, image_size: int):
        self.image_size = int(image_size)

    def crop_size(self, height: int, width: int) -> int | None:
        """Side of the central crop of a ``height`` x ``width`` image (None: no crop)."""
        if self.image_size >= NO_EVAL_CROP_FROM:
            return None
        return max(1, int(self.image_size / (self.image_size + CROP_PADDING) * min(height, width)))

    def __call__(self, image: Any) -> Any:
        width, height = image.size
        side = self.crop_size(height, width)
        if side is not None:
            image = TF.crop(image, (height - side) // 2, (width - side) // 2, side, side)
        return TF.resize(image, [self.image_size, self.image_size])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(image_size={self.image_size})"


def build_transforms(
    augmentation: str,
    image_size: int,
    *,
    eval_size: int | None = None,
    randaug_magnitude: int = 2,
    randaug_layers: int = 2,
    normalization: str = "official",
) -> tuple[Callable, Callable]:
    """``(train_transform, eval_transform)`` for PIL images, the official
    pipeline of the module docstring: training at ``image_size`` (random
    crop of 5-100% of the area, resize, flip, then the ``augmentation``
    policy), evaluation at ``eval_size`` (default ``image_size``; central
    crop below 320 px, resize). RandAugment's magnitude is on the official
    0-10 scale (11 bins). ``normalization`` is a key of :data:`NORMALIZATIONS`.
    """
    if augmentation not in AUGMENTATIONS:
        raise ValueError(f"augmentation={augmentation!r} is not known; choose one of {AUGMENTATIONS}")
    eval_size = image_size if eval_size is None else eval_size
    for name, size in (("image_size", image_size), ("eval_size", eval_size)):
        if isinstance(size, bool) or not isinstance(size, int) or size < 8:
            raise ValueError(f"{name}={size!r} must be an integer >= 8")
    if not 0 <= randaug_magnitude <= 10:
        raise ValueError(f"randaug_magnitude={randaug_magnitude!r} must be in [0, 10] (official scale)")
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization={normalization!r} is not known; choose one of {sorted(NORMALIZATIONS)}")
    finish = [T.ToTensor(), T.Normalize(*NORMALIZATIONS[normalization])]
    geometry = [T.RandomResizedCrop(image_size, scale=CROP_AREA, ratio=(3 / 4, 4 / 3)), T.RandomHorizontalFlip()]
    if augmentation == "autoaug":
        policy = [T.AutoAugment(T.AutoAugmentPolicy.IMAGENET)]
    elif augmentation == "randaug":
        policy = [T.RandAugment(num_ops=randaug_layers, magnitude=randaug_magnitude, num_magnitude_bins=11)]
    else:
        policy = []
    return T.Compose([*geometry, *policy, *finish]), T.Compose([CentralCropResize(eval_size), *finish])


def official_scale(images: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """Grey images standardised as ``(x / 255 - mean) / std`` re-expressed on
    the official scale ``(x - 128) / 128`` (the same affine map of the
    pixels, so it commutes with resampling)."""
    return ((images * std + mean) * 255.0 - 128.0) / 128.0


def grey_to_rgb(images: torch.Tensor, image_size: int) -> torch.Tensor:
    """``(N, 1, h, w)`` grey images resampled to ``image_size`` x ``image_size``:
    bilinear interpolation (``align_corners=False``) when enlarging, area
    averaging when shrinking, unchanged at the same size. The channel stays
    single (:class:`GreyAsRGB` repeats it on access, so memory holds one)."""
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"expected grey images of shape (N, 1, h, w), got {tuple(images.shape)}")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image_size={image_size!r} must be a positive integer")
    height, width = images.shape[-2:]
    if (height, width) == (image_size, image_size):
        return images
    if image_size > max(height, width):
        return F.interpolate(images, size=(image_size, image_size), mode="bilinear", align_corners=False)
    return F.interpolate(images, size=(image_size, image_size), mode="area")


class GreyAsRGB(Dataset):
    """Grey image tensors ``(N, 1, S, S)`` with labels, served as 3-channel
    images (the grey channel repeated: a view, no copy in memory)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        if images.ndim != 4 or images.shape[1] != 1 or len(images) != len(labels):
            raise ValueError(f"expected (N, 1, h, w) images and N labels, got {tuple(images.shape)}, {len(labels)}")
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index].expand(3, -1, -1), self.labels[index]
