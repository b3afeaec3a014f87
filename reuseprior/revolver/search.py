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
import time
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Callable, Mapping, MutableSequence, Optional, Protocol

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
    "screened",
    "search_pipeline",
    "update_module_scores",
]

#: search modes of appendix C.2 (``--search_mode``)
SEARCH_MODES = ("random", "evolve", "random_warmup", "random_warmup_evolve")


@dataclass
class SearchSpace:
    """Bounds of the random generator (section 3.5.5: width and depth from an
    allowed range; the width grows at each resolution reduction). The bounds
    are fixed: sampling never narrows them.

    A model draws a skeleton, a number of groups, per-group depth and kernel,
    one base width (times ``width``; ResNet group ``g`` has ``base * 2**g``
    channels), for DenseNets one growth (times ``width``, doubled per group,
    each group ``depth + 1`` units deep), per-group block kinds, one dropout
    rate from ``dropout_rates`` (none when empty) and a few random mutations.
    ``max_depth`` bounds the depth mutation of ResNet groups.

    ``SearchSpace()`` is the small space of the quick CPU profile; without
    dropout rates it draws exactly what it drew before dropout existed.
    :meth:`thesis` gives the thesis-scale space and :meth:`from_settings`
    reads a profile's settings.
    """

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
    dropout_rates: tuple[float, ...] = ()
    max_doublings: int | None = None

    @classmethod
    def thesis(cls, input_shape: tuple[int, int, int], num_classes: int, width: int = 1) -> "SearchSpace":
        """The thesis-scale space (section 3.5, Table 3.2, Table C.1).

        Why these bounds: the thesis's top models hold 0.62-3.1M parameters
        (Table 3.2) and its top shared convolutions have up to 512 and 1024
        input channels (Table C.1). The original generator drew 3- and
        4-group skeletons of 8-64 channels whose 4-group forms repeat the
        last width, 2-12 blocks per group, a width multiplier from
        ``1..--width`` (``--width`` 1 for CIFAR-10, 2 for MNIST, appendix
        C.2), and put dropout of rate 0.5 in every generated block.

        Here: 3 or 4 groups; 2, 3, 4 or 6 blocks per ResNet group (3, 4, 5
        or 7 units per dense group), up to ``max_depth`` 12 by depth
        mutation; base widths 16 or 32 and DenseNet growths 8 or 16, each
        times a multiplier drawn from ``1..width`` (so ``width`` plays the
        part of ``--width``; the fixed ``width`` field stays 1); widths and
        growths double per group at most twice (``max_doublings``, the
        repeated last width); kernels, block kinds, the 3x3 stride-1 stem
        without pooling and the 0-2 random mutations as the default space;
        dropout 0.5 in every generated block. ResNet groups reach 128
        channels at width 1 (256 at width 2), DenseNet concatenations about
        570 (about 1,050 at width 2).

        Measured (seed 0, 200 random blueprints per row, aggressive sharing,
        distinct parameters, equal to ``count_parameters`` of the built
        model; median / 90th percentile / largest / widest convolution):

        ===========  =====  ======  =====  ======  ===============
        input        width  median  p90    max     widest conv
        ===========  =====  ======  =====  ======  ===============
        3x32x32      1      164K    1.03M  4.12M   568 channels
        3x32x32      2      305K    1.86M  11.3M   1,048 channels
        1x28x28      1      163K    1.02M  4.12M   568 channels
        1x28x28      2      291K    1.72M  11.3M   1,048 channels
        1x14x14      1      138K    0.79M  2.86M   538 channels
        ===========  =====  ======  =====  ======  ===============

        For comparison, ``SearchSpace()`` gives 9K / 41K / 0.16M / 92
        channels at width 1 (33K / 162K / 0.65M / 184 at width 2), and a
        space of base widths 16/32, growths 8/12, depths 1-3 and 3 groups
        gives 69K / 253K / 0.71M / 212 (width 1).
        Keeping the better half of twice the population by genotype fitness
        (Algorithm 2 favours larger models) leaves initial CIFAR-10
        populations with medians of 230-250K; models above 16M weights are
        discarded as always.
        """
        multipliers = range(1, int(width) + 1)
        return cls(
            input_shape=tuple(input_shape),
            num_classes=int(num_classes),
            num_groups=(3, 4),
            depths=(2, 3, 4, 6),
            base_widths=tuple(b * m for m in multipliers for b in (16, 32)),
            growths=tuple(g * m for m in multipliers for g in (8, 16)),
            max_depth=12,
            dropout_rates=(0.5,),
            max_doublings=2,
        )

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, Any], input_shape: tuple[int, int, int], num_classes: int
    ) -> "SearchSpace":
        """The space a profile's settings name: ``settings["space"]`` picks
        the preset (``"default"``, the default, or ``"thesis"``, whose
        ``settings["width"]`` is the largest width multiplier, see
        :meth:`thesis`); any other key that is a field of this class
        (``base_widths``, ``depths``, ``num_groups``, ``growths``,
        ``dropout_rates``, ``max_depth`` ...) then overrides the preset,
        unless it is ``None`` (the preset's value). Lists become tuples;
        unknown keys are ignored (profiles hold other settings too)."""
        preset = settings.get("space", "default")
        if preset == "thesis":
            space = cls.thesis(input_shape, num_classes, int(settings.get("width", 1)))
            skip = {"width"}
        elif preset == "default":
            space = cls(input_shape=tuple(input_shape), num_classes=int(num_classes))
            skip = set()
        else:
            raise ValueError(f"unknown search space preset {preset!r}; choose 'default' or 'thesis'")
        names = {f.name for f in fields(cls)} - {"input_shape", "num_classes"} - skip
        overrides = {
            k: tuple(v) if isinstance(v, list) else v for k, v in settings.items() if k in names and v is not None
        }
        return replace(space, **overrides)

    @classmethod
    def from_dict(cls, data: dict) -> "SearchSpace":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    def to_dict(self) -> dict:
        """The fields as plain data. Fields added after runs were stored
        (``dropout_rates``, ``max_doublings``) are left out at their neutral
        value, so a stored configuration, and any hash of it, stays equal."""
        data = asdict(self)
        for name, neutral in _LATER_FIELDS.items():
            if data[name] == neutral:
                del data[name]
        return data


