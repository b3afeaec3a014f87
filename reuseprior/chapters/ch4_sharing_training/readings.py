"""Chapter 4's trained studies read: stored runs and their linear floors in, tables and words out. Nothing
here trains or declares a study (the declarations and the code that runs them sit beside and below:
:mod:`.runs`, :mod:`.real_study` ... :mod:`.confirmatory`), so the readings of one study serve another's.

* Table 4.2's pairs over stored seeds (:func:`model_table`, :func:`model_differences`, the thesis's
  values beside them :func:`with_thesis_direction`, the rule's verdict :func:`with_rule_verdicts`, gated
  by the linear floor :func:`with_verdicts`) and a study's settings (:func:`settings_table`);
* a study's runs judged once (:class:`JudgedRuns`, :func:`judge`: the criteria of
  :func:`.designs.criteria_table` and the seeds that count, :func:`counting_seeds`) and read by
  :func:`verdict_table`, :func:`control_table` and :func:`prior_beside_accuracy`;
* the confirmatory family (:func:`family_judgement`, :func:`family_table`, :func:`family_reading`,
  :func:`family_figure_tables`) and
  the machine kinds of a study's seeds (:func:`seed_machine_kinds`, :func:`family_by_machine_kind`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from reuseprior.analysis.compare import compare
from reuseprior.chapters.ch4_sharing_training.architecture import build_experiment_model
from reuseprior.chapters.ch4_sharing_training.designs import (
    CONTROL_PAIRS,
    CRITERIA_COLUMNS,
    FAMILY,
    FAMILY_ALPHA,
    PAIRS,
    STORED_COLUMNS,
    criteria_table,
)
from reuseprior.chapters.ch4_sharing_training.plan import make_plan
from reuseprior.core.cpu import machine_kinds, torch_versions
from reuseprior.core.study import StudySpec
from reuseprior.core.verdict_policy import INTERIM, NOT_COMPARABLE, verdict
from reuseprior.reporting import verdicts
from reuseprior.reporting.reference import load_thesis_table
from reuseprior.reporting.statistics import fewest_decisive_pairs, p_value_text, t_interval_text
from reuseprior.reporting.verdicts import Comparison, gated_verdicts, per_seed_differences

# ------------------------------------------------------------------------------------- Table 4.2's pairs


def model_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per model over the stored seeds: parameters, FLOPs at the training
    resolution, and the mean and standard deviation of the test and
    validation top-1 (%)."""
    rows = []
    for model, df in runs.groupby("model", sort=False):
        test, val = df["top1_test"].to_numpy(float), df["top1_val"].to_numpy(float)  # stored in %
        rows.append(
            {
                "Model": model,
                "Seeds": len(df),
                "Params": int(df["params"].iloc[0]),
                "FLOPs": int(df["flops"].iloc[0]),
                "Top-1 test (%)": test.mean(),
                "Top-1 test sd": test.std(ddof=1) if len(test) > 1 else float("nan"),
                "Top-1 val (%)": val.mean(),
                "Train s (mean)": float(df["train_time_s"].mean()),
            }
        )
    return pd.DataFrame(rows)


def model_differences(
    runs: pd.DataFrame,
    pairs: Iterable[tuple[str, str]] = PAIRS,
    *,
    metric: str = "top1_test",
    seed: int = 0,
) -> pd.DataFrame:
    """Per pair ``(model, against)``: ``model`` minus ``against`` per seed (percentage points of
    ``metric``, stored in %; :func:`reuseprior.reporting.verdicts.paired_differences`: the mean, the 95 %
    paired t-interval, exact permutation and sign-test p, wins and losses, the seeds' range; the
    percentile bootstrap only from its minimum number of pairs), and the parameter ratio
    ``against / model``."""
    comparisons = [Comparison(first, second) for first, second in pairs]
    table = verdicts.paired_differences(runs, comparisons, arm="model", metrics=[metric], seed=seed)
    params = {model: df.set_index("seed")["params"] for model, df in runs.groupby("model", sort=False)}
    ratios = []
    for first, second in pairs:
        a, b = params.get(first, pd.Series(dtype=float)), params.get(second, pd.Series(dtype=float))
        seeds = sorted(set(a.index) & set(b.index))
        ratios.append(float(b.loc[seeds[0]] / a.loc[seeds[0]]) if seeds else np.nan)
    out = table.drop(columns=["metric", "wins", "losses"]).rename(
        columns={"treatment": "model", "control": "against", "pairs": "seeds", "difference": "difference (pp)"}
    )
    out["seeds model better"] = table["wins"]
    out["seeds against better"] = table["losses"]
    out["param ratio (against / model)"] = ratios
    return out


