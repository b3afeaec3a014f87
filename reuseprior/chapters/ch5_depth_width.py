"""Depth vs. width (thesis section 5.2): the experiment grids of Tables 5.1-5.4
and Figures 5.1/5.2, run through the context-counting engine.

How each published table was produced (all verified against the printed
digits, see ``tests/test_depth_width.py`` and ``notebooks/ch5_depth_width.ipynb``):

* **Table 5.1** - :func:`~reuseprior.models.mlp.constant_width_mlp` with
  ``width x width`` layers, no bias/BN, ``NI = width``, ``NO = 1`` in ``|G|``
  (the last layer still has ``width`` output nodes, each seeded with one
  context, so the weight ``j`` layers from the output has ``width**j`` contexts).
* **Table 5.2** - same MLP with 3 inputs and batch norm after every layer
  (4 counted parameters per channel), ``NI = 3``, ``NO = 1``; "Shared" rows tie
  every ``width x width`` layer (the first one too when ``width == 3``).
* **Table 5.3** - :func:`~reuseprior.models.cnn.constant_width_cnn` on 8x8, k=3,
  no bias/BN, ``NI = channels * 8 * 8`` (the caption's ``NI = channels`` is not
  what produced the numbers), ``NO = 1``.
* **Table 5.4** - CNN with 3 input channels, 8x8, k=3, BN after every conv,
  ``NI = 3 * 8 * 8``, ``NO = 1``; "Shared" rows tie all convolutions of equal
  ``(k, stride, in, out)``, the first one too when ``channels == 3``.
* **Figures 5.1/5.2** - MLPs with 3 inputs, no BN, ``NO = 1``, on a depth x
  width grid up to 40 x 40 (expected spread, PG and P'G).

``Params`` is the engine's ``NG`` (merged learnable weights, batch norm
counted as 4 per channel), which is what the thesis printed.

Rows carry the wall time of each analysis (``seconds``, :data:`MEASURED_COLUMNS`);
:func:`split_measurements` keeps it out of the tracked tables (it goes to
``ctx.save_measurement``), since a rerun measures it differently.
"""

from __future__ import annotations

import datetime
import time
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from torch import nn

from reuseprior.chapters import register_chapter
from reuseprior.core import paths
from reuseprior.core.files import write_text
from reuseprior.core.ordering import sort_rows
from reuseprior.core.progress import progress_bar
from reuseprior.counting import analyze
from reuseprior.models.cnn import constant_width_cnn
from reuseprior.models.mlp import constant_width_mlp
from reuseprior.reporting.findings import MatchFinding
from reuseprior.reporting.notebook import Profile
from reuseprior.reporting.plotting import readable_fontsize
from reuseprior.reporting.reference import load_thesis_table, side_by_side

#: this chapter, as the book and the build command list it (reuseprior.chapters.CHAPTERS)
CHAPTER = register_chapter(
    __name__,
    part="Chapter 5: depth, width and energy priors",
    title="Chapter 5.2: depth vs. width",
)

__all__ = [
    "FINDINGS",
    "MEASURED_COLUMNS",
    "PROFILES",
    "DepthWidthConfig",
    "TABLES",
    "TABLE_KEYS",
    "table_configs",
    "analyze_config",
    "run_configs",
    "run_table",
    "grid_configs",
    "run_grid",
    "grid_pivot",
    "table_columns",
    "compare_table",
    "match_summary",
    "grid_claims",
    "plot_grid_heatmaps",
    "plot_grid_slices",
    "STORED_RUN",
    "save_stored_run",
    "split_measurements",
    "load_stored_run",
    "table_with_stored_rows",
]


#: Notebook profiles (``reuseprior.reporting.notebook.setup(..., profiles=PROFILES)``).
#: ``max_depth`` drops table rows deeper than it from the computation (the
#: engine traces every layer: depth 3600 takes 1.5 min without and about
#: 4.5 min with batch norm on one loaded CPU core); the quick notebook shows
#: those rows from :data:`STORED_RUN` instead, labelled as such.
#: ``grid_depths``/``grid_widths`` give Figures 5.1/5.2.
@dataclass(frozen=True)
class DepthWidthProfile(Profile):
    """Settings of the section 5.2 notebook (see the comment above)."""

    max_depth: int | None
    grid_depths: list[int]
    grid_widths: list[int]


