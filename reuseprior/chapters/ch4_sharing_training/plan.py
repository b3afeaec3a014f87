"""Section 4.5.4's experiment plan: a profile's settings resolved against the dataset's recipe."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from reuseprior.chapters.ch4_sharing_training.configs import (
    MODELS,
    OPTIMIZER_LABELS,
    PROFILES,
    THESIS_REFERENCE_DATASET,
    Recipe,
    compressed_decay_epochs,
    model_labels,
    official_sizes,
    recipe_of,
)
from reuseprior.core import paths
from reuseprior.core.precision import resolve_precision
from reuseprior.training.loop import TrainConfig


@dataclass(frozen=True)
class ExperimentPlan:
    """Concrete settings of one notebook/CLI invocation (profile resolved)."""

    profile: str
    recipe: Recipe
    models: tuple[str, ...]
    width_mult: float
    depth_mult: float
    train_limit: int | None
    data_dir: Path
    download: bool
    resume: bool
    append_results: bool
    config: TrainConfig
    torch_threads: int | None = None
    #: train and eval resolution of every model; None: the recipe's (:meth:`sizes`)
    image_size: int | None = None
    #: share of the training images held out for validation; None: every training image is
    #: trained on and the per-epoch evaluation runs on the test split (the official CIFAR setting)
    validation_split: float | None = 0.1
    #: the dtype the models train in (:mod:`reuseprior.core.precision`)
    precision: str = "float32"
    #: the largest stochastic-depth drop probability; None: the official 0.2
    stochastic_depth: float | None = None

    def train_images(self) -> int:
        """Training images of a run of this plan: ``train_limit`` when set, else the recipe's training set
        less the held-out share (the number :func:`_schedule` converts warm-up steps with)."""
        return self.train_limit or round(self.recipe.train_images * (1 - (self.validation_split or 0.0)))

    def total_steps(self) -> int:
        """Optimisation steps of a whole run (the last incomplete batch of an epoch dropped, as ``fit``)."""
        return self.config.epochs * (self.train_images() // self.config.batch_size)

    def sizes(self, variant: str) -> tuple[int, int]:
        """``(train, eval)`` resolution of ``variant`` in this plan: the
        plan's ``image_size`` when set, else the recipe's fixed size, else
        the official sizes (:func:`official_sizes`)."""
        size = self.image_size if self.image_size is not None else self.recipe.image_size
        if size is not None:
            return size, size
        return official_sizes(self.recipe.dataset, variant)

    def _split_phrase(self) -> str:
        if self.validation_split is None:
            return "every training image trained on, evaluated on the test split each epoch"
        return f"{self.validation_split:.2%} of the training images held out for validation"

    def describe(self) -> str:
        c = self.config
        sizes = ", ".join(
            f"{label} {'/'.join(str(s) for s in self.sizes(MODELS[label].variant))} px" for label in self.models
        )
        text = (
            f"{self.profile} profile: {', '.join(self.models)} on {self.recipe.label} "
            f"(augmentation {self.recipe.augmentation}), train/eval resolution {sizes}; "
            f"{self._split_phrase()}; {c.epochs} epochs, batch {c.batch_size}, "
            f"lr_base {c.lr_base} -> peak lr {c.peak_lr:g} (x batch/{c.lr_reference_batch}), "
            f"warm-up {c.lr_warmup_epochs} epochs then x{c.lr_decay_factor} every {c.lr_decay_epochs} epochs, "
            f"{OPTIMIZER_LABELS.get(c.optimizer, c.optimizer)}, "
            f"BN momentum {c.bn_momentum_tf} (TF) = {1 - c.bn_momentum_tf:g} (PyTorch), "
            f"EMA {c.ema_decay}, AMP {c.amp}{' (CUDA only)' if c.amp else ''}, "
            f"width x{self.width_mult}, depth x{self.depth_mult}, {self.precision}"
        )
        departures = self.departures()
        if departures:
            return text + "\ndeparts from the paper recipe: " + "; ".join(departures)
        return text + "\nthe paper recipe (section 4.5.4, official EfficientNetV2 code), unchanged"

    def departures(self) -> list[str]:
        """Where this plan departs from the paper recipe: the ``full``
        profile's settings for the same dataset (section 4.5.4 and the
        official code: resolutions, training images, optimiser, schedule,
        batch-norm momentum, EMA, model scale), one phrase each; empty when
        it follows it. MNIST, Fashion-MNIST and digits rows are analogues of
        the CIFAR-10 rows, which is the first departure they list."""
        paper = make_plan({**PROFILES["full"], "dataset": self.recipe.dataset, "models": self.models})
        out: list[str] = []
        reference = THESIS_REFERENCE_DATASET[self.recipe.dataset]
        if reference != self.recipe.label:
            out.append(f"{self.recipe.label} stands in for {reference} (an analogue, not a thesis dataset)")
        if (self.width_mult, self.depth_mult) != (1.0, 1.0):
            out.append(f"models scaled down (width x{self.width_mult:g}, depth x{self.depth_mult:g})")
        for label in self.models:
            variant = MODELS[label].variant
            if self.sizes(variant) != paper.sizes(variant):
                mine, theirs = ("/".join(map(str, s)) for s in (self.sizes(variant), paper.sizes(variant)))
                out.append(f"{label} at {mine} px instead of {theirs} px")
        if self.validation_split != paper.validation_split:
            out.append(f"{self._split_phrase()} (paper: {paper._split_phrase()})")
        if self.train_limit is not None:
            out.append(f"only the first {self.train_limit} training images")
        names = {
            "epochs": "epochs",
            "batch_size": "batch",
            "lr_base": "lr_base",
            "lr_warmup_epochs": "warm-up epochs",
            "lr_decay_epochs": "x0.97 decay every (epochs)",
            "grad_clip": "gradient clipping",
            "lr_schedule": "schedule",
            "weight_decay": "weight decay",
            "bn_momentum_tf": "BN momentum (TF)",
            "ema_decay": "EMA decay",
            "optimizer": "optimizer",
            "amp": "mixed precision",
        }
        for field_name, name in names.items():
            mine, theirs = getattr(self.config, field_name), getattr(paper.config, field_name)
            if mine != theirs:
                out.append(f"{name} {mine} instead of {theirs}")
        if self.config.lr_per_use:
            out.append("each tensor's learning rate divided by the sites that use it (one rate in the paper recipe)")
        if self.stochastic_depth is not None and self.stochastic_depth != 0.2:
            out.append(f"stochastic depth {self.stochastic_depth:g} instead of 0.2")
        mine_end, paper_end = _end_fraction(self.config), _end_fraction(paper.config)
        if abs(mine_end - paper_end) > 0.005:
            out.append(f"the learning rate ends at {mine_end:.3g} x peak (the paper's run: {paper_end:.3g} x peak)")
        return out


def _end_fraction(config: TrainConfig) -> float:
    """The learning rate at the end of a run as a fraction of its peak (the exponential staircase
    schedule's ``decay_factor ** floor(epochs / decay_epochs)``; 0 for cosine to 0, 1 for constant)."""
    if config.lr_schedule == "exponential":
        return config.lr_decay_factor ** math.floor(config.epochs / config.lr_decay_epochs)
    if config.lr_schedule == "cosine":
        return config.lr_min / config.peak_lr
    return 1.0


def _validation_split(value: Any, recipe: Recipe) -> float | None:
    """The ``validation_split`` setting resolved: ``"recipe"`` -> the recipe's,
    ``None``/``"none"`` -> None, a number in (0, 1) -> itself."""
    if isinstance(value, str):
        word = value.strip().lower()
        if word == "recipe":
            return recipe.validation_split
        if word == "none":
            return None
        try:
            value = float(word)
        except ValueError:
            raise ValueError(
                f"validation_split={value!r} must be None, 'recipe' or a fraction in (0, 1), e.g. 0.1"
            ) from None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ValueError(f"validation_split={value!r} must be None, 'recipe' or a fraction in (0, 1), e.g. 0.1")
    return float(value)


def make_plan(settings: Mapping[str, Any], *, profile: str = "custom", seed: int = 0) -> ExperimentPlan:
    """Resolve a profile's settings (``None`` = the dataset recipe's value)
    into a validated :class:`ExperimentPlan`; invalid values raise
    ``ValueError`` naming the parameter."""
    missing = [k for k in PROFILES["quick"] if k not in settings]
    if missing:
        raise ValueError(f"settings lack {missing}; start from ch4_sharing_training.PROFILES['quick'] or ['full']")
    recipe = recipe_of(settings["dataset"])
    models = model_labels(settings["models"])
    for name in ("width_mult", "depth_mult"):
        v = settings[name]
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 < v <= 4:
            raise ValueError(f"{name}={v!r} must be a number in (0, 4]")
    limit = settings["train_limit"]
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"train_limit={limit!r} must be None or a positive integer")
    size = settings["image_size"]
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 8):
        raise ValueError(f"image_size={size!r} must be None (the recipe's sizes) or an integer >= 8")
    validation_split = _validation_split(settings["validation_split"], recipe)
    for name in ("amp", "download", "resume", "append_results"):
        if not isinstance(settings[name], bool):
            raise ValueError(f"{name}={settings[name]!r} must be True or False (papermill: -p {name} True)")
    threads = settings["torch_threads"]
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"torch_threads={threads!r} must be None (PyTorch default) or a positive integer")
    ema = settings["ema_decay"]
    ema = recipe.ema_decay if ema == "recipe" else ema
    data_dir = Path(settings["data_dir"]).expanduser() if settings["data_dir"] else paths.DATASETS_DIR

    def pick(name: str, recipe_value: Any) -> Any:
        return recipe_value if settings[name] is None else settings[name]

    try:
        epochs, batch = pick("epochs", recipe.epochs), pick("batch_size", recipe.batch_size)
        config = TrainConfig(
            epochs=epochs,
            batch_size=batch,
            lr_base=pick("lr_base", recipe.lr_base),
            **_schedule(settings, recipe, epochs, batch, validation_split),
            ema_decay=ema,
            bn_momentum_tf=settings["bn_momentum_tf"],
            optimizer=settings["optimizer"],
            lr_per_use=settings.get("lr_per_use", False),
            amp=settings["amp"],
            num_workers=settings["num_workers"],
            seed=seed,
        )
    except ValueError as err:
        raise ValueError(f"{err} (set it with papermill -p or the CLI flag of the same name)") from None
    return ExperimentPlan(
        profile=profile,
        recipe=recipe,
        models=models,
        width_mult=float(settings["width_mult"]),
        depth_mult=float(settings["depth_mult"]),
        train_limit=limit,
        data_dir=data_dir,
        download=settings["download"],
        resume=settings["resume"],
        append_results=settings["append_results"],
        config=config,
        torch_threads=threads,
        image_size=size,
        validation_split=validation_split,
        precision=_precision(settings["precision"]),
        stochastic_depth=_stochastic_depth(settings.get("stochastic_depth")),
    )


