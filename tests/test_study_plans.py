"""Every declared study keeps the plan id of its stored rows: the plan is :func:`reuseprior.core.study.settings_hash`
of the study's settings, and a changed setting (or hash) would orphan the rows under ``data/``.

:data:`STORED_PLANS` is the plan of every study with stored rows, as the rows hold it; each declared study
must compute it, and every stored row must belong to a declared study of its store (the chapter 7 pilot's
file, ``data/sharing_study_runs_pilot.csv``, is an archive of a plan no longer declared: read, never run)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from reuseprior.chapters import ch7_sharing_schemes as ch7
from reuseprior.chapters.ch3_revolver import study as ch3
from reuseprior.chapters.ch4_sharing_training import (
    confirmatory,
    designs,
    fit_study,
    real_study,
    recipe_probes,
    table42_study,
)
from reuseprior.chapters.ch8_prior_as_tool import screening
from reuseprior.core.study import StudySpec
from reuseprior.zoo import search

#: study name -> the plan its stored rows carry (read off the stored rows when the studies were declared)
STORED_PLANS: dict[str, str] = {
    "cpu-14px": "f841da4d5a98",
    "cpu-14px-thesis": "faa226af0f07",
    "cpu-14px-thesis-long": "71e8067f534c",
    "compact-fashion-mnist": "423f03fd742f",
    "fashion-mnist-w025": "f180b11bcd47",
    "live-slice": "334e69259f62",
    "fashion-mnist-w05-peruse": "67dc83ca1699",
    "table42-cpu-adamw-cosine": "e9dad811b691",
    "table42-cpu-official-steps": "a9fab84a6bda",
    "table42-cpu-official-steps-peruse": "6ee88e37251d",
    "table42-gpu-adamw-cosine": "7500d160606d",
    "table42-confirm-cpu-adamw-cosine": "9a2569a25883",
    "fit-w0.5-lr0.016-warmup39": "807ba9b738a0",
    "fit-w0.5-lr0.016-warmup39-nodroppath": "055e1b5df77a",
    "fit-w0.5-lr0.016-warmup39-nodroppath-60": "208dc103e10b",
    "fit-w0.5-lr0.016-warmup39-nodroppath-peruse": "6fc8081e8542",
    "fit-w0.5-lr0.016-warmup39-peruse": "67dc83ca1699",
    "probe-lr0.004-warmup117": "c467d8eb33c5",
    "probe-lr0.004-warmup117-nodroppath": "4b1ff23b35a6",
    "probe-lr0.016-warmup117": "4f77509ec326",
    "probe-w0.5-lr0.004-warmup117": "6894fe59c5a1",
    "probe-w0.5-lr0.016-warmup39": "0147bdb7e7eb",
    "nb201-search": "nb201-search-f2b2928e71",
}


def declared() -> list[StudySpec]:
    """Every study the chapters declare (each profile's, each recipe's and the probes'), with the search of
    NAS-Bench-201 the ``search-nb201`` command runs."""
    specs = [ch3.CPU_STUDY, screening.PILOT_SCREENING, screening.CPU_SCREENING, search.search_study()]
    specs += [ch7.sharing_study(design) for profile in ch7.PROFILES.values() for design in profile.studies]
    specs += [real_study.CPU_STUDY, real_study.LIVE_SLICE, fit_study.FIT_STUDY, confirmatory.STUDY]
    specs += [*recipe_probes.probe_studies(), *recipe_probes.fit_check_studies()]
    for profile in designs.STUDY_PROFILES:
        specs += table42_study.protocol_studies(profile)
        specs += [table42_study.decisive_study(recipe, profile) for recipe in designs.CANDIDATE_RECIPES]
    return specs


@pytest.mark.parametrize("name, plan", sorted(STORED_PLANS.items()))
def test_each_declared_study_computes_the_plan_its_rows_carry(name, plan):
    matches = {spec.plan for spec in declared() if spec.name == name}
    assert matches == {plan}, f"{name}: declared with plan {matches}, stored under {plan}"


def test_every_stored_row_belongs_to_a_declared_study_of_its_store():
    by_store: dict[str, set[tuple[str, str]]] = {}
    for spec in declared():
        by_store.setdefault(str(spec.store.path), set()).add((spec.name, spec.plan))
    for path, studies in by_store.items():
        if not Path(path).exists():  # a profile's studies trained elsewhere (under build/)
            continue
        rows = pd.read_csv(path)
        store = next(s.store for s in declared() if str(s.store.path) == path)
        names = rows[store.name_column] if store.name_column else pd.Series([None] * len(rows))
        plans = set(zip(names, rows[store.plan_column]))
        known = {(n if store.name_column else None, p) for n, p in studies}
        assert plans <= known, f"{path}: rows of undeclared studies {sorted(plans - known)}"
        assert {p for _, p in plans} <= set(STORED_PLANS.values()), f"{path}: a plan not listed in STORED_PLANS"
