"""``reuseprior.compare`` and ``python -m reuseprior compare``: one test per output
format (table, CSV, JSON, figure) and per failure mode (unknown name, a factory
that raises, a model that cannot be traced, a bad ``--input``), on small
torchvision models at 32x32 (under a second each) and factories defined here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from reuseprior import compare
from reuseprior.analysis.compare import Comparison, _named
from reuseprior.baselines.proxies import PROXIES
from reuseprior.commands import main
from reuseprior.commands.parsers import compare as parsers_compare
from reuseprior.counting import analyze

matplotlib.use("Agg")

SMALL = ["squeezenet1_1", "mobilenet_v3_small"]


def tiny_net() -> nn.Module:
    """A ``module:factory`` for the command line (``test_compare:tiny_net``)."""
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10)
    )


def broken_factory() -> nn.Module:
    raise RuntimeError("this factory always fails")


class Branchy(nn.Module):
    """Python control flow on a tensor's value: no graph can be captured."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3 * 32 * 32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return self.fc(x.flatten(1))
        return 2 * self.fc(x.flatten(1))


@pytest.fixture(scope="module")
def result() -> Comparison:
    models = {name: name for name in SMALL} | {"tiny": tiny_net}
    return compare(models, (3, 32, 32), proxies=["synflow"], progress=False)


def test_the_table_is_ranked_by_pg_with_every_column(result: Comparison) -> None:
    table = result.table
    assert list(table["rank"]) == [1, 2, 3]
    assert table["PG"].is_monotonic_decreasing
    for column in ("PG", "PG_prime", "expected_spread", "entropy", "total_surprisal", "params", "flops", "synflow"):
        assert table[column].notna().all(), column
    assert (table["error"] == "").all()
    direct = analyze(tiny_net(), torch.zeros(1, 3, 32, 32))
    assert table.set_index("model").loc["tiny", "PG"] == pytest.approx(direct.PG, rel=1e-12)


