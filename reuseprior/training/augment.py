"""Input pipelines of the thesis's EfficientNetV2 runs (section 4.5.4).

* CIFAR-10: no augmentation (``data.augname`` unset, mixup/cutmix 0);
* CIFAR-100: AutoAugment (``data.augname=autoaug``);
* ImageNet-1K: RandAugment (``data.augname=randaug``, two operations,
  ``data.ram=2`` magnitude on the official 0-10 scale).

Normalisation (``normalization``): ``"official"`` (default) maps a pixel ``x``
in 0..255 to ``(x - 128) / 128``, the [-1, 1] scaling of the official
EfficientNetV2 input pipeline (EfficientNet V1 used the ImageNet channel mean
and standard deviation instead); ``"imagenet"`` keeps that V1 convention, for
weights trained with it.
"""

from __future__ import annotations

from typing import Callable

from reuseprior.datasets import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["AUGMENTATIONS", "IMAGENET_MEAN", "IMAGENET_STD", "NORMALIZATIONS", "build_transforms"]

AUGMENTATIONS = ("none", "autoaug", "randaug")

#: ``(mean, std)`` of ``torchvision.transforms.Normalize`` on ToTensor's 0..1 scale, per convention:
#: ``(x / 255 - 128 / 255) / (128 / 255) = (x - 128) / 128`` for the official EfficientNetV2 one
NORMALIZATIONS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "official": ((128 / 255,) * 3, (128 / 255,) * 3),
    "imagenet": (IMAGENET_MEAN, IMAGENET_STD),
}


def build_transforms(
    augmentation: str,
    image_size: int,
    *,
    imagenet_style: bool = False,
    randaug_magnitude: int = 2,
    randaug_layers: int = 2,
    normalization: str = "official",
) -> tuple[Callable, Callable]:
    """``(train_transform, eval_transform)`` for PIL images.

    ``imagenet_style`` selects random-resized-crop + flip for training and
    resize + centre crop (``image_size + 32``, the official crop padding)
    for evaluation; otherwise images keep their size (CIFAR at 32x32 pixels,
    ``data.ibase=32``) and are only resized when ``image_size`` differs.
    RandAugment's magnitude is on the official 0-10 scale (11 bins).
    ``normalization`` is a key of :data:`NORMALIZATIONS` (module docstring).
    """
    from torchvision import transforms as T

    if augmentation not in AUGMENTATIONS:
        raise ValueError(f"augmentation={augmentation!r} is not known; choose one of {AUGMENTATIONS}")
    if not isinstance(image_size, int) or image_size < 8:
        raise ValueError(f"image_size={image_size!r} must be an integer >= 8")
    if not 0 <= randaug_magnitude <= 10:
        raise ValueError(f"randaug_magnitude={randaug_magnitude!r} must be in [0, 10] (official scale)")
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization={normalization!r} is not known; choose one of {sorted(NORMALIZATIONS)}")
    finish = [T.ToTensor(), T.Normalize(*NORMALIZATIONS[normalization])]
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
