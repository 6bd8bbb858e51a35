"""atheris target: CopyRect (with Raw rects to paint what it copies).

Input: the rect format of ``_harness.py``.  A chunk with ``mode`` bit 0 clear
is a CopyRect whose payload is the body (u16 src_x, u16 src_y: any length,
so framing errors are reachable); with bit 0 set it is a Raw rect.  Both
backends must copy overlapping areas in every direction alike and refuse a
source or destination outside the framebuffer.

    python tests/fuzz/fuzz_copyrect.py -atheris_runs=100000 build/fuzz-corpus/copyrect
"""

from __future__ import annotations

import _harness

with _harness.instrumented(__name__ == "__main__"):
    import vncenv._reference  # noqa: F401


def wrap(chunk: _harness.Chunk, state: object) -> tuple[int, bytes]:
    return (_harness.RAW if chunk.mode & 1 else _harness.COPYRECT), chunk.body


def run_one(data: bytes) -> None:
    _harness.run_rect_target(data, wrap)


if __name__ == "__main__":
    _harness.fuzz_main(run_one)
