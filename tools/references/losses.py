"""Losses: inputs, targets, weights, loss values and input gradients (see tests/test_loss.cpp).

Every case stores x (logits, log-probabilities or probabilities), target, optionally weight or
pos_weight, the loss, and grad_x. Reduction "none" cases also store grad_loss, the gradient the
test feeds into backward (random, so that a permuted gradient fails).
"""
import h5py
import torch
import torch.nn.functional as F

from references.common import put, rand


def run(f, name, fn, x, target, reduction, **extra):
    x = x.clone().requires_grad_()
    loss = fn(x, target, reduction=reduction, **extra)
    tensors = dict(x=x, target=target, loss=loss)
    if reduction == "none":
        gy = rand(*loss.shape)
        loss.backward(gy)
        tensors["grad_loss"] = gy
    else:
        loss.backward()
    tensors["grad_x"] = x.grad
    for k, v in extra.items():
        if v is not None:
            tensors[k] = v
    put(f, name, **tensors)


def case_class_losses(f):
    torch.manual_seed(2)
    logits = rand(6, 5, lo=-3, hi=3)
    target = torch.tensor([0, 4, 2, 2, 1, 3])
    weight = rand(5, lo=0.2, hi=2.0)
    log_probs = F.log_softmax(logits, dim=1).detach()
    for r in ["mean", "sum", "none"]:
        run(f, f"ce_{r}", F.cross_entropy, logits, target, r)
        run(f, f"ce_weighted_{r}", F.cross_entropy, logits, target, r, weight=weight)
        run(f, f"nll_{r}", F.nll_loss, log_probs, target, r)
        run(f, f"nll_weighted_{r}", F.nll_loss, log_probs, target, r, weight=weight)
    # Stability: logits of +-1000 overflow exp() unless the row max is subtracted.
    big = torch.tensor([[1000.0, 0.0, -1000.0, 999.0], [-1000.0, -1000.0, 1000.0, 0.0], [5.0, 1000.0, 1000.0, 1000.0]])
    run(f, "ce_large_mean", F.cross_entropy, big, torch.tensor([3, 0, 1]), "mean")
    run(f, "ce_large_none", F.cross_entropy, big, torch.tensor([3, 0, 1]), "none")


def case_binary_losses(f):
    torch.manual_seed(3)
    probs = rand(4, 3, lo=0.02, hi=0.98)
    target = (rand(4, 3) > 0).float()
    soft_target = rand(4, 3, lo=0.0, hi=1.0)
    weight = rand(4, 3, lo=0.2, hi=2.0)
    logits = rand(4, 3, lo=-4, hi=4)
    pos_weight = rand(3, lo=0.5, hi=3.0)
    for r in ["mean", "sum", "none"]:
        run(f, f"bce_{r}", F.binary_cross_entropy, probs, target, r)
        run(f, f"bce_weighted_{r}", F.binary_cross_entropy, probs, soft_target, r, weight=weight)
        run(f, f"bcel_{r}", F.binary_cross_entropy_with_logits, logits, target, r)
        run(f, f"bcel_pos_weight_{r}", F.binary_cross_entropy_with_logits, logits, soft_target, r,
            pos_weight=pos_weight)
    # log(0) is clamped at -100: probabilities of exactly 0 and 1, right and wrong.
    edge = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.5])
    run(f, "bce_clamp_sum", F.binary_cross_entropy, edge, torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0]), "sum")
    # Logits of +-100: exp(100) overflows float32 in a naive formula.
    x = torch.tensor([100.0, -100.0, 100.0, -100.0, 0.0, 30.0])
    t = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 0.5])
    run(f, "bcel_large_none", F.binary_cross_entropy_with_logits, x, t, "none")
    run(f, "bcel_large_pos_weight_mean", F.binary_cross_entropy_with_logits, x, t, "mean",
        pos_weight=torch.tensor([2.0, 0.5, 3.0, 1.0, 1.5, 0.25]))


def write(path):
    with h5py.File(path, "w") as f:
        for name, fn in sorted(globals().items()):
            if name.startswith("case_"):
                fn(f)
