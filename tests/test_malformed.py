"""Malformed input, one table for every decoder bug class, against both backends.

Each case builds the wire bytes of one FramebufferUpdate and states the
backend-independent expectation: ``"error"`` (ProtocolError; the decoder is
failed and the framebuffer keeps its shape: a bad size is never applied) or
``"incomplete"`` (``feed`` returns 0: the message is not over yet).
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import rfbgen
from backends import backend  # noqa: F401  (pytest fixtures)
from rfbgen import (
    CURSOR,
    RAW,
    TIGHT,
    ZRLE,
    Rect,
    TightEncoder,
    ZRLEEncoder,
    compact_length,
    update,
)

from vncenv.error import ProtocolError
from vncenv.limits import Limits

ALL = rfbgen.IMPLEMENTED_ENCODINGS
HEXTILE = 5
RRE = 2
WIDTH = HEIGHT = 64
_rng = np.random.default_rng(1234)
GARBAGE = _rng.integers(0, 256, 64, dtype=np.uint8).tobytes()
JPEG_16 = rfbgen.encode_jpeg(rfbgen.smooth_image(16, 16), quality=80)
PALETTE_3 = bytes(range(9))  # three colours


@dataclass(frozen=True)
class Case:
    """A malformed message and what every backend must make of it."""

    name: str
    build: Callable[[], bytes]
    expect: str = "error"
    encodings: tuple[int, ...] = ALL
    limits: Limits | None = None
    final_size: tuple[int, int] = (WIDTH, HEIGHT)  # changed only by a valid DesktopSize before the error


def image(w: int, h: int) -> np.ndarray:
    return np.full((h, w, 3), 7, np.uint8)


def zrle_tiles(tiles: bytes, w: int = 4, h: int = 4, x: int = 0, y: int = 0) -> bytes:
    """An update of one ZRLE rect whose inflated data is ``tiles``."""
    return update([ZRLEEncoder().rect_from_tiles(x, y, w, h, tiles)])


def zrle_payload(payload: bytes, w: int = 4, h: int = 4) -> bytes:
    """An update of one ZRLE rect with a hand-made payload (u32 length and data)."""
    return update([Rect(0, 0, w, h, ZRLE, payload)])


def tight(payload: bytes, w: int = 4, h: int = 4, x: int = 0, y: int = 0) -> bytes:
    """An update of one Tight rect with a hand-made payload (control byte first)."""
    return update([Rect(x, y, w, h, TIGHT, payload)])


def tight_basic(w: int, h: int, data: bytes, **options) -> bytes:
    """An update of one Tight basic rect of already-filtered ``data``."""
    return update([TightEncoder().basic_data(0, 0, w, h, data, **options)])


def tight_palette(w: int, h: int, indices: bytes, palette: bytes = PALETTE_3) -> bytes:
    return tight_basic(w, h, indices, filter_id=1, filter_params=bytes([len(palette) // 3 - 1]) + palette)


def jpeg(data: bytes, w: int = 16, h: int = 16) -> bytes:
    return tight(b"\x90" + compact_length(len(data)) + data, w, h)


def two_streams_ended() -> bytes:
    """Two Tight rects on stream 0, each a whole zlib stream: the second follows the end."""
    data = zlib.compress(bytes(48))
    rect = Rect(0, 0, 4, 4, TIGHT, b"\x00" + compact_length(len(data)) + data)
    return update([rect, rect])


CASES = [
    # ---- rects outside the framebuffer
    Case("raw right of the framebuffer", lambda: update([rfbgen.raw(60, 0, image(8, 4))])),
    Case("raw below the framebuffer", lambda: update([rfbgen.raw(0, 62, image(4, 4))])),
    Case("raw 65535x65535", lambda: update([Rect(0, 0, 65535, 65535, RAW)])),
    Case("copyrect outside", lambda: update([rfbgen.copyrect(60, 0, 8, 8, 0, 0)])),
    Case("copyrect source right", lambda: update([rfbgen.copyrect(0, 0, 8, 8, 60, 0)])),
    Case("copyrect source below", lambda: update([rfbgen.copyrect(0, 0, 8, 8, 0, 57)])),
    Case("zrle outside", lambda: update([ZRLEEncoder().rect(60, 60, image(8, 8))])),
    Case("tight fill outside", lambda: update([TightEncoder().fill(0, 60, 4, 8, (1, 2, 3))])),
    Case("tight basic outside", lambda: update([TightEncoder().basic(62, 0, image(4, 4))])),
    Case("tight jpeg outside", lambda: update([TightEncoder().jpeg(56, 56, rfbgen.smooth_image(16, 16))])),
    Case(
        "raw outside after a shrinking DesktopSize",
        lambda: update([rfbgen.desktop_size(32, 32), rfbgen.raw(30, 0, image(4, 4))]),
        final_size=(32, 32),
    ),
    # ---- ZRLE tiles
    Case("zrle packed 2-bit index >= palette size", lambda: zrle_tiles(bytes([3]) + PALETTE_3 + b"\xff" * 4)),
    Case("zrle packed 4-bit index >= palette size", lambda: zrle_tiles(bytes([5]) + bytes(15) + b"\x05" * 8)),
    Case("zrle palette RLE index >= palette size", lambda: zrle_tiles(bytes([131]) + PALETTE_3 + b"\x03" * 16)),
    Case("zrle palette RLE run index >= palette size", lambda: zrle_tiles(bytes([130]) + bytes(6) + b"\x85\x0f")),
    Case("zrle plain RLE run past the tile", lambda: zrle_tiles(b"\x80" + bytes(3) + b"\x10")),
    Case("zrle plain RLE long run past the tile", lambda: zrle_tiles(b"\x80" + bytes(3) + b"\xff\xff\x00")),
    Case(  # runs of 9 and 8 pixels in a 16-pixel tile
        "zrle plain RLE second run past the tile",
        lambda: zrle_tiles(b"\x80" + bytes(3) + b"\x08" + bytes(3) + b"\x07"),
    ),
    Case("zrle palette RLE run past the tile", lambda: zrle_tiles(bytes([130]) + bytes(6) + b"\x81\x10")),
    *(
        Case(f"zrle invalid subencoding {sub}", lambda sub=sub: zrle_tiles(bytes([sub]) + bytes(200)))
        for sub in (17, 18, 64, 100, 127, 129)
    ),
    Case("zrle length 2**32-1", lambda: zrle_payload(struct.pack(">I", 2**32 - 1))),
    Case("zrle inflate too short: raw tile", lambda: zrle_tiles(b"\x00" + bytes(47))),
    Case("zrle inflate too short: missing tile", lambda: zrle_tiles(b"\x01" + bytes(3), w=4, h=70)),
    Case("zrle inflate too short: empty", lambda: zrle_tiles(b"")),
    Case("zrle inflate too long: extra tile", lambda: zrle_tiles(b"\x01" + bytes(3) + b"\x01" + bytes(3))),
    Case("zrle inflate too long: one byte", lambda: zrle_tiles(b"\x01" + bytes(3) + b"\x00")),
    Case("zrle broken zlib", lambda: zrle_payload(struct.pack(">I", 16) + GARBAGE[:16])),
    Case(
        "zrle data after the zlib stream end",
        lambda: zrle_payload(struct.pack(">I", 14) + zlib.compress(b"\x01abc") + b"xx"),
    ),
    # ---- Tight
    *(
        Case(f"tight control type {kind}", lambda kind=kind: tight(bytes([kind << 4]) + bytes(64)))
        for kind in (10, 12, 15)
    ),
    *(Case(f"tight filter id {f}", lambda f=f: tight(b"\x40" + bytes([f]) + bytes(64))) for f in (3, 255)),
    Case("tight palette index >= size, raw data", lambda: tight_palette(2, 2, bytes([0, 1, 2, 5]))),
    Case("tight palette index >= size, zlib data", lambda: tight_palette(4, 4, bytes(15) + b"\x07")),
    Case("tight palette of 1, index 1", lambda: tight_palette(4, 4, bytes(15) + b"\x01", palette=bytes(3))),
    Case("tight inflate too short", lambda: tight_basic(4, 4, bytes(47), compressed=True)),
    Case("tight inflate too long", lambda: tight_basic(4, 4, bytes(49), compressed=True)),
    Case("tight gradient inflate too long", lambda: tight_basic(4, 4, bytes(60), filter_id=2)),
    Case("tight broken zlib", lambda: tight(b"\x00" + compact_length(8) + GARBAGE[:8])),
    Case("tight data after the zlib stream end", two_streams_ended),
    Case("tight jpeg size differs from the rect", lambda: jpeg(JPEG_16, w=16, h=8)),
    Case("tight jpeg garbage", lambda: jpeg(GARBAGE)),
    Case("tight jpeg header cut short", lambda: jpeg(JPEG_16[:20])),
    Case("tight jpeg empty", lambda: jpeg(b"")),
    Case(
        "tight jpeg length past max_update_bytes",
        lambda: tight(b"\x90" + compact_length(1 << 20), 16, 16),
        limits=Limits(max_update_bytes=4096),
    ),
    Case(
        "tight basic length past max_update_bytes",
        lambda: tight(b"\x00" + compact_length((1 << 22) - 1), 64, 64),
        limits=Limits(max_update_bytes=1 << 20),
    ),
    # ---- pseudo-encodings
    Case("desktop size too wide", lambda: update([rfbgen.desktop_size(8193, 10)])),
    Case("desktop size too high", lambda: update([rfbgen.desktop_size(10, 8193)])),
    Case("desktop size zero width", lambda: update([rfbgen.desktop_size(0, 10)])),
    Case("desktop size zero height", lambda: update([rfbgen.desktop_size(10, 0)])),
    Case(
        "desktop size over small limits",
        lambda: update([rfbgen.desktop_size(101, 50)]),
        limits=Limits(max_width=100),
    ),
    Case("extended desktop size huge", lambda: update([rfbgen.extended_desktop_size(9000, 10)])),
    Case("extended desktop size zero", lambda: update([rfbgen.extended_desktop_size(0, 0)])),
    Case("cursor over max_cursor_size", lambda: update([Rect(0, 0, 1025, 1, CURSOR)])),
    Case(
        "cursor over a small max_cursor_size",
        lambda: update([rfbgen.cursor(0, 0, np.zeros((17, 17, 4), np.uint8))]),
        limits=Limits(max_cursor_size=16),
    ),
    # ---- encodings
    Case("hextile not requested", lambda: update([Rect(0, 0, 4, 4, HEXTILE, bytes(64))])),
    Case(
        "hextile requested but not implemented",
        lambda: update([Rect(0, 0, 4, 4, HEXTILE, bytes(64))]),
        encodings=(*ALL, HEXTILE),
    ),
    Case(
        "rre requested but not implemented",
        lambda: update([Rect(0, 0, 4, 4, RRE, bytes(64))]),
        encodings=(*ALL, RRE),
    ),
    Case("unknown encoding 12345", lambda: update([Rect(0, 0, 4, 4, 12345, bytes(64))])),
    Case("unknown encoding requested", lambda: update([Rect(0, 0, 4, 4, 12345, bytes(64))]), encodings=(*ALL, 12345)),
    Case("quality level as a rect", lambda: update([Rect(0, 0, 0, 0, -23)]), encodings=(*ALL, -23)),
    Case("tight not requested", lambda: update([TightEncoder().fill(0, 0, 4, 4, (1, 2, 3))]), encodings=(RAW,)),
    Case("zrle not requested", lambda: update([ZRLEEncoder().rect(0, 0, image(4, 4))]), encodings=(RAW, TIGHT)),
    Case(
        "cursor not requested",
        lambda: update([rfbgen.cursor(0, 0, np.zeros((2, 2, 4), np.uint8))]),
        encodings=(RAW,),
    ),
    Case("desktop size not requested", lambda: update([rfbgen.desktop_size(32, 32)]), encodings=(RAW,)),
    Case("last rect not requested", lambda: update([rfbgen.last_rect()], nrects=0xFFFF), encodings=(RAW,)),
    # ---- framing and limits
    Case("not a FramebufferUpdate", lambda: b"\x02"),
    Case("server cut text", lambda: b"\x03\x00\x00\x00\x00\x00\x00\x05hello"),
    Case(
        "nrects 0xFFFF without LastRect",
        lambda: update([rfbgen.raw(0, 0, image(2, 2)), rfbgen.copyrect(4, 4, 2, 2, 0, 0)], nrects=0xFFFF),
        expect="incomplete",
    ),
    Case(
        "nrects over max_rects",
        lambda: update([rfbgen.raw(0, 0, image(1, 1))] * 5),
        limits=Limits(max_rects=4),
    ),
    Case(
        "LastRect mode over max_rects",
        lambda: update([rfbgen.raw(0, 0, image(1, 1))] * 5 + [rfbgen.last_rect()], nrects=0xFFFF),
        limits=Limits(max_rects=4),
    ),
    Case(
        "raw rect past max_update_bytes",
        lambda: update([rfbgen.raw(0, 0, image(20, 20))]),
        limits=Limits(max_update_bytes=1000),
    ),
    Case(
        "many rects past max_update_bytes",
        lambda: update([rfbgen.copyrect(1, 1, 2, 2, 0, 0)] * 10),
        limits=Limits(max_update_bytes=100),
    ),
    Case(
        "raw rect past max_update_bytes, no payload yet",
        lambda: update([Rect(0, 0, 64, 64, RAW)]),
        limits=Limits(max_update_bytes=10000),
    ),
]


def test_case_names_are_unique():
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_malformed(backend, case):
    fb = backend.Framebuffer(WIDTH, HEIGHT)
    dec = backend.UpdateDecoder(fb, case.encodings, case.limits)
    message = case.build()
    if case.expect == "incomplete":
        assert dec.feed(message) == 0
        assert not dec.failed
        return
    assert case.expect == "error"
    with pytest.raises(ProtocolError):
        dec.feed(message)
    assert dec.failed
    width, height = case.final_size
    assert fb.array.shape == (height, width, 3)
    with pytest.raises(ProtocolError):  # a failed decoder stays failed
        dec.feed(update([]))


@pytest.mark.parametrize(
    "limits, rects, nrects",
    [
        (Limits(max_rects=4), [rfbgen.copyrect(1, 1, 2, 2, 0, 0)] * 4 + [rfbgen.last_rect()], 0xFFFF),
        (Limits(max_rects=4), [rfbgen.copyrect(1, 1, 2, 2, 0, 0)] * 4, None),
        (Limits(max_update_bytes=4 + 12 + 64), [rfbgen.raw(60, 60, image(4, 4))], None),
        (Limits(max_cursor_size=16), [rfbgen.cursor(0, 0, np.zeros((16, 16, 4), np.uint8))], None),
        (Limits(max_width=100, max_height=50), [rfbgen.desktop_size(100, 50)], None),
    ],
    ids=["max_rects LastRect mode", "max_rects", "max_update_bytes", "max_cursor_size", "max_width"],
)
def test_limits_at_the_edge_are_fine(backend, limits, rects, nrects):
    """Each limit case in the table is one past a message like these, which are valid."""
    fb = backend.Framebuffer(WIDTH, HEIGHT)
    dec = backend.UpdateDecoder(fb, ALL, limits)
    message = update(rects, nrects)
    assert dec.feed(message) == len(message)


def test_decode_rect_malformed(backend):
    fb = backend.Framebuffer(WIDTH, HEIGHT)
    dec = backend.UpdateDecoder(fb, ALL)
    rect = ZRLEEncoder().rect_from_tiles(0, 0, 4, 4, bytes([77]) + bytes(48))
    with pytest.raises(ProtocolError):
        dec.decode_rect(rect.x, rect.y, rect.w, rect.h, rect.encoding, rect.payload)
    assert dec.failed


# --------------------------------------------------------------------------
# Truncation


def _valid_message() -> bytes:
    rng = np.random.default_rng(99)
    zrle, tight = ZRLEEncoder(), TightEncoder()
    return update(
        [
            rfbgen.raw(1, 2, rfbgen.random_image(rng, 3, 2)),
            rfbgen.copyrect(10, 10, 4, 4, 0, 0),
            zrle.rect(20, 0, rfbgen.palette_image(rng, 30, 20, 6, run=4)),
            tight.basic(0, 30, rfbgen.palette_image(rng, 12, 12, 9, run=2), filter="gradient", stream=1),
            tight.basic(20, 30, rfbgen.palette_image(rng, 9, 9, 2), filter="palette"),
            tight.fill(40, 40, 5, 5, (9, 9, 9)),
            tight.jpeg(40, 0, rfbgen.smooth_image(8, 8), quality=50),
            rfbgen.cursor(1, 1, np.full((4, 6, 4), 200, np.uint8)),
            rfbgen.extended_desktop_size(1, 1, status=2, reason=1),
            rfbgen.last_rect(),
        ],
        nrects=0xFFFF,
    )


def test_every_truncation_needs_more(backend):
    message = _valid_message()
    fb = backend.Framebuffer(WIDTH, HEIGHT)
    dec = backend.UpdateDecoder(fb, ALL)
    for cut in range(len(message)):
        assert dec.feed(message[:cut]) == 0, cut
    assert not fb.array.any() and not dec.failed
    assert dec.feed(message) == len(message)


def test_truncation_then_garbage(backend):
    """Whatever follows a cut, the answer is a length, 0 or a ProtocolError: nothing else."""
    message = _valid_message()
    rng = np.random.default_rng(5)
    outcomes = set()
    for cut in range(len(message)):
        fb = backend.Framebuffer(WIDTH, HEIGHT)
        dec = backend.UpdateDecoder(fb, ALL)
        data = message[:cut] + rng.integers(0, 256, 48, dtype=np.uint8).tobytes()
        try:
            consumed = dec.feed(data)
        except ProtocolError:
            assert dec.failed
            outcomes.add("error")
        else:
            assert 0 <= consumed <= len(data)
            assert fb.array.shape[2] == 3
            outcomes.add("length" if consumed else "incomplete")
    assert {"error", "incomplete"} <= outcomes


# --------------------------------------------------------------------------
# Regressions found by the fuzz campaign (tests/fuzz/crashes/)

CRASHES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz", "crashes")


@pytest.mark.parametrize("colours", [2, 3])
def test_zero_width_tight_palette_rect_at_the_right_edge_writes_nothing(backend, colours):
    """tight-zero-width-palette: a 0-wide palette rect at x = width once made
    the core paint a pixel a row, the last 3 bytes past the framebuffer."""
    fb = backend.Framebuffer(24, 20)
    dec = backend.UpdateDecoder(fb, ALL)
    background = _rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    dec.feed(update([rfbgen.raw(0, 0, background)]))
    palette = bytes(range(3 * colours))
    rect = TightEncoder().basic_data(24, 0, 0, 20, b"", filter_id=1, filter_params=bytes([colours - 1]) + palette)
    message = update([rect])
    assert dec.feed(message) == len(message)
    np.testing.assert_array_equal(fb.array, background)


def test_jpeg_whose_fatal_error_follows_a_warning_is_a_protocol_error(backend):
    """tight-jpeg-fatal-after-warning: TurboJPEG 2.1 reports the fatal error
    as a warning and writes no pixel; the rect must fail, not pass."""
    with open(os.path.join(CRASHES, "tight-jpeg-fatal-after-warning", "fatal-after-warning-24x20.jpg"), "rb") as f:
        data = f.read()
    fb = backend.Framebuffer(24, 20)
    dec = backend.UpdateDecoder(fb, ALL)
    with pytest.raises(ProtocolError, match="JPEG"):
        dec.feed(jpeg(data, 24, 20))
    assert dec.failed
