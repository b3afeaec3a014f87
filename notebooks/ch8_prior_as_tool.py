# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 8: the reusability prior as a tool
#
# Not a reproduction of a thesis table: the thesis (Polat 2023) defines the reusability prior (chapter 4: `PG`, `P'G`,
# expected spread ES, entropy H, total surprisal S; eqs. 4.2-4.8) but does not use it to choose models. This notebook
# does, in two ways that need no training:
#
# 1. **Comparing a user's models** with `reuseprior.compare(models, example_input)` (the command
#    `python -m reuseprior compare NAME ... --input 3,32,32`): one table ranked by the prior beside #parameters, FLOPs
#    and SynFlow, and a figure of the prior against size.
# 2. **Searching NAS-Bench-201 with the prior**, from the stored scores of all 15,625 cells (chapter 6) and stored
#    accuracies, so "training" a cell means looking its accuracy up: the NASWOT protocol (Mellor et al. 2021: pick the
#    best-scoring of N sampled cells; its exact answer is computed, the stored repeats check it) and a zero-cost warm-up of random search and of aging evolution (Abdelfattah et
#    al. 2021: score a pool of cells, start the search from the best-scoring ones), for PG, P'G, S, #params, SynFlow and
#    NASWOT, with a random choice as floor and the oracle (the label itself) as ceiling.
#
# A third use needs training, run as a resumable study whose stored runs this notebook reads:
#
# 3. **Screening Revolver's offspring with the prior** (a trained study,
#    `reuseprior.chapters.ch8_prior_as_tool.screening`, `python -m reuseprior study ch8 run`): its plan, its cost
#    measured on the stored runs, the criteria a run must meet to count (a linear floor on the same images) and the
#    verdict they allow.
#
# Where the numbers come from:
# - **Search results**: `data/nb201_search_runs.csv`, written by `python -m reuseprior study nb201-search run`
#   (`reuseprior.zoo.search`: seeded draws shared by every score, ties broken by draw order). A slice is
#   **recomputed live** below and compared with the stored rows.
# - **Labels**: analog-nasbench's CIFAR-10 test accuracy for all cells (its own retraining) and NAS-Bench-201's official
#   `cifar10-valid` accuracy on NASLib's 725-cell subset, as in chapter 6.
# - **Scores**: the published version of `data/zoo_scores_v<N>_nb201.csv.xz` (chapter 6); NASWOT was computed on a stand-in
#   minibatch (scikit-learn's sample photographs), not CIFAR-10 images, so it is weaker here than in its paper.
# - **Published numbers**: the NASWOT paper's NAS-Bench-201 table (Mellor, Turner, Storkey, Crowley, "Neural
#   Architecture Search without Training", ICML 2021, PMLR 139, Table 2(a): the cell picked from N = 10, 100, 1000, a
#   random cell and the best of N, 500 runs each) is transcribed in
#   `data/seeds/naswot_table2a.csv` and stands beside ours, with the label difference stated per row. Abdelfattah et
#   al.'s warm-up and move-proposal results on NAS-Bench-201 are printed only as a figure (no number to transcribe;
#   `data/seeds/README.md` says what was looked for), so no published number stands beside our warm-up curves.
#
# Run interactively, this notebook writes its tables and figures under `build/figures/interactive/ch8_prior_as_tool/`;
# `python -m reuseprior build ch8_prior_as_tool` (or `make figures`) writes them to the tracked
# `figures/ch8_prior_as_tool/`, and the `output_dir` parameter names another folder.

# %% [markdown]
# ## Findings
#
# Each claim this chapter tests, the verdict on it and what supports it, read from the tables this notebook writes (the ones the README's results table quotes, from the last batch build): for a trained comparison the estimate with its t-interval at the level its verdict is judged at (95 %, or a family's stricter level, named beside it) and its paired seeds, for a table the printed values that match ours, for an exact result the values themselves. The last column links to the section that shows it.

# %% tags=["hide-input"]
from reuseprior.chapters import ch8_prior_as_tool
from reuseprior.reporting.findings import show_findings

show_findings(ch8_prior_as_tool.FINDINGS, "ch8_prior_as_tool")

# %% tags=["parameters"]
profile = "quick"  # "quick": CPU, under a minute; "full": every stored search run recomputed
seed = 0
device = "cpu"  # "cpu", "cuda" or "auto" (everything here runs on CPU)
output_dir = None  # None: figures/<notebook>/ in a batch build, build/figures/interactive/<notebook>/ otherwise

# %% tags=["hide-output"]
import pandas as pd
from IPython.display import HTML, Markdown, display

