"""Batch norm, activations, softmax: inputs, outputs and gradients (tests/test_batch_norm.cpp,
tests/test_activations.cpp). Written to layers_b.h5. Dropout is tested statistically instead:
graft's random stream is not PyTorch's."""
import h5py
import torch
import torch.nn as nn
import torch.nn.functional as F

from references.common import put, rand


def case_batch_norm2d(f):
    # Non-default eps and momentum so that a test passing them wrongly fails.
    torch.manual_seed(2)
    N, C, H, W = 4, 3, 5, 5
    bn = nn.BatchNorm2d(C, eps=1e-3, momentum=0.3)
    with torch.no_grad():
        bn.weight.copy_(rand(C, lo=0.5, hi=1.5))
        bn.bias.copy_(rand(C))
        bn.running_mean.copy_(rand(C))
        bn.running_var.copy_(rand(C, lo=0.5, hi=1.5))
    rm0, rv0 = bn.running_mean.clone(), bn.running_var.clone()
    x = (rand(N, C, H, W, lo=-1.0, hi=3.0)).requires_grad_()  # mean far from 0
    x2 = rand(N, C, H, W, lo=-2.0, hi=1.0)
    bn.train()
    y = bn(x)
    gy = rand(N, C, H, W)
    y.backward(gy)
    rm1, rv1 = bn.running_mean.clone(), bn.running_var.clone()
    with torch.no_grad():
        bn(x2)  # second training forward: running stats and the counter move again
    put(f, "batch_norm2d", x=x, x2=x2, weight=bn.weight, bias=bn.bias, running_mean0=rm0, running_var0=rv0,
        y=y, grad_y=gy, grad_x=x.grad, grad_weight=bn.weight.grad, grad_bias=bn.bias.grad,
        running_mean1=rm1, running_var1=rv1, running_mean2=bn.running_mean, running_var2=bn.running_var,
        num_batches_tracked=bn.num_batches_tracked)

    # Eval mode: running statistics (those after the two forwards), the simple backward.
    bn.eval()
    bn.weight.grad = None
    bn.bias.grad = None
    xe = x.detach().clone().requires_grad_()
    ye = bn(xe)
    gye = rand(N, C, H, W)
    ye.backward(gye)
    put(f, "batch_norm2d_eval", x=xe, y=ye, grad_y=gye, grad_x=xe.grad, grad_weight=bn.weight.grad,
        grad_bias=bn.bias.grad)


def case_batch_norm2d_offset(f):
    # Values near 500 with a spread of 0.1: the variance is tiny next to the mean, so a
    # sum-of-squares formula in float32 cancels badly. The reference is computed in float64
    # (the true answer for these float32 inputs), then rounded.
    torch.manual_seed(3)
    x = 500.0 + rand(2, 2, 4, 4, lo=0.0, hi=0.1)
    w = rand(2, lo=0.5, hi=1.5)
    b = rand(2)
    xd = x.double()
    y = F.batch_norm(xd, None, None, w.double(), b.double(), training=True, eps=1e-5)
    put(f, "batch_norm2d_offset", x=x, weight=w, bias=b, y=y)


def case_relu(f):
    torch.manual_seed(4)
    x = rand(4, 6)
    x[0, :3] = 0.0  # relu'(0) = 0 in PyTorch
    x.requires_grad_()
    y = torch.relu(x)
    gy = rand(4, 6)
    y.backward(gy)
    put(f, "relu", x=x, y=y, grad_y=gy, grad_x=x.grad)


def case_sigmoid(f):
    torch.manual_seed(5)
    x = rand(3, 5, lo=-6.0, hi=6.0)
    x[0, :5] = torch.tensor([100.0, -100.0, 20.0, -20.0, 0.0])  # saturation and the midpoint
    x.requires_grad_()
    y = torch.sigmoid(x)
    gy = rand(3, 5)
    y.backward(gy)
    put(f, "sigmoid", x=x, y=y, grad_y=gy, grad_x=x.grad)


def _logits():
    x = rand(4, 7, lo=-3.0, hi=3.0)
    x[0] += 1000.0  # exp(1000) overflows float32: needs the max subtracted
    x[1] -= 1000.0  # exp(-1000) underflows to 0: same
    x[2, 3] = 1000.0  # one dominant logit: probabilities 1 and ~0, log-probabilities ~ -1000
    return x


def case_softmax(f):
    torch.manual_seed(6)
    x = _logits().requires_grad_()
    y = torch.softmax(x, dim=1)
    gy = rand(4, 7)
    y.backward(gy)
    put(f, "softmax", x=x, y=y, grad_y=gy, grad_x=x.grad)


def case_log_softmax(f):
    torch.manual_seed(7)
    x = _logits().requires_grad_()
    y = torch.log_softmax(x, dim=1)
    gy = rand(4, 7)
    y.backward(gy)
    put(f, "log_softmax", x=x, y=y, grad_y=gy, grad_x=x.grad)


def write(path):
    with h5py.File(path, "w") as f:
        for name, fn in sorted(globals().items()):
            if name.startswith("case_"):
                fn(f)
