"""Population training (thesis section 3.4, Algorithm 1 loop, appendix C.2)
with an explicit RNG, checkpoint/resume and one results row per evaluation.

A :class:`Population` owns the RNG, the module registry, the genotype
coefficient and the individuals; search (:mod:`reuseprior.revolver.search`)
sees them through the :class:`~reuseprior.revolver.search.SearchState` of
:meth:`Population.search_state`. The data arrive as ready splits
(``reuseprior.datasets.load_standard_splits``).

Per generation:

1. search: replace low scorers (Algorithm 1, up to ``search_retries`` passes)
   by random search or the genetic algorithm; the genotype coefficient adapts
   (held constant during warm-up);
2. score update (skipped in warm-up generations): train ``sample_size``
   individuals (new offspring first, then half random, half picked with
   probability growing with their score) for a fitness-based number of
   batches, evaluate the validation loss, set the phenotype score
   (Algorithm 3) and update the module scores;
3. test (every ``test_every`` generations and always at the last one): the
   population's *top individual*, the lowest phenotype score among those
   trained at least once, is evaluated on the test set as it stands,
   without fine-tuning (section 3.5.1). Nothing else touches the test set
   and no decision reads it. The generation log records the top
   individual's uid, parameters, score and test accuracy; Table 3.2's "Top
   Test Acc." is the peak of that series and "Gen." its generation.

An interrupted run resumes bit-identically from :meth:`Population.save` /
:meth:`Population.load`: the checkpoint holds the blueprints, the registry's
modules and weights, the scores, the coefficient and the RNG state (as JSON
and tensors), is written atomically (``reuseprior.training.loop.save_checkpoint``)
and read with ``torch.load(weights_only=True)``, so a crafted file cannot run
code on resume; :func:`config_changes` lists what a resuming run changed.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from reuseprior.core.errors import CheckpointMismatchError
from reuseprior.core.parameters import count_parameters
from reuseprior.core.precision import default_dtype
from reuseprior.core.progress import progress_bar
from reuseprior.core.validation import check_integer, entry_problems
from reuseprior.datasets import DatasetSplits, load_standard_splits
from reuseprior.revolver.blocks import Builder
from reuseprior.revolver.blueprint import Blueprint
from reuseprior.revolver.genotype import genotype_fitness, leaf_parameter_count, leaves
from reuseprior.revolver.phenotype import DataFeed, evaluate, phenotype_fitness, train_batches
from reuseprior.revolver.registry import ModuleRegistry
from reuseprior.revolver.search import (
    SEARCH_MODES,
    Algorithm,
    SearchSettings,
    SearchSpace,
    SearchState,
    algorithm_for,
    random_blueprint,
    search_pipeline,
    update_module_scores,
)
from reuseprior.revolver.session import TrainingSession, constant_then_exponential
from reuseprior.training.loop import UnreadableCheckpointError, read_checkpoint_file, save_checkpoint

__all__ = [
    "CHECKPOINT_FORMAT",
    "EVALUATION_COLUMNS",
    "TOP_COLUMNS",
    "Individual",
    "Population",
    "PopulationConfig",
    "config_changes",
    "config_from_settings",
    "dataset_splits",
    "learning_rate",
    "load_matching",
    "run_search_modes",
]

#: the datasets of the population runs, under this module's name for them; the loader lives in
#: :mod:`reuseprior.datasets` (``load_standard_splits``)
dataset_splits = load_standard_splits

#: the ``format`` entry of a population checkpoint
CHECKPOINT_FORMAT = "reuseprior.revolver.population/2"
#: The entries of a population checkpoint (format :data:`CHECKPOINT_FORMAT`) and their types.
_ENTRIES: dict[str, type | tuple[type, ...]] = {
    "config": str,
    "rng": str,
    "coefficient": (float, int),
    "generation": int,
    "next_uid": int,
    "individuals": str,
    "rows": str,
    "generation_log": str,
    "registry": dict,
    "torch_rng": torch.Tensor,
    "metadata": str,
}

#: generation-log columns of the tested top individual (NaN in untested generations)
TOP_COLUMNS = ("top_individual", "top_params", "top_score", "top_test_acc")


@dataclass
class PopulationConfig:
    """Hyperparameters; the defaults are appendix C.2's CIFAR-10 settings."""

    search_mode: str = "evolve"
    population_size: int = 80
    sample_size: int = 8
    epochs: int = 160  # number of generations (C.2 ``--epochs``)
    warmup_x: int = 2
    warmup_epoch: int = 30
    genotype_cost: float = 32.0
    lr: float = 0.35
    min_lr: float = 0.00085
    decay_start: int = 100
    batch_size: int = 128
    momentum: float = 0.9
    weight_decay: float = 1e-4
    base_batches: int = 96
    min_batches: int = 96
    max_batches: int | None = None  # None: one epoch
    size_penalty: float = 0.0075
    coef_up: float = 1.005
    coef_down: float = 0.985
    discard_n: int = 2
    discard_p: float = 0.9
    search_retries: int = 3
    search_budget: int = 10
    tournament_size: int = 3
    crossover_p: float = 0.4
    copyover_p: float = 0.2
    mutation_rate: float = 0.8
    immigration_p: float = 0.1
    immigration_half_life: float = 50.0
    score_weight: float = 0.5
    registry_rate: float = 0.05
    test_every: int = 10
    val_limit: int | None = None
    aggressive: bool = True
    bn_unique: bool = True
    toggle_p: float = 0.02
    seed: int = 0
    space: SearchSpace = field(default_factory=SearchSpace)

    def __post_init__(self) -> None:
        if self.search_mode not in SEARCH_MODES:
            raise ValueError(f"search_mode={self.search_mode!r}; choose from {SEARCH_MODES}")
        for name in ("population_size", "sample_size", "epochs", "warmup_x", "batch_size"):
            check_integer(name, getattr(self, name))
        check_integer("warmup_epoch", self.warmup_epoch, minimum=0)
        if not (self.lr > 0 and self.min_lr > 0):
            raise ValueError(f"lr and min_lr must be > 0, got lr={self.lr!r}, min_lr={self.min_lr!r}")
        if self.sample_size > self.population_size:
            raise ValueError(f"sample_size={self.sample_size} exceeds population_size={self.population_size}")
        if isinstance(self.space, dict):
            self.space = SearchSpace.from_dict(self.space)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["space"] = self.space.to_dict()
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PopulationConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown PopulationConfig keys {sorted(unknown)}")
        return cls(**data)


