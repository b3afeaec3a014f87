"""Every declared study, read from the study registry (:func:`reuseprior.chapters.list_studies`), checked
against one schema, and keeping the plan id of its stored rows: the plan is
:func:`reuseprior.core.study.settings_hash` of the study's settings, and a changed setting (or hash) would
orphan the rows under ``data/``.

Every stored row under ``data/`` must belong to a registered study of its store, by name and plan (the
chapter 7 pilot's file, ``data/sharing_study_runs_pilot.csv``, is an archive of a plan
no longer declared: read, never run)."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from reuseprior.chapters import get_study, list_studies
from reuseprior.core import paths
from reuseprior.core.declared_study import CHECK_ACTION, FLOOR_ACTION, REQUEST_PARTS
from reuseprior.core.study import StudyRequest, StudySpec


def declared() -> list[StudySpec]:
    """Every single study the registry holds (a group's studies are registered under their own names), once."""
    specs = {}
    for name in list_studies():
        spec = get_study(name).spec
        if spec is not None:
            specs[(spec.name, spec.plan)] = spec
    return list(specs.values())


def test_the_nas_bench_201_search_is_listed_with_the_other_studies():
    assert "nb201-search" in list_studies() and list_studies("nb201-*") == ["nb201-search"]
    assert {"ch3", "ch4", "ch4-confirm", "ch7", "ch8"} <= set(list_studies("ch*"))


def test_every_stored_row_belongs_to_a_declared_study_of_its_store():
    by_store: dict[str, set[tuple[str, str]]] = {}
    for spec in declared():
        by_store.setdefault(str(spec.store.path), set()).add((spec.name, spec.plan))
    for path, studies in by_store.items():
        if not Path(path).is_relative_to(paths.DATA_DIR) or not Path(path).exists():  # trained elsewhere (build/)
            continue
        rows = pd.read_csv(path)
        store = next(s.store for s in declared() if str(s.store.path) == path)
        names = rows[store.name_column] if store.name_column else pd.Series([None] * len(rows))
        plans = set(zip(names, rows[store.plan_column]))
        known = {(n if store.name_column else None, p) for n, p in studies}
        assert plans <= known, f"{path}: rows of undeclared studies {sorted(plans - known)}"


#: the form of a registered name: lower case, digits, dots and hyphens
NAME_FORM = re.compile(r"[a-z0-9][a-z0-9.-]*")
#: the devices a profile's runs may train on
PROFILE_DEVICES = {"cpu", "cuda"}


def _chosen(entry) -> list[StudySpec]:
    """Every study the entry's group chooses, under each of its profiles (once without, if it has none)."""
    profiles = list(entry.profiles) or [None]
    return [spec for profile in profiles for spec in entry.group.choose(StudyRequest(profile=profile))]


@pytest.mark.parametrize("name", list_studies())
def test_every_registered_study_fits_the_one_schema(name):
    """As torchvision's ``test_extended_models`` checks every weight's metadata: each entry's name, description,
    seeds, flags, actions and profiles, and each study its group chooses registered under its own name."""
    entry = get_study(name)
    assert NAME_FORM.fullmatch(name) and name in entry.names, name
    assert entry.description and "\n" not in entry.description and len(entry.description) <= 160, name
    group = entry.group
    assert group.seeds and all(isinstance(s, int) for s in group.seeds) and len(set(group.seeds)) == len(group.seeds)
    assert entry.reads <= REQUEST_PARTS
    assert ("profile" in entry.reads) == bool(entry.profiles) and set(entry.profiles.values()) <= PROFILE_DEVICES
    chosen = _chosen(entry)
    assert chosen, f"{name}: its group chooses no study"
    for spec in chosen:
        assert get_study(spec.name).spec.plan == spec.plan, f"{name}: chooses {spec.name}, registered with another plan"
        module = importlib.import_module(spec.run_one.__module__)
        assert getattr(module, spec.run_one.__name__) is spec.run_one, f"{spec.name}: run_one is not module level"
        assert all(set(spec.store.key) <= set(run) for run in spec.runs), f"{spec.name}: a run lacks a key column"
        assert set(spec.seeds) <= set(group.seeds), f"{spec.name}: seeds its group does not have"
        settings = json.dumps(spec.settings, sort_keys=True, default=str)
        assert not re.search(r" at 0x[0-9a-f]+", settings), f"{spec.name}: a plan that hashes a memory address"
    own = set(entry.actions) - set(group.actions)
    assert own <= {*FLOOR_ACTION, *CHECK_ACTION}, f"{name}: actions {own} neither the group's nor the engine's"
    assert set(group.actions) <= set(entry.actions), f"{name}: an action of its group without a description"
    if "floor" in own:
        assert any(spec.floor is not None for spec in chosen), f"{name}: a floor action, no study with a floor"
    assert ("check" in entry.actions) == any(spec.live_check is not None for spec in chosen), name
