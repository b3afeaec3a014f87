"""Command-line messages a new user meets: option spellings, misspelt model
names, unimportable ``module:factory`` specs and models with several outputs.
Each message must name the problem and the fix."""

from __future__ import annotations

import argparse
import importlib
import itertools
import json
import os
import re
import site
import sys
import textwrap
import traceback
from collections import namedtuple

import pytest
import torch
from torch import nn

from reuseprior.chapters import list_chapters, list_studies
from reuseprior.commands import COMMANDS, _working_directory_importable, main
from reuseprior.core import errors
from reuseprior.core.errors import OutputKeyError
from reuseprior.counting import analyze, count_contexts
from reuseprior.models import build_model
from reuseprior.models.registry import available_models, collision_note
from reuseprior.zoo import scoring


def _command_parser(command: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m reuseprior {command}")
    importlib.import_module(COMMANDS[command][0]).add_arguments(parser)
    return parser


# ------------------------------------------------------------------------------ option spellings
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_documented_option_is_spelt_with_hyphens(command):
    parser = _command_parser(command)
    shown = [s for a in parser._actions if a.help != argparse.SUPPRESS for s in a.option_strings]
    assert shown and not [s for s in shown if "_" in s], f"{command}: options with underscores in --help: {shown}"


def test_revolver_takes_data_dir_and_keeps_the_appendix_spellings_as_hidden_aliases():
    parser = _command_parser("revolver")
    hyphen = parser.parse_args("--data-dir d --batch-size 8 --search-mode random --min-lr .1 --output-dir o".split())
    under = parser.parse_args("--data_dir d --batch_size 8 --search_mode random --min_lr .1 --output_dir o".split())
    assert vars(hyphen) == vars(under)
    assert (hyphen.data_dir, hyphen.batch_size, hyphen.search_mode) == ("d", 8, "random")
    assert vars(parser.parse_args([]))["output_dir"] == "build/revolver"  # defaults unchanged
    text = parser.format_help()
    assert "--data-dir DATA_DIR" in text and "--data_dir DATA_DIR" not in text
    assert "underscore spellings of thesis appendix C.2" in text


# ------------------------------------------------------------------------------ model names
def test_misspelt_model_name_gets_the_close_names_and_how_to_list_them(capsys):
    with pytest.raises(ValueError) as err:
        build_model("efficientnet_v2_x")
    msg = str(err.value)
    assert "unknown model 'efficientnet_v2_x'" in msg
    assert "did you mean efficientnet_v2_s, efficientnet_v2_m, efficientnet_v2_l" in msg
    assert "python -m reuseprior analyze --list-models" in msg and "package.module:factory" in msg
    assert main(["analyze", "efficientnet_v2_x", "--input", "3,224,224"]) == 2
    assert "did you mean efficientnet_v2_s" in capsys.readouterr().err


def test_unknown_command_gets_the_close_name(capsys):
    with pytest.raises(SystemExit):
        main(["analyse", "resnet18"])
    assert "did you mean 'analyze'?" in capsys.readouterr().err


def test_a_misspelt_option_gets_the_close_one_and_an_unknown_one_none(capsys):
    for argv, said in [
        (["analyze", "resnet18", "--inptu", "3,32,32"], "arguments: --inptu 3,32,32; did you mean --input?"),
        (["study", "ch3-confirm", "status", "--seed=200"], "unrecognized arguments: --seed=200; did you mean --seeds?"),
        (["analyze", "resnet18", "--inptu", "3", "--jsno"], "did you mean --input (for --inptu), --json (for --jsno)?"),
        (["analyze", "resnet18", "--zzzz"], "unrecognized arguments: --zzzz\n"),
        (["analyze", "resnet18", "--", "--json"], "unrecognized arguments: --json\n"),  # itself: no guess
        (["score-zoos", "nb201", "--shardz", "2"], "unrecognized arguments: --shardz 2\n"),  # --shard is hidden
    ]:
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2 and said in capsys.readouterr().err, argv


def test_the_working_directory_is_put_on_the_import_path_once_and_a_deleted_one_is_left(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "path", ["/nowhere"])
    monkeypatch.chdir(tmp_path)
    _working_directory_importable()
    _working_directory_importable()
    assert sys.path == [str(tmp_path), "/nowhere"]
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    _working_directory_importable()  # os.getcwd() fails: nothing to import from there, no traceback
    assert sys.path == [str(tmp_path), "/nowhere"]


@pytest.mark.parametrize("job", ["--status", "--export", "--upgrade", "--minibatch-sensitivity=5"])
def test_score_zoos_refuses_a_seed_for_a_job_it_does_not_act_on(job, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["score-zoos", "nb201", job, "--seed", "1"])
    assert exit_.value.code == 2 and "leave --seed out" in capsys.readouterr().err


def test_a_model_class_given_for_a_model_is_told_to_be_instantiated():
    with pytest.raises(TypeError, match=r"got type \(the class itself\); pass an instance of it, Linear\(\.\.\.\)"):
        analyze(nn.Linear, torch.zeros(1, 2))


def test_list_models_prints_both_libraries_and_marks_the_shared_names(capsys):
    assert main(["analyze", "--list-models"]) == 0
    out = capsys.readouterr().out
    assert "efficientnet_v2_b0" in out and "resnet18" in out
    assert "efficientnet_v2_s  (torchvision's of this name: torchvision.models:efficientnet_v2_s)" in out
    assert set(available_models()) < set(available_models(include_torchvision=True))
    with pytest.raises(SystemExit) as exit_:
        main(["analyze"])
    assert exit_.value.code == 2
    assert "MODEL is required" in capsys.readouterr().err


def test_names_shared_with_torchvision_say_which_builder_and_how_to_get_the_other():
    import torchvision

    for name in ("efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l"):
        note = collision_note(name)
        assert note is not None and "reuseprior's model" in note and f"'torchvision.models:{name}'" in note
    assert collision_note("efficientnet_v2_b0") is None and collision_note("resnet18") is None
    from reuseprior.core.factories import import_factory

    assert import_factory("torchvision.models:efficientnet_v2_s") is torchvision.models.efficientnet_v2_s
    assert "torchvision.models:efficientnet_v2_s" in _command_parser("analyze").format_help()


# ------------------------------------------------------------------------------ module:factory
_counter = itertools.count()


@pytest.fixture
def user_package(tmp_path, monkeypatch):
    """A fresh importable package ``pkg`` in ``tmp_path`` with modules from ``{name: source}``."""

    def make(modules: dict[str, str]) -> str:
        pkg = f"rp_userpkg_{next(_counter)}"
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
        for name, source in modules.items():
            (tmp_path / pkg / f"{name}.py").write_text(textwrap.dedent(source))
        return pkg

    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield make
    for name in set(sys.modules) - before:
        if name.startswith("rp_userpkg_"):
            del sys.modules[name]


def test_module_not_on_the_import_path_names_the_path_and_the_three_fixes(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError) as err:
        build_model("rp_no_such_pkg.models:build_net")
    msg = str(err.value)
    assert "no module named 'rp_no_such_pkg' on the import path" in msg
    assert f"the working directory is {str(tmp_path)!r}" in msg and "sys.path) begins" in msg
    assert "run the command from the folder that holds the package 'rp_no_such_pkg'" in msg
    assert "PYTHONPATH=" in msg and "pip install" in msg


def test_file_path_instead_of_module_name_is_named():
    with pytest.raises(
        ValueError, match=r"'mypkg/models.py' is a file path, not a module name.*'mypkg.models:build_net'"
    ):
        build_model("mypkg/models.py:build_net")


def test_module_without_the_factory_lists_close_names(user_package):
    pkg = user_package({"models": "import torch\ndef build_net():\n    return torch.nn.Linear(3, 2)\n"})
    assert isinstance(build_model(f"{pkg}.models:build_net"), nn.Linear)
    with pytest.raises(ValueError) as err:
        build_model(f"{pkg}.models:build_nte")
    msg = str(err.value)
    assert f"module '{pkg}.models'" in msg and "was imported but has no attribute 'build_nte'" in msg
    assert "did you mean build_net?" in msg and f"give '{pkg}.models:FUNCTION'" in msg


def test_missing_submodule_of_a_found_package_is_told_apart(user_package):
    pkg = user_package({"models": "x = 1\n"})
    with pytest.raises(ValueError, match=rf"package '{pkg}' .* was found but has no module 'modelz'.*spelling"):
        build_model(f"{pkg}.modelz:build_net")


def test_exception_while_importing_is_shown_with_its_place(user_package):
    pkg = user_package(
        {"boom": "x = 1\nraise RuntimeError('no GPU configured')\n", "needs": "import rp_absent_dependency_xyz\n"}
    )
    with pytest.raises(ValueError) as err:
        build_model(f"{pkg}.boom:build")
    msg = str(err.value)
    assert f"importing module '{pkg}.boom' raised RuntimeError: no GPU configured" in msg
    assert "boom.py, line 2" in msg and "Fix that error in the module" in msg
    with pytest.raises(ValueError) as err:
        build_model(f"{pkg}.needs:build")
    msg = str(err.value)
    assert f"module '{pkg}.needs' was found but importing it raised ModuleNotFoundError" in msg
    assert (
        "rp_absent_dependency_xyz" in msg
        and "needs.py, line 1" in msg
        and "pip install rp_absent_dependency_xyz" in msg
    )


def test_an_error_raised_inside_a_library_is_placed_at_the_users_call(user_package):
    """A module whose import-time call into a library (here the standard library's json) raises is placed
    at the user's line that made the call, never at the library's line, which is not theirs to fix."""
    pkg = user_package({"config": "import json\nx = 1\nSETTINGS = json.loads('{')\n"})
    with pytest.raises(ValueError) as err:
        build_model(f"{pkg}.config:build")
    msg = str(err.value)
    assert "raised JSONDecodeError" in msg and "config.py, line 3, in <module>)" in msg
    assert "decoder.py" not in msg and "importlib" not in msg


def test_a_syntax_error_in_an_imported_helper_is_placed_at_the_bad_line(user_package):
    """A SyntaxError's place is its own file and line (no frame holds it), not the line that imported it."""
    pkg = user_package({"helper": "x = 1\ndef broken(:\n    pass\n", "models": "from . import helper\n"})
    with pytest.raises(ValueError) as err:
        build_model(f"{pkg}.models:build")
    msg = str(err.value)
    assert "raised SyntaxError" in msg and f"{os.path.join(pkg, 'helper.py')}, line 2)" in msg
    assert "models.py" not in msg


@pytest.mark.parametrize(
    "folder", [site.getusersitepackages(), "/usr/lib/python3/dist-packages", *site.getsitepackages()]
)
def test_no_install_folder_is_taken_for_the_users_code(folder, monkeypatch):
    """A frame in the user's site-packages, a distribution's dist-packages (when on sys.path) or the
    environment's install folders is a library's; a frame in a project folder is the user's."""
    monkeypatch.setattr(sys, "path", [*sys.path, "/usr/lib/python3/dist-packages"])
    errors._library_folders.cache_clear()
    try:
        library = traceback.FrameSummary(os.path.join(folder, "somelib", "core.py"), 3, "run")
        assert not errors._is_users(library)
        assert errors._is_users(traceback.FrameSummary("/home/me/project/models.py", 3, "forward"))
    finally:
        errors._library_folders.cache_clear()


def test_malformed_spec_and_non_callable_say_what_to_give(user_package):
    pkg = user_package({"models": "WIDTH = 3\n"})
    with pytest.raises(ValueError, match="is not 'package.module:factory'; give e.g. 'mypkg.models:build_net'"):
        build_model(f"{pkg}.models:")
    with pytest.raises(ValueError, match=r"is not callable \(it is of type int\); give"):
        build_model(f"{pkg}.models:WIDTH")


def test_cli_prints_import_errors_without_a_traceback(user_package, capsys):
    pkg = user_package({"boom": "raise RuntimeError('no GPU configured')\n"})
    assert main(["analyze", f"{pkg}.boom:build"]) == 2
    err = capsys.readouterr().err
    assert "raised RuntimeError: no GPU configured" in err and "Traceback" not in err


def test_a_factory_that_raises_or_needs_arguments_is_named_without_a_traceback(user_package, capsys):
    pkg = user_package(
        {
            "models": """
            import torch.nn as nn
            def broken():
                raise RuntimeError('boom in factory')
            def sized(n):
                return nn.Linear(n, n)
            """
        }
    )
    with pytest.raises(ValueError) as err:
        build_model(f"{pkg}.models:broken")
    msg = str(err.value)
    assert f"calling factory '{pkg}.models:broken' as factory() raised RuntimeError: boom in factory" in msg
    assert "models.py, line 4" in msg and "Fix that error in the factory" in msg
    with pytest.raises(ValueError, match=r"cannot be called as factory\(\): missing a required argument: 'n'"):
        build_model(f"{pkg}.models:sized")
    with pytest.raises(ValueError, match=r"cannot be called as factory\(width=3\): missing a required argument: 'n'"):
        build_model(f"{pkg}.models:sized", width=3)
    assert main(["analyze", f"{pkg}.models:broken", "--input", "3"]) == 2
    err = capsys.readouterr().err
    assert "raised RuntimeError: boom in factory" in err and "Traceback" not in err


def test_a_factory_that_calls_sys_exit_is_named_in_one_line_not_taken_for_the_commands_exit(user_package, capsys):
    """Issue 73: a factory raising SystemExit(3) made ``analyze`` exit 3 with no word."""
    pkg = user_package({"models": "import sys\ndef quits():\n    sys.exit(3)\n"})
    assert main(["analyze", f"{pkg}.models:quits", "--input", "3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"calling factory '{pkg}.models:quits' as factory() raised SystemExit(3) (it called sys.exit or exit)" in err
    assert "models.py, line 3" in err


def test_output_files_are_checked_before_any_work(tmp_path, capsys):
    """A folder, a file standing where a folder should be, or a figure that is no PNG: exit 2 at once."""
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    cases = [
        (["analyze", "resnet18", "--csv", str(tmp_path)], "is a folder; name a file in it"),
        (["analyze", "resnet18", "--csv", str(a_file / "rows.csv")], "is a file, not a folder"),
        (["compare", "resnet18", "--csv", str(tmp_path)], "is a folder; name a file in it"),
        (["compare", "resnet18", "--figure", str(tmp_path / "fig.txt")], "the figure is written as PNG"),
        (["analyze-torchvision", "--out", str(tmp_path)], "is a folder; name a file in it"),
        (["analyze", "resnet18", "--bn-params", "-3"], "must be an integer >= 0, got '-3'"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 2 and message in capsys.readouterr().err, argv


def test_a_file_that_cannot_be_written_is_named_without_a_traceback(monkeypatch, tmp_path, capsys):
    """An error of the system while writing (here: no temporary file can be made) names the file asked
    for, not the temporary one, and the command exits 1."""

    def refuse(*args, **kwargs):
        raise FileNotFoundError(2, "No such file or directory", str(tmp_path / ".rows.csv.x.tmp"))

    monkeypatch.setattr("tempfile.mkstemp", refuse)
    rows = tmp_path / "rows.csv"
    assert main(["analyze", "squeezenet1_1", "--input", "3,32,32", "--csv", str(rows)]) == 1
    err = capsys.readouterr().err
    assert f"cannot create a file in {tmp_path}: No such file or directory: '{rows}'" in err
    assert "Traceback" not in err and ".tmp" not in err


def test_analyze_csv_records_the_settings_and_refuses_a_file_of_other_columns(tmp_path, capsys):
    rows = tmp_path / "rows.csv"
    argv = ["analyze", "squeezenet1_1", "--input", "3,32,32", "--csv", str(rows)]
    assert main([*argv, "--discount", "0.5"]) == 0
    assert main([*argv, "--bn-params", "2"]) == 0
    header, first, second = (line.split(",") for line in rows.read_text().splitlines())
    assert header[-3:] == ["discount", "bn_params", "output_key"]
    assert first[-3:] == ["0.5", "4", ""] and second[-3:] == ["1.0", "2", ""]
    other = tmp_path / "other.csv"
    other.write_text("rank,model,PG\n1,x,2\n")
    capsys.readouterr()
    assert main(["analyze", "squeezenet1_1", "--input", "3,32,32", "--csv", str(other)]) == 2
    err = capsys.readouterr().err
    assert "is not a table of this command (columns it does not write: ['rank']; columns it lacks: ['input'," in err
    assert other.read_text() == "rank,model,PG\n1,x,2\n"


def test_analyze_csv_of_an_earlier_version_gains_the_settings_columns(tmp_path):
    """A table written before the settings were recorded keeps its rows, the new columns empty there."""
    rows = tmp_path / "rows.csv"
    assert main(["analyze", "squeezenet1_1", "--input", "3,32,32", "--csv", str(rows)]) == 0
    header, row = rows.read_text().splitlines()
    old_columns = header.split(",")[:-3]
    old_row = ",".join(row.split(",")[:-3])
    rows.write_text(",".join(old_columns) + "\n" + old_row + "\n")
    assert main(["analyze", "squeezenet1_1", "--input", "3,32,32", "--csv", str(rows), "--discount", "0.5"]) == 0
    lines = rows.read_text().splitlines()
    assert lines[0] == header and lines[1] == old_row + ",,," and lines[2].endswith(",0.5,4,")


@pytest.mark.parametrize("command", [["train"], ["revolver"], ["study", "ch7", "run"]])
def test_a_device_that_is_no_device_is_refused_by_the_flag(command, capsys):
    with pytest.raises(SystemExit) as stop:
        main([*command, "--device", "banana"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and 'argument --device: must be "cpu", "cuda", "cuda:N"' in err


def test_version_is_the_package_s(capsys):
    import reuseprior

    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"reuseprior {reuseprior.__version__}\n"


def test_analyze_torchvision_refuses_a_name_that_is_no_classifier(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["analyze-torchvision", "--models", "resnet19"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "['resnet19'] are not torchvision classifiers; did you mean" in err
    assert "resnet18" in err


# ------------------------------------------------------------------------------ model outputs
class _Trunk(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b, self.c = nn.Linear(3, 4), nn.Linear(4, 2), nn.Linear(4, 5)

    def heads(self, x):
        h = torch.relu(self.a(x))
        return self.b(h), self.c(h)


class _DictOut(_Trunk):
    def forward(self, x):
        logits, aux = self.heads(x)
        return {"logits": logits, "aux": aux}


class _TupleOut(_Trunk):
    def forward(self, x):
        return self.heads(x)


_Pair = namedtuple("_Pair", "logits aux")


class _NamedOut(_Trunk):
    def forward(self, x):
        return _Pair(*self.heads(x))


class _LogitsOnly(_Trunk):
    def forward(self, x):
        return self.heads(x)[0]


def test_several_outputs_are_refused_with_their_structure_and_the_fix():
    x = torch.zeros(1, 3)
    for model, shown in [
        (_DictOut(), "a dict {'logits': tensor (1, 2), 'aux': tensor (1, 5)}"),
        (_TupleOut(), "a tuple of 2 entries [0: tensor (1, 2), 1: tensor (1, 5)]"),
        (_NamedOut(), "a _Pair of 2 entries ['logits': tensor (1, 2), 'aux': tensor (1, 5)]"),
    ]:
        for fn in (analyze, count_contexts):
            with pytest.raises(OutputKeyError) as err:  # a ValueError
                fn(model, x)
            msg = str(err.value)
            assert f"returns {shown}, not one tensor" in msg, msg
            assert "output_key=KEY" in msg and "--output-key KEY" in msg and "wrap the model" in msg


def test_output_key_analyses_one_output_exactly_like_a_one_tensor_model():
    x = torch.zeros(1, 3)
    plain = analyze(_LogitsOnly(), x).to_dict()
    for model, key in [(_DictOut(), "logits"), (_TupleOut(), 0), (_TupleOut(), "0"), (_NamedOut(), "logits")]:
        assert analyze(model, x, output_key=key).to_dict() == plain
    aux = analyze(_TupleOut(), x, output_key=-1)
    assert aux.NO == 5 and aux.model_name == "_TupleOut"
    counts = count_contexts(_DictOut(), x, output_key="logits")
    assert set(counts) == {"a.weight", "a.bias", "b.weight", "b.bias", "c.weight", "c.bias"}
    assert torch.equal(counts["b.weight"], count_contexts(_LogitsOnly(), x)["b.weight"])
    assert torch.isinf(counts["c.weight"]).all()  # the other head has no path to the chosen output


def test_output_key_mistakes_are_named():
    x = torch.zeros(1, 3)
    assert issubclass(OutputKeyError, ValueError)
    with pytest.raises(OutputKeyError, match=r"output_key='nope' is not an entry of the output of _DictOut.*give one"):
        analyze(_DictOut(), x, output_key="nope")
    with pytest.raises(ValueError, match=r"output_key='5' is not an entry .* tuple of 2 entries"):
        analyze(_TupleOut(), x, output_key="5")
    with pytest.raises(ValueError, match=r"returns one tensor; drop output_key \(--output-key\)"):
        analyze(_LogitsOnly(), x, output_key="logits")


def test_cli_output_key(user_package, capsys):
    pkg = user_package(
        {
            "nets": """
        import torch
        from torch import nn

        class Heads(nn.Module):
            def __init__(self):
                super().__init__()
                self.a, self.b = nn.Linear(3, 4), nn.Linear(4, 2)

            def forward(self, x):
                return {"logits": self.b(self.a(x)), "features": self.a(x)}

        def build():
            return Heads()
    """
        }
    )
    assert main(["analyze", f"{pkg}.nets:build", "--input", "3"]) == 2  # a usage error: the fix is --output-key
    err = capsys.readouterr().err
    assert "returns a dict {'logits': tensor (1, 2), 'features': tensor (1, 4)}, not one tensor" in err
    assert "--output-key KEY" in err
    assert main(["analyze", f"{pkg}.nets:build", "--input", "3", "--output-key", "logits", "--json"]) == 0
    assert '"NO": 2' in capsys.readouterr().out


def test_score_zoos_with_a_data_dir_holding_no_rows_says_what_to_do(tmp_path, capsys):
    """Issue 16, defect 7: a missing --data-dir gave a traceback."""
    from reuseprior.commands import main

    assert main(["score-zoos", "nb201", "--fill-proxies", "--data-dir", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "no stored rows for nb201" in err and "score-zoos nb201" in err and "Traceback" not in err


# ------------------------------------------------------------------------------ build (issue 35, items 9 and 14)
def test_build_takes_a_chapters_own_profile_for_that_chapter_only(capsys):
    """Issue 35, item 14: ``build ch3_revolver --profile full-mnist`` was documented but an invalid choice."""
    from reuseprior.commands import build as cli_build

    parser = _command_parser("build")
    args = parser.parse_args(["ch3_revolver", "--profile", "full-mnist"])
    cli_build.check_run_arguments(parser, args)  # accepted
    with pytest.raises(SystemExit):
        cli_build.check_run_arguments(parser, parser.parse_args(["--profile", "full-mnist"]))
    assert "build ch3_revolver --profile full-mnist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli_build.check_run_arguments(parser, parser.parse_args(["ch3_revolver", "--profile", "ful"]))
    err = capsys.readouterr().err
    assert "unknown profile 'ful'" in err and "full-mnist" in err and "build --list" in err


def test_build_knows_every_chapters_own_profiles():
    from reuseprior.commands.build import chapter_profiles
    from reuseprior.core import paths

    own: dict[str, set[str]] = {}
    for path in paths.NOTEBOOKS_DIR.glob("ch*.ipynb"):  # a chapter module per notebook
        profiles = getattr(importlib.import_module(f"reuseprior.chapters.{path.stem}"), "PROFILES", {})
        for name in set(profiles) - {"quick", "full"}:
            own.setdefault(name, set()).add(path.stem)
    assert {name: set(chapters) for name, chapters in chapter_profiles().items()} == own


def test_build_takes_path_parameters_as_written_and_setup_names_a_bad_output_dir():
    """Issue 35, item 9: ``build ch4_contexts -p output_dir 42`` ended in a bare TypeError."""
    from reuseprior.commands.build import notebook_parameter
    from reuseprior.core.errors import NotebookParameterError
    from reuseprior.reporting.notebook import setup

    assert notebook_parameter("output_dir", "42") == "42" and notebook_parameter("seed", "42") == 42
    with pytest.raises(NotebookParameterError, match=r"output_dir=42: expected a folder path as a string"):
        setup("ch4_contexts", profile="quick", seed=0, output_dir=42, profiles={"quick": {"a": 1}})


def test_readme_counts_the_cells_exempt_from_nbval():
    """Issue 35, item 14: the README said three cells carry NBVAL_IGNORE_OUTPUT; chapter 7 has one too (and
    chapters 3, 4 and 6 one each beside their live checks since)."""
    from reuseprior.core import paths

    count = sum(p.read_text().count("# NBVAL_IGNORE_OUTPUT\n") for p in paths.NOTEBOOKS_DIR.glob("ch*.py"))
    words = {3: "Three", 4: "Four", 5: "Five", 6: "Six", 7: "Seven", 8: "Eight", 9: "Nine"}
    page = paths.ROOT / "docs" / "notebook-conventions.md"  # moved out of the README (issue 35, item 15)
    assert f"{words[count]} cells are exempt (`# NBVAL_IGNORE_OUTPUT`)" in page.read_text()


@pytest.mark.parametrize("action", ["download cifar10", "fetch mnist", "verify mnist"])
def test_a_data_dir_that_is_a_file_is_named_without_a_network_hint(tmp_path, capsys, action):
    """Issue 35, item 9: ``data download cifar10 --data-dir <a file>`` said "File exists" and blamed the network."""
    afile = tmp_path / "afile"
    afile.write_text("")
    assert (
        main(["data", *action.split(), "--data-dir", str(afile), *(["--no-install"] if "fetch" in action else [])]) == 2
    )
    err = capsys.readouterr().err
    assert f"the data folder {afile} is a file, not a folder" in err
    assert "network" not in err and "File exists" not in err and "Traceback" not in err


# ------------------------------------------------------------------ fast argument errors (issue 35, item 12)
def test_help_and_argument_errors_import_no_heavy_module():
    """A misspelt flag took ~20 s to be reported: the command's module imported torch and the zoo first.
    Each command's arguments now come from a light module; this runs every command's --help and a
    misspelt flag in a fresh interpreter and checks that torch, pandas and the chapters were not imported."""
    import subprocess

    from reuseprior.core import paths

    code = textwrap.dedent(
        """
        import contextlib, io, sys
        from reuseprior.commands import COMMANDS, main
        for command in COMMANDS:
            for flags in (["--help"], ["--no-such-flag"]):
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    try:
                        main([command, *flags])
                    except SystemExit as done:
                        assert done.code == (0 if flags == ["--help"] else 2), (command, flags, done.code)
        heavy = ("torch", "pandas", "numpy", "reuseprior.chapters", "reuseprior.zoo.scoring")
        heavy = [m for m in heavy if m in sys.modules]
        print("heavy:", heavy)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=paths.ROOT, check=True)
    assert done.stdout.strip() == "heavy: []", done.stdout + done.stderr


# ------------------------------------------------------------ stored model names (issue 45, item 8)
def test_the_stored_model_names_are_the_librarys_and_the_locked_torchvisions():
    """A misspelt name and ``--list-models`` took 4.5-8 s (torch and torchvision imported to list names); they
    answer from :mod:`reuseprior.commands.model_names` now, which must hold the live names."""
    import importlib.metadata

    from reuseprior.commands import model_names
    from reuseprior.core import paths
    from reuseprior.models.registry import torchvision_names

    ours = tuple(available_models())
    assert model_names.REUSEPRIOR_MODELS == ours, (
        "a model was registered or renamed: in reuseprior/commands/model_names.py, REUSEPRIOR_MODELS must list "
        f"{' '.join(ours)}"
    )
    locked = re.search(r"^torchvision==(\S+)$", (paths.ROOT / "requirements-lock.txt").read_text(), re.M)
    assert locked and model_names.TORCHVISION_VERSION == locked.group(1), "the lock moved torchvision: store its names"
    if importlib.metadata.version("torchvision") == model_names.TORCHVISION_VERSION:
        live = tuple(sorted(torchvision_names()))
        assert model_names.TORCHVISION_MODELS == live, f"TORCHVISION_MODELS must list {' '.join(live)}"
        assert model_names.stored_names() == (ours, live)
    else:
        assert model_names.stored_names() is None  # another torchvision: the command asks the libraries


def test_the_stored_listing_is_the_live_one(capsys):
    from reuseprior.commands import analyze as analyze_command

    analyze_command._list_models()
    live = capsys.readouterr().out
    assert main(["analyze", "--list-models"]) == 0
    assert capsys.readouterr().out == live


def test_misspelt_names_and_missing_modules_answer_without_torch(tmp_path):
    """In a fresh interpreter: the library's messages, and neither torch nor torchvision imported."""
    import subprocess

    from reuseprior.core import paths
    from reuseprior.core.factories import import_factory

    code = textwrap.dedent(
        """
        import contextlib, io, sys
        from reuseprior.commands import main
        for argv in (["analyze", "efficientnet_v2_x"], ["analyze", "rp_no_such_pkg.models:build_net"],
                     ["analyze", "mypkg/models.py:build_net"], ["analyze", "--list-models"]):
            err = io.StringIO()
            with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(err):
                status = main(argv)
            print(status, err.getvalue().strip() or out.getvalue().splitlines()[0])
        print("heavy:", [m for m in ("torch", "torchvision", "numpy", "pandas") if m in sys.modules])
        """
    )
    env = {**os.environ, "PYTHONPATH": str(paths.ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env, check=True
    )
    lines = done.stdout.splitlines()
    assert lines[-1] == "heavy: []", done.stdout + done.stderr
    misspelt, no_module, file_path, listing = lines[:4]
    with pytest.raises(ValueError) as err:
        build_model("efficientnet_v2_x")
    assert misspelt == f"2 python -m reuseprior analyze: error: {err.value}"
    for line, spec in ((no_module, "rp_no_such_pkg.models:build_net"), (file_path, "mypkg/models.py:build_net")):
        with pytest.raises(ValueError) as err:
            import_factory(spec)
        # the library's words; the working directory and the import path differ between the two interpreters
        expected = "2 python -m reuseprior analyze: error: " + str(err.value).split(" (the working directory")[0]
        assert line.startswith(expected), line
    assert listing == "0 reuseprior models:"


# ------------------------------------------------- the registries' stored snapshot (issue 74, item 1)
def test_the_stored_registry_snapshot_is_the_live_registries():
    """``study --list``, ``score-zoos --list``, ``build --list`` and a misspelt study or zoo answer from the
    stored snapshot of the registries in a fresh process (:mod:`reuseprior.commands.listings`): it must hold
    every declared study, chapter and zoo as the live registries do."""
    from reuseprior.commands import listings, registry_snapshot

    live = registry_snapshot.live_snapshot()
    assert listings.stored_snapshot() == live, (
        f"a study, chapter or zoo was declared, renamed or described anew: run {registry_snapshot.REFRESH}"
    )
    assert {record["name"] for record in live["zoos"]["entries"]} == set(scoring.list_zoos())
    assert {name for record in live["studies"]["entries"] for name in record["names"]} == set(list_studies())


def test_listings_and_misspelt_names_answer_from_the_snapshot_without_the_declarations(capsys):
    """In a fresh interpreter (the registries not imported): the four answers of issue 74 are those the live
    registries give here, and neither torch, pandas, a chapter nor a zoo was imported."""
    import subprocess

    from reuseprior.core import paths

    asked = (
        ["study", "--list"],
        ["score-zoos", "--list"],
        ["build", "--list"],
        ["study", "ch44", "status"],
        ["score-zoos", "nb2O1"],
        ["study", "--list", "table42-gpu-*"],
    )
    code = textwrap.dedent(
        f"""
        import contextlib, io, json, sys
        from reuseprior.commands import main
        answers = []
        for argv in {asked!r}:
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    status = main(argv)
                except SystemExit as done:
                    status = done.code
            answers.append([status, out.getvalue(), err.getvalue()])
        heavy = ("torch", "pandas", "numpy", "reuseprior.chapters", "reuseprior.zoo")
        print(json.dumps({{"answers": answers, "heavy": [m for m in heavy if m in sys.modules]}}))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=paths.ROOT, check=True)
    stored = json.loads(done.stdout)
    assert stored["heavy"] == [], done.stderr
    assert list_studies() and list_chapters() and scoring.list_zoos()  # here the live registries answer
    for argv, answer in zip(asked, stored["answers"]):
        try:
            status = main(list(argv))  # this process: the live registries
        except SystemExit as stop:
            status = stop.code
        captured = capsys.readouterr()
        assert answer == [status, captured.out, captured.err], argv
    assert "did you mean 'ch4'" in stored["answers"][3][2] and "did you mean 'nb201'" in stored["answers"][4][2]


def test_the_names_the_light_parsers_repeat_are_the_librarys():
    from reuseprior import datasets
    from reuseprior.analysis.compare import OPTIONAL_PROXIES, QUANTITIES, SYMBOLS
    from reuseprior.baselines import registry
    from reuseprior.chapters import ch3_revolver, ch4_sharing_training, ch5_depth_width
    from reuseprior.commands import COMMANDS, parser_module, parsers
    from reuseprior.core.declared_study import REQUEST_PARTS
    from reuseprior.reporting import book
    from reuseprior.revolver import search
    from reuseprior.zoo import scoring, torchvision_analysis

    assert {f"reuseprior.commands.parsers.{name}" for name in parsers.__all__} == set(map(parser_module, COMMANDS))

    p = {name: importlib.import_module(f"reuseprior.commands.parsers.{name}") for name in parsers.__all__}
    assert p["analyze_zoo"].DEFAULT_OUT == torchvision_analysis.DEFAULT_OUT
    assert p["book"].DEFAULT_BOOK_DIR == book.DEFAULT_BOOK_DIR
    assert p["data"].FETCHABLE == datasets.FETCHABLE
    assert p["data"].TORCHVISION_NAMES == tuple(sorted(datasets.splits.TORCHVISION_CLASSES))
    assert p["depth_width"].TABLES == tuple(sorted(ch5_depth_width.TABLES))
    assert p["depth_width"].STORED_RUN == ch5_depth_width.STORED_RUN
    assert p["revolver"].PROFILES == tuple(sorted(ch3_revolver.PROFILES))
    assert p["revolver"].SEARCH_MODES == search.SEARCH_MODES
    assert p["score_zoos"].SCORES_VERSION == scoring.SCORES_VERSION
    assert set(p["study"].REQUEST_PART.values()) == REQUEST_PARTS  # each flag a part of a request a study reads
    assert (p["compare"].QUANTITIES, p["compare"].OPTIONAL_PROXIES) == (QUANTITIES, OPTIONAL_PROXIES)
    assert p["compare"].SYMBOLS == SYMBOLS
    assert p["compare"].DATA_DEPENDENT == tuple(x for x in OPTIONAL_PROXIES if x in registry.DATA_DEPENDENT)
    assert p["train"].PROFILES == tuple(sorted(ch4_sharing_training.PROFILES))
    assert p["train"].MODELS == tuple(ch4_sharing_training.MODELS)
    assert p["train"].RECIPES == tuple(sorted(ch4_sharing_training.RECIPES))


def test_the_top_level_help_reads_as_text(capsys):
    """Issue 45, item 9: ``python -m reuseprior --help`` showed the module docstring's first line, reST
    markup included."""
    assert main(["--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "``" not in out and ":mod:" not in out
    assert "reusability prior" in out and "COMMAND --help" in out