def learning_rate(config: PopulationConfig, generation: int) -> float:
    """Constant ``lr`` up to generation ``decay_start`` (counted from 0), then exponential decay
    reaching ``min_lr`` at the last generation (section 3.5.1;
    :func:`reuseprior.revolver.session.constant_then_exponential`)."""
    return constant_then_exponential(generation, config.lr, config.min_lr, config.decay_start, config.epochs)


@dataclass
class Individual:
    uid: int
    blueprint: Blueprint
    score: float
    origin: str
    born: int
    evaluations: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "blueprint": self.blueprint.to_dict(),
            "score": self.score,
            "origin": self.origin,
            "born": self.born,
            "evaluations": self.evaluations,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Individual":
        return cls(d["uid"], Blueprint.from_dict(d["blueprint"]), d["score"], d["origin"], d["born"], d["evaluations"])


class Population:
    """A population of blueprints trained with shared modules (thesis chapter 3)."""

    def __init__(
        self,
        config: PopulationConfig,
        splits: DatasetSplits,
        device: torch.device | str = "cpu",
        num_workers: int = 0,
        _initialise: bool = True,
    ):
        self.config = config
        self.space = config.space
        self.splits = splits
        self.device = torch.device(device)
        self.rng = np.random.default_rng(config.seed)
        self.registry = ModuleRegistry(
            seed=config.seed, device=self.device, always_unique=("bn2d",) if config.bn_unique else ()
        )
        self.coefficient = float(config.genotype_cost)
        self.generation = 0
        self.next_uid = 0
        self.individuals: list[Individual] = []
        self.rows: list[dict[str, Any]] = []
        self.generation_log: list[dict[str, Any]] = []
        #: JSON-ready facts about the run kept in the checkpoint beside the config
        #: (the CLI stores the dataset name, to refuse resuming on another one)
        self.metadata: dict[str, Any] = {}
        #: wraps each generation's search algorithm (e.g. :func:`reuseprior.revolver.search.screened`);
        #: None: Algorithm 1 as the thesis runs it. Not part of the checkpoint: a resumed run sets it again
        self.screen: Callable[[Algorithm], Algorithm] | None = None
        self.train_feed = DataFeed(splits.train, config.batch_size, self.device, num_workers)
        self.val_feed = DataFeed(splits.val, config.batch_size, self.device, num_workers)
        self.test_feed = DataFeed(splits.test, config.batch_size, self.device, num_workers)
        if _initialise:
            self._initialise()

    # ------------------------------------------------------------------ setup
    @property
    def builder(self) -> Builder:
        """A blueprint builder drawing from the population's generator, with its config's options."""
        return Builder(
            self.rng, aggressive=self.config.aggressive, bn_unique=self.config.bn_unique, toggle_p=self.config.toggle_p
        )

    def _initialise(self) -> None:
        """Section 3.4.1.1: sample ``warmup_x * population_size`` random
        genotypes, keep the best ``population_size`` by genotype fitness."""
        n = self.config.warmup_x * self.config.population_size
        candidates = []
        for i in range(n):
            bp = random_blueprint(self.space, self.builder)
            candidates.append((genotype_fitness(bp, self.coefficient), i, bp))
        candidates.sort(key=lambda t: t[:2])
        for fitness, _, bp in candidates[: self.config.population_size]:
            bp.meta["origin"] = "init"
            self.individuals.append(self._new_individual(bp, fitness, "init"))

    def _new_individual(self, bp: Blueprint, score: float, origin: str) -> Individual:
        ind = Individual(self.next_uid, bp, float(score), origin, self.generation)
        self.next_uid += 1
        return ind

    def replace_individual(self, index: int, bp: Blueprint, score: float | None = None) -> None:
        """Put a new genotype at ``index`` with ``score`` (default: its
        genotype fitness under the current coefficient); the old one's unique
        modules are unregistered (rule 7), shared ones stay in the registry
        for reuse."""
        old = self.individuals[index]
        self.registry.unregister(old.blueprint)
        if score is None:
            score = genotype_fitness(bp, self.coefficient)
        self.individuals[index] = self._new_individual(bp, score, bp.meta.get("origin", "search"))

    def build(self, index: int) -> nn.Module:
        """The model of individual ``index``, its modules shared through the registry."""
        return self.registry.build(self.individuals[index].blueprint)

    # ------------------------------------------------------------------ one generation
    def search_state(self) -> SearchState:
        """What search (Algorithm 1) reads and changes of this population: the
        RNG, the space and builder, the settings, the coefficient, the
        generation and the individuals, replaced through
        :meth:`replace_individual`. The coefficient search adapts is read back
        from the returned state (:meth:`step` does)."""
        return SearchState(
            rng=self.rng,
            space=self.space,
            builder=self.builder,
            settings=SearchSettings.from_config(self.config),
            members=self.individuals,
            coefficient=self.coefficient,
            generation=self.generation,
            replace=self.replace_individual,
        )

    def _pick_training(self, replaced: list[int]) -> list[int]:
        """New offspring first (the original never trained them), then half
        random, half weighted toward better (lower) scores (section 3.4.3)."""
        k = self.config.sample_size
        chosen = list(dict.fromkeys(replaced))[:k]
        n = len(self.individuals)
        while len(chosen) < k:
            rest = [i for i in range(n) if i not in chosen]
            if len(chosen) % 2 == 0:
                chosen.append(rest[int(self.rng.integers(len(rest)))])
            else:
                scores = np.array([self.individuals[i].score for i in rest], dtype=float)
                scores = np.where(
                    np.isfinite(scores),
                    scores,
                    np.nanmax(scores[np.isfinite(scores)]) if np.isfinite(scores).any() else 1.0,
                )
                w = (1.0 / np.maximum(scores, 1e-6)) ** 3
                chosen.append(rest[int(self.rng.choice(len(rest), p=w / w.sum()))])
        return chosen

    def _shared_names(self) -> dict[str, int]:
        """How many uses (across the population) each leaf name has."""
        counts: dict[str, int] = {}
        for ind in self.individuals:
            for node in leaves(ind.blueprint):
                counts[node.name] = counts.get(node.name, 0) + 1
        return counts

    def _evaluate(self, index: int, lr: float, uses: dict[str, int]) -> dict[str, Any]:
        cfg = self.config
        ind = self.individuals[index]
        t0 = time.perf_counter()
        model = self.build(index)
        scores = [i.score for i in self.individuals if math.isfinite(i.score)]
        session = TrainingSession.from_config(cfg, ind.blueprint)
        mean_score = float(np.mean(scores)) if scores else ind.score
        budget = session.batch_budget(ind.score, mean_score, self.train_feed.batches_per_epoch)
        train_loss = train_batches(
            model,
            self.train_feed,
            budget,
            self.rng,
            session.make_optimizer(model.parameters(), lr),
            session.make_criterion(),
        )
        val_loss, val_acc = evaluate(model, self.val_feed, cfg.val_limit)
        params = count_parameters(model, trainable_only=False)
        distinct: dict[str, int] = {}
        for node in leaves(ind.blueprint):
            distinct[node.name] = leaf_parameter_count(node)
        shared = sum(n for name, n in distinct.items() if uses.get(name, 0) > 1)
        score = phenotype_fitness(val_loss if math.isfinite(val_loss) else 1e3, params, cfg.size_penalty)
        ind.score = score
        ind.evaluations += 1
        update_module_scores(ind.blueprint, score, self.registry, cfg.score_weight, cfg.registry_rate)
        return {
            "mode": cfg.search_mode,
            "generation": self.generation,
            "individual": ind.uid,
            "index": index,
            "origin": ind.origin,
            "params": params,
            "shared_params": shared,
            "batches": budget,
            "lr": lr,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "val_acc": val_acc,
            "score": score,
            "seconds": time.perf_counter() - t0,
        }

    def step(self) -> None:
        """Run one generation."""
        cfg = self.config
        t0 = time.perf_counter()
        algorithm, warm = algorithm_for(cfg.search_mode, self.generation, cfg.warmup_epoch)
        if self.screen is not None:
            algorithm = self.screen(algorithm)
        search = self.search_state()
        replaced = search_pipeline(search, algorithm, adapt=not warm)
        self.coefficient = search.coefficient
        lr = learning_rate(cfg, self.generation)
        trained: list[int] = []
        if not warm:
            uses = self._shared_names()
            trained = self._pick_training(replaced)
            for index in trained:
                self.rows.append(self._evaluate(index, lr, uses))
        last = self.generation == cfg.epochs - 1
        tested = last or (cfg.test_every > 0 and self.generation % cfg.test_every == 0)
        top = self.test_top_individual() if tested else dict.fromkeys(TOP_COLUMNS, float("nan"))
        finite = [i.score for i in self.individuals if math.isfinite(i.score)]
        self.generation_log.append(
            {
                "mode": cfg.search_mode,
                "generation": self.generation,
                "warmup": warm,
                "lr": lr,
                "coefficient": self.coefficient,
                "replaced": len(replaced),
                "trained": len(trained),
                "best_score": min(finite) if finite else float("nan"),
                "mean_score": float(np.mean(finite)) if finite else float("nan"),
                **top,
                "seconds": time.perf_counter() - t0,
            }
        )
        self.generation += 1

    def run(
        self,
        until: int | None = None,
        checkpoint: str | Path | None = None,
        checkpoint_every: int = 0,
        progress: bool = False,
        on_save: Callable[["Population"], None] | None = None,
    ) -> "Population":
        """Run generations up to ``until`` (default ``config.epochs``).

        With a ``checkpoint`` path the population is saved there every
        ``checkpoint_every`` generations (0: only at the end) and at the end,
        and ``on_save(self)`` is called after each write (a caller writes its
        result tables there, so that they always match the checkpoint).

        Policy on an interruption (``KeyboardInterrupt``; a caller that wants
        SIGTERM handled the same turns it into one): a generation is all or
        nothing. The population rolls back to the end of its last finished
        generation (a copy of that state is kept after every generation),
        which, with a ``checkpoint`` and when it is newer than the file, is
        saved there (and ``on_save`` called) before the interrupt propagates;
        so every finished generation is resumable, whatever ``checkpoint_every``
        (which only bounds what a hard kill, SIGKILL or a power cut, loses).
        The rolled-back population can also be continued in memory (``run``
        again) exactly as the uninterrupted run would have gone on."""
        check_integer("checkpoint_every", checkpoint_every, minimum=0)
        until = self.config.epochs if until is None else min(until, self.config.epochs)
        gens = range(self.generation, until)
        if progress:
            gens = progress_bar(gens, desc=f"{self.config.search_mode}", leave=False)
        start = self.generation
        finished, saved = self.state_dict(), start  # the state to roll back to; the generation last saved
        try:
            for _ in gens:
                self.step()
                finished = self.state_dict()
                if checkpoint and checkpoint_every and self.generation % checkpoint_every == 0:
                    self._checkpoint(checkpoint, finished, on_save)
                    saved = self.generation
            if checkpoint and not (saved == self.generation > start):  # unless the loop has just saved it
                self._checkpoint(checkpoint, finished, on_save)
        except KeyboardInterrupt:
            self._set_state(finished)
            if checkpoint and self.generation > saved:
                self._checkpoint(checkpoint, finished, on_save)
            raise
        return self

    def _checkpoint(
        self, path: str | Path, state: dict[str, Any], on_save: Callable[["Population"], None] | None
    ) -> None:
        """Write ``state``, this population's :meth:`state_dict` (taken once per generation), as :meth:`save`
        does, then call ``on_save(self)`` when given."""
        save_checkpoint(state, path)
        if on_save is not None:
            on_save(self)

    # ------------------------------------------------------------------ results
    def results_frame(self) -> pd.DataFrame:
        """One row per phenotype evaluation."""
        return pd.DataFrame(self.rows)

    def generations_frame(self) -> pd.DataFrame:
        """One row per finished generation: its mode, learning rate, individuals replaced and trained, best
        and mean score, the top individual's test columns where it was tested, and its seconds."""
        return pd.DataFrame(self.generation_log)

    def sharing_stats(self) -> dict[str, float]:
        """Parameters and memory of the population with sharing (distinct
        tensors) versus the same individuals built without sharing (each
        individual's own distinct parameters summed)."""
        seen: dict[int, int] = {}
        seen_bytes: dict[int, int] = {}
        unshared = unshared_bytes = 0
        for i in range(len(self.individuals)):
            model = self.build(i)
            tensors = {id(t): t for t in [*model.parameters(), *model.buffers()]}
            params = {id(p): p for p in model.parameters()}
            unshared += count_parameters(model, trainable_only=False)
            unshared_bytes += sum(t.numel() * t.element_size() for t in tensors.values())
            for k, p in params.items():
                seen[k] = p.numel()
            for k, t in tensors.items():
                seen_bytes[k] = t.numel() * t.element_size()
        return {
            "individuals": len(self.individuals),
            "params_shared": sum(seen.values()),
            "params_unshared": unshared,
            "param_ratio": unshared / max(sum(seen.values()), 1),
            "memory_MiB_shared": sum(seen_bytes.values()) / 2**20,
            "memory_MiB_unshared": unshared_bytes / 2**20,
            "registry_modules": len(self.registry),
            "registry_params": self.registry.num_parameters(),
        }

    def best_index(self) -> int:
        """The lowest score of the population, genotype fitness of untrained individuals included."""
        return min(range(len(self.individuals)), key=lambda i: (self.individuals[i].score, i))

    def top_index(self) -> int | None:
        """The top individual (section 3.5.1): the lowest phenotype score
        among the individuals trained at least once (an untrained one holds
        only a genotype fitness, on another scale); ``None`` before any training."""
        trained = [i for i, ind in enumerate(self.individuals) if ind.evaluations > 0]
        return min(trained, key=lambda i: (self.individuals[i].score, i)) if trained else None

    def test_top_individual(self) -> dict[str, Any]:
        """The test accuracy of :meth:`top_index` as it stands, with the
        shared weights of this moment and no fine-tuning (the thesis's "test
        accuracy of the top individual"), keyed by :data:`TOP_COLUMNS`; NaN
        before any individual was trained."""
        index = self.top_index()
        if index is None:
            return dict.fromkeys(TOP_COLUMNS, float("nan"))
        ind = self.individuals[index]
        model = self.build(index)
        return {
            "top_individual": ind.uid,
            "top_params": count_parameters(model, trainable_only=False),
            "top_score": ind.score,
            "top_test_acc": evaluate(model, self.test_feed)[1],
        }

    def top_train_accuracy(self) -> float:
        """The training-set accuracy of :meth:`top_index` as it stands (every
        training image, eval mode): whether the top individual fits its
        training images; NaN before any individual was trained."""
        index = self.top_index()
        return float("nan") if index is None else evaluate(self.build(index), self.train_feed)[1]

    # ------------------------------------------------------------------ checkpoint
    def state_dict(self) -> dict[str, Any]:
        """Everything :meth:`load` needs to continue the run bit-identically (checkpoint format tagged)."""
        return {
            "format": CHECKPOINT_FORMAT,
            "config": json.dumps(self.config.to_dict()),
            "rng": json.dumps(self.rng.bit_generator.state),
            "coefficient": self.coefficient,
            "generation": self.generation,
            "next_uid": self.next_uid,
            "individuals": json.dumps([ind.to_dict() for ind in self.individuals]),
            "rows": json.dumps(self.rows),
            "generation_log": json.dumps(self.generation_log),
            "registry": self.registry.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "metadata": json.dumps(self.metadata),
        }

    def save(self, path: str | Path) -> Path:
        """Write a checkpoint atomically: a uniquely named temporary file in the
        same folder, fsynced, then ``os.replace`` and a fsync of the folder
        (``reuseprior.training.loop.save_checkpoint``)."""
        return save_checkpoint(self.state_dict(), path)

    @classmethod
    def load(
        cls, path: str | Path, splits: DatasetSplits, device: torch.device | str = "cpu", num_workers: int = 0
    ) -> "Population":
        """Continue a run from a checkpoint written by :meth:`save`.

        The file is read with ``torch.load(weights_only=True)``: one holding
        other pickled objects, or of another format, raises
        ``reuseprior.training.loop.UnreadableCheckpointError`` (a ``ValueError``)
        saying what it is and what to do, without unpickling it."""
        state = read_checkpoint_file(path, "Revolver population checkpoint")
        if state.get("format") != CHECKPOINT_FORMAT:
            raise UnreadableCheckpointError(
                f"{path} is not a Revolver population checkpoint (format {state.get('format')!r}, expected "
                f"{CHECKPOINT_FORMAT!r}); start a fresh run: delete the file or choose another path"
            )
        damaged = f"{path} is a Revolver population checkpoint whose entries are damaged"
        fresh = "it cannot be resumed: start a fresh run (delete the file or choose another path)"
        problems = entry_problems(
            state, _ENTRIES, non_negative=("generation", "next_uid"), optional=("metadata",)
        )  # metadata: absent from checkpoints written before it
        if problems:
            raise UnreadableCheckpointError(f"{damaged} ({'; '.join(problems)}); {fresh}")
        try:
            pop = cls._from_state(state, splits, device, num_workers)
        except (KeyError, TypeError, ValueError, AttributeError) as err:  # JSON or nested entries
            raise UnreadableCheckpointError(f"{damaged} ({type(err).__name__}: {err}); {fresh}") from err
        problems = pop._progress_problems()
        if problems:
            raise UnreadableCheckpointError(f"{damaged} ({'; '.join(problems)}); {fresh}")
        return pop

    def _progress_problems(self) -> list[str]:
        """What makes a loaded checkpoint's progress impossible (empty: none). Policy: a checkpoint is
        checked against its plan and its own history before anything of it is used, so no result is
        written from one that fails: its generation within the run's generations, its generation log one
        row per finished generation (0, 1, ...), every evaluation row with :data:`EVALUATION_COLUMNS` as
        numbers (``origin`` as text) of a finished generation, and its coefficient finite."""
        problems = []
        if self.generation > self.config.epochs:
            problems.append(f"generation {self.generation} of a run of {self.config.epochs} generations")
        logged = [row.get("generation") if isinstance(row, dict) else row for row in self.generation_log]
        if logged != list(range(self.generation)):
            problems.append(
                f"its generation log holds generations {logged[:8]} where generation {self.generation} "
                f"has 0 to {self.generation - 1}"
            )
        bad = next((row for row in self.rows if _row_problem(row, self.generation)), None)
        if bad is not None:
            problems.append(f"an evaluation row {str(bad)[:120]}: {_row_problem(bad, self.generation)}")
        if not math.isfinite(self.coefficient):
            problems.append(f"its coefficient is {self.coefficient}")
        return problems

    @classmethod
    def _from_state(cls, state: dict[str, Any], splits, device: torch.device | str, num_workers: int) -> "Population":
        """The population of a checkpoint's entries (their types checked by :meth:`load`)."""
        config = PopulationConfig.from_dict(json.loads(state["config"]))
        pop = cls(config, splits, device, num_workers, _initialise=False)
        pop._set_state(state)
        return pop

    def _set_state(self, state: dict[str, Any]) -> None:
        """Put this population (of the same configuration) in the state of :meth:`state_dict`'s ``state``."""
        self.rng.bit_generator.state = json.loads(state["rng"])
        self.coefficient = state["coefficient"]
        self.generation = state["generation"]
        self.next_uid = state["next_uid"]
        self.individuals = [Individual.from_dict(d) for d in json.loads(state["individuals"])]
        self.rows = json.loads(state["rows"])
        self.generation_log = json.loads(state["generation_log"])
        self.registry = ModuleRegistry.from_state_dict(state["registry"], device=self.device)
        torch.set_rng_state(state["torch_rng"])
        self.metadata = json.loads(state.get("metadata", "{}"))


