"""Training sessions (thesis section 3.3.5): a model blueprint with its
optimizer, learning schedule, loss criterion and batch budget, as JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reuseprior.revolver.blocks import Builder
from reuseprior.revolver.population import PopulationConfig, learning_rate
from reuseprior.revolver.registry import ModuleRegistry
from reuseprior.revolver.session import TrainingSession

torch.set_num_threads(1)


def small_model_blueprint(seed: int = 0):
    return Builder(np.random.default_rng(seed)).resnet(
        "R", (1, 8, 8), 10, [4, 8], [1, 1], ["residual", "bottleneck"], stem_width=4
    )


def test_default_session_trains_bit_identically_to_the_appendix_c2_sgd():
    """SGD, momentum 0.9, weight decay 1e-4 and cross-entropy: the settings
    the population used before sessions existed, so results do not move."""
    session = TrainingSession(small_model_blueprint())
    reference = ModuleRegistry(seed=4).build(session.model)
    trained = ModuleRegistry(seed=4).build(session.model)
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    opt, criterion = session.make_optimizer(trained.parameters(), 0.05), session.make_criterion()
    gen = torch.Generator().manual_seed(0)
    for _ in range(4):
        x, y = torch.randn(16, 1, 8, 8, generator=gen), torch.randint(0, 10, (16,), generator=gen)
        ref_opt.zero_grad()
        F.cross_entropy(reference(x), y).backward()
        ref_opt.step()
        opt.zero_grad()
        criterion(trained(x), y).backward()
        opt.step()
    for a, b in zip(reference.parameters(), trained.parameters()):
        assert torch.equal(a, b)
    group = opt.param_groups[0]
    assert type(opt) is torch.optim.SGD and group["lr"] == 0.05 and group["momentum"] == 0.9
    assert group["weight_decay"] == 1e-4 and group["nesterov"] is False and group["dampening"] == 0


def test_other_optimizers_and_loss_settings():
    model = ModuleRegistry().build(small_model_blueprint())
    adam = TrainingSession(small_model_blueprint(), optimizer="adam", lr=0.01, weight_decay=0.0)
    assert type(adam.make_optimizer(model.parameters())) is torch.optim.Adam
    assert adam.make_optimizer(model.parameters()).param_groups[0]["lr"] == 0.01
    rms = TrainingSession(small_model_blueprint(), optimizer="rmsprop", momentum=0.5)
    assert rms.make_optimizer(model.parameters()).param_groups[0]["momentum"] == 0.5
    smooth = TrainingSession(small_model_blueprint(), label_smoothing=0.1).make_criterion()
    logits, target = torch.zeros(1, 10), torch.tensor([3])
    assert math.isclose(float(smooth(logits, target)), math.log(10), rel_tol=1e-6)  # uniform logits: log(10)
    with pytest.raises(ValueError, match="optimizer"):
        TrainingSession(small_model_blueprint(), optimizer="lbfgs")
    with pytest.raises(ValueError, match="nesterov"):
        TrainingSession(small_model_blueprint(), optimizer="adam", nesterov=True)


def test_schedule_is_constant_then_exponential_as_the_population_runs_it():
    session = TrainingSession(small_model_blueprint(), lr=0.35, min_lr=0.00085, decay_start=100, generations=160)
    assert session.learning_rate(0) == session.learning_rate(99) == 0.35
    assert math.isclose(session.learning_rate(159), 0.00085)
    middle = 100 + (159 - 100) / 2  # halfway through the decay: the geometric mean
    assert math.isclose(session.learning_rate(middle), math.sqrt(0.35 * 0.00085))
    for kwargs in ({}, {"epochs": 20, "decay_start": 10, "lr": 0.2, "min_lr": 0.01}, {"epochs": 5, "decay_start": 10}):
        config = PopulationConfig(**kwargs)
        from_config = TrainingSession.from_config(config, small_model_blueprint())
        for g in range(config.epochs):
            assert from_config.learning_rate(g) == learning_rate(config, g)
    constant = TrainingSession(small_model_blueprint(), schedule="constant", lr=0.1)
    assert constant.learning_rate(10_000) == 0.1


def test_batch_budget_follows_section_3_5_5_2():
    session = TrainingSession(small_model_blueprint(), base_batches=96, min_batches=96)
    assert session.batch_budget(1.0, 1.0, 390) == 96
    assert session.batch_budget(0.5, 1.0, 390) == 390  # 96 * 8 = 768, capped at one epoch
    assert session.batch_budget(0.8, 1.0, 390) == round(96 * (1 / 0.8) ** 3)  # 188
    assert session.batch_budget(2.0, 1.0, 390) == 96  # 96 * 0.2 = 19, raised to the minimum
    small = TrainingSession(small_model_blueprint(), base_batches=20, min_batches=10, max_batches=30)
    assert small.batch_budget(2.0, 1.0, 400) == 10 and small.batch_budget(0.5, 1.0, 400) == 30
    assert small.batch_budget(1.0, 1.0, 5) == 20  # max_batches set: the epoch length does not cap it


def test_from_config_reads_the_population_settings():
    config = PopulationConfig(lr=0.2, min_lr=0.01, decay_start=10, epochs=20, batch_size=512, base_batches=12)
    session = TrainingSession.from_config(config, small_model_blueprint())
    assert (session.lr, session.min_lr, session.decay_start, session.generations) == (0.2, 0.01, 10, 20)
    assert (session.batch_size, session.base_batches, session.momentum, session.weight_decay) == (512, 12, 0.9, 1e-4)
    assert (session.optimizer, session.loss, session.max_batches) == ("sgd", "cross_entropy", None)


def test_json_round_trip_and_names_follow_the_content():
    session = TrainingSession(small_model_blueprint(), lr=0.1, max_batches=30)
    text = session.to_json()
    data = json.loads(text)
    assert data["kind"] == "training_session" and data["model"]["kind"] == "resnet"
    back = TrainingSession.from_json(text)
    assert back.to_dict() == session.to_dict() and back.name == session.name
    assert TrainingSession(small_model_blueprint(), lr=0.2, max_batches=30).name != session.name
    other_model = small_model_blueprint(seed=1)  # other unique ids of its batch norms
    assert session.with_model(other_model).name != session.name
    data["lr"] = 0.3  # edited settings under the old name
    with pytest.raises(ValueError, match="does not match"):
        TrainingSession.from_dict(data)
    with pytest.raises(ValueError, match="not a training session"):
        TrainingSession.from_dict(session.model.to_dict())
