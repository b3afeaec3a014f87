"""The proxy registry drives the shared pass and the stored columns of each scores version."""

from __future__ import annotations

import dataclasses

import pytest

from reuseprior.baselines import proxies, registry
from reuseprior.zoo.scoring import scores as zoo_scores
from reuseprior.zoo.scoring import stored_columns


def test_every_data_dependent_proxy_has_a_shared_reading():
    assert set(proxies.SHARED_READINGS) == registry.DATA_DEPENDENT


def test_a_proxy_added_in_a_later_version_leaves_earlier_versions_columns_alone(monkeypatch):
    before = {v: stored_columns(v) for v in (1, 2)}
    new = dataclasses.replace(registry.proxy_info("naswot"), name="newproxy", introduced_in=3, since_version=3)
    monkeypatch.setattr(zoo_scores, "ZOO_PROXIES", (*registry.ZOO_PROXIES, "newproxy"))
    monkeypatch.setitem(registry.REGISTRY, "newproxy", new)
    assert {v: stored_columns(v) for v in (1, 2)} == before
    assert "newproxy" in stored_columns(3) and "newproxy_seconds" in stored_columns(3)


def test_a_proxy_cannot_be_introduced_after_its_definitions_version():
    with pytest.raises(ValueError, match="introduced in version 3"):
        dataclasses.replace(registry.proxy_info("naswot"), introduced_in=3, since_version=2)
