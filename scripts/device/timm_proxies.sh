#!/usr/bin/env bash
# timm's data-dependent proxies (SNIP, GraSP, Fisher, grad_norm, jacob_cov, NASWOT) on a lent GPU machine (the
# `device` tool of this workplace), in one call: the zoo's own command, `score-zoos timm --fill-proxies --device
# cuda`, its workers sharing the GPU (models built and seeded on the host's CPU cores as on the CPU; the shared
# pass on the GPU in full float32: reuseprior.zoo.scoring.fill_proxies).
#
# Here, before the call (once per session; .whl/ is git-ignored through .git/info/exclude):
#   bash ../shared/tools/device-wheels.sh timm   # .whl/: dask, distributed, their needs, timm 1.0.31 (the zoo's pin)
# The call (carry [".whl"]):
#   LIMIT=590 W=12 bash scripts/device/timm_proxies.sh
# LIMIT is the call's timeout_s; W the Dask workers sharing the GPU (each a host core; 16 cores there).
# (On an H200 on 2026-11-28, W=13: about one row a second, bound by building the models on the host's cores,
# not by the GPU; 432 rows in about 8 minutes of fills over two calls. That call ran the test below without
# gating on it, and jacob_cov failed on every row through a defect since fixed (its gradient was read into
# NumPy without leaving the GPU): merge_zoo_table.py --requeue put it back into those rows' pending.)
#
# In order, each stage cut so that the next still runs and the export at the end always does:
#   1. the GPU path's own test (tests/test_zoo_device.py: CPU and GPU values of every proxy agree to float32
#      rounding): a gate, the call stops when it fails (values of a broken path are never stored);
#   2. the systematic one-in-ten sample of the zoo's order (`--full-every 10`: spread over the sizes of both
#      subsets), first, so that a call cut short still leaves a sample that represents the zoo;
#   3. the rows the CPU filled, rescored on the GPU in a copy of the table (/tmp/agree): the agreement of the
#      two devices on the same models, returned as $OUT/timm_gpu_rescored_cpu_rows.csv (+ .meta.json);
#   4. every other row that lacks its proxies, in the zoo's order, until LIMIT less 50 s;
#   5. the store exported: $OUT/zoo_scores_v2_timm.csv and its .meta.json, whose `filled` entries name the GPU
#      and the architectures each stage filled; the whole output in $OUT/fill.log.
# Back here, before any later call: check that the returned table changes only proxy columns (and their
# timing and messages, `pending`, `scored_at`) of rows that lacked them, then copy both files into data/ and
# re-execute chapter 6 (`python -m reuseprior build ch6_predictive_validity`).
set -o pipefail
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TQDM_DISABLE=1
if [ -z "${W:-}" ] || [ -z "${LIMIT:-}" ]; then
  echo "give W (workers sharing the GPU, e.g. 12) and LIMIT (the call's timeout_s), as the header says"
  exit 2
fi
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || exit 1
export PYTHONPATH=/tmp/site:$PWD
LOG="$OUT/fill.log"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$LOG"
python3 -c "import torch, timm, pandas, dask; print('torch', torch.__version__, 'timm', timm.__version__, 'pandas',
pandas.__version__, 'dask', dask.__version__)" 2>&1 | tee -a "$LOG"
DEVICE=${DEVICE:-cuda}  # DEVICE=cpu: the same stages on the CPU (a check of the script here, cut short)
# a fill isolates each proxy that runs out of memory in a task of its own; a rescoring takes no --isolate
RESCORE_CLUSTER=(--workers "$W" --max-memory-gb 24 --allow-oversubscribe --device "$DEVICE")
CLUSTER=("${RESCORE_CLUSTER[@]}" --isolate)
left() { echo $(( LIMIT - SECONDS - ${1:-0} )); }
stage() {  # stage NAME SECONDS COMMAND...: the command cut after SECONDS (then killed 15 s later)
  local name=$1 seconds=$2; shift 2
  if [ "$seconds" -lt 30 ]; then echo "== $name: skipped, $seconds s left" | tee -a "$LOG"; return; fi
  echo "== $name: at most $seconds s (at $SECONDS s)" | tee -a "$LOG"
  timeout -k 15 "$seconds" "$@" 2>&1 | grep -v "UserWarning\|warnings.warn\|Hosting the HTTP" | tee -a "$LOG"
  echo "== $name: ended at $SECONDS s" | tee -a "$LOG"
}

echo "== GPU agreement test (a gate: no fill runs when it fails)" | tee -a "$LOG"
if ! timeout 90 python3 -m pytest tests/test_zoo_device.py -q -p no:cacheprovider -k "gpu or batch" 2>&1 | tee -a "$LOG"; then
  echo "the GPU path's values disagree with the CPU's (above): no fill this call" | tee -a "$LOG"
  exit 1
fi
stage "import" 60 python3 -m reuseprior score-zoos timm --import
stage "one-in-ten sample" 150 python3 -m reuseprior score-zoos timm --fill-proxies --full-every 10 "${CLUSTER[@]}"

mkdir -p /tmp/agree && cp -r data/timm data/zoo_scores_v2_timm.csv data/zoo_scores_v2_timm.meta.json /tmp/agree/
CPU_ROWS=$(python3 -c "import pandas as pd; d = pd.read_csv('data/zoo_scores_v2_timm.csv')
print(' '.join(d.loc[d['snip'].notna() | d['naswot'].notna(), 'arch']))")
stage "import (agreement copy)" 30 python3 -m reuseprior score-zoos timm --import --data-dir /tmp/agree
stage "the CPU's rows on the GPU" 90 python3 -m reuseprior score-zoos timm --data-dir /tmp/agree \
  --rescore snip grasp fisher grad_norm jacob_cov naswot --arch $CPU_ROWS "${RESCORE_CLUSTER[@]}"
cp /tmp/agree/zoo_scores_v2_timm.csv "$OUT/timm_gpu_rescored_cpu_rows.csv"
cp /tmp/agree/zoo_scores_v2_timm.meta.json "$OUT/timm_gpu_rescored_cpu_rows.meta.json"

stage "every other row" "$(left 50)" python3 -m reuseprior score-zoos timm --fill-proxies "${CLUSTER[@]}"
python3 -m reuseprior score-zoos timm --export 2>&1 | tee -a "$LOG"
cp data/zoo_scores_v2_timm.csv data/zoo_scores_v2_timm.meta.json "$OUT/"
python3 -m reuseprior score-zoos timm --status 2>&1 | tail -3 | tee -a "$LOG"
nvidia-smi --query-gpu=name,memory.used --format=csv,noheader | tee -a "$LOG"
