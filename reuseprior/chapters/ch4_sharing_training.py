"""Thesis sections 4.5.2-4.5.6: EfficientNetV2 trained from scratch, the
original models against aggressively shared ones (Table 4.2).

Everything the notebook ``ch4_sharing_training`` does lives here:

* :data:`MODELS` -- the Table 4.2 models by their thesis labels
  (``"V2-B0-shared"`` = EfficientNetV2-B0 with ``share_parameters(model,
  scheme="all_but_bn")``, section 4.5.3);
* :data:`RECIPES` -- the per-dataset hyper-parameters of section 4.5.4
  (CIFAR-10, CIFAR-100, ImageNet-1K), plus MNIST and Fashion-MNIST (a
  CPU-feasible analogue of Table 4.2, set beside its CIFAR-10 rows) and the
  scikit-learn digits (the quick profile);
* :data:`PROFILES` -- ``quick`` (tiny width/depth-scaled models on the real
  scikit-learn digits at 32 px, CPU, about a minute) and ``full`` (the paper
  recipe: CIFAR-10/100 or an ImageNet folder at the official resolutions,
  GPU); :meth:`ExperimentPlan.departures` lists where a plan departs from
  the paper recipe;
* :func:`run_experiments` -- one resumable training run per model, one
  results row per run appended to a run log (:data:`RESULT_COLUMNS`), by
  default :func:`default_results_csv` under ``build/`` (untracked): the log
  holds what a rerun measures differently (:data:`MEASURED_COLUMNS`: wall
  time, throughput, peak memory, checkpoint file, finish time), so tracked
  tables take :func:`tracked_results` (the log without them) and the
  measurements :func:`cost_table` (``ctx.save_measurement``);
* :func:`table_4_2` -- Table 4.2 rebuilt from the results rows, and
  :func:`architecture_table` -- its Params and FLOPs columns computed at
  paper scale without training (models built on the ``meta`` device);
* :func:`expected_gpu_hours` / :func:`gpu_time_table` -- an *estimate* of the
  GPU time of each paper-profile row (how it is derived: there).

The paper recipe as the official EfficientNetV2 code runs it (the thesis
modified that code, section 4.5.3, and lists its changes in section 4.5.4):

* **resolutions** (:func:`official_sizes`, one table, :data:`IMAGENET_SIZES`):
  ImageNet trains at ``train.isize`` of the variant's config, the size of the
  last stage of progressive learning (B0 192 px, S 300 px), and evaluates at
  ``eval.isize`` (B0 224, S 384). The official code's only CIFAR configs are
  the fine-tuning ones (``cifar10Ft``/``cifar100Ft``, which the thesis ran
  "from scratch ... instead of transfer learning"): ``train.stages=0``, so
  ``data.ibase`` (which only sets where progressive resizing starts) has no
  effect, and ``train.isize=1.0``, a fraction of ``eval.isize``: CIFAR trains
  and evaluates at the variant's eval size (B0 224/224, S 384/384), the
  32x32 images enlarged;
* **training images**: CIFAR trains on all 50,000 training images and
  evaluates on the 10,000 test images (no validation split); ImageNet trains
  on the official ``train`` split, which holds out 25,021 images
  (``minival``), and evaluates on the 50,000 validation images. The setting
  ``validation_split`` makes this explicit (``"recipe"``: the dataset's
  official choice; ``None``: every training image, per-epoch evaluation on
  the test split; a fraction: that share held out, seeded);
* **preprocessing**: :mod:`reuseprior.training.augment` (random crop and flip
  always, then the policy: none on CIFAR-10, AutoAugment on CIFAR-100,
  RandAugment on ImageNet; central-crop evaluation; ``(x - 128) / 128``);
* **optimiser**: TensorFlow 1's RMSprop (``optimizer="rmsprop_tf"``), and
  the rest of :mod:`reuseprior.training.loop`.
"""

from __future__ import annotations

import datetime as _dt
import functools
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch
from torch import nn
from torch.utils.data import ConcatDataset, Dataset, Subset, TensorDataset

from reuseprior import datasets as data
from reuseprior.core import paths
from reuseprior.core.files import append_csv_row
from reuseprior.core.parameters import count_parameters
from reuseprior.models.efficientnet_v2 import VARIANTS, EfficientNetV2, efficientnet_v2, round_filters
from reuseprior.models.sharing import share_parameters
from reuseprior.reporting.notebook import Profile, set_seed
from reuseprior.reporting.plotting import caption
from reuseprior.reporting.reference import load_thesis_table, select_thesis_rows, side_by_side
from reuseprior.training.augment import GreyAsRGB, build_transforms, grey_to_rgb, official_scale
from reuseprior.training.loop import (
    TrainConfig,
    TrainingInterrupted,
    amp_active,
    count_flops,
    discard_checkpoint,
    fit,
    load_checkpoint,
)

