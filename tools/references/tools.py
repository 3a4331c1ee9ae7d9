"""Networks written as text specs (tests/test_tools.cpp): PyTorch's nn.Sequential versions of
the specs, their state_dicts under the exact PyTorch keys, an input and the eval-mode output.
graft builds the same network from the spec, loads the tensors by name and must match."""
import h5py
import torch
import torch.nn as nn

from references.common import put, rand


def _store(f, case, model, x):
    model.eval()
    with torch.no_grad():
        y = model(x)
    sd = model.state_dict()
    put(f, case, x=x, y=y, num_tensors=torch.tensor(len(sd)))
    put(f, case + "/state", **sd)


def case_spec_cnn(f):
    # seed 004's small CNN on 64x64 RGB:
    # conv(8,5) relu maxpool(2) conv(4,3) relu maxpool(3) flatten linear(128) relu linear(1)
    torch.manual_seed(40)
    m = nn.Sequential(nn.Conv2d(3, 8, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 4, 3), nn.ReLU(),
                      nn.MaxPool2d(3), nn.Flatten(), nn.Linear(324, 128), nn.ReLU(), nn.Linear(128, 1))
    _store(f, "spec_cnn", m, rand(2, 3, 64, 64))


class _Wrapped(nn.Module):
    """A user's CNN class that keeps its layers in self.main (names "main.0.weight", ...)."""
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Dropout(0.3), nn.Linear(16, 3),
                                  nn.LogSoftmax(dim=1))

    def forward(self, x):
        return self.main(x)


def case_spec_wrapped(f):
    # conv(4,3,stride=2,padding=1) bn relu adaptiveavgpool(2) flatten dropout(0.3) linear(n) logsoftmax, n=3
    torch.manual_seed(41)
    m = _Wrapped()
    with torch.no_grad():  # non-trivial running statistics, so eval-mode batch norm is tested
        m.main[1].running_mean.copy_(rand(4) * 0.5)
        m.main[1].running_var.copy_(rand(4, lo=0.5, hi=1.5))
        m.main[1].num_batches_tracked.fill_(7)
    _store(f, "spec_wrapped", m, rand(2, 1, 12, 12))


def write(path):
    with h5py.File(path, "w") as f:
        for name, fn in sorted(globals().items()):
            if name.startswith("case_"):
                fn(f)
