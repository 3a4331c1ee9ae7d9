"""Helpers shared by the reference writers."""
import h5py
import numpy as np
import torch


def put(f, case, **tensors):
    """Store tensors under "<case>/<name>" as float32 (int64 for integer tensors)."""
    for name, t in tensors.items():
        if isinstance(t, torch.Tensor):
            t = t.detach().cpu().numpy()
        t = np.asarray(t)
        if t.dtype.kind in "iu":
            t = t.astype(np.int64)
        else:
            t = t.astype(np.float32)
        f.create_dataset(f"{case}/{name}", data=t)


def rand(*shape, lo=-1.0, hi=1.0):
    return torch.rand(*shape, dtype=torch.float32) * (hi - lo) + lo
