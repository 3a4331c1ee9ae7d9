"""fastai's fine_tune with torchvision models and torch's OneCycleLR (see tests/test_fine_tune.cpp).

counts/<arch>: the parameter values of each layer group of the torchvision model with a 5-class
    head, summed from torchvision's own modules by the split fastai's model_meta uses (the body
    cut at the same places; graft keeps the pretrained classifier layers before the head in the
    middle group): [group 0, group 1, head, total].
onecycle_<case>/lrs [steps + 1, groups] and /momentum [steps + 1]: torch.optim.lr_scheduler.OneCycleLR
    over an Adam with one parameter group per layer group, max_lr = fastai's slice(lr/lr_mult, lr)
    spread by even_mults (written out here), fastai's phase settings (pct_start, div; the last
    lr max_lr / 1e5 = div_final). Cases:
      phase1   1 group, max_lr 0.02 (base_lr), pct_start 0.99, div 25, 6 steps
      phase2_2 2 groups (a spec model: body, head), base_lr 0.02 -> 0.01, lr_mult 100, 6 steps
      phase2_3 3 groups (resnet18), base_lr 0.02 -> 0.01, lr_mult 10, 20 steps
"""
import h5py
import numpy as np
import torch
import torchvision

from references.common import put


def numel(modules):
    return sum(p.numel() for m in modules for p in m.parameters())


def case_counts(f):
    r = torchvision.models.resnet18(num_classes=5)
    g = [numel([r.conv1, r.bn1, r.layer1, r.layer2]), numel([r.layer3, r.layer4]), numel([r.fc])]
    put(f, "counts/resnet18", n=torch.tensor(g + [numel([r])], dtype=torch.int64))
    v = torchvision.models.vgg16(num_classes=5)
    g = [numel(v.features[:17]), numel(v.features[17:]) + numel(v.classifier[:6]), numel([v.classifier[6]])]
    put(f, "counts/vgg16", n=torch.tensor(g + [numel([v])], dtype=torch.int64))
    d = torchvision.models.densenet121(num_classes=5)
    g = [numel(d.features[:7]), numel(d.features[7:]), numel([d.classifier])]
    put(f, "counts/densenet121", n=torch.tensor(g + [numel([d])], dtype=torch.int64))


def even_mults(start, stop, n):  # fastai.torch_core.even_mults
    step = (stop / start) ** (1 / (n - 1))
    return [start * (step ** i) for i in range(n)]


def one_cycle(f, name, max_lrs, steps, pct_start, div):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([{"params": [p] if i == 0 else [], "lr": lr} for i, lr in enumerate(max_lrs)])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lrs, total_steps=steps, pct_start=pct_start,
                                                div_factor=div, final_div_factor=1e5 / div, base_momentum=0.85,
                                                max_momentum=0.95)
    lrs = [[g["lr"] for g in opt.param_groups]]
    mom = [opt.param_groups[0]["betas"][0]]
    for _ in range(steps):
        opt.step()
        sched.step()
        lrs.append([g["lr"] for g in opt.param_groups])
        mom.append(opt.param_groups[0]["betas"][0])
    put(f, "onecycle_" + name, lrs=torch.tensor(lrs, dtype=torch.float64), momentum=torch.tensor(mom, dtype=torch.float64))


def case_onecycle(f):
    one_cycle(f, "phase1", [0.02], 6, 0.99, 25.0)
    base = 0.02 / 2  # fastai's fine_tune halves base_lr before unfreezing
    one_cycle(f, "phase2_2", even_mults(base / 100, base, 2), 6, 0.3, 5.0)
    one_cycle(f, "phase2_3", even_mults(base / 10, base, 3), 20, 0.3, 5.0)


def write(path):
    with h5py.File(path, "w") as f:
        case_counts(f)
        case_onecycle(f)
