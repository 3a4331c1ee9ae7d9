#!/usr/bin/python3
"""Lays `graft explain`'s PNGs (bottom row) under their input images (top row), 3x, with captions.

Usage: montage_gradcam.py OUT.png IMAGE=GRADCAM_PNG=CAPTION... (a '|' in CAPTION breaks the line)
"""
import sys

from PIL import Image, ImageDraw, ImageFont

S, PAD, TXT = 168, 8, 34  # tile size (56x56 inputs at 3x), gap, caption height
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"  # Debian fonts-dejavu-core


def main():
    out, tiles = sys.argv[1], [a.split("=", 2) for a in sys.argv[2:]]
    font = ImageFont.truetype(FONT, 13)
    canvas = Image.new("RGB", (len(tiles) * (S + PAD) + PAD, 2 * S + 3 * PAD + TXT), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (image, cam, caption) in enumerate(tiles):
        x = PAD + i * (S + PAD)
        canvas.paste(Image.open(image).convert("RGB").resize((S, S), Image.BILINEAR), (x, PAD))
        canvas.paste(Image.open(cam).convert("RGB").resize((S, S), Image.NEAREST), (x, 2 * PAD + S))
        for j, line in enumerate(caption.split("|")):
            draw.text((x + S / 2, 3 * PAD + 2 * S + 2 + 15 * j), line, fill="black", font=font, anchor="mt")
    canvas.save(out, optimize=True)
    print(f"wrote {out} {canvas.size[0]}x{canvas.size[1]}")


if __name__ == "__main__":
    main()