#: the columns of an evaluation row (:meth:`Population._evaluate`): numbers, ``origin`` text
EVALUATION_COLUMNS = (
    "generation", "individual", "index", "origin", "params", "shared_params", "batches", "lr", "train_loss",
    "val_loss", "val_acc", "score", "seconds",
)  # fmt: skip


def _row_problem(row: object, generation: int) -> str | None:
    """What is wrong with a checkpoint's evaluation ``row`` of a run at ``generation`` (None: nothing)."""
    if not isinstance(row, dict):
        return "not a row"
    lacking = [c for c in EVALUATION_COLUMNS if c not in row]
    if lacking:
        return f"no {', '.join(lacking)}"
    text = [c for c in EVALUATION_COLUMNS if c != "origin" and not _is_number(row[c])]
    if text or not isinstance(row["origin"], str):
        return f"{', '.join(text) or 'origin'} of the wrong kind"
    if not 0 <= row["generation"] < generation:
        return f"generation {row['generation']} is not a finished one (0 to {generation - 1})"
    return None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def config_changes(saved: PopulationConfig, current: PopulationConfig) -> dict[str, tuple[Any, Any]]:
    """``{field: (saved value, current value)}`` for every setting in which
    ``current`` differs from ``saved``; search-space fields are named
    ``space.<field>``. Values are compared as they are stored (JSON), so a
    tuple and the list it was saved as are equal."""

    def flat(config: PopulationConfig) -> dict[str, Any]:
        d = json.loads(json.dumps(config.to_dict()))
        space = d.pop("space")
        return {**d, **{f"space.{k}": v for k, v in space.items()}}

    a, b = flat(saved), flat(current)
    return {k: (a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)}


