"""Table 4.2 confirmed: the study declared before its first run, on seeds that chose nothing.

**Policy.** The exploratory Table 4.2 study (:func:`.table42_study.decisive_study`) counts the two
seeds that chose its recipe (:data:`.designs.PROTOCOL_SEEDS`), and some of its pairs were
trained on two machine kinds. This study repeats it under the recipe the protocol chose
(:data:`RECIPE`, the stored protocol's choice, checked by the tests) at the same width, images and
epochs (the ``cpu`` profile of :data:`.designs.STUDY_PROFILES`) on :data:`SEEDS`, twelve seeds that
no protocol or earlier chapter-4 study used, and everything that decides it is fixed here before the
first run:

- **the family** (:data:`.designs.FAMILY`): Table 4.2's two differences, each claimed in the sign of the
  thesis's CIFAR-10 difference (V2-S-shared above V2-B0-original, V2-B0-shared below it), and the
  two parameter-matched controls, each claiming the shared model above the unshared B0 narrowed to
  V2-S-shared's parameter count;
- **the correction**: Bonferroni over the family, each comparison judged by the rule of
  :mod:`reuseprior.reporting.statistics` at ``ALPHA / 4`` = 0.0125 with its ``1 - 0.0125``
  t-interval (:data:`.designs.FAMILY_ALPHA`);
- **one machine kind per seed**: all four runs of a seed train on one kind of machine
  (:func:`reuseprior.core.cpu.machine_kind`: one GPU model, or any CPU running the pinned AVX2
  kernels of :data:`reuseprior.core.cpu.PINNED_CPU_KERNELS`, so that every x86-64 machine of this
  project computes the same kernels), and a run is never resumed on another kind: its checkpoints
  are kept per kind, and :func:`confirmatory_run` refuses, before loading anything, a CPU process
  without the pinned kernels, a seed whose stored runs name another kind, and a run whose
  checkpoint another kind began;
- **seeds**: a seed of :data:`USED_SEEDS` is refused when the study is declared
  (:func:`confirmatory_study`);
- **one look**: the family is read once, when all twelve seeds are stored for the four models
  (:func:`.readings.family_judgement`); until then its differences are interim and its verdicts *not
  comparable*, so no interim count that happens to decide can stop the study. This reading rule is
  code, not plan: it was fixed when 6 of the 12 seeds were stored, before any verdict could be shown
  (one needs 8 counting seeds at the family's level). A seed is complete when its four runs are stored,
  whether or not they count: the reading waits for storage, never for a result.

These settings are part of the plan (the settings :class:`~reuseprior.core.study.StudySpec` hashes), so a
change to the family, its correction or the seeds' rule is another plan, whose rows are never read
as this one's. **Cost** (the stored ``train_time_s`` of the exploratory study on a 2-core CPU, one
thread a run): about 0.8, 1.5, 1.8 and 3.1 hours for V2-B0-narrow, V2-B0-original, V2-B0-shared
and V2-S-shared, 7.3 CPU-hours a seed, about 44 hours for the twelve seeds on two cores; trained in
the background at low priority, each finished run stored at once (``python -m reuseprior study
ch4-confirm run``), over several sessions. Its reading, the family judged at its level:
:func:`.readings.family_table` and :func:`.studies.judged_studies` (beside the exploratory study).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from reuseprior.chapters import register_study, study_command
from reuseprior.chapters.ch4_sharing_training.designs import (
    FAMILY,
    FAMILY_ALPHA,
    PROTOCOL_SEEDS,
    STORED_RUNS,
    STUDY_MODELS,
    STUDY_SEEDS,
    WORK_DIR,
    TrainingDesign,
    recipe_settings,
)
from reuseprior.chapters.ch4_sharing_training.runs import train_run, training_study
from reuseprior.core.cpu import (
    PINNED_CPU_KERNELS,
    kernel_pinned_kind,
    kind_folder,
    machine_kinds,
    other_machine_kinds,
)
from reuseprior.core.declared_study import DeclaredStudy
from reuseprior.core.errors import MachineKindError, RunSettingError
from reuseprior.core.study import StudySpec

__all__ = [
    "MachineKindError",
    "NAME",
    "PROFILE",
    "RECIPE",
    "SEEDS",
    "STUDY",
    "USED_SEEDS",
    "check_machine_kind",
    "confirmatory_run",
    "confirmatory_study",
    "merge_whole_seeds",
]

#: the recipe the protocol chose on the ``cpu`` profile (:func:`.table42_study.chosen_recipe`, checked by the tests)
RECIPE = "adamw-cosine"
#: the profile whose width, images, batch and epochs the study keeps
PROFILE = "cpu"
#: twelve seeds no protocol or earlier chapter-4 study used
SEEDS: tuple[int, ...] = tuple(range(100, 112))
#: the seeds of the recipe protocol and of every earlier chapter-4 study (width 0.25: 0-2; fit: 0-5)
USED_SEEDS: frozenset[int] = frozenset(PROTOCOL_SEEDS) | frozenset(STUDY_SEEDS)

#: the study's name in the runs table and its linear floors
NAME = f"table42-confirm-{PROFILE}-{RECIPE}"


def _declared(seeds: tuple[int, ...]) -> dict[str, Any]:
    """What the plan hashes beyond the training settings: the family, its correction and the rules."""
    return {
        "confirmatory": {
            "family": [[c.treatment, c.control, c.claim] for c in FAMILY],
            "correction": "bonferroni",
            "family alpha": FAMILY_ALPHA,
            "machine kinds": "one per seed; never resumed on another",
            "cpu kernels": dict(PINNED_CPU_KERNELS),
            "seeds": list(seeds),
        }
    }


def confirmatory_study(seeds: tuple[int, ...] = SEEDS, path: str | Path = STORED_RUNS) -> StudySpec:
    """The confirmatory study over ``seeds`` (module docstring), stored in ``path``; a seed that chose the
    recipe or served an earlier study (:data:`USED_SEEDS`) is refused, naming them."""
    used = sorted(set(seeds) & USED_SEEDS)
    if used:
        raise RunSettingError(
            "seeds", used, f"seeds no protocol or earlier study used (not {sorted(USED_SEEDS)}): they chose nothing"
        )
    design = TrainingDesign(NAME, STUDY_MODELS, tuple(seeds), recipe_settings(RECIPE, PROFILE))
    spec = training_study(design, path, floor=True)
    floor = replace(spec.floor, command=study_command("ch4-confirm", "floor"))
    policy = f"its seeds chose nothing; seeds {sorted(USED_SEEDS)} chose the recipe or served an earlier study"
    settings = {**spec.settings, **_declared(tuple(seeds))}
    return replace(spec, settings=settings, run_one=confirmatory_run, floor=floor, seed_policy=policy)


def _kind_here(device: str) -> str:
    """This process's machine kind on ``device``; a CPU process without the pinned kernels is refused."""
    return kernel_pinned_kind(device, "python -m reuseprior study ch4-confirm run")


