"""Every error and warning the package raises on purpose, in one place.

Policy: each message names the problem and the fix, so that a command-line
entry point can print it without a traceback and exit with 2.
The modules that raise them re-export them under their old names.
"""

from __future__ import annotations

import functools
import importlib.util
import site
import sys
import sysconfig
import traceback
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "ArchitectureRefusedError",
    "BookError",
    "CaptureError",
    "CheckpointMismatchError",
    "ClusterError",
    "CommandInputError",
    "CsvFormatError",
    "DataDependentCountWarning",
    "DataDependentShapeError",
    "DatasetDownloadError",
    "DatasetNotFoundError",
    "DatasetVerificationError",
    "InputRefusedError",
    "InputsChangedError",
    "OutputKeyError",
    "NoWorkersError",
    "NotebookNotFoundError",
    "NotebookParameterError",
    "OutOfSyncError",
    "MachineKindError",
    "MissingReferenceError",
    "RunSettingError",
    "SharingError",
    "StoreError",
    "TaskFailedError",
    "UnknownArchitectureError",
    "UnknownEntryError",
    "UncountedOpError",
    "UnreadableCheckpointError",
    "UnsupportedOpError",
    "in_one_line",
    "raised_at",
    "raised_in_users_code",
]


def in_one_line(error: BaseException) -> str:
    """An exception in one line: its type, its message's words and the last line of code it passed through
    (``ValueError: no such layer (raised at toy_study.py, line 12)``), so that an exception with no message,
    such as a bare ``assert`` in a library, still says where it came from."""
    words = " ".join(str(error).split())
    return f"{type(error).__name__}{': ' + words if words else ''}{raised_at(error)}"


def raised_at(error: BaseException) -> str:
    """`` (raised at FILE, line N)``: the last line of code ``error`` passed through, or ``""`` for an
    exception that was never raised."""
    frames = traceback.extract_tb(error.__traceback__)
    return f" (raised at {Path(frames[-1].filename).name}, line {frames[-1].lineno})" if frames else ""


#: the names of the folders installers put libraries in, wherever ``sys.path`` has them
_LIBRARY_FOLDER_NAMES = ("site-packages", "dist-packages")


@functools.cache
def _library_folders() -> tuple[Path, ...]:
    """The folders whose code is not the user's, each as written and resolved: this package's,
    PyTorch's (found without importing it), the standard library's (a zipped one included) and every
    folder libraries are installed in (the environment's, the base one of a venv that sees it, the
    user's ``pip install --user`` one, a distribution's ``dist-packages``)."""
    try:
        torch_spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):  # torch half-imported, without a spec: its folder is then unknown
        torch_spec = None
    folders = [
        Path(__file__).parents[1],
        *((torch_spec.submodule_search_locations or []) if torch_spec else []),
        *(sysconfig.get_path(name) for name in ("purelib", "platlib", "stdlib", "platstdlib")),
        *getattr(site, "getsitepackages", list)(),
        site.getusersitepackages(),
        *(entry for entry in sys.path if Path(entry).name in _LIBRARY_FOLDER_NAMES or entry.endswith(".zip")),
    ]
    return tuple(
        dict.fromkeys(form for folder in folders for form in (Path(folder).absolute(), Path(folder).resolve()))
    )


def _is_users(frame: traceback.FrameSummary) -> bool:
    """Whether ``frame`` runs the user's own code: it has a file (not ``<string>``, the import machinery's
    ``<frozen ...>`` or the code torch.fx generates) outside :func:`_library_folders`, as written and
    resolved (a library linked into an install folder is still a library's)."""
    if frame.filename.startswith("<"):
        return False
    written = Path(frame.filename).absolute()
    return not any(
        path.is_relative_to(folder) for path in (written, written.resolve()) for folder in _library_folders()
    )


def raised_in_users_code(error: BaseException) -> str:
    """Where the user's own code raised ``error`` (a model's ``forward``, a factory, a module being
    imported): its innermost frame of the user's code, as `` (raised in FILE, line N, in NAME)``; for a
    ``SyntaxError`` the file and line of the bad syntax itself, which no frame holds.

    Policy: a frame of an installed library, PyTorch, the standard library or this package is never
    named, since it would point the user at code that is not theirs to fix; an error raised inside a
    library the user's code called is placed at the user's call. Empty when no frame is the user's."""
    if isinstance(error, SyntaxError) and error.filename and not error.filename.startswith("<"):
        return f" (raised in {error.filename}, line {error.lineno})"
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if _is_users(frame)]
    if not frames:
        return ""
    frame = frames[-1]
    return f" (raised in {frame.filename}, line {frame.lineno}, in {frame.name})"


# Counting: capture (reuseprior.counting.capture)


class CaptureError(RuntimeError):
    """The model could not be traced into an ATen graph."""


class InputRefusedError(ValueError):
    """The model does not run on the example input (a wrong shape or dtype): its counts would mean
    nothing. The message carries the model's own error and the form of an input it runs on."""


class OutputKeyError(ValueError):
    """The output to count is not one tensor: a container output without ``output_key``, a key given
    for a one-tensor output, a key the output does not hold, or one that selects a container. The
    message names the output's structure and the fix."""


class DataDependentShapeError(CaptureError):
    """The captured graph holds an op whose output shape depends on the data
    (boolean-mask indexing, ``masked_select``, ``nonzero``, ``unique``) between a
    parameter and the outputs: its element count, and so every path through it,
    is unknown until the data is seen.  Raised by the sweep with the op and the
    fixed-shape rewrite (``torch.where(mask, x, 0)``, ``x * mask``)."""


