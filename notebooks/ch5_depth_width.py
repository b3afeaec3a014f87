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
# # Chapter 5.2: depth vs. width
#
# Reproduces thesis section 5.2: **Tables 5.1, 5.2, 5.3, 5.4** (depth vs. width with a parameter budget, MLP and
# CNN, with and without cross-layer parameter sharing and batch norm) and **Figures 5.1 and 5.2** (expected spread
# and estimated performance of constant-width MLPs on a depth x width grid up to 40 x 40, `NI = 3`).
#
# Where the numbers come from: every "ours" value is computed here by the counting engine
# (`reuseprior.counting.analyze`) on models built by `reuseprior.models.mlp.constant_width_mlp` /
# `reuseprior.models.cnn.constant_width_cnn`, driven by `reuseprior.chapters.ch5_depth_width` (which also documents the exact
# semantics of each table). The thesis values are `data/thesis/table_5_1.csv` ... `table_5_4.csv`, transcribed as printed.
#
# Profiles: **quick** computes the table rows with depth <= `max_depth` (64) and a 6 x 5 grid
# (depths 1, 2, 5, 10, 20, 40 x widths 2, 5, 10, 20, 40). The deeper rows (depth 100 to 3600, including every
# "Shared" row) take minutes each on a CPU, so the quick profile shows them from `data/computed/ch5_depth_width_tables.csv`,
# the stored output of the same engine code run on every row (`python -m reuseprior depth-width --store`); the column
# `source` says, row by row, whether a value was computed in this run or read from that stored run.
# **full** computes every row (depth up to 3600; 31 minutes for the four tables on our shared, loaded 2-core CPU
# machine) and the whole 40 x 39 grid (depths 1..40, widths 2..40; 3 minutes).
#
# Run interactively, this notebook writes its tables and figures under `build/figures/interactive/ch5_depth_width/`;
# `python -m reuseprior build ch5_depth_width` (or `make figures`) writes them to the tracked
# `figures/ch5_depth_width/`, and the `output_dir` parameter names another folder.

# %% [markdown]
# ## Findings
#
# Each claim this chapter tests, the verdict on it and what supports it, read from the tables this notebook writes (the ones the README's results table quotes, from the last batch build): for a trained comparison the estimate with its t-interval at the level its verdict is judged at (95 %, or a family's stricter level, named beside it) and its paired seeds, for a table the printed values that match ours, for an exact result the values themselves. The last column links to the section that shows it.

# %% tags=["hide-input"]
from reuseprior.chapters import ch5_depth_width
from reuseprior.reporting.findings import show_findings

show_findings(ch5_depth_width.FINDINGS, "ch5_depth_width")

# %% tags=["parameters"]
profile = "quick"  # "quick": CPU, minutes; "full": paper scale
seed = 0
device = "cpu"  # "cpu", "cuda" or "auto"
output_dir = None  # None: figures/<notebook>/ in a batch build, build/figures/interactive/<notebook>/ otherwise

# %% tags=["hide-output"]
import pandas as pd
from IPython.display import HTML

from reuseprior.chapters import ch5_depth_width as dw
from reuseprior.reporting.notebook import setup
from reuseprior.reporting.plotting import show as show_figure
from reuseprior.reporting.tables import long_comparison, styled_html

ctx = setup("ch5_depth_width", profile=profile, seed=seed, device=device, output_dir=output_dir, profiles=dw.PROFILES)
pd.set_option("display.width", 220)
pd.set_option("display.max_columns", 40)
print(ctx.describe())
seconds = {}  # wall time of each analysis: a measurement, kept out of the tracked tables


def show(name):
    """Compute the rows up to max_depth now; in the quick profile show deeper rows from the stored full run."""
    ours, seconds[name] = dw.split_measurements(dw.table_with_stored_rows(name, max_depth=ctx.settings.max_depth))
    ctx.save_table(ours, name)
    ctx.save_measurement(seconds[name], f"{name}_seconds")
    cmp = dw.compare_table(ours, name)
    ctx.save_table(cmp, f"{name}_vs_thesis")
    keys = dw.TABLE_KEYS[name]
    display(pd.concat({src: dw.match_summary(part) for src, part in cmp.groupby("source")}))
    # one row per (model, quantity): ours, thesis, Δ and match stay in view; a fixed table id keeps the HTML stable
    display(HTML(styled_html(long_comparison(cmp, keys, dw.table_columns(name), labels=["source"]), name)))
    return ours, cmp


# %% [markdown]
# <a id="findings-table-5-1-mlp-depth-vs-width-14400-parameters"></a>
#
# ## Table 5.1: MLP depth vs. width, 14400 parameters
#
# Semantics (verified on every row): all layers are `width x width` (`Params = width^2 * depth`), no bias or batch
# norm, `NI = width` input nodes, and **`NO = 1`** in `|G| = NI + NO + WG`, although the last layer has `width`
# output nodes each seeded with one context. So the weight `j` layers from the output has `width^j` contexts.

# %%
t51, c51 = show("table_5_1")

# %% [markdown]
# <a id="findings-table-5-2-cross-layer-parameter-sharing-in-mlps-with-batch-norm"></a>
#
# ## Table 5.2: cross-layer parameter sharing in MLPs with batch norm
#
# Semantics: 3 inputs (`NI = 3`), first layer `3 -> width`, then `width x width` layers; batch norm after every
# layer, counted as **4 parameters per channel** (gamma, beta, running mean and variance) each with the count of its
# channel; no bias; `NO = 1`. **Shared** rows tie every `width x width` layer to one parameter; with `width = 3`
# the first layer has the same shape and is tied too (`19209 = 9 + 1600 * 12` requires it). Batch norm is never tied.
# `CEG = PG / WG` with `WG` counting every use of the tied weights.

