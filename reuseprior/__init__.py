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

* ``core``: errors, atomic file writes, paths, argument validation, the
  parameter counter; nothing else of the package.
* library: ``counting`` (graph capture, per-op count rules, the thesis
  quantities), ``graphs`` (neuron-level graphs, horizontal unrolling),
  ``priors`` (chapter 5 energy priors and sympy derivations), ``models``
  (builders and cross-layer sharing), ``baselines`` (training-free proxies,
  NN-Mass, params and FLOPs), ``datasets``, ``training``, ``revolver``
  (chapter 3's search), ``zoo`` (scored model zoos, store, Dask runner) and
  ``reporting`` (notebook set-up, the thesis's printed numbers, plots, the
  notebook build and the book). Library modules know nothing of chapters or
  commands.
* ``chapters``: one driver per notebook (its typed profiles and its table
  and figure functions).
* ``commands``: ``python -m reuseprior <command>`` (also the ``reuseprior``
  console script).

Module paths of release 0.1 (``reuseprior.proxies``, ``reuseprior.cli``, ...)
still import, with a ``DeprecationWarning`` naming the new path; they are
removed in 0.3.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from typing import Any

__version__ = "0.2.0"

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "count_contexts": "reuseprior.counting",
    "analyze": "reuseprior.counting",
    "Report": "reuseprior.counting",
    "WeightUse": "reuseprior.counting",
    "UnsupportedOpError": "reuseprior.counting",
    "build_model": "reuseprior.models",
    "register_model": "reuseprior.models",
    "share_parameters": "reuseprior.models.sharing",
    "efficientnet_v2": "reuseprior.models.efficientnet_v2",
    "compare_priors": "reuseprior.priors.energy",
    "path_discounted_prior": "reuseprior.priors.energy",
    "ReusabilityPrior": "reuseprior.priors.energy",
    "PathDiscountedPrior": "reuseprior.priors.energy",
    "HypotheticalPrior": "reuseprior.priors.energy",
    "Population": "reuseprior.revolver",
    "PopulationConfig": "reuseprior.revolver",
    "ModuleRegistry": "reuseprior.revolver",
    "Blueprint": "reuseprior.revolver",
    "fit": "reuseprior.training.loop",
    "TrainConfig": "reuseprior.training.loop",
    "load_thesis_table": "reuseprior.reporting.reference",
    "side_by_side": "reuseprior.reporting.reference",
    "load_digits_splits": "reuseprior.datasets",
    "load_torchvision_splits": "reuseprior.datasets",
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


#: module paths of release 0.1 -> their place in the layered layout (0.2)
MOVED_MODULES: dict[str, str] = {
    "reuseprior.files": "reuseprior.core.files",
    "reuseprior.paths": "reuseprior.core.paths",
    "reuseprior.validation": "reuseprior.core.validation",
    "reuseprior.energy": "reuseprior.priors.energy",
    "reuseprior.derivations": "reuseprior.priors.derivations",
    "reuseprior.sharing": "reuseprior.models.sharing",
    "reuseprior.proxies": "reuseprior.baselines.proxies",
    "reuseprior.nnmass": "reuseprior.baselines.nnmass",
    "reuseprior.augment": "reuseprior.training.augment",
    "reuseprior.data": "reuseprior.datasets",
    "reuseprior.notebook": "reuseprior.reporting.notebook",
    "reuseprior.reference": "reuseprior.reporting.reference",
    "reuseprior.plotting": "reuseprior.reporting.plotting",
    "reuseprior.build": "reuseprior.reporting.build",
    "reuseprior.book": "reuseprior.reporting.book",
    "reuseprior.revolver.analysis": "reuseprior.chapters.ch3_revolver",
    "reuseprior.contexts": "reuseprior.chapters.ch4_contexts",
    "reuseprior.graph_tables": "reuseprior.chapters.ch4_graph_tables",
    "reuseprior.sharing_training": "reuseprior.chapters.ch4_sharing_training",
    "reuseprior.depth_width": "reuseprior.chapters.ch5_depth_width",
    "reuseprior.energy_experiments": "reuseprior.chapters.ch5_energy_priors",
    "reuseprior.zoo.predictive_validity": "reuseprior.chapters.ch6_predictive_validity",
    "reuseprior.cli": "reuseprior.commands",
    "reuseprior.cli_data": "reuseprior.commands.data",
    "reuseprior.cli_train": "reuseprior.commands.train",
    "reuseprior.revolver.cli": "reuseprior.commands.revolver",
    "reuseprior.zoo.cli_score": "reuseprior.commands.score_zoos",
    "reuseprior.counting.cli_analyze": "reuseprior.commands.analyze",
}


class _MovedModuleLoader(importlib.abc.Loader):
    """Import of an old module path: the new module itself, with a warning."""

    def __init__(self, new_name: str) -> None:
        self.new_name = new_name

    def create_module(self, spec):
        warnings.warn(
            f"{spec.name} moved to {self.new_name}; import it from there (the old path goes in 0.3)",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module(self.new_name)

    def exec_module(self, module) -> None:
        pass


class _MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Resolves the old module paths of :data:`MOVED_MODULES` (deprecated aliases)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in MOVED_MODULES:
            return importlib.util.spec_from_loader(fullname, _MovedModuleLoader(MOVED_MODULES[fullname]))
        return None


if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModuleFinder())
