"""The scripts of a lent device call (``scripts/device/``): what comes back from the machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reuseprior.training.loop import TrainConfig
from reuseprior.training.loop.checkpoints import read_checkpoint_file, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
RETURN = ROOT / "scripts" / "device" / "return_checkpoints.py"


def _checkpoint(path: Path, epoch: int, epochs: int = 20, pad_bytes: int = 0) -> None:
    config = TrainConfig(epochs=epochs, batch_size=16, lr_base=0.05).to_dict()
    save_checkpoint({"config": config, "epoch": epoch, "padding": torch.zeros(pad_bytes, dtype=torch.uint8)}, path)


def _return(work: Path, out: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(RETURN), str(work), str(out)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_only_unfinished_checkpoints_come_back_costliest_model_first(tmp_path):
    work, out = tmp_path / "work", tmp_path / "out"
    folder = work / "a9fab84a6bda" / "checkpoints"
    folder.mkdir(parents=True)
    out.mkdir()
    names = {
        "finished": "t-a9fab84a6bda-fashion-mnist-V2-S-shared-w0.5-d1-s0.pt",
        "b0": "t-a9fab84a6bda-fashion-mnist-V2-B0-shared-w0.5-d1-s1.pt",
        "v2s": "t-a9fab84a6bda-fashion-mnist-V2-S-shared-w0.5-d1-s1.pt",
        "too_big": "t-a9fab84a6bda-fashion-mnist-V2-B0-original-w0.5-d1-s1.pt",
    }
    _checkpoint(folder / names["finished"], epoch=20)
    _checkpoint(folder / names["b0"], epoch=17)
    _checkpoint(folder / names["v2s"], epoch=15)
    _checkpoint(folder / names["too_big"], epoch=14, pad_bytes=17 * 2**20)  # over the tool's 16 MiB a file
    (out / names["finished"]).write_bytes(b"a copy from an earlier pass, when the run was unfinished")

    printed = _return(work, out)

    assert sorted(p.name for p in out.iterdir()) == sorted([names["v2s"], names["b0"]])
    assert printed.index(names["v2s"]) < printed.index(names["b0"])  # the costlier model first
    assert read_checkpoint_file(out / names["v2s"])["epoch"] == 15


@pytest.mark.parametrize(
    ("pad_mib", "others", "expected"),
    [
        (0, ("ch4_runs.csv", "ch4_runs.lock"), 6),
        (0, ("ch4_runs.csv", "ch4_runs.lock", "study.log", "fit_throughput_h100_w1.0_b512.json"), 4),
        (11, ("ch4_runs.csv", "ch4_runs.lock"), 5),
    ],
)
def test_the_tool_s_file_count_and_total_size_bound_what_comes_back(tmp_path, pad_mib, others, expected):
    """8 unfinished V2-S-shared runs, epoch = seed, beside the other files the call returns: small ones stop
    at the tool's 8 files less those, 11 MiB ones at its 64 MiB less a margin (a 6th would pass it); the
    furthest along come back."""
    work, out = tmp_path / "work", tmp_path / "out"
    folder = work / "6ee88e37251d" / "checkpoints"
    folder.mkdir(parents=True)
    out.mkdir()
    for name in others:
        (out / name).write_text("returned beside the checkpoints\n")
    for seed in range(8):
        name = f"t-6ee88e37251d-fashion-mnist-V2-S-shared-w0.5-d1-s{seed}.pt"
        _checkpoint(folder / name, epoch=seed, pad_bytes=pad_mib * 2**20)

    printed = _return(work, out)

    back = sorted(out.glob("*.pt"))
    assert sorted(read_checkpoint_file(p)["epoch"] for p in back) == list(range(8 - expected, 8))
    assert "left on the machine" in printed and "-s0.pt" in printed
