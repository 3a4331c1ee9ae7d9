#!/usr/bin/env python3
"""Convert torchvision model weights into graft's HDF5 weights file.

The graft format (see src/tensor/hdf5_io.h): one dataset per state_dict key, at the root of
the file, with the key's exact name, shape and dtype (float32; BatchNorm's num_batches_tracked
stays int64), plus root attributes:
    architecture  "vgg16" | "resnet18" | "densenet121" | "other"
    class_names   list of strings, index order
    preprocess    e.g. "resize=256,center_crop=224,normalize=imagenet"
    mean, std     lists of 3 floats (RGB, for inputs scaled to [0, 1])
    num_classes   number
    source        where the weights came from (file name or "random-seed=S")
    keys          the state_dict keys in the model's order (HDF5 lists datasets sorted by name)

Sources (exactly one):
    --pth FILE          torchvision's pretrained file (e.g. resnet18-f37072fd.pth), any
                        state_dict, a checkpoint dict holding one ("state_dict"/"model"), or a
                        whole model saved with torch.save(model)
    --random-seed S     a randomly initialized torchvision model built after torch.manual_seed(S)
                        (what graft's tests use: these machines cannot download weights)

Examples (run with Debian's python, /usr/bin/python3, which has torch):
    /usr/bin/python3 tools/convert_torchvision.py --pth ~/.cache/torch/hub/checkpoints/resnet18-f37072fd.pth \
        --arch resnet18 --out weights/resnet18.h5
    /usr/bin/python3 tools/convert_torchvision.py --random-seed 0 --arch densenet121 --num-classes 10 --out /tmp/d.h5

The file is written to "<out>.tmp" and renamed, so an interrupted run leaves no half file.
"""
import argparse
import os
import re
import sys

import h5py
import numpy as np
import torch
import torchvision

KNOWN_ARCHS = ("vgg16", "resnet18", "densenet121")
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
DEFAULT_PREPROCESS = "resize=256,center_crop=224,normalize=imagenet"
HERE = os.path.dirname(os.path.abspath(__file__))
CLASSES_TXT = os.path.join(HERE, "..", "weights", "imagenet_classes.txt")


def build_model(arch, num_classes=1000):
    """The torchvision model with random initialization (call torch.manual_seed first)."""
    if arch not in KNOWN_ARCHS:
        raise SystemExit(f"convert_torchvision: unknown --arch '{arch}' (known: {', '.join(KNOWN_ARCHS)})")
    return getattr(torchvision.models, arch)(weights=None, num_classes=num_classes)


# torchvision's DenseNet .pth files were saved before nn.Module names could hold dots in
# this way: "denselayer1.norm.1.weight" must become "denselayer1.norm1.weight". torchvision's
# own loader (densenet._load_state_dict) applies this same pattern.
_DENSENET_OLD_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$")


def fix_legacy_densenet_keys(sd):
    out = {}
    for k, v in sd.items():
        m = _DENSENET_OLD_KEY.match(k)
        out[m.group(1) + m.group(2) if m else k] = v
    return out


def read_state_dict(path):
    """A state_dict (ordered name -> tensor) from a .pth/.pt file of any of the usual kinds."""
    obj = torch.load(path, map_location="cpu")
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if key in obj and isinstance(obj[key], (dict, torch.nn.Module)):
                obj = obj[key]
                if isinstance(obj, torch.nn.Module):
                    obj = obj.state_dict()
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise SystemExit(f"convert_torchvision: {path} holds no state_dict (found {type(obj).__name__})")
    # nn.DataParallel prefixes every key with "module."
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return fix_legacy_densenet_keys(obj)


def guess_arch(sd):
    keys = set(sd)
    if "features.denseblock1.denselayer1.conv1.weight" in keys:
        return "densenet121" if "features.denseblock3.denselayer24.conv2.weight" in keys else "other"
    if "layer1.0.conv1.weight" in keys:
        return "resnet18" if "layer1.1.conv1.weight" in keys and "layer1.2.conv1.weight" not in keys \
            and "layer1.0.conv3.weight" not in keys else "other"
    if "features.28.weight" in keys and "features.30.weight" not in keys and "classifier.0.weight" in keys:
        return "vgg16"
    return "other"


def head_classes(arch, sd):
    """Number of outputs of the (original) classifier, or None if the head was replaced."""
    key = {"vgg16": "classifier.6.weight", "resnet18": "fc.weight", "densenet121": "classifier.weight"}.get(arch)
    return int(sd[key].shape[0]) if key in sd else None


def canonical_state_dict(arch, sd):
    """torchvision's own loading path: the model's key order, and num_batches_tracked = 0
    where an old file lacks it (BatchNorm's _load_from_state_dict does that). Falls back to a
    backbone check when the head was replaced (the file's keys, in its order)."""
    n = head_classes(arch, sd)
    model = build_model(arch, n or 1000)
    try:
        model.load_state_dict(sd, strict=True)
        return model.state_dict()
    except RuntimeError:
        pass
    sd = dict(sd)
    for k, v in model.state_dict().items():
        if k.endswith("num_batches_tracked") and k not in sd:
            sd[k] = torch.zeros((), dtype=torch.int64)
    check_against_torchvision(arch, sd, model.state_dict())
    order = {k: i for i, k in enumerate(model.state_dict())}
    return dict(sorted(sd.items(), key=lambda kv: order.get(kv[0], len(order))))


