"""Chapter 7's bookkeeping: every scheme on the seeds' models at matched budgets, the printed
numbers beside it, context mass."""

from __future__ import annotations

import copy
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from reuseprior.chapters.ch7_sharing_schemes.configs import (
    BOOKKEEPING_MODELS,
    CHANNELWISE_REUSE,
    CPU_DESIGN,
    LIVE_TOLERANCE,
    PRIOR_SCORES,
    SSN_OPTIONS,
    SchemeConfig,
    SharingDesign,
    scheme_config,
)
from reuseprior.chapters.ch7_sharing_schemes.models import base_model, build_config_model, study_budgets
from reuseprior.chapters.ch7_sharing_schemes.runs import MODEL_NUMBERS, prior_scores
from reuseprior.core import paths
from reuseprior.core.errors import CsvFormatError
from reuseprior.core.files import append_csv_row, file_lock
from reuseprior.core.ordering import sort_rows
from reuseprior.core.parameters import count_parameters
from reuseprior.core.progress import progress_bar
from reuseprior.core.stored_rows import ColumnKinds, read_stored_csv
from reuseprior.counting import count_contexts
from reuseprior.training.loop import count_flops

#: the stored matched-budget bookkeeping table (``python -m reuseprior study ch7 bookkeeping``)
STORED_BOOKKEEPING: Path = paths.DATA_DIR / "ch7_bookkeeping.csv"
#: the seeds' models at 32x32: classes of the dataset each was trained on by the work that uses it
#: (WRN-28-10: NPAS, CIFAR-100; ResNet-56: NPAS, CIFAR-10; EfficientNet-B0: Bidart, ImageNet;
#: EfficientNetV2-S: the thesis, ImageNet). WRN-28-10 is counted with 100 classes here, although some of
#: NPAS's printed WRN numbers are reproduced only by the 10-class count: that class count is chosen per
#: table (:func:`class_count_choices`), and the model trained on CIFAR-100 has 100)
BOOKKEEPING_SETTINGS: dict[str, dict[str, Any]] = {
    "resnet56_cifar": {"num_classes": 10},
    "wrn_28_10": {"num_classes": 100},
    "efficientnet_b0": {"num_classes": 1000},
    "efficientnet_v2_s": {"num_classes": 1000},
}
#: input of the bookkeeping table's FLOPs and engine counts (one 32x32 RGB image)
BOOKKEEPING_INPUT: tuple[int, int, int] = (3, 32, 32)
#: NPAS Table 14 budgets of WRN-28-10 (percent of the original model)
NPAS_TABLE_14_BUDGETS: tuple[float, ...] = (1.4, 4.1, 5.5, 16.4, 24.6)
BOOKKEEPING_COLUMNS: tuple[str, ...] = (
    "model", "config", "scheme", "options", "budget", "budget_target", "params", "params_fraction", "flops",
    "PG", "PG_prime", "expected_spread", "entropy", "NG", "engine_error", "engine_time_s",
)  # fmt: skip
#: the kinds of a stored row's values (the prior's scores are empty in a row with an engine error)
BOOKKEEPING_KINDS = ColumnKinds(
    required=("model", "config", "scheme", "budget", "params", "params_fraction", "flops"),
    numeric=(*MODEL_NUMBERS, "engine_time_s"),
)


def bookkeeping_configs(model: str, budgets: Mapping[str, int]) -> list[SchemeConfig]:
    """The configurations of one model's bookkeeping rows: unshared, scope,
    channel-wise s in {2, 4, 8} and scope + channel-wise s=8 where the model has
    depthwise convolutions, and SSN at every budget those land on (SSN- below the
    model's size); for WRN-28-10 also SSN at NPAS Table 14's budgets."""
    configs = [scheme_config("unshared", "none", "full"), scheme_config("scope", "scope", "scope")]
    if "channelwise" in budgets:
        configs += [scheme_config(f"channel-wise s={s}", "channelwise", f"channelwise s={s}", reuse=s) for s in (2, 4)]
        configs.append(scheme_config(f"channel-wise s={CHANNELWISE_REUSE}", "channelwise", "channelwise", reuse=8))
        configs.append(
            scheme_config(
                f"scope + channel-wise s={CHANNELWISE_REUSE}", "scope+channelwise", "scope+channelwise", reuse=8
            )
        )
    for budget in ("scope", "channelwise", "scope+channelwise"):
        if budget in budgets:
            configs.append(
                scheme_config(
                    f"SSN @ {budget.replace('+', ' + ').replace('wise', '-wise')}", "ssn", budget, **SSN_OPTIONS
                )
            )
    if model == "wrn_28_10":
        for percent in NPAS_TABLE_14_BUDGETS:
            configs.append(scheme_config(f"SSN @ {percent:g} % (NPAS Table 14)", "ssn", f"{percent:g}%", **SSN_OPTIONS))
    return configs