def test_cli_prints_the_table(capsys: pytest.CaptureFixture) -> None:
    rc = main(["compare", *SMALL, "test_compare:tiny_net", "--input", "3,32,32", "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "ranked by PG, input 3x32x32" in out
    assert all(name in out for name in [*SMALL, "test_compare:tiny_net"])


def test_cli_writes_the_csv(tmp_path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "out" / "compare.csv"
    rc = main(["compare", "test_compare:tiny_net", SMALL[0], "--input", "3,32,32", "--csv", str(path), "--no-progress"])
    capsys.readouterr()
    table = pd.read_csv(path)
    assert rc == 0
    assert list(table.columns[:3]) == ["rank", "model", "PG"] and set(table["model"]) == {
        "test_compare:tiny_net",
        SMALL[0],
    }


def test_cli_json_has_one_record_per_model(capsys: pytest.CaptureFixture) -> None:
    rc = main(["compare", "test_compare:tiny_net", "--input", "3,32,32", "--json", "--by", "params", "--no-progress"])
    records = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert [r["model"] for r in records] == ["test_compare:tiny_net"]
    assert records[0]["params"] == 3 * 4 * 9 + 4 + 4 * 10 + 10 and records[0]["rank"] == 1 and records[0]["error"] == ""
    # counts are integers in JSON, as analyze --json writes them
    assert isinstance(records[0]["params"], int) and isinstance(records[0]["flops"], int)


def test_no_models_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one model"):
        compare([], (3, 32, 32))


def test_the_csv_keeps_every_digit(tmp_path) -> None:
    result = Comparison(pd.DataFrame({"model": ["m"], "PG": [1 / 3], "rank": [1]}), "PG", (3, 4, 4))
    assert float(pd.read_csv(result.to_csv(tmp_path / "c.csv"))["PG"].iloc[0]) == 1 / 3


def test_the_csv_writes_the_counts_as_integers_as_the_records_do(tmp_path) -> None:
    """#params and FLOPs are held as floats beside a failed row's NaN; the file gives them as the integers
    they are (``11689512``, not ``11689512.0``), the failed row's cells empty."""
    table = pd.DataFrame(
        {"model": ["m", "failed"], "PG": [0.5, np.nan], "params": [11689512.0, np.nan], "flops": [3.0, np.nan]}
    )
    lines = Comparison(table, "PG", (3, 4, 4)).to_csv(tmp_path / "c.csv").read_text().splitlines()
    assert lines == ["model,PG,params,flops", "m,0.5,11689512,3", "failed,,,"]


@pytest.mark.parametrize(
    ("symbol", "column"), [("P'G", "PG_prime"), ("ES", "expected_spread"), ("H", "entropy"), ("S", "total_surprisal")]
)
def test_by_takes_the_thesis_symbols_and_the_column_names(symbol, column, capsys) -> None:
    """The README's ``--by`` names (P'G, ES, H, S) are taken as well as the column names."""
    assert compare({"tiny": tiny_net}, (3, 32, 32), by=symbol, progress=False).by == column
    tables = []
    for by in (symbol, column):
        assert main(["compare", "test_compare:tiny_net", "--input", "3,32,32", "--by", by, "--no-progress"]) == 0
        out = capsys.readouterr().out
        assert out.startswith(f"ranked by {column}, input 3x32x32\n")
        tables.append([line.split()[:-1] for line in out.splitlines()[1:]])  # the CPU seconds differ
    assert tables[0] == tables[1] and column in tables[0][0]


def test_figure_labels_every_point_with_units(result: Comparison, tmp_path, capsys: pytest.CaptureFixture) -> None:
    fig = result.figure()
    ax = fig.axes[0]
    assert ax.get_ylabel() == "PG (log2 units)" and ax.get_xlabel() == "#parameters (count), log scale"
    assert {t.get_text() for t in ax.texts} == set(result.table["model"])
    path = tmp_path / "cmp.png"
    assert main(["compare", "test_compare:tiny_net", "--input", "3,32,32", "--figure", str(path), "--no-progress"]) == 0
    capsys.readouterr()
    assert path.stat().st_size > 1000


def test_unknown_name_is_reported_and_the_others_scored(capsys: pytest.CaptureFixture) -> None:
    rc = main(["compare", "test_compare:tiny_net", "no_such_net", "--input", "3,32,32", "--json", "--no-progress"])
    records = {r["model"]: r for r in json.loads(capsys.readouterr().out)}
    assert rc == 1
    assert records["test_compare:tiny_net"]["rank"] == 1
    assert records["no_such_net"]["rank"] is None and records["no_such_net"]["PG"] is None
    assert records["no_such_net"]["error"].startswith("build: ValueError: unknown model 'no_such_net'")


def test_a_factory_that_raises_is_reported(capsys: pytest.CaptureFixture) -> None:
    rc = main(
        ["compare", "test_compare:broken_factory", "test_compare:tiny_net", "--input", "3,32,32", "--no-progress"]
    )
    captured = capsys.readouterr()
    assert rc == 1
    assert (
        "test_compare:broken_factory: build: ValueError: calling factory 'test_compare:broken_factory' as factory() "
        "raised RuntimeError: this factory always fails (raised in " in captured.err
    )
    assert "ranked by PG" in captured.out


def test_a_model_that_cannot_be_traced_is_reported() -> None:
    result = compare({"branchy": Branchy, "tiny": tiny_net}, (3, 32, 32), progress=False)
    table = result.table.set_index("model")
    assert table.loc["branchy", "error"].startswith("analyze: CaptureError")
    assert pd.isna(table.loc["branchy", "rank"]) and table.loc["tiny", "rank"] == 1
    assert list(result.failed["model"]) == ["branchy"]


@pytest.mark.parametrize("bad", ["3,x,32", "3,0,32", ""])
def test_bad_input_shape_is_a_usage_error(bad: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "test_compare:tiny_net", "--input", bad])
    assert exit_info.value.code == 2
    assert "--input" in capsys.readouterr().err


def test_usage_errors_name_the_fix(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["compare", "test_compare:tiny_net", "--proxies", "snip"])
    assert "need --batch" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["compare", "test_compare:tiny_net", "--by", "synflow"])
    assert "is not computed" in capsys.readouterr().err
    with pytest.raises(ValueError, match="need a minibatch"):
        compare([tiny_net], (3, 32, 32), proxies=["snip"])


def test_data_dependent_proxies_on_a_user_minibatch(tmp_path, capsys: pytest.CaptureFixture) -> None:
    generator = torch.Generator().manual_seed(0)
    batch = {"inputs": torch.randn(4, 3, 32, 32, generator=generator), "targets": torch.tensor([0, 1, 2, 3])}
    torch.save(batch, tmp_path / "batch.pt")
    args = ["compare", "test_compare:tiny_net", "--batch", str(tmp_path / "batch.pt"), "--proxies", "naswot", "snip"]
    rc = main([*args, "--json", "--by", "snip", "--no-progress"])
    record = json.loads(capsys.readouterr().out)[0]
    assert rc == 0 and record["snip"] > 0 and record["naswot"] is not None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"inputs": [[1.0]], "targets": torch.tensor([0])}, "'inputs' and 'targets' must be tensors"),
        ({"inputs": torch.randn(4, 3, 8, 8), "targets": torch.tensor([0, 1])}, "'targets' (2,); it must hold"),
        ({"inputs": torch.randn(0, 3, 8, 8), "targets": torch.zeros(0, dtype=torch.long)}, "B >= 1"),
        ({"inputs": torch.randn(2, 3, 8, 8), "targets": torch.tensor([0.5, 1.0])}, "must be class indices"),
        ({"images": torch.randn(2, 3, 8, 8)}, "must hold a dict {'inputs'"),
        (b"not a torch file", "is not a minibatch file: torch.load cannot read it"),
    ],
    ids=["list", "sizes", "empty", "float targets", "keys", "not torch"],
)
def test_a_malformed_minibatch_is_named_with_what_it_must_hold(tmp_path, capsys, content, message) -> None:
    path = tmp_path / "batch.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    assert main(["compare", "test_compare:tiny_net", "--batch", str(path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"error: --batch: {path}" in err and message in err and "Traceback" not in err


