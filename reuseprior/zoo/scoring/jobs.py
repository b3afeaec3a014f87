"""One architecture's scoring as a Dask job: its calls, and follow-ups after an out-of-memory kill."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pandas as pd

from reuseprior.baselines.proxies import ProxyBatch
from reuseprior.baselines.registry import DATA_DEPENDENT, SECOND_ORDER, proxy_info
from reuseprior.core.runtime import full_float32
from reuseprior.zoo.distributed import Call, Killed
from reuseprior.zoo.scoring.registry import Zoo
from reuseprior.zoo.scoring.scores import error_messages, says_out_of_memory, score_architecture

#: Minibatches built in this worker process, by (zoo, batch size, image size, classes, seed).
_BATCHES: dict[tuple, ProxyBatch] = {}


def _score_task(
    zoo: Zoo,
    arch: str,
    row: dict[str, object],
    seed: int,
    names: list[str],
    reuse: bool,
    each_alone: bool,
    device: str,
) -> dict[str, object]:
    """One Dask task: :func:`score_architecture` of ``arch`` (scores ``names``)
    with the zoo's seeded minibatch, built once per worker process; the data-dependent proxies on
    ``device`` in full float32 (:func:`~reuseprior.core.runtime.full_float32`)."""
    full_float32(device)
    series = pd.Series(row)
    size = zoo.size_of(series)
    key = (zoo.name, zoo.batch_size, size, zoo.num_classes, seed)
    if key not in _BATCHES:
        _BATCHES[key] = zoo.batch(size, seed)
    return score_architecture(
        zoo,
        arch,
        seed=seed,
        proxies=names,
        reuse=reuse,
        batch=_BATCHES[key],
        row=series,
        each_alone=each_alone,
        device=device,
    )


@dataclass
class ArchJob:
    """The scoring of one architecture as Dask tasks, with the out-of-memory
    fallbacks expressed as follow-up tasks:

    1. ``all``: every score asked for (the data-dependent proxies in one shared
       pass; ``each_alone`` as :func:`shared_pass` takes it).
    2. If its worker was killed (:class:`~reuseprior.zoo.distributed.Killed`,
       recorded as "out of memory (worker limit N GiB)"): ``without_<names>``
       (``without_grasp``): every score but the second-order proxies
       (:data:`reuseprior.baselines.registry.SECOND_ORDER`), whose double
       backward needs by far the most memory, when they were asked for beside
       other proxies; then ``data_free`` (the scores that
       need no minibatch, and the reusability quantities) when there are any;
       a fill (proxies only) killed again stores every proxy NaN with the message.
    3. ``alone``: each data-dependent proxy that ran out of memory (killed, or,
       with ``each_alone=False``, an allocation error in the task) is scored
       alone in its own task, when at least two were asked for. One that
       succeeds keeps its value; one that fails gets that attempt's message,
       marked "(alone, in a follow-up task)"; one killed again keeps the
       earlier message.

    ``rec`` is the finished row (``None`` when not even the data-free scores
    survived: nothing is stored, ``failure`` says why). Every task computes
    what the client would (same seeds, one thread), so follow-ups change which
    values exist, never their value. ``device``: where the data-dependent proxies' pass runs
    (``"cpu"``, or a GPU such as ``"cuda"``, shared by the workers)."""

    zoo: Zoo
    arch: str
    row: dict[str, object]
    seed: int
    names: list[str]
    reuse: bool
    each_alone: bool
    device: str = "cpu"
    order: int = -1
    rec: dict[str, object] | None = None
    failure: str = ""
    killed: str = ""

    @property
    def proxies(self) -> list[str]:
        return [p for p in self.names if p in DATA_DEPENDENT]

    @property
    def second_order(self) -> list[str]:
        """The proxies asked for whose double backward is dropped first when memory runs out."""
        return [p for p in self.proxies if p in SECOND_ORDER]

    @property
    def without_second_order(self) -> str:
        """The tag of the task that scores everything but :attr:`second_order` (``without_grasp``)."""
        return "_".join(["without", *self.second_order])

    def _call(self, names: list[str], tag: str, *, reuse: bool | None = None, each_alone: bool | None = None) -> Call:
        reuse = self.reuse if reuse is None else reuse
        each_alone = self.each_alone if each_alone is None else each_alone
        return Call(
            _score_task,
            (self.zoo, self.arch, self.row, self.seed, names, reuse, each_alone, self.device),
            what=f"scoring {self.arch} ({self.zoo.name}, {tag})",
            tag=tag,
        )

    def start(self) -> list[Call]:
        return [self._call(self.names, "all")]

    def receive(self, call: Call, outcome: object) -> list[Call]:
        if call.tag == "alone":
            self._take_alone(call.args[4][0], outcome)
            return []
        if isinstance(outcome, Killed):
            return self._after_kill(call.tag, outcome.message())
        rec = dict(outcome)
        errors = error_messages(rec["errors"])
        if self.second_order and call.tag == self.without_second_order:
            for p in self.second_order:
                rec[p] = math.nan
                errors[p] = f"{self.killed}; the other proxies computed without {proxy_info(p).label}'s double backward"
        elif call.tag == "data_free":
            rec |= {p: math.nan for p in self.proxies}
            errors |= {p: self.killed for p in self.proxies}
        rec["errors"] = json.dumps(errors) if errors else ""
        self.rec = rec
        return self._alone()

    def _after_kill(self, tag: str, message: str) -> list[Call]:
        self.killed = message
        proxies, others, heavy = self.proxies, [n for n in self.names if n not in DATA_DEPENDENT], self.second_order
        if tag == "all" and heavy and len(heavy) < len(proxies):
            return [self._call([n for n in self.names if n not in heavy], self.without_second_order)]
        first_tries = ("all", self.without_second_order) if heavy else ("all",)
        if tag in first_tries and proxies and (others or self.reuse):
            return [self._call(others, "data_free")]
        if tag in first_tries and proxies:  # proxies only (a fill): each NaN, with the message
            self.rec = {
                "arch": self.arch,
                "accuracy": self.row.get("accuracy", math.nan),
                **{p: math.nan for p in proxies},
                "data_dependent_seconds": math.nan,
                "data_dependent_cpu_seconds": math.nan,
                "errors": json.dumps({p: message for p in proxies}),
            }
            return self._alone()
        self.failure = message
        return []

    def _alone(self) -> list[Call]:
        """Step 3: the proxies to score alone, each in its own task."""
        proxies = self.proxies
        if len(proxies) < 2:
            return []
        errors = error_messages(self.rec["errors"])
        killed = {p for p, m in errors.items() if self.killed and m.startswith(self.killed)}
        # with each_alone the task already tried the others one by one: only the killed ones are left
        again = [p for p in proxies if says_out_of_memory(errors.get(p, "")) and (not self.each_alone or p in killed)]
        return [self._call([p], "alone", reuse=False, each_alone=False) for p in again]

    def _take_alone(self, proxy: str, outcome: object) -> None:
        if isinstance(outcome, Killed):  # killed again: the earlier message stands
            return
        errors = error_messages(self.rec["errors"])
        errors.pop(proxy, None)
        errors |= {p: f"{m} (alone, in a follow-up task)" for p, m in error_messages(outcome["errors"]).items()}
        self.rec = self.rec | {proxy: outcome[proxy], "errors": json.dumps(errors) if errors else ""}