def _bookkeeping_design(model: str) -> SharingDesign:
    """A study design that only carries the model (its budgets and configurations are the bookkeeping's)."""
    kwargs = tuple(sorted(BOOKKEEPING_SETTINGS.get(model, {}).items()))
    percents = NPAS_TABLE_14_BUDGETS if model == "wrn_28_10" else ()
    return replace(
        CPU_DESIGN, name=f"bookkeeping-{model}", model=model, model_kwargs=kwargs, configs=(), percent_budgets=percents
    )


def bookkeeping_budgets(model: str) -> dict[str, int]:
    """:func:`study_budgets` of ``model`` (without ``low``); for WRN-28-10 with NPAS Table 14's percentages."""
    budgets = study_budgets(_bookkeeping_design(model))
    budgets.pop("low", None)
    return budgets


def bookkeeping_row(model: str, config: SchemeConfig, budgets: Mapping[str, int]) -> dict[str, Any]:
    """One bookkeeping row: ``config`` on ``model`` as built (seed 0), its
    parameters, FLOPs of one 32x32 image and the prior's quantities."""
    design = _bookkeeping_design(model)
    built = build_config_model(design, config, 0, budgets)
    scores = prior_scores(built, BOOKKEEPING_INPUT)
    params = count_parameters(built)
    return {
        "model": model,
        "config": config.label,
        "scheme": config.scheme,
        "options": config.options_json(),
        "budget": config.budget,
        "budget_target": int(budgets[config.budget]),
        "params": params,
        "params_fraction": params / budgets["full"],
        "flops": count_flops(built, BOOKKEEPING_INPUT),
        **{k: scores[k] for k in (*PRIOR_SCORES, "NG", "engine_error", "engine_time_s")},
    }


def read_bookkeeping(path: str | os.PathLike = STORED_BOOKKEEPING) -> pd.DataFrame:
    """The stored bookkeeping rows (empty with :data:`BOOKKEEPING_COLUMNS` when absent), each whole and of
    :data:`BOOKKEEPING_KINDS`."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=list(BOOKKEEPING_COLUMNS))
    df = read_stored_csv(path, BOOKKEEPING_KINDS)
    missing = [c for c in BOOKKEEPING_COLUMNS if c not in df.columns]
    if missing:
        raise CsvFormatError(path, 1, f"missing columns {missing}", "it is not a chapter 7 bookkeeping table")
    dup = df.duplicated(["model", "config"])
    if dup.any():
        line = int(np.flatnonzero(dup.to_numpy())[0]) + 2
        raise CsvFormatError(path, line, "this (model, config) row is stored twice", "delete one")
    return df


def store_bookkeeping(
    models: Iterable[str] = BOOKKEEPING_MODELS,
    path: str | os.PathLike = STORED_BOOKKEEPING,
    *,
    progress: bool = True,
) -> pd.DataFrame:
    """Compute the missing bookkeeping rows of ``models`` and append each to
    ``path`` as it finishes (atomically, under the file's lock; a rerun skips
    stored rows). Returns every stored row."""
    path = Path(path)
    for model in models:
        done = read_bookkeeping(path)
        have = set(done.loc[done["model"] == model, "config"]) if not done.empty else set()
        budgets = bookkeeping_budgets(model)
        todo = [c for c in bookkeeping_configs(model, budgets) if c.available() and c.label not in have]
        for config in progress_bar(todo, desc=model, unit="row", disable=not progress):
            row = bookkeeping_row(model, config, budgets)
            with file_lock(path):  # another writer may have stored it meanwhile
                stored = read_bookkeeping(path)
                if not ((stored["model"] == model) & (stored["config"] == config.label)).any():
                    append_csv_row(path, row, BOOKKEEPING_COLUMNS, read=lambda _path, frame=stored: frame)
    return read_bookkeeping(path)


def bookkeeping_live_check(stored: pd.DataFrame) -> pd.DataFrame:
    """Recompute one stored bookkeeping row, the cheapest: of the model whose
    unshared size is smallest (building it is cheap), the configuration the
    engine counted fastest when stored; compare every counted column (relative
    tolerance ``LIVE_TOLERANCE["counted_rel"]``)."""
    sizes = stored[stored["scheme"] == "none"].set_index("model")["params"]
    smallest = stored[stored["model"] == sizes.idxmin()]
    row = smallest.sort_values(["engine_time_s", "config"]).iloc[0]
    budgets = bookkeeping_budgets(row["model"])
    config = {c.label: c for c in bookkeeping_configs(row["model"], budgets)}[row["config"]]
    live = bookkeeping_row(row["model"], config, budgets)
    out = []
    for col in ("params", "flops", *PRIOR_SCORES):
        a, b = float(row[col]), float(live[col])
        out.append(
            {
                "model": row["model"],
                "config": row["config"],
                "column": col,
                "stored": a,
                "live": b,
                "difference": b - a,
                "within tolerance": bool(abs(a - b) <= LIVE_TOLERANCE["counted_rel"] * max(1.0, abs(a))),
            }
        )
    return pd.DataFrame(out)


def bookkeeping_wide(stored: pd.DataFrame) -> pd.DataFrame:
    """The bookkeeping rows side by side: per model and configuration, parameters
    (M and % of the unshared model), GFLOPs of one 32x32 image, PG, P'G, ES, H."""
    t = stored.copy()
    t["params (M)"] = t["params"] / 1e6
    t["params (%)"] = 100 * t["params_fraction"]
    t["GFLOPs @32"] = t["flops"] / 1e9
    cols = ["model", "config", "params (M)", "params (%)", "GFLOPs @32", *PRIOR_SCORES, "engine_error"]
    return t[cols].rename(columns={"PG_prime": "P'G", "expected_spread": "ES", "entropy": "H"})


