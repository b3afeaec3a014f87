"""Chapter 7's settings: the sharing configurations, the trained studies and the notebook's profiles."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reuseprior.core import paths
from reuseprior.models.sharing import SCHEMES
from reuseprior.reporting.notebook import Profile
from reuseprior.training.loop import TrainConfig

#: the stored trained study (written by ``python -m reuseprior study ch7 run``)
STORED_RUNS: Path = paths.DATA_DIR / "sharing_study_runs.csv"

#: the prior's quantities recorded per run (thesis chapter 4), as ``analyze`` names them
PRIOR_SCORES: tuple[str, ...] = ("PG", "PG_prime", "expected_spread", "entropy")
SCORE_LABELS: dict[str, str] = {
    "PG": "PG (eq. 4.7, log2 units)",
    "PG_prime": "P'G (eq. 4.8, log2 units)",
    "expected_spread": "ES (eq. 4.2, bits)",
    "entropy": "H (eq. 4.4, bits)",
}

#: the budget names of the study (see :func:`study_budgets`; also ``"<p>%"`` for a SharingDesign.percent_budgets entry)
BUDGETS: tuple[str, ...] = (
    "full", "channelwise", "channelwise s=2", "channelwise s=4", "scope", "scope+channelwise", "low",
)  # fmt: skip

#: live recomputation of a stored run (:func:`~reuseprior.chapters.ch7_sharing_schemes.runs.retrain_cheapest_runs`):
#: counted columns to this relative tolerance; the retrained epochs' validation top-1 and training loss
#: to :data:`~reuseprior.core.precision.FLOAT32_ACROSS_KERNELS`, the tolerance every live check of a
#: float32 run shares
LIVE_TOLERANCE: dict[str, float] = {"counted_rel": 1e-9}
#: the epochs of a stored run the live check retrains (the first ones of its schedule)
LIVE_EPOCHS = 1


# ------------------------------------------------------------------------ configs


@dataclass(frozen=True)
class SchemeConfig:
    """One configuration of the study: ``scheme`` with its ``options`` at budget
    ``budget`` (a name of :data:`BUDGETS`).

    Schemes: ``none`` (the unshared model; budget ``full``), ``narrow`` (the
    unshared model narrowed to the budget, :func:`narrow_width`), ``scope``,
    ``channelwise``, ``scope+channelwise`` (these three land on their own budget,
    which is how the budgets of the same names are defined) and ``ssn`` (any
    budget). ``options`` is a tuple of ``(name, value)`` pairs (hashable)."""

    label: str
    scheme: str
    budget: str
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def options_dict(self) -> dict[str, Any]:
        return dict(self.options)

    def options_json(self) -> str:
        return json.dumps(self.options_dict, sort_keys=True)

    def needs(self) -> tuple[str, ...]:
        """The registered sharing schemes this configuration uses."""
        return {
            "none": (),
            "narrow": (),
            "scope+channelwise": ("scope", "channelwise"),
        }.get(self.scheme, (self.scheme,))

    def available(self) -> bool:
        """Every scheme it needs is registered in :data:`reuseprior.models.sharing.SCHEMES`."""
        return all(name in SCHEMES for name in self.needs())


def scheme_config(label: str, scheme: str, budget: str, **options: Any) -> SchemeConfig:
    """A :class:`SchemeConfig` with ``options`` given as keywords (stored sorted, hashable)."""
    return SchemeConfig(label, scheme, budget, tuple(sorted(options.items())))


#: the reuse factor of channel-wise sharing in the study (each depthwise kernel used 8 times:
#: 12.5 % of the depthwise weights remain, the smallest share of Bidart's EfficientNet-B0 table)
CHANNELWISE_REUSE = 8
#: the generator, upsampler and mapping of the SSN configurations (NPAS section 3): the paper's
#: own methods (the Emb generator, the Mask upsampler), one store for the whole model (``single``)
SSN_OPTIONS: dict[str, Any] = {"generator": "emb", "upsampler": "mask", "mapping": "single"}
#: the copying SSN of the CPU study (labelled ``SSN-RR``): the round-robin generator and the repeat
#: upsampler (NPAS sections 3.2-3.3) take a layer's weights straight from the store, with no mixing
#: coefficients or embeddings, so path counting sees pure reuse; beside Emb it shows how much of the
#: prior's reading of SSN rests on the generator's own parameters
SSN_COPY_OPTIONS: dict[str, Any] = {"generator": "rr", "upsampler": "repeat", "mapping": "single"}

STUDY_CONFIGS: tuple[SchemeConfig, ...] = (
    scheme_config("unshared", "none", "full"),
    scheme_config(f"channel-wise s={CHANNELWISE_REUSE}", "channelwise", "channelwise", reuse=CHANNELWISE_REUSE),
    scheme_config("SSN @ channel-wise", "ssn", "channelwise", **SSN_OPTIONS),
    scheme_config("SSN-RR @ channel-wise", "ssn", "channelwise", **SSN_COPY_OPTIONS),
    scheme_config("narrower @ channel-wise", "narrow", "channelwise"),
    scheme_config("scope", "scope", "scope"),
    scheme_config(
        f"scope + channel-wise s={CHANNELWISE_REUSE}",
        "scope+channelwise",
        "scope+channelwise",
        reuse=CHANNELWISE_REUSE,
    ),
    scheme_config("SSN @ scope + channel-wise", "ssn", "scope+channelwise", **SSN_OPTIONS),
    scheme_config("SSN-RR @ scope + channel-wise", "ssn", "scope+channelwise", **SSN_COPY_OPTIONS),
    scheme_config("narrower @ scope + channel-wise", "narrow", "scope+channelwise"),
    scheme_config("SSN @ scope", "ssn", "scope", **SSN_OPTIONS),
    scheme_config("narrower @ scope", "narrow", "scope"),
)


@dataclass(frozen=True)
class SharingDesign:
    """One trained study's design: the model family, dataset, configurations, seeds and
    training settings. Its :meth:`plan_settings` (everything but the seeds and the configuration
    list) name its plan (:func:`reuseprior.core.study.settings_hash`), which keys the stored rows, so
    rows of other settings are never taken for this study's."""

    name: str
    dataset: str  # "fashion-mnist", "mnist", "cifar10", "cifar100" or "imagenet"
    model: str  # a registered model name (reuseprior.models.build_model)
    model_kwargs: tuple[tuple[str, Any], ...]
    configs: tuple[SchemeConfig, ...]
    seeds: tuple[int, ...]
    low_budget_fraction: float
    train: TrainConfig
    train_limit: int | None  # training images kept (a fixed seeded subset), None: all
    val_limit: int | None  # validation images kept, None: all
    augment: bool  # random crop (pad 4), flip and cutout (CIFAR); none for the grey datasets
    split_seed: int = 0  # the validation split and the training subset (fixed across run seeds)
    #: the builder's width argument the narrower baseline varies: a float multiplier
    #: ("width_mult") or, for a name in INTEGER_WIDTHS, a whole width (WRN's "width")
    width_option: str = "width_mult"
    #: further budgets, in percent of the unshared model (named like "4.1%")
    percent_budgets: tuple[float, ...] = ()

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.model_kwargs)

    def runs(self) -> tuple[dict[str, Any], ...]:
        """One run per (configuration, seed) of the registered schemes, seed-major (every configuration
        of seed 0 first)."""
        return tuple({"config": c.label, "seed": s} for s in self.seeds for c in self.configs if c.available())

    def plan_settings(self) -> dict[str, Any]:
        """The settings the plan id hashes: dataset, model, training, subsets and budgets."""
        return {
            "dataset": self.dataset,
            "model": self.model,
            "model_kwargs": self.kwargs,
            "train": {k: v for k, v in self.train.plan_settings().items() if k not in ("seed", "num_workers")},
            "train_limit": self.train_limit,
            "val_limit": self.val_limit,
            "augment": self.augment,
            "split_seed": self.split_seed,
            "low_budget_fraction": self.low_budget_fraction,
        }


