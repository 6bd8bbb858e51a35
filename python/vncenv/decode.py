"""The public face of the decode core, for microbenchmarks and offline decoding.

* :class:`Framebuffer` and :class:`UpdateDecoder` -- the core's classes
  (``BACKEND`` says whether they are the compiled core or the pure-Python
  reference; see ``VNCENV_DECODER``).
* :func:`decode_rect` -- decode one rect's payload into a framebuffer.
* :class:`StreamDecoder` -- decode a whole recorded server stream (the bytes
  of an RFB session from ``RFB 003.00x`` on, as an FBS file holds them) in
  process, with no socket, through the same sans-IO protocol the client uses.

Run ``python -m vncenv.decode FILE.fbs`` to time the decode of a recording.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

from ._backend import BACKEND, Framebuffer, UpdateDecoder
from .limits import DEFAULT_LIMITS, Limits
from .vnc.constants import Encoding

__all__ = [
    "BACKEND",
    "INFLATER",
    "Framebuffer",
    "UpdateDecoder",
    "StreamDecoder",
    "SUPPORTED_ENCODINGS",
    "decode_rect",
]

#: Every encoding and pseudo-encoding the decoders implement.
SUPPORTED_ENCODINGS: tuple[int, ...] = (
    Encoding.TIGHT,
    Encoding.ZRLE,
    Encoding.COPYRECT,
    Encoding.RAW,
    Encoding.DESKTOP_SIZE,
    Encoding.EXTENDED_DESKTOP_SIZE,
    Encoding.LAST_RECT,
    Encoding.CURSOR,
)

_FEED_SLICE = 1 << 18  # bytes handed to the protocol at a time

if BACKEND == "core":
    from ._core import INFLATER
else:
    INFLATER = "python"


def decode_rect(
    framebuffer: Framebuffer,
    x: int,
    y: int,
    width: int,
    height: int,
    encoding: int,
    payload: bytes | bytearray | memoryview,
    decoder: UpdateDecoder | None = None,
) -> int:
    """Decode one rect's payload (the bytes after its 12-byte header).

    Pass the same ``decoder`` for consecutive rects of one stream: ZRLE and
    Tight keep zlib state across rects.

    :return: the number of payload bytes the rect used.
    """
    if decoder is None:
        decoder = UpdateDecoder(framebuffer, SUPPORTED_ENCODINGS)
    elif decoder.framebuffer is not framebuffer:
        from .error import UsageError

        raise UsageError("decoder writes into another framebuffer")
    return decoder.decode_rect(x, y, width, height, encoding, payload)


class StreamDecoder:
    """Decode a recorded server-to-client RFB stream in process.

    The stream is fed to a client protocol with no socket; what the client
    would send is dropped.  Every encoding in ``encodings`` is accepted (by
    default all that vncenv implements), so recordings made by any client
    that asked for the canonical pixel format replay here.

    :param password: for a recording of a VNC-auth session; any string works
        (the recorded server's verdict is replayed, not recomputed), so the
        default is a placeholder.  None refuses recordings that ask for one.
    :param coalesce_updates: back-to-back updates in one fed piece become
        one event (one decoder call), as the client session decodes a
        backlog; off (the default), every update is its own event.
    """

    def __init__(
        self,
        encodings: Iterable[int] = SUPPORTED_ENCODINGS,
        *,
        password: str | None = "",
        limits: Limits = DEFAULT_LIMITS,
        coalesce_updates: bool = False,
    ) -> None:
        from .vnc.protocol import RFBClientProtocol

        self.protocol = RFBClientProtocol(
            password=password, encodings=list(encodings), limits=limits, coalesce_updates=coalesce_updates
        )
        self.bytes_fed = 0

    @property
    def framebuffer(self) -> Framebuffer | None:
        return self.protocol.framebuffer

    @property
    def decoder(self) -> UpdateDecoder | None:
        return self.protocol.decoder

    def feed(self, data: bytes | bytearray | memoryview) -> list[Any]:
        """Feed more of the stream; return the events it completed.

        The data goes in slices straight into the protocol's buffer (one copy,
        as from a socket), so a whole recording never sits there at once.
        """
        view = memoryview(data).cast("B")
        events: list[Any] = []
        if not view.nbytes:  # EOF: a stream cut mid-message says so here
            self.protocol.receive_data(b"")
            events.extend(self.protocol.events())
        for start in range(0, view.nbytes, _FEED_SLICE):
            piece = view[start : start + _FEED_SLICE]
            with self.protocol.get_buffer(len(piece)) as buf:
                buf[: len(piece)] = piece
            self.protocol.buffer_updated(len(piece))
            events.extend(self.protocol.events())
        self.bytes_fed += view.nbytes
        self.protocol.data_to_send()
        return events

    def feed_all(self, chunks: Iterable[bytes]) -> Iterator[Any]:
        """Feed each chunk in turn, yielding events as they complete."""
        for chunk in chunks:
            yield from self.feed(chunk)

    @classmethod
    def from_fbs(cls, path: str, **kwargs: Any) -> tuple[StreamDecoder, list[bytes]]:
        """A decoder plus the recorded blocks of the FBS file at ``path``."""
        from .vnc.fbs import FBSReader

        with FBSReader(path) as reader:
            blocks = [data for _, data in reader]
        return cls(**kwargs), blocks


def _main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m vncenv.decode",
        description="Decode an FBS recording in process and report the throughput.",
    )
    parser.add_argument("fbs", help="an FBS 001.000 recording of a server stream")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best is reported")
    args = parser.parse_args(argv)

    best = None
    for _ in range(max(1, args.repeat)):
        stream, blocks = StreamDecoder.from_fbs(args.fbs, coalesce_updates=True)
        data = b"".join(blocks)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        stream.feed(data)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        if best is None or cpu < best[0]:
            best = (cpu, wall, stream)
    cpu, wall, stream = best
    dec = stream.decoder
    mb = stream.bytes_fed / 1e6
    print(
        f"backend={BACKEND} inflater={INFLATER} bytes={stream.bytes_fed} updates={dec.updates} "
        f"rects={dec.rects} pixels={dec.pixels}\n"
        f"cpu={cpu:.4f}s wall={wall:.4f}s  {mb / cpu:.1f} MB/s  "
        f"{dec.updates / cpu:.0f} updates/s  {dec.pixels / cpu / 1e6:.1f} Mpx/s  "
        f"{cpu / max(dec.rects, 1) * 1e6:.2f} us/rect"
    )
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