#: why each reading of a seed's printed number that does not reproduce it fails (keyed by the
#: reading's quantity and source in :func:`reuseprior.chapters.ch7_sharing_schemes.seeds.npas_bookkeeping`);
#: the matching reading of the same printed number, where there is one, is the one adopted. The WRN class
#: count (10 or 100) that reproduces a printed number is chosen per table, not once: Table 12(a)'s ratios
#: are reproduced only with the 10-class counts although Table 12 is a CIFAR-100 table, Tables 7, 9 and 12's
#: 36 M only with the 10-class count, while Table 14's percentages read as the 100-class count
READING_NOTES: dict[tuple[str, str], str] = {
    ("WRN-28-10 parameters, CIFAR-100", "NPAS Tables 7, 9, 12"): (
        "36.54 M does not round to 36; the CIFAR-10 model's 36.48 M does (or 36.54 M truncated): "
        "these tables' 36 M reads as the 10-class count"
    ),
    ("WRN-28-10 budget at 11.3 % (Tables 4, 7)", "NPAS section 4.3: 'just under 4M parameters'"): (
        "11.3 % of 36.5 M is 4.13 M, above 4 M; 'just under 4M' fits the largest layer (3.69 M) instead"
    ),
    ("WRN-28-10 largest layer as % (Tables 4, 7)", "NPAS Table 7"): (
        "the largest layer is 10.1 % of the model, not 11.3 %; no reading tried gives 11.3 %"
    ),
    ("Table 14 budget 24.6 % as 9 M, CIFAR-10", "NPAS Table 14"): (
        "9 M is 24.67 % of the 10-class model; Table 14's percentages read as the 100-class (CIFAR-100) count"
    ),
    ("Table 12(c) rule, SSN-WRN-28-10, one store", "NPAS Table 12(c)"): (
        "one store of the largest layer is 10.1 %; with the classifier as a second store 10.3 % (the adopted reading)"
    ),
    ("WRN-40-10 as % of WRN-28-10, CIFAR-100", "NPAS Table 12(a)"): (
        "the 100-class ratio is 153.0 %; the 10-class ratio gives the printed 153.1 % (adopted, although "
        "Table 12 is a CIFAR-100 table)"
    ),
    ("WRN-52-10 as % of WRN-28-10, CIFAR-100", "NPAS Table 12(a)"): (
        "the 100-class ratio is 206.0 %; the 10-class ratio gives the printed 206.2 % (adopted, although "
        "Table 12 is a CIFAR-100 table)"
    ),
    ("WRN-76-12 as % of WRN-28-10, CIFAR-100", "NPAS Table 12(a)"): (
        "449.2 %; neither class count gives the printed 449.6 % (10 classes: 449.7 %)"
    ),
    ("WRN-76-12 as % of WRN-28-10, CIFAR-10", "NPAS Table 12(a)"): (
        "449.7 %; neither class count gives the printed 449.6 % (100 classes: 449.2 %)"
    ),
    ("ResNet-56 parameters, option B shortcuts", "He et al. 2016 Table 6"): (
        "projection shortcuts make ResNet-56 0.856 M, which does not round to 0.85 M; option A (adopted) does"
    ),
    ("ResNet-56 SSN- read as a round total of 100,000 parameters", "NPAS Table 2(b)"): (
        "Table 14's reading (a round total) gives 11.7 %; a 100,000-weight store plus the BN and bias "
        "parameters gives the printed 12.2 % (adopted)"
    ),
}

