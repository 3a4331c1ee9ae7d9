#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets: tests/fuzz/corpus/<target>/ (committed; small).

    /usr/bin/python3 tests/fuzz/make_corpus.py          (needs PIL and numpy)

A few valid inputs per target, so that libFuzzer starts from files that get past the first
checks: tiny images in every format graft decodes, CSV lists, IDX pairs, transform and layer
specs, and programs for fuzz_hdf5 (see the top of tests/fuzz/fuzz_hdf5.cpp) that write a valid
weights file, a valid training checkpoint and a valid features file. Inputs that once failed
(the regressions, corpus/<target>/regress-*) are kept by hand and not written here.
"""
import gzip
import io
import os
import struct
import sys

import numpy as np
from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def image_bytes(img, fmt, **kw):
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


def images():
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (6, 5, 3), dtype=np.uint8), "RGB")
    gray = rgb.convert("L")
    rgba = rgb.convert("RGBA")
    pal = rgb.convert("P", palette=Image.ADAPTIVE, colors=8)
    g16 = Image.fromarray((rng.integers(0, 65536, (4, 3))).astype(np.uint16))
    cmyk = rgb.convert("CMYK")
    seeds = {
        "rgb.png": image_bytes(rgb, "PNG"),
        "gray.png": image_bytes(gray, "PNG"),
        "rgba.png": image_bytes(rgba, "PNG"),
        "palette.png": image_bytes(pal, "PNG"),
        "gray16.png": image_bytes(g16, "PNG"),
        "baseline.jpg": image_bytes(rgb, "JPEG", quality=80),
        "progressive.jpg": image_bytes(rgb, "JPEG", quality=80, progressive=True),
        "gray.jpg": image_bytes(gray, "JPEG"),
        "cmyk.jpg": image_bytes(cmyk, "JPEG"),
        "rgb.bmp": image_bytes(rgb, "BMP"),
        "palette.gif": image_bytes(pal, "GIF"),
        "lossy.webp": image_bytes(rgb, "WEBP", quality=80),
        "lossless.webp": image_bytes(rgba, "WEBP", lossless=True),
        "rgb.tif": image_bytes(rgb, "TIFF"),
        "rgb-lzw.tif": image_bytes(rgb, "TIFF", compression="tiff_lzw"),
        "gray16.tif": image_bytes(g16, "TIFF"),
        "palette.tif": image_bytes(pal, "TIFF"),
        "cmyk.tif": image_bytes(cmyk, "TIFF"),
        "rgb.ppm": image_bytes(rgb, "PPM"),
        "gray.pgm": image_bytes(gray, "PPM"),
    }
    # An animated WebP (graft decodes its first frame).
    b = io.BytesIO()
    rgb.save(b, "WEBP", save_all=True, append_images=[gray.convert("RGB")], duration=10, lossless=True)
    seeds["animated.webp"] = b.getvalue()
    for name, data in seeds.items():
        put("image", name, data)


def csvs():
    # fuzz_csv's image folder holds a.png, b.jpg, "c d.png" and 0.
    put("csv", "names.csv", "file,label\na.png,cat\nb.jpg,dog\n")
    put("csv", "indices.csv", "file,label\na.png,0\nb.jpg,2\n\"c d.png\",1\n")
    put("csv", "crlf-bom.csv", "\ufefffile,label\r\na.png,cat\r\n\r\nb.jpg,dog\r\n")
    put("csv", "quotes.csv", 'file,label\n"a.png","a ""quoted"" cat"\n 0 , dog \n')
    put("csv", "duplicate.csv", "file,label\na.png,cat\na.png,dog\n")


def idx_file(dims, payload):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + bytes(payload)


def idx_pair(images, labels):
    """fuzz_idx's input: a byte c such that the first (len-1)*c//255 bytes are the images file."""
    rest = len(images) + len(labels)
    for c in range(256):
        if rest * c // 255 == len(images):
            return bytes([c]) + images + labels
    raise ValueError("no cut byte for these sizes")


