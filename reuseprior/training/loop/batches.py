"""Batches of in-memory tensor datasets held on the training device.

A dataset whose items are rows of tensors (:class:`torch.utils.data.TensorDataset`,
:class:`reuseprior.training.augment.GreyAsRGB`, a :class:`~torch.utils.data.Subset` of either) needs no
loader on a GPU: its tensors are copied to the device once, and a batch is one indexing operation
there. A :class:`~torch.utils.data.DataLoader` instead gathers and stacks every item in Python and copies
each batch from host memory, which on a GPU costs more than a training step of a small model at 32 px.

Policy: the batches are the same as the loader's, element for element (the same order, the same
values, the grey channel repeated to three), so a run on the device path trains on exactly what the
loader would give it. Datasets of any other kind (image files with per-item transforms) keep the
loader; :func:`device_tensors` says which path a dataset takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch
from torch.utils.data import Dataset, Subset, TensorDataset

from reuseprior.training.augment import GreyAsRGB

__all__ = ["DeviceTensors", "device_tensors"]


@dataclass(frozen=True)
class DeviceTensors:
    """A tensor dataset's images and labels on one device; ``channels``: the channels an item is served
    with (a grey dataset's single channel repeated, as :class:`GreyAsRGB` serves it), None: as stored."""

    images: torch.Tensor
    labels: torch.Tensor
    channels: int | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The items at ``index`` (a 1-D index tensor on the same device), stacked."""
        images = self.images.index_select(0, index)
        if self.channels is not None:
            images = images.expand(-1, self.channels, -1, -1)
        return images, self.labels.index_select(0, index)

    def batches(self, order: torch.Tensor, batch_size: int, *, drop_last: bool) -> Iterator[tuple[torch.Tensor, ...]]:
        """Batches of ``batch_size`` items in ``order`` (indices into the dataset, on any device); the
        last incomplete batch is dropped when ``drop_last``."""
        order = order.to(self.labels.device)
        stop = len(order) - len(order) % batch_size if drop_last else len(order)
        for start in range(0, stop, batch_size):
            yield self.batch(order[start : start + batch_size])


def _tensors_of(dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor, int | None] | None:
    """``(images, labels, channels)`` held by ``dataset`` (the ``Subset`` indices applied), or None when
    its items are not plain rows of tensors."""
    if isinstance(dataset, Subset):
        inner = _tensors_of(dataset.dataset)
        if inner is None:
            return None
        index = torch.as_tensor(list(dataset.indices), dtype=torch.long)
        return inner[0][index], inner[1][index], inner[2]
    if isinstance(dataset, GreyAsRGB):
        return dataset.images, dataset.labels, 3
    if isinstance(dataset, TensorDataset) and len(dataset.tensors) == 2:
        return dataset.tensors[0], dataset.tensors[1], None
    return None


def device_tensors(dataset: Dataset, device: torch.device) -> DeviceTensors | None:
    """``dataset``'s tensors copied to ``device`` when it is a CUDA device and the dataset is an in-memory
    tensor dataset (module docstring); None otherwise (the caller keeps its loader)."""
    if torch.device(device).type != "cuda":
        return None
    held = _tensors_of(dataset)
    if held is None:
        return None
    images, labels, channels = held
    return DeviceTensors(images.to(device), labels.to(device), channels)
