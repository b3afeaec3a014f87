"""The ``study`` command's runner when things go wrong: workers that die or are gone, a run's exception,
a scheduler that does not answer, files it cannot read or write, a cluster larger than the machine, two
commands on one study, the dashboard's sockets; and the flags of its studies (``status``, ch4's
``--data-dir`` and ``--profile gpu``)."""

from __future__ import annotations

import argparse
import errno
import functools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dask
import pandas as pd
import psutil
import pytest
import torch

from reuseprior.chapters import get_study
from reuseprior.chapters.ch4_sharing_training import designs, real_study
from reuseprior.chapters.ch4_sharing_training import runs as ch4_runs
from reuseprior.commands import main
from reuseprior.commands import study as study_command
from reuseprior.commands.parsers import study as study_parsers
from reuseprior.core import distributed, study_runner
from reuseprior.core import files as core_files
from reuseprior.core.claims import RunClaims
from reuseprior.core.distributed import connect
from tests import toy_study

#: the toy studies are registered for each test of this module only
pytestmark = pytest.mark.usefixtures("toy_studies")

PROG = "python -m reuseprior study"


def _threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command's cluster as worker threads of the test's process (no processes to start)."""
    monkeypatch.setattr(study_command, "connect", functools.partial(connect, processes=False, say=lambda _: None))


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# --- item 1: dead workers end the run in bounded time, with the failed runs and why


@pytest.mark.dask
def test_a_cluster_left_without_workers_ends_the_run_naming_the_unfinished_runs(tmp_path, monkeypatch):
    """Every worker gone (as when their nannies cannot restart them): the run stops after the grace period
    instead of waiting forever; the stored runs stay, the open ones are reported failed."""
    monkeypatch.setattr(distributed, "NO_WORKER_GRACE_S", 1.0)
    monkeypatch.setattr(distributed, "POLL_S", 0.05)
    study = toy_study.STUDY.with_store(tmp_path / "toy.csv")
    study.store.put(toy_study.run_one(model="small", seed=0, spec=study))
    outcome: dict[str, list] = {}
    with connect(workers=1, processes=False, say=lambda _: None) as client:
        client.cluster.scale(0)
        while client.nthreads():
            threading.Event().wait(0.05)
        runner = threading.Thread(
            target=lambda: outcome.setdefault("results", study_runner.run_studies([(study, None)], client=client)),
            daemon=True,
        )
        runner.start()
        runner.join(timeout=60)
        assert not runner.is_alive(), "the run waited for workers that never come"
    (result,) = outcome["results"]
    assert "no Dask worker left" in result.stopped and result.killed
    assert set(result.killed.values()) == {"no Dask worker left to finish it"}
    assert len(study.rows()) == 1 and not list(tmp_path.glob(".toy.csv.claims/*.claim"))


@pytest.mark.dask
def test_runs_whose_workers_die_are_named_with_the_cause_and_the_command_fails(tmp_path, monkeypatch, capsys):
    """A run above its worker's memory limit, one that kills its worker: each named with why (the limit and
    the memory at which the nanny restarted the worker; a death that was not the memory's), the toy run
    stored, exit 1."""
    store = tmp_path / "risky.csv"
    argv = ["study", "toy-risky", "run", "--store", str(store), "--workers", "1", "--max-memory-gb", "0.75"]
    assert main([*argv, "--no-progress"]) == 1
    out, err = capsys.readouterr()
    assert "toy-risky: stored 1 runs, 2 pending" in out
    failed = dict(line.split(" failed, not stored: ") for line in err.splitlines() if " failed, not stored: " in line)
    assert failed["toy-risky: hungry/0"].startswith(
        "out of memory (worker limit 0.75 GiB): its worker used more than 0.712 GiB (95% of the limit)"
    )
    assert failed["toy-risky: doomed/0"].startswith("its Dask worker died 2 times while running it, not at the memory")
    assert pd.read_csv(store)["model"].tolist() == ["small"]


# --- item 7: one line, no traceback


@pytest.mark.dask
def test_a_runs_exception_on_its_worker_is_one_line_naming_the_run(tmp_path, monkeypatch, capsys):
    _threads(monkeypatch)
    """Issue 73: the run's exception is one line (no Dask "Compute Failed" block), and the other runs finish."""
    assert main(["study", "toy-broken", "run", "--store", str(tmp_path / "b.csv"), "--no-progress"]) == 1
    out, err = capsys.readouterr()
    line = _one_error_line(err)
    assert re.fullmatch(
        r"toy-broken: broken/0 failed, not stored: ValueError: no such layer in the toy model "
        r"\(raised at toy_study.py, line \d+\)",
        line,
    )
    assert "toy-broken: stored 1 runs, 1 pending" in out
    assert pd.read_csv(tmp_path / "b.csv")["model"].tolist() == ["small"]


