"""Relabelling the stored rows whose catalogue row changed: the published accuracy of the row the zoo
now chooses, once every score of the stored row has been computed again at that row's input size.

Policy: a zoo's catalogue chooses one published result row per architecture (timm's: its
ImageNet-1K-only weights if it has any, timm's first-listed tag among them, that tag's native size;
:mod:`reuseprior.zoo.timm_zoo`). When that rule is corrected, the stored rows of the architectures
whose chosen row changed follow it through :func:`relabel_rows`, never by hand:

1. a stored row is *moved* when its stored accuracy differs from its catalogue row's (both empty
   counts as equal);
2. every score the row was scored for (a stored value, or a message saying why it has none) is
   computed again at the catalogue row's input size, one :func:`~reuseprior.zoo.scoring.rescore_proxies`
   call per set of such scores (each recorded under ``rescored`` in the ``.meta.json``). A row refused
   before any score (its ``build`` message) has none to compute; one refused for memory is named, since
   its refusal was judged at the old size (``score-zoos ZOO --retry-out-of-memory`` judges it again);
3. the rows whose scores were all computed again take the catalogue's accuracy, and the
   ``.meta.json`` records them under ``relabelled`` (each architecture with its old and new accuracy,
   the chosen weights ``arch.tag`` where the catalogue names a tag, and the input size), all in one
   transaction of the store. A row whose rescoring failed keeps its accuracy and is named.

The timing columns of the model's build, the shared pass of the data-dependent proxies and the
reusability count keep the times measured at the old size (a rescoring times each score alone, not
those passes); the data-free scores' own timings are replaced. An interrupted relabelling leaves every
accuracy and the record as they were, so running it again finds the same rows; two at once record a
row once; a relabelling with nothing moved changes and records nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from distributed import Client

from reuseprior.baselines.registry import ZOO_PROXIES
from reuseprior.zoo.scoring.fill import rescore_proxies, stored_rows
from reuseprior.zoo.scoring.registry import REUSE_COLUMN, REUSE_SCORES, Zoo, get_zoo
from reuseprior.zoo.scoring.runs import ScoringSession, scoring_session
from reuseprior.zoo.scoring.scores import catalogue_row, error_messages, refused_for_memory

__all__ = ["Relabelling", "moved_rows", "relabel_rows"]

#: Why a relabelling happened, as the ``.meta.json`` records it.
RELABEL_REASON = (
    "the catalogue's chosen result row changed: the published accuracy of the new row, every score "
    "of the row computed again at its input size (see rescored)"
)


@dataclass(frozen=True)
class Relabelling:
    """What :func:`relabel_rows` did: the ``moves`` stored and recorded (see :func:`moved_rows`), the
    moved rows ``not_rescored`` (a rescoring task failed: accuracy kept), and the moved rows refused for
    memory at the old size (``refused_for_memory``: relabelled, their refusal to be judged again)."""

    moves: list[dict[str, object]] = field(default_factory=list)
    not_rescored: list[str] = field(default_factory=list)
    refused_for_memory: list[str] = field(default_factory=list)


def _same(stored: object, published: object) -> bool:
    """Equal accuracies, both empty counting as equal."""
    if pd.isna(stored) or pd.isna(published):
        return pd.isna(stored) and pd.isna(published)
    return float(stored) == float(published)


def _plain(value: object) -> float | None:
    return None if pd.isna(value) else float(value)


def moved_rows(zoo: Zoo, stored: pd.DataFrame) -> list[dict[str, object]]:
    """The stored rows whose accuracy is not their catalogue row's, in the stored order: each as
    ``{"arch", "from", "to", "img_size"}``, with ``weights`` (``arch.tag``) where the catalogue names a
    tag. A stored architecture the catalogue no longer lists is not moved (it keeps its accuracy)."""
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


def _scored_for(row: pd.Series) -> tuple[str, ...]:
    """The scores ``row`` was scored for, in :data:`ZOO_PROXIES` order then ``reuse``: a stored value
    or a message naming why it has none."""
    messages = error_messages(row["errors"])
    scores = [p for p in ZOO_PROXIES if p in messages or not pd.isna(row[p])]
    if REUSE_COLUMN in messages or not pd.isna(row[REUSE_SCORES[0]]):
        scores.append(REUSE_COLUMN)
    return tuple(scores)


def relabel_rows(
    zoo_name: str,
    *,
    seed: int | None = None,
    data_dir: Path | None = None,
    progress: bool = True,
    store: Path | None = None,
    client: Client | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    max_memory_gb: float | None = None,
    device: str = "cpu",
) -> Relabelling:
    """Relabel the stored rows of ``zoo_name`` whose catalogue row changed (the module's policy). The
    cluster settings, ``seed`` and ``device`` are :func:`~reuseprior.zoo.scoring.rescore_proxies`'s.
    A zoo with no stored rows is :class:`FileNotFoundError` naming the command that scores it."""
    zoo = get_zoo(zoo_name)
    with scoring_session(zoo_name, data_dir, store, progress) as run:
        stored = stored_rows(run, zoo_name)
        moved = moved_rows(zoo, stored)
        seed = run.seed(seed)
    stored = stored.set_index("arch")
    if not moved:
        return Relabelling()
    by_scores: dict[tuple[str, ...], list[str]] = {}
    for move in moved:
        by_scores.setdefault(_scored_for(stored.loc[move["arch"]]), []).append(str(move["arch"]))
    settings = {"seed": seed, "data_dir": data_dir, "progress": progress, "store": store, "device": device}
    cluster = {"client": client, "scheduler": scheduler, "workers": workers, "max_memory_gb": max_memory_gb}
    rescored = set(by_scores.get((), []))
    for scores, archs in by_scores.items():
        if scores:
            rescored |= set(rescore_proxies(zoo_name, scores, archs=archs, **settings, **cluster))
    with scoring_session(zoo_name, data_dir, store, progress) as run:
        moves = _store_moves(run, [m for m in moved if m["arch"] in rescored])
    return Relabelling(
        moves=moves,
        not_rescored=[str(m["arch"]) for m in moved if m["arch"] not in rescored],
        refused_for_memory=[str(m["arch"]) for m in moves if refused_for_memory(stored.at[m["arch"], "errors"])],
    )


def _store_moves(run: ScoringSession, moved: list[dict[str, object]]) -> list[dict[str, object]]:
    """Each moved row's new accuracy and the ``relabelled`` entry of the ``.meta.json``, in one
    transaction; a row another relabelling moved meanwhile is neither written nor recorded again.
    Returns the moves stored."""
    to = {str(m["arch"]): m["to"] for m in moved}

    def new_accuracy(current: dict[str, object]) -> dict[str, object]:
        target = to[str(current["arch"])]
        return {} if _same(current["accuracy"], target) else {"accuracy": target}

    def record(meta: dict[str, object], changed: list[str]) -> dict[str, object]:
        written = set(changed)
        entry = {
            "archs": [m for m in moved if m["arch"] in written],
            "why": RELABEL_REASON,
            "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        return meta | {"relabelled": [*meta.get("relabelled", []), entry]}

    changed = set(run.store.modify_rows(run.spec, list(to), new_accuracy, record))
    run.changed |= bool(changed)
    return [m for m in moved if m["arch"] in changed]