from reuseprior.chapters import ch8_prior_as_tool as ch8
from reuseprior.chapters.ch8_prior_as_tool import screening as ch8s
from reuseprior.chapters.ch8_prior_as_tool import screening_criteria as ch8c
from reuseprior.reporting.notebook import setup
from reuseprior.reporting.plotting import show
from reuseprior.zoo import search

ctx = setup(
    "ch8_prior_as_tool", profile=profile, seed=seed, device=device, output_dir=output_dir, profiles=ch8.PROFILES
)
pd.set_option("display.width", 220)
pd.set_option("display.max_columns", 40)
pd.set_option("display.max_colwidth", None)
print(ctx.describe())

# %% [markdown]
# ## Comparing models by the prior
#
# Randomly initialised torchvision classifiers (seed 0) at a 32x32 input, ranked by PG (higher first; ties by name).
# The CPU time of each analysis is a measurement of this machine and is kept out of the compared outputs
# (`build/measured/`).

# %%
result = ch8.compare_models(ctx.settings)
table = result.table.drop(columns=["cpu_seconds"])
ctx.save_table(table, "compare")
ctx.save_measurement(result.table[["model", "cpu_seconds"]], "compare_cpu_seconds")
formats = {c: "{:.6g}" for c in table.columns if c not in ("rank", "model", "error")}
display(HTML(table.style.set_uuid("compare").format(formats).to_html()))

# %%
fig = ch8.compare_figure(result)
ctx.save_figure(fig, "compare_pg_vs_params")
show(fig)

# %% [markdown]
# <a id="findings-the-naswot-protocol-on-nas-bench-201"></a>
#
# ## The NASWOT protocol on NAS-Bench-201
#
# N cells are drawn uniformly without replacement and the best-scoring one is "trained" (ties chosen uniformly). The
# protocol has an exact answer: the best tie group of scores present in a draw is group g with a hypergeometric
# probability, and the pick is then uniform over that group (`reuseprior.zoo.search.naswot_exact`). So the tables give
# the **exact** expected accuracy (%) of the picked cell and its SD over every possible draw; a random pick is the mean
# label at every N. On the 725-cell subset N = 1000 is impossible, so only N = 10 and 100 are computed.

# %%
rows = ch8.stored_rows()
exact = ch8.exact_rows()
naswot_analog = ch8.naswot_table(exact, "analog")
naswot_official = ch8.naswot_table(exact, "official")
ctx.save_table(naswot_analog, "naswot_protocol_analog")
ctx.save_table(naswot_official, "naswot_protocol_official")
for label, frame in (("analog", naswot_analog), ("official", naswot_official)):
    space = search.load_space(label)
    print(f"{search.LABELS[label]}; best cell {space.accuracy.max():.2f}%, scores version {space.scores_version}")
    display(frame.round(2))

# %% [markdown]
# The stored seeded repeats (500 per score and N, the same draws for every score) against the exact answer: their miss
# in standard errors and the ratio of their SD to the exact SD. The scores share their draws, so their misses are
# correlated; where a score's accuracy has a heavy tail (a rare pick of a disconnected cell near chance), 500 repeats
# can miss it, and both their SD and their standard error are then too small.

# %%
checks = {label: ch8.naswot_check(rows, exact, label) for label in search.PROTOCOLS["naswot"]}
for label, check in checks.items():
    ctx.save_table(check, f"naswot_repeats_vs_exact_{label}")
    display(check.round(3))

# %%
fig = ch8.naswot_figure(exact)
ctx.save_figure(fig, "naswot_protocol")
show(fig)

# %% [markdown]
# ### The published NASWOT numbers beside ours
#
# Mellor et al.'s CIFAR-10 columns (their searches score CIFAR-10 minibatches; 500 runs per row) beside our rows of
# the same role at the same N: their NASWOT pick beside our NASWOT and PG picks, their "Optimal (N)" beside our oracle,
# their "Random" beside our random pick. Their `validation` column has our official label's quantity, their `test`
# column is set beside analog-nasbench's test accuracy; what differs is stated per row (`label difference`, printed
# below the table). Ours are the exact values (`our method`), theirs means of 500 runs; `ours - published` is in
# points. Our NASWOT is computed on stand-in images, theirs on CIFAR-10. The source of the published numbers:

# %%
beside = ch8.published_beside_ours(exact)
ctx.save_table(beside, "naswot_published_beside_ours")
print(ch8.published_naswot().attrs["meta"]["source"])
display(beside.drop(columns=["label difference"]).round(2))
for label, (column, difference) in ch8.LABEL_DIFFERENCES.items():
    print(f"- our {label} label, beside the published {column} column: {difference}")

