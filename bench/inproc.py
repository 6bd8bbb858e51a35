"""In-process decode of one recording through vncenv.decode.StreamDecoder.

    python3 bench/inproc.py FILE.fbs

Loads the recording, then feeds the stream to one ``StreamDecoder`` in
256 KiB pieces (what the session's reader gets from one ``recv_into``) and
times CPU (``time.process_time``) and wall time around the feeding only --
no socket, no import or file reading.  ``--whole`` feeds the whole stream in
one call instead, as ``python -m vncenv.decode`` does (that costs more on
big recordings: ``feed`` copies its argument twice, into fresh memory).
Prints one JSON line.
"""

from __future__ import annotations

import gc
import json
import sys
import time

from vncenv.decode import BACKEND, INFLATER, StreamDecoder

CHUNK = 1 << 18


def main() -> int:
    path = sys.argv[1]
    whole = "--whole" in sys.argv[2:]
    stream, blocks = StreamDecoder.from_fbs(path)
    data = b"".join(blocks)
    del blocks
    view = memoryview(data)
    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if whole:
        stream.feed(data)
    else:
        for i in range(0, len(data), CHUNK):
            stream.feed(view[i : i + CHUNK])
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    d = stream.decoder
    print(
        json.dumps(
            {
                "peer": "inproc",
                "feed": "whole" if whole else f"{CHUNK}-byte pieces",
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
