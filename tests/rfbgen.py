"""rfbgen: a test-side RFB encoder that builds FramebufferUpdate wire bytes.

It is the mirror image of the decoders in ``vncenv._reference`` and
``vncenv._core``: tests, fuzzers and benchmarks use it to make inputs.
Everything is in the canonical pixel format (32 bpp, R, G, B, X in memory;
ZRLE CPIXEL and Tight TPIXEL are R, G, B).  Images are ``(h, w, 3)`` uint8
RGB arrays.

Rect builders return a :class:`Rect`; ``bytes(rect)`` is the 12-byte header
plus the payload (what goes on the wire), ``rect.payload`` is what
``UpdateDecoder.decode_rect`` takes.  :func:`update` joins rects into a
FramebufferUpdate message::

    zrle, tight = ZRLEEncoder(), TightEncoder()
    message = update([
        raw(0, 0, image),
        zrle.rect(64, 0, image, mode="palette_rle"),
        tight.basic(0, 64, image, filter="gradient", stream=1),
        tight.jpeg(64, 64, image, quality=90),
    ])

ZRLE and Tight keep zlib streams for the whole connection, so use one
:class:`ZRLEEncoder` / :class:`TightEncoder` per decoder and encode rects in
the order the decoder will see them.  Each rect's zlib data ends with a
Z_SYNC_FLUSH, as servers send it.

Lower-level helpers (:func:`zrle_tile`, :meth:`ZRLEEncoder.rect_from_tiles`,
:meth:`TightEncoder.basic_data`, :func:`compact_length`, :func:`rect_header`)
let tests build deliberately malformed inputs.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Union

import numpy as np

__all__ = [
    "RAW",
    "COPYRECT",
    "TIGHT",
    "ZRLE",
    "DESKTOP_SIZE",
    "LAST_RECT",
    "CURSOR",
    "EXTENDED_DESKTOP_SIZE",
    "IMPLEMENTED_ENCODINGS",
    "Rect",
    "rect_header",
    "update_header",
    "update",
    "raw",
    "copyrect",
    "desktop_size",
    "extended_desktop_size",
    "last_rect",
    "cursor",
    "ZRLE_MODES",
    "zrle_tile_modes",
    "zrle_tile",
    "ZRLEEncoder",
    "compact_length",
    "gradient_residuals",
    "encode_jpeg",
    "TightEncoder",
    "random_image",
    "random_palette",
    "palette_image",
    "smooth_image",
]

RAW = 0
COPYRECT = 1
TIGHT = 7
ZRLE = 16
DESKTOP_SIZE = -223
LAST_RECT = -224
CURSOR = -239
EXTENDED_DESKTOP_SIZE = -308

IMPLEMENTED_ENCODINGS: tuple[int, ...] = (
    RAW,
    COPYRECT,
    TIGHT,
    ZRLE,
    DESKTOP_SIZE,
    LAST_RECT,
    CURSOR,
    EXTENDED_DESKTOP_SIZE,
)
"""Every encoding the decoders implement: a SetEncodings list that allows them all."""

_RECT_HEADER = struct.Struct(">HHHHi")
_ZRLE_TILE = 64
_TIGHT_MIN_TO_COMPRESS = 12

Colour = Union[Sequence[int], np.ndarray]


# --------------------------------------------------------------------------
# Framing


@dataclass(frozen=True)
class Rect:
    """One rect: its header fields and its payload (the bytes after the header)."""

    x: int
    y: int
    w: int
    h: int
    encoding: int
    payload: bytes = b""

    def header(self) -> bytes:
        """The 12-byte rect header: u16 x, y, w, h, i32 encoding."""
        return rect_header(self.x, self.y, self.w, self.h, self.encoding)

    def __bytes__(self) -> bytes:
        return self.header() + self.payload


def rect_header(x: int, y: int, w: int, h: int, encoding: int) -> bytes:
    """A 12-byte rect header."""
    return _RECT_HEADER.pack(x, y, w, h, encoding)


def update_header(nrects: int) -> bytes:
    """The 4-byte FramebufferUpdate header: type 0, padding, u16 ``nrects``."""
    return struct.pack(">BBH", 0, 0, nrects)


def update(rects: Iterable[Rect | bytes], nrects: int | None = None) -> bytes:
    """A FramebufferUpdate message holding ``rects`` in order.

    :param rects: :class:`Rect` objects or ready-made rect bytes.
    :param nrects: the ``nrects`` field; default the number of rects.  Pass
        0xFFFF for "until LastRect" (then end ``rects`` with :func:`last_rect`).
    """
    parts = [bytes(rect) for rect in rects]
    return update_header(len(parts) if nrects is None else nrects) + b"".join(parts)


# --------------------------------------------------------------------------
# Raw, CopyRect and pseudo-encodings


def _image(pixels: np.ndarray) -> np.ndarray:
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"expected an (h, w, 3) RGB image, got shape {pixels.shape}")
    return pixels


def _rgbx(rgb: np.ndarray, pad: int = 0) -> bytes:
    """``(h, w, 3)`` RGB as 32-bit R, G, B, X pixels."""
    out = np.full(rgb.shape[:2] + (4,), pad, dtype=np.uint8)
    out[:, :, :3] = rgb
    return out.tobytes()


def raw(x: int, y: int, pixels: np.ndarray, pad: int = 0) -> Rect:
    """A Raw rect at (x, y): every pixel as R, G, B, X (X = ``pad``)."""
    pixels = _image(pixels)
    h, w = pixels.shape[:2]
    return Rect(x, y, w, h, RAW, _rgbx(pixels, pad))


def copyrect(x: int, y: int, w: int, h: int, src_x: int, src_y: int) -> Rect:
    """A CopyRect rect: copy the w x h area at (src_x, src_y) to (x, y)."""
    return Rect(x, y, w, h, COPYRECT, struct.pack(">HH", src_x, src_y))


def desktop_size(w: int, h: int) -> Rect:
    """A DesktopSize pseudo-rect: the framebuffer is now w x h."""
    return Rect(0, 0, w, h, DESKTOP_SIZE)


def extended_desktop_size(
    w: int,
    h: int,
    *,
    status: int = 0,
    reason: int = 0,
    screens: Sequence[tuple[int, int, int, int, int, int]] | None = None,
) -> Rect:
    """An ExtendedDesktopSize pseudo-rect (x = reason, y = status).

    :param screens: ``(id, x, y, w, h, flags)`` per screen; default one
        screen covering the desktop.
    """
    if screens is None:
        screens = [(0, 0, 0, w, h, 0)]
    payload = struct.pack(">B3x", len(screens)) + b"".join(struct.pack(">IHHHHI", *s) for s in screens)
    return Rect(reason, status, w, h, EXTENDED_DESKTOP_SIZE, payload)


def last_rect() -> Rect:
    """The LastRect marker that ends a FramebufferUpdate."""
    return Rect(0, 0, 0, 0, LAST_RECT)


def cursor(hot_x: int, hot_y: int, rgba: np.ndarray) -> Rect:
    """A Cursor pseudo-rect from an ``(h, w, 4)`` RGBA image.

    The mask bit is set where alpha >= 128; the decoders return alpha 255
    there and 0 elsewhere, with the RGB values as sent.
    """
    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    h, w = rgba.shape[:2]
    mask = np.packbits(rgba[:, :, 3] >= 128, axis=1)
    return Rect(hot_x, hot_y, w, h, CURSOR, _rgbx(rgba[:, :, :3]) + mask.tobytes())


# --------------------------------------------------------------------------
# Palettes and runs (shared by ZRLE and Tight)


def _keys(pixels: np.ndarray) -> np.ndarray:
    """Each RGB pixel as one int (0xRRGGBB), flattened."""
    flat = pixels.reshape(-1, 3).astype(np.uint32)
    return (flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2]


def _colours(keys: np.ndarray) -> np.ndarray:
    """The inverse of :func:`_keys`: an ``(n, 3)`` uint8 array."""
    keys = np.asarray(keys, dtype=np.uint32)
    return np.stack([(keys >> 16) & 0xFF, (keys >> 8) & 0xFF, keys & 0xFF], axis=1).astype(np.uint8)


def _palette_indices(pixels: np.ndarray, palette: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(palette (n, 3), indices (h, w))``.

    Without ``palette`` the palette is the image's distinct colours, sorted;
    an explicit palette may hold extra colours and fixes their order.
    """
    h, w = pixels.shape[:2]
    keys = _keys(pixels)
    if palette is None:
        palette_keys, indices = np.unique(keys, return_inverse=True)
        return _colours(palette_keys), indices.reshape(h, w).astype(np.uint8)
    palette = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    palette_keys = _keys(palette.reshape(1, -1, 3))
    order = np.argsort(palette_keys, kind="stable")
    found = order[np.searchsorted(palette_keys, keys, sorter=order).clip(0, len(order) - 1)]
    if not np.array_equal(palette_keys[found], keys):
        raise ValueError("the image has colours that are not in the palette")
    return palette, found.reshape(h, w).astype(np.uint8)


