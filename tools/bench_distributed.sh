#!/usr/bin/env bash
# tools/bench_distributed.sh [GRAFT] — data-parallel scaling on this machine: the same global
# batch trained by 1 process and by N processes (mpirun), and N processes with N times the
# global batch. Prints a table: seconds per optimizer step, images per second, and the time per
# step spent in gradient all-reduce (from `graft train --distributed`'s closing line).
#
#   bash tools/bench_distributed.sh build/tools/graft          (env: RANKS=2 MODEL=resnet18 SIZE=64
#                                                               BATCH=16 IMAGES=256 EPOCHS=2)
# Images are generated once (random 3-class PNGs: the speed does not depend on what they show).
# The first epoch warms up (allocations, caches); the table uses the last epoch's seconds.
# Run it on an idle machine: ranks share the cores (each gets cores / ranks OpenMP threads).
set -euo pipefail
graft=${1:-build/tools/graft}
ranks=${RANKS:-2} model=${MODEL:-resnet18} size=${SIZE:-64} batch=${BATCH:-16} images=${IMAGES:-256}
epochs=${EPOCHS:-2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 - "$work/data" "$images" "$size" <<'PY'
import os, sys
import numpy as np
from PIL import Image
root, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
for i in range(n):
    d = os.path.join(root, "c%d" % (i % 3))
    os.makedirs(d, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(os.path.join(d, "%d.png" % i))
PY
cores=$(nproc)
common=(train --data "$work/data" --split 1 --model "$model" --weights none --input-size "3x${size}x${size}"
        --train-transform "resize=${size}x${size}" --epochs "$epochs" --workers 1 --quiet --optimizer sgd --lr 0.01)
mpirun=(mpirun -np "$ranks" --allow-run-as-root --oversubscribe)

# run NAME PER_RANK_BATCH PROCS LAUNCHER...: one table row from the run's metrics.csv (the last
# epoch's seconds) and its closing line (all-reduce seconds per step).
run() {
  local name=$1 per_rank=$2 procs=$3; shift 3
  local out="$work/run$procs-$per_rank" extra=()
  [ "$procs" -gt 1 ] && extra=(--distributed)
  local log
  log=$("$@" "$graft" "${common[@]}" --batch-size "$per_rank" "${extra[@]}" --out "$out" 2>&1) || { echo "$log"; exit 1; }
  local secs steps reduce
  secs=$(tail -1 "$out/metrics.csv" | cut -d, -f7)
  steps=$(( (images / procs + per_rank - 1) / per_rank ))
  reduce=$(echo "$log" | sed -n 's/.*all-reduce \([0-9.]*\) s per step.*/\1/p')
  awk -v n="$name" -v p="$procs" -v b="$((per_rank * procs))" -v s="$secs" -v k="$steps" -v r="${reduce:-0}" -v i="$images" \
    'BEGIN { printf "| %-28s | %5d | %6d | %8.3f | %8.1f | %17.3f | %5.1f%% |\n", n, p, b, s / k, i / s, r, 100 * r / (s / k) }'
}

echo "graft data-parallel scaling: $model at ${size}x${size}, $images images, $cores cores, $ranks ranks"
echo "| run                          | procs | global | s/step   | images/s | all-reduce s/step | share  |"
echo "|------------------------------|-------|--------|----------|----------|-------------------|--------|"
per_rank_threads=$((cores / ranks > 0 ? cores / ranks : 1))
OMP_NUM_THREADS=$cores run "1 process, batch $batch" "$batch" 1 env
OMP_NUM_THREADS=$per_rank_threads run "$ranks processes, same global" "$((batch / ranks))" "$ranks" "${mpirun[@]}"
OMP_NUM_THREADS=$per_rank_threads run "$ranks processes, batch $batch each" "$batch" "$ranks" "${mpirun[@]}"
