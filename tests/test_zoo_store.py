"""The zoo scores' store (SQLite, one transaction per row) and the Dask runs that fill it (issue 16).

A tiny synthetic zoo (a few milliseconds per row), defined at module level so
that Dask's worker processes can import it, stands in for NAS-Bench-201 in the
kill -9 tests."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from reuseprior.baselines.proxies import DATA_DEPENDENT
from reuseprior.chapters.ch6_predictive_validity import LIVE_TOLERANCE
from reuseprior.commands import analyze_zoo as analyze_zoo_command
from reuseprior.commands import main
from reuseprior.core import paths
from reuseprior.core.cpu import device_description
from reuseprior.zoo import scoring, torchvision_analysis
from reuseprior.zoo.distributed import (
    JOBS_PER_THREAD,
    PRE_SPAWN_ENVIRON,
    Call,
    Killed,
    TaskFailedError,
    connect,
    run_jobs,
)
from reuseprior.zoo.scoring import jobs as scoring_jobs
from reuseprior.zoo.store import CsvFormatError, OutOfSyncError, ScoreStore, TableSpec, csv_bytes, meta_path

pytestmark = pytest.mark.dask  # make test-fast leaves these out

HAS_ANALOG = importlib.util.find_spec("analognasbench") is not None
TESTS = Path(__file__).resolve().parent
ZOOS = ("nb201", "torchvision", "pytorchcv")
#: The committed CSVs: version 1 (the published version of every zoo until version 2 is complete).
COMMITTED = 1
WIDTH = len(scoring.stored_columns(COMMITTED))
#: The table a run writes now.
TINY_TABLE = f"zoo_scores_v{scoring.SCORES_VERSION}_tiny"
ANALYSIS = TableSpec(
    "torchvision_zoo_analysis",
    (
        ("model", "TEXT"),
        ("crop", "INTEGER"),
        ("NG", "INTEGER"),
        ("WG", "INTEGER"),
        ("PG", "REAL"),
        ("PG_prime", "REAL"),
        ("ES", "REAL"),
        ("H", "REAL"),
        ("seconds", "REAL"),
    ),
    "model",
    dialect="csv",
)
assert torchvision_analysis.table(torchvision_analysis.DEFAULT_OUT) == ANALYSIS


# --- a tiny zoo: module level, so that the workers (and the client subprocess) import it by name

TINY_SIZE = 60


def _tiny_catalogue() -> pd.DataFrame:
    return pd.DataFrame(
        {"arch": [f"tiny{i:03d}" for i in range(TINY_SIZE)], "accuracy": np.linspace(10.0, 90.0, TINY_SIZE)}
    )


def _tiny_build(arch: str) -> nn.Module:
    """A small CNN whose width depends on ``arch``; logs the building process's
    id to ``$TINY_PID_LOG`` and sleeps ``$TINY_SLEEP`` seconds (a row in flight)."""
    if os.environ.get("TINY_PID_LOG"):
        with open(os.environ["TINY_PID_LOG"], "a") as log:
            log.write(f"{os.getpid()}\n")
    time.sleep(float(os.environ.get("TINY_SLEEP", "0")))
    width = 2 + int(arch[4:]) % 3
    return nn.Sequential(nn.Conv2d(3, width, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10))


def _tiny_order(cat: pd.DataFrame, seed: int) -> list[str]:
    return cat["arch"].tolist()


def _test_zoo(name: str, catalogue, build) -> scoring.Zoo:
    """A test zoo of ``catalogue``'s architectures in their listed order, 8 px images, 4 a minibatch, 10 classes."""
    return scoring.Zoo(
        name, "test zoo", catalogue, build, batch_size=4, image_size=8, num_classes=10, order=_tiny_order
    )


def tiny_zoo() -> scoring.Zoo:
    return _test_zoo("tiny", _tiny_catalogue, _tiny_build)


def _client_main(data_dir: str, workers: int, processes: bool = True, limit: int | None = None) -> None:
    """A scoring client, run as its own process by the tests (``python -c``)."""
    scoring.register_zoo(tiny_zoo())
    if processes:
        scoring.score_zoo("tiny", data_dir=Path(data_dir), workers=workers, progress=False, limit=limit)
        return
    with connect(workers=workers, processes=False, say=lambda _: None) as client:
        scoring.score_zoo("tiny", data_dir=Path(data_dir), client=client, progress=False, limit=limit)


