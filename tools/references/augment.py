"""torchvision 0.14's automatic augmentation on PIL images (see tests/test_data_augment.cpp).

Each op of autoaugment._apply_op at fixed magnitudes, the policies' op lists and magnitude bins
(_augmentation_space) and AutoAugment's ImageNet policy table. Cases:
  img_<name>/x          the input image, [H,W,3] uint8 (as int64)
  op_<k>/y, op_<k>/m    _apply_op(PIL image, op, m) as [H,W,3] and the magnitude m (float32;
                        every m is a float32 value, as torchvision's bins are)
  op_<k>/meta           [op index in OPS, image index in IMAGES]
  space_<s>/ops         the dict's keys as indices into OPS, in its order
  space_<s>/<Op>        the magnitudes tensor (float32; scalar ops absent), space_<s>/signed
  aa_policy/op, prob, mag   the 25 x 2 ImageNet sub-policies (mag -1 for None)
"""
import numpy as np
import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms import autoaugment as AA

from references.common import put
from references.transforms import photo

# Same order as graft's AugOp enum (src/data/augment.h).
OPS = ["Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast",
       "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize", "Invert"]


def images():
    ph = photo()  # 375 x 500, smooth + edges + noise
    arr = np.asarray(ph).astype(np.float64)
    low = Image.fromarray((arr * 0.4 + 70).astype(np.uint8), "RGB")  # levels 70..172: autocontrast has work
    square = photo(64, 64, seed=4)  # quarter turns are transposes on square images
    tiny = photo(2, 5, seed=5)  # smaller than SMOOTH's 3x3 kernel
    return [("photo", ph), ("low", low), ("square", square), ("tiny", tiny)]


def f32(v):
    return float(np.float32(v))


# (op, magnitude, image): magnitudes from the bins (TrivialAugmentWide 31, RandAugment 31 at 375x500)
# plus edge cases; the sign as the policies apply it.
TA = AA.TrivialAugmentWide()._augmentation_space(31)
RA = AA.RandAugment()._augmentation_space(31, (375, 500))


def ta(op, i, sign=1.0):
    return float(TA[op][0][i].item()) * sign


def ra(op, i, sign=1.0):
    return float(RA[op][0][i].item()) * sign


CASES = [
    ("Identity", 0.0, "photo"),
    ("ShearX", ta("ShearX", 30), "photo"), ("ShearX", ta("ShearX", 10, -1), "photo"),
    ("ShearX", ra("ShearX", 9), "square"), ("ShearX", ta("ShearX", 30, -1), "tiny"),
    ("ShearY", ta("ShearY", 30, -1), "photo"), ("ShearY", ta("ShearY", 17), "photo"), ("ShearY", ra("ShearY", 9, -1), "square"),
    ("TranslateX", ta("TranslateX", 30), "photo"), ("TranslateX", ta("TranslateX", 16, -1), "photo"),
    ("TranslateX", ra("TranslateX", 9), "photo"), ("TranslateX", ta("TranslateX", 30, -1), "tiny"),
    ("TranslateY", ta("TranslateY", 30, -1), "photo"), ("TranslateY", ra("TranslateY", 9), "photo"),
    ("TranslateY", ta("TranslateY", 5), "square"),
    ("Rotate", ta("Rotate", 30), "photo"), ("Rotate", ta("Rotate", 30, -1), "photo"), ("Rotate", ta("Rotate", 20), "photo"),
    ("Rotate", ta("Rotate", 20), "square"), ("Rotate", ta("Rotate", 20, -1), "square"), ("Rotate", 180.0, "photo"),
    ("Rotate", ra("Rotate", 9, -1), "photo"), ("Rotate", ta("Rotate", 7), "tiny"),
    ("Brightness", ta("Brightness", 30, -1), "photo"), ("Brightness", ta("Brightness", 30), "photo"),
    ("Brightness", ra("Brightness", 9), "photo"),
    ("Color", ta("Color", 30, -1), "photo"), ("Color", ta("Color", 18), "photo"), ("Color", ra("Color", 9, -1), "low"),
    ("Contrast", ta("Contrast", 15, -1), "photo"), ("Contrast", ra("Contrast", 30), "photo"),
    ("Contrast", ta("Contrast", 30), "low"),
    ("Sharpness", ta("Sharpness", 30, -1), "photo"), ("Sharpness", ta("Sharpness", 30), "photo"),
    ("Sharpness", ta("Sharpness", 10), "low"), ("Sharpness", ra("Sharpness", 9, -1), "square"),
    ("Sharpness", ta("Sharpness", 30), "tiny"),
    ("Posterize", 2.0, "photo"), ("Posterize", 4.0, "photo"), ("Posterize", 7.0, "low"), ("Posterize", 8.0, "photo"),
    ("Solarize", 255.0, "photo"), ("Solarize", ta("Solarize", 15), "photo"), ("Solarize", ra("Solarize", 7), "low"),
    ("Solarize", 0.0, "photo"),
    ("AutoContrast", 0.0, "photo"), ("AutoContrast", 0.0, "low"), ("AutoContrast", 0.0, "square"),
    ("Equalize", 0.0, "photo"), ("Equalize", 0.0, "low"), ("Equalize", 0.0, "square"), ("Equalize", 0.0, "tiny"),
    ("Invert", 0.0, "photo"),
]


