"""The Makefile's set-up steps as a user without root meets them (issue 45, item 1).

``make browser`` runs first in ``make test``: with ``REUSEPRIOR_SKIP_BROWSER=1``
it must do nothing whatever is installed, with Chromium and chromedriver on the
path it must do nothing either, as root it installs them with apt-get, and
anyone else is told the command and the variable and stopped. Each case runs
the real recipe under a ``PATH`` holding only stand-ins (``id``, ``apt-get``,
``chromium``, ``chromedriver``) and the tools the Makefile reads at parse time.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from reuseprior.core import paths

MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")


def _path_with(tmp_path: Path, *, uid: int, programs: tuple[str, ...]) -> str:
    """A folder for ``PATH`` with ``id -u`` answering ``uid``, ``programs`` as stand-ins that log their
    arguments, and the real tools the Makefile's variables call."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sha256sum", "cut"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    stand_ins = {"id": f"#!/bin/bash\necho {uid}\n"}
    stand_ins |= {name: f'#!/bin/bash\necho "{name} $*" >> {tmp_path / "calls"}\n' for name in programs}
    for name, text in stand_ins.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return str(bin_dir)


def _make_browser(tmp_path: Path, *, uid: int, programs: tuple[str, ...], skip: str | None):
    env = {"PATH": _path_with(tmp_path, uid=uid, programs=programs), "HOME": str(tmp_path)}
    if skip is not None:
        env["REUSEPRIOR_SKIP_BROWSER"] = skip
    done = subprocess.run(
        [MAKE, "-s", "browser"], cwd=paths.ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    calls = (tmp_path / "calls").read_text().splitlines() if (tmp_path / "calls").exists() else []
    return done, calls


@pytest.mark.parametrize("programs", [(), ("chromium",), ("apt-get",)])
def test_skip_browser_skips_the_step_whatever_is_installed(tmp_path, programs):
    done, calls = _make_browser(tmp_path, uid=1000, programs=programs, skip="1")
    assert (done.returncode, done.stdout, calls) == (0, "", []), done.stderr


def test_installed_chromium_and_driver_are_enough(tmp_path):
    done, calls = _make_browser(tmp_path, uid=1000, programs=("chromium", "chromedriver", "apt-get"), skip=None)
    assert (done.returncode, calls) == (0, []), done.stdout + done.stderr


def test_root_installs_them_with_apt_get(tmp_path):
    done, calls = _make_browser(tmp_path, uid=0, programs=("chromium", "apt-get"), skip="0")
    assert done.returncode == 0, done.stdout + done.stderr
    assert calls == ["apt-get update -qq", "apt-get install -y -qq chromium chromium-driver"]


def test_without_root_the_step_says_the_command_and_the_variable(tmp_path):
    done, calls = _make_browser(tmp_path, uid=1000, programs=("chromium", "apt-get"), skip=None)
    assert done.returncode != 0 and calls == []
    assert "sudo apt-get install chromium chromium-driver" in done.stdout
    assert "REUSEPRIOR_SKIP_BROWSER=1 make test" in done.stdout


def test_test_fast_leaves_out_every_marker_pyproject_says_it_does():
    """``make test-fast``'s ``-m`` expression and the markers' descriptions in pyproject.toml agree (issue 45,
    item 10: the heavy checks joined the markers it leaves out)."""
    markers = tomllib.loads((paths.ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["markers"]
    left_out = {m.split(":")[0] for m in markers if "make test-fast leaves" in m}
    recipe = re.search(r"^test-fast:.*\n\t(.*)$", (paths.ROOT / "Makefile").read_text(), re.M).group(1)
    expression = re.search(r'-m "([^"]+)"', recipe).group(1)
    assert left_out == {"heavy", "wheel", "book", "dask"}
    assert set(re.findall(r"not (\w+)", expression)) == left_out, expression


#: what a ``make`` run started by ``make test`` would inherit from it: the folder, and make's own settings
_INHERITED_FROM_MAKE = {paths.DATASETS_ENV_VAR, "DATA_DIR", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"}


def _datasets_folder_seen_by_make(*make_args: str, env: dict[str, str] | None = None) -> str:
    """What the commands of a ``make`` run see as ``$REUSEPRIOR_DATASETS_DIR``, with ``env`` added to a
    clean environment."""
    env = {k: v for k, v in os.environ.items() if k not in _INHERITED_FROM_MAKE} | (env or {})
    show = 'show-datasets-dir: ; @echo "[$$REUSEPRIOR_DATASETS_DIR]"'
    done = subprocess.run(
        [MAKE, "-s", "--eval", show, "show-datasets-dir", *make_args],
        cwd=paths.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_data_dir_moves_the_datasets_folder_of_every_command_and_notebook(tmp_path):
    """``make figures DATA_DIR=/elsewhere`` fetches the datasets there, and every command and notebook the
    run starts reads them there: the Makefile exports the folder, and the package's default follows it."""
    assert _datasets_folder_seen_by_make() == "[]"  # the default: nothing exported, build/datasets
    assert _datasets_folder_seen_by_make(f"DATA_DIR={tmp_path}") == f"[{tmp_path}]"
    assert _datasets_folder_seen_by_make("DATA_DIR=mydata") == f"[{paths.ROOT / 'mydata'}]"  # the notebooks run
    assert _datasets_folder_seen_by_make("DATA_DIR=build/datasets") == "[]"  # elsewhere: an absolute path
    assert _datasets_folder_seen_by_make(env={paths.DATASETS_ENV_VAR: str(tmp_path)}) == f"[{tmp_path}]"
    script = (
        "from reuseprior.datasets import DEFAULT_DATA_DIR, load_standard_splits\n"
        "from reuseprior.commands.parsers.data import add_arguments\n"
        "import argparse\n"
        "parser = argparse.ArgumentParser(); add_arguments(parser)\n"
        "print(DEFAULT_DATA_DIR); print(parser.parse_args(['verify']).data_dir)\n"
        "try:\n    load_standard_splits('mnist', image_size=14)\n"
        "except Exception as err:\n    print(type(err).__name__, err)\n"
    )
    env = os.environ | {paths.DATASETS_ENV_VAR: str(tmp_path)}
    seen = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120, check=True
    ).stdout.splitlines()
    assert seen[:2] == [str(tmp_path), str(tmp_path)]
    assert seen[2].startswith(f"DatasetNotFoundError MNIST is not under {tmp_path}.")
