"""Training sessions: the higher-level blueprint that carries a model
blueprint together with how it is trained (thesis section 3.3.5, "training
sessions, which are higher-level blueprints that include model blueprints
alongside optimization-related hyperparameters such as learning schedule
information, optimizer type, loss criteria").

A :class:`TrainingSession` is plain data, like a
:class:`~reuseprior.revolver.blueprint.Blueprint`: the model blueprint, the
optimizer (type, learning rate, momentum, Nesterov, weight decay), the
learning-rate schedule over generations, the loss criterion and the batch
budget of one phenotype evaluation (batch size, base/min/max batches of
section 3.5.5.2). It round-trips through JSON (:meth:`TrainingSession.to_json`,
:meth:`TrainingSession.from_json`) and has a derived scope name that changes
whenever its settings or its model change.

It is a dataclass holding a blueprint, not a blueprint kind: a session is
never built into the module registry, has no input/output shapes, and the
genetic operators (mutation, crossover, copyover) must reach only the model,
so keeping it outside the model tree keeps the operators and the registry
unchanged.

Policy: an individual's training settings are the session's. The population
trains an individual with the optimizer and criterion the session makes
(:meth:`TrainingSession.make_optimizer`, :meth:`TrainingSession.make_criterion`),
at the session's learning rate for the generation
(:meth:`TrainingSession.learning_rate`) and for the session's batch budget
(:meth:`TrainingSession.batch_budget`). The defaults: lr 0.35 constant for
100 generations then decaying exponentially to 0.00085 at generation 160 and
batches of 128 (appendix C.2's commands), 96 base and minimum batches, at most
one epoch (section 3.5.5.2); SGD with momentum 0.9 and weight decay 1e-4 and
cross-entropy are the original code's defaults
(``revolver/models/blueprinted/optimizer.py``, ``main.py --weight_decay``),
which appendix C.2 does not state.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields, replace
from typing import Any, Iterable

import torch
import torch.nn as nn

from reuseprior.revolver.blueprint import Blueprint, args_suffix
from reuseprior.revolver.phenotype import batch_budget

__all__ = ["LOSSES", "OPTIMIZERS", "SCHEDULES", "SESSION_KIND", "TrainingSession", "constant_then_exponential"]

#: the ``kind`` of a serialised training session
SESSION_KIND = "training_session"
#: optimizer types a session can make
OPTIMIZERS = ("sgd", "adam", "rmsprop")
#: loss criteria a session can make
LOSSES = ("cross_entropy",)
#: learning-rate schedules over generations: ``constant`` keeps ``lr``;
#: ``constant_then_exponential`` keeps ``lr`` for ``decay_start`` generations,
#: then decays exponentially to ``min_lr`` at the last generation (section 3.5.1)
SCHEDULES = ("constant", "constant_then_exponential")


def constant_then_exponential(generation: float, lr: float, min_lr: float, decay_start: int, generations: int) -> float:
    """Section 3.5.1's schedule: ``lr`` up to generation ``decay_start`` (counted from 0; the
    decay's curve starts there at ``lr``), then exponential decay reaching ``min_lr`` at the last
    generation (``generations - 1``); constant when the run ends before the decay."""
    last = generations - 1
    if generation < decay_start or last <= decay_start:
        return lr
    fraction = (generation - decay_start) / (last - decay_start)
    return lr * (min_lr / lr) ** min(fraction, 1.0)


#: the settings fields, in the order of the name suffix (everything but the model)
_SETTINGS = (
    "optimizer",
    "lr",
    "momentum",
    "nesterov",
    "weight_decay",
    "schedule",
    "min_lr",
    "decay_start",
    "generations",
    "loss",
    "label_smoothing",
    "batch_size",
    "base_batches",
    "min_batches",
    "max_batches",
)


@dataclass
class TrainingSession:
    """A model blueprint and how it is trained (section 3.3.5).

    ``generations`` is the length of the run the schedule spans (appendix
    C.2 ``--epochs``); ``max_batches`` ``None`` means one epoch of the
    training set. ``momentum`` applies to SGD and RMSprop, ``nesterov`` to
    SGD."""

    model: Blueprint
    optimizer: str = "sgd"
    lr: float = 0.35
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4
    schedule: str = "constant_then_exponential"
    min_lr: float = 0.00085
    decay_start: int = 100
    generations: int = 160
    loss: str = "cross_entropy"
    label_smoothing: float = 0.0
    batch_size: int = 128
    base_batches: int = 96
    min_batches: int = 96
    max_batches: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.model, Blueprint):
            raise TypeError(f"model must be a Blueprint, got {type(self.model).__name__}")
        for name, value, choices in (
            ("optimizer", self.optimizer, OPTIMIZERS),
            ("loss", self.loss, LOSSES),
            ("schedule", self.schedule, SCHEDULES),
        ):
            if value not in choices:
                raise ValueError(f"{name}={value!r}; choose from {choices}")
        if not (self.lr > 0 and self.min_lr > 0):
            raise ValueError(f"lr and min_lr must be > 0, got lr={self.lr!r}, min_lr={self.min_lr!r}")
        if self.momentum < 0 or self.weight_decay < 0 or not 0 <= self.label_smoothing < 1:
            raise ValueError(
                f"momentum and weight_decay must be >= 0 and label_smoothing in [0, 1); got momentum="
                f"{self.momentum!r}, weight_decay={self.weight_decay!r}, label_smoothing={self.label_smoothing!r}"
            )
        for name in ("batch_size", "base_batches", "min_batches", "generations"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.max_batches is not None and (not isinstance(self.max_batches, int) or self.max_batches < 1):
            raise ValueError(f"max_batches must be None (one epoch) or an integer >= 1, got {self.max_batches!r}")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum <= 0):
            raise ValueError("nesterov needs the sgd optimizer with momentum > 0")

    # ----------------------------------------------------------------- names
    def settings(self) -> dict[str, Any]:
        """Every setting except the model (JSON-ready)."""
        return {name: getattr(self, name) for name in _SETTINGS}

    @property
    def name(self) -> str:
        """``session[<settings>]#<hash of the model's name>``: equal names mean
        the same model trained the same way."""
        model_hash = hashlib.sha1(self.model.name.encode()).hexdigest()[:8]
        return f"session[{args_suffix(self.settings())}]#{model_hash}"

    # -------------------------------------------------------------- building
    def make_optimizer(
        self, parameters: Iterable[torch.nn.Parameter], lr: float | None = None
    ) -> torch.optim.Optimizer:
        """A fresh optimizer over ``parameters`` at ``lr`` (default: the
        session's ``lr``; the population passes :meth:`learning_rate` of the
        generation)."""
        lr = self.lr if lr is None else float(lr)
        if self.optimizer == "sgd":
            return torch.optim.SGD(
                parameters, lr=lr, momentum=self.momentum, weight_decay=self.weight_decay, nesterov=self.nesterov
            )
        if self.optimizer == "adam":
            return torch.optim.Adam(parameters, lr=lr, weight_decay=self.weight_decay)
        return torch.optim.RMSprop(parameters, lr=lr, momentum=self.momentum, weight_decay=self.weight_decay)

    def make_criterion(self) -> nn.Module:
        """The loss criterion (mean over the batch)."""
        return nn.CrossEntropyLoss(label_smoothing=self.label_smoothing)

    def learning_rate(self, generation: int) -> float:
        """The learning rate at ``generation`` under the session's schedule."""
        if self.schedule == "constant":
            return self.lr
        return constant_then_exponential(generation, self.lr, self.min_lr, self.decay_start, self.generations)

    def batch_budget(self, score: float, mean_score: float, batches_per_epoch: int) -> int:
        """Training batches of one evaluation (section 3.5.5.2): ``base_batches
        * max((mean/score)^3, 0.2)``, at least ``min_batches`` and at most
        ``max_batches`` (one epoch, ``batches_per_epoch``, when ``None``)."""
        most = self.max_batches or batches_per_epoch
        return batch_budget(score, mean_score, self.base_batches, min(self.min_batches, most), most)

    # ------------------------------------------------------------- creation
    @classmethod
    def from_config(cls, config: Any, model: Blueprint) -> "TrainingSession":
        """The session of ``model`` under a population configuration (read by
        attribute name: ``lr``, ``min_lr``, ``decay_start``, ``epochs``,
        ``momentum``, ``weight_decay``, ``batch_size``, ``base_batches``,
        ``min_batches``, ``max_batches``; ``optimizer``, ``nesterov``,
        ``loss``, ``label_smoothing`` and ``schedule`` when it has them)."""
        names = {
            "lr": "lr",
            "min_lr": "min_lr",
            "decay_start": "decay_start",
            "generations": "epochs",
            "momentum": "momentum",
            "weight_decay": "weight_decay",
            "batch_size": "batch_size",
            "base_batches": "base_batches",
            "min_batches": "min_batches",
            "max_batches": "max_batches",
            "optimizer": "optimizer",
            "nesterov": "nesterov",
            "loss": "loss",
            "label_smoothing": "label_smoothing",
            "schedule": "schedule",
        }
        kwargs = {field: getattr(config, attr) for field, attr in names.items() if hasattr(config, attr)}
        return cls(model=model, **kwargs)

    def with_model(self, model: Blueprint) -> "TrainingSession":
        """The same settings around another model (an offspring's)."""
        return replace(self, model=model)

    # -------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        return {"kind": SESSION_KIND, "name": self.name, **self.settings(), "model": self.model.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainingSession":
        if data.get("kind") != SESSION_KIND:
            raise ValueError(f"not a training session (kind {data.get('kind')!r}, expected {SESSION_KIND!r})")
        known = {f.name for f in fields(cls)} - {"model"}
        unknown = set(data) - known - {"kind", "name", "model"}
        if unknown:
            raise ValueError(f"unknown training-session keys {sorted(unknown)}")
        session = cls(model=Blueprint.from_dict(data["model"]), **{k: data[k] for k in known if k in data})
        stored = data.get("name")
        if stored is not None and stored != session.name:
            raise ValueError(f"session name {stored!r} does not match its content (derived {session.name!r})")
        return session

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_json(cls, text: str) -> "TrainingSession":
        return cls.from_dict(json.loads(text))

    def __repr__(self) -> str:
        return f"TrainingSession({self.name!r}, model={self.model.name!r})"
