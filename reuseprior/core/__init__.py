"""Core layer: what every other layer may use and which uses nothing of the package above it.

- The package's policies in one place each: the error classes (:mod:`.errors`), the verdict policy of
  the trained studies (:mod:`.verdict_policy`: verdict words, level, rule, when a run counts), every
  path (:mod:`.paths`), floating-point precision (:mod:`.precision`) and the kernels behind a result
  (:mod:`.cpu`).
- Files and stores: atomic writes and file locks (:mod:`.files`), ``torch.load(weights_only=True)``
  files (:mod:`.torch_files`), the check of a stored CSV's rows (:mod:`.stored_rows`).
- Running work: the study engine (:mod:`.study`: a declared ``StudySpec``, its runs stored one by one,
  claimed by one process at a time: :mod:`.claims`), the Dask runner every resumable computation
  shares (:mod:`.distributed`), memory and cores (:mod:`.memory`), SIGTERM as Ctrl-C
  (:mod:`.interrupts`), progress bars and batch runs (:mod:`.progress`), a run's seed and device
  (:mod:`.runtime`).
- Declarations: registries that list themselves (:mod:`.registry`: one per kind of declared thing,
  filled where each is declared: studies, chapters, zoos, models), a study's entry in its registry
  (:mod:`.declared_study`: its description, actions, profiles and what it reads of a request),
  ``module:factory`` specs and their
  messages (:mod:`.factories`), typed settings read as a mapping (:mod:`.profiles`: the profiles'
  base).
- Small shared rules: argument validation (:mod:`.validation`), the one parameter counter
  (:mod:`.parameters`) and row orders made total by tie-breaks (:mod:`.ordering`).
"""
