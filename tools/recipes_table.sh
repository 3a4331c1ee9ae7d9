#!/usr/bin/env bash
# tools/recipes_table.sh — the table of measured recipe effects in docs/usage.md#recipes.
#
# The split of `graft demo` (tools/cmd_demo.cpp) on Fashion-MNIST: a small CNN pretrained on
# classes 5-9 (Sandal, Shirt, Sneaker, Bag, Ankle boot), then the other five (T-shirt/top,
# Trouser, Pullover, Dress, Coat) learnt from PER_CLASS labelled images per class, validated on
# 100 other training images per class, tested on their 5,000 t10k images. Each recipe is one
# `graft train` run; the script prints a markdown table of test accuracy (best-validation-loss
# weights, mean and spread over SEEDS) and wall time per run.
#
#   tools/recipes_table.sh [GRAFT] [WORKDIR]        (env: PER_CLASS=100 PRETRAIN_PER_CLASS=1000 SEEDS="0 1")
# Writes the images as PNG folders once (WORKDIR/data, with /usr/bin/python3 + numpy + PIL).
set -euo pipefail
GRAFT=${1:-build-nocuda/tools/graft}
WORK=${2:-/tmp/graft-recipes}
PER_CLASS=${PER_CLASS:-100}
PRETRAIN_PER_CLASS=${PRETRAIN_PER_CLASS:-1000}
SEEDS=${SEEDS:-"0 1"}
FMNIST=${FMNIST:-/usr/share/datasets/fashion-mnist}
mkdir -p "$WORK"
DATA=$WORK/data

if [ ! -f "$DATA/done" ]; then
  /usr/bin/python3 - "$FMNIST" "$DATA" "$PER_CLASS" "$PRETRAIN_PER_CLASS" <<'PY'
import gzip, os, sys
import numpy as np
from PIL import Image
src, out, per_class, pre_per_class = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
names = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"]
def idx(name, offset):
    with gzip.open(os.path.join(src, name)) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)
xtr = idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28); ytr = idx("train-labels-idx1-ubyte.gz", 8)
xte = idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28); yte = idx("t10k-labels-idx1-ubyte.gz", 8)
rng = np.random.default_rng(0)
def write(folder, x, y, picks):
    for i in picks:
        d = os.path.join(out, folder, names[y[i]]); os.makedirs(d, exist_ok=True)
        Image.fromarray(x[i]).save(os.path.join(d, f"{i}.png"))
for c in range(10):
    where = rng.permutation(np.flatnonzero(ytr == c))
    if c >= 5:  # the pretraining task
        write("pretrain/train", xtr, ytr, where[:pre_per_class])
        write("pretrain/valid", xtr, ytr, where[pre_per_class:pre_per_class + 200])
    else:       # the new task: a few labels, 100 held out, the whole test set
        write("new/train", xtr, ytr, where[:per_class])
        write("new/valid", xtr, ytr, where[per_class:per_class + 100])
        write("new/test", xte, yte, np.flatnonzero(yte == c))
open(os.path.join(out, "done"), "w").write("ok\n")
PY
fi

# The demo's CNN (tools/cmd_demo.cpp SmallCNN) as a spec, on the grey images read as RGB.
SPEC="spec:conv(16,3,padding=1) batchnorm relu maxpool(2) conv(32,3,padding=1) batchnorm relu maxpool(2) flatten linear(128) relu dropout(0.3) linear(n)"
COMMON=(--model "$SPEC" --input-size 3x28x28 --workers 2 --quiet --batch-size 32)
if [ ! -f "$WORK/pretrain/best.h5" ]; then
  t0=$(date +%s.%N)
  "$GRAFT" train --train "$DATA/pretrain/train" --valid "$DATA/pretrain/valid" "${COMMON[@]}" --weights none \
      --train-transform resize=28x28 --eval-transform resize=28x28 --epochs 3 --lr 0.001 --cache-mb 64 \
      --out "$WORK/pretrain" > "$WORK/pretrain.log"
  echo "pretrained in $(echo "$(date +%s.%N) - $t0" | bc) s: $(grep -o 'valid loss.*acc [0-9.]*%' "$WORK/pretrain.log" | tail -1)" >&2
fi

NEW=(--train "$DATA/new/train" --valid "$DATA/new/valid" --test "$DATA/new/test" "${COMMON[@]}"
     --weights "$WORK/pretrain/best.h5" --head "linear(n)" --eval-transform resize=28x28 --lr 0.002 --cache-mb 32)
declare -a NAMES ARGS
NAMES+=("frozen head (Adam, 10 epochs, features cached)"); ARGS+=("--freeze backbone --epochs 10 --train-transform resize=28x28")
NAMES+=("--fine-tune 2,8");                                ARGS+=("--fine-tune 2,8 --train-transform resize=28x28")
NAMES+=("+ trivial_augment");                              ARGS+=("--fine-tune 2,8 --train-transform resize=28x28,trivial_augment")
NAMES+=("+ --mixup 0.2");                                  ARGS+=("--fine-tune 2,8 --train-transform resize=28x28,trivial_augment --mixup 0.2")
NAMES+=("+ --label-smoothing 0.1");                        ARGS+=("--fine-tune 2,8 --train-transform resize=28x28,trivial_augment --mixup 0.2 --label-smoothing 0.1")

echo "load before: $(uptime | sed 's/.*load average/load average/')" >&2
echo "| recipe | test accuracy (seeds: $SEEDS) | time per run |"
echo "|---|---|---|"
for i in "${!NAMES[@]}"; do
  accs=(); secs=0
  for seed in $SEEDS; do
    out="$WORK/run$i-$seed"
    rm -rf "$out"
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    "$GRAFT" train "${NEW[@]}" ${ARGS[$i]} --seed "$seed" --grid 0 --out "$out" > "$out.log"
    secs=$(echo "$secs + $(date +%s.%N) - $t0" | bc)
    accs+=("$(sed -n 's/.*top-1 \([0-9.]*\)%.*/\1/p' "$out.log")")
  done
  stats=$(printf '%s\n' "${accs[@]}" | awk '{s+=$1; if(NR==1||$1<lo)lo=$1; if(NR==1||$1>hi)hi=$1} END {printf "%.2f%% (%.2f-%.2f)", s/NR, lo, hi}')
  n=$(echo "$SEEDS" | wc -w)
  echo "| ${NAMES[$i]} | $stats | $(echo "scale=1; $secs / $n" | bc) s |"
done
echo "load after: $(uptime | sed 's/.*load average/load average/')" >&2
