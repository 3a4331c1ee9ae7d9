#!/usr/bin/python3
"""PyTorch's side of tools/bench_train.sh: the same training recipe as `graft train`, timed.

The recipe (keep it in step with bench_train.sh's graft command):
  torchvision ImageFolder train/ and valid/ folders, DataLoader with --workers processes,
  train transform RandomResizedCrop(224) + RandomHorizontalFlip + ToTensor + Normalize(ImageNet),
  valid transform Resize(256) + CenterCrop(224) + ToTensor + Normalize(ImageNet),
  torchvision's model, initial backbone weights from --pth (the same file that
  convert_torchvision.py turned into graft's .h5) and a new --num-classes Linear head, cross-entropy, SGD (lr, momentum 0.9),
  batch --batch-size, --epochs epochs; with --freeze, only the head (fc / classifier) trains and
  the backbone's batch norms stay in eval mode (as graft's --freeze backbone).

Prints one JSON object per epoch: {"epoch", "seconds", "train_loss", "valid_acc"}; seconds is
the wall time of the training pass plus the validation pass, as graft's metrics.csv "seconds".
"""
import argparse
import json
import time

import torch
import torchvision
import torchvision.transforms as T


def head_of(model):
    return model.fc if hasattr(model, "fc") else model.classifier


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--train", required=True)
    p.add_argument("--valid", required=True)
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--pth", required=True)
    p.add_argument("--num-classes", type=int, required=True)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--freeze", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)

    norm = T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    train_tf = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(), norm])
    valid_tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), norm])
    train_ds = torchvision.datasets.ImageFolder(a.train, train_tf)
    valid_ds = torchvision.datasets.ImageFolder(a.valid, valid_tf)
    # persistent_workers: graft's loader threads live for the whole run as well
    kw = dict(num_workers=a.workers, persistent_workers=a.workers > 0)
    train_dl = torch.utils.data.DataLoader(train_ds, batch_size=a.batch_size, shuffle=True, **kw)
    valid_dl = torch.utils.data.DataLoader(valid_ds, batch_size=a.batch_size, shuffle=False, **kw)

    model = getattr(torchvision.models, a.arch)()
    model.load_state_dict(torch.load(a.pth, map_location="cpu"))
    # the new head, as graft's --head "linear(n)" replaces fc / classifier
    if hasattr(model, "fc"):
        model.fc = torch.nn.Linear(model.fc.in_features, a.num_classes)
    else:
        model.classifier = torch.nn.Linear(model.classifier.in_features, a.num_classes)
    params = model.parameters()
    if a.freeze:
        for q in model.parameters():
            q.requires_grad_(False)
        for q in head_of(model).parameters():
            q.requires_grad_(True)
        params = head_of(model).parameters()
    opt = torch.optim.SGD(params, lr=a.lr, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()

    for epoch in range(1, a.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        if a.freeze:  # frozen backbone: its batch norms use (and keep) the running statistics
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.eval()
        total, n = 0.0, 0
        for x, y in train_dl:
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            total += loss.item() * x.shape[0]
            n += x.shape[0]
        model.eval()
        correct, m = 0, 0
        with torch.no_grad():
            for x, y in valid_dl:
                correct += (model(x).argmax(1) == y).sum().item()
                m += x.shape[0]
        s = time.perf_counter() - t0
        print(json.dumps({"epoch": epoch, "seconds": s, "train_loss": total / n, "valid_acc": correct / m}),
              flush=True)


if __name__ == "__main__":
    main()
