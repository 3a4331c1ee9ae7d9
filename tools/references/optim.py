"""Optimizers and learning-rate schedules (see tests/test_optim.cpp).

A small nn.Linear(4, 3) starts from stored weights ("setup/weight", "setup/bias") and is trained
with cross-entropy on a fixed batch ("setup/x", "setup/target"). Each case stores the parameters
after 3 and after 5 optimizer steps ("<case>/weight_3", "<case>/bias_5", ...) and the loss of
each step ("<case>/losses"). Schedules store the learning rates of 2 parameter groups after
each of 8 epochs ("<case>/lrs", shape [8, 2]).
"""
import h5py
import torch
import torch.nn.functional as F

from references.common import put, rand


def setup():
    torch.manual_seed(4)
    return dict(weight=rand(3, 4), bias=rand(3), x=rand(6, 4, lo=-2, hi=2), target=torch.tensor([0, 2, 1, 1, 0, 2]))


def model_from(s):
    m = torch.nn.Linear(4, 3)
    with torch.no_grad():
        m.weight.copy_(s["weight"])
        m.bias.copy_(s["bias"])
    return m


# name -> function(model) returning the optimizer (graft's tests build the same ones)
OPTIMIZERS = {
    "sgd": lambda m: torch.optim.SGD(m.parameters(), lr=0.1),
    "sgd_nesterov": lambda m: torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, dampening=0, nesterov=True,
                                              weight_decay=1e-2),
    "sgd_dampening": lambda m: torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, dampening=0.1),
    "adam": lambda m: torch.optim.Adam(m.parameters(), lr=1e-2),
    "adam_weight_decay": lambda m: torch.optim.Adam(m.parameters(), lr=1e-2, weight_decay=1e-2),
    "adam_amsgrad": lambda m: torch.optim.Adam(m.parameters(), lr=1e-2, amsgrad=True),
    "adamw": lambda m: torch.optim.AdamW(m.parameters(), lr=1e-2),
    "sgd_groups": lambda m: torch.optim.SGD([{"params": [m.weight], "lr": 0.1}, {"params": [m.bias], "lr": 0.01}],
                                            lr=0.1, momentum=0.9),
    "sgd_frozen_bias": lambda m: torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9),
}


def case_optimizers(f):
    s = setup()
    put(f, "setup", **s)
    for name, make in OPTIMIZERS.items():
        m = model_from(s)
        if name == "sgd_frozen_bias":
            m.bias.requires_grad_(False)
        opt = make(m)
        losses = []
        for step in range(1, 6):
            opt.zero_grad()
            loss = F.cross_entropy(m(s["x"]), s["target"])
            loss.backward()
            opt.step()
            losses.append(loss.item())
            if step in (3, 5):
                put(f, name, **{f"weight_{step}": m.weight, f"bias_{step}": m.bias})
        put(f, name, losses=torch.tensor(losses))


def case_schedulers(f):
    makers = {
        "step_lr": lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5),
        "cosine_lr": lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=5, eta_min=1e-3),
    }
    for name, make in makers.items():
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([{"params": [p], "lr": 0.1}, {"params": [], "lr": 0.01}], lr=0.1)
        sched = make(opt)
        lrs = []
        for _ in range(8):
            opt.step()  # no gradients: nothing changes, but PyTorch wants step() before sched.step()
            sched.step()
            lrs.append(sched.get_last_lr())
        put(f, name, lrs=torch.tensor(lrs, dtype=torch.float64))


def write(path):
    with h5py.File(path, "w") as f:
        for name, fn in sorted(globals().items()):
            if name.startswith("case_"):
                fn(f)