def load_matching(
    path: str | Path,
    config: PopulationConfig,
    splits,
    device: torch.device | str = "cpu",
    num_workers: int = 0,
    *,
    fix: str,
    dataset: str | None = None,
    name: Callable[[str], str] = str,
    saved: str = "saved",
) -> Population:
    """Continue the run checkpointed at ``path``, provided it was started with
    ``config`` (and on ``dataset``, when given and recorded in the checkpoint);
    otherwise :class:`~reuseprior.core.errors.CheckpointMismatchError` names
    each differing setting (``name`` of its field, the value ``saved`` and the
    current one) and ``fix``. An unreadable file raises
    :class:`~reuseprior.training.loop.UnreadableCheckpointError` (one too)."""
    pop = Population.load(path, splits, device, num_workers)
    changes = config_changes(pop.config, config)
    recorded = pop.metadata.get("dataset")
    if dataset is not None and recorded is not None and _dataset_key(recorded) != _dataset_key(dataset):
        changes["dataset"] = (recorded, dataset)
    if changes:
        listed = "; ".join(f"{name(k)}: {a!r} {saved}, {b!r} now" for k, (a, b) in changes.items())
        longer = (
            " (a run cannot be lengthened: its learning-rate decay ends at its last generation)"
            if "epochs" in changes
            else ""
        )
        raise CheckpointMismatchError(f"{path} was started with other settings ({listed}){longer}; {fix}")
    return pop


