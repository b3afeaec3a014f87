"""Chapter-5 energy-prior experiments: the closed forms of
:mod:`reuseprior.priors.derivations` against the counting engine on real MLP graphs,
and a worked comparison of priors (notebook ``ch5_energy_priors``).

Every row of every table is one model: its configuration, what the engine
computed (``count_contexts`` log2 counts -> ``ln`` -> :mod:`reuseprior.priors.energy`,
and the engine's own chapter-4 ``Report``), what the closed form gives, and
their relative difference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from reuseprior.chapters import register_chapter
from reuseprior.core.progress import progress_bar
from reuseprior.counting import analyze, count_contexts
from reuseprior.models.mlp import constant_width_mlp
from reuseprior.priors import derivations as dv
from reuseprior.priors import energy as en
from reuseprior.reporting.digits import RESIDUAL_DECIMALS, round_residuals
from reuseprior.reporting.findings import MatchFinding
from reuseprior.reporting.notebook import Profile
from reuseprior.reporting.plotting import readable_fontsize
from reuseprior.reporting.reference import load_thesis_table

#: this chapter, as the book and the build command list it (reuseprior.chapters.CHAPTERS)
CHAPTER = register_chapter(
    __name__,
    part="Chapter 5: depth, width and energy priors",
    title="Chapter 5: energy priors — sympy derivations checked against the counting engine",
)

__all__ = [
    "FINDINGS",
    "PROFILES",
    "QUANTITIES",
    "budget_mlps",
    "compare_model_priors",
    "engine_quantities",
    "engine_vs_closed_form",
    "estimate_forms",
    "max_relative_difference",
    "plot_energy_growth",
    "plot_entropy_convergence",
    "plot_prior_comparison",
    "relative_difference",
    "table_5_1_estimate_forms",
]


#: Notebook profiles. ``quick`` runs on a CPU in about a minute (depth <= 30;
#: Table 5.1 rows up to depth 64). The engine needs ~13 ms per layer, so one
#: sweep of the depth-3600 MLP costs ~50 s: depth 3600 is in ``full`` only
#: (about 20 minutes in all on an idle CPU).
@dataclass(frozen=True)
class EnergyPriorsProfile(Profile):
    """Settings of the chapter 5 energy-priors notebook."""

    widths: list[int]  # reusability prior, with and without bias
    depths: list[int]
    prior_widths: list[int]  # hypothetical and path-discounted priors, no bias
    prior_depths: list[int]
    gammas: list[float]
    table_5_1_max_depth: int | None
    budget: int
    compare_gammas: list[float]
    tolerance: float


PROFILES: dict[str, EnergyPriorsProfile] = {
    "quick": EnergyPriorsProfile(
        widths=[2, 3, 8],
        depths=[1, 2, 3, 5, 10, 30],
        prior_widths=[2, 3],
        prior_depths=[1, 3, 10, 25],
        gammas=[0.3, 0.75],
        table_5_1_max_depth=64,
        budget=144,
        compare_gammas=[0.5, 0.25],
        tolerance=1e-9,
    ),
    "full": EnergyPriorsProfile(
        widths=[2, 3, 4, 8],
        depths=[1, 2, 3, 5, 10, 30, 100, 300, 900, 3600],
        prior_widths=[2, 3, 4, 8],
        prior_depths=[1, 3, 10, 30, 100, 900],
        gammas=[0.3, 0.75],
        table_5_1_max_depth=None,
        budget=576,
        compare_gammas=[0.5, 0.25],
        tolerance=1e-9,
    ),
}

#: quantities compared per model (keys of :func:`reuseprior.priors.derivations.evaluate`)
QUANTITIES = ("log_z", "expected_energy", "entropy", "total_surprisal", "PG", "PG_prime", "PG_prime_printed_5_19")

PRIORS = ("reusability", "hypothetical", "path_discounted")


def relative_difference(a: float, b: float) -> float:
    """``|a - b| / max(|b|, 1e-300)``; 0 when both are equal (incl. both inf/nan)."""
    if (math.isnan(a) and math.isnan(b)) or a == b:
        return 0.0
    if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
        return math.inf
    return abs(a - b) / max(abs(b), 1e-300)


def _mlp(width: int, depth: int, bias: bool):

    return constant_width_mlp(width, depth, bias=bias), torch.zeros(1, width)


def engine_quantities(
    width: int,
    depth: int,
    *,
    bias: bool = False,
    prior: str = "reusability",
    gamma: float = 1.0,
    num_outputs: int | None = None,
) -> dict[str, dict[str, float]]:
    """Engine-side quantities of one constant-width MLP under ``prior``.

    Energies come from ``count_contexts(model, x, discount=gamma)`` (log2 ->
    ln); NI and |G| from ``analyze``. Returns ``{"nats": {...}, "bits": {...},
    "report": {...}}`` with the keys of :data:`QUANTITIES` (``report`` is the
    engine's own chapter-4 Report, bits, reusability/discounted priors only).
    """

    if prior not in PRIORS:
        raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
    model, x = _mlp(width, depth, bias)
    disc = gamma if prior == "path_discounted" else 1.0
    energies = en.energies_from_log2_counts(count_contexts(model, x, discount=disc))
    try:
        report = analyze(model, x, num_outputs=num_outputs, discount=disc)
        report_ok = True
    except ValueError:  # the engine's P'G in bits needs ES + 1 > 0, false for strong discounts
        report = analyze(model, x, num_outputs=num_outputs)  # NI and |G| do not depend on the discount
        report_ok = False
    beta = -1.0
    if prior == "hypothetical":
        energies, beta = energies / math.log(width), math.log(width)  # E_j = j, β = ln ω (section 5.4.1)
    out: dict[str, dict[str, float]] = {}
    for units in ("nats", "bits"):
        s = en.summarize(energies, beta, num_inputs=report.NI, num_graph_nodes=report.G, units=units)
        out[units] = {
            "log_z": s.log_z,
            "expected_energy": s.expected_energy,
            "entropy": s.entropy,
            "total_surprisal": s.total_surprisal,
            "PG": s.PG,
            "PG_prime": s.PG_prime,
            "PG_prime_printed_5_19": s.PG_prime_eq519,
            "NG": s.NG,
            "NI": report.NI,
            "G": report.G,
        }
    if not report_ok or prior == "hypothetical":  # the Report is the reusability/discounted prior's
        return out
    out["report"] = {
        "log_z": report.log2_NC * math.log(2),
        "expected_energy": report.expected_spread,
        "entropy": report.entropy,
        "total_surprisal": report.total_surprisal,
        "PG": report.PG,
        "PG_prime": report.PG_prime,
        "NG": report.NG,
        "G": report.G,
    }
    return out


def _configs(
    widths: Sequence[int], depths: Sequence[int], biases: Sequence[bool], priors: Sequence[str], gammas: Sequence[float]
) -> list[dict[str, Any]]:
    rows = []
    for prior in priors:
        for gamma in gammas if prior == "path_discounted" else [1.0]:
            for bias in biases:
                for w in widths:
                    if prior == "path_discounted" and abs(gamma * w - 1) < 1e-12:
                        continue  # γω = 1: every count equal, closed form 0/0
                    for depth in depths:
                        rows.append(dict(prior=prior, gamma=gamma, bias=bias, width=w, depth=depth))
    return rows


def engine_vs_closed_form(
    widths: Sequence[int],
    depths: Sequence[int],
    *,
    biases: Sequence[bool] = (False, True),
    priors: Sequence[str] = ("reusability",),
    gammas: Sequence[float] = (),
    progress: bool = True,
) -> pd.DataFrame:
    """Long table, one row per (model, prior, units, quantity): ``engine``,
    ``closed_form`` (:func:`reuseprior.priors.derivations.evaluate`) and
    ``rel_diff``, kept to :data:`~reuseprior.reporting.digits.RESIDUAL_DECIMALS`
    decimals: below that it is float64 rounding, whose digits depend on the CPU.

    Units ``nats`` and ``bits`` are the energy module on the engine's counts;
    ``report`` is the engine's own Report (bits; reusability and
    path-discounted priors) against the bits closed form.
    """
    configs = _configs(widths, depths, biases, priors, gammas)
    rows = []
    for cfg in progress_bar(configs, desc="MLPs", disable=not progress):
        eng = engine_quantities(cfg["width"], cfg["depth"], bias=cfg["bias"], prior=cfg["prior"], gamma=cfg["gamma"])
        for units in ("nats", "bits", "report"):
            if units not in eng:
                continue
            cf_units = "nats" if units == "nats" else "bits"
            cf = dv.evaluate(
                cfg["width"], cfg["depth"], bias=cfg["bias"], prior=cfg["prior"], gamma_=cfg["gamma"], units=cf_units
            )
            for q in QUANTITIES:
                if q not in eng[units]:
                    continue
                if units == "report" and q == "log_z":
                    cfq = dv.evaluate(
                        cfg["width"], cfg["depth"], bias=cfg["bias"], prior=cfg["prior"], gamma_=cfg["gamma"]
                    )[q]
                else:
                    cfq = cf[q]
                e = float(eng[units][q])
                rows.append(
                    {
                        **cfg,
                        "units": units,
                        "quantity": q,
                        "engine": e,
                        "closed_form": cfq,
                        "rel_diff": round(relative_difference(e, cfq), RESIDUAL_DECIMALS) + 0.0,
                        "NG": eng["nats"]["NG"],
                    }
                )
    return pd.DataFrame(rows)


def max_relative_difference(
    df: pd.DataFrame, by: Sequence[str] = ("prior", "bias", "units", "quantity")
) -> pd.DataFrame:
    """Worst relative difference per group of :func:`engine_vs_closed_form` rows."""
    return (
        df.groupby(list(by))["rel_diff"]
        .agg(["max", "count"])
        .rename(columns={"max": "max rel. diff", "count": "models"})
        .reset_index()
    )


def estimate_forms(df: pd.DataFrame, units: str = "nats") -> pd.DataFrame:
    """Eq. 4.8 vs printed eq. 5.19 per model: the engine's P'G next to both closed forms.

    From :func:`engine_vs_closed_form` rows (reusability prior). ``units="report"``
    uses the engine's own Report value (bits).
    """
    sel = df[(df["prior"] == "reusability") & (df["units"] == units)]
    eng = sel[sel["quantity"] == "PG_prime"].set_index(["bias", "width", "depth"])
    printed = df[
        (df["prior"] == "reusability")
        & (df["units"] == ("bits" if units == "report" else units))
        & (df["quantity"] == "PG_prime_printed_5_19")
    ].set_index(["bias", "width", "depth"])
    out = pd.DataFrame(
        {
            "P'G engine": eng["engine"],
            "P'G eq. 4.8 closed form": eng["closed_form"],
            "P'G eq. 5.19 as printed": printed["closed_form"],
        }
    )
    out["rel. diff engine vs 4.8"] = [relative_difference(a, b) for a, b in zip(out.iloc[:, 0], out.iloc[:, 1])]
    out["rel. diff engine vs 5.19"] = [relative_difference(a, b) for a, b in zip(out.iloc[:, 0], out.iloc[:, 2])]
    return round_residuals(out, ["rel. diff engine vs 4.8", "rel. diff engine vs 5.19"]).reset_index()


def table_5_1_estimate_forms(max_depth: int | None = None, *, progress: bool = True) -> pd.DataFrame:
    """Thesis Table 5.1 (NI = width, NO = 1, bits): the engine's P'G and PG next
    to the eq. 4.8 and printed-5.19 closed forms. Columns ``Width``, ``Depth``,
    ``P'G``, ``PG`` (engine) are ready for :func:`reuseprior.reporting.reference.side_by_side`."""
    thesis = load_thesis_table("table_5_1")
    rows = []
    for _, r in progress_bar(list(thesis.iterrows()), desc="Table 5.1", disable=not progress):
        w, depth = int(r["Width"]), int(r["Depth"])
        if max_depth is not None and depth > max_depth:
            continue
        model, x = _mlp(w, depth, False)
        rep = analyze(model, x, num_outputs=1)
        cf = dv.evaluate(w, depth, num_outputs=1, units="bits")
        rows.append(
            {
                "Width": w,
                "Depth": depth,
                "P'G": rep.PG_prime,
                "PG": rep.PG,
                "P'G eq. 4.8 closed form": cf["PG_prime"],
                "P'G eq. 5.19 as printed": cf["PG_prime_printed_5_19"],
                "PG eq. 4.7 closed form": cf["PG"],
            }
        )
    return pd.DataFrame(rows)