__all__ = [
    "plot_training_curves",
    "DATASET_LABELS",
    "GPU_REFERENCE_THROUGHPUT",
    "CIFAR_TRAIN_ISIZE",
    "GREY_STATISTICS",
    "H100_SPEEDUP_OVER_RTX3090",
    "IMAGENET_MINIVAL",
    "IMAGENET_SIZES",
    "LATER_COLUMNS",
    "MODELS",
    "NOMINAL_RESOLUTION",
    "PROFILES",
    "RECIPES",
    "MEASURED_COLUMNS",
    "RESULT_COLUMNS",
    "TABLE_4_2_MODELS",
    "THESIS_REFERENCE_DATASET",
    "ExperimentPlan",
    "ModelSpec",
    "Recipe",
    "architecture_table",
    "build_experiment_model",
    "compare_with_thesis",
    "cost_table",
    "data_caption",
    "default_results_csv",
    "expected_gpu_hours",
    "gpu_time_table",
    "history_frame",
    "loss_went_down",
    "official_sizes",
    "paper_scale_table",
    "parameter_ratios",
    "parameters_to_overrides",
    "make_plan",
    "nominal_macs",
    "read_results",
    "run_experiments",
    "table_4_2",
    "tracked_results",
]


# ------------------------------------------------------------------- definitions


@dataclass(frozen=True)
class ModelSpec:
    """A Table 4.2 model: EfficientNetV2 variant and sharing scheme."""

    label: str
    variant: str
    sharing: str | None  # "all_but_bn" (section 4.5.3) or None (original)


MODELS: dict[str, ModelSpec] = {
    spec.label: spec
    for spec in (
        ModelSpec("V2-B0-shared", "b0", "all_but_bn"),
        ModelSpec("V2-B0-original", "b0", None),
        ModelSpec("V2-S-shared", "s", "all_but_bn"),
        ModelSpec("V2-S-original", "s", None),
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


#: ImageNet images the official ``train`` split leaves out (its ``minival`` split)
IMAGENET_MINIVAL = 25_021
RECIPES: dict[str, Recipe] = {
    # train_epoch=300, batch_size=512, data.ibase=32, lr_warmup_epoch=5, exponential,
    # mixup=cutmix=0, lr_base=0.016, bn_momentum=0.99; ema_decay is the official default.
    "cifar10": Recipe(
        "cifar10", "CIFAR-10", 10, "none", 300, 512, 0.016, None, 0.9999, None,
        train_images=50_000, test_images=10_000,
    ),
    # same, plus data.augname=autoaug
    "cifar100": Recipe(
        "cifar100", "CIFAR-100", 100, "autoaug", 300, 512, 0.016, None, 0.9999, None,
        train_images=50_000, test_images=10_000,
    ),
    # train_epoch=352, batch_size=400, stages=4, dropout 0.075, ram=2, ema 0.9999, lr_base 0.025, randaug
    "imagenet": Recipe(
        "imagenet", "ImageNet-1K", 1000, "randaug", 352, 400, 0.025, None, 0.9999, 0.075, randaug_magnitude=2,
        validation_split=IMAGENET_MINIVAL / 1_281_167, train_images=1_281_167, test_images=50_000,
    ),
    # the CPU analogue of Table 4.2 (set beside its CIFAR-10 rows): the CIFAR-10 recipe on 28x28 grey
    # images brought to 32 px (CIFAR's own size; EfficientNetV2's total stride 32 maps it to a 1x1 grid
    # without padding) and 3 channels, no augmentation (flips would change what a digit is). Scale such
    # models down by width, not depth: sharing saves parameters by tying the repeats of a stage, which
    # depth_mult < 1 removes (10 classes: at width 0.25 and depth 1, V2-S-shared has 229K parameters against
    # V2-B0's 433K, as at paper scale; at depth 0.25 it has 192K against 120K, the thesis's premise reversed)
    "mnist": Recipe(
        "mnist", "MNIST", 10, "none", 300, 512, 0.016, 32, 0.9999, None,
        train_images=60_000, test_images=10_000, grey=True,
    ),
    "fashion-mnist": Recipe(
        "fashion-mnist", "Fashion-MNIST", 10, "none", 300, 512, 0.016, 32, 0.9999, None,
        train_images=60_000, test_images=10_000, grey=True,
    ),
    # quick profile only: the real 8x8 scikit-learn digits upsampled to 32x32, 3 channels
    "digits": Recipe(
        "digits", "digits", 10, "none", 3, 32, 0.016, 32, None, None,
        validation_split=0.1, train_images=1_437, test_images=360,
    ),
}  # fmt: skip
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
    key = _recipe(dataset).dataset
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
    amp: bool  # used only on CUDA (training.amp_active); a CPU run trains in float32
    num_workers: int
    torch_threads: int | None  # None: PyTorch's default
    data_dir: str | None  # None: build/datasets
    download: bool
    resume: bool
    append_results: bool


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
    ),
}

RESULT_COLUMNS: tuple[str, ...] = (
    "run_id", "profile", "model", "variant", "sharing", "dataset", "dataset_label", "augmentation",
    "width_mult", "depth_mult", "image_size", "eval_image_size", "epochs", "epochs_completed", "status",
    "batch_size", "lr_base", "lr_peak", "ema_decay", "optimizer", "seed", "device", "amp",
    "params", "flops", "flops_resolution", "macs_nominal", "nominal_resolution",
    "top1_val", "top1_test", "val_loss_initial", "val_loss_final", "train_loss_first_epoch",
    "train_loss_last_epoch", "train_images_per_s", "train_time_s", "peak_memory_mb", "peak_memory_kind",
    "train_images", "validation_split", "checkpoint", "finished_utc", "torch_version",
)  # fmt: skip
#: columns added after the first run logs were written: an older log reads with them empty
LATER_COLUMNS: tuple[str, ...] = ("eval_image_size", "optimizer", "validation_split")
#: columns of the run log that a rerun measures differently or that name this
#: machine's files: kept in the log (``build/``), out of tracked tables
MEASURED_COLUMNS: tuple[str, ...] = (
    "train_images_per_s", "train_time_s", "peak_memory_mb", "peak_memory_kind", "checkpoint", "finished_utc",
)  # fmt: skip


