"""Chapter 7's generator sensitivity: how the prior of a Shapeshifter network moves with
its weight generator and upsampler, counted on the trained study's model (no training).

Why: the trained study's SSN uses NPAS's own methods, the Emb generator and
the Mask upsampler (:data:`~.configs.SSN_OPTIONS`; NPAS sections 3.2-3.3). Under path
counting, Emb's linear layer ``E`` and the per-layer embeddings carry almost all of an
SSN model's contexts (the notebook's ``ssn_context_mass`` table), so "the prior ranks
SSN last" might rest on how the engine counts mixing coefficients. Here every
generator of :data:`~reuseprior.models.sharing.stores.GENERATORS` (RR, Avg, WAvg, Emb)
is crossed with every upsampler of :data:`~reuseprior.models.sharing.stores.UPSAMPLERS`
(Repeat, Inter, Mask), one store for the whole model (``mapping="single"``), at each
budget the study trains SSN at; RR with Repeat is pure copying (no coefficient or
embedding of its own), the other end of the range from Emb.

Policy: each model is the study's own (:func:`~.models.build_config_model` of
``design`` at run seed ``seed``, counted on one zero image of :data:`SENSITIVITY_INPUT`
by :func:`~.runs.prior_scores`: PG eq. 4.7, P'G eq. 4.8, ES eq. 4.2, H eq. 4.4 of
the thesis, and NG), so a row whose configuration the study trains equals that row's
counted columns (:func:`counted_against_runs`). The counts depend on the architecture
and the sharing, not on the weights' values. Beside the SSN variants: the unshared
model and, at each budget, the study's other configurations of that budget (the
narrower model and the budget-free scheme that lands there). Per SSN row the change
of PG, P'G and H against the Emb + Mask row of its budget, and its rank by PG and by
P'G among the budget's configurations (the references plus this one SSN; 1 = the
highest score). About 0.2 s of the engine per model, some 15 s in all on one core: cheap
enough to recompute in the notebook, and stored in ``data/ch7_generator_sensitivity.csv``
by ``python -m reuseprior study ch7 sensitivity`` (as the bookkeeping table is) so that
the notebook can check the live table against it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from reuseprior.chapters.ch7_sharing_schemes.configs import (
    CPU_DESIGN,
    LIVE_TOLERANCE,
    PRIOR_SCORES,
    SSN_OPTIONS,
    SchemeConfig,
    SharingDesign,
    scheme_config,
)
from reuseprior.chapters.ch7_sharing_schemes.models import build_config_model, study_budgets
from reuseprior.chapters.ch7_sharing_schemes.runs import prior_scores
from reuseprior.core import paths
from reuseprior.core.errors import CsvFormatError
from reuseprior.core.files import write_csv
from reuseprior.core.parameters import count_parameters
from reuseprior.core.progress import progress_bar
from reuseprior.core.stored_rows import read_stored_csv
from reuseprior.models.sharing.stores import GENERATORS, UPSAMPLERS, store_summary

__all__ = [
    "GENERATOR_NAMES",
    "SENSITIVITY_COLUMNS",
    "SENSITIVITY_INPUT",
    "STORED_SENSITIVITY",
    "UPSAMPLER_NAMES",
    "counted_against_runs",
    "generator_sensitivity",
    "read_generator_sensitivity",
    "sensitivity_live_check",
    "sensitivity_reading",
    "ssn_budgets",
    "store_generator_sensitivity",
]

#: the stored table (``python -m reuseprior study ch7 sensitivity``)
STORED_SENSITIVITY: Path = paths.DATA_DIR / "ch7_generator_sensitivity.csv"
#: one image of the CPU study (Fashion-MNIST, 1 x 28 x 28), as its rows' ``input_shape`` records it
SENSITIVITY_INPUT: tuple[int, int, int] = (1, 28, 28)
#: the generators and upsamplers as NPAS names them (sections 3.2-3.3, Tables 7 and 9)
GENERATOR_NAMES: dict[str, str] = {"rr": "RR", "avg": "Avg", "wavg": "WAvg", "emb": "Emb"}
UPSAMPLER_NAMES: dict[str, str] = {"repeat": "Repeat", "inter": "Inter", "mask": "Mask"}
#: the study's SSN default, against which the changes are taken (:data:`~.configs.SSN_OPTIONS`)
DEFAULT_VARIANT: tuple[str, str] = (SSN_OPTIONS["generator"], SSN_OPTIONS["upsampler"])
#: the counted columns (the prior's quantities as ``analyze`` names them, NG, parameters)
COUNTED: tuple[str, ...] = ("params", *PRIOR_SCORES, "NG")
SENSITIVITY_COLUMNS: tuple[str, ...] = (
    "budget", "config", "role", "scheme", "generator", "upsampler", "study config", "budget_target",
    *COUNTED, "upsampled layers",
    "PG change vs Emb+Mask", "PG_prime change vs Emb+Mask", "entropy change vs Emb+Mask",
    "PG rank in budget", "PG_prime rank in budget", "configurations in budget",
)  # fmt: skip


def ssn_budgets(design: SharingDesign = CPU_DESIGN) -> tuple[str, ...]:
    """The budgets at which ``design`` trains an SSN, in configuration order."""
    return tuple(dict.fromkeys(c.budget for c in design.configs if c.scheme == "ssn"))


def _where(budget: str) -> str:
    """A budget's name as the study's labels spell it: ``scope+channelwise`` -> ``scope + channel-wise``."""
    return budget.replace("+", " + ").replace("wise", "-wise")


def _variants(
    design: SharingDesign, budgets: Mapping[str, int], generators: Sequence[str], upsamplers: Sequence[str]
) -> list[tuple[str, dict[str, Any]]]:
    """``(role, row fields)`` of every configuration counted: the unshared model, then per SSN
    budget (largest first) its references (the study's configurations of that budget that are
    not SSN) and the SSN of every generator and upsampler."""
    mapping = SSN_OPTIONS["mapping"]
    out: list[tuple[str, dict[str, Any]]] = []
    for config in design.configs:
        if config.scheme == "none":
            out.append(("unshared", {"config": config}))
    for budget in sorted(ssn_budgets(design), key=lambda b: (-budgets[b], b)):
        out += [("reference", {"config": c}) for c in design.configs if c.budget == budget and c.scheme != "ssn"]
        for generator in generators:
            for upsampler in upsamplers:
                label = f"SSN {GENERATOR_NAMES[generator]}+{UPSAMPLER_NAMES[upsampler]} @ {_where(budget)}"
                config = scheme_config(label, "ssn", budget, generator=generator, upsampler=upsampler, mapping=mapping)
                out.append(("SSN", {"config": config, "generator": generator, "upsampler": upsampler}))
    return out


def _study_label(design: SharingDesign, config: SchemeConfig) -> str:
    """The label of ``design``'s configuration that builds the same model as ``config`` ('' when none)."""
    for own in design.configs:
        if (own.scheme, own.budget, own.options_dict) == (config.scheme, config.budget, config.options_dict):
            return own.label
    return ""


