"""Pure-Python reference decoder: the oracle for the compiled core.

This module implements the decode contract of ``ARCHITECTURE.md`` ("The
decode contract") with numpy, zlib-ng (stdlib zlib when zlib-ng is missing)
and TurboJPEG (Pillow when PyTurboJPEG cannot load libturbojpeg).  It is the
backend selected by ``VNCENV_DECODER=python`` and the oracle the differential
tests compare the core with, so it is written for clarity first; whole-rect
work still goes through numpy so that it is usable as a fallback.

How ``UpdateDecoder.feed`` works
--------------------------------
Each call runs two passes over the message that starts at ``data[offset]``:

1. **Framing** walks the message header and every rect header and payload
   *without decompressing anything*, and finds where each payload lies.  It
   answers "need more data" (``feed`` returns 0, nothing changes) as soon as
   a byte it must read is missing.  It raises ``ProtocolError``, even while
   the message is incomplete, for exactly the problems it must see to find
   where a rect ends, in message order:

   * a first byte other than 0 (not a FramebufferUpdate), once it is there;
   * ``nrects`` over ``limits.max_rects``, once the 4-byte header is there
     (``nrects`` = 0xFFFF is LastRect mode: there rect number
     ``max_rects + 1``, not counting the LastRect marker, is the error once
     its header is there);
   * an encoding that was not requested, or is not implemented;
   * a ZRLE length over ``limits.max_update_bytes``;
   * a Tight control type over 9, a Tight filter id over 2;
   * a cursor with w or h over ``limits.max_cursor_size``;
   * a rect whose end (known from its header and length fields) lies past
     ``limits.max_update_bytes`` from the message start: raised *before*
     waiting for its payload, so an over-long message is never buffered.

2. **Decoding** runs only once the whole message is present.  It decodes the
   rects in order into the framebuffer and raises for everything else: a
   rect or CopyRect source outside the framebuffer *as it is at that rect*
   (after any DesktopSize earlier in the update), a DesktopSize or accepted
   ExtendedDesktopSize of 0 or over the limits, and every error found inside
   compressed or JPEG data.  A rect decoded before the failing one may
   already have been written; the decoder is failed anyway.

Other choices the contract leaves open (the core makes the same ones):

* ``last_rects`` / ``rects`` count the rects of the update, not the LastRect
  marker (as ARCHITECTURE.md says).
* A DesktopSize or accepted ExtendedDesktopSize to a *new* size reallocates
  the framebuffer (zeroed, a new ``.array``) and sets ``resized``; to the
  current size it changes nothing.
* The cursor's RGB values are kept as sent where the mask bit is clear
  (alpha 0).  A 0-by-0 cursor is an empty ``(0, 0, 4)`` array with its hotspot.
* A rect is inside the framebuffer when ``x + w <= width`` and
  ``y + h <= height``, zero-area rects included.
* ZRLE and Tight runs (ARCHITECTURE.md): the consecutive ZRLE (Tight) rects
  of an update are inflated together, a run at a time, within the same caps
  as the core.
* Zlib: "inflated data too long" means the rect's data still yields output
  after the needed bytes; input that yields no more output (the sync-flush
  marker) is fine.  Data after the end of a zlib stream is an error.
* JPEG: decoded by libjpeg-turbo's TurboJPEG API (PyTurboJPEG, or the
  library through ctypes where PyTurboJPEG cannot load it).  A warning
  while reading the header is not a failure; any failure of the decode is,
  warnings included (TurboJPEG 2.1 reports a fatal error that follows a
  warning as a warning, with no pixel written).
* ``decode_rect`` raises ``ProtocolError`` for a payload that is too short
  (it cannot answer "need more") and fails the decoder; it updates no
  counters and does not check ``max_update_bytes``.

The caller's buffer is only read through a ``memoryview`` that is released
before ``feed`` returns, so a growing ``bytearray`` may be extended between
calls.  ``feed`` re-frames the message from its start on each call; the cost
is per rect header, not per payload byte.
"""

from __future__ import annotations

import contextlib
import operator
import struct
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple, Union

import numpy as np

from .error import ProtocolError, UsageError
from .limits import DEFAULT_LIMITS, Limits
from .vnc.constants import Encoding

try:
    from zlib_ng import zlib_ng as _zlib
except ImportError:  # pragma: no cover - zlib-ng is a dependency of the reference
    import zlib as _zlib  # type: ignore[no-redef]

__all__ = ["Framebuffer", "UpdateDecoder"]

Buffer = Union[bytes, bytearray, memoryview, np.ndarray]

_LAST_RECT_MODE = 0xFFFF
_UPDATE_HEADER = struct.Struct(">BBH")  # type, padding, nrects
_RECT_HEADER = struct.Struct(">HHHHi")  # x, y, w, h, encoding
_U16_PAIR = struct.Struct(">HH")
_U32 = struct.Struct(">I")
_ZRLE_TILE = 64
_ZRLE_MAX_PALETTE_RLE = 127
# a run of consecutive ZRLE rects grows while its inflated bound and its zlib
# data stay within these (the core's ZRLE_RUN_MAX_*)
_ZRLE_RUN_MAX_INFLATED = 1 << 20
_ZRLE_RUN_MAX_ZLIB = 1 << 20
# and a run of consecutive Tight rects, while their filtered data and their
# zlib data stay within these (the core's TIGHT_RUN_MAX_*)
_TIGHT_RUN_MAX_INFLATED = 1 << 20
_TIGHT_RUN_MAX_ZLIB = 1 << 20
_TIGHT_MIN_TO_COMPRESS = 12
_TIGHT_FILL = 8
_TIGHT_JPEG = 9
_TIGHT_MAX_FILTER = 2  # 0 copy, 1 palette, 2 gradient
_EXTENDED_SCREEN_BYTES = 16

