"""Chapter 8 (beyond the thesis): Revolver with its offspring screened by the
reusability prior, against plain Revolver, over paired seeds. The studies are declared
once, :data:`CPU_SCREENING` and :data:`PILOT_SCREENING` (:class:`~reuseprior.core.study.StudySpec`):
``python -m reuseprior study ch8`` runs the first through :mod:`reuseprior.core.study`, the notebook
reads both.

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
:mod:`reuseprior.revolver.population_study`, as chapter 3's study; the summary
row, written last, marks a run as stored): totals, the peak and
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
:func:`spend_differences` summarises ``pg - plain`` per seed with
:func:`reuseprior.reporting.statistics.paired_by_seed` and judges the claim
"screening reaches a higher best accuracy at the same spend" (``greater``)
with :func:`reuseprior.core.verdict_policy.verdict`; the full spend is the
primary comparison, the other levels are descriptive.

**Two plans.** The first plan (:data:`PILOT_SCREENING`, 1,008 batches of 64
per run, 12 runs stored at seeds 0-5) ended every run below a logistic
regression on the same images (:mod:`.screening_criteria`):
its top individuals had not learnt the task, so it cannot decide and is kept
as the pilot. The planned study (:data:`CPU_SCREENING`) is the same design at
5.1 times the images per run (chapter 3's batch of 128 and 48 batches a
session, 18 generations), the spend at which chapter 3's study, in its
smaller space, ends above the floor.
Its 6 stored pairs show that it cannot decide either: their paired SD (4.7
points, the arms uncorrelated over the seeds) lets the plan's 8 seeds detect
only about 5.5 points with 80 % power, and 1 point would need about 180 pairs
(:func:`.screening_criteria.screening_power` computes
it). So it too is kept as a pilot, not run further.

**Cost** (``python -m reuseprior study ch8 run``, each run one thread). The
pilot's runs took 125.6-665.2 CPU seconds (median about 4-5 CPU minutes;
:func:`plan_cost` reads them from the stored rows). At 5.1 times the images,
a run of the planned study costs about 20-40 CPU minutes (the screened arm's
larger models the upper end), so 8 seeds x 2 arms = 16 runs take about 6-9
CPU hours: three to four sessions of two workers (``--workers 2``, 4 GiB),
resumed where the last stopped (a run checkpoints every generation).

- the verdict rule needs an exact sign-flip permutation p below 0.05, which
  five pairs can never give (2/32 = 0.0625); :func:`~reuseprior.reporting.statistics.fewest_decisive_pairs`
  computes the smallest number of seeds that can (6). The plan takes 8 seeds,
  with which one seed against the direction (the smallest difference) still
  gives p = 4/256, and a seed whose runs do not count does not stop a verdict;
- the ``first`` control arm (not in the plan) would add half the plan's cost:
  worth running if the screened arm wins, to tell the prior's ranking from
  the extra proposals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from reuseprior.chapters import register_study, study_command
from reuseprior.core import paths
from reuseprior.core.declared_study import DeclaredStudy
from reuseprior.core.stored_rows import ColumnKinds
from reuseprior.core.study import StudySpec, status_table
from reuseprior.core.verdict_policy import CONFIDENCE, plateaued
from reuseprior.counting import analyze
from reuseprior.reporting import verdicts
from reuseprior.reporting.plotting import caption
from reuseprior.reporting.statistics import fewest_decisive_pairs
from reuseprior.reporting.verdicts import Comparison
from reuseprior.revolver.blueprint import Blueprint
from reuseprior.revolver.population import Population, PopulationConfig, config_from_settings
from reuseprior.revolver.population_study import (
    GENERATION_KINDS,
    FinishedRun,
    PopulationRecord,
    population_store,
    run_population,
)
from reuseprior.revolver.registry import ModuleRegistry
from reuseprior.revolver.search import Algorithm, screened
from reuseprior.revolver.settings import CPU_SEARCH, RevolverProfile
from reuseprior.revolver.split_floor import floor_keys, population_floors

__all__ = [
    "CLAIM",
    "CPU_SCREENING",
    "FLOOR_COMMAND",
    "PILOT_SCREENING",
    "RECORD",
    "SCREENS",
    "STORED",
    "ScreeningDesign",
    "matched_spend",
    "spend_differences",
    "plan_cost",
    "plan_summary",
    "prior_score",
    "run_criteria_table",
    "stored_criteria",
    "screening_run",
    "screening_study",
    "spend_figure",
    "spend_levels",
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
#: the columns that name a run (the plan aside)
KEY = ("study", "dataset", "arm", "seed")
#: the columns of a run's summary row, in their stored order (after the key and plan, before the run's
#: provenance; :data:`RECORD` reads them): totals, the peak and final top test accuracy, the final top
#: individual's accuracy on every training image, the screening's slots, proposals and genotypes found,
#: and the seconds of the run (wall and CPU) and of its scoring
SUMMARY = (
    "generations", "evaluations", "batches", "top_test_acc_peak", "top_test_acc_peak_generation",
    "top_test_acc_final", "top_params_final", "top_train_acc_final", "best_val_acc", "median_params",
    "slots_screened", "proposals", "found", "seconds", "cpu_seconds", "screening_seconds",
)  # fmt: skip
#: the kinds of each stored table's values (the key and plan are required in every table; a run stored
#: before ``top_train_acc_final`` was measured lacks it)
KINDS: dict[str, ColumnKinds] = {
    "runs": ColumnKinds(
        required=tuple(c for c in SUMMARY if c != "top_train_acc_final"),
        numeric=("seed", *SUMMARY),
    ),
    "generations": ColumnKinds(
        (*GENERATION_KINDS.required, "batches", "batches_total", "best_val_acc", "proposals", "found"),
        (*GENERATION_KINDS.numeric, "batches", "batches_total", "best_val_acc", "proposals", "found"),
    ),
}  # fmt: skip
#: the command that stores the floors of the study's seeds
FLOOR_COMMAND = study_command("ch8", "floor")


@dataclass(frozen=True)
class ScreeningDesign:
    """One paired-seed study's design: every (arm, seed) of ``arms`` x ``seeds`` is a
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

    def runs(self) -> tuple[dict[str, Any], ...]:
        """Seed-major order: after k seeds every arm has k paired runs."""
        ident = {"study": self.name, "dataset": self.dataset}
        return tuple({**ident, "arm": a, "seed": s} for s in self.seeds for a in self.arms)

    def run_settings(self) -> RevolverProfile:
        return replace(self.settings, dataset=self.dataset, image_size=self.image_size, modes=["evolve"])

    def config(self, run: Mapping[str, Any], input_shape: tuple[int, ...], num_classes: int) -> PopulationConfig:
        """The population configuration of ``run``: its seed's (every arm's: the screen is not in it)."""
        return config_from_settings(
            self.run_settings(), "evolve", int(run["seed"]), input_shape, num_classes, val_limit=self.val_limit
        )

    def plan_settings(self) -> dict[str, Any]:
        """What every run shares, hashed into the plan: the population configuration without its seed,
        the dataset, the proposals per slot and the arms' screens."""
        config = self.config({"seed": 0}, (1, self.image_size, self.image_size), 10).to_dict()
        config.pop("seed")
        return {
            "config": config,
            "dataset": self.dataset,
            "candidates": self.candidates,
            "screens": {a: SCREENS[a] for a in self.arms},
        }

    def spend(self) -> int:
        """The batches every run trains: ``epochs * sample_size * min_batches``."""
        return self.settings.epochs * self.settings.sample_size * self.settings.min_batches