def test_a_scheduler_address_that_does_not_answer_is_one_line(tmp_path, monkeypatch, capsys):
    assert main(["study", "toy", "run", "--store", str(tmp_path / "t.csv"), "--scheduler", "notanaddress"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith(f"{PROG}: error: --scheduler notanaddress: no Dask scheduler answers there")


def test_workers_that_fail_to_start_are_one_line(tmp_path, monkeypatch, capsys):
    def nanny_fails(**_):
        raise RuntimeError("Nanny failed to start.")

    monkeypatch.setattr(distributed, "LocalCluster", nanny_fails)
    assert main(["study", "toy", "run", "--store", str(tmp_path / "t.csv"), "--workers", "1"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "the LocalCluster's 1 Dask workers did not start (a worker died while starting" in line


def _loop_thread_late() -> None:
    """What Dask's LoopRunner raises when its event-loop thread has not run within 10 s: a bare assert."""
    raise AssertionError  # a failed `assert loop is not None`, without pytest's rewriting of this module


def test_a_cluster_start_that_fails_in_passing_is_started_again_and_said(tmp_path, monkeypatch, capsys):
    starts = []
    real = distributed.LocalCluster

    def late_once(**options):
        starts.append(options)
        if len(starts) == 1:
            _loop_thread_late()
        return real(**options)

    monkeypatch.setattr(distributed, "LocalCluster", late_once)
    said = []
    with connect(workers=1, processes=False, say=said.append) as client:
        assert len(client.scheduler_info()["workers"]) == 1
    assert len(starts) == 2
    assert re.fullmatch(
        r"Dask LocalCluster did not start \(AssertionError \(raised at test_study_runner.py, line \d+\)\); "
        r"start 2 of 3",
        said[0],
    )


def test_a_cluster_that_never_starts_is_one_line_naming_where_after_every_start(tmp_path, monkeypatch, capsys):
    starts = []

    def always_late(**options):
        starts.append(options)
        _loop_thread_late()

    monkeypatch.setattr(distributed, "LocalCluster", always_late)
    assert main(["study", "toy", "run", "--store", str(tmp_path / "t.csv"), "--workers", "1"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert len(starts) == distributed.LOCAL_CLUSTER_ATTEMPTS
    assert re.search(
        r"the LocalCluster's 1 Dask workers did not start \(AssertionError \(raised at test_study_runner.py, "
        r"line \d+\), after 3 starts\); give fewer --workers",
        line,
    )


def _sleep_then_pid(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


@pytest.mark.dask
def test_a_worker_paused_past_daskss_heartbeat_limit_finishes_its_task_instead_of_being_restarted():
    """A laptop asleep or a command paused with SIGSTOP: the worker is silent longer than Dask's
    worker-ttl (here 1 s, which Dask raises to 10 heartbeats, 5 s for one worker; 5 minutes by
    default), and the scheduler would restart it on resume, cancelling the run it was training."""
    with dask.config.set({"distributed.scheduler.worker-ttl": "1s"}):
        with connect(workers=1, say=lambda _: None) as client:
            (pid,) = client.run(os.getpid).values()
            task = client.submit(_sleep_then_pid, 2.0, pure=False)
            time.sleep(0.5)
            os.kill(pid, signal.SIGSTOP)
            try:
                time.sleep(12.0)  # past the 5 s limit with room for a loaded machine
            finally:
                os.kill(pid, signal.SIGCONT)
            assert task.result(timeout=60) == pid
            assert list(client.run(os.getpid).values()) == [pid]


@pytest.mark.dask
@pytest.mark.parametrize(
    "text, problem",
    [
        (b"plan,model,seed,score\nabc,small,0,0.1\nabc,large,0,1.2,5,6\n", ", line 3: 6 fields where the header has 4"),
        (b"plan,model,seed,score\nabc,sm\xe9ll,0,0.1\n", ": byte 0xe9 at offset 28 is not UTF-8; re-save it as UTF-8"),
    ],
)
@pytest.mark.parametrize("action", ["run", "status"])
def test_a_runs_file_with_glued_rows_or_a_latin1_byte_is_one_line_naming_it(
    tmp_path, monkeypatch, capsys, text, problem, action
):
    _threads(monkeypatch)
    store = tmp_path / "toy.csv"
    store.write_bytes(text)
    assert main(["study", "toy", action, "--store", str(store), "--no-progress"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith(f"{PROG}: error: {store}") and problem in line
    assert store.read_bytes() == text


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in read-only folders")
def test_a_store_in_a_read_only_folder_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(study_command, "connect", lambda **_: pytest.fail("a cluster was started"))
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        assert main(["study", "toy", "run", "--store", str(folder / "toy.csv")]) == 2
    finally:
        folder.chmod(0o755)
    assert "no permission to write in" in _one_error_line(capsys.readouterr().err)


def test_a_store_in_a_folder_that_is_a_file_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    """What a read-only folder gives an unprivileged user, as this (root-proof) case shows: refused up front."""
    monkeypatch.setattr(study_command, "connect", lambda **_: pytest.fail("a cluster was started"))
    (tmp_path / "plain").write_text("")
    assert main(["study", "toy", "run", "--store", str(tmp_path / "plain" / "toy.csv")]) == 2
    assert "is a file, not a folder" in _one_error_line(capsys.readouterr().err)


@pytest.mark.dask
def test_a_full_disk_while_a_row_is_stored_is_one_line_and_keeps_the_rows_stored(tmp_path, monkeypatch, capsys):
    _threads(monkeypatch)
    store = tmp_path / "toy.csv"
    assert main(["study", "toy", "run", "--store", str(store), "--seeds", "0", "--no-progress"]) == 0
    before = store.read_bytes()
    capsys.readouterr()

    def full(*_, **__):
        raise OSError(errno.ENOSPC, "No space left on device", str(store))

    monkeypatch.setattr(core_files.os, "replace", full)
    assert main(["study", "toy", "run", "--store", str(store), "--no-progress"]) == 1
    line = _one_error_line(capsys.readouterr().err)  # the file and the space free there (issue 73)
    assert f"no space left on the device writing {store} (" in line and f"MiB free in {tmp_path})" in line
    assert store.read_bytes() == before and not list(tmp_path.glob(".toy.csv.claims/*.claim"))


# --- item 8: no more workers than the machine holds, unless asked


def _checked(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    study_parsers.add_arguments(parser)
    args = parser.parse_args(argv)
    study_parsers.check_arguments(parser, args)
    study_command.check_run_arguments(parser, args)
    return args


def test_more_workers_than_cores_or_memory_are_refused_with_the_numbers_unless_asked(capsys):
    cores = len(os.sched_getaffinity(0))
    with pytest.raises(SystemExit):
        _checked(["ch3", "run", "--workers", str(cores + 62)])
    assert f"--workers {cores + 62}: {cores + 62} workers on {cores} cores" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _checked(["ch3", "run", "--workers", "1", "--max-memory-gb", "1000000"])
    assert "1 workers of 1e+06 GiB each need" in capsys.readouterr().err
    assert _checked(["ch3", "run", "--workers", str(cores + 62), "--allow-oversubscribe"]).workers == cores + 62


# --- item 9: a run is claimed before it trains


def _live_other_process():
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_a_run_claimed_by_a_live_command_is_skipped_and_a_dead_ones_claim_taken_over(tmp_path):
    study = toy_study.STUDY.with_store(tmp_path / "toy.csv")
    other, dead = _live_other_process(), subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        first, second = (study.store.key_of(run) for run in study.runs[:2])
        for key, pid in ((first, other.pid), (second, dead.pid)):
            theirs = RunClaims(study.store.path, study.plan)
            theirs.claim(key, "theirs")
            theirs.held[key].write_text(f'{{"pid": {pid}, "host": "{os.uname().nodename}", "since": 0}}')
        done = study_runner.run_study(study, progress=False)
    finally:
        other.kill()
        other.wait()
    label = study.label(study.runs[0])
    assert list(done.claimed) == [label] and f"claimed by PID {other.pid}" in done.claimed[label]
    assert len(done.stored) == len(study.runs) - 1  # the dead command's claim did not hold its run
    assert [p.name for p in (tmp_path / ".toy.csv.claims").glob("*.claim")] == [
        RunClaims(study.store.path, study.plan).path_of(first).name
    ]


@pytest.mark.dask
def test_a_second_command_skips_the_runs_the_first_holds_and_says_so(tmp_path, monkeypatch, capsys):
    _threads(monkeypatch)
    store = tmp_path / "toy.csv"
    study = toy_study.STUDY.with_store(store)
    other = _live_other_process()
    try:
        for run in study.runs[:2]:
            claims = RunClaims(store, study.plan)
            claims.claim(study.store.key_of(run), study.label(run))
            claims.held[study.store.key_of(run)].write_text(f'{{"pid": {other.pid}, "host": "{os.uname().nodename}"}}')
        assert main(["study", "toy", "run", "--store", str(store), "--no-progress"]) == 0
    finally:
        other.kill()
        other.wait()
    out = capsys.readouterr().out
    assert f"toy: stored {len(study.runs) - 2} runs, 2 pending" in out
    assert f"toy: {study.label(study.runs[0])} skipped: claimed by PID {other.pid}" in out


# --- item 10: the dashboard listens on the loopback only


def _listening() -> set[tuple[str, int]]:
    """The TCP sockets this process and its children listen on."""
    me = psutil.Process()
    return {
        (c.laddr.ip, c.laddr.port)
        for p in (me, *me.children(recursive=True))
        for c in p.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    }


@pytest.mark.dask
@pytest.mark.parametrize("dashboard", [False, True])
def test_the_cluster_and_its_dashboard_listen_on_the_loopback_only(dashboard):
    said = []
    before = _listening()
    with connect(workers=1, processes=False, dashboard=dashboard, say=said.append) as client:
        opened = _listening() - before
        port = client.cluster.scheduler_info["services"]["dashboard"]
    assert opened and {ip for ip, _ in opened} == {"127.0.0.1"}, opened
    if dashboard:
        assert f"dashboard http://127.0.0.1:{port}/status" in said[0] and ("127.0.0.1", port) in opened
    else:
        assert "dashboard off (--dashboard serves it on 127.0.0.1)" in said[0]


# --- the flags: status takes no cluster flag, ch4 takes --data-dir, ch4 --profile gpu needs a GPU


@pytest.mark.parametrize("flags", [["--workers", "2"], ["--scheduler", "tcp://h:8786"], ["--max-memory-gb", "4"]])
def test_status_refuses_the_cluster_flags_it_would_ignore(flags, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["study", "ch3", "status", *flags])
    assert exit_.value.code == 2
    assert f"{flags[0]}: only 'run' starts a Dask cluster; 'status' does not take them" in capsys.readouterr().err


def test_ch4_reads_its_images_from_the_data_dir_given(tmp_path, monkeypatch):
    args = _checked(["ch4", "run", "--data-dir", str(tmp_path)])
    assert study_command._request(args, get_study("ch4")).options["data_dir"] == tmp_path
    seen = {}

    def train_model(plan, *_, **__):
        seen["data_dir"] = plan.data_dir
        return {"status": "stopped"}

    monkeypatch.setattr(ch4_runs, "train_model", train_model)
    spec = real_study.CPU_STUDY
    run = spec.runs[0]
    assert ch4_runs.train_run(**run, spec=spec, work_dir=tmp_path, data_dir=tmp_path / "datasets") is None
    assert seen["data_dir"] == tmp_path / "datasets"


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for a machine without CUDA")
def test_ch4_gpu_profile_without_a_gpu_is_refused_with_the_hours_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(study_command, "connect", lambda **_: pytest.fail("a cluster was started"))
    argv = ["study", "ch4", "run", "--profile", "gpu", "--store", str(tmp_path / "r.csv")]
    assert main([*argv, "--work-dir", str(tmp_path / "w")]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith(f"{PROG}: error: study ch4 --profile gpu trains on cuda, and PyTorch sees no CUDA GPU here")
    assert "runs pending at Table 4.2's sizes" in line and "hours each on a 2-core CPU" in line
    assert line.endswith("give --device cpu to train on this CPU anyway") and not Path(tmp_path / "r.csv").exists()


def test_ch4s_declared_profiles_train_on_the_devices_of_its_table42_profiles():
    assert get_study("ch4").profiles == {name: p.device for name, p in designs.STUDY_PROFILES.items()}