def test_input_is_refused_beside_a_minibatch_that_sets_the_shape(tmp_path, capsys) -> None:
    path = tmp_path / "batch.pt"
    torch.save({"inputs": torch.randn(2, 3, 8, 8), "targets": torch.tensor([0, 1])}, path)
    with pytest.raises(SystemExit) as stop:
        main(["compare", "test_compare:tiny_net", "--batch", str(path), "--input", "3,64,64"])
    assert stop.value.code == 2 and "--input and --batch both set the example's shape" in capsys.readouterr().err


def test_ties_are_broken_by_model_name() -> None:
    result = compare({"b": tiny_net, "a": tiny_net, "c": tiny_net}, (3, 32, 32), progress=False)
    assert list(result.table["model"]) == ["a", "b", "c"] and list(result.table["rank"]) == [1, 2, 3]


@pytest.mark.parametrize(
    "example, message",
    [
        (4, r"got 4: for one dimension write \(4,\)"),
        ("3,32,32", r"such as \(3, 32, 32\), got '3,32,32'"),
        ((3, 0, 32), r"got \(3, 0, 32\)"),
    ],
)
def test_an_example_input_that_is_neither_a_tensor_nor_a_shape_is_refused(example, message) -> None:
    with pytest.raises(TypeError, match=message):
        compare({"tiny": tiny_net}, example, progress=False)


def test_a_shape_and_a_batch_give_the_same_example() -> None:
    by_shape = compare({"tiny": tiny_net}, (np.int64(3), 8, 8), progress=False)
    by_batch = compare({"tiny": tiny_net}, torch.zeros(5, 3, 8, 8), progress=False)
    assert by_shape.input_shape == by_batch.input_shape == (3, 8, 8)
    assert by_shape.table["PG"].tolist() == by_batch.table["PG"].tolist()


