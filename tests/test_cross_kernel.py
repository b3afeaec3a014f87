"""The quick profiles' committed numbers, recomputed on other CPU kernels.

``make figures`` commits the trained tables of the quick profiles (chapter 3's
populations, chapter 4's tiny EfficientNets) as the machine that ran it
computed them, and every x86-64 CPU must compute the same tables. Whatever
this machine is, the libraries can be forced onto kernels of another
instruction set, which sum in other orders than its native ones: ATen's
``default`` capability (no AVX), oneDNN limited to SSE4.1, MKL to SSE4.2 and
numpy without its AVX-512 dispatch. These tests rerun the quick profiles in a
subprocess so forced and compare with the tracked tables under ``figures/``,
digit for digit as they are stored. (Measured: in float32 the same forcing
moves chapter 4's quick accuracies by 5-17 points; the quick profiles train in
float64, :mod:`reuseprior.core.precision`.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from reuseprior.core import paths

#: the environment that forces each library onto kernels other than this machine's native ones
FORCED_KERNELS = {
    "ATEN_CPU_CAPABILITY": "default",
    "ONEDNN_MAX_CPU_ISA": "SSE41",
    "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512F AVX512_SKX AVX512_ICL AVX512_SPR",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}

CH3_SCRIPT = """
import sys, pandas as pd, torch
from reuseprior.chapters import ch3_revolver as analysis
from reuseprior.core.precision import default_dtype
from reuseprior.revolver import population
assert torch.backends.cpu.get_cpu_capability() == "DEFAULT", torch.backends.cpu.get_cpu_capability()
torch.set_num_threads(1)
s = analysis.PROFILES["quick"]
modes = sys.argv[2].split(",")
with default_dtype(s.precision):
    splits = population.dataset_splits(s.dataset, s.data_dir, s.download, 0, s.image_size)
pops = population.run_search_modes(s, splits, 0, "cpu", modes=modes)
frame = pd.concat([p.results_frame() for p in pops.values()], ignore_index=True)
analysis.split_measurements(frame)[0].to_csv(sys.argv[1], index=False, float_format="%.10g")
"""

CH4_SCRIPT = """
import sys, torch
from reuseprior.chapters import ch4_sharing_training as st
assert torch.backends.cpu.get_cpu_capability() == "DEFAULT", torch.backends.cpu.get_cpu_capability()
plan = st.make_plan(st.PROFILES["quick"], profile="quick", seed=0)
out = sys.argv[1]
rows = st.run_experiments(plan, seed=0, results_csv=out + ".log.csv", checkpoint_dir=out + ".ck", progress=False)
st.tracked_results(rows).to_csv(out, index=False, float_format="%.10g")
"""


def _run_forced(script: str, out: Path, *args: str) -> pd.DataFrame:
    env = {**os.environ, **FORCED_KERNELS, "PYTHONPATH": str(paths.ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script, str(out), *args], env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return pd.read_csv(out)


def test_forced_kernels_are_other_kernels():
    """The forcing takes effect: ATen reports its ``default`` capability."""
    env = {**os.environ, **FORCED_KERNELS}
    code = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "DEFAULT", done.stdout + done.stderr


def test_chapter_3_quick_populations_are_the_committed_ones_on_other_kernels(tmp_path):
    """Random search and the genetic algorithm of the quick profile (the
    evaluations table of ``figures/ch3_revolver/results.csv``)."""
    committed = pd.read_csv(paths.ROOT / "figures" / "ch3_revolver" / "results.csv")
    modes = ["random", "evolve"]
    forced = _run_forced(CH3_SCRIPT, tmp_path / "results.csv", ",".join(modes))
    expected = committed[committed["mode"].isin(modes)].reset_index(drop=True)
    pd.testing.assert_frame_equal(forced[expected.columns], expected, check_exact=False, rtol=1e-9, atol=0)


def test_chapter_4_quick_runs_are_the_committed_ones_on_other_kernels(tmp_path):
    """The three Table 4.2 models of the quick profile (the tracked
    ``figures/ch4_sharing_training/results.csv``: accuracies, losses to their
    stored four decimals, parameters and FLOPs)."""
    committed = pd.read_csv(paths.ROOT / "figures" / "ch4_sharing_training" / "results.csv")
    forced = _run_forced(CH4_SCRIPT, tmp_path / "results.csv")
    columns = ["model", "params", "flops", "top1_val", "top1_test", *(c for c in committed.columns if "loss" in c)]
    pd.testing.assert_frame_equal(forced[columns], committed[columns], check_exact=False, rtol=1e-9, atol=0)
