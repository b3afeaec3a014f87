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
* :func:`run_experiments` -- one resumable training run per model
  (:func:`~.runs.train_model`, which the trained studies call directly), one
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

The trained studies on Fashion-MNIST (the notebook's sections on real images) are declared in their
own modules, below. The package stands on **six floors**: a module imports only modules of the floors
below its own, none imports this ``__init__``, and the studies' declarations import none of each other
(``tests/test_architecture.py`` measures the longest chain):

1. :mod:`.configs` -- the models, the recipes per dataset, the notebook's profiles, the run log's columns;
2. :mod:`.plan` -- a profile resolved against its dataset's recipe (:class:`ExperimentPlan`);
   :mod:`.designs` -- the trained studies' designs: their stored rows, when a run counts, and each
   study's models, seeds, recipes and profiles;
3. :mod:`.architecture` -- the models as built (parameters, FLOPs, GPU time); :mod:`.data` -- a plan's splits;
4. :mod:`.runs` -- training: one run of a model, the run log, and a study's runs (a design declared as a
   study, the linear floor of a seed's images, the live slice's check); :mod:`.readings` -- stored runs
   read (Table 4.2's pairs, a study judged once, the confirmatory family), importing no training code;
5. the declarations: :mod:`.real_study` (the width-0.25 study and the live slice), :mod:`.recipe_probes`
   (the width-1.0 probes and fit checks), :mod:`.fit_study`, :mod:`.table42_study` (the recipe protocol
   and the decisive study) and :mod:`.confirmatory`; and :mod:`.tables` (Table 4.2 of the notebook's
   own runs, the training curves);
6. :mod:`.studies` -- the studies side by side (the ``study ch4`` command's group, the fit study's
   recipe check, the confirmatory study beside the exploratory one); and this ``__init__``, which
   gathers the names of :mod:`.configs` ... :mod:`.tables` that the notebook and the commands read.

The longest chain: configs -> plan -> data -> runs -> table42_study (or any declaration) -> studies.

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

from reuseprior.chapters import register_chapter
from reuseprior.chapters.ch4_sharing_training.architecture import (
    GPU_REFERENCE_THROUGHPUT,
    H100_SPEEDUP_OVER_RTX3090,
    LIVE_SLICE_DATASET,
    architecture_table,
    backbone_macs,
    build_experiment_model,
    build_needs,
    expected_gpu_hours,
    gpu_time_table,
)
from reuseprior.chapters.ch4_sharing_training.configs import (
    IMAGENET_MINIVAL,
    LATER_COLUMNS,
    MEASURED_COLUMNS,
    MODELS,
    NOMINAL_RESOLUTION,
    PROFILES,
    RECIPES,
    RESULT_COLUMNS,
    TABLE_4_2_MODELS,
    THESIS_REFERENCE_DATASET,
    official_sizes,
)
from reuseprior.chapters.ch4_sharing_training.confirmatory import RECIPE as CONFIRMATORY_RECIPE
from reuseprior.chapters.ch4_sharing_training.data import (
    plan_splits,
)
from reuseprior.chapters.ch4_sharing_training.plan import (
    ExperimentPlan,
    make_plan,
)
from reuseprior.chapters.ch4_sharing_training.runs import (
    cost_table,
    data_caption,
    default_results_csv,
    read_results,
    run_experiments,
    tracked_results,
)
from reuseprior.chapters.ch4_sharing_training.tables import (
    compare_with_thesis,
    history_frame,
    loss_went_down,
    paper_scale_table,
    parameter_ratios,
    parameters_to_overrides,
    plot_training_curves,
    table_4_2,
)
from reuseprior.reporting.findings import PairedFinding, Sensitivity

#: this chapter, as the book and the build command list it (reuseprior.chapters.CHAPTERS)
CHAPTER = register_chapter(
    __name__,
    part="Chapter 4: contexts and the reusability prior",
    title="Chapter 4: aggressive parameter sharing, trained (thesis Table 4.2)",
)

__all__ = [
    "FINDINGS",
    "ExperimentPlan",
    "GPU_REFERENCE_THROUGHPUT",
    "H100_SPEEDUP_OVER_RTX3090",
    "IMAGENET_MINIVAL",
    "LATER_COLUMNS",
    "LIVE_SLICE_DATASET",
    "MEASURED_COLUMNS",
    "MODELS",
    "NOMINAL_RESOLUTION",
    "PROFILES",
    "RECIPES",
    "RESULT_COLUMNS",
    "TABLE_4_2_MODELS",
    "THESIS_REFERENCE_DATASET",
    "architecture_table",
    "backbone_macs",
    "build_experiment_model",
    "build_needs",
    "compare_with_thesis",
    "cost_table",
    "data_caption",
    "default_results_csv",
    "expected_gpu_hours",
    "gpu_time_table",
    "history_frame",
    "loss_went_down",
    "make_plan",
    "official_sizes",
    "paper_scale_table",
    "parameter_ratios",
    "parameters_to_overrides",
    "plan_splits",
    "plot_training_curves",
    "read_results",
    "run_experiments",
    "table_4_2",
    "tracked_results",
]


def recipe_sensitivity(model: str) -> Sensitivity:
    """How ``model`` minus V2-B0-original moves with the recipe: the protocol's seeds under each candidate
    recipe, on the validation top-1 the protocol judged (``table42_recipe_dependence.csv``), beside the
    recipe the protocol chose and the confirmatory study kept."""
    return Sensitivity(
        "table42_recipe_dependence.csv",
        "recipe",
        CONFIRMATORY_RECIPE,
        {"metric": "val top-1 last epochs", "model": model, "against": "V2-B0-original"},
        measure="on the validation top-1 the protocol judged",
    )


#: The thesis's claims this chapter tests (Table 4.2's differences), each read from the table the notebook writes
#: (the findings it opens with): the confirmatory study first, judged at its family's Bonferroni level with its
#: permutation p and robustness, then the exploratory study under the same level and at its own, the paper-scale
#: column and the width-0.25 pilot. Table 4.2's two differences carry how their order moves with the recipe (the
#: protocol's seeds under each recipe: under the official recipes the order reverses).
FINDINGS: tuple[PairedFinding, ...] = (
    PairedFinding(
        "V2-S-shared is more accurate than V2-B0-original (Table 4.2: +0.4 points on CIFAR-10), confirmatory study, "
        "judged at its family's level",
        "Deciding Table 4.2, step 3: the confirmatory study",
        "table42_confirmatory_family.csv",
        {"study": "confirmatory", "model": "V2-S-shared", "against": "V2-B0-original"},
        level="family level",
        p="permutation p",
        robustness=True,
        sensitivity=recipe_sensitivity("V2-S-shared"),
    ),
    PairedFinding(
        "V2-B0-shared is less accurate than V2-B0-original (Table 4.2: -0.3 points on CIFAR-10), confirmatory study, "
        "judged at its family's level",
        "Deciding Table 4.2, step 3: the confirmatory study",
        "table42_confirmatory_family.csv",
        {"study": "confirmatory", "model": "V2-B0-shared", "against": "V2-B0-original"},
        level="family level",
        p="permutation p",
        robustness=True,
        sensitivity=recipe_sensitivity("V2-B0-shared"),
    ),
    PairedFinding(
        "V2-S-shared is more accurate than V2-B0-original, exploratory study judged at the confirmatory family's level",
        "Deciding Table 4.2, step 3: the confirmatory study",
        "table42_confirmatory_family.csv",
        {"study": "exploratory", "model": "V2-S-shared", "against": "V2-B0-original"},
        level="family level",
        p="permutation p",
        robustness=True,
    ),
    PairedFinding(
        "V2-S-shared is more accurate than V2-B0-original (Table 4.2: +0.4 points on CIFAR-10), exploratory study at "
        "the rule's level",
        "Deciding Table 4.2, step 2: the study",
        "table42_study_differences.csv",
        {"model": "V2-S-shared"},
        p="permutation p",
    ),
    PairedFinding(
        "V2-B0-shared is less accurate than V2-B0-original (Table 4.2: -0.3 points on CIFAR-10), exploratory study at "
        "the rule's level",
        "Deciding Table 4.2, step 2: the study",
        "table42_study_differences.csv",
        {"model": "V2-B0-shared"},
        p="permutation p",
    ),
    PairedFinding(
        "V2-S-shared against V2-B0-original at Table 4.2's sizes (width 1.0, all training images)",
        "The paper-scale column",
        "table42_gpu_study_differences.csv",
        {"model": "V2-S-shared"},
    ),
    PairedFinding(
        "V2-S-shared against V2-B0-original at width 0.25 (the first analogue)",
        "On real images: a Table 4.2 analogue on Fashion-MNIST",
        "fashion_mnist_differences.csv",
        {"model": "V2-S-shared"},
    ),
    PairedFinding(
        "V2-B0-shared against V2-B0-original at width 0.25 (the first analogue)",
        "On real images: a Table 4.2 analogue on Fashion-MNIST",
        "fashion_mnist_differences.csv",
        {"model": "V2-B0-shared"},
    ),
)
