"""Training recipes: label smoothing, soft-target cross-entropy, mixup targets, gradient clipping
(see tests/test_recipes.cpp).

label_smoothing_<case>/{x, target, weight?, loss, grad_x}: F.cross_entropy(x, target, weight,
    reduction, label_smoothing) and its gradient.
soft_target/{x, q, loss, grad_x}: timm's SoftTargetCrossEntropy, sum(-q * log_softmax(x), -1).mean(),
    with q = mixup_target(target, 5, lam=0.3, smoothing=0.1) written out as timm does (below).
clip_grad/{g0, g1, total_norm, g0_clipped, g1_clipped}: torch.nn.utils.clip_grad_norm_(max_norm=0.5)
    of two parameters whose gradients are g0, g1.
"""
import h5py
import torch
import torch.nn.functional as F

from references.common import put, rand


def case_label_smoothing(f):
    torch.manual_seed(16)
    x = rand(6, 5, lo=-3, hi=3)
    target = torch.tensor([0, 4, 2, 2, 1, 3])
    weight = torch.tensor([1.0, 2.0, 0.5, 1.5, 3.0])
    cases = {"mean": (0.1, None, "mean"), "weighted_mean": (0.2, weight, "mean"), "weighted_sum": (0.1, weight, "sum")}
    for name, (eps, w, red) in cases.items():
        xx = x.clone().requires_grad_(True)
        loss = F.cross_entropy(xx, target, weight=w, reduction=red, label_smoothing=eps)
        loss.backward()
        extra = {} if w is None else {"weight": w}
        put(f, "label_smoothing_" + name, x=x, target=target, loss=loss, grad_x=xx.grad, **extra)


def one_hot(x, num_classes, on_value=1.0, off_value=0.0):  # timm.data.mixup.one_hot
    x = x.long().view(-1, 1)
    return torch.full((x.size()[0], num_classes), off_value).scatter_(1, x, on_value)


def mixup_target(target, num_classes, lam=1.0, smoothing=0.0):  # timm.data.mixup.mixup_target
    off_value = smoothing / num_classes
    on_value = 1.0 - smoothing + off_value
    y1 = one_hot(target, num_classes, on_value=on_value, off_value=off_value)
    y2 = one_hot(target.flip(0), num_classes, on_value=on_value, off_value=off_value)
    return y1 * lam + y2 * (1.0 - lam)


def case_soft_target(f):
    torch.manual_seed(17)
    x = rand(6, 5, lo=-3, hi=3)
    target = torch.tensor([0, 4, 2, 2, 1, 3])
    q = mixup_target(target, 5, lam=0.3, smoothing=0.1)
    xx = x.clone().requires_grad_(True)
    loss = torch.sum(-q * F.log_softmax(xx, dim=-1), dim=-1).mean()  # timm's SoftTargetCrossEntropy
    loss.backward()
    put(f, "soft_target", x=x, target=target, q=q, loss=loss, grad_x=xx.grad)


def case_clip_grad(f):
    torch.manual_seed(18)
    g0, g1 = rand(3, 4), rand(5)
    p0, p1 = torch.nn.Parameter(torch.zeros(3, 4)), torch.nn.Parameter(torch.zeros(5))
    p0.grad, p1.grad = g0.clone(), g1.clone()
    total = torch.nn.utils.clip_grad_norm_([p0, p1], max_norm=0.5)
    put(f, "clip_grad", g0=g0, g1=g1, total_norm=total, g0_clipped=p0.grad, g1_clipped=p1.grad)


def write(path):
    with h5py.File(path, "w") as f:
        for name, fn in sorted(globals().items()):
            if name.startswith("case_"):
                fn(f)
