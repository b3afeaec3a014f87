"""NAS-Bench-201: our own implementation of the cell search space and the
CIFAR-10 accuracies of all 15,625 cells shipped by ``analog-nasbench``.

Search space (Dong & Yang, ICLR 2020): a cell is a DAG on 4 nodes; each of
the 6 edges ``j -> i`` (``j < i``) carries one of 5 operations. The CIFAR
network is a 3x3 stem convolution with BatchNorm (C = 16 channels), three
stages of N = 5 cells (C, 2C, 4C channels) separated by residual reduction
blocks (ReLU-conv3x3(stride 2)-BN, ReLU-conv3x3-BN, shortcut avg-pool 2x2 +
conv1x1), then BatchNorm-ReLU, global average pooling and a linear
classifier. A node sums its incoming edges; the cell outputs node 3.

Architecture strings use the benchmark's notation::

    |nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|

``analog-nasbench`` stores each cell as a 6-tuple of integer codes whose
meaning the package does not document. The mapping used here was inferred
from its own data and is checked by :func:`check_analog_encoding`:

- code 1 is ``none``: the 341 tuples whose cell has no path from node 0 to
  node 3 under the mapping below are exactly the tuples at chance accuracy
  (10.0%);
- edge order is by source node: ``(0->1, 0->2, 0->3, 1->2, 1->3, 2->3)``
  (the three 3-edge cuts of the 4-node DAG fix the positions);
- codes 2 and 3 are the convolutions (single-op cells: 3x3 > 1x1; the
  all-3x3 cell reaches 93.2%), code 0 is ``skip_connect`` and 4 is
  ``avg_pool_3x3`` (the benchmark's best cell, conv3x3 everywhere but a skip
  on 0->3, is code (2,2,0,2,2,2) at 93.99%, within 0.1 of the maximum).

Licences: ``analog-nasbench`` 0.1.3 (PyPI) declares no licence in its
metadata; its accuracies are used as published data and are not
redistributed here. NAS-Bench-201 itself is MIT-licensed; the reference
implementation (``xautodl``) is only used, when importable, to cross-check
parameter counts (``data/nasbench201_reference_params.csv``).
"""

from __future__ import annotations

import importlib.util
import io
import itertools
import pickle
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

__all__ = [
    "ANALOG_EDGE_ORDER",
    "ANALOG_OP_CODES",
    "EDGES",
    "NB201Cell",
    "NB201Network",
    "OPS",
    "arch_from_analog",
    "arch_to_string",
    "build_nb201",
    "check_analog_encoding",
    "is_connected",
    "load_analog_nasbench",
    "parse_arch",
    "all_archs",
    "sample_archs",
    "iter_cells",
]

#: The five candidate operations, in the benchmark's order.
OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: Edges (target, source) in the order of the architecture string.
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
#: analog-nasbench integer code -> operation (inferred; see module docstring).
ANALOG_OP_CODES: dict[int, str] = {
    0: "skip_connect",
    1: "none",
    2: "nor_conv_3x3",
    3: "nor_conv_1x1",
    4: "avg_pool_3x3",
}
#: analog-nasbench tuple position -> edge (target, source) (inferred).
ANALOG_EDGE_ORDER: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (3, 0), (2, 1), (3, 1), (3, 2))

Arch = tuple[str, ...]  # six op names in EDGES order


def parse_arch(text: str) -> Arch:
    """``'|op~0|+|op~0|op~1|+|op~0|op~1|op~2|'`` -> six op names in :data:`EDGES` order."""
    nodes = text.strip().split("+")
    if len(nodes) != 3:
        raise ValueError(f"a NAS-Bench-201 string has 3 '+'-separated nodes, got {len(nodes)}: {text!r}")
    ops: list[str] = []
    for target, node in enumerate(nodes, start=1):
        items = [t for t in node.split("|") if t]
        if len(items) != target:
            raise ValueError(f"node {target} needs {target} incoming edges, got {items} in {text!r}")
        for source, item in enumerate(items):
            op, _, src = item.partition("~")
            if op not in OPS or int(src) != source:
                raise ValueError(f"bad edge {item!r} into node {target} of {text!r}; ops are {OPS}")
            ops.append(op)
    return tuple(ops)