def with_thesis_direction(differences: pd.DataFrame, dataset: str = "CIFAR-10") -> pd.DataFrame:
    """``differences`` (from :func:`model_differences`) with Table 4.2's own
    values for the same pairs on ``dataset`` beside them, read from the
    transcribed table: the printed score difference (points) and parameter
    ratio, and whether our difference has the thesis's sign."""
    table = load_thesis_table("table_4_2")
    rows = table[table["Dataset"] == dataset].set_index("Model")
    out = differences.copy()
    out[f"thesis {dataset} difference (pp)"] = [
        rows.loc[m, "Score"] - rows.loc[a, "Score"] for m, a in zip(out["model"], out["against"])
    ]
    out[f"thesis {dataset} param ratio"] = [
        rows.loc[a, "Params (M)"] / rows.loc[m, "Params (M)"] for m, a in zip(out["model"], out["against"])
    ]
    thesis_sign = np.sign(out[f"thesis {dataset} difference (pp)"])
    ours = out["difference (pp)"].astype(float)
    out["same sign as the thesis"] = (np.sign(ours) == thesis_sign).astype(object).where(ours.notna())  # no pairs: NaN
    return out


def with_rule_verdicts(differences: pd.DataFrame) -> pd.DataFrame:
    """``differences`` (from :func:`with_thesis_direction`) with the thesis's claim (the sign of its
    CIFAR-10 difference: ``greater`` or ``less``) and the verdict of
    :func:`~reuseprior.core.verdict_policy.verdict` on it (``rule verdict``). A printed difference of
    0 makes no directional claim: refused, since an equivalence claim would need a stated margin."""
    out = differences.copy()
    thesis = [c for c in out.columns if c.startswith("thesis ") and c.endswith("difference (pp)")][0]
    if (out[thesis] == 0).any():
        raise ValueError(
            f"a thesis difference of 0 ({thesis}) claims no direction; judge it as 'equivalent' with a stated margin"
        )
    out["claim"] = np.where(out[thesis] > 0, "greater", "less")
    out["rule verdict"] = [verdict(row, claim) for (_, row), claim in zip(out.iterrows(), out["claim"])]
    return out


def with_verdicts(differences: pd.DataFrame, runs: pd.DataFrame, floor: pd.DataFrame) -> pd.DataFrame:
    """``differences`` (from :func:`with_thesis_direction`) with the rule's verdict on the thesis's
    claim (:func:`with_rule_verdicts`) and the ``verdict`` shown, with its ``reason``: *not comparable*
    when either model underfits by the stated fit criterion (its test top-1 below the
    linear floor (:func:`.runs.floor_row`) on every seed: a linear classifier of
    the same images does better, so the comparison measures underfitting under
    the study's recipe and images, not Table 4.2's claim), otherwise the rule's."""
    floor_by_seed = dict(zip(floor["seed"], floor["top1_test"]))
    below = {
        model: bool(len(df)) and all(a < floor_by_seed.get(s, -np.inf) for s, a in zip(df["seed"], df["top1_test"]))
        for model, df in runs.groupby("model")
    }
    out = with_rule_verdicts(differences)
    underfit = [[m for m in (a, b) if below.get(m)] for a, b in zip(out["model"], out["against"])]
    out["reason"] = [
        f"{', '.join(u)} below the linear floor on every seed (underfits under this recipe and these images)"
        if u
        else ""
        for u in underfit
    ]
    out["verdict"] = np.where(out["reason"] != "", NOT_COMPARABLE, out["rule verdict"])
    return out


