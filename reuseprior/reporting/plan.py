"""What a build needs before it starts: the plan a build prints for a profile
other than quick (:func:`plan_lines`).

A chapter may state, for a profile and papermill parameters, a
:class:`ChapterNeeds`: the datasets its notebook reads on that profile with
those parameters (each with the folder its loader looks in) and the time the
code estimates for it; a chapter that states none reads no dataset and has
no estimate ("unknown").

Policy: the build stops at once, before any notebook runs, when a dataset
that some chapter needs is missing, and prints the command that fetches it
(a dataset torchvision can download counts as present when the build passes
``download=True``; ImageNet never does). A partial build that skips chapters
would leave a paper-scale run with holes that show only hours later.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from reuseprior.datasets import DEFAULT_DATA_DIR, dataset_present, obtain_command

__all__ = ["ChapterNeeds", "DataNeed", "data_dir_of", "missing_data", "plan_lines"]

#: datasets torchvision downloads itself when a notebook runs with ``download=True``
TORCHVISION_DOWNLOADS = frozenset({"mnist", "fashion-mnist", "cifar10", "cifar100"})


@dataclass(frozen=True)
class DataNeed:
    """One dataset a chapter reads, and the folder its loader looks in."""

    name: str
    folder: Path

    @property
    def present(self) -> bool:
        return dataset_present(self.name, self.folder)

    @property
    def command(self) -> str:
        return obtain_command(self.name, self.folder)


@dataclass(frozen=True)
class ChapterNeeds:
    """What one chapter's notebook needs on a profile: datasets, and the
    estimated hours on one CPU core and on one GPU (``None``: the code has
    no estimate), with a note saying where an estimate comes from."""

    datasets: tuple[DataNeed, ...] = ()
    cpu_hours: float | None = None
    gpu_hours: float | None = None
    note: str = ""


def data_dir_of(parameters: Mapping[str, Any]) -> Path:
    """The ``data_dir`` papermill parameter, or the default folder when it is absent or ``None``."""
    value = parameters.get("data_dir")
    return Path(value).expanduser() if value not in (None, "None", "") else DEFAULT_DATA_DIR


def missing_data(needs: Mapping[str, ChapterNeeds], download: bool) -> dict[str, list[DataNeed]]:
    """Per chapter, the datasets it needs that are absent (those torchvision
    would download are not counted when ``download`` is true)."""
    out = {}
    for chapter, need in needs.items():
        absent = [d for d in need.datasets if not d.present and not (download and d.name in TORCHVISION_DOWNLOADS)]
        if absent:
            out[chapter] = absent
    return out


def _hours(value: float | None) -> str:
    return "unknown" if value is None else f"{value:,.1f} h (est.)"


def plan_lines(profile: str, needs: Mapping[str, ChapterNeeds], out_dir: Path, figures_dir: Path) -> list[str]:
    """The printed plan: profile, where the executed notebooks and their
    figures go, then per chapter its datasets (present or missing) and the
    estimated CPU and GPU time."""
    lines = [
        f"build plan: profile {profile}, {len(needs)} chapter(s)",
        f"  executed notebooks -> {out_dir}; figures and tables -> {figures_dir}/<notebook>/ (nothing tracked)",
    ]
    for chapter, need in needs.items():
        data = ", ".join(f"{d.name} ({'present' if d.present else 'MISSING'} in {d.folder})" for d in need.datasets)
        lines.append(f"  {chapter}: data {data or 'none'}")
        note = f" ({need.note})" if need.note else ""
        lines.append(f"    time: CPU {_hours(need.cpu_hours)}, GPU {_hours(need.gpu_hours)}{note}")
    return lines
