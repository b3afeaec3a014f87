"""Phenotype fitness (thesis Algorithm 3): train a built model for a budget
of batches, score it by validation loss with a size penalty.

Batches are drawn with an explicit NumPy generator (no global RNG), so a run
is reproducible and resumable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, TensorDataset

from reuseprior.core.precision import match_input, model_dtype

__all__ = ["DataFeed", "batch_budget", "evaluate", "phenotype_fitness", "size_penalty", "train_batches"]


def size_penalty(num_params: int, weight: float = 0.0075) -> float:
    """``0.0075 * log_100(#params)`` (the penalize() of Algorithm 3)."""
    return weight * math.log(max(num_params, 1), 100)


def phenotype_fitness(val_loss: float, num_params: int, weight: float = 0.0075) -> float:
    """Algorithm 3, line 5: ``validation loss * (1 + size penalty)``; lower is better."""
    return float(val_loss) * (1.0 + size_penalty(num_params, weight))


def batch_budget(score: float, mean_score: float, base: int, min_batches: int, max_batches: int) -> int:
    """Training budget of an individual (section 3.5.5.2): ``base *
    max((mean/score)^3, 0.2)`` batches, at least ``min_batches`` and at most
    one epoch (``max_batches``); better (lower) scores get more batches."""
    if not (math.isfinite(score) and score > 0 and math.isfinite(mean_score)):
        ratio = 1.0
    else:
        ratio = max((mean_score / score) ** 3, 0.2)
    return int(min(max_batches, max(min_batches, round(base * ratio))))


@dataclass
class DataFeed:
    """Batches of a dataset by index; in-memory ``TensorDataset``s are sliced
    directly (fast CPU runs), other datasets go through a ``DataLoader``."""

    dataset: Dataset
    batch_size: int
    device: torch.device
    num_workers: int = 0

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def batches_per_epoch(self) -> int:
        return max(1, len(self.dataset) // self.batch_size)

    def _tensors(self):
        if isinstance(self.dataset, TensorDataset):
            return self.dataset.tensors
        return None

    def batches(self, index_batches: list[np.ndarray]):
        tensors = self._tensors()
        if tensors is not None:
            x_all, y_all = tensors
            for idx in index_batches:
                i = torch.as_tensor(idx, dtype=torch.long)
                yield x_all[i].to(self.device), y_all[i].to(self.device)
            return
        loader = DataLoader(
            self.dataset,
            batch_sampler=[list(map(int, b)) for b in index_batches],
            num_workers=self.num_workers,
            pin_memory=self.device.type == "cuda",
        )
        for x, y in loader:
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def sequential(self, batch_size: int | None = None, limit: int | None = None):
        bs = batch_size or self.batch_size
        n = len(self.dataset) if limit is None else min(limit, len(self.dataset))
        return self.batches([np.arange(i, min(i + bs, n)) for i in range(0, n, bs)])


def train_batches(
    model: nn.Module,
    feed: DataFeed,
    num_batches: int,
    rng: np.random.Generator,
    optimizer: torch.optim.Optimizer,
    criterion: nn.Module,
) -> float:
    """Train for ``num_batches`` batches drawn without replacement by ``rng``
    with the optimizer and loss of the individual's training session
    (``reuseprior.revolver.session.TrainingSession``; a fresh optimizer per
    session; by default SGD, momentum 0.9, weight decay 1e-4, cross-entropy:
    the original code's defaults, not stated in appendix C.2). Returns the mean
    training loss."""
    n = len(feed)
    num_batches = min(num_batches, feed.batches_per_epoch)
    order = rng.permutation(n)[: num_batches * feed.batch_size]
    index_batches = [order[i * feed.batch_size : (i + 1) * feed.batch_size] for i in range(num_batches)]
    model.train()
    total = 0.0
    dtype = model_dtype(model)
    for x, y in feed.batches(index_batches):
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(model(match_input(x, dtype)), y)
        loss.backward()
        optimizer.step()
        total += float(loss.detach())
    return total / max(1, num_batches)


@torch.no_grad()
def evaluate(model: nn.Module, feed: DataFeed, limit: int | None = None, batch_size: int = 512) -> tuple[float, float]:
    """``(mean cross-entropy, accuracy)`` over a dataset (eval mode)."""
    model.eval()
    loss_sum, correct, count = 0.0, 0, 0
    dtype = model_dtype(model)
    for x, y in feed.sequential(batch_size, limit):
        out = model(match_input(x, dtype))
        loss_sum += float(F.cross_entropy(out, y, reduction="sum"))
        correct += int((out.argmax(1) == y).sum())
        count += len(y)
    return loss_sum / max(count, 1), correct / max(count, 1)
