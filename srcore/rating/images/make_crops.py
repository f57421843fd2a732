"""Re-create the bundled rating crops from the Kodak photos (run once by a maintainer).

    python srcore/rating/images/make_crops.py ../shared/data/eval/Kodak24

Each crop is a ``SIDE`` x ``SIDE`` square of a full-resolution Kodak photo around the centre
below; the rating stimuli use its middle part, so the network sees real context at the edges.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

SIDE = 192
# name: (Kodak photo, centre x, centre y, what the crop is chosen to show)
CROPS = {
    "p01": ("kodim04", 250, 300, "face"),
    "p02": ("kodim04", 110, 640, "texture (knitted scarf)"),
    "p03": ("kodim15", 470, 250, "face"),
    "p04": ("kodim15", 140, 440, "texture (knitted jumper)"),
    "p05": ("kodim18", 285, 215, "face"),
    "p06": ("kodim17", 250, 165, "face (statue)"),
    "p07": ("kodim08", 600, 345, "text (shop sign)"),
    "p08": ("kodim08", 640, 200, "edges (half-timbering, windows)"),
    "p09": ("kodim10", 150, 90, "text (sail numbers)"),
    "p10": ("kodim09", 390, 415, "text (sail number)"),
    "p11": ("kodim19", 280, 520, "edges (picket fence)"),
    "p12": ("kodim05", 440, 380, "edges (spokes, wheels)"),
    "p13": ("kodim13", 380, 370, "texture (water, rocks)"),
    "p14": ("kodim23", 190, 250, "texture (feathers)"),
    "p15": ("kodim02", 340, 340, "texture (painted wood)"),
    "p16": ("kodim07", 270, 140, "edges (shutters)"),
}
PRACTICE = {"practice": ("kodim21", 400, 250, "practice anchors only (lighthouse)")}


def crop(src: Path, cx: int, cy: int, side: int = SIDE) -> Image.Image:
    im = Image.open(src).convert("RGB")
    x0 = min(max(cx - side // 2, 0), im.width - side)
    y0 = min(max(cy - side // 2, 0), im.height - side)
    return im.crop((x0, y0, x0 + side, y0 + side))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    kodak, out = Path(argv[0]), Path(__file__).resolve().parent
    for name, (photo, cx, cy, _) in {**CROPS, **PRACTICE}.items():
        dest = out / ("practice" if name == "practice" else "study") / f"{name}.png"
        dest.parent.mkdir(exist_ok=True)
        crop(kodak / f"{photo}.png", cx, cy).save(dest, optimize=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