def _pack_indices(indices: np.ndarray, bits: int) -> bytes:
    """Pack ``(h, w)`` indices MSB first at ``bits`` bits each, rows padded to a byte."""
    h, w = indices.shape
    per_byte = 8 // bits
    padded = np.zeros((h, -(-w // per_byte) * per_byte), dtype=np.uint8)
    padded[:, :w] = indices
    groups = padded.reshape(h, -1, per_byte)
    shifts = np.arange(8 - bits, -1, -bits, dtype=np.uint8)
    return (groups << shifts).sum(axis=2, dtype=np.uint8).tobytes()


def _runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Runs of equal values in a 1-D array: ``(first index of each run, run lengths)``."""
    starts = np.concatenate([[0], np.flatnonzero(values[1:] != values[:-1]) + 1])
    return starts, np.diff(np.concatenate([starts, [len(values)]]))


def _encode_runs(prefixes: np.ndarray, lengths: np.ndarray, with_length: np.ndarray) -> bytes:
    """ZRLE runs: for each run its prefix bytes then, where ``with_length``, its length.

    A run length is bytes summing to ``length - 1``, each 255 meaning "more".
    """
    prefixes = np.asarray(prefixes, dtype=np.uint8).reshape(len(lengths), -1)
    full, rest = np.divmod(np.asarray(lengths, dtype=np.int64) - 1, 255)
    width = prefixes.shape[1]
    sizes = width + np.where(with_length, full + 1, 0)
    starts = np.cumsum(sizes) - sizes
    out = np.full(int(sizes.sum()), 255, dtype=np.uint8)
    out[starts[:, None] + np.arange(width)] = prefixes
    out[(starts + width + full)[with_length]] = rest[with_length]
    return out.tobytes()


# --------------------------------------------------------------------------
# ZRLE

ZrleMode = Literal["auto", "raw", "solid", "packed", "rle", "palette_rle"]
ZRLE_MODES: tuple[str, ...] = ("raw", "solid", "packed", "rle", "palette_rle")
"""The tile subencodings :func:`zrle_tile` can force."""


def zrle_tile_modes(tile: np.ndarray) -> list[str]:
    """The ZRLE modes that can encode ``tile`` with its own colours."""
    colours = len(np.unique(_keys(_image(tile))))
    modes = ["raw", "rle"]
    if colours == 1:
        modes.append("solid")
    if 2 <= colours <= 16:
        modes.append("packed")
    if 2 <= colours <= 127:
        modes.append("palette_rle")
    return modes


def zrle_tile(tile: np.ndarray, mode: ZrleMode = "auto", palette: np.ndarray | None = None) -> bytes:
    """The inflated bytes of one ZRLE tile (at most 64 x 64).

    :param mode: ``"raw"`` (subencoding 0), ``"solid"`` (1), ``"packed"``
        (2..16, the palette size), ``"rle"`` (128), ``"palette_rle"``
        (130..255) or ``"auto"``: the shortest that fits.
    :param palette: for ``packed`` and ``palette_rle``: an explicit palette
        (it fixes the palette size and order; default the tile's colours).
    :raises ValueError: the tile does not fit the mode.
    """
    tile = _image(tile)
    if mode == "auto":
        return min((zrle_tile(tile, m) for m in zrle_tile_modes(tile)), key=len)
    if mode == "raw":
        return b"\x00" + tile.tobytes()
    if mode == "rle":
        keys = _keys(tile)
        starts, lengths = _runs(keys)
        return b"\x80" + _encode_runs(_colours(keys[starts]), lengths, np.ones(len(lengths), bool))
    colours, indices = _palette_indices(tile, palette)
    size = len(colours)
    if mode == "solid":
        if size != 1:
            raise ValueError(f"a solid tile needs 1 colour, the tile has {size}")
        return b"\x01" + colours.tobytes()
    if mode == "packed":
        if not 2 <= size <= 16:
            raise ValueError(f"a packed-palette tile needs 2..16 colours, got {size}")
        bits = 1 if size == 2 else 2 if size <= 4 else 4
        return bytes([size]) + colours.tobytes() + _pack_indices(indices, bits)
    if mode == "palette_rle":
        if not 2 <= size <= 127:
            raise ValueError(f"a palette-RLE tile needs 2..127 colours, got {size}")
        flat = indices.reshape(-1)
        starts, lengths = _runs(flat)
        long_run = lengths > 1
        prefixes = flat[starts] | np.where(long_run, 0x80, 0).astype(np.uint8)
        return bytes([128 + size]) + colours.tobytes() + _encode_runs(prefixes, lengths, long_run)
    raise ValueError(f"unknown ZRLE mode {mode!r}")


class ZRLEEncoder:
    """ZRLE for one connection: one zlib stream, never reset.

    :param level: zlib compression level.
    """

    def __init__(self, level: int = 6) -> None:
        self._zlib = zlib.compressobj(level)

    def compress(self, data: bytes) -> bytes:
        """Compress ``data`` on the connection's stream, ending with a sync flush."""
        return self._zlib.compress(data) + self._zlib.flush(zlib.Z_SYNC_FLUSH)

    def rect(
        self,
        x: int,
        y: int,
        pixels: np.ndarray,
        mode: ZrleMode | Callable[[np.ndarray], str] = "auto",
    ) -> Rect:
        """A ZRLE rect of ``pixels`` at (x, y).

        :param mode: a :func:`zrle_tile` mode for every tile, or a function
            from a tile to its mode (e.g. a random pick of
            :func:`zrle_tile_modes`).
        """
        pixels = _image(pixels)
        h, w = pixels.shape[:2]
        tiles = []
        for ty in range(0, h, _ZRLE_TILE):
            for tx in range(0, w, _ZRLE_TILE):
                tile = pixels[ty : ty + _ZRLE_TILE, tx : tx + _ZRLE_TILE]
                tiles.append(zrle_tile(tile, mode if isinstance(mode, str) else mode(tile)))
        return self.rect_from_tiles(x, y, w, h, b"".join(tiles))

    def rect_from_tiles(self, x: int, y: int, w: int, h: int, tiles: bytes) -> Rect:
        """A w x h ZRLE rect whose inflated data is ``tiles``, whatever they hold."""
        data = self.compress(tiles)
        return Rect(x, y, w, h, ZRLE, struct.pack(">I", len(data)) + data)


# --------------------------------------------------------------------------
# Tight

TightFilter = Literal["copy", "palette", "gradient"]
_TIGHT_FILTER_IDS = {"copy": 0, "palette": 1, "gradient": 2}


def compact_length(n: int) -> bytes:
    """Tight's compact length: 1-3 bytes, 7 bits each low first (bit 7 = more), byte 3 has 8."""
    if not 0 <= n < 1 << 22:
        raise ValueError(f"compact length {n} outside [0, 2**22)")
    if n < 1 << 7:
        return bytes([n])
    if n < 1 << 14:
        return bytes([n & 0x7F | 0x80, n >> 7])
    return bytes([n & 0x7F | 0x80, (n >> 7) & 0x7F | 0x80, n >> 14])


def gradient_residuals(pixels: np.ndarray) -> np.ndarray:
    """Tight's gradient filter: pixel minus clamp(left + up - upleft) mod 256, per channel.

    Neighbours outside the image count as 0.
    """
    p = np.zeros((pixels.shape[0] + 1, pixels.shape[1] + 1, 3), dtype=np.int16)
    p[1:, 1:] = _image(pixels)
    prediction = np.clip(p[1:, :-1] + p[:-1, 1:] - p[:-1, :-1], 0, 255)
    return ((p[1:, 1:] - prediction) & 0xFF).astype(np.uint8)


_SUBSAMPLING = ("444", "422", "420", "gray")


def encode_jpeg(pixels: np.ndarray, quality: int = 90, subsample: str = "420") -> bytes:
    """JPEG-encode an RGB image with TurboJPEG (Pillow where TurboJPEG cannot load).

    :param subsample: ``"444"``, ``"422"``, ``"420"`` or ``"gray"``.
    """
    pixels = _image(pixels)
    sampling = _SUBSAMPLING.index(subsample)
    try:
        import turbojpeg

        codec = turbojpeg.TurboJPEG()
    except (ImportError, OSError, RuntimeError):
        codec = None
    if codec is not None:
        # TJSAMP_444, _422, _420, _GRAY are 0, 1, 2, 3: the order of _SUBSAMPLING.
        return bytes(
            codec.encode(pixels, quality=quality, pixel_format=turbojpeg.TJPF_RGB, jpeg_subsample=sampling)
        )
    from PIL import Image

    out = io.BytesIO()
    if subsample == "gray":
        Image.fromarray(pixels).convert("L").save(out, "JPEG", quality=quality)
    else:
        Image.fromarray(pixels).save(out, "JPEG", quality=quality, subsampling=sampling)
    return out.getvalue()


class TightEncoder:
    """Tight for one connection: four zlib streams, reset on request.

    Every rect method takes ``reset``, a 4-bit mask: the encoder resets those
    streams before the rect and sets the same bits in the control byte, so
    the decoder must reset them too (on fill and JPEG rects as well).

    :param level: zlib compression level.
    """

    def __init__(self, level: int = 6) -> None:
        self._level = level
        self._streams = [zlib.compressobj(level) for _ in range(4)]

    def reset(self, mask: int) -> None:
        """Start fresh streams for the bits set in ``mask`` (what a reset bit asks for)."""
        if not 0 <= mask <= 0xF:
            raise ValueError(f"reset mask {mask} outside 0..15")
        for stream in range(4):
            if mask & (1 << stream):
                self._streams[stream] = zlib.compressobj(self._level)

    def compress(self, stream: int, data: bytes) -> bytes:
        """Compress ``data`` on zlib stream 0..3, ending with a sync flush."""
        z = self._streams[stream]
        return z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH)

    def fill(self, x: int, y: int, w: int, h: int, colour: Colour, reset: int = 0) -> Rect:
        """A fill rect: the area in one colour."""
        self.reset(reset)
        return Rect(x, y, w, h, TIGHT, bytes([0x80 | reset]) + bytes(np.asarray(colour, dtype=np.uint8)))

    def jpeg(
        self,
        x: int,
        y: int,
        pixels: np.ndarray,
        quality: int = 90,
        subsample: str = "420",
        reset: int = 0,
    ) -> Rect:
        """A JPEG rect (lossy: decoders return an approximation of ``pixels``)."""
        self.reset(reset)
        pixels = _image(pixels)
        data = encode_jpeg(pixels, quality, subsample)
        payload = bytes([0x90 | reset]) + compact_length(len(data)) + data
        return Rect(x, y, pixels.shape[1], pixels.shape[0], TIGHT, payload)

    def basic(
        self,
        x: int,
        y: int,
        pixels: np.ndarray,
        filter: TightFilter | None = None,
        stream: int = 0,
        reset: int = 0,
        palette: np.ndarray | None = None,
    ) -> Rect:
        """A basic-compression rect.

        :param filter: ``None`` (no filter byte: copy), ``"copy"`` (explicit
            filter byte 0), ``"palette"`` or ``"gradient"``.
        :param stream: the zlib stream 0..3.
        :param palette: for ``"palette"``: an explicit palette of 1..256
            colours (default the image's colours).  Two colours use 1 bit per
            pixel, any other count 1 byte.
        """
        pixels = _image(pixels)
        h, w = pixels.shape[:2]
        params = b""
        if filter in (None, "copy"):
            data = pixels.tobytes()
        elif filter == "gradient":
            data = gradient_residuals(pixels).tobytes()
        elif filter == "palette":
            colours, indices = _palette_indices(pixels, palette)
            if not 1 <= len(colours) <= 256:
                raise ValueError(f"a Tight palette holds 1..256 colours, got {len(colours)}")
            params = bytes([len(colours) - 1]) + colours.tobytes()
            data = _pack_indices(indices, 1) if len(colours) == 2 else indices.tobytes()
        else:
            raise ValueError(f"unknown Tight filter {filter!r}")
        filter_id = None if filter is None else _TIGHT_FILTER_IDS[filter]
        return self.basic_data(
            x, y, w, h, data, stream=stream, filter_id=filter_id, filter_params=params, reset=reset
        )

    def basic_data(
        self,
        x: int,
        y: int,
        w: int,
        h: int,
        data: bytes,
        *,
        stream: int = 0,
        filter_id: int | None = None,
        filter_params: bytes = b"",
        reset: int = 0,
        compressed: bool | None = None,
    ) -> Rect:
        """A basic rect from already-filtered ``data``, valid or not.

        :param filter_id: the filter byte, or ``None`` for none (bit 6 clear).
        :param filter_params: bytes after the filter byte (the palette).
        :param compressed: ``None`` applies the rule (zlib with a compact
            length when ``data`` has 12 bytes or more, raw otherwise);
            ``True`` / ``False`` force either form.
        """
        self.reset(reset)
        kind = stream | (0 if filter_id is None else 4)
        payload = bytes([kind << 4 | reset])
        if filter_id is not None:
            payload += bytes([filter_id]) + filter_params
        if compressed is None:
            compressed = len(data) >= _TIGHT_MIN_TO_COMPRESS
        if compressed:
            z = self.compress(stream, data)
            payload += compact_length(len(z)) + z
        else:
            payload += data
        return Rect(x, y, w, h, TIGHT, payload)


# --------------------------------------------------------------------------
# Test images


def random_image(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Uniform noise: incompressible, every ZRLE tile raw-sized."""
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def random_palette(rng: np.random.Generator, colours: int) -> np.ndarray:
    """``colours`` distinct random colours as an ``(n, 3)`` uint8 array."""
    return _colours(rng.choice(1 << 24, size=colours, replace=False))


def palette_image(
    rng: np.random.Generator, w: int, h: int, colours: int | np.ndarray, run: int = 1
) -> np.ndarray:
    """An image drawn from a palette, using every colour when it has enough pixels.

    :param colours: a number of random colours, or an ``(n, 3)`` palette.
    :param run: colours come in runs of this many pixels, in raster order
        (long runs make RLE worthwhile).
    """
    palette = random_palette(rng, colours) if isinstance(colours, int) else np.asarray(colours, np.uint8)
    runs = -(-(w * h) // run)
    indices = rng.integers(0, len(palette), size=runs)
    shown = min(len(palette), runs)
    indices[:shown] = rng.permutation(len(palette))[:shown]
    return palette[np.repeat(indices, run)[: w * h].reshape(h, w)]


def smooth_image(w: int, h: int, phase: float = 0.0) -> np.ndarray:
    """Smooth gradients and soft shapes: what JPEG and the gradient filter are for."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 127.5 + 127.5 * np.sin(xx / max(w, 1) * np.pi * 2 + phase)
    g = 255.0 * yy / max(h - 1, 1)
    b = 127.5 + 127.5 * np.cos((xx + yy) / max(w + h, 1) * np.pi * 3 - phase)
    return np.stack([r, g, b], axis=2).round().clip(0, 255).astype(np.uint8)
