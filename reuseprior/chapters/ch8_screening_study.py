"""Chapter 8 (beyond the thesis): Revolver with its offspring screened by the
reusability prior, against plain Revolver, over paired seeds (issue 36).

**Question.** Revolver (thesis chapter 3) trains every newcomer that beats
its slot's genotype fitness. The prior costs no training: does training only
the best-by-PG of ``k`` candidates reach a higher best test accuracy for the
same number of trained batches?

**Design.** A run is one Revolver population (Algorithm 1 with the genetic
algorithm, ``search_mode="evolve"``, Algorithm 3's score update; chapter 3's
code, :class:`reuseprior.revolver.population.Population`) on Fashion-MNIST
at 14x14 (area-averaged, as chapter 3's CPU study) in the thesis's search
space (:meth:`reuseprior.revolver.search.SearchSpace.thesis`, width 1) for
one (arm, seed). The arms (:data:`SCREENS`) differ in one thing only, how a
slot of Algorithm 1 is filled:

- ``plain``: the genetic algorithm as chapter 3 runs it (one proposal);
- ``pg``: :func:`reuseprior.revolver.search.screened`: ``k`` proposals of
  the same genetic algorithm, each scored by PG (eq. 4.7,
  :func:`reuseprior.counting.analyze` on the candidate built in a scratch
  registry: structure only, no training, no draw from the run's generators),
  the highest-PG one enters the population and may be trained;
- ``first`` (a control, not in the stored plan): ``k`` proposals, the first
  found enters. It separates the prior's ranking from the effect of asking
  ``k`` times (a screened slot is filled more often than a plain one).

A seed fixes the validation split, the data order and the initial
population (drawn before any search), so the arms of one seed start from the
same individuals: differences are paired by seed. The top individual
(chapter 3's definition) is tested every ``test_every`` generations and at
the last; no decision reads the test set.

**Measured quantities.** Per generation (``data/ch8_screening_generations.csv``):
the batches trained in it and in total, the top individual's test accuracy,
the best validation accuracy so far, the slots filled and the screening's
proposals; per run (``data/ch8_screening_runs.csv``, through
:class:`reuseprior.core.study.RunStore` and
:mod:`reuseprior.revolver.population_study`, shared with chapter 3's study;
the summary row, written last, marks a run as stored): totals, the peak and
final top test accuracy, the final top individual's accuracy on every
training image (whether it fits them), CPU seconds of the run and of its scoring.

**Matched spend.** Every training session trains the same number of
batches (``base_batches = min_batches = max_batches``: the thesis's
fitness-dependent budget, section 3.5.5.2, is fixed here), and every
generation trains ``sample_size`` individuals, so both arms have spent
exactly the same batches at the end of every generation: the spend is
matched by construction. A fitness-dependent budget would let the arms'
spend drift apart, and since the learning rate decays by generation, a
comparison at the spend the slower arm reached would cut the other arm's
decay off (a first pilot run, 16-32 batches a session, not stored, peaked
only after the decay, past the spend every run was sure to reach). The levels
(:func:`spend_levels`) are fractions of the total spend, ``epochs *
sample_size * min_batches`` batches, fixed by the settings before any run. At
each level, a run's value is the best top-individual test accuracy among its
tested generations whose cumulative batches are within the level
(:func:`matched_spend`; at the full spend, the thesis's "Top Test Acc.");
:func:`paired_differences` summarises ``pg - plain`` per seed with
:func:`reuseprior.reporting.statistics.paired_by_seed` and judges the claim
"screening reaches a higher best accuracy at the same spend" (``greater``)
with :func:`reuseprior.reporting.statistics.verdict`; the full spend is the
primary comparison, the other levels are descriptive.

**Two plans.** The first plan (:data:`PILOT_SCREENING`, 1,008 batches of 64
per run, 12 runs stored at seeds 0-5) ended every run below a logistic
regression on the same images (:mod:`reuseprior.chapters.ch8_screening_criteria`):
its top individuals had not learnt the task, so it cannot decide and is kept
as the pilot. The planned study (:data:`CPU_SCREENING`) is the same design at
5.1 times the images per run (chapter 3's batch of 128 and 48 batches a
session, 18 generations), the spend at which chapter 3's study, in its
smaller space, ends above the floor.
Its 6 stored pairs show that it cannot decide either: their paired SD (4.7
points, the arms uncorrelated over the seeds) lets the plan's 8 seeds detect
only about 5.5 points with 80 % power, and 1 point would need about 180 pairs
(:func:`reuseprior.chapters.ch8_screening_criteria.screening_power` computes
it). So it too is kept as a pilot, not run further.

**Cost** (``python -m reuseprior study ch8 run``, each run one thread). The
pilot's runs took 125.6-665.2 CPU seconds (median about 4-5 CPU minutes;
:func:`plan_cost` reads them from the stored rows). At 5.1 times the images,
a run of the planned study costs about 20-40 CPU minutes (the screened arm's
larger models the upper end), so 8 seeds x 2 arms = 16 runs take about 6-9
CPU hours: three to four sessions of two workers (``--workers 2``, 4 GiB),
resumed where the last stopped (a run checkpoints every generation).

- the verdict rule needs an exact sign-flip permutation p below 0.05, which
  five pairs can never give (2/32 = 0.0625); :func:`fewest_decisive_pairs`
  computes the smallest number of seeds that can (6). The plan takes 8 seeds,
  with which one seed against the direction (the smallest difference) still
  gives p = 4/256, and a seed whose runs do not count does not stop a verdict;
- the ``first`` control arm (not in the plan) would add half the plan's cost:
  worth running if the screened arm wins, to tell the prior's ranking from
  the extra proposals.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from reuseprior.chapters.ch3_population_study import CPU_STUDY
from reuseprior.chapters.ch3_revolver import RevolverProfile, top_test_readings
from reuseprior.core import paths
from reuseprior.core.cpu import run_provenance
from reuseprior.core.study import RunStore, Study
from reuseprior.counting import analyze
from reuseprior.reporting.plotting import caption
from reuseprior.reporting.statistics import CONFIDENCE, fewest_decisive_pairs, paired_by_seed, verdict
from reuseprior.revolver.blueprint import Blueprint
from reuseprior.revolver.population import Population, PopulationConfig, config_from_settings
from reuseprior.revolver.population_study import PopulationStudyStore, keyed, load_or_start
from reuseprior.revolver.registry import ModuleRegistry
from reuseprior.revolver.search import Algorithm, screened

__all__ = [
    "CLAIM",
    "CPU_SCREENING",
    "PILOT_SCREENING",
    "SCREENS",
    "STORED",
    "ScreeningStudy",
    "as_study",
    "matched_spend",
    "paired_differences",
    "plan_cost",
    "plan_id",
    "plan_summary",
    "prior_score",
    "read_stored",
    "run_store",
    "run_study",
    "screening_run",
    "spend_figure",
    "spend_levels",
    "study_status",
]

#: arm -> the quantity of :class:`reuseprior.counting.quantities.Report` that ranks a slot's proposals
#: (None: one proposal, chapter 3's Revolver; "first": k proposals, the first found, no score)
SCREENS: dict[str, str | None] = {"plain": None, "pg": "PG", "first": "first"}
#: the stored tables (tracked)
STORED: dict[str, Path] = {
    "runs": paths.DATA_DIR / "ch8_screening_runs.csv",
    "generations": paths.DATA_DIR / "ch8_screening_generations.csv",
}
#: where the runs checkpoint (not tracked)
CHECKPOINT_ROOT = paths.BUILD_DIR / "ch8_screening_study"
#: the claim judged on the ``pg - plain`` differences, and what it says
CLAIM = ("greater", "screening by PG reaches a higher best test accuracy at the same training spend (batches)")
#: the identity columns of every stored row, in order
_IDENT = ("study", "plan", "dataset", "arm", "seed")


@dataclass(frozen=True)
class ScreeningStudy:
    """One paired-seed study: every (arm, seed) of ``arms`` x ``seeds`` is a
    run on ``dataset`` at ``image_size`` px with ``settings`` (a chapter-3
    profile; its ``dataset``, ``image_size`` and ``modes`` are replaced);
    ``candidates``: the proposals per slot of the screened arms (``k``);
    ``val_limit``: validation images read per training session (the first
    ones of the fixed split; None: all); ``spend_fractions``: the matched-spend
    levels read, as fractions of a run's spend (:func:`spend_levels`). Every
    session trains the same batches (``settings``' ``base_batches``,
    ``min_batches`` and ``max_batches`` equal, else ``ValueError``), so the
    arms' spend is matched at every generation."""

    name: str
    dataset: str
    arms: tuple[str, ...]
    seeds: tuple[int, ...]
    image_size: int
    candidates: int
    val_limit: int | None
    settings: RevolverProfile
    spend_fractions: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)

    def __post_init__(self) -> None:
        s = self.settings
        if not s.base_batches == s.min_batches == s.max_batches:
            raise ValueError(
                f"base_batches={s.base_batches}, min_batches={s.min_batches}, max_batches={s.max_batches}: "
                "the study matches the arms' spend by training every session for the same batches; set all three equal"
            )

    def runs(self) -> list[dict[str, Any]]:
        """Seed-major order: after k seeds every arm has k paired runs."""
        ident = {"study": self.name, "dataset": self.dataset}
        return [{**ident, "arm": a, "seed": s} for s in self.seeds for a in self.arms]

    def run_settings(self) -> RevolverProfile:
        return replace(self.settings, dataset=self.dataset, image_size=self.image_size, modes=["evolve"])


