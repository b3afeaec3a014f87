"""When chapter 8's screening study can decide: the linear floor of each seed's images, the criteria a
run must meet to count, and the verdicts gated by them.

A search run counts in the comparison when the model it ends with has learnt the task at least as well
as a linear classifier of the same images (:mod:`reuseprior.training.convergence`, adapted to a search):

- **Above the floor**: the final top individual's test top-1 exceeds the test top-1 of a logistic
  regression fitted to the seed's training images (:mod:`reuseprior.revolver.split_floor`; the seed
  fixes the validation split, so the training images, and the floor, are the seed's own).
- **Fit**: the final top individual's top-1 on every training image (``top_train_acc_final``, stored
  by the run) is at least the logistic regression's training top-1. A run stored before that column
  existed has no such reading and does not count.
- **Plateau**: the search's best validation top-1 so far (``best_val_acc`` of the generation log, 512
  images a session) gained less than
  :data:`~reuseprior.core.verdict_policy.PLATEAU_TOLERANCE_PP` points from the mean of its previous
  :data:`~reuseprior.core.verdict_policy.PLATEAU_WINDOW` generations to the mean of its last ones
  (:func:`~reuseprior.core.verdict_policy.plateaued`).

**When the study decides.** Unlike chapter 7, which drops a seed any of whose runs does not count, no
seed is dropped here. A run's final model *is* the outcome of its arm's search: a search that ends below the floor is a
result, and dropping its seed would select seeds on the outcome being compared (if one arm failed more
often, the seeds it lost on would vanish). So the paired statistics use every paired seed, and the
criteria judge the *budget* instead (:func:`reuseprior.reporting.verdicts.search_decidability`). A
verdict needs at least :func:`~reuseprior.reporting.statistics.fewest_decisive_pairs` paired seeds (the fewest whose
exact permutation p can fall below 0.05) and, in every arm, more than half of the runs counting
(:data:`~reuseprior.core.verdict_policy.SEARCH_MIN_COUNTING_SHARE`: the budget lets a typical search
learn the task); otherwise every verdict
reads *not comparable* (:func:`~reuseprior.reporting.verdicts.gated_verdicts`) with the reason, the
rule's own verdict kept beside it.

**What the study can decide at all** (:func:`screening_power`, :func:`gate_margin`,
:func:`model_sizes`): from its own pairs, the paired SD of the primary difference, the arms' SDs
(pairing helps only where the arms co-vary), the difference its stored and planned pairs detect with
power :data:`~reuseprior.core.verdict_policy.DESIGN_POWER` and the pairs a 1-point difference needs
(:mod:`reuseprior.reporting.statistics`, paired t-test), with their CPU cost at the stored runs'
median; how far the runs that fail only the fit criterion are from it (the gate turns on them); and
the screened and plain arms' model sizes (the PG screen favours larger models, and no arm screens by
the parameter count).
"""

from __future__ import annotations

import math
from typing import Sequence

import pandas as pd

from reuseprior.chapters.ch8_prior_as_tool.screening import (
    matched_spend,
    plan_cost,
    run_criteria_table,
    spend_differences,
    spend_levels,
)
from reuseprior.core.study import StudySpec
from reuseprior.reporting.statistics import detectable_difference, pairs_needed
from reuseprior.reporting.verdicts import gated_verdicts, search_decidability

__all__ = [
    "LONG_COLUMNS",
    "gate_margin",
    "model_sizes",
    "pairs_cost",
    "pilot_reading",
    "screening_power",
    "split_long_columns",
    "judged_differences",
    "read_floors",
]


def read_floors(spec: StudySpec) -> pd.DataFrame:
    """The stored floors of ``spec``'s images (:mod:`reuseprior.revolver.split_floor`), one row per
    seed; ``LookupError`` naming :data:`~.screening.FLOOR_COMMAND` when none is stored."""
    return spec.floor_rows()