#: SearchSpace fields added after runs were stored, with their neutral values
_LATER_FIELDS: dict[str, Any] = {"dropout_rates": (), "max_doublings": None}


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


def _doublings(space: SearchSpace, group: int) -> int:
    """How many times group ``group``'s width (or growth) doubled the base."""
    return group if space.max_doublings is None else min(group, space.max_doublings)


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
    # drawn only when the space names rates, so a space without dropout draws as before
    dropout = float(_pick(rng, space.dropout_rates)) if space.dropout_rates else 0.0
    tag = "".join(map(str, depths)) + f"w{base}k" + "".join(map(str, kernels))
    # either skeleton: the space's stem at the base width, and its dropout
    stem_and_dropout: dict[str, Any] = {
        "stem_width": base,
        "stem_kernel": space.stem_kernel,
        "stem_stride": space.stem_stride,
        "stem_pool": space.stem_pool,
        "dropout": dropout,
    }
    if skeleton == "resnet":
        kinds = [_pick(rng, space.res_blocks) for _ in range(n_groups)]
        widths = [base * 2 ** _doublings(space, g) for g in range(n_groups)]
        name = f"ResNet{tag}" + "".join(k[0] for k in kinds)
        bp = builder.resnet(
            name,
            space.input_shape,
            space.num_classes,
            widths,
            depths,
            kinds,
            kernels,
            max_depth=space.max_depth,
            **stem_and_dropout,
        )
    else:
        kinds = [_pick(rng, space.dense_groups) for _ in range(n_groups)]
        growth = int(_pick(rng, space.growths)) * space.width
        growths = [growth * 2 ** _doublings(space, g) for g in range(n_groups)]
        depths = [d + 1 for d in depths]
        name = f"DenseNet{tag}g{growth}" + "".join(k[6] for k in kinds)
        bp = builder.densenet(
            name, space.input_shape, space.num_classes, growths, depths, kinds, kernels, **stem_and_dropout
        )
    for _ in range(int(_pick(rng, space.random_mutations))):
        mutate(bp, builder)
    return bp


# ---------------------------------------------------------------------- algorithms
def random_search(state: SearchState, target: float, exclude: list[int]) -> Optional[Blueprint]:  # noqa: ARG001 - the signature every proxy / hook / builder of its kind takes
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


def screened(
    algorithm: Algorithm,
    score: Callable[[Blueprint], float],
    candidates: int,
    record: Callable[[dict[str, Any]], None] | None = None,
) -> Algorithm:
    """``algorithm`` with its offspring screened by a training-free ``score``
    (beyond the thesis: Revolver with its offspring screened by the prior).

    Each call, i.e. each slot of Algorithm 1 that search tries to fill, asks
    ``algorithm`` for ``candidates`` proposals in turn (the genetic algorithm,
    section 3.4.1.3: each a child, or an immigrant, that already beats the
    slot's ``target`` in genotype fitness, or ``None``), scores every proposal
    with ``score`` (higher is better, as the training-free scores of thesis
    chapter 6 are read) and returns the best-scoring one; ties go to the first drawn,
    a non-finite score ranks below every finite one. ``None`` when no proposal
    beat the target. Only the returned genotype is ever trained: the others
    cost their proposal and their score, no batch.

    ``record`` (optional) receives one dict per call: ``proposals`` (asked
    for), ``found`` (not ``None``), ``best`` (the returned genotype's score,
    NaN when none) and ``seconds`` (spent in ``score``). Every random draw
    stays ``algorithm``'s (through ``state.rng``); ``score`` must draw none
    from it, so a seeded run stays reproducible."""
    if candidates < 1:
        raise ValueError(f"candidates={candidates!r}; at least one proposal per slot")

    def choose(state: SearchState, target: float, exclude: list[int]) -> Optional[Blueprint]:
        found = [bp for bp in (algorithm(state, target, exclude) for _ in range(candidates)) if bp is not None]
        t0 = time.perf_counter()
        keys = [float(score(bp)) for bp in found]
        seconds = time.perf_counter() - t0
        ranked = [k if math.isfinite(k) else -math.inf for k in keys]
        best = max(range(len(found)), key=lambda i: (ranked[i], -i)) if found else None
        if record is not None:
            record(
                {
                    "proposals": candidates,
                    "found": len(found),
                    "best": keys[best] if found else math.nan,
                    "seconds": seconds,
                }
            )
        return found[best] if best is not None else None

    return choose


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