#: The first plan, stored as the pilot (see the module docstring for its cost): Fashion-MNIST at 14x14, the thesis's
#: space at width 1, a population of 12 with 3 trained per generation for 14 generations, batch 64,
#: 24 batches per training session, for every session (the thesis's budget rule, section 3.5.5.2, fixed:
#: base = min = max, so both arms spend the same batches in every generation), the learning rate held for
#: 9 generations then decayed (chapter 3's CPU study's 19 of 30, scaled), the first 512 validation images
#: per session, the top individual tested every 2nd generation and at the last; k = 4 proposals per
#: screened slot. The rest is chapter 3's CPU study's (its warm-up, learning rates 0.35 to 0.00085,
#: search budget, width 1, float32).
PILOT_SCREENING = ScreeningStudy(
    name="cpu-14px-thesis",
    dataset="fashion-mnist",
    arms=("plain", "pg"),
    seeds=(0, 1, 2, 3, 4, 5, 6, 7),
    image_size=14,
    candidates=4,
    val_limit=512,
    settings=replace(
        CPU_STUDY.settings,  # its warm-up, learning rates, search budget, width 1 and float32
        population_size=12,
        sample_size=3,
        epochs=14,
        decay_start=9,
        mean_val_last=9,
        test_every=2,
        batch_size=64,
        base_batches=24,
        min_batches=24,
        max_batches=24,
        space="thesis",
        base_widths=None,
        growths=None,
        depths=None,
        num_groups=None,
    ),
)