def _count_row(
    design: SharingDesign, role: str, fields: Mapping[str, Any], budgets: Mapping[str, int], seed: int, input_shape
) -> dict[str, Any]:
    """One row: the configuration built as the study builds it and counted."""
    config: SchemeConfig = fields["config"]
    model = build_config_model(design, config, seed, budgets)
    scores = prior_scores(model, input_shape)
    if scores["engine_error"] is not None:
        raise RuntimeError(f"{config.label}: the engine failed: {scores['engine_error']}")
    summary = store_summary(model)
    return {
        "budget": config.budget,
        "config": config.label,
        "role": role,
        "scheme": config.scheme,
        "generator": fields.get("generator", ""),
        "upsampler": fields.get("upsampler", ""),
        "study config": _study_label(design, config),
        "budget_target": int(budgets[config.budget]),
        "params": count_parameters(model),
        **{k: scores[k] for k in (*PRIOR_SCORES, "NG")},
        "upsampled layers": int((summary["repeats"] > 1).sum()),
    }


def _relative_columns(table: pd.DataFrame) -> pd.DataFrame:
    """The changes against the budget's Emb + Mask row and the ranks in the budget (SSN rows; NaN elsewhere)."""
    table = table.copy()
    ssn = table["role"] == "SSN"
    default = table[ssn & (table["generator"] == DEFAULT_VARIANT[0]) & (table["upsampler"] == DEFAULT_VARIANT[1])]
    default = default.set_index("budget")
    for score in ("PG", "PG_prime", "entropy"):
        change = table[score] - table["budget"].map(default[score])
        table[f"{score} change vs Emb+Mask"] = change.where(ssn)
    references = table[table["role"] == "reference"]
    for score in ("PG", "PG_prime"):
        ranks = [
            1 + int((references.loc[references["budget"] == b, score] > value).sum()) if is_ssn else math.nan
            for b, value, is_ssn in zip(table["budget"], table[score], ssn)
        ]
        table[f"{score} rank in budget"] = pd.array(ranks, dtype="Int64")
    sizes = references.groupby("budget").size() + 1
    table["configurations in budget"] = pd.array(table["budget"].map(sizes).where(ssn), dtype="Int64")
    return table


