"""``python -m reuseprior build``: execute the chapter notebooks with papermill
on a profile (the policy of what an executed notebook keeps is
:mod:`reuseprior.reporting.build`'s).

A profile other than quick (``make full``) first prints its plan: the
chapters, where their outputs go (under ``build/``, no tracked file), the
datasets each reads and whether they are present, and the estimated CPU and
GPU time where the chapter's code has one (:mod:`reuseprior.reporting.plan`).
When a dataset is missing it stops there, before any notebook runs, with the
command that fetches it.

The chapters built are the registered ones (:func:`reuseprior.chapters.list_chapters`, each declared by
its driver): the command keeps no list of them and reads each chapter's notebook and driver from its
entry; ``--list`` is answered by its parser (:mod:`reuseprior.commands.parsers.build`) from the registry's
records."""

from __future__ import annotations

import argparse
import fnmatch
import importlib
import sys
from pathlib import Path
from typing import Any

from reuseprior.chapters import get_chapter, list_chapters
from reuseprior.commands import listings
from reuseprior.commands.parsers.build import PATH_PARAMETERS, add_arguments, check_arguments
from reuseprior.core import paths
from reuseprior.core.errors import NotebookNotFoundError, NotebookParameterError
from reuseprior.reporting.build import build_notebooks, check_parameters, figures_root, find_notebooks, parameter_value
from reuseprior.reporting.plan import ChapterNeeds, missing_data, plan_lines

__all__ = [
    "COMMON_PROFILES",
    "add_arguments",
    "chapter_needs",
    "chapter_notebooks",
    "check_arguments",
    "check_run_arguments",
    "notebook_parameter",
    "chapter_profiles",
    "plan_or_stop",
    "profile_problem",
    "run",
]

#: the profiles every chapter has
COMMON_PROFILES = listings.COMMON_PROFILES


def notebook_parameter(name: str, text: str) -> object:
    """The value of ``-p NAME TEXT``: a path parameter (:data:`PATH_PARAMETERS`) as written, others a Python
    literal where ``TEXT`` parses as one, else the string."""
    return text if name in PATH_PARAMETERS else parameter_value(text)


def chapter_notebooks(patterns: list[str] | None = None) -> list[Path]:
    """The notebooks of the registered chapters, in chapter order, those matching a glob of ``patterns`` if
    given (:func:`reuseprior.reporting.build.find_notebooks`: none matching is refused, naming them all). A
    chosen chapter whose notebook is missing is refused, naming the chapter and the file."""
    chosen = find_notebooks(patterns, [get_chapter(name).notebook for name in list_chapters()])
    missing = next((notebook for notebook in chosen if not notebook.is_file()), None)
    if missing is not None:
        raise NotebookNotFoundError(
            f"chapter {missing.stem} is registered by its driver {get_chapter(missing.stem).module}, but its "
            f"notebook {missing} is missing: make it from its paired script (CONTRIBUTING.md, 'A chapter')"
        )
    return chosen


def chapter_profiles() -> dict[str, tuple[str, ...]]:
    """The profiles that only some chapters have -> those chapters, in chapter order: each registered
    chapter driver's ``PROFILES`` beyond :data:`COMMON_PROFILES`, as the listing reads them
    (:func:`reuseprior.commands.listings.chapter_record`)."""
    list_chapters()  # every driver imported: the records are the live registry's
    own: dict[str, list[str]] = {}
    for record in listings.records("chapters")["entries"]:
        for profile in record["profiles"]:
            own.setdefault(profile, []).append(record["name"])
    return {profile: tuple(chapters) for profile, chapters in own.items()}


def profile_problem(profile: str, patterns: list[str] | None) -> str | None:
    """Why ``--profile profile`` cannot build the chapters ``patterns`` select, or None: a profile no chapter
    has, or a chapter's own profile for a selection holding other chapters (they would fail one by one)."""
    if profile in COMMON_PROFILES:
        return None
    own = chapter_profiles()
    if profile not in own:
        return (
            f"unknown profile {profile!r}: quick, full, or a chapter's own ({', '.join(sorted(own))}); "
            "build --list names each chapter's profiles"
        )
    chapters = own[profile]
    if patterns and all(any(fnmatch.fnmatch(c, glob) for c in chapters) for glob in patterns):
        return None
    return (
        f"--profile {profile} is a profile of {', '.join(chapters)} only; "
        f"name the notebook: build {' '.join(chapters)} --profile {profile}"
    )


def chapter_needs(notebooks: list[Path], profile: str, parameters: dict[str, Any]) -> dict[str, ChapterNeeds]:
    """Per notebook, its chapter driver's ``build_needs(profile, parameters)``
    with the parameters that notebook declares; a notebook whose driver has
    no such hook needs no dataset and has no time estimate."""
    declared = check_parameters(notebooks, {"profile": profile, **parameters})
    out = {}
    for nb in notebooks:
        hook = getattr(importlib.import_module(get_chapter(nb.stem).module), "build_needs", None)
        own = {k: v for k, v in parameters.items() if k in declared[nb.stem]}
        out[nb.stem] = hook(profile, own) if hook is not None else ChapterNeeds()
    return out


def plan_or_stop(args: argparse.Namespace, notebooks: list[Path], parameters: dict[str, Any]) -> bool:
    """Print the plan of a build that is not quick; return False (having
    printed the fetch commands) when a dataset some chapter needs is missing."""
    needs = chapter_needs(notebooks, args.profile, parameters)
    out_dir = args.output_dir or paths.BUILD_DIR / "notebooks" / args.profile
    figures = Path(parameters.get("output_dir") or figures_root(args.profile))
    print("\n".join(plan_lines(args.profile, needs, out_dir, figures)), flush=True)
    missing = missing_data(needs, download=parameters.get("download") is True)
    if not missing:
        return True
    lines = ["stopped before any notebook ran: data missing (put it there, then run again)"]
    lines += [f"  {chapter}: {d.name}: {d.command}" for chapter, absent in missing.items() for d in absent]
    lines.append("  (or let torchvision download MNIST/Fashion-MNIST/CIFAR: -p download True, make full DOWNLOAD=True)")
    print("\n".join(lines), file=sys.stderr)
    return False


def check_run_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """A notebook glob that matches no notebook, a ``-p`` parameter that no selected notebook declares, or a
    profile the selected chapters do not all have (:func:`profile_problem`) is a usage error (exit 2, the
    message naming what there is), before any notebook runs."""
    problem = None if args.list else profile_problem(args.profile, args.notebooks)
    if problem:
        parser.error(problem)
    try:
        notebooks = chapter_notebooks(args.notebooks)
        check_parameters(notebooks, {name: notebook_parameter(name, value) for name, value in args.parameter})
    except (NotebookNotFoundError, NotebookParameterError) as err:
        parser.error(str(err))


def run(args: argparse.Namespace) -> int:
    notebooks = chapter_notebooks(args.notebooks)
    params = {name: notebook_parameter(name, value) for name, value in args.parameter}
    if args.profile != "quick" and not plan_or_stop(args, notebooks, params):
        return 2
    results = build_notebooks(notebooks, args.profile, params, args.output_dir, args.jobs)
    for name, outcome in results.items():
        if isinstance(outcome, Exception):
            lines = str(outcome).strip().splitlines()
            status = f"FAILED: {lines[-1] if lines else type(outcome).__name__}"
        else:
            status = f"ok in {outcome:.1f} s"
        print(f"{name:32s} {status}")
    return 1 if any(isinstance(v, Exception) for v in results.values()) else 0
