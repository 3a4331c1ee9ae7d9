#!/usr/bin/env python3
"""Load a graft weights file (HDF5, written by graft's save_weights or by
tools/convert_torchvision.py) back into a torchvision model — the reverse direction.

    /usr/bin/python3 tools/load_graft_checkpoint.py weights/resnet18.h5            # check it loads
    # or, in your own code:
    from load_graft_checkpoint import load_graft_checkpoint
    model = load_graft_checkpoint("finetuned.h5")           # a torchvision model, head included

A graft file holds one dataset per state_dict key (exact torchvision names), so this is
`model.load_state_dict({k: torch.from_numpy(f[k][()])})`. A replaced head (graft's
replace_head: Linear-ReLU-Dropout-Linear[-LogSoftmax] under "classifier.6." / "fc." /
"classifier.") is rebuilt from the shapes in the file, with the same nn.Sequential numbering.
"""
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn
import torchvision

HEADS = {"vgg16": "classifier.6", "resnet18": "fc", "densenet121": "classifier"}


def read_graft_h5(path):
    """(state_dict, attributes) of a graft HDF5 file."""
    with h5py.File(path, "r") as f:
        order = [k.decode() if isinstance(k, bytes) else str(k) for k in f.attrs.get("keys", [])] or list(f.keys())
        sd = {k: torch.from_numpy(np.asarray(f[k][()])) for k in order if isinstance(f[k], h5py.Dataset)}
        attrs = {k: f.attrs[k] for k in f.attrs}
    return sd, attrs


def build_head(prefix, sd, dropout=0.5):
    """Rebuild a replaced head from the keys under `prefix.` (nn.Sequential numbering:
    Linear at the indices with a weight, ReLU/Dropout between, LogSoftmax after the last if
    graft saved one — recorded in the `head` attribute — otherwise none)."""
    if f"{prefix}.weight" in sd:
        w = sd[f"{prefix}.weight"]
        return nn.Linear(w.shape[1], w.shape[0])
    idx = sorted({int(k[len(prefix) + 1:].split(".")[0]) for k in sd if k.startswith(prefix + ".")})
    layers = {}
    for i in idx:
        w = sd[f"{prefix}.{i}.weight"]
        layers[i] = nn.Linear(w.shape[1], w.shape[0])
    seq = []
    for i in range(idx[-1] + 1):
        if i in layers:
            seq.append(layers[i])
        elif (i - 1) in layers:
            seq.append(nn.ReLU(inplace=True))
        else:
            seq.append(nn.Dropout(dropout))
    return nn.Sequential(*seq)


def load_graft_checkpoint(path, arch=None):
    sd, attrs = read_graft_h5(path)
    arch = arch or str(attrs.get("architecture", "other"))
    if arch not in HEADS:
        raise SystemExit(f"load_graft_checkpoint: {path} is for architecture '{arch}'; "
                         f"only {', '.join(HEADS)} can be rebuilt here (load the tensors with read_graft_h5)")
    prefix = HEADS[arch]
    replaced = f"{prefix}.weight" not in sd
    n = int(attrs.get("num_classes", 1000))
    model = getattr(torchvision.models, arch)(weights=None, num_classes=1000 if replaced else n)
    if replaced:
        head = build_head(prefix, sd)
        if str(attrs.get("head_log_softmax", "false")) == "true":
            head.append(nn.LogSoftmax(dim=1))
        parent, _, leaf = prefix.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, leaf, head)
    model.load_state_dict(sd, strict=True)
    return model


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: load_graft_checkpoint.py FILE.h5")
    m = load_graft_checkpoint(sys.argv[1])
    print(f"loaded {sys.argv[1]}: {type(m).__name__}, {sum(p.numel() for p in m.parameters()):,} parameters")
