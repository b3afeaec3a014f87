"""Several models side by side, ranked by the reusability prior (beyond the thesis:
the prior as a tool).

``compare(models, example_input)`` analyses every model as :func:`reuseprior.counting.analyze`
does (thesis ch. 4: PG, P'G, ES, H, S; eqs. 4.2-4.8), adds #parameters and FLOPs
(:mod:`reuseprior.baselines.complexity`), optionally the data-free proxies
(SynFlow) and, on a minibatch the caller gives, the data-dependent ones
(:func:`reuseprior.baselines.proxies.data_dependent_scores`), and ranks the
models by one score.

Policies:

- Models: a name (reuseprior's, torchvision's, or ``package.module:factory``,
  resolved by :func:`reuseprior.models.registry.build_model`, torchvision's
  without weights), an ``nn.Module``, or a zero-argument factory; a mapping
  gives each its name. Every model is built after ``torch.manual_seed(seed)``
  and analysed with one example (``example_input``'s first row, batch 1).
- Failures do not stop the others: whatever one model raises while it is
  built or analysed is recorded in its ``error`` column as
  ``stage: Type: message`` and its scores are left empty (NaN); a proxy that
  fails on a model is recorded the same way (``synflow: Type: message``) while
  the model's other scores stand; a score that comes out NaN is recorded so too
  (``synflow: MODEL scored NaN``), never left empty without a word. Ctrl-C is not a failure and stops the run.
- Memory: an example given as a shape is refused before it is allocated when it alone needs more than
  this machine's memory (:func:`reuseprior.counting.input_memory.refuse_input_that_cannot_fit`, a
  :class:`~reuseprior.core.errors.CaptureError` for the whole call: no model can be counted on it).
- Ranking: by ``by`` (a column, or the thesis's symbol of a quantity: P'G, ES, H, S), a higher
  value first (the thesis's direction for its quantities; for a proxy, its paper's,
  :attr:`reuseprior.baselines.registry.ProxyInfo.higher_is_better`); ties by model name; a model
  without a value has no rank and comes last.
- Outputs: ``output_key`` names the output analysed, for every model (one key) or per model (a mapping
  from a model's name to its key; a model it does not name is analysed whole), so that models of
  different output structures are compared in one call; a mapping naming a model not compared is refused
  before any model is built.
- Costs: ``cpu_seconds`` is the process CPU time of one model's analysis and
  scores (its build excluded).
"""

from __future__ import annotations

import math
import numbers
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence, Union

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn

from reuseprior.baselines.proxies import PROXIES, ProxyBatch, data_dependent_scores
from reuseprior.baselines.registry import DATA_DEPENDENT, proxy_info
from reuseprior.core.errors import InputRefusedError, OutputKeyError
from reuseprior.core.files import write_csv
from reuseprior.core.ordering import sort_rows
from reuseprior.core.progress import progress_bar
from reuseprior.counting import analyze
from reuseprior.counting.input_memory import refuse_input_that_cannot_fit
from reuseprior.models.registry import build_model

__all__ = [
    "COUNT_COLUMNS",
    "QUANTITIES",
    "SCORE_LABELS",
    "SYMBOLS",
    "Comparison",
    "compare",
    "score_label",
    "score_column",
]

#: The thesis quantities of every row, in column order.
QUANTITIES: tuple[str, ...] = ("PG", "PG_prime", "expected_spread", "entropy", "total_surprisal")
#: the columns that count something (parameters, floating-point operations): integers in the records
COUNT_COLUMNS: tuple[str, ...] = ("params", "flops")
#: Axis label and unit of the thesis quantities (log2 of count ratios, or bits; eqs. 4.2-4.8).
SCORE_LABELS: dict[str, tuple[str, str]] = {
    "PG": ("PG", "log2 units"),
    "PG_prime": ("P'G", "log2 units"),
    "expected_spread": ("expected spread ES", "bits"),
    "entropy": ("entropy H", "bits"),
    "total_surprisal": ("total surprisal S", "bits"),
}
#: The thesis's symbols of the quantities (as :class:`reuseprior.counting.Report` prints them), which ``by``
#: takes beside the column names.
SYMBOLS: dict[str, str] = {"P'G": "PG_prime", "ES": "expected_spread", "H": "entropy", "S": "total_surprisal"}
#: The proxies ``compare`` can add (those defined on any architecture beside #params and FLOPs).
OPTIONAL_PROXIES: tuple[str, ...] = tuple(p for p in PROXIES if p not in ("params", "flops", "nn_mass"))