PROFILES: dict[str, DepthWidthProfile] = {
    "quick": DepthWidthProfile(max_depth=64, grid_depths=[1, 2, 5, 10, 20, 40], grid_widths=[2, 5, 10, 20, 40]),
    "full": DepthWidthProfile(max_depth=None, grid_depths=list(range(1, 41)), grid_widths=list(range(2, 41))),
}


@dataclass(frozen=True)
class DepthWidthConfig:
    """One constant-width model of chapter 5 and how the thesis analysed it.

    ``width`` is features (MLP) or channels (CNN); ``num_inputs`` is input
    features (MLP) or input channels (CNN), ``None`` meaning ``width``.
    ``counted_outputs`` is the ``NO`` used in ``|G|`` (1 in every chapter-5 table).
    """

    family: str  # "mlp" or "cnn"
    width: int
    depth: int
    num_inputs: int | None = None
    batch_norm: bool = False
    shared: bool = False
    image_size: int = 8
    kernel_size: int = 3
    counted_outputs: int = 1

    def __post_init__(self) -> None:
        if self.family not in ("mlp", "cnn"):
            raise ValueError(f"family must be 'mlp' or 'cnn', got {self.family!r}")

    def build(self) -> nn.Module:
        """The model (weights are irrelevant for counting; seeded elsewhere)."""
        if self.family == "mlp":
            return constant_width_mlp(
                self.width, self.depth, num_inputs=self.num_inputs, batch_norm=self.batch_norm, shared=self.shared
            )
        return constant_width_cnn(
            self.width,
            self.depth,
            in_channels=self.num_inputs,
            image_size=self.image_size,
            kernel_size=self.kernel_size,
            batch_norm=self.batch_norm,
            shared=self.shared,
        )

    def example_input(self) -> torch.Tensor:
        """Batch-1 input; its element count is the table's ``NI``."""
        n = self.width if self.num_inputs is None else self.num_inputs
        if self.family == "mlp":
            return torch.zeros(1, n)
        return torch.zeros(1, n, self.image_size, self.image_size)


def _mlp_rows(rows: Iterable[tuple], **kw) -> list[DepthWidthConfig]:
    return [DepthWidthConfig("mlp", w, d, **kw) for w, d in rows]


#: Rows of Tables 5.1-5.4 in the printed order (width/channels, depth[, shared]).
TABLES: dict[str, list[DepthWidthConfig]] = {
    "table_5_1": _mlp_rows(
        [
            (120, 1),
            (60, 4),
            (40, 9),
            (30, 16),
            (24, 25),
            (20, 36),
            (15, 64),
            (12, 100),
            (10, 144),
            (8, 225),
            (6, 400),
            (5, 576),
            (4, 900),
            (2, 3600),
        ]
    ),
    "table_5_2": [
        DepthWidthConfig("mlp", w, d, num_inputs=3, batch_norm=True, shared=s)
        for w, d, s in [
            (2, 3600, True),
            (8, 225, False),
            (10, 144, False),
            (12, 100, False),
            (3, 1600, True),
            (15, 64, False),
            (20, 36, False),
            (4, 900, True),
        ]
    ],
    "table_5_3": [
        DepthWidthConfig("cnn", c, d)
        for c, d in [
            (60, 4),
            (40, 9),
            (120, 1),
            (30, 16),
            (24, 25),
            (20, 36),
            (15, 64),
            (12, 100),
            (10, 144),
            (8, 225),
            (6, 400),
            (5, 576),
            (4, 900),
            (3, 1600),
            (2, 3600),
        ]
    ],
    "table_5_4": [
        DepthWidthConfig("cnn", c, d, num_inputs=3, batch_norm=True, shared=s)
        for c, d, s in [
            (24, 25, False),
            (3, 400, True),
            (5, 576, True),
            (20, 36, False),
            (5, 64, False),
            (4, 900, True),
            (15, 64, False),
            (12, 100, False),
            (5, 144, False),
            (2, 225, False),
            (10, 144, False),
            (3, 1600, True),
            (4, 225, False),
            (8, 225, False),
            (6, 400, False),
            (2, 3600, True),
            (5, 576, False),
        ]
    ],
}

#: Join keys of each table (the thesis's column names).
TABLE_KEYS: dict[str, list[str]] = {
    "table_5_1": ["Width", "Depth"],
    "table_5_2": ["Width", "Depth", "Shared"],
    "table_5_3": ["Channels", "Depth"],
    "table_5_4": ["Channels", "Depth", "Shared"],
}