def generator_sensitivity(
    design: SharingDesign = CPU_DESIGN,
    *,
    seed: int = 0,
    input_shape: Sequence[int] = SENSITIVITY_INPUT,
    generators: Sequence[str] = GENERATORS,
    upsamplers: Sequence[str] = UPSAMPLERS,
    progress: bool = False,
) -> pd.DataFrame:
    """The sensitivity table of ``design`` (:data:`SENSITIVITY_COLUMNS`; see the module
    docstring): the unshared model, then per SSN budget of ``design`` its references and
    the SSN of every generator x upsampler, each with its parameters, PG, P'G, ES, H,
    NG and the number of its layers that are upsampled (a layer larger than the store;
    the upsampler acts on those only), and the SSN rows' changes and ranks. ``generators``
    and ``upsamplers`` restrict the variants (the default, Emb + Mask, must be among them:
    the changes are taken against it)."""
    if DEFAULT_VARIANT[0] not in generators or DEFAULT_VARIANT[1] not in upsamplers:
        raise ValueError(f"the variants must include the study's default {DEFAULT_VARIANT} (the changes' reference)")
    budgets = study_budgets(design, seed)
    rows = [
        _count_row(design, role, fields, budgets, seed, tuple(input_shape))
        for role, fields in progress_bar(
            _variants(design, budgets, generators, upsamplers),
            desc="generator sensitivity",
            unit="model",
            disable=not progress,
        )
    ]
    return _relative_columns(pd.DataFrame(rows))[list(SENSITIVITY_COLUMNS)]


def store_generator_sensitivity(
    design: SharingDesign = CPU_DESIGN, path: str | os.PathLike = STORED_SENSITIVITY, *, progress: bool = True
) -> pd.DataFrame:
    """Compute :func:`generator_sensitivity` and write it to ``path`` (atomically, whole)."""
    table = generator_sensitivity(design, progress=progress)
    write_csv(table, path)
    return read_generator_sensitivity(path)


