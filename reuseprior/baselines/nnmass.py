"""NN-Mass and NN-Density (Bhardwaj et al., "Towards Unifying Neural
Architecture Space Exploration and Generalization", ICLR 2020 submission),
a training-free baseline for thesis chapter 6.

The model family: an initial 3x3 convolution, then ``N_c`` cells (three in
the paper); cell ``c`` has ``d_c`` 3x3 convolution layers of ``w_c``
channels (``w_c = base_c * width_multiplier``, base ``[16, 32, 64]``). Layer
``i`` of a cell takes all channels of layer ``i-1`` ("short-range links")
plus ``min(w_c (i-1), t_c)`` channels picked at random (fixed seed) from the
outputs of layers ``0..i-2`` of the same cell ("long-range links",
concatenated as in DenseNet). Cells 2 and 3 halve the feature map in their
first layer; global average pooling and a linear classifier close the
network.

Closed forms (paper eqs. 1-3)::

    rho_c = 2 * sum_{i=2}^{d_c-1} min(w_c (i-1), t_c) / (w_c (d_c-1) (d_c-2))   (cell density, eq. 1)
    rho_avg = mean_c rho_c                                                     (NN-Density, eq. 2)
    m = sum_c w_c d_c rho_c                                                    (NN-Mass, eq. 3)

:func:`nn_mass_of_model` recomputes the mass from a *built* network (by
counting the long-range channels its layers actually concatenate), so the
builder and the closed form check each other.

The paper prints masses and densities cut (not rounded) to the printed digit
(Table 1: 1126.5 -> 1126; appendix D: rho_avg = 0.787 -> 0.78);
:func:`printed_mass` applies that rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import pandas as pd
import torch
from torch import nn

from reuseprior.baselines import complexity
from reuseprior.core import paths

__all__ = [
    "BASE_WIDTHS",
    "NNMassConfig",
    "NNMassNet",
    "TABLE1_CONFIGS",
    "build_nnmass",
    "cell_density",
    "depth_to_layers_per_cell",
    "long_range_channels",
    "nn_density",
    "nn_mass",
    "nn_mass_of_model",
    "printed_mass",
    "load_table1",
    "table1_ours",
]

#: Channels per layer of the three cells at width multiplier 1 (paper appendix G, footnote 6).
BASE_WIDTHS: tuple[int, ...] = (16, 32, 64)


def long_range_channels(width: int, layer: int, t_c: int) -> int:
    """Channels concatenated into layer ``layer`` (0-based) by long-range links.

    ``min(w_c (i-1), t_c)`` for ``i >= 2`` (paper section 3.1, eq. 4 divided
    by ``w_c``); layers 0 and 1 have no earlier layer two steps back.
    """
    if layer < 2:
        return 0
    return min(width * (layer - 1), t_c)


def _check_cell(width: int, depth: int, t_c: int) -> None:
    if width < 1:
        raise ValueError(f"cell width must be >= 1, got {width}")
    if depth < 3:
        raise ValueError(
            "cell depth d_c must be >= 3 for the density of eq. 1 to be defined (it divides by (d_c-1)(d_c-2)); "
            f"got {depth}"
        )
    if t_c < 0:
        raise ValueError(f"t_c (maximum long-range link candidates) must be >= 0, got {t_c}")


def cell_density(width: int, depth: int, t_c: int) -> float:
    """Cell density ``rho_c`` (paper eq. 1 / eq. 7)."""
    _check_cell(width, depth, t_c)
    links = sum(long_range_channels(width, i, t_c) for i in range(2, depth))
    return 2.0 * links / (width * (depth - 1) * (depth - 2))


@dataclass(frozen=True)
class NNMassConfig:
    """One architecture of the NN-Mass family: ``{d_c, w_c, t_c}`` per cell.

    ``widths`` defaults to ``BASE_WIDTHS * width_multiplier``; give it
    explicitly for the appendix-D toy example (widths 2, 3, 4).
    """

    depths: tuple[int, ...]
    t_c: tuple[int, ...]
    width_multiplier: int = 2
    widths: tuple[int, ...] | None = None
    num_classes: int = 10
    in_channels: int = 3
    seed: int = 0
    name: str = ""
    _resolved: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        widths = self.widths
        if widths is None:
            if len(self.depths) > len(BASE_WIDTHS):
                raise ValueError(f"give widths explicitly for more than {len(BASE_WIDTHS)} cells")
            widths = tuple(b * self.width_multiplier for b in BASE_WIDTHS[: len(self.depths)])
        if not (len(widths) == len(self.depths) == len(self.t_c)):
            raise ValueError(
                "depths, widths and t_c need one entry per cell; "
                f"got {len(self.depths)}, {len(widths)}, {len(self.t_c)}"
            )
        for w, d, t in zip(widths, self.depths, self.t_c):
            _check_cell(w, d, t)
        object.__setattr__(self, "_resolved", tuple(int(w) for w in widths))

    @property
    def cell_widths(self) -> tuple[int, ...]:
        return self._resolved

    @property
    def total_layers(self) -> int:
        """Depth as the paper counts it for three equal cells: ``3 d_c + 4``."""
        return sum(self.depths) + 4

    @classmethod
    def from_layers(cls, layers: int, t_c: Sequence[int], width_multiplier: int = 2, **kwargs) -> "NNMassConfig":
        """Config from the paper's total depth (``3 d_c + 4``, Table 1 / appendix G)."""
        d = depth_to_layers_per_cell(layers)
        return cls(depths=(d,) * len(t_c), t_c=tuple(t_c), width_multiplier=width_multiplier, **kwargs)


