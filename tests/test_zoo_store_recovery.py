"""Bad input to the zoo scores' store and how to recover from it (issue 35, items 3-7):
a damaged or unopenable store, a non-UTF-8 CSV, a data folder moved with its
store, CSVs that the import refuses (and every reader refuses alike), and the
limit and history of a fill."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reuseprior.commands import main
from reuseprior.zoo import scoring
from reuseprior.zoo.store import CsvFormatError, ScoreStore

#: The first rows of the committed NAS-Bench-201 CSV of the current version.
ROWS = 12


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data folder holding the first ``ROWS`` rows of the current nb201 CSV (no store yet)."""
    source = scoring.scores_path("nb201")
    lines = source.read_text().splitlines(keepends=True)[: ROWS + 1]
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / source.name).write_text("".join(lines))
    return folder


def _csv(data_dir: Path) -> Path:
    return scoring.scores_path("nb201", data_dir=data_dir)


def _import(data_dir: Path, *extra: str) -> int:
    return main(["score-zoos", "nb201", "--import", "--data-dir", str(data_dir), *extra])


# --- item 3: a damaged store, a store that cannot be opened, a CSV that is not UTF-8


def test_a_damaged_store_is_refused_with_how_to_recover_and_what_is_lost(data_dir, capsys):
    assert _import(data_dir) == 0
    store = data_dir / "zoo_scores.sqlite"
    with open(store, "r+b") as fh:  # truncate -s 5000
        fh.truncate(5000)
    assert _import(data_dir) == 2
    err = capsys.readouterr().err
    assert f"the store {store} is damaged" in err and f"mv {store} {store}.damaged" in err
    assert "imports each zoo's CSV into a new store" in err and "Lost: the rows stored since the last export" in err
    assert "Traceback" not in err
    store.rename(store.with_suffix(".damaged"))  # the recovery the message gives
    assert _import(data_dir) == 0


@pytest.mark.parametrize("where", ["a folder", "under a file"])
def test_a_store_that_cannot_be_opened_names_the_folder_and_store_flag(data_dir, where, capsys):
    if where == "a folder":
        store = data_dir / "store.sqlite"
        store.mkdir()
    else:
        (data_dir / "afile").write_text("")
        store = data_dir / "afile" / "store.sqlite"
    assert _import(data_dir, "--store", str(store)) == 2
    err = capsys.readouterr().err
    assert f"cannot open or write the store {store}" in err and "--store FILE" in err and "Traceback" not in err


def test_a_csv_that_is_not_utf8_is_refused_naming_its_line(data_dir, capsys):
    path = _csv(data_dir)
    raw = path.read_bytes().splitlines(keepends=True)
    raw[3] = raw[3].replace(b"|", "\N{LATIN SMALL LETTER E WITH ACUTE}".encode("latin-1"), 1)
    path.write_bytes(b"".join(raw))
    with pytest.raises(CsvFormatError, match=r"line 4: byte 0xe9 is not UTF-8 .* save the file as UTF-8"):
        scoring.import_scores("nb201", data_dir=data_dir)
    assert _import(data_dir) == 2
    assert "line 4: byte 0xe9 is not UTF-8" in capsys.readouterr().err


# --- item 4: a data folder copied or moved with its store


@pytest.mark.parametrize("how", ["copied", "moved"])
def test_a_data_folder_moved_with_its_store_is_still_in_sync(data_dir, tmp_path, how):
    assert _import(data_dir) == 0
    elsewhere = tmp_path / "elsewhere"
    (shutil.copytree if how == "copied" else shutil.move)(data_dir, elsewhere)
    with ScoreStore(elsewhere / "zoo_scores.sqlite") as store:
        store.attach(scoring.scores_table("nb201"), _csv(elsewhere), say=lambda _: None)  # no OutOfSyncError
        assert store.count(scoring.scores_table("nb201")) == ROWS
