"""reuseprior: the reference reproduction of *The Reusability Prior in Deep
Learning Models* (Polat, PhD thesis 2023; Mach. Learn.: Sci. Technol. 4
025011).

The public API is importable from the top level and loads lazily, so that
``import reuseprior`` is instant::

    from reuseprior import analyze, count_contexts
    report = analyze(model, torch.zeros(1, 3, 224, 224))
    print(report.PG, report.PG_prime)

The package has four layers; imports point one way only, from a layer to
the layers below it (``tests/test_architecture.py`` checks it)::

    commands  ->  chapters  ->  library  ->  core

* ``core``: what every layer shares and which imports nothing above it:
  errors, paths, atomic files and stores, the study engine (a declared
  study's runs, stored one by one) and the Dask runner, the registries that
  list what is declared (studies, chapters, zoos), ``module:factory`` specs,
  the verdict policy, typed profiles, argument validation and the parameter
  counter (:mod:`reuseprior.core` lists them).
* library: ``counting`` (graph capture, per-op count rules, the thesis
  quantities), ``graphs`` (neuron-level graphs, horizontal unrolling),
  ``priors`` (chapter 5 energy priors and sympy derivations), ``models``
  (builders and cross-layer sharing), ``baselines`` (training-free proxies,
  NN-Mass, params and FLOPs), ``datasets``, ``training``, ``revolver``
  (chapter 3's search), ``zoo`` (scored model zoos, store, Dask runner,
  searches of NAS-Bench-201 from the stored scores), ``analysis`` (a user's
  models compared by the prior) and ``reporting`` (notebook set-up, the
  thesis's printed numbers, plots, the notebook build and the book). Library modules know nothing of chapters or
  commands.
* ``chapters``: one driver per notebook (its typed profiles and its table
  and figure functions).
* ``commands``: ``python -m reuseprior <command>`` (also the ``reuseprior``
  console script).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "count_contexts": "reuseprior.counting.quantities",
    "analyze": "reuseprior.counting.quantities",
    "Report": "reuseprior.counting.quantities",
    "compare": "reuseprior.analysis.compare",
    "Comparison": "reuseprior.analysis.compare",
    "ProxyBatch": "reuseprior.baselines.proxies",
    "WeightUse": "reuseprior.counting.quantities",
    "UnsupportedOpError": "reuseprior.core.errors",
    "CaptureError": "reuseprior.core.errors",
    "InputRefusedError": "reuseprior.core.errors",
    "OutputKeyError": "reuseprior.core.errors",
    "DataDependentShapeError": "reuseprior.core.errors",
    "DataDependentCountWarning": "reuseprior.core.errors",
    "build_model": "reuseprior.models.registry",
    "register_model": "reuseprior.models.registry",
    "share_parameters": "reuseprior.models.sharing.scope",
    "efficientnet_v2": "reuseprior.models.efficientnet_v2",
    "compare_priors": "reuseprior.priors.energy",
    "path_discounted_prior": "reuseprior.priors.energy",
    "ReusabilityPrior": "reuseprior.priors.energy",
    "PathDiscountedPrior": "reuseprior.priors.energy",
    "HypotheticalPrior": "reuseprior.priors.energy",
    "Population": "reuseprior.revolver.population",
    "PopulationConfig": "reuseprior.revolver.population",
    "ModuleRegistry": "reuseprior.revolver.registry",
    "Blueprint": "reuseprior.revolver.blueprint",
    "fit": "reuseprior.training.loop.fitting",
    "TrainConfig": "reuseprior.training.loop.config",
    "load_thesis_table": "reuseprior.reporting.reference",
    "side_by_side": "reuseprior.reporting.reference",
    "load_digits_splits": "reuseprior.datasets.splits",
    "load_torchvision_splits": "reuseprior.datasets.splits",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'reuseprior' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
