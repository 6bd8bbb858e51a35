"""vncdotool (PyPI) as a benchmark peer: connect, receive until the server
closes, print one JSON line.

    python3 bench/vncdotool_client.py HOST PORT ENCODING

ENCODING is ``zrle`` or ``raw``: vncdotool 1.4 implements Raw, CopyRect,
RRE, CoRRE, Hextile and ZRLE, not Tight (bench/run.py reports "n/a" for
Tight recordings).  The client is vncdotool's own ``VNCDoToolClient`` (it
keeps a PIL image of the screen and pastes every decoded rect into it), with
three changes that a benchmark needs and that cost nothing measurable:

* it asks for vncenv's pixel format (32 bpp, depth 24, little-endian,
  shifts R=0 G=8 B=16: vncdotool's ``RGB32``) and the recording's encoding,
  as libvncclient and vncenv do;
* it consumes ExtendedDesktopSize (-308) pseudo-rects, which vncdotool
  1.4.2 does not know (it would close the connection on the first one that
  TigerVNC sends) -- their payload is skipped, like a same-size DesktopSize;
* its ZRLE decoder reads packed-palette tiles row by row: vncdotool 1.4.2
  reads them as one bit stream with no padding at the end of each row, runs
  out of data on real streams and raises StopIteration (it fails on every
  recording here that has such tiles).  ``_handleDecodeZRLEdata`` below is
  vncdotool 1.4.2's own method with only that part corrected, so the cost
  measured is vncdotool's;
* it counts updates and rects, and stops the reactor when the connection
  ends.

cpu_seconds is ``time.process_time()`` from just before the connection to
the end of the session (imports excluded); process_cpu_seconds counts from
process start.
"""

from __future__ import annotations

import json
import sys
import time
from struct import unpack

from twisted.internet import reactor
from vncdotool import client as vclient, rfb

EXT_DESKTOP_SIZE = -308
ENCODINGS = {"zrle": rfb.Encoding.ZRLE, "raw": rfb.Encoding.RAW}


def _packed_rows(it, tw: int, th: int, bits: int):
    """Palette indices of a packed-palette tile: each row starts on a byte."""
    mask = (1 << bits) - 1
    per_byte = 8 // bits
    for _ in range(th):
        left = tw
        while left > 0:
            b = next(it)
            for k in range(min(per_byte, left)):
                yield (b >> (8 - bits * (k + 1))) & mask
            left -= per_byte


