"""MNIST and Fashion-MNIST as in-memory tensors at a chosen size (the chapter 3
real-image study): the split, the area averaging and the normalisation."""

from __future__ import annotations

import pytest
import torch

from reuseprior.datasets import (
    DEFAULT_DATA_DIR,
    FASHION_MNIST_MEAN,
    FASHION_MNIST_STD,
    MNIST_MEAN,
    MNIST_STD,
    load_grey_tensor_splits,
    load_standard_splits,
    load_torchvision_splits,
)

pytestmark = pytest.mark.skipif(
    not (DEFAULT_DATA_DIR / "MNIST" / "raw").is_dir() or not (DEFAULT_DATA_DIR / "FashionMNIST" / "raw").is_dir(),
    reason="MNIST / Fashion-MNIST not fetched: run `make data` (python -m reuseprior data fetch mnist fashion-mnist)",
)


@pytest.mark.parametrize(
    "name, mean, std", [("mnist", MNIST_MEAN, MNIST_STD), ("fashion-mnist", FASHION_MNIST_MEAN, FASHION_MNIST_STD)]
)
def test_14px_images_are_the_2x2_block_means_of_the_originals_normalised(name, mean, std):
    splits = load_grey_tensor_splits(name, DEFAULT_DATA_DIR, seed=3, image_size=14)
    plain = load_torchvision_splits(name, DEFAULT_DATA_DIR, seed=3)
    assert splits.sizes() == {"train": 54_000, "val": 6_000, "test": 10_000} and splits.input_shape == (1, 14, 14)
    for ours, theirs in ((splits.train, plain.train), (splits.val, plain.val), (splits.test, plain.test)):
        x, y = ours[5]
        original, label = theirs[5]  # ToTensor: 1 x 28 x 28 in [0, 1]
        blocks = original.reshape(1, 14, 2, 14, 2).mean(dim=(2, 4))
        assert int(y) == int(label)
        torch.testing.assert_close(x, (blocks - mean[0]) / std[0], atol=1e-5, rtol=0)


def test_full_size_training_images_have_the_stated_statistics():
    for name in ("mnist", "fashion-mnist"):
        train = load_standard_splits(name).train.tensors[0]
        assert train.shape[1:] == (1, 28, 28)
        assert abs(float(train.mean())) < 0.01 and abs(float(train.std()) - 1) < 0.01


@pytest.mark.parametrize(
    "name, size, message",
    [
        ("mnist", 30, "MNIST-like images are 28x28"),
        ("cifar10", 14, "CIFAR-10 runs at its native 32x32"),
        ("svhn", None, "dataset 'svhn' is not supported"),
    ],
)
def test_bad_sizes_and_names_are_refused_with_the_fix(name, size, message):
    with pytest.raises(ValueError, match=message):
        load_standard_splits(name, image_size=size)


def test_cifar_training_images_are_reflect_padded_and_flipped_only_when_asked():
    """The original Revolver code: reflect padding 4, random 32x32 crop, no flip
    unless asked. A left-to-right ramp above zero: a zero-padded crop would hold
    zeros, a flipped one would run right to left."""
    from PIL import Image
    from torchvision import transforms as T

    from reuseprior.datasets import cifar_train_geometry

    ramp = torch.arange(100, 132, dtype=torch.uint8).repeat(3, 32, 1)
    image = T.ToPILImage()(ramp)
    assert isinstance(image, Image.Image)
    torch.manual_seed(0)
    plain = [T.PILToTensor()(T.Compose(cifar_train_geometry())(image))[0] for _ in range(40)]
    assert all(int(x.min()) >= 100 for x in plain)  # reflected, never zero-padded
    assert all(int(x[0, 0]) < int(x[0, -1]) for x in plain)  # never mirrored as a whole
    flipped = [T.PILToTensor()(T.Compose(cifar_train_geometry(True))(image))[0] for _ in range(40)]
    assert any(int(x[0, 0]) > int(x[0, -1]) for x in flipped)
