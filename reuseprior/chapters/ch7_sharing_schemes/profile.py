"""Chapter 7's notebook profile: its rows and the paper-scale printed results."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import torch

from reuseprior.chapters.ch7_sharing_schemes.configs import (
    BIDART_DESIGN,
    NPAS_DESIGN,
    SharingDesign,
    SharingSchemesProfile,
)
from reuseprior.chapters.ch7_sharing_schemes.ranking import study_rows, summarize
from reuseprior.chapters.ch7_sharing_schemes.runs import sharing_study
from reuseprior.core import paths
from reuseprior.core.study_runner import run_study
from reuseprior.reporting.reference import load_seed_table


def parameters_to_overrides(*, data_dir: str | None = None, download: bool | None = None) -> dict[str, Any]:
    """The notebook's papermill parameters as ``setup(overrides=...)`` (``None``: the profile's value)."""
    if download is not None and not isinstance(download, bool):
        raise ValueError(f"download={download!r} must be True or False (papermill: -p download True)")
    return {k: v for k, v in {"data_dir": data_dir, "download": download}.items() if v is not None}


def profile_rows(
    settings: SharingSchemesProfile, device: torch.device | str = "cpu", *, progress: bool = True
) -> dict[str, tuple[pd.DataFrame, str]]:
    """Per study of the profile: its rows and where they come from. ``train_live``
    trains the pending runs first (:func:`reuseprior.core.study_runner.run_study`, resumable, into
    :func:`~reuseprior.chapters.ch7_sharing_schemes.runs.runs_path`); otherwise the stored rows are
    read. A missing dataset raises :class:`~reuseprior.core.errors.DatasetNotFoundError` with the
    command that fetches it."""
    out = {}
    for design in settings.designs:
        spec = sharing_study(design)
        if settings.train_live:
            options = {
                "data_dir": settings.data_dir,
                "download": settings.download,
                "device": str(device),
                "threads": None,
            }
            run_study(spec, options=options, progress=progress)
        path = spec.store.path
        source = str(path.relative_to(paths.ROOT)) if path.is_relative_to(paths.ROOT) else str(path)
        out[spec.name] = (study_rows(spec), source + (" (trained by this run)" if settings.train_live else ""))
    return out


#: what the NPAS comparison shows for the reduced baseline (the narrower WRN), which the paper profile does not train
NOT_RUN_NARROW_WRN = "not run (no fractional-width WRN builder)"


def printed_beside_trained(design: SharingDesign, rows: pd.DataFrame) -> pd.DataFrame:
    """The seed's printed errors beside this study's trained ones, where the study
    is a seed's own setting: NPAS Table 14 (WRN-28-10 on CIFAR-100: the reduced
    baseline ``WRN`` and ``SSN-WRN-28-10`` per budget) and Bidart's
    EfficientNet-B0 table (top-1 per depthwise share). Columns: setting, printed
    error (%), ours (100 - mean test top-1, NaN until trained), difference."""
    summary = summarize(rows) if not rows.empty else pd.DataFrame(columns=["config", "test_top1_mean"])
    ours = dict(zip(summary["config"], 100 - summary["test_top1_mean"]))
    out = []
    if design.name == NPAS_DESIGN.name:
        printed = load_seed_table("npas_table14")
        printed = printed[printed["group"] == "wrn"]
        run = {c.label for c in design.configs}
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
    elif design.name == BIDART_DESIGN.name:
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