def idx():
    imgs = idx_file([2, 3, 3], range(18))
    labs = idx_file([2], [1, 7])
    put("idx", "raw.idx", idx_pair(imgs, labs))
    put("idx", "gzip.idx", idx_pair(gzip.compress(imgs, mtime=0), gzip.compress(labs, mtime=0)))
    put("idx", "empty.idx", idx_pair(idx_file([0, 28, 28], []), idx_file([0], [])))


def specs():
    for i, s in enumerate([
            "resize=256,center_crop=224,normalize=imagenet",
            "random_resized_crop=8:0.5:1,hflip,vflip=0.3,rotation=15,color_jitter=0.4:0.4:0.4:0.1",
            "resize=6x5,normalize=0.5:0.5:0.5/0.2:0.2:0.2",
            "trivial_augment=31,rand_augment=2:9:31,auto_augment=imagenet",
            "resize=9,random_erasing=1:0.1:0.3:0.5:2:random",
            "center_crop=3x2,to_tensor,normalize=imagenet,random_erasing=0.5"]):
        put("transform_spec", "spec%d" % i, s)
    # fuzz_layer_spec: byte 0 (bit 0: flat input; (byte >> 1) % 17 - 1: classes), then 1 or 3
    # sizes (1 + b % 64), then the spec.
    def layer(flat, classes, dims, spec):
        return bytes([int(flat) | ((classes + 1) << 1)] + [d - 1 for d in dims]) + spec.encode()
    put("layer_spec", "cnn", layer(False, 10, [1, 28, 28],
                                   "conv(8,5) relu maxpool(2) conv(4,3) relu maxpool(3) flatten linear(16) relu linear(n)"))
    put("layer_spec", "named", layer(False, -1, [3, 16, 16],
                                     "conv(16, 3, padding=1) bn relu avgpool(2, stride=2) adaptiveavgpool(2, 1) flatten "
                                     "dropout(p=0.2) linear(out=4, bias=0) logsoftmax"))
    put("layer_spec", "head", layer(True, 5, [32], "linear(256) relu dropout(0.4) linear(n) softmax"))
    put("layer_spec", "aliases", layer(False, 2, [2, 9, 9],
                                       "Conv2d(4, k=3, s=2, p=1), BatchNorm2d, sigmoid, MaxPool2d(kernel_size=2), "
                                       "identity, fc(n)"))


# ---- fuzz_hdf5 programs: these tables mirror tests/fuzz/fuzz_hdf5.cpp (print them with
# FUZZ_PRINT_TABLES=1 build-fuzz/tests/fuzz/fuzz_hdf5 -runs=0). -----------------------------
MODEL = [("0.weight", [2, 1, 3, 3]), ("0.bias", [2]), ("1.weight", [2]), ("1.bias", [2]),
         ("1.running_mean", [2]), ("1.running_var", [2]), ("1.num_batches_tracked", []),
         ("4.weight", [3, 18]), ("4.bias", [3])]
PARAMS = [0, 1, 2, 3, 7, 8]  # the parameters among MODEL, in Module::parameters() order
SHAPED = MODEL[:]
for i, m in enumerate(PARAMS):
    SHAPED += [("optim.state.0.%d.momentum_buffer" % i, MODEL[m][1]), ("optim.state.0.%d.step" % i, [])]
SHAPED += [("optim.param_groups.0.lr", []), ("optim.param_groups.0.weight_decay", [])]
DATASETS = [k for k, _ in SHAPED] + ["features", "labels", "files", "optim.state.9.0.momentum_buffer",
                                     "optim.state.x.momentum_buffer", "optim.state.0.0.velocity", "model.0.weight",
                                     "main.0.weight", "main.4.bias", "a/b", ".", "optim."]
ATTRS = ["graft_checkpoint", "run", "architecture", "epoch", "best_valid_loss", "epochs_since_best", "best_epoch",
         "settings", "rng_names", "rng.default", "history", "partial_epoch", "keys", "class_names", "num_classes",
         "preprocess", "mean", "std", "source"]