def settings_table(spec: StudySpec) -> pd.DataFrame:
    """The study's settings as a two-column table (for the notebook), then every departure from the
    paper recipe (:meth:`~reuseprior.chapters.ch4_sharing_training.ExperimentPlan.departures`: resolution,
    images, epochs, schedule, warm-up, EMA, BN momentum, optimizer, scale), one row each. Stochastic
    depth (0.2) and dropout are the official variant's in every plan, so they never appear."""
    keys = ("dataset", "width_mult", "depth_mult", "image_size", "epochs", "batch_size", "lr_base", "train_limit")
    design = spec.design
    extra: dict[str, Any] = {"models": ", ".join(design.models), "seeds": list(spec.seeds), "plan": spec.plan}
    departures = make_plan(design.settings, profile=spec.name).departures()
    return pd.DataFrame(
        [{"setting": k, "value": str(design.settings[k])} for k in keys]
        + [{"setting": k, "value": str(v)} for k, v in extra.items()]
        + [{"setting": "departs from the paper recipe", "value": d} for d in departures]
    )


# ----------------------------------------------------------------------------------- a study judged once


def counting_seeds(criteria: pd.DataFrame, runs: pd.DataFrame, study: StudySpec) -> tuple[list[int], str]:
    """The seeds stored for every model whose runs all count, and why the study cannot give a verdict
    yet ("" when it can): :func:`reuseprior.reporting.verdicts.decidability` of the seeds stored for
    every model (a seed stands or falls whole; at least
    :func:`~reuseprior.reporting.statistics.fewest_decisive_pairs` of them)."""
    complete, _ = verdicts.paired_seeds(runs, study.design.models, arm="model")
    return verdicts.decidability(criteria, complete, arm="model", noun="model", planned=len(study.seeds))


@dataclass(frozen=True)
class JudgedRuns:
    """A study's stored runs judged once: every run's criteria (:func:`~.designs.criteria_table`), the
    seeds whose runs all count (:func:`counting_seeds`), their runs, and why a verdict must wait ("" when
    it need not). The verdicts, the controls and the prior's table all read this one judgement.
    ``interim``: a reading that waits for declared seeds (:func:`family_judgement`), whose rule
    verdicts are withheld, not only gated."""

    study: StudySpec
    criteria: pd.DataFrame
    kept: list[int]
    reason: str
    counting: pd.DataFrame
    interim: bool = False


def judge(runs: pd.DataFrame, floor: pd.DataFrame, study: StudySpec) -> JudgedRuns:
    """``study``'s stored ``runs`` held to its criteria against the linear ``floor`` of their images."""
    criteria = criteria_table(runs, floor)
    kept, reason = counting_seeds(criteria, runs, study)
    return JudgedRuns(study, criteria, kept, reason, runs[runs["seed"].isin(kept)])


def verdict_table(judged: JudgedRuns) -> pd.DataFrame:
    """Table 4.2's pairs (:data:`~reuseprior.chapters.ch4_sharing_training.designs.PAIRS`) over the seeds whose runs
    all count: the paired summary, the thesis's CIFAR-10 difference and sign beside ours, its claim and
    the rule's verdict, gated to *not comparable* while the counting seeds are too few (the rule's
    verdict kept beside it)."""
    table = with_rule_verdicts(with_thesis_direction(model_differences(judged.counting)))
    table = table.drop(columns="rule verdict").assign(verdict=table["rule verdict"])
    return gated_verdicts(table, judged.reason)


def control_table(judged: JudgedRuns) -> pd.DataFrame:
    """The control pairs (:data:`CONTROL_PAIRS`) over the same counting seeds as :func:`verdict_table`:
    the paired summary only (the thesis makes no claim about a narrowed B0)."""
    return model_differences(judged.counting, CONTROL_PAIRS)


def _figure_rows(table: pd.DataFrame, study: str) -> pd.DataFrame:
    """The rows of a pairs table (:func:`verdict_table`, :func:`control_table`) as a figure's summary."""
    return pd.DataFrame(
        {
            "panel": table["model"] + " minus " + table["against"],
            "study": study,
            "mean": table["difference (pp)"],
            "low": table["t low"],
            "high": table["t high"],
            "verdict": table["verdict"] if "verdict" in table else "control: no claim",
            "thesis": table.get("thesis CIFAR-10 difference (pp)", pd.Series(np.nan, index=table.index)),
        }
    )


