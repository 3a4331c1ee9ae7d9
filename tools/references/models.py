"""Whole models: VGG16, ResNet18, DenseNet121 in torchvision vs graft (tests/test_models.cpp).

For each architecture, a torchvision model is built after torch.manual_seed(SEED[arch]) and
its weights are written by tools/convert_torchvision.py's own writer (write_graft_h5) next to
this file's output, as "models_<arch>.h5" — the same bytes the converter would produce with
`--random-seed SEED --arch <arch>`. They are build artifacts, never committed (VGG16 alone is
528 MB of float32; reading it back takes about a second).

models.h5 then holds, per architecture (group "<arch>/"):
  keys            the state_dict keys in torchvision's order
  x, target       2 images and 2 labels. Small images keep the test fast (documented sizes:
                  VGG16 32x32 — its adaptive 7x7 pool accepts it —, ResNet18 and DenseNet121
                  64x64, the smallest sizes that keep every stage at least 2x2 for DenseNet)
  eval_logits     model.eval()(x)
  train_logits    model.train()(x), with the Dropout modules in eval mode (graft's and torch's
                  random streams differ, so dropout masks cannot match; VGG16 has no batch norm
                  so for it this is the same function as eval, with gradients)
  loss            cross_entropy(train_logits, target)
  grad/<key>      d loss / d parameter for every parameter; for tensors over 2M elements
                  (VGG16's classifier.0 and .3 weights) only every 64th row, as grad_rows/<key>
  grad_cond/<key> (ResNet18, DenseNet121) how far PyTorch's own float32 gradient is from the
                  same computation in float64: max|g32 - g64| / max|g64|. Most tensors ~1e-5,
                  but e.g. DenseNet's features.norm0.weight is ~2e-2 — its gradient
                  sum(dy * xhat) cancels almost completely after 120 train-mode batch norms —
                  so the test's tolerance for a tensor is max(2e-3, 3 * grad_cond)
  after_train/<key>  every buffer after that one training forward (running stats, counts)
  head/<key>      the replaced head's initial parameters (seeded), for the optimizer cases
  sgd/<key>, adam/<key>, sgd/losses, adam/losses
                  the head's parameters after 3 steps (SGD lr 0.01 momentum 0.9; Adam lr 1e-3)
                  with the backbone frozen (its batch norm in eval mode, as graft's
                  ImageClassifier::frozen_bn_eval) and dropout off, and the 3 losses
"""
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from references.common import put, rand

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from convert_torchvision import build_model, write_graft_h5  # noqa: E402
from load_graft_checkpoint import load_graft_checkpoint  # noqa: E402

SEED = {"vgg16": 16, "resnet18": 18, "densenet121": 121}
SIZE = {"vgg16": 32, "resnet18": 64, "densenet121": 64}
HEAD = {  # name, builder, loss — the heads of the tutorials
    "vgg16": ("classifier.6", lambda: nn.Sequential(nn.Linear(4096, 256), nn.ReLU(inplace=True), nn.Dropout(0.4),
                                                    nn.Linear(256, 100), nn.LogSoftmax(dim=1)), "nll", 100),
    "resnet18": ("fc", lambda: nn.Linear(512, 10), "ce", 10),
    "densenet121": ("classifier", lambda: nn.Sequential(nn.Linear(1024, 64), nn.ReLU(inplace=True), nn.Dropout(0.5),
                                                        nn.Linear(64, 10)), "ce", 10),
}
BIG = 2_000_000  # gradients larger than this are stored as every 64th row


def weights_path(out_path, arch):
    return os.path.join(os.path.dirname(os.path.abspath(out_path)), f"models_{arch}.h5")


def dropout_off(model):
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.eval()


def put_strings(f, name, values):
    f.create_dataset(name, data=np.array(values, dtype=h5py.string_dtype()))


def case_model(f, out_path, arch):
    torch.manual_seed(SEED[arch])
    model = build_model(arch)
    sd = {k: v.clone() for k, v in model.state_dict().items()}  # state_dict() aliases the live tensors
    wpath = weights_path(out_path, arch)
    from torchvision.models._meta import _IMAGENET_CATEGORIES
    write_graft_h5(wpath, sd, arch, list(_IMAGENET_CATEGORIES), source=f"random-seed={SEED[arch]}")
    # The reverse path loads what the converter wrote back into torchvision, bit for bit.
    back = load_graft_checkpoint(wpath).state_dict()
    assert all(torch.equal(back[k], v) for k, v in sd.items()), "load_graft_checkpoint round trip"

    g = arch
    put_strings(f, f"{g}/keys", list(sd.keys()))
    torch.manual_seed(1000 + SEED[arch])
    s = SIZE[arch]
    x = rand(2, 3, s, s)
    target = torch.tensor([3, 997])
    put(f, g, x=x, target=target)

    model.eval()
    with torch.no_grad():
        put(f, g, eval_logits=model(x))

    model.train()
    dropout_off(model)
    logits = model(x)
    loss = F.cross_entropy(logits, target)
    loss.backward()
    put(f, g, train_logits=logits, loss=loss)
    for k, p in model.named_parameters():
        if p.numel() > BIG:
            put(f, f"{g}/grad_rows", **{k: p.grad[::64]})
        else:
            put(f, f"{g}/grad", **{k: p.grad})
    for k, b in model.named_buffers():
        put(f, f"{g}/after_train", **{k: b})
    if arch != "vgg16":  # VGG16 in float64 would need 2 GB; it has no batch norm to amplify rounding
        m64 = build_model(arch)
        m64.load_state_dict(sd)
        m64 = m64.double().train()
        F.cross_entropy(m64(x.double()), target).backward()
        g32 = dict(model.named_parameters())
        for k, p in m64.named_parameters():
            err = (g32[k].grad.double() - p.grad).abs().max() / p.grad.abs().max().clamp_min(1e-300)
            put(f, f"{g}/grad_cond", **{k: err})

    # Frozen backbone, replaced head, 3 optimizer steps: from the converted weights again.
    name, make_head, loss_kind, n = HEAD[arch]
    torch.manual_seed(2000 + SEED[arch])
    target = torch.randint(0, n, (2,))
    put(f, g, head_target=target)
    head_init = None
    for opt_name in ("sgd", "adam"):
        model = build_model(arch)
        model.load_state_dict(sd)
        torch.manual_seed(3000 + SEED[arch])
        head = make_head()
        parent, _, leaf = name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, leaf, head)
        for k, p in model.named_parameters():
            p.requires_grad_(k.startswith(name + "."))
        if head_init is None:
            head_init = {k: p.detach().clone() for k, p in model.named_parameters() if p.requires_grad}
            put(f, f"{g}/head", **head_init)
        model.train()
        for m in model.modules():  # frozen batch norm keeps its statistics (graft's frozen_bn_eval)
            if isinstance(m, nn.BatchNorm2d) and not any(p.requires_grad for p in m.parameters()):
                m.eval()
        dropout_off(model)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.SGD(params, lr=0.01, momentum=0.9) if opt_name == "sgd" else torch.optim.Adam(params, lr=1e-3)
        losses = []
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            out = model(x)
            step_loss = F.nll_loss(out, target) if loss_kind == "nll" else F.cross_entropy(out, target)
            step_loss.backward()
            opt.step()
            losses.append(step_loss.item())
        put(f, f"{g}/{opt_name}", losses=torch.tensor(losses),
            **{k: p for k, p in model.named_parameters() if p.requires_grad})


def write(path):
    with h5py.File(path, "w") as f:
        for arch in ("resnet18", "densenet121", "vgg16"):
            case_model(f, path, arch)
