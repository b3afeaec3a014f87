"""What every notebook does first: validate its papermill parameters, seed,
pick the device and the output folder.

Where a notebook writes its tables and figures (:func:`default_output_dir`,
stated in every notebook's first cell by :func:`output_note`): the
``output_dir`` parameter when given; else, in a batch build (``python -m
reuseprior build``, ``make figures``: :func:`reuseprior.core.progress.in_batch_run`),
the tracked ``figures/<notebook>/``; else (run in Jupyter) under ``build/``,
``build/figures/interactive/<notebook>/``, so that exploring a notebook never
rewrites a tracked file. ``$REUSEPRIOR_FIGURES_DIR`` (the test suite sets it)
redirects both defaults.

A notebook's driver module defines its typed profiles, a frozen dataclass
derived from :class:`Profile` (:mod:`reuseprior.core.profiles`, re-exported here) and
``PROFILES = {"quick": ..., "full": ...}``; a notebook's ``parameters`` cell holds literals only and its next cell is::

    ctx = setup("my_notebook", profile=profile, seed=seed, device=device,
                output_dir=output_dir, profiles=my_driver.PROFILES)

Bad parameters raise :class:`NotebookParameterError` naming the parameter,
the value received, the accepted values and the papermill flag to fix it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, is_dataclass, make_dataclass
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
import torch

from reuseprior.core import paths
from reuseprior.core.errors import NotebookParameterError, RunSettingError
from reuseprior.core.files import write_csv, write_text
from reuseprior.core.profiles import Profile
from reuseprior.core.progress import in_batch_run
from reuseprior.core.runtime import resolve_device, set_seed
from reuseprior.reporting.plotting import apply_style, inline_figures, save_figure

__all__ = [
    "NotebookParameterError",
    "Profile",
    "RunContext",
    "default_output_dir",
    "output_note",
    "profile_from_mapping",
    "setup",
]


def _bad(name: str, value: Any, expected: str) -> NotebookParameterError:
    return NotebookParameterError(
        f"invalid notebook parameter {name}={value!r}: expected {expected}. "
        f"Fix it in the 'parameters' cell or pass it with papermill: -p {name} <value>"
    )


def profile_from_mapping(values: Mapping[str, Any], name: str = "Profile") -> Profile:
    """A :class:`Profile` holding ``values`` (for notebooks that define their
    settings as a plain mapping)."""
    cls = make_dataclass(name, [(key, Any) for key in values], bases=(Profile,), frozen=True)
    return cls(**values)


@dataclass(frozen=True)
class RunContext:
    """Everything a notebook run needs after :func:`setup`."""

    notebook: str
    profile: str
    seed: int
    device: torch.device
    output_dir: Path
    settings: Profile
    written: list[Path] = field(default_factory=list, compare=False)

    def save_figure(self, fig, name: str) -> Path:
        """Write ``fig`` to ``<output_dir>/<name>.png`` (deterministic PNG)."""
        path = save_figure(fig, self.output_dir / name)
        self.written.append(path)
        return path

    def save_table(self, df: pd.DataFrame, name: str, *, index: bool = False) -> Path:
        """Write a pandas DataFrame as ``<name>.csv`` and ``<name>.json``."""
        csv_path = self.output_dir / f"{name}.csv"
        _write_table(df, csv_path, index=index)
        self.written.append(csv_path)
        return csv_path

    def save_measurement(self, df: pd.DataFrame, name: str, *, index: bool = False) -> Path:
        """Write a table of machine-dependent measurements (wall-clock times,
        peak memory, throughput) as ``<name>.csv``/``.json`` under
        ``build/measured/<notebook>/``, outside the tracked ``figures/`` tree.

        Policy: tracked files and compared notebook outputs hold only values
        that a rerun on the same software reproduces exactly; what a rerun
        measures differently goes here (the notebook may still display it, in
        a cell marked ``# NBVAL_IGNORE_OUTPUT``)."""
        out = Path(os.environ.get(paths.MEASURED_ENV_VAR, paths.BUILD_DIR / "measured")) / self.notebook
        out.mkdir(parents=True, exist_ok=True)
        csv_path = out / f"{name}.csv"
        _write_table(df, csv_path, index=index)
        return csv_path

    def save_text(self, text: str, name: str) -> Path:
        """Write ``text`` (e.g. a Markdown table) to ``<output_dir>/<name>``."""
        path = self.output_dir / name
        write_text(path, text.rstrip("\n") + "\n")
        self.written.append(path)
        return path

    def describe(self) -> str:
        return json.dumps(
            {
                "notebook": self.notebook,
                "profile": self.profile,
                "seed": self.seed,
                "device": str(self.device),
                "output_dir": _shown_path(self.output_dir),
                "settings": {k: shown_setting(v) for k, v in self.settings.items()},
            },
            indent=1,
        )


def _write_table(df: pd.DataFrame, csv_path: Path, *, index: bool) -> None:
    """``df`` as ``csv_path`` and, beside it, as a JSON list of records (the index as a column when
    ``index``). Each file is written whole (:mod:`reuseprior.core.files`), one after the other: an
    interruption between them leaves the new CSV beside the old JSON, which the next run replaces."""
    write_csv(df, csv_path, index=index)
    frame = df.reset_index() if index else df
    write_text(csv_path.with_suffix(".json"), frame.to_json(orient="records", indent=1, double_precision=10) + "\n")


def shown_setting(value: Any) -> str:
    """A setting as :meth:`RunContext.describe` prints it: its ``repr``, except a dataclass instance
    (a study's whole design), which is named by its type and ``name`` (its fields are the notebook's
    design table), also inside a tuple or list."""
    if is_dataclass(value) and not isinstance(value, type):
        name = getattr(value, "name", None)
        return f"{type(value).__name__}({name!r})" if name is not None else f"{type(value).__name__}(...)"
    if isinstance(value, (list, tuple)) and any(is_dataclass(v) for v in value):
        items = ", ".join(shown_setting(v) for v in value)
        return f"[{items}]" if isinstance(value, list) else f"({items}{',' if len(value) == 1 else ''})"
    return repr(value)


def _shown_path(path: Path) -> str:
    """``path`` relative to the repository when inside it: executed notebooks
    are committed, and must not depend on where the checkout lives."""
    try:
        return str(Path(path).resolve().relative_to(paths.ROOT))
    except ValueError:
        return str(path)


def default_output_dir(notebook: str) -> Path:
    """Where ``notebook`` writes its tables and figures when its ``output_dir``
    parameter is None (see the module docstring): ``figures/<notebook>/`` in a
    batch build, ``build/figures/interactive/<notebook>/`` otherwise, or
    ``$REUSEPRIOR_FIGURES_DIR/<notebook>/`` in either when that is set."""
    if in_batch_run() or paths.FIGURES_ENV_VAR in os.environ:
        return paths.figures_dir(notebook)
    return paths.INTERACTIVE_FIGURES_DIR / notebook


def output_note(notebook: str) -> str:
    """The sentence every notebook's first markdown cell holds (checked by
    ``tests/test_notebook_conventions.py``) saying where it writes."""
    return (
        f"Run interactively, this notebook writes its tables and figures under "
        f"`{_shown_path(paths.INTERACTIVE_FIGURES_DIR / notebook)}/`; `python -m reuseprior build {notebook}` "
        f"(or `make figures`) writes them to the tracked `{_shown_path(paths.FIGURES_DIR / notebook)}/`, and the "
        f"`output_dir` parameter names another folder."
    )


def setup(
    notebook: str,
    *,
    profile: str,
    seed: int,
    device: str | torch.device = "cpu",
    output_dir: str | os.PathLike | None = None,
    profiles: Mapping[str, Profile | Mapping[str, Any]],
    overrides: Mapping[str, Any] | None = None,
) -> RunContext:
    """Validate a notebook's parameters and prepare its run.

    ``overrides`` replaces individual settings of the chosen profile; an
    unknown key is an error (a typo would otherwise be silently ignored).
    ``output_dir=None`` writes to :func:`default_output_dir`. In a
    Jupyter kernel, figures show inline whatever ``MPLBACKEND`` names
    (:func:`~reuseprior.reporting.plotting.inline_figures`).
    """
    if not isinstance(profile, str) or profile not in profiles:
        raise _bad("profile", profile, " or ".join(repr(p) for p in profiles))
    chosen = profiles[profile]
    if not isinstance(chosen, Profile):
        chosen = profile_from_mapping(chosen)
    settings = chosen.with_overrides(overrides or {})
    try:
        set_seed(seed)
        resolved = resolve_device(device)
    except RunSettingError as err:
        raise _bad(err.setting, err.value, err.expected) from None
    if output_dir is not None and not isinstance(output_dir, (str, os.PathLike)):
        raise _bad("output_dir", output_dir, "a folder path as a string (papermill: -r output_dir 42 passes it as one)")
    out = Path(output_dir) if output_dir is not None else default_output_dir(notebook)
    out.mkdir(parents=True, exist_ok=True)
    inline_figures()
    apply_style()
    return RunContext(notebook, profile, seed, resolved, out, settings)