# %%
t52, c52 = show("table_5_2")

# %% [markdown]
# <a id="findings-table-5-3-cnn-depth-vs-width-129600-parameters"></a>
#
# ## Table 5.3: CNN depth vs. width, 129600 parameters
#
# Semantics: 8x8 input, 3x3 convolutions with symmetric padding 1, stride 1, `channels -> channels` everywhere, no
# bias or batch norm, `NO = 1`, output = the last feature map (every element seeded with one context).
# **Deviation in the thesis caption:** it says `NI = channels`, but the printed numbers are reproduced only with
# `NI = channels * 8 * 8` (the input nodes of the image). We use `NI = channels * 8 * 8`; the cell after the
# table shows what the caption's `NI` would give for the one-layer row (printed: PG 16.91, P'G 15.58).

# %%
t53, c53 = show("table_5_3")

# %%
row = next(c for c in dw.TABLES["table_5_3"] if c.depth == 1)
pick = ("NI", "PG", "P'G")
caption = pd.DataFrame(
    [
        {"NI used": "channels * 8 * 8 (ours)", **{k: dw.analyze_config(row)[k] for k in pick}},
        {"NI used": "channels (caption)", **{k: dw.analyze_config(row, counted_inputs=row.width)[k] for k in pick}},
    ]
)
display(caption)

# %% [markdown]
# <a id="findings-table-5-4-cross-layer-parameter-sharing-in-cnns-with-batch-norm"></a>
#
# ## Table 5.4: cross-layer parameter sharing in CNNs with batch norm
#
# Semantics: 3 input channels (the caption's "NI = 3" is the channel count: `NI = 3 * 8 * 8 = 192` nodes), first conv
# `3 -> channels`, batch norm after every conv (4 per channel), `NO = 1`. **Shared** rows tie all convolutions with the
# same `(kernel, stride, in, out)`, so the first conv is tied with the others when `channels = 3`
# (`4881 = 81 + 400 * 12`); batch norm is never tied.

# %%
t54, c54 = show("table_5_4")

# %% [markdown]
# ### Deviations
#
# With the semantics above every row matches the printed digits (`match` = `rounded`, or `truncated` where the
# thesis cut instead of rounding), whether computed in this run or read from the stored full run (run the notebook
# with `-p profile full` to recompute all rows, depth 3600 included). The only deviation from the thesis *text* is
# the caption of Table 5.3 (`NI`), explained above. The count below is over all four tables.

# %%
all_cmp = pd.concat(
    {
        n: dw.match_summary(c)
        for n, c in [("table_5_1", c51), ("table_5_2", c52), ("table_5_3", c53), ("table_5_4", c54)]
    }
)
display(all_cmp)
off = sum(int((c[[k for k in c.columns if k.endswith(" match")]] == "off").sum().sum()) for c in (c51, c52, c53, c54))
print(f"cells off beyond the printed precision: {off}")

# %% [markdown]
# The thesis's reading of the tables is visible in our columns: with a fixed parameter budget both estimates
# favour deeper, narrower models (Tables 5.1, 5.3); batch norm makes very deep shared models pay in parameters, so
# the most parameter-efficient shared MLP is not the deepest (Table 5.2), and the top PEG of Table 5.4 is a shared
# CNN that is not the one with the highest PG.
#
# ## Figures 5.1 and 5.2: depth x width grid (MLP, `NI = 3`, no batch norm)
#
# The thesis draws wireframes; we draw heatmaps of the same quantities: the expected spread (Figure 5.1, in bits)
# and the two performance estimates PG and P'G (Figure 5.2). The number of parameters is not held constant here.
# The thesis gives no numbers for these figures, only statements, which we check on our grid below.

# %%
grid, seconds["grid"] = dw.split_measurements(dw.run_grid(ctx.settings.grid_depths, ctx.settings.grid_widths))
ctx.save_table(grid, "figure_5_1_5_2_grid")
ctx.save_measurement(seconds["grid"], "figure_5_1_5_2_grid_seconds")
fig = dw.plot_grid_heatmaps(grid)
ctx.save_figure(fig, "figure_5_1_5_2_heatmaps")
show_figure(fig)
display(dw.grid_claims(grid))

# %% [markdown]
# Figure 5.1's statement holds: for deep models the expected spread grows by about `log2(width)` bits per layer
# (linear in depth, logarithmic in width; the closed form (D - 1) ln w of eq. 5.15 in bits). Figure 5.2's statement
# also holds: the deepest and widest model (40, 40) has the highest PG and P'G, and the estimate grows faster along
# depth than along width.

# %%
fig = dw.plot_grid_slices(grid)
ctx.save_figure(fig, "figure_5_1_5_2_slices")
show_figure(fig)

# %% [markdown]
# ### Cost of the analysis
#
# Wall time of `analyze` per table on this machine (rows computed in this run; the deep rows of the quick profile
# come with the stored full run's times). Saved with `ctx.save_measurement` under `build/measured/ch5_depth_width/`,
# not in the tracked tables, and not compared on reruns.

# %%
# NBVAL_IGNORE_OUTPUT
# wall-clock seconds: they differ on every run and machine
timing = pd.concat([t.assign(table=name, source=t.get("source", "computed now")) for name, t in seconds.items()])
timing.groupby(["table", "source"], sort=False)["seconds"].agg(rows="count", total="sum", slowest="max")