def check_machine_kind(spec: StudySpec, model: str, seed: int, kind: str, work_dir: Path) -> None:
    """Refuse (``MachineKindError``) a run of ``model`` and ``seed`` on a machine of ``kind`` when the seed's
    stored runs name another kind, or another kind's folder under ``work_dir`` holds a checkpoint of it."""
    stored = spec.rows()
    mine = stored[stored["seed"] == seed] if not stored.empty else stored
    others = other_machine_kinds(mine.get("machine", []), kind)
    if others:
        raise MachineKindError(
            f"seed {seed} of {spec.name} has runs trained on {others}; its {model} run would train on {kind!r}: "
            "every run of a seed trains on one machine kind, so train it where its other runs trained"
        )
    pattern = f"*/{spec.plan}/checkpoints/*-{model}-*-s{seed}.pt"
    started = sorted({p.parents[2].name for p in work_dir.glob(pattern)} - {kind_folder(kind)})
    if started:
        raise MachineKindError(
            f"the {model} run of seed {seed} was begun on {started} (its checkpoint under {work_dir}); it is never "
            f"resumed on {kind!r}: finish it there, or delete the checkpoint to start it afresh"
        )


def confirmatory_run(
    *,
    study: str,
    model: str,
    seed: int,
    spec: StudySpec,
    work_dir: Path | None = None,
    data_dir: str | Path | None = None,
    progress: bool = False,
    device: str = "cpu",
    deadline: float | None = None,
) -> dict | None:
    """One run of the confirmatory study: :func:`.runs.train_run` with its checkpoints kept per
    machine kind (under ``work_dir``, a folder per kind), after the checks of :func:`check_machine_kind`
    (module docstring); its images read from ``data_dir`` (default: the design's; where the files are is
    no part of the plan)."""
    kind = _kind_here(str(device))
    root = Path(work_dir or WORK_DIR)
    check_machine_kind(spec, model, seed, kind, root)
    return train_run(
        study=study,
        model=model,
        seed=seed,
        spec=spec,
        work_dir=root / kind_folder(kind),
        data_dir=data_dir,
        progress=progress,
        device=device,
        deadline=deadline,
    )


def merge_whole_seeds(path: str | Path, spec: StudySpec) -> dict[str, list[int]]:
    """Store the runs of ``spec`` that another copy of its store at ``path`` holds (a lent GPU's), seed by seed.

    Policy: a seed's new rows join the stored study only when, with them, the seed has every model of the
    study, each run naming the one machine kind they all share. A seed left part-trained on a lent machine
    is not stored: its unfinished run cannot be resumed once that machine is given back, and its stored
    rows would bind the seed to that kind, so the seed trains afresh on the machine that trains the rest.
    The rule reads which runs finished and where, never their accuracy, and decides under the store's lock
    (:meth:`~reuseprior.core.study.RunStore.merge_from`). Returns the seeds stored and those left out.
    """
    decided: dict[str, list[int]] = {"stored": [], "left out": []}

    def whole_seeds(new: pd.DataFrame, stored: pd.DataFrame) -> pd.DataFrame:
        new, mine = (spec.store.select_rows(rows, spec.plan, spec.name) for rows in (new, stored))
        models = {run["model"] for run in spec.runs}
        for seed in sorted(set(new["seed"])):
            seed_rows = pd.concat([new[new["seed"] == seed], *([mine[mine["seed"] == seed]] if len(mine) else [])])
            kinds = [machine_kinds(machine) for machine in seed_rows["machine"]]
            whole = set(seed_rows["model"]) == models and all(kinds) and len({k for ks in kinds for k in ks}) == 1
            decided["stored" if whole else "left out"].append(int(seed))
        return new[new["seed"].isin(decided["stored"])]

    spec.store.merge_from(path, select=whole_seeds)
    return decided


#: the declared study (:func:`confirmatory_study`)
STUDY = confirmatory_study()
register_study(
    DeclaredStudy.of(
        STUDY,
        "chapter 4: Table 4.2 confirmed on 12 fresh seeds, declared before its runs (data/ch4_real_study_runs.csv)",
        aliases=("ch4-confirm",),
    )
)
