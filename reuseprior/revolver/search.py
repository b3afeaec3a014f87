"""Search strategies and the search pipeline (thesis section 3.4.1,
Algorithm 1): random search, the genetic algorithm (tournament-like parent
pick, hierarchical crossover / copyover / mutation, immigration with a
probability that decreases over generations), the adaptive genotype-fitness
coefficient, and the hierarchical per-module scores (appendix C.3).

Interface: every step takes a :class:`SearchState`, the part of a population
that search reads and changes: the explicit RNG, the search space and block
builder, the :class:`SearchSettings` (appendix C.2 flags), the genotype
coefficient, the generation and the individuals (anything with ``uid``,
``blueprint`` and ``score``, :class:`Member`), plus the ``replace`` callback
through which the owner installs a found genotype. Search keeps no state of
its own and knows nothing of the population that owns these values; every
random draw goes through ``state.rng`` in a fixed order, so a seeded run is
reproducible.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Callable, MutableSequence, Optional, Protocol

import numpy as np

from reuseprior.revolver.blocks import Builder
from reuseprior.revolver.blueprint import Blueprint
from reuseprior.revolver.genotype import genotype_fitness
from reuseprior.revolver.operators import copyover, crossover, mutate
from reuseprior.revolver.registry import ModuleRegistry, duplicate

__all__ = [
    "SEARCH_MODES",
    "Algorithm",
    "Member",
    "SearchSettings",
    "SearchSpace",
    "SearchState",
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
    are fixed: sampling never narrows them."""

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


class Member(Protocol):
    """What search reads of an individual: its unique id (recorded as a
    parent), its genotype and its score (lower is better)."""

    uid: int
    blueprint: Blueprint
    score: float


@dataclass(frozen=True)
class SearchSettings:
    """The hyperparameters search uses (appendix C.2 flags), read from a
    ``PopulationConfig`` by :meth:`from_config`."""

    search_budget: int  # random genotypes tried per search (section 3.4.1.2)
    tournament_size: int  # parents drawn per tournament (section 3.4.1.3)
    crossover_p: float
    copyover_p: float
    mutation_rate: float
    immigration_p: float  # immigration probability at generation 0 ...
    immigration_half_life: float  # ... halved every this many generations
    discard_n: int  # individuals replaced per pass of Algorithm 1
    discard_p: float  # probability of drawing a discarded one from the worst quarter
    search_retries: int  # passes of Algorithm 1 until one replaces somebody
    coef_up: float  # genotype coefficient factor after a success ...
    coef_down: float  # ... and after a failure

    @classmethod
    def from_config(cls, config: Any) -> "SearchSettings":
        """The fields of this class read by name from ``config`` (a
        ``PopulationConfig`` or anything with the same attributes)."""
        return cls(**{f.name: getattr(config, f.name) for f in fields(cls)})


@dataclass
class SearchState:
    """What one search step reads and changes.

    ``members`` is the owner's live list of individuals: ``replace(index,
    blueprint, fitness)`` must put a new individual holding ``blueprint`` with
    score ``fitness`` (its genotype fitness under the current coefficient) at
    ``members[index]``, so that later draws of the same step see it, as in
    Algorithm 1. ``coefficient`` is the adaptive genotype coefficient
    (section 3.4.1); :func:`search_pipeline` updates it here and the owner
    reads it back. ``rng`` is the only source of randomness; ``builder``
    draws from the same generator."""

    rng: np.random.Generator
    space: SearchSpace
    builder: Builder
    settings: SearchSettings
    members: MutableSequence[Member]
    coefficient: float
    generation: int
    replace: Callable[[int, Blueprint, float], None]


#: a search algorithm: ``(state, target score, excluded indices) -> genotype or None``
Algorithm = Callable[[SearchState, float, list[int]], Optional[Blueprint]]


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
        bp = builder.resnet(
            name,
            space.input_shape,
            space.num_classes,
            widths,
            depths,
            kinds,
            kernels,
            stem_width=base,
            stem_kernel=space.stem_kernel,
            stem_stride=space.stem_stride,
            stem_pool=space.stem_pool,
            max_depth=space.max_depth,
        )
    else:
        kinds = [_pick(rng, space.dense_groups) for _ in range(n_groups)]
        growth = int(_pick(rng, space.growths)) * space.width
        growths = [growth * 2**g for g in range(n_groups)]
        depths = [d + 1 for d in depths]
        name = f"DenseNet{tag}g{growth}" + "".join(k[6] for k in kinds)
        bp = builder.densenet(
            name,
            space.input_shape,
            space.num_classes,
            growths,
            depths,
            kinds,
            kernels,
            stem_width=base,
            stem_kernel=space.stem_kernel,
            stem_stride=space.stem_stride,
            stem_pool=space.stem_pool,
        )
    for _ in range(int(_pick(rng, space.random_mutations))):
        mutate(bp, builder)
    return bp


# ---------------------------------------------------------------------- algorithms
def random_search(state: SearchState, target: float, exclude: list[int]) -> Optional[Blueprint]:
    """Section 3.4.1.2: up to ``search_budget`` random genotypes; the first
    with genotype fitness better (lower) than ``target`` is returned."""
    for _ in range(state.settings.search_budget):
        bp = random_blueprint(state.space, state.builder)
        if genotype_fitness(bp, state.coefficient) < target:
            bp.meta["origin"] = "random"
            return bp
    return None