_NAMES: dict[int, str] = {
    Encoding.RAW: "Raw",
    Encoding.COPYRECT: "CopyRect",
    Encoding.TIGHT: "Tight",
    Encoding.ZRLE: "ZRLE",
    Encoding.DESKTOP_SIZE: "DesktopSize",
    Encoding.LAST_RECT: "LastRect",
    Encoding.CURSOR: "Cursor",
    Encoding.EXTENDED_DESKTOP_SIZE: "ExtendedDesktopSize",
}
"""The implemented encodings, by number."""

_PIXEL_ENCODINGS = frozenset({Encoding.RAW, Encoding.COPYRECT, Encoding.TIGHT, Encoding.ZRLE})
"""Encodings whose rect is an area of the framebuffer (bounds-checked, counted in pixels)."""


def _encoding_name(encoding: int) -> str:
    """``"Tight (7)"``, ``"Hextile (5)"``, ``"12345"``: an encoding for error messages."""
    name = _NAMES.get(encoding)
    if name is None:
        try:
            name = Encoding(encoding).name.replace("_", " ").title().replace(" ", "")
        except ValueError:
            return str(encoding)
    return f"{name} ({encoding})"


class _Malformed(Exception):
    """A protocol violation found below the rect level; the message is the problem alone."""


class _Incomplete(Exception):
    """The message continues past the bytes given."""


def _checked_int(name: str, value: Any, low: int, high: int) -> int:
    """``value`` as an int in ``[low, high]``, else a UsageError."""
    try:
        value = operator.index(value)
    except TypeError:
        raise UsageError(f"{name} must be an int, not {type(value).__name__}") from None
    if not low <= value <= high:
        raise UsageError(f"{name} = {value} outside [{low}, {high}]")
    return value


@contextlib.contextmanager
def _byte_view(data: Buffer) -> Iterator[memoryview]:
    """A flat unsigned-byte view of ``data``, released on exit (so a bytearray can grow again)."""
    try:
        view = memoryview(data)
    except TypeError:
        raise UsageError(f"data must be a buffer, not {type(data).__name__}") from None
    with view:
        try:
            flat = view.cast("B")
        except TypeError:
            raise UsageError("data must be a C-contiguous buffer") from None
        with flat:
            yield flat


# --------------------------------------------------------------------------
# Framebuffer


_MAX_SIDE = 32767


def _zeroed(width: int, height: int) -> np.ndarray:
    """A zeroed ``(height, width, 3)`` array; each side must be 1..32767 (as in the core)."""
    width = _checked_int("framebuffer width", width, 1, _MAX_SIDE)
    height = _checked_int("framebuffer height", height, 1, _MAX_SIDE)
    return np.zeros((height, width, 3), dtype=np.uint8)


class Framebuffer:
    """The decoded screen: a C-contiguous ``(height, width, 3)`` uint8 RGB array.

    :param width: width in pixels.
    :param height: height in pixels.
    """

    __slots__ = ("_array",)

    def __init__(self, width: int, height: int) -> None:
        self._array = _zeroed(width, height)

    @property
    def array(self) -> np.ndarray:
        """The live buffer decoders write into; replaced by :meth:`resize`."""
        return self._array

    @property
    def width(self) -> int:
        return self._array.shape[1]

    @property
    def height(self) -> int:
        return self._array.shape[0]

    def resize(self, width: int, height: int) -> None:
        """Replace :attr:`array` by a new zeroed array; holders of the old one keep it."""
        self._array = _zeroed(width, height)

    def __repr__(self) -> str:
        return f"Framebuffer({self.width}, {self.height})"


# --------------------------------------------------------------------------
# Framing


class _Reader:
    """Big-endian reads over a message that may be incomplete.

    Positions are relative to the message start ``base`` in ``buf``.  Fields
    are read with :meth:`take` (raises :class:`_Incomplete` when they have
    not arrived); payload bytes are passed over with :meth:`skip`, and the
    caller checks the end position against the limit and the data.
    """

    __slots__ = ("_buf", "_base", "available", "pos")

    def __init__(self, buf: memoryview, base: int) -> None:
        self._buf = buf
        self._base = base
        self.available = len(buf) - base
        self.pos = 0

    def take(self, n: int) -> int:
        """Claim the next ``n`` bytes, which must be there; return the position of the first."""
        start = self.pos
        if start + n > self.available:
            raise _Incomplete
        self.pos = start + n
        return start

    def skip(self, n: int) -> int:
        """Pass over the next ``n`` bytes, there or not; return the position of the first."""
        self.pos += n
        return self.pos - n

    def unpack(self, layout: struct.Struct) -> tuple[int, ...]:
        return layout.unpack_from(self._buf, self._base + self.take(layout.size))

    def u8(self) -> int:
        return self._buf[self._base + self.take(1)]

    def compact_length(self) -> int:
        """Tight's compact length: 7 bits per byte, low first, bit 7 = more; byte 3 is 8 bits."""
        value = 0
        for shift in (0, 7):
            byte = self.u8()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
        return value | (self.u8() << 14)


class _Tight(NamedTuple):
    """What framing learned about a Tight rect."""

    control: int  # the compression-control byte
    kind: int  # control >> 4: 0..7 basic, 8 fill, 9 JPEG
    filter_id: int  # basic only: 0 copy (also when no filter byte), 1 palette, 2 gradient
    palette: tuple[int, int]  # byte range of the palette TPIXELs (empty unless palette)
    data: tuple[int, int]  # byte range of the TPIXEL / JPEG / raw or zlib data
    compressed: bool  # basic only: the data is zlib, not raw
    size: int  # basic only: bytes of filtered data the rect needs