def table_configs(name: str, max_depth: int | None = None) -> list[DepthWidthConfig]:
    """The configurations of thesis table ``name`` (``"table_5_1"`` ...), rows
    deeper than ``max_depth`` left out."""
    if name not in TABLES:
        raise KeyError(f"unknown table {name!r}; known: {sorted(TABLES)}")
    configs = [c for c in TABLES[name] if max_depth is None or c.depth <= max_depth]
    if not configs:
        shallowest = min(c.depth for c in TABLES[name])
        raise ValueError(f"max_depth={max_depth!r} leaves no row of {name}: its shallowest row has depth {shallowest}")
    return configs


def analyze_config(config: DepthWidthConfig, *, counted_inputs: int | None = None) -> dict:
    """Build one model, run :func:`reuseprior.counting.analyze` with the
    thesis's settings (``NO = 1``, BN = 4 per channel) and return one row with
    the thesis's column names plus every engine quantity and the wall time.

    ``counted_inputs`` overrides ``NI`` (default: the input's element count),
    e.g. to show what Table 5.3's caption (``NI = channels``) would give."""

    model = config.build()
    start = time.perf_counter()
    report = analyze(
        model,
        config.example_input(),
        num_inputs=counted_inputs,
        num_outputs=config.counted_outputs,
        bn_params_per_channel=4,
    )
    seconds = time.perf_counter() - start
    label = "Width" if config.family == "mlp" else "Channels"
    row = {
        "Params": report.NG,
        label: config.width,
        "Depth": config.depth,
        "PG": report.PG,
        "P'G": report.PG_prime,
        "PEG": report.PE,
        "CEG": report.CE,
        "Shared": config.shared,
        "ES": report.expected_spread,
        "H": report.entropy,
        "S": report.total_surprisal,
        "log2_NC": report.log2_NC,
        "NG": report.NG,
        "WG": report.WG,
        "NI": report.NI,
        "NO": report.NO,
        "G": report.G,
        "seconds": seconds,
    }
    row.update({f"config.{k}": v for k, v in asdict(config).items()})
    return row


def run_configs(configs: Sequence[DepthWidthConfig], *, progress: bool = True, desc: str = "models") -> pd.DataFrame:
    """:func:`analyze_config` over ``configs``; one DataFrame row per model."""
    rows = [analyze_config(c) for c in progress_bar(configs, desc=desc, disable=not progress)]
    return pd.DataFrame(rows)


def run_table(name: str, *, max_depth: int | None = None, progress: bool = True) -> pd.DataFrame:
    """Our version of thesis table ``name``, in the printed row order."""
    df = run_configs(table_configs(name, max_depth), progress=progress, desc=name)
    keep = ["Params", *TABLE_KEYS[name][:1], "Depth", "PG", "P'G", "PEG"]
    if name in ("table_5_2", "table_5_4"):
        keep += ["CEG", "Shared"]
    rest = [c for c in df.columns if c not in keep]
    return df[keep + rest]


def grid_configs(depths: Sequence[int], widths: Sequence[int], *, num_inputs: int = 3) -> list[DepthWidthConfig]:
    """MLPs of Figures 5.1/5.2: every (depth, width), 3 inputs, no BN, NO = 1."""
    return [DepthWidthConfig("mlp", w, d, num_inputs=num_inputs) for d in depths for w in widths]


def run_grid(
    depths: Sequence[int], widths: Sequence[int], *, num_inputs: int = 3, progress: bool = True
) -> pd.DataFrame:
    """Analyse the Figure 5.1/5.2 grid; one row per (depth, width)."""
    return run_configs(grid_configs(depths, widths, num_inputs=num_inputs), progress=progress, desc="grid")


def grid_pivot(df: pd.DataFrame, value: str) -> pd.DataFrame:
    """``value`` as a depth (rows) x width (columns) table for heatmaps."""
    return df.pivot(index="Depth", columns="Width", values=value).sort_index(ascending=False)


#: columns a rerun measures differently (wall time of ``analyze``)
MEASURED_COLUMNS: tuple[str, ...] = ("seconds",)

_ROW_KEYS = ("Width", "Channels", "Depth", "Shared", "source")


