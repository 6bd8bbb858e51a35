"""atheris target: the FBS reader, and the recorded stream it yields.

Input: an FBS file (``FBS 001.NNN\\n``, then blocks of u32 length, data,
padding to 4, u32 timestamp).  ``FBSReader`` reads it from a ``BytesIO``
(blocks up to 64 KiB here, so the over-limit error is reachable) and from a
non-seekable stream; only ``ProtocolError`` may come out.  Both readings
must yield the same blocks and flags (``truncated``, ``end_marker``),
iterating again must yield them again (a seekable file restarts), and
``read_all`` must be their concatenation.  The stream is then replayed
through ``StreamDecoder`` (the offline decode path: handshake, protocol,
core decoder) and an EOF, where only ``ProtocolError``,
``AuthenticationError`` and ``ConnectionClosed`` may come out.

    python tests/fuzz/fuzz_fbs.py -atheris_runs=100000 build/fuzz-corpus/fbs
"""

from __future__ import annotations

import io

import _harness

with _harness.instrumented(__name__ == "__main__"):
    import vncenv.decode as decode
    import vncenv.vnc.fbs as fbs
    import vncenv.vnc.protocol  # noqa: F401  (StreamDecoder imports it on first use)

from vncenv.error import AuthenticationError, ConnectionClosed, ProtocolError  # noqa: E402

MAX_BLOCK = 1 << 16
LIMITS = _harness.stream_limits()


class Unseekable(io.RawIOBase):
    """A stream with ``read`` only, returning at most 7 bytes a call."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = 7 if n < 0 else min(n, 7)
        out = bytes(self._data[self._pos : self._pos + n])
        self._pos += len(out)
        return out


def read(f) -> tuple:
    """``(blocks, truncated, end_marker, version)`` or the ProtocolError's class."""
    try:
        reader = fbs.FBSReader(f, max_block=MAX_BLOCK)
        blocks = list(reader)
    except ProtocolError:
        return ("ProtocolError",)
    return blocks, reader.truncated, reader.end_marker, reader.version, reader


def run_one(data: bytes) -> None:
    seekable = read(io.BytesIO(data))
    streamed = read(Unseekable(data))
    if seekable[:4] != streamed[:4]:
        raise AssertionError(f"BytesIO vs stream: {seekable[:4]!r:.300} vs {streamed[:4]!r:.300}")
    if len(seekable) == 1:
        return
    blocks, truncated, end_marker, version, reader = seekable
    again = list(reader)
    if again != blocks or (reader.truncated, reader.end_marker) != (truncated, end_marker):
        raise AssertionError("a second iteration of a seekable recording differs")
    stream = reader.read_all()
    if stream != b"".join(d for _, d in blocks):
        raise AssertionError("read_all() is not the blocks' concatenation")
    for ts, _ in blocks:
        assert 0 <= ts <= 0xFFFFFFFF
    if not stream:
        return
    decoder = decode.StreamDecoder(limits=LIMITS)
    try:
        decoder.feed(stream)
        decoder.feed(b"")  # EOF (feed(b"") itself parses nothing more)
        list(decoder.protocol.events())
    except (ProtocolError, AuthenticationError, ConnectionClosed):
        pass


if __name__ == "__main__":
    _harness.fuzz_main(run_one)
