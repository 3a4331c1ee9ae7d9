#!/usr/bin/python3
"""Writes train/ and test/ ImageFolders of Fashion-MNIST PNGs, a few classes, for the docs' pictures.

Reads the IDX files of Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist) and
writes the first --train-per-class / --test-per-class images of each chosen class, 28x28 gray,
named by their index in the IDX file. Usage:
make_fashion_folders.py OUT_DIR [--classes 0,2,3,4,6] [--train-per-class 300] [--test-per-class 60]
"""
import argparse
import gzip
import os

import numpy as np
from PIL import Image

NAMES = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot"]


def read_idx(path, offset):
    with gzip.open(path) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--classes", default="0,2,3,4,6", help="Fashion-MNIST class indices (default: the tops, the hard ones)")
    p.add_argument("--train-per-class", type=int, default=300)
    p.add_argument("--test-per-class", type=int, default=60)
    a = p.parse_args()
    keep = [int(c) for c in a.classes.split(",")]
    for part, prefix, n in (("train", "train", a.train_per_class), ("test", "t10k", a.test_per_class)):
        images = read_idx(os.path.join(a.data, f"{prefix}-images-idx3-ubyte.gz"), 16).reshape(-1, 28, 28)
        labels = read_idx(os.path.join(a.data, f"{prefix}-labels-idx1-ubyte.gz"), 8)
        for c in keep:
            d = os.path.join(a.out, part, NAMES[c])
            os.makedirs(d, exist_ok=True)
            for j in np.flatnonzero(labels == c)[:n]:
                Image.fromarray(images[j]).save(os.path.join(d, f"{j:05d}.png"))
    print(f"wrote {len(keep) * (a.train_per_class + a.test_per_class)} PNGs (28x28) under {a.out}")


if __name__ == "__main__":
    main()
