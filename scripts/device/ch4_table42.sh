#!/usr/bin/env bash
# Chapter 4's Table 4.2 study on a lent GPU machine (the `device` tool of this workplace), in one call.
#
# Here, before the call (once per session; both folders git-ignored through .git/info/exclude, so that a call
# carries them only when asked to):
#   bash ../shared/tools/device-wheels.sh timm   # .whl/: dask, distributed, their needs, timm
#   mkdir -p .devcarry && (cd build/datasets && tar -cf - FashionMNIST/raw | xz -9 -T2) > .devcarry/fmnist.tar.xz
#   grep -qx '/.devcarry/' .git/info/exclude || echo '/.devcarry/' >> .git/info/exclude
# (timm 1.0.31 or later: the device's own timm may predate RMSpropTF's multi-tensor path, and one tensor at a
# time the optimizer makes a step of V2-S-shared about 2.7 times the ATen calls of a plain step; see
# benchmarks/bench_fit_launches.py. The script refuses to train without it. The device's own pandas serves:
# 3.0.6 there on 2026-11-26.)
# The call (carry [".whl", ".devcarry"]; the tracked tree plus both must stay under 64 MiB as the tool counts
# them, which is more than their bytes: on 2026-11-26 it refused the tracked tree's 22.3 MB, 18.0 MB of wheels
# with pandas's and the data's 26.5 MB, and took them without pandas's 12.0 MB wheel):
#   W=4 LIMIT=570 [BENCH=1] [MAXRUNS=N] [MARGIN=S] [STUDY=ch4|ch4-confirm] bash scripts/device/ch4_table42.sh [--profile cpu|gpu] [--only model=...]
# STUDY (default ch4) names the declared study: ch4-confirm trains the confirmatory Table 4.2 study, whose
# runs are never resumed on another machine kind, so no checkpoint of it comes back; give it whole seeds
# (--seeds, four runs each, W = MAXRUNS = 4 x the seeds) so that no seed is left half trained on the GPU.
# (On an H200 on 2026-11-26, 12 processes sharing it trained V2-S-shared at width 0.5 and batch 128 at about
# 1,250 images/s each: data/device/fit_throughput_h200_w0.5_b128.json.)
# (On an H200 on 2026-11-28, LIMIT=585 MARGIN=30 W=12 --seeds 103 104 105 stored all 12 runs, 203 to 347 s
# each, in a 476 s call; LIMIT=345 W=4 --seeds 106 on the machine still warm left V2-S-shared unfinished: give
# a seed's call at least 420 s.)
# W (Dask workers sharing the GPU) and LIMIT (the call's timeout_s) must be given: the cpu profile's many small
# runs and the gpu profile's few large ones want different W. The study starts one wave, MAXRUNS runs (default
# W), and no epoch after the time left: LIMIT less the set-up, the benchmark, 60 s for the last copies and
# MARGIN (default 90 s).
# (On an H100 on 2026-11-26, --profile gpu with W=4: a B0 run took about 200 s of training, V2-S-shared about
# 430 s, four sharing the GPU: with BENCH=1 (about two minutes) a V2-S-shared run does not fit a 570 s call, so
# give that call --only model=V2-B0-original --only model=V2-B0-shared --only model=V2-B0-narrow. A gpu
# checkpoint is over the tool's 16 MiB a file and stays on the machine: a machine still warm keeps
# /tmp/ch4_work, so only a second call made at once resumes the runs the first left unfinished there.)
# (BENCH=1 first measures fit's throughput for V2-S-shared at width 1.0 and batch 512, under the recipe the
# 10,000 img/s goal was set on and the one the study trains, beside a plain step of the same model on the same
# GPU, with benchmarks/bench_fit_throughput.py into $OUT/fit_throughput_<gpu>-<date>_w1.0_b512.json, about
# two minutes of the call; stored as it is in data/device/ (an earlier measurement keeps its file), it joins
# the notebook's table.)
# (--only, and any other `study ch4 run` filter, gives the GPU the runs that cost the CPU most: a V2-S-shared
# run at width 0.5 takes about 8 minutes there with 15 runs sharing an H100, and 3 hours on the 2-core CPU.)
# It trains what is pending of the study (the recipe protocol first, then the chosen recipe's study) with
# W Dask workers sharing the GPU, at most MAXRUNS runs, no epoch started in the last MARGIN s of its share, and
# writes the run store to $OUT/ch4_runs.csv, its whole output to $OUT/study.log; every minute, and once more at the end, the
# unfinished runs' checkpoints that the device tool can return are copied beside it
# (scripts/device/return_checkpoints.py). Back here, before any later call (a fresh machine starts from the
# tracked store), its new rows join the tracked store (those already stored are kept):
#   python -c "from reuseprior.chapters.ch4_sharing_training import real_study as r; print(r.CPU_STUDY.store.merge_from('FILE'))"
# (STUDY=ch4-confirm: `python -c "from reuseprior.chapters.ch4_sharing_training import confirmatory as c;
# print(c.merge_whole_seeds('FILE', c.STUDY))"` instead, which stores only the seeds the call trained whole)
# and each returned checkpoint goes into build/ch4_real_study/<plan>/checkpoints/ (the plan is in its
# name), where `study ch4 run` on the CPU resumes it; its row then names both machines and their epochs.
# Then: `python -m reuseprior build ch4_sharing_training`, and the numbers docs/trained-studies.md and
# docs/paper-scale.md quote of the gpu column and of the throughput (`make test` names any that moved).
set -o pipefail
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONUNBUFFERED=1
if [ -z "${W:-}" ] || [ -z "${LIMIT:-}" ]; then
  echo "give W (workers sharing the GPU, e.g. 4 for --profile gpu) and LIMIT (the call's timeout_s), as the header says"
  exit 2
