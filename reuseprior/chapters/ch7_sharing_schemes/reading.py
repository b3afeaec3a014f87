"""Chapter 7's trained reading in words, generated from its tables so that it cannot fall behind the
stored rows.

Policy: every number is one estimand printed with its own interval. The agreement of a
score with training is the mean over the seeds of the rank correlation computed on each seed's
accuracies, with the 95 % t-interval of the per-seed values; the study's **primary** test is PG within
matched budgets (:data:`~reuseprior.chapters.ch7_sharing_schemes.resolution.PRIMARY`), every other
verdict is secondary and read with the multiplicity note of
:func:`~reuseprior.chapters.ch7_sharing_schemes.resolution.verdict_family`; the order of a pair of
configurations is a result only where the seeds resolve it
(:func:`~reuseprior.chapters.ch7_sharing_schemes.resolution.resolved_pairs`); a score whose values
are set by the SSN counting convention is labelled so
(:func:`~reuseprior.chapters.ch7_sharing_schemes.resolution.convention_dependence`).
"""

from __future__ import annotations

import pandas as pd

from reuseprior.chapters.ch7_sharing_schemes.configs import SCORE_LABELS
from reuseprior.chapters.ch7_sharing_schemes.ranking import PRIOR_ORDER_VERDICT
from reuseprior.chapters.ch7_sharing_schemes.resolution import PRIMARY
from reuseprior.core.ordering import sort_rows
from reuseprior.core.verdict_policy import CONTRADICTED, REPRODUCED
from reuseprior.reporting.statistics import p_value_text, t_interval_text

__all__ = ["reading"]

#: how a score is named in the reading
NAMES: dict[str, str] = {**SCORE_LABELS, "params": "parameter count (naive baseline)"}
#: short names of the scores in running text
SHORT: dict[str, str] = {"PG": "PG", "PG_prime": "P'G", "expected_spread": "ES", "entropy": "H", "params": "#params"}


def _seeds(n: int) -> str:
    return f"{n} paired seed" + ("" if n == 1 else "s")


def _estimate(r: pd.Series, key: str) -> str:
    """A per-seed mean with its own interval, seed range and permutation p."""
    return (
        f"{r[key]:+.2f} ({t_interval_text(r[f'{key} t low'], r[f'{key} t high'])}, seed range "
        f"[{r[f'{key} seed range low']:+.2f}, {r[f'{key} seed range high']:+.2f}], "
        f"permutation p = {p_value_text(r[f'{key} permutation p'])})"
    )


def _primary(agreement: pd.DataFrame) -> list[str]:
    score, statistic = PRIMARY
    r = agreement.set_index("score").loc[score]
    return [
        f"**Primary test** (named before reading the verdicts below; the study's question): does {score} order "
        f"the configurations at one matched budget as training does? Kendall's tau over the within-budget pairs, "
        f"mean over the seeds: {_estimate(r, statistic)}: **{r[f'{statistic} verdict']}**.",
        "",
    ]


def _secondary(agreement: pd.DataFrame, convention: pd.DataFrame | None) -> list[str]:
    dependent = (
        set(convention.loc[convention["depends on the SSN counting convention"], "score"])
        if convention is not None
        else set()
    )
    lines = ["**Secondary** (each at 0.05; see the multiplicity note):", ""]
    for _, r in agreement.iterrows():
        within = f"{_estimate(r, 'kendall within budget')}, **{r['kendall within budget verdict']}**"
        if r["score"] in dependent:
            within += " (*depends on the SSN counting convention*)"
        within = "" if r["score"] == PRIMARY[0] else f"within matched budgets Kendall {within}; "
        lines.append(
            f"- **{NAMES[r['score']]}**: {within}over all configurations Spearman {_estimate(r, 'spearman')}, "
            f"**{r['spearman verdict']}**."
        )
    return lines


def _multiplicity(family: pd.DataFrame) -> list[str]:
    secondary = family[family["role"] == "secondary"]
    if secondary.empty:
        return []
    level, smallest = float(secondary["level"].iloc[0]), float(secondary["smallest p"].iloc[0])
    decided, kept = _decided(secondary["verdict"]), _decided(secondary["verdict at its level"])
    why = (
        f"the seeds cannot give an exact permutation p below {smallest:.4f}, which is not below that level"
        if smallest >= level
        else f"{kept} keep their verdict there"
    )
    return [
        "",
        f"*Multiplicity*: {len(secondary)} secondary verdicts are taken at 0.05 each (were none of their effects "
        f"real, about {0.05 * len(secondary):.1f} would be decided by chance alone); {decided} are decided. At "
        f"the Bonferroni level 0.05 / {len(secondary)} = {level:.4f}, {kept or 'none'} of them are: {why}. Read "
        "them as descriptions of these configurations, not as findings.",
    ]