# ------------------------------------------------------------------------ models


def build_experiment_model(
    model: str | ModelSpec,
    num_classes: int,
    *,
    width_mult: float = 1.0,
    depth_mult: float = 1.0,
    dropout: float | None = None,
) -> nn.Module:
    """A Table 4.2 model; ``width_mult``/``depth_mult`` < 1 scale the
    variant's channels and repeats further down (the quick profile's tiny
    models). Sharing (section 4.5.3) is applied by
    :func:`reuseprior.models.sharing.share_parameters` with the spec's scheme."""

    spec = MODELS[model] if isinstance(model, str) else model
    kwargs = {} if dropout is None else {"dropout": dropout}
    if width_mult == 1.0 and depth_mult == 1.0:
        net = efficientnet_v2(spec.variant, num_classes=num_classes, **kwargs)
    else:
        cfg = VARIANTS[spec.variant]
        width, depth = cfg.width * width_mult, cfg.depth * depth_mult
        stages = [stage.scaled(width, depth) for stage in cfg.stages]
        net = EfficientNetV2(
            stages,
            num_classes=num_classes,
            head_channels=round_filters(cfg.head_channels, width),
            dropout=cfg.dropout if dropout is None else dropout,
        )
    if spec.sharing is not None:
        shared = share_parameters(net, scheme=spec.sharing)
        net = shared if isinstance(shared, nn.Module) else net
    return net


@functools.lru_cache(maxsize=None)
def _backbone_macs(variant: str, width_mult: float, depth_mult: float, resolution: int) -> tuple[float, int]:
    """(multiply-adds without the classifier, classifier input features) of
    one ``resolution`` x ``resolution`` image, counted on the meta device."""
    # built on the CPU (weight initialisation on "meta" runs through slow
    # Python reference kernels), then moved to "meta" for the count
    net = build_experiment_model(ModelSpec("count", variant, None), 1, width_mult=width_mult, depth_mult=depth_mult).to(
        "meta"
    )
    total = count_flops(net, (3, resolution, resolution), device="meta") / 2
    classifier = count_flops(net.classifier, (net.classifier.in_features,), device="meta") / 2
    return total - classifier, net.classifier.in_features


def nominal_macs(variant: str, num_classes: int, *, width_mult: float = 1.0, depth_mult: float = 1.0) -> float:
    """Multiply-adds of one image at the variant's published resolution
    (B0 224 px, S 384 px), the unit of Table 4.2's FLOPs column:
    ``torch.utils.flop_counter`` FLOPs / 2. Sharing does not change it (the
    same operations run, only the weights are tied); the backbone is counted
    once per variant and the classifier per class count."""
    resolution = NOMINAL_RESOLUTION[variant]
    backbone, features = _backbone_macs(variant, float(width_mult), float(depth_mult), resolution)
    with torch.device("meta"):
        classifier = nn.Linear(features, num_classes)
    return backbone + count_flops(classifier, (features,), device="meta") / 2


def architecture_table(
    datasets: Iterable[str] = ("cifar10", "cifar100", "imagenet"),
    models: Sequence[str] = TABLE_4_2_MODELS,
    *,
    width_mult: float = 1.0,
    depth_mult: float = 1.0,
) -> pd.DataFrame:
    """Params and FLOPs of Table 4.2's models, computed without training.

    Each model is built once; only its classifier changes with the number
    of classes. Params are distinct trainable elements (tied weights once);
    FLOPs are :func:`nominal_macs` (counted on the ``meta`` device).
    Columns: Model, Dataset, params, macs_nominal, nominal_resolution.
    """
    rows = []
    built: dict[str, nn.Module] = {}
    for key in datasets:
        recipe = _recipe(key)
        for label in models:
            spec = MODELS[_model_label(label)]
            if spec.label not in built:
                built[spec.label] = build_experiment_model(
                    spec, recipe.num_classes, width_mult=width_mult, depth_mult=depth_mult
                )
            net = built[spec.label]
            if net.classifier.out_features != recipe.num_classes:
                net.classifier = nn.Linear(net.classifier.in_features, recipe.num_classes)
            rows.append(
                {
                    "Model": spec.label,
                    "Dataset": recipe.label,
                    "params": count_parameters(net),
                    "macs_nominal": nominal_macs(
                        spec.variant, recipe.num_classes, width_mult=width_mult, depth_mult=depth_mult
                    ),
                    "nominal_resolution": NOMINAL_RESOLUTION[spec.variant],
                }
            )
    return pd.DataFrame(rows)


# ------------------------------------------------------------ expected GPU time

