"""``python -m reuseprior <command>``: the command-line interface.

Each sub-command has two modules. ``reuseprior.commands.parsers.<name>``
defines its arguments, ``add_arguments(parser)`` and optionally
``check_arguments(parser, args)`` for flags that only make sense together,
and imports nothing heavy (no torch, pandas or chapter module).
Optionally, ``answer(args) -> int | None`` gives what the light module knows
itself (``analyze``: ``--list-models`` and a misspelt model name, from the
stored names of :mod:`reuseprior.commands.model_names`; ``study``,
``score-zoos`` and ``build``: ``--list``, from the registries' records of
:mod:`reuseprior.commands.listings`, which also name a misspelt study or zoo
to ``check_arguments``): an exit status, or
``None`` to run the command; an error of :mod:`reuseprior.core.errors` it
raises is printed as the command's are. ``reuseprior.commands.<name>`` runs it:
``run(args) -> int``, and optionally ``check_run_arguments(parser, args)`` for
checks that need the library.

Policy: :func:`main` is the one place that imports a command's running
module, and only once the arguments have parsed and passed their checks, so
``--help``, an argument error (a misspelt flag) and what ``answer`` knows
answer without waiting for torch and the model zoo to import. Errors of
:mod:`reuseprior.core.errors` (their messages name the problem and the fix)
are printed without a traceback and exit with 2, a file that cannot be read
or written (``OSError``, naming the file) with 1; Ctrl-C exits with 130 and a
line that says what the command saved, no more (:func:`interrupt_note`); a
standard output closed by its reader (``| head``) ends quietly (:func:`main`).
Usage errors, whether argparse's or the checks', read ``PROG COMMAND: error:
...`` and exit with 2; options are spelt in full (no abbreviations).
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import importlib.metadata
import os
import select
import sys
from pathlib import Path
from typing import Any, Sequence

from reuseprior.core import errors

#: Errors whose message already says what is wrong and what to do.
USER_ERRORS: tuple[type[BaseException], ...] = (
    errors.BookError,
    errors.CaptureError,
    errors.CheckpointMismatchError,
    errors.ClusterError,
    errors.CommandInputError,
    errors.CsvFormatError,
    errors.DatasetDownloadError,
    errors.DatasetNotFoundError,
    errors.DatasetVerificationError,
    errors.MissingReferenceError,
    errors.NotebookNotFoundError,
    errors.NotebookParameterError,
    errors.RunSettingError,
    errors.StoreError,
    errors.TaskFailedError,
    errors.UnknownArchitectureError,
    errors.UnsupportedOpError,
)


class Interrupted(KeyboardInterrupt):
    """Raised by a command that was interrupted (Ctrl-C, or SIGTERM turned into one) and has saved what it
    could; its message says what was saved and how to continue, and :func:`main` prints it."""


#: the actions of the declared studies (``study NAME ACTION``) by what an interrupted one keeps: each run or row
#: stored as it finishes, its table written at the end (nothing kept), nothing stored at all; every declared
#: action is in one of them (``tests/test_study.py`` holds them to the study registry)
STUDY_ACTIONS_KEEPING: dict[str, tuple[str, ...]] = {
    "as they finish": ("run", "floor", "slice", "probes", "fit-checks", "bookkeeping"),
    "at the end": ("fill-scores", "rescore", "sensitivity"),
    "nothing": ("status", "check"),
}


def _either(names: tuple[str, ...]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


#: what an interrupted command has kept, for the commands that store their finished work as they go
#: (``revolver`` and ``depth-width --store`` say it themselves, by raising :class:`Interrupted`)
KEPT_WHEN_INTERRUPTED: dict[str, str] = {
    "study": f"{_either(STUDY_ACTIONS_KEEPING['as they finish'])} store each run or row as it finishes (runs in "
    "progress continue from their checkpoints where the study checkpoints, or start again); "
    f"{_either(STUDY_ACTIONS_KEEPING['at the end'])} write their table at the end and keep nothing: run the same "
    "command to resume or restart",
    "score-zoos": "the finished architectures are stored: run the same command to resume",
    "analyze-torchvision": "the finished models are stored: run the same command to resume",
    "train": "the finished runs are in its results CSV and the training checkpoints: run the same command to "
    "resume (with --resume true where it was given --resume false)",
}


def interrupt_note(command: str, err: KeyboardInterrupt) -> str:
    """What :func:`main` says of an interrupted ``command``: what it saved, and how to go on.

    Policy: it claims only what is true of that command. An :class:`Interrupted` says it itself; a command of
    :data:`KEPT_WHEN_INTERRUPTED` kept what its entry says; any other keeps nothing of the unfinished work
    (what it had written before stays)."""
    if isinstance(err, Interrupted):
        return str(err)
    return KEPT_WHEN_INTERRUPTED.get(command, "the unfinished work is lost: run the same command to start it again")


#: what ``python -m reuseprior --help`` says above the commands (the module docstring is for programmers)
DESCRIPTION = (
    "Count the contexts of any PyTorch model and rank models by the reusability prior (PG, P'G, ES, H, S), and "
    "rebuild the tables, figures and trained studies of Polat's thesis 'The Reusability Prior in Deep Learning "
    "Models'."
)

#: command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "analyze": (
        "reuseprior.commands.analyze",
        "count contexts of any PyTorch model and print PG, P'G, ES, H (thesis ch. 4)",
    ),
    "compare": (
        "reuseprior.commands.compare",
        "rank several models by the prior (PG, P'G, ES, H, S) beside #params, FLOPs and proxies: table, CSV, "
        "JSON, figure",
    ),
    "depth-width": (
        "reuseprior.commands.depth_width",
        "recompute Tables 5.1-5.4 / Figures 5.1-5.2 (thesis section 5.2)",
    ),
    "data": (
        "reuseprior.commands.data",
        "fetch MNIST/Fashion-MNIST (verified) or download a torchvision dataset into a data folder "
        "(explicit, never implicit)",
    ),
    "train": ("reuseprior.commands.train", "train an EfficientNetV2 original vs shared (thesis section 4.5.4)"),
    "revolver": ("reuseprior.commands.revolver", "run a Revolver population search (thesis ch. 3, appendix C.2 flags)"),
    "study": (
        "reuseprior.commands.study",
        "the chapters' declared trained studies into data/ (resumable, one Dask task per run): "
        "study NAME run|status|... (study --list names them)",
    ),
    "score-zoos": (
        "reuseprior.commands.score_zoos",
        "score the declared model zoos (score-zoos --list names them) into data/ (resumable; beyond the thesis)",
    ),
    "analyze-torchvision": (
        "reuseprior.commands.analyze_zoo",
        "analyse every torchvision classifier at its eval crop into data/torchvision_zoo_analysis.csv "
        "(thesis section 4.5.1; resumable)",
    ),
    "build": (
        "reuseprior.commands.build",
        "execute every notebook with papermill on a profile (figures, tables, build/)",
    ),
    "book": ("reuseprior.commands.book", "static site of the executed chapters, as committed (build/book/_build/html)"),
}

#: commands that became declared studies of ``study``: a call of the old name is told the new one
MERGED_INTO_STUDY: dict[str, str] = {"search-nb201": "nb201-search"}


def _load(module_name: str, command: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise SystemExit(f"reuseprior {command}: its module {module_name} is not available ({err})") from err


def parser_module(command: str) -> str:
    """The module that defines ``command``'s arguments (light: see the module docstring)."""
    return COMMANDS[command][0].replace("reuseprior.commands.", "reuseprior.commands.parsers.", 1)


