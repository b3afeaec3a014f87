"""Chapter 4's studies side by side: as ``python -m reuseprior study ch4`` runs them (:data:`STUDY_GROUP`,
registered as ``ch4``, :func:`reuseprior.chapters.register_study`), and the readings that set one study's
stored rows beside another's.

The command's studies, chosen by ``--profile``:

- ``cpu`` (the default): the width-0.25 study (:data:`~reuseprior.chapters.ch4_sharing_training.real_study.CPU_STUDY`),
  the fit study (:data:`~reuseprior.chapters.ch4_sharing_training.fit_study.FIT_STUDY`, only once its recipe's fit
  check passed: :func:`recipe_check`) and the Table 4.2 study;
- ``gpu``: the Table 4.2 study at Table 4.2's sizes.

The Table 4.2 study (:mod:`reuseprior.chapters.ch4_sharing_training.table42_study`) is its recipe protocol (on the cpu
profile's settings, whatever the device) until the protocol has chosen a recipe, then the chosen
recipe's study over every seed. ``status`` adds the protocol's table and why the fit study waits, when it
does (choosing the studies prints nothing); the chapter's own actions store
the live slice (``slice``), the width-1.0 recipe probes (``probes``), their fit checks
(``fit-checks``, read by :func:`fit_check_table`) and the linear floors of the studies' images
(``floor``: on the ``cpu`` profile the width-0.25 and fit studies' and the Table 4.2 study's; on
``gpu`` the Table 4.2 study's 54,000 images); the engine's ``check`` retrains the live slice (the
width-0.25 study's live check).

The readings across studies: :func:`fit_check_table` (the probes' fit checks beside the width-0.25
study's floor), :func:`judged_studies` (the confirmatory study and the exploratory one judged alike)
and :func:`recipe_dependence` (the protocol's runs read per comparison of the confirmatory family).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from reuseprior.chapters import register_study
from reuseprior.chapters.ch4_sharing_training import confirmatory as confirm
from reuseprior.chapters.ch4_sharing_training import fit_study as fit
from reuseprior.chapters.ch4_sharing_training import real_study as real
from reuseprior.chapters.ch4_sharing_training import recipe_probes as probes
from reuseprior.chapters.ch4_sharing_training import table42_study as table42
from reuseprior.chapters.ch4_sharing_training.designs import (
    CANDIDATE_RECIPES,
    FAMILY,
    FIT_RECIPE,
    LINEAR_FLOOR,
    PROTOCOL_SEEDS,
    STORED_RUNS,
    STUDY_PROFILES,
    STUDY_SEEDS,
    read_runs,
)
from reuseprior.chapters.ch4_sharing_training.readings import JudgedRuns, family_judgement
from reuseprior.core.declared_study import FLOOR_ACTION, DeclaredStudy
from reuseprior.core.study import StudyGroup, StudyRequest, StudySpec, pending_runs
from reuseprior.core.study_runner import run_study, store_floors
from reuseprior.reporting import verdicts
from reuseprior.training.convergence import read_history, run_criteria

__all__ = [
    "STUDY_GROUP",
    "chosen_studies",
    "fit_check_table",
    "judged_studies",
    "recipe_check",
    "recipe_dependence",
]

#: the width-0.25 study and the fit checks, in the order they run (before the Table 4.2 protocol's studies)
WIDTH_025_AND_FIT_STUDIES = (real.CPU_STUDY, fit.FIT_STUDY)


def _runs(request: StudyRequest) -> pd.DataFrame:
    return read_runs(request.store or STORED_RUNS)


def _profile(request: StudyRequest) -> str:
    """The request's profile; one that names none (a caller other than the command, which sets the default)
    has the declaration's default, the first of :data:`.designs.STUDY_PROFILES`."""
    return request.profile or next(iter(STUDY_PROFILES))