@dataclass(frozen=True)
class SharingSchemesProfile(Profile):
    """Settings of the chapter 7 notebook.

    ``designs``: the designs of the trained studies; ``train_live``: whether the notebook trains
    them (the paper profile, on a GPU) or reads the stored rows and recomputes
    ``live_rows`` of the cheapest ones (the quick profile); ``n_boot``: bootstrap
    resamples of every interval; ``bookkeeping_models``: the models of the
    matched-budget bookkeeping table; ``bookkeeping_live``: compute that table
    in the notebook (else read the stored one and recompute its smallest row);
    ``data_dir``/``download``: where the datasets are (``None``: the datasets
    folder, :data:`~reuseprior.core.paths.DATASETS_DIR`) and whether the notebook may download them."""

    designs: tuple[SharingDesign, ...]
    train_live: bool
    live_rows: int
    n_boot: int
    bookkeeping_models: tuple[str, ...]
    bookkeeping_live: bool
    data_dir: str | None
    download: bool


#: the design of the stored CPU study: compact_net (reuseprior.models.compact) on Fashion-MNIST, 10 paired seeds,
#: 12 epochs.
#: Sized to decide (measured on the 2-epoch, 3-seed pilot, ``data/sharing_study_runs_pilot.csv``: every
#: configuration was below the logistic-regression floor of the same images and the configurations' mean test
#: top-1 within a budget spread over 0.14-0.95 points): 10 seeds let an exact sign test reach p = 0.002 and a
#: t-interval have 9 degrees of freedom; 12 epochs (1,500 AdamW steps, cosine to 0) bring every configuration
#: to a plateau by :func:`reuseprior.core.verdict_policy.plateaued` (checked per run, not assumed). About an hour of
#: one CPU thread per seed for the 12 configurations.
CPU_DESIGN = SharingDesign(
    name="compact-fashion-mnist",
    dataset="fashion-mnist",
    model="compact_net",
    model_kwargs=(("in_channels", 1), ("num_classes", 10)),
    configs=STUDY_CONFIGS,
    seeds=tuple(range(10)),
    low_budget_fraction=0.3,
    train=TrainConfig(
        epochs=12,
        batch_size=64,
        optimizer="adamw",
        lr_base=0.012,  # peak 0.012 * 64 / 256 = 0.003
        lr_warmup_epochs=0.2,
        lr_schedule="cosine",
        weight_decay=1e-4,
        label_smoothing=0.0,
        bn_momentum_tf=None,  # PyTorch's 0.1
        eval_batch_size=500,
    ),
    train_limit=8_000,
    val_limit=1_000,
    augment=False,
)