def check_against_torchvision(arch, sd, ref):
    """Backbone keys must be torchvision's, with the same shapes (heads may be replaced)."""
    head = {"vgg16": "classifier.6.", "resnet18": "fc.", "densenet121": "classifier."}[arch]
    problems = []
    for k, v in ref.items():
        if k.startswith(head):
            continue
        if k not in sd:
            problems.append(f"missing key {k} {list(v.shape)}")
        elif tuple(sd[k].shape) != tuple(v.shape):
            problems.append(f"{k}: file has {list(sd[k].shape)}, torchvision's {arch} has {list(v.shape)}")
    for k in sd:
        if k not in ref and not k.startswith(head):
            problems.append(f"unexpected key {k}")
    if problems:
        raise SystemExit(f"convert_torchvision: the weights are not torchvision's {arch}:\n  " +
                         "\n  ".join(problems[:20]) + "\n(use --arch other to convert them anyway)")


def read_class_names(path, n):
    with open(path, encoding="utf-8") as f:
        names = [line.rstrip("\n") for line in f if line.strip()]
    if n is not None and len(names) != n:
        raise SystemExit(f"convert_torchvision: {path} has {len(names)} class names, the model has {n} outputs")
    return names


def write_graft_h5(path, sd, arch, class_names, preprocess=DEFAULT_PREPROCESS, mean=IMAGENET_MEAN,
                   std=IMAGENET_STD, source=""):
    """Write state_dict `sd` in graft's format, atomically (tmp + rename). Used by the tests'
    reference writer too, so that the tests read exactly what this tool produces."""
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as f:
        for k, v in sd.items():
            a = v.detach().cpu().numpy()
            if a.dtype.kind in "iu":
                a = a.astype(np.int64)    # num_batches_tracked
            elif a.dtype.kind == "f":
                a = a.astype(np.float32)  # float64/float16 files become float32
            else:
                raise SystemExit(f"convert_torchvision: key {k} has dtype {a.dtype}, expected float or int")
            f.create_dataset(k, data=a)
        f.attrs["architecture"] = arch
        f.attrs["class_names"] = np.array(class_names, dtype=h5py.string_dtype())
        f.attrs["num_classes"] = float(len(class_names))
        f.attrs["preprocess"] = preprocess
        f.attrs["mean"] = np.array(mean, dtype=np.float64)
        f.attrs["std"] = np.array(std, dtype=np.float64)
        f.attrs["source"] = source
        # HDF5 lists datasets sorted by name; this keeps the model's order (an attribute, so
        # that every dataset of the file is a tensor).
        f.attrs["keys"] = np.array(list(sd.keys()), dtype=h5py.string_dtype())
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--pth", help="torchvision .pth, a state_dict, or a whole saved model")
    src.add_argument("--random-seed", type=int, help="random torchvision model after torch.manual_seed(S)")
    ap.add_argument("--arch", help="vgg16, resnet18, densenet121 or other (default: guessed from the keys)")
    ap.add_argument("--num-classes", type=int, help="outputs of the head (default: from the file, or 1000)")
    ap.add_argument("--classes-file", help="class names, one per line (default: ImageNet's for 1000 classes)")
    ap.add_argument("--preprocess", default=DEFAULT_PREPROCESS)
    ap.add_argument("--out", required=True, help="output .h5 path")
    args = ap.parse_args(argv)

    if args.random_seed is not None:
        arch = args.arch or "resnet18"
        torch.manual_seed(args.random_seed)
        sd = build_model(arch, args.num_classes or 1000).state_dict()
        source = f"random-seed={args.random_seed}"
    else:
        sd = read_state_dict(args.pth)
        arch = args.arch or guess_arch(sd)
        if arch in KNOWN_ARCHS:
            sd = canonical_state_dict(arch, sd)
        elif arch != "other":
            raise SystemExit(f"convert_torchvision: unknown --arch '{arch}' (known: {', '.join(KNOWN_ARCHS)}, other)")
        source = os.path.basename(args.pth)

    n = head_classes(arch, sd)
    if args.num_classes is not None and n is not None and n != args.num_classes:
        raise SystemExit(f"convert_torchvision: --num-classes {args.num_classes} but the head has {n} outputs")
    n = n if n is not None else args.num_classes
    if args.classes_file:
        names = read_class_names(args.classes_file, n)
    elif n == 1000 and os.path.exists(CLASSES_TXT):
        names = read_class_names(CLASSES_TXT, 1000)
    elif n is not None:
        names = [str(i) for i in range(n)]
    else:
        raise SystemExit("convert_torchvision: the head was replaced; give --num-classes or --classes-file")

    write_graft_h5(args.out, sd, arch, names, preprocess=args.preprocess, source=source)
    total = sum(v.numel() for k, v in sd.items() if v.dtype.is_floating_point)
    print(f"convert_torchvision: wrote {args.out}: {arch}, {len(sd)} tensors, {total:,} floats, {len(names)} classes")


if __name__ == "__main__":
    main()
