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

``analog-nasbench``'s ``baseline_accuracy`` is the package's own retraining,
not NAS-Bench-201's published accuracy: it ranks the cells like the
benchmark's own labels but sits a few points above them. The official
labels are available offline for a 725-cell subset only, in NASLib's
NAS-Bench-Suite-Zero file (:func:`naslib_subset_from_json`, stored as
``data/nasbench201_naslib_subset.csv``, read by :func:`load_naslib_subset`),
together with the reference implementation's zero-cost proxy scores of the
same cells.

Licences: ``analog-nasbench`` 0.1.3 (PyPI) declares no licence in its
metadata; its accuracies are used as published data and are not
redistributed here. NAS-Bench-201 itself is MIT-licensed; the reference
implementation (``xautodl``) is only used, when importable, to cross-check
parameter counts (``data/nasbench201_reference_params.csv``). The NASLib
subset is redistributed under NASLib's Apache-2.0 licence, with the
attribution and the list of changes in the CSV's header
(:data:`NASLIB_SUBSET_HEADER`).
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

from reuseprior.core import paths
from reuseprior.core.files import write_text

__all__ = [
    "ANALOG_EDGE_ORDER",
    "ANALOG_OP_CODES",
    "EDGES",
    "NASLIB_DATASETS",
    "NASLIB_PROXIES",
    "NASLIB_SOURCE",
    "NASLIB_SUBSET_HEADER",
    "NB201Cell",
    "NB201Network",
    "OPS",
    "arch_from_analog",
    "arch_to_string",
    "build_nb201",
    "check_analog_encoding",
    "is_connected",
    "load_analog_nasbench",
    "load_naslib_subset",
    "naslib_subset_from_json",
    "parse_arch",
    "all_archs",
    "sample_archs",
    "iter_cells",
    "write_naslib_subset",
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
    digital training and test, the ground truth the scores are compared with), and the
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


# --------------------------------------------------------------------------- official labels: NASLib subset

#: The datasets of NASLib's NAS-Bench-201 zero-cost file, in its order.
NASLIB_DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "ImageNet16-120")
#: The zero-cost proxies NASLib stores per cell (the reference implementations' scores), in its order. NASLib's
#: ``nwot`` is NASWOT and ``jacov`` jacob_cov; ``params`` is in millions and ``flops`` in MFLOPs.
NASLIB_PROXIES: tuple[str, ...] = (
    "flops",
    "params",
    "synflow",
    "grasp",
    "fisher",
    "grad_norm",
    "l2_norm",
    "plain",
    "nwot",
    "epe_nas",
    "jacov",
    "snip",
)
#: Where ``data/nasbench201_naslib_subset.csv`` comes from: one version of NASLib's file, fixed by its git blob.
NASLIB_SOURCE: dict[str, str] = {
    "repository": "https://github.com/automl/NASLib",
    "branch": "zerocost",
    "commit": "6639fd1579010457885c641553c55b0c153045aa",
    "commit_date": "2022-05-18",
    "path": "naslib/data/zc_nasbench201.json",
    "blob": "01f0f4ac3ccf98081839c9ec89b0c655fbd8301e",
    "sha256": "5dcbbcd56812a9f62164a376bc7df4082ab3af612082b6d26a845930e6eb8641",
    "licence": "Apache-2.0",
    "licence_url": "https://www.apache.org/licenses/LICENSE-2.0",
    "copyright": "Copyright 2019-2021 AutoML Freiburg and contributors",
}
#: The stored subset (one row per cell).
NASLIB_SUBSET_CSV = "nasbench201_naslib_subset.csv"
#: The ``#`` lines heading the stored CSV: provenance, the Apache-2.0 attribution and notice, the changes made
#: (Apache-2.0 section 4b) and the meaning of the columns.
NASLIB_SUBSET_HEADER: tuple[str, ...] = (
    f"source: NASLib ({NASLIB_SOURCE['repository']}), branch {NASLIB_SOURCE['branch']}, "
    f"commit {NASLIB_SOURCE['commit']} ({NASLIB_SOURCE['commit_date']}), file {NASLIB_SOURCE['path']} "
    f"(git blob {NASLIB_SOURCE['blob']}, sha256 {NASLIB_SOURCE['sha256']}): NAS-Bench-Suite-Zero's "
    "NAS-Bench-201 zero-cost benchmark, 725 cells (724 for ImageNet16-120)",
    f"licence: {NASLIB_SOURCE['copyright']}. Licensed under the Apache License, Version 2.0 (the 'License'); "
    f"you may not use this file except in compliance with the License. You may obtain a copy of the License at "
    f"{NASLIB_SOURCE['licence_url']}. Unless required by applicable law or agreed to in writing, software "
    "distributed under the License is distributed on an 'AS IS' BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY "
    "KIND, either express or implied. See the License for the specific language governing permissions and "
    "limitations under the License.",
    "changes: converted from JSON to CSV by reuseprior.zoo.nasbench201.naslib_subset_from_json and "
    "write_naslib_subset: one row per cell; the cell key (NASLib op indices) also written as the NAS-Bench-201 "
    "architecture string; val_accuracy of the three datasets and the CIFAR-10 proxy scores kept, the proxies' "
    "timings and the CIFAR-100 / ImageNet16-120 proxy scores dropped; values unchanged",
    "columns: arch = NAS-Bench-201 string as reuseprior writes it; naslib_idx = NASLib's idx; naslib_op_indices = "
    "NASLib's key, the op index per edge (0->1, 0->2, 0->3, 1->2, 1->3, 2->3) with ops [skip_connect, none, "
    "nor_conv_3x3, nor_conv_1x1, avg_pool_3x3]; val_acc_<dataset> = NASLib's val_accuracy (percent, epoch 200; "
    "for cifar10 the cifar10-valid record: trained on 25k images, evaluated on the other 25k); ref_<proxy> = "
    "the reference implementation's score on CIFAR-10 (ref_params in millions, ref_flops in MFLOPs; "
    "ref_nwot is NASWOT, ref_jacov jacob_cov); empty = not in the file",
)


