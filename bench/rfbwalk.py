"""Walk a recorded server-to-client RFB stream, independently of vncenv.

This is the benchmark's own small parser (it does not use vncenv's protocol
or decoders), so that the corpus can be checked, trimmed and taken apart
without trusting the code under test.  It knows the handshake (RFB 3.3/3.7/
3.8, security None or VNC auth) and the messages a canonical-pixel-format
client gets: FramebufferUpdate with Raw, CopyRect, ZRLE, Tight, Cursor,
DesktopSize, ExtendedDesktopSize and LastRect rects, Bell, ServerCutText,
SetColourMapEntries.

* :func:`walk` yields a :class:`Message` per server message with its offset
  and, for updates, its rects (with the payload's offset and length, and for
  Tight what kind of data it holds).
* :func:`complete_prefix` is the length of the stream up to the end of its
  last complete message (a recorder closing mid-update leaves a tail).
* :func:`summary` counts updates, rects, pixels and bytes per encoding.

Pixels are 4 bytes (Raw) and CPIXEL/TPIXEL 3 bytes: the canonical format
(32 bpp, depth 24, true colour) that every recording here asked for.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import Iterator

RAW, COPYRECT, TIGHT, ZRLE = 0, 1, 7, 16
DESKTOP_SIZE, LAST_RECT, CURSOR, EXT_DESKTOP_SIZE = -223, -224, -239, -308
PIXEL_ENCODINGS = (RAW, COPYRECT, TIGHT, ZRLE)

_BANNER = re.compile(rb"RFB (\d{3})\.(\d{3})\n")


class Incomplete(Exception):
    """The stream ends inside a message."""


class Malformed(Exception):
    """The stream is not what a canonical-format RFB client would get."""


@dataclass
class Rect:
    x: int
    y: int
    w: int
    h: int
    encoding: int
    offset: int  # of the payload (after the 12-byte header)
    length: int  # of the payload
    # Tight: "fill", "jpeg", "copy", "palette", "gradient"; its zlib data
    tight_kind: str | None = None
    tight_ctl: int = 0
    zlib_offset: int = 0  # ZRLE and Tight: where the zlib bytes start
    zlib_length: int = 0  # 0: no zlib data (fill, JPEG, or < 12 bytes sent raw)
    raw_size: int = 0  # Tight basic: bytes the zlib data inflates to


@dataclass
class Message:
    kind: str  # "update", "bell", "cut_text", "colour_map"
    offset: int
    length: int
    rects: list[Rect] = field(default_factory=list)


@dataclass
class Handshake:
    version: tuple[int, int]
    width: int
    height: int
    name: bytes
    end: int  # offset of the first normal message


def _need(data: bytes, end: int) -> None:
    if end > len(data):
        raise Incomplete


def handshake(data: bytes) -> Handshake:
    _need(data, 12)
    m = _BANNER.fullmatch(data[:12])
    if not m:
        raise Malformed(f"no RFB banner: {data[:12]!r}")
    major, minor = int(m.group(1)), int(m.group(2))
    minor = 8 if (major > 3 or minor >= 8) else (7 if minor == 7 else 3)
    pos = 12
    if minor == 3:
        _need(data, pos + 4)
        (sec,) = struct.unpack_from(">I", data, pos)
        pos += 4
        if sec == 0:
            raise Malformed("the server refused the connection")
    else:
        _need(data, pos + 1)
        n = data[pos]
        if n == 0:
            raise Malformed("the server refused the connection")
        _need(data, pos + 1 + n)
        offered = data[pos + 1 : pos + 1 + n]
        pos += 1 + n
        sec = 1 if 1 in offered else 2
    if sec == 2:
        pos += 16  # challenge
    if sec == 2 or minor == 8:
        _need(data, pos + 4)
        (result,) = struct.unpack_from(">I", data, pos)
        if result != 0:
            raise Malformed("authentication failed in the recording")
        pos += 4
    _need(data, pos + 24)
    w, h = struct.unpack_from(">HH", data, pos)
    (nlen,) = struct.unpack_from(">I", data, pos + 20)
    _need(data, pos + 24 + nlen)
    name = data[pos + 24 : pos + 24 + nlen]
    return Handshake((3, minor), w, h, name, pos + 24 + nlen)


def _compact_len(data: bytes, pos: int) -> tuple[int, int]:
    _need(data, pos + 1)
    b = data[pos]
    v, n = b & 0x7F, 1
    if b & 0x80:
        _need(data, pos + 2)
        b = data[pos + 1]
        v |= (b & 0x7F) << 7
        n = 2
        if b & 0x80:
            _need(data, pos + 3)
            v |= data[pos + 2] << 14
            n = 3
    return v, n


def _tight(data: bytes, pos: int, r: Rect) -> int:
    """Fill in r's Tight fields; return the payload length."""
    _need(data, pos + 1)
    ctl = data[pos]
    r.tight_ctl = ctl
    kind = ctl >> 4
    if kind == 8:
        r.tight_kind = "fill"
        return 4
    if kind == 9:
        n, size = _compact_len(data, pos + 1)
        r.tight_kind = "jpeg"
        r.zlib_offset = pos + 1 + size  # here: the JPEG data
        r.zlib_length = n
        return 1 + size + n
    if kind > 9:
        raise Malformed(f"Tight control byte {ctl:#x}")
    p = 1
    filt = 0
    colours = 0
    if kind & 4:
        _need(data, pos + 2)
        filt = data[pos + 1]
        p = 2
        if filt == 1:
            _need(data, pos + 3)
            colours = data[pos + 2] + 1
            p = 3 + 3 * colours
        elif filt > 2:
            raise Malformed(f"Tight filter {filt}")
    r.tight_kind = ("copy", "palette", "gradient")[filt]
    if filt == 1:
        raw = ((r.w + 7) // 8) * r.h if colours == 2 else r.w * r.h
    else:
        raw = r.w * r.h * 3
    r.raw_size = raw
    if raw < 12:
        return p + raw
    n, size = _compact_len(data, pos + p)
    r.zlib_offset = pos + p + size
    r.zlib_length = n
    return p + size + n


def _update(data: bytes, pos: int) -> Message:
    start = pos
    _need(data, pos + 4)
    (nrects,) = struct.unpack_from(">H", data, pos + 2)
    pos += 4
    msg = Message("update", start, 0)
    i = 0
    while nrects == 0xFFFF or i < nrects:
        i += 1
        _need(data, pos + 12)
        x, y, w, h, enc = struct.unpack_from(">HHHHi", data, pos)
        pos += 12
        if enc == LAST_RECT:
            break
        r = Rect(x, y, w, h, enc, pos, 0)
        if enc == RAW:
            n = w * h * 4
        elif enc == COPYRECT:
            n = 4
        elif enc == ZRLE:
            _need(data, pos + 4)
            (n,) = struct.unpack_from(">I", data, pos)
            r.zlib_offset, r.zlib_length = pos + 4, n
            n += 4
        elif enc == TIGHT:
            n = _tight(data, pos, r)
        elif enc == CURSOR:
            n = w * h * 4 + ((w + 7) // 8) * h
        elif enc == DESKTOP_SIZE:
            n = 0
        elif enc == EXT_DESKTOP_SIZE:
            _need(data, pos + 1)
            n = 4 + 16 * data[pos]
        else:
            raise Malformed(f"rect encoding {enc} at offset {pos - 12}")
        _need(data, pos + n)
        r.length = n
        pos += n
        msg.rects.append(r)
    msg.length = pos - start
    return msg


def walk(data: bytes, hs: Handshake | None = None) -> Iterator[Message]:
    """Every complete server message after the handshake; raises Incomplete at a cut tail."""
    hs = hs or handshake(data)
    pos = hs.end
    end = len(data)
    while pos < end:
        t = data[pos]
        if t == 0:
            msg = _update(data, pos)
        elif t == 2:
            msg = Message("bell", pos, 1)
        elif t == 3:
            _need(data, pos + 8)
            (n,) = struct.unpack_from(">I", data, pos + 4)
            _need(data, pos + 8 + n)
            msg = Message("cut_text", pos, 8 + n)
        elif t == 1:
            _need(data, pos + 6)
            (n,) = struct.unpack_from(">H", data, pos + 4)
            _need(data, pos + 6 + 6 * n)
            msg = Message("colour_map", pos, 6 + 6 * n)
        else:
            raise Malformed(f"server message type {t} at offset {pos}")
        yield msg
        pos += msg.length


def complete_prefix(data: bytes) -> int:
    """Length of the stream up to the end of its last complete message."""
    hs = handshake(data)
    last = hs.end
    try:
        for msg in walk(data, hs):
            last = msg.offset + msg.length
    except Incomplete:
        pass
    return last


def summary(data: bytes) -> dict:
    """Counts of the stream, the way vncenv counts them: rects exclude the
    LastRect marker; pixels are the areas of Raw, CopyRect, ZRLE and Tight rects."""
    hs = handshake(data)
    updates = rects = pixels = 0
    by_enc: dict[str, int] = {}
    tight_kinds: dict[str, int] = {}
    jpeg_bytes = zlib_bytes = 0
    for msg in walk(data, hs):
        if msg.kind != "update":
            continue
        updates += 1
        for r in msg.rects:
            rects += 1
            by_enc[str(r.encoding)] = by_enc.get(str(r.encoding), 0) + 1
            if r.encoding in PIXEL_ENCODINGS:
                pixels += r.w * r.h
            if r.tight_kind:
                tight_kinds[r.tight_kind] = tight_kinds.get(r.tight_kind, 0) + 1
                if r.tight_kind == "jpeg":
                    jpeg_bytes += r.zlib_length
                else:
                    zlib_bytes += r.zlib_length
            elif r.encoding == ZRLE:
                zlib_bytes += r.zlib_length
    return {
        "width": hs.width,
        "height": hs.height,
        "bytes": len(data),
        "updates": updates,
        "rects": rects,
        "pixels": pixels,
        "rects_by_encoding": by_enc,
        "tight_kinds": tight_kinds,
        "zlib_bytes": zlib_bytes,
        "jpeg_bytes": jpeg_bytes,
    }
