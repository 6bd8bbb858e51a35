"""atheris target: FramebufferUpdate messages through the core and the reference.

The first bytes pick the framebuffer size, the requested encodings and how
many back-to-back updates one ``feed`` may take (``max_updates`` 1 or 4:
the top bit of the second byte); the rest is fed as a stream of update
messages to both backends.  Both must agree
on what they accept and on the pixels; the only exception either may raise is
``vncenv.error.ProtocolError``.  The pure-Python reference is instrumented, so
its branches guide the search.

Run (see README.md)::

    python tests/fuzz/fuzz_update.py -atheris_runs=1000000 tests/fuzz/corpus/
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # tests/, for rfbgen

import numpy as np  # noqa: E402

import vncenv._core as core  # noqa: E402
from vncenv.error import ProtocolError  # noqa: E402
from vncenv.limits import Limits  # noqa: E402

ENCODING_CHOICES = (0, 1, 7, 16, -223, -224, -239, -308)
LIMITS = Limits(max_width=512, max_height=512, max_cursor_size=64, max_update_bytes=1 << 20, max_rects=4096)


def _setup(data: bytes) -> tuple[int, int, list[int], int, bytes]:
    if len(data) < 3:
        return 1, 1, list(ENCODING_CHOICES), 1, b""
    width = 1 + data[0] % 96
    height = 1 + data[1] % 96
    max_updates = 4 if data[1] & 0x80 else 1
    mask = data[2]
    encodings = [e for i, e in enumerate(ENCODING_CHOICES) if mask & (1 << i)] or list(ENCODING_CHOICES)
    return width, height, encodings, max_updates, data[3:]


def run_one(data: bytes, reference=None) -> None:
    """One input through both backends; raise AssertionError on disagreement."""
    if reference is None:
        import vncenv._reference as reference
    width, height, encodings, max_updates, stream = _setup(data)
    decoders = []
    for module in (reference, core):
        fb = module.Framebuffer(width, height)
        decoders.append((fb, module.UpdateDecoder(fb, encodings, LIMITS)))
    offset = 0
    while offset < len(stream):
        results = []
        for fb, dec in decoders:
            try:
                n = dec.feed(stream, offset, max_updates)
                results.append(("fed", n, (dec.last_updates, dec.last_rects, dec.last_pixels, dec.last_bytes,
                                            dec.resized, dec.cursor_changed) if n else None))
            except ProtocolError:
                results.append(("error", 0, None))
        (ref_kind, ref_n, ref_counts), (core_kind, core_n, core_counts) = results
        if ref_kind != core_kind or ref_n != core_n or ref_counts != core_counts:
            if _tolerated(ref_kind, core_kind):
                return
            raise AssertionError(f"reference {results[0]} vs core {results[1]} at offset {offset}")
        if ref_kind == "error" or ref_n == 0:
            return
        (ref_fb, _), (core_fb, core_dec) = decoders
        if core_dec.failed:
            # the call ended with good updates before a bad one, whose error the
            # next call raises.  The framebuffers may differ past the good ones:
            # the core runs a backlog's JPEG rects at its end, so a bad one is
            # found after the later updates were painted.
            return
        if not np.array_equal(ref_fb.array, core_fb.array):
            raise AssertionError(f"pixels differ after the update at offset {offset}")
        offset += ref_n


def _tolerated(ref_kind: str, core_kind: str) -> bool:
    # The one accepted difference (see tests/test_differential.py): a core on
    # ISA-L rejects some corrupt zlib data that zlib accepts.
    return core.INFLATER == "isal" and (ref_kind, core_kind) == ("fed", "error")


def main() -> None:
    import atheris

    with atheris.instrument_imports():
        import vncenv._reference as reference

    atheris.Setup(sys.argv, lambda data: run_one(data, reference))
    atheris.Fuzz()


if __name__ == "__main__":
    main()