def _naslib_code(key: str) -> tuple[int, ...]:
    """NASLib's cell key ``"(0, 2, 3, 2, 3, 1)"`` -> six op indices."""
    parts = key.strip().removeprefix("(").removesuffix(")").split(",")
    try:
        code = tuple(int(p) for p in parts)
    except ValueError:
        code = ()
    if len(code) != 6 or any(c not in ANALOG_OP_CODES for c in code):
        raise ValueError(f"a NASLib NAS-Bench-201 key is 6 op indices in 0-4, got {key!r}")
    return code


def naslib_subset_from_json(data: dict) -> pd.DataFrame:
    """NASLib's NAS-Bench-201 zero-cost file (parsed JSON) -> one row per cell.

    The file maps each dataset of :data:`NASLIB_DATASETS` to cells keyed by
    NASLib's op indices (``"(i0, ..., i5)"``: one op index per edge in the
    order 0->1, 0->2, 0->3, 1->2, 1->3, 2->3, ops ``skip_connect, none,
    nor_conv_3x3, nor_conv_1x1, avg_pool_3x3``: the encoding of
    ``analog-nasbench``, so :func:`arch_from_analog` converts it), each with
    ``idx``, ``val_accuracy`` and ``{score, time}`` per proxy of
    :data:`NASLIB_PROXIES`.

    Columns: ``arch`` (benchmark string), ``naslib_idx``,
    ``naslib_op_indices`` (the key), ``val_acc_<dataset>`` per dataset and
    ``ref_<proxy>`` (the CIFAR-10 scores); a value missing from the file is
    NaN. Rows are ordered by ``naslib_idx``.

    The stored ``data/nasbench201_naslib_subset.csv`` is, from a clone of
    NASLib (:data:`NASLIB_SOURCE`)::

        raw = subprocess.run(
            ["git", "--git-dir", "NASLib/.git", "cat-file", "blob", NASLIB_SOURCE["blob"]],
            check=True, capture_output=True,
        ).stdout
        write_naslib_subset(naslib_subset_from_json(json.loads(raw)))
    """
    missing = [ds for ds in NASLIB_DATASETS if ds not in data]
    if missing:
        raise ValueError(f"NASLib NAS-Bench-201 data lacks datasets {missing}; has {sorted(data)}")
    rows: dict[tuple[int, ...], dict[str, object]] = {}
    for ds in NASLIB_DATASETS:
        for key, rec in data[ds].items():
            code = _naslib_code(key)
            row = rows.setdefault(
                code,
                {
                    "arch": arch_to_string(arch_from_analog(code)),
                    "naslib_idx": int(rec["idx"]),
                    "naslib_op_indices": f"({', '.join(map(str, code))})",
                },
            )
            if row["naslib_idx"] != int(rec["idx"]):
                raise ValueError(f"cell {key} has idx {row['naslib_idx']} and {rec['idx']} in different datasets")
            row[f"val_acc_{ds}"] = float(rec["val_accuracy"])
            if ds == "cifar10":
                for proxy in NASLIB_PROXIES:
                    if proxy in rec:
                        row[f"ref_{proxy}"] = float(rec[proxy]["score"])
    columns = ["arch", "naslib_idx", "naslib_op_indices"]
    columns += [f"val_acc_{ds}" for ds in NASLIB_DATASETS] + [f"ref_{p}" for p in NASLIB_PROXIES]
    df = pd.DataFrame(list(rows.values())).reindex(columns=columns)
    if df["naslib_idx"].duplicated().any():
        raise ValueError("NASLib idx repeats across cells")
    return df.sort_values("naslib_idx", kind="stable").reset_index(drop=True)


def write_naslib_subset(df: pd.DataFrame, path: Path | None = None) -> Path:
    """Write :func:`naslib_subset_from_json`'s table with the provenance and
    licence header (:data:`NASLIB_SUBSET_HEADER`) to ``path`` (default
    ``data/nasbench201_naslib_subset.csv``); floats are written exactly
    (shortest round-trip form)."""
    path = paths.DATA_DIR / NASLIB_SUBSET_CSV if path is None else Path(path)
    header = "".join(f"# {line}\n" for line in NASLIB_SUBSET_HEADER)
    write_text(path, header + df.to_csv(index=False, lineterminator="\n"))
    return path


def load_naslib_subset(path: Path | None = None) -> pd.DataFrame:
    """The stored NASLib subset (``data/nasbench201_naslib_subset.csv``):
    725 cells with NAS-Bench-201's official validation accuracies
    (``val_acc_cifar10``: the ``cifar10-valid`` record, epoch 200) and the
    reference implementation's CIFAR-10 proxy scores (``ref_<proxy>``); see
    :func:`naslib_subset_from_json` for the columns."""
    path = paths.DATA_DIR / NASLIB_SUBSET_CSV if path is None else Path(path)
    return pd.read_csv(path, comment="#", dtype={"naslib_op_indices": str})
