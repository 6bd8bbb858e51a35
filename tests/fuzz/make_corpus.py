"""Write the seed corpora of the fuzz targets: one folder per target.

    python tests/fuzz/make_corpus.py [OUT] [--targets update,zrle,...]
        [--no-recordings] [--recordings bench/corpus] [--rewarder-log FILE]

``OUT`` (default ``build/fuzz-corpus``) gets ``OUT/<target>/<seed>`` for every
target (see README.md); seeds are generated, never committed.  Two sources:

* synthetic cases built with ``tests/rfbgen.py`` and by hand: every
  encoding, ZRLE subencoding, Tight type and filter, cursor and resize
  shape, every handshake fork, every server message, FBS quirks, every
  rewarder message;
* real recordings (unless ``--no-recordings``): the bench corpus
  (``bench/corpus/*.fbs``, made by ``python3 bench/record_corpus.py``) walked
  with ``bench/rfbwalk.py``, the parser that does not share code with
  vncenv, and cut into rects (ZRLE tiles and Tight data inflated along the
  recorded zlib streams, so the ZRLE and Tight targets get the real
  uncompressed bytes), whole updates, stream and FBS prefixes; and the frames
  of a real ``RewarderServer``/``RewarderClient`` exchange on loopback
  (``record_rewarder.py``, or ``--rewarder-log`` from an earlier run).

:func:`seeds` (fuzz_update's synthetic seeds) is what ``tests/test_fuzz_target.py`` uses.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import struct
import sys
import zlib
from collections.abc import Callable, Iterator

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
ROOT = os.path.dirname(TESTS)
for path in (HERE, TESTS):
    if path not in sys.path:
        sys.path.insert(0, path)

import numpy as np  # noqa: E402
import rfbgen  # noqa: E402
from _harness import Chunk, compact_length, rect_input  # noqa: E402

ALL = 0xFF  # fuzz_update: every encoding requested

TARGETS = (
    "update",
    "raw",
    "copyrect",
    "zrle",
    "tight",
    "cursor",
    "desktop_size",
    "protocol",
    "fbs",
    "rewarder",
)

# Real rects bigger than this (either side) or with more data are not seeds.
MAX_SEED_SIDE = 512
MAX_SEED_BYTES = 32 * 1024
MAX_STREAM_SEED = 48 * 1024  # protocol / FBS seeds cut from a recording
RECORDING_PREFIX = 8 << 20  # bytes of each recording walked


# ---------------------------------------------------------------------------
# fuzz_update (3 setup bytes: width - 1, height - 1, encoding mask; then updates)


def seeds() -> dict[str, bytes]:
    """fuzz_update's synthetic seeds: valid updates of every encoding."""
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


def update_seeds(rec: Recordings | None) -> dict[str, bytes]:
    out = seeds()
    if rec is None:
        return out
    # Real rects small enough for fuzz_update's 96 x 96 framebuffer, each
    # re-compressed on fresh streams at (0, 0) (a recording's zlib data only
    # inflates after everything before it on its stream).
    for name, w, h, tiles in rec.zrle[::3]:
        if w <= 96 and h <= 96:
            out[f"rec_{name}"] = bytes([w - 1, h - 1, ALL]) + rfbgen.update(
                [rfbgen.ZRLEEncoder().rect_from_tiles(0, 0, w, h, tiles)]
            )
    for name, w, h, body in rec.tight[::2]:
        if w <= 96 and h <= 96:
            out[f"rec_{name}"] = bytes([w - 1, h - 1, ALL]) + rfbgen.update(
                [rfbgen.Rect(0, 0, w, h, rfbgen.TIGHT, _tight_payload(w, h, body))]
            )
    return out


def _tight_payload(w: int, h: int, body: bytes) -> bytes:
    """A Tight payload from a tight-target body, compressed on a fresh stream."""
    import fuzz_tight

    return fuzz_tight.wrap(Chunk(0, 0, w, h, 0, body), fuzz_tight.Streams())[1]


# ---------------------------------------------------------------------------
# Per-decoder targets (the rect format of _harness.py)


