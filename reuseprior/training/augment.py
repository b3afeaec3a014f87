"""Input pipelines of the thesis's EfficientNetV2 runs (section 4.5.4).

* CIFAR-10: no augmentation (``data.augname`` unset, mixup/cutmix 0);
* CIFAR-100: AutoAugment (``data.augname=autoaug``);
* ImageNet-1K: RandAugment (``data.augname=randaug``, two operations,
  ``data.ram=2`` magnitude on the official 0-10 scale).

All pipelines normalise with the ImageNet channel mean and standard
deviation, as the official EfficientNetV2 input pipeline does.
"""

from __future__ import annotations

from typing import Callable

from reuseprior.datasets import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["AUGMENTATIONS", "IMAGENET_MEAN", "IMAGENET_STD", "build_transforms"]

AUGMENTATIONS = ("none", "autoaug", "randaug")


def build_transforms(
    augmentation: str,
    image_size: int,
    *,
    imagenet_style: bool = False,
    randaug_magnitude: int = 2,
    randaug_layers: int = 2,
) -> tuple[Callable, Callable]:
    """``(train_transform, eval_transform)`` for PIL images.

    ``imagenet_style`` selects random-resized-crop + flip for training and
    resize + centre crop (``image_size + 32``, the official crop padding)
    for evaluation; otherwise images keep their size (CIFAR at 32x32 pixels,
    ``data.ibase=32``) and are only resized when ``image_size`` differs.
    RandAugment's magnitude is on the official 0-10 scale (11 bins).
    """
    from torchvision import transforms as T

    if augmentation not in AUGMENTATIONS:
        raise ValueError(f"augmentation={augmentation!r} is not known; choose one of {AUGMENTATIONS}")
    if not isinstance(image_size, int) or image_size < 8:
        raise ValueError(f"image_size={image_size!r} must be an integer >= 8")
    if not 0 <= randaug_magnitude <= 10:
        raise ValueError(f"randaug_magnitude={randaug_magnitude!r} must be in [0, 10] (official scale)")
    finish = [T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    if imagenet_style:
        geometry_train = [T.RandomResizedCrop(image_size), T.RandomHorizontalFlip()]
        geometry_eval = [T.Resize(image_size + 32), T.CenterCrop(image_size)]
    else:
        geometry_train = geometry_eval = [T.Resize(image_size)] if image_size != 32 else []
    if augmentation == "autoaug":
        policy = [T.AutoAugment(T.AutoAugmentPolicy.IMAGENET)]
    elif augmentation == "randaug":
        policy = [T.RandAugment(num_ops=randaug_layers, magnitude=randaug_magnitude, num_magnitude_bins=11)]
    else:
        policy = []
    return T.Compose([*geometry_train, *policy, *finish]), T.Compose([*geometry_eval, *finish])