#: Measured training throughput that calibrates :func:`expected_gpu_hours`: (images per second,
#: resolution) of timm's ``tf_efficientnetv2_b0`` and ``tf_efficientnetv2_s`` (the same architectures)
#: in timm's published benchmark ``results/benchmark-train-amp-nchw-pt112-cu113-rtx3090.csv``
#: (huggingface/pytorch-image-models: PyTorch 1.12, CUDA 11.3, one RTX 3090, mixed precision, NCHW
#: memory layout as here, batch 512 and 128)
GPU_REFERENCE_THROUGHPUT: dict[str, tuple[float, int]] = {"b0": (2483.22, 192), "s": (389.1, 300)}
#: assumed speed of one H100 (SXM) over one RTX 3090 on these networks: the ratio of their memory
#: bandwidths, 3.35 TB/s over 0.936 TB/s (EfficientNet training is bound by memory traffic --
#: depthwise convolutions, batch norm, activations -- far more than by tensor-core arithmetic)
H100_SPEEDUP_OVER_RTX3090 = 3.35 / 0.936


def _gpu_estimate(
    dataset: str,
    model: str,
    *,
    epochs: int | None = None,
    image_size: int | None = None,
    validation_split: float | str | None = "recipe",
    speedup: float = H100_SPEEDUP_OVER_RTX3090,
) -> dict[str, Any]:
    """One row of :func:`gpu_time_table` (the derivation: :func:`expected_gpu_hours`)."""
    recipe = _recipe(dataset)
    spec = MODELS[_model_label(model)]
    plan = make_plan(
        {
            **PROFILES["full"],
            "dataset": recipe.dataset,
            "models": (spec.label,),
            "epochs": epochs,
            "image_size": image_size,
            "validation_split": validation_split,
        }
    )
    if spec.variant not in GPU_REFERENCE_THROUGHPUT:
        raise ValueError(
            f"no measured throughput for variant {spec.variant!r}; known {sorted(GPU_REFERENCE_THROUGHPUT)}"
        )
    train_px, eval_px = plan.sizes(spec.variant)
    reference_ips, reference_px = GPU_REFERENCE_THROUGHPUT[spec.variant]

    def macs(px: int) -> float:
        return _backbone_macs(spec.variant, 1.0, 1.0, px)[0]

    train_ips = reference_ips * speedup * macs(reference_px) / macs(train_px)
    eval_ips = 3.0 * reference_ips * speedup * macs(reference_px) / macs(eval_px)
    held_out = plan.validation_split
    trained = recipe.train_images if held_out is None else recipe.train_images - round(held_out * recipe.train_images)
    per_epoch_eval = recipe.test_images if held_out is None else recipe.train_images - trained
    evaluated = per_epoch_eval * (plan.config.epochs + 1) + recipe.test_images
    seconds = trained * plan.config.epochs / train_ips + evaluated / eval_ips
    return {
        "Model": spec.label,
        "Dataset": recipe.label,
        "train px": train_px,
        "eval px": eval_px,
        "train images": trained,
        "epochs": plan.config.epochs,
        "train images/s (est.)": train_ips,
        "GPU hours (est.)": seconds / 3600.0,
    }


def expected_gpu_hours(
    dataset: str,
    model: str,
    *,
    epochs: int | None = None,
    image_size: int | None = None,
    validation_split: float | str | None = "recipe",
    speedup: float = H100_SPEEDUP_OVER_RTX3090,
) -> float:
    """**Estimated** hours of one H100 for one ``full``-profile run (one row
    of Table 4.2), not a measurement: no GPU was available to time it.

    Derivation: the multiply-adds of one image of the paper-scale variant
    are counted here (``torch.utils.flop_counter`` on the ``meta`` device,
    backbone without classifier) at the run's training and evaluation
    resolutions and at the resolution of a published training throughput
    (:data:`GPU_REFERENCE_THROUGHPUT`, timm's RTX 3090 benchmark of the same
    architectures with mixed precision); the time per image is taken as
    proportional to its multiply-adds, and one H100 as
    :data:`H100_SPEEDUP_OVER_RTX3090` times an RTX 3090 (``speedup``). An
    evaluated image costs a third of a trained one (forward only). Trained
    images: the recipe's training set less its held-out share
    (``validation_split``, as :func:`make_plan`) times the epochs; evaluated:
    the per-epoch evaluation set (the held-out share, or the test split when
    none) at epoch 0 and after every epoch, plus the final test pass.
    Sharing does not change the arithmetic, so shared and original models
    get the same estimate. Not included: data loading (ImageNet JPEG
    decoding at several thousand images per second needs many CPU cores),
    checkpoint writes, start-up. Treat it as right within a factor of about
    two near the reference resolutions (192-384 px); at a few dozen pixels
    (MNIST at 32 px) a GPU is bound by per-layer overheads, not arithmetic,
    and the figure is only a lower bound. ``epochs``/``image_size`` default
    to the recipe's."""
    return _gpu_estimate(
        dataset, model, epochs=epochs, image_size=image_size, validation_split=validation_split, speedup=speedup
    )["GPU hours (est.)"]


def gpu_time_table(
    datasets: Iterable[str] = ("cifar10", "cifar100", "imagenet"), models: Sequence[str] = TABLE_4_2_MODELS
) -> pd.DataFrame:
    """The estimated GPU time (:func:`expected_gpu_hours`) of every
    ``full``-profile row of Table 4.2, with the resolutions, trained images
    and epochs it assumes. Columns: Model, Dataset, train px, eval px, train
    images, epochs, train images/s (est.), GPU hours (est.)."""
    return pd.DataFrame([_gpu_estimate(d, m) for d in datasets for m in models])


