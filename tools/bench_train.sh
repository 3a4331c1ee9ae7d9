#!/usr/bin/env bash
# tools/bench_train.sh [GRAFT] — end to end: `graft train` against the same recipe in PyTorch
# (tools/bench_train_pytorch.py), on folders of generated photo-sized JPEGs, in one run.
#
#   bash tools/bench_train.sh build/tools/graft
#   env: MODEL=resnet18 EPOCHS=3 BATCH=16 WORKERS=2 THREADS=2 LR=0.01 FREEZE=0
#        TRAIN_PER_CLASS=60 VALID_PER_CLASS=15 KEEP=dir (reuse/keep the data there)
#
# The recipe, identical on both sides: train/ and valid/ ImageFolders (5 classes, 500x375 JPEG
# quality 90, tools/make_photo_folders.py), the same initial backbone (a torchvision model built
# after torch.manual_seed(0), saved as .pth for PyTorch and converted to .h5 for graft) with a new
# 5-class head that each side initializes itself (graft --head "linear(n)"), train
# transform random_resized_crop=224 + hflip + ImageNet normalization, valid transform resize=256 +
# center_crop=224 + normalization, cross-entropy, SGD lr LR momentum 0.9, batch BATCH, WORKERS
# loader workers (threads in graft, processes in PyTorch), THREADS compute threads, EPOCHS epochs.
# FREEZE=1 trains only the head (graft --freeze backbone; PyTorch requires_grad=False and the
# backbone's batch norms in eval mode). Random streams differ (crops, shuffling), so accuracies
# agree only statistically.
#
# Prints per-epoch wall seconds (training pass + validation pass) and validation accuracy of
# both, and the ratio PyTorch seconds / graft seconds (above 1: graft is faster). The first
# epoch includes warm-up (allocations, worker start); the summary uses the epochs after it.
# Run it on an idle machine.
set -euo pipefail
graft=$(realpath "${1:-build/tools/graft}")
here=$(cd "$(dirname "$0")" && pwd)
model=${MODEL:-resnet18} epochs=${EPOCHS:-3} batch=${BATCH:-16} workers=${WORKERS:-2}
threads=${THREADS:-2} lr=${LR:-0.01} freeze=${FREEZE:-0}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
data=${KEEP:-$work/data}
if [ ! -d "$data/train" ]; then
  /usr/bin/python3 "$here/make_photo_folders.py" "$data" --train-per-class "${TRAIN_PER_CLASS:-60}" \
    --valid-per-class "${VALID_PER_CLASS:-15}"
fi
/usr/bin/python3 - "$model" "$work/init.pth" <<'PY'
import sys, torch, torchvision
torch.manual_seed(0)
torch.save(getattr(torchvision.models, sys.argv[1])().state_dict(), sys.argv[2])
PY
/usr/bin/python3 "$here/convert_torchvision.py" --pth "$work/init.pth" --arch "$model" --out "$work/init.h5" >/dev/null

freeze_args=() torch_freeze=()
if [ "$freeze" = 1 ]; then freeze_args=(--freeze backbone); torch_freeze=(--freeze); fi

echo "end to end: $model, $(find "$data/train" -name '*.jpg' | wc -l) train + $(find "$data/valid" -name '*.jpg' | wc -l)" \
     "valid JPEGs 500x375, batch $batch, $epochs epochs, $workers workers, $threads threads, freeze=$freeze," \
     "$(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
OMP_NUM_THREADS=$threads "$graft" train --train "$data/train" --valid "$data/valid" --model "$model" \
  --weights "$work/init.h5" --head "linear(n)" "${freeze_args[@]}" --train-transform "random_resized_crop=224,hflip,normalize=imagenet" \
  --eval-transform "resize=256,center_crop=224,normalize=imagenet" --loss cross-entropy --optimizer sgd \
  --lr "$lr" --momentum 0.9 --batch-size "$batch" --epochs "$epochs" --workers "$workers" \
  --no-feature-cache --grid 0 --quiet --out "$work/graft-run" >"$work/graft.log" 2>&1 ||
  { cat "$work/graft.log"; exit 1; }
/usr/bin/python3 "$here/bench_train_pytorch.py" --train "$data/train" --valid "$data/valid" --arch "$model" \
  --pth "$work/init.pth" --num-classes 5 --epochs "$epochs" --batch-size "$batch" --lr "$lr" \
  --workers "$workers" --threads "$threads" "${torch_freeze[@]}" >"$work/torch.log"

/usr/bin/python3 - "$work/graft-run/metrics.csv" "$work/torch.log" <<'PY'
import csv, json, sys
g = list(csv.DictReader(open(sys.argv[1])))
t = [json.loads(l) for l in open(sys.argv[2]) if l.startswith("{")]
print("| epoch | graft s | graft valid acc | PyTorch s | PyTorch valid acc | PyTorch s / graft s |")
print("|---|---|---|---|---|---|")
for a, b in zip(g, t):
    gs, ts = float(a["seconds"]), b["seconds"]
    print(f"| {a['epoch']} | {gs:.1f} | {float(a['valid_acc']):.3f} | {ts:.1f} | {b['valid_acc']:.3f} | {ts / gs:.2f} |")
rest_g = [float(a["seconds"]) for a in g[1:]] or [float(g[0]["seconds"])]
rest_t = [b["seconds"] for b in t[1:]] or [t[0]["seconds"]]
mg, mt = sum(rest_g) / len(rest_g), sum(rest_t) / len(rest_t)
print(f"epochs after the first, mean: graft {mg:.1f} s, PyTorch {mt:.1f} s, ratio {mt / mg:.2f}; "
      f"final valid acc graft {float(g[-1]['valid_acc']):.3f}, PyTorch {t[-1]['valid_acc']:.3f}")
PY