def _schedule(
    settings: Mapping[str, Any], recipe: Recipe, epochs: int, batch: int, validation_split: float | None
) -> dict[str, Any]:
    """The warm-up, decay interval and clipping of a plan (``TrainConfig`` fields): warm-up
    ``lr_warmup_steps`` converted to epochs of this plan's training images (the last incomplete batch
    dropped, as :func:`reuseprior.training.loop.fit` does), the decay compressed to
    ``lr_end_fraction`` of the peak after ``schedule_epochs`` (:func:`compressed_decay_epochs`)."""
    out: dict[str, Any] = {"lr_warmup_epochs": settings["lr_warmup_epochs"]}
    steps = settings.get("lr_warmup_steps")
    if steps is not None:
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"lr_warmup_steps={steps!r} must be None or a non-negative whole number of steps")
        images = settings["train_limit"] or round(recipe.train_images * (1 - (validation_split or 0.0)))
        out["lr_warmup_epochs"] = steps / max(1, images // batch)
    end = settings.get("lr_end_fraction")
    if end is not None:
        span = settings.get("schedule_epochs") or epochs
        out["lr_decay_epochs"] = compressed_decay_epochs(span, end, TrainConfig.lr_decay_factor)
    for name in ("grad_clip", "lr_schedule", "weight_decay"):  # None: TrainConfig's (the official) value
        if settings.get(name) is not None:
            out[name] = settings[name]
    return out


def _stochastic_depth(value: Any) -> float | None:
    """``stochastic_depth`` checked: None or a probability in [0, 1)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1):
        raise ValueError(f"stochastic_depth={value!r} must be None (the official 0.2) or a probability in [0, 1)")
    return None if value is None else float(value)


def _precision(precision: str) -> str:
    """``precision`` checked (:func:`~reuseprior.core.precision.resolve_precision`)."""
    resolve_precision(precision)
    return precision


# ------------------------------------------------------------------------ models