def _family(config: str) -> str:
    return config.split(" @ ")[0]


def _convention(convention: pd.DataFrame) -> list[str]:
    flagged = convention[convention["depends on the SSN counting convention"]]
    if flagged.empty:
        return []
    scores = " and ".join(dict.fromkeys(SHORT[s] for s in flagged["score"]))

    def families(rows: pd.DataFrame) -> str:
        names = {_family(c) for text in rows["SSN configurations"] for c in text.split(", ")}
        return " and ".join(sorted(names))

    same, equal = flagged[flagged["same at every budget"]], flagged[flagged["equal to the unshared model"]]
    text = f"{scores} take one value per SSN generator whatever its budget ({families(same)})" + (
        f", and {families(equal)}'s equal the unshared model's" if len(equal) else ""
    )
    return [
        "",
        f"*The SSN counting convention*: {text}. Their within-budget verdicts therefore rank an SSN store by how "
        "the engine counts its mixing coefficients and copies, not by how the budget is spent: they hold for "
        "this counting convention only.",
    ]


def _resolved(pairs: pd.DataFrame, by_score: pd.DataFrame) -> list[str]:
    first = by_score.iloc[0]
    resolved = pairs[pairs["resolved"]]
    gaps = resolved["mean paired difference (pp)"]
    orders = "; ".join(
        f"{SHORT[r['score']]} {r['as trained']} as trained" + (f", {r['tied']} tied" if r["tied"] else "")
        for _, r in by_score.iterrows()
    )
    involves = (
        f"; every one involves {first['every resolved pair involves']}, which trains "
        f"{gaps.min():.2f}-{gaps.max():.2f} points worse than the other configuration of its pair"
        if first["every resolved pair involves"] and len(resolved)
        else ""
    )
    return [
        "",
        f"**What the seeds resolve.** Of the {int(first['pairs'])} within-budget pairs, the seeds resolve "
        f"{int(first['resolved'])} (the verdict rule on each pair's paired differences){involves}. On those: "
        f"{orders}. The other {int(first['unresolved'])} pairs are not resolved: their order of means is not a "
        "result, so no score can be right or wrong on them.",
    ]


def _against_params(table: pd.DataFrame, score: str = "PG") -> list[str]:
    r = table[(table["score"] == score) & (table["statistic"] == "spearman")]
    if r.empty:
        return []
    r = r.iloc[0]
    return [
        "",
        f"Over all configurations {score} agrees with training less than the parameter count does: per-seed "
        f"Spearman difference {score} - #params {r['score - params']:+.3f} "
        f"({t_interval_text(r['t low'], r['t high'])}, "
        f"permutation p = {p_value_text(r['permutation p'])}, {r['seeds params ahead']} of "
        f"{r['seeds score ahead'] + r['seeds params ahead']} seeds favour #params; the claim that {score} agrees "
        f"more is **{r['verdict (score agrees more)']}** at {_level_of(table):g}). "
        + _against_params_multiplicity(table),
    ]


def _decided(verdicts: pd.Series) -> int:
    """How many of ``verdicts`` decide the claim either way (reproduced or contradicted)."""
    return int(verdicts.isin([REPRODUCED, CONTRADICTED]).sum())


def _level_of(table: pd.DataFrame) -> float:
    """The level the scores-against-#params table judged each comparison at: its Bonferroni level
    times the number of comparisons (:func:`~.resolution.score_against_params`)."""
    return round(float(table["level"].iloc[0]) * len(table), 12)


def _against_params_multiplicity(table: pd.DataFrame) -> str:
    """The multiplicity of the scores-against-#params comparisons, which stand outside the primary and
    secondary family: how many there are, each judged at the table's level, and how many keep their
    verdict at their Bonferroni level."""
    m, level, alpha = len(table), float(table["level"].iloc[0]), _level_of(table)
    decided, kept = _decided(table["verdict (score agrees more)"]), _decided(table["verdict at its level"])
    return (
        f"These {m} comparisons of a score with #params stand outside the family above and are each taken at "
        f"{alpha:g}, uncorrected ({decided} decided); at their Bonferroni level {alpha:g} / {m} = {level:.4f}, "
        f"{kept or 'none'} of them keep their verdict."
    )