def _table42(request: StudyRequest) -> list[StudySpec]:
    """The recipe protocol until it has chosen a recipe, then the chosen recipe's study on ``--profile``."""
    recipe = table42.chosen_recipe(_runs(request))
    if recipe is None:
        return table42.protocol_studies()
    return [table42.decisive_study(recipe, _profile(request))]


def chosen_studies(request: StudyRequest) -> list[StudySpec]:
    """Chapter 4's studies of ``request.profile`` that may run (module docstring): on ``cpu`` the fit study only
    once its recipe's fit check passed (:func:`recipe_check`; ``status`` says why it waits)."""
    if _profile(request) == "gpu":
        return _table42(request)
    earlier = [spec for spec in WIDTH_025_AND_FIT_STUDIES if not (spec is fit.FIT_STUDY and recipe_check())]
    return [*earlier, *_table42(request)]


def _protocol(request: StudyRequest) -> list[tuple[str, pd.DataFrame]]:
    """What ``status`` shows after the studies' tables: the recipe protocol's table, and on ``cpu`` why the fit
    study waits, when it does."""
    reports = [("the Table 4.2 recipe protocol", table42.protocol_table(_runs(request)).drop(columns="plan"))]
    waits = "" if _profile(request) == "gpu" else recipe_check()
    if waits:
        reports.append((f"study {fit.FIT_STUDY.name} waits", pd.DataFrame([{"why": waits}])))
    return reports


def _slice(request: StudyRequest) -> str:
    spec = real.LIVE_SLICE.with_store(request.store)
    stored = run_study(spec, options={"progress": request.progress}, progress=request.progress).stored
    return "stored the live slice" if stored else "the live slice is already stored"


def _probes(request: StudyRequest) -> str:
    """Probe the recipes of :mod:`reuseprior.chapters.ch4_sharing_training.recipe_probes` (resumable); their status."""
    path = request.store or probes.STORED_PROBES
    done = probes.run_probes(path, max_runs=request.max_runs, progress=request.progress)
    return f"stored {len(done)} probe runs\n" + probes.probe_status(path).to_string(index=False)


def _fit_checks(request: StudyRequest) -> str:
    """Train chapter 4's fit checks (a probed recipe for the whole schedule; resumable); their table."""
    path = request.store or probes.STORED_PROBES
    done = probes.run_fit_checks(path, max_runs=request.max_runs, progress=request.progress)
    return f"stored {len(done)} fit-check runs\n" + fit_check_table(path).to_string(index=False)


def _floors(request: StudyRequest) -> str:
    """Store the linear floor of each study's images of ``--profile``, per seed (the seeds not stored yet,
    of ``--seeds`` when given): on ``cpu`` the earlier studies' and the Table 4.2 study's, on ``gpu`` the
    Table 4.2 study's (all 54,000 training images)."""
    table42_floor = table42.floor_study(_profile(request))
    specs = (table42_floor,) if _profile(request) == "gpu" else (*WIDTH_025_AND_FIT_STUDIES, table42_floor)
    options = {"data_dir": request.options.get("data_dir")}  # the images of --data-dir, as the runs read them
    tables = [store_floors(spec, request.seeds, progress=request.progress, **options) for spec in specs]
    return "\n".join(t.to_string(index=False) for t in tables) + f"\n-> {LINEAR_FLOOR}"


def _mean_seconds(runs: pd.DataFrame, prefix: str, machine: str) -> tuple[float, pd.Series] | None:
    """The mean ``train_time_s`` of the stored runs of the studies named ``prefix...`` trained wholly on a
    machine whose description starts with ``machine`` (a run resumed on another machine is left out), and
    the sizes of the first of them (``train_images``, ``epochs``, ``width_mult``); None when there is none."""
    mine = runs[runs["study"].astype(str).str.startswith(prefix) & runs["machine"].astype(str).str.startswith(machine)]
    mine = mine[~mine["machine"].astype(str).str.contains(" then ", regex=False)].dropna(subset=["train_time_s"])
    if mine.empty:
        return None
    return float(mine["train_time_s"].mean()), mine.iloc[0]


