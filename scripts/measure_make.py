"""Time the README's commands as a newcomer runs them, into ``data/make_timings.csv``.

``make timings`` runs this (with the system's ``python3``: it needs nothing
beyond the standard library). It clones this checkout's ``HEAD`` into a
temporary folder and, with an empty ``HOME`` (so pip's cache, the virtualenv
under ``~/.cache/reuseprior`` and the datasets are all made anew), runs in
order and times each:

1. ``make env data browser``: the set-up (the virtualenv's size is recorded);
2. ``make test``: pytest's own time, its counts and the items it collected
   (tests and notebook cells) are read from its summary, as for
3. ``make test-fast``, the contributor's check between commits;
4. ``make figures``: whether it left the clone's tree as committed;
5. ``make book``.

Each step's output goes to ``make-<step>.log`` beside the clone. The rows replace the
whole CSV (one measurement, one machine, one date), and the README and
``docs/setup.md`` quote them with ``<!-- source: data/make_timings.csv... -->``
markers, so ``tests/test_readme.py`` fails until the quoted numbers are the
stored ones: after a run, fix the text the test names. Run it on an otherwise
idle machine (the other work on the cores is not subtracted); it takes about
as long as the five commands (about 45 minutes on the 2-core machine), needs the
network for pip and ``make data``, and leaves the clone for reading unless
``--remove`` is given. ``--steps`` runs a prefix of the list above
(``--steps set-up test``), for a quicker partial measurement: the rows of the
steps not run are dropped, so quote only what was measured.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "data" / "make_timings.csv"
#: step -> the command it times
STEPS: dict[str, str] = {
    "set-up": "make env data browser",
    "test": "make test",
    "test-fast": "make test-fast",
    "figures": "make figures",
    "book": "make book",
}
COLUMNS = (
    *("step", "command", "minutes", "from_scratch_minutes", "pytest_minutes", "items", "passed", "skipped"),
    *("failed", "venv_gb", "tree_clean", "machine", "date"),
)
#: what the steps keep of this environment (the Python on the path, a proxy, a package index, the browser skip)
KEPT_ENVIRONMENT = r"PATH|LANG|TERM|PYENV_\w+|(?i:\w+_proxy)|PIP_(?:EXTRA_)?INDEX_URL|REUSEPRIOR_SKIP_BROWSER"
HEADER = (
    "# Wall-clock times of the README's commands in a fresh clone with an empty HOME, in order, on one machine;\n"
    "# written by scripts/measure_make.py (make timings), which says how. from_scratch_minutes: the set-up's and\n"
    "# this step's together. pytest_minutes, items (tests and notebook cells collected), passed, skipped, failed:\n"
    "# read from pytest's summary. venv_gb: the virtualenv after set-up. tree_clean: git status was empty after\n"
    "# the step.\n"
)


def pytest_summary(log: str) -> dict[str, float | int]:
    """The counts, the items collected and pytest's own minutes from a pytest log (the last summary line)."""
    found: dict[str, float | int] = {}
    items = re.findall(r"\[(\d+) items?\]|collected \d+ items? / .*?(\d+) selected|collected (\d+) items?", log)
    if items:  # xdist's count, else the selected ones, else the collected ones
        found["items"] = int(next(x for x in items[-1] if x))
    # "= 2093 passed, 15 skipped in 1440.12s (0:24:00) =", or without the rules under -q
    summaries = re.findall(r"^=* ?((?:\d+ \w+,? ?)+) in ([\d.]+)s(?: \([\d:]+\))?(?: =*)?$", log, re.M)
    if summaries:
        counts, seconds = summaries[-1]
        for number, what in re.findall(r"(\d+) (passed|skipped|failed|errors?)\b", counts):
            key = what if what in ("passed", "skipped") else "failed"  # an error counts as a failure
            found[key] = int(found.get(key, 0)) + int(number)
        found["pytest_minutes"] = round(float(seconds) / 60, 1)
    return found


def machine() -> str:
    """``2 cores, <CPU model>, AVX2`` (or AVX-512): what the times depend on."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"model name\s*:\s*(.+)", info)
    flags = re.search(r"flags\s*:\s*(.+)", info)
    vector = "AVX-512" if flags and "avx512f" in flags.group(1).split() else "AVX2"
    return f"{os.cpu_count()} cores, {model.group(1).strip() if model else 'unknown CPU'}, {vector}"


def _size_gb(path: Path) -> float:
    done = subprocess.run(["du", "-sb", str(path.resolve())], capture_output=True, text=True, check=True)
    return round(int(done.stdout.split()[0]) / 1e9, 1)


def run_step(step: str, clone: Path, env: dict[str, str]) -> dict[str, object]:
    """Run one step in ``clone``, its output into ``make-<step>.log``; its row (without machine and date)."""
    log_path = clone.parent / f"make-{step}.log"
    print(f"{step}: {STEPS[step]} (log: {log_path})", flush=True)
    start = time.monotonic()
    with log_path.open("w") as log:
        done = subprocess.run(STEPS[step].split(), cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT)
    minutes = round((time.monotonic() - start) / 60, 1)
    row: dict[str, object] = {"step": step, "command": STEPS[step], "minutes": minutes}
    if done.returncode != 0:
        raise SystemExit(f"{step}: {STEPS[step]} exited with {done.returncode}; see {log_path}")
    if step.startswith("test"):
        row |= pytest_summary(log_path.read_text())
    if step == "set-up":
        row["venv_gb"] = _size_gb(clone / ".venv")
    status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True, check=True)
    row["tree_clean"] = not status.stdout.strip()
    return row


def write_rows(rows: list[dict[str, object]], path: Path = OUT) -> None:
    """``rows`` as the whole CSV, under the comment header, written whole: into a temporary file of a
    unique name beside ``path``, flushed to disk and renamed over it; removed on any error (the policy of
    ``reuseprior.core.files.atomic_write``, here with the standard library only)."""
    with tempfile.NamedTemporaryFile("w", newline="", dir=path.parent, prefix=f".{path.name}.", delete=False) as f:
        tmp = Path(f.name)
        try:
            f.write(HEADER)
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows({c: row.get(c, "") for c in COLUMNS} for row in rows)
            f.flush()
            os.fsync(f.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    tmp.chmod(0o644)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", nargs="+", choices=list(STEPS), default=list(STEPS), help="a prefix of the steps")
    parser.add_argument("--remove", action="store_true", help="remove the clone and the HOME afterwards")
    args = parser.parse_args(argv)
    if args.steps != list(STEPS)[: len(args.steps)]:
        parser.error(f"--steps must be a prefix of {list(STEPS)}: each step needs the ones before it")
    work = Path(tempfile.mkdtemp(prefix="reuseprior-timings-"))
    clone, home = work / "clone", work / "home"
    home.mkdir()
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)], check=True)
    keep = {k: v for k, v in os.environ.items() if re.fullmatch(KEPT_ENVIRONMENT, k)}
    env = {**keep, "HOME": str(home)}
    stamp = {"machine": machine(), "date": datetime.date.today().isoformat()}
    rows = [{**run_step(step, clone, env), **stamp} for step in args.steps]
    for row in rows:  # make test in a fresh clone: what a newcomer waits for in all
        if row["step"] == "test":
            row["from_scratch_minutes"] = round(float(rows[0]["minutes"]) + float(row["minutes"]), 1)
    write_rows(rows)
    print(f"wrote {OUT}; now run tests/test_readme.py and quote the new numbers where it says", flush=True)
    if args.remove:
        shutil.rmtree(work)
    else:
        print(f"the clone: {clone}; the logs beside it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