def depth_to_layers_per_cell(layers: int, cells: int = 3) -> int:
    """``d_c`` from the total depth ``cells * d_c + 4`` (paper appendix G)."""
    d, rest = divmod(layers - 4, cells)
    if rest or d < 3:
        raise ValueError(f"total depth {layers} is not {cells} * d_c + 4 with d_c >= 3")
    return d


def nn_density(cfg: NNMassConfig) -> float:
    """NN-Density ``rho_avg``: the mean cell density (paper eq. 2)."""
    return sum(cell_density(w, d, t) for w, d, t in zip(cfg.cell_widths, cfg.depths, cfg.t_c)) / len(cfg.depths)


def nn_mass(cfg: NNMassConfig) -> float:
    """NN-Mass ``m = sum_c w_c d_c rho_c`` (paper eq. 3)."""
    return sum(w * d * cell_density(w, d, t) for w, d, t in zip(cfg.cell_widths, cfg.depths, cfg.t_c))


def printed_mass(value: float) -> int:
    """The paper's printing rule: cut to an integer (Table 1 prints 1126.5 as 1126)."""
    return int(math.floor(value))


class _ConvBNReLU(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=False),
        )


class NNMassCell(nn.Module):
    """``d_c`` conv layers with random concatenation-type long-range links.

    The chosen channels of each layer are stored as a buffer
    ``long_range_index_<i>`` (indices into the concatenation of layers
    ``0..i-2``), drawn once from a seeded generator.
    """

    def __init__(self, c_in: int, width: int, depth: int, t_c: int, stride: int, generator: torch.Generator):
        super().__init__()
        _check_cell(width, depth, t_c)
        self.width, self.depth, self.t_c = width, depth, t_c
        self.layers = nn.ModuleList()
        for i in range(depth):
            extra = long_range_channels(width, i, t_c)
            layer_in = c_in if i == 0 else width + extra
            self.layers.append(_ConvBNReLU(layer_in, width, stride if i == 0 else 1))
            if i >= 2:
                candidates = width * (i - 1)
                index = torch.randperm(candidates, generator=generator)[:extra].sort().values
                self.register_buffer(f"long_range_index_{i}", index)

    def long_range_index(self, i: int) -> torch.Tensor | None:
        return getattr(self, f"long_range_index_{i}", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs: list[torch.Tensor] = []
        for i, layer in enumerate(self.layers):
            if i < 2:
                inp = x if i == 0 else outputs[-1]
            else:
                earlier = torch.cat(outputs[:-1], dim=1)
                inp = torch.cat([outputs[-1], earlier.index_select(1, self.long_range_index(i))], dim=1)
            outputs.append(layer(inp))
        return outputs[-1]


class NNMassNet(nn.Module):
    """The NN-Mass CNN family (paper Fig. 2a): stem, cells, pooling, classifier."""

    def __init__(self, cfg: NNMassConfig):
        super().__init__()
        self.config = cfg
        widths = cfg.cell_widths
        self.stem = _ConvBNReLU(cfg.in_channels, widths[0])
        g = torch.Generator().manual_seed(cfg.seed)
        cells, c_in = [], widths[0]
        for c, (w, d, t) in enumerate(zip(widths, cfg.depths, cfg.t_c)):
            cells.append(NNMassCell(c_in, w, d, t, stride=1 if c == 0 else 2, generator=g))
            c_in = w
        self.cells = nn.Sequential(*cells)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_in, cfg.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.cells(self.stem(x))), 1))


