# examples/common.sh — what every example script shares (sourced, not run).
#
# Locations come from environment variables, with defaults for real use from the repository root:
#   GRAFT    the graft program               (default: build/tools/graft, else `graft` on PATH)
#   DATA     the script's input data         (default: set by each script, e.g. data/flowers)
#   WEIGHTS  folder of converted weights     (default: weights; see weights/README.md)
#   OUT      where everything is written     (default: runs/<script name>)
#   TINY=1   test scale: 32x32 images, 2 epochs, small batches (tests/test_examples.cpp)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
if [ -z "${GRAFT:-}" ]; then
  if [ -x "$root/build/tools/graft" ]; then GRAFT="$root/build/tools/graft"; else GRAFT=graft; fi
fi
WEIGHTS="${WEIGHTS:-$root/weights}"
export GRAFT_WEIGHTS="$WEIGHTS"   # where --pretrained looks for <model>.h5
TINY="${TINY:-0}"

# Sizes and lengths: the tutorial's at full scale, a few seconds' worth in TINY mode.
if [ "$TINY" = 1 ]; then
  SIZE=32; RESIZE=32; EPOCHS=2; PATIENCE=1; BATCH=8
else
  SIZE=224; RESIZE=256; EPOCHS=30; PATIENCE=3; BATCH=32
fi
# torchvision's ImageNet preprocessing (what the pretrained weights expect) at this scale.
EVAL_TF="resize=$RESIZE,center_crop=$SIZE,normalize=imagenet"
TRAIN_TF="random_resized_crop=$SIZE,hflip,normalize=imagenet"

# Prints a command, then runs it (so a reader of the log can copy it).
run() {
  printf '\n$ %s\n' "$*"
  "$@"
}
need() {  # need PATH WHAT: stop with a message when an input is missing
  if [ ! -e "$1" ]; then
    echo "$(basename "$0"): no $2 at '$1'; set ${3:-DATA}=... (see examples/README.md)" >&2
    exit 1
  fi
}
# The first image file below a folder (for single-image predictions).
first_image() { find -L "$1" -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) | sort | head -n "${2:-1}"; }
