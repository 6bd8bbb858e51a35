"""Shared parts of the atheris targets in this folder (not a target itself).

* :func:`instrumented` -- the ``with`` block a target imports vncenv under, so
  that atheris instruments the pure-Python modules it exercises (only when the
  file runs as a fuzzer; imported by pytest it is a no-op).
* The *rect input format* of the per-decoder targets (``fuzz_raw.py``,
  ``fuzz_zrle.py``, ...) and :func:`run_rect_target`, which turns one input
  into FramebufferUpdate messages and runs them through the compiled core
  and the pure-Python reference, asserting that both agree.
* :func:`fuzz_main` -- the ``__main__`` of every target.

Rect input format (all integers big-endian)::

    input  := u16 fb_width, u16 fb_height, u8 flags, chunk*
    chunk  := u16 x, u16 y, u16 w, u16 h, u8 mode, u16 length, <length> bytes of body

The framebuffer is ``1 + fb_width % MAX_SIDE`` by ``1 + fb_height % MAX_SIDE``.
``flags``: bit 0 decodes each rect with ``decode_rect`` instead of ``feed``;
bit 1 sends one update per rect (default: one update holding every rect);
bit 2 ends updates with LastRect (``nrects`` = 0xFFFF); bit 3 first feeds
half of each message (the decoders must answer "need more", or fail alike).
A chunk cut short by the end of the input keeps the body bytes there are.
Each target's ``wrap`` turns ``(x, y, w, h, mode, body)`` into a rect: it
picks the encoding from ``mode`` and builds the payload from ``body`` (for
ZRLE and Tight, by compressing it on the target's own zlib streams, so the
fuzzer works on the inflated bytes; ``mode`` bit 0 passes the body through
verbatim instead).
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
ROOT = os.path.dirname(TESTS)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)  # rfbgen

#: Python packages a target instruments (the core itself is C: ASan covers it).
INSTRUMENT = ("vncenv",)


@contextlib.contextmanager
def instrumented(active: bool) -> Iterator[None]:
    """Import under ``atheris.instrument_imports`` when ``active`` (running as a fuzzer)."""
    if not active:
        yield
        return
    import atheris

    with atheris.instrument_imports(include=list(INSTRUMENT)):
        yield


def fuzz_main(test_one_input: Callable[[bytes], None]) -> None:
    """Run ``test_one_input`` under atheris with the command line's libFuzzer flags."""
    import atheris

    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


# ---------------------------------------------------------------------------
# The rect input format

MAX_SIDE = 512
MAX_RECTS = 16
HEADER = struct.Struct(">HHB")
CHUNK = struct.Struct(">HHHHBH")

FLAG_DECODE_RECT = 1
FLAG_UPDATE_PER_RECT = 2
FLAG_LAST_RECT = 4
FLAG_HALF_FIRST = 8

RAW, COPYRECT, TIGHT, ZRLE = 0, 1, 7, 16
DESKTOP_SIZE, LAST_RECT, CURSOR, EXTENDED_DESKTOP_SIZE = -223, -224, -239, -308
ALL_ENCODINGS = (RAW, COPYRECT, TIGHT, ZRLE, DESKTOP_SIZE, LAST_RECT, CURSOR, EXTENDED_DESKTOP_SIZE)


@dataclass(frozen=True)
class Chunk:
    x: int
    y: int
    w: int
    h: int
    mode: int
    body: bytes


def parse_rect_input(data: bytes) -> tuple[int, int, int, list[Chunk]]:
    """``(width, height, flags, chunks)`` of an input in the rect format."""
    if len(data) < HEADER.size:
        data = data + bytes(HEADER.size - len(data))
    fb_w, fb_h, flags = HEADER.unpack_from(data)
    chunks = []
    pos = HEADER.size
    while pos + CHUNK.size <= len(data) and len(chunks) < MAX_RECTS:
        x, y, w, h, mode, length = CHUNK.unpack_from(data, pos)
        pos += CHUNK.size
        chunks.append(Chunk(x, y, w, h, mode, data[pos : pos + length]))
        pos += length
    return 1 + fb_w % MAX_SIDE, 1 + fb_h % MAX_SIDE, flags, chunks