def _start_client(
    data_dir: Path, env: dict[str, str], workers: int = 2, processes: bool = True, limit: int | None = None
) -> subprocess.Popen:
    code = (
        f"import sys; sys.path[:0] = [{str(TESTS)!r}, {str(paths.ROOT)!r}]; import test_zoo_store; "
        f"test_zoo_store._client_main({str(data_dir)!r}, {workers}, {processes}, {limit})"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code],
        env={**os.environ, "OMP_NUM_THREADS": "1", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _stored(store: Path, table: str = TINY_TABLE) -> pd.DataFrame:
    """The rows of ``table`` as committed, read by a separate connection (empty before the table exists)."""
    if not store.exists():
        return pd.DataFrame(columns=["arch"])
    with sqlite3.connect(store, timeout=60) as db:
        if db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone() is None:
            return pd.DataFrame(columns=["arch"])
        return pd.read_sql_query(f'SELECT * FROM "{table}"', db)


def _wait_for(condition, what: str, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def threads_client():
    """A Dask client whose single worker is a thread of this process (fast; no kill possible)."""
    with connect(workers=1, processes=False, say=lambda _: None) as client:
        yield client


# --- the store and the CSVs


def test_import_then_export_reproduces_every_committed_csv_byte_for_byte(tmp_path):
    with ScoreStore(tmp_path / "store.sqlite") as store:
        for zoo in ZOOS:
            source = scoring.scores_path(zoo, COMMITTED)
            spec = scoring.scores_table(zoo, COMMITTED)
            assert store.import_csv(spec, source) == len(pd.read_csv(source))
            out = tmp_path / source.name
            store.export_csv(spec, out)
            # the text byte for byte (a compressed file's bytes depend on the liblzma that wrote it)
            assert csv_bytes(out) == csv_bytes(source), zoo
            assert meta_path(out).read_bytes() == meta_path(source).read_bytes(), zoo
            assert (out.stat().st_mode & 0o777) == 0o644  # not the temporary file's private mode
        source = paths.DATA_DIR / "torchvision_zoo_analysis.csv"
        store.import_csv(ANALYSIS, source)
        store.export_csv(ANALYSIS, tmp_path / source.name)
        assert (tmp_path / source.name).read_bytes() == source.read_bytes()
        frame = store.rows(scoring.scores_table("torchvision", COMMITTED))
    pd.testing.assert_frame_equal(frame, scoring.load_scores("torchvision", COMMITTED), check_dtype=False)


def _torchvision_lines(n: int) -> list[str]:
    return scoring.scores_path("torchvision", COMMITTED).read_text().splitlines(keepends=True)[: n + 1]


def test_a_partial_last_row_is_refused_with_its_line_number_not_read_as_a_finished_row(tmp_path):
    """A kill during an append leaves half a row, which pandas reads as a
    finished architecture (never scored again) and onto which the next append
    is glued. The import refuses it, naming the line, and changes nothing."""
    lines = _torchvision_lines(3)
    path = scoring.scores_path("torchvision", data_dir=tmp_path)  # the current version's, with older rows
    path.write_text("".join(lines[:3]) + lines[3][:150])  # killed in the middle of the third row
    assert len(pd.read_csv(path)) == 3  # what pandas makes of it
    spec = scoring.scores_table("torchvision")
    with ScoreStore(tmp_path / "zoo_scores.sqlite") as store:
        with pytest.raises(CsvFormatError, match=r"line 4: the last row is cut short .* delete that line"):
            store.import_csv(spec, path)
        assert not store.has_table(spec)
    with pytest.raises(CsvFormatError, match="line 4"):  # a run refuses to start on it too
        scoring.fill_proxies("torchvision", data_dir=tmp_path, progress=False)
    path.write_text("".join(lines[:3]) + lines[3][:150] + lines[1])  # the next append glued onto it
    with pytest.raises(CsvFormatError, match=rf"line 4: \d+ fields where the header has {WIDTH}"):
        scoring.import_scores("torchvision", data_dir=tmp_path)


def test_a_truncated_middle_row_is_refused_and_so_are_other_malformed_rows(tmp_path):
    """A truncated middle row, if kept, would never get its missing proxies
    (only rows lacking every proxy are filled); the import names its line."""
    lines = _torchvision_lines(4)
    cut = lines[2].split(",")
    path = scoring.scores_path("torchvision", data_dir=tmp_path)
    path.write_text(lines[0] + lines[1] + ",".join(cut[:20]) + "\n" + lines[3])
    kept = pd.read_csv(path).iloc[1]  # pandas keeps it: some proxies there, the others missing
    assert pd.notna(kept["snip"]) and kept[["grad_norm", "naswot"]].isna().all()
    spec = scoring.scores_table("torchvision")
    with ScoreStore(tmp_path / "s.sqlite") as store:
        with pytest.raises(CsvFormatError, match=f"line 3: 20 fields where the header has {WIDTH}"):
            store.import_csv(spec, path)
        fields = lines[2].split(",")
        bad = {
            "not a number": (",".join([*fields[:2], "oops", *fields[3:]]), "line 3: accuracy = 'oops' is not a number"),
            "repeated arch": (lines[1], r"line 3: arch 'squeezenet1_0' again \(first on line 2\)"),
            "empty arch": (",".join([fields[0], "", *fields[2:]]), "line 3: empty arch"),
        }
        for _what, (row, message) in bad.items():
            path.write_text(lines[0] + lines[1] + row + lines[3])
            with pytest.raises(CsvFormatError, match=message):
                store.import_csv(spec, path)
        path.write_text(lines[0].replace("errors", "errs") + lines[1])
        with pytest.raises(CsvFormatError, match=r"line 1: unknown columns \['errs'\]"):
            store.import_csv(spec, path)
        old_header = pd.read_csv(scoring.scores_path("torchvision", COMMITTED)).head(2)
        old_header = old_header.drop(columns=["data_dependent_seconds"])
        old_header.to_csv(path, index=False, float_format="%.17g")  # written before a column existed: imported empty
        assert store.import_csv(spec, path) == 2 and store.rows(spec)["data_dependent_seconds"].isna().all()


def test_a_csv_changed_since_the_last_export_is_refused_until_imported_or_overwritten(
    tmp_path, threads_client, monkeypatch, register
):
    register(scoring.ZOOS, "tiny", tiny_zoo())
    path = scoring.score_zoo("tiny", limit=3, data_dir=tmp_path, client=threads_client, progress=False)
    assert (tmp_path / "zoo_scores.sqlite").exists()  # the store beside a data folder of one's own
    edited = pd.read_csv(path).iloc[:2]
    edited.to_csv(path, index=False, float_format="%.17g")  # a git pull, say
    with pytest.raises(OutOfSyncError, match="changed since the store .* --import .* --export"):
        scoring.score_zoo("tiny", limit=4, data_dir=tmp_path, client=threads_client, progress=False)
    assert scoring.import_scores("tiny", data_dir=tmp_path) == 2
    scoring.score_zoo("tiny", limit=4, data_dir=tmp_path, client=threads_client, progress=False)
    assert pd.read_csv(path)["arch"].tolist() == ["tiny000", "tiny001", "tiny002", "tiny003"]
    path.write_text("edited\n")
    scoring.export_scores("tiny", data_dir=tmp_path)  # or take the store's rows
    assert len(pd.read_csv(path)) == 4


def test_cli_exports_imports_and_refuses_the_removed_shard_flag(tmp_path, capsys):
    committed = scoring.scores_path("torchvision", COMMITTED)
    with ScoreStore(tmp_path / "upgraded.sqlite") as store:  # the current version's CSV as the store writes it
        store.import_csv(scoring.scores_table("torchvision"), committed)
        source = tmp_path / scoring.scores_path("torchvision").name
        store.export_csv(scoring.scores_table("torchvision"), source)
    written = source.read_bytes()
    store = tmp_path / "elsewhere.sqlite"
    assert main(["score-zoos", "torchvision", "--import", "--data-dir", str(tmp_path), "--store", str(store)]) == 0
    assert "80 rows imported" in capsys.readouterr().out
    source.unlink()
    assert main(["score-zoos", "torchvision", "--export", "--data-dir", str(tmp_path), "--store", str(store)]) == 0
    assert source.read_bytes() == written
    assert main(["score-zoos", "pytorchcv", "--export", "--data-dir", str(tmp_path), "--store", str(store)]) == 2
    assert "holds no pytorchcv rows" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["score-zoos", "nb201", "--shard", "0/2"])
    assert "sharding was removed" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["score-zoos", "nb201", "--scheduler", "tcp://x:8786", "--workers", "2"])
    assert "an existing cluster" in capsys.readouterr().err