def _largest_mistake(disagree: pd.DataFrame, score: str) -> list[str]:
    if disagree.empty:
        return []
    worst = disagree.iloc[0]
    return [
        "",
        f"The largest within-budget mistake of {score}: it prefers **{worst['prior prefers']}** to "
        f"**{worst['trained better']}**, which trains {worst['accuracy gap (pp)']:.2f} points better "
        f"({worst['seeds agreeing with trained order']} seeds agree in sign, mean paired difference "
        f"{worst['mean paired difference (pp)']:+.2f} points, {t_interval_text(worst['t low'], worst['t high'])}, "
        f"permutation p = {p_value_text(worst['permutation p'])}, sign test p = "
        f"{p_value_text(worst['sign test p'])}: the prior's order is **{worst[PRIOR_ORDER_VERDICT]}**).",
    ]


def _orders(rank: pd.DataFrame, score: str) -> list[str]:
    lines = ["", f"Order within each matched budget (best first), by training and by {score}:", ""]
    for group, members in rank.groupby("group", sort=False):
        if len(members) < 2:
            continue
        trained = " > ".join(sort_rows(members, "test_top1_mean", then="config", ascending=False)["config"])
        prior = " > ".join(sort_rows(members, score, then="config", ascending=False)["config"])
        lines.append(f"- {group}: trained {trained}; {score} {prior}.")
    top_trained = sort_rows(rank, "trained rank", then="config").iloc[0]
    top_prior = sort_rows(rank, "prior rank", then="config").iloc[0]
    return lines + [
        "",
        f"Best trained configuration: {top_trained['config']} ({top_trained['test_top1_mean']:.2f} %); "
        f"the configuration {score} ranks first: {top_prior['config']} ({top_prior['test_top1_mean']:.2f} %).",
    ]


def reading(
    agreement: pd.DataFrame,
    rank: pd.DataFrame,
    disagree: pd.DataFrame,
    score: str = "PG",
    *,
    not_comparable: str = "",
    resolved: tuple[pd.DataFrame, pd.DataFrame] | None = None,
    convention: pd.DataFrame | None = None,
    family: pd.DataFrame | None = None,
    against_params: pd.DataFrame | None = None,
) -> str:
    """The ranking result in words (module docstring), from the tables: ``agreement``
    (:func:`~reuseprior.chapters.ch7_sharing_schemes.ranking.ranking_agreement`, gated), ``rank``
    (:func:`~reuseprior.chapters.ch7_sharing_schemes.ranking.rank_table`), ``disagree`` (the
    within-budget :func:`~reuseprior.chapters.ch7_sharing_schemes.ranking.disagreements` of
    ``score``) and, where given, ``resolved`` (the pairs and the per-score counts of
    :mod:`~reuseprior.chapters.ch7_sharing_schemes.resolution`), ``convention``, ``family`` and
    ``against_params``. ``not_comparable``: why no verdict may be given yet, stated first; the
    rule's verdicts are then shown as what it would say. Configurations are listed by name where
    they tie."""
    status = (
        [
            f"**Not comparable yet**: {not_comparable}. The verdicts below are *not comparable*; what the rule would "
            "say on these seeds is in the `rule verdict` columns of the table above.",
            "",
        ]
        if not_comparable
        else []
    )
    lines = status + [
        f"From {int(agreement['configs'].iloc[0])} configurations x {_seeds(int(agreement['seeds'].iloc[0]))}; "
        "inference is conditional on these configurations. Each agreement below is one estimand: the mean over "
        "the seeds of a rank correlation computed on each seed's accuracies, with the 95 % t-interval of the "
        "per-seed values (its own interval), their range and exact permutation p, and the verdict of "
        "`reuseprior.core.verdict_policy.verdict` on the claim that the score agrees with training.",
        "",
    ]
    if PRIMARY[0] in set(agreement["score"]):
        lines += _primary(agreement)
    lines += _secondary(agreement, convention)
    lines += _multiplicity(family) if family is not None else []
    lines += _convention(convention) if convention is not None else []
    lines += _resolved(*resolved) if resolved is not None else []
    lines += _against_params(against_params, score) if against_params is not None else []
    return "\n".join(lines + _largest_mistake(disagree, score) + _orders(rank, score))
