#!/usr/bin/python3
"""A PNG of a graft HTML report, for the docs: renders it in headless Chromium, without its last
section ("Command and settings"), trimmed to the content. Needs Debian's chromium-headless-shell
(only to make the docs' pictures; nothing else in graft uses it).

Usage: screenshot_report.py REPORT.html OUT.png [--width 1000]
"""
import argparse
import os
import subprocess
import tempfile

import numpy as np
from PIL import Image


def main():
    p = argparse.ArgumentParser()
    p.add_argument("report")
    p.add_argument("out")
    p.add_argument("--width", type=int, default=1000)
    a = p.parse_args()
    html = open(a.report, encoding="utf-8").read()
    cut = html.find("<h2>Command and settings</h2>")
    if cut >= 0:
        html = html[:cut] + "</body></html>\n"
    with tempfile.TemporaryDirectory() as tmp:
        page, shot = os.path.join(tmp, "report.html"), os.path.join(tmp, "shot.png")
        with open(page, "w", encoding="utf-8") as f:
            f.write(html)
        subprocess.run(["chromium-headless-shell", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--window-size={a.width},4000", f"--screenshot={shot}", "file://" + page],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        im = Image.open(shot).convert("RGB")
    ink = np.asarray(im.convert("L")) < 250
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    im = im.crop((0, 0, min(im.width, cols[-1] + 20), min(im.height, rows[-1] + 20)))
    im.save(a.out, optimize=True)
    print(f"wrote {a.out} {im.width}x{im.height}")


if __name__ == "__main__":
    main()