def raw_seeds(rec: Recordings | None) -> dict[str, bytes]:
    rng = np.random.default_rng(1)
    img = rfbgen.random_image(rng, 20, 10)
    body = rfbgen.raw(0, 0, img, pad=0xAA).payload
    out = {
        "one": rect_input(32, 24, 0, [(3, 5, 20, 10, 0, body)]),
        "edge": rect_input(20, 10, 0, [(0, 0, 20, 10, 0, body)]),
        "empty_rect": rect_input(8, 8, 0, [(8, 8, 0, 0, 0, b"")]),
        "zero_width_right_edge": rect_input(8, 8, 0, [(8, 0, 0, 8, 0, b"")]),
        "zero_height_bottom_edge": rect_input(8, 8, 0, [(0, 8, 8, 0, 0, b"")]),
        "one_pixel": rect_input(1, 1, 0, [(0, 0, 1, 1, 0, b"\x01\x02\x03\x04")]),
        "two": rect_input(32, 32, 0, [(0, 0, 20, 10, 0, body), (12, 22, 20, 10, 0, body)]),
    }
    for flags in (1, 2, 4, 8, 6, 14):
        out[f"flags{flags}"] = rect_input(32, 32, flags, [(0, 0, 20, 10, 0, body), (10, 20, 2, 2, 0, body[:16])])
    return out


