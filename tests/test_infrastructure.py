"""The shared notebook/reference/data infrastructure."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from reuseprior.core import paths, runtime
from reuseprior.core.errors import RunSettingError
from reuseprior.datasets import load_digits_splits, split_indices
from reuseprior.models import build_model
from reuseprior.reporting import notebook, reference


def test_setup_rejects_unknown_profile_with_the_fix():
    with pytest.raises(notebook.NotebookParameterError, match=r"profile='paper'.*'quick' or 'full'.*-p profile"):
        notebook.setup("t", profile="paper", seed=0, profiles={"quick": {}, "full": {}})


def test_setup_rejects_unknown_override_and_bad_seed(tmp_path):
    profiles = {"quick": {"epochs": 1}, "full": {"epochs": 300}}
    with pytest.raises(notebook.NotebookParameterError, match="epoch"):
        notebook.setup("t", profile="quick", seed=0, output_dir=tmp_path, profiles=profiles, overrides={"epoch": 2})
    with pytest.raises(notebook.NotebookParameterError, match="seed"):
        notebook.setup("t", profile="quick", seed=-1, output_dir=tmp_path, profiles=profiles)


def test_setup_applies_profile_overrides_and_seed(tmp_path):
    profiles = {"quick": {"epochs": 1, "width": 8}, "full": {"epochs": 300, "width": 64}}
    ctx = notebook.setup("t", profile="full", seed=3, output_dir=tmp_path, profiles=profiles, overrides={"epochs": 5})
    assert (ctx.settings.epochs, ctx.settings.width, ctx.seed) == (5, 64, 3)
    first = torch.rand(3)
    runtime.set_seed(3)
    assert torch.equal(first, torch.rand(3))


def test_cuda_request_without_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RunSettingError, match="no CUDA GPU"):
        runtime.resolve_device("cuda")
    assert runtime.resolve_device("auto").type == "cpu"
    # a notebook names the papermill flag that fixes it
    with pytest.raises(notebook.NotebookParameterError, match="no CUDA GPU.*-p device"):
        notebook.setup("t", profile="quick", seed=0, device="cuda", profiles={"quick": {"epochs": 1}})
    with pytest.raises(notebook.NotebookParameterError, match="seed=-1.*non-negative"):
        notebook.setup("t", profile="quick", seed=-1, profiles={"quick": {"epochs": 1}})


def test_save_table_and_figure_are_deterministic(tmp_path):
    import matplotlib.pyplot as plt

    ctx = notebook.setup("t", profile="quick", seed=0, output_dir=tmp_path, profiles={"quick": {}})
    ctx.save_table(pd.DataFrame({"a": [1, 2], "b": [0.5, 1 / 3]}), "tab")
    assert (tmp_path / "tab.csv").read_text().splitlines()[0] == "a,b"
    assert (tmp_path / "tab.json").exists()
    blobs = []
    for _ in range(2):
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        blobs.append(ctx.save_figure(fig, "fig").read_bytes())
        plt.close(fig)
    assert blobs[0] == blobs[1]


@pytest.mark.parametrize(
    "printed, unit", [("10.683", 1e-3), ("7.42e-4", 1e-6), ("14400", 1.0), ("746.608+", 1e-3), ("1.30e-04", 1e-6)]
)
def test_printed_unit(printed, unit):
    assert math.isclose(reference.printed_unit(printed), unit)


def test_side_by_side_classifies_rounding_truncation_and_misses(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "THESIS_DATA_DIR", tmp_path)
    (tmp_path / "demo.csv").write_text("# source: nowhere, p. 0\nname,x\na,1.23\nb,1.23\nc,1.23\nd,2.0\n")
    ours = pd.DataFrame({"name": ["a", "b", "c", "e"], "x": [1.2304, 1.2389, 1.25, 9.0]})
    table = reference.side_by_side(ours, "demo", on=["name"], columns=["x"]).set_index("name")
    assert table.loc["a", "x match"] == "rounded"
    assert table.loc["b", "x match"] == "truncated"
    assert table.loc["c", "x match"] == "off"
    assert table.loc["d", "x match"] == "missing" and table.loc["e", "x match"] == "missing"
    assert math.isclose(table.loc["c", "Δ x"], 0.02)
    assert reference.load_thesis_table("demo").attrs["meta"]["source"] == "nowhere, p. 0"


def test_digits_splits_are_disjoint_fixed_and_standardised():
    a, b = load_digits_splits(seed=1), load_digits_splits(seed=1)
    assert a.sizes() == b.sizes() and sum(a.sizes().values()) == 1797
    assert torch.equal(a.val.tensors[0], b.val.tensors[0])
    assert abs(a.train.tensors[0].mean().item()) < 1e-4
    big = load_digits_splits(seed=1, image_size=32, channels=3)
    assert big.train.tensors[0].shape[1:] == (3, 32, 32) and big.input_shape == (3, 32, 32)
    tr, va = split_indices(100, 0.1, 0)
    assert len(va) == 10 and not set(tr) & set(va)


def test_missing_torchvision_dataset_names_the_download_command(tmp_path):
    from reuseprior.datasets import DatasetNotFoundError, load_torchvision_splits

    with pytest.raises(DatasetNotFoundError, match=r"python -m reuseprior data download cifar10 --data-dir"):
        load_torchvision_splits("cifar10", tmp_path)


def test_failed_download_is_a_clear_error_not_a_traceback(tmp_path, monkeypatch, capsys):
    """No network: the download error names the dataset, the folder, the reason and the way around it."""
    import urllib.error

    import torchvision

    from reuseprior.commands import main
    from reuseprior.datasets import DatasetDownloadError, load_torchvision_splits

    def offline(*args, download=False, **kwargs):
        raise urllib.error.URLError("Name or service not known") if download else RuntimeError("Dataset not found.")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    with pytest.raises(
        DatasetDownloadError,
        match=r"could not download CIFAR10 into .*Name or service not known.*"
        r"on a connected machine",
    ):
        load_torchvision_splits("cifar10", tmp_path, download=True)
    assert main(["data", "download", "cifar10", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "python -m reuseprior data download cifar10" in err and "Traceback" not in err


def test_build_model_resolves_torchvision_and_factories_and_rejects_unknown():
    assert build_model("resnet18").fc.out_features == 1000
    assert isinstance(build_model("torch.nn:Identity"), torch.nn.Identity)
    with pytest.raises(ValueError, match="unknown model 'no_such_net'"):
        build_model("no_such_net")


def test_cli_lists_commands(capsys):
    from reuseprior.commands import main

    assert main([]) == 0
    assert "analyze" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["frobnicate"])


@pytest.mark.parametrize("command", ["analyze", "depth-width", "data", "train", "revolver", "score-zoos", "build"])
def test_every_cli_command_loads_and_prints_its_help(command, capsys):
    from reuseprior.commands import COMMANDS, main

    assert command in COMMANDS
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    assert f"python -m reuseprior {command}" in capsys.readouterr().out


def test_cli_reports_a_missing_dataset_with_the_download_command_and_no_traceback(tmp_path, capsys):
    from reuseprior.commands import main

    code = main(["train", "--profile", "full", "--dataset", "cifar10", "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "python -m reuseprior data download cifar10" in err and "Traceback" not in err


def test_cli_interrupted_command_says_how_to_resume(monkeypatch, capsys):
    from reuseprior.commands import main
    from reuseprior.commands import score_zoos as cli_score

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_score, "run", interrupted)
    assert main(["score-zoos", "nb201", "--fill-proxies"]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "same command to resume" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "flags",
    [
        ["--limit", "-1"],
        ["--limit", "x"],
        ["--full-every", "0"],
        ["--shard", "2/2"],
        ["--shard", "a/b"],
        ["--minibatch-sensitivity", "0"],
        ["--max-memory-gb", "0"],
        ["--max-memory-gb", "nan"],
    ],
)
def test_score_zoos_rejects_bad_flag_values_before_doing_anything(flags, capsys):
    from reuseprior.commands import main

    with pytest.raises(SystemExit) as exit_info:
        main(["score-zoos", "nb201", *flags])
    assert exit_info.value.code == 2
    assert f"argument {flags[0]}" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags, needed",
    [
        (["--isolate"], "add --fill-proxies"),
        (["--retry-out-of-memory", "--rescore", "naswot"], "--rescore and --relabel recompute anyway"),
        (["--fill-proxies", "--max-memory-gb", "8"], "add --isolate to the fill"),
        (["--arch", "x"], "give one zoo and --fill-proxies or --rescore"),
        (["--rescore", "naswot", "--fill-proxies"], "give one of them"),
        (["--with-module", "Swish"], "add --rescore PROXY"),
        (["torchvision", "--fill-proxies", "--arch", "x"], "give one zoo"),
    ],
)
def test_score_zoos_refuses_a_flag_without_the_one_it_needs(flags, needed, capsys):
    from reuseprior.commands import main

    with pytest.raises(SystemExit) as exit_info:
        main(["score-zoos", "nb201", *flags])
    assert exit_info.value.code == 2 and needed in capsys.readouterr().err