# -------------------------------------------------------------------------- plan


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
            f"{_OPTIMIZER_LABELS.get(c.optimizer, c.optimizer)}, "
            f"BN momentum {c.bn_momentum_tf} (TF) = {1 - c.bn_momentum_tf:g} (PyTorch), "
            f"EMA {c.ema_decay}, AMP {c.amp}{' (CUDA only)' if c.amp else ''}, "
            f"width x{self.width_mult}, depth x{self.depth_mult}"
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
            "bn_momentum_tf": "BN momentum (TF)",
            "ema_decay": "EMA decay",
            "optimizer": "optimizer",
            "amp": "mixed precision",
        }
        for field_name, name in names.items():
            mine, theirs = getattr(self.config, field_name), getattr(paper.config, field_name)
            if mine != theirs:
                out.append(f"{name} {mine} instead of {theirs}")
        return out


_OPTIMIZER_LABELS = {"rmsprop_tf": "RMSprop (TensorFlow 1's)", "rmsprop": "RMSprop (PyTorch's)"}
#: spellings of dataset names without separators -> RECIPES keys
_RECIPE_KEYS = {**{key.replace("-", ""): key for key in RECIPES}, "imagenet1k": "imagenet"}


def _recipe(dataset: str) -> Recipe:
    key = str(dataset).strip().lower().replace("-", "").replace("_", "")
    if key not in _RECIPE_KEYS:
        raise ValueError(
            f"dataset={dataset!r} is not known; choose one of {sorted(RECIPES)} (papermill: -p dataset cifar10)"
        )
    return RECIPES[_RECIPE_KEYS[key]]


def _model_label(label: str) -> str:
    for known in MODELS:
        if known.lower() == str(label).strip().lower():
            return known
    raise ValueError(
        f"model {label!r} is not known; choose from {list(MODELS)} (papermill: -p models 'V2-B0-shared,V2-S-shared')"
    )


def _models(value: str | Sequence[str]) -> tuple[str, ...]:
    items = [v for v in value.split(",")] if isinstance(value, str) else list(value)
    labels = tuple(_model_label(v) for v in items if str(v).strip())
    if not labels:
        raise ValueError(f"models={value!r} names no model; choose from {list(MODELS)}")
    return labels


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
    recipe = _recipe(settings["dataset"])
    models = _models(settings["models"])
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
    data_dir = Path(settings["data_dir"]).expanduser() if settings["data_dir"] else paths.BUILD_DIR / "datasets"

    def pick(name: str, recipe_value: Any) -> Any:
        return recipe_value if settings[name] is None else settings[name]

    try:
        config = TrainConfig(
            epochs=pick("epochs", recipe.epochs),
            batch_size=pick("batch_size", recipe.batch_size),
            lr_base=pick("lr_base", recipe.lr_base),
            lr_warmup_epochs=settings["lr_warmup_epochs"],
            ema_decay=ema,
            bn_momentum_tf=settings["bn_momentum_tf"],
            optimizer=settings["optimizer"],
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
    )


# -------------------------------------------------------------------------- data

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


def _splits(plan: ExperimentPlan, variant: str, seed: int) -> tuple[data.DatasetSplits, int, int]:
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


def default_results_csv() -> Path:
    """Where the run log goes unless told otherwise:
    ``build/measured/ch4_sharing_training/results.csv`` (the folder of
    ``ctx.save_measurement``; ``$REUSEPRIOR_MEASURED_DIR`` redirects it).
    Untracked: the log carries timings, memory and local file names."""
    base = Path(os.environ.get(paths.MEASURED_ENV_VAR, paths.BUILD_DIR / "measured"))
    return base / "ch4_sharing_training" / "results.csv"


def _portable_path(path: str | os.PathLike | None) -> str | None:
    """``path`` relative to the repository root when it lies inside it (so
    that the log names no machine-specific folder), else absolute."""
    if path is None:
        return None
    p = Path(path).resolve()
    try:
        return p.relative_to(paths.ROOT.resolve()).as_posix()
    except ValueError:
        return str(p)


def _resolve_path(path: str) -> Path:
    """Inverse of :func:`_portable_path`: relative paths are under the repository root."""
    p = Path(path)
    return p if p.is_absolute() else paths.ROOT / p


def tracked_results(results: pd.DataFrame) -> pd.DataFrame:
    """The run log without :data:`MEASURED_COLUMNS`: every value a rerun with
    the same software and seed reproduces (the ``results`` table of figures/)."""
    return results.drop(columns=[c for c in MEASURED_COLUMNS if c in results.columns]).reset_index(drop=True)


def cost_table(results: pd.DataFrame) -> pd.DataFrame:
    """Cost of each run (a measurement, for ``ctx.save_measurement``):
    training throughput (images/s over the training loop), wall time, peak
    memory and what that peak is (``peak_memory_kind``), beside the counted
    params and FLOPs."""
    cols = [
        "model",
        "dataset",
        "device",
        "params",
        "flops",
        "flops_resolution",
        "train_images_per_s",
        "train_time_s",
        "peak_memory_mb",
        "peak_memory_kind",
    ]
    return results[cols].reset_index(drop=True)


