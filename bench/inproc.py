"""In-process decode of one recording through vncenv.decode.StreamDecoder.

    python3 bench/inproc.py FILE.fbs

Loads the recording, then feeds the stream to a ``StreamDecoder`` in
256 KiB pieces (what the session's reader gets from one ``recv_into``) and
times CPU (``time.process_time``) and wall time around the feeding only --
no socket, no import or file reading.  Like the limits (bench/limits/limits.c)
it runs one untimed warm-up pass, then ``--passes`` timed ones (default 3),
each with a new decoder, and reports their medians; the cold first pass is
reported too (``first_pass_cpu_seconds``).  Each decoder gets the handshake
and its framebuffer's pages are touched before the clock starts, as the
limits' framebuffer is memset before theirs: a session allocates its
framebuffer once, at connect, and what is timed is the decoding.
``--whole`` feeds the rest of the stream in one call instead, as ``python -m
vncenv.decode`` does (that costs more on big recordings: ``feed`` copies its
argument twice, into fresh memory).
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time

import rfbwalk

from vncenv.decode import BACKEND, INFLATER, StreamDecoder
from vncenv.vnc.fbs import FBSReader

CHUNK = 1 << 18


def past_handshake(data: bytes) -> tuple[StreamDecoder, int]:
    """A new decoder fed the stream's handshake, its framebuffer's pages
    faulted in (as the limits' memset does), and where the updates start."""
    stream = StreamDecoder(coalesce_updates=True)  # as the client session decodes a backlog
    start = rfbwalk.handshake(data).end
    stream.feed(data[:start])
    stream.framebuffer.array.fill(0)
    return stream, start


def one_pass(data: bytes, whole: bool) -> tuple[StreamDecoder, float, float]:
    """Decode the stream after its handshake with a new decoder: (decoder, CPU s, wall s)."""
    stream, start = past_handshake(data)
    view = memoryview(data)[start:]
    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if whole:
        stream.feed(view)
    else:
        for i in range(0, len(view), CHUNK):
            stream.feed(view[i : i + CHUNK])
    return stream, time.process_time() - cpu0, time.perf_counter() - wall0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("fbs")
    parser.add_argument("--whole", action="store_true", help="feed the stream in one call")
    parser.add_argument("--passes", type=int, default=3, help="timed passes after the warm-up")
    args = parser.parse_args()
    with FBSReader(args.fbs) as reader:
        data = b"".join(block for _, block in reader)
    _, first_cpu, _ = one_pass(data, args.whole)  # the warm-up
    passes = [one_pass(data, args.whole) for _ in range(max(1, args.passes))]
    stream = passes[-1][0]
    cpu = statistics.median(p[1] for p in passes)
    wall = statistics.median(p[2] for p in passes)
    d = stream.decoder
    print(
        json.dumps(
            {
                "peer": "inproc",
                "feed": "whole" if args.whole else f"{CHUNK}-byte pieces",
                "passes": len(passes),
                "first_pass_cpu_seconds": round(first_cpu, 6),
                "backend": BACKEND,
                "inflater": INFLATER,
                "bytes": stream.bytes_fed,
                "updates": d.updates,
                "rects": d.rects,
                "pixels": d.pixels,
                "cpu_seconds": round(cpu, 6),
                "wall_seconds": round(wall, 6),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
