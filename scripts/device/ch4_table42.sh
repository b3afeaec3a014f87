#!/usr/bin/env bash
# Chapter 4's Table 4.2 study on a lent GPU machine (the `device` tool of this workplace), in one call.
#
# Here, before the call (once per session; both folders are git-ignored through .git/info/exclude):
#   bash ../shared/tools/device-wheels.sh pandas        # .whl/: dask, distributed, their needs, pandas 3
#   mkdir -p .devcarry && (cd build/datasets && tar -cf - FashionMNIST/raw | xz -9 -T2) > .devcarry/fmnist.tar.xz
# The call (carry [".whl", ".devcarry"]; the tracked tree plus both must stay under 64 MiB: measured
# 2026-11-26, the tracked tree 22.2 MB, the wheels 15.2 MB, the data 26.5 MB, 63.9 MB = 60.9 MiB in all):
#   W=12 MIN=8 LIMIT=600 bash scripts/device/ch4_table42.sh [--profile cpu|gpu] [--only model=V2-S-shared]
# (--only, and any other `study ch4 run` filter, gives the GPU the runs that cost the CPU most: a V2-S-shared
# run at width 0.5 takes about 8 minutes there with 15 runs sharing an H100, and 3 hours on the 2-core CPU.)
# It trains what is pending of the study (the recipe protocol first, then the chosen recipe's study) with
# W Dask workers sharing the GPU, starts no epoch after MIN minutes, and writes the run store to
# $OUT/ch4_runs.csv; every minute, and once more at the end, the unfinished runs' checkpoints that the
# device tool can return are copied beside it (scripts/device/return_checkpoints.py). Back here, its new
# rows join the tracked store (those already stored are kept):
#   python -c "from reuseprior.chapters.ch4_sharing_training import real_study as r; print(r.CPU_STUDY.store.merge_from('FILE'))"
# and each returned checkpoint goes into build/ch4_real_study/<plan>/checkpoints/ (the plan is in its
# name), where `study ch4 run` on the CPU resumes it; its row then names both machines and their epochs.
set -o pipefail
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONUNBUFFERED=1
W=${W:-12}
MIN=${MIN:-8}
if [ ! -d /tmp/site/dask ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
fi
export PYTHONPATH=/tmp/site:$PWD
if [ ! -f build/datasets/FashionMNIST/raw/train-images-idx3-ubyte ]; then
  mkdir -p build/datasets && tar -xJf .devcarry/fmnist.tar.xz -C build/datasets || exit 1
fi
cp data/ch4_real_study_runs.csv "$OUT/ch4_runs.csv"
WORK=/tmp/ch4_work
mkdir -p "$WORK"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
(while sleep 60; do python3 scripts/device/return_checkpoints.py "$WORK" "$OUT"; done) >/dev/null 2>&1 &
RETURNER=$!
# stop the study in time for the last copy and the status, within the call's LIMIT seconds (the timeout_s given)
STOP=$(( ${MIN%.*} * 60 + 90 ))
LEFT=$(( ${LIMIT:-600} - SECONDS - 60 ))
timeout $(( STOP < LEFT ? STOP : LEFT )) python3 -m reuseprior study ch4 run "$@" --device cuda --workers "$W" \
  --max-minutes "$MIN" --work-dir "$WORK" --store "$OUT/ch4_runs.csv" --no-progress 2>&1 \
  | grep -v "^  \|UserWarning\|Perhaps you\|Hosting the HTTP"
kill "$RETURNER"
python3 scripts/device/return_checkpoints.py "$WORK" "$OUT"
python3 -m reuseprior study ch4 status "$@" --store "$OUT/ch4_runs.csv" 2>&1 | tail -8
