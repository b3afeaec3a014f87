"""The models the commands know (issue 61): a registry filled where each builder is declared, listed with
``list_models(pattern)`` and read with ``get_model_builder(name)``; the older names keep working."""

from __future__ import annotations

import pytest
from torch import nn

from reuseprior.core.errors import UnknownEntryError
from reuseprior.models import available_models, build_model, get_model_builder, list_models
from reuseprior.models.registry import MODELS, register_model


def test_every_registered_builder_is_listed_and_found_by_name():
    names = list_models()
    assert names == sorted(names) == available_models() and "toy_graph" in names  # no import of toy needed
    assert list_models("efficientnet_v2_b*") == [f"efficientnet_v2_b{k}" for k in range(4)]
    for name in names:
        builder = get_model_builder(name)
        assert callable(builder) and builder.__doc__, f"{name}: a builder says what it builds"
    assert isinstance(build_model("constant_width_mlp", depth=2, width=4), nn.Module)


def test_an_unknown_name_names_the_closest_and_a_taken_name_is_refused(register):
    with pytest.raises(UnknownEntryError, match=r"unknown reuseprior model 'efficientnet_v2_b9': did you mean"):
        get_model_builder("efficientnet_v2_b9")
    with pytest.raises(ValueError, match="'toy_graph' is already registered"):
        register_model("toy_graph")(lambda: nn.Identity())

    def identity() -> nn.Module:
        """An identity (a test's model)."""
        return nn.Identity()

    register(MODELS, "test_identity", identity)
    assert "test_identity" in list_models("test_*") and isinstance(build_model("test_identity"), nn.Identity)