_READING_QUALIFIERS = (
    r", (CIFAR-10|CIFAR-100)$",
    r", option [AB] shortcuts$",
    r", (one store|two stores.*)$",
    r" as (a round count, )?[\d.]+ M$",
    r" read as .*$",
)


def printed_number(quantity: str) -> str:
    """The printed number a reading reads: the reading's quantity without its
    qualifier (the class count, the shortcut option, the store count, the round
    count it is read as), so every reading of one printed number shares it."""
    base = quantity
    for _ in range(2):  # "... as 9 M, CIFAR-10": the class count, then the round count
        for pattern in _READING_QUALIFIERS:
            base = re.sub(pattern, "", base)
    return base


def printed_numbers(readings: pd.DataFrame) -> pd.DataFrame:
    """The seeds' bookkeeping per distinct printed number (work, source, printed
    value, unit, :func:`printed_number`): how many readings were tried, how many
    reproduce it, and which do. A printed number counts as reproduced when at
    least one of its readings does."""
    keyed = readings.assign(number=readings["quantity"].map(printed_number))
    keys = ["work", "source", "number", "printed", "unit"]
    out = keyed.groupby(keys, sort=False).agg(
        readings=("matches", "size"),
        matching=("matches", "sum"),
        matching_readings=("quantity", lambda q: "; ".join(q[keyed.loc[q.index, "matches"]]) or "none"),
    )
    out["reproduced"] = out["matching"] > 0
    return out.reset_index().rename(columns={"matching_readings": "readings that reproduce it"})


def reading_notes(readings: pd.DataFrame) -> pd.DataFrame:
    """The readings that do not reproduce their printed number, each with its
    note from :data:`READING_NOTES` (``"(no note)"`` where none is written)."""
    off = readings.loc[~readings["matches"].astype(bool)].copy()
    off["note"] = [READING_NOTES.get((q, src), "(no note)") for q, src in zip(off["quantity"], off["source"])]
    return off


def class_count_choices(readings: pd.DataFrame) -> pd.DataFrame:
    """The Wide ResNet class count each printed number is read with, where both were tried.

    NPAS's WRN tables are CIFAR-100 tables, but its printed numbers are not all
    reproduced by the 100-class model: the class count is chosen per table (per
    printed number), by which reading reproduces it, not once for the paper.
    Per printed number (source, :func:`printed_number`, printed value, unit) whose
    readings in ``readings`` (:func:`~.seeds.npas_bookkeeping` rows, column
    ``classes``) count the 10-class and the 100-class model: ``10 classes`` and
    ``100 classes`` ("matches" or "does not match") and ``class count adopted``
    ("10", "100", "10 or 100", "neither"). E.g. Table 12(a)'s ratios 153.1 and
    206.2 % are adopted with 10 classes although Table 12 is a CIFAR-100 table."""
    if "classes" not in readings.columns:
        return pd.DataFrame(columns=["source", "number", "printed", "unit", "10 classes", "100 classes"])
    wrn = readings[readings["classes"].notna()]
    wrn = wrn.assign(number=wrn["quantity"].map(printed_number), classes=wrn["classes"].astype(int))
    keys = ["source", "number", "printed", "unit"]
    out = []
    for key, rows in wrn.groupby(keys, sort=False):
        if set(rows["classes"]) != {10, 100}:
            continue
        entry = dict(zip(keys, key))
        matching = {c: bool(rows.loc[rows["classes"] == c, "matches"].any()) for c in (10, 100)}
        for classes, match in matching.items():
            entry[f"{classes} classes"] = "matches" if match else "does not match"
        adopted = [str(c) for c, match in matching.items() if match]
        entry["class count adopted"] = " or ".join(adopted) or "neither"
        out.append(entry)
    return pd.DataFrame(out)


#: the groups of a shared model's parameters in :func:`context_mass_shares` (matched in this order)
MASS_GROUPS: tuple[tuple[str, str], ...] = (
    (".store", "SSN store elements"),
    (".coefficients.", "SSN per-layer embeddings / coefficients (alpha)"),
    (".embedders.", "Emb linear layer E (weight and bias)"),
    (".masks.", "Mask upsampler masks"),
)


def _mass_group(name: str) -> str:
    if name.startswith("weight_sources."):
        for marker, group in MASS_GROUPS:
            if marker in name:
                return group
        return "other generator parameters"
    return "the model's own parameters (BN, biases, unshared layers)"


