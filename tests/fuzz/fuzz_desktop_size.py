"""atheris target: DesktopSize and ExtendedDesktopSize mid-update.

Input: the rect format of ``_harness.py``.  ``mode % 5`` picks the rect:
0 DesktopSize (no payload; the body is ignored), 1 ExtendedDesktopSize
(payload = body: u8 screens, 3 padding, 16 bytes per screen; y is the
status), 2 Raw, 3 CopyRect (payload = body), 4 a LastRect marker.  The size
limit is 512 x 512, so resizes past it fail; rects after a resize are
checked against the new size, and both backends must reallocate (or not)
alike.

    python tests/fuzz/fuzz_desktop_size.py -atheris_runs=100000 build/fuzz-corpus/desktop_size
"""

from __future__ import annotations

import _harness

with _harness.instrumented(__name__ == "__main__"):
    import vncenv._reference  # noqa: F401

_KINDS = (
    _harness.DESKTOP_SIZE,
    _harness.EXTENDED_DESKTOP_SIZE,
    _harness.RAW,
    _harness.COPYRECT,
    _harness.LAST_RECT,
)


def wrap(chunk: _harness.Chunk, state: object) -> tuple[int, bytes]:
    encoding = _KINDS[chunk.mode % len(_KINDS)]
    if encoding in (_harness.DESKTOP_SIZE, _harness.LAST_RECT):
        return encoding, b""
    return encoding, chunk.body


def run_one(data: bytes) -> None:
    _harness.run_rect_target(data, wrap)


if __name__ == "__main__":
    _harness.fuzz_main(run_one)
