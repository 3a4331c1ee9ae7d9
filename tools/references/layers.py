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


# ---- conv2d, pooling, adaptive pooling, concat (tests/test_conv2d.cpp, tests/test_pool.cpp) ----
# Every case stores its inputs, y, a random grad_y and the gradients y.backward(grad_y) gives.
# The C++ tests repeat each case's hyper-parameters in a table next to the case name.

def _conv(f, case, seed, N, C, H, W, K, kernel, stride, padding, dilation, bias):
    torch.manual_seed(seed)
    x = rand(N, C, H, W).requires_grad_()
    w = rand(K, C, *kernel).requires_grad_()
    b = rand(K).requires_grad_() if bias else None
    y = F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation)
    gy = rand(*y.shape)
    y.backward(gy)
    extra = dict(bias=b, grad_bias=b.grad) if bias else {}
    put(f, case, x=x, weight=w, y=y, grad_y=gy, grad_x=x.grad, grad_weight=w.grad, **extra)


def case_conv2d(f):
    _conv(f, "conv2d_3x3", 10, 2, 3, 8, 8, 4, (3, 3), 1, 1, 1, True)             # VGG / ResNet body
    _conv(f, "conv2d_stem", 11, 2, 3, 16, 16, 4, (7, 7), 2, 3, 1, False)         # ResNet stem, no bias
    _conv(f, "conv2d_1x1", 12, 2, 6, 5, 5, 4, (1, 1), 1, 0, 1, True)             # DenseNet bottleneck
    _conv(f, "conv2d_1x1_stride2", 13, 2, 6, 7, 7, 4, (1, 1), 2, 0, 1, False)    # ResNet downsample
    _conv(f, "conv2d_dilation2", 14, 2, 3, 9, 9, 4, (3, 3), 1, 2, 2, True)
    _conv(f, "conv2d_nonsquare", 15, 2, 3, 6, 9, 5, (3, 2), (2, 1), (1, 0), 1, True)


def _pool(f, case, seed, shape, fn, **kw):
    torch.manual_seed(seed)
    x = rand(*shape).requires_grad_()
    y = fn(x, **kw)
    gy = rand(*y.shape)
    y.backward(gy)
    put(f, case, x=x, y=y, grad_y=gy, grad_x=x.grad)


def case_pool2d(f):
    _pool(f, "max_pool2d_resnet", 20, (2, 3, 9, 9), F.max_pool2d, kernel_size=3, stride=2, padding=1)
    _pool(f, "max_pool2d_vgg", 21, (2, 3, 8, 8), F.max_pool2d, kernel_size=2, stride=2)
    _pool(f, "max_pool2d_ceil", 22, (2, 3, 6, 6), F.max_pool2d, kernel_size=3, stride=2, ceil_mode=True)
    _pool(f, "avg_pool2d_densenet", 23, (2, 3, 7, 7), F.avg_pool2d, kernel_size=2, stride=2)
    _pool(f, "avg_pool2d_exclude_pad", 24, (2, 3, 7, 7), F.avg_pool2d, kernel_size=3, stride=2, padding=1,
          count_include_pad=False)
    _pool(f, "avg_pool2d_ceil_pad", 25, (2, 3, 6, 6), F.avg_pool2d, kernel_size=3, stride=2, padding=1,
          ceil_mode=True, count_include_pad=True)
    _pool(f, "adaptive_avg_pool2d_7x7_from_9x11", 26, (2, 3, 9, 11), F.adaptive_avg_pool2d, output_size=(7, 7))
    _pool(f, "adaptive_avg_pool2d_7x7_from_5x5", 27, (2, 3, 5, 5), F.adaptive_avg_pool2d, output_size=(7, 7))
    _pool(f, "adaptive_avg_pool2d_1x1", 28, (2, 3, 5, 6), F.adaptive_avg_pool2d, output_size=(1, 1))


def case_concat_channels(f):
    torch.manual_seed(29)
    xs = [rand(2, c, 4, 5).requires_grad_() for c in (2, 3, 1)]
    y = torch.cat(xs, dim=1)
    gy = rand(*y.shape)
    y.backward(gy)
    put(f, "concat_channels", x0=xs[0], x1=xs[1], x2=xs[2], y=y, grad_y=gy,
        grad_x0=xs[0].grad, grad_x1=xs[1].grad, grad_x2=xs[2].grad)


def write(path):
    with h5py.File(path, "w") as f:
        for name, fn in sorted(globals().items()):
            if name.startswith("case_"):
                fn(f)
