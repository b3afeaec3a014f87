"""Revolver (thesis chapter 3, appendix C): blueprints, a module registry with
scope-name sharing, building blocks (dropout included), training sessions
(a model blueprint with its optimizer, schedule, loss and batch budget),
genotype/phenotype fitness, genetic operators, random search and the genetic
algorithm, population training with checkpoint/resume, and paired-seed
studies of populations stored row by row (:mod:`reuseprior.revolver.population_study`).

    from reuseprior.revolver import Population, PopulationConfig
"""

from reuseprior.revolver.blocks import (
    Builder,
)
from reuseprior.revolver.genotype import (
    genotype_fitness,
)
from reuseprior.revolver.phenotype import phenotype_fitness
from reuseprior.revolver.population import Population, PopulationConfig, config_from_settings, learning_rate
from reuseprior.revolver.registry import (
    ModuleRegistry,
)
from reuseprior.revolver.search import (
    SearchSettings,
    SearchSpace,
    SearchState,
    evolve,
    random_blueprint,
    random_search,
    search_pipeline,
)

__all__ = [
    "Builder",
    "ModuleRegistry",
    "Population",
    "PopulationConfig",
    "SearchSettings",
    "SearchSpace",
    "SearchState",
    "config_from_settings",
    "evolve",
    "genotype_fitness",
    "learning_rate",
    "phenotype_fitness",
    "random_blueprint",
    "random_search",
    "search_pipeline",
]
