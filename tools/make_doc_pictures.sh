#!/bin/bash
# Makes the pictures in docs/images/ from real runs of graft on Fashion-MNIST (Debian's
# dataset-fashion-mnist): trains a small CNN on five classes of tops, screenshots the HTML reports of
# `graft train` and `graft eval --html` (headless Chromium: apt-get install chromium-headless-shell,
# needed only here), and lays `graft explain`'s heatmaps under their images.
# Usage: bash tools/make_doc_pictures.sh [build/tools/graft] [work dir]   (~5 min on two idle cores)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
G=$(realpath "${1:-$here/build/tools/graft}")
work=${2:-doc-pictures}
py=/usr/bin/python3
mkdir -p "$work" && cd "$work"
$py "$here/tools/make_fashion_folders.py" fm
$G train --train fm/train --valid fm/test --input-size 3x56x56 --epochs 12 --lr 0.003 --grid 14 --quiet --out run \
    --model "spec:conv(16,3,padding=1) batchnorm2d relu maxpool(2) conv(32,3,padding=1) batchnorm2d relu maxpool(2) conv(64,3,padding=1) relu adaptiveavgpool(1) flatten linear(n)"
$G eval --checkpoint run/best.h5 fm/test --html eval.html --top-losses 8
$G explain --checkpoint run/best.h5 fm/test/T-shirt/00180.png fm/test/Dress/00032.png fm/test/Coat/00188.png \
    fm/test/Pullover/00233.png fm/test/Shirt/00312.png --out cams
$G explain --checkpoint run/best.h5 fm/test/Pullover/00233.png --class Coat --out cams_coat
$py "$here/tools/screenshot_report.py" run/report.html train_report.png
$py "$here/tools/screenshot_report.py" eval.html eval_report.png
$py "$here/tools/montage_gradcam.py" gradcam_fashion.png \
    "fm/test/T-shirt/00180.png=cams/00180.gradcam.png=T-shirt" "fm/test/Dress/00032.png=cams/00032.gradcam.png=Dress" \
    "fm/test/Coat/00188.png=cams/00188.gradcam.png=Coat" "fm/test/Pullover/00233.png=cams/00233.gradcam.png=Pullover" \
    "fm/test/Pullover/00233.png=cams_coat/00233.gradcam.png=same, --class Coat" \
    "fm/test/Shirt/00312.png=cams/00312.gradcam.png=Shirt"
# Under ~150 KB each: 96 colours (pngquant, Debian's pngquant) where it is installed.
for f in train_report eval_report gradcam_fashion; do
  if command -v pngquant > /dev/null; then pngquant --force --skip-if-larger --output "$f.png" 96 "$f.png"; fi
  cp "$f.png" "$here/docs/images/$f.png"
done
ls -l "$here"/docs/images/{train_report,eval_report,gradcam_fashion}.png
