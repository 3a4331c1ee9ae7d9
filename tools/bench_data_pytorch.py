#!/usr/bin/env python3
"""torchvision's side of tools/bench_data.cpp: images/s through ImageFolder (PIL decode) ->
RandomResizedCrop(224) -> RandomHorizontalFlip -> ToTensor -> Normalize, DataLoader with the
same number of workers and batch size. Run graft-bench-data first (it writes the JPEGs).
    /usr/bin/python3 tools/bench_data_pytorch.py [--dir /tmp/graft_bench_jpegs] [--workers 2] [--epochs 2]
"""
import argparse
import resource
import time

import torch
import torchvision.datasets as D
import torchvision.transforms as T


def cpu():
    """CPU seconds of this process and its reaped children (the DataLoader workers)."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="/tmp/graft_bench_jpegs")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(1)
    tf = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(),
                    T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    ds = D.ImageFolder(a.dir, transform=tf)
    # Workers are not persistent: they exit (and are reaped) at the end of each epoch, so their
    # CPU time shows up in RUSAGE_CHILDREN.
    dl = torch.utils.data.DataLoader(ds, batch_size=32, shuffle=True, num_workers=a.workers)
    best = 0.0
    for e in range(a.epochs):
        t0 = time.perf_counter()
        c0 = cpu()
        n = 0
        for x, y in dl:
            n += x.shape[0]
        s = time.perf_counter() - t0
        c = cpu() - c0
        print(f"torchvision epoch {e}: {n} images in {s:.3f} s = {n / s:.1f} images/s ({a.workers} workers); "
              f"{1000 * c / n:.2f} ms CPU per image (incl. worker start-up)")
        best = max(best, n / s)
    print(f"torchvision best: {best:.1f} images/s with {a.workers} workers = {best / max(a.workers, 1):.1f} images/s per worker")


if __name__ == "__main__":
    main()
