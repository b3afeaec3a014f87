"""Bad input to the zoo scores' store and how to recover from it (issue 35, items 3-7):
a damaged or unopenable store, a non-UTF-8 CSV, a data folder moved with its
store, CSVs that the import refuses (and every reader refuses alike), and the
limit and history of a fill."""

from __future__ import annotations

import lzma
import multiprocessing
import multiprocessing.synchronize
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from reuseprior.commands import main
from reuseprior.zoo import scoring, store_file
from reuseprior.zoo import store as store_module
from reuseprior.zoo.store import (
    CsvFormatError,
    OutOfSyncError,
    ScoreStore,
    StoreError,
    csv_bytes,
    fingerprint,
    meta_path,
)

#: The first rows of the committed NAS-Bench-201 CSV of the current version.
ROWS = 12


def _write(path: Path, data: bytes) -> None:
    """Write the CSV's bytes as a reader expects them (compressed for a ``.csv.xz``)."""
    path.write_bytes(lzma.compress(data) if path.suffix == ".xz" else data)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data folder holding the first ``ROWS`` rows of the current nb201 CSV (no store yet)."""
    source = scoring.scores_path("nb201")
    lines = csv_bytes(source).splitlines(keepends=True)[: ROWS + 1]
    folder = tmp_path / "data"
    folder.mkdir()
    _write(folder / source.name, b"".join(lines))
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
    raw = csv_bytes(path).splitlines(keepends=True)
    raw[3] = raw[3].replace(b"|", "\N{LATIN SMALL LETTER E WITH ACUTE}".encode("latin-1"), 1)
    _write(path, b"".join(raw))
    with pytest.raises(CsvFormatError, match=r"line 4: byte 0xe9 is not UTF-8 .* save the file as UTF-8"):
        scoring.import_scores("nb201", data_dir=data_dir)
    assert _import(data_dir) == 2
    assert "line 4: byte 0xe9 is not UTF-8" in capsys.readouterr().err


@pytest.mark.parametrize(
    "damage, problem",
    [
        (lambda raw, text: raw[:-40], "the xz stream is cut short"),  # a copy cut short
        (lambda raw, text: raw + b"extra", "5 bytes follow the end of the xz stream"),
        (lambda raw, text: raw[:40] + bytes(64) + raw[104:], "the xz stream is damaged"),
        (lambda raw, text: text, "the file is not xz-compressed, as its name says"),  # saved plain under the name
    ],
)
def test_a_compressed_csv_that_is_not_one_whole_xz_stream_is_refused_saying_which(data_dir, damage, problem, capsys):
    path = _csv(data_dir)
    assert path.name.endswith(".csv.xz")  # NAS-Bench-201's table is stored compressed
    good = fingerprint(path)
    path.write_bytes(damage(path.read_bytes(), csv_bytes(path)))
    with pytest.raises(CsvFormatError, match=rf"{path.name}: {problem}.*(compress it|restore it from git)"):
        scoring.load_scores("nb201", scoring.SCORES_VERSION, data_dir)
    assert _import(data_dir) == 2
    assert problem in capsys.readouterr().err
    assert fingerprint(path) not in (None, good)  # counted by its bytes: never in sync with a store


def test_the_plain_form_beside_a_compressed_table_is_refused_with_the_command_that_restores_it(data_dir, capsys):
    compressed = _csv(data_dir)
    plain = compressed.with_name(compressed.name.removesuffix(".xz"))
    plain.write_bytes(csv_bytes(compressed))  # xz -dk: decompressed to be edited
    for read in (scoring.load_scores, scoring.completeness):
        with pytest.raises(StoreError, match=rf"{plain} is nb201's score table in the wrong form.*xz -9f {plain}"):
            read("nb201", scoring.SCORES_VERSION, data_dir)
    assert main(["score-zoos", "nb201", "--status", "--data-dir", str(data_dir)]) == 2
    assert f"xz -9f {plain}" in capsys.readouterr().err
    _write(compressed, plain.read_bytes())  # what xz -9f does: the edited text compressed, the plain file gone
    plain.unlink()
    assert len(scoring.load_scores("nb201", scoring.SCORES_VERSION, data_dir)) == ROWS


def test_compressing_a_csv_keeps_its_store_in_sync(data_dir, tmp_path):
    """The fingerprint is of the text, so a store that imported the plain CSV attaches it compressed
    (and refuses it once its text changed)."""
    compressed = _csv(data_dir)
    meta_path(compressed).write_text('{"seed": 0}\n')
    plain_dir = tmp_path / "plain"
    plain_dir.mkdir()
    plain = plain_dir / compressed.name.removesuffix(".xz")
    plain.write_bytes(csv_bytes(compressed))
    meta_path(plain).write_text('{"seed": 0}\n')
    assert meta_path(compressed).name == meta_path(plain).name == compressed.name.removesuffix(".csv.xz") + ".meta.json"
    spec = scoring.scores_table("nb201")
    with ScoreStore(tmp_path / "store.sqlite") as store:
        assert store.import_csv(spec, plain) == ROWS
        store.attach(spec, compressed, say=lambda _: None)  # no OutOfSyncError
        lines = csv_bytes(compressed).splitlines(keepends=True)
        _write(compressed, b"".join(lines[:-1]))  # a row fewer: another text
        with pytest.raises(OutOfSyncError):
            store.attach(spec, compressed, say=lambda _: None)


# --- item 4: a data folder copied or moved with its store


@pytest.mark.parametrize("how", ["copied", "moved"])
def test_a_data_folder_moved_with_its_store_is_still_in_sync(data_dir, tmp_path, how):
    assert _import(data_dir) == 0
    elsewhere = tmp_path / "elsewhere"
    (shutil.copytree if how == "copied" else shutil.move)(data_dir, elsewhere)
    with ScoreStore(elsewhere / "zoo_scores.sqlite") as store:
        store.attach(scoring.scores_table("nb201"), _csv(elsewhere), say=lambda _: None)  # no OutOfSyncError
        assert store.count(scoring.scores_table("nb201")) == ROWS


# --- item 5: one validated reader: what --import refuses, --status and the chapter's readers refuse too


def _glue_rows(path: Path, line: int) -> None:
    """Two rows run together (the line end of ``line`` lost), as an interrupted write leaves them."""
    lines = csv_bytes(path).splitlines(keepends=True)
    lines[line - 1] = lines[line - 1].rstrip(b"\n")
    _write(path, b"".join(lines))


def test_status_and_readers_refuse_a_csv_that_import_refuses(data_dir, capsys):
    _glue_rows(_csv(data_dir), 3)
    with pytest.raises(CsvFormatError, match=r"line 3: \d+ fields where the header has"):
        scoring.import_scores("nb201", data_dir=data_dir)
    assert main(["score-zoos", "nb201", "--status", "--data-dir", str(data_dir)]) == 2
    err = capsys.readouterr().err
    assert "line 3:" in err and "fields where the header has" in err and "Traceback" not in err
    version = scoring.SCORES_VERSION
    for read in (scoring.completeness, scoring.load_scores):
        with pytest.raises(CsvFormatError, match="line 3"):
            read("nb201", version, data_dir)
    with pytest.raises(CsvFormatError, match="line 3"):
        scoring.version_complete_on("nb201", ["x"], data_dir)


def test_the_validated_reader_reads_a_good_csv_as_pandas_does(data_dir):
    frame = scoring.load_scores("nb201", scoring.SCORES_VERSION, data_dir)
    pd.testing.assert_frame_equal(frame, pd.read_csv(_csv(data_dir)))


# --- item 7: what --import refuses beyond malformed lines


def _edit(path: Path, line: int, column: str, value: str) -> None:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[line - 2, column] = value
    frame.to_csv(path, index=False)


@pytest.mark.parametrize(
    "column, value, message",
    [
        ("order", "-1", r"line 4: order = -1 is negative"),
        ("order", "ORDER_OF_LINE_2", r"line 4: order \d+ again \(first on line 2\)"),
        ("arch", "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|bogus~2|", r"line 4: arch .* is not one of the"),
    ],
)
def test_import_refuses_unknown_architectures_and_negative_or_repeated_order(data_dir, column, value, message):
    path = _csv(data_dir)
    if value == "ORDER_OF_LINE_2":
        value = pd.read_csv(path)["order"].astype(str)[0]
    _edit(path, 4, column, value)
    with pytest.raises(CsvFormatError, match=message):
        scoring.import_scores("nb201", data_dir=data_dir)


def test_import_refuses_a_header_without_the_score_columns(data_dir, capsys):
    path = _csv(data_dir)
    pd.read_csv(path, dtype=str, keep_default_na=False).drop(columns=["synflow", "PG"]).to_csv(path, index=False)
    assert _import(data_dir) == 2
    err = capsys.readouterr().err
    assert "line 1: the header lacks the columns ['synflow', 'PG']" in err and "never computed" in err


def test_a_data_folder_that_cannot_be_written_says_the_rows_are_in_the_store(data_dir, monkeypatch, capsys):
    """Issue 35, item 3: an unwritable data folder ended in a bare traceback (as root, permissions do not
    stop a write, so the write itself is made to fail)."""
    assert _import(data_dir) == 0

    def denied(path, text):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(store_module, "_write_atomically", denied)
    assert main(["score-zoos", "nb201", "--export", "--data-dir", str(data_dir)]) == 2
    err = capsys.readouterr().err
    assert f"cannot write {_csv(data_dir)} (Permission denied); every finished row is in the store" in err
    assert f"score-zoos nb201 --export --data-dir {data_dir}" in err and "Traceback" not in err


def test_a_store_another_process_holds_past_the_timeout_is_named_locked_not_damaged(tmp_path):
    path = tmp_path / "held.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError) as refused:
            ScoreStore(path, timeout=0.2)
    finally:
        holder.execute("COMMIT")
        holder.close()
    assert "locked by another process" in str(refused.value) and "damaged" not in str(refused.value)
    with ScoreStore(path, timeout=0.2):  # the lock released, the same file opens
        pass


class _SwitchAnsweredLocked:
    """A connection whose journal-mode switch SQLite answers "database is locked" ``times`` times at once."""

    def __init__(self, times: int) -> None:
        self.times, self.calls = times, 0

    def execute(self, sql: str) -> None:
        self.calls += 1
        if self.calls <= self.times:
            raise sqlite3.OperationalError("database is locked")


def test_a_journal_switch_answered_locked_is_retried_until_the_timeout():
    switch = _SwitchAnsweredLocked(times=3)
    store_file.write_ahead_log(switch, timeout=5.0)
    assert switch.calls == 4
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        store_file.write_ahead_log(_SwitchAnsweredLocked(times=10**6), timeout=0.2)


def _open_store(path: str, start: multiprocessing.synchronize.Barrier, answers: multiprocessing.Queue) -> None:
    start.wait()
    try:
        with ScoreStore(path, timeout=10):
            answers.put("opened")
    except StoreError as err:
        answers.put(str(err))


def test_a_new_store_opened_by_three_processes_at_once_opens_in_each(tmp_path):
    """Three score runs starting together on a new store file (each switching it to the write-ahead log)."""
    context = multiprocessing.get_context("fork")
    answers = []
    for attempt in range(20):
        path = tmp_path / str(attempt) / "zoo_scores.sqlite"
        start, queue = context.Barrier(3), context.Queue()
        openers = [context.Process(target=_open_store, args=(str(path), start, queue)) for _ in range(3)]
        for opener in openers:
            opener.start()
        for opener in openers:
            opener.join(timeout=60)
        answers += [queue.get(timeout=10) for _ in openers]
    assert answers == ["opened"] * 60, [a for a in answers if a != "opened"][:3]
