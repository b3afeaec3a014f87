"""Chapter 6 (predictive validity of training-free scores): the analysis
behind ``notebooks/ch6_predictive_validity.ipynb``.

Reads the stored per-architecture scores (``data/zoo_scores_v<N>_<zoo>.csv``, ``.csv.xz`` for NAS-Bench-201,
written by ``python -m reuseprior score-zoos``; per zoo the published version
N, :func:`reuseprior.zoo.scoring.published_version`: the newest whose CSV is
complete, so a new version being filled is not read before it is whole),
and builds the tables and figures of the notebook: coverage (how many architectures of each zoo are scored),
rank correlations with bootstrap intervals beside the published proxy
correlations, scatter plots, failure examples, cost per architecture, and a
live recomputation of the cheapest stored rows; for timm's zoo also the headline subset
(ImageNet-1K-only weights), the families, the partial correlations given #params and FLOPs and the
ceiling (:mod:`~reuseprior.chapters.ch6_predictive_validity.timm`).
"""

from __future__ import annotations

from reuseprior.chapters import register_chapter
from reuseprior.chapters.ch6_predictive_validity.estimands import (  # noqa: F401
    FAMILY_TABLE,
    TIMM_FAMILY,
    declared_family,
    family_findings,
    family_level,
    timm_by_resolution,
    two_resolution_pg,
    two_resolution_weights,
)
from reuseprior.chapters.ch6_predictive_validity.live import (  # noqa: F401
    LIVE_CHECK_MEASURED,
    LIVE_TOLERANCE,
    live_rows,
    recompute_cost,
    rescore_stored_rows,
    tolerance_kind,
)
from reuseprior.chapters.ch6_predictive_validity.nb201 import (  # noqa: F401
    nb201_label_agreement,
    nb201_labelled_rows,
    nb201_labels_wide,
    nb201_reading,
    nb201_reference_agreement,
    nb201_scores_both_labels,
    nb201_version_change,
    version_change,
)
from reuseprior.chapters.ch6_predictive_validity.plots import (  # noqa: F401
    correlation_forest,
    scatter_axis,
    scatter_grid,
)
from reuseprior.chapters.ch6_predictive_validity.reading import (  # noqa: F401
    NB201_LABELS,
    reading,
    summary_markdown,
)
from reuseprior.chapters.ch6_predictive_validity.tables import (  # noqa: F401
    ALL_SCORES,
    DATA_FREE_PROXIES,
    PROFILES,
    PROXY_SCORES,
    SCORE_UNITS,
    THESIS_SCORES,
    beyond_size,
    correlation_tables,
    cost_table,
    coverage,
    failure_examples,
    overestimated_rows,
    proxy_coverage_reading,
)
from reuseprior.chapters.ch6_predictive_validity.timm import (  # noqa: F401
    stored_count,
    timm_beyond_size,
    timm_ceiling,
    timm_correlations,
    timm_missing_scores,
    timm_refusals,
    timm_rows,
)
from reuseprior.chapters.ch6_predictive_validity.timm_proxies import (  # noqa: F401
    device_agreement_table,
    proxy_provenance,
    proxy_sample,
    sample_correlations,
    timm_non_finite,
)
from reuseprior.reporting.findings import MatchFinding, PairedFinding
from reuseprior.zoo.scoring import load_scores  # noqa: F401

#: this chapter, as the book and the build command list it (reuseprior.chapters.CHAPTERS)
CHAPTER = register_chapter(
    __name__,
    part="Beyond the thesis",
    title="Chapter 6: predictive validity of the reusability prior against training-free baselines",
)

__all__ = [
    "FINDINGS",
    "ALL_SCORES",
    "DATA_FREE_PROXIES",
    "PROFILES",
    "PROXY_SCORES",
    "SCORE_UNITS",
    "THESIS_SCORES",
    "correlation_tables",
    "cost_table",
    "correlation_forest",
    "coverage",
    "failure_examples",
    "overestimated_rows",
    "LIVE_CHECK_MEASURED",
    "LIVE_TOLERANCE",
    "tolerance_kind",
    "rescore_stored_rows",
    "live_rows",
    "NB201_LABELS",
    "nb201_label_agreement",
    "nb201_labelled_rows",
    "nb201_labels_wide",
    "nb201_reference_agreement",
    "nb201_scores_both_labels",
    "nb201_reading",
    "nb201_version_change",
    "beyond_size",
    "proxy_coverage_reading",
    "reading",
    "recompute_cost",
    "scatter_axis",
    "scatter_grid",
    "version_change",
    "summary_markdown",
    "stored_count",
    "timm_beyond_size",
    "timm_ceiling",
    "timm_correlations",
    "timm_refusals",
    "timm_rows",
    "FAMILY_TABLE",
    "TIMM_FAMILY",
    "declared_family",
    "family_findings",
    "family_level",
    "timm_by_resolution",
    "two_resolution_pg",
    "two_resolution_weights",
    "device_agreement_table",
    "proxy_provenance",
    "sample_correlations",
    "proxy_sample",
    "timm_non_finite",
]


#: The claims this chapter tests, each read from the table the notebook writes (the findings it opens with): the
#: declared family of zoo comparisons (timm's, exploratory, then its replication on the other zoos:
#: :func:`family_findings`), then NN-Mass's Table 1.
FINDINGS: tuple[MatchFinding | PairedFinding, ...] = (
    *family_findings(),
    MatchFinding(
        "NN-Mass of the five models of Bhardwaj et al.'s Table 1",
        "NN-Mass Table 1 (Bhardwaj et al.)",
        ("nnmass_table1_vs_paper.csv",),
        ("NN-Mass",),
    ),
)