fi
if [ ! -d /tmp/site/dask ] || [ ! -d /tmp/site/timm ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
fi
export PYTHONPATH=/tmp/site:$PWD
python3 -c "import torch, timm; from timm.optim import RMSpropTF; from reuseprior.training.loop import updates_one_tensor_at_a_time as one
slow = one(RMSpropTF([torch.zeros(1, requires_grad=True)]), torch.device('cuda'))
print('timm', timm.__version__, '(RMSpropTF one tensor at a time)' if slow else '(RMSpropTF multi-tensor)'); raise SystemExit(slow)" \
  || { echo "no timm 1.0.31 or later imports on the device: carry its wheel (device-wheels.sh timm)"; exit 1; }
if [ ! -f build/datasets/FashionMNIST/raw/train-images-idx3-ubyte ]; then
  mkdir -p build/datasets && tar -xJf .devcarry/fmnist.tar.xz -C build/datasets || exit 1
fi
cp data/ch4_real_study_runs.csv "$OUT/ch4_runs.csv"
WORK=/tmp/ch4_work
mkdir -p "$WORK"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | awk '{print tolower($2)}')
if [ "${BENCH:-0}" = 1 ]; then
  python3 benchmarks/bench_fit_throughput.py --device cuda --models V2-S-shared --width 1.0 --batch 512 --steps 25 \
    --recipes official-steps-peruse adamw-cosine --out "$OUT/fit_throughput_${GPU:-gpu}-$(date -u +%Y%m%d)_w1.0_b512.json" \
    2>&1 | grep -v "UserWarning"
fi
STUDY=${STUDY:-ch4}
RETURN=1
[ "$STUDY" = ch4-confirm ] && RETURN=0   # its runs resume only on the machine kind that began them
if [ "$RETURN" = 1 ]; then
  (while sleep 60; do python3 scripts/device/return_checkpoints.py "$WORK" "$OUT"; done) >/dev/null 2>&1 &
  RETURNER=$!
fi
# the study's share of the call's LIMIT seconds: what is left less 60 s for the last copy and the status; it
# starts no epoch in its last MARGIN s (default 90: an epoch of a gpu run is under that; a cpu-profile epoch
# takes about 20 s with 12 runs sharing an H200, so 30 serves it) and is cut at the end of its share
LEFT=$(( LIMIT - SECONDS - 60 ))
if [ "${MARGIN:-90}" -ge $(( LEFT - 30 )) ]; then
  echo "MARGIN=${MARGIN:-90} leaves the study under 30 s of the $LEFT s left of LIMIT=$LIMIT: give a smaller MARGIN or a larger LIMIT"
elif [ "$LEFT" -lt 120 ]; then
  echo "only $LEFT s left of LIMIT=$LIMIT after the set-up: no study this call"
else
  timeout "$LEFT" python3 -m reuseprior study "$STUDY" run "$@" --device cuda --workers "$W" --max-runs "${MAXRUNS:-$W}" \
    --max-minutes "$(awk "BEGIN {print ($LEFT - ${MARGIN:-90}) / 60}")" --work-dir "$WORK" --store "$OUT/ch4_runs.csv" \
    --no-progress 2>&1 | tee "$OUT/study.log" | grep -v "^  \|UserWarning\|Perhaps you\|Hosting the HTTP"
fi
if [ "$RETURN" = 1 ]; then
  kill "$RETURNER"
  python3 scripts/device/return_checkpoints.py "$WORK" "$OUT"
fi
# status shows every run of the profile: it takes --profile alone (--only and --seeds select what run trains)
STATUS_ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) STATUS_ARGS=(--profile "${2:-}"); shift; [ $# -gt 0 ] && shift ;;
    --profile=*) STATUS_ARGS=("$1"); shift ;;
    *) shift ;;
  esac
done
python3 -m reuseprior study "$STUDY" status "${STATUS_ARGS[@]}" --store "$OUT/ch4_runs.csv" 2>&1 | tail -8