def arch_to_string(arch: Sequence[str]) -> str:
    """Six op names (:data:`EDGES` order) -> the benchmark's string."""
    if len(arch) != 6 or any(op not in OPS for op in arch):
        raise ValueError(f"an architecture is 6 ops from {OPS}, got {arch!r}")
    a = list(arch)
    return f"|{a[0]}~0|+|{a[1]}~0|{a[2]}~1|+|{a[3]}~0|{a[4]}~1|{a[5]}~2|"


def arch_from_analog(code: Sequence[int]) -> Arch:
    """analog-nasbench 6-tuple of integer codes -> six op names in :data:`EDGES` order."""
    by_edge = {edge: ANALOG_OP_CODES[int(c)] for edge, c in zip(ANALOG_EDGE_ORDER, code)}
    return tuple(by_edge[e] for e in EDGES)


def all_archs() -> list[Arch]:
    """All 5^6 = 15,625 cells."""
    return [tuple(a) for a in itertools.product(OPS, repeat=6)]


def is_connected(arch: Sequence[str]) -> bool:
    """True when some path of non-``none`` edges leads from node 0 to node 3."""
    reach = {0}
    for target in (1, 2, 3):
        for (t, s), op in zip(EDGES, arch):
            if t == target and s in reach and op != "none":
                reach.add(target)
    return 3 in reach


# --------------------------------------------------------------------------- network


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
        )


def _make_op(name: str, channels: int) -> nn.Module | None:
    if name == "none":
        return None
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NAS-Bench-201 op {name!r}; known: {OPS}")


class NB201Cell(nn.Module):
    """One cell: node ``i`` = sum of ``op(node j)`` over its non-``none`` edges.

    ``none`` edges are left out (they contribute zeros); a node with no
    incoming edge is all zeros, as in the benchmark.
    """

    def __init__(self, arch: Sequence[str], channels: int):
        super().__init__()
        self.arch = tuple(arch)
        self.edges = nn.ModuleDict()
        for (t, s), op in zip(EDGES, self.arch):
            module = _make_op(op, channels)
            if module is not None:
                self.edges[f"{s}_{t}"] = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for target in (1, 2, 3):
            terms = [self.edges[f"{s}_{target}"](nodes[s]) for s in range(target) if f"{s}_{target}" in self.edges]
            nodes.append(torch.stack(terms).sum(0) if len(terms) > 1 else terms[0] if terms else torch.zeros_like(x))
        return nodes[3]