# %% [markdown]
# ## Zero-cost warm-up: best accuracy against cells trained
#
# Random search with a warm-up trains a pool's cells in the order of the score (a pool of 1,000 cells on the whole space,
# 100 on the subset; without a score, in the order drawn: plain random search). Aging evolution (population 20,
# tournament 5) starts from the 20 best-scoring cells of the pool (random: the first 20 drawn). Every look-up counts as one
# trained cell, the initial population's included. These are means over the stored repeats (SD beside; the curves
# show the standard error): no closed form is derived here for the best of a score-ranked pool, and aging evolution
# has none.

# %%
budgets = (1, 10, 50, 100, 200)
warmup = {
    "warmup_random_search_analog": ch8.warmup_table(rows, "warmup-rs", "analog", budgets),
    "warmup_aging_evolution_analog": ch8.warmup_table(rows, "warmup-ae", "analog", budgets),
    "warmup_random_search_official": ch8.warmup_table(rows, "warmup-rs", "official", budgets),
}
for name, frame in warmup.items():
    ctx.save_table(frame, name)
    print(name)
    display(frame.round(2))

# %%
fig = ch8.curves_figure(rows)
ctx.save_figure(fig, "warmup_curves")
show(fig)

# %% [markdown]
# The warm-up is zero-cost in trained cells, not in CPU: the stored timings of the scores give what a pool costs
# (computed from the timing columns stored with the zoo's scores, so the same on every rerun; written with the
# measurements, under `build/measured/`, as every timing is).

# %%
cost = ch8.pool_cost()
ctx.save_measurement(cost, "pool_cost")
cost.round(4)

# %% [markdown]
# ## Live slice: stored rows recomputed
#
# The profile's runs are recomputed from the stored scores and compared with the stored rows (same seeds, same draws;
# the CSV keeps 10 significant digits).

# %%
check = ch8.live_slice(rows, ctx.settings).drop(columns=["abs diff"])  # its last digits depend on the CPU
ctx.save_table(check, "live_check")
assert check["match"].all(), check[~check["match"]]
print(f"{len(check)} stored rows recomputed, all equal to within {search.LIVE_TOLERANCE:g} relative")
check

# %% [markdown]
# <a id="findings-screening-revolver-s-offspring-with-the-prior-the-study"></a>
#
# ## Screening Revolver's offspring with the prior: the study
#
# Revolver (chapter 3) trains every newcomer that beats its slot's genotype fitness. The screened arm asks the genetic
# algorithm for k proposals per slot, scores each by PG (no training) and lets only the highest-PG one enter; the
# plain arm is chapter 3's Revolver. Fashion-MNIST at 14x14, the thesis's search space, paired seeds (a seed fixes the
# data and the initial population of both arms). Every training session trains the same number of batches, so both
# arms have spent the same batches at the end of every generation; the comparison is the best test accuracy of the top
# individual within a level of spend (fractions of a run's total, fixed by the settings). The runs
# are scheduled separately (`python -m reuseprior study ch8 run`); this section reads what is stored.
#
# **When a run counts** (`reuseprior.chapters.ch8_prior_as_tool.screening_criteria`): the model a search ends with
# must have learnt the task at least as well as a logistic regression on the same images: its test top-1 above the
# regression's, its top-1 on every training image at least the regression's, and the search's best validation accuracy
# plateaued (less than 2 points gained between the mean of the last 3 generations and the 3 before). The floor is
# refitted per seed (a seed fixes the validation split, hence the training images) by `python -m reuseprior study ch8 floor`, stored in
# `data/population_linear_floor.csv`. **When the study decides**: a search that ends below the floor is a result of
# its arm, so no seed is dropped (that would select seeds on the outcome); the criteria judge the budget instead. A
# verdict needs at least `fewest decisive pairs` paired seeds and, in every arm, more than half of the runs counting;
# otherwise it reads "not comparable", with the rule's own verdict beside it.
#
# **Two plans.** The first plan (the *pilot*, 1,008 batches of 64 per run) ended every run below the floor: its top
# individuals had seen too few images to learn the task. The planned study (5.1 times the pilot's images per run:
# chapter 3's batch of 128 and 48 batches a session, 18 generations) was meant to decide; its own pairs show that it
# cannot at any affordable size (its power, below), so it too is kept as a pilot. Both are shown, each with its
# criteria; the long texts of the paired tables (the claim, and why a verdict is not comparable) are printed below
# each table.

# %%
floors = ch8c.read_floors(ch8s.CPU_SCREENING)
ctx.save_table(floors, "screening_linear_floor")
floors

