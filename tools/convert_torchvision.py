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

Your own PyTorch models (--arch other, or guessed when the keys are no torchvision model's):
    a state_dict        converted as it is; the number of classes is the last 2-D weight's rows.
                        Load it with graft's --model "spec:..."; keys under a prefix the spec lacks
                        ("main.0.weight" for a spec's "0.weight") are matched by graft's loader,
                        which says so.
    a whole model       (torch.save(model)) is traced with torch.fx into a graft layer spec,
                        stored in the file (attribute graft_model, as in a `graft train`
                        checkpoint), so `graft eval/predict/train --weights FILE` need no --model.
                        Give --input-size CxHxW (the shape of one input) and, when the class is
                        not importable, --code FILE.py (the file defining it: a pickle holds
                        only the class's name). The keys become the spec's ("main.0.weight" ->
                        "0.weight"); a layer graft lacks is an error naming its module path and type.
    one output          a binary classifier trained with BCE-with-logits: two class names
                        (class 1 when sigmoid > 0.5), "0" and "1" unless --classes-file gives them.

Examples (run with Debian's python, /usr/bin/python3, which has torch):
    /usr/bin/python3 tools/convert_torchvision.py --pth ~/.cache/torch/hub/checkpoints/resnet18-f37072fd.pth \
        --arch resnet18 --out weights/resnet18.h5
    /usr/bin/python3 tools/convert_torchvision.py --random-seed 0 --arch densenet121 --num-classes 10 --out /tmp/d.h5
    /usr/bin/python3 tools/convert_torchvision.py --pth my_cnn.pt --code my_cnn.py --input-size 3x64x64 \
        --classes-file classes.txt --out my_cnn.h5

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


def load_pth(path, code=None):
    """What a .pth/.pt file holds: an nn.Module (torch.save(model)) or a state_dict (ordered
    name -> tensor), from a file of any of the usual kinds. `code`: a Python file defining the
    model's class, imported first (a pickled module stores only its class's module and name)."""
    if code:
        import_user_code(code)
    try:
        obj = torch.load(path, map_location="cpu")
    except (AttributeError, ModuleNotFoundError) as e:
        raise SystemExit(f"convert_torchvision: {path} holds a whole model whose class cannot be found ({e}); "
                         "pass --code FILE.py, the Python file that defines it")
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if key in obj and isinstance(obj[key], (dict, torch.nn.Module)):
                obj = obj[key]
                break
    if isinstance(obj, torch.nn.Module):
        return obj
    return read_state_dict(obj, path)


def import_user_code(code):
    """Imports FILE.py as module <stem> (what a pickle made by `from my_cnn import Net` names)
    and also puts its names into __main__ (what a pickle made inside the training script names)."""
    import importlib.util
    import __main__
    if not os.path.exists(code):
        raise SystemExit(f"convert_torchvision: --code {code} does not exist")
    name = os.path.splitext(os.path.basename(code))[0]
    sys.path.insert(0, os.path.dirname(os.path.abspath(code)))
    spec = importlib.util.spec_from_file_location(name, code)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    for k, v in vars(mod).items():
        if not k.startswith("_") and not hasattr(__main__, k):
            setattr(__main__, k, v)


def read_state_dict(obj, path):
    """The state_dict in `obj` (checked: every value a tensor), DataParallel's "module." and
    DenseNet's legacy key names undone."""
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise SystemExit(f"convert_torchvision: {path} holds no state_dict (found {type(obj).__name__})")
    # nn.DataParallel prefixes every key with "module."
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return fix_legacy_densenet_keys(obj)


# ---- a whole nn.Module traced into a graft layer spec ------------------------------------------
# torch.fx records forward() as a graph of calls. graft's spec models (src/models/spec.h) are
# chains: each layer takes the previous one's output. Each call becomes one spec layer, its
# module's tensors renamed to the layer's number ("main.3.weight" -> "3.weight", as graft names
# them). Anything else (a skip connection, a layer kind graft lacks, options graft's layer does
# not have) is an error naming the module path and type, never an approximation.

class NotConvertible(Exception):
    pass


def _pair(v, what, path, m):
    if isinstance(v, (tuple, list)):
        if len(set(v)) != 1:
            raise NotConvertible(f"module '{path}' is {m}: graft's layers take square {what}s, got {tuple(v)}")
        v = v[0]
    return int(v)


def module_layer(path, m):
    """The spec text of one module, e.g. "conv(8,3,stride=1,padding=1)". Raises NotConvertible."""
    nn = torch.nn
    bad = lambda why: NotConvertible(f"module '{path}' is {m}: {why}")
    if isinstance(m, nn.Conv2d):
        if m.groups != 1 or _pair(m.dilation, "dilation", path, m) != 1 or m.padding_mode != "zeros" \
                or isinstance(m.padding, str):
            raise bad("graft's conv has no groups, dilation, padding modes or string padding")
        k, st, pd = (_pair(v, w, path, m) for v, w in ((m.kernel_size, "kernel"), (m.stride, "stride"),
                                                         (m.padding, "padding")))
        return f"conv({m.out_channels},{k},stride={st},padding={pd}" + ("" if m.bias is not None else ",bias=0") + ")"
    if isinstance(m, nn.Linear):
        return f"linear({m.out_features}" + ("" if m.bias is not None else ",bias=0") + ")"
    if isinstance(m, nn.BatchNorm2d):
        if not m.affine or not m.track_running_stats or abs(m.eps - 1e-5) > 1e-12:
            raise bad("graft's bn is BatchNorm2d(C) with eps=1e-5, affine and running statistics")
        return "bn"
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        if m.ceil_mode or (isinstance(m, nn.MaxPool2d) and _pair(m.dilation, "dilation", path, m) != 1) or \
                (isinstance(m, nn.AvgPool2d) and (not m.count_include_pad or m.divisor_override)):
            raise bad("graft's pooling has no ceil_mode, dilation, count_include_pad=False or divisor_override")
        k = _pair(m.kernel_size, "kernel", path, m)
        st = _pair(m.stride if m.stride is not None else k, "stride", path, m)
        pd = _pair(m.padding, "padding", path, m)
        return f"{'maxpool' if isinstance(m, nn.MaxPool2d) else 'avgpool'}({k},stride={st},padding={pd})"
    if isinstance(m, nn.AdaptiveAvgPool2d):
        o = m.output_size if isinstance(m.output_size, (tuple, list)) else (m.output_size, m.output_size)
        if any(v is None for v in o):
            raise bad("graft's adaptiveavgpool needs both output sizes")
        return f"adaptiveavgpool({o[0]},{o[1]})"
    if isinstance(m, nn.Flatten):
        if m.start_dim != 1 or m.end_dim != -1:
            raise bad("graft's flatten is Flatten(start_dim=1, end_dim=-1)")
        return "flatten"
    if isinstance(m, (nn.LogSoftmax, nn.Softmax)):
        if m.dim not in (1, -1):
            raise bad("graft's logsoftmax/softmax work over dim 1 of [N, F]")
        return "logsoftmax" if isinstance(m, nn.LogSoftmax) else "softmax"
    if isinstance(m, nn.Dropout):
        return f"dropout({m.p})"
    simple = {nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Identity: "identity"}
    for cls, name in simple.items():
        if type(m) is cls:
            return name
    kind = ("nn." if type(m).__module__.startswith("torch.nn") else type(m).__module__ + ".") + type(m).__name__
    raise NotConvertible(f"module '{path}' is {kind}, a layer graft's specs lack "
                         "(they have Conv2d, Linear, BatchNorm2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, ReLU, "
                         "Sigmoid, Dropout, Flatten, LogSoftmax, Softmax, Identity)")


def _function_layer(node):
    """The spec text of a function or method call in forward(), or None if it is not one."""
    F = torch.nn.functional
    t, args, kw = node.target, node.args[1:], node.kwargs
    if t in (torch.relu, F.relu, "relu"):
        return "relu"
    if t in (torch.sigmoid, "sigmoid"):
        return "sigmoid"
    if t in (torch.flatten, "flatten") and (args or (kw.get("start_dim"),)) [0] == 1 and len(args) <= 1:
        return "flatten"
    if t in (F.log_softmax, torch.log_softmax, "log_softmax", F.softmax, torch.softmax, "softmax"):
        dim = args[0] if args else kw.get("dim")
        if dim in (1, -1):
            return "softmax" if t in (F.softmax, torch.softmax, "softmax") else "logsoftmax"
    if t in ("view", "reshape") and len(args) == 2 and args[1] == -1 and isinstance(args[0], torch.fx.Node) \
            and args[0].target == "size" and args[0].args[1:] == (0,):
        return "flatten"  # x.view(x.size(0), -1)
    return None


def trace_to_spec(model, input_shape):
    """(spec text, state_dict under the spec's names, [(pytorch name, graft name)]) of a model
    whose forward() is a chain of layers graft has. Raises NotConvertible."""
    import torch.fx
    try:
        graph = torch.fx.symbolic_trace(model).graph
    except Exception as e:  # data-dependent control flow and the like
        raise NotConvertible(f"torch.fx cannot trace {type(model).__name__}.forward ({e})")
    layers, renames, sd = [], [], {}
    current = None  # the node whose output the next layer must take
    for node in graph.nodes:
        if node.op == "placeholder":
            if current is not None:
                raise NotConvertible("forward() takes more than one input; graft's models take one image batch")
            current = node
            continue
        if node.op == "call_method" and node.target == "size":
            continue  # only used by x.view(x.size(0), -1)
        if node.op == "output":
            if node.args[0] is not current:
                raise NotConvertible("forward() does not return the last layer's output alone")
            break
        target = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", str(node.target))
        what = f"module '{target}'" if node.op == "call_module" else f"the call {target}(...) ('{node.name}' in the traced graph)"
        if node.op == "get_attr":
            raise NotConvertible(f"forward() uses the tensor '{node.target}' directly; graft's layers own their tensors")
        if not node.args or node.args[0] is not current or \
                any(isinstance(a, torch.fx.Node) and a.target != "size" for a in list(node.args[1:]) + list(node.kwargs.values())):
            raise NotConvertible(f"{what} does not simply take the previous layer's output (a skip connection or "
                                 "several inputs); graft's spec models are chains of layers")
        index = len(layers)
        if node.op == "call_module":
            m = model.get_submodule(node.target)
            layers.append(module_layer(node.target, m))
            for k, v in m.state_dict().items():
                sd[f"{index}.{k}"] = v
                renames.append((f"{node.target}.{k}", f"{index}.{k}"))
        else:
            layer = _function_layer(node)
            if layer is None:
                raise NotConvertible(f"{what} is no layer graft's specs have")
            layers.append(layer)
        current = node
    missing = set(model.state_dict()) - {a for a, _ in renames}
    if missing:
        raise NotConvertible(f"tensors {sorted(missing)[:5]} are not used by any layer forward() calls")
    if not layers:
        raise NotConvertible("forward() calls no layers")
    return " ".join(layers), sd, renames


def convert_module(model, input_shape, path):
    """trace_to_spec, checked by running the model once on an input of that shape."""
    if input_shape is None:
        raise SystemExit(f"convert_torchvision: {path} holds a whole {type(model).__name__} model; give --input-size "
                         "CxHxW (one input's shape, e.g. 3x64x64) so graft can infer its layer shapes")
    try:
        spec, sd, renames = trace_to_spec(model, input_shape)
    except NotConvertible as e:
        raise SystemExit(f"convert_torchvision: cannot convert {type(model).__name__} from {path} into a graft spec: {e}")
    model.eval()
    with torch.no_grad():
        out = model(torch.zeros(1, *input_shape))
    if out.dim() != 2:
        raise SystemExit(f"convert_torchvision: {type(model).__name__} returns {list(out.shape)} for one input; "
                         "graft's classifiers return [N, classes]")
    return spec, sd, renames, int(out.shape[1])


def parse_shape(text):
    try:
        shape = [int(v) for v in text.split("x")]
        assert len(shape) == 3 and min(shape) > 0
        return shape
    except (ValueError, AssertionError):
        raise SystemExit(f"convert_torchvision: --input-size expects CxHxW, e.g. 3x64x64, got '{text}'")


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
    """Number of outputs of the (original) classifier, or None if the head was replaced. For
    "other" models: the rows of the last 2-D weight in the state_dict's order (a Linear's
    [out, in]: PyTorch lists a module's tensors in the order its layers were created)."""
    if arch not in KNOWN_ARCHS:
        last = [v for k, v in sd.items() if k.endswith("weight") and v.dim() == 2]
        return int(last[-1].shape[0]) if last else None
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
    want = 2 if n == 1 else n  # one output: a binary classifier (BCE with logits)
    if want is not None and len(names) != want:
        raise SystemExit(f"convert_torchvision: {path} has {len(names)} class names, the model has {n} outputs"
                         + (" (one output: a binary classifier, which needs two names)" if n == 1 else ""))
    return names


def write_graft_h5(path, sd, arch, class_names, preprocess=DEFAULT_PREPROCESS, mean=IMAGENET_MEAN,
                   std=IMAGENET_STD, source="", model=None):
    """Write state_dict `sd` in graft's format, atomically (tmp + rename). Used by the tests'
    reference writer too, so that the tests read exactly what this tool produces. `model`: the
    attributes of a graft model checkpoint (graft_model, graft_input, ...: tools/lib/model_setup.h)
    for a traced whole model."""
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
        for k, v in (model or {}).items():
            f.attrs[k] = v
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--pth", help="torchvision .pth, a state_dict, or a whole saved model")
    src.add_argument("--random-seed", type=int, help="random torchvision model after torch.manual_seed(S)")
    ap.add_argument("--arch", help="vgg16, resnet18, densenet121 or other (default: guessed from the keys)")
    ap.add_argument("--num-classes", type=int, help="outputs of the head (default: from the file, or 1000)")
    ap.add_argument("--classes-file", help="class names, one per line (default: ImageNet's for 1000 classes)")
    ap.add_argument("--preprocess", help=f"the eval transform (default: {DEFAULT_PREPROCESS}; "
                                         "resize=HxW for a whole model of your own)")
    ap.add_argument("--input-size", help="CxHxW of one input, for a whole model of your own (torch.save(model))")
    ap.add_argument("--code", help="Python file defining the class of a whole saved model")
    ap.add_argument("--out", required=True, help="output .h5 path")
    args = ap.parse_args(argv)

    model_attrs = None
    if args.random_seed is not None:
        arch = args.arch or "resnet18"
        torch.manual_seed(args.random_seed)
        sd = build_model(arch, args.num_classes or 1000).state_dict()
        source = f"random-seed={args.random_seed}"
    else:
        obj = load_pth(args.pth, args.code)
        sd = read_state_dict(obj, args.pth)
        arch = args.arch or guess_arch(sd)
        if arch in KNOWN_ARCHS:
            sd = canonical_state_dict(arch, sd)
        elif arch != "other":
            raise SystemExit(f"convert_torchvision: unknown --arch '{arch}' (known: {', '.join(KNOWN_ARCHS)}, other)")
        elif isinstance(obj, torch.nn.Module):
            shape = parse_shape(args.input_size) if args.input_size else None
            spec, sd, renames, outputs = convert_module(obj, shape, args.pth)
            preprocess = args.preprocess or f"resize={shape[1]}x{shape[2]}"
            last = spec.split()[-1]
            model_attrs = {"graft_model": "spec:" + spec, "graft_head": "", "graft_replace": "",
                           "graft_input": "x".join(map(str, shape)), "graft_eval_transform": preprocess,
                           "graft_loss": "bce" if outputs == 1 else "nll" if last == "logsoftmax" else "cross-entropy"}
            print(f"convert_torchvision: traced {type(obj).__name__} into the graft spec: {spec}")
            moved = [(a, b) for a, b in renames if a != b]
            if moved:
                print(f"convert_torchvision: {len(moved)} tensors take the spec's names: " +
                      ", ".join(f"{a} -> {b}" for a, b in moved[:4]) + (", ..." if len(moved) > 4 else ""))
        source = os.path.basename(args.pth)

    n = head_classes(arch, sd)
    if model_attrs:
        n = outputs
    if args.num_classes is not None and n is not None and n != args.num_classes:
        raise SystemExit(f"convert_torchvision: --num-classes {args.num_classes} but the head has {n} outputs")
    n = n if n is not None else args.num_classes
    if args.classes_file:
        names = read_class_names(args.classes_file, n)
    elif n == 1000 and os.path.exists(CLASSES_TXT):
        names = read_class_names(CLASSES_TXT, 1000)
    elif n is not None:
        names = [str(i) for i in range(max(n, 2))]  # one output: classes 0 and 1
    else:
        raise SystemExit("convert_torchvision: the head was replaced; give --num-classes or --classes-file")
    if n == 1:
        print(f"convert_torchvision: one output: a binary classifier (BCE with logits), "
              f"'{names[1]}' when sigmoid(output) > 0.5, else '{names[0]}'")

    preprocess = (model_attrs or {}).get("graft_eval_transform") or args.preprocess or DEFAULT_PREPROCESS
    # mean/std: what to undo to show an input image (reports); none unless ImageNet's is used.
    imagenet = "normalize=imagenet" in preprocess or not model_attrs
    write_graft_h5(args.out, sd, arch, names, preprocess=preprocess, source=source, model=model_attrs,
                   mean=IMAGENET_MEAN if imagenet else [0.0] * 3, std=IMAGENET_STD if imagenet else [1.0] * 3)
    total = sum(v.numel() for k, v in sd.items() if v.dtype.is_floating_point)
    print(f"convert_torchvision: wrote {args.out}: {arch}, {len(sd)} tensors, {total:,} floats, {len(names)} classes")


if __name__ == "__main__":
    main()
