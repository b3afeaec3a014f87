"""Chapter 6's live check: stored rows recomputed and compared."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from reuseprior.baselines.proxies import grasp_summand_magnitude
from reuseprior.baselines.registry import DATA_DEPENDENT
from reuseprior.chapters.ch6_predictive_validity.tables import DATA_FREE_PROXIES, PROXY_SCORES, THESIS_SCORES
from reuseprior.core.ordering import sort_rows
from reuseprior.zoo.scoring import (
    Zoo,
    comparable_scores,
    get_zoo,
    load_scores,
    published_version,
    score_architecture,
    since_version,
)


def recompute_cost(df: pd.DataFrame, reuse: bool = True) -> pd.Series:
    """Stored seconds that recomputing each row live costs: the model build plus
    #params, FLOPs and SynFlow, the data-dependent proxies (their shared pass,
    ``data_dependent``; the sum of their one-pass-each costs on rows scored
    before it) and, with ``reuse``, the reusability quantities (``reuse``). Each
    term is the stored CPU seconds, or the wall-clock seconds where the row has
    no CPU time (``build`` has wall-clock only); a missing term counts 0."""

    def seconds(name: str) -> pd.Series:
        cpu = df[f"{name}_cpu_seconds"] if f"{name}_cpu_seconds" in df.columns else pd.Series(np.nan, index=df.index)
        wall = df[f"{name}_seconds"] if f"{name}_seconds" in df.columns else pd.Series(np.nan, index=df.index)
        return cpu.astype(float).fillna(wall.astype(float))

    total = seconds("build").fillna(0.0)
    for name in DATA_FREE_PROXIES + (["reuse"] if reuse else []):
        total = total + seconds(name).fillna(0.0)
    shared = seconds("data_dependent")
    one_each = sum((seconds(p).fillna(0.0) for p in sorted(DATA_DEPENDENT)), pd.Series(0.0, index=df.index))
    return total + shared.fillna(one_each)


def live_rows(df: pd.DataFrame, rows: int, reuse: bool = True) -> pd.DataFrame:
    """The stored rows :func:`rescore_stored_rows` recomputes: the ``rows`` cheapest
    (:func:`recompute_cost`) among the rows with a finite value of every
    data-free score (#params, FLOPs, SynFlow and, with ``reuse``, every
    reusability quantity) and of at least one data-dependent proxy; rows with
    more of the six proxies finite come first, so the check compares every
    proxy that a cheap row has, and rows of equal count and cost in order of
    their architecture's name. The cost is what makes the quick profile quick:
    an ImageNet model at 600 px costs minutes, the cheapest seconds."""
    data_free = [s for s in DATA_FREE_PROXIES + (THESIS_SCORES if reuse else []) if s in df.columns]
    proxies = [p for p in PROXY_SCORES if p in DATA_DEPENDENT and p in df.columns]

    def finite(cols: list[str]) -> np.ndarray:
        return np.isfinite(df[cols].astype(float).to_numpy())

    n_proxies = finite(proxies).sum(axis=1)
    eligible = finite(data_free).all(axis=1) & (n_proxies > 0)
    ranked = df.assign(_proxies=n_proxies, _cost=recompute_cost(df, reuse))[eligible]
    ranked = sort_rows(ranked, ["_proxies", "_cost"], then="arch", ascending=[False, True])
    return ranked.head(rows).drop(columns=["_proxies", "_cost"])


#: How closely a live recomputation must reproduce a stored score
#: (:func:`rescore_stored_rows`), as a fraction of the score's scale. Exact and float64
#: scores (#params, FLOPs, every reusability quantity) reproduce on any
#: machine: 1e-9 of the larger value. SynFlow is computed in float64 but from
#: the model's float32 initial weights, whose last bit depends on whether the
#: CPU's kernels fuse multiply-adds: 1e-6 (measured 1.1e-7 on pytorchcv's
#: fdmobilenet_wd4 with ATen's ``default`` kernels against rows scored on AVX2
#: and AVX-512 machines, which agree to 1e-9). The data-dependent proxies run in float32
#: through kernels that PyTorch and oneDNN pick per CPU instruction set (AVX2,
#: AVX-512), which sum in different orders, and the stored rows were scored
#: over many sessions on machines of both kinds: 1e-2 of the larger value
#: (measured on the 15 cheapest rows of each zoo: at most 2.2e-3, Fisher on
#: pytorchcv; recomputing with oneDNN limited to AVX2 reproduces rows scored on
#: such machines exactly). GraSP sums signed terms that cancel to 4e-8-2e-4 of
#: their magnitude on the BatchNorm networks of the ImageNet zoos, so its rounding is judged against that
#: magnitude (:func:`reuseprior.baselines.proxies.grasp_summand_magnitude`):
#: 1e-4 of it (measured at most 1.4e-5).
LIVE_TOLERANCE = {"exact": 1e-9, "float32 weights": 1e-6, "float32": 1e-2, "grasp": 1e-4}
#: data-free scores computed from the model's float32 initial weights (``"float32 weights"`` above)
FLOAT32_WEIGHT_SCORES = ("synflow",)
#: the columns of :func:`rescore_stored_rows` that are this machine's (the live value, the scale it is judged
#: against, the deviation); the others are the verdict, the same on every CPU
LIVE_CHECK_MEASURED = ("live", "scale", "difference / scale")


def rescore_stored_rows(zoo: str, rows: int, reuse: bool, seed: int = 0) -> pd.DataFrame:
    """Recompute stored rows of ``zoo`` (:func:`live_rows`: the cheapest that
    carry the data-free scores and the data-dependent proxies) from their seeds
    and compare every score the row stores with the live value.

    Columns: ``stored``, ``live``, ``scale`` (the larger of the two magnitudes;
    for GraSP the magnitude of its summands on the live model),
    ``difference / scale``, ``tolerance`` (:data:`LIVE_TOLERANCE`: exact and
    float64 scores 1e-9, float32 proxies 1e-2, GraSP 1e-4 of its summands),
    ``within tolerance`` and ``note``; a score NaN both stored and live agrees.

    The rows are those of the published version (:func:`load_scores`), rebuilt
    as that version built them (:func:`reuseprior.zoo.scoring.get_zoo` at that
    version: the torchvision models at 224 px in version 1). Only the scores
    whose definition in this code is the one that version stored
    (:func:`reuseprior.zoo.scoring.comparable_scores`: registry
    ``since_version`` at most the table's version) are recomputed and
    compared. A score whose definition changed since is listed with its
    stored value, no live value, ``within tolerance`` empty (neither true nor
    false) and the note "definition changed in v<N>, not compared": this code
    computes another quantity, which the stored value was never meant to equal."""
    version = published_version(zoo)
    df = load_scores(zoo, version)
    if df.empty:
        return pd.DataFrame()
    picked = live_rows(df, rows, reuse)
    comparable = set(comparable_scores(version))
    scored_as = get_zoo(zoo, version)
    out = []
    for _, stored in picked.iterrows():
        names = [p for p in PROXY_SCORES if p in stored.index and pd.notna(stored[p])]
        has_reuse = reuse and "PG" in stored.index and pd.notna(stored["PG"])
        thesis = THESIS_SCORES if has_reuse else []
        live_names = [p for p in names if p in comparable]
        do_reuse = has_reuse and any(s in comparable for s in thesis)
        # row=None: score_architecture reads the ground-truth row (image size, accuracy) from the catalogue
        live = score_architecture(scored_as, stored["arch"], seed=seed, reuse=do_reuse, proxies=live_names)
        grasp_scale = grasp_scale_of(scored_as, stored["arch"], seed) if "grasp" in live_names else math.nan
        for s in names + thesis:
            b = float(stored[s])
            if s not in comparable:
                note = f"definition changed in v{since_version(s)}, not compared"
                out.append({"arch": stored["arch"], "score": s, "stored": b, "live": math.nan, "note": note})
                continue
            a = float(live[s])
            kind = tolerance_kind(s)
            scale = grasp_scale if kind == "grasp" else max(abs(a), abs(b))
            both_nan = math.isnan(a) and math.isnan(b)
            if a == b or both_nan:
                difference = 0.0
            elif scale > 0:
                difference = abs(a - b) / scale
            else:  # no scale (GraSP's summands unavailable): unequal values are out of tolerance
                difference = math.inf
            out.append(
                {
                    "arch": stored["arch"],
                    "score": s,
                    "stored": b,
                    "live": a,
                    "scale": scale,
                    "difference / scale": difference,
                    "tolerance": LIVE_TOLERANCE[kind],
                    "within tolerance": difference <= LIVE_TOLERANCE[kind],
                    "note": "",
                }
            )
    table = pd.DataFrame(out)
    if not table.empty:  # True/False where compared, <NA> where not: .all() reads the compared ones
        table["within tolerance"] = table["within tolerance"].astype("boolean")
    return table


def grasp_scale_of(zoo: Zoo, arch: str, seed: int) -> float:
    """:func:`reuseprior.baselines.proxies.grasp_summand_magnitude` of ``arch`` with the
    seed, weights and minibatch :func:`rescore_stored_rows` scores it with (its own passes: on
    a model with dropout other masks, which move the magnitude, not its scale); NaN
    when it cannot be computed (then an unequal GraSP is out of tolerance)."""
    row = zoo.catalogue().set_index("arch").loc[arch]
    model, batch = zoo.build_seeded(arch, seed), zoo.batch(zoo.size_of(row), seed)
    torch.manual_seed(seed)
    try:
        return grasp_summand_magnitude(model, batch)
    except Exception:  # noqa: BLE001 - e.g. out of memory: the row says so through its verdict
        return math.nan


def tolerance_kind(score: str) -> str:
    """The key of :data:`LIVE_TOLERANCE` that ``score`` is held to."""
    if score == "grasp":
        return "grasp"
    if score in DATA_DEPENDENT:
        return "float32"
    return "float32 weights" if score in FLOAT32_WEIGHT_SCORES else "exact"