def _cost(request: StudyRequest) -> str:
    """What the ``gpu`` profile's pending runs would take (the sentence a refusal of ``--profile gpu`` on a
    machine without CUDA quotes): per run, the GPU minutes its stored runs took, and the hours on this
    project's 2-core CPU: the ``cpu`` profile's runs trained there, scaled by training images x epochs x
    width squared (a convolution's multiply-adds grow with the square of the width), read from the
    committed runs (:data:`.designs.STORED_RUNS`) whatever ``--store`` is; empty on ``cpu``."""
    if _profile(request) != "gpu":
        return ""
    runs = read_runs(STORED_RUNS)
    pending = sum(len(pending_runs(spec.with_store(request.store))) for spec in chosen_studies(request))
    gpu, cpu = _mean_seconds(runs, "table42-gpu-", "NVIDIA"), _mean_seconds(runs, "table42-cpu-", "x86_64")
    sizes = "Table 4.2's sizes (width 1.0, every training image, 30 epochs)"
    if gpu is None or cpu is None:
        return f"{pending} runs pending at {sizes}: no stored runs to estimate their hours from"
    (gpu_s, big), (cpu_s, small) = gpu, cpu
    scale = (big["train_images"] * big["epochs"]) / (small["train_images"] * small["epochs"])
    scale *= (big["width_mult"] / small["width_mult"]) ** 2
    hours = cpu_s * scale / 3600
    return (
        f"{pending} runs pending at {sizes}: about {gpu_s / 60:.0f} GPU minutes each (the stored GPU runs), about "
        f"{hours:,.0f} hours each on a 2-core CPU (the cpu profile's CPU runs, {cpu_s / 3600:.1f} h, scaled by "
        f"images x epochs x width squared), {pending * hours:,.0f} CPU hours in all: impractical"
    )


def recipe_check(path: Path = probes.STORED_PROBES) -> str:
    """Why :data:`.fit_study.FIT_STUDY` may not be trained yet ("" when it may): a study is run only once its
    recipe's fit check (:func:`fit_check_table`) shows the
    hardest model fitting its training images and beating the linear floor; otherwise the study would
    again compare a model that underfits."""
    table = fit_check_table(path)
    row = table[table["recipe"] == FIT_RECIPE]
    if row.empty:
        return (
            f"the fit check of its recipe {FIT_RECIPE!r} is not stored: run `python -m reuseprior study ch4 fit-checks`"
        )
    row = row.iloc[0]
    if not (row["fits training set"] and row["above floor"]):
        return (
            f"under its recipe {FIT_RECIPE!r} {row['model']} does not fit (training top-1 {row['train top-1']:.2f} "
            f"against the floor's {row['floor train top-1']:.2f}, test {row['test top-1']:.2f} against "
            f"{row['floor test top-1']:.2f})"
        )
    return ""


def fit_check_table(path: Path = probes.STORED_PROBES) -> pd.DataFrame:
    """Per stored fit check (:func:`.recipe_probes.fit_check_studies`): the model, width and parameters,
    its training top-1 and test top-1 (%) beside the linear floor of the same images (chapter 4's study
    images, seed 0), and whether the run
    fits its training images and beats the floor (:mod:`reuseprior.training.convergence`). The training
    top-1 is the eval-mode accuracy on the training images once the run completed (``train_top1_eval``)
    where the row has it, else the running top-1 of the last epoch in train mode (rows stored before
    that column existed), which understates the fit; ``training top-1 measured`` says which."""
    floor = real.CPU_STUDY.floor_rows().set_index("seed").loc[0]
    images = {"train_top1": floor["top1_train"], "test_top1": floor["top1_test"]}
    rows = []
    for study in probes.fit_check_studies(path):
        for _, row in study.rows().iterrows():
            history = read_history(row["epoch_history"])
            trained = [h for h in history if h["epoch"] >= 1]
            clean = row.get("train_top1_eval")
            measured = "eval mode, after training" if pd.notna(clean) else "train mode, last epoch"
            c = run_criteria(history, float(row["top1_test"]), images, train_top1=clean)
            rows.append(
                {
                    "recipe": study.name.removeprefix(probes.FIT_CHECK_PREFIX),
                    "model": row["model"],
                    "width": row["width_mult"],
                    "params": row["params"],
                    "epochs": len(trained),
                    "train top-1": c.train_top1,
                    "training top-1 measured": measured,
                    "train top-1 last epoch (train mode)": trained[-1]["train_top1"] if trained else math.nan,
                    "floor train top-1": floor["top1_train"],
                    "test top-1": row["top1_test"],
                    "floor test top-1": floor["top1_test"],
                    "fits training set": c.fits_training_set,
                    "above floor": c.above_floor,
                }
            )
    return pd.DataFrame(rows)


