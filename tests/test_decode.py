"""Round trips through both decode backends: encode with rfbgen, feed, compare exactly."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import rfbgen
from backends import backend, new_decoder, row_path  # noqa: F401  (pytest fixtures)
from rfbgen import Rect, TightEncoder, ZRLEEncoder, update

from vncenv.error import ProtocolError


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240601)


def feed_whole(decoder, message: bytes) -> None:
    """Feed a complete message and check that all of it was consumed."""
    assert decoder.feed(message) == len(message)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def assert_area(framebuffer, x: int, y: int, pixels: np.ndarray) -> None:
    h, w = pixels.shape[:2]
    np.testing.assert_array_equal(framebuffer.array[y : y + h, x : x + w], pixels)


# --------------------------------------------------------------------------
# Framebuffer


def test_framebuffer_array(backend):
    fb = backend.Framebuffer(7, 5)
    assert (fb.width, fb.height) == (7, 5)
    assert fb.array.shape == (5, 7, 3) and fb.array.dtype == np.uint8
    assert fb.array.flags.c_contiguous and not fb.array.any()


def test_framebuffer_resize_replaces_array(backend):
    fb = backend.Framebuffer(4, 4)
    old = fb.array
    old[...] = 9
    fb.resize(6, 2)
    assert fb.array is not old and fb.array.shape == (2, 6, 3) and not fb.array.any()
    assert (old == 9).all()  # the old array stays valid


# --------------------------------------------------------------------------
# Raw and CopyRect


def test_raw(new_decoder, rng):
    fb, dec = new_decoder(40, 30)
    image = rfbgen.random_image(rng, 20, 10)
    feed_whole(dec, update([rfbgen.raw(5, 6, image, pad=0xAB)]))
    assert_area(fb, 5, 6, image)
    fb.array[6:16, 5:25] = 0
    assert not fb.array.any()  # nothing outside the rect


def test_zero_area_rects(new_decoder):
    fb, dec = new_decoder(16, 16)
    empty = np.zeros((0, 5, 3), np.uint8)
    zrle, tight = ZRLEEncoder(), TightEncoder()
    message = update(
        [
            rfbgen.raw(11, 16, empty),
            rfbgen.copyrect(0, 0, 0, 0, 16, 16),
            zrle.rect(3, 3, np.zeros((7, 0, 3), np.uint8)),
            tight.basic(0, 16, empty),
            tight.fill(2, 2, 0, 0, (1, 2, 3)),
        ]
    )
    feed_whole(dec, message)
    assert not fb.array.any() and dec.last_pixels == 0 and dec.last_rects == 5


def test_copyrect_disjoint(new_decoder, rng):
    fb, dec = new_decoder(32, 32)
    image = rfbgen.random_image(rng, 32, 32)
    feed_whole(dec, update([rfbgen.raw(0, 0, image), rfbgen.copyrect(20, 1, 10, 8, 2, 20)]))
    expected = image.copy()
    expected[1:9, 20:30] = image[20:28, 2:12]
    np.testing.assert_array_equal(fb.array, expected)


DIRECTIONS = [(dx, dy) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dx or dy]


@pytest.mark.parametrize("dx, dy", DIRECTIONS)
def test_copyrect_overlap(new_decoder, rng, dx, dy):
    """Source and destination overlap; the result is as if copied through a temporary."""
    fb, dec = new_decoder(50, 40)
    image = rfbgen.random_image(rng, 50, 40)
    src_x, src_y, w, h = 12, 10, 25, 18
    x, y = src_x + 3 * dx, src_y + 3 * dy
    feed_whole(dec, update([rfbgen.raw(0, 0, image), rfbgen.copyrect(x, y, w, h, src_x, src_y)]))
    expected = image.copy()
    temporary = image[src_y : src_y + h, src_x : src_x + w].copy()
    expected[y : y + h, x : x + w] = temporary
    np.testing.assert_array_equal(fb.array, expected)


# --------------------------------------------------------------------------
# ZRLE


@pytest.mark.parametrize("mode", ["auto", "raw", "rle"])
def test_zrle_any_image(new_decoder, rng, mode):
    fb, dec = new_decoder(200, 150)
    image = rfbgen.random_image(rng, 150, 70)  # edge tiles of 22 x 6
    feed_whole(dec, update([ZRLEEncoder().rect(3, 4, image, mode)]))
    assert_area(fb, 3, 4, image)


def test_zrle_solid(new_decoder, rng):
    fb, dec = new_decoder(200, 150)
    image = rfbgen.palette_image(rng, 130, 70, 1)
    feed_whole(dec, update([ZRLEEncoder().rect(0, 1, image, "solid")]))
    assert_area(fb, 0, 1, image)


@pytest.mark.parametrize("colours", range(2, 17))
def test_zrle_packed_palette(new_decoder, rng, colours, row_path):
    fb, dec = new_decoder(100, 100)
    image = rfbgen.palette_image(rng, 61, 64, colours)  # odd width: padded index rows
    tiles = rfbgen.zrle_tile(image, "packed")
    assert tiles[0] == colours
    feed_whole(dec, update([ZRLEEncoder().rect(7, 9, image, "packed")]))
    assert_area(fb, 7, 9, image)


@pytest.mark.parametrize("colours", [2, 3, 4])
@pytest.mark.parametrize("width", [*range(1, 18), 31, 61, 62, 63, 64])
def test_zrle_packed_1_and_2_bit_rows_touch_nothing_else(new_decoder, rng, colours, width, row_path):
    """1- and 2-bit tiles of every row length, at the framebuffer's right edge
    on a patterned background: exact pixels, and nothing around them written."""
    fb, dec = new_decoder(80, 40)
    background = rfbgen.random_image(rng, 80, 40)
    feed_whole(dec, update([rfbgen.raw(0, 0, background)]))
    image = rfbgen.palette_image(rng, width, 9, colours)
    x = 80 - width
    feed_whole(dec, update([ZRLEEncoder().rect(x, 5, image, "packed")]))
    expected = background.copy()
    expected[5 : 5 + 9, x:] = image
    np.testing.assert_array_equal(fb.array, expected)


def _two_bit_tile(palette: np.ndarray, indices: np.ndarray, padding: int) -> bytes:
    """A packed ZRLE tile of 2-bit indices (rows of w indices) whose padding bits are all ``padding``."""
    h, w = indices.shape
    rows = []
    for row in indices:
        fields = [*row.tolist(), *([padding] * (-w % 4))]
        rows.append(bytes(sum(f << (6 - 2 * j) for j, f in enumerate(fields[i : i + 4])) for i in range(0, len(fields), 4)))
    return bytes([len(palette)]) + palette.tobytes() + b"".join(rows)


@pytest.mark.parametrize("width", [1, 2, 3, 5, 6, 7, 9, 13, 14, 15, 62, 63])
def test_zrle_2_bit_padding_is_not_an_index(new_decoder, rng, width, row_path):
    """A 3-colour tile whose row padding holds 0b11 (index 3, past the palette):
    the padding is no pixel, so the tile decodes."""
    fb, dec = new_decoder(80, 40)
    palette = rfbgen.random_palette(rng, 3)
    indices = rng.integers(0, 3, size=(11, width))
    tiles = _two_bit_tile(palette, indices, padding=3)
    feed_whole(dec, update([ZRLEEncoder().rect_from_tiles(80 - width, 2, width, 11, tiles)]))
    assert_area(fb, 80 - width, 2, palette[indices])


@pytest.mark.parametrize("width", [1, 2, 3, 4, 5, 8, 13, 16, 17, 64])
@pytest.mark.parametrize("where", ["first", "last", "middle"])
def test_zrle_2_bit_index_past_a_3_colour_palette_fails(new_decoder, rng, width, where, row_path):
    fb, dec = new_decoder(80, 80)
    palette = rfbgen.random_palette(rng, 3)
    indices = rng.integers(0, 3, size=(9, width))
    row, col = {"first": (0, 0), "last": (8, width - 1), "middle": (4, width // 2)}[where]
    indices[row, col] = 3
    tiles = _two_bit_tile(palette, indices, padding=0)
    with pytest.raises(ProtocolError, match="palette index"):
        feed_whole(dec, update([ZRLEEncoder().rect_from_tiles(0, 0, width, 9, tiles)]))


@pytest.mark.parametrize("bits", [1, 2])
def test_zrle_packed_tiles_in_many_palettes(new_decoder, rng, row_path, bits):
    """1-bit tiles (2 colours; the core's vectors take 32 pixels a step) or
    2-bit tiles (3 or 4 colours), each in its own palette, at every width from
    1 to 64 and in a rect of 100 x 70 (tiles 64 and 36 wide, 64 and 6 high)
    ending at the framebuffer's right edge and bottom, on a patterned
    background: every tile exact, nothing else written."""
    fb, dec = new_decoder(356, 200)
    background = rfbgen.random_image(rng, 356, 200)
    feed_whole(dec, update([rfbgen.raw(0, 0, background)]))
    expected = background.copy()
    zrle = ZRLEEncoder()
    rects = []
    for w in [*range(1, 65), 100]:
        x, y, h = ((w % 4) * 64, (w // 4) * 12, 1 + w % 9) if w <= 64 else (256, 130, 70)
        image = rfbgen.palette_image(rng, w, h, 2 if bits == 1 else 3 + w % 2)
        rects.append(zrle.rect(x, y, image, "packed"))
        expected[y : y + h, x : x + w] = image
    feed_whole(dec, update(rects))
    np.testing.assert_array_equal(fb.array, expected)


def test_zrle_packed_palette_with_unused_colours(new_decoder, rng):
    fb, dec = new_decoder(64, 64)
    palette = rfbgen.random_palette(rng, 5)  # 3 bits: indices of 4 bits
    image = rfbgen.palette_image(rng, 64, 64, palette[:3])
    tiles = rfbgen.zrle_tile(image, "packed", palette)
    feed_whole(dec, update([ZRLEEncoder().rect_from_tiles(0, 0, 64, 64, tiles)]))
    assert_area(fb, 0, 0, image)


@pytest.mark.parametrize("colours", [2, 3, 16, 17, 64, 127])
def test_zrle_palette_rle(new_decoder, rng, colours):
    fb, dec = new_decoder(200, 200)
    image = rfbgen.palette_image(rng, 128, 100, colours, run=5)
    zrle = ZRLEEncoder()
    def mode(tile: np.ndarray) -> str:  # a tile of the image may have a single colour
        return "palette_rle" if "palette_rle" in rfbgen.zrle_tile_modes(tile) else "raw"

    feed_whole(dec, update([zrle.rect(10, 20, image, mode)]))
    assert_area(fb, 10, 20, image)


def test_zrle_plain_rle_long_runs(new_decoder, rng):
    fb, dec = new_decoder(128, 128)
    image = rfbgen.palette_image(rng, 128, 128, 4, run=700)  # runs of 255+ need several length bytes
    feed_whole(dec, update([ZRLEEncoder().rect(0, 0, image, "rle")]))
    assert_area(fb, 0, 0, image)


def test_zrle_mixed_subencodings(new_decoder, rng):
    fb, dec = new_decoder(300, 270)
    image = np.concatenate(
        [rfbgen.palette_image(rng, 300, 64, colours) for colours in (1, 2, 9, 100)]
        + [rfbgen.random_image(rng, 300, 8)]
    )
    pick = np.random.default_rng(7)
    feed_whole(dec, update([ZRLEEncoder().rect(0, 0, image, lambda tile: pick.choice(rfbgen.zrle_tile_modes(tile)))]))
    assert_area(fb, 0, 0, image)


def test_zrle_stream_persists_across_rects_and_updates(new_decoder, rng):
    fb, dec = new_decoder(128, 64)
    zrle = ZRLEEncoder()
    images = [rfbgen.palette_image(rng, 64, 64, 5, run=3) for _ in range(4)]
    messages = [update([zrle.rect(0, 0, images[0]), zrle.rect(64, 0, images[1])])]
    messages += [update([zrle.rect(0, 0, image)]) for image in images[2:]]
    for message in messages:
        feed_whole(dec, message)
    assert_area(fb, 0, 0, images[3])
    assert_area(fb, 64, 0, images[1])
    # The later messages continue the stream: a fresh decoder cannot read them.
    _, fresh = new_decoder(128, 64)
    with pytest.raises(ProtocolError):
        fresh.feed(messages[1])


def _zrle_run_rects(encoder: ZRLEEncoder, tiles: list[bytes], sizes: list[tuple[int, int, int, int]], cuts: list[int]):
    """ZRLE rects (x, y, w, h from ``sizes``) whose tiles are ``tiles``, all
    compressed as one piece, with the compressed bytes handed out at ``cuts``
    instead of at each rect's own flush (a server flushing elsewhere)."""
    data = encoder.compress(b"".join(tiles))
    bounds = [0, *cuts, len(data)]
    return [
        Rect(x, y, w, h, rfbgen.ZRLE, struct.pack(">I", end - start) + data[start:end])
        for (x, y, w, h), start, end in zip(sizes, bounds, bounds[1:])
    ]


def test_zrle_many_small_rects_in_one_update(new_decoder, rng):
    """A flood of small rects (one ZRLE run) paints each rect; the stream goes on after it."""
    fb, dec = new_decoder(160, 96)
    zrle = ZRLEEncoder()
    images = {(x, y): rfbgen.palette_image(rng, 10 + x % 7, 8 + y % 5, 1 + (x + y) % 5) for x in range(0, 150, 16) for y in range(0, 90, 12)}
    feed_whole(dec, update([zrle.rect(x, y, image) for (x, y), image in images.items()]))
    for (x, y), image in images.items():
        assert_area(fb, x, y, image)
    later = rfbgen.random_image(rng, 20, 20)
    feed_whole(dec, update([zrle.rect(3, 5, later)]))
    assert_area(fb, 3, 5, later)


def test_zrle_run_ignores_where_the_server_flushed(new_decoder, rng):
    """Consecutive ZRLE rects of one update are inflated as one: data flushed
    mid-tile between two of them decodes the same as flushed per rect."""
    fb, dec = new_decoder(64, 32)
    images = [rfbgen.palette_image(rng, 16, 16, colours) for colours in (2, 4, 9)]
    tiles = [rfbgen.zrle_tile(image) for image in images]
    sizes = [(16 * i, 0, 16, 16) for i in range(3)]
    rects = _zrle_run_rects(ZRLEEncoder(), tiles, sizes, cuts=[3, 4])  # rect 1's data: one byte
    feed_whole(dec, update(rects))
    for i, image in enumerate(images):
        assert_area(fb, 16 * i, 0, image)


def test_zrle_run_ends_at_other_encodings(new_decoder, rng):
    """A rect of another encoding ends the run: the rects before it must use
    exactly their own data."""
    fb, dec = new_decoder(64, 32)
    images = [rfbgen.palette_image(rng, 16, 16, 3) for _ in range(2)]
    tiles = [rfbgen.zrle_tile(image) for image in images]
    first, second = _zrle_run_rects(ZRLEEncoder(), tiles, [(0, 0, 16, 16), (32, 0, 16, 16)], cuts=[5])
    raw = rfbgen.raw(16, 0, rfbgen.random_image(rng, 8, 8))
    with pytest.raises(ProtocolError, match="rect 0 .*inflated data ends inside the tile"):
        dec.feed(update([first, raw, second]))
    assert dec.failed


def _zrle_tiles_of(image: np.ndarray) -> bytes:
    """The inflated ZRLE data of a rect showing ``image``."""
    h, w = image.shape[:2]
    return b"".join(rfbgen.zrle_tile(image[y : y + 64, x : x + 64]) for y in range(0, h, 64) for x in range(0, w, 64))


def test_zrle_run_is_capped_by_its_inflated_bound(new_decoder, rng):
    """A run takes rects while their bound (4 bytes a pixel and 382 a tile)
    stays within 1 MiB: three 256x256 rects fit, a fourth starts a new run."""
    images = [rfbgen.palette_image(rng, 256, 256, 2) for _ in range(4)]
    t0, t1, t2, t3 = (_zrle_tiles_of(image) for image in images)
    sizes = [(256 * i, 0, 256, 256) for i in range(4)]

    def rects(*chunks: bytes) -> list[Rect]:
        zrle = ZRLEEncoder()
        return [Rect(*size, rfbgen.ZRLE, struct.pack(">I", len(c)) + c) for size, c in zip(sizes, map(zrle.compress, chunks))]

    fb, dec = new_decoder(1024, 256)
    feed_whole(dec, update(rects(t0 + t1[:50], t1[50:] + t2, b"", t3)))  # misplaced inside the first run
    for i, image in enumerate(images):
        assert_area(fb, 256 * i, 0, image)
    _, dec = new_decoder(1024, 256)
    with pytest.raises(ProtocolError, match="rect 2 .*inflated data ends inside the tile"):
        dec.feed(update(rects(t0 + t1 + t2[:-100], b"", b"", t2[-100:] + t3)))  # across the runs


def test_zrle_run_with_bytes_left_blames_its_last_rect(new_decoder, rng):
    fb, dec = new_decoder(64, 16)
    tiles = [rfbgen.zrle_tile(rfbgen.palette_image(rng, 16, 16, 2)) for _ in range(3)]
    tiles[2] += b"\x01\x00\x00\x00"
    rects = _zrle_run_rects(ZRLEEncoder(), tiles, [(16 * i, 0, 16, 16) for i in range(3)], cuts=[6, 12])
    with pytest.raises(ProtocolError, match="rect 2 .*4 (inflated )?bytes (of inflated data )?left after the last tile"):
        dec.feed(update(rects))


def test_zrle_run_with_corrupt_zlib_data_names_the_run(new_decoder, rng):
    fb, dec = new_decoder(64, 16)
    zrle = ZRLEEncoder()
    rects = [zrle.rect(16 * i, 0, rfbgen.palette_image(rng, 16, 16, 2)) for i in range(3)]
    rects[2] = Rect(32, 0, 16, 16, rfbgen.ZRLE, struct.pack(">I", 8) + b"\xff" * 8)
    with pytest.raises(ProtocolError, match="rect 0 .*run of 3 ZRLE rects"):
        dec.feed(update(rects))
    assert dec.failed


# --------------------------------------------------------------------------
# Tight


def test_tight_fill(new_decoder):
    fb, dec = new_decoder(30, 20)
    feed_whole(dec, update([TightEncoder().fill(3, 4, 10, 5, (200, 100, 50))]))
    assert (fb.array[4:9, 3:13] == (200, 100, 50)).all()
    assert fb.array.sum() == 50 * (200 + 100 + 50)


@pytest.mark.parametrize("w", [*range(1, 20), 31, 32, 33, 47, 48, 49, 64, 65, 100])
@pytest.mark.parametrize("kind", ["tight-fill", "zrle-solid"])
def test_fills_write_exactly_their_rect(new_decoder, rng, w, kind):
    """A one-colour rect at the framebuffer's right and bottom edge, every
    width of row tail (16 pixels a step), paints its area and nothing else."""
    fb, dec = new_decoder(w + 5, 7)
    background = rfbgen.random_image(rng, w + 5, 7)
    tight = TightEncoder()
    feed_whole(dec, update([tight.basic(0, 0, background)]))
    colour = (200, 100, 50)
    if kind == "tight-fill":
        rect = tight.fill(5, 2, w, 5, colour)
    else:
        rect = ZRLEEncoder().rect(5, 2, np.broadcast_to(np.array(colour, np.uint8), (5, w, 3)), "solid")
    feed_whole(dec, update([rect]))
    expected = background.copy()
    expected[2:, 5:] = colour
    np.testing.assert_array_equal(fb.array, expected)


@pytest.mark.parametrize("subsample", ["444", "422", "420"])
def test_tight_jpeg(new_decoder, subsample):
    fb, dec = new_decoder(120, 100)
    image = rfbgen.smooth_image(96, 80)
    feed_whole(dec, update([TightEncoder().jpeg(10, 12, image, quality=90, subsample=subsample)]))
    assert psnr(fb.array[12:92, 10:106], image) >= 30


def test_tight_jpeg_gray(new_decoder):
    fb, dec = new_decoder(64, 64)
    image = rfbgen.smooth_image(64, 64)
    feed_whole(dec, update([TightEncoder().jpeg(0, 0, image, quality=95, subsample="gray")]))
    out = fb.array.astype(np.int16)
    assert (out[:, :, 0] == out[:, :, 1]).all() and (out[:, :, 1] == out[:, :, 2]).all()
    luma = image.astype(np.float64) @ [0.299, 0.587, 0.114]
    assert psnr(out[:, :, 0], luma.round()) >= 30


@pytest.mark.parametrize("filter", [None, "copy", "gradient"])
@pytest.mark.parametrize("size", [(1, 1), (3, 1), (4, 1), (2, 2), (17, 9), (64, 48)])
def test_tight_basic_rgb(new_decoder, rng, filter, size):
    """Copy and gradient data: raw under 12 bytes (1x1, 3x1), zlib from 12 (4x1) on."""
    w, h = size
    fb, dec = new_decoder(70, 50)
    image = rfbgen.smooth_image(w, h, phase=1.0) ^ rfbgen.random_image(rng, w, h) // 32
    rect = TightEncoder().basic(5, 1, image, filter=filter, stream=2)
    feed_whole(dec, update([rect]))
    assert_area(fb, 5, 1, image)


@pytest.mark.parametrize("size", [(8, 11), (8, 12), (9, 1), (50, 30)])
def test_tight_palette_two_colours(new_decoder, rng, size):
    """1 bit per pixel: 8x11 is 11 bytes (raw), 8x12 is 12 (zlib), 9x1 pads the row."""
    w, h = size
    fb, dec = new_decoder(64, 64)
    image = rfbgen.palette_image(rng, w, h, 2)
    feed_whole(dec, update([TightEncoder().basic(1, 2, image, filter="palette", stream=3)]))
    assert_area(fb, 1, 2, image)


@pytest.mark.parametrize("width", [*range(1, 18), 31, 32, 33, 47, 61, 62, 63, 64, 65, 95, 96, 97, 130])
def test_tight_two_colour_rows_touch_nothing_else(new_decoder, rng, width, row_path):
    """1-bit rows of every length (the core's vectors take 32 pixels a step) at
    the framebuffer's right edge and bottom, on a patterned background: exact
    pixels, and nothing around them written."""
    fb, dec = new_decoder(140, 40)
    background = rfbgen.random_image(rng, 140, 40)
    feed_whole(dec, update([rfbgen.raw(0, 0, background)]))
    expected = background.copy()
    x = 140 - width
    tight = TightEncoder()
    for y, h in [(5, 9), (31, 9)]:
        image = rfbgen.palette_image(rng, width, h, 2)
        feed_whole(dec, update([tight.basic(x, y, image, filter="palette", stream=1)]))
        expected[y : y + h, x:] = image
    np.testing.assert_array_equal(fb.array, expected)


@pytest.mark.parametrize("encoding", ["zrle", "tight"])
@pytest.mark.parametrize("width", [8, 9, 15, 16, 17, 23, 24, 25, 31, 32, 33, 39, 47, 57, 63, 64])
def test_two_colour_wide_rows_touch_nothing_else(new_decoder, rng, encoding, width):
    """2-colour rows wide and big enough for the core's byte table, and narrow ones
    whose colours repeat (the table is kept), then the colours swapped (rebuilt): exact
    pixels at the framebuffer's right edge, on a patterned background, nothing else written."""
    fb, dec = new_decoder(80, 150)
    background = rfbgen.random_image(rng, 80, 150)
    feed_whole(dec, update([rfbgen.raw(0, 0, background)]))
    expected = background.copy()
    palette = rfbgen.random_palette(rng, 2)
    zrle, tight = ZRLEEncoder(), TightEncoder()  # one zlib stream each, as on a connection

    def rect(x: int, y: int, image: np.ndarray):
        if encoding == "zrle":
            return zrle.rect(x, y, image, "packed")
        return tight.basic(x, y, image, filter="palette", stream=2)

    big = rfbgen.palette_image(rng, 64, 64, palette)  # 4096 pixels: the table is built
    narrow = rfbgen.palette_image(rng, width, 20, palette)  # the same two colours
    swapped = rfbgen.palette_image(rng, width, 64, palette[::-1])  # other order: rebuilt if used
    x = 80 - width
    feed_whole(dec, update([rect(0, 0, big), rect(x, 66, narrow), rect(x, 86, swapped)]))
    expected[0:64, 0:64] = big
    expected[66:86, x:] = narrow
    expected[86:150, x:] = swapped
    np.testing.assert_array_equal(fb.array, expected)


@pytest.mark.parametrize("encoding", ["zrle", "tight"])
def test_two_colour_tiles_in_many_colour_pairs(new_decoder, rng, encoding):
    """Small 2-colour tiles cycling through more colour pairs than the core keeps
    byte tables for (each pair met again gets one; the oldest are dropped),
    some pairs swapped: every tile exact, nothing else written."""
    fb, dec = new_decoder(240, 200)
    background = rfbgen.random_image(rng, 240, 200)
    feed_whole(dec, update([rfbgen.raw(0, 0, background)]))
    expected = background.copy()
    zrle, tight = ZRLEEncoder(), TightEncoder()
    palettes = [rfbgen.random_palette(rng, 2) for _ in range(20)]
    for message in range(3):
        rects = []
        for i, palette in enumerate(palettes + [p[::-1] for p in palettes[:5]]):
            w, h = 8 + (i * 5 + message) % 33, 2 + (i + message) % 5
            x, y = (i % 6) * 40, message * 60 + (i // 6) * 12
            image = rfbgen.palette_image(rng, w, h, palette)
            rects.append(zrle.rect(x, y, image, "packed") if encoding == "zrle" else tight.basic(x, y, image, filter="palette", stream=1))
            expected[y : y + h, x : x + w] = image
        feed_whole(dec, update(rects))
        np.testing.assert_array_equal(fb.array, expected)


@pytest.mark.parametrize("colours", [1, 3, 16, 200, 256])
@pytest.mark.parametrize("size", [(3, 3), (4, 3), (60, 40)])
def test_tight_palette_bytes(new_decoder, rng, colours, size):
    """1 byte per pixel: 3x3 is 9 bytes (raw), 4x3 is 12 (zlib); small rects leave colours unused."""
    w, h = size
    fb, dec = new_decoder(64, 64)
    palette = rfbgen.random_palette(rng, colours)
    image = rfbgen.palette_image(rng, w, h, palette)
    feed_whole(dec, update([TightEncoder().basic(2, 3, image, filter="palette", palette=palette)]))
    assert_area(fb, 2, 3, image)


@pytest.mark.parametrize("colours", [3, 4, 5, 6])
@pytest.mark.parametrize("width", [*range(1, 18), 31, 64, 100])
def test_tight_few_colour_rows_touch_nothing_else(new_decoder, rng, colours, width, row_path):
    """Byte-an-index rows of 3-6 colours (the core shuffles up to 5) of every
    length, raw (under 12 bytes) and zlib, ending at the framebuffer's right
    edge and bottom, on a patterned background: exact pixels, nothing else written."""
    fb, dec = new_decoder(100, 40)
    background = rfbgen.random_image(rng, 100, 40)
    feed_whole(dec, update([rfbgen.raw(0, 0, background)]))
    expected = background.copy()
    tight = TightEncoder()
    x = 100 - width
    for y, h in [(0, 1), (3, 2), (30, 10)]:
        palette = rfbgen.random_palette(rng, colours)
        image = rfbgen.palette_image(rng, width, h, palette)
        feed_whole(dec, update([tight.basic(x, y, image, filter="palette", palette=palette, stream=3)]))
        expected[y : y + h, x:] = image
    np.testing.assert_array_equal(fb.array, expected)


@pytest.mark.parametrize("colours", [3, 5, 17])
@pytest.mark.parametrize("width", [1, 4, 5, 6, 11, 16, 33])
@pytest.mark.parametrize("where", ["first", "last", "middle"])
def test_tight_palette_index_past_the_palette_fails(new_decoder, rng, colours, width, where, row_path):
    fb, dec = new_decoder(64, 64)
    palette = rfbgen.random_palette(rng, colours)
    indices = rng.integers(0, colours, size=(4, width)).astype(np.uint8)
    row, col = {"first": (0, 0), "last": (3, width - 1), "middle": (2, width // 2)}[where]
    indices[row, col] = colours
    rect = TightEncoder().basic_data(0, 0, width, 4, indices.tobytes(), filter_id=1,
                                     filter_params=bytes([colours - 1]) + palette.tobytes())
    with pytest.raises(ProtocolError, match=f"palette index {colours} >= palette size {colours}"):
        feed_whole(dec, update([rect]))


@pytest.mark.parametrize("w, h, length_bytes", [(5, 5, 1), (40, 40, 2), (100, 100, 3)])
def test_tight_compact_length_sizes(new_decoder, rng, w, h, length_bytes):
    fb, dec = new_decoder(100, 100)
    image = rfbgen.random_image(rng, w, h)
    rect = TightEncoder().basic(0, 0, image)
    zlib_length = len(rect.payload) - 1 - length_bytes
    assert rect.payload[1 : 1 + length_bytes] == rfbgen.compact_length(zlib_length)
    feed_whole(dec, update([rect]))
    assert_area(fb, 0, 0, image)


def test_tight_streams_persist(new_decoder, rng):
    fb, dec = new_decoder(64, 64)
    tight = TightEncoder()
    images = [rfbgen.palette_image(rng, 32, 32, 6, run=2) for _ in range(8)]
    places = [(0, 0), (32, 0), (0, 32), (32, 32)]
    first = update([tight.basic(*places[s], images[s], stream=s, filter="gradient") for s in range(4)])
    second = update([tight.basic(*places[s], images[4 + s], stream=s) for s in (3, 1, 0, 2)])
    feed_whole(dec, first)
    feed_whole(dec, second)
    for s in range(4):
        assert_area(fb, *places[s], images[4 + s])


def _tight_carrier(tight: TightEncoder, kind: str, reset: int, rng) -> Rect:
    """A Tight rect of ``kind`` that carries the reset bits ``reset``."""
    if kind == "fill":
        return tight.fill(0, 40, 8, 8, (1, 2, 3), reset=reset)
    if kind == "jpeg":
        return tight.jpeg(0, 40, rfbgen.smooth_image(16, 16), reset=reset)
    return tight.basic(0, 40, rfbgen.random_image(rng, 8, 8), stream=0, reset=reset)


@pytest.mark.parametrize("kind", ["fill", "jpeg", "basic"])
@pytest.mark.parametrize("stream", [1, 2, 3])
def test_tight_reset_bits(new_decoder, rng, kind, stream):
    """Reset bits act before the rect whatever its type; stream 0 carries the basic rect."""
    fb, dec = new_decoder(64, 64)
    tight = TightEncoder()
    before, after = (rfbgen.palette_image(rng, 20, 20, 5, run=4) for _ in range(2))
    feed_whole(dec, update([tight.basic(0, 0, before, stream=stream)]))
    feed_whole(dec, update([_tight_carrier(tight, kind, 1 << stream, rng), tight.basic(0, 0, after, stream=stream)]))
    assert_area(fb, 0, 0, after)


def test_tight_reset_without_bit_fails(new_decoder, rng):
    """Control: if the decoder does not reset, the encoder's fresh stream is unreadable."""
    _, dec = new_decoder(64, 64)
    tight = TightEncoder()
    image = rfbgen.palette_image(rng, 20, 20, 5, run=4)
    feed_whole(dec, update([tight.basic(0, 0, image, stream=1)]))
    tight.reset(0b0010)
    with pytest.raises(ProtocolError):
        dec.feed(update([tight.basic(0, 0, image, stream=1)]))


def test_tight_reset_all_streams(new_decoder, rng):
    fb, dec = new_decoder(64, 64)
    tight = TightEncoder()
    image = rfbgen.palette_image(rng, 16, 16, 4, run=3)
    feed_whole(dec, update([tight.basic(0, 0, image, stream=s) for s in range(4)]))
    reset = tight.fill(0, 0, 1, 1, (0, 0, 0), reset=0xF)  # encode in wire order: the reset first
    feed_whole(dec, update([reset, *(tight.basic(16 * s, 16, image, stream=s) for s in range(4))]))
    for s in range(4):
        assert_area(fb, 16 * s, 16, image)


@pytest.mark.parametrize("filter", [None, "gradient", "palette"])
def test_tight_wider_than_2048(new_decoder, rng, filter):
    fb, dec = new_decoder(3000, 6)
    image = rfbgen.palette_image(rng, 3000, 5, 2 if filter == "palette" else 40, run=11)
    feed_whole(dec, update([TightEncoder().basic(0, 1, image, filter=filter)]))
    assert_area(fb, 0, 1, image)


def test_tight_wide_fill_and_jpeg(new_decoder):
    fb, dec = new_decoder(2600, 16)
    tight = TightEncoder()
    image = rfbgen.smooth_image(2600, 8)
    feed_whole(dec, update([tight.fill(0, 0, 2600, 8, (9, 8, 7)), tight.jpeg(0, 8, image, quality=95)]))
    assert (fb.array[:8] == (9, 8, 7)).all()
    assert psnr(fb.array[8:], image) >= 30


def _tight_copy_rects(sizes, pieces: list[bytes], stream: int = 0, cuts=None) -> list[Rect]:
    """Tight copy-filter rects on one stream: each of ``pieces`` is compressed
    and sync-flushed on one zlib stream, and the compressed bytes are handed out
    to the rects at ``cuts`` (default: each rect's own flush), as a server
    flushing elsewhere would."""
    z = zlib.compressobj()
    packed = [z.compress(piece) + z.flush(zlib.Z_SYNC_FLUSH) for piece in pieces]
    if cuts is None:
        cuts = [sum(map(len, packed[: i + 1])) for i in range(len(packed) - 1)]
    whole = b"".join(packed)
    bounds = [0, *cuts, len(whole)]
    return [
        Rect(x, y, w, h, rfbgen.TIGHT, bytes([stream << 4]) + rfbgen.compact_length(end - start) + whole[start:end])
        for (x, y, w, h), start, end in zip(sizes, bounds, bounds[1:])
    ]


def test_tight_many_small_rects_in_one_update(new_decoder, rng):
    """A flood of small Tight rects of every kind on every stream (one run)
    paints each rect; the streams go on after it."""
    fb, dec = new_decoder(200, 120)
    tight = TightEncoder()
    rects, expected = [], {}
    for i, (x, y) in enumerate((x, y) for y in range(0, 110, 11) for x in range(0, 190, 19)):
        w, h = 6 + i % 13, 3 + i % 8
        kind = i % 6
        if kind == 0:
            colour = rng.integers(0, 256, 3, dtype=np.uint8)
            rects.append(tight.fill(x, y, w, h, tuple(colour)))
            expected[x, y] = np.broadcast_to(colour, (h, w, 3))
            continue
        image = rfbgen.palette_image(rng, w, h, (2, 5, 40, 1, 3)[kind - 1]) if kind < 5 else rfbgen.random_image(rng, w, h)
        filter = (None, "palette", "palette", "gradient", "palette", "copy")[kind]
        rects.append(tight.basic(x, y, image, filter, stream=i % 4))
        expected[x, y] = image
    feed_whole(dec, update(rects))
    for (x, y), image in expected.items():
        assert_area(fb, x, y, image)
    later = rfbgen.random_image(rng, 30, 20)
    feed_whole(dec, update([tight.basic(5, 5, later, "copy", stream=s) for s in range(4)]))
    assert_area(fb, 5, 5, later)


def test_tight_run_with_jpeg_and_fill_rects_between_its_basic_rects(new_decoder, rng):
    """JPEG and fill rects inside a run take no part of its zlib data: the
    basic rects around them (compressed and raw, on several streams) still
    get theirs in order, and a second run in the same update starts afresh."""
    fb, dec = new_decoder(160, 64)
    tight = TightEncoder()
    rects, basics, jpegs = [], {}, {}
    for i in range(16):
        x, y = 20 * (i % 8), 32 * (i // 8)
        if i % 4 == 1:
            image = rfbgen.smooth_image(16, 16)
            rects.append(tight.jpeg(x, y, image, quality=95))
            jpegs[x, y] = image
        elif i % 4 == 3:
            rects.append(tight.fill(x, y, 16, 16, (i, 2 * i, 3 * i)))
            basics[x, y] = np.broadcast_to(np.array((i, 2 * i, 3 * i), np.uint8), (16, 16, 3))
        else:
            w, h = (2, 1) if i % 8 == 4 else (16, 16)  # (2x1 copy: raw, under 12 bytes)
            image = rfbgen.palette_image(rng, w, h, 1 + i % 5)
            reset = 4 if i == 8 else 0  # (rect 8 resets stream 2: a second run)
            rects.append(tight.basic(x, y, image, "palette" if i % 5 > 1 else None, stream=i % 3, reset=reset))
            basics[x, y] = image
    feed_whole(dec, update(rects))
    for (x, y), image in basics.items():
        assert_area(fb, x, y, image)
    for (x, y), image in jpegs.items():
        assert psnr(fb.array[y : y + 16, x : x + 16], image) >= 30


def test_tight_run_ignores_where_the_server_flushed(new_decoder, rng):
    """Consecutive Tight rects of one update are inflated a stream at a time:
    data flushed mid-rect decodes the same as flushed per rect, with another
    stream's rect and a fill between."""
    fb, dec = new_decoder(64, 32)
    images = [rfbgen.random_image(rng, 8, 8) for _ in range(3)]
    rects = _tight_copy_rects([(8 * i, 0, 8, 8) for i in range(3)], [b"".join(i.tobytes() for i in images)], cuts=[40, 41])
    other = rfbgen.random_image(rng, 8, 8)
    tight = TightEncoder()
    rects[1:1] = [tight.basic(0, 16, other, stream=2), tight.fill(16, 16, 4, 4, (1, 2, 3))]
    feed_whole(dec, update(rects))
    for i, image in enumerate(images):
        assert_area(fb, 8 * i, 0, image)
    assert_area(fb, 0, 16, other)


def test_tight_run_ends_at_a_stream_reset(new_decoder, rng):
    fb, dec = new_decoder(64, 32)
    data = b"".join(rfbgen.random_image(rng, 8, 8).tobytes() for _ in range(2))
    first, second = _tight_copy_rects([(0, 0, 8, 8), (16, 0, 8, 8)], [data], cuts=[50])
    reset = TightEncoder().fill(32, 0, 4, 4, (0, 0, 0), reset=4)  # resets stream 2
    with pytest.raises(ProtocolError, match=r"rect 0 .*stream 0 inflates to \d+ bytes, the rect needs 192"):
        dec.feed(update([first, reset, second]))
    assert dec.failed


@pytest.mark.parametrize(
    "change, message",
    [
        (-4, r"rect 0 .*stream 0 inflates to 572 bytes, the run of 3 Tight rects from this one needs 576"),
        (1, r"rect 0 .*(more than the 576 bytes|longer than the 576 bytes).*the run of 3 Tight rects"),
    ],
)
def test_tight_run_whose_stream_data_is_not_exact_names_the_run(new_decoder, rng, change, message):
    fb, dec = new_decoder(64, 32)
    data = b"".join(rfbgen.random_image(rng, 8, 8).tobytes() for _ in range(3))
    data = data[:change] if change < 0 else data + bytes(change)
    rects = _tight_copy_rects([(8 * i, 0, 8, 8) for i in range(3)], [data], cuts=[100, 300])
    with pytest.raises(ProtocolError, match=message):
        dec.feed(update(rects))


def test_tight_run_is_capped_by_its_data(new_decoder, rng):
    """A run takes compressed rects while their filtered data stays within
    1 MiB: five 256x256 copy rects (196,608 bytes each) fit, a sixth starts a
    new run."""
    images = [rfbgen.random_image(rng, 256, 256) for _ in range(6)]
    sizes = [(256 * i, 0, 256, 256) for i in range(6)]
    five = b"".join(image.tobytes() for image in images[:5])
    fb, dec = new_decoder(1536, 256)
    rects = _tight_copy_rects(sizes, [five, images[5].tobytes()])
    z_five = len(rects[0].payload) - 4  # (the first rect took all of the five's data)
    rects = _tight_copy_rects(sizes, [five, images[5].tobytes()], cuts=[1000, 2000, 3000, z_five // 2, z_five])
    feed_whole(dec, update(rects))  # misplaced inside the first run
    for i, image in enumerate(images):
        assert_area(fb, 256 * i, 0, image)
    _, dec = new_decoder(1536, 256)
    rects = _tight_copy_rects(sizes, [five, images[5].tobytes()], cuts=[1000, 2000, 3000, z_five // 2, z_five - 10])
    with pytest.raises(ProtocolError, match=r"rect 0 .*stream 0 inflates to \d+ bytes, the run of 5 Tight rects from this one needs 983040"):
        dec.feed(update(rects))  # across the runs


# --------------------------------------------------------------------------
# Pseudo-encodings


def test_desktop_size_mid_update(new_decoder, rng):
    fb, dec = new_decoder(32, 32)
    first, second = rfbgen.random_image(rng, 32, 32), rfbgen.random_image(rng, 24, 18)
    old = fb.array
    message = update([rfbgen.raw(0, 0, first), rfbgen.desktop_size(64, 48), rfbgen.raw(40, 30, second)])
    feed_whole(dec, message)
    assert dec.resized and fb.array is not old
    assert fb.array.shape == (48, 64, 3) and (fb.width, fb.height) == (64, 48)
    assert_area(fb, 40, 30, second)
    fb.array[30:48, 40:64] = 0
    assert not fb.array.any()  # zeroed at the resize: the first rect is gone
    np.testing.assert_array_equal(old, first)  # which the old array still holds
    feed_whole(dec, update([]))
    assert not dec.resized


def test_desktop_size_to_the_same_size_changes_nothing(new_decoder, rng):
    fb, dec = new_decoder(16, 8)
    image = rfbgen.random_image(rng, 16, 8)
    old = fb.array
    feed_whole(dec, update([rfbgen.raw(0, 0, image), rfbgen.desktop_size(16, 8)]))
    assert not dec.resized and fb.array is old
    np.testing.assert_array_equal(fb.array, image)


def test_extended_desktop_size(new_decoder):
    fb, dec = new_decoder(32, 32)
    feed_whole(dec, update([rfbgen.extended_desktop_size(80, 60, reason=1)]))
    assert dec.resized and fb.array.shape == (60, 80, 3)
    screens = [(1, 0, 0, 40, 60, 0), (2, 40, 0, 40, 60, 0)]
    feed_whole(dec, update([rfbgen.extended_desktop_size(50, 50, status=3, reason=1, screens=screens)]))
    assert not dec.resized and fb.array.shape == (60, 80, 3)  # a refusal changes nothing
    feed_whole(dec, update([rfbgen.extended_desktop_size(50, 40, screens=[])]))
    assert dec.resized and fb.array.shape == (40, 50, 3)


@pytest.mark.parametrize("size", [(13, 7), (16, 16), (1, 1), (64, 3)])
def test_cursor(new_decoder, rng, size):
    w, h = size
    _, dec = new_decoder(32, 32)
    assert dec.cursor is None
    rgba = rng.integers(0, 256, size=(h, w, 4), dtype=np.uint8)
    rgba[:, :, 3] = np.where(rng.random((h, w)) < 0.5, 0, 255)
    feed_whole(dec, update([rfbgen.cursor(3, 2, rgba)]))
    assert dec.cursor_changed
    image, hot_x, hot_y = dec.cursor
    assert (hot_x, hot_y) == (3, 2)
    np.testing.assert_array_equal(image, rgba)
    feed_whole(dec, update([]))
    assert not dec.cursor_changed
    np.testing.assert_array_equal(dec.cursor[0], rgba)  # kept until the next Cursor rect


def test_empty_cursor(new_decoder):
    _, dec = new_decoder(8, 8)
    feed_whole(dec, update([rfbgen.cursor(1, 2, np.zeros((0, 0, 4), np.uint8))]))
    image, hot_x, hot_y = dec.cursor
    assert image.shape == (0, 0, 4) and (hot_x, hot_y) == (1, 2) and dec.cursor_changed


def test_last_rect_mode(new_decoder, rng):
    fb, dec = new_decoder(64, 64)
    image = rfbgen.random_image(rng, 30, 20)
    message = update([rfbgen.raw(0, 0, image), ZRLEEncoder().rect(30, 20, image), rfbgen.last_rect()], nrects=0xFFFF)
    assert dec.feed(message + b"\x00\x00\xff\xff") == len(message)
    assert_area(fb, 0, 0, image)
    assert_area(fb, 30, 20, image)
    assert dec.last_rects == 2  # the LastRect marker is not a rect


def test_last_rect_ends_a_counted_update(new_decoder, rng):
    fb, dec = new_decoder(64, 64)
    image = rfbgen.random_image(rng, 8, 8)
    message = update([rfbgen.raw(1, 1, image), rfbgen.last_rect()], nrects=7)
    assert dec.feed(message + bytes(100)) == len(message)
    assert_area(fb, 1, 1, image)


# --------------------------------------------------------------------------
# Framing: offsets, partial feeds, buffers, counters


def _mixed_message(rng, zrle: ZRLEEncoder, tight: TightEncoder, shift: int = 0) -> bytes:
    """A message with every pixel encoding and stateful zlib streams."""
    return update(
        [
            rfbgen.raw(0, 0, rfbgen.random_image(rng, 6, 5)),
            zrle.rect(10 + shift, 3, rfbgen.palette_image(rng, 70, 20, 5, run=6)),
            tight.basic(1, 30, rfbgen.palette_image(rng, 20, 10, 7, run=3), filter="gradient", stream=1),
            tight.basic(30, 30, rfbgen.palette_image(rng, 9, 9, 2), filter="palette"),
            tight.jpeg(50, 40, rfbgen.smooth_image(16, 16, phase=shift)),
            tight.fill(2, 50, 5, 5, (shift, 2, 3)),
            rfbgen.copyrect(40, 60, 10, 3, 0, 0),
            rfbgen.cursor(0, 0, np.full((3, 5, 4), 255, np.uint8)),
        ]
    )


def test_every_prefix_is_incomplete(new_decoder, rng):
    fb, dec = new_decoder(100, 80)
    zrle, tight = ZRLEEncoder(), TightEncoder()
    first, second = _mixed_message(rng, zrle, tight), _mixed_message(rng, zrle, tight, shift=1)
    for cut in range(len(first)):
        assert dec.feed(first[:cut]) == 0, cut
        assert not fb.array.any() and dec.updates == 0 and dec.cursor is None
    feed_whole(dec, first)
    after_first = fb.array.copy()
    for cut in range(len(second)):
        assert dec.feed(second[:cut]) == 0, cut
    np.testing.assert_array_equal(fb.array, after_first)
    feed_whole(dec, second)  # the zlib streams were not advanced by the partial feeds
    assert dec.updates == 2


def test_growing_bytearray(new_decoder, rng):
    """Feeding a bytearray must not keep it locked: it can grow between calls."""
    fb, dec = new_decoder(100, 80)
    message = _mixed_message(rng, ZRLEEncoder(), TightEncoder())
    buffer = bytearray()
    consumed = 0
    for start in range(0, len(message), 97):
        buffer += message[start : start + 97]
        consumed = dec.feed(buffer)
    assert consumed == len(message) and dec.updates == 1
    buffer += b"more"  # still resizable


def test_back_to_back_with_offset(new_decoder, rng):
    fb, dec = new_decoder(64, 64)
    zrle = ZRLEEncoder()
    images = [rfbgen.palette_image(rng, 40, 30, 3, run=2) for _ in range(2)]
    first, second = update([zrle.rect(0, 0, images[0])]), update([zrle.rect(10, 10, images[1])])
    buffer = first + second + b"\x00\x00"
    assert dec.feed(buffer) == len(first)
    assert dec.feed(buffer, len(first)) == len(second)
    assert dec.feed(buffer, len(first) + len(second)) == 0
    assert dec.feed(buffer, len(buffer)) == 0
    assert_area(fb, 10, 10, images[1])


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "numpy"])
def test_buffer_types(new_decoder, rng, kind):
    fb, dec = new_decoder(16, 16)
    image = rfbgen.random_image(rng, 4, 4)
    message = b"junk" + update([rfbgen.raw(2, 2, image)])
    data = {
        "bytes": message,
        "bytearray": bytearray(message),
        "memoryview": memoryview(message),
        "numpy": np.frombuffer(message, np.uint8),
    }[kind]
    assert dec.feed(data, 4) == len(message) - 4
    assert_area(fb, 2, 2, image)


def test_counters(new_decoder, rng):
    _, dec = new_decoder(64, 64)
    zrle, tight = ZRLEEncoder(), TightEncoder()
    first = update(
        [
            rfbgen.raw(0, 0, rfbgen.random_image(rng, 4, 3)),  # 12 pixels
            rfbgen.copyrect(10, 10, 5, 5, 0, 0),  # 25
            zrle.rect(0, 20, rfbgen.random_image(rng, 10, 2)),  # 20
            tight.fill(0, 30, 3, 3, (1, 1, 1)),  # 9
            rfbgen.cursor(0, 0, np.zeros((2, 2, 4), np.uint8)),
            rfbgen.last_rect(),
        ],
        nrects=0xFFFF,
    )
    second = update([rfbgen.desktop_size(32, 32), tight.basic(0, 0, rfbgen.random_image(rng, 2, 2))])
    feed_whole(dec, first)
    assert (dec.last_rects, dec.last_pixels, dec.last_bytes) == (5, 66, len(first))  # LastRect not counted
    assert dec.cursor_changed and not dec.resized
    feed_whole(dec, second)
    assert (dec.last_rects, dec.last_pixels, dec.last_bytes) == (2, 4, len(second))
    assert dec.resized and not dec.cursor_changed
    assert (dec.updates, dec.rects, dec.pixels, dec.bytes) == (2, 7, 70, len(first) + len(second))
    assert dec.feed(second[:-1]) == 0
    assert dec.updates == 2 and dec.last_bytes == len(second)


def test_max_updates_decodes_a_backlog_in_one_call(new_decoder, rng):
    fb, dec = new_decoder(64, 64)
    zrle, tight = ZRLEEncoder(), TightEncoder()
    images = [rfbgen.palette_image(rng, 20, 10, 3, run=2) for _ in range(3)]
    first = update([zrle.rect(0, 0, images[0]), rfbgen.cursor(0, 0, np.zeros((2, 2, 4), np.uint8))])
    second = update([rfbgen.desktop_size(48, 48), zrle.rect(5, 5, images[1])])
    third = update([tight.basic(20, 20, images[2])])
    bell = b"\x02"
    buffer = b"xx" + first + second + bell + third + third[:-1]
    n = dec.feed(buffer, 2, max_updates=10)
    assert n == len(first) + len(second)  # stops before the Bell
    assert (dec.last_updates, dec.updates, dec.last_rects, dec.last_bytes) == (2, 2, 4, n)
    assert dec.last_pixels == 2 * 20 * 10
    assert dec.resized and dec.cursor_changed  # ORed over the two
    assert fb.array.shape == (48, 48, 3)
    assert_area(fb, 5, 5, images[1])
    start = 2 + n + len(bell)
    assert dec.feed(buffer, start, max_updates=10) == len(third)  # stops before the incomplete one
    assert (dec.last_updates, dec.last_rects, dec.updates) == (1, 1, 3)
    assert not dec.resized and not dec.cursor_changed
    assert_area(fb, 20, 20, images[2])
    assert dec.feed(buffer, start + len(third), max_updates=10) == 0
    assert dec.last_updates == 1  # unchanged by a call that decoded nothing


def test_max_updates_caps_the_batch(new_decoder, rng):
    fb, dec = new_decoder(32, 32)
    one = update([rfbgen.raw(0, 0, rfbgen.random_image(rng, 4, 4))])
    assert dec.feed(one * 5, 0, max_updates=3) == 3 * len(one)
    assert dec.last_updates == 3 and dec.updates == 3
    assert dec.feed(one * 5, 0) == len(one) and dec.last_updates == 1  # the default: one


@pytest.mark.parametrize("bad", [0, -1])
def test_max_updates_must_be_positive(new_decoder, bad):
    from vncenv.error import UsageError

    _, dec = new_decoder(8, 8)
    with pytest.raises(UsageError):
        dec.feed(update([]), 0, max_updates=bad)
    assert not dec.failed


@pytest.mark.parametrize("good_ones", [1, 2])
@pytest.mark.parametrize("bad_rect", ["framing", "decoding"])
def test_max_updates_reports_good_updates_before_a_bad_one(new_decoder, rng, bad_rect, good_ones):
    fb, dec = new_decoder(16, 16)
    image = rfbgen.random_image(rng, 2, 2)
    good = update([rfbgen.raw(0, 0, image)])
    if bad_rect == "framing":
        bad = update([rfbgen.Rect(0, 0, 4, 4, 12345, b"")])  # an encoding nobody asked for
    else:  # two rects, the second with broken zlib data
        bad = update([rfbgen.copyrect(8, 8, 1, 1, 0, 0),
                      rfbgen.Rect(0, 0, 4, 4, 16, (8).to_bytes(4, "big") + b"\xde\xad\xbe\xef" * 2)])
    stream = good * good_ones + bad
    assert dec.feed(stream, 0, max_updates=5) == good_ones * len(good)
    # the counters are the good ones' (not what the bad one's framing set)
    assert (dec.last_updates, dec.updates, dec.last_rects, dec.last_pixels, dec.last_bytes) == (
        good_ones, good_ones, good_ones, 4 * good_ones, good_ones * len(good))
    assert_area(fb, 0, 0, image)
    with pytest.raises(ProtocolError, match="rect [01]"):
        dec.feed(stream, good_ones * len(good), max_updates=5)
    assert dec.failed
    with pytest.raises(ProtocolError, match="failed earlier"):
        dec.feed(good, 0)


def test_decode_rect(new_decoder, rng):
    fb, dec = new_decoder(64, 64)
    zrle, tight = ZRLEEncoder(), TightEncoder()
    image = rfbgen.palette_image(rng, 20, 20, 6, run=3)
    for rect in (rfbgen.raw(0, 0, image), zrle.rect(20, 0, image), tight.basic(40, 0, image, stream=2)):
        consumed = dec.decode_rect(rect.x, rect.y, rect.w, rect.h, rect.encoding, rect.payload + b"tail")
        assert consumed == len(rect.payload)
    for x in (0, 20, 40):
        assert_area(fb, x, 0, image)
    # decode_rect and feed share the zlib streams
    feed_whole(dec, update([zrle.rect(0, 30, image), tight.basic(20, 30, image, stream=2)]))
    assert_area(fb, 0, 30, image)
    assert_area(fb, 20, 30, image)
    assert dec.updates == 1


def test_decode_rect_truncated_payload_fails(new_decoder, rng):
    _, dec = new_decoder(16, 16)
    rect = rfbgen.raw(0, 0, rfbgen.random_image(rng, 4, 4))
    with pytest.raises(ProtocolError):
        dec.decode_rect(rect.x, rect.y, rect.w, rect.h, rect.encoding, rect.payload[:-1])
    assert dec.failed


def test_failed_decoder_keeps_failing(new_decoder, rng):
    _, dec = new_decoder(8, 8)
    with pytest.raises(ProtocolError):
        dec.feed(update([rfbgen.raw(6, 6, rfbgen.random_image(rng, 4, 4))]))
    assert dec.failed
    with pytest.raises(ProtocolError):
        dec.feed(update([]))
    with pytest.raises(ProtocolError):
        dec.decode_rect(0, 0, 0, 0, rfbgen.RAW, b"")


def test_many_jpeg_rects_keep_their_order(new_decoder, rng):
    """JPEG rects of one update may decode in parallel; overlapping rects
    (JPEG over JPEG, a fill over a JPEG, a CopyRect reading one) keep the
    order of the stream: the result equals decoding them one update each."""
    tight = TightEncoder()
    images = [rfbgen.smooth_image(192, 128, phase=i) for i in range(8)]
    rects = [
        tight.jpeg(0, 0, images[0]),  # the first three: enough pixels to go parallel
        tight.jpeg(192, 0, images[1]),
        tight.jpeg(384, 0, images[2]),
        tight.jpeg(96, 64, images[3]),  # over the first two
        tight.fill(150, 20, 40, 40, (250, 10, 10)),  # over JPEGs
        tight.jpeg(0, 200, images[4]),
        rfbgen.copyrect(400, 300, 60, 60, 10, 210),  # reads a JPEG's pixels
        tight.jpeg(192, 200, images[5]),
        tight.jpeg(384, 200, images[6]),
        tight.jpeg(420, 330, images[7]),  # over the copy's destination
    ]
    fb_one, dec_one = new_decoder(640, 480)
    for rect in rects:
        feed_whole(dec_one, update([rect]))
    fb_all, dec_all = new_decoder(640, 480)
    feed_whole(dec_all, update(rects))
    np.testing.assert_array_equal(fb_all.array, fb_one.array)
    # the second update reuses the queue: still right
    feed_whole(dec_all, update([tight.jpeg(0, 0, images[7]), tight.jpeg(200, 200, images[0])]))
    feed_whole(dec_one, update([tight.jpeg(0, 0, images[7])]))
    feed_whole(dec_one, update([tight.jpeg(200, 200, images[0])]))
    np.testing.assert_array_equal(fb_all.array, fb_one.array)


def _backlog_rects(tight: TightEncoder) -> list[list[Rect]]:
    """Updates whose JPEG rects touch those of the updates before them."""
    images = [rfbgen.smooth_image(192, 128, phase=i) for i in range(6)]
    return [
        [tight.jpeg(0, 0, images[0]), tight.jpeg(192, 0, images[1]), tight.jpeg(384, 0, images[2])],
        [tight.fill(150, 20, 40, 40, (250, 10, 10)), tight.jpeg(0, 200, images[3])],  # a fill over update 1
        [rfbgen.copyrect(400, 300, 60, 60, 10, 210), tight.jpeg(96, 64, images[4])],  # reads update 2's JPEG
        [rfbgen.desktop_size(600, 500), tight.jpeg(300, 300, images[5])],  # a resize with JPEGs queued
        [tight.jpeg(0, 0, images[5]), rfbgen.raw(10, 10, np.full((5, 5, 3), 7, np.uint8))],
    ]


def test_jpeg_rects_of_a_backlog_keep_their_order(new_decoder):
    """The JPEG rects of a backlog's updates may decode together; a rect
    touching one, or a resize, waits for it: the result equals one update a call."""
    messages = [update(rects) for rects in _backlog_rects(TightEncoder())]
    dec_one, dec_all = _one_call_and_one_each(new_decoder, 640, 480, messages)
    assert (dec_all.last_updates, dec_all.updates, dec_all.rects) == (5, 5, dec_one.rects)
    assert dec_all.resized and dec_one.resized is False  # (the last update of one a call did not resize)


def _one_call_and_one_each(new_decoder, width: int, height: int, messages: list[bytes]):
    """Decode the messages in one call and one a call; check the pixels agree."""
    fb_one, dec_one = new_decoder(width, height)
    for message in messages:
        feed_whole(dec_one, message)
    fb_all, dec_all = new_decoder(width, height)
    stream = b"".join(messages)
    assert dec_all.feed(stream, 0, max_updates=100) == len(stream)
    np.testing.assert_array_equal(fb_all.array, fb_one.array)
    return dec_one, dec_all


def test_more_jpeg_rects_than_the_queue_holds(new_decoder):
    tight = TightEncoder()
    tiles = [tight.jpeg(16 * (i % 40), 16 * (i // 40), rfbgen.smooth_image(16, 16, phase=i)) for i in range(600)]
    messages = [update(tiles[i : i + 150]) for i in range(0, 600, 150)]
    messages.append(update([tight.jpeg(8, 8, rfbgen.smooth_image(400, 200))]))  # over many of them
    _, dec_all = _one_call_and_one_each(new_decoder, 640, 256, messages)
    assert dec_all.last_updates == 5


def _bad_jpeg(x: int, y: int) -> Rect:
    return Rect(x, y, 128, 128, rfbgen.TIGHT, b"\x90" + rfbgen.compact_length(40) + bytes(40))


@pytest.mark.parametrize("where", ["first", "second"])
def test_bad_jpeg_in_a_backlog_reports_the_updates_before_it(new_decoder, where):
    """The good updates before the one with a bad JPEG are decoded and
    reported; its error comes from the call that reaches it."""
    tight = TightEncoder()
    image = rfbgen.smooth_image(160, 160)
    good = update([tight.jpeg(0, 0, image), tight.jpeg(160, 0, image)])
    bad = update([tight.jpeg(0, 200, image), _bad_jpeg(200, 200)])
    later = update([tight.fill(400, 0, 8, 8, (1, 2, 3))])
    fb_ref, dec_ref = new_decoder(512, 400)
    feed_whole(dec_ref, good)
    fb, dec = new_decoder(512, 400)
    stream = good + bad + later if where == "second" else bad + good + later
    if where == "first":
        with pytest.raises(ProtocolError, match="rect 1 "):
            dec.feed(stream, 0, max_updates=10)
        assert dec.updates == 0
        return
    assert dec.feed(stream, 0, max_updates=10) == len(good)
    assert (dec.last_updates, dec.updates, dec.last_rects) == (1, 1, 2)
    np.testing.assert_array_equal(fb.array[:160, :320], fb_ref.array[:160, :320])  # the good update's JPEGs
    with pytest.raises(ProtocolError, match="rect 1 "):
        dec.feed(stream, len(good), max_updates=10)
    assert dec.failed


def test_malformed_update_after_jpeg_rects_keeps_them(new_decoder):
    """A framing error in a backlog's second update: the first one's queued
    JPEG rects are still decoded, and it is reported as good."""
    tight = TightEncoder()
    image = rfbgen.smooth_image(160, 160)
    good = update([tight.jpeg(0, 0, image), tight.jpeg(160, 0, image)])
    bad = update([tight.jpeg(0, 200, image), Rect(0, 0, 4, 4, 12345, b"")])
    fb_ref, dec_ref = new_decoder(512, 400)
    feed_whole(dec_ref, good)
    fb, dec = new_decoder(512, 400)
    assert dec.feed(good + bad, 0, max_updates=10) == len(good)
    assert dec.last_updates == 1
    np.testing.assert_array_equal(fb.array[:160], fb_ref.array[:160])
    with pytest.raises(ProtocolError, match="rect 1 "):
        dec.feed(good + bad, len(good), max_updates=10)


def test_bad_jpeg_among_many_names_its_rect(new_decoder):
    tight = TightEncoder()
    good = [tight.jpeg(x, 0, rfbgen.smooth_image(160, 160, phase=x)) for x in (0, 160, 320)]
    bad = Rect(0, 200, 128, 128, rfbgen.TIGHT, b"\x90" + rfbgen.compact_length(40) + bytes(40))
    _, dec = new_decoder(512, 400)
    with pytest.raises(ProtocolError, match="rect 3"):
        dec.feed(update([*good, bad]))
    assert dec.failed
