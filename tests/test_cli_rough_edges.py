"""Command-line rough edges: a closed standard output, ``--only`` of ``study nb201-search``, a flag given without
its names, defaults that ``--help`` did not show, usage errors without the command's name or with the wrong
exit status, a proxy ``--by`` names but ``--proxies`` does not, and abbreviated options."""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import subprocess
import sys

import pandas as pd
import pytest

from reuseprior.commands import COMMANDS, STDOUT_CLOSED_STATUS, main, parser_module
from reuseprior.core import paths


def _help_of(command: str, flag: str) -> str:
    """The ``--help`` text of ``command``'s ``flag``, on one line."""
    parser = argparse.ArgumentParser()
    importlib.import_module(parser_module(command)).add_arguments(parser)
    action = next(a for a in parser._actions if flag in a.option_strings)
    return " ".join((action.help or "").split())


def _usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The message of a usage error (exit 2 through argparse), whitespace normalised."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    return " ".join(capsys.readouterr().err.split())


# ------------------------------------------------------------------------------ a closed standard output
class _ClosedPipe:
    """A standard output whose reader has gone (``... | head``): every write fails as a pipe's does."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")


def test_a_closed_stdout_ends_the_answer_and_the_run_quietly(monkeypatch, capsys):
    from reuseprior.commands import analyze as analyze_command

    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert main(["analyze", "--list-models"]) == STDOUT_CLOSED_STATUS  # answered from the stored names
    monkeypatch.setattr(analyze_command, "run", lambda args: print(args.model) or 0)
    assert main(["analyze", "resnet18"]) == STDOUT_CLOSED_STATUS  # was 'error: [Errno 32] Broken pipe', exit 1
    assert capsys.readouterr().err == ""


def test_analyze_writes_its_csv_row_before_a_closed_stdout_ends_it(monkeypatch, tmp_path):
    """``analyze ... --csv rows.csv | head -2``: the row is appended before the table is printed, so a reader
    that has gone loses none of the file."""
    rows = tmp_path / "rows.csv"
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert main(["analyze", "resnet18", "--input", "3,32,32", "--csv", str(rows)]) == STDOUT_CLOSED_STATUS
    assert pd.read_csv(rows)["model"].tolist() == ["resnet18"]


def test_a_broken_pipe_that_is_not_the_output_is_an_error(monkeypatch, capsys):
    """A pipe to a worker or a subprocess that breaks is a failure of the command, reported as one; only
    the standard output's reader going away ends a command quietly."""
    from reuseprior.commands import analyze as analyze_command

    def run(args):
        raise BrokenPipeError(errno.EPIPE, "Broken pipe to a worker")

    monkeypatch.setattr(analyze_command, "run", run)
    assert main(["analyze", "resnet18"]) == 1
    assert "error: [Errno 32] Broken pipe to a worker" in capsys.readouterr().err


