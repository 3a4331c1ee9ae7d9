#!/usr/bin/env python3
"""Write the PyTorch reference files that graft's tests compare against.

Run with Debian's Python, which has torch/torchvision/h5py:
    /usr/bin/python3 tools/make_references.py --out build/refs [--only layers,optim]

Each module in tools/references/ writes one HDF5 file (layers.h5, optim.h5, models.h5, ...).
Inside a file every case is a group: "<case>/<tensor>", e.g. "conv2d_stride2/x",
"conv2d_stride2/y", "conv2d_stride2/grad_x". Everything is float32 (labels int64), computed on
the CPU with torch's default deterministic kernels. The meson test target runs this script
before the tests (nothing large is committed).
"""
import argparse
import importlib
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# module name in tools/references/ -> output file
SECTIONS = ["layers", "layers_b", "optim", "models", "transforms", "losses"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="folder for the .h5 files")
    ap.add_argument("--only", default="", help="comma-separated sections (default: all)")
    ap.add_argument("--stamp", default="", help="file to touch when done (for meson)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    import torch
    torch.set_num_threads(1)  # deterministic reductions
    wanted = [s for s in args.only.split(",") if s] or SECTIONS
    for name in wanted:
        try:
            mod = importlib.import_module("references." + name)
        except ModuleNotFoundError as e:
            if e.name == "references." + name:
                continue  # section not written yet
            raise
        t0 = time.time()
        path = os.path.join(args.out, name + ".h5")
        tmp = path + ".tmp"
        mod.write(tmp)
        os.replace(tmp, path)
        print(f"make_references: wrote {path} in {time.time() - t0:.1f}s")
    if args.stamp:  # so meson knows the references are up to date
        with open(args.stamp, "w") as f:
            f.write("ok\n")


if __name__ == "__main__":
    main()