def data_caption(plan: ExperimentPlan, seed: int, train_images: int | None = None) -> str:
    """The caption line of a training figure (Table 4.2 runs): which data
    (and how many training images), resolution, model scale, epochs, batch,
    augmentation, profile and seed."""
    r, c = plan.recipe, plan.config
    sizes = {plan.sizes(MODELS[label].variant) for label in plan.models}
    if len(sizes) == 1 and len({*next(iter(sizes))}) == 1:
        side = next(iter(sizes))[0]
        resolution = f"{side}x{side}"
    else:
        resolution = ", ".join(
            f"{label} {'/'.join(str(s) for s in plan.sizes(MODELS[label].variant))} px (train/eval)"
            for label in plan.models
        )
    if r.dataset == "digits":
        data = f"scikit-learn 8x8 handwritten digits upsampled to {resolution}"
    elif r.grey:
        data = f"{r.label} (28x28 grey, resampled to {resolution}, 3 channels; an analogue of CIFAR-10)"
    elif r.dataset == "imagenet":
        data = f"ImageNet-1K (image folder) at {resolution}"
    else:
        data = f"{r.label} (torchvision) at {resolution}"
    if train_images is not None:
        data += f", {int(train_images)} training images"
    scale = (
        "paper-scale EfficientNetV2"
        if plan.width_mult == 1.0 and plan.depth_mult == 1.0
        else f"EfficientNetV2 scaled down (width x{plan.width_mult:g}, depth x{plan.depth_mult:g})"
    )
    return (
        f"data: {data}; {scale}, {c.epochs} epochs, batch {c.batch_size}, "
        f"augmentation {r.augmentation}; profile {plan.profile!r}, seed {seed}"
    )


def read_results(path: str | os.PathLike) -> pd.DataFrame:
    """The results CSV (empty frame with :data:`RESULT_COLUMNS` if absent);
    the :data:`LATER_COLUMNS` an older log lacks are added, empty."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=list(RESULT_COLUMNS))
    df = pd.read_csv(path)
    unknown = [c for c in RESULT_COLUMNS if c not in df.columns and c not in LATER_COLUMNS]
    if unknown:
        raise ValueError(f"{path} is not a sharing-training results file (missing columns {unknown})")
    for column in LATER_COLUMNS:  # a log written before these columns existed: empty there
        if column not in df.columns:
            df[column] = pd.NA
    return df[[*RESULT_COLUMNS, *(c for c in df.columns if c not in RESULT_COLUMNS)]]


def _append_row(row: Mapping[str, Any], path: Path) -> pd.DataFrame:
    return append_csv_row(path, dict(row), RESULT_COLUMNS, read=read_results)


def _row(
    plan: ExperimentPlan,
    spec: ModelSpec,
    res,
    *,
    run_id: str,
    seed: int,
    device: torch.device,
    image_size: int,
    eval_image_size: int,
    flops: int,
    macs_nominal: float,
    train_images: int,
) -> dict[str, Any]:
    c = plan.config
    return {
        "run_id": run_id,
        "profile": plan.profile,
        "model": spec.label,
        "variant": spec.variant,
        "sharing": spec.sharing or "none",
        "dataset": plan.recipe.dataset,
        "dataset_label": plan.recipe.label,
        "augmentation": plan.recipe.augmentation,
        "width_mult": plan.width_mult,
        "depth_mult": plan.depth_mult,
        "image_size": image_size,
        "eval_image_size": eval_image_size,
        "epochs": c.epochs,
        "epochs_completed": res.epochs_completed,
        "status": res.status,
        "batch_size": c.batch_size,
        "lr_base": c.lr_base,
        "lr_peak": c.peak_lr,
        "ema_decay": c.ema_decay,
        "optimizer": c.optimizer,
        "seed": seed,
        "device": str(device),
        "amp": amp_active(c.amp, device),  # what the run used: mixed precision only on CUDA
        "params": res.params,
        "flops": flops,
        "flops_resolution": image_size,
        "macs_nominal": macs_nominal,
        "nominal_resolution": NOMINAL_RESOLUTION[spec.variant],
        "top1_val": res.val_top1,
        "top1_test": res.test_top1,
        "val_loss_initial": res.initial_val_loss,
        "val_loss_final": res.val_loss,
        "train_loss_first_epoch": res.first_train_loss,
        "train_loss_last_epoch": res.final_train_loss,
        "train_images_per_s": res.train_images_per_s,
        "train_time_s": res.train_time_s,
        "peak_memory_mb": res.peak_memory_bytes / 2**20,
        "peak_memory_kind": res.peak_memory_kind,
        "train_images": train_images,
        "validation_split": plan.validation_split if plan.validation_split is not None else 0.0,
        "checkpoint": _portable_path(res.checkpoint_path),
        "finished_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "torch_version": torch.__version__,
    }


def run_experiments(
    plan: ExperimentPlan,
    *,
    device: torch.device | str = "cpu",
    seed: int = 0,
    results_csv: str | os.PathLike | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Train every model of ``plan`` and append one row per run to the run
    log ``results_csv`` (default :func:`default_results_csv`; rewritten
    atomically after each run). Returns all rows of the file. The log's
    ``checkpoint`` column is relative to the repository root when the
    checkpoint lies inside it. Each run checkpoints every epoch to
    ``<checkpoint_dir>/<run_id>.pt`` and, with ``plan.resume``, continues
    from it. Ctrl-C writes the partial row (``status="interrupted"``) before
    re-raising, so finished runs and the partial one are kept."""
    device = torch.device(device)
    results_csv = Path(results_csv) if results_csv is not None else default_results_csv()
    ckpt_dir = (
        Path(checkpoint_dir) if checkpoint_dir is not None else paths.BUILD_DIR / "checkpoints" / "ch4_sharing_training"
    )
    if not plan.append_results and results_csv.exists():
        results_csv.unlink()
    config = replace(plan.config, seed=seed)
    plan = replace(plan, config=config)
    df = read_results(results_csv)
    threads_before = torch.get_num_threads()
    if plan.torch_threads is not None:
        torch.set_num_threads(plan.torch_threads)
    try:
        for label in plan.models:
            df = _run_one(
                plan,
                MODELS[label],
                device=device,
                seed=seed,
                results_csv=results_csv,
                ckpt_dir=ckpt_dir,
                progress=progress,
            )
    finally:
        torch.set_num_threads(threads_before)
    return df