def copyrect_seeds(rec: Recordings | None) -> dict[str, bytes]:
    rng = np.random.default_rng(2)
    img = rfbgen.random_image(rng, 40, 30)
    paint = Chunk(0, 0, 40, 30, 1, rfbgen.raw(0, 0, img).payload)

    def src(x: int, y: int) -> bytes:
        return struct.pack(">HH", x, y)

    out = {
        "right_down": rect_input(48, 40, 0, [paint, (5, 4, 30, 20, 0, src(0, 0))]),
        "left_up": rect_input(48, 40, 0, [paint, (0, 0, 30, 20, 0, src(5, 4))]),
        "same": rect_input(48, 40, 0, [paint, (2, 2, 10, 10, 0, src(2, 2))]),
        "disjoint": rect_input(48, 40, 2, [paint, (40, 30, 8, 10, 0, src(0, 0))]),
        "row": rect_input(48, 40, 1, [paint, (1, 3, 39, 1, 0, src(0, 3))]),
        "zero_width_edges": rect_input(48, 40, 0, [paint, (48, 0, 0, 40, 0, src(48, 0)), (0, 40, 48, 0, 0, src(0, 40))]),
    }
    if rec is not None:
        for i, (x, y, w, h, sx, sy, fw, fh) in enumerate(rec.copyrects[:8]):
            # the recorded geometry, scaled into a framebuffer the target allows
            k = max(1, -(-max(fw, fh) // 128))
            fw, fh = -(-fw // k), -(-fh // k)
            cw, ch = max(1, w // k), max(1, h // k)
            pw, ph = min(fw, 64), min(fh, 64)
            paint = Chunk(0, 0, pw, ph, 1, rfbgen.raw(0, 0, rfbgen.random_image(rng, pw, ph)).payload)
            out[f"rec_{i}"] = rect_input(fw, fh, 0, [paint, (x // k, y // k, cw, ch, 0, src(sx // k, sy // k))])
    return out


def _zrle_class(tiles: bytes) -> str:
    sub = tiles[0] if tiles else -1
    if sub == 0:
        return "raw"
    if sub == 1:
        return "solid"
    if 2 <= sub <= 16:
        return f"packed{1 if sub == 2 else 2 if sub <= 4 else 4}"
    if sub == 128:
        return "rle"
    return "prle" if sub >= 130 else "bad"


def zrle_seeds(rec: Recordings | None) -> dict[str, bytes]:
    rng = np.random.default_rng(3)
    out: dict[str, bytes] = {}
    noise = rfbgen.random_image(rng, 24, 20)
    for colours in (1, 2, 3, 4, 5, 16, 17, 40, 127):
        img = rfbgen.palette_image(rng, 24, 20, colours, run=4)
        for mode in rfbgen.zrle_tile_modes(img):
            out[f"c{colours}_{mode}"] = rect_input(32, 24, 0, [(1, 2, 24, 20, 0, rfbgen.zrle_tile(img, mode))])
    out["raw_noise"] = rect_input(24, 20, 0, [(0, 0, 24, 20, 0, rfbgen.zrle_tile(noise, "raw"))])
    # several tiles: 100 x 70 is 2 x 2 tiles with smaller edge tiles
    big = rfbgen.palette_image(rng, 100, 70, 6, run=9)
    tiles = b"".join(
        rfbgen.zrle_tile(big[ty : ty + 64, tx : tx + 64], mode)
        for (ty, tx), mode in zip(((0, 0), (0, 64), (64, 0), (64, 64)), ("packed", "rle", "palette_rle", "raw"))
    )
    out["four_tiles"] = rect_input(100, 70, 0, [(0, 0, 100, 70, 0, tiles)])
    two = [(0, 0, 24, 20, 0, rfbgen.zrle_tile(noise, "rle")), (4, 4, 24, 20, 0, rfbgen.zrle_tile(noise, "raw"))]
    out["two_rects"] = rect_input(32, 32, 0, two)
    for flags in (1, 2, 4, 8):
        out[f"two_rects_flags{flags}"] = rect_input(32, 32, flags, two)
    out["verbatim"] = rect_input(24, 20, 0, [(0, 0, 24, 20, 1, rfbgen.ZRLEEncoder().rect(0, 0, noise).payload)])
    out["zero_width_edge"] = rect_input(24, 20, 0, [(24, 0, 0, 20, 0, b""), (0, 20, 24, 0, 0, b"")])
    for flush in (1, 2, 3):
        out[f"flush{flush}"] = rect_input(32, 32, 0, [(0, 0, 24, 20, flush << 1, two[0][5]), two[1]])
    if rec is not None:
        for name, w, h, tiles in rec.zrle:
            out[f"rec_{name}"] = rect_input(w, h, 0, [(0, 0, w, h, 0, tiles)])
    return out


def tight_seeds(rec: Recordings | None) -> dict[str, bytes]:
    rng = np.random.default_rng(4)
    out: dict[str, bytes] = {}
    img = rfbgen.random_image(rng, 24, 20)
    smooth = rfbgen.smooth_image(24, 20)
    pal2 = rfbgen.palette_image(rng, 24, 20, 2)
    pal9 = rfbgen.palette_image(rng, 24, 20, 9, run=3)

    def palette_body(kind: int, pixels: np.ndarray) -> bytes:
        colours, indices = rfbgen._palette_indices(pixels, None)
        data = rfbgen._pack_indices(indices, 1) if len(colours) == 2 else indices.tobytes()
        return bytes([(kind | 4) << 4, 1, len(colours) - 1]) + colours.tobytes() + data

    one = lambda body, w=24, h=20, mode=0: (0, 0, w, h, mode, body)  # noqa: E731
    out["fill"] = rect_input(24, 20, 0, [one(b"\x80\x10\x20\x30")])
    out["fill_reset"] = rect_input(24, 20, 0, [one(b"\x8f\x10\x20\x30")])
    for sub in ("444", "422", "420", "gray"):
        out[f"jpeg_{sub}"] = rect_input(24, 20, 0, [one(b"\x90" + rfbgen.encode_jpeg(smooth, 75, sub))])
    out["jpeg_16x16"] = rect_input(16, 16, 0, [one(b"\x90" + rfbgen.encode_jpeg(smooth[:16, :16], 90, "444"), 16, 16)])
    out["copy"] = rect_input(24, 20, 0, [one(b"\x00" + img.tobytes())])
    out["copy_filter_byte"] = rect_input(24, 20, 0, [one(b"\x40\x00" + img.tobytes())])
    out["copy_small_raw"] = rect_input(8, 8, 0, [one(b"\x00" + img[:1, :3].tobytes(), 3, 1)])
    out["copy_stream3"] = rect_input(24, 20, 0, [one(b"\x30" + img.tobytes())])
    out["palette2"] = rect_input(24, 20, 0, [one(palette_body(0, pal2))])
    out["palette9_stream1"] = rect_input(24, 20, 0, [one(palette_body(1, pal9))])
    out["palette1"] = rect_input(24, 20, 0, [one(palette_body(2, np.zeros((20, 24, 3), np.uint8)))])
    out["palette2_small_raw"] = rect_input(8, 8, 0, [one(palette_body(0, pal2[:2, :4]), 4, 2)])
    out["gradient"] = rect_input(24, 20, 0, [one(b"\x62\x02" + rfbgen.gradient_residuals(smooth).tobytes())])
    out["gradient_noise"] = rect_input(24, 20, 0, [one(b"\x52\x02" + rfbgen.gradient_residuals(img).tobytes())])
    seq = [
        one(b"\x00" + img.tobytes()),
        one(b"\x00" + img[::-1].copy().tobytes()),
        one(b"\x01" + img.tobytes()),  # reset stream 0 first
        one(palette_body(1, pal9)),
        one(b"\x80\x01\x02\x03"),
    ]
    out["sequence"] = rect_input(24, 20, 0, seq)
    for flags in (1, 2, 4, 8):
        out[f"sequence_flags{flags}"] = rect_input(24, 20, flags, seq)
    for flush in (1, 2, 3):
        out[f"flush{flush}"] = rect_input(24, 20, 0, [one(b"\x00" + img.tobytes(), mode=flush << 1), seq[1]])
    # 0-wide / 0-high rects at the edges (0 bytes of data: sent raw).  A
    # 0-wide *palette* rect is the open bug in crashes/tight-zero-width-palette:
    # it is a reproducer there, not a seed here.
    out["zero_area_edges"] = rect_input(
        24, 20, 0,
        [(24, 0, 0, 20, 0, b"\x00"), (0, 20, 24, 0, 0, b"\x40\x02"), (24, 0, 0, 20, 0, b"\x80\x01\x02\x03"),
         (0, 20, 24, 0, 0, palette_body(0, pal9)[:3 + 27])],
    )
    verbatim = rfbgen.TightEncoder().basic(0, 0, pal9, filter="palette").payload
    out["verbatim"] = rect_input(24, 20, 0, [one(verbatim, mode=1)])
    if rec is not None:
        for name, w, h, body in rec.tight:
            out[f"rec_{name}"] = rect_input(w, h, 0, [(0, 0, w, h, 0, body)])
    return out


def cursor_seeds(rec: Recordings | None) -> dict[str, bytes]:
    rng = np.random.default_rng(5)
    out = {}
    for w, h in ((0, 0), (0, 5), (5, 0), (1, 1), (7, 5), (8, 3), (9, 2), (16, 16), (64, 64), (65, 1)):
        rgba = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
        out[f"c{w}x{h}"] = rect_input(16, 16, 0, [(w // 2, h // 2, w, h, 0, rfbgen.cursor(0, 0, rgba).payload)])
    rgba = rng.integers(0, 256, (5, 9, 4), dtype=np.uint8)
    body = rfbgen.cursor(0, 0, rgba).payload
    out["two"] = rect_input(16, 16, 2, [(1, 2, 9, 5, 0, body), (0, 0, 9, 5, 0, body[::-1])])
    out["lastrect_half"] = rect_input(16, 16, 12, [(1, 2, 9, 5, 0, body)])
    return out


def desktop_size_seeds(rec: Recordings | None) -> dict[str, bytes]:
    rng = np.random.default_rng(6)
    img = rfbgen.random_image(rng, 10, 10)
    paint = (0, 0, 10, 10, 2, rfbgen.raw(0, 0, img).payload)
    ext = rfbgen.extended_desktop_size(40, 30).payload
    two_screens = rfbgen.extended_desktop_size(64, 32, screens=[(1, 0, 0, 32, 32, 0), (2, 32, 0, 32, 32, 0)]).payload
    out = {
        "grow_then_paint": rect_input(8, 8, 0, [(0, 0, 30, 20, 0, b""), (20, 10, 10, 10, 2, paint[5])]),
        "shrink_then_paint": rect_input(64, 64, 0, [paint, (0, 0, 9, 9, 0, b""), paint]),
        "same_size": rect_input(10, 10, 0, [paint, (0, 0, 10, 10, 0, b"")]),
        "ext": rect_input(8, 8, 0, [(0, 0, 40, 30, 1, ext), paint]),
        "ext_two_screens": rect_input(8, 8, 0, [(0, 0, 64, 32, 1, two_screens)]),
        "ext_reply": rect_input(8, 8, 0, [(1, 3, 40, 30, 1, ext)]),
        "over_limit": rect_input(8, 8, 0, [(0, 0, 600, 20, 0, b"")]),
        "zero": rect_input(8, 8, 0, [(0, 0, 0, 20, 0, b"")]),
        "copy_after_resize": rect_input(
            16, 16, 0, [paint, (0, 0, 12, 12, 0, b""), (2, 2, 5, 5, 3, struct.pack(">HH", 0, 0))]
        ),
        "lastrect_mid": rect_input(16, 16, 0, [paint, (0, 0, 0, 0, 4, b""), (0, 0, 20, 20, 0, b"")]),
        "per_update": rect_input(8, 8, 2, [(0, 0, 30, 20, 0, b""), paint, (0, 0, 12, 12, 1, ext)]),
    }
    if rec is not None:
        for i, (x, y, w, h, payload) in enumerate(rec.ext_desktop[:4]):
            out[f"rec_{i}"] = rect_input(8, 8, 0, [(x, y, w, h, 1, payload)])
            out[f"rec_{i}_clamped"] = rect_input(8, 8, 0, [(x, y, min(w, 512), min(h, 512), 1, payload), paint])
    return out


# ---------------------------------------------------------------------------
# The RFB protocol and FBS


def _server_init(width: int, height: int, name: bytes = b"fuzz") -> bytes:
    from vncenv.vnc.constants import CANONICAL_PIXEL_FORMAT

    return struct.pack(">HH", width, height) + CANONICAL_PIXEL_FORMAT + struct.pack(">I", len(name)) + name


def _handshakes() -> dict[str, tuple[int, bytes]]:
    """Server sides of handshakes: name -> (protocol flags, bytes)."""
    init = _server_init(48, 40)
    challenge = bytes(range(16))
    reason = b"\x00\x00\x00\x0dgo away, fuzz"
    return {
        "33_none": (0, b"RFB 003.003\n" + struct.pack(">I", 1) + init),
        "33_vnc": (1, b"RFB 003.003\n" + struct.pack(">I", 2) + challenge + b"\0\0\0\0" + init),
        "33_refused": (0, b"RFB 003.003\n" + struct.pack(">I", 0) + reason),
        "33_auth_failed": (1, b"RFB 003.003\n" + struct.pack(">I", 2) + challenge + b"\0\0\0\1"),
        "37_none": (0, b"RFB 003.007\n\x01\x01" + init),
        "37_vnc": (1, b"RFB 003.007\n\x02\x01\x02" + challenge + b"\0\0\0\0" + init),
        "37_refused": (0, b"RFB 003.007\n\x00" + reason),
        "38_none": (0, b"RFB 003.008\n\x02\x10\x01\0\0\0\0" + init),
        "38_vnc": (1, b"RFB 003.008\n\x01\x02" + challenge + b"\0\0\0\0" + init),
        "38_vnc_failed": (1, b"RFB 003.008\n\x01\x02" + challenge + b"\0\0\0\1" + reason),
        "38_no_password": (0, b"RFB 003.008\n\x01\x02"),
        "38_unsupported": (0, b"RFB 003.008\n\x02\x12\x13"),
        "3889_none": (0, b"RFB 003.889\n\x01\x01\0\0\0\0" + init),
        "4001_none": (0, b"RFB 004.001\n\x01\x01\0\0\0\0" + init),
        "36_none": (0, b"RFB 003.006\n" + struct.pack(">I", 1) + init),
    }


def _server_messages() -> dict[str, bytes]:
    rng = np.random.default_rng(7)
    img = rfbgen.random_image(rng, 16, 8)
    tight = rfbgen.TightEncoder()
    return {
        "bell": b"\x02",
        "cut_text": b"\x03\0\0\0" + struct.pack(">I", 11) + b"hello \xe9t\xe9!",
        "colour_map": b"\x01\0" + struct.pack(">HH", 3, 2) + bytes(range(12)),
        "end_of_cu": b"\x96",
        "fence_request": b"\xf8\0\0\0" + struct.pack(">I", (1 << 31) | 3) + b"\x04abcd",
        "fence": b"\xf8\0\0\0" + struct.pack(">I", 2) + b"\x00",
        "update_raw": rfbgen.update([rfbgen.raw(1, 1, img)]),
        "update_mixed": rfbgen.update(
            [
                rfbgen.ZRLEEncoder().rect(0, 0, img),
                tight.basic(16, 0, img, filter="gradient"),
                tight.fill(0, 8, 16, 8, (9, 8, 7)),
                rfbgen.copyrect(20, 20, 16, 8, 0, 0),
            ]
        ),
        "update_resize": rfbgen.update(
            [rfbgen.desktop_size(32, 32), rfbgen.cursor(1, 1, rng.integers(0, 256, (4, 4, 4), dtype=np.uint8)),
             rfbgen.last_rect()],
            nrects=0xFFFF,
        ),
    }


def protocol_seeds(rec: Recordings | None) -> dict[str, bytes]:
    from fuzz_protocol import FLAG_COALESCE, FLAG_EOF, FLAG_GET_BUFFER, FLAG_REQUEST, make_input

    out = {}
    handshakes = _handshakes()
    for name, (flags, stream) in handshakes.items():
        out[f"hs_{name}"] = make_input(stream, flags)
        out[f"hs_{name}_eof_split"] = make_input(stream, flags | FLAG_EOF | FLAG_GET_BUFFER, (1, 12, 13, 20))
    flags, hs = handshakes["38_none"]
    messages = _server_messages()
    for name, msg in messages.items():
        out[f"msg_{name}"] = make_input(hs + msg, flags | FLAG_REQUEST)
    everything = hs + b"".join(messages.values())
    out["all_messages"] = make_input(everything, flags | FLAG_REQUEST)
    out["all_messages_split"] = make_input(everything, flags | FLAG_GET_BUFFER | FLAG_EOF, (5, 40, 100, 101, 400, 600))
    out["all_messages_coalesced"] = make_input(everything, flags | FLAG_COALESCE | FLAG_REQUEST)
    out["eof_mid_message"] = make_input(hs + messages["update_mixed"][:50], flags | FLAG_EOF)
    if rec is not None:
        for name, stream in rec.streams.items():
            out[f"rec_{name}"] = make_input(stream, 1 | FLAG_REQUEST)
            out[f"rec_{name}_split"] = make_input(stream, 1 | FLAG_GET_BUFFER, (30, 49, 60, 61, 1000, 4000))
            out[f"rec_{name}_coalesced"] = make_input(stream, 1 | FLAG_COALESCE, (30, 49, 60, 61, 1000, 4000))
    return out


def fbs_file(blocks: list[tuple[int, bytes]], header: bytes = b"FBS 001.000\n", pad: bytes = b"\0") -> bytes:
    """An FBS file of ``(timestamp_ms, data)`` blocks."""
    out = [header]
    for ts, data in blocks:
        out.append(struct.pack(">I", len(data)) + data + pad * (-len(data) % 4) + struct.pack(">I", ts))
    return b"".join(out)


def fbs_seeds(rec: Recordings | None) -> dict[str, bytes]:
    flags, hs = _handshakes()["38_vnc"]
    stream = hs + b"".join(_server_messages().values())
    cuts = [0, 12, 14, 30, 34, 58, 61, 90, 300, len(stream)]
    blocks = [(i * 17, stream[a:b]) for i, (a, b) in enumerate(zip(cuts, cuts[1:]))]
    whole = fbs_file(blocks)
    out = {
        "session": whole,
        "one_block": fbs_file([(0, stream)]),
        "v001_garbage_padding": fbs_file(blocks, b"FBS 001.001\n", b"\xee"),
        "end_marker": fbs_file(blocks[:4]) + b"\0\0\0\0" + b"trailing junk",
        "truncated_block": whole[:-7],
        "truncated_header": b"FBS 001.0",
        "header_only": b"FBS 001.000\n",
        "empty_block_first": b"FBS 001.000\n\0\0\0\0",
        "none_auth": fbs_file([(0, _handshakes()["38_none"][1] + _server_messages()["update_mixed"])]),
    }
    if rec is not None:
        out.update({f"rec_{name}": data for name, data in rec.fbs.items()})
    return out


# ---------------------------------------------------------------------------
# Rewarder


def _synthetic_rewarder_frames() -> list[tuple[str, bytes]]:
    """A hand-built exchange (when no real one is recorded)."""
    from vncenv.rewarder.messages import MessageFactory, encode

    f = MessageFactory(clock=lambda: 1700000000.25)
    server = [
        f.describe("FuzzEnv-v0", "running", 60.0, 0),
        f.reply_ping(0),
        f.describe("FuzzEnv-v0", "resetting", 60.0, 1),
        f.reply_reset(1, 1),
        f.describe("FuzzEnv-v0", "running", 60.0, 1),
        f.reward(1.5, False, {"frame_id": 3}, 1),
        f.text("hello", 1),
        f.observation([1, 2, {"a": None}], 1),
        f.reward(-1, True, None, 1),
        f.describe("FuzzEnv-v0", "resetting", 60.0, 2),
        f.reward(2.0, False, None, 1),
        f.reply_error("nope", 7),
        f.connection_close("bye"),
    ]
    client = [f.ping(), f.reset("FuzzEnv-v0", 3, 30.0), f.reset(None, None, None), f.action({"action": 2})]
    return [("client", encode(m)) for m in server] + [("server", encode(m)) for m in client]


def rewarder_seeds(rec: Recordings | None, log: str | None = None) -> dict[str, bytes]:
    import orjson
    from fuzz_rewarder import make_input

    frames = _synthetic_rewarder_frames()
    out: dict[str, bytes] = {}
    real: list[tuple[str, bytes]] = []
    if log is not None and os.path.exists(log):
        with open(log, "rb") as fh:
            real = [(e["side"], orjson.dumps(e["frame"])) for e in map(orjson.loads, fh)]
    elif rec is not None:
        import record_rewarder

        real = record_rewarder.record()
    for label, exchange in (("synthetic", frames), ("real", real)):
        if not exchange:
            continue
        to_client = [f for side, f in exchange if side == "client"]
        to_server = [f for side, f in exchange if side == "server"]
        steps = []
        for i, frame in enumerate(to_client):
            steps.append(frame)
            if i % 3 == 2:
                steps.append(b"!p")
        out[f"{label}_client"] = make_input(steps, 1)
        out[f"{label}_client_masked"] = make_input([b"!c", to_client[0], b"!m", *to_client[1:6], b"!u", b"!p"], 1)
        out[f"{label}_server"] = make_input(to_server, 2)
        out[f"{label}_both"] = make_input([f for _, f in exchange], 0)
        for i, (side, frame) in enumerate(exchange):
            out[f"{label}_{i:02d}_{side}"] = make_input([frame], 1 if side == "client" else 2)
    out["bad_frames"] = make_input(
        [b"", b"{", b"[]", b'{"method": 1}', b'{"method":"v0.env.reward","headers":{},"body":{}}',
         b"!b\x00\x01", b"\xff\xfe", b'{"method":"v0.control.ping","headers":{"message_id":1,"sent_at":1},"body":{}}'],
        1,
    )
    out["multiline_json"] = make_input(
        [b'{"method": "v0.env.text",\n "headers": {"message_id": "7", "sent_at": 1.5, "episode_id": "0"},\n'
         b' "body": {"text": "a\\nb"}}'],
        0,
    )
    return out


# ---------------------------------------------------------------------------
# Real recordings


class Recordings:
    """What the seeds take from the bench corpus's recordings.

    * ``zrle``: ``(name, w, h, tiles)``: inflated ZRLE rect data;
    * ``tight``: ``(name, w, h, body)``: Tight rects in fuzz_tight's body form
      (control, filter, palette, then the inflated data; JPEG and fill as sent);
    * ``copyrects``: ``(x, y, w, h, src_x, src_y, fb_w, fb_h)``;
    * ``ext_desktop``: ``(x, y, w, h, payload)`` of ExtendedDesktopSize rects;
    * ``streams``: recorded server streams cut after a few messages;
    * ``fbs``: FBS files of those (the recorded blocks and timestamps).
    """

    def __init__(self, directory: str, per_class: int = 2) -> None:
        import rfbwalk

        from vncenv.vnc.fbs import FBSReader

        self.zrle: list[tuple[str, int, int, bytes]] = []
        self.tight: list[tuple[str, int, int, bytes]] = []
        self.copyrects: list[tuple[int, ...]] = []
        self.ext_desktop: list[tuple[int, int, int, int, bytes]] = []
        self.streams: dict[str, bytes] = {}
        self.fbs: dict[str, bytes] = {}
        self.files = sorted(glob.glob(os.path.join(directory, "*.fbs")))
        for path in self.files:
            name = os.path.basename(path)[: -len(".fbs")]
            blocks: list[tuple[int, bytes]] = []
            size = 0
            with FBSReader(path) as reader:
                for ts, data in reader:
                    blocks.append((ts, data))
                    size += len(data)
                    if size >= RECORDING_PREFIX:
                        break
            data = b"".join(d for _, d in blocks)
            try:
                hs = rfbwalk.handshake(data)
            except (rfbwalk.Incomplete, rfbwalk.Malformed):
                continue
            self._take_apart(rfbwalk, name, data, hs, per_class)
            self._stream_prefixes(rfbwalk, name, data, hs, blocks)

    def _stream_prefixes(self, rfbwalk, name: str, data: bytes, hs, blocks) -> None:
        end = hs.end
        try:
            for count, msg in enumerate(rfbwalk.walk(data, hs)):
                if msg.offset + msg.length > MAX_STREAM_SEED and count >= 2:
                    break
                end = msg.offset + msg.length
        except rfbwalk.Incomplete:
            pass
        if end > 4 * MAX_STREAM_SEED:
            return  # the first whole-screen update is too big to be a seed
        self.streams[name] = data[:end]
        kept, size = [], 0
        for ts, block in blocks:
            if size >= end:
                break
            kept.append((ts, block[: end - size]))
            size += len(kept[-1][1])
        self.fbs[name] = fbs_file(kept)

    def _take_apart(self, rfbwalk, name: str, data: bytes, hs, per_class: int) -> None:
        zrle = zlib.decompressobj()
        tight = [zlib.decompressobj() for _ in range(4)]
        taken: dict[tuple, int] = {}
        seen: set[bytes] = set()

        def keep(key: tuple, value: bytes) -> bool:
            digest = hashlib.sha1(value).digest()
            if taken.get(key, 0) >= per_class or digest in seen:
                return False
            taken[key] = taken.get(key, 0) + 1
            seen.add(digest)
            return True

        try:
            for msg in rfbwalk.walk(data, hs):
                for r in msg.rects:
                    small = 0 < r.w <= MAX_SEED_SIDE and 0 < r.h <= MAX_SEED_SIDE
                    multi = r.w > 64 or r.h > 64
                    if r.encoding == rfbwalk.ZRLE:
                        tiles = zrle.decompress(data[r.zlib_offset : r.zlib_offset + r.zlib_length])
                        key = ("zrle", _zrle_class(tiles), multi)
                        if small and len(tiles) <= MAX_SEED_BYTES and keep(key, tiles):
                            self.zrle.append((f"{name}_{len(self.zrle)}", r.w, r.h, tiles))
                    elif r.encoding == rfbwalk.TIGHT:
                        body = self._tight_body(data, r, tight)
                        colours = data[r.offset + 2] + 1 if r.tight_kind == "palette" else 0
                        key = ("tight", r.tight_kind, min(colours, 3), r.zlib_length > 0, r.tight_ctl & 0xF != 0, multi)
                        if small and len(body) <= MAX_SEED_BYTES and keep(key, body):
                            self.tight.append((f"{name}_{len(self.tight)}", r.w, r.h, body))
                    elif r.encoding == rfbwalk.COPYRECT and len(self.copyrects) < 8:
                        sx, sy = struct.unpack_from(">HH", data, r.offset)
                        self.copyrects.append((r.x, r.y, r.w, r.h, sx, sy, hs.width, hs.height))
                    elif r.encoding == rfbwalk.EXT_DESKTOP_SIZE and len(self.ext_desktop) < 4:
                        payload = data[r.offset : r.offset + r.length]
                        if all(payload != p for *_, p in self.ext_desktop):
                            self.ext_desktop.append((r.x, r.y, r.w, r.h, payload))
        except rfbwalk.Incomplete:
            pass

    @staticmethod
    def _tight_body(data: bytes, r, streams: list) -> bytes:
        """A Tight rect in fuzz_tight's body form, inflating along the recorded streams."""
        off = r.offset
        ctl = data[off]
        for i in range(4):
            if ctl & (1 << i):
                streams[i] = zlib.decompressobj()
        if r.tight_kind in ("fill",) or r.zlib_length == 0 and r.tight_kind != "jpeg":
            return data[off : off + r.length]
        if r.tight_kind == "jpeg":
            return bytes([ctl]) + data[r.zlib_offset : r.zlib_offset + r.zlib_length]
        head = 1
        if (ctl >> 4) & 4:
            head = 2
            if data[off + 1] == 1:
                head = 3 + 3 * (data[off + 2] + 1)
        inflated = streams[(ctl >> 4) & 3].decompress(data[r.zlib_offset : r.zlib_offset + r.zlib_length])
        return data[off : off + head] + inflated


# ---------------------------------------------------------------------------


BUILDERS: dict[str, Callable[..., dict[str, bytes]]] = {
    "update": update_seeds,
    "raw": raw_seeds,
    "copyrect": copyrect_seeds,
    "zrle": zrle_seeds,
    "tight": tight_seeds,
    "cursor": cursor_seeds,
    "desktop_size": desktop_size_seeds,
    "protocol": protocol_seeds,
    "fbs": fbs_seeds,
    "rewarder": rewarder_seeds,
}


def build(
    targets: list[str], rec: Recordings | None, rewarder_log: str | None = None
) -> Iterator[tuple[str, dict[str, bytes]]]:
    for target in targets:
        if target == "rewarder":
            yield target, rewarder_seeds(rec, rewarder_log)
        else:
            yield target, BUILDERS[target](rec)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", default=os.path.join(ROOT, "build", "fuzz-corpus"))
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated; default all")
    parser.add_argument("--no-recordings", action="store_true", help="synthetic seeds only (fast)")
    parser.add_argument("--recordings", default=os.path.join(ROOT, "bench", "corpus"))
    parser.add_argument("--rewarder-log", help="frames from record_rewarder.py (default: record them now)")
    args = parser.parse_args(argv)
    targets = [t for t in args.targets.split(",") if t]
    unknown = set(targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets {sorted(unknown)}; known: {', '.join(TARGETS)}")
    rec = None
    if not args.no_recordings:
        sys.path.insert(0, os.path.join(ROOT, "bench"))  # rfbwalk
        rec = Recordings(args.recordings)
        if not rec.files:
            print(f"no recordings in {args.recordings} (python3 bench/record_corpus.py makes them); "
                  "synthetic seeds only")
    for target, found in build(targets, rec, args.rewarder_log):
        folder = os.path.join(args.out, target)
        os.makedirs(folder, exist_ok=True)
        for name, data in found.items():
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)
        real = sum(1 for n in found if n.startswith(("rec_", "real_")))
        print(f"{target:13s} {len(found):4d} seeds ({real} from recordings) in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
