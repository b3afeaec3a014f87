"""Section 4.5.4's tables and figures: Table 4.2 beside the thesis, training curves."""

from __future__ import annotations

from typing import Any, Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from reuseprior.chapters.ch4_sharing_training.configs import MODELS, RECIPES, THESIS_REFERENCE_DATASET
from reuseprior.chapters.ch4_sharing_training.plan import ExperimentPlan
from reuseprior.chapters.ch4_sharing_training.runs import LOSS_DECIMALS, data_caption, resolve_portable_path
from reuseprior.reporting.digits import round_residuals
from reuseprior.reporting.plotting import caption
from reuseprior.reporting.reference import load_thesis_table, select_thesis_rows, side_by_side
from reuseprior.training.loop import load_checkpoint


def table_4_2(results: pd.DataFrame) -> pd.DataFrame:
    """Table 4.2 rebuilt from results rows: the latest completed run per
    (model, dataset), in the thesis's units -- Params in millions, Score =
    top-1 % on the test split (CIFAR test set / ImageNet validation set),
    Batch, Epoch (completed), FLOPs in billions of multiply-adds at the
    variant's published resolution (B0 224, S 384). Params and FLOPs keep
    3 decimals (the thesis prints 1; the quick profile's tiny models have
    about 0.1 M parameters and 0.01 B FLOPs, which 1 decimal cannot tell
    apart); :func:`compare_with_thesis` rounds to the printed digit."""
    done = results[results["status"] == "completed"]
    if done.empty:
        raise ValueError("no completed runs in the results; train first (run_experiments)")
    latest = done.groupby(["model", "dataset_label"], sort=False).tail(1)
    table = pd.DataFrame(
        {
            "Model": latest["model"].to_numpy(),
            "Dataset": latest["dataset_label"].to_numpy(),
            "Params (M)": (latest["params"].astype(float) / 1e6).round(3).to_numpy(),
            "Score": latest["top1_test"].astype(float).round(1).to_numpy(),
            "Augm.": latest["augmentation"]
            .map({"none": "None", "autoaug": "AutoAug", "randaug": "RandAug"})
            .to_numpy(),
            "Batch": latest["batch_size"].astype(int).to_numpy(),
            "Epoch": latest["epochs_completed"].astype(int).to_numpy(),
            "FLOPs (B)": (latest["macs_nominal"].astype(float) / 1e9).round(3).to_numpy(),
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
    run, read back from its checkpoint: one row per (model, epoch); losses
    to :data:`LOSS_DECIMALS`, the digits every CPU computes (the curves
    drawn from it are then the same pixels on every machine)."""

    frames = []
    for _, row in results[results["status"] == "completed"].iterrows():
        path = resolve_portable_path(str(row["checkpoint"]))
        if not path.exists():
            continue
        h = pd.DataFrame(load_checkpoint(path)["history"])
        h = round_residuals(h, [c for c in h.columns if "loss" in c], LOSS_DECIMALS)
        h.insert(0, "model", row["model"])
        frames.append(h)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def plot_training_curves(history: pd.DataFrame, plan: ExperimentPlan, seed: int, train_images: int):
    """Training loss (epochs >= 1) and validation top-1 (epoch 0 = untrained)
    per model of one run (``history``: :func:`history_frame`); returns the
    figure, captioned with what it shows (that each model trains) and the data it was trained on."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    trained = history[history["epoch"] >= 1]
    sns.lineplot(data=trained, x="epoch", y="train_loss", hue="model", marker="o", errorbar=None, ax=axes[0])
    axes[0].set(
        xlabel="epoch", ylabel="training loss (nats, label-smoothed)", title=f"training loss ({plan.recipe.label})"
    )
    sns.lineplot(data=history, x="epoch", y="val_top1", hue="model", marker="o", errorbar=None, ax=axes[1])
    axes[1].set(
        xlabel="epoch (0 = untrained)", ylabel="validation top-1 (%)", title=f"validation top-1 ({plan.recipe.label})"
    )
    for ax in axes:
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    fig.tight_layout()
    what = (
        "Each model's training loss and validation top-1 over the epochs of one short run: a check that every "
        "model trains (its loss falls), not a comparison of the models. "
    )
    caption(fig, what + data_caption(plan, seed, train_images=train_images))
    return fig
