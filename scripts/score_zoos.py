#!/usr/bin/env python
"""Score the model zoos of chapter 6 and append the rows to data/zoo_scores_v1_<zoo>.csv.

Resumable: architectures already in the CSV are skipped, so the command can
be stopped at any time and run again. Examples::

    nice -n 19 python scripts/score_zoos.py nb201 --limit 500        # first 500 cells of the seeded order
    nice -n 19 python scripts/score_zoos.py nb201                    # all 15,625 cells (days on one CPU core)
    nice -n 19 python scripts/score_zoos.py nb201 --shard 0/2 --full-every 4 &   # two workers sharing one CSV,
    nice -n 19 python scripts/score_zoos.py nb201 --shard 1/2 --full-every 4 &   # data-dependent proxies on 1/4
    python scripts/score_zoos.py torchvision --max-params 30e6
    python scripts/score_zoos.py pytorchcv
    # later: add the data-dependent proxies to stored rows (one shared pass per architecture)
    python scripts/score_zoos.py nb201 --fill-proxies                      # next cells of the seeded order
    python scripts/score_zoos.py torchvision pytorchcv --fill-proxies --isolate   # a process per model
    python scripts/score_zoos.py nb201 --minibatch-sensitivity 150         # other minibatches, same weights

Each row records the cost (seconds) of every score; see reuseprior.zoo.scoring.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reuseprior.zoo.cli_score import add_arguments, run  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