def build_nnmass(cfg: NNMassConfig) -> NNMassNet:
    """Build the network of ``cfg`` (random long-range choice seeded by ``cfg.seed``)."""
    return NNMassNet(cfg)


def nn_mass_of_model(model: NNMassNet) -> tuple[float, float]:
    """(NN-Mass, NN-Density) counted from a built network's long-range links.

    Counts, per cell, the channels each layer actually concatenates from two
    or more layers back (``len(long_range_index_i)``), and the candidates it
    could have taken (``w_c (i-1)``); eq. 1 is their ratio.
    """
    masses, densities = [], []
    for cell in model.cells:
        links = sum(len(cell.long_range_index(i)) for i in range(2, cell.depth))
        possible = sum(cell.width * (i - 1) for i in range(2, cell.depth))
        rho = links / possible
        densities.append(rho)
        masses.append(cell.width * cell.depth * rho)
    return float(sum(masses)), float(sum(densities) / len(densities))


#: The five CIFAR-10 architectures of the paper's Table 1 (width multiplier 2):
#: (total layers, t_c per cell). The printed values are in ``data/nnmass_table1.csv``.
TABLE1_CONFIGS: tuple[tuple[int, tuple[int, int, int]], ...] = (
    (64, (90, 170, 300)),
    (64, (50, 100, 150)),
    (40, (60, 130, 170)),
    (37, (70, 140, 180)),
    (31, (70, 140, 200)),
)


def load_table1() -> pd.DataFrame:
    """The paper's Table 1 as printed (``data/nnmass_table1.csv``), in the
    form :func:`reuseprior.reporting.reference.side_by_side` takes (parsed values, with
    ``attrs["printed"]`` holding the printed strings)."""
    path = paths.DATA_DIR / "nnmass_table1.csv"
    printed = pd.read_csv(path, comment="#", dtype=str, keep_default_na=False)
    parsed = printed.copy()
    for col in printed.columns:
        if col != "t_c":
            parsed[col] = pd.to_numeric(printed[col])
    parsed.attrs["printed"] = printed
    parsed.attrs["source"] = path.read_text().splitlines()[0].lstrip("# ").strip()
    return parsed


def table1_ours(count_flops: bool = True) -> pd.DataFrame:
    """Our Table 1: closed-form NN-Mass (printed-cut and exact), NN-Density,
    parameters (every parameter element, :func:`reuseprior.baselines.complexity.count_parameters`)
    and FLOPs of the built networks (:func:`reuseprior.baselines.complexity.count_flops`
    on one 32x32 image; 2 FLOPs per multiply-add)."""
    rows = []
    for layers, t_c in TABLE1_CONFIGS:
        cfg = NNMassConfig.from_layers(layers, t_c, width_multiplier=2)
        model = build_nnmass(cfg)
        row = {
            "Layers": layers,
            "t_c": "-".join(map(str, t_c)),
            "NN-Mass": printed_mass(nn_mass(cfg)),
            "NN-Mass (exact)": nn_mass(cfg),
            "NN-Density": nn_density(cfg),
            "Params (M)": complexity.count_parameters(model, trainable_only=False) / 1e6,
        }
        built_mass, built_density = nn_mass_of_model(model)
        row["NN-Mass (counted in built model)"] = built_mass
        if count_flops:
            row["FLOPs (G)"] = complexity.count_flops(model, torch.zeros(1, 3, 32, 32)) / 1e9
        rows.append(row)
    return pd.DataFrame(rows)
