"""Image files in every format graft decodes, and PIL's pixels for each (tests/test_data_decoders.cpp).

The files are written here with PIL (or by hand where PIL cannot write the variant) into
"decoders_images/" next to decoders.h5, so the C++ tests decode the very same bytes:
  <case>/pixels   PIL's Image.open(file).convert("RGB") as [H,W,3] (int64); attribute "file"
  eval_jpeg/y     torchvision's eval transform (Resize(256), CenterCrop(224), ToTensor,
                  Normalize(imagenet)) of PIL's decode of photo.jpg
PIL here is Debian's python3-pil, linked against the same libjpeg62-turbo, libwebp and libtiff
as graft, so "the same pixels" means bit-exact.
"""
import io
import os
import struct

import h5py
import numpy as np
from PIL import Image
import torchvision.transforms as T

from references.common import put
from references.transforms import photo


def tiff(path, arr, photometric, extra=(), tile=None, big_endian=False):
    """Writes an uncompressed TIFF by hand: arr [H,W,S] uint8 or uint16, strips or tiles.
    For what PIL cannot write: 16-bit RGB, associated alpha, tiles."""
    h, w, spp = arr.shape
    bits = arr.dtype.itemsize * 8
    e = ">" if big_endian else "<"
    arr = arr.astype(e + ("u2" if bits == 16 else "u1"))
    if tile:
        tw, th = tile
        blocks = []
        for ty in range(0, h, th):
            for tx in range(0, w, tw):
                b = np.zeros((th, tw, spp), arr.dtype)
                part = arr[ty:ty + th, tx:tx + tw]
                b[:part.shape[0], :part.shape[1]] = part
                blocks.append(b.tobytes())
    else:
        blocks = [arr.tobytes()]
    header = (b"MM\x00\x2a" if big_endian else b"II\x2a\x00") + struct.pack(e + "I", 8)
    data_off = 8
    offsets = []
    body = b""
    for b in blocks:
        offsets.append(data_off + len(body))
        body += b
    extra_off = data_off + len(body)  # arrays that do not fit in a tag: BitsPerSample, offsets, counts
    extras = b""
    def array(vals, fmt, typ):
        nonlocal extras
        size = struct.calcsize(fmt)
        if len(vals) * size <= 4:
            v = b"".join(struct.pack(e + fmt, x) for x in vals).ljust(4, b"\0")
            return (typ, len(vals), v)
        off = extra_off + len(extras)
        extras += b"".join(struct.pack(e + fmt, x) for x in vals)
        if len(extras) % 2:
            extras += b"\0"
        return (typ, len(vals), struct.pack(e + "I", off))
    SHORT, LONG = 3, 4
    tags = {256: array([w], "I", LONG), 257: array([h], "I", LONG), 258: array([bits] * spp, "H", SHORT),
            259: array([1], "H", SHORT), 262: array([photometric], "H", SHORT),
            277: array([spp], "H", SHORT), 284: array([1], "H", SHORT)}
    if extra:
        tags[338] = array(list(extra), "H", SHORT)
    counts = [len(b) for b in blocks]
    if tile:
        tags[322] = array([tile[0]], "I", LONG)
        tags[323] = array([tile[1]], "I", LONG)
        tags[324] = array(offsets, "I", LONG)
        tags[325] = array(counts, "I", LONG)
    else:
        tags[273] = array(offsets, "I", LONG)
        tags[278] = array([h], "I", LONG)
        tags[279] = array(counts, "I", LONG)
    ifd_off = extra_off + len(extras)
    ifd = struct.pack(e + "H", len(tags))
    for tag in sorted(tags):
        typ, count, value = tags[tag]
        ifd += struct.pack(e + "HHI", tag, typ, count) + value
    ifd += struct.pack(e + "I", 0)
    header = header[:4] + struct.pack(e + "I", ifd_off)
    with open(path, "wb") as f:
        f.write(header + body + extras + ifd)


