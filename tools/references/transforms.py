"""Image decoding and torchvision 0.14 transforms on PIL images (see tests/test_data_transforms.cpp).

Test images are generated here deterministically and written next to transforms.h5 in
"transforms_images/" so the C++ tests decode the very same bytes. Cases:
  decode_<name>/pixels   PIL's Image.open(file).convert("RGB") as [H,W,3] (int64)
  <transform>/y          torchvision's output after ToTensor ([C,H,W] float32, u8/255)
The file of each case is stored in the attribute "file" of its group (relative name).
"""
import io
import os

import h5py
import numpy as np
import torch
from PIL import Image
import torchvision.transforms as T
import torchvision.transforms.functional as F

from references.common import put


def photo(h=375, w=500, seed=0):
    """A smooth gradient + blobs + noise RGB image: like a photo, edges and texture included."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 100 * np.sin(x / 37.0) * np.cos(y / 23.0)
    g = 255 * x / w * 0.7 + 40 * np.sin((x + y) / 11.0)
    b = 255 * (1 - y / h) * 0.8 + 30 * ((x // 25 + y // 25) % 2)
    img = np.stack([r, g, b], -1) + rng.normal(0, 12, (h, w, 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def png16(path, arr16, color_type):
    """Writes a 16-bit PNG by hand (PIL cannot write 16-bit RGB)."""
    import struct
    import zlib
    h, w = arr16.shape[:2]
    raw = b"".join(b"\x00" + arr16[i].astype(">u2").tobytes() for i in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


def write_images(folder):
    os.makedirs(folder, exist_ok=True)
    im = photo()
    im.save(os.path.join(folder, "photo.png"))
    im.save(os.path.join(folder, "photo.jpg"), quality=90)
    im.save(os.path.join(folder, "photo_progressive.jpg"), quality=85, progressive=True)
    im.save(os.path.join(folder, "photo.bmp"))
    photo(30, 40, seed=1).save(os.path.join(folder, "small.png"))
    im.convert("L").save(os.path.join(folder, "gray.png"))
    im.convert("P", palette=Image.ADAPTIVE, colors=64).save(os.path.join(folder, "palette.png"))
    rgba = im.copy()
    rgba.putalpha(Image.fromarray((np.arange(375 * 500) % 256).reshape(375, 500).astype(np.uint8)))
    rgba.save(os.path.join(folder, "rgba.png"))
    im.convert("LA").save(os.path.join(folder, "gray_alpha.png"))
    im.convert("P", palette=Image.ADAPTIVE, colors=32).save(os.path.join(folder, "photo.gif"))
    with open(os.path.join(folder, "gif_named.jpg"), "wb") as f:  # content decides, not the name
        buf = io.BytesIO()
        photo(20, 30, seed=2).convert("P", palette=Image.ADAPTIVE).save(buf, format="GIF")
        f.write(buf.getvalue())
    t = im.convert("P", palette=Image.ADAPTIVE, colors=16)
    t.save(os.path.join(folder, "transparent.gif"), transparency=3)  # index 3 is transparent
    rng = np.random.default_rng(3)
    png16(os.path.join(folder, "rgb16.png"), rng.integers(0, 65536, (20, 30, 3)), 2)
    png16(os.path.join(folder, "gray16.png"), rng.integers(0, 1024, (20, 30)), 0)


DECODE = ["photo.png", "photo.jpg", "photo_progressive.jpg", "photo.bmp", "gray.png", "palette.png",
          "rgba.png", "gray_alpha.png", "photo.gif", "gif_named.jpg", "transparent.gif", "rgb16.png", "gray16.png"]


def write(path):
    folder = os.path.join(os.path.dirname(os.path.abspath(path)), "transforms_images")
    write_images(folder)
    with h5py.File(path, "w") as f:
        for name in DECODE:
            case = "decode_" + name.replace(".", "_")
            put(f, case, pixels=np.array(Image.open(os.path.join(folder, name)).convert("RGB")))
            f[case].attrs["file"] = name

        def case(name, file, tf):
            img = Image.open(os.path.join(folder, file)).convert("RGB")
            put(f, name, y=tf(img))
            f[name].attrs["file"] = file

        tt = T.ToTensor()
        case("resize_256", "photo.png", T.Compose([T.Resize(256), tt]))
        case("resize_64x64", "photo.png", T.Compose([T.Resize((64, 64)), tt]))
        case("resize_100x333", "photo.png", T.Compose([T.Resize((100, 333)), tt]))  # mixed factors
        case("resize_up_97x131", "small.png", T.Compose([T.Resize((97, 131)), tt]))  # upscaling
        case("resize_up_mixed", "small.png", T.Compose([T.Resize((61, 17)), tt]))
        case("resize_jpeg_256", "photo.jpg", T.Compose([T.Resize(256), tt]))  # on PIL's decode
        case("center_crop_224", "photo.png", T.Compose([T.CenterCrop(224), tt]))
        case("center_crop_pad", "small.png", T.Compose([T.CenterCrop((35, 47)), tt]))
        case("center_crop_odd", "small.png", T.Compose([T.CenterCrop((13, 21)), tt]))
        case("to_tensor", "photo.png", tt)
        case("normalize", "photo.png", T.Compose([tt, T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])]))
        case("hflip", "photo.png", T.Compose([T.RandomHorizontalFlip(p=1.0), tt]))
        case("vflip", "photo.png", T.Compose([T.RandomVerticalFlip(p=1.0), tt]))
        case("eval_pipeline", "photo.png", T.Compose([T.Resize(256), T.CenterCrop(224), tt,
                                                      T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])]))
        case("rotate_30", "small.png", lambda im: tt(F.rotate(im, 30.0)))
        case("rotate_m47", "photo.png", lambda im: tt(F.rotate(im, -47.5)))
        case("brightness_1_3", "photo.png", lambda im: tt(F.adjust_brightness(im, 1.3)))
        case("brightness_0_6", "photo.png", lambda im: tt(F.adjust_brightness(im, 0.6)))
        case("contrast_0_6", "photo.png", lambda im: tt(F.adjust_contrast(im, 0.6)))
        case("contrast_1_4", "photo.png", lambda im: tt(F.adjust_contrast(im, 1.4)))
        case("saturation_1_5", "photo.png", lambda im: tt(F.adjust_saturation(im, 1.5)))
        case("saturation_0_3", "photo.png", lambda im: tt(F.adjust_saturation(im, 0.3)))
        case("hue_0_1", "photo.png", lambda im: tt(F.adjust_hue(im, 0.1)))
        case("hue_m0_27", "photo.png", lambda im: tt(F.adjust_hue(im, -0.27)))