class ResidualReduction(nn.Module):
    """The benchmark's reduction block between stages (stride 2, channels x2)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class NB201Network(nn.Module):
    """The NAS-Bench-201 CIFAR macro network around one cell (C=16, N=5)."""

    def __init__(self, arch: Sequence[str] | str, channels: int = 16, cells_per_stage: int = 5, num_classes: int = 10):
        super().__init__()
        arch = parse_arch(arch) if isinstance(arch, str) else tuple(arch)
        self.arch = arch
        self.stem = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))
        layers: list[nn.Module] = []
        c = channels
        for stage in range(3):
            if stage > 0:
                layers.append(ResidualReduction(c, 2 * c))
                c *= 2
            layers.extend(NB201Cell(arch, c) for _ in range(cells_per_stage))
        self.cells = nn.Sequential(*layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=False))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.lastact(self.cells(self.stem(x)))), 1))


def build_nb201(arch: Sequence[str] | str, num_classes: int = 10) -> NB201Network:
    """The CIFAR network of a cell (string or six op names)."""
    return NB201Network(arch, num_classes=num_classes)


# --------------------------------------------------------------------------- accuracies


class _AnalogUnpickler(pickle.Unpickler):
    """Loads analog-nasbench's pickle without importing the package (which
    needs the removed ``pkg_resources``) and refuses any other class."""

    _ALLOWED = {("analognasbench.data", "Architecture"), ("analognasbench.data", "DriftMeasurement")}

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return type(name, (), {})
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from analog-nasbench data")


def _analog_data_path() -> Path:
    """Where analog-nasbench keeps its data, found without importing the package."""
    spec = importlib.util.find_spec("analognasbench")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "analog-nasbench is not installed; install it with `pip install analog-nasbench==0.1.3` "
            "(it ships the CIFAR-10 accuracies of all 15,625 NAS-Bench-201 cells)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "data.anb"


@lru_cache(maxsize=1)
def load_analog_nasbench() -> pd.DataFrame:
    """All 15,625 cells with analog-nasbench's CIFAR-10 accuracies (percent).

    Columns: ``arch`` (benchmark string), ``analog_code`` (the package's
    tuple as a string), ``connected``, ``accuracy`` (``baseline_accuracy``:
    digital training and test, the ground truth used in chapter 6), and the
    package's analog-hardware variants (``ptq_accuracy``, ``qat_accuracy``,
    ``noisy_accuracy``, ``analog_accuracy``) kept for reference.
    """
    raw = _analog_data_path().read_bytes()
    data = _AnalogUnpickler(io.BytesIO(raw)).load()
    rows = []
    for code, rec in data.items():
        arch = arch_from_analog(code)
        rows.append(
            {
                "arch": arch_to_string(arch),
                "analog_code": "".join(map(str, code)),
                "connected": is_connected(arch),
                "accuracy": float(rec.baseline_accuracy),
                "ptq_accuracy": float(rec.ptq_accuracy),
                "qat_accuracy": float(rec.qat_accuracy),
                "noisy_accuracy": float(rec.noisy_accuracy),
                "analog_accuracy": float(rec.analog_accuracy),
            }
        )
    df = pd.DataFrame(rows).sort_values("arch", kind="stable").reset_index(drop=True)
    if len(df) != 15625 or df["arch"].nunique() != 15625:
        raise ValueError(f"expected 15,625 distinct NAS-Bench-201 cells in analog-nasbench, got {df['arch'].nunique()}")
    return df


def check_analog_encoding(df: pd.DataFrame | None = None, chance: float = 10.0) -> dict[str, int]:
    """Evidence for the inferred code mapping: disconnected cells <=> chance accuracy.

    Returns counts; a correct mapping gives ``disconnected == at_chance ==
    disconnected_at_chance`` (341) and ``best_arch_rank`` small.
    """
    df = load_analog_nasbench() if df is None else df
    at_chance = df["accuracy"] <= chance + 1e-6
    disconnected = ~df["connected"]
    best = arch_to_string(
        ("nor_conv_3x3", "nor_conv_3x3", "nor_conv_3x3", "skip_connect", "nor_conv_3x3", "nor_conv_3x3")
    )
    rank = int((df["accuracy"] > df.loc[df["arch"] == best, "accuracy"].iloc[0]).sum()) + 1
    return {
        "disconnected": int(disconnected.sum()),
        "at_chance": int(at_chance.sum()),
        "disconnected_at_chance": int((disconnected & at_chance).sum()),
        "best_arch_rank": rank,
    }


def sample_archs(n: int, seed: int = 0, df: pd.DataFrame | None = None) -> list[str]:
    """A seeded uniform sample of ``n`` cell strings (all cells when ``n >= 15625``).

    The order is a fixed random permutation of the sorted strings, so a
    longer sample extends a shorter one with the same seed.
    """
    df = load_analog_nasbench() if df is None else df
    order = np.random.default_rng(seed).permutation(len(df))
    return df["arch"].to_numpy()[order[: min(n, len(df))]].tolist()


def iter_cells(archs: Iterable[str]):
    """(arch string, network) pairs."""
    for a in archs:
        yield a, build_nb201(a)