def immigration_probability(generation: int, p0: float, half_life: float) -> float:
    """Probability of trying an immigrant; halves every ``half_life`` generations."""
    return p0 * 0.5 ** (generation / half_life) if half_life > 0 else p0


def _tournament(state: SearchState, candidates: list[int], k: int) -> int:
    rng = state.rng
    picked = [candidates[int(rng.integers(len(candidates)))] for _ in range(min(k, len(candidates)))]
    return min(picked, key=lambda i: (state.members[i].score, i))


def evolve(state: SearchState, target: float, exclude: list[int]) -> Optional[Blueprint]:
    """Section 3.4.1.3: the genetic algorithm.

    With a small, decreasing probability a random immigrant better than the
    top two individuals is returned. Otherwise two parents are picked by
    tournament, duplicated (fresh unique ids), crossed over or copied over,
    mutated, and the better offspring is returned if it beats ``target``."""
    cfg, rng, members = state.settings, state.rng, state.members
    if rng.random() < immigration_probability(state.generation, cfg.immigration_p, cfg.immigration_half_life):
        best_two = sorted(m.score for m in members)[:2]
        threshold = min(best_two)
        for _ in range(cfg.search_budget):
            bp = random_blueprint(state.space, state.builder)
            if genotype_fitness(bp, state.coefficient) < threshold:
                bp.meta["origin"] = "immigrant"
                return bp
    candidates = [i for i in range(len(members)) if i not in exclude] or list(range(len(members)))
    i1 = _tournament(state, candidates, cfg.tournament_size)
    rest = [i for i in candidates if i != i1] or candidates
    i2 = _tournament(state, rest, cfg.tournament_size)
    c1 = duplicate(members[i1].blueprint, rng)
    c2 = duplicate(members[i2].blueprint, rng)
    for c in (c1, c2):
        c.meta["history"] = []
    r = rng.random()
    if r < cfg.crossover_p:
        crossover(c1, c2, rng)
    elif r < cfg.crossover_p + cfg.copyover_p:
        copyover(c1, c2, rng)
    for c in (c1, c2):
        if rng.random() < cfg.mutation_rate:
            mutate(c, state.builder)
    scored = sorted(
        ((genotype_fitness(c, state.coefficient), n, c) for n, c in enumerate((c1, c2))), key=lambda t: t[:2]
    )
    fitness, _, best = scored[0]
    if fitness < target:
        best.meta["origin"] = "evolve"
        best.meta["parents"] = [members[i1].uid, members[i2].uid]
        return best
    return None


def algorithm_for(mode: str, generation: int, warmup_epoch: int) -> tuple[Algorithm, bool]:
    """``(search algorithm, is_warmup)`` for a mode of appendix C.2."""
    if mode not in SEARCH_MODES:
        raise ValueError(f"search_mode={mode!r}; choose from {SEARCH_MODES}")
    warm = mode.startswith("random_warmup") and generation < warmup_epoch
    if mode == "evolve" or (mode == "random_warmup_evolve" and not warm):
        return evolve, warm
    return random_search, warm


# ---------------------------------------------------------------------- pipeline
def pick_subset(state: SearchState, n: int, p: float) -> list[int]:
    """``n`` distinct low-performing individuals: with probability ``p``
    each is drawn from the worst quarter, else from the whole population."""
    rng, members = state.rng, state.members
    order = sorted(range(len(members)), key=lambda i: (-members[i].score, i))
    worst = order[: max(n, len(order) // 4)]
    chosen: list[int] = []
    while len(chosen) < min(n, len(order)):
        pool = worst if rng.random() < p else order
        pool = [i for i in pool if i not in chosen] or [i for i in order if i not in chosen]
        chosen.append(pool[int(rng.integers(len(pool)))])
    return chosen


def search_pipeline(state: SearchState, algorithm: Algorithm, adapt: bool = True) -> list[int]:
    """Algorithm 1 with its retry loop: replace low scorers by genotypes
    found by ``algorithm``; the genotype coefficient (``state.coefficient``)
    grows x``coef_up`` on success and shrinks x``coef_down`` on failure (held
    constant during warm-up, ``adapt=False``). A found genotype enters with
    its genotype fitness under the coefficient it was found with, through
    ``state.replace``. Returns the replaced indices."""
    cfg = state.settings
    for _ in range(cfg.search_retries):
        discarded = pick_subset(state, cfg.discard_n, cfg.discard_p)
        replaced = []
        for index in discarded:
            score = state.members[index].score
            bp = algorithm(state, score, exclude=discarded)
            if bp is None:
                if adapt:
                    state.coefficient *= cfg.coef_down
            else:
                state.replace(index, bp, genotype_fitness(bp, state.coefficient))
                replaced.append(index)
                if adapt:
                    state.coefficient *= cfg.coef_up
        if replaced:
            return replaced
    return []


# ---------------------------------------------------------------------- module scores
def update_module_scores(
    bp: Blueprint, score: float, registry: ModuleRegistry, weight: float = 0.5, registry_rate: float = 0.05
) -> None:
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