#: the exit status of a command whose standard output was closed before it finished (``... | head``): a shell's
#: for a process that SIGPIPE ended (128 + 13), as ``cat`` or ``yes`` give there
STDOUT_CLOSED_STATUS = 141


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m reuseprior COMMAND ...`` (``argv``: without the program name) and return its exit status.

    Policy: a standard output closed by its reader (``... | head -3``) ends the command quietly, with
    :data:`STDOUT_CLOSED_STATUS`: no traceback, no error line. The one place for it is here, around every
    command (what a command would still print goes to the null device; see the Python documentation's note
    on SIGPIPE).

    Policy: run as a program (``argv`` None), the working directory is on the import path, as ``python -m``
    puts it, so that a model given as ``mymodel:build_net`` is found from the folder that holds
    ``mymodel.py`` by the ``reuseprior`` console script too (:func:`_working_directory_importable`)."""
    if argv is None:
        _working_directory_importable()
    try:
        try:
            status = _dispatch(list(sys.argv[1:] if argv is None else argv))
        finally:  # what is buffered fails here, not at exit
            sys.stdout.flush()
    except BrokenPipeError:
        _discard_stdout()
        return STDOUT_CLOSED_STATUS
    return status


def _working_directory_importable() -> None:
    """Put the working directory first on ``sys.path`` unless it is there (``python -m`` puts it there; a
    console script starts with its own ``bin`` folder there instead)."""
    if sys.flags.safe_path:  # python -P / PYTHONSAFEPATH: the user keeps it off the path
        return
    try:
        here = os.getcwd()
    except OSError:  # a working directory that was deleted: nothing there to import
        return
    if not any(os.path.abspath(entry or os.curdir) == here for entry in sys.path):
        sys.path.insert(0, here)


def _stdout_closed() -> bool:
    """Whether the standard output's reader has gone: flushing it fails as a closed pipe does, or
    (nothing left to flush) its descriptor is a pipe whose read end is closed (``POLLERR``). A broken
    pipe elsewhere (a worker's, a subprocess's) is not this."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        return True
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    if not hasattr(select, "poll"):  # no poll (Windows): take the broken pipe for the output's
        return True
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def _discard_stdout() -> None:
    """Point the standard output's descriptor at the null device, so that the interpreter's last flush of
    what is still buffered does not fail again (a stream without a descriptor, as tests give, is left)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


class _CommandParser(argparse.ArgumentParser):
    """argparse's parser, whose refusal of an unknown option names the close ones it has."""

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> argparse.Namespace:
        parsed, unknown = self.parse_known_args(args, namespace)
        if unknown:
            self.error(f"unrecognized arguments: {' '.join(unknown)}{self._close_options(unknown)}")
        return parsed

    def _close_options(self, unknown: Sequence[str]) -> str:
        """``; did you mean --input?``: the closest option of this parser's to each unknown one."""
        options = [word.split("=")[0] for word in unknown if word.startswith("--")]
        shown = [name for name, action in self._option_string_actions.items() if action.help != argparse.SUPPRESS]
        guesses = {
            option: close[0]
            for option in options
            for close in [difflib.get_close_matches(option, shown, n=1)]
            if close and close[0] != option
        }
        if not guesses:
            return ""
        named = [guess if len(guesses) == 1 else f"{guess} (for {option})" for option, guess in guesses.items()]
        return f"; did you mean {', '.join(named)}? ({self.prog} --help lists every option)"