def read_generator_sensitivity(path: str | os.PathLike = STORED_SENSITIVITY) -> pd.DataFrame:
    """The stored table; :class:`~reuseprior.core.errors.CsvFormatError` when a row is cut short, it
    lacks a column or a configuration is stored twice."""
    path = Path(path)
    table = read_stored_csv(path, keep_default_na=False, na_values=[""])
    missing = [c for c in SENSITIVITY_COLUMNS if c not in table.columns]
    if missing:
        raise CsvFormatError(path, 1, f"missing columns {missing}", "python -m reuseprior study ch7 sensitivity")
    duplicated = table.duplicated("config")
    if duplicated.any():
        line = int(np.flatnonzero(duplicated.to_numpy())[0]) + 2
        raise CsvFormatError(
            path, line, "this configuration is stored twice", "python -m reuseprior study ch7 sensitivity"
        )
    for column in ("generator", "upsampler", "study config"):
        table[column] = table[column].fillna("")
    for column in ("PG rank in budget", "PG_prime rank in budget", "configurations in budget"):
        table[column] = table[column].astype("Int64")
    return table


def _numeric_columns() -> list[str]:
    return [
        c
        for c in SENSITIVITY_COLUMNS
        if c not in ("budget", "config", "role", "scheme", "generator", "upsampler", "study config")
    ]


def sensitivity_live_check(stored: pd.DataFrame, live: pd.DataFrame) -> pd.DataFrame:
    """Per configuration and numeric column: the stored and the live value and whether they
    agree to the relative ``LIVE_TOLERANCE["counted_rel"]`` (of ``max(1, |stored|)``; both
    empty also agrees). A configuration missing on either side is a row with ``within
    tolerance`` False."""
    tolerance = LIVE_TOLERANCE["counted_rel"]
    columns = _numeric_columns()
    stored_i, live_i = (t.set_index("config")[columns].astype(float) for t in (stored, live))
    out = []
    for config in dict.fromkeys([*stored_i.index, *live_i.index]):
        for column in columns:
            a = float(stored_i.at[config, column]) if config in stored_i.index else math.nan
            b = float(live_i.at[config, column]) if config in live_i.index else math.nan
            both_empty = math.isnan(a) and math.isnan(b) and config in stored_i.index and config in live_i.index
            agree = both_empty or abs(a - b) <= tolerance * max(1.0, abs(a))
            out.append({"config": config, "column": column, "stored": a, "live": b, "within tolerance": bool(agree)})
    return pd.DataFrame(out)


def counted_against_runs(table: pd.DataFrame, runs: pd.DataFrame, *, seed: int = 0) -> pd.DataFrame:
    """The rows of ``table`` that the study trains (``study config``) beside the counted columns
    (parameters, PG, P'G, ES, H, NG) of the stored run of that configuration at ``seed``
    (any plan of the same model: the counts do not depend on training), with ``within
    tolerance`` as in :func:`sensitivity_live_check`. Configurations without a stored run at
    ``seed`` are left out."""
    tolerance = LIVE_TOLERANCE["counted_rel"]
    stored = runs[runs["seed"].astype(int) == seed].drop_duplicates("config").set_index("config")
    out = []
    for _, row in table[table["study config"] != ""].iterrows():
        label = row["study config"]
        if label not in stored.index:
            continue
        for column in COUNTED:
            a, b = float(stored.at[label, column]), float(row[column])
            out.append(
                {
                    "config": row["config"],
                    "study config": label,
                    "column": column,
                    "stored run": a,
                    "sensitivity": b,
                    "within tolerance": bool(abs(a - b) <= tolerance * max(1.0, abs(a))),
                }
            )
    return pd.DataFrame(
        out, columns=["config", "study config", "column", "stored run", "sensitivity", "within tolerance"]
    )


# ------------------------------------------------------------------- the reading


def _span(values: pd.Series, unit: str) -> str:
    """``"+0.46 to +0.57 unit"`` (two decimals), or one value when both ends print alike."""
    low, high = f"{values.min():+.2f}", f"{values.max():+.2f}"
    text = low if low == high else f"{low} to {high}"
    return f"{text} {unit}" if unit else text