#: What ``models`` may hold: a name, a model, or a zero-argument factory.
ModelLike = Union[str, nn.Module, Callable[[], nn.Module]]


def score_label(score: str) -> str:
    """``"PG (log2 units)"``, ``"#parameters (count)"``: a score's axis label with its unit."""
    label, unit = SCORE_LABELS[score] if score in SCORE_LABELS else (proxy_info(score).label, proxy_info(score).unit)
    return f"{label} ({unit})"


def score_column(score: str) -> str:
    """The column of ``score``: a thesis symbol of :data:`SYMBOLS` (``"P'G"``) as its column name
    (``"PG_prime"``), any other name as it is."""
    return SYMBOLS.get(score, score)


def _higher_is_better(score: str) -> bool:
    return True if score in SCORE_LABELS else proxy_info(score).higher_is_better


@dataclass(frozen=True)
class Comparison:
    """The ranked table (``table``: one row per model, ``rank`` 1 = best by ``by``;
    ``error`` holds the failures' messages, empty when none) and how it was made."""

    table: pd.DataFrame
    by: str
    input_shape: tuple[int, ...]

    @property
    def failed(self) -> pd.DataFrame:
        """The rows whose model could not be scored by ``by``."""
        return self.table[self.table[self.by].isna()]

    def records(self) -> list[dict[str, object]]:
        """One JSON-ready record per model, in rank order (NaN -> ``None``; the counts of
        :data:`COUNT_COLUMNS` as integers, as :meth:`reuseprior.counting.Report.to_dict` gives them)."""
        return [{k: _plain(v, k in COUNT_COLUMNS) for k, v in row.items()} for row in self.table.to_dict("records")]

    def to_csv(self, path: str | Path) -> Path:
        """Write the table to ``path`` atomically, every float in full
        (:func:`reuseprior.core.files.write_csv` with ``float_format=None``), and the counts of
        :data:`COUNT_COLUMNS` as integers where every value is one (as :meth:`records` gives them)."""
        counts = [c for c in COUNT_COLUMNS if c in self.table and self.table[c].dropna().map(float.is_integer).all()]
        write_csv(self.table.astype({c: "Int64" for c in counts}), path, float_format=None)
        return Path(path)

    def figure(self, x: str = "params"):
        """``by`` against ``x`` (log scale), one labelled point per scored model;
        the models that failed are named under the axes."""
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        ok = self.table[self.table[self.by].notna() & self.table[x].notna()]
        ax.scatter(ok[x], ok[self.by], color="C0")
        for _, row in ok.iterrows():
            ax.annotate(
                str(row["model"]), (row[x], row[self.by]), textcoords="offset points", xytext=(4, 3), fontsize=8
            )
        ax.set_xscale("log")
        ax.set_xlabel(score_label(x) + ", log scale")
        ax.set_ylabel(score_label(self.by))
        ax.set_title(f"{len(ok)} models, input {'x'.join(map(str, self.input_shape))}")
        missing = self.table.loc[~self.table.index.isin(ok.index), "model"].tolist()
        if missing:
            fig.text(0.01, -0.02, "not scored: " + ", ".join(map(str, missing)), fontsize=8, va="top")
        fig.tight_layout()
        return fig


def _plain(value: object, count: bool = False) -> object:
    """A cell as a JSON value: NumPy scalars as Python ones, a missing or non-finite value as ``None``,
    a ``count`` (held as a float beside missing values) as an integer."""
    if value is pd.NA or (isinstance(value, (float, np.floating)) and not math.isfinite(value)):
        return None
    value = value.item() if isinstance(value, np.generic) else value
    return int(value) if count and isinstance(value, float) and value.is_integer() else value


def _named(models: Mapping[str, ModelLike] | Sequence[ModelLike]) -> list[tuple[str, ModelLike]]:
    """``(name, model)`` pairs: a mapping's keys, a name itself, else the class name (``#k`` when repeated)."""
    if isinstance(models, Mapping):
        return [(str(k), v) for k, v in models.items()]
    pairs, seen = [], {}
    for item in models:
        name = item if isinstance(item, str) else getattr(item, "__name__", type(item).__name__)
        seen[name] = seen.get(name, 0) + 1
        pairs.append((name if seen[name] == 1 else f"{name}#{seen[name]}", item))
    return pairs


OutputKey = str | int | None
#: the suffix :func:`_named` gives a model named more than once (``NAME#2``)
_REPEAT = re.compile(r"#\d+$")