def _parser(prog: str, description: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A parser of the command line. Policy: options are spelt in full (``allow_abbrev=False``): an abbreviation
    would take a misspelt option for another one (``study ... --seed 0`` for ``--seeds``); an unknown one is
    refused naming the closest option the command has (:class:`_CommandParser`)."""
    return _CommandParser(prog=prog, description=description, allow_abbrev=False, **kwargs)


def _dispatch(argv: list[str]) -> int:
    prog = "reuseprior" if Path(sys.argv[0]).name == "reuseprior" else "python -m reuseprior"  # console script
    parser = _parser(
        prog, DESCRIPTION, epilog=f"Each command's arguments: {prog} COMMAND --help (e.g. {prog} analyze --help)."
    )
    sub = parser.add_subparsers(dest="command", metavar="command")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    if not argv or argv[0] in {"-h", "--help"}:
        parser.print_help()
        return 0
    if argv[0] == "--version":  # the installed distribution's (make env installs the checkout)
        try:
            print(f"reuseprior {importlib.metadata.version('reuseprior')}")
        except importlib.metadata.PackageNotFoundError:
            print("reuseprior (not installed, so no version: pip install -e . or make env)")
        return 0
    if argv[0] not in COMMANDS:
        if argv[0] in MERGED_INTO_STUDY:
            guess = f"it is now `{prog} study {MERGED_INTO_STUDY[argv[0]]}` (the same actions and flags); "
        else:
            close = difflib.get_close_matches(argv[0], list(COMMANDS), n=1)
            guess = f"did you mean {close[0]!r}? " if close else ""
        parser.error(f"unknown command {argv[0]!r}; {guess}choose from {', '.join(COMMANDS)}")
    command, rest = argv[0], argv[1:]
    options = _load(parser_module(command), command)
    cmd_parser = _parser(f"{prog} {command}", COMMANDS[command][1])
    options.add_arguments(cmd_parser)
    args = cmd_parser.parse_args(rest)
    if hasattr(options, "check_arguments"):  # flags that only make sense together (parser.error: exit 2)
        options.check_arguments(cmd_parser, args)
    try:
        return _answer_or_run(options, command, cmd_parser, args)
    except BrokenPipeError as err:
        if _stdout_closed():  # main's: the reader closed the output
            raise
        print(f"{prog} {command}: error: {err}", file=sys.stderr)  # another pipe (a worker's, a subprocess's)
        return 1
    except USER_ERRORS as err:  # a message that names the problem and the fix; no traceback
        print(f"{prog} {command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a file that cannot be read or written: its name and the system's reason
        print(f"{prog} {command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as err:  # Ctrl-C (or SIGTERM, where a command turns it into one)
        print(f"{prog} {command}: interrupted; {interrupt_note(command, err)}", file=sys.stderr)
        return 130


def _answer_or_run(options: Any, command: str, parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """What the light module answers (its errors are the command's: :func:`_dispatch` prints them with the
    command's name), else the command's run, its module imported now."""
    answered = options.answer(args) if hasattr(options, "answer") else None  # from stored names, no torch
    if answered is not None:
        return answered
    module = _load(COMMANDS[command][0], command)  # the heavy import, once the arguments are good
    if hasattr(module, "check_run_arguments"):  # checks that need the library (parser.error: exit 2)
        module.check_run_arguments(parser, args)
    return int(module.run(args) or 0)