def test_readme_python_block_runs_as_written(tmp_path, monkeypatch) -> None:
    """The README's Python ``compare`` block, run as written (in a scratch folder, where its CSV lands)."""
    import re

    from reuseprior.core import paths

    section = (paths.ROOT / "README.md").read_text().split("## Comparing models", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    result = namespace["result"]
    assert result.by == "PG" and list(result.table["model"]) == ["mobilenet_v3_small", "resnet18"]
    assert result.failed.empty and pd.read_csv(tmp_path / "build" / "compare.csv").shape[0] == 2


def test_a_minibatch_holding_a_pickled_object_is_refused_without_torchs_advice(tmp_path, capsys) -> None:
    """Our policy is weights_only=True always: the refusal never quotes torch's advice to load otherwise."""
    path = tmp_path / "batch.pt"
    torch.save({"inputs": np.zeros((2, 3, 8, 8)), "targets": torch.tensor([0, 1])}, path)
    assert main(["compare", "test_compare:tiny_net", "--batch", str(path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"error: --batch: {path} was not loaded: it holds a pickled numpy" in err and "refused unread" in err
    assert "weights_only" not in err and len(err.strip().splitlines()) == 1


def test_an_input_that_cannot_fit_is_refused_in_one_line_before_it_is_allocated(capsys) -> None:
    """As analyze refuses it: the input alone needs 447 GiB (3 x 200,000 x 200,000 float32)."""
    assert main(["compare", "test_compare:tiny_net", "--input", "3,200000,200000", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error: cannot count on an input of shape (1, 3, 200000, 200000)" in err
    assert "the input alone needs 447.0 GiB of memory" in err and "give a smaller input" in err


def test_a_nan_score_is_named_with_its_model_and_proxy(monkeypatch) -> None:
    monkeypatch.setitem(PROXIES, "synflow", lambda model, batch: float("nan"))
    table = compare({"tiny": tiny_net}, (3, 32, 32), proxies=["synflow"], progress=False).table
    assert table.loc[0, "error"] == "synflow: tiny scored NaN (no value to rank it by)"


def test_the_files_are_written_behind_a_closed_pipe(tmp_path) -> None:
    """``compare ... --csv out.csv --figure f.png | head -c 0``: the reader has gone before the table is
    printed; the files are written first, and the command ends quietly (141, as a SIGPIPE'd command)."""
    csv, figure = tmp_path / "out.csv", tmp_path / "f.png"
    args = ["compare", "test_compare:tiny_net", "--input", "3,32,32", "--no-progress", "--csv", str(csv)]
    command = [sys.executable, "-m", "reuseprior", *args, "--figure", str(figure)]
    env = {"PYTHONPATH": f"{Path(__file__).parent}:{Path(__file__).parents[1]}", "MPLBACKEND": "Agg"}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **env})
    proc.stdout.close()  # the reader goes before anything is printed
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 141, err
    assert "Traceback" not in err and pd.read_csv(csv)["model"].tolist() == ["test_compare:tiny_net"]
    assert figure.stat().st_size > 0


def test_a_failed_rows_message_is_kept_whole_with_its_fix() -> None:
    """A message longer than a line (an input hint, a capture error's fix) reaches the row whole."""
    fix = "Fix: " + "pass an input the model runs on, " * 20 + "end of the fix."

    def refusing() -> nn.Module:
        raise ValueError(fix)

    table = compare({"refusing": refusing, "tiny": tiny_net}, (3, 32, 32), progress=False).table.set_index("model")
    assert table.loc["refusing", "error"] == f"build: ValueError: {fix}"
    assert len(fix) > 400 and table.loc["tiny", "error"] == ""


def test_a_shape_with_a_batch_dimension_is_named_as_the_cause() -> None:
    """``compare(models, (1, 3, 32, 32))``: the shape is one example's, so the model sees 5 dimensions; its
    row says what was built from the shape and what to give. A tensor, the user's own, gets no such note."""
    error = compare({"tiny": tiny_net}, (1, 3, 32, 32), progress=False).table.loc[0, "error"]
    assert error.startswith("analyze: InputRefusedError: ") and error.endswith(
        "The input was zeros of shape (1, 1, 3, 32, 32), built from the shape (1, 3, 32, 32): give the sizes of "
        "one example, without the batch dimension (e.g. (3, 224, 224))"
    )
    error = compare({"tiny": tiny_net}, torch.zeros(1, 3, 5), progress=False).table.loc[0, "error"]
    assert "does not accept an input of shape (1, 3, 5)" in error and "built from the shape" not in error
    error = compare({"tiny": tiny_net}, (2, 32, 32), progress=False).table.loc[0, "error"]  # no batch dimension
    assert "does not accept an input of shape (1, 2, 32, 32)" in error and "built from the shape" not in error


class TwoHeads(nn.Module):
    """A forward that returns a dict: its output is named by a key."""

    def __init__(self) -> None:
        super().__init__()
        self.body = tiny_net()
        self.aux = nn.Conv2d(3, 2, 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": self.body(x), "aux": self.aux(x).flatten(1)}


def two_heads() -> nn.Module:
    """A ``module:factory`` for the command line (``test_compare:two_heads``)."""
    return TwoHeads()


def test_models_of_different_output_structures_are_compared_with_a_key_each() -> None:
    """A mapping gives each model its key (a model it does not name is analysed whole): both rows are
    scored, as each is by analyze with its own key; one key for both refuses the tensor model's row."""
    table = compare(
        {"heads": two_heads, "plain": tiny_net}, (3, 32, 32), output_key={"heads": "logits"}, progress=False
    ).table.set_index("model")
    assert (table["error"] == "").all()
    example = torch.zeros(1, 3, 32, 32)
    assert table.loc["heads", "PG"] == pytest.approx(analyze(two_heads(), example, output_key="logits").PG)
    assert table.loc["plain", "PG"] == pytest.approx(analyze(tiny_net(), example).PG)
    one_key = compare({"heads": two_heads, "plain": tiny_net}, (3, 32, 32), output_key="logits", progress=False)
    refused = one_key.table.set_index("model").loc["plain", "error"]
    assert "returns one tensor" in refused and "drop output_key" in refused
    assert "each model can take its own key: output_key={'plain': KEY} (--output-key plain=KEY)" in refused
    with pytest.raises(ValueError, match=r"output_key names models that are not compared: \['head'\]"):
        compare({"heads": two_heads, "plain": tiny_net}, (3, 32, 32), output_key={"head": "logits"})


def test_cli_gives_each_model_its_output_key(capsys: pytest.CaptureFixture) -> None:
    models = ["test_compare:two_heads", "test_compare:tiny_net"]
    argv = ["compare", *models, "--input", "3,32,32", "--json", "--no-progress"]
    assert main([*argv, "--output-key", "test_compare:two_heads=logits"]) == 0
    records = {r["model"]: r for r in json.loads(capsys.readouterr().out)}
    assert records["test_compare:two_heads"]["error"] == "" and records["test_compare:tiny_net"]["error"] == ""
    for extra, message in [
        (["--output-key", "logits", "--output-key", "test_compare:two_heads=logits"], "mixes KEY and MODEL=KEY"),
        (["--output-key", "two_heads=logits"], "'two_heads' is not one of the models compared"),
        (["--output-key", "a", "--output-key", "b"], "given 2 times without MODEL="),
        (["--output-key", "test_compare:two_heads="], "with a key after '='"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            main([*argv, *extra])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_a_model_given_twice_takes_its_names_key_in_each_row(capsys: pytest.CaptureFixture) -> None:
    """``NAME#2`` (a repeated model's row) takes the key of ``NAME`` unless the mapping names it itself;
    the command takes the names the rows report, as compare gives them."""
    both = compare([two_heads, two_heads], (3, 32, 32), output_key={"two_heads": "logits"}, progress=False)
    assert list(both.table.sort_values("model")["model"]) == ["two_heads", "two_heads#2"]
    assert (both.table["error"] == "").all()
    models = ["test_compare:two_heads", "test_compare:two_heads", "test_compare:tiny_net"]
    argv = ["compare", *models, "--input", "3,32,32", "--json", "--no-progress"]
    assert (
        main([*argv, "--output-key", "test_compare:two_heads=logits", "--output-key", "test_compare:two_heads#2=aux"])
        == 0
    )
    records = {r["model"]: r for r in json.loads(capsys.readouterr().out)}
    assert all(r["error"] == "" for r in records.values())
    assert records["test_compare:two_heads"]["PG"] != records["test_compare:two_heads#2"]["PG"]  # logits vs aux
    assert parsers_compare._reported_names(models) == [name for name, _ in _named(models)]
