"""Views of population results (one row per evaluation): the Table 3.2
summary, the Figure 3.1 convergence curve, the Table C.1 ranking of shared
modules, a blueprint printed as in appendix C.4 and mutation histories as in
appendix C.5. Nothing here trains; re-plotting never needs re-training.

Tracked tables hold only what a rerun reproduces exactly: the wall-clock
columns of the population logs (:data:`MEASURED_COLUMNS`) are split off by
:func:`split_measurements` and saved as measurements (``ctx.save_measurement``).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from reuseprior.chapters import register_chapter
from reuseprior.chapters.ch3_revolver.tables import MODE_LABELS, table_c_1
from reuseprior.datasets import DEFAULT_DATA_DIR
from reuseprior.reporting.findings import PairedFinding
from reuseprior.reporting.plan import ChapterNeeds, DataNeed, data_dir_of
from reuseprior.reporting.plotting import caption
from reuseprior.reporting.reference import load_thesis_table, select_thesis_rows
from reuseprior.revolver.blueprint import Blueprint
from reuseprior.revolver.population import PopulationConfig
from reuseprior.revolver.population_study import top_test_readings
from reuseprior.revolver.search import SEARCH_MODES
from reuseprior.revolver.settings import RevolverProfile

#: this chapter, as the book and the build command list it (reuseprior.chapters.CHAPTERS)
CHAPTER = register_chapter(
    __name__,
    part="Chapter 3: Revolver",
    title="Chapter 3 — Revolver: searching for reusable modules while training a population",
)

__all__ = [
    "FINDINGS",
    "LIVE_STUDY_DATASETS",
    "PROFILES",
    "build_needs",
    "plot_figure_3_1",
    "DATASET_NAMES",
    "MEASURED_COLUMNS",
    "MODE_LABELS",
    "best_by_generation",
    "blueprint_text",
    "convergence_curve",
    "data_caption",
    "mutation_histories",
    "sharing_table",
    "split_measurements",
    "table_3_2",
    "table_c_1",
    "time_per_generation",
]


#: appendix C.2's CIFAR-10 settings (the defaults of PopulationConfig)
_C2 = PopulationConfig()

#: ``quick`` runs on a CPU in seconds per mode on scikit-learn digits; ``full`` is
#: appendix C.2 on CIFAR-10 and ``full-mnist`` its MNIST commands (a GPU).
PROFILES: dict[str, RevolverProfile] = {
    "quick": RevolverProfile(
        dataset="digits",
        image_size=8,
        modes=list(SEARCH_MODES),
        population_size=8,
        sample_size=3,
        sample_sizes=None,
        epochs=20,
        warmup_x=2,
        warmup_epoch=4,
        genotype_cost=32.0,
        lr=0.2,
        min_lr=0.01,
        decay_start=10,
        batch_size=64,
        base_batches=10,
        min_batches=4,
        max_batches=None,
        test_every=2,
        search_budget=6,
        mean_val_last=12,
        space="default",
        base_widths=[8],
        growths=[4],
        depths=[1, 2],
        num_groups=[2],
        width=1,
        data_dir=None,
        download=False,
        num_workers=0,
        resume=False,  # quick runs start afresh (and still checkpoint)
        checkpoint_every=5,
        # float32 populations choose other individuals on two CPUs' kernels (measured)
        precision="float64",
    ),
    "full": RevolverProfile(
        dataset="cifar10",
        image_size=None,
        modes=list(SEARCH_MODES),
        population_size=_C2.population_size,
        sample_size=_C2.sample_size,
        # the 160-generation rows of Table 3.2: Random and Evolve trained 16 per generation, the warm-up modes 8
        sample_sizes={"random": 16, "evolve": 16, "random_warmup": 8, "random_warmup_evolve": 8},
        epochs=_C2.epochs,
        warmup_x=_C2.warmup_x,
        warmup_epoch=_C2.warmup_epoch,
        genotype_cost=_C2.genotype_cost,
        lr=_C2.lr,
        min_lr=_C2.min_lr,
        decay_start=_C2.decay_start,
        batch_size=_C2.batch_size,
        base_batches=_C2.base_batches,
        min_batches=_C2.min_batches,
        max_batches=None,
        test_every=5,
        search_budget=_C2.search_budget,
        mean_val_last=200,
        space="thesis",  # 3-4 groups, widths 16/32 and growths 8/16 (x 1..width), 2-6 blocks, dropout 0.5
        base_widths=None,
        growths=None,
        depths=None,
        num_groups=None,
        width=1,
        data_dir=None,
        download=False,
        num_workers=4,
        resume=True,
        checkpoint_every=5,
        precision="float32",
    ),
}
#: appendix C.2's two MNIST commands (Table 3.2's MNIST rows): batch 512, ``--width 2``, 8 trained per generation
PROFILES["full-mnist"] = replace(
    PROFILES["full"], dataset="mnist", modes=["random", "evolve"], batch_size=512, width=2, sample_sizes=None
)

#: the datasets of the stored real-image study the notebook recomputes live
#: (:data:`reuseprior.chapters.ch3_revolver.study.CPU_STUDY`)
LIVE_STUDY_DATASETS = ("mnist", "fashion-mnist")


def build_needs(profile: str, parameters: Mapping[str, Any]) -> ChapterNeeds:
    """What the notebook reads on ``profile`` (:mod:`reuseprior.reporting.plan`):
    the profile's dataset, or ``-p dataset``, under ``data_dir`` (scikit-learn's
    digits need no folder), and with ``live_generations`` > 0 the stored
    real-image study's MNIST and Fashion-MNIST in the datasets folder (:data:`~reuseprior.core.paths.DATASETS_DIR`). The
    code has no time estimate for a search."""
    dataset = parameters.get("dataset") or PROFILES[profile].dataset
    needs = [] if dataset == "digits" else [DataNeed(dataset, data_dir_of(parameters))]
    if parameters.get("live_generations", 1):
        needs += [DataNeed(name, DEFAULT_DATA_DIR) for name in LIVE_STUDY_DATASETS]
    return ChapterNeeds(tuple(needs))


#: columns of ``Population.results_frame`` / ``generations_frame`` that a rerun
#: measures differently (wall-clock seconds); kept out of tracked tables
MEASURED_COLUMNS: tuple[str, ...] = ("seconds",)

#: dataset keys of the population profiles as the figures name them
DATASET_NAMES = {"digits": "scikit-learn 8x8 handwritten digits", "mnist": "MNIST", "cifar10": "CIFAR-10"}

#: columns identifying one row of the population logs
_LOG_KEYS = ("mode", "generation", "individual", "index", "warmup")


def split_measurements(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(reproducible, measured)``: ``frame`` without :data:`MEASURED_COLUMNS`,
    and the identifying columns (mode, generation, individual ...) with them.
    The first goes to tracked tables, the second to ``ctx.save_measurement``."""
    measured = [c for c in MEASURED_COLUMNS if c in frame.columns]
    keys = [c for c in _LOG_KEYS if c in frame.columns]
    return frame.drop(columns=measured), frame[keys + measured].copy()


