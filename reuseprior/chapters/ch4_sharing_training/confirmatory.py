"""Table 4.2 confirmed: the study declared before its first run, on seeds that chose nothing.

**Policy.** The exploratory Table 4.2 study (:func:`.table42_study.decisive_study`) counts the two
seeds that chose its recipe (:data:`.table42_study.PROTOCOL_SEEDS`), and some of its pairs were
trained on two machine kinds. This study repeats it under the recipe the protocol chose
(:data:`RECIPE`, the stored protocol's choice, checked by the tests) at the same width, images and
epochs (the ``cpu`` profile of :data:`.table42_study.PROFILES`) on :data:`SEEDS`, twelve seeds that
no protocol or earlier chapter-4 study used, and everything that decides it is fixed here before the
first run:

- **the family** (:data:`FAMILY`): Table 4.2's two differences, each claimed in the sign of the
  thesis's CIFAR-10 difference (V2-S-shared above V2-B0-original, V2-B0-shared below it), and the
  two parameter-matched controls, each claiming the shared model above the unshared B0 narrowed to
  V2-S-shared's parameter count;
- **the correction**: Bonferroni over the family, each comparison judged by the rule of
  :mod:`reuseprior.reporting.statistics` at ``ALPHA / 4`` = 0.0125 with its ``1 - 0.0125``
  t-interval (:data:`FAMILY_ALPHA`);
- **one machine kind per seed**: all four runs of a seed train on one kind of machine
  (:func:`reuseprior.core.cpu.machine_kind`: one GPU model, or any CPU running the pinned AVX2
  kernels of :data:`reuseprior.core.cpu.PINNED_CPU_KERNELS`, so that every x86-64 machine of this
  project computes the same kernels), and a run is never resumed on another kind: its checkpoints
  are kept per kind, and :func:`confirmatory_run` refuses, before loading anything, a CPU process
  without the pinned kernels, a seed whose stored runs name another kind, and a run whose
  checkpoint another kind began;
- **seeds**: a seed of :data:`USED_SEEDS` is refused when the study is declared
  (:func:`confirmatory_study`).

These settings are part of the plan (the settings :class:`~reuseprior.core.study.StudySpec` hashes), so a
change to the family, its correction or the seeds' rule is another plan, whose rows are never read
as this one's. **Cost** (the stored ``train_time_s`` of the exploratory study on a 2-core CPU, one
thread a run): about 0.8, 1.5, 1.8 and 3.1 hours for V2-B0-original, V2-B0-shared, V2-B0-narrow
and V2-S-shared, 7.3 CPU-hours a seed, about 44 hours for the twelve seeds on two cores; trained in
the background at low priority, each finished run stored at once (``python -m reuseprior study
ch4-confirm run``), over several sessions.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reuseprior.chapters import register_study, study_command
from reuseprior.chapters.ch4_sharing_training import real_study as real
from reuseprior.chapters.ch4_sharing_training.fit_study import NARROW_CONTROL, JudgedRuns
from reuseprior.chapters.ch4_sharing_training.table42_study import (
    CANDIDATE_RECIPES,
    MODELS,
    PROTOCOL_SEEDS,
    STUDY_SEEDS,
    decisive_study,
    floor_study,
    protocol_runs,
    recipe_settings,
)
from reuseprior.core.cpu import PINNED_CPU_KERNELS, device_description, kernels_pinned, machine_kind, machine_kinds
from reuseprior.core.declared_study import DeclaredStudy
from reuseprior.core.errors import MachineKindError, RunSettingError
from reuseprior.core.study import StudySpec
from reuseprior.reporting import verdicts
from reuseprior.reporting.reference import load_thesis_table
from reuseprior.reporting.statistics import ALPHA, NOT_COMPARABLE, p_value_text, t_interval_text
from reuseprior.reporting.verdicts import Comparison

__all__ = [
    "FAMILY",
    "FAMILY_ALPHA",
    "MachineKindError",
    "RECIPE",
    "SEEDS",
    "STUDY",
    "USED_SEEDS",
    "check_machine_kind",
    "confirmatory_run",
    "confirmatory_study",
    "family_judgement",
    "family_table",
    "family_reading",
    "judged_studies",
    "recipe_dependence",
    "seed_machine_kinds",
]

#: the recipe the protocol chose on the ``cpu`` profile (:func:`.table42_study.chosen_recipe`)
RECIPE = "adamw-cosine"
#: the profile whose width, images, batch and epochs the study keeps
PROFILE = "cpu"
#: twelve seeds no protocol or earlier chapter-4 study used
SEEDS: tuple[int, ...] = tuple(range(100, 112))
#: the seeds of the recipe protocol and of every earlier chapter-4 study (width 0.25: 0-2; fit: 0-5)
USED_SEEDS: frozenset[int] = frozenset(PROTOCOL_SEEDS) | frozenset(STUDY_SEEDS)
#: the family judged, in order: Table 4.2's two differences (the thesis's CIFAR-10 signs), then the controls
FAMILY: tuple[Comparison, ...] = (
    Comparison("V2-S-shared", "V2-B0-original", "greater"),
    Comparison("V2-B0-shared", "V2-B0-original", "less"),
    Comparison("V2-S-shared", NARROW_CONTROL, "greater"),
    Comparison("V2-B0-shared", NARROW_CONTROL, "greater"),
)
#: the Bonferroni level of each comparison of :data:`FAMILY`
FAMILY_ALPHA = ALPHA / len(FAMILY)
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


def confirmatory_study(seeds: tuple[int, ...] = SEEDS, path: str | Path = real.STORED_RUNS) -> StudySpec:
    """The confirmatory study over ``seeds`` (module docstring), stored in ``path``; a seed that chose the
    recipe or served an earlier study (:data:`USED_SEEDS`) is refused, naming them."""
    used = sorted(set(seeds) & USED_SEEDS)
    if used:
        raise RunSettingError(
            "seeds", used, f"seeds no protocol or earlier study used (not {sorted(USED_SEEDS)}): they chose nothing"
        )
    design = real.TrainingDesign(NAME, MODELS, tuple(seeds), recipe_settings(RECIPE, PROFILE))
    spec = real.training_study(design, path, floor=True)
    floor = replace(spec.floor, command=study_command("ch4-confirm", "floor"))
    policy = f"its seeds chose nothing; seeds {sorted(USED_SEEDS)} chose the recipe or served an earlier study"
    settings = {**spec.settings, **_declared(tuple(seeds))}
    return replace(spec, settings=settings, run_one=confirmatory_run, floor=floor, seed_policy=policy)


def _kind_here(device: str) -> str:
    """This process's machine kind on ``device``; a CPU process without the pinned kernels is refused."""
    if device.startswith("cuda") or kernels_pinned():
        return machine_kind(device_description(device))
    prefix = " ".join(f"{k}={v}" for k, v in PINNED_CPU_KERNELS.items())
    raise MachineKindError(
        f"the confirmatory study trains on a CPU only with its AVX2 kernels pinned, so that every CPU of the "
        f"study computes alike: start the command as `{prefix} python -m reuseprior study ch4-confirm run`"
    )