def context_mass_shares(model: nn.Module, input_shape: Sequence[int]) -> pd.DataFrame:
    """Where the probability mass of the prior sits in ``model`` (thesis eq. 4.1
    counts, :func:`reuseprior.counting.count_contexts` per parameter element,
    one zero input of ``input_shape``, eval mode): per group of parameters
    (:data:`MASS_GROUPS`) the elements, the share of ``NC = sum_i c_i`` they
    carry (``p_i = c_i / NC``) and their part of ``H = -sum_i p_i log2 p_i``
    (batch norm's running statistics, which ``analyze`` adds, are left out);
    a last row ``all`` sums them (its H is within a few hundredths of bits of
    ``analyze``'s)."""
    probe = copy.deepcopy(model).eval()
    logs = count_contexts(probe, torch.zeros(1, *input_shape))
    flat = {name: v.detach().double().flatten().numpy() for name, v in logs.items()}
    top = max(float(v.max()) for v in flat.values() if v.size)
    total = sum(float(np.sum(np.exp2(v - top))) for v in flat.values())
    acc: dict[str, list[float]] = {}
    for name, v in flat.items():
        p = np.exp2(v - top) / total
        p = p[p > 0]
        entry = acc.setdefault(_mass_group(name), [0, 0.0, 0.0])
        entry[0] += v.size
        entry[1] += float(p.sum())
        entry[2] += float(-(p * np.log2(p)).sum())
    table = pd.DataFrame(
        [{"parameters": g, "elements": int(n), "share of NC": m, "part of H (bits)": h} for g, (n, m, h) in acc.items()]
    )
    table = sort_rows(table, "share of NC", then="parameters", ascending=False)
    total_row = {
        "parameters": "all",
        "elements": int(table["elements"].sum()),
        "share of NC": float(table["share of NC"].sum()),
        "part of H (bits)": float(table["part of H (bits)"].sum()),
    }
    table = pd.concat([table, pd.DataFrame([total_row])], ignore_index=True)
    table["log2 elements"] = np.log2(table["elements"].astype(float))
    return table


def depthwise_context_shares(models: Iterable[str] = ("efficientnet_b0", "efficientnet_v2_s")) -> pd.DataFrame:
    """Per bookkeeping model (unshared, seed 0, one 32x32 input): its depthwise
    convolutions, their weights, the first one's module name, and the share of
    the context mass ``NC`` their weights carry. Channel-wise sharing with reuse
    ``s`` merges ``s`` kernels into one stored kernel, which lowers H by about
    ``share x log2 s`` bits (when the merged kernels have similar counts), so a
    negligible share leaves ES and H unchanged."""
    out = []
    for name in models:
        model = base_model(_bookkeeping_design(name), 0).eval()
        depthwise = [
            (n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d) and m.groups == m.in_channels > 1
        ]
        logs = count_contexts(model, torch.zeros(1, *BOOKKEEPING_INPUT))
        flat = {k: v.detach().double().flatten().numpy() for k, v in logs.items()}
        top = max(float(v.max()) for v in flat.values() if v.size)
        total = sum(float(np.sum(np.exp2(v - top))) for v in flat.values())
        names = {f"{n}.weight" for n, _ in depthwise}
        mass = sum(float(np.sum(np.exp2(v - top))) for k, v in flat.items() if k in names)
        out.append(
            {
                "model": name,
                "depthwise convolutions": len(depthwise),
                "depthwise weights": sum(m.weight.numel() for _, m in depthwise),
                "first depthwise convolution": depthwise[0][0] if depthwise else "none",
                "share of NC": mass / total,
            }
        )
    return pd.DataFrame(out)


def sharing_shifts(stored: pd.DataFrame, scheme: str) -> pd.DataFrame:
    """Per bookkeeping model: the largest absolute change of ES and H between
    the unshared model and its rows of ``scheme`` (``scope``, ``channelwise``,
    ``scope+channelwise``)."""
    out = []
    for model, rows in stored.groupby("model", sort=False):
        base = rows[rows["scheme"] == "none"]
        mine = rows[rows["scheme"] == scheme]
        if base.empty or mine.empty:
            continue
        out.append(
            {
                "model": model,
                "scheme": scheme,
                "rows": len(mine),
                "max |change of ES|": float((mine["expected_spread"] - base["expected_spread"].iloc[0]).abs().max()),
                "max |change of H|": float((mine["entropy"] - base["entropy"].iloc[0]).abs().max()),
            }
        )
    return pd.DataFrame(out)


# ----------------------------------------------------------------- the notebook
