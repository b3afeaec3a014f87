"""Chapter 7 (beyond the thesis): the sharing schemes of the related works at matched
parameter budgets, counted by the engine, trained, and ranked by the reusability prior.

The question (none of the thesis, NPAS or Bidart asks it): at equal parameter
budget, does the reusability prior (thesis chapter 4: PG eq. 4.7, P'G eq. 4.8,
expected spread ES eq. 4.2, entropy H eq. 4.4) rank the sharing schemes the way
training does? Everything the notebook ``ch7_sharing_schemes`` shows is built here:

* :class:`SchemeConfig` -- one sharing configuration of the study: a scheme of
  :mod:`reuseprior.models.sharing` (``scope``: thesis sections 4.5.3-4.5.4;
  ``channelwise``: Bidart 2023, chapter 3, Table 3.3; ``ssn``: Plummer et al.,
  NPAS, section 3), ``scope+channelwise`` (channel-wise kernels inside scope
  sharing), the unshared model (``none``) and the **unshared narrower model at
  the same budget** (``narrow``, NPAS's "reduced baseline" of Tables 7-9 and 14),
  at a named budget;
* :func:`study_budgets` -- the matched budgets, as parameter counts of the whole
  model (every parameter, batch norm and biases included): the full model, the
  budget scope sharing lands on, the budgets channel-wise sharing lands on, the
  budget of both, and fractions of the model that only the budget-driven schemes
  (SSN, the narrower model) reach (NPAS Table 14's percentages in the paper profile);
* :func:`sharing_study` -- the trained study, declared (a
  :class:`~reuseprior.core.study.StudySpec` that :mod:`reuseprior.core.study` runs, resumable: one
  row per (configuration, seed) written atomically to a CSV, ``data/sharing_study_runs.csv`` for the
  stored study, so an interruption loses at most the running rows and a rerun skips the finished
  ones); ``python -m reuseprior study ch7`` runs a profile's studies (:mod:`.study`). A seed gives
  every configuration the same split, data order and base-model initialisation;
* :func:`summarize`, :func:`ranking_agreement`, :func:`rank_table`,
  :func:`disagreements` -- the prior's ranking against the trained ranking
  (Spearman and Kendall, pooled over all configurations and within matched
  budgets: each the mean over the seeds of the per-seed statistic with its
  t-interval) and where they disagree;
* :mod:`.resolution` -- what the seeds resolve (:func:`resolved_pairs`,
  :func:`resolved_by_score`, :func:`resolved_figure_tables`), the scores set by the SSN counting convention
  (:func:`convention_dependence`), the primary test and the secondary family
  (:func:`verdict_family`), a score against #params
  (:func:`score_against_params`), the plateau threshold's noise and
  sensitivity (:func:`plateau_noise`, :func:`plateau_sensitivity`); and
  :func:`reading` (:mod:`.reading`), the reading generated from them;
* :func:`retrain_cheapest_runs` -- the first epoch of the cheapest stored run recomputed and
  compared with its stored history (counted columns within :data:`LIVE_TOLERANCE`);
* :func:`study_floor`, :func:`run_criteria_table`, :func:`counting_seeds` -- the
  linear floor of the study's images, the per-run convergence and fit criteria
  (:mod:`reuseprior.training.convergence`) and the seeds whose runs all count (when a verdict may
  be computed: :func:`reuseprior.reporting.verdicts.decidability`);
* :func:`store_bookkeeping` / :func:`read_bookkeeping` -- every scheme on the
  seeds' models (WRN-28-10, ResNet-56, EfficientNet-B0, EfficientNetV2-S) at
  matched budgets, with parameters, FLOPs, PG, P'G, ES, H at 32x32, untrained:
  stored in ``data/ch7_bookkeeping.csv`` (about ten minutes of the engine on one
  CPU core), one row recomputed live (:func:`bookkeeping_live_check`);
* :func:`generator_sensitivity` (:mod:`.sensitivity`) -- the trained study's SSN
  with every generator (RR, Avg, WAvg, Emb) and upsampler (Repeat, Inter, Mask)
  at its budgets, counted (parameters, PG, P'G, ES, H, NG) beside the same-budget
  configurations, with the change against the study's Emb + Mask and the SSN's
  rank in its budget; stored in ``data/ch7_generator_sensitivity.csv``
  (:func:`store_generator_sensitivity`), recomputed in full live
  (:func:`sensitivity_live_check`) and read by :func:`sensitivity_reading`.

Semantics of the runs' columns: ``params`` counts every parameter of the model
as built (:func:`reuseprior.core.parameters.count_parameters`: stores, batch
norm, biases; a tied weight once); ``flops`` is one forward pass of one image
(:func:`reuseprior.baselines.complexity.count_flops`, 2 per multiply-add of
the convolutions and matrix products only): of a generator's operations only
its matrix products count (the Emb generator's linear layer ``E``); template
mixing (multiply and sum), masks, repeats, slicing and interpolation are
elementwise and count 0; the prior's quantities come from :func:`reuseprior.counting.analyze`
on the model as built (eval mode, one input of the training resolution), so a
stored parameter that generates several weights gets the contexts of every use;
``peak_memory_mb`` is the process's peak resident set size during the run
(the high-water mark is reset when the run starts, Linux ``clear_refs``; it
includes the dataset held in memory).

Data policy: the quick profile trains on Fashion-MNIST (shipped offline by
``python -m reuseprior data fetch fashion-mnist``) and never falls back to other
data: a missing dataset raises :class:`~reuseprior.core.errors.DatasetNotFoundError`
naming the command that fetches it. The test split is evaluated once, after
training; the validation split (10 % of the training files, seeded) is the only
data any other decision sees.
"""

from __future__ import annotations

