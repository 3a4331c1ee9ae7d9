#!/usr/bin/env bash
# examples/000_vgg16_feature_extraction.sh — seed 000 (Transfer Learning with CNNs in PyTorch):
# VGG16 as a frozen feature extractor with a new classifier, early stopping, top-1/top-5 test
# accuracy, accuracy per class, predictions for single images.
#
#   DATA=data/caltech101 OUT=runs/vgg16 examples/000_vgg16_feature_extraction.sh
# DATA: one ImageFolder (a subfolder per class); it is split 50/25/25 into train/valid/test.
source "$(dirname "$0")/common.sh"
DATA="${DATA:-$root/data/caltech101}"
OUT="${OUT:-$root/runs/000_vgg16}"
need "$DATA" "ImageFolder"
need "$WEIGHTS/vgg16.h5" "VGG16 weights" WEIGHTS
HEAD="linear(256) relu dropout(0.4) linear(n) logsoftmax"   # replaces classifier.6 (4096 -> 1000)

# 1. train/valid/test folders, 50/25/25 of every class.
run "$GRAFT" split --data "$DATA" --out "$OUT/split" --fractions 0.5,0.25,0.25 --stratified --link symlink --force
n=$(find "$OUT/split/train" -mindepth 1 -maxdepth 1 -type d | wc -l)

# 2. The model: 135,335,076 parameters, 1,074,532 trainable for n = 100 (the seed's numbers).
run "$GRAFT" summary --model vgg16 --head "$HEAD" --num-classes "$n" --freeze backbone --input-size "3x${SIZE}x${SIZE}" | tail -n 3

# 3. Frozen VGG16 + new head, NLL loss (the head ends in logsoftmax), Adam, augmentation on
#    the training images, early stopping on the validation loss with the best weights saved.
run "$GRAFT" train --train "$OUT/split/train" --valid "$OUT/split/valid" --test "$OUT/split/test" \
  --model vgg16 --pretrained --head "$HEAD" --freeze backbone \
  --loss nll --optimizer adam --lr 0.001 --epochs "$EPOCHS" --patience "$PATIENCE" --batch-size "$BATCH" \
  --train-transform "random_resized_crop=$SIZE:0.8:1.0,rotation=15,color_jitter=0.2:0.2:0.2,hflip,normalize=imagenet" \
  --eval-transform "$EVAL_TF" --out "$OUT/run" --quiet

# 4. The test set: top-1 and top-5 accuracy, mean cross-entropy, accuracy per class (JSON too).
run "$GRAFT" eval --checkpoint "$OUT/run/best.h5" "$OUT/split/test" --top-k 5 --json "$OUT/test.json"

# 5. Single images: the 5 most likely classes with their probabilities.
run "$GRAFT" predict --checkpoint "$OUT/run/best.h5" --top-k 5 $(first_image "$OUT/split/test" 2)
echo "report: $OUT/run/report.html"