def _run_one(
    plan: ExperimentPlan,
    spec: ModelSpec,
    *,
    device: torch.device,
    seed: int,
    results_csv: Path,
    ckpt_dir: Path,
    progress: bool,
) -> pd.DataFrame:
    """One training run of ``run_experiments``; returns the results file's rows."""

    config = plan.config
    run_id = f"{plan.profile}-{plan.recipe.dataset}-{spec.label}-w{plan.width_mult:g}-d{plan.depth_mult:g}-s{seed}"
    ckpt = ckpt_dir / f"{run_id}.pt"
    if not plan.resume:
        discard_checkpoint(ckpt)  # ours only: another file there is refused, not deleted
    splits, image_size, eval_image_size = _splits(plan, spec.variant, seed)
    set_seed(seed)  # identical initialisation whether or not the run resumes
    model = build_experiment_model(
        spec,
        plan.recipe.num_classes,
        width_mult=plan.width_mult,
        depth_mult=plan.depth_mult,
        dropout=plan.recipe.dropout,
    )
    flops = count_flops(model, (3, image_size, image_size))
    macs_nominal = nominal_macs(
        spec.variant, plan.recipe.num_classes, width_mult=plan.width_mult, depth_mult=plan.depth_mult
    )
    measured = dict(
        run_id=run_id,
        seed=seed,
        device=device,
        image_size=image_size,
        eval_image_size=eval_image_size,
        flops=flops,
        macs_nominal=macs_nominal,
        train_images=len(splits.train),
    )
    try:
        res = fit(
            model,
            splits.train,
            splits.val,
            config,
            device=device,
            test_set=splits.test,
            checkpoint_path=ckpt,
            resume=plan.resume,
            progress=progress,
            description=spec.label,
        )
    except TrainingInterrupted as stop:
        _append_row(_row(plan, spec, stop.result, **measured), results_csv)  # partial results are kept
        raise
    return _append_row(_row(plan, spec, res, **measured), results_csv)


# ---------------------------------------------------------------------- Table 4.2


def table_4_2(results: pd.DataFrame) -> pd.DataFrame:
    """Table 4.2 rebuilt from results rows: the latest completed run per
    (model, dataset), in the thesis's units -- Params in millions, Score =
    top-1 % on the test split (CIFAR test set / ImageNet validation set),
    Batch, Epoch (completed), FLOPs in billions of multiply-adds at the
    variant's published resolution (B0 224, S 384)."""
    done = results[results["status"] == "completed"]
    if done.empty:
        raise ValueError("no completed runs in the results; train first (run_experiments)")
    latest = done.groupby(["model", "dataset_label"], sort=False).tail(1)
    table = pd.DataFrame(
        {
            "Model": latest["model"].to_numpy(),
            "Dataset": latest["dataset_label"].to_numpy(),
            "Params (M)": (latest["params"].astype(float) / 1e6).round(1).to_numpy(),
            "Score": latest["top1_test"].astype(float).round(1).to_numpy(),
            "Augm.": latest["augmentation"]
            .map({"none": "None", "autoaug": "AutoAug", "randaug": "RandAug"})
            .to_numpy(),
            "Batch": latest["batch_size"].astype(int).to_numpy(),
            "Epoch": latest["epochs_completed"].astype(int).to_numpy(),
            "FLOPs (B)": (latest["macs_nominal"].astype(float) / 1e9).round(1).to_numpy(),
        }
    )
    return _sorted(table)


def paper_scale_table(architecture: pd.DataFrame) -> pd.DataFrame:
    """Table 4.2's Params and FLOPs columns from :func:`architecture_table`
    (paper-scale models, no training), in the thesis's units."""
    table = pd.DataFrame(
        {
            "Model": architecture["Model"],
            "Dataset": architecture["Dataset"],
            "Params (M)": (architecture["params"] / 1e6).round(1),
            "FLOPs (B)": (architecture["macs_nominal"] / 1e9).round(1),
        }
    )
    return _sorted(table)


def _sorted(table: pd.DataFrame) -> pd.DataFrame:
    model_order = {m: i for i, m in enumerate(MODELS)}
    labels = ["CIFAR-10", "CIFAR-100", "ImageNet-1K", "MNIST", "Fashion-MNIST", "digits"]
    ds_order = {label: i for i, label in enumerate(labels)}
    keyed = table.assign(_d=table["Dataset"].map(ds_order), _m=table["Model"].map(model_order))
    return keyed.sort_values(["_d", "_m"], kind="stable").drop(columns=["_d", "_m"]).reset_index(drop=True)