def write_images(folder):
    """Writes every test file; returns their names."""
    os.makedirs(folder, exist_ok=True)
    im = photo()
    odd = photo(37, 53, seed=4)
    rng = np.random.default_rng(5)
    files = {}
    def save(name, image, **kw):
        image.save(os.path.join(folder, name), **kw)
        files[name] = True
    # JPEG: chroma subsampling 4:2:0 (PIL's default), 4:2:2, 4:4:4; progressive; optimized
    # Huffman tables; odd sizes (edge blocks and upsampling at the borders); gray; CMYK (PIL
    # writes Adobe CMYK); an EXIF orientation tag (PIL does not apply it).
    save("photo.jpg", im, quality=90)
    save("photo_422.jpg", im, quality=90, subsampling=1)
    save("photo_444.jpg", im, quality=95, subsampling=0)
    save("photo_q50.jpg", im, quality=50)
    save("progressive.jpg", im, quality=85, progressive=True)
    save("optimized.jpg", im, quality=80, optimize=True)
    save("odd_37x53.jpg", odd, quality=90)
    save("gray.jpg", im.convert("L"), quality=90)
    save("cmyk.jpg", im.convert("CMYK"), quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    save("exif_rotated.jpg", odd, quality=90, exif=exif.tobytes())
    # WebP: lossy, lossless, lossy with alpha, animated (the first frame is what PIL shows).
    save("photo.webp", im, quality=80)
    save("lossless.webp", odd, lossless=True)
    rgba = odd.copy()
    rgba.putalpha(Image.fromarray(rng.integers(0, 256, (37, 53)).astype(np.uint8)))
    save("alpha.webp", rgba, quality=75)
    frames = [photo(40, 60, seed=s) for s in (6, 7, 8)]
    save("animated.webp", frames[0], save_all=True, append_images=frames[1:], duration=100, quality=80)
    # TIFF: what PIL writes (raw, LZW, Deflate, PackBits, JPEG inside TIFF, gray, bilevel,
    # palette, RGBA, CMYK, 16-bit gray, several pages) and by hand what it cannot.
    save("photo.tif", im)
    save("lzw.tiff", im, compression="tiff_lzw")
    save("deflate.tif", odd, compression="tiff_adobe_deflate")
    save("packbits.tif", odd, compression="packbits")
    save("jpeg_in.tif", im, compression="jpeg")
    save("gray.tif", odd.convert("L"), compression="tiff_lzw")
    save("bilevel.tif", odd.convert("1"))
    save("bilevel_g4.tif", odd.convert("1"), compression="group4")
    save("palette.tif", odd.convert("P", palette=Image.ADAPTIVE, colors=16))
    save("rgba.tif", rgba)
    save("cmyk.tif", odd.convert("CMYK"))
    save("gray16.tif", Image.fromarray(rng.integers(0, 1024, (37, 53)).astype(np.uint16), "I;16"))
    save("pages.tif", frames[0], save_all=True, append_images=frames[1:])
    rgb16 = rng.integers(0, 65536, (23, 31, 3)).astype(np.uint16)
    tiff(os.path.join(folder, "rgb16.tif"), rgb16, 2)
    tiff(os.path.join(folder, "rgb16_be.tif"), rgb16, 2, big_endian=True)
    rgba16 = rng.integers(0, 65536, (23, 31, 4)).astype(np.uint16)
    tiff(os.path.join(folder, "rgba16.tif"), rgba16, 2, extra=(2,))
    premul = np.array(odd.convert("RGBA"))
    premul[..., 3] = rng.integers(0, 256, (37, 53))
    premul[..., :3] = (premul[..., :3].astype(np.int32) * premul[..., 3:] // 255).astype(np.uint8)
    tiff(os.path.join(folder, "assoc_alpha.tif"), premul, 2, extra=(1,))
    tiff(os.path.join(folder, "tiled.tif"), np.array(odd), 2, tile=(16, 16))
    for n in ("rgb16.tif", "rgb16_be.tif", "rgba16.tif", "assoc_alpha.tif", "tiled.tif"):
        files[n] = True
    return list(files)


def write(path):
    folder = os.path.join(os.path.dirname(os.path.abspath(path)), "decoders_images")
    names = write_images(folder)
    with h5py.File(path, "w") as f:
        for name in names:
            case = name.replace(".", "_")
            put(f, case, pixels=np.array(Image.open(os.path.join(folder, name)).convert("RGB")))
            f[case].attrs["file"] = name
        img = Image.open(os.path.join(folder, "photo.jpg")).convert("RGB")
        tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                        T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
        put(f, "eval_jpeg", y=tf(img))
        f["eval_jpeg"].attrs["file"] = "photo.jpg"