def _output_keys(output_key: OutputKey | Mapping[str, OutputKey], names: Sequence[str]) -> dict[str, OutputKey]:
    """Each model's output key: one key for every model, or a mapping's entry (None for a model it does
    not name). A model given more than once (named ``NAME#2``, ...) takes the key of its own name when
    the mapping has one, else that of ``NAME``; a mapping that names no model compared is a ``ValueError``
    naming both lists."""
    if not isinstance(output_key, Mapping):
        return dict.fromkeys(names, output_key)
    keys = {str(name): key for name, key in output_key.items()}
    known = set(names) | {_REPEAT.sub("", name) for name in names}
    unknown = [name for name in keys if name not in known]
    if unknown:
        raise ValueError(
            f"output_key names models that are not compared: {unknown}; the models are {list(names)}. Fix: key "
            "the mapping by those names (a spec or name as given, a mapping's key, or the class name)"
        )
    return {name: keys.get(name, keys.get(_REPEAT.sub("", name))) for name in names}


def _build(item: ModelLike, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    if isinstance(item, str):
        return build_model(item)
    if isinstance(item, nn.Module):
        return item
    model = item()
    if not isinstance(model, nn.Module):
        raise TypeError(f"the factory returned {type(model).__name__}, not a torch.nn.Module")
    return model


def _message(stage: str, exc: BaseException) -> str:
    """The ``error`` of a row: the stage that failed and the exception's whole message (its fix included)."""
    return f"{stage}: {type(exc).__name__}: {exc}"


def _score_model(
    name: str,
    model: nn.Module,
    example: torch.Tensor,
    proxies: Sequence[str],
    batch: ProxyBatch | None,
    seed: int,
    output_key: OutputKey,
) -> tuple[dict[str, float], list[str]]:
    """The scores of model ``name`` and the messages of those that failed or came out NaN."""
    values: dict[str, float] = {}
    errors: list[str] = []
    report = analyze(model, example, output_key=output_key)
    values.update({q: float(getattr(report, q)) for q in QUANTITIES})
    shape_batch = ProxyBatch(example, torch.zeros(1, dtype=torch.long), 2, "the example input (shape only)")
    failed: set[str] = set()
    for score in ("params", "flops", *[p for p in proxies if p not in DATA_DEPENDENT]):
        torch.manual_seed(seed)
        try:
            values[score] = float(PROXIES[score](model, shape_batch))
        except Exception as exc:  # noqa: BLE001 - recorded per score; the model's other scores stand
            values[score] = math.nan
            errors.append(_message(score, exc))
            failed.add(score)
    wanted = [p for p in proxies if p in DATA_DEPENDENT]
    if wanted:
        torch.manual_seed(seed)
        shared = data_dependent_scores(model, batch, wanted)
        values.update({p: float(shared[p]) for p in wanted})
        errors.extend(f"{p}: {shared[p + '_error']}" for p in wanted if p + "_error" in shared)
        failed.update(p for p in wanted if p + "_error" in shared)
    nan = [score for score, value in values.items() if math.isnan(value) and score not in failed]
    errors.extend(f"{score}: {name} scored NaN (no value to rank it by)" for score in nan)
    return values, errors


def _check(by: str, proxies: Sequence[str], batch: ProxyBatch | None) -> None:
    unknown = [p for p in proxies if p not in OPTIONAL_PROXIES]
    if unknown:
        raise ValueError(f"unknown proxies {unknown}; choose from {list(OPTIONAL_PROXIES)}")
    if batch is None and any(p in DATA_DEPENDENT for p in proxies):
        raise ValueError(
            f"the data-dependent proxies {[p for p in proxies if p in DATA_DEPENDENT]} need a minibatch: pass batch="
        )
    if by not in (*QUANTITIES, "params", "flops", *proxies):
        raise ValueError(
            f"cannot rank by {by!r}: choose one of {[*QUANTITIES, 'params', 'flops', *proxies]} "
            f"(or a thesis symbol: {', '.join(SYMBOLS)})"
        )


def compare(
    models: Mapping[str, ModelLike] | Sequence[ModelLike],
    example_input: torch.Tensor | Sequence[int],
    *,
    by: str = "PG",
    proxies: Iterable[str] = (),
    batch: ProxyBatch | None = None,
    output_key: OutputKey | Mapping[str, OutputKey] = None,
    seed: int = 0,
    progress: bool = True,
) -> Comparison:
    """Analyse every model of ``models`` on ``example_input`` (a tensor with a
    batch dimension, or a shape without it such as ``(3, 32, 32)``) and rank
    them by ``by`` (a column name, or a thesis symbol of :data:`SYMBOLS` such as ``"P'G"``; see the module
    docstring for the policies). ``proxies``:
    names of :data:`OPTIONAL_PROXIES` to add (``"synflow"``; a data-dependent
    one needs ``batch``, a :class:`~reuseprior.baselines.proxies.ProxyBatch`). ``output_key`` names the
    output analysed: one key for every model (each forward must return a container holding it; a model
    returning one tensor is refused in its row, the others ranked), or a mapping from model names to keys
    for models of different output structures (a model it does not name is analysed whole).
    A shape is one example's: a model that does not run on the zeros built from it has the shape named
    in its row's error."""
    proxies, by = list(proxies), score_column(by)
    _check(by, proxies, batch)
    named = _named(models)
    if not named:
        raise ValueError("compare needs at least one model: give names, modules or factories")
    keys = _output_keys(output_key, [name for name, _ in named])
    example = _example(example_input)
    rows = []
    bar = progress_bar(named, desc="compare", unit="model", disable=not progress)
    for name, item in bar:
        bar.set_postfix_str(name)
        row: dict[str, object] = {"model": name}
        try:
            model = _build(item, seed)
        except Exception as exc:  # noqa: BLE001 - one model's failure is recorded, the others go on
            rows.append({**row, "error": _message("build", exc)})
            continue
        c0 = time.process_time()
        try:
            values, errors = _score_model(name, model, example, proxies, batch, seed, keys[name])
        except InputRefusedError as exc:  # the model does not run on the example
            values, errors = {}, [_message("analyze", exc) + _built_from(example_input)]
        except OutputKeyError as exc:  # its output is not the one tensor its key (or none) names
            values, errors = {}, [_message("analyze", exc) + _own_key(name)]
        except Exception as exc:  # noqa: BLE001 - the analysis (graph capture, counting) failed
            values, errors = {}, [_message("analyze", exc)]
        rows.append({**row, **values, "cpu_seconds": time.process_time() - c0, "error": "; ".join(errors)})
    columns = ["model", *QUANTITIES, "params", "flops", *proxies, "cpu_seconds", "error"]
    table = pd.DataFrame(rows).reindex(columns=columns)
    table[columns[1:-1]] = table[columns[1:-1]].astype(float)
    table["error"] = table["error"].fillna("")
    return Comparison(_ranked(table, by), by, tuple(example.shape[1:]))


def _own_key(name: str) -> str:
    """How a compared model gets an output key of its own, for the error of one whose output its key (or
    none) does not fit."""
    return (
        f". In a comparison each model can take its own key: output_key={{{name!r}: KEY}} (--output-key "
        f"{name}=KEY), a model not named analysed whole"
    )


def _built_from(example_input: torch.Tensor | Sequence[int]) -> str:
    """How the example was built from a shape (a leading batch dimension of 1), for the error of a model
    that does not run on it, when the shape itself begins with 1 (a batch dimension given with it, the
    usual cause); nothing for another shape, nor for a tensor, which is the user's own."""
    if isinstance(example_input, torch.Tensor):
        return ""
    shape = tuple(map(int, example_input))
    if len(shape) < 2 or shape[0] != 1:
        return ""
    return (
        f". The input was zeros of shape {(1, *shape)}, built from the shape {shape}: give the sizes of one "
        "example, without the batch dimension (e.g. (3, 224, 224))"
    )


def _example(example_input: torch.Tensor | Sequence[int]) -> torch.Tensor:
    """The one example every model is analysed on: the first of a tensor's batch, or zeros of a shape
    given without its batch dimension; anything else is refused with a ``TypeError`` naming both forms."""
    if isinstance(example_input, torch.Tensor):
        return example_input[:1]
    shape = tuple(example_input) if isinstance(example_input, (tuple, list, torch.Size)) else None
    if not shape or not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) and d > 0 for d in shape):
        raise TypeError(
            f"example_input must be a tensor with a batch dimension or the shape of one example, such as "
            f"(3, 32, 32), got {example_input!r}"
            + (f": for one dimension write ({example_input},)" if isinstance(example_input, int) else "")
        )
    refuse_input_that_cannot_fit((1, *map(int, shape)))
    return torch.zeros((1, *map(int, shape)))


def _ranked(table: pd.DataFrame, by: str) -> pd.DataFrame:
    """``table`` sorted by ``by`` (best first, ties by model name, NaN last) with a ``rank`` column."""
    ordered = sort_rows(table, by, then="model", ascending=not _higher_is_better(by)).reset_index(drop=True)
    ranks = pd.Series(pd.NA, index=ordered.index, dtype="Int64")
    scored = ordered[by].notna()
    ranks[scored] = np.arange(1, int(scored.sum()) + 1)
    ordered.insert(0, "rank", ranks)
    return ordered
