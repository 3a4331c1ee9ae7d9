"""Learning-rate schedules stepped per batch, and ReduceLROnPlateau (see tests/test_schedules.cpp).

Each case builds an optimizer over one parameter in 2 groups (lr 0.1 and 0.01 unless the case
says otherwise), makes PyTorch's scheduler and stores the lrs of both groups right after it is
made and after each step ("<case>/lrs", shape [steps + 1, 2], float64 values stored as float32),
and for OneCycleLR the momentum (SGD) or beta1 (Adam) of group 0 ("<case>/momentum").
ReduceLROnPlateau's case also stores the metrics it was fed ("plateau/metrics").
"""
import warnings

import h5py
import torch

from references.common import put

S = torch.optim.lr_scheduler


def two_groups(make):
    p = torch.nn.Parameter(torch.zeros(1))
    return make([{"params": [p], "lr": 0.1}, {"params": [], "lr": 0.01}])


def momentum_of(opt):
    g = opt.param_groups[0]
    return g["betas"][0] if "betas" in g else g["momentum"]


def run(f, name, opt, sched, steps, metrics=None):
    lrs = [[g["lr"] for g in opt.param_groups]]
    mom = [momentum_of(opt)]
    for i in range(steps):
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[i])
        lrs.append([g["lr"] for g in opt.param_groups])
        mom.append(momentum_of(opt))
    put(f, name, lrs=torch.tensor(lrs, dtype=torch.float64), momentum=torch.tensor(mom, dtype=torch.float64))


def case_onecycle(f):
    # SGD, one max_lr per group, PyTorch's defaults but for the number of steps.
    opt = two_groups(lambda g: torch.optim.SGD(g, lr=0.1, momentum=0.9))
    run(f, "onecycle_sgd", opt, S.OneCycleLR(opt, max_lr=[0.1, 0.01], total_steps=20), 20)
    # Adam (beta1 cycles), one max_lr for both groups, every knob away from its default.
    opt = two_groups(lambda g: torch.optim.Adam(g, lr=0.1))
    sched = S.OneCycleLR(opt, max_lr=0.01, total_steps=17, pct_start=0.25, div_factor=10.0, final_div_factor=100.0,
                         base_momentum=0.8, max_momentum=0.9)
    run(f, "onecycle_adam", opt, sched, 17)


def case_warmup_cosine(f):
    # SequentialLR steps the cosine with step(0) at the milestone, which warns (harmlessly).
    warnings.filterwarnings("ignore", message="The epoch parameter")
    opt = two_groups(lambda g: torch.optim.SGD(g, lr=0.1, momentum=0.9))
    warm = S.LinearLR(opt, start_factor=0.25, total_iters=5)
    cos = S.CosineAnnealingLR(opt, T_max=15, eta_min=1e-4)
    run(f, "warmup_cosine", opt, S.SequentialLR(opt, [warm, cos], milestones=[5]), 20)


def case_plateau(f):
    # Falls, stalls (improvements below the 1% threshold do not count), falls, stalls long
    # enough to reach group 1's min_lr floor; cooldown 1 ignores the epoch after a reduction.
    metrics = [1.0, 0.9, 0.895, 0.899, 0.897, 0.7, 0.69, 0.695, 0.71, 0.7, 0.72, 0.73, 0.6, 0.61, 0.62, 0.63,
               0.64, 0.65, 0.66, 0.67]
    opt = two_groups(lambda g: torch.optim.SGD(g, lr=0.1))
    sched = S.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=2, threshold=1e-2, threshold_mode="rel",
                                cooldown=1, min_lr=[0.0, 0.004])
    run(f, "plateau", opt, sched, len(metrics), metrics)
    put(f, "plateau", metrics=torch.tensor(metrics, dtype=torch.float64))


def write(path):
    with h5py.File(path, "w") as f:
        for name, fn in sorted(globals().items()):
            if name.startswith("case_"):
                fn(f)
