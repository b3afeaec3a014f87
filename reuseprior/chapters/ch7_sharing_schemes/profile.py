"""Chapter 7's notebook profile: its rows, the paper-scale printed results and the reading."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from reuseprior.chapters.ch7_sharing_schemes.configs import (
    BIDART_STUDY,
    CPU_STUDY,
    NPAS_STUDY,
    SCORE_LABELS,
    STORED_RUNS,
    SharingSchemesProfile,
    StudySpec,
)
from reuseprior.chapters.ch7_sharing_schemes.ranking import PRIOR_ORDER_VERDICT, study_rows, summarize
from reuseprior.chapters.ch7_sharing_schemes.runs import run_study
from reuseprior.chapters.ch7_sharing_schemes.seeds import load_seed_table
from reuseprior.core import paths
from reuseprior.core.ordering import sort_rows


def parameters_to_overrides(*, data_dir: str | None = None, download: bool | None = None) -> dict[str, Any]:
    """The notebook's papermill parameters as ``setup(overrides=...)`` (``None``: the profile's value)."""
    if download is not None and not isinstance(download, bool):
        raise ValueError(f"download={download!r} must be True or False (papermill: -p download True)")
    return {k: v for k, v in {"data_dir": data_dir, "download": download}.items() if v is not None}


def runs_path(spec: StudySpec) -> Path:
    """Where a study's rows are: the stored CPU study under ``data/``, any other
    (the paper profile's) in its own run log under ``build/`` (untracked)."""
    if spec == CPU_STUDY:
        return STORED_RUNS
    return paths.BUILD_DIR / "ch7_sharing_schemes" / f"runs_{spec.name}.csv"


def profile_rows(
    settings: SharingSchemesProfile, device: torch.device | str = "cpu", *, progress: bool = True
) -> dict[str, tuple[pd.DataFrame, str]]:
    """Per study of the profile: its rows and where they come from. ``train_live``
    trains the pending runs first (:func:`run_study`, resumable, into
    :func:`runs_path`); otherwise the stored rows are read. A missing dataset
    raises :class:`~reuseprior.core.errors.DatasetNotFoundError` with the command
    that fetches it."""
    out = {}
    for spec in settings.studies:
        path = runs_path(spec)
        if settings.train_live:
            run_study(
                spec,
                path,
                data_dir=settings.data_dir,
                download=settings.download,
                device=device,
                threads=None,
                progress=progress,
            )
        source = str(path.relative_to(paths.ROOT)) if path.is_relative_to(paths.ROOT) else str(path)
        out[spec.name] = (study_rows(spec, path), source + (" (trained by this run)" if settings.train_live else ""))
    return out


#: what the NPAS comparison shows for the reduced baseline (the narrower WRN), which the paper profile does not train
NOT_RUN_NARROW_WRN = "not run (no fractional-width WRN builder)"


def printed_beside_trained(spec: StudySpec, rows: pd.DataFrame) -> pd.DataFrame:
    """The seed's printed errors beside this study's trained ones, where the study
    is a seed's own setting: NPAS Table 14 (WRN-28-10 on CIFAR-100: the reduced
    baseline ``WRN`` and ``SSN-WRN-28-10`` per budget) and Bidart's
    EfficientNet-B0 table (top-1 per depthwise share). Columns: setting, printed
    error (%), ours (100 - mean test top-1, NaN until trained), difference."""
    summary = summarize(rows) if not rows.empty else pd.DataFrame(columns=["config", "test_top1_mean"])
    ours = dict(zip(summary["config"], 100 - summary["test_top1_mean"]))
    out = []
    if spec.name == NPAS_STUDY.name:
        printed = load_seed_table("npas_table14")
        printed = printed[printed["group"] == "wrn"]
        run = {c.label for c in spec.configs}
        for _, r in printed.iterrows():
            label = f"SSN @ {r['percent']:g}%" if r["method"].startswith("SSN") else f"narrower @ {r['percent']:g}%"
            out.append(
                {
                    "setting": f"{r['method']} @ {r['percent_printed']}",
                    "printed error (%)": r["error"],
                    "source": "NPAS Table 14 (CIFAR-100 Error@1)",
                    "ours": label if label in run else NOT_RUN_NARROW_WRN,
                    "our error (%)": ours.get(label, math.nan) if label in run else math.nan,
                }
            )
    elif spec.name == BIDART_STUDY.name:
        printed = load_seed_table("bidart_efficientnet_b0_imagenet")
        for _, r in printed.iterrows():
            label = "unshared" if int(r["reuse"]) == 1 else f"channel-wise s={int(r['reuse'])}"
            out.append(
                {
                    "setting": f"EfficientNet-B0, {r['remaining_printed']}",
                    "printed error (%)": 100 - r["top1"],
                    "source": "Bidart section 3.6.3 (ImageNet top-1 error)",
                    "ours": label,
                    "our error (%)": ours.get(label, math.nan),
                }
            )
    df = pd.DataFrame(out)
    if not df.empty:
        df["difference (pp)"] = df["our error (%)"] - df["printed error (%)"]
    return df


def _t_interval(low: float, high: float) -> str:
    """A t-interval as text; none exists below two paired seeds."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "t-interval: none (fewer than 2 paired seeds)"
    return f"t-interval [{low:+.2f}, {high:+.2f}]"


def _seeds(n: int) -> str:
    return f"{n} paired seed" + ("" if n == 1 else "s")


def reading(
    agreement: pd.DataFrame, rank: pd.DataFrame, disagree: pd.DataFrame, score: str = "PG", *, not_comparable: str = ""
) -> str:
    """The ranking result in words, generated from the tables (so the narrative
    cannot fall behind the stored rows): the pooled and within-budget agreement
    of every score with its seed range, t-interval and verdict
    (:func:`~reuseprior.reporting.statistics.verdict`), the naive baseline's, and the prior's
    largest within-budget mistake. Configurations that tie (accuracy, score or
    rank) are listed by name. ``not_comparable``: why no verdict may be given
    yet (:func:`~reuseprior.chapters.ch7_sharing_schemes.criteria.decidability`),
    stated first; the rule's verdicts are then shown as what it would say."""

    def interval(r: pd.Series, key: str) -> str:
        return (
            f"{r[key]:+.2f} (seed range [{r[f'{key} seed range low']:+.2f}, {r[f'{key} seed range high']:+.2f}], "
            f"per-seed {_t_interval(r[f'{key} t low'], r[f'{key} t high'])}, "
            f"permutation p = {r[f'{key} permutation p']:.2f})"
        )

    status = (
        [f"**Not comparable yet**: {not_comparable}. The verdicts below are *not comparable*; what the rule would "
         "say on these seeds is in the `rule verdict` columns of the table above.", ""]
        if not_comparable
        else []
    )  # fmt: skip
    lines = status + [
        f"From {int(agreement['configs'].iloc[0])} configurations x {_seeds(int(agreement['seeds'].iloc[0]))}. "
        "Beside each rank correlation of the mean accuracies: the range of the same statistic over the seeds "
        "(a range, not a confidence interval), the 95 % t-interval of the per-seed values and their exact "
        "permutation p; the verdict on the claim that the prior agrees with training is the rule of "
        "`reuseprior.reporting.statistics.verdict` (reproduced only when the interval lies above 0 and p < 0.05):",
        "",
    ]
    for _, r in agreement.iterrows():
        name = "parameter count (naive baseline)" if r["score"] == "params" else SCORE_LABELS[r["score"]]
        lines.append(
            f"- **{name}**: pooled Spearman {interval(r, 'spearman')}, **{r['spearman verdict']}**; "
            f"within matched budgets Kendall {interval(r, 'kendall within budget')}, "
            f"**{r['kendall within budget verdict']}**."
        )
    if not disagree.empty:
        worst = disagree.iloc[0]
        lines += [
            "",
            f"The largest within-budget mistake of {score}: it prefers **{worst['prior prefers']}** to "
            f"**{worst['trained better']}**, which trains {worst['accuracy gap (pp)']:.2f} points better "
            f"({worst['seeds agreeing with trained order']} seeds agree in sign, mean paired difference "
            f"{worst['mean paired difference (pp)']:+.2f} points, {_t_interval(worst['t low'], worst['t high'])}, "
            f"permutation p = {worst['permutation p']:.2f}, sign test p = "
            f"{worst['sign test p']:.2f}: the prior's order is **{worst[PRIOR_ORDER_VERDICT]}**).",
        ]
    lines += ["", f"Order within each matched budget (best first), by training and by {score}:", ""]
    for group, members in rank.groupby("group", sort=False):
        if len(members) < 2:
            continue
        trained = " > ".join(sort_rows(members, "test_top1_mean", then="config", ascending=False)["config"])
        prior = " > ".join(sort_rows(members, score, then="config", ascending=False)["config"])
        lines.append(f"- {group}: trained {trained}; {score} {prior}.")
    top_trained = sort_rows(rank, "trained rank", then="config").iloc[0]
    top_prior = sort_rows(rank, "prior rank", then="config").iloc[0]
    lines += [
        "",
        f"Best trained configuration: {top_trained['config']} ({top_trained['test_top1_mean']:.2f} %); "
        f"the configuration {score} ranks first: {top_prior['config']} ({top_prior['test_top1_mean']:.2f} %).",
    ]
    return "\n".join(lines)