def test_analyze_torchvision_stores_the_committed_rows_and_lists_the_failures(tmp_path, monkeypatch):
    """``python -m reuseprior analyze-torchvision``: one Dask task per model, the
    committed row's values (all but the seconds), a failure listed and the exit
    status 1; a second run skips the stored model and tries the failure again. (The
    command refuses a name that is no classifier before any work; here it is let
    through, so that its worker fails.)"""
    names = torchvision_analysis.classifier_names()
    monkeypatch.setattr(analyze_zoo_command, "classifier_names", lambda: [*names, "no_such_net"])
    out = tmp_path / "torchvision_zoo_analysis.csv"
    args = ["analyze-torchvision", "--models", "squeezenet1_1", "no_such_net", "--out", str(out), "--workers", "1"]
    assert main(args) == 1
    assert (tmp_path / "zoo_scores.sqlite").exists()  # the store beside a folder of one's own
    committed = pd.read_csv(torchvision_analysis.DEFAULT_OUT).set_index("model")
    ours = pd.read_csv(out).set_index("model")
    assert ours.index.tolist() == ["squeezenet1_1"]
    values = [c for c in torchvision_analysis.FIELDS if c not in ("model", "seconds")]
    pd.testing.assert_frame_equal(ours[values], committed.loc[["squeezenet1_1"], values])
    failures = torchvision_analysis.failures_path(out).read_text()
    assert failures.startswith("no_such_net,") and "ValueError: Unknown model no_such_net" in failures
    stored = out.read_bytes()
    assert main(["analyze-torchvision", "--models", "squeezenet1_1", "--out", str(out), "--workers", "1"]) == 0
    assert out.read_bytes() == stored and torchvision_analysis.failures_path(out).read_text() == ""


# --- concurrent writers and kill -9


