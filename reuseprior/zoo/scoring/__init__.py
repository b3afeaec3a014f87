"""Scoring the model zoos: one row per architecture, every score and its cost.

A *zoo* is a list of architecture ids, a builder, a ground-truth accuracy per
id and the minibatch settings of the data-dependent proxies. Scoring runs one
Dask task per architecture (:mod:`reuseprior.zoo.distributed`: a LocalCluster
by default, or an existing cluster) and commits each finished row to an
SQLite store (:mod:`reuseprior.zoo.store`, default ``build/zoo_scores.sqlite``)
in one transaction, so a run can be stopped, or killed, and resumed. When a
run ends the store is exported to ``data/zoo_scores_v<VERSION>_<zoo>.csv``
(``.csv.xz``, xz-compressed, for a zoo of thousands of architectures:
:func:`scores_path`), the citable copy, read with :func:`load_scores`, with
a ``.meta.json`` sidecar recording the batch, seeds and package versions.

Versions (policy):

- A *version* of the stored scores is one set of score definitions and
  scoring settings (the model's input size, minibatch, seeds): every value of
  ``data/zoo_scores_v<N>_<zoo>.csv`` was computed under version ``N``'s.
  :data:`SCORES_VERSION` is bumped when a definition or setting changes what
  a stored value would be; the registry records, per score, the version from
  which its definition holds (:attr:`reuseprior.baselines.registry.ProxyInfo.since_version`;
  the reusability quantities: :data:`REUSE_SINCE_VERSION`), and a zoo that
  is scored differently at a version says so (:func:`get_zoo` of an older
  version: the torchvision zoo at 224 px in version 1, at each model's
  evaluation crop from version 2 on). New scoring writes
  :data:`SCORES_VERSION`'s CSV; older CSVs are never rewritten.
- Carried over (:func:`upgrade_scores`): the
  new version's table starts as a copy of the previous version's CSV, every
  column of a score whose definition holds in both (with its timing columns,
  the build time, the shared pass's timing and the messages of the carried
  scores) copied value for value; the scores whose definition changed are
  left empty on every row, and a row whose input size changed is left empty
  entirely (every score depends on the input). What a row still lacks is
  listed in its ``pending`` column (:func:`pending_scores`, from version 2 on),
  which the resumable fill (:func:`fill_proxies`)
  computes, one Dask task per row, each committed as it finishes; the
  ``.meta.json`` records what was carried over and what is recomputed.
- Published (:func:`published_version`): the version reported is, per zoo,
  the newest version whose CSV is complete (:func:`completeness`: every
  architecture of the zoo's catalogue has a row and no row has a pending
  score, i.e. every recomputed score holds a value or the message of its
  failure), else the zoo's first published version (:func:`first_version`:
  version 1 for the zoos scored since then; a zoo added later is read at the
  version it was first scored at, partial as it is, with its count shown).
  A partial CSV of a new version can be exported and committed while the fill
  continues over several sessions; the reported tables stay those of the
  older version until it is complete.
  :func:`load_scores` without a version reads the published one.
- Relabelled (:func:`relabel_rows`): when the rule that chooses a zoo's
  published result row changes (not a score's definition: the version stays),
  the stored rows whose chosen row changed get its accuracy, every score they
  hold computed again at its input size, and the ``.meta.json`` records both.

Determinism: the weights of architecture ``a`` are initialised from
``torch.manual_seed(init_seed(seed, a))`` and every score is computed with
one CPU thread, so a stored row can be recomputed exactly, and a row
computed by any Dask worker is the row this process would compute.
"""

from __future__ import annotations

from reuseprior.baselines.proxies import data_dependent_scores  # noqa: F401
from reuseprior.core.errors import UnknownArchitectureError  # noqa: F401
from reuseprior.zoo.scoring.fill import (  # noqa: F401
    fill_proxies,
    rescore_proxies,
    upgrade_scores,
)
from reuseprior.zoo.scoring.jobs import (  # noqa: F401
    ArchJob,
)
from reuseprior.zoo.scoring.registry import (  # noqa: F401
    GRADIENT_PASS_MARKER,
    REUSE_SCORES,
    SCORES_VERSION,
    ZOOS,
    Zoo,
    get_zoo,
    init_seed,
    list_zoos,
    register_zoo,
)
from reuseprior.zoo.scoring.relabel import (  # noqa: F401
    Relabelling,
    relabel_rows,
)
from reuseprior.zoo.scoring.results import (  # noqa: F401
    completeness,
    default_store_path,
    export_scores,
    first_version,
    import_scores,
    load_scores,
    published_version,
    scores_path,
    scores_table,
    version_complete_on,
)
from reuseprior.zoo.scoring.runs import (  # noqa: F401
    DEFAULT_SEED,
    append_rows,
    score_zoo,
)
from reuseprior.zoo.scoring.scores import (  # noqa: F401
    changed_scores,
    comparable_scores,
    pending_scores,
    refused_for_memory,
    score_architecture,
    shared_pass,
    since_version,
    stored_columns,
)
from reuseprior.zoo.store import (
    CsvFormatError,  # noqa: F401
    OutOfSyncError,  # noqa: F401
    StoreError,  # noqa: F401
)

__all__ = [
    "GRADIENT_PASS_MARKER",
    "REUSE_SCORES",
    "ArchJob",
    "DEFAULT_SEED",
    "SCORES_VERSION",
    "ZOOS",
    "CsvFormatError",
    "OutOfSyncError",
    "Relabelling",
    "StoreError",
    "UnknownArchitectureError",
    "Zoo",
    "append_rows",
    "changed_scores",
    "comparable_scores",
    "completeness",
    "default_store_path",
    "export_scores",
    "fill_proxies",
    "first_version",
    "get_zoo",
    "import_scores",
    "init_seed",
    "list_zoos",
    "load_scores",
    "pending_scores",
    "published_version",
    "register_zoo",
    "relabel_rows",
    "rescore_proxies",
    "score_architecture",
    "refused_for_memory",
    "score_zoo",
    "shared_pass",
    "scores_path",
    "scores_table",
    "since_version",
    "stored_columns",
    "upgrade_scores",
    "version_complete_on",
]
