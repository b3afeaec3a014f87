"""A study as a caller running studies by name finds it in a registry: the declaration
(:class:`~reuseprior.core.study.StudySpec`, or a :class:`~reuseprior.core.study.StudyGroup` of
several), what it is, which parts of a request it reads, its own actions and its profiles.

The registry of studies (a :class:`~reuseprior.core.registry.Registry` of :class:`DeclaredStudy`)
lives in the layer that declares them; each entry is registered next to its declaration, under the
study's own name (a :class:`~reuseprior.core.study.StudySpec`'s ``name``) and its aliases (the short
names a user runs it by; a group has only its aliases). A caller reads everything it needs from the
entry: the names it accepts, the help of each action, the flags it may pass on, the profiles and
their devices.

Policy:

- Every study takes the engine's actions :data:`ENGINE_ACTIONS` (``run``, ``status``); ``floor`` when a
  study of it declares a linear floor, ``check`` when one declares a live check (:data:`FLOOR_ACTION`,
  :data:`CHECK_ACTION`); a group's own actions (``actions`` of :class:`~reuseprior.core.study.StudyGroup`) are
  described in :attr:`DeclaredStudy.actions` (one of them may replace ``floor``).
- What a study reads of a request is a subset of :data:`REQUEST_PARTS`: for a single study, by default,
  its store and the options its ``run_one`` names; a group says it.
- A study with profiles names them with the device its runs train on (the first is the default); a
  study without takes none.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field

from reuseprior.core.study import StudyGroup, StudySpec

__all__ = ["CHECK_ACTION", "ENGINE_ACTIONS", "FLOOR_ACTION", "REQUEST_PARTS", "DeclaredStudy"]

#: the actions every study takes, with what each does
ENGINE_ACTIONS: dict[str, str] = {
    "run": "train and store the runs not stored yet, resumable",
    "status": "how many runs are stored, the runs' criteria where declared, and the study's tables",
}
#: the engine's action for a study that declares a linear floor (:func:`reuseprior.core.study_runner.store_floors`)
FLOOR_ACTION: dict[str, str] = {"floor": "store the logistic-regression floors of the images its runs train on"}
#: the engine's action for a study that declares a live check (:func:`reuseprior.core.study.check_live`)
CHECK_ACTION: dict[str, str] = {"check": "recompute a short slice of the stored runs here and judge it (minutes)"}
#: the parts of a request a study may read: another runs file, a profile, and the options its runs take
#: (``deadline``: the time its runs stop at, resumed later)
REQUEST_PARTS: frozenset[str] = frozenset(
    {"store", "profile", "device", "threads", "data_dir", "download", "deadline", "work_dir"}
)


@dataclass(frozen=True)
class DeclaredStudy:
    """One registered study (see the module docstring): ``study`` (a spec or a group); ``description``,
    one line of what it is and where its rows are; ``aliases``, the names it is run by besides its
    spec's; ``reads``, the parts of a request it reads (:data:`REQUEST_PARTS`); ``actions``, its actions
    beyond :data:`ENGINE_ACTIONS`, each with what it does; ``profiles``, profile -> the device its runs
    train on, the first the default (empty: it takes no profile). Build one with :meth:`of`."""

    study: StudySpec | StudyGroup
    description: str
    aliases: tuple[str, ...] = ()
    reads: frozenset[str] = frozenset()
    actions: Mapping[str, str] = field(default_factory=dict, hash=False)
    profiles: Mapping[str, str] = field(default_factory=dict, hash=False)

    @classmethod
    def of(
        cls,
        study: StudySpec | StudyGroup,
        description: str,
        *,
        aliases: tuple[str, ...] = (),
        reads: frozenset[str] | None = None,
        actions: Mapping[str, str] | None = None,
        profiles: Mapping[str, str] | None = None,
    ) -> DeclaredStudy:
        """The entry of ``study``; for a single study ``reads`` defaults to its store and the options its
        ``run_one`` names, ``actions`` to the engine's ``floor`` and ``check`` where it declares them."""
        if isinstance(study, StudySpec):
            if reads is None:
                reads = frozenset({"store"} | (set(inspect.signature(study.run_one).parameters) & REQUEST_PARTS))
            if actions is None:
                actions = {
                    **(FLOOR_ACTION if study.floor is not None else {}),
                    **(CHECK_ACTION if study.live_check is not None else {}),
                }
        unknown = set(reads or ()) - REQUEST_PARTS
        if unknown:
            raise ValueError(f"{description!r} reads {sorted(unknown)}, not parts of a request {sorted(REQUEST_PARTS)}")
        return cls(study, description, aliases, frozenset(reads or ()), dict(actions or {}), dict(profiles or {}))

    @property
    def names(self) -> tuple[str, ...]:
        """The names it is registered under: its aliases, then its spec's name (a group has no name of its own)."""
        own = (self.study.name,) if isinstance(self.study, StudySpec) else ()
        return (*self.aliases, *own)

    @property
    def spec(self) -> StudySpec | None:
        """The study, when it is a single one."""
        return self.study if isinstance(self.study, StudySpec) else None

    @property
    def group(self) -> StudyGroup:
        """The study as a group (a single :class:`~reuseprior.core.study.StudySpec` is a group of one)."""
        if isinstance(self.study, StudyGroup):
            return self.study
        spec = self.study
        return StudyGroup(seeds=spec.seeds, choose=lambda _: [spec], seed_policy=spec.seed_policy)

    @property
    def all_actions(self) -> dict[str, str]:
        """Every action it takes, with what each does: the engine's, then its own."""
        return {**ENGINE_ACTIONS, **self.actions}

    @property
    def default_profile(self) -> str | None:
        return next(iter(self.profiles), None)
