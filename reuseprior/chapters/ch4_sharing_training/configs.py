"""Section 4.5.4's settings: the models, the recipes per dataset, the notebook's profiles and the run log's columns."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from reuseprior.core.stored_rows import ColumnKinds
from reuseprior.reporting.notebook import Profile

# ------------------------------------------------------------------- definitions


@dataclass(frozen=True)
class ModelSpec:
    """A Table 4.2 model: EfficientNetV2 variant and sharing scheme; ``width_scale`` multiplies the
    width a plan builds it at (1: the plan's width)."""

    label: str
    variant: str
    sharing: str | None  # "all_but_bn" (section 4.5.3) or None (original)
    width_scale: float = 1.0


MODELS: dict[str, ModelSpec] = {
    spec.label: spec
    for spec in (
        ModelSpec("V2-B0-shared", "b0", "all_but_bn"),
        ModelSpec("V2-B0-original", "b0", None),
        ModelSpec("V2-S-shared", "s", "all_but_bn"),
        ModelSpec("V2-S-original", "s", None),
        # not in Table 4.2: the control for "fewer parameters" without sharing, an unshared B0 narrowed to
        # V2-S-shared's parameter count (at width 0.5: 0.84M against 0.82M; at width 1.0: 3.01M against 3.03M)
        ModelSpec("V2-B0-narrow", "b0", None, width_scale=0.72),
    )
}
#: the rows of Table 4.2 (per dataset), in the thesis's order
TABLE_4_2_MODELS: tuple[str, ...] = ("V2-B0-shared", "V2-B0-original", "V2-S-shared")


@dataclass(frozen=True)
class Recipe:
    """Hyper-parameters of one dataset (section 4.5.4) and the sizes of its
    official splits."""

    dataset: str
    label: str  # as printed in Table 4.2
    num_classes: int
    augmentation: str  # "none", "autoaug" or "randaug" (reuseprior.training.augment)
    epochs: int
    batch_size: int
    lr_base: float
    #: one resolution for training and evaluation; None: the variant's official sizes (:func:`official_sizes`)
    image_size: int | None
    ema_decay: float | None
    dropout: float | None  # None: the variant's default
    randaug_magnitude: int = 2
    #: share of the training images the official code holds out (not trained on);
    #: None: it trains on every training image and evaluates on the test split
    validation_split: float | None = None
    train_images: int = 0  # images of the official training set (before any held-out share)
    test_images: int = 0  # images the score is computed on (CIFAR test set, ImageNet validation set)
    #: MNIST-like: 28x28 grey images held as tensors, resampled and repeated to 3 channels, no augmentation
    grey: bool = False


def _grey_analogue(dataset: str, label: str) -> Recipe:
    """The CPU analogue of Table 4.2 on an MNIST-like ``dataset`` (set beside its CIFAR-10 rows): the
    CIFAR-10 recipe on 28x28 grey images brought to 32 px (CIFAR's own size; EfficientNetV2's total stride
    32 maps it to a 1x1 grid without padding) and 3 channels, no augmentation (flips would change what a
    digit is). Scale such models down by width, not depth: sharing saves parameters by tying the repeats
    of a stage, which depth_mult < 1 removes (10 classes: at width 0.25 and depth 1, V2-S-shared has 229K
    parameters against V2-B0's 433K, as at paper scale; at depth 0.25 it has 192K against 120K, the
    thesis's premise reversed)."""
    return Recipe(
        dataset=dataset,
        label=label,
        num_classes=10,
        augmentation="none",
        epochs=300,
        batch_size=512,
        lr_base=0.016,
        image_size=32,
        ema_decay=0.9999,
        dropout=None,
        train_images=60_000,
        test_images=10_000,
        grey=True,
    )


#: ImageNet images the official ``train`` split leaves out (its ``minival`` split)
IMAGENET_MINIVAL = 25_021
RECIPES: dict[str, Recipe] = {
    # train_epoch=300, batch_size=512, data.ibase=32, lr_warmup_epoch=5, exponential,
    # mixup=cutmix=0, lr_base=0.016, bn_momentum=0.99; ema_decay is the official default.
    "cifar10": Recipe(
        dataset="cifar10",
        label="CIFAR-10",
        num_classes=10,
        augmentation="none",
        epochs=300,
        batch_size=512,
        lr_base=0.016,
        image_size=None,
        ema_decay=0.9999,
        dropout=None,
        train_images=50_000,
        test_images=10_000,
    ),
    # same, plus data.augname=autoaug
    "cifar100": Recipe(
        dataset="cifar100",
        label="CIFAR-100",
        num_classes=100,
        augmentation="autoaug",
        epochs=300,
        batch_size=512,
        lr_base=0.016,
        image_size=None,
        ema_decay=0.9999,
        dropout=None,
        train_images=50_000,
        test_images=10_000,
    ),
    # train_epoch=352, batch_size=400, stages=4, dropout 0.075, ram=2, ema 0.9999, lr_base 0.025, randaug
    "imagenet": Recipe(
        dataset="imagenet",
        label="ImageNet-1K",
        num_classes=1000,
        augmentation="randaug",
        epochs=352,
        batch_size=400,
        lr_base=0.025,
        image_size=None,
        ema_decay=0.9999,
        dropout=0.075,
        randaug_magnitude=2,
        validation_split=IMAGENET_MINIVAL / 1_281_167,
        train_images=1_281_167,
        test_images=50_000,
    ),
    "mnist": _grey_analogue("mnist", "MNIST"),
    "fashion-mnist": _grey_analogue("fashion-mnist", "Fashion-MNIST"),
    # quick profile only: the real 8x8 scikit-learn digits upsampled to 32x32, 3 channels
    "digits": Recipe(
        dataset="digits",
        label="digits",
        num_classes=10,
        augmentation="none",
        epochs=3,
        batch_size=32,
        lr_base=0.016,
        image_size=32,
        ema_decay=None,
        dropout=None,
        validation_split=0.1,
        train_images=1_437,
        test_images=360,
    ),
}
DATASET_LABELS = {key: r.label for key, r in RECIPES.items()}
#: Table 4.2 has no digits or MNIST rows: those runs are set beside the CIFAR-10 ones (as an analogue)
THESIS_REFERENCE_DATASET = {
    "digits": "CIFAR-10",
    "mnist": "CIFAR-10",
    "fashion-mnist": "CIFAR-10",
    "cifar10": "CIFAR-10",
    "cifar100": "CIFAR-100",
    "imagenet": "ImageNet-1K",
}
#: ``(train.isize, eval.isize)`` of the official EfficientNetV2 model configs: ImageNet trains at the
#: first (the size of the last stage of progressive learning; ``train.stages=4`` itself is not
#: implemented) and evaluates at the second; the single source of every resolution of this module
IMAGENET_SIZES = {"b0": (192, 224), "b1": (192, 240), "b2": (208, 260), "b3": (240, 300), "s": (300, 384)}
#: ``train.isize`` of the official CIFAR configs (``cifar10Ft``/``cifar100Ft``): a fraction of ``eval.isize``
CIFAR_TRAIN_ISIZE = 1.0
#: published evaluation resolution, at which Table 4.2 reports FLOPs
NOMINAL_RESOLUTION = {variant: sizes[1] for variant, sizes in IMAGENET_SIZES.items()}


def official_sizes(dataset: str, variant: str) -> tuple[int, int]:
    """``(train, eval)`` resolution of ``variant`` on ``dataset`` in the
    official code (module docstring): ImageNet :data:`IMAGENET_SIZES`; CIFAR
    ``train.isize`` = :data:`CIFAR_TRAIN_ISIZE` times the eval size, rounded
    down to a multiple of 16 as ``main.py`` does (B0 224/224, S 384/384).
    Datasets without official sizes (MNIST, digits) raise ``ValueError``."""
    if variant not in IMAGENET_SIZES:
        raise ValueError(f"variant={variant!r} has no official sizes; known: {sorted(IMAGENET_SIZES)}")
    train, evaluation = IMAGENET_SIZES[variant]
    key = recipe_of(dataset).dataset
    if key == "imagenet":
        return train, evaluation
    if key in ("cifar10", "cifar100"):
        return int(evaluation * CIFAR_TRAIN_ISIZE) // 16 * 16, evaluation
    raise ValueError(f"dataset={dataset!r} has no official EfficientNetV2 resolution; give image_size")


@dataclass(frozen=True)
class SharingTrainingProfile(Profile):
    """Settings of the section 4.5.4 notebook (and ``python -m reuseprior
    train``); ``None`` means the dataset recipe's value (section 4.5.4)."""

    dataset: str
    models: tuple[str, ...]
    width_mult: float
    depth_mult: float
    #: train and eval resolution of every model; None: the recipe's (official per-variant sizes)
    image_size: int | None
    epochs: int | None
    batch_size: int | None
    lr_base: float | None
    lr_warmup_epochs: float
    train_limit: int | None  # training images kept
    #: share of the training images held out for validation; None: train on all, evaluate on the
    #: test split each epoch; "recipe": the dataset's official choice (Recipe.validation_split)
    validation_split: float | str | None
    ema_decay: float | str | None  # "recipe": the recipe's decay
    bn_momentum_tf: float
    #: "rmsprop_tf": TensorFlow 1's RMSprop of the official code; "rmsprop": PyTorch's (see training.loop)
    optimizer: str
    amp: bool  # used only on CUDA (training.amp_active); a CPU run trains in `precision`
    num_workers: int
    torch_threads: int | None  # None: PyTorch's default
    data_dir: str | None  # None: paths.DATASETS_DIR ($REUSEPRIOR_DATASETS_DIR, else build/datasets)
    download: bool
    resume: bool
    append_results: bool
    #: "float64": the same numbers on every CPU (quick); "float32": the paper's (reuseprior.core.precision)
    precision: str
    #: warm-up length in optimisation steps (None: ``lr_warmup_epochs``); a count of steps says what a
    #: shared model needs (small updates until its statistics settle) whatever the images per epoch
    lr_warmup_steps: int | None = None
    #: the exponential decay compressed so that the learning rate after ``schedule_epochs`` is this
    #: fraction of the peak (:func:`compressed_decay_epochs`; the official 300 CIFAR epochs end at
    #: 0.97 ** (300 / 2.4) = 0.022); None: the recipe's x0.97 every 2.4 epochs, uncompressed
    lr_end_fraction: float | None = None
    #: the epochs the schedule is laid out for (None: ``epochs``); a run of fewer ``epochs`` is the
    #: first epochs of that schedule (a recipe probe)
    schedule_epochs: int | None = None
    #: gradient-norm clipping (None: none, as the official recipe)
    grad_clip: float | None = None
    #: the largest stochastic-depth drop probability (None: the official 0.2)
    stochastic_depth: float | None = None
    #: each tensor's learning rate divided by the sites that use it (``TrainConfig.lr_per_use``); False:
    #: the official recipe's one rate
    lr_per_use: bool = False
    #: the schedule after warm-up (``TrainConfig.lr_schedule``: "exponential", the official staircase, or
    #: "cosine" to zero over the run); None: the official exponential
    lr_schedule: str | None = None
    #: weight decay on the weights (biases and batch-norm parameters excluded); None: the official 1e-5
    weight_decay: float | None = None


PROFILES: dict[str, SharingTrainingProfile] = {
    "quick": SharingTrainingProfile(
        dataset="digits",
        models=TABLE_4_2_MODELS,
        width_mult=0.25,  # tiny EfficientNetV2-like models (channels / 4, repeats / 4)
        depth_mult=0.25,
        # 32 px for every dataset (the official sizes are 192-384 px): CPU-sized
        image_size=32,
        epochs=3,
        batch_size=32,
        lr_base=0.016,  # section 4.5.4 (peak lr 0.016 * 32 / 256 = 0.002)
        lr_warmup_epochs=0.5,
        train_limit=512,
        validation_split=0.1,  # a seeded 10% of the training images, for the per-epoch curves
        ema_decay=None,
        # 0.99 (section 4.5.4) needs hundreds of steps for the running statistics
        # to settle; a 3-epoch run has ~50, so the quick profile uses 0.8
        bn_momentum_tf=0.8,
        # PyTorch's RMSprop: a departure from the official TF1 optimizer (epsilon outside the
        # root, mean square from 0), kept so the quick profile needs no timm import
        optimizer="rmsprop",
        amp=False,
        num_workers=0,
        # one intra-op thread: on a shared small CPU, two threads spin against
        # each other and tiny models train ~20x slower
        torch_threads=1,
        data_dir=None,
        download=False,
        resume=False,  # quick runs start fresh (they still checkpoint every epoch)
        append_results=False,
        # float32 runs of these tiny models end 5-17 points apart on two CPUs' kernels (measured)
        precision="float64",
    ),
    "full": SharingTrainingProfile(
        dataset="cifar10",
        models=TABLE_4_2_MODELS,
        width_mult=1.0,
        depth_mult=1.0,
        image_size=None,  # the official sizes (official_sizes)
        epochs=None,
        batch_size=None,
        lr_base=None,
        lr_warmup_epochs=5.0,
        train_limit=None,
        validation_split="recipe",  # CIFAR: all 50,000 training images; ImageNet: minival held out
        ema_decay="recipe",
        bn_momentum_tf=0.99,
        optimizer="rmsprop_tf",  # the official code's tf.compat.v1.train.RMSPropOptimizer
        amp=True,
        num_workers=8,
        torch_threads=None,
        data_dir=None,
        download=False,
        resume=True,
        append_results=True,
        precision="float32",
    ),
}

#: what the official CIFAR recipe's learning rate falls to at its end (x0.97 every 2.4 of 300 epochs)
OFFICIAL_END_FRACTION = 0.97 ** (300 / 2.4)


def compressed_decay_epochs(schedule_epochs: int, end_fraction: float, decay_factor: float = 0.97) -> float:
    """The decay interval (epochs) of the staircase schedule ``peak * decay_factor ** floor(epoch /
    interval)`` that brings a ``schedule_epochs``-epoch run to ``end_fraction`` of the peak, as the
    official 300 epochs reach :data:`OFFICIAL_END_FRACTION` (section 4.5.4's schedule, compressed)."""
    if not 0 < end_fraction < 1:
        raise ValueError(f"lr_end_fraction={end_fraction!r} must lie in (0, 1), e.g. 0.022 (the official end)")
    if schedule_epochs < 1:
        raise ValueError(f"schedule_epochs={schedule_epochs!r} must be a positive number of epochs")
    return schedule_epochs * math.log(decay_factor) / math.log(end_fraction)


RESULT_COLUMNS: tuple[str, ...] = (
    "run_id", "profile", "model", "variant", "sharing", "dataset", "dataset_label", "augmentation",
    "width_mult", "depth_mult", "image_size", "eval_image_size", "epochs", "epochs_completed", "status",
    "batch_size", "lr_base", "lr_peak", "ema_decay", "optimizer", "seed", "device", "amp",
    "params", "flops", "flops_resolution", "macs_nominal", "nominal_resolution",
    "top1_val", "top1_test", "val_loss_initial", "val_loss_final", "train_loss_first_epoch",
    "train_loss_last_epoch", "train_images_per_s", "train_time_s", "peak_memory_mb", "peak_memory_kind",
    "train_images", "validation_split", "checkpoint", "finished_utc", "torch_version",
    "lr_warmup_steps", "lr_decay_epochs", "grad_clip", "train_top1_last_epoch", "epoch_history",
    "train_top1_eval", "machine",
)  # fmt: skip
#: columns added after the first run logs were written: an older log reads with them empty
LATER_COLUMNS: tuple[str, ...] = (
    "eval_image_size", "optimizer", "validation_split",
    "lr_warmup_steps", "lr_decay_epochs", "grad_clip", "train_top1_last_epoch", "epoch_history",
    "train_top1_eval", "machine",
)  # fmt: skip
#: the kinds of a run row's values (the run log's and the stored study's, which holds a subset of its
#: columns): an interrupted run's row has its identity, its epochs and its status, the rest may be empty
RESULT_KINDS = ColumnKinds(
    required=("model", "variant", "sharing", "dataset", "seed", "epochs", "epochs_completed", "status"),
    numeric=(
        "width_mult",
        "depth_mult",
        "image_size",
        "eval_image_size",
        "epochs",
        "epochs_completed",
        "batch_size",
        "lr_base",
        "lr_peak",
        "ema_decay",
        "seed",
        "params",
        "flops",
        "flops_resolution",
        "macs_nominal",
        "nominal_resolution",
        "top1_val",
        "top1_test",
        "val_loss_initial",
        "val_loss_final",
        "train_loss_first_epoch",
        "train_loss_last_epoch",
        "train_images_per_s",
        "train_time_s",
        "peak_memory_mb",
        "train_images",
        "validation_split",
        "lr_warmup_steps",
        "lr_decay_epochs",
        "grad_clip",
        "train_top1_last_epoch",
        "train_top1_eval",
    ),
)
#: columns of the run log that a rerun measures differently or that name this
#: machine's files: kept in the log (``build/``), out of tracked tables
MEASURED_COLUMNS: tuple[str, ...] = (
    "train_images_per_s", "train_time_s", "peak_memory_mb", "peak_memory_kind", "checkpoint", "finished_utc",
    "machine",
)  # fmt: skip


OPTIMIZER_LABELS = {
    "rmsprop_tf": "RMSprop (TensorFlow 1's)",
    "rmsprop": "RMSprop (PyTorch's)",
    "adamw": "AdamW",
    "sgd": "SGD (Nesterov momentum)",
}
#: spellings of dataset names without separators -> RECIPES keys
_RECIPE_KEYS = {**{key.replace("-", ""): key for key in RECIPES}, "imagenet1k": "imagenet"}


def recipe_of(dataset: str) -> Recipe:
    """The recipe of ``dataset`` (any spelling, separators aside: ``Fashion_MNIST``); ``ValueError``
    naming the known ones."""
    key = str(dataset).strip().lower().replace("-", "").replace("_", "")
    if key not in _RECIPE_KEYS:
        raise ValueError(
            f"dataset={dataset!r} is not known; choose one of {sorted(RECIPES)} (papermill: -p dataset cifar10)"
        )
    return RECIPES[_RECIPE_KEYS[key]]


def model_label(label: str) -> str:
    """The Table 4.2 label of ``label`` (any case); ``ValueError`` naming the known models."""
    for known in MODELS:
        if known.lower() == str(label).strip().lower():
            return known
    raise ValueError(
        f"model {label!r} is not known; choose from {list(MODELS)} (papermill: -p models 'V2-B0-shared,V2-S-shared')"
    )


def model_labels(value: str | Sequence[str]) -> tuple[str, ...]:
    """The labels of ``value``, comma-separated text or a sequence (:func:`model_label` each)."""
    items = [v for v in value.split(",")] if isinstance(value, str) else list(value)
    labels = tuple(model_label(v) for v in items if str(v).strip())
    if not labels:
        raise ValueError(f"models={value!r} names no model; choose from {list(MODELS)}")
    return labels


# -------------------------------------------------------------------------- plan
