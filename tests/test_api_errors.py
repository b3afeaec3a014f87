"""The public API's answers to bad input: one clear error that names the problem and the fix in
Python terms (no command-line flags), nothing printed before it; ``Report.to_dict`` is strict JSON;
the errors and warnings the README names import from ``reuseprior``; a compiled model is counted as
its module and a TorchScript one refused up front."""

from __future__ import annotations

import json
import math
import sys
import typing

import pandas as pd
import pytest
import torch
import torchvision
from torch import nn

import reuseprior
from reuseprior import analyze, count_contexts
from reuseprior.commands import main
from reuseprior.core import errors
from reuseprior.counting.capture import CaptureError, capture
from reuseprior.counting.quantities import Report


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


# ------------------------------------------------------------------ 1. an input of the wrong shape
@pytest.mark.parametrize("method", ["auto", "meta", "make_fx"])
def test_a_wrong_shape_gets_only_the_clean_error_with_a_python_fix(method, capfd):
    with pytest.raises(ValueError, match=r"does not accept an input of shape \(1, 5\)") as err:
        capture(_mlp(), torch.zeros(1, 5), method=method)
    assert "torch.zeros(1, " in str(err.value) and "--input" not in str(err.value)
    printed = capfd.readouterr()
    assert printed.out == "" and printed.err == ""  # no fake-tensor log nor traceback before the error


