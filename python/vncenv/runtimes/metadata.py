"""Metadata pixels: a frame id and a timestamp drawn under the picture.

Runtimes paint a strip at the bottom of the screen; the client reads it from
the framebuffer to learn which game frame it is looking at and when the
runtime drew it, so it can measure lag and, in sync mode, wait for exactly the
frame its action produced.

Layout: the strip is ``8 * rows`` pixels high and the screen's width.  It
holds cells of 4x8 pixels, left to right and row by row: a start marker (one
white cell, one black cell), then the frame id (32 bits), the low 32 bits of
the draw time in milliseconds since the epoch, and an 8-bit checksum (the
XOR of the eight data bytes), most significant bit first.  A 1 bit is white,
a 0 bit black: big cells and two levels survive lossy JPEG.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CELL_W", "CELL_H", "strip_height", "encode_strip", "decode_strip", "Metadata"]

CELL_W, CELL_H = 4, 8
_MARKER = (1, 0)
_BITS = len(_MARKER) + 32 + 32 + 8


@dataclass(frozen=True)
class Metadata:
    frame_id: int
    time_ms: int  # low 32 bits of milliseconds since the epoch


def _cells_per_row(width: int) -> int:
    return max(1, width // CELL_W)


def strip_height(width: int) -> int:
    """Height of the metadata strip for a screen ``width`` pixels wide."""
    rows = -(-_BITS // _cells_per_row(width))
    return rows * CELL_H


def _bits(frame_id: int, time_ms: int) -> list[int]:
    data = (frame_id & 0xFFFFFFFF).to_bytes(4, "big") + (time_ms & 0xFFFFFFFF).to_bytes(4, "big")
    check = 0
    for b in data:
        check ^= b
    payload = data + bytes([check])
    return [*_MARKER, *((byte >> (7 - i)) & 1 for byte in payload for i in range(8))]


def encode_strip(width: int, frame_id: int, time_ms: int) -> np.ndarray:
    """The strip as an ``(strip_height(width), width, 3)`` uint8 RGB array."""
    per_row = _cells_per_row(width)
    strip = np.zeros((strip_height(width), width, 3), np.uint8)
    for i, bit in enumerate(_bits(frame_id, time_ms)):
        if bit:
            r, c = divmod(i, per_row)
            strip[r * CELL_H : (r + 1) * CELL_H, c * CELL_W : (c + 1) * CELL_W] = 255
    return strip


def decode_strip(screen: np.ndarray) -> Metadata | None:
    """Read the strip at the bottom of an (H, W, 3) screen; None if absent or damaged."""
    height, width = screen.shape[:2]
    sh = strip_height(width)
    if height < sh:
        return None
    per_row = _cells_per_row(width)
    rows = sh // CELL_H
    # the green channel (white and black differ in every channel) at the
    # middle of each cell: JPEG blurs the edges
    cells = screen[height - sh :, : per_row * CELL_W, 1].reshape(rows, CELL_H, per_row, CELL_W)
    middles = cells[:, 2 : CELL_H - 2, :, 1 : CELL_W - 1]
    levels = middles.sum(axis=(1, 3), dtype=np.uint32).reshape(-1)[:_BITS]
    bits = levels > 127 * (CELL_H - 4) * (CELL_W - 2)
    if bits[0] != _MARKER[0] or bits[1] != _MARKER[1]:
        return None
    data = np.packbits(bits[2:]).tobytes()
    check = 0
    for b in data[:8]:
        check ^= b
    if check != data[8]:
        return None
    return Metadata(int.from_bytes(data[:4], "big"), int.from_bytes(data[4:8], "big"))
