"""The generic registry (:mod:`reuseprior.core.registry`): registration once per name, discovery of
the declaring packages, wildcard listing and the message for an unknown name."""

from __future__ import annotations

import sys

import pytest

from reuseprior.core.errors import UnknownEntryError
from reuseprior.core.registry import Registry


def test_register_lists_sorted_and_filters_by_wildcard():
    registry: Registry[int] = Registry("toy", "toy --list")
    for name, value in [("beta", 2), ("alpha", 1), ("alpine", 3)]:
        assert registry.register(name, value) == value
    assert registry.names() == ["alpha", "alpine", "beta"]
    assert registry.names("al*") == ["alpha", "alpine"]
    assert list(registry.items()) == [("alpha", 1), ("alpine", 3), ("beta", 2)]
    assert "beta" in registry and "gamma" not in registry and len(registry) == 3


def test_a_taken_name_is_refused_unless_it_is_the_same_entry():
    registry: Registry[object] = Registry("toy", "toy --list")
    entry = object()
    registry.register("one", entry)
    registry.register("one", entry)
    with pytest.raises(ValueError, match="'one' is already registered"):
        registry.register("one", object())
    with pytest.raises(ValueError, match="non-empty string"):
        registry.register("", object())


def test_a_name_of_another_form_than_the_registry_declares_is_refused_when_it_registers():
    registry: Registry[int] = Registry("toy", "toy --list", name_form=(r"[a-z]+", "lower-case letters"))
    registry.register("good", 1)
    for bad in ("bad-name", "Bad", "good2"):
        with pytest.raises(ValueError, match=rf"toy name '{bad}' is refused: a toy's name is lower-case letters"):
            registry.register(bad, 2)
        with pytest.raises(ValueError, match="is refused"), registry.registered(bad, 2):
            pass
    assert registry.names() == ["good"]


def test_a_registered_block_adds_or_replaces_an_entry_and_restores_the_registry():
    registry: Registry[int] = Registry("toy", "toy --list")
    registry.register("kept", 1)
    with registry.registered("kept", 10), registry.registered("extra", 2):
        assert registry.get("kept") == 10 and registry.names() == ["extra", "kept"]
    assert registry.get("kept") == 1 and registry.names() == ["kept"]


def test_an_unknown_name_names_the_closest_and_the_list_command():
    registry: Registry[int] = Registry("study", "python -m reuseprior study --list")
    registry.register("ch4-confirm", 1)
    with pytest.raises(UnknownEntryError, match=r"unknown study 'ch4-confrm': did you mean 'ch4-confirm'\? list them"):
        registry.get("ch4-confrm")
    with pytest.raises(UnknownEntryError, match=r"unknown study 'zzz': list them with python -m reuseprior study"):
        registry.get("zzz")


def test_discovery_imports_every_module_of_the_declaring_packages(tmp_path, monkeypatch):
    package = tmp_path / "toy_declarations"
    (package / "inner").mkdir(parents=True)
    (tmp_path / "toy_registry_home.py").write_text(
        "from reuseprior.core.registry import Registry\nTOYS = Registry('toy', 'toy --list', ('toy_declarations',))\n"
    )
    (package / "__init__.py").write_text("")
    (package / "first.py").write_text("from toy_registry_home import TOYS\nTOYS.register('first', 1)\n")
    (package / "inner" / "__init__.py").write_text("")
    (package / "inner" / "second.py").write_text("from toy_registry_home import TOYS\nTOYS.register('second', 2)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        home = __import__("toy_registry_home")
        assert home.TOYS.names() == ["first", "second"]
        assert home.TOYS.get("second") == 2
    finally:
        for name in [m for m in sys.modules if m.startswith(("toy_declarations", "toy_registry_home"))]:
            del sys.modules[name]
