"""atheris target: the sans-IO RFB client protocol (handshake + server messages).

Input::

    u8 flags, u8 splits, u16 split point * (splits % 16), server stream

``flags``: bit 0 gives a password (VNC authentication is then preferred),
bit 1 feeds the split run through ``get_buffer``/``buffer_updated`` (else
``receive_data``), bit 2 ends the stream with EOF, bit 3 sends ClientInit
with shared = 0, bit 4 asks for an incremental update after every
FramebufferUpdate (as ``VNCSession`` does), bit 5 makes the split run
coalesce back-to-back updates (``coalesce_updates``): the runs' events are
then compared with runs of FramebufferUpdate events merged, and their sent
bytes only when no update is requested per event.

The stream goes to :class:`RFBClientProtocol` (with the compiled core's
decoder) twice: whole, and cut at the split points with the events drained
after every piece.  Only ``ProtocolError`` and ``AuthenticationError`` may
come out (and ``ConnectionClosed`` after an EOF): ``InternalError`` or any
other exception is a bug.  Both runs must produce the same events, the same
error class, the same bytes to send and the same framebuffer; after an error
the protocol must stay in ``ERROR`` and raise the same class again.

    python tests/fuzz/fuzz_protocol.py -atheris_runs=100000 build/fuzz-corpus/protocol
"""

from __future__ import annotations

import struct
from typing import Any

import _harness

with _harness.instrumented(__name__ == "__main__"):
    import vncenv.vnc.protocol as protocol

import numpy as np  # noqa: E402

import vncenv._core as core  # noqa: E402
from vncenv.error import AuthenticationError, ConnectionClosed, ProtocolError  # noqa: E402
from vncenv.vnc import events  # noqa: E402

FLAG_PASSWORD = 1
FLAG_GET_BUFFER = 2
FLAG_EOF = 4
FLAG_NOT_SHARED = 8
FLAG_REQUEST = 16
FLAG_COALESCE = 32

PASSWORD = "fuzzpass"
ENCODINGS = protocol.build_encodings("tight", quality_level=8, cursor=True)
LIMITS = _harness.stream_limits()


def parse(data: bytes) -> tuple[int, list[int], bytes]:
    """``(flags, split points, stream)`` of an input."""
    flags = data[0] if data else 0
    n = (data[1] % 16) if len(data) > 1 else 0
    head = 2 + 2 * n
    stream = data[head:]
    points = sorted({p % (len(stream) + 1) for p in struct.unpack_from(f">{n}H", data.ljust(head, b"\0"), 2)})
    return flags, points, stream


def make_input(stream: bytes, flags: int = 0, points: tuple[int, ...] = ()) -> bytes:
    """An input (for seeds): ``stream`` with ``flags`` and split ``points``."""
    return bytes([flags, len(points)]) + b"".join(struct.pack(">H", p) for p in points) + stream


class Run:
    """One pass of a stream through a fresh protocol."""

    def __init__(self, flags: int, coalesce: bool = False) -> None:
        self.flags = flags
        self.proto = protocol.RFBClientProtocol(
            password=PASSWORD if flags & FLAG_PASSWORD else None,
            encodings=ENCODINGS,
            limits=LIMITS,
            shared=not flags & FLAG_NOT_SHARED,
            decoder_factory=core.UpdateDecoder,
            framebuffer_factory=core.Framebuffer,
            coalesce_updates=coalesce,
        )
        self.events: list[Any] = []
        self.sent = bytearray()
        self.error: Exception | None = None

    def feed(self, piece: bytes, get_buffer: bool) -> None:
        if self.error is not None:
            return
        p = self.proto
        try:
            if not piece:
                p.eof_received()
            elif get_buffer:
                view = p.get_buffer(len(piece))
                view[: len(piece)] = piece
                del view
                p.buffer_updated(len(piece))
            else:
                p.receive_data(piece)
            for event in p.events():
                self.events.append(event)
                if isinstance(event, events.FramebufferUpdate) and self.flags & FLAG_REQUEST:
                    p.request_update()
            self.sent += p.data_to_send()
        except (ProtocolError, AuthenticationError, ConnectionClosed) as exc:
            if isinstance(exc, ConnectionClosed) and not (self.flags & FLAG_EOF and not piece):
                raise
            self.error = exc
            self._check_terminal(exc)

    def _check_terminal(self, exc: Exception) -> None:
        p = self.proto
        assert p.state is protocol.State.ERROR, p.state
        assert p.error is exc
        for call in (p.next_event, p.data_to_send, lambda: p.receive_data(b"x")):
            try:
                call()
            except type(exc):
                continue
            raise AssertionError(f"{call} after a {type(exc).__name__} did not raise it again")

    def summary(self) -> tuple:
        fb = self.proto.framebuffer if self.error is None else None
        return (
            self.events,
            type(self.error).__name__ if self.error is not None else None,
            bytes(self.sent) if self.error is None else None,
            self.proto.state,
            None if fb is None else fb.array.copy(),
        )


def merged_updates(summary: tuple) -> tuple:
    """``summary`` with each run of FramebufferUpdate events made one."""
    merged: list[Any] = []
    for event in summary[0]:
        last = merged[-1] if merged else None
        if isinstance(event, events.FramebufferUpdate) and isinstance(last, events.FramebufferUpdate):
            event = events.FramebufferUpdate(
                rects=last.rects + event.rects,
                nbytes=last.nbytes + event.nbytes,
                pixels=last.pixels + event.pixels,
                resized=last.resized or event.resized,
                cursor_changed=last.cursor_changed or event.cursor_changed,
                updates=last.updates + event.updates,
            )
            merged[-1] = event
        else:
            merged.append(event)
    return (merged, *summary[1:])


def run_one(data: bytes) -> None:
    flags, points, stream = parse(data)
    whole = Run(flags)
    if stream:
        whole.feed(stream, get_buffer=False)
    split = Run(flags, coalesce=bool(flags & FLAG_COALESCE))
    start = 0
    for point in [*points, len(stream)]:
        if point > start:
            split.feed(stream[start:point], get_buffer=bool(flags & FLAG_GET_BUFFER))
            start = point
    if flags & FLAG_EOF:
        whole.feed(b"", False)
        split.feed(b"", False)
    a, b = whole.summary(), split.summary()
    if flags & FLAG_COALESCE:
        a, b = (merged_updates(r) for r in (a, b))
    for name, x, y in zip(("events", "error", "sent", "state"), a[:4], b[:4]):
        if x != y and not (name == "sent" and flags & FLAG_COALESCE and flags & FLAG_REQUEST):
            raise AssertionError(f"whole vs split at {points}: {name} {x!r:.300} vs {y!r:.300}")
    if (a[4] is None) != (b[4] is None) or (a[4] is not None and not np.array_equal(a[4], b[4])):
        raise AssertionError(f"whole vs split at {points}: framebuffers differ")


if __name__ == "__main__":
    _harness.fuzz_main(run_one)