#: NPAS's WRN-28-10 on CIFAR-100 (Tables 7-11 and 14). The text names the implementation it adapts
#: (Savarese et al.'s, with cutout) but not its hyper-parameters; these are the usual WRN CIFAR recipe.
NPAS_DESIGN = SharingDesign(
    name="npas-wrn-28-10-cifar100",
    dataset="cifar100",
    model="wide_resnet_cifar",
    model_kwargs=(("depth", 28), ("num_classes", 100), ("width", 10)),
    # no "narrower" (NPAS's reduced baseline) yet: wide_resnet_cifar takes whole widths, and no WRN-28-k is within
    # 3 % of these budgets (WRN-28-1 has 0.38 M parameters against 0.51 M at 1.4 %); add
    # scheme_config(f"narrower @ {p:g}%", "narrow", f"{p:g}%") once the builder accepts fractional widths
    configs=(
        scheme_config("unshared", "none", "full"),
        scheme_config("scope", "scope", "scope"),
        scheme_config("SSN @ scope", "ssn", "scope", **SSN_OPTIONS),
        *(scheme_config(f"SSN @ {p:g}%", "ssn", f"{p:g}%", **SSN_OPTIONS) for p in (1.4, 4.1, 5.5, 16.4, 24.6)),
    ),
    seeds=(0, 1, 2),
    low_budget_fraction=0.041,  # 4.1 % of WRN-28-10, a Table 14 budget
    train=TrainConfig(
        epochs=200,
        batch_size=128,
        optimizer="sgd",
        lr_base=0.2,  # peak 0.1
        lr_warmup_epochs=0.0,
        lr_schedule="cosine",
        weight_decay=5e-4,
        label_smoothing=0.0,
        bn_momentum_tf=None,
        num_workers=8,
    ),
    train_limit=None,
    val_limit=None,
    augment=True,
    width_option="width",
    # Table 14, percentages of this 100-class model: the class count that reproduces them (chosen per table,
    # bookkeeping.class_count_choices; Tables 7, 9 and 12's 36 M and Table 12(a)'s ratios read as 10 classes)
    percent_budgets=(1.4, 4.1, 5.5, 16.4, 24.6),
)

