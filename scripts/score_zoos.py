#!/usr/bin/env python
"""Alias of ``python -m reuseprior score-zoos`` (same flags; see its ``--help``).

Scores the model zoos of chapter 6, one Dask task per architecture (a
LocalCluster of one worker per core, or ``--scheduler ADDRESS``), commits
each finished row to the store (``build/zoo_scores.sqlite``) and exports
``data/zoo_scores_v1_<zoo>.csv`` when the run ends. Resumable: stored
architectures are skipped, so the command can be stopped (or killed) at any
time and run again. Examples::

    python scripts/score_zoos.py nb201 --limit 500                 # first 500 cells of the seeded order
    python scripts/score_zoos.py nb201 --workers 16 --full-every 4 # data-dependent proxies on 1/4
    python scripts/score_zoos.py torchvision --max-params 30e6
    python scripts/score_zoos.py nb201 --fill-proxies              # proxies of stored rows that lack them
    python scripts/score_zoos.py pytorchcv --fill-proxies --isolate --max-memory-gb 18
    python scripts/score_zoos.py nb201 --export                    # store -> data/ CSV
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reuseprior.commands import main as cli_main  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    return cli_main(["score-zoos", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