def check_machine_kind(spec: StudySpec, model: str, seed: int, kind: str, work_dir: Path) -> None:
    """Refuse (``MachineKindError``) a run of ``model`` and ``seed`` on a machine of ``kind`` when the seed's
    stored runs name another kind, or another kind's folder under ``work_dir`` holds a checkpoint of it."""
    stored = spec.rows()
    mine = stored[stored["seed"] == seed] if not stored.empty else stored
    others = sorted({k for m in mine.get("machine", []) for k in machine_kinds(m)} - {kind})
    if others:
        raise MachineKindError(
            f"seed {seed} of {spec.name} has runs trained on {others}; its {model} run would train on {kind!r}: "
            "every run of a seed trains on one machine kind, so train it where its other runs trained"
        )
    pattern = f"*/{spec.plan}/checkpoints/*-{model}-*-s{seed}.pt"
    started = sorted({p.parents[2].name for p in work_dir.glob(pattern)} - {_slug(kind)})
    if started:
        raise MachineKindError(
            f"the {model} run of seed {seed} was begun on {started} (its checkpoint under {work_dir}); it is never "
            f"resumed on {kind!r}: finish it there, or delete the checkpoint to start it afresh"
        )


def _slug(kind: str) -> str:
    """A folder name for a machine kind."""
    return "".join(c if c.isalnum() else "-" for c in kind).strip("-")


def confirmatory_run(
    *,
    study: str,
    model: str,
    seed: int,
    spec: StudySpec,
    work_dir: Path | None = None,
    progress: bool = False,
    device: str = "cpu",
    deadline: float | None = None,
) -> dict | None:
    """One run of the confirmatory study: :func:`.real_study.train_run` with its checkpoints kept per
    machine kind (under ``work_dir``, a folder per kind), after the checks of :func:`check_machine_kind`
    (module docstring)."""
    kind = _kind_here(str(device))
    root = Path(work_dir or real.WORK_DIR)
    check_machine_kind(spec, model, seed, kind, root)
    return real.train_run(
        study=study,
        model=model,
        seed=seed,
        spec=spec,
        work_dir=root / _slug(kind),
        progress=progress,
        device=device,
        deadline=deadline,
    )


#: the declared study (:func:`confirmatory_study`)
STUDY = confirmatory_study()
register_study(
    DeclaredStudy.of(
        STUDY,
        "chapter 4: Table 4.2 confirmed on 12 fresh seeds, declared before its runs (data/ch4_real_study_runs.csv)",
        aliases=("ch4-confirm",),
        reads=frozenset({"store", "device", "deadline", "work_dir"}),
    )
)