_ROWS = TableSpec("rows", (("key", "TEXT"), *((f"v{j}", "REAL") for j in range(40)), ("note", "TEXT")), "key")
#: A writer process: rows ``start, start + step, ... < stop``, each value its key's number, until killed.
_WRITER = """
import sys
from reuseprior.zoo.store import ScoreStore, TableSpec
store, start, stop, step = sys.argv[1], *map(int, sys.argv[2:])
spec = TableSpec("rows", (("key", "TEXT"), *((f"v{j}", "REAL") for j in range(40)), ("note", "TEXT")), "key")
with ScoreStore(store) as db:
    for i in range(start, stop, step):
        db.insert(spec, {"key": f"k{i:05d}", **{f"v{j}": float(i) for j in range(40)}, "note": "x" * 2000})
"""


def _start_writer(store: Path, start: int, stop: int, step: int, tmpdir: Path) -> subprocess.Popen:
    tmpdir.mkdir(exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(store), str(start), str(stop), str(step)],
        env={**os.environ, "TMPDIR": str(tmpdir), "PYTHONPATH": str(paths.ROOT)},
    )


def _new_rows_store(path: Path) -> Path:
    with ScoreStore(path) as store:
        store.create(_ROWS)
    return path


def _count_rows(store: Path) -> int:
    with sqlite3.connect(store, timeout=60) as db:
        return db.execute("SELECT count(*) FROM rows").fetchone()[0]


def _check_rows(store: Path) -> pd.DataFrame:
    """Every stored row whole (all 40 values equal the key's number) and stored once."""
    with sqlite3.connect(store) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = pd.read_sql_query("SELECT * FROM rows", db)
    assert rows["key"].is_unique and rows["_position"].is_unique
    numbers = rows["key"].str[1:].astype(float)
    assert all((rows[f"v{j}"] == numbers).all() for j in range(40)) and (rows["note"].str.len() == 2000).all()
    return rows


def test_concurrent_writers_with_different_tmpdirs_store_each_row_once(tmp_path):
    """Two writers of the same rows store each row once: the store's primary
    key and its own lock (SQLite's, not a file under $TMPDIR) hold whatever
    their $TMPDIR."""
    store = _new_rows_store(tmp_path / "store.sqlite")
    writers = [_start_writer(store, 0, 400, 1, tmp_path / "a"), _start_writer(store, 0, 400, 1, tmp_path / "b")]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    assert sorted(_check_rows(store)["key"]) == [f"k{i:05d}" for i in range(400)]


def test_kill_9_of_a_writer_at_any_point_leaves_no_partial_or_duplicate_row(tmp_path):
    store = _new_rows_store(tmp_path / "store.sqlite")
    rng = np.random.default_rng(0)
    before = 0
    for _ in range(4):
        writer = _start_writer(store, 0, 100_000, 1, tmp_path)
        deadline = time.monotonic() + 120
        while _count_rows(store) <= before:  # kill only once this writer is writing new rows
            assert writer.poll() is None and time.monotonic() < deadline, "the writer stopped before writing"
            time.sleep(0.02)
        time.sleep(0.2 * rng.random())  # then at a random point of its next rows
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        rows = _check_rows(store)
        assert len(rows) >= before  # committed rows are never lost
        before = len(rows)
    assert before > 0 and sorted(rows["key"]) == [f"k{i:05d}" for i in range(before)]


@pytest.mark.skipif(sys.platform != "linux", reason="kills worker processes by pid")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # jacob_cov of a tiny model, here
def test_a_local_cluster_run_survives_kill_9_of_a_worker_and_of_the_client(
    tmp_path, threads_client, monkeypatch, register
):
    """The run goes on when a worker is killed (its nanny restarts it, the task
    is retried); a killed client loses only the rows in flight; the next run
    (here, in this process: the quickest to start) completes the zoo with every
    row stored once, whole, equal to a row computed here."""
    log = tmp_path / "pids.log"
    env = {"TINY_PID_LOG": str(log), "TINY_SLEEP": "0.15"}
    store = tmp_path / "zoo_scores.sqlite"
    client = _start_client(tmp_path, env)
    try:
        _wait_for(lambda: len(_stored(store)) >= 5, "5 stored rows")
        worker = int(log.read_text().split()[-1])
        os.kill(worker, signal.SIGKILL)
        after_worker_kill = len(_stored(store))
        _wait_for(lambda: len(_stored(store)) >= after_worker_kill + 10, "rows after the worker was killed")
        committed = set(_stored(store)["arch"])
        client.send_signal(signal.SIGKILL)
        client.wait(timeout=30)
    finally:
        if client.poll() is None:
            client.kill()
    survivors = set(_stored(store)["arch"])
    assert committed <= survivors and len(survivors) < TINY_SIZE  # nothing committed is lost; the run was cut short
    pids = {int(p) for p in log.read_text().split()}
    _wait_for(lambda: not any(_alive(p) for p in pids), "the killed client's workers to exit", timeout=60)
    register(scoring.ZOOS, "tiny", tiny_zoo())
    scoring.score_zoo("tiny", data_dir=tmp_path, client=threads_client, progress=False)
    rows = _stored(store)
    assert sorted(rows["arch"]) == _tiny_catalogue()["arch"].tolist() and rows["arch"].is_unique
    assert rows[["params", "flops", "synflow", "snip", "naswot", "PG", "CE", "scored_at"]].notna().all(axis=None)
    exported = pd.read_csv(scoring.scores_path("tiny", data_dir=tmp_path))
    assert sorted(exported["arch"]) == sorted(rows["arch"])
    here = scoring.score_architecture(tiny_zoo(), "tiny007", reuse=True)
    stored = exported.set_index("arch").loc["tiny007"]
    for column in ["params", "synflow", "snip", "grasp", "naswot", "PG", "entropy"]:
        assert stored[column] == here[column] or (np.isnan(stored[column]) and np.isnan(here[column])), column