def split_measurements(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(reproducible, measured)``: the rows without :data:`MEASURED_COLUMNS`
    (for tracked tables), and the row keys (width or channels, depth, shared,
    source) with them (for ``ctx.save_measurement``)."""
    measured = [c for c in MEASURED_COLUMNS if c in df.columns]
    keys = [c for c in _ROW_KEYS if c in df.columns]
    return df.drop(columns=measured), df[keys + measured].copy()


def table_columns(name: str) -> list[str]:
    """Numeric columns printed in thesis table ``name``."""
    return ["Params", "PG", "P'G", "PEG"] + (["CEG"] if name in ("table_5_2", "table_5_4") else [])


def compare_table(ours: pd.DataFrame, name: str) -> pd.DataFrame:
    """:func:`reuseprior.reporting.reference.side_by_side` of our table with the thesis's,
    in the printed row order (rows we did not compute show as ``missing``), then
    the rows the thesis does not print, ordered by their keys."""

    keys = TABLE_KEYS[name]
    cmp = side_by_side(ours, name, on=keys, columns=table_columns(name))
    if "source" in ours.columns:
        cmp = cmp.merge(ours[keys + ["source"]], on=keys, how="left")
        cmp["source"] = cmp["source"].fillna("not computed")
    order = load_thesis_table(name)[keys].reset_index().rename(columns={"index": "__order"})
    merged = cmp.merge(order, on=keys, how="left")
    return sort_rows(merged, "__order", then=keys).drop(columns="__order").reset_index(drop=True)


def match_summary(cmp: pd.DataFrame) -> pd.DataFrame:
    """How many cells of each column are ``rounded``/``truncated``/``off``/``missing``."""
    cols = [c for c in cmp.columns if c.endswith(" match")]
    out = pd.DataFrame({c[: -len(" match")]: cmp[c].value_counts() for c in cols}).fillna(0).astype(int)
    return out.reindex([v for v in ("rounded", "truncated", "off", "missing") if v in out.index])


def grid_claims(df: pd.DataFrame) -> pd.DataFrame:
    """The thesis's statements about Figures 5.1/5.2 evaluated on our grid.

    * ES grows linearly with depth (slope per layer ~ log2(width), eq. 5.15 in bits);
    * ES grows logarithmically with width;
    * the deepest and widest model has the highest ES, PG and P'G.
    """
    rows = []
    deepest, widest = df["Depth"].max(), df["Width"].max()
    for value in ("ES", "PG", "P'G"):
        best = df.loc[df[value].idxmax(), ["Depth", "Width"]]
        rows.append(
            {
                "claim": f"(depth, width) with the largest {value}",
                "thesis": f"({deepest}, {widest})",
                "ours": f"({int(best['Depth'])}, {int(best['Width'])})",
                "holds": bool(best["Depth"] == deepest and best["Width"] == widest),
            }
        )
    depths = sorted(df["Depth"].unique())
    if len(depths) >= 2:
        d0, d1 = depths[-2], depths[-1]
        for w in sorted(df["Width"].unique()):
            es = df[df["Width"] == w].set_index("Depth")["ES"]
            slope = (es[d1] - es[d0]) / (d1 - d0)
            rows.append(
                {
                    "claim": f"ES per layer, width {w}, depth {d0}->{d1}",
                    "thesis": f"~log2({w}) = {np.log2(w):.3f}",
                    "ours": f"{slope:.3f}",
                    "holds": bool(abs(slope - np.log2(w)) < 0.1 * np.log2(w)),
                }
            )
    return pd.DataFrame(rows)


def plot_grid_heatmaps(df: pd.DataFrame, values: Sequence[str] = ("ES", "PG", "P'G")):
    """Heatmaps (depth x width) of the Figure 5.1/5.2 quantities; returns the figure."""
    titles = {
        "ES": "expected spread ES (bits), Fig. 5.1",
        "PG": "PG (eq. 4.7), Fig. 5.2",
        "P'G": "P'G (eq. 4.8), Fig. 5.2",
    }
    # one panel per row, as wide as the book's column: cell numbers stay readable (plotting.readable_fontsize)
    fig, axes = plt.subplots(len(values), 1, figsize=(6.8, 3.6 * len(values)))
    for ax, value in zip(np.atleast_1d(axes), values):
        table = grid_pivot(df, value)
        annotate = table.size <= 64
        sns.heatmap(
            table,
            ax=ax,
            cmap="viridis",
            annot=annotate,
            fmt=".1f",
            annot_kws={"size": readable_fontsize(fig)},
            cbar_kws={"label": f"{value} (bits)"},
        )
        ax.set_title(titles.get(value, value))
        ax.set_xlabel("width (units per layer)")
        ax.set_ylabel("depth (weight layers)")
    fig.tight_layout()
    return fig


def plot_grid_slices(df: pd.DataFrame, widths: Sequence[int] = (2, 5, 10, 20, 40)):
    """Figures 5.1/5.2 as curves: ES and PG against depth for a few widths of
    the grid (those of ``widths`` that it holds); returns the figure."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    shown = [w for w in widths if w in set(df["Width"])]
    for w, part in df[df["Width"].isin(shown)].groupby("Width"):
        axes[0].plot(part["Depth"], part["ES"], marker="o", label=f"width {w}")
        axes[1].plot(part["Depth"], part["PG"], marker="o", label=f"width {w}")
    axes[0].set(
        xlabel="depth (weight layers)", ylabel="expected spread ES (bits)", title="Fig. 5.1 slices: ES vs depth"
    )
    axes[1].set(xlabel="depth (weight layers)", ylabel="PG (bits, eq. 4.7)", title="Fig. 5.2 slices: PG vs depth")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


#: Engine results of the full profile for every table row, stored so that the
#: quick profile can show the deep rows (labelled "stored full run") without
#: recomputing them; regenerate with ``python -m reuseprior depth-width --store``.
STORED_RUN = paths.DATA_DIR / "computed" / "ch5_depth_width_tables.csv"


def save_stored_run(tables: dict[str, pd.DataFrame], path=None) -> None:
    """Write full-profile tables (``{table name: run_table(name)}``) to :data:`STORED_RUN`."""
    path = STORED_RUN if path is None else path
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = []
    for name, df in tables.items():
        keys = TABLE_KEYS[name]
        part = df.rename(columns={keys[0]: "Width/Channels"}).assign(Table=name)
        frames.append(part)
    out = pd.concat(frames, ignore_index=True)
    cols = [
        "Table",
        "Width/Channels",
        "Depth",
        "Shared",
        "Params",
        "PG",
        "P'G",
        "PEG",
        "CEG",
        "ES",
        "H",
        "S",
        "log2_NC",
        "NG",
        "WG",
        "NI",
        "NO",
        "G",
        "seconds",
    ]
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = (
        "# source: reuseprior.chapters.ch5_depth_width.run_table on every row of Tables 5.1-5.4 "
        f"(profile full), {stamp}\n"
        "# note: computed by the counting engine, not typed in; "
        "seconds = wall time of analyze on a shared, loaded 2-core CPU machine\n"
    )
    write_text(path, header + out[cols].to_csv(index=False, float_format="%.12g"))


def load_stored_run(name: str, path=None) -> pd.DataFrame:
    """Rows of table ``name`` from :data:`STORED_RUN`, with the table's column names."""
    path = STORED_RUN if path is None else path
    if not path.exists():
        raise FileNotFoundError(
            f"no stored full run at {path}; create it with: python -m reuseprior depth-width --store"
        )
    df = pd.read_csv(path, comment="#")
    df = df[df["Table"] == name].drop(columns="Table").rename(columns={"Width/Channels": TABLE_KEYS[name][0]})
    df["Shared"] = df["Shared"].astype(bool)
    return df.reset_index(drop=True)


def table_with_stored_rows(name: str, *, max_depth: int | None, progress: bool = True) -> pd.DataFrame:
    """Rows up to ``max_depth`` computed now, deeper rows read from
    :data:`STORED_RUN`; the ``source`` column says which is which."""
    ours = run_table(name, max_depth=max_depth, progress=progress).assign(source="computed now")
    if max_depth is None:
        return ours
    stored = load_stored_run(name)
    deep = stored[stored["Depth"] > max_depth].assign(source=f"stored full run ({STORED_RUN.name})")
    return pd.concat([ours, deep], ignore_index=True)


#: The thesis's claims this chapter tests, each read from the table the notebook writes (the findings it opens with).
FINDINGS: tuple[MatchFinding, ...] = (
    MatchFinding(
        "Table 5.1: MLP depth against width",
        "Table 5.1: MLP depth vs. width, 14400 parameters",
        ("table_5_1_vs_thesis.csv",),
    ),
    MatchFinding(
        "Table 5.2: cross-layer sharing in MLPs",
        "Table 5.2: cross-layer parameter sharing in MLPs with batch norm",
        ("table_5_2_vs_thesis.csv",),
    ),
    MatchFinding(
        "Table 5.3: CNN depth against width",
        "Table 5.3: CNN depth vs. width, 129600 parameters",
        ("table_5_3_vs_thesis.csv",),
    ),
    MatchFinding(
        "Table 5.4: cross-layer sharing in CNNs",
        "Table 5.4: cross-layer parameter sharing in CNNs with batch norm",
        ("table_5_4_vs_thesis.csv",),
    ),
)
