#!/usr/bin/env bash
# examples/004_densenet121_flavours.sh — seed 004 (Advanced CNNs, chapter 6): ImageFolder +
# Resize + ToTensor + batching; a small CNN trained with BCEWithLogits on 2 classes, saved and
# reloaded; DenseNet121 out of the box (ImageNet top-5); DenseNet121 as a feature extractor with
# new layers; its features exported for another classifier; fine-tuning all layers; freezing all
# but the last layers.
#
#   DATA=data/cats_dogs OUT=runs/flavours examples/004_densenet121_flavours.sh
# DATA: a folder with train/ and valid/ ImageFolders of 2 classes.
source "$(dirname "$0")/common.sh"
DATA="${DATA:-$root/data/cats_dogs}"
OUT="${OUT:-$root/runs/004_flavours}"
need "$DATA/train" "train/ ImageFolder"
need "$DATA/valid" "valid/ ImageFolder"
need "$WEIGHTS/densenet121.h5" "DenseNet121 weights" WEIGHTS
SMALL=64; [ "$TINY" = 1 ] && SMALL=32
common=(--train "$DATA/train" --valid "$DATA/valid" --epochs "$EPOCHS" --batch-size "$BATCH" --quiet)

# 1. The chapter's small CNN, one output, BCEWithLogits (threshold 0.5), on Resize + ToTensor.
run "$GRAFT" train "${common[@]}" --input-size "3x${SMALL}x${SMALL}" \
  --model "spec:conv(8,5) relu maxpool(2) conv(4,3) relu maxpool(3) flatten linear(128) relu linear(1)" \
  --loss bce --optimizer adam --lr 0.001 \
  --train-transform "resize=${SMALL}x${SMALL}" --eval-transform "resize=${SMALL}x${SMALL}" --out "$OUT/cnn"
#    ... saved (best.h5) and reloaded: its accuracy on the validation images.
run "$GRAFT" eval --checkpoint "$OUT/cnn/best.h5" "$DATA/valid"

# 2. DenseNet121 out of the box: ImageNet's 1000 classes, the top 5 for one image.
run "$GRAFT" predict --model densenet121 --pretrained --transform "$EVAL_TF" --top-k 5 $(first_image "$DATA/valid")

# 3. Feature extractor: frozen DenseNet121, new layers on its 1024 features.
run "$GRAFT" train "${common[@]}" --model densenet121 --pretrained --freeze backbone \
  --head "linear(256) relu linear(n)" --loss cross-entropy --optimizer adam --lr 0.001 \
  --train-transform "$EVAL_TF" --eval-transform "$EVAL_TF" --out "$OUT/extractor"

# 4. The features exported (features, labels, file names in HDF5) for another classifier.
run "$GRAFT" features --model densenet121 --pretrained "$DATA/train" --transform "$EVAL_TF" \
  --out "$OUT/densenet121_features.h5"

# 5. Fine-tuning all layers, the pretrained ones at a 10x lower learning rate.
run "$GRAFT" train "${common[@]}" --model densenet121 --pretrained --freeze none --head "linear(n)" \
  --loss cross-entropy --optimizer adam --lr 0.001 --backbone-lr 0.0001 \
  --train-transform "$TRAIN_TF" --eval-transform "$EVAL_TF" --out "$OUT/finetune"

# 6. Freezing all but the last layers: the last dense layer's convolutions, the final batch norm
#    and the new classifier train (the last 4 modules with parameters).
run "$GRAFT" train "${common[@]}" --model densenet121 --pretrained --freeze all-but-last:4 --head "linear(n)" \
  --loss cross-entropy --optimizer adam --lr 0.001 \
  --train-transform "$TRAIN_TF" --eval-transform "$EVAL_TF" --out "$OUT/last_layers"

printf '\n%-24s %10s\n' "DenseNet121 flavour" "valid acc"
for m in extractor finetune last_layers; do
  tail -n 1 "$OUT/$m/metrics.csv" | awk -F, -v m="$m" '{ printf "%-24s %9.2f%%\n", m, 100 * $5 }'
done
