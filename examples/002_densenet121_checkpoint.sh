#!/usr/bin/env bash
# examples/002_densenet121_checkpoint.sh — seed 002 (Transfer Learning with PyTorch): one
# ImageFolder split 70/20/10; DenseNet121 frozen with a new classifier (1024 -> 256 -> n,
# dropout); early stopping; the best checkpoint saved, reloaded, and its test accuracy.
#
#   DATA=data/cats_dogs OUT=runs/densenet examples/002_densenet121_checkpoint.sh
source "$(dirname "$0")/common.sh"
DATA="${DATA:-$root/data/cats_dogs}"
OUT="${OUT:-$root/runs/002_densenet121}"
need "$DATA" "ImageFolder"
need "$WEIGHTS/densenet121.h5" "DenseNet121 weights" WEIGHTS

# Stratified: every part keeps the class proportions (and gets every class, which eval needs).
run "$GRAFT" split --data "$DATA" --out "$OUT/split" --fractions 0.7,0.2,0.1 --seed 0 --stratified --link symlink --force

# The backbone frozen (and its batch norm statistics), features computed once per image since
# the training transform is not random; early stopping after $PATIENCE epochs without progress.
run "$GRAFT" train --train "$OUT/split/train" --valid "$OUT/split/valid" \
  --model densenet121 --pretrained --freeze backbone --head "linear(256) relu dropout(0.2) linear(n) logsoftmax" \
  --loss nll --optimizer adam --lr 0.003 --epochs "$EPOCHS" --patience "$PATIENCE" --batch-size "$BATCH" \
  --train-transform "$EVAL_TF" --eval-transform "$EVAL_TF" --out "$OUT/run" --quiet

# Reload the saved checkpoint (it records the model, head, classes and preprocessing) and test it.
run "$GRAFT" eval --checkpoint "$OUT/run/best.h5" "$OUT/split/test" --json "$OUT/test.json"