def family_figure_tables(
    family: Mapping[str, pd.DataFrame], studies: Mapping[str, JudgedRuns]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The family of four (:func:`family_table` of each study, ``family``: label to table) as the tables of
    :func:`reuseprior.reporting.paired_figures.paired_differences_figure`: every comparison with its
    ``1 - FAMILY_ALPHA`` t-interval and its verdict at the family's level, as the family table prints them,
    and the per-seed differences over the counting seeds of the same judged study (``studies``, same
    labels). Returns ``(summary, per_seed)``."""
    if list(family) != list(studies):
        raise ValueError(f"family tables {list(family)} and judged studies {list(studies)} must name the same studies")
    summary = pd.concat([_figure_rows(table, study) for study, table in family.items()], ignore_index=True)
    return summary, _seed_differences(studies)


def _seed_differences(studies: Mapping[str, JudgedRuns]) -> pd.DataFrame:
    """Each study's per-seed test top-1 differences of Table 4.2's pairs and the controls, over its counting
    seeds, in the per-seed table's columns (``panel``, ``study``, ``seed``, ``difference``)."""
    comparisons = [Comparison(model, against) for model, against in (*PAIRS, *CONTROL_PAIRS)]
    seeds = []
    for study, judged in studies.items():
        differences = per_seed_differences(judged.counting, comparisons, arm="model", metrics=["top1_test"])
        seeds.append(
            pd.DataFrame(
                {
                    "panel": differences["treatment"] + " minus " + differences["control"],
                    "study": study,
                    "seed": differences["seed"],
                    "difference": differences["difference"],
                }
            )
        )
    return pd.concat(seeds, ignore_index=True)


def prior_beside_accuracy(judged: JudgedRuns) -> pd.DataFrame:
    """The prior's prediction and the trained outcome side by side: per model of the judged study, built
    as its runs are (width, depth, 10 classes) and analysed without training on one image of the study's
    size (:func:`reuseprior.analysis.compare.compare`: PG, P'G, parameters), its rank by PG, and beside it
    the mean test top-1 over the counting seeds (NaN before any counts) and its rank."""
    study = judged.study
    settings = study.design.settings
    models = {
        m: build_experiment_model(m, 10, width_mult=settings.width_mult, depth_mult=settings.depth_mult)
        for m in study.design.models
    }
    size = settings.image_size
    prior = compare(models, (3, size, size), progress=False).table
    accuracy = judged.counting.groupby("model")["top1_test"].mean()
    out = prior[["model", "params", "PG", "PG_prime"]].rename(columns={"PG_prime": "P'G"})
    out["rank by PG"] = out["PG"].rank(ascending=False, method="min").astype(int)
    out["counting seeds"] = len(judged.kept)
    out["mean test top-1"] = out["model"].map(accuracy)
    out["rank by test top-1"] = out["mean test top-1"].rank(ascending=False, method="min")
    return out.reset_index(drop=True)


# ----------------------------------------------------------------------------- the confirmatory family


def family_judgement(runs: pd.DataFrame, floor: pd.DataFrame, spec: StudySpec) -> JudgedRuns:
    """``spec``'s stored ``runs`` held to the run criteria against the linear ``floor`` of their images,
    with the seeds that decide at the family's level: every run of a seed counting, and at least
    :func:`~reuseprior.reporting.statistics.fewest_decisive_pairs` at :data:`FAMILY_ALPHA` of them (8).
    The family is read once, when every declared seed of ``spec`` is stored for all four models
    (``one_look`` of :func:`~reuseprior.reporting.verdicts.decidability`): until then its verdicts are
    *not comparable*, its rule verdicts withheld and its differences interim. A stored seed ``spec`` does
    not declare is never read."""
    criteria = criteria_table(runs, floor) if len(runs) else pd.DataFrame(columns=list(CRITERIA_COLUMNS))
    complete, _ = verdicts.paired_seeds(runs, spec.design.models, arm="model") if len(runs) else ([], [])
    declared = [s for s in complete if s in spec.seeds]
    kept, reason = verdicts.decidability(
        criteria, declared, arm="model", noun="model", planned=len(spec.seeds), alpha=FAMILY_ALPHA, one_look=True
    )
    counting = runs[runs["seed"].isin(kept)] if len(runs) else pd.DataFrame(columns=list(STORED_COLUMNS))
    return JudgedRuns(spec, criteria, kept, reason, counting, interim=len(declared) < len(spec.seeds))


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
    table = verdicts.gated_verdicts(pd.concat([table, _cost_columns(counting)], axis=1), judged.reason)
    if judged.interim:
        table["rule verdict"] = INTERIM
    return table


def _robustness_text(row: pd.Series) -> str:
    """A family row's robustness in words: the permutation steps to the level and the leave-one-seed-out
    agreement, each said to be unreachable where too few seeds could pass the level at all."""
    seeds, needed = int(row["seeds"]), fewest_decisive_pairs(FAMILY_ALPHA)
    steps = row["permutation steps to the level"]
    if np.isnan(steps):
        steps_text = f"no p of {seeds} seeds can pass the level (that needs {needed})"
    else:
        steps_text = f"{steps:g} permutation steps to the level"
    if seeds - 1 < needed:
        subsets_text = f"no {seeds - 1} seeds can pass it, so every leave-one-seed-out subset reads undetermined"
    else:
        subsets_text = f"{row['leave-one-seed-out agreement']:.0%} of leave-one-seed-out subsets agree"
    return f"{steps_text}, {subsets_text}"


def family_reading(tables: dict[str, pd.DataFrame]) -> str:
    """The headline in words (Markdown): per comparison of the confirmatory study its verdict at the
    family's level with the interval, the two-sided exact permutation p, the seeds and the robustness
    (:func:`_robustness_text`), an interim reading labelled so, then the exploratory study's under the
    same rules, as context (its seeds 0-1 chose the recipe)."""
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
            interim = "interim, " if row.get("rule verdict") == INTERIM else ""
            lines.append(
                f"- {pair}: {interim}{row['difference (pp)']:+.2f} points over {int(row['seeds'])} seeds "
                f"({interval}, two-sided permutation p {p_value_text(row['permutation p'])}; "
                f"{_robustness_text(row)}); "
                f"**{row['verdict']}**" + (f" ({row['reason']})" if row["verdict"] == NOT_COMPARABLE else "") + "."
            )
    return "\n".join(lines)


def seed_machine_kinds(runs: pd.DataFrame) -> pd.DataFrame:
    """Per seed of ``runs`` (one study's stored rows): the machine kinds its runs trained on
    (:func:`reuseprior.core.cpu.machine_kinds` of each row, a run moved between machines naming each),
    whether they mix kinds, which the confirmatory study refuses, and the torch versions the runs
    name (:func:`reuseprior.core.cpu.torch_versions`)."""
    rows = []
    for seed, mine in runs.groupby("seed", sort=True):
        kinds = sorted({k for machine in mine["machine"] for k in machine_kinds(machine)})
        versions = sorted({v for machine in mine["machine"] for v in torch_versions(machine)})
        rows.append(
            {
                "seed": int(seed),
                "runs": len(mine),
                "machine kinds": "; ".join(kinds),
                "mixed": len(kinds) > 1,
                "torch": "; ".join(versions),
            }
        )
    return pd.DataFrame(rows, columns=["seed", "runs", "machine kinds", "mixed", "torch"])


def family_by_machine_kind(judged: JudgedRuns) -> pd.DataFrame:
    """Per comparison of :data:`FAMILY` and machine kind (:func:`seed_machine_kinds`): the counting seeds
    of ``judged`` that trained on that kind and their mean paired difference of test top-1 (points), so
    that a reader sees whether the kinds a study pools differ. A description, not a test: the verdict
    pools the kinds, every pair within one."""
    columns = ["model", "against", "machine kinds", "torch", "seeds", "mean difference (pp)"]
    if judged.counting.empty:
        return pd.DataFrame(columns=columns)
    kinds = seed_machine_kinds(judged.counting).set_index("seed")
    differences = per_seed_differences(judged.counting, FAMILY, arm="model", metrics=["top1_test"])
    differences = differences.join(kinds[["machine kinds", "torch"]], on="seed")
    grouped = differences.groupby(["treatment", "control", "machine kinds", "torch"], sort=False)["difference"]
    table = grouped.agg(seeds="size", mean="mean").reset_index()
    table = table.rename(columns={"treatment": "model", "control": "against", "mean": "mean difference (pp)"})
    return table[columns]
