"""pytorchcv ImageNet-1K classifiers (built without weights) with their
published errors.

Ground truth: the package's own metadata, read offline from the installed
distribution: ``pytorchcv/models/common/model_metainfos.csv`` (model name,
parameter count, ``error_value`` = top-5 error x 100 for ImageNet-1K rows,
``test_dataset == "in1k"``) and the ImageNet-1K table of the package README
(``METADATA`` of the wheel: Top-1 and Top-5 error in %, one row per model,
linked to the model name through its training-log file name
``<model>-<top5 x 100>-<hash>.pth.log``). Accuracy = 100 - Top-1 error.
pytorchcv is MIT-licensed.
"""

from __future__ import annotations

import importlib.util
import re
from functools import lru_cache
from importlib.metadata import distribution
from importlib.resources import files

import pandas as pd
from torch import nn

__all__ = ["build_pytorchcv", "load_pytorchcv_zoo"]

_ROW = re.compile(
    r"^\|\s*(?P<caption>[^|]+?)\s*\|\s*(?P<top1>[\d.]+)\s*\|\s*(?P<top5>[\d.]+)\s*\|\s*(?P<params>[\d,]+)\s*\|\s*(?P<flops>[\d,.]+)M\s*\|(?P<rest>.*)$"
)
_LOG = re.compile(r"/(?P<model>[A-Za-z0-9_]+)-(?P<err>\d{4})-[0-9a-f]{8}\.pth\.log")


_MISSING = (
    "pytorchcv is not installed; install it with `pip install pytorchcv==0.0.74` "
    "(or `pip install -e .[zoo]`): it builds the models and ships their published errors"
)


def _require_pytorchcv() -> None:
    if importlib.util.find_spec("pytorchcv") is None:
        raise ModuleNotFoundError(_MISSING)


def _readme_text() -> str:
    _require_pytorchcv()
    return distribution("pytorchcv").read_text("METADATA") or ""


@lru_cache(maxsize=1)
def load_pytorchcv_zoo() -> pd.DataFrame:
    """ImageNet-1K models of pytorchcv with published top-1/top-5 errors.

    Columns: ``arch`` (pytorchcv model name), ``accuracy`` (100 - top-1 error),
    ``top1_error``, ``top5_error``, ``published_params``, ``published_mflops``
    (the README's FLOPs/2, i.e. MACs), ``img_size``, ``caption``.
    Rows whose README top-5 error disagrees with the metainfo CSV are dropped.
    """
    _require_pytorchcv()
    meta = pd.read_csv(files("pytorchcv") / "models" / "common" / "model_metainfos.csv")
    meta = meta[meta["test_dataset"] == "in1k"].set_index("model_name")
    text = _readme_text()
    start = text.index("### ImageNet-1K")
    end = text.index("\n### ", start + 10)
    rows = []
    for line in text[start:end].splitlines():
        m = _ROW.match(line)
        if not m:
            continue
        log = _LOG.search(m["rest"])
        if not log or log["model"] not in meta.index:
            continue
        name = log["model"]
        top5 = float(m["top5"])
        if abs(meta.loc[name, "error_value"] / 100 - top5) > 0.006:
            continue
        rows.append(
            {
                "arch": name,
                "accuracy": 100.0 - float(m["top1"]),
                "top1_error": float(m["top1"]),
                "top5_error": top5,
                "published_params": int(m["params"].replace(",", "")),
                "published_mflops": float(m["flops"].replace(",", "")),
                "img_size": int(meta.loc[name, "img_size"]) if pd.notna(meta.loc[name, "img_size"]) else 224,
                "caption": m["caption"],
            }
        )
    df = pd.DataFrame(rows).drop_duplicates("arch").reset_index(drop=True)
    if df.empty:
        raise ValueError("no ImageNet-1K rows parsed from pytorchcv's README; has the package layout changed?")
    return df


def build_pytorchcv(name: str) -> nn.Module:
    """The architecture with random initialisation (``pretrained=False``)."""
    _require_pytorchcv()
    from pytorchcv.model_provider import get_model  # noqa: PLC0415 (pytorchcv: the zoo extra)

    return get_model(name, pretrained=False)