from reuseprior.chapters import register_chapter
from reuseprior.chapters.ch7_sharing_schemes.bookkeeping import (
    READING_NOTES,
    bookkeeping_live_check,
    bookkeeping_wide,
    class_count_choices,
    context_mass_shares,
    depthwise_context_shares,
    printed_number,
    printed_numbers,
    read_bookkeeping,
    reading_notes,
    sharing_shifts,
    store_bookkeeping,
)
from reuseprior.chapters.ch7_sharing_schemes.configs import (
    BIDART_DESIGN,
    CPU_DESIGN,
    NPAS_DESIGN,
    PRIOR_SCORES,
    PROFILES,
    SCORE_LABELS,
    SSN_OPTIONS,
    STORED_RUNS,
    SharingDesign,
)
from reuseprior.chapters.ch7_sharing_schemes.criteria import (
    complete_seeds,
    counting_seeds,
    criteria_summary,
    floor_check,
    read_floor,
    run_criteria_table,
    study_floor,
    verdicts_beside,
)
from reuseprior.chapters.ch7_sharing_schemes.models import (
    build_config_model,
    build_needs,
    narrow_width,
    study_budgets,
)
from reuseprior.chapters.ch7_sharing_schemes.plots import (
    describe_study,
    plot_accuracy_vs_parameters,
    plot_prior_vs_accuracy,
    settings_table,
)
from reuseprior.chapters.ch7_sharing_schemes.profile import (
    NOT_RUN_NARROW_WRN,
    parameters_to_overrides,
    printed_beside_trained,
    profile_rows,
)
from reuseprior.chapters.ch7_sharing_schemes.ranking import (
    disagreements,
    per_seed_agreement,
    rank_table,
    ranking_agreement,
    study_rows,
    summarize,
)
from reuseprior.chapters.ch7_sharing_schemes.reading import (
    reading,
)
from reuseprior.chapters.ch7_sharing_schemes.resolution import (
    convention_dependence,
    plateau_noise,
    plateau_sensitivity,
    resolved_by_score,
    resolved_figure_tables,
    resolved_pairs,
    score_against_params,
    verdict_family,
)
from reuseprior.chapters.ch7_sharing_schemes.runs import (
    ROW_COLUMNS,
    read_runs,
    retrain_cheapest_runs,
    sharing_study,
    validate_runs,
)
from reuseprior.chapters.ch7_sharing_schemes.sensitivity import (
    counted_against_runs,
    generator_sensitivity,
    read_generator_sensitivity,
    sensitivity_live_check,
    sensitivity_reading,
    ssn_budgets,
)
from reuseprior.reporting.findings import PairedFinding

#: this chapter, as the book and the build command list it (reuseprior.chapters.CHAPTERS)
CHAPTER = register_chapter(
    __name__,
    part="Beyond the thesis",
    title="Chapter 7: sharing schemes at matched budgets, counted, trained and ranked by the reusability prior",
)

__all__ = [
    "FINDINGS",
    "BIDART_DESIGN",
    "CPU_DESIGN",
    "NOT_RUN_NARROW_WRN",
    "NPAS_DESIGN",
    "PRIOR_SCORES",
    "PROFILES",
    "READING_NOTES",
    "ROW_COLUMNS",
    "SCORE_LABELS",
    "SSN_OPTIONS",
    "STORED_RUNS",
    "SharingDesign",
    "bookkeeping_live_check",
    "bookkeeping_wide",
    "build_config_model",
    "build_needs",
    "class_count_choices",
    "complete_seeds",
    "context_mass_shares",
    "convention_dependence",
    "counted_against_runs",
    "counting_seeds",
    "criteria_summary",
    "depthwise_context_shares",
    "describe_study",
    "disagreements",
    "floor_check",
    "generator_sensitivity",
    "retrain_cheapest_runs",
    "narrow_width",
    "parameters_to_overrides",
    "per_seed_agreement",
    "plateau_noise",
    "plateau_sensitivity",
    "plot_accuracy_vs_parameters",
    "plot_prior_vs_accuracy",
    "printed_beside_trained",
    "printed_number",
    "printed_numbers",
    "profile_rows",
    "rank_table",
    "ranking_agreement",
    "read_bookkeeping",
    "read_floor",
    "read_generator_sensitivity",
    "read_runs",
    "reading",
    "reading_notes",
    "resolved_by_score",
    "resolved_figure_tables",
    "resolved_pairs",
    "run_criteria_table",
    "score_against_params",
    "sensitivity_live_check",
    "sensitivity_reading",
    "settings_table",
    "sharing_shifts",
    "sharing_study",
    "ssn_budgets",
    "store_bookkeeping",
    "study_budgets",
    "study_floor",
    "study_rows",
    "summarize",
    "validate_runs",
    "verdict_family",
    "verdicts_beside",
]


#: The claims this chapter tests, each read from the table the notebook writes (the findings it opens with): the
#: primary test first (PG within matched budgets), then PG over all configurations.
FINDINGS: tuple[PairedFinding, ...] = (
    PairedFinding(
        "The prior (PG) ranks sharing schemes at a matched budget as training does (Kendall tau above 0)",
        "Does the prior rank the schemes the way training does?",
        "ranking_agreement.csv",
        {"score": "PG"},
        estimate="kendall within budget",
        unit="Kendall tau",
        low="kendall within budget t low",
        high="kendall within budget t high",
        verdict="kendall within budget verdict",
    ),
    PairedFinding(
        "The prior (PG) ranks all configurations as training does (Spearman rho above 0)",
        "Does the prior rank the schemes the way training does?",
        "ranking_agreement.csv",
        {"score": "PG"},
        estimate="spearman",
        unit="Spearman rho",
        low="spearman t low",
        high="spearman t high",
        verdict="spearman verdict",
    ),
)