def judged_studies(path: str | Path = STORED_RUNS) -> dict[str, JudgedRuns]:
    """The confirmatory study and the exploratory one (:func:`.table42_study.decisive_study` of the same
    recipe, whose seeds 0-1 chose it) judged alike at the family's level, each against the linear floor
    of its own images; the confirmatory floor is named by its command when missing."""
    exploratory = table42.decisive_study(confirm.RECIPE, confirm.PROFILE).with_store(Path(path))
    confirmatory = confirm.STUDY.with_store(Path(path))
    judged = {}
    for label, spec, floors in (
        ("confirmatory", confirmatory, confirmatory),
        ("exploratory", exploratory, table42.floor_study(confirm.PROFILE)),
    ):
        runs = spec.rows()
        floor = floors.floor_rows() if len(runs) else pd.DataFrame(columns=["seed", "top1_train", "top1_test"])
        judged[label] = family_judgement(runs, floor, spec)
    return judged


def recipe_dependence(runs: pd.DataFrame, floor: pd.DataFrame) -> pd.DataFrame:
    """The recipe protocol's runs (:func:`.table42_study.protocol_runs`, seeds 0-1, every candidate
    recipe) read per comparison of :data:`.designs.FAMILY`: the paired difference per recipe over the protocol's
    seeds, on the validation top-1 of the last epochs (what the protocol judged) and on test, with each
    seed's value; two seeds decide nothing, so no verdict: the table shows whether the sign depends on
    the recipe, and the models' eval-mode training top-1 beside the linear ``floor``'s on the same images
    (mean over the protocol's seeds) whether each fits them (the fit criterion of the run criteria)."""
    protocol = table42.protocol_runs(runs)
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


#: chapter 4's studies and actions, chosen by ``--profile`` (``cpu`` or ``gpu``)
STUDY_GROUP = StudyGroup(
    seeds=tuple(sorted({seed for spec in WIDTH_025_AND_FIT_STUDIES for seed in spec.seeds} | set(STUDY_SEEDS))),
    choose=chosen_studies,
    reports=_protocol,
    actions={"slice": _slice, "probes": _probes, "fit-checks": _fit_checks, "floor": _floors},
    cost=_cost,
)
register_study(
    DeclaredStudy.of(
        STUDY_GROUP,
        "chapter 4: EfficientNetV2 original vs shared on Fashion-MNIST (data/ch4_real_study_runs.csv)",
        aliases=("ch4",),
        reads=frozenset({"store", "profile", "device", "deadline", "work_dir", "data_dir"}),
        actions={
            "slice": "store the live slice that the notebook retrains",
            "probes": "train the width-1.0 recipe probes on 5,000 images, resumable",
            "fit-checks": "train the fit checks, a probed recipe for its whole schedule, resumable",
            **FLOOR_ACTION,
            "check": "retrain the live slice here and hold it to the stored slice row (minutes)",
        },
        profiles={name: profile.device for name, profile in STUDY_PROFILES.items()},
    )
)
