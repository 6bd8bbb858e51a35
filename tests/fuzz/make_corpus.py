"""Write the seed corpus for fuzz_update.py: valid updates of every encoding.

Each seed is 3 setup bytes (width, height, encoding mask: see fuzz_update.py)
followed by update messages made with tests/rfbgen.py.

    python tests/fuzz/make_corpus.py tests/fuzz/corpus
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import numpy as np  # noqa: E402
import rfbgen  # noqa: E402

ALL = 0xFF


def seeds() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    out: dict[str, bytes] = {}
    w, h = 48, 40
    img = rfbgen.random_image(rng, 24, 20)
    smooth = rfbgen.smooth_image(24, 20)
    setup = bytes([w - 1, h - 1, ALL])
    out["raw"] = setup + rfbgen.update([rfbgen.raw(2, 3, img)])
    out["copyrect"] = setup + rfbgen.update([rfbgen.raw(0, 0, img), rfbgen.copyrect(5, 4, 20, 16, 0, 0)])
    zrle = rfbgen.ZRLEEncoder()
    for mode in ("raw", "solid", "packed", "rle", "palette_rle"):
        try:
            tile = rfbgen.palette_image(rng, 24, 20, 5, run=3) if mode != "raw" else img
            out[f"zrle_{mode}"] = setup + rfbgen.update([zrle.rect(1, 1, tile, mode=mode)])
        except ValueError:
            continue
    tight = rfbgen.TightEncoder()
    out["tight_fill"] = setup + rfbgen.update([tight.fill(0, 0, 10, 10, (1, 2, 3))])
    out["tight_copy"] = setup + rfbgen.update([tight.basic(0, 0, img)])
    out["tight_palette2"] = setup + rfbgen.update([tight.basic(0, 0, rfbgen.palette_image(rng, 24, 20, 2), filter="palette")])
    out["tight_palette9"] = setup + rfbgen.update([tight.basic(0, 0, rfbgen.palette_image(rng, 24, 20, 9), filter="palette", stream=1)])
    out["tight_gradient"] = setup + rfbgen.update([tight.basic(0, 0, smooth, filter="gradient", stream=2)])
    out["tight_jpeg"] = setup + rfbgen.update([tight.jpeg(0, 0, smooth, quality=80)])
    out["resize_cursor_lastrect"] = setup + rfbgen.update(
        [
            rfbgen.desktop_size(30, 30),
            rfbgen.cursor(1, 1, rng.integers(0, 256, (5, 7, 4), dtype=np.uint8)),
            rfbgen.raw(0, 0, img[:10, :10]),
            rfbgen.last_rect(),
        ],
        nrects=0xFFFF,
    )
    return out


def main(argv: list[str]) -> int:
    target = argv[0] if argv else os.path.join(HERE, "corpus")
    os.makedirs(target, exist_ok=True)
    all_seeds = seeds()
    for name, data in all_seeds.items():
        with open(os.path.join(target, name), "wb") as f:
            f.write(data)
    print(f"{len(all_seeds)} seeds in {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
