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
# # Chapter 3 — Revolver: searching for reusable modules while training a population
#
# Reproduces, with the package `reuseprior.revolver`:
#
# * **Table 3.2** (random search vs. genetic algorithm, with and without warm-up): generation of the peak test accuracy, size and test accuracy of that individual, mean of the last validation accuracies;
# * **Figure 3.1** (moving average of the population's validation accuracy);
# * **Table C.1** (top-scoring shared convolutions, appendix C.3);
# * a blueprint printed as in **appendix C.4** and a mutation history as in **appendix C.5**;
# * measured: parameters and memory of each population *with* sharing against the same individuals built *without* sharing, and the time per generation.
#
# **Data.** `profile="quick"`: scikit-learn's real 8×8 handwritten digits (1,293 train / 144 validation / 360 test; the validation split is a fixed 10% of the training set, the test set is only used for reporting), a population of 8 for 20 generations per search mode, on CPU. `profile="full"`: the appendix C.2 settings (80 individuals, 160 generations, CIFAR-10 through torchvision, `data_dir` + `download`), meant for a GPU.
#
# **No GPU was available in the session that wrote this notebook**: only the quick profile has been run; the reduced or full GPU run is *not* done here, and no number below comes from CIFAR-10 or MNIST. Thesis numbers are shown beside ours as a reference only: different data (8×8 digits vs. MNIST/CIFAR-10) and a far smaller compute budget, so they are not expected to match.

# %% tags=["parameters"]
profile = "quick"  # "quick": CPU, minutes, digits; "full": appendix C.2 scale (GPU, CIFAR-10)
seed = 0
device = "cpu"  # "cpu", "cuda" or "auto"
output_dir = None  # None -> figures/ch3_revolver/
dataset = None  # None -> the profile's ("digits" quick, "cifar10" full); "mnist" for the MNIST rows
data_dir = None  # full profile: folder holding the torchvision datasets (None -> profile default)
download = False  # full profile: download CIFAR-10/MNIST into data_dir if missing

# %%
import pandas as pd
import torch
from IPython.display import display

from reuseprior.chapters import ch3_revolver as analysis
from reuseprior.reporting.notebook import setup
from reuseprior.reporting.plotting import show
from reuseprior.reporting.reference import side_by_side
from reuseprior.revolver import population

overrides = {"download": bool(download)}
if data_dir is not None:
    overrides["data_dir"] = data_dir
if dataset is not None:
    overrides["dataset"] = dataset
ctx = setup(
    "ch3_revolver",
    profile=profile,
    seed=seed,
    device=device,
    output_dir=output_dir,
    profiles=analysis.PROFILES,
    overrides=overrides,
)
if ctx.device.type == "cpu":
    torch.set_num_threads(1)  # tiny models: one thread is fastest and reproducible
print(ctx.describe())

# %% [markdown]
# ## Data and the four search modes
#
# One population per search mode of appendix C.2 (`random`, `evolve`, `random_warmup`, `random_warmup_evolve`), same seed and data. Every phenotype evaluation (a short training session followed by the validation loss, Algorithm 3) is one row of the results table; the test accuracy is filled in every `test_every` generations and never used for selection. The wall-clock seconds of each evaluation and generation are measurements of this machine: they are saved apart (`ctx.save_measurement`, under `build/measured/`), not in the tracked tables.

# %%
s = ctx.settings
splits = population.dataset_splits(s.dataset, s.data_dir, s.download, ctx.seed, s.image_size)
print(splits.description)
pops = population.run_search_modes(s, splits, ctx.seed, ctx.device, progress=True)
results, evaluation_seconds = analysis.split_measurements(
    pd.concat([p.results_frame() for p in pops.values()], ignore_index=True)
)
generations, generation_seconds = analysis.split_measurements(
    pd.concat([p.generations_frame() for p in pops.values()], ignore_index=True)
)
ctx.save_table(results, "results")
ctx.save_table(generations, "generations")
ctx.save_measurement(evaluation_seconds, "evaluation_seconds")
ctx.save_measurement(generation_seconds, "generation_seconds")
data_caption = analysis.data_caption(s, ctx.profile, ctx.seed, splits, modes=list(pops))
print(data_caption)
results.head()

