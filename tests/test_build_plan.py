"""``python -m reuseprior build --profile full`` (``make full``): it writes no
tracked file, prints its plan first, and stops before any notebook runs when
a chapter's dataset is missing. The notebooks' executor is replaced by one
that only records what it was given, so nothing heavy runs."""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from reuseprior import datasets
from reuseprior.chapters import ch3_revolver, ch4_sharing_training
from reuseprior.chapters.ch3_revolver import study as ch3_study
from reuseprior.chapters.ch4_sharing_training import real_study as ch4_real_study
from reuseprior.commands import build as build_command
from reuseprior.core import paths
from reuseprior.reporting import build, plan

#: where the fake executor records its calls (a file: it runs in the build's worker processes)
RECORD = "executed.jsonl"


def _fake_execute(
    notebook: Path, target: Path, parameters: dict, position: int = 0, *, tables: Path | None = None
) -> float:
    """Write what a notebook would (the executed copy, one figure in its
    ``output_dir`` or the default figures folder) and record the call, with the tables folder a second
    run would watch."""
    out = Path(parameters.get("output_dir") or paths.figures_dir(notebook.stem))
    out.mkdir(parents=True, exist_ok=True)
    (out / "figure.png").write_bytes(b"png")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("{}")
    with open(paths.BUILD_DIR / RECORD, "a") as f:
        f.write(
            json.dumps(
                {
                    "notebook": notebook.stem,
                    "target": str(target),
                    "output_dir": str(out),
                    "tables": tables and str(tables),
                }
            )
            + "\n"
        )
    return 0.0


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    build_command.add_arguments(parser)
    return parser.parse_args(list(argv))


def _tracked_changes() -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=paths.ROOT, capture_output=True, text=True
    ).stdout


@pytest.fixture
def fake_build(tmp_path, monkeypatch):
    """Builds go under ``tmp_path/build``, notebooks execute with :func:`_fake_execute`,
    and chapter 4's GPU estimate is a constant (no model is counted)."""
    monkeypatch.setattr(paths, "BUILD_DIR", tmp_path / "build")
    (tmp_path / "build").mkdir()
    monkeypatch.setattr(build, "execute_notebook", _fake_execute)
    estimate = pd.DataFrame({"GPU hours (est.)": [1.5, 2.0]})
    monkeypatch.setattr(ch4_sharing_training.architecture, "gpu_time_table", lambda *a, **k: estimate)
    return tmp_path / "build"


def _recorded(build_dir: Path) -> list[dict]:
    record = build_dir / RECORD
    return [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []


def test_a_full_build_writes_nothing_tracked_and_prints_its_plan(fake_build, monkeypatch, capsys):
    monkeypatch.setattr(plan, "dataset_present", lambda name, folder: True)
    before = _tracked_changes()
    assert build_command.run(_args("--profile", "full", "--jobs", "1", "-p", "data_dir", "/data")) == 0
    calls = _recorded(fake_build)
    assert sorted(c["notebook"] for c in calls) == sorted(nb.stem for nb in build.find_notebooks())
    for call in calls:
        assert Path(call["output_dir"]) == fake_build / "figures" / "full" / call["notebook"]
        assert Path(call["target"]).parent == fake_build / "notebooks" / "full"
        assert call["tables"] is None, "only an in-place build runs a notebook again for its tracked tables"
    assert _tracked_changes() == before
    printed = capsys.readouterr().out
    assert "build plan: profile full, " in printed
    assert "ch4_sharing_training: data cifar10 (present in /data), fashion-mnist (present in " in printed
    assert "GPU 3.5 h (est.)" in printed and "CPU unknown, GPU unknown" in printed


def test_a_missing_dataset_stops_the_build_before_any_notebook(fake_build, monkeypatch, capsys):
    monkeypatch.setattr(plan, "dataset_present", lambda name, folder: name != "cifar10")
    assert build_command.run(_args("--profile", "full", "--jobs", "1", "-p", "data_dir", "/data")) == 2
    assert _recorded(fake_build) == []
    err = capsys.readouterr().err
    assert "stopped before any notebook ran" in err
    assert "ch3_revolver: cifar10: python -m reuseprior data download cifar10 --data-dir /data" in err
    # with download=True torchvision fetches CIFAR-10 itself: nothing is missing then
    needs = build_command.chapter_needs(build.find_notebooks(), "full", {"data_dir": "/data"})
    assert plan.missing_data(needs, download=True) == {}


def test_the_live_studies_datasets_are_those_of_the_stored_studies():
    assert ch3_revolver.LIVE_STUDY_DATASETS == ch3_study.CPU_STUDY.design.datasets
    assert ch4_sharing_training.LIVE_SLICE_DATASET == ch4_real_study.CPU_STUDY.design.settings.dataset


def test_dataset_present_looks_where_the_loaders_look(tmp_path):
    assert not any(datasets.dataset_present(n, tmp_path) for n in ("mnist", "cifar10", "cifar100", "imagenet"))
    (tmp_path / "cifar-10-batches-py").mkdir()
    (tmp_path / "train").mkdir()
    (tmp_path / "val").mkdir()
    raw = datasets.raw_folder("mnist", tmp_path)
    raw.mkdir(parents=True)
    for spec in datasets.expected_files("mnist"):
        (raw / spec.name).write_bytes(b"")
    assert datasets.dataset_present("CIFAR-10", tmp_path) and datasets.dataset_present("imagenet", tmp_path)
    assert datasets.dataset_present("mnist", tmp_path) and not datasets.dataset_present("fashion-mnist", tmp_path)
    assert "data fetch mnist" in datasets.obtain_command("mnist", tmp_path)
    assert "image-net.org" in datasets.obtain_command("imagenet", tmp_path)


def test_an_in_place_build_runs_each_notebook_again_when_its_own_tables_change(fake_build, monkeypatch, tmp_path):
    chapter = build.find_notebooks()[:1]
    monkeypatch.setattr(paths, "NOTEBOOKS_DIR", tmp_path / "notebooks")  # the in-place targets, not the tracked ones
    monkeypatch.setenv(paths.FIGURES_ENV_VAR, str(tmp_path / "figures"))
    assert build.build_notebooks(chapter, jobs=1) == {chapter[0].stem: 0.0}
    (call,) = _recorded(fake_build)
    assert call["target"] == str(tmp_path / "notebooks" / chapter[0].name)
    assert call["tables"] == str(tmp_path / "figures" / chapter[0].stem)