def test_two_score_runs_at_once_store_each_row_once(tmp_path):
    """The same end to end: two scoring commands on one store, each with its own $TMPDIR."""
    for name in "ab":
        (tmp_path / name).mkdir()
    runs = [
        _start_client(tmp_path, {"TMPDIR": str(tmp_path / name)}, workers=1, processes=False, limit=20) for name in "ab"
    ]
    for run in runs:
        output, _ = run.communicate(timeout=300)
        assert run.returncode == 0, output
    rows = _stored(tmp_path / "zoo_scores.sqlite")
    assert sorted(rows["arch"]) == _tiny_catalogue()["arch"].tolist()[:20]
    assert len(pd.read_csv(scoring.scores_path("tiny", data_dir=tmp_path))) == 20


# --- out of memory on Dask: recorded, then the follow-up tasks


def test_the_follow_up_tasks_of_a_killed_worker_drop_grasp_then_score_each_proxy_alone():
    """The ladder of :class:`scoring.ArchJob`, fed outcomes by hand."""
    names = sorted(DATA_DEPENDENT)
    killed = Killed(memory_limit=18 * 2**30, attempts=2)
    job = scoring.ArchJob(
        tiny_zoo(), "tiny000", {"arch": "tiny000", "accuracy": 10.0}, 0, names, reuse=False, each_alone=True
    )
    (first,) = job.start()
    (without,) = job.receive(first, killed)
    assert without.tag == "without_grasp" and "grasp" not in without.args[4]
    fine = {"arch": "tiny000", "errors": "", **{p: 1.0 for p in names if p != "grasp"}}
    (alone,) = job.receive(without, fine)  # GraSP, killed beside the others, alone next
    assert alone.tag == "alone" and alone.args[4] == ["grasp"]
    message = json.loads(job.rec["errors"])["grasp"]
    assert message.startswith("out of memory (worker limit 18 GiB)") and "without GraSP's double backward" in message
    assert job.receive(alone, {"grasp": 5.0, "errors": ""}) == [] and job.rec["grasp"] == 5.0
    assert job.rec["errors"] == ""

    fill = scoring.ArchJob(
        tiny_zoo(),
        "tiny000",
        {"arch": "tiny000", "accuracy": 10.0},
        0,
        ["naswot", "snip"],
        reuse=False,
        each_alone=True,
    )
    (first,) = fill.start()
    calls = fill.receive(first, killed)  # no GraSP, no data-free score: every proxy NaN, then each alone
    assert sorted(c.args[4][0] for c in calls) == ["naswot", "snip"] and np.isnan(fill.rec["snip"])
    fill.receive(calls[0], {calls[0].args[4][0]: 3.0, "errors": ""})
    fill.receive(calls[1], killed)  # killed alone too: the first message stands
    errors = json.loads(fill.rec["errors"])
    assert list(errors) == [calls[1].args[4][0]] and errors[calls[1].args[4][0]].startswith("out of memory")

    row = scoring.ArchJob(
        tiny_zoo(), "tiny000", {"arch": "tiny000", "accuracy": 10.0}, 0, ["params", "snip"], reuse=True, each_alone=True
    )
    (first,) = row.start()
    (free,) = row.receive(first, killed)  # a scoring run keeps the data-free scores
    assert free.tag == "data_free" and free.args[4] == ["params"]
    assert row.receive(free, {"params": 7.0, "errors": ""}) == [] and np.isnan(row.rec["snip"])
    assert row.receive(free, killed) == [] and row.rec is not None
    nothing = scoring.ArchJob(tiny_zoo(), "tiny000", {"arch": "tiny000"}, 0, ["params"], reuse=False, each_alone=True)
    assert (
        nothing.receive(nothing.start()[0], killed) == [] and nothing.rec is None and "out of memory" in nothing.failure
    )

    isolated = scoring.ArchJob(tiny_zoo(), "tiny000", {"arch": "tiny000"}, 0, names, reuse=False, each_alone=False)
    oom = {
        "arch": "tiny000",
        **{p: np.nan for p in names},
        "naswot": 2.0,
        "errors": json.dumps({p: "RuntimeError: can't allocate memory" for p in names if p != "naswot"}),
    }
    calls = isolated.receive(isolated.start()[0], oom)  # allocation errors inside the task: each alone
    assert sorted(c.args[4][0] for c in calls) == sorted(set(names) - {"naswot"})
    isolated.receive(
        calls[0], {calls[0].args[4][0]: np.nan, "errors": json.dumps({calls[0].args[4][0]: "MemoryError: "})}
    )
    assert json.loads(isolated.rec["errors"])[calls[0].args[4][0]] == "MemoryError:  (alone, in a follow-up task)"