STRINGS = ["fuzz", "other", "resnet18", "<rng state>", "default", "", "features", "labels", "1 2 3",
           "resize=8,normalize=imagenet"] + [k for k, _ in MODEL]
NUMBERS = [0, 1, 2, 3, 7, -1, 0.5, 1e300, -1e300, 9.3e18, -9.3e18, 2147483648.0, "nan", "inf", "-inf", 1e-300]


def num(v):
    return NUMBERS.index(v)


def shaped(name, values):
    """Record 4: a tensor with its right shape; values are (v - 128) / 64 for v in values."""
    n = int(np.prod(dict(SHAPED)[name])) if dict(SHAPED)[name] else 1
    out = [4, SHAPED.index((name, dict(SHAPED)[name]))]
    for i in range(n):
        out += [0, values[i % len(values)]]
    return out


def attr_number(name, v):
    return [1, ATTRS.index(name), 0, 0, num(v)]


def attr_numbers(name, vs):
    return [1, ATTRS.index(name), 1, len(vs)] + [num(v) for v in vs]


def attr_string(name, s):
    return [1, ATTRS.index(name), 2, 0, STRINGS.index(s)]


def attr_strings(name, ss):
    return [1, ATTRS.index(name), 3, len(ss)] + [STRINGS.index(s) for s in ss]


def dataset(name, form, dims, values):
    """Record 0: form 0 float32, 2 int64, 7 strings (values: STRINGS indices; then a 1 = variable length)."""
    out = [0, DATASETS.index(name), form, len(dims)] + dims
    if form == 7:
        out.insert(4 + len(dims), 1)
    return out + values


def hdf5():
    weights = []
    for k, _ in MODEL:
        weights += shaped(k, [192] if k == "1.running_var" else [128, 150, 100, 192])
    weights_file = weights + attr_string("architecture", "other") + attr_strings("keys", [k for k, _ in MODEL]) \
        + attr_strings("class_names", ["fuzz", "other", "default"])
    put("hdf5", "weights", bytes(weights_file))
    ckpt = weights + attr_strings("keys", [k for k, _ in MODEL]) + attr_number("graft_checkpoint", 2) \
        + attr_string("run", "fuzz") + attr_number("epoch", 2) + attr_number("best_valid_loss", 0.5) \
        + attr_number("epochs_since_best", 0) + attr_number("best_epoch", 2) + attr_string("settings", "1 2 3") \
        + attr_strings("rng_names", ["default"]) + attr_string("rng.default", "<rng state>") \
        + attr_numbers("history", [1, 0.5, 0.5, 0.5, 0.5, 0.5, 1, 2, 0.5, 1, 0.5, 1, 0.5, 1])
    for i in range(len(PARAMS)):
        ckpt += shaped("optim.state.0.%d.momentum_buffer" % i, [128, 140])
        ckpt += shaped("optim.state.0.%d.step" % i, [130])
    ckpt += shaped("optim.param_groups.0.lr", [134]) + shaped("optim.param_groups.0.weight_decay", [128])
    put("hdf5", "checkpoint", bytes(ckpt))
    put("hdf5", "checkpoint-partial", bytes(ckpt + attr_numbers("partial_epoch", [3, 3, 7, 2, 0.5, 1])))
    feats = dataset("features", 0, [3, 4], [num(v) for v in [0, 1, 0.5, -1] * 3]) \
        + dataset("labels", 2, [3], [num(0), num(1), num(2)]) \
        + dataset("files", 7, [3], [STRINGS.index(s) for s in ["features", "labels", "fuzz"]]) \
        + attr_strings("class_names", ["fuzz", "other", "default"])
    put("hdf5", "features", bytes(feats))


def main():
    images()
    csvs()
    idx()
    specs()
    hdf5()
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(ROOT) for f in fs)
    print("corpus: %d bytes in %s" % (total, ROOT))
    if total > 1 << 20:
        sys.exit("the corpus must stay under 1 MB")


if __name__ == "__main__":
    main()
