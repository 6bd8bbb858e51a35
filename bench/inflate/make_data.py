#!/usr/bin/env python3
"""Make RFB-like zlib streams for the inflater benchmark (inflate_bench.c).

Each data set is one per-connection zlib stream, as an RFB server sends it:
the bytes of each rect are deflated (level 6) and followed by a Z_SYNC_FLUSH,
so a rect's compressed bytes inflate to exactly that rect's data.

* ``desktop``: ZRLE tile data (64x64 tiles, 3-byte CPIXELs, the usual
  subencodings: raw, solid, packed palette, plain RLE, palette RLE, picked by
  size as real encoders do) of desktop-like screens drawn with Pillow: flat
  and gradient backgrounds, window borders and title bars, text in Pillow's
  default font, a code editor, a grid, a taskbar.
* ``photo``: Tight copy-filter rects (24-bit RGB TPIXELs) of photo-like
  pictures made with numpy: gradients, low-frequency waves, blurred shapes
  and gaussian noise.  Rects are at most 65536 pixels, as Tight allows.

Update rects are 64x64 .. 512x512 at random places.  Everything is seeded, so
the same command always writes the same bytes.

File format (little-endian), read by inflate_bench.c:
    b"RFBZINF1", u32 chunks, u32 max_chunk_out, u64 total_in, u64 total_out,
    u32 crc32 of all output, u32 reserved, then per chunk:
    u32 in_len, u32 out_len, in_len bytes.

Usage: python3 bench/inflate/make_data.py [--out bench/out/inflate] [--mb 32]
       [--level 6] [--rect 64 512] [--suffix=-NAME] [--only desktop|photo]
"""

from __future__ import annotations

import argparse
import random
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

W, H = 1920, 1080
TILE = 64
WORDS = (
    "the of and to in is that for it as with was on be by this are or from at "
    "import return def class self None True False while if else elif yield "
    "window frame buffer pixel encoding rectangle server client protocol "
    "update request framebuffer keyboard pointer cursor colour palette zlib "
    "inflate deflate stream socket connection session display desktop"
).split()


# ---------------------------------------------------------------- container


class Stream:
    """One persistent deflate stream, sync-flushed after each rect."""

    def __init__(self, level: int = 6) -> None:
        self.z = zlib.compressobj(level, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY)
        self.chunks: list[tuple[bytes, int]] = []
        self.crc = 0
        self.total_out = 0

    def rect(self, data: bytes) -> None:
        comp = self.z.compress(data) + self.z.flush(zlib.Z_SYNC_FLUSH)
        self.chunks.append((comp, len(data)))
        self.crc = zlib.crc32(data, self.crc)
        self.total_out += len(data)

    def write(self, path: Path) -> tuple[int, int, int]:
        total_in = sum(len(c) for c, _ in self.chunks)
        max_out = max(n for _, n in self.chunks)
        with path.open("wb") as f:
            f.write(b"RFBZINF1")
            f.write(struct.pack("<IIQQII", len(self.chunks), max_out, total_in,
                                self.total_out, self.crc, 0))
            for comp, n in self.chunks:
                f.write(struct.pack("<II", len(comp), n))
                f.write(comp)
        return len(self.chunks), total_in, self.total_out


# --------------------------------------------------------------------- ZRLE


def _cpixels(values: np.ndarray) -> bytes:
    """3-byte CPIXELs in R, G, B order, as the vncenv client's pixel format has them."""
    v = values.astype(">u4")
    return v.view(np.uint8).reshape(-1, 4)[:, 1:].tobytes()


