"""Chapter 6 on timm's data-dependent proxies (SNIP, GraSP, Fisher, grad-norm, jacob_cov, NASWOT): on
which architectures they are stored, how that sample spreads over the zoo's sizes, where they were
computed, and every value that is not a finite number, with its reason.

Whatever rows carry them (the stored CSV, filled over several sessions and devices), the tables read
them as they are: the correlation tables (:func:`~reuseprior.chapters.ch6_predictive_validity.timm.timm_correlations`)
give each proxy's ``n`` and interval; :func:`proxy_sample` says how the rows holding a proxy spread over
the quintiles of the zoo's parameter counts (a sample of the smallest models describes those only);
:func:`proxy_provenance` names the device of each stored value from the ``.meta.json``'s ``filled``
entries; :func:`timm_non_finite` lists the values stored as ``inf`` or ``-inf`` (which every rank
correlation leaves out) with their reason; :func:`sample_correlations` reads the proxies on the zoo's
systematic sample alone (every tenth architecture of the scoring order, which spans both subsets and every
size), where rows filled on the zoo's smallest end would weigh the pooled reading towards small models;
:func:`device_agreement_table` compares the values the CPU stored with a GPU's rescoring of the same rows.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from reuseprior.baselines.registry import DATA_DEPENDENT
from reuseprior.chapters.ch6_predictive_validity.timm import TIMM_SCORES, timm_correlations
from reuseprior.core import paths
from reuseprior.core.cpu import machine_kind
from reuseprior.zoo.device_agreement import device_agreement
from reuseprior.zoo.scoring import published_version, scores_path
from reuseprior.zoo.scoring.scores import error_messages
from reuseprior.zoo.store import meta_path
from reuseprior.zoo.timm_zoo import load_timm_zoo

__all__ = [
    "GPU_RESCORING",
    "NON_FINITE_MEANING",
    "PROXIES",
    "SAMPLE_EVERY",
    "device_agreement_table",
    "proxy_provenance",
    "proxy_sample",
    "sample_correlations",
    "timm_non_finite",
]

#: the data-dependent proxies of the timm tables, in their order
PROXIES = [s for s in TIMM_SCORES if s in DATA_DEPENDENT]
#: what an infinite value of a score means where the scorer stores it as a value (no error recorded)
NON_FINITE_MEANING: dict[tuple[str, float], str] = {
    ("naswot", -math.inf): (
        "log-determinant of a singular kernel: the Hamming kernel of the minibatch's activation codes has "
        "determinant 0 (two images share their codes), log 0 = -inf"
    ),
}
#: the size quintiles the sample is read over
QUINTILES = 5
#: the systematic sample: every SAMPLE_EVERY-th architecture of the scoring order (``score-zoos timm --fill-proxies
#: --full-every 10`` fills it first)
SAMPLE_EVERY = 10
#: the GPU's rescoring of the rows whose proxies the CPU stored (``scripts/device/timm_proxies.sh``, stage 3)
GPU_RESCORING = Path("device") / "timm_proxies_gpu_rescored_h200_20261128.csv"


def timm_non_finite(rows: pd.DataFrame, scores: list[str] | None = None) -> pd.DataFrame:
    """Every stored value of ``scores`` (default :data:`TIMM_SCORES`) that is ``inf`` or ``-inf``: the score,
    the architecture, the value and its reason (the row's recorded message for that score, else the
    score's meaning of that infinity, :data:`NON_FINITE_MEANING`, else ``no reason recorded``). Rank
    correlations leave these rows out of that score's ``n``."""
    out = []
    for score in scores or [s for s in TIMM_SCORES if s in rows.columns]:
        values = pd.to_numeric(rows[score], errors="coerce")
        for index in rows.index[np.isinf(values.to_numpy(dtype=float))]:
            value = float(values[index])
            message = error_messages(rows.at[index, "errors"]).get(score)
            reason = (
                message.splitlines()[0] if message else NON_FINITE_MEANING.get((score, value), "no reason recorded")
            )
            out.append({"score": score, "arch": rows.at[index, "arch"], "value": value, "reason": reason})
    return pd.DataFrame(out, columns=["score", "arch", "value", "reason"])


def proxy_sample(rows: pd.DataFrame, sizes: pd.Series | None = None) -> pd.DataFrame:
    """Per proxy of :data:`PROXIES`: the stored ``rows`` holding a finite value, an infinite one and none,
    and how the finite ones spread over the zoo's sizes: their count in each quintile of ``sizes`` (the
    zoo's published parameter counts, one per architecture, indexed by ``arch``; default the catalogue's)
    and their smallest, median and largest count (M)."""
    sizes = load_timm_zoo().set_index("arch")["published_params"] if sizes is None else sizes
    edges = np.quantile(sizes.to_numpy(dtype=float), np.linspace(0, 1, QUINTILES + 1))
    quintile = pd.Series(np.clip(np.searchsorted(edges, sizes, side="right") - 1, 0, QUINTILES - 1), index=sizes.index)
    labels = [f"Q{k + 1} ({edges[k] / 1e6:.3g}-{edges[k + 1] / 1e6:.3g} M)" for k in range(QUINTILES)]
    out = []
    for proxy in (p for p in PROXIES if p in rows.columns):
        values = pd.to_numeric(rows[proxy], errors="coerce").to_numpy(dtype=float)
        finite = rows.loc[np.isfinite(values), "arch"]
        held = sizes.reindex(finite)
        counts = quintile.reindex(finite).value_counts().reindex(range(QUINTILES), fill_value=0)
        out.append(
            {
                "score": proxy,
                "finite": len(finite),
                "infinite": int(np.isinf(values).sum()),
                "missing": int(np.isnan(values).sum()),
                **{label: int(counts[k]) for k, label in enumerate(labels)},
                "smallest (M)": held.min() / 1e6 if len(held) else math.nan,
                "median (M)": held.median() / 1e6 if len(held) else math.nan,
                "largest (M)": held.max() / 1e6 if len(held) else math.nan,
            }
        )
    return pd.DataFrame(out)


def _meta(zoo: str) -> dict[str, object]:
    """The ``.meta.json`` of the scores version the chapter reads for ``zoo``."""
    path = meta_path(scores_path(zoo, published_version(zoo)))
    return json.loads(path.read_text()) if path.exists() else {}


def proxy_provenance(rows: pd.DataFrame, zoo: str = "timm", meta: dict[str, object] | None = None) -> pd.DataFrame:
    """Where the data-dependent proxies of the stored ``rows`` were computed: per device, the rows holding
    one, the proxies and how many fills computed them (the fills' times are in the ``.meta.json``; a
    committed table holds none). A row's device is that of the last ``filled`` entry of the meta (default:
    the zoo's ``.meta.json``) naming it among its ``archs`` with a data-dependent score; a row no such
    entry names was scored with its first scoring, on the CPU the meta records (``cpu_kernels``), unless
    a ``filled`` entry of data-dependent scores without its architectures on record may hold it (then
    ``not on record``)."""
    meta = _meta(zoo) if meta is None else meta
    fills = [f for f in meta.get("filled", []) if set(str(f.get("scores", "")).split()) & set(PROXIES)]
    holding = rows[rows[[p for p in PROXIES if p in rows.columns]].notna().any(axis=1)]["arch"]
    unnamed = [f for f in fills if "archs" not in f]
    first = f"first scoring, CPU kernels {meta.get('cpu_kernels', 'not on record')}, torch {meta.get('torch', '?')}"
    device_of: dict[str, tuple[str, str, str]] = {}
    for arch in holding:
        named = [f for f in fills if arch in f.get("archs", [])]
        if named:
            last = named[-1]
            device_of[arch] = (str(last.get("device", "not on record")), str(last.get("scores")), str(last.get("at")))
        else:
            device_of[arch] = (
                ("not on record (a fill without its architectures)", "", "") if unnamed else (first, "", "")
            )
    table = pd.DataFrame([(a, *d) for a, d in device_of.items()], columns=["arch", "device", "scores", "at"])
    if table.empty:
        return pd.DataFrame(columns=["device", "rows", "scores", "fills"])
    grouped = table.groupby("device", sort=True)
    return pd.DataFrame(
        {
            "rows": grouped.size(),
            "scores": grouped["scores"].agg(lambda s: " | ".join(sorted(set(s) - {""}))),
            "fills": grouped["at"].agg(lambda s: len(set(s) - {""})),
        }
    ).reset_index()


def sample_correlations(
    rows: pd.DataFrame, *, every: int = SAMPLE_EVERY, n_boot: int = 1000, min_rows: int = 10, seed: int = 0
) -> pd.DataFrame:
    """:func:`~reuseprior.chapters.ch6_predictive_validity.timm.timm_correlations` of the data-dependent
    proxies, PG and #params on the systematic sample alone (the stored ``rows`` at ``order % every == 0``):
    each proxy's rho over rows spread across the zoo's sizes, beside PG's and #params' on the same sample."""
    sample = rows[rows["order"] % every == 0]
    table = timm_correlations(sample, n_boot=n_boot, min_rows=min_rows, seed=seed)
    if table.empty:
        return table
    return table[table["score"].isin([*PROXIES, "PG", "params"])].reset_index(drop=True)


def device_agreement_table(rows: pd.DataFrame, rescoring: Path | None = None) -> pd.DataFrame:
    """The proxies the CPU stored (rows of their first scoring: :func:`proxy_provenance`) against a GPU's
    rescoring of the same rows (``rescoring``: default :data:`GPU_RESCORING` under ``data/``), per proxy the
    rescoring holds a value of (:func:`reuseprior.zoo.device_agreement.device_agreement`): Spearman between
    the devices, relative differences and one-sided gaps. A row is the CPU's unless a ``filled`` entry of the
    ``.meta.json`` names it with a device whose kind (:func:`reuseprior.core.cpu.machine_kind`) is not a CPU."""
    meta = _meta("timm")
    on_gpu = {
        arch
        for fill in meta.get("filled", [])
        if "device" in fill and not machine_kind(str(fill["device"])).startswith("CPU")
        for arch in fill.get("archs", [])
    }
    held = rows[rows[PROXIES].notna().any(axis=1) & ~rows["arch"].isin(on_gpu)]["arch"]
    other = pd.read_csv(rescoring or paths.DATA_DIR / GPU_RESCORING).set_index("arch")
    rescored = [p for p in PROXIES if p in other.columns and other.loc[held, p].notna().any()]
    return device_agreement(rows.set_index("arch"), other, rescored, held)
