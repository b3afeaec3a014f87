"""The snapshot of the registries of studies, chapters and zoos that the listings and the name checks of
the commands read (:mod:`reuseprior.commands.listings`), taken from the live registries.

``python -m reuseprior.commands.registry_snapshot`` rewrites ``reuseprior/commands/registry_snapshot.json``
(atomically) after a study, chapter or zoo is declared, renamed or described anew;
``tests/test_cli_messages.py`` fails, naming this command, while the stored snapshot differs from
:func:`live_snapshot`. This module imports every declaration (torch, every chapter): only the test and
the command above import it.
"""

from __future__ import annotations

from typing import Any

from reuseprior.chapters import CHAPTERS, STUDIES
from reuseprior.commands.listings import SNAPSHOT, live_records
from reuseprior.core.files import write_json
from reuseprior.zoo.scoring import ZOOS

__all__ = ["REFRESH", "live_snapshot", "main"]

#: the command that rewrites the stored snapshot
REFRESH = "python -m reuseprior.commands.registry_snapshot"


def live_snapshot() -> dict[str, Any]:
    """Every registry's records (each registry discovered first), as :data:`~reuseprior.commands.listings.SNAPSHOT`
    stores them."""
    return {
        kind: live_records(kind, registry)
        for kind, registry in (("studies", STUDIES), ("chapters", CHAPTERS), ("zoos", ZOOS))
    }


def main() -> int:
    """Write :func:`live_snapshot` to the stored snapshot and say where."""
    write_json(SNAPSHOT, live_snapshot())
    print(f"wrote {SNAPSHOT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
