#!/usr/bin/env bash
# examples/003_resnet18_sgd_curves.sh — seed 003 (transfer learning, feature extraction):
# an ImageFolder of 5 classes split 80/20 with a seed; RandomResizedCrop + flip + normalize;
# ResNet18 frozen with `fc` replaced; SGD momentum 0.9, lr 0.001, cross-entropy; loss and
# accuracy curves and a grid of predictions with their labels (in report.html).
#
#   DATA=data/flowers OUT=runs/resnet18 examples/003_resnet18_sgd_curves.sh
source "$(dirname "$0")/common.sh"
DATA="${DATA:-$root/data/flowers}"
OUT="${OUT:-$root/runs/003_resnet18}"
need "$DATA" "ImageFolder"
need "$WEIGHTS/resnet18.h5" "ResNet18 weights" WEIGHTS

run "$GRAFT" train --data "$DATA" --split 0.8,0.2 --seed 0 \
  --model resnet18 --pretrained --freeze backbone --head "linear(n)" \
  --loss cross-entropy --optimizer sgd --momentum 0.9 --lr 0.001 --epochs "$EPOCHS" --batch-size "$BATCH" \
  --train-transform "$TRAIN_TF" --eval-transform "$EVAL_TF" --grid 16 --out "$OUT" --quiet

echo "curves, confusion matrix and prediction grid: $OUT/report.html (per epoch: $OUT/metrics.csv)"
