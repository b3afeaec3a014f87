"""Section 4.5.4's data: the splits of a plan (greyscale datasets as three channels)."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch.utils.data import ConcatDataset, Dataset, Subset, TensorDataset

from reuseprior import datasets as data
from reuseprior.chapters.ch4_sharing_training.plan import ExperimentPlan
from reuseprior.training.augment import GreyAsRGB, build_transforms, grey_to_rgb, official_scale

#: ``(mean, std)`` with which :func:`reuseprior.datasets.load_grey_tensor_splits` standardises each grey dataset
GREY_STATISTICS = {
    "mnist": (data.MNIST_MEAN[0], data.MNIST_STD[0]),
    "fashion-mnist": (data.FASHION_MNIST_MEAN[0], data.FASHION_MNIST_STD[0]),
}


def _everything_trained(splits: data.DatasetSplits) -> data.DatasetSplits:
    """``splits`` with every training image trained on and the test split as
    the per-epoch evaluation set (``validation_split=None``)."""
    train, val = splits.train, splits.val
    if isinstance(train, Subset) and isinstance(val, Subset) and train.dataset is not val.dataset:
        whole: Dataset = train.dataset  # torchvision: the training files with the training transform
    else:  # tensors (digits): nothing differs between the two parts
        whole = ConcatDataset([train, val])
    return replace(splits, train=whole, val=splits.test)


def _grey_splits(plan: ExperimentPlan, image_size: int, seed: int) -> data.DatasetSplits:
    """MNIST or Fashion-MNIST for an EfficientNetV2: the 28x28 images from
    :func:`reuseprior.datasets.load_grey_tensor_splits`, resampled to
    ``image_size`` (:func:`~reuseprior.training.augment.grey_to_rgb`), put on
    the official ``(x - 128) / 128`` scale and served with 3 channels; no
    augmentation."""
    key = plan.recipe.dataset
    if plan.download:  # the loader below never downloads; torchvision fetches what is missing
        data.load_torchvision_splits(key, plan.data_dir, download=True, seed=seed)
    held_out = plan.validation_split if plan.validation_split is not None else 0.1
    grey = data.load_grey_tensor_splits(
        key, plan.data_dir, seed=seed, image_size=min(image_size, 28), val_fraction=held_out
    )
    mean, std = GREY_STATISTICS[key]

    def rgb(*parts: Dataset) -> GreyAsRGB:
        tensors = [part.tensors for part in parts if isinstance(part, TensorDataset)]
        images = torch.cat([t[0] for t in tensors])
        labels = torch.cat([t[1] for t in tensors])
        return GreyAsRGB(official_scale(grey_to_rgb(images, image_size), mean, std), labels)

    train = rgb(grey.train) if plan.validation_split is not None else rgb(grey.train, grey.val)
    test = rgb(grey.test)
    val = rgb(grey.val) if plan.validation_split is not None else test
    return replace(
        grey,
        train=train,
        val=val,
        test=test,
        input_shape=(3, image_size, image_size),
        description=f"{grey.description}; resampled to {image_size}x{image_size}, 3 channels, scale (x - 128) / 128",
    )


def plan_splits(plan: ExperimentPlan, variant: str, seed: int) -> tuple[data.DatasetSplits, int, int]:
    """The data of one run and its ``(train, eval)`` resolution: digits
    (quick), MNIST/Fashion-MNIST tensors, torchvision CIFAR or an ImageNet
    folder, split as ``plan.validation_split`` says."""

    r = plan.recipe
    train_size, eval_size = plan.sizes(variant)
    held_out = plan.validation_split
    if r.dataset == "digits":
        splits = data.load_digits_splits(
            seed=seed,
            val_fraction=held_out if held_out is not None else 0.1,
            image_size=train_size,
            channels=3,
            limit=plan.train_limit if held_out is not None else None,
        )
        if held_out is None:
            splits = _everything_trained(splits)
    elif r.grey:
        splits = _grey_splits(plan, train_size, seed)
    else:
        train_tf, eval_tf = build_transforms(
            r.augmentation, train_size, eval_size=eval_size, randaug_magnitude=r.randaug_magnitude
        )
        fraction = held_out if held_out is not None else 0.1  # the held-out part is dropped below when None
        if r.dataset == "imagenet":
            splits = data.load_imagenet_folder(
                plan.data_dir, seed=seed, val_fraction=fraction, train_transform=train_tf, eval_transform=eval_tf
            )
        else:
            splits = data.load_torchvision_splits(
                r.dataset,
                plan.data_dir,
                download=plan.download,
                seed=seed,
                val_fraction=fraction,
                train_transform=train_tf,
                eval_transform=eval_tf,
            )
        if held_out is None:
            splits = _everything_trained(splits)
    limited_by_loader = r.dataset == "digits" and held_out is not None
    if plan.train_limit is not None and not limited_by_loader:
        splits = replace(splits, train=Subset(splits.train, range(min(plan.train_limit, len(splits.train)))))
    return splits, train_size, eval_size


# ------------------------------------------------------------------------ results