class _MisspeltLayer(nn.Module):
    """A forward with a bug of its own, whatever the input: it calls a layer it does not have."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.haed(x)


def test_an_error_of_the_models_own_code_is_placed_in_it():
    """The run's error names where the model's code raised it (not PyTorch's frames), so that a bug in a
    forward is not taken for a wrong input."""
    with pytest.raises(ValueError, match="has no attribute 'haed'") as err:
        analyze(_MisspeltLayer(), torch.zeros(1, 4))
    line = _MisspeltLayer.forward.__code__.co_firstlineno + 1
    assert f"(raised in {__file__}, line {line}, in forward)" in str(err.value)
    assert "if the input is right, fix the model's code where it raised" in str(err.value)
    for model, bad_input in [(_mlp(), torch.zeros(1, 5)), (torchvision.models.resnet18(), torch.zeros(1, 3, 2))]:
        with pytest.raises(ValueError, match="does not accept an input") as err:
            analyze(model, bad_input)  # raised in PyTorch's layer, or torchvision's model: no code of the user's
        assert "raised in" not in str(err.value) and "fix the model's code" not in str(err.value)


def test_an_input_too_large_to_count_names_no_command_line_flag(monkeypatch):
    monkeypatch.setattr(sys.modules["reuseprior.counting.capture"], "physical_memory_bytes", lambda: 2**10)
    with pytest.raises(CaptureError, match=r"give a smaller input") as err:
        capture(nn.Conv2d(3, 8, 3), torch.zeros(1, 3, 32, 32))
    assert "--input" not in str(err.value)


# ------------------------------------------------------------------ 2. several inputs, or a shape for a tensor
class _TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 3), nn.Linear(2, 3)

    def forward(self, x, y):
        return self.a(x) + self.b(y)


def test_a_forward_of_two_inputs_given_one_tensor_is_told_of_the_wrapper():
    with pytest.raises(ValueError, match=r"forward of _TwoInputs needs 2 inputs \(x, y\).*wrapper module") as err:
        analyze(_TwoInputs(), torch.zeros(1, 4))
    assert "missing 1 required positional argument" not in str(err.value)


@pytest.mark.parametrize(
    "shape, fix",
    [((4,), "torch.zeros(1, 4)"), (torch.Size([1, 4]), "torch.zeros(1, 4) if it already starts with the batch")],
)
def test_a_shape_in_place_of_the_tensor_is_told_to_make_a_tensor(shape, fix):
    with pytest.raises(TypeError, match=r"the shape .* not a tensor") as err:
        analyze(nn.Linear(4, 3), shape)
    assert fix in str(err.value) and "several inputs" not in str(err.value)


def test_several_tensors_and_an_array_are_told_their_fix():
    with pytest.raises(TypeError, match=r"tuple of 2 tensors: a model with several inputs .* wrapper module"):
        analyze(_TwoInputs(), (torch.zeros(1, 4), torch.zeros(1, 2)))
    with pytest.raises(TypeError, match=r"torch\.from_numpy"):
        analyze(nn.Linear(4, 3), torch.zeros(1, 4).numpy())


# ------------------------------------------------------------------ 3. unbatched and sequence-first inputs
@pytest.mark.parametrize(
    "model, x, unsqueezed",
    [(nn.Linear(4, 4), torch.zeros(4), "(1, 4)"), (nn.Conv2d(3, 3, 3), torch.zeros(3, 8, 8), "(1, 3, 8, 8)")],
)
def test_an_unbatched_example_is_told_to_unsqueeze(model, x, unsqueezed):
    with pytest.raises(ValueError, match=r"per example") as err:
        analyze(model, x)
    assert f"x.unsqueeze(0) (shape {unsqueezed}) if it is one example without a batch dimension" in str(err.value)


def test_a_sequence_first_input_is_told_of_batch_first():
    with pytest.raises(ValueError, match=r"batch of 5 examples") as err:
        analyze(nn.TransformerEncoderLayer(8, 2, 16), torch.zeros(5, 1, 8))
    message = str(err.value)
    assert "x.transpose(0, 1) (shape (1, 5, 8))" in message and "batch_first=True" in message
    assert "TransformerEncoderLayer is sequence-first" in message


# ------------------------------------------------------------------ 4. nothing to analyse
class _IgnoresItsWeights(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        return {"logits": self.lin(x), "doubled": 2 * x}


def test_a_model_without_parameters_is_named_with_the_cause():
    with pytest.raises(ValueError, match=r"ReLU has no parameters.*pass a model with parameters"):
        analyze(nn.ReLU(), torch.zeros(1, 4))


def test_an_output_that_no_parameter_reaches_is_named_with_the_causes():
    with pytest.raises(ValueError, match=r"no weight of _IgnoresItsWeights has a context") as err:
        analyze(_IgnoresItsWeights(), torch.zeros(1, 4), output_key="doubled")
    assert "output_key='doubled' chooses an output that no parameter reaches" in str(err.value)
    assert "does not depend on them" in str(err.value)


# ------------------------------------------------------------------ 5. to_dict is strict JSON
def test_to_dict_is_strict_json_with_none_for_a_non_finite_value_as_the_command_writes(tmp_path, monkeypatch, capsys):
    report = analyze(nn.Linear(1, 1, bias=False), torch.zeros(1, 1))  # NG = 1: S = 0, PG = log2 0
    assert report.PG == -math.inf and report.to_series()["PG"] == -math.inf  # the numbers keep it
    record = report.to_dict()
    assert record["PG"] is None and record["PE"] is None and record["CE"] is None
    assert json.loads(json.dumps(record, allow_nan=False)) == record
    (tmp_path / "one_weight_models.py").write_text(
        "from torch import nn\n\ndef build():\n    return nn.Linear(1, 1, bias=False)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["analyze", "one_weight_models:build", "--input", "1", "--json"]) == 0
    written = json.loads(capsys.readouterr().out)
    assert {k: written[k] for k in record} == record  # the command writes what to_dict holds: null


# ------------------------------------------------------------------ 6. exports and annotations
@pytest.mark.parametrize("name", ["CaptureError", "DataDependentShapeError", "DataDependentCountWarning"])
def test_the_errors_the_readme_names_import_from_the_top_level(name):
    assert name in reuseprior.__all__ and getattr(reuseprior, name) is getattr(errors, name)


def test_report_s_tables_are_annotated():
    assert typing.get_type_hints(Report.to_series)["return"] is pd.Series
    assert typing.get_type_hints(Report.to_frame)["return"] is pd.DataFrame


# ------------------------------------------------------------------ 7. TorchScript and compiled models
@pytest.mark.filterwarnings("ignore:`torch.jit.:FutureWarning")  # deprecated in torch, still what users pass
@pytest.mark.parametrize("script", [torch.jit.script, lambda m: torch.jit.trace(m, torch.zeros(1, 4))])
def test_a_torchscript_module_is_refused_with_the_eager_fix(script):
    with pytest.raises(CaptureError, match=r"TorchScript module .*pass the eager nn\.Module"):
        analyze(script(nn.Linear(4, 3)), torch.zeros(1, 4))


def test_a_compiled_model_is_counted_as_its_module_without_compiling():
    compiled_graphs = []

    def backend(gm, example_inputs):  # noqa: ARG001 - the signature torch.compile gives a backend
        compiled_graphs.append(gm)
        return gm.forward

    model = _mlp()
    compiled = torch.compile(model, backend=backend)
    report = analyze(compiled, torch.zeros(1, 4))
    assert report.model_name == "Sequential" and report.to_dict() == analyze(model, torch.zeros(1, 4)).to_dict()
    assert set(count_contexts(compiled, torch.zeros(1, 4))) == {n for n, _ in model.named_parameters()}
    assert compiled_graphs == []