def budget_mlps(budget: int, *, bias: bool = False) -> dict[str, tuple[torch.nn.Module, torch.Tensor]]:
    """Constant-width MLPs with exactly ``budget = width² · depth`` weights
    (as Table 5.1 for 14400), width >= 2, as ``{name: (model, example_input)}``."""

    out = {}
    for w in range(int(math.isqrt(budget)), 1, -1):
        if budget % (w * w) == 0:
            depth = budget // (w * w)
            out[f"w{w}-D{depth}"] = (constant_width_mlp(w, depth, bias=bias), torch.zeros(1, w))
    if not out:
        raise ValueError(f"no width >= 2 has width² dividing budget={budget}; pick e.g. 144 or 576")
    return out


def compare_model_priors(
    models: Mapping[str, tuple[Any, Any]], gammas: Iterable[float] = (0.5,), *, units: str = "bits"
) -> pd.DataFrame:
    """Rank ``models`` under the reusability prior, the hypothetical prior of
    section 5.4.1 and path-discounted priors (one per ``gamma``), via
    :func:`reuseprior.priors.energy.compare_priors`.

    Default units are bits, those of chapter 4 (H, ES, PG, P'G of eqs.
    4.2-4.8): with ``units="bits"`` every quantity is in bits, ``log_z`` is
    replaced by ``log2_z`` (``log2 z``; for the reusability prior ``log2 NC``),
    and ``P'G`` is eq. 4.8 with ``ES`` in bits (its ``+1`` is not unit-free,
    so it is not the nats value over ``ln 2``; it is undefined, NaN, where
    ``ES + 1 < 0``, which strong path discounts reach)."""
    priors: dict[str, en.Prior] = {
        "reusability": en.ReusabilityPrior(),
        "hypothetical 5.4.1": en.HypotheticalPrior(),
    }
    for gm in gammas:
        priors[f"path-discounted γ={gm:g}"] = en.PathDiscountedPrior(gm)
    df = en.compare_priors(models, priors, units=units)  # type: ignore[arg-type]
    if units == "bits":  # EnergySummary.log_z is ln z whatever the units
        df.insert(df.columns.get_loc("log_z"), "log2_z", df["log_z"] / math.log(2))
        df = df.drop(columns="log_z")
    return df