# Counting: count rules (reuseprior.counting.rules)


class UnsupportedOpError(NotImplementedError):
    """An ATen op without a counting rule was reached while propagating counts."""


# Counting: the sweep (reuseprior.counting.sweep)


class DataDependentCountWarning(UserWarning):
    """The counts depend on the *values* of the example input, not only on its shape
    (``nn.Embedding`` token ids, a mask computed from the input): they are exact for
    that input and may differ for another one."""


# Datasets (reuseprior.datasets)


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is not on disk and downloading was not requested."""


class DatasetDownloadError(RuntimeError):
    """Downloading a dataset was requested and failed (no network, server down)."""


class DatasetVerificationError(ValueError):
    """A dataset file is there but is not the pinned one (wrong hash, bad idx
    header, wrong image count, truncated). Nothing is loaded from it."""


# Command-line input


class CommandInputError(ValueError):
    """What a command was given cannot be used (a flag's value, a file, a model): the message names it
    and the fix, to be printed in one line with exit status 2."""


# A run's seed and device (reuseprior.core.runtime)


class MissingReferenceError(LookupError):
    """A check's stored reference (what a live check holds a recomputation to) is not stored for the plan
    asked about: the message names what is missing, where it was looked for and how to store it."""


class RunSettingError(ValueError):
    """A run's seed or device has a value that cannot be used here: names the setting, the value and
    what is accepted (``setting``, ``value`` and ``expected`` are kept for a caller that spells the
    setting its own way)."""

    def __init__(self, setting: str, value: object, expected: str):
        self.setting, self.value, self.expected = setting, value, expected
        super().__init__(f"{setting}={value!r} cannot be used: expected {expected}")


class MachineKindError(ValueError):
    """A run would train on another kind of machine than its study allows: a seed whose runs must share
    one machine kind, a checkpoint begun on another kind, or a CPU whose kernels are not pinned where the
    study pins them (:func:`reuseprior.core.cpu.machine_kind`); names the kinds and the fix."""


# Training checkpoints (reuseprior.training.loop)


class CheckpointMismatchError(RuntimeError):
    """A checkpoint does not belong to the run that tries to resume from it."""


class UnreadableCheckpointError(CheckpointMismatchError, ValueError):
    """The file is not a checkpoint this version reads: an older format, another
    kind of file, or one holding pickled objects, which are never unpickled."""


# Notebook parameters (reuseprior.reporting.notebook)


class NotebookParameterError(ValueError):
    """A papermill parameter has an invalid value, or names no parameter the notebooks declare."""


class InputsChangedError(RuntimeError):
    """The stored results a notebook reads changed while it ran (a study storing a row meanwhile): its
    outputs may read two states of them, so the executed copy is not kept. The message names the files
    and the command that runs the notebook again."""


class NotebookNotFoundError(LookupError):
    """No notebook matches the names asked for; the message lists the notebooks there are."""


# The book (reuseprior.reporting.book)


class BookError(RuntimeError):
    """The book cannot be built as asked; the message names the problem and the fix."""


# Registries (reuseprior.core.registry)


class UnknownEntryError(LookupError, ValueError):
    """A name no registry entry has (a study, chapter or zoo): the message names the closest
    registered names and how to list them all."""


# Zoo scores (reuseprior.zoo.scoring)


class UnknownArchitectureError(LookupError):
    """An architecture name that the zoo's stored scores do not hold."""


class ArchitectureRefusedError(RuntimeError):
    """A zoo's architecture that cannot be scored here (its constructor fails without weights, or it
    needs more memory than the machine has): the message says why and how much. A scoring run
    stores the row with this reason and goes on."""


# The score store (reuseprior.zoo.store)


class StoreError(RuntimeError):
    """A store that cannot be used as asked; the message says what to do."""


class OutOfSyncError(StoreError):
    """The CSV changed since the store last imported or exported it."""


class CsvFormatError(ValueError):
    """A malformed CSV: the message names the file, the line (``None``: the file as a whole, e.g. a
    compressed stream that cannot be read) and the fix."""

    def __init__(self, path: Path, line: int | None, problem: str, fix: str = "") -> None:
        self.path, self.line = path, line
        where = f"{path}, line {line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {problem}" + (f"; {fix}" if fix else ""))


# Distributed scoring (reuseprior.zoo.distributed)


class TaskFailedError(RuntimeError):
    """A task raised an exception on its worker (not a killed worker): the run stops. The message names
    the task and the exception, in one line."""


class ClusterError(RuntimeError):
    """The Dask cluster cannot be used: a scheduler address that does not answer, workers that do not
    start, more workers than the machine holds; the message names the problem and the fix."""


class NoWorkersError(ClusterError):
    """Every worker of the cluster is gone and none came back within the grace period: the tasks still
    open cannot finish. ``unfinished`` holds the jobs that had started and not finished."""

    def __init__(self, message: str, unfinished: Sequence[object] = ()) -> None:
        super().__init__(message)
        self.unfinished = list(unfinished)


# Model complexity (reuseprior.baselines.complexity)


class UncountedOpError(RuntimeError):
    """A compute-heavy op ran without a FLOP formula: it would count as zero."""


# Sharing schemes (reuseprior.models.sharing)


class SharingError(ValueError):
    """A sharing scheme cannot be applied as asked: an unknown scheme or option,
    a budget the scheme cannot meet, or a layer type it cannot generate."""
