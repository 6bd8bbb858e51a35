"""atheris target: Raw rects through the core and the reference.

Input: the rect format of ``_harness.py``; every chunk is a Raw rect whose
payload is the chunk's body (w * h R, G, B, X pixels; a short or long body
shifts the framing, as a lying server would).

    python tests/fuzz/fuzz_raw.py -atheris_runs=100000 build/fuzz-corpus/raw
"""

from __future__ import annotations

import _harness

with _harness.instrumented(__name__ == "__main__"):
    import vncenv._reference  # noqa: F401


def wrap(chunk: _harness.Chunk, state: object) -> tuple[int, bytes]:
    return _harness.RAW, chunk.body


def run_one(data: bytes) -> None:
    _harness.run_rect_target(data, wrap)


if __name__ == "__main__":
    _harness.fuzz_main(run_one)
