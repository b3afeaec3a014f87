"""The package as a library user gets it: a wheel built from the checkout,
installed into a fresh virtualenv and run from outside the repository.

The fresh virtualenv holds only the wheel (installed by pip, with its
``reuseprior`` console script); the dependencies (torch, pandas, ...) come
from the test's own environment through a path file, so no network is
needed. The checkout is nowhere on the path: ``PYTHONPATH`` is cleared and
the commands run in a temporary folder.
"""

from __future__ import annotations

import json
import os
import pathlib
import site
import subprocess
import sys
import sysconfig
import zipfile

import pytest
import torch
import torchvision

from reuseprior.counting import analyze

pytestmark = pytest.mark.wheel  # make test-fast leaves these out

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[pathlib.Path, dict[str, str], pathlib.Path]:
    """(the fresh virtualenv, an environment without the checkout, the wheel) with the wheel installed."""
    tmp = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PIP_CONSTRAINT"}}
    env["PIP_CONSTRAINT"] = "/dev/null"
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp / "dist"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp / "dist").glob("reuseprior-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env)
    purelib = pathlib.Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    # dependencies from this environment, appended after the wheel's own site-packages
    (purelib / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    return venv, {**env, "HOME": str(tmp)}, wheel


def test_wheel_carries_the_data_and_the_console_script(installed):
    venv, env, wheel = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    # the data files a clone carries (a running study's lock files beside them are not tracked)
    tracked = subprocess.run(["git", "ls-files", "data"], cwd=ROOT, capture_output=True, text=True, check=True)
    data = {f"reuseprior/_data/{line[len('data/') :]}" for line in tracked.stdout.splitlines()}
    assert data and data <= names, f"data files missing from the wheel: {sorted(data - names)}"
    assert "reuseprior/py.typed" in names  # PEP 561: type checkers read the package's hints
    assert (venv / "bin" / "reuseprior").is_file()
    usage = subprocess.run([str(venv / "bin" / "reuseprior"), "--help"], capture_output=True, text=True, env=env)
    assert usage.returncode == 0 and usage.stdout.startswith("usage: reuseprior ")


def test_installed_wheel_analyzes_a_torchvision_model_outside_the_checkout(installed, tmp_path):
    venv, env, _ = installed
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import reuseprior; print(reuseprior.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    ).stdout.strip()
    assert pathlib.Path(where).is_relative_to(venv), f"reuseprior imported from {where}, not the installed wheel"
    run = subprocess.run(
        [str(venv / "bin" / "reuseprior"), "analyze", "resnet18", "--input", "3,32,32", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout)
    expected = analyze(torchvision.models.resnet18(), torch.zeros(1, 3, 32, 32))
    assert got["PG"] == pytest.approx(expected.PG, rel=1e-12)
    assert got["PG_prime"] == pytest.approx(expected.PG_prime, rel=1e-12)


def test_the_console_script_finds_a_users_model_in_the_working_directory_as_python_m_does(installed, tmp_path):
    """``reuseprior analyze mymodel:build_net`` run from the folder holding ``mymodel.py``: a console script
    starts without the working directory on its import path, which ``python -m`` has."""
    venv, env, _ = installed
    (tmp_path / "mymodel.py").write_text(
        "from torch import nn\n"
        "def build_net():\n"
        "    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))\n"
    )
    answers = [
        subprocess.run(
            [*program, "analyze", "mymodel:build_net", "--input", "3,8,8", "--json"],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        for program in ([str(venv / "bin" / "reuseprior")], [str(venv / "bin" / "python"), "-m", "reuseprior"])
    ]
    assert [a.returncode for a in answers] == [0, 0], [a.stderr[-2000:] for a in answers]
    script, module = (json.loads(a.stdout) for a in answers)
    assert script == module and script["NG"] > 0


def test_installed_wheel_reads_the_thesis_tables_from_its_own_data(installed, tmp_path):
    venv, env, _ = installed
    code = (
        "from reuseprior.core import paths; from reuseprior.reporting.reference import load_thesis_table; "
        "assert not paths.IN_CHECKOUT; print(paths.DATA_DIR); print(len(load_thesis_table('table_5_1')))"
    )
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr[-3000:]
    data_dir, rows = out.stdout.split()
    assert pathlib.Path(data_dir).is_relative_to(venv) and int(rows) > 0
