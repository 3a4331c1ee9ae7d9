#!/usr/bin/python3
"""Writes train/ and valid/ ImageFolders of generated photo-sized JPEGs for tools/bench_train.sh.

Each image is 500x375 (a typical camera photo scaled down), JPEG quality 90, 5 classes. A class
is a stripe orientation and a colour cast; position, frequency, brightness and noise vary per
image, so a CNN has something to learn and the files compress like photos (~40-60 KB), not like
flat colour. Usage: make_photo_folders.py OUT_DIR [--train-per-class 60] [--valid-per-class 15]
"""
import argparse
import os

import numpy as np
from PIL import Image

W, H, CLASSES = 500, 375, 5


def photo(cls, rng):
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    angle = np.pi * cls / CLASSES + rng.uniform(-0.15, 0.15)
    freq = rng.uniform(0.04, 0.09)
    phase = rng.uniform(0, 2 * np.pi)
    stripes = np.sin(freq * (x * np.cos(angle) + y * np.sin(angle)) + phase)
    cast = np.array([np.cos(2 * np.pi * cls / CLASSES), np.cos(2 * np.pi * cls / CLASSES + 2.1),
                     np.cos(2 * np.pi * cls / CLASSES + 4.2)], np.float32)
    base = rng.uniform(90, 160)
    img = base + 60 * stripes[..., None] + 35 * cast[None, None, :]
    img += 25 * np.sin(x / rng.uniform(40, 90))[..., None]  # a slow shading, as light falls off
    img += rng.normal(0, 12, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--train-per-class", type=int, default=60)
    p.add_argument("--valid-per-class", type=int, default=15)
    a = p.parse_args()
    rng = np.random.default_rng(0)
    for part, n in (("train", a.train_per_class), ("valid", a.valid_per_class)):
        for c in range(CLASSES):
            d = os.path.join(a.out, part, f"class{c}")
            os.makedirs(d, exist_ok=True)
            for i in range(n):
                photo(c, rng).save(os.path.join(d, f"img{i:04d}.jpg"), quality=90)
    print(f"wrote {CLASSES * (a.train_per_class + a.valid_per_class)} JPEGs ({W}x{H}) under {a.out}")


if __name__ == "__main__":
    main()