#: The planned CPU study: the pilot's design at a spend where the searched models can learn the task
#: (the pilot's top individuals all end below the linear floor on the same images): chapter 3's CPU
#: study's batch of 128 and 48 batches per session, 18 generations with the decay from the 13th
#: (chapter 3's 19 of 30, scaled), 2,592 batches of 128 per run (5.1 times the pilot's images).
CPU_SCREENING = replace(
    PILOT_SCREENING,
    name="cpu-14px-thesis-long",
    settings=replace(
        PILOT_SCREENING.settings,
        epochs=18,
        decay_start=12,
        mean_val_last=12,
        batch_size=128,
        base_batches=48,
        min_batches=48,
        max_batches=48,
    ),
)


def _config(spec: ScreeningStudy, seed: int, input_shape: tuple[int, ...], num_classes: int) -> PopulationConfig:
    extra = {"val_limit": spec.val_limit}
    return config_from_settings(spec.run_settings(), "evolve", seed, input_shape, num_classes, **extra)


def plan_id(spec: ScreeningStudy) -> str:
    """A short hash of what every run of ``spec`` shares: the population
    configuration without its seed, the dataset, the proposals per slot and
    the arms' screens. Stored runs of another plan are never mixed in."""
    config = _config(spec, 0, (1, spec.image_size, spec.image_size), 10).to_dict()
    config.pop("seed")
    text = json.dumps(
        {"config": config, "dataset": spec.dataset, "candidates": spec.candidates,
         "screens": {a: SCREENS[a] for a in spec.arms}},
        sort_keys=True,
    )  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def prior_score(bp: Blueprint, input_shape: tuple[int, ...], quantity: str = "PG", bn_unique: bool = True) -> float:
    """The prior's ``quantity`` (PG, eq. 4.7, by default) of the model ``bp``
    builds, counted on one example of ``input_shape``
    (:func:`reuseprior.counting.analyze`). The model is built in a scratch
    registry (its modules shared within the model as in the population, new
    weights: the counts depend on the structure only) and analysed in eval
    mode, both with the global torch generator forked, so scoring changes
    nothing of the run it screens for."""
    registry = ModuleRegistry(seed=0, always_unique=("bn2d",) if bn_unique else ())
    with torch.random.fork_rng():  # building draws from the global generator (the layers' own initialisers)
        report = analyze(registry.build(bp).eval(), torch.zeros((1, *input_shape)))
    return float(getattr(report, quantity))