def time_per_generation(generations: pd.DataFrame) -> pd.DataFrame:
    """Mean wall-clock seconds per generation and mode, training and warm-up
    generations apart (warm-up generations change genotypes only), from
    ``Population.generations_frame`` rows. A measurement, not a tracked table."""
    rows = []
    for mode, log in generations.groupby("mode", sort=False):
        warm = log["warmup"].astype(bool)
        rows.append(
            {
                "mode": MODE_LABELS.get(mode, mode),
                "seconds/generation (training)": log.loc[~warm, "seconds"].mean() if (~warm).any() else float("nan"),
                "seconds/generation (warm-up)": log.loc[warm, "seconds"].mean() if warm.any() else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def sharing_table(populations: Mapping[str, Any]) -> pd.DataFrame:
    """Per search mode, ``Population.sharing_stats()``: parameters and memory
    (bytes of parameters and buffers, float32) with sharing against the same
    individuals built without it. Counts, hence reproducible."""
    return pd.DataFrame(
        [{"mode": MODE_LABELS.get(mode, mode), **pop.sharing_stats()} for mode, pop in populations.items()]
    )


def data_caption(
    settings: Mapping[str, Any], profile: str, seed: int, splits: Any | None = None, modes: Sequence[str] | None = None
) -> str:
    """The caption line a chapter-3 figure carries: which data (and split
    sizes), which profile, population size and generations produced it."""
    dataset = str(settings["dataset"])
    name = DATASET_NAMES.get(dataset.lower(), dataset)
    if splits is not None:
        name += f" ({len(splits.train)} train / {len(splits.val)} val / {len(splits.test)} test)"
    modes = list(modes) if modes is not None else list(settings.get("modes", []))
    per = f" per search mode ({len(modes)} modes)" if modes else ""
    return (
        f"data: {name}; profile {profile!r}: population {settings['population_size']}, "
        f"{settings['epochs']} generations{per}, seed {seed}"
    )


def _fmt_size(n: float) -> str:
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    if n >= 1e3:
        return f"{n / 1e3:.0f}K"
    return str(int(n))


def table_3_2(results: pd.DataFrame, generations: pd.DataFrame, dataset: str, last: int = 200) -> pd.DataFrame:
    """Table 3.2 per search mode, as section 3.5.1 defines its columns.

    The test set is read only for the *top individual* (lowest phenotype
    score among the trained ones) in the tested generations of
    ``generations`` (``Population.generations_frame``, columns
    ``top_test_acc``, ``top_params``): "Top Test Acc." is the peak of that
    series (%), "Gen." its generation and "Model Sz." that individual's
    parameters; "Mean Val." is the mean of the last ``last`` validation
    accuracies of ``results`` (%); "Sample Sz." the individuals trained per
    generation. The peak over tested generations still picks a maximum on the
    test set, as the thesis's table does; "Final Test Acc." is the top
    individual of the last generation, the test set read once."""
    out = []
    for mode, df in results.groupby("mode", sort=False):
        log = generations[generations["mode"] == mode]
        try:
            peak, final = top_test_readings(log)
        except ValueError as err:
            raise ValueError(f"mode {mode!r}: {err}") from None
        window = df["val_acc"].tail(last)
        out.append(
            {
                "Dataset": dataset,
                "Mode": MODE_LABELS.get(mode, mode),
                "Gen.": int(peak["generation"]),
                "Sample Sz.": int(log.loc[~log["warmup"].astype(bool), "trained"].max()),
                "Model Sz.": int(peak["top_params"]),
                "Model Sz. (printed)": _fmt_size(peak["top_params"]),
                "Top Test Acc.": 100.0 * float(peak["top_test_acc"]),
                "Mean Val.": 100.0 * float(window.mean()),
                "Mean Val. window": len(window),
                "Final Test Acc.": 100.0 * float(final["top_test_acc"]),
                "Tested generations": int(log["top_test_acc"].notna().sum()),
                "Evaluations": len(df),
            }
        )
    return pd.DataFrame(out)


def convergence_curve(results: pd.DataFrame, window: int = 700) -> pd.DataFrame:
    """Figure 3.1: moving average (trailing ``window`` evaluations, the
    thesis used 700) of the validation accuracy, per mode, in evaluation order."""
    parts = []
    for mode, df in results.groupby("mode", sort=False):
        df = df.reset_index(drop=True)
        parts.append(
            pd.DataFrame(
                {
                    "mode": mode,
                    "evaluation": np.arange(len(df)),
                    "generation": df["generation"].to_numpy(),
                    "val_acc": df["val_acc"].to_numpy(),
                    "moving_avg": df["val_acc"].rolling(window, min_periods=1).mean().to_numpy(),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def best_by_generation(results: pd.DataFrame) -> pd.DataFrame:
    """Best validation accuracy among each generation's evaluations and its
    running maximum, per mode (does the population improve?)."""
    g = results.groupby(["mode", "generation"], sort=False)["val_acc"].max().reset_index(name="best_val_acc")
    g["running_best"] = g.groupby("mode", sort=False)["best_val_acc"].cummax()
    return g


def _elide(d: dict[str, Any], depth: int, max_depth: int) -> dict[str, Any]:
    out = {k: v for k, v in d.items() if k != "children"}
    if d["children"]:
        if depth >= max_depth:
            out["children"] = "[...]"
        else:
            out["children"] = {role: _elide(c, depth + 1, max_depth) for role, c in d["children"].items()}
    else:
        out["children"] = {}
    return out


#: significant digits of the scores a blueprint shows (its trained module scores agree to about
#: 1e-13 across CPU kernels in float64; the last of the 17 digits ``repr`` prints do not)
BLUEPRINT_DIGITS = 6


def _shown(value: Any) -> Any:
    """``value`` with every float kept to :data:`BLUEPRINT_DIGITS` significant digits."""
    if isinstance(value, float):
        return float(f"{value:.{BLUEPRINT_DIGITS}g}")
    if isinstance(value, dict):
        return {k: _shown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shown(v) for v in value]
    return value


def blueprint_text(bp: Blueprint, max_depth: int = 2) -> str:
    """A blueprint as indented JSON, children below ``max_depth`` elided as
    ``"[...]"`` (the presentation of appendix C.4), its scores to
    :data:`BLUEPRINT_DIGITS` significant digits."""
    return json.dumps(_shown(_elide(bp.to_dict(), 0, max_depth)), indent=1)


def mutation_histories(bp: Blueprint) -> pd.DataFrame:
    """Every recorded replacement in a blueprint (appendix C.5): where it
    happened, what the component was before and what it is now."""
    rows = []
    for path, node in bp.walk():
        for role, entry in node.meta.items():
            if not isinstance(entry, dict) or "mutation_history" not in entry:
                continue
            current = node.children.get(role)
            for step, old in enumerate(entry["mutation_history"]):
                rows.append(
                    {
                        "path": "/".join(path + (role,)),
                        "step": step,
                        "was": old["kind"],
                        "was_args": json.dumps(old["args"]),
                        "now": current.kind if current else None,
                        "input_shape": tuple(old["input_shape"]),
                        "output_shape": tuple(old["output_shape"]),
                    }
                )
    return pd.DataFrame(rows, columns=["path", "step", "was", "was_args", "now", "input_shape", "output_shape"])


def thesis_table_3_2_reference(dataset: str) -> pd.DataFrame:
    """The Table 3.2 row each of our search modes is compared with: MNIST
    rows for digits/MNIST where the thesis has them (Random, Evolve; it has
    no MNIST warm-up rows, so those use the 160-generation CIFAR-10 rows),
    the 160-generation CIFAR-10 rows for CIFAR-10. Keeps ``attrs["printed"]``
    aligned for :func:`reuseprior.reporting.reference.side_by_side`."""
    table = load_thesis_table("table_3_2")
    want_mnist = dataset.lower() in ("digits", "mnist")
    picks = []
    for mode in MODE_LABELS.values():
        rows = table[(table["Mode"] == mode) & (table["Epochs"] == 160)]
        mnist = rows[rows["Dataset"] == "MNIST"]
        chosen = mnist if (want_mnist and not mnist.empty) else rows[rows["Dataset"] == "CIFAR-10"]
        picks.append(chosen.index[0])
    return select_thesis_rows(table, picks)


def plot_figure_3_1(results: pd.DataFrame, best: pd.DataFrame, window: int, caption_text: str):
    """Figure 3.1 analogue: the moving average (over ``window`` evaluations)
    of the validation accuracy per search mode, and the best individual so
    far per generation (``best``: columns mode, generation, running_best);
    returns the figure, captioned with ``caption_text``."""
    curve = convergence_curve(results, window=window)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for mode, df in curve.groupby("mode", sort=False):
        axes[0].plot(df["evaluation"], 100 * df["moving_avg"], label=MODE_LABELS[mode])
    for mode, df in best.groupby("mode", sort=False):
        axes[1].plot(df["generation"], 100 * df["running_best"], label=MODE_LABELS[mode])
    axes[0].set(
        xlabel="evaluation (training sessions, in order)",
        ylabel=f"validation accuracy, moving avg. of {window} (%)",
        title="Figure 3.1 analogue: population convergence",
    )
    axes[1].set(xlabel="generation", ylabel="best validation accuracy so far (%)", title="Best individual")
    axes[1].xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    for ax in axes:
        ax.legend()
    fig.tight_layout()
    caption(fig, caption_text)
    return fig


#: The thesis's claims this chapter tests, each read from the table the notebook writes (the findings it opens with):
#: the confirmatory study first (its family's Bonferroni level; interim until every declared seed is stored), then
#: the exploratory study at its own level.
FINDINGS: tuple[PairedFinding, ...] = (
    PairedFinding(
        "On MNIST the genetic algorithm and random search reach the same top test accuracy (Table 3.2), within "
        "the exploratory study's ±0.5 points, confirmatory study",
        "The confirmatory study, declared before its runs",
        "evolve_minus_random_confirmatory.csv",
        {"study": "confirmatory", "Dataset": "MNIST"},
        estimate="evolve - random (pp)",
        seeds="pairs",
        level="level",
    ),
    PairedFinding(
        "On a harder task the genetic algorithm beats random search (the thesis's CIFAR-10 direction; here "
        "Fashion-MNIST), confirmatory study",
        "The confirmatory study, declared before its runs",
        "evolve_minus_random_confirmatory.csv",
        {"study": "confirmatory", "Dataset": "Fashion-MNIST"},
        estimate="evolve - random (pp)",
        seeds="pairs",
        level="level",
    ),
    PairedFinding(
        "On MNIST the genetic algorithm and random search reach the same top test accuracy (Table 3.2: 99.6 for both)",
        "Evolve minus random, paired by seed",
        "evolve_minus_random.csv",
        {"Dataset": "MNIST", "metric": "top_test_acc_peak"},
        estimate="evolve - random (pp)",
        seeds="pairs",
    ),
    PairedFinding(
        "On a harder task the genetic algorithm beats random search (the thesis's CIFAR-10 result; here Fashion-MNIST)",
        "Evolve minus random, paired by seed",
        "evolve_minus_random.csv",
        {"Dataset": "Fashion-MNIST", "metric": "top_test_acc_peak"},
        estimate="evolve - random (pp)",
        seeds="pairs",
    ),
)