def rect_input(width: int, height: int, flags: int, chunks: Sequence[Chunk | tuple]) -> bytes:
    """Build an input in the rect format (for seeds); ``width``/``height`` are 1..MAX_SIDE."""
    out = [HEADER.pack(width - 1, height - 1, flags)]
    for c in chunks:
        c = c if isinstance(c, Chunk) else Chunk(*c)
        out.append(CHUNK.pack(c.x, c.y, c.w, c.h, c.mode, len(c.body)) + c.body)
    return b"".join(out)


# ---------------------------------------------------------------------------
# Differential run: the core against the reference


def limits():
    from vncenv.limits import Limits

    return Limits(
        max_width=MAX_SIDE,
        max_height=MAX_SIDE,
        max_cursor_size=64,
        max_update_bytes=1 << 20,
        max_rects=4096,
    )


COUNTERS = (
    "last_rects", "last_pixels", "last_bytes", "resized", "cursor_changed", "updates", "rects", "bytes", "pixels",
)


class Disagreement(AssertionError):
    """The core and the reference did not agree on an input."""


def tolerated(core: Any, ref_kind: str, core_kind: str) -> bool:
    """The one accepted difference (tests/test_differential.py): a core on
    ISA-L rejects some corrupt zlib data that zlib accepts."""
    return getattr(core, "INFLATER", "zlib") == "isal" and (ref_kind, core_kind) == ("fed", "error")


def _call(fn: Callable[[], int]) -> tuple[str, int]:
    from vncenv.error import ProtocolError

    try:
        return "fed", fn()
    except ProtocolError:
        return "error", 0


def _same_state(pairs: list[tuple[Any, Any]], counters: bool, where: str) -> None:
    import numpy as np

    (ref_fb, ref), (core_fb, core) = pairs
    if ref_fb.array.shape != core_fb.array.shape:
        raise Disagreement(f"{where}: framebuffer shapes {ref_fb.array.shape} vs {core_fb.array.shape}")
    if not np.array_equal(ref_fb.array, core_fb.array):
        raise Disagreement(f"{where}: framebuffer pixels differ")
    if counters:
        for name in COUNTERS:
            if getattr(ref, name) != getattr(core, name):
                raise Disagreement(f"{where}: {name} {getattr(ref, name)} vs {getattr(core, name)}")
    rc, cc = ref.cursor, core.cursor
    if (rc is None) != (cc is None):
        raise Disagreement(f"{where}: cursor {rc is not None} vs {cc is not None}")
    if rc is not None and (rc[1:] != cc[1:] or rc[0].shape != cc[0].shape or not np.array_equal(rc[0], cc[0])):
        raise Disagreement(f"{where}: cursors differ")


def _rect_bytes(x: int, y: int, w: int, h: int, encoding: int, payload: bytes) -> bytes:
    return struct.pack(">HHHHi", x, y, w, h, encoding) + payload


def _update(rects: Sequence[bytes], last_rect: bool) -> bytes:
    if last_rect:
        return struct.pack(">BxH", 0, 0xFFFF) + b"".join(rects) + _rect_bytes(0, 0, 0, 0, LAST_RECT, b"")
    return struct.pack(">BxH", 0, len(rects)) + b"".join(rects)


