"""atheris target: Tight rects (fill, JPEG, basic with copy, palette and
gradient filters), with the fuzzer working on the uncompressed data.

Input: the rect format of ``_harness.py``.  Unless ``mode`` bit 0 is set
(then the body is the payload verbatim), a chunk's body is a Tight rect
*before compression*, and the target adds the framing a server would:

* ``control`` byte first (bits 0-3 reset zlib streams 0-3: the target
  resets its own matching compressors, as the server would);
* type 8 (fill): the next 3 bytes are the TPIXEL;
* type 9 (JPEG): the rest is the JPEG; the target writes its compact length;
* types 0-7 (basic): the filter byte if bit 6 is set, the palette (u8 n - 1
  and n TPIXELs) for filter 1, then the *filtered* data.  When the rect needs
  12 bytes or more, the target compresses the data on stream ``type & 3``
  (kept for the whole input) and writes the compact length; otherwise the
  data goes raw, cut or zero-padded to the size the rect needs (``mode``
  bit 3 set: as is).  ``(mode >> 1) & 3`` picks how the zlib data ends: 0 a
  sync flush, 1 no flush, 2 the end of the stream, 3 a full flush.
* types over 9 and filter ids over 2 go verbatim (errors both must report).

    python tests/fuzz/fuzz_tight.py -atheris_runs=100000 build/fuzz-corpus/tight
"""

from __future__ import annotations

import zlib

import _harness

with _harness.instrumented(__name__ == "__main__"):
    import vncenv._reference  # noqa: F401

FLUSH_MODES = (zlib.Z_SYNC_FLUSH, zlib.Z_NO_FLUSH, zlib.Z_FINISH, zlib.Z_FULL_FLUSH)
MAX_COMPACT = (1 << 22) - 1


class Streams:
    """The server side of the connection's four Tight zlib streams."""

    def __init__(self) -> None:
        self.z = [zlib.compressobj(6) for _ in range(4)]

    def reset(self, mask: int) -> None:
        for i in range(4):
            if mask & (1 << i):
                self.z[i] = zlib.compressobj(6)

    def compress(self, stream: int, data: bytes, flush: int) -> bytes:
        z = self.z[stream]
        out = z.compress(data)
        if flush != zlib.Z_NO_FLUSH:
            out += z.flush(flush)
        if flush == zlib.Z_FINISH:
            self.z[stream] = zlib.compressobj(6)
        return out


def wrap(chunk: _harness.Chunk, state: Streams) -> tuple[int, bytes]:
    body, mode = chunk.body, chunk.mode
    if mode & 1 or not body:
        return _harness.TIGHT, body
    control = body[0]
    kind = control >> 4
    if kind > 9:
        return _harness.TIGHT, body
    state.reset(control & 0xF)
    if kind == 8:
        return _harness.TIGHT, body[:4]
    if kind == 9:
        jpeg = body[1 : 1 + MAX_COMPACT]
        return _harness.TIGHT, bytes([control]) + _harness.compact_length(len(jpeg)) + jpeg
    pos, filter_id, colours = 1, 0, 0
    if kind & 4:
        filter_id = body[1] if len(body) > 1 else 0
        pos = 2
        if filter_id > 2:
            return _harness.TIGHT, body
        if filter_id == 1:
            colours = (body[2] if len(body) > 2 else 0) + 1
            pos = 3 + 3 * colours
    head, data = body[:pos], body[pos:]
    size = _harness.tight_data_size(chunk.w, chunk.h, filter_id, colours)
    if size < 12:
        if not mode & 8:
            data = (data + bytes(size))[:size]
        return _harness.TIGHT, head + data
    packed = state.compress(kind & 3, data, FLUSH_MODES[(mode >> 1) & 3])[:MAX_COMPACT]
    return _harness.TIGHT, head + _harness.compact_length(len(packed)) + packed


def run_one(data: bytes) -> None:
    _harness.run_rect_target(data, wrap, Streams)


if __name__ == "__main__":
    _harness.fuzz_main(run_one)