@dataclass(slots=True)
class _Rect:
    """One framed rect: its header and where its payload lies in the message."""

    index: int
    x: int
    y: int
    w: int
    h: int
    encoding: int
    start: int = 0  # first payload byte, relative to the message
    end: int = 0  # one past the last payload byte
    info: Any = None  # per encoding: CopyRect source, ZRLE data start, _Tight

    def context(self) -> str:
        where = f"rect {self.index}" if self.index >= 0 else "rect"
        return f"{where} ({self.x}, {self.y}) {self.w}x{self.h} {_encoding_name(self.encoding)}"


class _Update(NamedTuple):
    """A framed, complete message."""

    rects: list[_Rect]  # the LastRect marker excluded
    length: int


def _tight_data_size(w: int, h: int, filter_id: int, colours: int) -> int:
    """Bytes of filtered Tight data for a basic rect."""
    if filter_id == 1:
        return ((w + 7) // 8) * h if colours == 2 else w * h
    return w * h * 3


# --------------------------------------------------------------------------
# Pixel helpers (whole arrays, no per-pixel Python)


def _pixels(data: Any, count: int) -> np.ndarray:
    """``count`` packed RGB pixels as a ``(count, 3)`` uint8 array."""
    return np.frombuffer(data, dtype=np.uint8, count=count * 3).reshape(count, 3)


def _unpack_indices(data: Any, w: int, h: int, bits: int) -> np.ndarray:
    """Unpack MSB-first ``bits``-bit indices, rows padded to a byte, into an ``(h, w)`` array."""
    row_bytes = (w * bits + 7) // 8
    packed = np.frombuffer(data, dtype=np.uint8, count=row_bytes * h).reshape(h, row_bytes)
    shifts = np.arange(8 - bits, -1, -bits, dtype=np.uint8)
    indices = (packed[:, :, None] >> shifts) & ((1 << bits) - 1)
    return indices.reshape(h, row_bytes * (8 // bits))[:, :w]


def _lookup(palette: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """``palette[indices]``, refusing an index past the palette."""
    if indices.size and int(indices.max()) >= len(palette):
        raise _Malformed(f"palette index {int(indices.max())} >= palette size {len(palette)}")
    return palette[indices]


def _undo_gradient(residual: np.ndarray) -> np.ndarray:
    """Invert Tight's gradient filter on an ``(h, w, 3)`` array of residuals.

    Pixel (y, x) depends on its left, upper and upper-left neighbours, so all
    pixels of one anti-diagonal ``x + y = d`` are independent: the loop runs
    over the ``w + h - 1`` diagonals with numpy inside each.
    """
    h, w, _ = residual.shape
    out = np.zeros((h + 1, w + 1, 3), dtype=np.int16)  # row 0 and column 0 stay 0
    res = residual.astype(np.int16)
    for d in range(w + h - 1):
        ys = np.arange(max(0, d - w + 1), min(d, h - 1) + 1)
        xs = d - ys
        prediction = out[ys + 1, xs] + out[ys, xs + 1] - out[ys, xs]
        np.clip(prediction, 0, 255, out=prediction)
        out[ys + 1, xs + 1] = (prediction + res[ys, xs]) & 0xFF
    return out[1:, 1:].astype(np.uint8)


# --------------------------------------------------------------------------
# Zlib


def _inflate(stream: Any, data: Any, size: int) -> bytes:
    """Inflate ``data`` on ``stream``; return at most ``size`` bytes of output.

    Raises :class:`_Malformed` on a zlib error, when ``data`` yields output
    beyond ``size`` bytes, or on data after the end of the zlib stream.
    Input that yields no output (a sync-flush marker) is consumed.
    """
    try:
        if size:
            out = stream.decompress(data, size)
            tail = stream.unconsumed_tail
        else:
            out, tail = b"", data
        extra = stream.decompress(tail, 1)
    except _zlib.error as exc:
        raise _Malformed(f"zlib error: {exc}") from None
    if extra or stream.unconsumed_tail:
        raise _Malformed(f"inflated data is longer than the {size} bytes the rect can use")
    if stream.unused_data:
        raise _Malformed("data after the end of the zlib stream")
    return out


# --------------------------------------------------------------------------
# ZRLE tiles


class _TileData:
    """A reader over a ZRLE rect's inflated bytes."""

    __slots__ = ("_buf", "pos")

    def __init__(self, buf: bytes) -> None:
        self._buf = buf
        self.pos = 0

    def take(self, n: int) -> memoryview:
        end = self.pos + n
        if end > len(self._buf):
            raise _Malformed("inflated data ends inside the tile")
        view = memoryview(self._buf)[self.pos : end]
        self.pos = end
        return view

    def byte(self) -> int:
        if self.pos >= len(self._buf):
            raise _Malformed("inflated data ends inside the tile")
        self.pos += 1
        return self._buf[self.pos - 1]

    def pixels(self, count: int) -> np.ndarray:
        return _pixels(self.take(3 * count), count)

    def run_length(self, left: int) -> int:
        """A run length (bytes summed while 255, plus the last, plus 1) of at most ``left``."""
        total = 0
        while True:
            byte = self.byte()
            total += byte
            if byte != 255:
                break
        if total + 1 > left:
            raise _Malformed(f"run of {total + 1} pixels past the end of the tile ({left} left)")
        return total + 1

    def left(self) -> int:
        return len(self._buf) - self.pos


def _zrle_max_inflated(w: int, h: int) -> int:
    """An upper bound on the inflated size of a w x h ZRLE rect.

    The largest tile is palette RLE: 1 + 127 * 3 bytes of header, then at
    most 4 bytes per pixel (plain RLE runs of one pixel cost 3 + 1).
    """
    tiles = -(-w // _ZRLE_TILE) * -(-h // _ZRLE_TILE)
    return tiles * (1 + 3 * _ZRLE_MAX_PALETTE_RLE) + 4 * w * h


def _zrle_tile(src: _TileData, tile: np.ndarray) -> None:
    """Decode one ZRLE tile from ``src`` into the ``(th, tw, 3)`` view ``tile``."""
    th, tw = tile.shape[:2]
    count = th * tw
    sub = src.byte()
    if sub == 0:  # raw CPIXELs
        tile[...] = src.pixels(count).reshape(th, tw, 3)
    elif sub == 1:  # solid
        tile[...] = src.pixels(1)[0]
    elif sub <= 16:  # packed palette
        palette = src.pixels(sub)
        bits = 1 if sub == 2 else 2 if sub <= 4 else 4
        packed = src.take(((tw * bits + 7) // 8) * th)
        tile[...] = _lookup(palette, _unpack_indices(packed, tw, th, bits))
    elif sub == 128:  # plain RLE
        colours: list[bytes] = []
        runs: list[int] = []
        left = count
        while left:
            colours.append(bytes(src.take(3)))
            runs.append(src.run_length(left))
            left -= runs[-1]
        tile[...] = np.repeat(_pixels(b"".join(colours), len(runs)), runs, axis=0).reshape(th, tw, 3)
    elif sub >= 130:  # palette RLE
        size = sub - 128
        palette = src.pixels(size)
        indices: list[int] = []
        runs = []
        left = count
        while left:
            byte = src.byte()
            index = byte & 0x7F
            if index >= size:
                raise _Malformed(f"palette index {index} >= palette size {size}")
            indices.append(index)
            runs.append(src.run_length(left) if byte & 0x80 else 1)
            left -= runs[-1]
        tile[...] = palette[np.repeat(indices, runs)].reshape(th, tw, 3)
    else:
        raise _Malformed(f"invalid subencoding {sub}")


def _zrle_tiles(src: _TileData, dst: np.ndarray) -> None:
    """Decode the 64x64 tiles of a ZRLE rect from its run's inflated bytes into ``dst``."""
    h, w = dst.shape[:2]
    for ty in range(0, h, _ZRLE_TILE):
        for tx in range(0, w, _ZRLE_TILE):
            try:
                _zrle_tile(src, dst[ty : ty + _ZRLE_TILE, tx : tx + _ZRLE_TILE])
            except _Malformed as exc:
                raise _Malformed(f"tile ({tx}, {ty}): {exc}") from None


# --------------------------------------------------------------------------
# JPEG


class _LibTurboJpeg:
    """libturbojpeg's TurboJPEG 2 API through ctypes: the fallback when PyTurboJPEG cannot load.

    (PyTurboJPEG 2 wants libjpeg-turbo 3; Debian 12 ships 2.1.)  These are the
    calls the core makes, so both backends decode JPEG identically.
    """

    _TJPF_RGB = 0

    def __init__(self) -> None:
        import ctypes
        import ctypes.util

        name = ctypes.util.find_library("turbojpeg") or "libturbojpeg.so.0"
        lib = ctypes.CDLL(name)
        handle, buf, size = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_ulong
        i32, i32p = ctypes.c_int, ctypes.POINTER(ctypes.c_int)
        lib.tjInitDecompress.restype = handle
        lib.tjInitDecompress.argtypes = []
        lib.tjDestroy.argtypes = [handle]
        lib.tjDecompressHeader3.argtypes = [handle, buf, size, i32p, i32p, i32p, i32p]
        lib.tjDecompress2.argtypes = [
            handle, buf, size, ctypes.c_void_p, i32, i32, i32, i32, i32
        ]
        lib.tjGetErrorCode.argtypes = [handle]
        lib.tjGetErrorStr2.argtypes = [handle]
        lib.tjGetErrorStr2.restype = ctypes.c_char_p
        self._lib = lib
        self._ctypes = ctypes

    def decode(self, data: bytes, width: int, height: int) -> np.ndarray:
        ctypes, lib = self._ctypes, self._lib
        handle = lib.tjInitDecompress()
        if not handle:
            raise OSError("tjInitDecompress failed")
        try:
            size = [ctypes.c_int() for _ in range(4)]
            if lib.tjDecompressHeader3(handle, data, len(data), *(ctypes.byref(v) for v in size)):
                raise OSError(lib.tjGetErrorStr2(handle).decode(errors="replace"))
            _check_jpeg_size((size[0].value, size[1].value), width, height)
            image = np.empty((height, width, 3), dtype=np.uint8)
            pointer = image.ctypes.data_as(ctypes.c_void_p)
            pitch = width * 3
            if lib.tjDecompress2(handle, data, len(data), pointer, width, pitch, height, self._TJPF_RGB, 0):
                raise OSError(lib.tjGetErrorStr2(handle).decode(errors="replace"))
            return image
        finally:
            lib.tjDestroy(handle)


class _PyTurboJpeg:
    """JPEG decoding through PyTurboJPEG."""

    def __init__(self) -> None:
        import turbojpeg

        self._codec = turbojpeg.TurboJPEG()
        self._rgb = turbojpeg.TJPF_RGB

    def decode(self, data: bytes, width: int, height: int) -> np.ndarray:
        # PyTurboJPEG reports libjpeg warnings with warnings.warn: one in the
        # header is not a failure, one in the decode is (see the contract).
        # (catch_warnings is process-wide.)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            size = tuple(self._codec.decode_header(data)[:2])
        _check_jpeg_size(size, width, height)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                return self._codec.decode(data, pixel_format=self._rgb)
            except Warning as warning:
                raise OSError(f"libjpeg: {warning}") from None


def _check_jpeg_size(size: tuple[int, ...], width: int, height: int) -> None:
    if size != (width, height):
        raise _Malformed(f"JPEG is {size[0]}x{size[1]}, the rect is {width}x{height}")


_jpeg_decoder: _PyTurboJpeg | _LibTurboJpeg | None = None


def _jpeg_has_tables(data: bytes) -> bool:
    """True if the JPEG defines quantization (DQT) and Huffman (DHT) tables
    before its scan (SOS).  Decoders keep tables across images, so a rect that
    leaned on an earlier one's would decode differently per decoder."""
    if len(data) < 4 or data[:2] != b"\xff\xd8":
        return False
    pos, seen = 2, set()
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return False
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker == 0xDA:
            return {0xDB, 0xC4} <= seen
        seen.add(marker)
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return False


def _decode_jpeg(data: bytes, width: int, height: int) -> np.ndarray:
    """Decode a Tight JPEG rect to an ``(height, width, 3)`` RGB array.

    Raises :class:`_Malformed` when the JPEG's size is not ``width`` x
    ``height`` or it fails to decode.
    """
    global _jpeg_decoder
    if not _jpeg_has_tables(data):
        raise _Malformed("JPEG lacks its own quantization or Huffman tables before the scan")
    if _jpeg_decoder is None:
        try:
            _jpeg_decoder = _PyTurboJpeg()
        except (ImportError, OSError, RuntimeError):
            try:
                _jpeg_decoder = _LibTurboJpeg()
            except OSError as exc:
                raise _Malformed(f"no JPEG decoder: PyTurboJPEG and libturbojpeg fail to load ({exc})") from None
    try:
        image = _jpeg_decoder.decode(data, width, height)
    except (OSError, ValueError, RuntimeError) as exc:
        raise _Malformed(f"JPEG fails to decode: {exc}") from None
    if image.shape != (height, width, 3):  # pragma: no cover - the libraries honour the header
        raise _Malformed(f"JPEG decoded to shape {image.shape}")
    return image


# --------------------------------------------------------------------------
# The decoder


class UpdateDecoder:
    """Decodes whole FramebufferUpdate messages into a :class:`Framebuffer`.

    :param framebuffer: the framebuffer to decode into (resized by DesktopSize).
    :param encodings: the encodings and pseudo-encodings sent in SetEncodings;
        a rect in any other encoding is a ProtocolError.
    :param limits: caps on server-controlled sizes (default ``DEFAULT_LIMITS``).
    """

    __slots__ = (
        "_fb",
        "_encodings",
        "_limits",
        "_zrle",
        "_zrle_run",
        "_zrle_run_left",
        "_tight_run",
        "_tight_run_left",
        "_update_rects",
        "_tight",
        "_failure",
        "_deferred_error",
        "_cursor",
        "_last_rects",
        "_last_pixels",
        "_last_bytes",
        "_last_updates",
        "_resized",
        "_cursor_changed",
        "_updates",
        "_rects",
        "_bytes",
        "_pixels",
    )

    def __init__(
        self,
        framebuffer: Framebuffer,
        encodings: Iterable[int],
        limits: Limits | None = None,
    ) -> None:
        if not isinstance(framebuffer, Framebuffer):
            raise UsageError(f"framebuffer must be a reference Framebuffer, not {type(framebuffer).__name__}")
        if limits is None:
            limits = DEFAULT_LIMITS
        if not isinstance(limits, Limits):
            raise UsageError(f"limits must be a Limits, not {type(limits).__name__}")
        try:
            self._encodings = frozenset(operator.index(e) for e in encodings)
        except TypeError:
            raise UsageError("encodings must be an iterable of ints") from None
        self._fb = framebuffer
        self._limits = limits
        self._zrle = _zlib.decompressobj()
        self._zrle_run = _TileData(b"")  # the inflated bytes of the ZRLE run being painted
        self._zrle_run_left = 0  # and how many of its rects are still to paint
        self._tight_run: list[_TileData] = []  # per stream, the inflated bytes of the Tight run
        self._tight_run_left = 0
        self._update_rects: list[_Rect] = []
        self._tight = [_zlib.decompressobj() for _ in range(4)]
        self._failure: str | None = None
        self._deferred_error: ProtocolError | None = None
        self._cursor: tuple[np.ndarray, int, int] | None = None
        self._last_rects = self._last_pixels = self._last_bytes = self._last_updates = 0
        self._resized = self._cursor_changed = False
        self._updates = self._rects = self._bytes = self._pixels = 0

    # ---- read-only state

    @property
    def failed(self) -> bool:
        """True once a ProtocolError was raised; every later call raises too."""
        return self._failure is not None

    @property
    def cursor(self) -> tuple[np.ndarray, int, int] | None:
        """``None`` or ``(rgba, hotspot_x, hotspot_y)`` from the last Cursor rect; rgba is a new array."""
        if self._cursor is None:
            return None
        rgba, hot_x, hot_y = self._cursor
        return rgba.copy(), hot_x, hot_y

    @property
    def last_rects(self) -> int:
        """Rects in the last update, not counting a LastRect marker."""
        return self._last_rects

    @property
    def last_pixels(self) -> int:
        """Area of the Raw, CopyRect, ZRLE and Tight rects of the last update."""
        return self._last_pixels

    @property
    def last_bytes(self) -> int:
        """Length of the last update message."""
        return self._last_bytes

    @property
    def last_updates(self) -> int:
        """FramebufferUpdates decoded by the last :meth:`feed` that decoded any."""
        return self._last_updates

    @property
    def resized(self) -> bool:
        """The last update changed the framebuffer's size (a new ``.array``)."""
        return self._resized

    @property
    def cursor_changed(self) -> bool:
        """The last update held a Cursor rect."""
        return self._cursor_changed

    @property
    def updates(self) -> int:
        return self._updates

    @property
    def rects(self) -> int:
        return self._rects

    @property
    def bytes(self) -> int:
        return self._bytes

    @property
    def pixels(self) -> int:
        return self._pixels

    # ---- public calls

    def feed(self, data: Buffer, offset: int = 0, max_updates: int = 1) -> int:
        """Decode the FramebufferUpdate at ``data[offset]`` if it is all there.

        :param data: any C-contiguous buffer.
        :param offset: where the message (its type byte, 0) starts in ``data``.
        :param max_updates: go on with up to this many back-to-back whole
            FramebufferUpdates; ``last_*``, ``resized`` and ``cursor_changed``
            then describe them all and ``last_updates`` counts them.  A
            malformed update after good ones ends the call with the good
            ones; the next call raises its error.
        :return: the bytes of the messages decoded, or 0 when the first needs
            more bytes (then nothing was written).
        :raises ProtocolError: malformed input; the decoder is then failed.
        """
        if self._deferred_error is not None:
            error, self._deferred_error = self._deferred_error, None
            raise error
        self._check_usable()
        max_updates = _checked_int("max_updates", max_updates, 1, sys.maxsize)
        total = count = rects = pixels = 0
        resized = cursor_changed = False
        with _byte_view(data) as buf:
            offset = _checked_int("offset", offset, 0, len(buf))
            while count < max_updates and offset + total < len(buf):
                if count and buf[offset + total] != 0:  # not a FramebufferUpdate
                    break
                start = offset + total
                try:
                    with self._failing():
                        try:
                            update = self._frame_update(buf, start)
                        except _Incomplete:
                            break
                    message = bytes(buf[start : start + update.length])
                    with self._failing():
                        self._decode_update(update, memoryview(message))
                except ProtocolError as error:
                    if not count:
                        raise
                    self._deferred_error = error  # raised by the next call
                    break
                total += update.length
                count += 1
                rects += self._last_rects
                pixels += self._last_pixels
                resized |= self._resized
                cursor_changed |= self._cursor_changed
        if count:
            self._last_updates = count
            self._last_rects, self._last_pixels, self._last_bytes = rects, pixels, total
            self._resized, self._cursor_changed = resized, cursor_changed
        return total

    def decode_rect(self, x: int, y: int, w: int, h: int, encoding: int, payload: Buffer) -> int:
        """Decode one rect's payload (the bytes after its 12-byte header).

        Shares the decoder's zlib streams; updates no counters.

        :return: the payload bytes consumed.
        :raises ProtocolError: malformed or truncated payload; the decoder is
            then failed.
        """
        self._check_usable()
        x, y, w, h = (_checked_int(name, v, 0, 0xFFFF) for name, v in zip("xywh", (x, y, w, h)))
        rect = _Rect(-1, x, y, w, h, _checked_int("encoding", encoding, -(1 << 31), (1 << 31) - 1))
        with _byte_view(payload) as buf:
            with self._failing():
                try:
                    self._frame_rect(_Reader(buf, 0), rect)
                    if rect.end > len(buf):
                        raise _Incomplete
                except _Malformed as exc:
                    raise ProtocolError(f"{rect.context()}: {exc}") from None
                except _Incomplete:
                    raise ProtocolError(f"{rect.context()}: {len(buf)}-byte payload is truncated") from None
            message = bytes(buf[: rect.end])
        with self._failing():
            self._decode(rect, memoryview(message))
        return rect.end

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise ProtocolError(f"the decoder failed earlier: {self._failure}")

    @contextlib.contextmanager
    def _failing(self) -> Iterator[None]:
        """Mark the decoder failed if the block raises (its state is then unknown)."""
        try:
            yield
        except BaseException as exc:
            self._failure = str(exc) or type(exc).__name__
            raise

    # ---- framing

    def _frame_update(self, buf: memoryview, base: int) -> _Update:
        """Frame the message at ``buf[base]``: raises _Incomplete or ProtocolError."""
        limits = self._limits
        reader = _Reader(buf, base)
        if reader.available and buf[base] != 0:
            raise ProtocolError(f"feed() expects a FramebufferUpdate (type 0), got message type {buf[base]}")
        _, _, nrects = reader.unpack(_UPDATE_HEADER)
        last_rect_mode = nrects == _LAST_RECT_MODE
        if not last_rect_mode and nrects > limits.max_rects:
            raise ProtocolError(f"FramebufferUpdate of {nrects} rects, over limits.max_rects {limits.max_rects}")
        rects: list[_Rect] = []
        headers = 0
        while last_rect_mode or headers < nrects:
            x, y, w, h, encoding = reader.unpack(_RECT_HEADER)
            rect = _Rect(len(rects), x, y, w, h, encoding)
            if encoding != Encoding.LAST_RECT and len(rects) == limits.max_rects:
                raise ProtocolError(f"{rect.context()}: over limits.max_rects = {limits.max_rects} rects")
            headers += 1
            try:
                self._frame_rect(reader, rect)
            except _Malformed as exc:
                raise ProtocolError(f"{rect.context()}: {exc}") from None
            if rect.end > limits.max_update_bytes:
                raise ProtocolError(
                    f"{rect.context()}: the message grows to at least {rect.end} bytes, "
                    f"over limits.max_update_bytes = {limits.max_update_bytes}"
                )
            if rect.end > reader.available:
                raise _Incomplete
            if encoding == Encoding.LAST_RECT:
                break
            rects.append(rect)
        return _Update(rects, reader.pos)

    def _frame_rect(self, reader: _Reader, rect: _Rect) -> None:
        """Find the end of ``rect``'s payload (maybe not yet there); store what decoding needs."""
        encoding = rect.encoding
        if encoding not in self._encodings:
            raise _Malformed("encoding was not requested in SetEncodings")
        if encoding not in _NAMES:
            raise _Malformed("encoding is not implemented")
        limits = self._limits
        rect.start = reader.pos
        if encoding == Encoding.RAW:
            reader.skip(rect.w * rect.h * 4)
        elif encoding == Encoding.COPYRECT:
            rect.info = reader.unpack(_U16_PAIR)
        elif encoding == Encoding.ZRLE:
            (length,) = reader.unpack(_U32)
            if length > limits.max_update_bytes:
                raise _Malformed(f"length {length} over limits.max_update_bytes = {limits.max_update_bytes}")
            rect.info = reader.skip(length)
        elif encoding == Encoding.TIGHT:
            rect.info = self._frame_tight(reader, rect.w, rect.h)
        elif encoding == Encoding.CURSOR:
            if rect.w > limits.max_cursor_size or rect.h > limits.max_cursor_size:
                raise _Malformed(f"cursor over limits.max_cursor_size = {limits.max_cursor_size}")
            reader.skip(rect.w * rect.h * 4 + ((rect.w + 7) // 8) * rect.h)
        elif encoding == Encoding.EXTENDED_DESKTOP_SIZE:
            screens = reader.u8()
            reader.skip(3 + _EXTENDED_SCREEN_BYTES * screens)
        # DesktopSize and LastRect have no payload.
        rect.end = reader.pos

    @staticmethod
    def _frame_tight(reader: _Reader, w: int, h: int) -> _Tight:
        """Read a Tight rect's control byte, filter and lengths; pass over its data."""
        control = reader.u8()
        kind = control >> 4
        if kind == _TIGHT_FILL:
            return _Tight(control, kind, 0, (0, 0), (reader.skip(3), reader.pos), False, 3)
        if kind == _TIGHT_JPEG:
            length = reader.compact_length()
            return _Tight(control, kind, 0, (0, 0), (reader.skip(length), reader.pos), False, length)
        if kind > _TIGHT_JPEG:
            raise _Malformed(f"compression control type {kind} > 9")
        filter_id = reader.u8() if kind & 4 else 0
        if filter_id > _TIGHT_MAX_FILTER:
            raise _Malformed(f"filter id {filter_id} > 2")
        colours = 0
        palette = (reader.pos, reader.pos)
        if filter_id == 1:
            colours = reader.u8() + 1
            palette = (reader.skip(3 * colours), reader.pos)
        size = _tight_data_size(w, h, filter_id, colours)
        compressed = size >= _TIGHT_MIN_TO_COMPRESS
        length = reader.compact_length() if compressed else size
        return _Tight(control, kind, filter_id, palette, (reader.skip(length), reader.pos), compressed, size)

    # ---- decoding

    def _decode_update(self, update: _Update, message: memoryview) -> None:
        """Decode a framed, complete message, then publish its counters."""
        self._resized = self._cursor_changed = False
        self._update_rects = update.rects  # (a ZRLE run looks ahead)
        self._zrle_run_left = self._tight_run_left = 0
        pixels = 0
        for rect in update.rects:
            self._decode(rect, message)
            if rect.encoding in _PIXEL_ENCODINGS:
                pixels += rect.w * rect.h
        self._last_rects = len(update.rects)
        self._last_pixels = pixels
        self._last_bytes = update.length
        self._updates += 1
        self._rects += len(update.rects)
        self._bytes += update.length
        self._pixels += pixels

    def _decode(self, rect: _Rect, message: memoryview) -> None:
        """Decode one framed rect, turning a problem into a ProtocolError naming it."""
        try:
            self._DECODERS[rect.encoding](self, rect, message)
        except _Malformed as exc:
            raise ProtocolError(f"{rect.context()}: {exc}") from None

    def _area(self, rect: _Rect, source: tuple[int, int] | None = None) -> np.ndarray:
        """The framebuffer view of ``rect`` (or of its CopyRect ``source``), which must lie inside."""
        fb = self._fb
        x, y = (rect.x, rect.y) if source is None else source
        if x + rect.w > fb.width or y + rect.h > fb.height:
            what = "rect" if source is None else f"source at ({x}, {y})"
            raise _Malformed(f"{what} outside the {fb.width}x{fb.height} framebuffer")
        return fb.array[y : y + rect.h, x : x + rect.w]

    def _resize(self, w: int, h: int) -> None:
        limits = self._limits
        if not (0 < w <= limits.max_width and 0 < h <= limits.max_height):
            raise _Malformed(
                f"new size {w}x{h} is 0 or over limits.max_width x max_height = "
                f"{limits.max_width}x{limits.max_height}"
            )
        if (w, h) != (self._fb.width, self._fb.height):
            self._fb.resize(w, h)
            self._resized = True

    def _decode_raw(self, rect: _Rect, message: memoryview) -> None:
        area = self._area(rect)
        data = np.frombuffer(message[rect.start : rect.end], dtype=np.uint8)
        area[...] = data.reshape(rect.h, rect.w, 4)[:, :, :3]

    def _decode_copyrect(self, rect: _Rect, message: memoryview) -> None:
        area = self._area(rect)
        source = self._area(rect, rect.info)
        area[...] = source.copy()  # through a temporary: overlap-safe

    def _decode_zrle(self, rect: _Rect, message: memoryview) -> None:
        area = self._area(rect)
        if not self._zrle_run_left:
            self._start_zrle_run(rect, message)
        self._zrle_run_left -= 1
        src = self._zrle_run
        _zrle_tiles(src, area)
        if not self._zrle_run_left and src.left():
            raise _Malformed(f"{src.left()} inflated bytes left after the last tile")

    def _start_zrle_run(self, rect: _Rect, message: memoryview) -> None:
        """Inflate the zlib data of the run of ZRLE rects that starts at ``rect``.

        In an update, the ZRLE rects right after it join the run while its
        inflated bound and its zlib data stay within the caps; the run's tiles
        must use exactly the bytes it inflates to (where the server's flushes
        fall inside a run does not matter).  Outside an update (decode_rect)
        a rect is a run of its own.
        """
        run = [rect]
        bound = _zrle_max_inflated(rect.w, rect.h)
        length = rect.end - rect.info
        following = self._update_rects[rect.index + 1 :] if rect.index >= 0 else []
        for nxt in following:
            if nxt.encoding != Encoding.ZRLE:
                break
            more_bound = _zrle_max_inflated(nxt.w, nxt.h)
            more_length = nxt.end - nxt.info
            if bound + more_bound > _ZRLE_RUN_MAX_INFLATED or length + more_length > _ZRLE_RUN_MAX_ZLIB:
                break
            run.append(nxt)
            bound += more_bound
            length += more_length
        data = b"".join(message[r.info : r.end] for r in run)
        try:
            self._zrle_run = _TileData(_inflate(self._zrle, data, bound))
        except _Malformed as exc:
            what = "this rect" if len(run) == 1 else f"the run of {len(run)} ZRLE rects from this one"
            raise _Malformed(f"{exc} ({what})") from None
        self._zrle_run_left = len(run)

    def _decode_tight(self, rect: _Rect, message: memoryview) -> None:
        info: _Tight = rect.info
        for stream in range(4):
            if info.control & (1 << stream):
                self._tight[stream] = _zlib.decompressobj()
        area = self._area(rect)
        data = message[info.data[0] : info.data[1]]
        in_run = self._tight_run_left > 0
        if in_run:
            self._tight_run_left -= 1
        if info.kind == _TIGHT_FILL:
            area[...] = _pixels(data, 1)[0]
            return
        if info.kind == _TIGHT_JPEG:
            area[...] = _decode_jpeg(bytes(data), rect.w, rect.h)
            return
        if info.compressed:
            if not in_run:
                self._start_tight_run(rect, message)
                self._tight_run_left -= 1  # (this rect)
            data = self._tight_run[info.kind & 3].take(info.size)
        w, h = rect.w, rect.h
        if info.filter_id == 0:  # copy
            area[...] = _pixels(data, w * h).reshape(h, w, 3)
        elif info.filter_id == 1:  # palette
            start, end = info.palette
            palette = _pixels(message[start:end], (end - start) // 3)
            if len(palette) == 2:
                indices = _unpack_indices(data, w, h, 1)
            else:
                indices = np.frombuffer(data, dtype=np.uint8, count=w * h).reshape(h, w)
            area[...] = _lookup(palette, indices)
        else:  # gradient
            area[...] = _undo_gradient(_pixels(data, w * h).reshape(h, w, 3))

    def _start_tight_run(self, rect: _Rect, message: memoryview) -> None:
        """Inflate the zlib data of the run of Tight rects that starts at the
        compressed ``rect``: in an update, the Tight rects after it join while
        none resets a stream and the run's filtered data and zlib data stay
        within the caps.  Each stream's data in the run must inflate to exactly
        the bytes its rects need (where the flushes fall does not matter)."""
        run = [rect]
        need, given = [0] * 4, [[] for _ in range(4)]
        total_need = total_given = 0

        def add(r: _Rect) -> None:
            nonlocal total_need, total_given
            info: _Tight = r.info
            if info.kind < _TIGHT_FILL and info.compressed:
                need[info.kind & 3] += info.size
                given[info.kind & 3].append(message[info.data[0] : info.data[1]])
                total_need += info.size
                total_given += info.data[1] - info.data[0]

        add(rect)
        following = self._update_rects[rect.index + 1 :] if rect.index >= 0 else []
        for nxt in following:
            if nxt.encoding != Encoding.TIGHT or nxt.info.control & 0x0F:
                break
            info = nxt.info
            if info.kind < _TIGHT_FILL and info.compressed and (
                total_need + info.size > _TIGHT_RUN_MAX_INFLATED
                or total_given + info.data[1] - info.data[0] > _TIGHT_RUN_MAX_ZLIB
            ):
                break
            add(nxt)
            run.append(nxt)
        what = "the rect" if len(run) == 1 else f"the run of {len(run)} Tight rects from this one"
        self._tight_run = []
        for stream in range(4):
            out = b""
            if need[stream] or given[stream]:
                try:
                    out = _inflate(self._tight[stream], b"".join(given[stream]), need[stream])
                except _Malformed as exc:
                    raise _Malformed(f"stream {stream}: {exc} ({what})") from None
                if len(out) < need[stream]:
                    raise _Malformed(
                        f"zlib data on stream {stream} inflates to {len(out)} bytes, {what} needs {need[stream]}"
                    )
            self._tight_run.append(_TileData(out))
        self._tight_run_left = len(run)

    def _decode_cursor(self, rect: _Rect, message: memoryview) -> None:
        w, h = rect.w, rect.h
        mask_start = rect.start + w * h * 4
        rgba = np.frombuffer(message[rect.start : mask_start], dtype=np.uint8).reshape(h, w, 4).copy()
        rgba[:, :, 3] = _unpack_indices(message[mask_start : rect.end], w, h, 1) * 255
        self._cursor = (rgba, rect.x, rect.y)
        self._cursor_changed = True

    def _decode_desktop_size(self, rect: _Rect, message: memoryview) -> None:
        self._resize(rect.w, rect.h)

    def _decode_extended_desktop_size(self, rect: _Rect, message: memoryview) -> None:
        if rect.y == 0:  # status 0: the size changed; otherwise a reply that changes nothing
            self._resize(rect.w, rect.h)

    _DECODERS: dict[int, Callable[[UpdateDecoder, _Rect, memoryview], None]] = {
        Encoding.RAW: _decode_raw,
        Encoding.COPYRECT: _decode_copyrect,
        Encoding.ZRLE: _decode_zrle,
        Encoding.TIGHT: _decode_tight,
        Encoding.CURSOR: _decode_cursor,
        Encoding.DESKTOP_SIZE: _decode_desktop_size,
        Encoding.EXTENDED_DESKTOP_SIZE: _decode_extended_desktop_size,
        Encoding.LAST_RECT: lambda self, rect, message: None,  # only reached through decode_rect
    }

    def __repr__(self) -> str:
        state = "failed" if self.failed else f"{self._updates} updates"
        return f"<UpdateDecoder {self._fb!r} {state}>"