class _KilledInDoubleBackward(torch.autograd.Function):
    """Identity whose backward kills its process when differentiated again (GraSP only)."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        if torch.is_grad_enabled():
            os.kill(os.getpid(), signal.SIGKILL)
        return grad


class _Fragile(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.act, self.head = nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Linear(4, 10)

    def forward(self, x):
        return self.head(_KilledInDoubleBackward.apply(self.act(self.conv(x))).mean(dim=(2, 3)))


class _Hungry(nn.Module):
    """Holds 1.5 GiB of touched memory in its forward: beyond a 1 GiB worker limit."""

    def __init__(self):
        super().__init__()
        self.conv, self.head = nn.Conv2d(3, 4, 3), nn.Linear(4, 10)

    def forward(self, x):
        hoard = torch.ones(3 * 2**27)  # 1.5 GiB
        time.sleep(1)  # the nanny checks every 100 ms
        return self.head(self.conv(x).mean(dim=(2, 3))) + hoard[0]


def _fragile_catalogue() -> pd.DataFrame:
    return pd.DataFrame({"arch": ["fragile", "hungry"], "accuracy": [50.0, 60.0]})


def _fragile_build(arch: str) -> nn.Module:
    return _Fragile() if arch == "fragile" else _Hungry()


@pytest.mark.skipif(sys.platform != "linux", reason="needs worker processes that can be killed")
def test_a_task_that_kills_its_worker_is_recorded_as_out_of_memory_naming_the_limit(tmp_path, monkeypatch, register):
    zoo = _test_zoo("fragile", _fragile_catalogue, _fragile_build)
    names = sorted(DATA_DEPENDENT)
    rows = pd.DataFrame({"order": [0, 1], "arch": ["fragile", "hungry"], "accuracy": [50.0, 60.0]})
    rows.reindex(columns=scoring.stored_columns()).to_csv(
        scoring.scores_path("fragile", data_dir=tmp_path), index=False
    )
    register(scoring.ZOOS, "fragile", zoo)
    with connect(workers=1, max_memory_gb=1, allowed_failures=0, say=lambda _: None) as client:
        assert scoring.fill_proxies("fragile", data_dir=tmp_path, client=client, progress=False, archs=["fragile"]) == 1
        # killed in every pass: NaN, and each proxy alone next (two here, to keep the test short)
        scoring.rescore_proxies(
            "fragile", ["naswot", "snip"], archs=["hungry"], data_dir=tmp_path, client=client, progress=False
        )
    filled = pd.read_csv(scoring.scores_path("fragile", data_dir=tmp_path)).set_index("arch")
    here = scoring.score_architecture(zoo, "fragile", reuse=False, proxies=[p for p in names if p != "grasp"])
    errors = json.loads(filled.at["fragile", "errors"])
    assert list(errors) == ["grasp"] and np.isnan(filled.at["fragile", "grasp"])  # killed beside the others and alone
    # a worker that its task SIGKILLs died from outside, not at its nanny's memory limit: said so, with the limit
    assert errors["grasp"].startswith(
        "its Dask worker died once while running it, not at the memory limit (worker limit 1 GiB)"
    )
    assert all(filled.at["fragile", p] == here[p] for p in names if p != "grasp")
    hungry = json.loads(filled.at["hungry", "errors"])
    assert set(hungry) == {"naswot", "snip"} and all(
        m.startswith("out of memory (worker limit 1 GiB)") for m in hungry.values()
    )


def _hungry_catalogue() -> pd.DataFrame:
    return pd.DataFrame({"arch": ["hungry"], "accuracy": [60.0]})


@pytest.mark.skipif(sys.platform != "linux", reason="needs worker processes that can be killed")
def test_a_model_out_of_memory_in_every_task_is_stored_refused_and_retried_under_a_higher_limit(
    tmp_path, register
) -> None:
    zoo = _test_zoo("hungry", _hungry_catalogue, _fragile_build)
    register(scoring.ZOOS, "hungry", zoo)
    data_free = ["params", "flops"]

    def score(limit_gib: float, retry: bool = False) -> pd.Series:
        with connect(workers=1, max_memory_gb=limit_gib, allowed_failures=0, say=lambda _: None) as client:
            scoring.score_zoo(
                "hungry",
                data_dir=tmp_path,
                client=client,
                progress=False,
                reuse=False,
                full_every=10**6,
                retry_out_of_memory=retry,
            )
        return pd.read_csv(scoring.scores_path("hungry", data_dir=tmp_path)).set_index("arch").loc["hungry"]

    refused = score(1)  # the 1.5 GiB forward (FLOPs are counted on a real forward) kills every task
    message = json.loads(refused["errors"])["build"]
    assert message.startswith("out of memory while scoring, in every task: out of memory (worker limit 1 GiB)")
    assert refused["accuracy"] == 60.0 and refused[data_free].isna().all()
    assert scoring.refused_for_memory(refused["errors"])
    assert score(4)["errors"] == refused["errors"], "a stored refusal is not scored again by default"
    retried = score(4, retry=True)
    assert "build" not in json.loads(retried["errors"]) and retried["params"] == 3 * 4 * 9 + 4 + 4 * 10 + 10
    assert retried["flops"] > 0


def _echo(i: int) -> int:
    return i


class _CountedJob:
    """A job of one call that notes, when it starts, how many jobs are open."""

    def __init__(self, i: int, open_jobs: set[int], most_open: list[int]) -> None:
        self.i, self.open_jobs, self.most_open, self.outcome = i, open_jobs, most_open, None

    def start(self) -> list[Call]:
        self.open_jobs.add(self.i)
        self.most_open.append(len(self.open_jobs))
        return [Call(_echo, (self.i,), what=f"job {self.i}", tag="all")]

    def receive(self, call: Call, outcome: object) -> list[Call]:
        self.outcome = outcome
        return []


def test_run_jobs_keeps_two_jobs_per_worker_thread_open_and_runs_every_job(threads_client):
    """The others wait in this process, not on the scheduler (whose cost per task grows with the tasks it holds)."""
    open_jobs: set[int] = set()
    most_open: list[int] = []
    jobs = [_CountedJob(i, open_jobs, most_open) for i in range(12)]
    finished: list[int] = []

    def on_done(job: _CountedJob) -> None:
        open_jobs.discard(job.i)
        finished.append(job.i)

    assert run_jobs(threads_client, jobs, on_done=on_done, desc="test", progress=False) == 12
    threads = sum(threads_client.nthreads().values())
    assert max(most_open) == JOBS_PER_THREAD * threads < len(jobs)
    assert sorted(finished) == list(range(12)) and [j.outcome for j in jobs] == list(range(12))


def test_local_cluster_workers_keep_glibcs_allocator_settings(monkeypatch):
    """Dask's nanny would set MALLOC_TRIM_THRESHOLD_, which switches off glibc's
    dynamic mmap threshold (2x the CPU time per NAS-Bench-201 cell,
    benchmarks/bench_worker_allocator.py); connect() leaves it unset, in its
    workers and in this process (where the nanny writes it)."""
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    assert dask.config.get(PRE_SPAWN_ENVIRON).get("MALLOC_TRIM_THRESHOLD_") is not None  # what is overridden
    with connect(workers=1, max_memory_gb=1, say=lambda _: None) as client:
        in_workers = client.run(os.environ.get, "MALLOC_TRIM_THRESHOLD_")
        in_caller = os.environ.get("MALLOC_TRIM_THRESHOLD_")
    assert len(in_workers) == 1 and set(in_workers.values()) == {None}
    assert in_caller is None


# --- the same values through Dask, and interruption


@pytest.mark.skipif(not HAS_ANALOG, reason="analog-nasbench not installed")
def test_nb201_rows_computed_on_a_local_cluster_equal_the_stored_rows(tmp_path):
    """The live check: the first cells of the seeded order, scored by Dask worker processes."""
    path = scoring.score_zoo("nb201", limit=2, full_every=2, data_dir=tmp_path, workers=1, progress=False)
    live = pd.read_csv(path).set_index("arch")
    version = scoring.published_version("nb201")
    stored = scoring.load_scores("nb201", version).set_index("arch").loc[live.index]
    # the scores whose definition the stored version shares with this code (scoring.comparable_scores)
    values = ["order", "accuracy", *scoring.comparable_scores(version), "errors"]
    data_dependent = sorted(DATA_DEPENDENT)
    full = live["order"] == 0
    assert live.loc[full, data_dependent].notna().all(axis=None) and live.loc[~full, data_dependent].isna().all(
        axis=None
    )
    checked = pd.concat([live.loc[full, values], live.loc[~full, [c for c in values if c not in data_dependent]]])
    # the float32 proxies to another CPU's rounding (the chapter's live-check tolerance), the rest exactly;
    # GraSP, whose terms cancel, is judged against their magnitude by the chapter's live check, not here
    for arch, row in checked.iterrows():
        for column, value in row.dropna().items():
            if column == "grasp":
                continue
            if column in DATA_DEPENDENT:
                assert value == pytest.approx(stored.at[arch, column], rel=LIVE_TOLERANCE["float32"]), (arch, column)
            else:
                assert value == stored.at[arch, column], (arch, column)


def _broken_build(arch: str) -> nn.Module:
    if arch == "tiny002":
        raise ValueError(f"cannot build {arch!r}")
    return _tiny_build(arch)


def test_a_task_that_raises_stops_the_run_naming_the_architecture_and_keeps_the_finished_rows(
    tmp_path, threads_client, monkeypatch, register
):
    zoo = _test_zoo("tiny", _tiny_catalogue, _broken_build)
    register(scoring.ZOOS, "tiny", zoo)
    with pytest.raises(TaskFailedError, match="scoring tiny002 .* failed on a Dask worker: ValueError: cannot build"):
        scoring.score_zoo("tiny", limit=4, data_dir=tmp_path, client=threads_client, progress=False)
    assert pd.read_csv(scoring.scores_path("tiny", data_dir=tmp_path))["arch"].tolist() == ["tiny000", "tiny001"]
    with pytest.raises(ValueError, match="needs isolate=True"):
        scoring.fill_proxies("tiny", max_memory_gb=8, data_dir=tmp_path)


def test_sigterm_stops_the_run_and_exports_the_rows_it_finished(tmp_path, threads_client, monkeypatch, register):
    register(scoring.ZOOS, "tiny", tiny_zoo())
    real, calls = scoring.score_architecture, []

    def stopped_on_third_row(*args, **kwargs):
        calls.append(args[1])
        if len(calls) == 3:
            time.sleep(1)  # the client stores the second row meanwhile
            os.kill(os.getpid(), signal.SIGTERM)  # as `kill PID` would
            time.sleep(2)  # the client takes the signal while this row is in flight
        return real(*args, **kwargs)

    monkeypatch.setattr(scoring_jobs, "score_architecture", stopped_on_third_row)
    # the handler in place before the run (SIG_DFL in a fresh process; in a pytest-xdist worker that
    # executed notebooks first, whatever the notebook machinery left): the run must put it back
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        scoring.score_zoo("tiny", data_dir=tmp_path, client=threads_client, progress=False)
    exported = pd.read_csv(scoring.scores_path("tiny", data_dir=tmp_path))
    assert exported["arch"].tolist() == calls[:2]  # finished before the signal: stored and exported
    assert signal.getsignal(signal.SIGTERM) is before  # handler restored


def test_the_export_at_the_end_of_a_run_never_overwrites_a_csv_changed_during_it(tmp_path):
    """A git pull during a long run brought new rows into the CSV: the run's
    export refuses (its rows stay in the store) instead of dropping them; an
    explicit export (--export) still overwrites."""
    spec = TableSpec("t", (("key", "TEXT"), ("v", "REAL")), "key")
    csv = tmp_path / "t.csv"
    with ScoreStore(tmp_path / "store.sqlite") as store:
        store.attach(spec, csv, say=lambda _: None)
        store.insert(spec, {"key": "a", "v": 1.0})
        store.export_csv(spec, csv, overwrite_changed=False)
        csv.write_text(csv.read_text() + "teammate,2\n")  # the pull, during the next run
        store.insert(spec, {"key": "b", "v": 3.0})
        with pytest.raises(OutOfSyncError, match="changed during the run"):
            store.export_csv(spec, csv, overwrite_changed=False)
        assert "teammate" in csv.read_text() and store.count(spec) == 2
        store.export_csv(spec, csv)
        assert "teammate" not in csv.read_text() and "b," in csv.read_text()


def test_rows_and_their_record_changed_together_are_left_as_they_were_when_interrupted(tmp_path):
    """modify_rows writes several rows and the table's metadata in one transaction: an interruption
    while the record is made (a Ctrl-C) leaves every row and the metadata unchanged; a row already as
    asked is neither written nor passed to the record."""
    spec = TableSpec("t", (("key", "TEXT"), ("v", "REAL")), "key")
    with ScoreStore(tmp_path / "store.sqlite") as store:
        store.create(spec)
        for key, v in (("a", 1.0), ("b", 2.0), ("c", 3.0)):
            store.insert(spec, {"key": key, "v": v})
        store.set_meta(spec, {"history": []})

        def to_ten(row):
            return {} if row["v"] == 10.0 else {"v": 10.0}

        def interrupted(meta, changed):
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            store.modify_rows(spec, ["a", "b"], to_ten, interrupted)
        assert store.rows(spec)["v"].tolist() == [1.0, 2.0, 3.0] and store.meta(spec) == {"history": []}
        store.modify(spec, "b", lambda row: {"v": 10.0})
        changed = store.modify_rows(spec, ["a", "b", "z"], to_ten, lambda meta, keys: {"history": keys})
        assert changed == ["a"] and store.meta(spec) == {"history": ["a"]}
        assert store.rows(spec)["v"].tolist() == [10.0, 10.0, 3.0]


def test_a_fill_cut_short_records_the_rows_it_stored_in_the_history(tmp_path, threads_client, monkeypatch, register):
    register(scoring.ZOOS, "tiny", tiny_zoo())
    scoring.score_zoo("tiny", data_dir=tmp_path, client=threads_client, progress=False, full_every=10**6)
    real, calls = scoring.score_architecture, []

    def stopped_on_third_row(*args, **kwargs):
        calls.append(args[1])
        if len(calls) == 3:
            time.sleep(1)  # the client stores the second row meanwhile
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(2)
        return real(*args, **kwargs)

    monkeypatch.setattr(scoring_jobs, "score_architecture", stopped_on_third_row)
    with pytest.raises(KeyboardInterrupt):
        scoring.fill_proxies("tiny", data_dir=tmp_path, client=threads_client, progress=False)
    meta = json.loads(meta_path(scoring.scores_path("tiny", data_dir=tmp_path)).read_text())
    assert [sorted(entry["archs"]) for entry in meta["filled"]] == [sorted(calls[:2])]
    assert meta["filled"][0]["device"] == device_description("cpu")
