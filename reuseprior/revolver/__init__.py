"""Revolver (thesis chapter 3, appendix C): blueprints, a module registry with
scope-name sharing, building blocks (dropout included), training sessions
(a model blueprint with its optimizer, schedule, loss and batch budget),
genotype/phenotype fitness, genetic operators, random search and the genetic
algorithm, population training with checkpoint/resume, and paired-seed
studies of populations stored row by row (:mod:`reuseprior.revolver.population_study`).

    from reuseprior.revolver import Population, PopulationConfig
"""

from reuseprior.revolver.blocks import BlueprintModule, Builder
from reuseprior.revolver.blueprint import Blueprint
from reuseprior.revolver.genotype import genotype_fitness, size_stats
from reuseprior.revolver.operators import copyover, crossover, mutate
from reuseprior.revolver.phenotype import phenotype_fitness
from reuseprior.revolver.population import Population, PopulationConfig, config_from_settings, learning_rate
from reuseprior.revolver.registry import ModuleRegistry, duplicate, enforce_rule4, revoke_uniqueness
from reuseprior.revolver.search import (
    SEARCH_MODES,
    SearchSettings,
    SearchSpace,
    SearchState,
    evolve,
    random_blueprint,
    random_search,
    search_pipeline,
)
from reuseprior.revolver.session import TrainingSession

__all__ = [
    "SEARCH_MODES",
    "Blueprint",
    "BlueprintModule",
    "Builder",
    "ModuleRegistry",
    "Population",
    "PopulationConfig",
    "SearchSettings",
    "SearchSpace",
    "SearchState",
    "TrainingSession",
    "config_from_settings",
    "copyover",
    "crossover",
    "duplicate",
    "enforce_rule4",
    "evolve",
    "genotype_fitness",
    "learning_rate",
    "mutate",
    "phenotype_fitness",
    "random_blueprint",
    "random_search",
    "revoke_uniqueness",
    "search_pipeline",
    "size_stats",
]
