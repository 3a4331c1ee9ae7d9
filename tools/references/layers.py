"""Single layers: inputs, parameters, outputs and gradients (see tests/test_layers*.cpp)."""
import h5py
import torch
import torch.nn.functional as F

from references.common import put, rand


def case_linear(f):
    torch.manual_seed(1)
    x = rand(4, 7).requires_grad_()
    w = rand(5, 7).requires_grad_()
    b = rand(5).requires_grad_()
    y = F.linear(x, w, b)
    gy = rand(4, 5)
    y.backward(gy)
    put(f, "linear", x=x, weight=w, bias=b, y=y, grad_y=gy, grad_x=x.grad, grad_weight=w.grad, grad_bias=b.grad)


def write(path):
    with h5py.File(path, "w") as f:
        for name, fn in sorted(globals().items()):
            if name.startswith("case_"):
                fn(f)
