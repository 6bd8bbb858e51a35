"""atheris target: Cursor pseudo-rects.

Input: the rect format of ``_harness.py``; every chunk is a Cursor rect
(x, y the hotspot) whose payload is the body: w * h R, G, B, X pixels then
a 1-bit mask of ((w + 7) / 8) * h bytes.  The limit is 64 x 64 here
(``limits.max_cursor_size``), so the over-limit path is reachable; both
backends must agree on the RGBA image, hotspot and every counter.

    python tests/fuzz/fuzz_cursor.py -atheris_runs=100000 build/fuzz-corpus/cursor
"""

from __future__ import annotations

import _harness

with _harness.instrumented(__name__ == "__main__"):
    import vncenv._reference  # noqa: F401


def wrap(chunk: _harness.Chunk, state: object) -> tuple[int, bytes]:
    return _harness.CURSOR, chunk.body


def run_one(data: bytes) -> None:
    _harness.run_rect_target(data, wrap)


if __name__ == "__main__":
    _harness.fuzz_main(run_one)