class BenchClient(vclient.VNCDoToolClient):
    updates = 0
    rects = 0

    def vncConnectionMade(self) -> None:
        self.setPixelFormat(vclient.RGB32)
        self._image_mode = vclient.PF2IM[vclient.RGB32]
        self.setEncodings(
            [
                self.factory.bench_encoding,
                rfb.Encoding.COPY_RECTANGLE,
                rfb.Encoding.PSEUDO_DESKTOP_SIZE,
                EXT_DESKTOP_SIZE,
                rfb.Encoding.PSEUDO_LAST_RECT,
            ]
        )
        self.framebufferUpdateRequest()

    def _handleRectangle(self, block: bytes) -> None:
        (x, y, w, h, encoding) = unpack("!HHHHi", block)
        if encoding == EXT_DESKTOP_SIZE and self.rectangles:
            self.rectangles -= 1
            self.rects += 1
            self.expect(self._handleExtDesktopSizeHeader, 4, w, h)
            return
        if encoding != rfb.Encoding.PSEUDO_LAST_RECT and self.rectangles:
            self.rects += 1
        super()._handleRectangle(block)

    def _handleExtDesktopSizeHeader(self, block: bytes, w: int, h: int) -> None:
        nscreens = block[0]
        if nscreens:
            self.expect(self._handleExtDesktopSizeScreens, 16 * nscreens, w, h)
        else:
            self._doConnection()

    def _handleExtDesktopSizeScreens(self, block: bytes, w: int, h: int) -> None:
        if self.screen is None or self.screen.size != (w, h):
            self.updateDesktopSize(w, h)
        self._doConnection()

    def _handleDecodeZRLEdata(self, block: bytes, x: int, y: int, width: int, height: int) -> None:
        # vncdotool 1.4.2's rfb.RFBClient._handleDecodeZRLEdata, packed palettes corrected
        tx = x
        ty = y
        data = self._zlib_stream.decompress(block)
        it = iter(data)

        def cpixel(i):
            return bytearray((next(i), next(i), next(i), 0xFF))

        for subencoding in it:
            tw = th = 64
            if x + width - tx < 64:
                tw = x + width - tx
            if y + height - ty < 64:
                th = y + height - ty
            pixels_in_tile = tw * th
            num_pixels = 0
            pixel_data = bytearray()
            palette_size = subencoding & 127
            if subencoding & 0x80:

                def do_rle(pixel: bytes) -> int:
                    run_length_next = next(it)
                    run_length = run_length_next
                    while run_length_next == 255:
                        run_length_next = next(it)
                        run_length += run_length_next
                    pixel_data.extend(pixel * (run_length + 1))
                    return run_length + 1

                if palette_size == 0:
                    while num_pixels < pixels_in_tile:
                        color = cpixel(it)
                        num_pixels += do_rle(color)
                    if num_pixels != pixels_in_tile:
                        raise ValueError("too many pixels")
                else:
                    palette = [cpixel(it) for p in range(palette_size)]
                    while num_pixels < pixels_in_tile:
                        palette_index = next(it)
                        if palette_index & 0x80:
                            palette_index &= 0x7F
                            num_pixels += do_rle(palette[palette_index])
                        else:
                            pixel_data.extend(palette[palette_index])
                            num_pixels += 1
                    if num_pixels != pixels_in_tile:
                        raise ValueError("too many pixels")
                self.updateRectangle(tx, ty, tw, th, bytes(pixel_data))
            else:
                if palette_size == 0:
                    for _ in range(pixels_in_tile):
                        pixel_data.extend(cpixel(it))
                    self.updateRectangle(tx, ty, tw, th, bytes(pixel_data))
                elif palette_size == 1:
                    color = cpixel(it)
                    self.fillRectangle(tx, ty, tw, th, bytes(color))
                elif palette_size > 16:
                    raise ValueError(f"Palette of size {palette_size} is not allowed")
                else:
                    palette = [cpixel(it) for _ in range(palette_size)]
                    bits = 1 if palette_size == 2 else 2 if palette_size <= 4 else 4
                    for palette_index in _packed_rows(it, tw, th, bits):
                        pixel_data.extend(palette[palette_index])
                    self.updateRectangle(tx, ty, tw, th, bytes(pixel_data))
            tx = tx + 64
            if tx >= x + width:
                tx = x
                ty = ty + 64
        self._doConnection()

    def commitUpdate(self, rectangles=None) -> None:
        self.updates += 1
        self.framebufferUpdateRequest(incremental=True)

    def connectionLost(self, reason) -> None:
        self.factory.lost(self)


class BenchFactory(vclient.VNCDoToolFactory):
    protocol = BenchClient

    def __init__(self, encoding: int) -> None:
        super().__init__()
        self.bench_encoding = encoding
        self.client: BenchClient | None = None
        self.error: str | None = None
        self.deferred.addErrback(self._failed)

    def buildProtocol(self, addr):
        self.client = super().buildProtocol(addr)
        return self.client

    def _failed(self, failure) -> None:
        self.error = str(failure.value)

    def lost(self, client: BenchClient) -> None:
        if reactor.running:
            reactor.stop()

    def clientConnectionFailed(self, connector, reason) -> None:
        self.error = str(getattr(reason, "value", reason))
        if reactor.running:
            reactor.stop()


def main() -> int:
    host, port, encoding = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    factory = BenchFactory(ENCODINGS[encoding])
    cpu0, wall0 = time.process_time(), time.monotonic()
    reactor.connectTCP(host, port, factory)
    reactor.callLater(3600, reactor.stop)
    reactor.run()
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    c = factory.client
    out = {
        "peer": "vncdotool",
        "updates": c.updates if c else 0,
        "rects": c.rects if c else 0,
        "cpu_seconds": round(cpu, 6),
        "process_cpu_seconds": round(time.process_time(), 6),
        "wall_seconds": round(wall, 6),
        "width": c.screen.size[0] if c and c.screen else None,
        "height": c.screen.size[1] if c and c.screen else None,
    }
    if factory.error:
        out["error"] = factory.error
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