def _generator_moves(ssn: pd.DataFrame, score: str, unit: str) -> str:
    """The generators other than the default, largest absolute change of ``score`` first."""
    change = f"{score} change vs Emb+Mask"
    others = ssn[ssn["generator"] != DEFAULT_VARIANT[0]]
    largest = others.groupby("generator")[change].agg(lambda v: v.abs().max())
    order = sorted(largest.index, key=lambda g: (-largest[g], g))
    parts = [f"{GENERATOR_NAMES[g]} ({_span(others.loc[others['generator'] == g, change], unit)})" for g in order]
    rest = (
        ", ".join(parts[1:-1]) + (" and " if len(parts) > 2 else "") + parts[-1] if len(parts) > 1 else "nothing else"
    )
    return f"{parts[0].replace(' (', ' moves it most (', 1)}, then {rest}"


def _upsampler_effect(ssn: pd.DataFrame) -> str:
    """Whether the upsampler changes anything at these budgets."""
    spread = ssn.groupby(["budget", "generator"])[["PG", "PG_prime", "entropy", "params"]].agg(np.ptp).to_numpy()
    upsampled = int(ssn["upsampled layers"].max())
    if upsampled == 0:
        return (
            "No layer is larger than its store at these budgets (no SSN row has an upsampled layer), so the "
            "upsampler changes nothing: Repeat, Inter and Mask give the same counts."
        )
    return (
        f"At most {upsampled} layers are upsampled; the upsampler moves PG, P'G or H by at most "
        f"{float(np.nanmax(spread[:, :3])):.2f}."
    )


def _rank_words(rank: str, size: int) -> str:
    """``"last (3 of 3)"``, ``"first (1 of 3)"`` or ``"2 of 3"``."""
    place = {str(size): "last ", "1": "first "}.get(rank, "")
    return f"{place}({rank} of {size})" if place else f"{rank} of {size}"


def _rank_reading(ssn: pd.DataFrame, score: str, name: str) -> str:
    """The SSN's rank by ``score`` among its budget's configurations, per budget and generator."""
    column = f"{score} rank in budget"
    ranks = ssn.groupby(["budget", "generator"], sort=False)[column].agg(
        lambda r: "/".join(str(v) for v in sorted({int(x) for x in r}))
    )
    sizes = ssn.groupby("budget", sort=False)["configurations in budget"].first().astype(int)
    if ranks.nunique() == 1 and sizes.nunique() == 1:
        return (
            f"By {name} the SSN's rank among its budget's configurations does not change with the generator: "
            f"{_rank_words(ranks.iloc[0], sizes.iloc[0])} at every budget with every generator."
        )
    per_budget = []
    for budget, size in sizes.items():
        mine = ranks.loc[budget]
        listed = (
            f"{mine.iloc[0]} with every generator"
            if mine.nunique() == 1
            else ", ".join(f"{GENERATOR_NAMES[g]} {r}" for g, r in mine.items())
        )
        per_budget.append(f"{_where(budget)}: {listed} (of {size})")
    steady = all(ranks.loc[b].nunique() == 1 for b in sizes.index)
    verdict = "does not change" if steady else "changes"
    listed = "; ".join(per_budget)
    return f"By {name} the SSN's rank among its budget's configurations {verdict} with the generator: {listed}."


def sensitivity_reading(table: pd.DataFrame) -> str:
    """The reading of a :func:`generator_sensitivity` table, generated from it: which
    generator moves PG and H most against Emb + Mask, whether the upsampler matters at
    these budgets, and whether the SSN's rank by PG and by P'G among the configurations
    of its budget changes with the generator."""
    ssn = table[table["role"] == "SSN"]
    prime = "P'G"  # a name: the f-string below cannot nest a double quote before Python 3.12
    return "\n".join(
        [
            f"- **PG** (log2 units), against Emb + Mask at the same budget: {_generator_moves(ssn, 'PG', '')}.",
            f"- **H** (bits): {_generator_moves(ssn, 'entropy', 'bits')}.",
            f"- {_upsampler_effect(ssn)}",
            f"- {_rank_reading(ssn, 'PG', 'PG')}",
            f"- {_rank_reading(ssn, 'PG_prime', prime)}",
        ]
    )