def write_space(f, name, space):
    put(f, f"space_{name}", ops=np.array([OPS.index(k) for k in space]),
        signed=np.array([int(s) for _, s in space.values()]))
    for k, (mags, _) in space.items():
        if mags.ndim > 0:
            put(f, f"space_{name}", **{k: mags.float()})


def write(path):
    import h5py
    imgs = images()
    names = [n for n, _ in imgs]
    with h5py.File(path, "w") as f:
        for n, im in imgs:
            put(f, f"img_{n}", x=np.asarray(im))
        for k, (op, m, img) in enumerate(CASES):
            m = f32(m)  # every case magnitude is a float32 value, so graft reads the same number
            y = AA._apply_op(dict(imgs)[img], op, m, interpolation=InterpolationMode.NEAREST, fill=None)
            put(f, f"op_{k}", y=np.asarray(y), m=np.array([m]), meta=np.array([OPS.index(op), names.index(img)]))
        write_space(f, "ta31", AA.TrivialAugmentWide()._augmentation_space(31))
        write_space(f, "ta10", AA.TrivialAugmentWide()._augmentation_space(10))
        write_space(f, "ra31_375x500", AA.RandAugment()._augmentation_space(31, (375, 500)))
        write_space(f, "ra31_224x224", AA.RandAugment()._augmentation_space(31, (224, 224)))
        write_space(f, "ra17_33x47", AA.RandAugment()._augmentation_space(17, (33, 47)))
        write_space(f, "aa10_375x500", AA.AutoAugment()._augmentation_space(10, (375, 500)))
        write_space(f, "aa10_32x32", AA.AutoAugment()._augmentation_space(10, (32, 32)))
        # torch.linspace's last bits depend on the kernel torch dispatched to: graft reproduces
        # the AVX2 one (fused scalar path, 8-float vectors); on AVX-512 or the default kernel
        # the test allows 1 ulp.
        cap = [l.split(":")[1].strip() for l in torch.__config__.show().splitlines() if "CPU capability usage" in l]
        put(f, "space_meta", avx2=np.array([int(cap == ["AVX2"])]))
        pol = AA.AutoAugment(AA.AutoAugmentPolicy.IMAGENET).policies
        put(f, "aa_policy", op=np.array([[OPS.index(s[0]) for s in p] for p in pol]),
            prob=np.array([[s[1] for s in p] for p in pol]),
            mag=np.array([[-1 if s[2] is None else s[2] for s in p] for p in pol]))