def compare_with_thesis(
    table: pd.DataFrame,
    columns: Sequence[str] = ("Params (M)", "Score", "FLOPs (B)"),
    thesis: str | pd.DataFrame = "table_4_2",
) -> pd.DataFrame:
    """``reference.side_by_side`` of a rebuilt Table 4.2 with the thesis's,
    restricted to the thesis datasets present in ``table``.

    Analogue rows (digits on the quick profile, MNIST, Fashion-MNIST) are
    set beside the thesis's CIFAR-10 rows; the column ``Ours trained on``
    says so. Their Δ shows how far such a run is from the paper, it is not a
    reproduction check. Two datasets set beside the same thesis rows (say
    MNIST and Fashion-MNIST) raise ``ValueError``: compare one at a time.
    """

    ref = load_thesis_table(thesis) if isinstance(thesis, str) else thesis
    by_label = {r.label: key for key, r in RECIPES.items()}
    ours = table.copy()
    trained_on = dict.fromkeys(ours["Dataset"])
    beside: dict[str, list[str]] = {}
    for d in trained_on:
        beside.setdefault(THESIS_REFERENCE_DATASET[by_label[d]] if d in by_label else d, []).append(d)
    crowded = {ref_label: labels for ref_label, labels in beside.items() if len(labels) > 1}
    if crowded:
        raise ValueError(f"{crowded} would sit beside the same thesis rows; compare one dataset at a time")
    ours["Dataset"] = [THESIS_REFERENCE_DATASET[by_label[d]] if d in by_label else d for d in ours["Dataset"]]
    source = {THESIS_REFERENCE_DATASET[by_label[d]] if d in by_label else d: d for d in trained_on}
    ref_rows = select_thesis_rows(ref, ref["Dataset"].isin(set(ours["Dataset"])).to_numpy())
    out = side_by_side(ours, ref_rows, on=["Model", "Dataset"], columns=list(columns))
    out.insert(2, "Ours trained on", out["Dataset"].map(source))
    return out


def loss_went_down(results: pd.DataFrame) -> pd.Series:
    """Per completed run: is the mean training loss of the last epoch below
    that of the first epoch? (The training loss is the robust signal: the
    validation loss of a few-step run also moves with the batch-norm running
    statistics, which lag behind the weights.)"""
    done = results[results["status"] == "completed"]
    went_down = done["train_loss_last_epoch"] < done["train_loss_first_epoch"]
    return pd.Series(went_down.to_numpy(), index=done["model"].to_numpy(), name="training loss decreased")


def parameter_ratios(
    architecture: pd.DataFrame, larger: str = "V2-B0-original", smaller: str = "V2-S-shared"
) -> pd.DataFrame:
    """Per dataset, how many more parameters ``larger`` has than ``smaller``
    (Table 4.2's caption: V2-B0 models have "at least 60% more parameters"
    than V2-S-shared). Columns: Dataset, ratio, more (%)."""
    wide = architecture.pivot(index="Dataset", columns="Model", values="params")
    ratio = wide[larger] / wide[smaller]
    return pd.DataFrame({"Dataset": ratio.index, "ratio": ratio.to_numpy(), "more (%)": (100 * (ratio - 1)).to_numpy()})


def parameters_to_overrides(**parameters: Any) -> dict[str, Any]:
    """The notebook's papermill parameters as ``setup(overrides=...)``:
    ``None`` keeps the profile's value, ``download`` only switches it on."""

    def boolean(name: str, value: Any) -> Any:  # papermill/CLI strings "true"/"false"
        if name not in {"amp", "download", "resume"}:
            return value
        if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
            return value.strip().lower() == "true"
        if not isinstance(value, bool):
            raise ValueError(f"{name}={value!r} must be True or False (papermill: -p {name} True)")
        return value

    overrides = {k: boolean(k, v) for k, v in parameters.items() if v is not None}
    if not overrides.pop("download", False):
        return overrides
    return {**overrides, "download": True}


def history_frame(results: pd.DataFrame) -> pd.DataFrame:
    """Per-epoch history (losses, top-1, learning rate) of each completed
    run, read back from its checkpoint: one row per (model, epoch)."""

    frames = []
    for _, row in results[results["status"] == "completed"].iterrows():
        path = _resolve_path(str(row["checkpoint"]))
        if not path.exists():
            continue
        h = pd.DataFrame(load_checkpoint(path)["history"])
        h.insert(0, "model", row["model"])
        frames.append(h)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def plot_training_curves(history: pd.DataFrame, plan: ExperimentPlan, seed: int, train_images: int):
    """Training loss (epochs >= 1) and validation top-1 (epoch 0 = untrained)
    per model of one run (``history``: :func:`history_frame`); returns the
    figure, captioned with the data it was trained on."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    trained = history[history["epoch"] >= 1]
    sns.lineplot(data=trained, x="epoch", y="train_loss", hue="model", marker="o", ax=axes[0])
    axes[0].set(
        xlabel="epoch", ylabel="training loss (nats, label-smoothed)", title=f"training loss ({plan.recipe.label})"
    )
    sns.lineplot(data=history, x="epoch", y="val_top1", hue="model", marker="o", ax=axes[1])
    axes[1].set(
        xlabel="epoch (0 = untrained)", ylabel="validation top-1 (%)", title=f"validation top-1 ({plan.recipe.label})"
    )
    for ax in axes:
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    fig.tight_layout()
    caption(fig, data_caption(plan, seed, train_images=train_images))
    return fig
