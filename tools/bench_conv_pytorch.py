#!/usr/bin/python3
"""PyTorch's side of tools/bench_conv.cpp: one conv layer, forward and backward, and an
inference forward (torch.no_grad), best of 5.

/usr/bin/python3 tools/bench_conv_pytorch.py THREADS N C H K R STRIDE   (padding R//2)
"""
import sys
import time

import torch

threads, N, C, H, K, R, s = (int(v) for v in sys.argv[1:8])
torch.set_num_threads(threads)
x = torch.randn(N, C, H, H, requires_grad=True)
w = torch.randn(K, C, R, R, requires_grad=True)
forward = backward = 1e9
for rep in range(6):
    t0 = time.perf_counter()
    y = torch.nn.functional.conv2d(x, w, None, s, R // 2)
    t1 = time.perf_counter()
    gy = torch.ones_like(y)
    t2 = time.perf_counter()
    y.backward(gy)
    t3 = time.perf_counter()
    if rep > 0:
        forward, backward = min(forward, t1 - t0), min(backward, t3 - t2)
infer = 1e9
with torch.no_grad():
    for rep in range(6):
        t0 = time.perf_counter()
        y = torch.nn.functional.conv2d(x, w, None, s, R // 2)
        t1 = time.perf_counter()
        if rep > 0:
            infer = min(infer, t1 - t0)
P = (H + 2 * (R // 2) - R) // s + 1
flops = 2.0 * N * K * P * P * C * R * R
print(f"torch {threads} threads conv N{N} C{C} H{H} K{K} R{R} stride {s}: forward {forward * 1e3:.2f} ms "
      f"({flops / forward / 1e9:.1f} GFLOP/s), backward {backward * 1e3:.2f} ms ({2 * flops / backward / 1e9:.1f} GFLOP/s), "
      f"infer {infer * 1e3:.2f} ms ({flops / infer / 1e9:.1f} GFLOP/s)")
