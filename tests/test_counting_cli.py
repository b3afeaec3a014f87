"""``python -m reuseprior analyze`` sub-command (reuseprior.counting.cli_analyze)."""

from __future__ import annotations

import argparse
import json

import pytest

from reuseprior.counting import cli_analyze


def _parse(argv):
    p = argparse.ArgumentParser()
    cli_analyze.add_arguments(p)
    return p.parse_args(argv)


def test_cli_json_and_csv(tmp_path, capsys):
    csv_path = tmp_path / "rows.csv"
    rc = cli_analyze.run(_parse(["squeezenet1_1", "--input", "3,32,32", "--outputs", "1", "--json",
                                 "--csv", str(csv_path)]))
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["NO"] == 1 and out["NI"] == 3 * 32 * 32 and out["NG"] > 0
    assert csv_path.read_text().splitlines()[0].startswith("model,input,PG")


def test_cli_table_and_errors(capsys):
    assert cli_analyze.run(_parse(["squeezenet1_1", "--input", "3,32,32"])) == 0
    assert "P'G (eq. 4.8)" in capsys.readouterr().out
    assert cli_analyze.run(_parse(["no_such_model_xyz"])) == 2
    assert "unknown model" in capsys.readouterr().err
    assert cli_analyze.run(_parse(["squeezenet1_1", "--input", "5,32,32"])) == 1
    assert "does not accept an input of shape" in capsys.readouterr().err


def test_input_shape_parsing_rejects_malformed_sizes():
    assert cli_analyze._shape("3,224,224") == (3, 224, 224)
    assert cli_analyze._shape("3x32x32") == (3, 32, 32)
    for bad in ["3,x,32", "3,,32", "3,32,", "", "3,0,32", "3,-1,32", "three"]:
        with pytest.raises(argparse.ArgumentTypeError, match="--input"):
            cli_analyze._shape(bad)
