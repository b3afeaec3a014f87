"""The zoo scores' store records the version of its layout (issue 73, item 3): a store of a newer schema is
refused naming its version and the fix, never used as it is; an older one is brought up to date by its
declared migration steps, saying so; a new one records the current version."""

from __future__ import annotations

import lzma
import sqlite3
from pathlib import Path

import pytest

from reuseprior.commands import main
from reuseprior.zoo import scoring
from reuseprior.zoo.store import ScoreStore, StoreError, TableSpec, csv_bytes
from reuseprior.zoo.store_file import SCHEMA_VERSION

ROWS = TableSpec("rows", (("key", "TEXT"), ("value", "REAL")), "key")


def _version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


def test_a_new_store_records_the_current_schema_version_without_a_word(tmp_path):
    said = []
    with ScoreStore(tmp_path / "store.sqlite", say=said.append) as store:
        store.create(ROWS)
        store.insert(ROWS, {"key": "a", "value": 1.0})
    assert _version(tmp_path / "store.sqlite") == SCHEMA_VERSION >= 1 and said == []


def test_a_store_of_a_newer_schema_is_refused_naming_its_version_and_the_fix(tmp_path):
    path = tmp_path / "store.sqlite"
    with ScoreStore(path) as store:
        store.create(ROWS)
        store.insert(ROWS, {"key": "a", "value": 1.0})
    with sqlite3.connect(path) as db:  # a later reuseprior's store: a new column, a newer version
        db.execute("ALTER TABLE rows ADD COLUMN later REAL")
        db.execute("PRAGMA user_version = 99")
    before = path.read_bytes()
    with pytest.raises(StoreError, match=rf"the store {path} has schema version 99, newer than this reuseprior's "):
        ScoreStore(path)
    with pytest.raises(StoreError, match=rf"update this one .*mv {path} {path}.v99"):
        ScoreStore(path)
    assert _version(path) == 99 and path.read_bytes() == before


def test_an_unversioned_store_is_migrated_once_saying_so_and_keeps_its_rows(tmp_path):
    path = tmp_path / "store.sqlite"
    with ScoreStore(path) as store:
        store.create(ROWS)
        store.insert(ROWS, {"key": "a", "value": 1.0})
    with sqlite3.connect(path) as db:  # a store written before versions were recorded
        db.execute("PRAGMA user_version = 0")
    said = []
    with ScoreStore(path, say=said.append) as store:
        assert store.rows(ROWS)["value"].tolist() == [1.0]
    assert said == [f"the store {path}: schema version 0 brought to 1"] and _version(path) == SCHEMA_VERSION
    with ScoreStore(path, say=said.append):
        assert len(said) == 1


def test_score_zoos_refuses_a_newer_store_in_one_line(tmp_path, capsys):
    source = scoring.scores_path("nb201")
    data = tmp_path / "data"
    data.mkdir()
    lines = csv_bytes(source).splitlines(keepends=True)[:4]
    (data / source.name).write_bytes(lzma.compress(b"".join(lines)))
    assert main(["score-zoos", "nb201", "--import", "--data-dir", str(data)]) == 0
    store = data / "zoo_scores.sqlite"
    with sqlite3.connect(store) as db:
        db.execute("PRAGMA user_version = 99")
    capsys.readouterr()
    assert main(["score-zoos", "nb201", "--export", "--data-dir", str(data)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has schema version 99, newer than this reuseprior's" in err