def _screen(spec: ScreeningStudy, arm: str, pop: Population) -> Callable[[Algorithm], Algorithm] | None:
    """The wrapper :attr:`Population.screen` of ``arm``: its proposals' log goes
    to ``pop.metadata["screening"]`` (kept in the checkpoint)."""
    quantity = SCREENS[arm]
    if quantity is None:
        return None
    log = pop.metadata.setdefault("screening", [])
    shape, unique = tuple(pop.space.input_shape), pop.config.bn_unique

    def score(bp: Blueprint) -> float:
        return 0.0 if quantity == "first" else prior_score(bp, shape, quantity, unique)

    def record(entry: dict[str, Any]) -> None:
        log.append({"generation": pop.generation, **entry})

    return lambda algorithm: screened(algorithm, score, spec.candidates, record)


def _checkpoint(root: Path, run: Mapping[str, Any]) -> Path:
    return _STORE.checkpoint(run, Path(root))


def _load_or_start(spec: ScreeningStudy, run: Mapping[str, Any], splits, root: Path) -> Population:
    """The run's population, resumed from its checkpoint or started anew, with its arm's screen."""
    config = _config(spec, int(run["seed"]), splits.input_shape, splits.num_classes)
    metadata = {"dataset": spec.dataset, "study": spec.name, "plan": plan_id(spec), "arm": run["arm"]}
    pop = load_or_start(config, splits, _checkpoint(root, run), metadata)
    pop.screen = _screen(spec, str(run["arm"]), pop)
    return pop


def screening_run(
    *, study: str, dataset: str, arm: str, seed: int, spec: ScreeningStudy, **place: Any
) -> Mapping[str, pd.DataFrame] | None:
    """One run of ``spec`` (the study's ``run_one``), checkpointed every
    generation and resumed from its checkpoint; its rows per table of
    :data:`STORED`, or None when ``deadline`` (a :func:`time.time`) passed
    first (checked between generations). One thread, float32 (chapter 3's
    CPU study's precision). ``place``: ``data_dir``, ``checkpoint_root``,
    ``deadline``, ``progress``
    (:meth:`~reuseprior.revolver.population_study.PopulationStudyStore.run_population`)."""
    run = {"study": study, "dataset": dataset, "arm": arm, "seed": seed}
    return _STORE.run_population(spec, run, start=_load_or_start, frames=_frames, label=f"{arm}/seed {seed}", **place)


