"""Every committed file of a registered study's store keeps a digest of each row, checked on every read
(:mod:`reuseprior.core.row_digests`): a value edited by hand in ``data/`` is refused with its line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from reuseprior.chapters import get_study, list_studies
from reuseprior.chapters.ch3_revolver.study import CPU_STUDY, LIVE_REFERENCE
from reuseprior.core import paths
from reuseprior.core.errors import CsvFormatError
from reuseprior.core.row_digests import has_digests
from reuseprior.core.study import StudyRequest


def _committed_store_files() -> set[Path]:
    """The files under ``data/`` that the registered studies' stores (runs, side tables, floors) read."""
    found = {LIVE_REFERENCE.resolve()}
    for name in list_studies():
        entry = get_study(name)
        for profile in entry.profiles or [None]:
            for spec in entry.group.choose(StudyRequest(profile=profile)):
                found.update(spec.store.path_of(kind).resolve() for kind in (*spec.store.tables, "runs"))
                if spec.floor is not None:
                    found.add(Path(spec.floor.path).resolve())
    data = paths.DATA_DIR.resolve()
    return {path for path in found if path.is_relative_to(data) and path.exists()}


def test_every_committed_study_store_keeps_row_digests():
    files = _committed_store_files()
    assert len(files) >= 14, sorted(files)
    unstamped = sorted(str(path.relative_to(paths.ROOT)) for path in files if not has_digests(path))
    assert not unstamped, f"stamp them: reuseprior.core.stored_rows.stamp_digests(path): {unstamped}"


def test_a_committed_row_edited_by_hand_is_refused_with_its_line(tmp_path):
    copy = tmp_path / CPU_STUDY.store.path.name
    lines = CPU_STUDY.store.path.read_text(encoding="utf-8").splitlines(keepends=True)
    fields = lines[3].split(",")
    fields[9] = fields[9][:-1]  # top_params_at_peak, "7420" for "74202"
    lines[3] = ",".join(fields)
    copy.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(CsvFormatError, match=r"line 4.*changed after it was stored"):
        CPU_STUDY.with_store(copy).rows()
    assert "row_digest" not in CPU_STUDY.rows().columns and not pd.isna(CPU_STUDY.rows()["plan"]).any()
