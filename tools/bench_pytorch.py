#!/usr/bin/python3
"""PyTorch's side of `graft bench` (tools/cmd_bench.cpp): the same models, modes and sizes.

Prints one flat JSON object per line: first {"torch": version, "threads": n, "backend": ...},
then one per configuration {"model", "mode", "batch", "size", "ips", "min", "max", "peak_mb"},
and with --features one {"features": model, "epoch_s": mean seconds per epoch}.
Modes as graft's: infer (eval, no_grad), train (forward, cross_entropy, backward, SGD
momentum 0.9), frozen (new 10-class Linear head, everything else requires_grad=False, frozen
batch norms in eval mode as graft's ImageClassifier does). img/s = batch / median step time.
Peak memory: VmHWM of /proc/self/status, reset per configuration through /proc/self/clear_refs.
Run with Debian's torch: /usr/bin/python3 tools/bench_pytorch.py --models resnet18 --configs 8x64
"""
import argparse
import json
import statistics
import time

import torch
import torchvision


def peak_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def head_name(arch):
    return {"vgg16": "classifier.6", "resnet18": "fc", "densenet121": "classifier"}[arch]


def set_module(model, dotted, module):
    parent = model
    parts = dotted.split(".")
    for p in parts[:-1]:
        parent = getattr(parent, p)
    setattr(parent, parts[-1], module)


def get_module(model, dotted):
    m = model
    for p in dotted.split("."):
        m = getattr(m, p)
    return m


def build(arch, mode, device):
    model = getattr(torchvision.models, arch)(num_classes=1000)
    if mode == "frozen":
        for p in model.parameters():
            p.requires_grad_(False)
        name = head_name(arch)
        set_module(model, name, torch.nn.Linear(get_module(model, name).in_features, 10))
    model.to(device)
    if mode == "infer":
        model.eval()
    else:
        model.train()
        if mode == "frozen":  # as graft's frozen_bn_eval: frozen batch norms use running stats
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.eval()
    return model


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def bench_one(arch, mode, batch, size, args):
    reset_peak()
    torch.manual_seed(1234)
    device = args.device
    model = build(arch, mode, device)
    x = torch.randn(batch, 3, size, size, device=device)
    classes = 10 if mode == "frozen" else 1000
    target = torch.tensor([(3 + 7 * i) % classes for i in range(batch)], device=device)
    opt = None
    if mode != "infer":
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)

    def step():
        if mode == "infer":
            with torch.no_grad():
                model(x)
        else:
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(x), target)
            loss.backward()
            opt.step()
        sync(device)

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return {"model": arch, "mode": mode, "batch": batch, "size": size,
            "ips": batch / statistics.median(times), "min": batch / max(times), "max": batch / min(times),
            "peak_mb": peak_mb()}


def bench_features(args):
    """The usual PyTorch loop: frozen backbone forward every epoch, then the head step."""
    device = args.device
    torch.manual_seed(99)
    model = getattr(torchvision.models, args.features_model)(num_classes=1000)
    name = head_name(args.features_model)
    head = torch.nn.Linear(get_module(model, name).in_features, 10).to(device)
    set_module(model, name, torch.nn.Identity())
    model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    opt = torch.optim.SGD(head.parameters(), lr=0.01, momentum=0.9)
    images = torch.randn(args.features_images, 3, args.features_size, args.features_size, device=device)
    labels = torch.tensor([(5 + 7 * i) % 10 for i in range(args.features_images)], device=device)
    epochs = []
    for _ in range(args.features):
        t0 = time.perf_counter()
        for b in range(0, args.features_images, args.features_batch):
            with torch.no_grad():
                f = model(images[b:b + args.features_batch])
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(head(f), labels[b:b + args.features_batch])
            loss.backward()
            opt.step()
        sync(device)
        epochs.append(time.perf_counter() - t0)
    return {"features": args.features_model, "epoch_s": statistics.mean(epochs)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="resnet18,densenet121,vgg16")
    ap.add_argument("--modes", default="infer,train,frozen")
    ap.add_argument("--configs", default="8x224,32x112", help="BATCHxSIZE,...")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--features", type=int, default=0)
    ap.add_argument("--features-model", default="resnet18")
    ap.add_argument("--features-size", type=int, default=112)
    ap.add_argument("--features-images", type=int, default=64)
    ap.add_argument("--features-batch", type=int, default=16)
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    backend = "oneDNN" if torch.backends.mkldnn.is_available() else "native"
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "backend": backend}), flush=True)
    for arch in [m for m in args.models.split(",") if m and m != "none"]:  # "none": --features alone
        for config in args.configs.split(","):
            batch, size = (int(v) for v in config.split("x"))
            for mode in args.modes.split(","):
                print(json.dumps(bench_one(arch, mode, batch, size, args)), flush=True)
    if args.features > 0:
        print(json.dumps(bench_features(args)), flush=True)


if __name__ == "__main__":
    main()