def _generations(pop: Population) -> pd.DataFrame:
    """The generation log with the batches trained (in the generation and in
    total), the best validation accuracy so far and the screening's proposals
    and genotypes found per generation (0 for an unscreened arm)."""
    log = pop.generations_frame().drop(columns=["seconds", "mode"])
    rows = pop.results_frame()
    per_gen = rows.groupby("generation")
    batches = per_gen["batches"].sum().reindex(log["generation"], fill_value=0).to_numpy()
    best_val = per_gen["val_acc"].max().reindex(log["generation"]).cummax().to_numpy()
    screening = pd.DataFrame(pop.metadata.get("screening", []), columns=["generation", "proposals", "found"])
    counts = screening.groupby("generation")[["proposals", "found"]].sum()
    counts = counts.reindex(log["generation"], fill_value=0).to_numpy()
    return log.assign(batches=batches, batches_total=np.cumsum(batches), best_val_acc=best_val,
                      proposals=counts[:, 0], found=counts[:, 1])  # fmt: skip


def _summary(pop: Population, log: pd.DataFrame, seconds: float, cpu: float) -> dict[str, Any]:
    results = pop.results_frame()
    peak, final = top_test_readings(log)
    screening = pd.DataFrame(pop.metadata.get("screening", []), columns=["proposals", "found", "seconds"])
    return {
        "generations": int(log["generation"].max()) + 1,
        "evaluations": len(results),
        "batches": int(results["batches"].sum()),
        "top_test_acc_peak": float(peak["top_test_acc"]),
        "top_test_acc_peak_generation": int(peak["generation"]),
        "top_test_acc_final": float(final["top_test_acc"]),
        "top_params_final": int(final["top_params"]),
        "top_train_acc_final": pop.top_train_accuracy(),
        "best_val_acc": float(results["val_acc"].max()),
        "median_params": float(results["params"].median()),
        "slots_screened": len(screening),
        "proposals": int(screening["proposals"].sum()),
        "found": int(screening["found"].sum()),
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu, 1),
        "screening_seconds": round(float(screening["seconds"].sum()), 1),
        **run_provenance(),
    }


def _frames(
    spec: ScreeningStudy, run: Mapping[str, Any], pop: Population, seconds: float, cpu: float
) -> dict[str, pd.DataFrame]:
    """The rows a finished run stores, per table of :data:`STORED`."""
    ident = _STORE.identity(run, plan_id(spec))
    log = _generations(pop)
    return {"generations": keyed(log, ident), "runs": pd.DataFrame([{**ident, **_summary(pop, log, seconds, cpu)}])}


def run_store(data: Mapping[str, Path] = STORED) -> RunStore:
    """The runs table (its summary row, written last, marks a run as stored)."""
    return _STORE.run_store(data)


def read_stored(kind: str, spec: ScreeningStudy | None = None, data: Mapping[str, Path] = STORED) -> pd.DataFrame:
    """The stored rows of ``kind`` (a key of :data:`STORED`), those of ``spec``'s plan when given."""
    return _STORE.read(kind, spec, data)


def as_study(spec: ScreeningStudy = CPU_SCREENING, **options: Any) -> Study:
    """``spec`` as a resumable study of :mod:`reuseprior.core.study` (``options``:
    ``data_dir``, ``data``, ``checkpoint_root``, ``deadline``, a :func:`time.time`
    after which a run stops between generations, and ``progress``;
    :meth:`~reuseprior.revolver.population_study.PopulationStudyStore.as_study`)."""
    return _STORE.as_study(spec, **options)


def run_study(spec: ScreeningStudy = CPU_SCREENING, **options: Any) -> list[dict[str, Any]]:
    """Run the pending runs of ``spec`` (or of ``options``' ``only``) in this
    process, each stored when it ends; at most ``max_runs``, none past
    ``max_minutes`` (a run continues from its checkpoint next time);
    ``data``, ``data_dir``, ``checkpoint_root``, ``progress``
    (:meth:`~reuseprior.revolver.population_study.PopulationStudyStore.run`).
    Returns the runs stored."""
    return _STORE.run(spec, **options)