# %% [markdown]
# ## Table 3.2 — summary per search mode
#
# `Gen.` is the generation of the peak test accuracy (the test accuracy is only measured every `test_every` generations), `Model Sz.` the parameter count of that individual, `Mean Val.` the mean of the last validation accuracies: the thesis takes the last 200 of its 160 × 8 = 1,280 evaluations (~16%); the quick profile keeps a similar share, its last 12 of 48–60 evaluations (see `Mean Val. window`).

# %%
dataset_label = {"digits": "digits (8x8)", "mnist": "MNIST", "cifar10": "CIFAR-10"}[s.dataset.lower()]
ours = analysis.table_3_2(results, dataset_label, s.sample_size, last=s.mean_val_last)
ctx.save_table(ours, "table_3_2")
display(ours)
reference = analysis.thesis_table_3_2_reference(s.dataset)
comparison = side_by_side(ours, reference, on=["Mode"], columns=["Top Test Acc.", "Mean Val."])
labels = (
    reference["Dataset"] + ", sample " + reference["Sample Sz."].astype(str) + ", " + reference["Model Sz."].astype(str)
)
comparison.insert(1, "thesis row", comparison["Mode"].map(dict(zip(reference["Mode"], labels))))
ctx.save_table(comparison, "table_3_2_vs_thesis")
comparison

# %% [markdown]
# The Δ columns are large by construction in the quick profile: the thesis trained 80 individuals for 160 generations on MNIST/CIFAR-10 (12–24 GPU hours per run), we train 8 tiny individuals for 20 generations on 8×8 digits in seconds, so the population mean stays low while the best individuals are still early in training. The thesis has no MNIST warm-up rows, so the warm-up modes are shown next to the 160-generation CIFAR-10 rows. The comparison is a reference for the paper profile, not a claim of agreement.

# %% [markdown]
# ## Does the population improve? (best validation accuracy per generation)

# %%
best = analysis.best_by_generation(results)
ctx.save_table(best, "best_by_generation")
improvement = best.groupby("mode", sort=False)["best_val_acc"].agg(
    first_3_generations=lambda v: v.head(3).mean(), last_3_generations=lambda v: v.tail(3).mean()
)
improvement["gain"] = improvement["last_3_generations"] - improvement["first_3_generations"]
improvement

# %% [markdown]
# ## Figure 3.1 — moving average of the validation accuracy
#
# The thesis used a window of 700 evaluations; the quick profile has 48–60 evaluations per mode, so the window is scaled down to 10.

# %%
window = 700 if ctx.profile == "full" else 10
fig = analysis.plot_figure_3_1(results, best, window, data_caption)
ctx.save_figure(fig, "figure_3_1")
show(fig)

# %% [markdown]
# ## Sharing: parameters and memory with and without sharing, time per generation
#
# `params_shared` counts each distinct parameter tensor of the population once (modules with the same scope name are the same object); `params_unshared` sums the parameters of each individual built on its own. Memory is the bytes of parameters and batch-norm buffers (float32), counted, not measured. `registry_params` also counts shared modules kept in the registry for later reuse although no current individual uses them (section 3.3).

# %%
sharing = analysis.sharing_table(pops)
ctx.save_table(sharing, "sharing")
sharing

# %% [markdown]
# Seconds per generation are wall-clock on this machine (warm-up generations only change genotypes and train nothing), so they change from run to run: saved as a measurement (`build/measured/ch3_revolver/time_per_generation.csv`), and the cell below is not compared on reruns.

# %%
# NBVAL_IGNORE_OUTPUT
# wall-clock seconds: they differ on every run and machine
time_per_generation = analysis.time_per_generation(generation_seconds)
ctx.save_measurement(time_per_generation, "time_per_generation")
time_per_generation

