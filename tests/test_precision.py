"""Training precision (reuseprior.core.precision) and which profiles use which."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reuseprior.chapters import ch3_revolver, ch4_sharing_training
from reuseprior.chapters.ch3_revolver import study as ch3_study
from reuseprior.chapters.ch4_sharing_training import designs
from reuseprior.chapters.ch4_sharing_training import real_study as ch4_real_study
from reuseprior.chapters.ch4_sharing_training import runs as ch4_runs
from reuseprior.core.precision import (
    FLOAT32_ACROSS_KERNELS,
    default_dtype,
    loss_precision,
    match_input,
    model_dtype,
    resolve_precision,
    within_float32_tolerance,
)


def test_default_dtype_is_set_inside_the_block_and_restored_after_an_error():
    before = torch.get_default_dtype()
    with pytest.raises(RuntimeError), default_dtype("float64"):
        assert nn.Linear(2, 2).weight.dtype == torch.float64 and torch.tensor(1.0).dtype == torch.float64
        raise RuntimeError("interrupted")
    assert torch.get_default_dtype() == before


def test_an_unknown_precision_names_the_choices():
    with pytest.raises(ValueError, match="'float32' or 'float64'"):
        resolve_precision("float16")
    with pytest.raises(ValueError, match="precision='double'"):
        with default_dtype("double"):
            pass


def test_a_float64_model_reads_float32_batches_and_keeps_its_labels():
    with default_dtype("float64"):
        model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    assert model_dtype(model) == torch.float64
    x, y = torch.ones(4, 3), torch.zeros(4, dtype=torch.long)
    assert match_input(x, model_dtype(model)).dtype == torch.float64 and match_input(y, torch.float64) is y
    assert model(match_input(x, model_dtype(model))).dtype == torch.float64
    assert model_dtype(nn.ReLU()) == torch.get_default_dtype()


class _BuffersUnread(nn.Linear):
    """A model whose buffers must not be listed: reading them raises."""

    def buffers(self, recurse: bool = True):  # noqa: ARG002 (nn.Module's signature)
        raise AssertionError("model_dtype listed the buffers after finding a floating parameter")
        yield  # a generator, as nn.Module's: it raises when listed


def test_the_model_dtype_is_read_from_the_first_floating_tensor_without_listing_the_rest():
    assert model_dtype(_BuffersUnread(2, 2)) == torch.get_default_dtype()


def test_losses_are_computed_at_least_in_float32():
    assert loss_precision(torch.ones(2, dtype=torch.float16)).dtype == torch.float32
    assert loss_precision(torch.ones(2, dtype=torch.float64)).dtype == torch.float64


def test_float32_tolerances_across_kernels():
    pp, rel = FLOAT32_ACROSS_KERNELS["accuracy_pp"], FLOAT32_ACROSS_KERNELS["loss_rel"]
    assert within_float32_tolerance("percent", 80.0, 80.0 + pp) == (f"{pp:g} pp", True)
    assert not within_float32_tolerance("percent", 80.0, 80.0 + 1.01 * pp)[1]
    assert within_float32_tolerance("fraction", 0.80, 0.80 + pp / 100 * 0.99)[1]
    assert not within_float32_tolerance("fraction", 0.80, 0.80 + pp / 100 * 1.01)[1]
    assert within_float32_tolerance("loss", 2.0, 2.0 * (1 + 0.99 * rel)) == (f"rel {rel:g}", True)
    assert not within_float32_tolerance("loss", 2.0, 2.0 * (1 + 1.01 * rel))[1]
    with pytest.raises(ValueError, match="'percent', 'fraction' or 'loss'"):
        within_float32_tolerance("accuracy", 1.0, 1.0)


def test_quick_profiles_train_in_float64_paper_profiles_and_stored_studies_in_float32():
    assert ch3_revolver.PROFILES["quick"].precision == "float64"
    assert ch4_sharing_training.PROFILES["quick"].precision == "float64"
    for profile in ("full", "full-mnist"):
        assert ch3_revolver.PROFILES[profile].precision == "float32"
    assert ch4_sharing_training.PROFILES["full"].precision == "float32"
    assert ch3_study.CPU_STUDY.design.settings.precision == "float32"
    assert ch4_real_study.CPU_STUDY.design.settings.precision == "float32"
    plan = ch4_sharing_training.make_plan(ch4_sharing_training.PROFILES["quick"], profile="quick")
    assert plan.precision == "float64" and "float64" in plan.describe()


def test_the_stored_studies_keep_their_plan_ids():
    """The precision setting joined the profiles after the studies were
    stored: their plans, hence their stored rows, are unchanged."""
    assert not ch4_real_study.CPU_STUDY.rows().empty
    assert not ch3_study.CPU_STUDY.rows().empty
    settings = ch4_real_study.CPU_STUDY.design.settings
    float64_study = settings.__class__(**{**dict(settings), "precision": "float64"})
    other = ch4_runs.training_study(designs.TrainingDesign("x", ("V2-B0-shared",), (0,), float64_study))
    assert other.plan != ch4_real_study.CPU_STUDY.plan


def test_a_bad_precision_in_a_training_profile_is_refused():
    settings = {**ch4_sharing_training.PROFILES["quick"], "precision": "half"}
    with pytest.raises(ValueError, match="precision='half'"):
        ch4_sharing_training.make_plan(settings)
