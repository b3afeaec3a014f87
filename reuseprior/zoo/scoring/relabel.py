"""Relabelling stored rows whose catalogue row changed: the published accuracy of the row a zoo now
chooses, with every score the old row's input size computed done again.

Policy: a zoo's catalogue chooses one published result row per architecture (timm's: its
ImageNet-1K-only weights if it has any, timm's first-listed tag among them, that tag's native size;
:mod:`reuseprior.zoo.timm_zoo`). When that rule is corrected, the stored rows of the architectures
whose chosen row changed follow it through :func:`relabel_rows`, never by hand:

1. a stored row is *moved* when its stored accuracy differs from its catalogue row's (both empty
   counts as equal); the rows refused at build time move too (their accuracy is all they hold);
2. every score the row was scored for (a stored value, or a message saying why it has none) is
   computed again at the catalogue row's input size, one :func:`~reuseprior.zoo.scoring.rescore_proxies`
   call per set of such scores (each recorded under ``rescored`` in the ``.meta.json``);
3. then the stored accuracy becomes the catalogue's, and the ``.meta.json`` records the move under
   ``relabelled``: each architecture with its old and new accuracy, the chosen weights (``arch.tag``, where
   the catalogue names a tag) and the input size.

An interrupted relabelling leaves the accuracy of a row unchanged until its scores are done, so
running it again finds the same rows and finishes them; a relabelling with nothing moved changes
nothing and records nothing.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from distributed import Client

from reuseprior.baselines.registry import ZOO_PROXIES
from reuseprior.zoo.scoring.fill import rescore_proxies
from reuseprior.zoo.scoring.registry import REUSE_COLUMN, REUSE_SCORES, Zoo, get_zoo
from reuseprior.zoo.scoring.runs import ScoringSession, scoring_session
from reuseprior.zoo.scoring.scores import catalogue_row, error_messages

__all__ = ["moved_rows", "relabel_rows"]

#: Why a relabelling happened, as the ``.meta.json`` records it.
RELABEL_REASON = (
    "the catalogue's chosen result row changed: the published accuracy of the new row, every score "
    "of the row computed again at its input size (see rescored)"
)


def _same(stored: object, published: object) -> bool:
    """Equal accuracies, both empty counting as equal."""
    if _empty(stored) or _empty(published):
        return _empty(stored) and _empty(published)
    return float(stored) == float(published)


def _empty(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def moved_rows(zoo: Zoo, stored: pd.DataFrame) -> list[dict[str, object]]:
    """The stored rows whose accuracy is not their catalogue row's, in the stored order: each as
    ``{"arch", "from", "to", "img_size"}``, and ``weights`` (``arch.tag``) where the catalogue names a tag. A stored
    architecture the catalogue no longer lists is not moved (it keeps its stored accuracy)."""
    catalogue = zoo.catalogue().set_index("arch")
    moved = []
    for row in stored.sort_values(["order", "arch"]).itertuples(index=False):
        if row.arch not in catalogue.index or _same(row.accuracy, catalogue.at[row.arch, "accuracy"]):
            continue
        chosen = catalogue_row(catalogue, row.arch)
        move = {"arch": row.arch, "from": _plain(row.accuracy), "to": _plain(chosen["accuracy"])}
        if "tag" in chosen:  # the weights' full name, as timm's pretrained tags are written
            move["weights"] = f"{row.arch}.{chosen['tag']}"
        moved.append(move | {"img_size": zoo.size_of(pd.Series(chosen))})
    return moved


def _plain(value: object) -> float | None:
    return None if _empty(value) else float(value)


def _scored_for(row: pd.Series) -> tuple[str, ...]:
    """The scores ``row`` was scored for, in :data:`ZOO_PROXIES` order then ``reuse``: a stored value
    or a message naming why it has none."""
    messages = error_messages(row["errors"])
    scores = [p for p in ZOO_PROXIES if p in messages or not _empty(row[p])]
    if REUSE_COLUMN in messages or not _empty(row[REUSE_SCORES[0]]):
        scores.append(REUSE_COLUMN)
    return tuple(scores)


def relabel_rows(
    zoo_name: str,
    *,
    seed: int = 0,
    data_dir: Path | None = None,
    progress: bool = True,
    store: Path | None = None,
    client: Client | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    max_memory_gb: float | None = None,
    device: str = "cpu",
) -> list[dict[str, object]]:
    """Relabel the stored rows of ``zoo_name`` whose catalogue row changed (the module's policy);
    returns the moves recorded (empty when every stored accuracy is its catalogue row's). The
    cluster settings and ``device`` are :func:`~reuseprior.zoo.scoring.rescore_proxies`'s."""
    zoo = get_zoo(zoo_name)
    with scoring_session(zoo_name, data_dir, store, progress) as run:
        stored = run.store.rows(run.spec)
        moved = moved_rows(zoo, stored)
        if not moved:
            return []
    by_scores: dict[tuple[str, ...], list[str]] = {}
    by_arch = stored.set_index("arch")
    for move in moved:
        by_scores.setdefault(_scored_for(by_arch.loc[move["arch"]]), []).append(move["arch"])
    cluster = {"client": client, "scheduler": scheduler, "workers": workers, "max_memory_gb": max_memory_gb}
    for scores, archs in by_scores.items():
        if scores:
            rescore_proxies(
                zoo_name,
                scores,
                archs=archs,
                seed=seed,
                data_dir=data_dir,
                progress=progress,
                store=store,
                device=device,
                **cluster,
            )
    with scoring_session(zoo_name, data_dir, store, progress) as run:
        _store_moves(run, zoo_name, moved)
    return moved


def _store_moves(run: ScoringSession, zoo_name: str, moved: list[dict[str, object]]) -> None:
    """Each moved row's new accuracy, and the ``relabelled`` entry of the ``.meta.json``."""
    for move in moved:
        run.store.modify(run.spec, str(move["arch"]), lambda _current, to=move["to"]: {"accuracy": to})
    entry = {"archs": moved, "why": RELABEL_REASON, "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    run.store.set_meta(run.spec, update=lambda meta: meta | {"relabelled": [*meta.get("relabelled", []), entry]})
    run.changed = True
    changes = [f"{m['arch']} {m['from']} -> {m['to']}" for m in moved]
    run.say(f"{zoo_name}: relabelled {len(moved)} stored rows ({'; '.join(changes)})")