def _run_length_bytes(lengths: np.ndarray) -> list[bytes]:
    out = []
    for n in (lengths - 1).tolist():
        out.append(b"\xff" * (n // 255) + bytes((n % 255,)))
    return out


def zrle_tile(tile: np.ndarray) -> bytes:
    """Encode one tile (h, w) of 0xRRGGBB values, smallest subencoding wins."""
    h, w = tile.shape
    flat = tile.reshape(-1)
    palette, index = np.unique(flat, return_inverse=True)
    n = len(palette)
    if n == 1:
        return b"\x01" + _cpixels(palette)
    starts = np.concatenate(([0], np.flatnonzero(flat[1:] != flat[:-1]) + 1))
    lengths = np.diff(np.concatenate((starts, [flat.size])))
    runs = len(starts)
    len_bytes = int(((lengths - 1) // 255 + 1).sum())
    multi = int((lengths > 1).sum())
    multi_len_bytes = int(((lengths[lengths > 1] - 1) // 255 + 1).sum())

    sizes = {"raw": 3 * flat.size, "rle": 3 * runs + len_bytes}
    if n <= 16:
        bits = 1 if n == 2 else 2 if n <= 4 else 4
        sizes["packed"] = 3 * n + h * ((w * bits + 7) // 8)
    if n <= 127:
        sizes["prle"] = 3 * n + runs + multi_len_bytes
    best = min(sizes, key=sizes.__getitem__)

    if best == "raw":
        return b"\x00" + _cpixels(flat)
    if best == "packed":
        rows = index.reshape(h, w).astype(np.uint8)
        per = 8 // bits
        pad = (-w) % per
        rows = np.pad(rows, ((0, 0), (0, pad)))
        groups = rows.reshape(h, -1, per)
        shifts = np.arange(per - 1, -1, -1, dtype=np.uint8) * bits
        packed = (groups << shifts).sum(axis=2).astype(np.uint8)
        return bytes((n,)) + _cpixels(palette) + packed.tobytes()
    if best == "rle":
        px = _cpixels(flat[starts])
        lens = _run_length_bytes(lengths)
        parts = [b"\x80"]
        for i, lb in enumerate(lens):
            parts.append(px[3 * i:3 * i + 3])
            parts.append(lb)
        return b"".join(parts)
    # palette RLE
    idx = index[starts].tolist()
    parts = [bytes((128 + n,)), _cpixels(palette)]
    for i, length in zip(idx, lengths.tolist()):
        if length == 1:
            parts.append(bytes((i,)))
        else:
            n1 = length - 1
            parts.append(bytes((i | 128,)) + b"\xff" * (n1 // 255) + bytes((n1 % 255,)))
    return b"".join(parts)


def zrle_rect(pix: np.ndarray) -> bytes:
    h, w = pix.shape
    out = []
    for y in range(0, h, TILE):
        for x in range(0, w, TILE):
            out.append(zrle_tile(pix[y:y + TILE, x:x + TILE]))
    return b"".join(out)


# ---------------------------------------------------------- desktop screens


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def desktop_screen(seed: int) -> np.ndarray:
    rng = random.Random(seed)
    img = Image.new("RGB", (W, H))
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=13)
    small = ImageFont.load_default(size=11)
    # wallpaper: flat, or a vertical gradient
    top = tuple(rng.randrange(0, 120) for _ in range(3))
    bottom = tuple(rng.randrange(40, 200) for _ in range(3))
    if rng.random() < 0.5:
        for y in range(H):
            t = y / (H - 1)
            d.line([(0, y), (W, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom)))
    else:
        d.rectangle([0, 0, W, H], fill=top)
    # desktop icons
    for i in range(rng.randrange(4, 10)):
        x, y = 20, 20 + i * 90
        d.rectangle([x + 12, y, x + 60, y + 48], fill=tuple(rng.randrange(256) for _ in range(3)))
        d.text((x, y + 54), rng.choice(WORDS)[:10], font=small, fill=(255, 255, 255))
    # windows
    for _ in range(rng.randrange(3, 6)):
        ww, wh = rng.randrange(500, 1300), rng.randrange(300, 800)
        x0, y0 = rng.randrange(100, W - ww), rng.randrange(0, H - 40 - wh)
        x1, y1 = x0 + ww, y0 + wh
        kind = rng.choice(["doc", "code", "terminal", "sheet"])
        d.rectangle([x0 - 1, y0 - 1, x1 + 1, y1 + 1], fill=(60, 60, 60))  # border
        # title bar: gradient or flat
        c0 = (rng.randrange(30, 90), rng.randrange(60, 120), rng.randrange(120, 220))
        for x in range(x0, x1 + 1):
            t = (x - x0) / ww
            d.line([(x, y0), (x, y0 + 24)], fill=tuple(int(c * (1 - 0.5 * t)) for c in c0))
        d.text((x0 + 8, y0 + 5), _text(rng, 3).title(), font=font, fill=(255, 255, 255))
        for i, col in enumerate([(220, 80, 70), (230, 190, 60), (90, 190, 90)]):
            d.ellipse([x1 - 70 + i * 22, y0 + 6, x1 - 56 + i * 22, y0 + 20], fill=col)
        body = (x0, y0 + 25, x1, y1)
        if kind == "doc":
            d.rectangle(body, fill=(255, 255, 255))
            d.rectangle([x0, y0 + 25, x1, y0 + 48], fill=(238, 238, 238))
            d.text((x0 + 8, y0 + 29), "File  Edit  View  Insert  Format  Tools  Help", font=font,
                   fill=(20, 20, 20))
            for ly in range(y0 + 60, y1 - 18, 18):
                d.text((x0 + 16, ly), _text(rng, rng.randrange(4, ww // 55)), font=font, fill=(25, 25, 25))
        elif kind == "code":
            d.rectangle(body, fill=(30, 30, 36))
            palette = [(220, 220, 220), (86, 156, 214), (206, 145, 120), (106, 153, 85), (197, 134, 192)]
            for n, ly in enumerate(range(y0 + 32, y1 - 16, 16)):
                d.text((x0 + 6, ly), f"{n + 1:4d}", font=small, fill=(110, 110, 110))
                cx = x0 + 48 + 28 * rng.randrange(0, 4)
                for _ in range(rng.randrange(1, 7)):
                    word = rng.choice(WORDS)
                    d.text((cx, ly), word, font=font, fill=rng.choice(palette))
                    cx += 8 * len(word) + 8
                    if cx > x1 - 60:
                        break
        elif kind == "terminal":
            d.rectangle(body, fill=(0, 0, 0))
            for ly in range(y0 + 30, y1 - 14, 15):
                colour = (0, 205, 0) if rng.random() < 0.2 else (200, 200, 200)
                d.text((x0 + 4, ly), "$ " + _text(rng, rng.randrange(1, ww // 60)), font=font, fill=colour)
        else:
            d.rectangle(body, fill=(255, 255, 255))
            for gx in range(x0, x1, 90):
                d.line([(gx, y0 + 25), (gx, y1)], fill=(210, 210, 210))
            for gy in range(y0 + 25, y1, 20):
                d.line([(x0, gy), (x1, gy)], fill=(210, 210, 210))
                for gx in range(x0, x1 - 90, 90):
                    if rng.random() < 0.6:
                        d.text((gx + 4, gy + 3), str(rng.randrange(100000)), font=small, fill=(0, 0, 0))
    # taskbar
    d.rectangle([0, H - 40, W, H], fill=(35, 38, 45))
    for i in range(8):
        d.rectangle([60 + i * 48, H - 34, 88 + i * 48, H - 6], fill=tuple(rng.randrange(256) for _ in range(3)))
    d.text((W - 90, H - 28), "12:%02d" % rng.randrange(60), font=font, fill=(240, 240, 240))
    a = np.asarray(img, dtype=np.uint32)
    return (a[..., 0] << 16) | (a[..., 1] << 8) | a[..., 2]


# ------------------------------------------------------------ photo frames


def photo_frame(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    img = np.zeros((H, W, 3), np.float32)
    for c in range(3):
        gx, gy = rng.uniform(-0.08, 0.08, 2)
        img[..., c] = rng.uniform(40, 160) + gx * x + gy * y
        for _ in range(3):
            fx, fy = rng.uniform(0.001, 0.01, 2)
            ph = rng.uniform(0, 6.3)
            img[..., c] += rng.uniform(10, 35) * np.sin(fx * x + fy * y + ph)
    for _ in range(8):  # soft blobs
        cx, cy, r = rng.uniform(0, W), rng.uniform(0, H), rng.uniform(40, 260)
        col = rng.uniform(-80, 80, 3)
        mask = np.exp(-(((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r)))
        img += mask[..., None] * col
    for _ in range(4):  # hard-edged shapes
        x0, y0 = rng.integers(0, W - 200), rng.integers(0, H - 200)
        w, h = rng.integers(60, 400), rng.integers(60, 300)
        img[y0:y0 + h, x0:x0 + w] = img[y0:y0 + h, x0:x0 + w] * 0.5 + rng.uniform(0, 255, 3) * 0.5
    for scale, amp in ((32, 16.0), (6, 6.0)):  # texture: upsampled random fields
        small = rng.normal(0, amp, (H // scale + 1, W // scale + 1, 3)).astype(np.float32)
        for c in range(3):
            field = Image.fromarray(small[..., c], mode="F").resize((W, H), Image.BICUBIC)
            img[..., c] += np.asarray(field)
    img += rng.normal(0, 4.0, img.shape).astype(np.float32)  # sensor noise
    return np.clip(img, 0, 255).astype(np.uint8)


# -------------------------------------------------------------------- main


def random_rects(rng: random.Random, lo: int, hi: int, max_pixels: int | None = None):
    """Yield (x, y, w, h) update rects of lo..hi pixels a side."""
    while True:
        w, h = rng.randrange(lo, hi + 1), rng.randrange(lo, hi + 1)
        if max_pixels and w * h > max_pixels:
            h = max(1, max_pixels // w)
        yield rng.randrange(0, W - w + 1), rng.randrange(0, H - h + 1), w, h


def make_desktop(target: int, seed: int, level: int, lo: int, hi: int) -> Stream:
    rng = random.Random(seed)
    s = Stream(level)
    screen = 0
    rects = random_rects(rng, lo, hi)
    per_screen = max(60, 60 * (288 * 288) // (((lo + hi) // 2) ** 2))
    while s.total_out < target:
        pix = desktop_screen(seed * 1000 + screen)
        screen += 1
        for _ in range(per_screen):
            x, y, w, h = next(rects)
            s.rect(zrle_rect(pix[y:y + h, x:x + w]))
            if s.total_out >= target:
                break
    return s


def make_photo(target: int, seed: int, level: int, lo: int, hi: int) -> Stream:
    rng = random.Random(seed)
    s = Stream(level)
    frame = 0
    rects = random_rects(rng, lo, hi, max_pixels=65536)  # Tight's limit per rect
    per_frame = max(60, 60 * (288 * 288) // (((lo + hi) // 2) ** 2))
    while s.total_out < target:
        pix = photo_frame(seed * 1000 + frame)
        frame += 1
        for _ in range(per_frame):
            x, y, w, h = next(rects)
            s.rect(np.ascontiguousarray(pix[y:y + h, x:x + w]).tobytes())
            if s.total_out >= target:
                break
    return s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "out" / "inflate")
    ap.add_argument("--mb", type=float, default=32.0, help="inflated MB per data set")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--only", choices=["desktop", "photo"])
    ap.add_argument("--level", type=int, default=6, help="deflate level")
    ap.add_argument("--rect", type=int, nargs=2, default=(64, 512), metavar=("MIN", "MAX"),
                    help="update rect side, in pixels")
    ap.add_argument("--suffix", default="", help="appended to the file names")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    target = int(args.mb * 1e6)
    makers = {"desktop": make_desktop, "photo": make_photo}
    for name, make in makers.items():
        if args.only and name != args.only:
            continue
        s = make(target, args.seed, args.level, *args.rect)
        path = args.out / f"{name}{args.suffix}.rfbz"
        n, tin, tout = s.write(path)
        print(f"{path}: {n} rects, {tin} bytes in, {tout} bytes out, ratio {tout / tin:.2f}, "
              f"crc32 {s.crc:08x}")


if __name__ == "__main__":
    main()