def judged_differences(
    spec: StudySpec, runs: pd.DataFrame, generations: pd.DataFrame, floors: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The paired differences of :func:`~.screening.spend_differences` over every paired seed, with
    their verdicts gated by the search policy
    (:func:`~reuseprior.reporting.verdicts.search_decidability`,
    :func:`~reuseprior.reporting.verdicts.gated_verdicts`), and the per-run criteria behind them."""
    criteria = run_criteria_table(runs, generations, floors)
    arms = criteria.groupby("seed")["arm"].agg(set)
    pairs = sorted(int(s) for s, have in arms.items() if set(spec.design.arms) <= have)
    matched = matched_spend(generations[generations["seed"].isin(pairs)], spend_levels(spec))
    reason = search_decidability(criteria, pairs, spec.design.arms)
    return gated_verdicts(spend_differences(matched), reason), criteria


#: the columns of a judged table whose text is too long for a table cell: shown as notes below it
LONG_COLUMNS: tuple[str, ...] = ("claim", "reason")


def split_long_columns(table: pd.DataFrame, columns: Sequence[str] = LONG_COLUMNS) -> tuple[pd.DataFrame, str]:
    """``table`` without its long text ``columns``, and those texts as Markdown (each distinct text
    once, with the rows it belongs to when it is not every row's), to show below the table."""
    present = [c for c in columns if c in table.columns]
    notes = []
    for column in present:
        texts = table[column].fillna("").astype(str)
        for text in dict.fromkeys(t for t in texts if t):
            rows = [str(i) for i in table.index[texts == text]]
            where = "" if len(rows) == len(table) else f" (rows {', '.join(rows)})"
            notes.append(f"- **{column}**{where}: {text}")
    return table.drop(columns=present), "\n".join(notes)


def screening_power(
    spec: StudySpec, differences: pd.DataFrame, matched: pd.DataFrame, *, difference: float = 1.0
) -> pd.DataFrame:
    """What the study's design can detect, from its own stored pairs at the full spend (the primary
    comparison of ``differences``; ``matched``: :func:`matched_spend` of the paired seeds), in points:
    the paired SD; the SD of each arm and their correlation over the seeds (pairing removes variance
    only as far as the arms co-vary); the smallest true difference detected with 80 % power by the
    stored pairs and by the plan's seeds (:func:`~reuseprior.reporting.statistics.detectable_difference`);
    and the pairs ``difference`` points need (:func:`~reuseprior.reporting.statistics.pairs_needed`;
    their cost is :func:`pairs_cost`, a measurement). One row per quantity (``value``; ``key``: its
    short name, which :func:`pilot_reading` reads)."""
    primary = differences[differences["primary"]].iloc[0]
    full = matched[matched["fraction"] == matched["fraction"].max()]
    wide = 100 * full.pivot(index="seed", columns="arm", values="best_test_acc").dropna()
    sd, pairs = float(primary["sd"]), int(primary["pairs"])
    needed = pairs_needed(sd, difference)
    rows = [("pairs", "pairs stored", pairs), ("paired sd", "paired SD of the full-spend difference (pp)", sd)]
    arms = spec.design.arms
    rows += [(f"sd {arm}", f"SD of the {arm} arm (pp)", float(wide[arm].std(ddof=1))) for arm in arms]
    planned = len(spec.seeds)
    rows += [
        ("correlation", "correlation of the arms over the seeds", float(wide[arms[0]].corr(wide[arms[1]]))),
        ("detectable stored", f"detectable difference, {pairs} pairs (pp)", detectable_difference(sd, pairs)),
        ("planned seeds", "seeds the plan takes", planned),
        ("detectable planned", f"detectable difference, {planned} seeds (pp)", detectable_difference(sd, planned)),
        ("pairs needed", f"pairs needed for {difference:g} point", needed),
    ]
    return pd.DataFrame(rows, columns=["key", "quantity", "value"])


def pairs_cost(spec: StudySpec, pairs: int) -> float:
    """The CPU hours of ``pairs`` pairs of ``spec``'s arms at the stored runs' median CPU minutes per
    run of each arm (:func:`plan_cost`: read from the stored timings, a measurement of the machine that
    ran them, kept out of the tracked tables)."""
    cost = plan_cost(spec).set_index("arm")["CPU min / run (median)"].drop("plan", errors="ignore")
    return pairs * float(cost.sum()) / 60


def gate_margin(criteria: pd.DataFrame, pairs: Sequence[int], arms: Sequence[str]) -> tuple[pd.DataFrame, str]:
    """The runs that fail the fit criterion alone (above the floor on test, plateaued, training top-1
    below the floor's), with how far (``fit shortfall (pp)``), and
    :func:`~reuseprior.reporting.verdicts.search_decidability` were they to count: where it is empty,
    the verdict's gate turns on those shortfalls."""
    only_fit = criteria["above floor"] & criteria["plateaued"] & ~criteria["fits training set"]
    near = criteria[only_fit].copy()
    near["fit shortfall (pp)"] = near["floor train top-1"] - near["final top train top-1"]
    forgiven = criteria.assign(counts=criteria["counts"] | only_fit)
    return near.reset_index(drop=True), search_decidability(forgiven, pairs, arms)


def model_sizes(runs: pd.DataFrame) -> pd.DataFrame:
    """Per arm: the smallest and largest over the runs of the median parameter count of the models a
    run trained (``median_params``) and of its final top individual (millions)."""
    grouped = runs.groupby("arm", sort=True)
    return pd.DataFrame(
        {
            "runs": grouped.size(),
            "median params, smallest run (M)": grouped["median_params"].min() / 1e6,
            "median params, largest run (M)": grouped["median_params"].max() / 1e6,
            "final top params, smallest (M)": grouped["top_params_final"].min() / 1e6,
            "final top params, largest (M)": grouped["top_params_final"].max() / 1e6,
        }
    ).reset_index()


def pilot_reading(
    differences: pd.DataFrame,
    power: pd.DataFrame,
    near: pd.DataFrame,
    forgiven: str,
    sizes: pd.DataFrame,
    cpu_hours: float = math.nan,
) -> str:
    """The planned study's reading, generated from its tables: the verdict shown and the rule's at the
    full spend, what the gate turns on (``near`` and ``forgiven`` of :func:`gate_margin`), the power
    (:func:`screening_power`), the CPU hours of the pairs 1 point needs (:func:`pairs_cost`, when
    given) and the model sizes (:func:`model_sizes`), and why the study is kept as a pilot."""
    primary = differences[differences["primary"]].iloc[0]
    value = power.set_index("key")["value"]
    treatment, control = (c[len("seeds ") : -len(" better")] for c in differences.columns if c.startswith("seeds "))
    size = sizes.set_index("arm")
    smallest, largest = "median params, smallest run (M)", "median params, largest run (M)"
    ranges = {a: f"{size.at[a, smallest]:.2g}-{size.at[a, largest]:.3g} M" for a in (treatment, control)}
    shortfall = near["fit shortfall (pp)"] if len(near) else pd.Series([math.nan])
    gate = (
        f"Whether it reads *{primary['verdict']}* or *{primary['rule verdict']}* turns on {len(near)} runs that "
        f"miss the fit criterion alone, by {shortfall.min():.2f}-{shortfall.max():.2f} points of training accuracy"
        + ("" if forgiven else " (were they to count, every arm would have more than half of its runs counting)")
        + ". "
        if len(near)
        else ""
    )
    return (
        f"**The planned study cannot decide: it is underpowered by design.** At the full spend, {treatment} - "
        f"{control} is {primary[f'{treatment} - {control} (pp)']:+.3f} points (95 % t-interval "
        f"[{primary['t low']:.2f}, {primary['t high']:.2f}], {int(primary['pairs'])} pairs); the verdict shown is "
        f"*{primary['verdict']}*, the rule's alone *{primary['rule verdict']}*. {gate}Either way the design cannot "
        f"decide: the paired SD is {value['paired sd']:.2f} points and pairing by seed removes no variance (the "
        f"arms' SDs {value[f'sd {treatment}']:.2f} and {value[f'sd {control}']:.2f}, correlation "
        f"{value['correlation']:+.2f}), so the plan's {int(value['planned seeds'])} seeds would detect only a "
        f"{value['detectable planned']:.1f}-point difference with 80 % power, and 1 point needs "
        f"{int(value['pairs needed'])} pairs"
        + (f", about {cpu_hours:.0f} CPU hours at the stored runs' median" if math.isfinite(cpu_hours) else "")
        + ". "
        "**It is kept as a pilot** and not run further: its remaining seeds cannot change this, and the affordable "
        f"size is far below what 1 point needs. The PG screen also trains larger models (median parameters per run "
        f"{ranges[treatment]} against {ranges[control]}), and no arm screens by the parameter count, so even a "
        "decided difference could not be told from a preference for size. A study that could decide needs on the "
        "order of that many pairs, or an outcome with far less seed-to-seed spread, and a #params-screen arm."
    )