# %% [markdown]
# ## Table C.1 — top-scoring shared convolutions (lower is better)
#
# Each module's score moves toward 0.7 × the individual's phenotype score + 0.2 × its children's mean + 0.1 × its registry score; shared modules keep a registry score (EMA 0.05). Taken from the `evolve` population. The thesis's scores come from a CIFAR-10 population (validation losses ~0.3), ours from a few minutes on digits (higher losses), so only the ranking procedure is comparable, not the channels or the scores.

# %%
top_mode = "evolve" if "evolve" in pops else next(iter(pops))
c1 = analysis.table_c_1(pops[top_mode].registry, top=15)
c1.insert(0, "Rank", range(1, len(c1) + 1))
ctx.save_table(c1, "table_c_1")
display(c1.drop(columns="name"))
side_by_side(c1, "table_c_1", on=["Rank"], columns=["Input Channels", "Output Channels", "Score"])

# %%
kernel_counts = c1["Kernel Size"].value_counts()
print("kernel sizes among our top shared convolutions:", {k: int(v) for k, v in kernel_counts.items()})
print("thesis (appendix C.1): 20-35% of shared convolutions were 3x3, the rest 1x1")

# %% [markdown]
# ## Appendix C.4 — a blueprint
#
# The best individual of the `evolve` population (by score), children below depth 2 elided as `"[...]"`. Names are derived from the content: `prefix/kind[arguments]#hash(children)+unique id`.

# %%
pop = pops[top_mode]
best_bp = pop.individuals[pop.best_index()].blueprint
print(analysis.blueprint_text(best_bp, max_depth=2)[:6000])

# %% [markdown]
# ## Appendix C.5 — mutation history
#
# Every replacement of a component by a mutation is recorded in its container's `meta` (`meta[role]["mutation_history"]`). Below: all recorded replacements in the `evolve` population's current individuals, then the PyTorch module of one mutated component.

# %%
histories = pd.concat(
    [analysis.mutation_histories(ind.blueprint).assign(individual=ind.uid) for ind in pop.individuals],
    ignore_index=True,
)
display(histories.head(15))
if not histories.empty:
    first = histories.iloc[0]
    owner = next(ind for ind in pop.individuals if ind.uid == first["individual"])
    node = owner.blueprint.get(tuple(first["path"].split("/")))
    print(f"{first['path']}: was {first['was']} {first['was_args']}, now:")
    print(pop.registry.build(node))

# %% [markdown]
# ## Deviations from the thesis
#
# * **Paper profile for MNIST**: appendix C.2 used `--batch_size 512 --width 2` for MNIST; pass them with the CLI (`python -m reuseprior revolver --profile full --dataset MNIST --batch_size 512 --width 2 ...`), the notebook's full profile keeps the CIFAR-10 values.
# * **Scale and data** (quick profile): digits 8×8 instead of MNIST/CIFAR-10, 8 individuals × 20 generations × 3 samples instead of 80 × 160 × 8/16, a learning rate of 0.2 decaying to 0.01 after generation 10 instead of 0.35 → 0.00085 after generation 100, 10 base batches instead of 96. The paper profile (`-p profile full`) uses the appendix C.2 values but was not run here (no GPU).
# * **Batch budget**: `base * max((mean/score)^3, 0.2)` batches, at least `min_batches` (96 in the paper profile, as the thesis text says) and at most one epoch.
# * **New offspring are always trained** in the generation they enter (the original never trained newly created offspring), and copyover is actually used by the genetic algorithm.
# * **Names change with content** (a kernel-size mutation gives a new scope name, hence a new module), the random generator's bounds never shrink, every random choice comes from one explicit RNG, and runs checkpoint and resume bit-identically (the thesis lists the missing checkpointing as a limitation).
# * **Warm-up generations** count towards `epochs` (generations 0 … `warmup_epoch`-1 are genotype-only).
# * **Dense sum group**: our reading of section 3.3.5 — units are summed (s ← unit₀(x); s ← s + unitᵢ(s)) and the sum is concatenated with the group input at the output.
# * **Ensemble members** are scoped by position, so even under aggressive sharing the mean is over three distinct convolutions.