# ----------------------------------------------------------------------------- figures


def _grid_wide(df: pd.DataFrame, prior: str = "reusability", units: str = "nats") -> pd.DataFrame:
    sel = df[(df["prior"] == prior) & (df["units"] == units)]
    return sel.pivot_table(
        index=["gamma", "bias", "width", "depth"], columns="quantity", values=["engine", "closed_form"]
    ).reset_index()


def plot_energy_growth(df: pd.DataFrame, *, bias: bool = False):
    """Theorem 4: ``<E>`` against ``(D-1) ln ω`` (left) and the gap
    ``<E> - (D-1) ln ω`` against depth with its computed limit ``-ln ω/(ω-1)`` (right)."""
    wide = _grid_wide(df)
    wide = wide[wide["bias"] == bias]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, (w, grp) in enumerate(wide.groupby("width")):
        color = f"C{i}"
        x = (grp["depth"] - 1) * math.log(w)
        e = grp[("engine", "expected_energy")]
        ax1.plot(x, e, "o", color=color, label=f"ω = {w} (engine)")
        ax1.plot(x, grp[("closed_form", "expected_energy")], "-", color=color, lw=1)
        ax2.plot(grp["depth"], e - x, "o-", color=color, label=f"ω = {w}")
        ax2.axhline(dv.evaluate_constant("E_gap", w), color=color, ls="--", lw=1)
    lim = max(ax1.get_xlim()[1], ax1.get_ylim()[1])
    ax1.plot([0, lim], [0, lim], "k:", lw=1, label="<E> = (D-1) ln ω (eq. 5.15)")
    ax1.set(
        xlabel="(D - 1) ln ω  [nats]",
        ylabel="<E> = <ln |C|>  [nats]",
        title="Expected energy vs. Theorem 4 (lines: eq. 5.12)",
    )
    ax1.legend(fontsize=8)
    ax2.set_xscale("log")
    ax2.set(
        xlabel="depth D (weight layers)",
        ylabel="<E> - (D-1) ln ω  [nats]",
        title="Gap to (D-1) ln ω; dashed: computed limit -ln ω/(ω-1)",
    )
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_entropy_convergence(df: pd.DataFrame):
    """Theorem 5: entropy against depth, with the printed constant (dotted) and
    the constant sympy computes (dashed), with and without bias."""
    wide = _grid_wide(df)
    biases = sorted(wide["bias"].unique())
    fig, axes = plt.subplots(1, len(biases), figsize=(5.5 * len(biases), 4.2), squeeze=False)
    for ax, bias in zip(axes[0], biases):
        part = wide[wide["bias"] == bias]
        for i, (w, grp) in enumerate(part.groupby("width")):
            color = f"C{i}"
            ax.plot(grp["depth"], grp[("engine", "entropy")], "o-", color=color, label=f"ω = {w} (engine)")
            ax.axhline(dv.evaluate_constant("H_limit", w, bias=bias), color=color, ls="--", lw=1)
            ax.axhline(dv.evaluate_constant("H_limit_printed", w, bias=bias), color=color, ls=":", lw=1)
        ax.set_xscale("log")
        ax.set(
            xlabel="depth D (weight layers)",
            ylabel="entropy H  [nats]",
            title=f"{'with' if bias else 'without'} bias (g = {'ω(ω+1)' if bias else 'ω²'})",
        )
        ax.legend(fontsize=8)
    fig.suptitle("Entropy vs. depth: engine (markers), computed limit (dashed), eq. 5.18 as printed (dotted)")
    fig.tight_layout()
    return fig


