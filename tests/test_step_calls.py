"""reuseprior.training.step_calls: the ATen calls of a training step, as a GPU would launch them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from reuseprior.training import step_calls
from reuseprior.training.augment import GreyAsRGB
from reuseprior.training.loop import TrainConfig, fitting, synchronize
from reuseprior.training.step_calls import (
    fit_step_calls,
    fit_step_python_calls,
    plain_optimizer,
    plain_step,
    plain_step_calls,
    plain_step_python_calls,
    plain_step_seconds,
)


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10)
    )


def _data(n: int) -> GreyAsRGB:
    g = torch.Generator().manual_seed(0)
    return GreyAsRGB(torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g))


def _multi_tensor_calls(calls) -> int:
    return sum(n for name, n in calls.items() if name.startswith("_foreach_"))


def test_a_per_tensor_optimizer_costs_calls_per_tensor_and_the_multi_tensor_one_does_not():
    config = TrainConfig(optimizer="rmsprop_tf", batch_size=4, epochs=1, ema_decay=0.999, lr_warmup_epochs=0)
    one = fit_step_calls(_model(), _data(12), _data(4), config, multi_tensor=False)
    multi = fit_step_calls(_model(), _data(12), _data(4), config, multi_tensor=True)
    tensors = sum(1 for _ in _model().parameters())  # 6: two per layer with weights
    # the weight average is multi-tensor either way; the optimizer's calls join it on the multi-tensor path
    assert _multi_tensor_calls(multi) > _multi_tensor_calls(one) > 0
    # RMSprop-TF one tensor at a time: several calls per tensor; multi-tensor: a few per group
    assert sum(one.values()) - sum(multi.values()) >= 3 * tensors
    images = torch.randn(4, 3, 8, 8)
    plain = plain_step_calls(_model(), images, torch.arange(4))
    assert plain["convolution"] == multi["convolution"] == 1
    assert sum(plain.values()) < sum(multi.values()) < sum(one.values())


def test_counting_needs_a_second_step():
    config = TrainConfig(optimizer="sgd", batch_size=4, epochs=1, lr_warmup_epochs=0)
    with pytest.raises(ValueError, match="at least two batches"):
        fit_step_calls(_model(), _data(4), _data(4), config, multi_tensor=True)


class _PerTensorSGD(torch.optim.SGD):
    """SGD as an optimizer without a ``foreach`` option looks (timm's RMSpropTF before 1.0.31)."""

    def __init__(self, params):
        super().__init__(params, lr=0.1)
        del self.defaults["foreach"]


def test_an_optimizer_without_a_multi_tensor_path_is_refused_not_counted_as_one(monkeypatch):
    monkeypatch.setattr(fitting, "make_optimizer", lambda model, config: _PerTensorSGD(model.parameters()))
    config = TrainConfig(optimizer="sgd", batch_size=4, epochs=1, lr_warmup_epochs=0)
    with pytest.raises(ValueError, match="no multi-tensor path"):
        fit_step_calls(_model(), _data(12), _data(4), config, multi_tensor=True)
    assert sum(fit_step_calls(_model(), _data(12), _data(4), config, multi_tensor=False).values()) > 0


def test_the_python_calls_of_a_step_are_counted_on_profiled_steps_before_the_epochs_evaluation():
    config = TrainConfig(optimizer="rmsprop_tf", batch_size=4, epochs=1, ema_decay=0.999, lr_warmup_epochs=0)
    with pytest.raises(ValueError, match="more than 5 batches of 4"):
        fit_step_python_calls(_model(), _data(20), _data(4), config, steps=3)
    # every step makes the same calls: one step's count is the mean of three
    fit_calls = fit_step_python_calls(_model(), _data(24), _data(4), config, steps=3)
    assert fit_step_python_calls(_model(), _data(24), _data(4), config, steps=1) == fit_calls
    images = torch.randn(4, 3, 8, 8)
    plain_calls = plain_step_python_calls(_model(), images, torch.arange(4), steps=3)
    assert plain_step_python_calls(_model(), images, torch.arange(4), steps=1) == plain_calls
    assert fit_calls > 0 and plain_calls > 0


def test_a_plain_step_is_timed_after_its_warm_up_and_trains_the_model_it_is_given():
    model, images, labels = _model(), torch.randn(4, 3, 8, 8), torch.arange(4)
    before = model[-1].weight.detach().clone()
    seconds = plain_step_seconds(model, images, labels, steps=2, warmup=1)
    assert seconds > 0 and model.training
    assert not torch.equal(before, model[-1].weight)
    with pytest.raises(ValueError, match="time at least one step after one"):
        plain_step_seconds(model, images, labels, steps=0)
    with pytest.raises(ValueError, match="time at least one step after one"):
        plain_step_seconds(model, images, labels, steps=1, warmup=0)


def test_the_clock_reads_between_two_synchronisations_of_the_device(monkeypatch):
    """No GPU here: what a CUDA device would be asked is recorded instead. ``synchronize`` waits for a
    CUDA device and nothing else; the plain step's timing synchronises its images' device after the
    warm-up and after the timed steps, so that the clock includes the work they queued."""
    waited = []
    monkeypatch.setattr(torch.cuda, "synchronize", waited.append)
    synchronize(torch.device("cpu"))
    assert waited == []
    synchronize(torch.device("cuda", 1))
    assert waited == [torch.device("cuda", 1)]

    calls = []
    monkeypatch.setattr(step_calls, "synchronize", calls.append)
    monkeypatch.setattr(step_calls, "plain_step", lambda *args: calls.append("step"))
    monkeypatch.setattr(step_calls, "time", SimpleNamespace(perf_counter=lambda: calls.append("clock") or 0.0))
    plain_step_seconds(_model(), torch.randn(4, 3, 8, 8), torch.arange(4), steps=2, warmup=1)
    cpu = torch.device("cpu")
    assert calls == ["step", cpu, "clock", "step", "step", cpu, "clock"]


def test_the_plain_step_is_one_sgd_step_on_the_cross_entropy():
    """What the yardstick computes: the same update as SGD with momentum 0.9 and rate 0.01 written out."""
    model, images, labels = _model(), torch.randn(4, 3, 8, 8), torch.arange(4)
    twin = _model()
    twin.load_state_dict(model.state_dict())
    plain_step(model, plain_optimizer(model), images, labels)
    twin.train()
    nn.functional.cross_entropy(twin(images), labels).backward()
    with torch.no_grad():
        for p in twin.parameters():
            p -= 0.01 * p.grad  # the first step: the momentum buffer is the gradient
    for ours, written in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(ours, written)