def _dataset_key(name: str) -> str:
    """A dataset's name as compared (``Fashion-MNIST`` and ``fashionmnist`` are one)."""
    return str(name).lower().replace("-", "")


def config_from_settings(settings, mode: str, seed: int, input_shape, num_classes: int, **extra) -> PopulationConfig:
    """A :class:`PopulationConfig` from a profile's settings."""
    s = dict(settings)
    space = SearchSpace.from_settings(s, tuple(input_shape), num_classes)
    keys = {f.name for f in fields(PopulationConfig)} - {"space", "search_mode", "seed"}
    kwargs = {k: s[k] for k in keys if k in s}
    kwargs.update(extra)
    return PopulationConfig(search_mode=mode, seed=seed, space=space, **kwargs)


def run_search_modes(
    settings,
    splits,
    seed: int = 0,
    device: torch.device | str = "cpu",
    modes: Iterable[str] | None = None,
    progress: bool = False,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    checkpoint_every: int = 10,
) -> dict[str, Population]:
    """Train one population per search mode with the same seed and data
    (the rows of Table 3.2); returns ``{mode: Population}``.

    ``settings["sample_sizes"]`` (optional) maps a mode to its own sample
    size (Table 3.2's rows use 8 or 16). With ``checkpoint_dir`` each mode
    is checkpointed to ``<checkpoint_dir>/<mode>.pt`` every
    ``checkpoint_every`` generations and at its end; with ``resume`` an existing checkpoint is continued
    exactly where it stopped, provided it was started with these settings
    (otherwise :class:`~reuseprior.core.errors.CheckpointMismatchError`
    names each differing setting). Without ``resume`` a run starts afresh
    and overwrites the checkpoint. The populations train in
    ``settings["precision"]`` (float32 when absent; :mod:`reuseprior.core.precision`)."""
    workers = int(dict(settings).get("num_workers", 0))
    per_mode = dict(dict(settings).get("sample_sizes") or {})
    out = {}
    with default_dtype(dict(settings).get("precision", "float32")):
        for mode in modes or settings["modes"]:
            extra = {"sample_size": per_mode[mode]} if mode in per_mode else {}
            config = config_from_settings(settings, mode, seed, splits.input_shape, splits.num_classes, **extra)
            path = Path(checkpoint_dir) / f"{mode}.pt" if checkpoint_dir is not None else None
            if path is not None and resume and path.exists():
                fix = "run with resume=False to start afresh, or point checkpoint_dir elsewhere"
                pop = load_matching(path, config, splits, device, workers, fix=fix)
            else:
                pop = Population(config, splits, device, workers)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            out[mode] = pop.run(checkpoint=path, checkpoint_every=checkpoint_every if path else 0, progress=progress)
    return out