def plot_prior_comparison(df: pd.DataFrame, value: str = "PG_prime"):
    """``value`` (default P'G, eq. 4.8) of each model under each prior, models
    ordered by depth, in the units of ``df`` (bits from
    :func:`compare_model_priors`, as chapter 4). A model whose value is
    undefined (NaN: ``ES + 1 < 0``) or far below the others (``ES + 1`` near 0
    sends the log towards -inf) is drawn as a triangle on the lower edge,
    labelled with its value, so that the scale stays readable."""
    units = sorted(set(df["units"]))
    if len(units) != 1:
        raise ValueError(f"df mixes units {units}; compare priors in one unit")
    unit = units[0]
    labels = {
        "PG_prime": "P'G (eq. 4.8)",
        "PG": "PG (eq. 4.7)",
        "expected_energy": "expected spread ES",
        "entropy": "entropy H",
    }
    order = list(dict.fromkeys(df["model"]))
    values = df[value].to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    regular = finite[finite >= 0] if (finite >= 0).any() else finite
    span = max(float(regular.max() - regular.min()), 1.0)
    bottom = min(float(regular.min()), 0.0) - 0.15 * span
    top = float(regular.max()) + 0.1 * span
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    for i, (prior, grp) in enumerate(df.groupby("prior", sort=False)):
        grp = grp.set_index("model").loc[order]
        y = grp[value].to_numpy(dtype=float)
        shown = np.where(np.isfinite(y) & (y >= bottom), y, np.nan)
        ax.plot(order, shown, "o-", color=f"C{i}", label=prior)
        for x, v in zip(order, y):
            if np.isfinite(v) and v >= bottom:
                continue
            text = "undefined\n(ES + 1 < 0)" if np.isnan(v) else f"{v:.1f}\n(ES + 1 near 0)"
            ax.plot([x], [bottom], marker="v", color=f"C{i}", ms=9, clip_on=False, ls="none")
            ax.annotate(
                text,
                (x, bottom),
                xytext=(0, 7),
                textcoords="offset points",
                fontsize=readable_fontsize(fig),
                color=f"C{i}",
                ha="center",
                va="bottom",
                bbox={"fc": "white", "ec": "none", "alpha": 0.85, "pad": 1},
            )
    ax.set_ylim(bottom, top)
    ax.set(
        xlabel="model wW-DD: width W, depth D (equal weight budget, deeper to the right)",
        ylabel=f"{labels.get(value, value)} [{unit}]",
        title="Same models, different energy priors",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


#: The thesis's claims this chapter tests, each read from the table the notebook writes (the findings it opens with).
FINDINGS: tuple[MatchFinding, ...] = (
    MatchFinding(
        "The energy module reproduces the worked example's S, H, ES, PG and P'G (appendix A.3)",
        "1. The energy module on the thesis's worked example (Lemma 2, Theorem 2, Corollary 1)",
        ("appendix_a3_energy_module.csv",),
    ),
    MatchFinding(
        "Table 5.1's PG and P'G follow from the eq. 4.8 form of the performance estimate",
        "4. Eq. 5.19 as printed vs. eq. 4.8: which one the engine computes",
        ("table_5_1_estimate_forms.csv",),
    ),
)
