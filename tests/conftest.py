"""Markers of the test files: a test that uses a Dask client fixture (a
fixture named ``*client``) is marked ``dask``, so ``make test-fast`` (``-m "not
dask and not wheel and not book"``) leaves it out."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(name.endswith("client") for name in getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.dask)
