"""Section 4.5.4's models as built: parameters and FLOPs, and the expected GPU time at paper scale."""

from __future__ import annotations

import functools
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd
import torch
from torch import nn

from reuseprior import datasets as data
from reuseprior.chapters.ch4_sharing_training.configs import (
    MODELS,
    NOMINAL_RESOLUTION,
    PROFILES,
    TABLE_4_2_MODELS,
    ModelSpec,
    model_label,
    recipe_of,
)
from reuseprior.chapters.ch4_sharing_training.plan import make_plan
from reuseprior.core.parameters import count_parameters
from reuseprior.models.efficientnet_v2 import VARIANTS, EfficientNetV2, efficientnet_v2, round_filters
from reuseprior.models.sharing import share_parameters
from reuseprior.reporting.plan import ChapterNeeds, DataNeed, data_dir_of
from reuseprior.training.loop import count_flops


def build_experiment_model(
    model: str | ModelSpec,
    num_classes: int,
    *,
    width_mult: float = 1.0,
    depth_mult: float = 1.0,
    dropout: float | None = None,
    stochastic_depth: float | None = None,
) -> nn.Module:
    """A Table 4.2 model; ``width_mult``/``depth_mult`` < 1 scale the
    variant's channels and repeats further down (the quick profile's tiny
    models); ``stochastic_depth`` (None: the official 0.2, the largest drop
    probability, reached by the last block) and ``dropout`` (None: the
    variant's) override the regularisers. Sharing (section 4.5.3) is applied by
    :func:`reuseprior.models.sharing.share_parameters` with the spec's scheme."""

    spec = MODELS[model] if isinstance(model, str) else model
    width_mult = width_mult * spec.width_scale
    kwargs = {} if dropout is None else {"dropout": dropout}
    if stochastic_depth is not None:
        kwargs["stochastic_depth"] = stochastic_depth
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
            **{"dropout": cfg.dropout, **kwargs},
        )
    if spec.sharing is not None:
        shared = share_parameters(net, scheme=spec.sharing)
        net = shared if isinstance(shared, nn.Module) else net
    return net


@functools.lru_cache(maxsize=None)
def backbone_macs(variant: str, width_mult: float, depth_mult: float, resolution: int) -> tuple[float, int]:
    """(multiply-adds without the classifier, classifier input features) of
    one ``resolution`` x ``resolution`` image, counted on the meta device.

    Policy: a count draws nothing from the global random generators. The model
    is built on the CPU (weight initialisation on "meta" runs through slow
    Python reference kernels) inside :func:`torch.random.fork_rng`, so its
    initialisation leaves the caller's torch generator as it found it; the
    result is cached, so without that a run's random stream would depend on
    whether its process had counted this variant before."""
    with torch.random.fork_rng(devices=[]):
        net = build_experiment_model(ModelSpec("count", variant, None), 1, width_mult=width_mult, depth_mult=depth_mult)
    net = net.to("meta")
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
    backbone, features = backbone_macs(variant, float(width_mult), float(depth_mult), resolution)
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
        recipe = recipe_of(key)
        for label in models:
            spec = MODELS[model_label(label)]
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
                        spec.variant,
                        recipe.num_classes,
                        width_mult=width_mult * spec.width_scale,
                        depth_mult=depth_mult,
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
    recipe = recipe_of(dataset)
    spec = MODELS[model_label(model)]
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
        return backbone_macs(spec.variant, 1.0, 1.0, px)[0]

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
    of Table 4.2), not a measurement: no full-profile run has been trained to time it.

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


#: the dataset of the stored real-image study whose slice the notebook retrains live
#: (:data:`reuseprior.chapters.ch4_sharing_training.real_study.CPU_STUDY`, which imports this module)
LIVE_SLICE_DATASET = "fashion-mnist"
#: the datasets :func:`gpu_time_table` has a recipe and a measured throughput for
ESTIMATED_DATASETS = ("cifar10", "cifar100", "imagenet")


def build_needs(profile: str, parameters: Mapping[str, Any]) -> ChapterNeeds:
    """What the notebook reads on ``profile`` (:mod:`reuseprior.reporting.plan`):
    the profile's dataset, or ``-p dataset``, under ``data_dir`` (ImageNet: the
    folder holding ``train/`` and ``val/``; scikit-learn's digits need none),
    and with ``live_slice`` Fashion-MNIST in the datasets folder
    (:data:`~reuseprior.core.paths.DATASETS_DIR`). On the full
    profile, the GPU time is :func:`gpu_time_table`'s estimate summed over the
    models; no CPU estimate."""
    dataset = str(parameters.get("dataset") or PROFILES[profile].dataset)
    key = recipe_of(dataset).dataset
    needs = [] if key == "digits" else [DataNeed(key, data_dir_of(parameters))]
    if parameters.get("live_slice", True):
        needs.append(DataNeed(LIVE_SLICE_DATASET, data.DEFAULT_DATA_DIR))
    if profile != "full" or key not in ESTIMATED_DATASETS:
        return ChapterNeeds(tuple(needs))
    models = parameters.get("models")
    chosen = TABLE_4_2_MODELS if models is None else tuple(m.strip() for m in str(models).split(","))
    hours = float(gpu_time_table((key,), chosen)["GPU hours (est.)"].sum())
    return ChapterNeeds(tuple(needs), gpu_hours=hours, note="GPU: gpu_time_table, one H100, data loading not included")


# -------------------------------------------------------------------------- data