# ------------------------------------------------------------------------------------------- reading it


def family_judgement(runs: pd.DataFrame, floor: pd.DataFrame, spec: StudySpec) -> JudgedRuns:
    """``spec``'s stored ``runs`` held to the run criteria against the linear ``floor`` of their images,
    with the seeds that decide at the family's level: every run of a seed counting, and at least
    :func:`~reuseprior.reporting.statistics.fewest_decisive_pairs` at :data:`FAMILY_ALPHA` of them (8)."""
    criteria = real.criteria_table(runs, floor) if len(runs) else pd.DataFrame(columns=list(real.CRITERIA_COLUMNS))
    complete, _ = verdicts.paired_seeds(runs, spec.design.models, arm="model") if len(runs) else ([], [])
    kept, reason = verdicts.decidability(
        criteria, complete, arm="model", noun="model", planned=len(spec.seeds), alpha=FAMILY_ALPHA
    )
    counting = runs[runs["seed"].isin(kept)] if len(runs) else pd.DataFrame(columns=list(real.STORED_COLUMNS))
    return JudgedRuns(spec, criteria, kept, reason, counting)


def _thesis_differences() -> dict[tuple[str, str], float]:
    """Table 4.2's CIFAR-10 score differences (points) of the pairs it prints."""
    table = load_thesis_table("table_4_2")
    score = table[table["Dataset"] == "CIFAR-10"].set_index("Model")["Score"]
    return {(a, b): float(score[a] - score[b]) for a in score.index for b in score.index if a != b}


def _cost_columns(counting: pd.DataFrame) -> pd.DataFrame:
    """Per comparison of :data:`FAMILY`: each side's parameters and MFLOPs a 32 px image (as its runs
    counted them) and the compute ratio, so that a parameter-matched control is read with its compute."""
    size = counting.groupby("model")[["params", "flops"]].first() if len(counting) else pd.DataFrame()
    rows = []
    for c in FAMILY:
        known = c.treatment in size.index and c.control in size.index
        params = size.loc[[c.treatment, c.control], "params"].to_numpy(float) if known else (np.nan, np.nan)
        flops = size.loc[[c.treatment, c.control], "flops"].to_numpy(float) / 1e6 if known else (np.nan, np.nan)
        rows.append(
            {
                "params (model)": params[0],
                "params (against)": params[1],
                "MFLOPs (model)": flops[0],
                "MFLOPs (against)": flops[1],
                "compute ratio (model / against)": flops[0] / flops[1],
            }
        )
    return pd.DataFrame(rows)


def family_table(judged: JudgedRuns, study: str) -> pd.DataFrame:
    """The family of :data:`FAMILY` over ``judged``'s counting seeds (labelled ``study``), judged at the
    Bonferroni level :data:`FAMILY_ALPHA` (the ``1 - FAMILY_ALPHA`` t-interval and the exact permutation
    p): the paired summary, the thesis's CIFAR-10 difference where Table 4.2 prints the pair, the claim,
    the verdict (gated to *not comparable* with the reason while too few seeds count), its robustness
    (:func:`~reuseprior.reporting.verdicts.paired_robustness`) and each side's parameters and compute."""
    counting = judged.counting
    table = verdicts.paired_differences(
        counting, FAMILY, arm="model", metrics=["top1_test"], confidence=1 - FAMILY_ALPHA
    ).drop(columns=["metric"])
    table = table.rename(columns={"treatment": "model", "control": "against", "pairs": "seeds"})
    table = table.rename(columns={"difference": "difference (pp)", "rule verdict": "verdict"})
    robust = verdicts.paired_robustness(counting, FAMILY, arm="model", metric="top1_test", alpha=FAMILY_ALPHA)
    for column in verdicts.ROBUSTNESS_COLUMNS:
        table[column] = robust[column].to_numpy()
    thesis = _thesis_differences()
    table.insert(0, "study", study)
    table.insert(3, "role", ["Table 4.2" if (c.treatment, c.control) in thesis else "control" for c in FAMILY])
    table["thesis CIFAR-10 difference (pp)"] = [thesis.get((c.treatment, c.control), np.nan) for c in FAMILY]
    table["family level"] = FAMILY_ALPHA
    table = pd.concat([table, _cost_columns(counting)], axis=1)
    return verdicts.gated_verdicts(table, judged.reason)