def study_status(spec: ScreeningStudy = CPU_SCREENING, data: Mapping[str, Path] = STORED) -> pd.DataFrame:
    """Stored and pending runs per arm, with the hours stored (CPU of the runs'
    threads, and wall); ``attrs["other_plans"]``: stored rows of other plans in the same file."""
    hours = {"CPU hours stored": "cpu_seconds", "wall hours stored": "seconds"}
    return _STORE.status(spec, [{"arm": arm} for arm in spec.arms], hours, data)


# ---------------------------------------------------------------------- reading
def spend_levels(spec: ScreeningStudy) -> pd.DataFrame:
    """The matched-spend levels: ``fraction`` of the total spend of a run
    (``epochs * sample_size * min_batches`` batches, fixed by the settings:
    every run spends exactly that when ``min_batches = max_batches``, at least
    that otherwise) and ``batches``, rounded down to a whole batch."""
    s = spec.settings
    total = s.epochs * s.sample_size * s.min_batches
    return pd.DataFrame(
        {"fraction": list(spec.spend_fractions), "batches": [int(f * total) for f in spec.spend_fractions]}
    )


def matched_spend(generations: pd.DataFrame, levels: pd.DataFrame) -> pd.DataFrame:
    """Per run (dataset, arm, seed) and spend level: the best test accuracy of
    the top individual over the tested generations whose cumulative batches
    (``batches_total``) are within the level (NaN when none), and the best
    validation accuracy by then; one row per run and level."""
    columns = ["dataset", "arm", "seed", "fraction", "batches", "best_test_acc", "best_val_acc"]
    if generations.empty:
        return pd.DataFrame(columns=columns)
    out = []
    for (dataset, arm, seed), log in generations.groupby(["dataset", "arm", "seed"], sort=False):
        for level in levels.itertuples():
            within = log[log["batches_total"] <= level.batches]
            tested = within["top_test_acc"].dropna()
            out.append({"dataset": dataset, "arm": arm, "seed": seed, "fraction": level.fraction,
                        "batches": level.batches, "best_test_acc": float(tested.max()) if len(tested) else math.nan,
                        "best_val_acc": float(within["best_val_acc"].max()) if len(within) else math.nan})  # fmt: skip
    return pd.DataFrame(out, columns=columns)


def paired_differences(
    matched: pd.DataFrame,
    *,
    treatment: str = "pg",
    control: str = "plain",
    metric: str = "best_test_acc",
    confidence: float = CONFIDENCE,
    resamples: int = 9999,
    seed: int = 0,
) -> pd.DataFrame:
    """``treatment`` minus ``control`` per seed (percentage points) at each
    spend level of ``matched`` (:func:`matched_spend`), summarised over the
    paired seeds by :func:`~reuseprior.reporting.statistics.paired_by_seed`,
    with :data:`CLAIM` and its verdict
    (:func:`~reuseprior.reporting.statistics.verdict`); ``primary`` marks the
    full spend (the largest level)."""
    rows = []
    claim, text = CLAIM
    largest = matched["fraction"].max()
    for (fraction, batches), df in matched.groupby(["fraction", "batches"], sort=True):
        wide = df.pivot(index="seed", columns="arm", values=metric).reindex(columns=[treatment, control])
        summary = paired_by_seed(wide[treatment], wide[control], scale=100.0, confidence=confidence,
                                 resamples=resamples, seed=seed)  # fmt: skip
        rows.append(
            {
                "fraction": fraction,
                "batches": batches,
                "primary": bool(fraction == largest),
                "pairs": summary.pop("pairs"),
                f"{treatment} - {control} (pp)": summary.pop("mean"),
                **summary,
                "claim": f"{claim}: {text}",
                "verdict": verdict(summary, claim, alpha=1 - confidence),
            }
        )
    names = {"wins": f"seeds {treatment} better", "losses": f"seeds {control} better"}
    return pd.DataFrame(rows).rename(columns=names)


