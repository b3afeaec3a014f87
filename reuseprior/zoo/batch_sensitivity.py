"""How much do the data-dependent proxies depend on the stand-in minibatch?

No CIFAR-10 or ImageNet image can be downloaded here, so SNIP, GraSP, Fisher,
grad-norm, jacob_cov and NASWOT are computed on a stand-in minibatch (random
crops of scikit-learn's sample photographs, random labels;
:func:`reuseprior.baselines.proxies.make_batch`). Their published correlations were
measured on real minibatches, so the stand-in's effect has to be measured,
not assumed. This module rescores a uniform random sample of a zoo (a prefix
of its seeded order) on other minibatches, with the same seeded weights:

- ``photos, seed 0``: the stored minibatch (recomputing it checks the stored rows);
- ``photos, seed 1``: other crops and other random labels, same kind of data;
- ``noise, seed 0``: N(0, 1) pixels, random labels: no image statistics at all.

and reports, per proxy and minibatch, the Spearman rho with accuracy and the
rank agreement (Spearman) with the stored scores. Rows are appended to
``data/zoo_batch_sensitivity_v<SCORES_VERSION>_<zoo>.csv`` as each
architecture finishes (resumable, like :func:`reuseprior.zoo.scoring.score_zoo`);
by default :func:`sensitivity_path` names the file of the published scores
version (:func:`reuseprior.zoo.scoring.published_version`), whose
stored rows :func:`reference_matches_stored` compares with.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import torch

from reuseprior.baselines.proxies import ProxyBatch, data_dependent_scores, make_batch
from reuseprior.baselines.registry import proxy_names
from reuseprior.core import paths
from reuseprior.core.progress import progress_bar
from reuseprior.core.stored_rows import ColumnKinds, read_stored_csv
from reuseprior.zoo.correlation import bootstrap_rank_correlation
from reuseprior.zoo.scoring import (
    GRADIENT_PASS_MARKER,
    SCORES_VERSION,
    append_rows,
    get_zoo,
    load_scores,
    published_version,
)

__all__ = [
    "MINIBATCHES",
    "REFERENCE",
    "SENSITIVITY_KINDS",
    "read_minibatch_scores",
    "reference_matches_stored",
    "score_minibatches",
    "sensitivity_path",
    "sensitivity_table",
]

#: name -> keyword arguments of :func:`reuseprior.baselines.proxies.make_batch` (besides the zoo's sizes).
MINIBATCHES: dict[str, dict[str, object]] = {
    "photos, seed 0": {"source": "sample_images", "seed": 0},
    "photos, seed 1": {"source": "sample_images", "seed": 1},
    "noise, seed 0": {"source": "noise", "seed": 0},
}
#: The minibatch of the stored zoo scores (``seed=0`` of :func:`reuseprior.zoo.scoring.score_zoo`).
REFERENCE = "photos, seed 0"
#: The data-dependent proxies, in column order (the data-free scores do not read the minibatch).
_PROXIES = list(proxy_names(data_dependent=True))
#: the kinds of a stored row's values (a proxy's score is empty where it failed on that model)
SENSITIVITY_KINDS = ColumnKinds(
    required=("order", "arch", "minibatch", "batch"), numeric=("order", "accuracy", *_PROXIES)
)


def sensitivity_path(zoo: str, data_dir: Path | None = None, version: int | None = None) -> Path:
    """The CSV of ``version`` (default: the published version of the zoo's scores, the one reported)."""
    version = published_version(zoo, data_dir) if version is None else version
    return (data_dir or paths.DATA_DIR) / f"zoo_batch_sensitivity_v{version}_{zoo}.csv"


def read_minibatch_scores(path: Path) -> pd.DataFrame:
    """The stored rows at ``path``, each whole and of :data:`SENSITIVITY_KINDS` (else
    :class:`~reuseprior.core.errors.CsvFormatError` naming the line and the fix)."""
    return read_stored_csv(path, SENSITIVITY_KINDS)


def score_minibatches(
    zoo_name: str = "nb201",
    n: int = 150,
    *,
    minibatches: dict[str, dict[str, object]] | None = None,
    seed: int = 0,
    data_dir: Path | None = None,
    progress: bool = True,
) -> Path:
    """Score the first ``n`` architectures of the zoo's seeded order on every
    minibatch of ``minibatches`` (default :data:`MINIBATCHES`): one row per
    (architecture, minibatch) with the six proxies, each model at the input
    size its stored scores use (the zoo's, or the row's: a torchvision model's
    evaluation crop from version 2 on). Architectures already in the CSV are
    skipped, so an interrupted run resumes where it stopped."""
    zoo = get_zoo(zoo_name)
    variants = minibatches or MINIBATCHES
    cat = zoo.catalogue()
    order = zoo.order(cat, seed)[:n]
    cat = cat.set_index("arch", drop=False)
    batches: dict[tuple[str, int], ProxyBatch] = {}  # (minibatch, input size) -> built on first use
    path = sensitivity_path(zoo_name, data_dir, SCORES_VERSION)
    done = set(read_minibatch_scores(path)["arch"]) if path.exists() else set()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for k, arch in enumerate(
            progress_bar(order, desc=f"{zoo_name} on {len(variants)} minibatches", disable=not progress)
        ):
            if arch in done:
                continue
            rows = []
            model = zoo.build_seeded(arch, seed)  # the proxies score a copy, so one build serves every minibatch
            size = zoo.size_of(cat.loc[arch])
            for name, kw in variants.items():
                if (name, size) not in batches:
                    batches[name, size] = make_batch(zoo.batch_size, size, zoo.num_classes, **kw)
                batch = batches[name, size]
                torch.manual_seed(seed)
                values = data_dependent_scores(model, batch)
                rows.append(
                    {
                        "order": k,
                        "arch": arch,
                        "accuracy": float(cat.at[arch, "accuracy"]),
                        "minibatch": name,
                        **{p: values[p] for p in _PROXIES},
                        "batch": batch.description,
                        "scored_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    }
                )
            append_rows(path, pd.DataFrame(rows), SENSITIVITY_KINDS)
    finally:
        torch.set_num_threads(threads)
    return path


def sensitivity_table(scores: pd.DataFrame, *, n_boot: int = 500, seed: int = 0) -> pd.DataFrame:
    """Per proxy and minibatch: Spearman rho with accuracy (95% bootstrap
    interval) and the rank agreement with the :data:`REFERENCE` minibatch's
    scores of the same architectures (Spearman between the two score columns)."""
    if scores.empty:
        return pd.DataFrame()
    wide = scores.pivot(index="arch", columns="minibatch", values=_PROXIES)
    accuracy = scores.groupby("arch")["accuracy"].first().reindex(wide.index)
    rows = []
    for proxy in _PROXIES:
        for name in dict.fromkeys(scores["minibatch"]):
            values = wide[(proxy, name)]
            r = bootstrap_rank_correlation(values, accuracy, n_boot=n_boot, seed=seed)
            agree = math.nan
            if REFERENCE in set(scores["minibatch"]):
                ok = values.notna() & wide[(proxy, REFERENCE)].notna()
                ok &= values.abs().ne(math.inf) & wide[(proxy, REFERENCE)].abs().ne(math.inf)
                agree = values[ok].rank().corr(wide.loc[ok, (proxy, REFERENCE)].rank()) if ok.sum() >= 3 else math.nan
            rows.append(
                {
                    "score": proxy,
                    "minibatch": name,
                    "n": r["n"],
                    "spearman with accuracy": r["spearman"],
                    "spearman_lo": r["spearman_lo"],
                    "spearman_hi": r["spearman_hi"],
                    f"rank agreement with '{REFERENCE}'": agree,
                }
            )
    return pd.DataFrame(rows)


def reference_matches_stored(scores: pd.DataFrame, zoo_name: str = "nb201") -> pd.DataFrame:
    """Per proxy: how many :data:`REFERENCE` rows have stored data-dependent
    proxies (a stored :data:`reuseprior.zoo.scoring.GRADIENT_PASS_MARKER`), and
    the largest relative difference between the two (0 when the stored rows
    are reproduced exactly)."""
    ref = scores[scores["minibatch"] == REFERENCE].set_index("arch")
    stored = load_scores(zoo_name).set_index("arch")
    marker = GRADIENT_PASS_MARKER
    common = ref.index.intersection(stored.index[stored[marker].notna()]) if marker in stored.columns else ref.index[:0]
    rows = []
    for proxy in _PROXIES:
        a, b = ref.loc[common, proxy].astype(float), stored.loc[common, proxy].astype(float)
        finite = a.abs().ne(math.inf) & b.abs().ne(math.inf) & a.notna() & b.notna()
        rel = ((a - b).abs() / b.abs().where(b.abs() > 0, 1.0))[finite]
        same_special = int(((a == b) | (a.isna() & b.isna()))[~finite].sum())
        rows.append(
            {
                "score": proxy,
                "rows compared": len(common),
                "max relative difference": float(rel.max()) if len(rel) else math.nan,
                "non-finite rows equal": f"{same_special} of {int((~finite).sum())}",
            }
        )
    return pd.DataFrame(rows)
