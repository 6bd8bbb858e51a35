"""Type stubs for vncenv._core, the compiled decode core (src/vnccore/)."""

from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from .limits import Limits

_Buffer = bytes | bytearray | memoryview

INFLATER: str
"""The inflater linked at build time: "zlib-ng", "isal" or "zlib"."""

def _shuffle_rows(on: bool | None = None) -> bool:
    """Whether palette rects (2-bit ZRLE tiles, Tight's 3-5 colours) go by
    SSSE3 byte shuffles; ``on`` switches it, and the AVX2 1-bit vectors with it
    (tests run both ways; True takes effect only where the CPU has them)."""

def _bit_vectors() -> bool:
    """Whether 2-colour rows (1-bit indices) at least 32 pixels wide go by
    AVX2 vectors (switched with :func:`_shuffle_rows`)."""

class Framebuffer:
    """A ``(height, width, 3)`` uint8 RGB array, written in place by decoders."""

    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def array(self) -> npt.NDArray[np.uint8]:
        """The live buffer; replaced by :meth:`resize`."""
    def __init__(self, width: int, height: int) -> None: ...
    def resize(self, width: int, height: int) -> None:
        """Replace the array by a zeroed one of the new size."""

class UpdateDecoder:
    """Decode FramebufferUpdate messages into a :class:`Framebuffer`."""

    @property
    def framebuffer(self) -> Framebuffer: ...
    @property
    def limits(self) -> Limits: ...
    @property
    def failed(self) -> bool: ...
    @property
    def last_rects(self) -> int: ...
    @property
    def last_bytes(self) -> int: ...
    @property
    def last_pixels(self) -> int: ...
    @property
    def last_updates(self) -> int: ...
    @property
    def resized(self) -> bool: ...
    @property
    def cursor_changed(self) -> bool: ...
    @property
    def updates(self) -> int: ...
    @property
    def rects(self) -> int: ...
    @property
    def bytes(self) -> int: ...
    @property
    def pixels(self) -> int: ...
    @property
    def cursor(self) -> tuple[npt.NDArray[np.uint8], int, int] | None: ...
    def __init__(self, framebuffer: Framebuffer, encodings: Iterable[int], limits: Limits | None = None) -> None: ...
    def feed(self, data: _Buffer, offset: int = 0, max_updates: int = 1) -> int:
        """Decode the whole FramebufferUpdate at ``data[offset]`` (and up to
        ``max_updates`` - 1 whole ones right after it); 0 if incomplete."""
    def decode_rect(self, x: int, y: int, w: int, h: int, encoding: int, payload: _Buffer) -> int:
        """Decode one rect's payload; return the bytes it used."""