def plan_summary(spec: ScreeningStudy = CPU_SCREENING, data: Mapping[str, Path] = STORED) -> pd.DataFrame:
    """What the study plans and what is stored: per arm the planned seeds, the
    stored and pending runs, the proposals per screened slot, a run's spend
    (batches, the same for every run) and the fewest paired seeds a verdict can come from."""
    status = study_status(spec, data)
    return pd.DataFrame(
        {
            "arm": status["arm"],
            "screen": [SCREENS[a] or "none (chapter 3's Revolver)" for a in status["arm"]],
            "proposals per slot": [spec.candidates if SCREENS[a] else 1 for a in status["arm"]],
            "planned seeds": len(spec.seeds),
            "stored": [len(s) for s in status["stored seeds"]],
            "pending": status["pending"],
            "batches per run": spec.settings.epochs * spec.settings.sample_size * spec.settings.min_batches,
            "fewest decisive pairs": fewest_decisive_pairs(),
        }
    )


def plan_cost(spec: ScreeningStudy = CPU_SCREENING, data: Mapping[str, Path] = STORED) -> pd.DataFrame:
    """The CPU cost of the plan from the stored runs' timings (read, not
    measured): per arm the runs timed, the median CPU minutes of a run (its
    thread; wall minutes beside it) and the CPU hours of all the arm's planned
    runs at that median; an arm with no stored run takes the median of all
    stored runs (``from`` says which). A last row totals the plan."""
    stored = read_stored("runs", spec, data)
    rows = []
    for arm in spec.arms:
        mine = stored[stored["arm"] == arm] if not stored.empty else stored
        basis = mine if len(mine) else stored
        cpu = float(basis["cpu_seconds"].median() / 60) if len(basis) else math.nan
        wall = float(basis["seconds"].median() / 60) if len(basis) else math.nan
        rows.append({"arm": arm, "runs timed": len(mine), "from": arm if len(mine) else "all stored runs",
                     "CPU min / run (median)": cpu, "wall min / run (median)": wall,
                     "CPU h, planned runs": cpu * len(spec.seeds) / 60})  # fmt: skip
    table = pd.DataFrame(rows)
    total = {"arm": "plan", "runs timed": len(stored), "from": "the rows above",
             "CPU h, planned runs": table["CPU h, planned runs"].sum()}  # fmt: skip
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)


def spend_figure(
    generations: pd.DataFrame, spec: ScreeningStudy = CPU_SCREENING, floor: float | None = None
) -> plt.Figure:
    """Best test accuracy of the top individual so far against batches trained,
    one line per stored run of ``spec`` (colour: arm), the matched-spend levels
    (:func:`spend_levels`) as dotted lines and, when given, ``floor`` (the mean
    of the seeds' linear-floor test top-1, %) as a dashed line, captioned with the data."""
    levels = spend_levels(spec)
    fig, ax = plt.subplots(figsize=(7.0, 4.2))
    colours = {arm: f"C{k}" for k, arm in enumerate(SCREENS)}
    seen: set[str] = set()
    for (arm, _), log in generations.groupby(["arm", "seed"], sort=True):
        tested = log.dropna(subset=["top_test_acc"])
        best = 100 * tested["top_test_acc"].cummax()
        ax.step(tested["batches_total"], best, where="post", color=colours.get(arm, "k"), alpha=0.8,
                label=None if arm in seen else f"{arm} (one line per seed)")  # fmt: skip
        seen.add(arm)
    for batches in levels["batches"]:
        ax.axvline(batches, color="grey", ls=":", lw=1)
    if floor is not None:
        ax.axhline(floor, color="k", ls="--", lw=1, label=f"linear floor, test top-1 (seeds' mean, {floor:.2f} %)")
        seen.add("floor")
    ax.set(xlabel="batches trained (cumulative)", ylabel="best top-individual test accuracy so far (%)")
    if seen:
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    runs = generations.groupby(["arm", "seed"]).ngroups if len(generations) else 0
    caption(fig, f"data: {spec.dataset} at {spec.image_size}x{spec.image_size} px, study {spec.name}, plan "
                 f"{plan_id(spec)}: {runs} stored runs (data/ch8_screening_generations.csv)")  # fmt: skip
    return fig


#: the study's storage and resume plumbing (defined last: it names the run function above)
_STORE = PopulationStudyStore(_IDENT, STORED, CHECKPOINT_ROOT, plan_id, screening_run)
