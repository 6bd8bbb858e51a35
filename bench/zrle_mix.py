"""How a recording's ZRLE pixels are coded: tiles, pixels and runs per subencoding.

    python3 bench/zrle_mix.py FILE.fbs

Walks the stream with bench/rfbwalk.py (independent of vncenv's decoders),
inflates each ZRLE rect with Python's zlib and parses its tiles; prints one
line per subencoding (raw, solid, packed palette at 1/2/4 bits, plain RLE,
palette RLE) with its tiles, pixels, share of the pixels and, for the RLE
kinds, its runs and their mean length.
"""

from __future__ import annotations

import collections
import os
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rfbwalk  # noqa: E402

from vncenv.vnc.fbs import FBSReader  # noqa: E402


def run_length(buf: bytes, pos: int) -> tuple[int, int]:
    """A ZRLE run length (1 + bytes while 255) at ``pos``: (length, next pos)."""
    run = 1
    while True:
        byte = buf[pos]
        pos += 1
        run += byte
        if byte != 255:
            return run, pos


def main() -> int:
    with FBSReader(sys.argv[1]) as reader:
        data = b"".join(block for _, block in reader)
    stream = zlib.decompressobj()
    tiles: collections.Counter[str] = collections.Counter()
    pixels: collections.Counter[str] = collections.Counter()
    runs: collections.Counter[str] = collections.Counter()
    for message in rfbwalk.walk(data):
        for rect in message.rects:
            if rect.encoding != rfbwalk.ZRLE:
                continue
            buf = stream.decompress(data[rect.zlib_offset : rect.zlib_offset + rect.zlib_length])
            pos = 0
            for ty in range(0, rect.h, 64):
                for tx in range(0, rect.w, 64):
                    tw, th = min(64, rect.w - tx), min(64, rect.h - ty)
                    n = tw * th
                    sub = buf[pos]
                    pos += 1
                    if sub == 0:
                        kind, pos = "raw", pos + 3 * n
                    elif sub == 1:
                        kind, pos = "solid", pos + 3
                    elif sub <= 16:
                        bits = 1 if sub == 2 else 2 if sub <= 4 else 4
                        kind, pos = f"packed {bits}-bit", pos + 3 * sub + (tw * bits + 7) // 8 * th
                    elif sub == 128 or sub >= 130:
                        kind = "plain RLE" if sub == 128 else "palette RLE"
                        pos += 0 if sub == 128 else 3 * (sub - 128)
                        done = 0
                        while done < n:
                            if sub == 128:
                                pos += 3
                                run, pos = run_length(buf, pos)
                            else:
                                index = buf[pos]
                                pos += 1
                                run = 1
                                if index & 0x80:
                                    run, pos = run_length(buf, pos)
                            done += run
                            runs[kind] += 1
                    else:
                        raise SystemExit(f"invalid subencoding {sub}")
                    tiles[kind] += 1
                    pixels[kind] += n
    total = sum(pixels.values()) or 1
    for kind in sorted(tiles, key=lambda k: -pixels[k]):
        line = f"{kind:12} {tiles[kind]:8} tiles {pixels[kind]:11} px {100 * pixels[kind] / total:5.1f}%"
        line += f"  {pixels[kind] / tiles[kind]:6.0f} px a tile"
        if runs[kind]:
            line += f"  {runs[kind]} runs of {pixels[kind] / runs[kind]:.1f} px"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
