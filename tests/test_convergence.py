"""The run criteria of reuseprior.training.convergence: plateau, fit, the linear floor, stored histories."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.data import TensorDataset

from reuseprior.core.verdict_policy import plateaued
from reuseprior.training import convergence
from reuseprior.training.loop import TrainConfig, fit


def test_plateau_compares_the_last_window_with_the_one_before():
    flat = [84.8, 85, 85.1, 85.5, 85.2, 85.4]
    assert plateaued(flat)  # 85.37 - 84.97 = 0.4 < 2
    assert plateaued([84.0, 84.2, 84.1, 85.6, 85.8, 85.7])  # 1.6 points: within the noise of 1,000 images
    rising = [80, 81, 82, 83, 84, 85]  # still gaining 3 points per window
    assert not plateaued(rising)
    assert not plateaued(flat[:5])  # fewer than two windows: no plateau shown
    assert not plateaued([84.8, 85, 85.1, math.nan, 85.2, 85.4])
    with pytest.raises(ValueError, match="window"):
        plateaued(flat, window=0)


def test_run_criteria_read_the_history_and_the_floor():
    history = [{"epoch": 0, "val_top1": 10.0}] + [
        {"epoch": e, "train_top1": 90.0 + e / 10, "val_top1": 85.0, "train_loss": 0.3, "val_loss": 0.4}
        for e in range(1, 7)
    ]
    floor = {"train_top1": 90.5, "test_top1": 82.0}
    c = convergence.run_criteria(history, 84.0, floor)
    assert c.plateaued and c.fits_training_set and c.above_floor and c.counts
    assert c.train_top1 == pytest.approx(90.6) and c.val_gain_last_window_pp == 0.0
    # the eval-mode top-1 on the training images, where stored, is what the fit is judged by
    clean = convergence.run_criteria(history, 84.0, {"train_top1": 95.0, "test_top1": 82.0}, train_top1=96.0)
    assert clean.train_top1 == 96.0 and clean.fits_training_set
    unmeasured = convergence.run_criteria(history, 84.0, floor, train_top1=math.nan)
    assert unmeasured.train_top1 == pytest.approx(90.6)
    underfit = convergence.run_criteria(history, 84.0, {"train_top1": 95.0, "test_top1": 82.0})
    assert not underfit.fits_training_set and not underfit.counts
    below = convergence.run_criteria(history, 81.0, floor)
    assert not below.above_floor and not below.counts


def test_history_json_round_trips_rounded_and_reads_empty_rows():
    history = [{"epoch": 0, "train_loss": math.nan, "val_top1": 10.123456789, "lr": 0.1}]
    text = convergence.history_json(history)
    back = convergence.read_history(text)
    assert back[0]["val_top1"] == 10.1235 and math.isnan(back[0]["train_loss"]) and "lr" not in back[0]
    assert convergence.read_history(math.nan) == [] and convergence.read_history("") == []
    with pytest.raises(ValueError, match="not valid JSON"):
        convergence.read_history("[{broken")


def test_linear_floor_fits_separable_images_and_ignores_their_scale():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(200) % 2
    images = torch.rand(200, 1, 4, 4, generator=g) + labels.view(-1, 1, 1, 1).float()  # class 1 brighter
    data = TensorDataset(images, labels)
    floor = convergence.linear_floor(data, data)
    assert floor["train_top1"] == 100.0 and floor["test_top1"] == 100.0 and floor["train_images"] == 200
    scaled = TensorDataset(images * 37.0 - 5.0, labels)  # another normalisation of the same pixels
    assert convergence.linear_floor(scaled, scaled) == floor


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_linear_floor_refuses_a_fit_that_stopped_before_converging(monkeypatch):
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.rand(60, 1, 4, 4, generator=g), torch.arange(60) % 3)
    monkeypatch.setattr(convergence, "FLOOR_MAX_ITER", 2)
    with pytest.raises(RuntimeError, match="did not converge in 2 lbfgs iterations"):
        convergence.linear_floor(data, data)


def test_fit_stops_after_an_epoch_of_the_full_schedule():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 3, generator=g), torch.randint(0, 2, (64,), generator=g)
    data = TensorDataset(x, y)
    config = TrainConfig(
        epochs=4,
        batch_size=16,
        lr_schedule="cosine",
        lr_warmup_epochs=0.0,
        optimizer="adamw",
        lr_base=0.1,
        bn_momentum_tf=None,
        label_smoothing=0.0,
    )
    torch.manual_seed(0)
    full = fit(torch.nn.Linear(3, 2), data, data, config, progress=False)
    torch.manual_seed(0)
    first = fit(torch.nn.Linear(3, 2), data, data, config, progress=False, stop_after_epoch=1, test_set=data)
    assert first.status == "stopped" and first.epochs_completed == 1 and math.isnan(first.test_top1)
    assert first.history[1]["val_loss"] == full.history[1]["val_loss"]  # the same first epoch as the full run
    assert first.history[1]["lr"] == full.history[1]["lr"]  # under the full run's schedule
