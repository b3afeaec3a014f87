"""``python -m reuseprior analyze`` sub-command (reuseprior.commands.analyze)."""

from __future__ import annotations

import argparse
import json

import pandas as pd
import pytest
import torch

from reuseprior.commands import analyze as cli_analyze
from reuseprior.commands.parsers.analyze import _shape as parse_shape
from reuseprior.core.errors import CommandInputError


def _parse(argv):
    p = argparse.ArgumentParser()
    cli_analyze.add_arguments(p)
    return p.parse_args(argv)


def test_cli_json_and_csv(tmp_path, capsys):
    csv_path = tmp_path / "rows.csv"
    rc = cli_analyze.run(
        _parse(["squeezenet1_1", "--input", "3,32,32", "--outputs", "1", "--json", "--csv", str(csv_path)])
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["NO"] == 1 and out["NI"] == 3 * 32 * 32 and out["NG"] > 0
    assert csv_path.read_text().splitlines()[0].startswith("model,input,PG")


def test_cli_table_and_errors(capsys):
    assert cli_analyze.run(_parse(["squeezenet1_1", "--input", "3,32,32"])) == 0
    assert "P'G (eq. 4.8)" in capsys.readouterr().out
    with pytest.raises(CommandInputError, match="unknown model 'no_such_model_xyz'"):  # main: exit 2
        cli_analyze.run(_parse(["no_such_model_xyz"]))
    with pytest.raises(CommandInputError, match="does not accept an input of shape") as err:  # main: exit 2
        cli_analyze.run(_parse(["squeezenet1_1", "--input", "5,32,32"]))
    assert "Here the input was built from --input 5,32,32: give the sizes of one example" in str(err.value)


def test_input_shape_parsing_rejects_malformed_sizes():
    assert parse_shape("3,224,224") == (3, 224, 224)
    assert parse_shape("3x32x32") == (3, 32, 32)
    for bad in ["3,x,32", "3,,32", "3,32,", "", "3,0,32", "3,-1,32", "three"]:
        with pytest.raises(argparse.ArgumentTypeError, match="--input"):
            parse_shape(bad)


def test_cli_notes_which_builder_a_name_shared_with_torchvision_used(monkeypatch, capsys):
    built = []
    monkeypatch.setattr(cli_analyze, "build_model", lambda spec: built.append(spec) or torch.nn.Linear(3, 2))
    assert cli_analyze.run(_parse(["efficientnet_v2_s", "--input", "3", "--json"])) == 0
    out, err = capsys.readouterr()
    assert built == ["efficientnet_v2_s"] and json.loads(out)["NO"] == 2  # stdout stays JSON
    assert "note: 'efficientnet_v2_s' is reuseprior's model" in err
    assert "for torchvision's, give 'torchvision.models:efficientnet_v2_s'" in err
    assert cli_analyze.run(_parse(["resnet18", "--input", "3"])) == 0
    assert "note:" not in capsys.readouterr().err


def test_help_records_the_name_and_output_policies():
    p = argparse.ArgumentParser()
    cli_analyze.add_arguments(p)
    text = " ".join(p.format_help().split())
    assert "efficientnet_v2_l build reuseprior's EfficientNetV2" in text
    assert "torchvision.models:efficientnet_v2_s" in text
    assert "--output-key names the entry to analyse; without it such a model is refused" in text


def one_weight() -> torch.nn.Module:
    """A model with one merged weight (NG = 1): S = 0, so PG = log2 0 = -inf (``test_counting_cli:one_weight``)."""
    return torch.nn.Linear(1, 1, bias=False)


def test_a_non_finite_quantity_is_null_in_json_and_a_number_in_csv(tmp_path, capsys):
    csv_path = tmp_path / "rows.csv"
    argv = ["test_counting_cli:one_weight", "--input", "1", "--json", "--csv", str(csv_path)]
    assert cli_analyze.run(_parse(argv)) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["NG"] == 1 and record["PG"] is None and record["PE"] is None
    row = pd.read_csv(csv_path).iloc[0]
    assert row["PG"] == float("-inf") and row["NG"] == 1