def run_differential(
    width: int,
    height: int,
    flags: int,
    rects: Sequence[tuple[int, int, int, int, int, bytes]],
    encodings: Sequence[int] = ALL_ENCODINGS,
) -> None:
    """Decode ``rects`` (x, y, w, h, encoding, payload) with both backends; raise
    :class:`Disagreement` when they differ.  Only ``ProtocolError`` may escape
    a decoder: anything else propagates (a crash for the fuzzer)."""
    import vncenv._core as core
    import vncenv._reference as reference

    lim = limits()
    pairs = []
    for module in (reference, core):
        fb = module.Framebuffer(width, height)
        pairs.append((fb, module.UpdateDecoder(fb, encodings, lim)))

    if flags & FLAG_DECODE_RECT:
        for i, rect in enumerate(rects):
            results = [_call(lambda dec=dec: dec.decode_rect(*rect)) for _, dec in pairs]
            if results[0] != results[1]:
                if tolerated(core, results[0][0], results[1][0]):
                    return
                raise Disagreement(f"decode_rect {i}: reference {results[0]} vs core {results[1]}")
            if results[0][0] == "error":
                _check_failed(pairs)
                return
            _same_state(pairs, counters=False, where=f"after decode_rect {i}")
        return

    encoded = [_rect_bytes(*r) for r in rects]
    if flags & FLAG_UPDATE_PER_RECT:
        messages = [_update([r], flags & FLAG_LAST_RECT) for r in encoded]
    else:
        messages = [_update(encoded, flags & FLAG_LAST_RECT)]
    stream = b"".join(messages)
    offset = 0
    while offset < len(stream):
        if flags & FLAG_HALF_FIRST:
            part = stream[: offset + (len(stream) - offset) // 2]
            results = [_call(lambda dec=dec: dec.feed(part, offset)) for _, dec in pairs]
            if results[0] != results[1]:
                if tolerated(core, results[0][0], results[1][0]):
                    return
                raise Disagreement(f"half message at {offset}: reference {results[0]} vs core {results[1]}")
            if results[0][0] == "error":
                _check_failed(pairs)
                return
            if results[0][1]:  # a whole message (or LastRect) fit in the first half
                _same_state(pairs, counters=True, where=f"after the update at {offset}")
                offset += results[0][1]
                continue
        results = [_call(lambda dec=dec: dec.feed(stream, offset)) for _, dec in pairs]
        if results[0] != results[1]:
            if tolerated(core, results[0][0], results[1][0]):
                return
            raise Disagreement(f"update at {offset}: reference {results[0]} vs core {results[1]}")
        kind, n = results[0]
        if kind == "error":
            _check_failed(pairs)
            return
        if n == 0:
            return
        _same_state(pairs, counters=True, where=f"after the update at {offset}")
        offset += n


def _check_failed(pairs: list[tuple[Any, Any]]) -> None:
    for name, (_, dec) in zip(("reference", "core"), pairs):
        if not dec.failed:
            raise Disagreement(f"{name} raised ProtocolError but is not failed")


Wrap = Callable[[Chunk, Any], "tuple[int, bytes]"]


#: Bugs found and reported (tests/fuzz/crashes/<name>/), by a test on one rect.
#: ``VNCENV_FUZZ_SKIP=name,...`` makes the per-decoder targets pass over inputs
#: that hold such a rect, so a campaign can look for other bugs until they
#: are fixed.  Off by default: a campaign must show them.
KNOWN_BUGS: dict[str, Callable[..., bool]] = {}  # none open: the two found so far are fixed
SKIP = [KNOWN_BUGS[name] for name in os.environ.get("VNCENV_FUZZ_SKIP", "").split(",") if name]


def run_rect_target(data: bytes, wrap: Wrap, new_state: Callable[[], Any] = lambda: None) -> None:
    """One input of a per-decoder target: parse, wrap each chunk, run both backends."""
    width, height, flags, chunks = parse_rect_input(data)
    state = new_state()
    rects = []
    for c in chunks:
        encoding, payload = wrap(c, state)
        rects.append((c.x, c.y, c.w, c.h, encoding, payload))
    if SKIP and any(known(*rect) for rect in rects for known in SKIP):
        return
    run_differential(width, height, flags, rects)


# ---------------------------------------------------------------------------
# Helpers the ZRLE and Tight targets share with make_corpus.py


def compact_length(n: int) -> bytes:
    """Tight's compact length (n < 2**22)."""
    if n < 1 << 7:
        return bytes([n])
    if n < 1 << 14:
        return bytes([n & 0x7F | 0x80, n >> 7])
    return bytes([n & 0x7F | 0x80, (n >> 7) & 0x7F | 0x80, (n >> 14) & 0xFF])


def tight_data_size(w: int, h: int, filter_id: int, colours: int) -> int:
    """Bytes of filtered data a basic Tight rect needs."""
    if filter_id == 1:
        return ((w + 7) // 8) * h if colours == 2 else w * h
    return w * h * 3


def stream_limits() -> Any:
    """The caps of the whole-stream targets (RFB parser, FBS): small enough
    that a fuzzed size reaches them, big enough for the real recordings' seeds."""
    from vncenv.limits import Limits

    return Limits(
        max_width=1280,
        max_height=1024,
        max_cursor_size=64,
        max_cut_text=1 << 16,
        max_rects=1 << 14,
        max_update_bytes=1 << 21,
        max_name_length=1024,
        max_reason_length=1024,
    )
