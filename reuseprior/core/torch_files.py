"""Files written by ``torch.save`` read back with ``torch.load(weights_only=True)``, always.

Policy: such a file holds tensors, numbers, strings and containers of them only; a file with any other
pickled object (whose unpickling could run code) is refused *without* unpickling it, and so is a file
that is not a torch file at all, with :class:`~reuseprior.core.errors.UnreadableCheckpointError` naming
the file, what it holds and the fix. Torch's own advice to retry with ``weights_only=False`` is never
passed on: it is the one thing this package never does.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from reuseprior.core.errors import UnreadableCheckpointError

__all__ = ["load_weights_only"]


def load_weights_only(path: str | os.PathLike, what: str, fix: str, origin: str = "a file from elsewhere") -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)``, or :class:`UnreadableCheckpointError`
    saying that ``path`` is not a ``what`` (truncated, corrupt, another kind of file, or one holding a
    pickled object, which ``origin`` says where it may come from), then ``fix``. A missing or unreadable
    file raises ``OSError`` as usual."""
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL ([\w.]+)", str(err)) if "weights only load failed" in str(err).lower() else None
        if found is None:  # no pickled object named: bytes that are no pickle at all
            raise UnreadableCheckpointError(
                f"{path} is not a {what}: torch.load cannot read it ({_first_line(err)}); it is truncated, corrupt "
                f"or another kind of file; {fix}"
            ) from None
        raise UnreadableCheckpointError(
            f"{path} was not loaded: it holds a pickled {found.group(1)}, which a {what} never contains and whose "
            f"unpickling could run arbitrary code, so it is refused unread. It is {origin}; {fix}"
        ) from None
    except Exception as err:  # noqa: BLE001 - truncated, corrupt or another kind of file
        raise UnreadableCheckpointError(
            f"{path} is not a {what}: torch.load cannot read it ({type(err).__name__}: {_first_line(err)}); it is "
            f"truncated, corrupt or another kind of file; {fix}"
        ) from None


def _first_line(err: BaseException) -> str:
    """The first line of ``err``'s message, without torch's advice to load with ``weights_only=False``."""
    line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return line if "weights_only" not in line else "not a file torch.load reads with weights_only=True"