def judged_studies(path: str | Path = real.STORED_RUNS) -> dict[str, JudgedRuns]:
    """The confirmatory study and the exploratory one (:func:`.table42_study.decisive_study` of the same
    recipe, whose seeds 0-1 chose it) judged alike at the family's level, each against the linear floor
    of its own images; the confirmatory floor is named by its command when missing."""
    exploratory = decisive_study(RECIPE, PROFILE).with_store(Path(path))
    confirmatory = STUDY.with_store(Path(path))
    judged = {}
    for label, spec, floors in (
        ("confirmatory", confirmatory, confirmatory),
        ("exploratory", exploratory, floor_study(PROFILE)),
    ):
        runs = spec.rows()
        floor = floors.floor_rows() if len(runs) else pd.DataFrame(columns=["seed", "top1_train", "top1_test"])
        judged[label] = family_judgement(runs, floor, spec)
    return judged


def family_reading(tables: dict[str, pd.DataFrame]) -> str:
    """The headline in words (Markdown): per comparison of the confirmatory study its verdict at the
    family's level with the interval, the seeds and the robustness, then the exploratory study's under
    the same rules, as context (its seeds 0-1 chose the recipe)."""
    lines = []
    for label, table in tables.items():
        role = "" if label == "confirmatory" else " (context: its seeds 0-1 chose the recipe)"
        lines.append(f"**{label.capitalize()} study**{role}, family of {len(FAMILY)}, level {FAMILY_ALPHA:g}:")
        for _, row in table.iterrows():
            pair = f"{row['model']} minus {row['against']} ({row['role']}, claimed {row['claim']})"
            if row["seeds"] < 2:
                lines.append(f"- {pair}: {int(row['seeds'])} seeds; **{row['verdict']}** ({row['reason']}).")
                continue
            interval = t_interval_text(row["t low"], row["t high"]).replace(
                "t-interval", f"{100 * (1 - FAMILY_ALPHA):g} % t-interval"
            )
            lines.append(
                f"- {pair}: {row['difference (pp)']:+.2f} points over {int(row['seeds'])} seeds ({interval}, "
                f"permutation p {p_value_text(row['permutation p'])}, "
                f"{row['permutation steps to the level']:g} permutation steps to the level, "
                f"{row['leave-one-seed-out agreement']:.0%} of leave-one-seed-out subsets agree); "
                f"**{row['verdict']}**" + (f" ({row['reason']})" if row["verdict"] == NOT_COMPARABLE else "") + "."
            )
    return "\n".join(lines)


def seed_machine_kinds(runs: pd.DataFrame) -> pd.DataFrame:
    """Per seed of ``runs`` (one study's stored rows): the machine kinds its runs trained on
    (:func:`reuseprior.core.cpu.machine_kinds` of each row, a run moved between machines naming each)
    and whether they mix kinds, which the confirmatory study refuses."""
    rows = []
    for seed, mine in runs.groupby("seed", sort=True):
        kinds = sorted({k for machine in mine["machine"] for k in machine_kinds(machine)})
        rows.append({"seed": int(seed), "runs": len(mine), "machine kinds": "; ".join(kinds), "mixed": len(kinds) > 1})
    return pd.DataFrame(rows, columns=["seed", "runs", "machine kinds", "mixed"])


def recipe_dependence(runs: pd.DataFrame, floor: pd.DataFrame) -> pd.DataFrame:
    """The recipe protocol's runs (:func:`.table42_study.protocol_runs`, seeds 0-1, every candidate
    recipe) read per comparison of :data:`FAMILY`: the paired difference per recipe over the protocol's
    seeds, on the validation top-1 of the last epochs (what the protocol judged) and on test, with each
    seed's value; two seeds decide nothing, so no verdict: the table shows whether the sign depends on
    the recipe, and the models' eval-mode training top-1 beside the linear ``floor``'s on the same images
    (mean over the protocol's seeds) whether each fits them (the fit criterion of the run criteria)."""
    protocol = protocol_runs(runs)
    floor_train = float(floor[floor["seed"].isin(PROTOCOL_SEEDS)]["top1_train"].mean())
    rows = []
    for recipe in CANDIDATE_RECIPES:
        mine = protocol[protocol["recipe"] == recipe]
        fit = mine.groupby("model")["train top-1 (eval)"].mean()
        for metric in ("val top-1 last epochs", "test top-1"):
            per_seed = verdicts.per_seed_differences(mine, FAMILY, arm="model", metrics=[metric])
            for c in FAMILY:
                d = per_seed[(per_seed["treatment"] == c.treatment) & (per_seed["control"] == c.control)]
                rows.append(
                    {
                        "recipe": recipe,
                        "metric": metric,
                        "model": c.treatment,
                        "against": c.control,
                        "seeds": len(d),
                        "difference (pp)": d["difference"].mean() if len(d) else np.nan,
                        **{f"seed {s}": v for s, v in zip(d["seed"], d["difference"])},
                        "train top-1 (model)": fit.get(c.treatment, np.nan),
                        "train top-1 (against)": fit.get(c.control, np.nan),
                        "floor train top-1": floor_train,
                    }
                )
    return pd.DataFrame(rows)
