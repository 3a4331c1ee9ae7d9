#!/usr/bin/env bash
# examples/001_csv_cnn_vs_vgg16_features.sh — seed 001 (Master the Art of Transfer Learning):
# labels from a CSV; a small CNN from scratch as the baseline vs VGG16 features computed once and
# a new last layer trained on them; the two side by side.
#
#   DATA=data/emergency OUT=runs/csv examples/001_csv_cnn_vs_vgg16_features.sh
# DATA: a folder with train.csv ("image_names,label" rows) and the images it names in images/.
source "$(dirname "$0")/common.sh"
DATA="${DATA:-$root/data/emergency}"
OUT="${OUT:-$root/runs/001_csv}"
need "$DATA/train.csv" "CSV of labels"
need "$WEIGHTS/vgg16.h5" "VGG16 weights" WEIGHTS
mkdir -p "$OUT"

# 1. Baseline: a small CNN from scratch on the images, 90/10 train/valid (the seed's CNN, with
#    padding so it fits any input size).
run "$GRAFT" train --csv "$DATA/train.csv" --images "$DATA/images" --split 0.9,0.1 --seed 0 \
  --model "spec:conv(16,3,padding=1) relu bn maxpool(2) conv(32,3,padding=1) relu bn maxpool(2) flatten dropout(0.25) linear(n)" \
  --input-size "3x${SIZE}x${SIZE}" --loss cross-entropy --optimizer adam --lr 0.001 --epochs "$EPOCHS" \
  --batch-size "$BATCH" --train-transform "resize=${SIZE}x${SIZE}" --eval-transform "resize=${SIZE}x${SIZE}" \
  --out "$OUT/cnn" --quiet

# 2. VGG16 features, computed once for every image (the network without its last layer).
run "$GRAFT" features --model vgg16 --pretrained "$DATA/train.csv" --images "$DATA/images" \
  --transform "$EVAL_TF" --out "$OUT/vgg16_features.h5"

# 3. A new last layer trained on the features, the same 90/10 split (same seed, same images).
run "$GRAFT" train --features "$OUT/vgg16_features.h5" --split 0.9,0.1 --seed 0 --head "dropout(0.5) linear(n)" \
  --loss cross-entropy --optimizer adam --lr 0.0001 --epochs "$EPOCHS" --batch-size "$BATCH" --out "$OUT/vgg16" --quiet

# 4. Side by side: the last epoch of each run (metrics.csv: epoch,train_loss,train_acc,valid_loss,valid_acc,...).
printf '\n%-22s %10s %10s\n' "model" "train acc" "valid acc"
for m in cnn vgg16; do
  tail -n 1 "$OUT/$m/metrics.csv" | awk -F, -v m="$m" '{ printf "%-22s %9.2f%% %9.2f%%\n", \
    (m == "cnn" ? "small CNN from scratch" : "VGG16 features + linear"), 100 * $3, 100 * $5 }'
done
