"""atheris target: ZRLE rects, with the fuzzer working on the inflated tiles.

Input: the rect format of ``_harness.py``.  Unless ``mode`` bit 0 is set,
a chunk's body is the rect's *inflated* data (the 64 x 64 tiles and their
subencodings): the target compresses it on one zlib stream kept for the
whole input, as a server does for a connection, and frames it (u32 length,
zlib data), so mutations reach tile parsing instead of dying in the
inflater.  ``(mode >> 1) & 3`` picks how the chunk's zlib data ends:
0 a sync flush (what servers send), 1 no flush (the data stops short),
2 the end of the stream (the next rect's data then follows a finished
stream), 3 a full flush.  With ``mode`` bit 0 set the body is the payload
verbatim (length field and zlib data: the framing and inflater paths).

    python tests/fuzz/fuzz_zrle.py -atheris_runs=100000 build/fuzz-corpus/zrle
"""

from __future__ import annotations

import struct
import zlib

import _harness

with _harness.instrumented(__name__ == "__main__"):
    import vncenv._reference  # noqa: F401

FLUSH_MODES = (zlib.Z_SYNC_FLUSH, zlib.Z_NO_FLUSH, zlib.Z_FINISH, zlib.Z_FULL_FLUSH)


class Stream:
    """The server side of the connection's one ZRLE zlib stream."""

    def __init__(self) -> None:
        self.z = zlib.compressobj(6)

    def compress(self, data: bytes, flush: int) -> bytes:
        out = self.z.compress(data)
        if flush != zlib.Z_NO_FLUSH:
            out += self.z.flush(flush)
        if flush == zlib.Z_FINISH:
            self.z = zlib.compressobj(6)  # a finished stream takes no more input
        return out


def wrap(chunk: _harness.Chunk, state: Stream) -> tuple[int, bytes]:
    if chunk.mode & 1:
        return _harness.ZRLE, chunk.body
    data = state.compress(chunk.body, FLUSH_MODES[(chunk.mode >> 1) & 3])
    return _harness.ZRLE, struct.pack(">I", len(data)) + data


def run_one(data: bytes) -> None:
    _harness.run_rect_target(data, wrap, Stream)


if __name__ == "__main__":
    _harness.fuzz_main(run_one)