# %%
plans = {"planned study": ch8s.CPU_SCREENING, "pilot": ch8s.PILOT_SCREENING}
for label, spec in plans.items():
    plan = ch8s.plan_summary(spec).assign(plan=f"{label}: {spec.name} ({spec.plan})")
    ctx.save_table(plan, f"screening_plan_{spec.name}")
    cost = ch8s.plan_cost(spec)
    ctx.save_measurement(cost, f"screening_cost_{spec.name}")
    display(plan)
    display(cost.round(2))

# %%
judged = {}
for label, spec in plans.items():
    runs, generations = spec.rows(), spec.rows("generations")
    if runs.empty:
        print(f"{label}: no run stored yet")
        continue
    differences, criteria = ch8c.judged_differences(spec, runs, generations, floors)
    judged[label] = (spec, runs, generations, differences, criteria)
    ctx.save_table(criteria, f"screening_criteria_{spec.name}")
    ctx.save_table(differences, f"screening_paired_differences_{spec.name}")
    print(f"{label}: {spec.name}, plan {spec.plan}")
    display(criteria.round(2))
    short, notes = ch8c.split_long_columns(differences)
    display(short.round(3))
    display(Markdown(notes))
    fig = ch8s.spend_figure(generations, spec, floor=float(floors["test_top1"].mean()))
    ctx.save_figure(fig, f"screening_spend_{spec.name}")
    show(fig)

# %% [markdown]
# ### What the planned study can decide
#
# From its own stored pairs at the full spend: the paired SD, each arm's SD and their correlation over the seeds
# (pairing removes variance only as far as the arms co-vary), the difference the stored pairs and the plan's seeds
# detect with 80 % power (two-sided paired t-test at 0.05, `reuseprior.reporting.statistics.detectable_difference`;
# an upper bound on the verdict rule's power, which also needs the permutation p: `benchmarks/bench_rule_power.py`),
# the pairs 1 point needs (their CPU hours at the stored runs' median timings, a measurement, are in the reading and
# under `build/measured/`); the runs that miss only the fit criterion,
# and by how much; and the models each arm trains.

# %%
spec, runs, generations, differences, criteria = judged["planned study"]
pairs = sorted(set(criteria["seed"]))
matched = ch8s.matched_spend(generations[generations["seed"].isin(pairs)], ch8s.spend_levels(spec))
power = ch8c.screening_power(spec, differences, matched)
near, forgiven = ch8c.gate_margin(criteria, pairs, spec.design.arms)
sizes = ch8c.model_sizes(runs)
needed = int(power.set_index("key").at["pairs needed", "value"])
cpu_hours = ch8c.pairs_cost(spec, needed)
ctx.save_table(power, f"screening_power_{spec.name}")
ctx.save_measurement(pd.DataFrame([{"pairs": needed, "CPU hours": cpu_hours}]), f"screening_pairs_cost_{spec.name}")
ctx.save_table(near, f"screening_fit_shortfalls_{spec.name}")
ctx.save_table(sizes, f"screening_model_sizes_{spec.name}")
display(power.drop(columns="key").round(3))
display(near.round(3))
display(sizes.round(3))
Markdown(ch8c.pilot_reading(differences, power, near, forgiven, sizes, cpu_hours))

# %% [markdown]
# ## Reading
#
# - **NASWOT protocol** (exact). Every training-free score picks far better cells than a random choice (the mean
#   label, pulled down by the disconnected cells at chance accuracy), and none reaches the oracle. The scores differ
#   little: at N = 100 on the analog label PG, P'G, S, SynFlow and #params lie within a tenth of a point of each other,
#   PG lowest of them; on the official subset SynFlow, P'G and PG lead. At N = 10 the order is another: on the
#   official subset PG and P'G pick the two lowest, NASWOT lies mid-pack. The prior is as good a picker as the proxies
#   here, not better. From N = 100 on, NASWOT is the weakest, computed on stand-in images.
# - **Warm-up.** Starting random search or aging evolution from the best-scoring cells of a pool gains about a point
#   over plain random search after 10 trained cells; over the first 10 cells the prior stays within about 0.1 point of
#   SynFlow and above #params and NASWOT. By 200 trained cells aging evolution from any start is within 0.05 points of
#   the best cell of the space.
# - **Beside the published protocol.** The table above sets Mellor et al.'s printed means beside ours with the
#   deviation computed; read each row with its label difference: only the official-label rows share the published
#   column's label, and they draw from 725 cells, not 15,625.
# - **Scope.** These are searches on one small cell space with stored labels. The prior's value as a screen for a
#   real, trained search is the screening study above, and it cannot tell: every run of the first pilot ends below a
#   logistic regression of the same images, and the planned study, at 5.1 times the images per run, cannot decide at
#   any size it could afford (its power, above, from its own pairs; its verdicts, above): it is kept as a pilot.