def test_a_closed_stdout_leaves_no_traceback_in_a_fresh_interpreter(tmp_path):
    """The reader closed before the command wrote (as ``| head`` does once it has its lines): no traceback,
    nor the interpreter's 'Exception ignored' at exit; the shell's status for SIGPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "reuseprior", "analyze", "--list-models"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(paths.ROOT)},
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (STDOUT_CLOSED_STATUS, "")


# ------------------------------------------------------------------------------ study nb201-search --only
def test_the_nb201_search_refuses_an_only_value_no_run_has_with_the_values_there_are(tmp_path, capsys):
    store = tmp_path / "runs.csv"
    assert main(["study", "nb201-search", "run", "--only", "protocol=bogus", "--store", str(store)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "python -m reuseprior study: error: --only protocol=bogus matches no run; the protocol values: ["
    ), err
    assert "'naswot'" in err and not store.exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["study", "nb201-search", "status", "--only", "protocol=naswot"], "'status' does not take it"),
        (["study", "nb201-search", "run", "--only", "protocol"], "--only takes COLUMN=VALUE, got ['protocol']"),
        (["search-nb201", "run"], "'search-nb201'; it is now `python -m reuseprior study nb201-search`"),
    ],
)
def test_the_nb201_search_checks_only_as_every_study_does(argv, message, capsys):
    assert message in _usage_error(argv, capsys)


def test_the_nb201_search_names_its_key_columns_for_an_only_column_it_lacks(capsys):
    assert main(["study", "nb201-search", "run", "--only", "seed=1"]) == 2
    assert "the key columns are ['protocol', 'label', 'score']" in capsys.readouterr().err


# ------------------------------------------------------------------------------ analyze-torchvision --models
def test_analyze_torchvision_models_without_a_name_is_refused_not_all_of_them(capsys):
    assert "argument --models: expected at least one argument" in _usage_error(
        ["analyze-torchvision", "--models"], capsys
    )
    parser = argparse.ArgumentParser()
    importlib.import_module(parser_module("analyze-torchvision")).add_arguments(parser)
    assert parser.parse_args([]).models is None  # leaving the flag out: every classifier
    assert "leave the flag out for all of them" in _help_of("analyze-torchvision", "--models")


# ------------------------------------------------------------------------------ defaults in --help
@pytest.mark.parametrize(
    "command, flag, shown",
    [
        ("train", "--seed", "(default 0)"),
        ("train", "--models", "default: the profile's"),
        ("train", "--dataset", "default: the profile's, quick digits, full cifar10"),
        ("train", "--batch-size", "default: the profile's"),
        ("train", "--num-workers", "default: the profile's, quick 0, full 8"),
        ("revolver", "--output-dir", "(default: build/revolver)"),
        ("revolver", "--dataset", "default: the profile's"),
        ("revolver", "--sample-size", "default: the profile's"),
        ("revolver", "--epochs", "default: the profile's"),
        ("revolver", "--warmup-x", "default: the profile's"),
        ("revolver", "--genotype-cost", "default: the profile's"),
        ("score-zoos", "--seed", "(default: the stored table's, else 0;"),
        ("score-zoos", "--max-params", "a number of parameters (e.g. 5e7: 50 million; default: no limit)"),
        ("analyze-torchvision", "--threads", "(default 1)"),
    ],
)
def test_help_shows_the_default(command, flag, shown):
    assert shown in _help_of(command, flag)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_with_a_default_value_names_it_in_help(command):
    parser = argparse.ArgumentParser()
    importlib.import_module(parser_module(command)).add_arguments(parser)
    silent = [
        a.option_strings[0]
        for a in parser._actions
        if a.option_strings
        and a.help != argparse.SUPPRESS
        and a.default not in (None, False, [], argparse.SUPPRESS)
        and "default" not in (a.help or "")
    ]
    assert not silent, f"{command}: --help shows no default for {silent}"


# ------------------------------------------------------------------------------ usage errors
def test_a_misspelt_model_name_is_the_commands_error(capsys):
    assert main(["analyze", "resnt18"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m reuseprior analyze: error: unknown model 'resnt18'"), err


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["build", "nonexist_nb"],
            "python -m reuseprior build: error: no notebook matches ['nonexist_nb']; available:",
        ),
        (
            ["build", "ch5_depth_width", "-p", "nosuchparam", "1"],
            "python -m reuseprior build: error: unknown notebook parameter(s) ['nosuchparam']",
        ),
    ],
)
def test_build_names_a_notebook_or_parameter_that_is_not_there_as_a_usage_error(argv, message, capsys, tmp_path):
    assert message in _usage_error([*argv, "--output-dir", str(tmp_path / "nb")], capsys)
    assert not (tmp_path / "nb").exists()


# ------------------------------------------------------------------------------ compare --by and --proxies
def test_compare_by_a_proxy_not_asked_for_names_the_flag_that_adds_it(capsys):
    err = _usage_error(["compare", "resnet18", "--input", "3,32,32", "--by", "synflow"], capsys)
    assert "add --proxies synflow" in err


def test_compare_a_model_after_the_proxies_says_where_models_go(capsys):
    err = _usage_error(["compare", "--proxies", "synflow", "resnet18", "--input", "3,32,32"], capsys)
    assert "'resnet18' is no proxy" in err and "give the models before it" in err
    assert "give the models before it" in _help_of("compare", "--proxies")


# ------------------------------------------------------------------------------ option spellings
def test_a_shape_given_to_inputs_names_input(capsys):
    err = _usage_error(["analyze", "resnet18", "--inputs", "3,32,32"], capsys)
    assert "argument --inputs: NI, the number of input nodes" in err and "the input's shape is --input 3,32,32" in err


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["analyze", "--list"], "--list"),  # --list-models
        (["study", "ch3", "run", "--seed", "0"], "--seed"),  # --seeds
        (["train", "--model", "V2-S-shared"], "--model"),  # --models
    ],
)
def test_an_abbreviated_option_is_refused_not_taken_for_another(argv, flag, capsys):
    assert f"unrecognized arguments: {flag}" in _usage_error(argv, capsys)