#: Bidart's EfficientNet-B0 on ImageNet (thesis section 3.6.3: RMSprop, lr 0.072, batch 120, 550 epochs,
#: linear warm-up), channel-wise sharing at 50 % / 25 % of the depthwise weights.
BIDART_DESIGN = SharingDesign(
    name="bidart-efficientnet-b0-imagenet",
    dataset="imagenet",
    model="efficientnet_b0",
    model_kwargs=(("num_classes", 1000),),
    configs=(
        scheme_config("unshared", "none", "full"),
        scheme_config("channel-wise s=2", "channelwise", "channelwise s=2", reuse=2),
        scheme_config("channel-wise s=4", "channelwise", "channelwise s=4", reuse=4),
        scheme_config("SSN @ channel-wise s=2", "ssn", "channelwise s=2", **SSN_OPTIONS),
        scheme_config("SSN @ channel-wise s=4", "ssn", "channelwise s=4", **SSN_OPTIONS),
    ),
    seeds=(0,),
    low_budget_fraction=0.5,
    train=TrainConfig(
        epochs=550,
        batch_size=120,
        optimizer="rmsprop",
        lr_base=0.072 * 256 / 120,  # peak 0.072 at batch 120
        lr_warmup_epochs=5.0,
        lr_schedule="exponential",
        num_workers=8,
    ),
    train_limit=None,
    val_limit=None,
    augment=True,
)

#: the seeds' models of the bookkeeping table (reuseprior / torchvision registry names)
BOOKKEEPING_MODELS: tuple[str, ...] = ("resnet56_cifar", "wrn_28_10", "efficientnet_b0", "efficientnet_v2_s")

#: the seeds' own settings on a GPU (CIFAR-100 under ``data_dir``, ImageNet under ``data_dir/imagenet``)
PAPER_PROFILE = SharingSchemesProfile(
    designs=(NPAS_DESIGN, BIDART_DESIGN),
    train_live=True,
    live_rows=0,
    n_boot=2000,
    bookkeeping_models=BOOKKEEPING_MODELS,
    bookkeeping_live=True,
    data_dir=None,
    download=False,
)

PROFILES: dict[str, SharingSchemesProfile] = {
    # quick: CPU; reads data/sharing_study_runs.csv and data/ch7_bookkeeping.csv, retrains the cheapest run
    # and recounts the cheapest bookkeeping row live (about two minutes on one core)
    "quick": SharingSchemesProfile(
        designs=(CPU_DESIGN,),
        train_live=False,
        live_rows=1,
        n_boot=1000,
        bookkeeping_models=BOOKKEEPING_MODELS,
        bookkeeping_live=False,
        data_dir=None,
        download=False,
    ),
    # paper: the seeds' own settings (WRN-28-10 on CIFAR-100, NPAS Tables 7-11 and 14; EfficientNet-B0 on
    # ImageNet, Bidart section 3.6.3) for a GPU; without the datasets it stops with DatasetNotFoundError
    "paper": PAPER_PROFILE,
    # full: the same profile under the name `make full` (`python -m reuseprior build --profile full`) passes
    "full": PAPER_PROFILE,
}


# ----------------------------------------------------------------------- the data
