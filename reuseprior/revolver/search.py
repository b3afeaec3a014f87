"""Search strategies and the search pipeline (thesis section 3.4.1,
Algorithm 1): random search, the genetic algorithm (tournament-like parent
pick, hierarchical crossover / copyover / mutation, immigration with a
probability that decreases over generations), the adaptive genotype-fitness
coefficient, and the hierarchical per-module scores (appendix C.3).

Every function takes the population object (``pop``) that owns the explicit
RNG, the registry, the builder, the coefficient and the individuals.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Callable, Optional

import numpy as np

from reuseprior.revolver.blocks import Builder
from reuseprior.revolver.blueprint import Blueprint
from reuseprior.revolver.genotype import genotype_fitness
from reuseprior.revolver.operators import copyover, crossover, mutate
from reuseprior.revolver.registry import ModuleRegistry, duplicate

if TYPE_CHECKING:  # pragma: no cover
    from reuseprior.revolver.population import Population

__all__ = [
    "SEARCH_MODES",
    "SearchSpace",
    "algorithm_for",
    "evolve",
    "immigration_probability",
    "pick_subset",
    "random_blueprint",
    "random_search",
    "search_pipeline",
    "update_module_scores",
]

#: search modes of appendix C.2 (``--search_mode``)
SEARCH_MODES = ("random", "evolve", "random_warmup", "random_warmup_evolve")


@dataclass
class SearchSpace:
    """Bounds of the random generator (section 3.5.5: width and depth from an
    allowed range; the width grows at each resolution reduction). The bounds
    are fixed: sampling never narrows them (a defect of the original)."""

    input_shape: tuple[int, int, int] = (1, 8, 8)
    num_classes: int = 10
    skeletons: tuple[str, ...] = ("resnet", "densenet")
    num_groups: tuple[int, ...] = (2, 3)
    depths: tuple[int, ...] = (1, 2)
    base_widths: tuple[int, ...] = (8, 16)
    width: int = 1
    growths: tuple[int, ...] = (4, 8)
    kernels: tuple[int, ...] = (3, 3, 1, 5)
    res_blocks: tuple[str, ...] = ("residual", "bottleneck")
    dense_groups: tuple[str, ...] = ("dense_concat", "dense_sum")
    stem_kernel: int = 3
    stem_stride: int = 1
    stem_pool: bool = False
    max_depth: int = 4
    random_mutations: tuple[int, ...] = (0, 1, 2)

    @classmethod
    def from_dict(cls, data: dict) -> "SearchSpace":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    def to_dict(self) -> dict:
        return asdict(self)


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def random_blueprint(space: SearchSpace, builder: Builder) -> Blueprint:
    """A random genotype: a skeleton, a number of groups, per-group depth,
    width and block type, plus a few random hierarchical mutations so that
    every building block type can appear (section 3.5.5)."""
    rng = builder.rng
    skeleton = _pick(rng, space.skeletons)
    n_groups = _pick(rng, space.num_groups)
    # keep at least 1x1 resolution after n_groups-1 halvings
    size = min(space.input_shape[1:]) // (space.stem_stride * (2 if space.stem_pool else 1))
    n_groups = max(1, min(n_groups, int(math.log2(max(size, 1))) + 1))
    depths = [int(_pick(rng, space.depths)) for _ in range(n_groups)]
    kernels = [int(_pick(rng, space.kernels)) for _ in range(n_groups)]
    base = int(_pick(rng, space.base_widths)) * space.width
    tag = "".join(map(str, depths)) + f"w{base}k" + "".join(map(str, kernels))
    if skeleton == "resnet":
        kinds = [_pick(rng, space.res_blocks) for _ in range(n_groups)]
        widths = [base * 2**g for g in range(n_groups)]
        name = f"ResNet{tag}" + "".join(k[0] for k in kinds)
        bp = builder.resnet(name, space.input_shape, space.num_classes, widths, depths, kinds, kernels,
                            stem_width=base, stem_kernel=space.stem_kernel, stem_stride=space.stem_stride,
                            stem_pool=space.stem_pool, max_depth=space.max_depth)
    else:
        kinds = [_pick(rng, space.dense_groups) for _ in range(n_groups)]
        growth = int(_pick(rng, space.growths)) * space.width
        growths = [growth * 2**g for g in range(n_groups)]
        depths = [d + 1 for d in depths]
        name = f"DenseNet{tag}g{growth}" + "".join(k[6] for k in kinds)
        bp = builder.densenet(name, space.input_shape, space.num_classes, growths, depths, kinds, kernels,
                              stem_width=base, stem_kernel=space.stem_kernel, stem_stride=space.stem_stride,
                              stem_pool=space.stem_pool)
    for _ in range(int(_pick(rng, space.random_mutations))):
        mutate(bp, builder)
    return bp


# ---------------------------------------------------------------------- algorithms
def random_search(pop: "Population", target: float, exclude: list[int]) -> Optional[Blueprint]:
    """Section 3.4.1.2: up to ``search_budget`` random genotypes; the first
    with genotype fitness better (lower) than ``target`` is returned."""
    for _ in range(pop.config.search_budget):
        bp = random_blueprint(pop.space, pop.builder)
        if genotype_fitness(bp, pop.coefficient) < target:
            bp.meta["origin"] = "random"
            return bp
    return None


def immigration_probability(generation: int, p0: float, half_life: float) -> float:
    """Probability of trying an immigrant; halves every ``half_life`` generations."""
    return p0 * 0.5 ** (generation / half_life) if half_life > 0 else p0


def _tournament(pop: "Population", candidates: list[int], k: int) -> int:
    rng = pop.rng
    picked = [candidates[int(rng.integers(len(candidates)))] for _ in range(min(k, len(candidates)))]
    return min(picked, key=lambda i: (pop.individuals[i].score, i))


def evolve(pop: "Population", target: float, exclude: list[int]) -> Optional[Blueprint]:
    """Section 3.4.1.3: the genetic algorithm.

    With a small, decreasing probability a random immigrant better than the
    top two individuals is returned. Otherwise two parents are picked by
    tournament, duplicated (fresh unique ids), crossed over or copied over,
    mutated, and the better offspring is returned if it beats ``target``."""
    cfg, rng = pop.config, pop.rng
    if rng.random() < immigration_probability(pop.generation, cfg.immigration_p, cfg.immigration_half_life):
        best_two = sorted(ind.score for ind in pop.individuals)[:2]
        threshold = min(best_two)
        for _ in range(cfg.search_budget):
            bp = random_blueprint(pop.space, pop.builder)
            if genotype_fitness(bp, pop.coefficient) < threshold:
                bp.meta["origin"] = "immigrant"
                return bp
    candidates = [i for i in range(len(pop.individuals)) if i not in exclude] or list(range(len(pop.individuals)))
    i1 = _tournament(pop, candidates, cfg.tournament_size)
    rest = [i for i in candidates if i != i1] or candidates
    i2 = _tournament(pop, rest, cfg.tournament_size)
    c1 = duplicate(pop.individuals[i1].blueprint, rng)
    c2 = duplicate(pop.individuals[i2].blueprint, rng)
    for c in (c1, c2):
        c.meta["history"] = []
    r = rng.random()
    if r < cfg.crossover_p:
        crossover(c1, c2, rng)
    elif r < cfg.crossover_p + cfg.copyover_p:
        copyover(c1, c2, rng)
    for c in (c1, c2):
        if rng.random() < cfg.mutation_rate:
            mutate(c, pop.builder)
    scored = sorted(((genotype_fitness(c, pop.coefficient), n, c) for n, c in enumerate((c1, c2))), key=lambda t: t[:2])
    fitness, _, best = scored[0]
    if fitness < target:
        best.meta["origin"] = "evolve"
        best.meta["parents"] = [pop.individuals[i1].uid, pop.individuals[i2].uid]
        return best
    return None


def algorithm_for(mode: str, generation: int, warmup_epoch: int) -> tuple[Callable, bool]:
    """``(search algorithm, is_warmup)`` for a mode of appendix C.2."""
    if mode not in SEARCH_MODES:
        raise ValueError(f"search_mode={mode!r}; choose from {SEARCH_MODES}")
    warm = mode.startswith("random_warmup") and generation < warmup_epoch
    if mode == "evolve" or (mode == "random_warmup_evolve" and not warm):
        return evolve, warm
    return random_search, warm


# ---------------------------------------------------------------------- pipeline
def pick_subset(pop: "Population", n: int, p: float) -> list[int]:
    """``n`` distinct low-performing individuals: with probability ``p``
    each is drawn from the worst quarter, else from the whole population."""
    rng = pop.rng
    order = sorted(range(len(pop.individuals)), key=lambda i: (-pop.individuals[i].score, i))
    worst = order[: max(n, len(order) // 4)]
    chosen: list[int] = []
    while len(chosen) < min(n, len(order)):
        pool = worst if rng.random() < p else order
        pool = [i for i in pool if i not in chosen] or [i for i in order if i not in chosen]
        chosen.append(pool[int(rng.integers(len(pool)))])
    return chosen


def search_pipeline(pop: "Population", algorithm: Callable, adapt: bool = True) -> list[int]:
    """Algorithm 1 with its retry loop: replace low scorers by genotypes
    found by ``algorithm``; the genotype coefficient grows x``coef_up`` on
    success and shrinks x``coef_down`` on failure (held constant during
    warm-up). Returns the replaced indices."""
    cfg = pop.config
    for _ in range(cfg.search_retries):
        discarded = pick_subset(pop, cfg.discard_n, cfg.discard_p)
        replaced = []
        for index in discarded:
            score = pop.individuals[index].score
            bp = algorithm(pop, score, exclude=discarded)
            if bp is None:
                if adapt:
                    pop.coefficient *= cfg.coef_down
            else:
                pop.replace_individual(index, bp)
                replaced.append(index)
                if adapt:
                    pop.coefficient *= cfg.coef_up
        if replaced:
            return replaced
    return []


# ---------------------------------------------------------------------- module scores
def update_module_scores(bp: Blueprint, score: float, registry: ModuleRegistry, weight: float = 0.5,
                         registry_rate: float = 0.05) -> None:
    """Move every node's score toward ``0.7*new + 0.2*mean(children) +
    0.1*registry score`` (weight 0.5); shared nodes also update their
    registry score (EMA 0.05). Post-order, lower is better (appendix C.3)."""

    def visit(node: Blueprint) -> float:
        child_scores = [visit(c) for c in node.children.values()]
        parts, weights = [0.7 * score], [0.7]
        if child_scores:
            parts.append(0.2 * float(np.mean(child_scores)))
            weights.append(0.2)
        if not node.unique and node.name in registry.scores:
            parts.append(0.1 * registry.scores[node.name])
            weights.append(0.1)
        target = sum(parts) / sum(weights)
        old = node.meta.get("score")
        new = target if old is None else (1 - weight) * old + weight * target
        node.meta["score"] = new
        if not node.unique:
            registry.update_score(node.name, new, registry_rate)
        return new

    visit(bp)