def screening_study(design: ScreeningDesign) -> StudySpec:
    """``design`` declared as a study of :mod:`reuseprior.core.study`: its runs by :func:`screening_run`,
    stored in :data:`STORED`, read against the linear floors of its seeds' images."""
    return StudySpec.of(
        design,
        run_one=screening_run,
        store=population_store(STORED["runs"], {"generations": STORED["generations"]}, KEY, KINDS),
        floor=population_floors(FLOOR_COMMAND),
        criteria=stored_criteria,
        floor_keys=floor_keys((design.dataset,), design.image_size, design.seeds),
        status_by=("arm",),
        hours={"CPU hours stored": "cpu_seconds", "wall hours stored": "seconds"},
    )


#: The first plan's design, stored as the pilot (see the module docstring for its cost): Fashion-MNIST
#: at 14x14, the thesis's space at width 1, a population of 12 with 3 trained per generation for 14
#: generations, batch 64, 24 batches per training session, for every session (the thesis's budget rule,
#: section 3.5.5.2, fixed: base = min = max, so both arms spend the same batches in every generation), the
#: learning rate held up to generation 9 then decayed (chapter 3's CPU study's 19 of 0-29, scaled), the first
#: 512 validation images per session, the top individual tested every 2nd generation and at the last;
#: k = 4 proposals per screened slot. The rest is chapter 3's CPU study's
#: (:data:`reuseprior.revolver.settings.CPU_SEARCH`: its warm-up, learning rates 0.35 to 0.00085, search
#: budget, width 1, float32).
PILOT_DESIGN = ScreeningDesign(
    name="cpu-14px-thesis",
    dataset="fashion-mnist",
    arms=("plain", "pg"),
    seeds=(0, 1, 2, 3, 4, 5, 6, 7),
    image_size=14,
    candidates=4,
    val_limit=512,
    settings=replace(
        CPU_SEARCH,  # its warm-up, learning rates, search budget, width 1 and float32
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


#: The planned CPU study's design: the pilot's design at a spend where the searched models can learn the task
#: (the pilot's top individuals all end below the linear floor on the same images): chapter 3's CPU
#: study's batch of 128 and 48 batches per session, 18 generations with the decay from the 13th
#: (chapter 3's 19 of 30, scaled), 2,592 batches of 128 per run (5.1 times the pilot's images).
CPU_DESIGN = replace(
    PILOT_DESIGN,
    name="cpu-14px-thesis-long",
    settings=replace(
        PILOT_DESIGN.settings,
        epochs=18,
        decay_start=12,
        mean_val_last=12,
        batch_size=128,
        base_batches=48,
        min_batches=48,
        max_batches=48,
    ),
)


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


def _screen(
    design: ScreeningDesign, run: Mapping[str, Any], pop: Population
) -> Callable[[Algorithm], Algorithm] | None:
    """The wrapper :attr:`Population.screen` of ``run``'s arm: its proposals' log goes
    to ``pop.metadata["screening"]`` (kept in the checkpoint)."""
    quantity = SCREENS[str(run["arm"])]
    if quantity is None:
        return None
    pop.metadata.setdefault("screening", [])
    shape, unique = tuple(pop.space.input_shape), pop.config.bn_unique

    def score(bp: Blueprint) -> float:
        return 0.0 if quantity == "first" else prior_score(bp, shape, quantity, unique)

    def record(entry: dict[str, Any]) -> None:  # looked up each time: a rolled-back population has a new list
        pop.metadata.setdefault("screening", []).append({"generation": pop.generation, **entry})

    return lambda algorithm: screened(algorithm, score, design.candidates, record)


def screening_run(
    *,
    study: str,
    dataset: str,
    arm: str,
    seed: int,
    spec: StudySpec,
    data_dir: str | Path | None = None,
    checkpoint_root: Path = CHECKPOINT_ROOT,
    deadline: float | None = None,
    progress: bool = False,
) -> Mapping[str, pd.DataFrame] | None:
    """One run of ``spec`` (its ``run_one``), checkpointed every generation under ``checkpoint_root``
    and resumed from its checkpoint; its rows per table of :data:`STORED` (:data:`RECORD`), or None when
    ``deadline`` (a :func:`time.time`) passed first (checked between generations). One thread, float32
    (chapter 3's CPU study's precision)."""
    run = {"study": study, "dataset": dataset, "arm": arm, "seed": seed}
    return run_population(
        spec,
        run,
        RECORD,
        label=f"{arm}/seed {seed}",
        data_dir=data_dir,
        checkpoint_root=checkpoint_root,
        deadline=deadline,
        progress=progress,
    )


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
    return log.assign(
        batches=batches,
        batches_total=np.cumsum(batches),
        best_val_acc=best_val,
        proposals=counts[:, 0],
        found=counts[:, 1],
    )


def _screening(run: FinishedRun) -> pd.DataFrame:
    """The screening's log of the run, one row a screened slot (empty for an unscreened arm)."""
    return pd.DataFrame(run.pop.metadata.get("screening", []), columns=["proposals", "found", "seconds"])


#: what a finished run stores (:class:`~reuseprior.revolver.population_study.PopulationRecord`): its
#: generation log (:func:`_generations`) and a summary, the screening's slots, proposals, genotypes found
#: and seconds among its columns; each run's arm screened (:func:`_screen`)
RECORD = PopulationRecord(
    summary=SUMMARY,
    readings={
        "slots_screened": lambda run: len(_screening(run)),
        "proposals": lambda run: int(_screening(run)["proposals"].sum()),
        "found": lambda run: int(_screening(run)["found"].sum()),
        "screening_seconds": lambda run: round(float(_screening(run)["seconds"].sum()), 1),
    },
    tables={"generations": lambda run: run.log},
    log=_generations,
    screen=_screen,
)


# ---------------------------------------------------------------------- reading
def spend_levels(spec: StudySpec) -> pd.DataFrame:
    """The matched-spend levels: ``fraction`` of the total spend of a run
    (``epochs * sample_size * min_batches`` batches, fixed by the settings:
    every run spends exactly that when ``min_batches = max_batches``, at least
    that otherwise) and ``batches``, rounded down to a whole batch."""
    fractions, total = spec.design.spend_fractions, spec.design.spend()
    return pd.DataFrame({"fraction": list(fractions), "batches": [int(f * total) for f in fractions]})


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
            out.append(
                {
                    "dataset": dataset,
                    "arm": arm,
                    "seed": seed,
                    "fraction": level.fraction,
                    "batches": level.batches,
                    "best_test_acc": float(tested.max()) if len(tested) else math.nan,
                    "best_val_acc": float(within["best_val_acc"].max()) if len(within) else math.nan,
                }
            )
    return pd.DataFrame(out, columns=columns)


def spend_differences(
    matched: pd.DataFrame,
    *,
    treatment: str = "pg",
    control: str = "plain",
    metric: str = "best_test_acc",
    confidence: float = CONFIDENCE,
    resamples: int = 9999,
    seed: int = 0,
) -> pd.DataFrame:
    """``treatment`` minus ``control`` per seed (percentage points) at each spend level of ``matched``
    (:func:`matched_spend`), summarised over the paired seeds
    (:func:`reuseprior.reporting.verdicts.paired_differences`), with :data:`CLAIM` and its verdict;
    ``primary`` marks the full spend (the largest level)."""
    claim, text = CLAIM
    table = verdicts.paired_differences(
        matched,
        [Comparison(treatment, control, claim)],
        arm="arm",
        metrics=[metric],
        by=("fraction", "batches"),
        scale=100.0,
        confidence=confidence,
        resamples=resamples,
        seed=seed,
    )
    out = table.drop(columns=["treatment", "control", "metric", "claim", "rule verdict"]).rename(
        columns={
            "difference": f"{treatment} - {control} (pp)",
            "wins": f"seeds {treatment} better",
            "losses": f"seeds {control} better",
        }
    )
    out.insert(2, "primary", out["fraction"] == matched["fraction"].max())
    out["claim"] = f"{claim}: {text}"
    out["verdict"] = table["rule verdict"]
    return out


def plan_summary(spec: StudySpec) -> pd.DataFrame:
    """What the study plans and what is stored: per arm the planned seeds, the
    stored and pending runs, the proposals per screened slot, a run's spend
    (batches, the same for every run) and the fewest paired seeds a verdict can come from."""
    status = status_table(spec)
    return pd.DataFrame(
        {
            "arm": status["arm"],
            "screen": [SCREENS[a] or "none (chapter 3's Revolver)" for a in status["arm"]],
            "proposals per slot": [spec.design.candidates if SCREENS[a] else 1 for a in status["arm"]],
            "planned seeds": len(spec.seeds),
            "stored": [len(s) for s in status["stored seeds"]],
            "pending": status["pending"],
            "batches per run": spec.design.spend(),
            "fewest decisive pairs": fewest_decisive_pairs(),
        }
    )


def plan_cost(spec: StudySpec) -> pd.DataFrame:
    """The CPU cost of the plan from the stored runs' timings (read, not
    measured): per arm the runs timed, the median CPU minutes of a run (its
    thread; wall minutes beside it) and the CPU hours of all the arm's planned
    runs at that median; an arm with no stored run takes the median of all
    stored runs (``from`` says which). A last row totals the plan."""
    stored = spec.rows()
    rows = []
    for arm in spec.design.arms:
        mine = stored[stored["arm"] == arm] if not stored.empty else stored
        basis = mine if len(mine) else stored
        cpu = float(basis["cpu_seconds"].median() / 60) if len(basis) else math.nan
        wall = float(basis["seconds"].median() / 60) if len(basis) else math.nan
        rows.append(
            {
                "arm": arm,
                "runs timed": len(mine),
                "from": arm if len(mine) else "all stored runs",
                "CPU min / run (median)": cpu,
                "wall min / run (median)": wall,
                "CPU h, planned runs": cpu * len(spec.seeds) / 60,
            }
        )
    table = pd.DataFrame(rows)
    total = {
        "arm": "plan",
        "runs timed": len(stored),
        "from": "the rows above",
        "CPU h, planned runs": table["CPU h, planned runs"].sum(),
    }
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)


def spend_figure(generations: pd.DataFrame, spec: StudySpec, floor: float | None = None) -> plt.Figure:
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
        ax.step(
            tested["batches_total"],
            best,
            where="post",
            color=colours.get(arm, "k"),
            alpha=0.8,
            label=None if arm in seen else f"{arm} (one line per seed)",
        )
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
    caption(
        fig,
        f"data: {spec.design.dataset} at {spec.design.image_size}x{spec.design.image_size} px, study "
        f"{spec.name}, plan {spec.plan}: {runs} stored runs (data/ch8_screening_generations.csv)",
    )
    return fig


def stored_criteria(spec: StudySpec) -> pd.DataFrame:
    """:func:`run_criteria_table` of ``spec``'s stored runs, generation logs and floors (what ``status`` shows)."""
    return run_criteria_table(spec.rows(), spec.rows("generations"), spec.floor_rows())


def run_criteria_table(runs: pd.DataFrame, generations: pd.DataFrame, floors: pd.DataFrame) -> pd.DataFrame:
    """Per stored run (arm, seed): the criteria of the module docstring against its seed's floor and the
    values they read (percent), and whether the run ``counts``. ``LookupError`` naming
    :data:`FLOOR_COMMAND` for a seed whose floor is not stored."""
    by_seed = floors.set_index("seed")
    missing = sorted(set(runs["seed"].astype(int)) - set(by_seed.index.astype(int)))
    if missing:
        raise LookupError(f"no linear floor of seeds {missing}: run `{FLOOR_COMMAND}`")
    logs = {key: log for key, log in generations.groupby(["arm", "seed"], sort=False)}
    rows = []
    for run in runs.itertuples():
        floor = by_seed.loc[int(run.seed)]
        log = logs.get((run.arm, run.seed), pd.DataFrame({"generation": [], "best_val_acc": []}))
        val = (100 * log.sort_values("generation")["best_val_acc"]).tolist()
        train = 100 * float(getattr(run, "top_train_acc_final", math.nan))
        test = 100 * float(run.top_test_acc_final)
        criteria = {
            "plateaued": plateaued(val),
            "fits training set": bool(train >= floor["train_top1"]),
            "above floor": bool(test > floor["test_top1"]),
        }
        rows.append(
            {
                "arm": run.arm,
                "seed": int(run.seed),
                "final top test top-1": test,
                "floor test top-1": floor["test_top1"],
                "final top train top-1": train,
                "floor train top-1": floor["train_top1"],
                **criteria,
                "counts": all(criteria.values()),
            }
        )
    return pd.DataFrame(rows).sort_values(["seed", "arm"], kind="stable").reset_index(drop=True)


#: The pilot and the planned study, declared (last: they name the run function above)
PILOT_SCREENING = screening_study(PILOT_DESIGN)
CPU_SCREENING = screening_study(CPU_DESIGN)
register_study(
    DeclaredStudy.of(
        PILOT_SCREENING,
        "chapter 8's pilot (its first plan): plain vs PG-screened Revolver, 14 generations (data/ch8_screening_*.csv)",
        reads=frozenset({"data_dir", "deadline"}),
    )
)
register_study(
    DeclaredStudy.of(
        CPU_SCREENING,
        "chapter 8: plain vs PG-screened Revolver on Fashion-MNIST (data/ch8_screening_*.csv)",
        aliases=("ch8",),
        reads=frozenset({"data_dir", "deadline"}),
    )
)
