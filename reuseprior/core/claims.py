"""Claims on runs: a process that trains a run claims it first, so that a second process running the
same study skips it instead of training it twice.

Policy: a claim is a small file beside the store (``.<store name>.claims/<plan>-<key digest>.claim``),
made with ``O_EXCL`` under the folder's file lock and holding the claiming process's PID, host and
run. It is released (deleted) when the run is stored or has failed, and every claim a process still
holds is released when it stops. A claim whose process is dead (the same host, a PID that no longer
runs) is stale: the next claimant takes it over, so a killed command never blocks a run. A claim of
another host cannot be checked and holds; the message names its file, to be deleted once that
command is known to be gone.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reuseprior.core.files import file_lock

__all__ = ["RunClaims"]


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (one that exists but is not ours counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class RunClaims:
    """The claims on the runs of plan ``plan`` of the store at ``store`` that this process holds."""

    store: Path
    plan: str
    held: dict[tuple, Path] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        return Path(self.store).parent / f".{Path(self.store).name}.claims"

    def path_of(self, key: tuple) -> Path:
        digest = hashlib.sha256(json.dumps([self.plan, *map(str, key)]).encode()).hexdigest()[:16]
        return self.folder / f"{self.plan}-{digest}.claim"

    def claim(self, key: tuple, label: str) -> str | None:
        """Claim run ``key`` (``label`` names it in the file): None when this process now holds it,
        else who holds it (its PID, host and since when, and the file)."""
        if key in self.held:
            return None
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path_of(key)
        with file_lock(self.folder / "claims"):
            holder = self._holder(path)
            if holder is not None:
                return holder
            path.unlink(missing_ok=True)  # a stale claim (its process is dead), or none
            record = {"pid": os.getpid(), "host": socket.gethostname(), "run": label, "since": time.time()}
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with os.fdopen(descriptor, "w") as fh:
                json.dump(record, fh)
        self.held[key] = path
        return None

    def release(self, key: tuple) -> None:
        """Give up the claim on ``key`` (nothing when this process does not hold it)."""
        path = self.held.pop(key, None)
        if path is not None:
            path.unlink(missing_ok=True)

    def release_all(self) -> None:
        """Give up every claim this process holds."""
        for key in list(self.held):
            self.release(key)

    @staticmethod
    def _holder(path: Path) -> str | None:
        """Who holds the claim at ``path``, or None when there is none or it is stale (its process dead,
        or the file unreadable: a claimant killed while it wrote it)."""
        try:
            record: dict[str, Any] = json.loads(path.read_text())
            pid, host = int(record["pid"]), str(record["host"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if host == socket.gethostname() and (pid == os.getpid() or not _alive(pid)):
            return None
        since = time.strftime("%H:%M:%S", time.localtime(float(record.get("since", 0))))
        return f"claimed by PID {pid} on {host} since {since} (delete {path} if that command is gone)"
