"""Properties of the compiled core itself: the GIL is released, nothing is
allocated per update.  (The reference backend has neither property.)"""

from __future__ import annotations

import functools
import threading
import time
import tracemalloc

import numpy as np
import pytest
import rfbgen

import vncenv._core as core

pytestmark = pytest.mark.core_only


@functools.lru_cache(maxsize=None)
def _zrle_updates(n: int, w: int, h: int, seed: int = 0) -> list[bytes]:
    """n ZRLE updates of many small rects each, like desktop traffic."""
    rng = np.random.default_rng(seed)
    enc = rfbgen.ZRLEEncoder()
    messages = []
    for _ in range(n):
        rects = []
        for _ in range(45):
            rw, rh = int(rng.integers(8, 96)), int(rng.integers(8, 64))
            x, y = int(rng.integers(0, w - rw)), int(rng.integers(0, h - rh))
            img = rfbgen.palette_image(rng, rw, rh, int(rng.integers(1, 12)), run=int(rng.integers(1, 9)))
            rects.append(enc.rect(x, y, img))
        messages.append(rfbgen.update(rects))
    return messages


def test_decode_releases_the_gil():
    """A Python thread keeps running while one long update decodes."""
    w, h = 4096, 2048
    rng = np.random.default_rng(1)
    tight = rfbgen.TightEncoder(level=1)
    image = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    # gradient filter on noise: a long inflate plus a per-byte filter pass
    rects = [
        tight.basic(0, y, image[y : y + 256], filter="gradient", stream=(y // 256) % 4)
        for _ in range(3)
        for y in range(0, h, 256)
    ]
    message = rfbgen.update(rects)
    fb = core.Framebuffer(w, h)
    decoder = core.UpdateDecoder(fb, rfbgen.IMPLEMENTED_ENCODINGS)

    ticks: list[float] = []
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            ticks.append(time.perf_counter())
            for _ in range(200):
                pass

    thread = threading.Thread(target=spin)
    thread.start()
    try:
        while len(ticks) < 10:  # the spinner is running
            time.sleep(0.001)
        start = time.perf_counter()
        assert decoder.feed(message) == len(message)
        end = time.perf_counter()
    finally:
        stop.set()
        thread.join()
    # Ticks strictly inside the middle half of the decode: with the GIL held
    # throughout, the spinner could not have run there at all.
    lo, hi = start + (end - start) / 4, end - (end - start) / 4
    inside = [t for t in ticks if lo < t < hi]
    assert len(inside) >= 3, f"{len(inside)} ticks during the middle of a {end - start:.3f} s decode"


@functools.lru_cache(maxsize=None)
def _tight_updates(n: int, w: int, h: int, seed: int = 0) -> list[bytes]:
    """n Tight updates of JPEG, fill and palette rects."""
    rng = np.random.default_rng(seed)
    tight = rfbgen.TightEncoder()
    messages = []
    for i in range(n):
        rects = [tight.jpeg(64 * (k % 8), 64 * (k // 8) + 128, rfbgen.smooth_image(64, 64, phase=i + k)) for k in range(8)]
        rects.append(tight.fill(0, 0, 32, 32, (i % 256, 1, 2)))
        rects.append(tight.basic(40, 0, rfbgen.palette_image(rng, 48, 40, 2, run=3), stream=1))
        messages.append(rfbgen.update(rects))
    return messages


@pytest.mark.parametrize("calls", ["one update a call", "a backlog in one call"])
@pytest.mark.parametrize("make_updates", [_zrle_updates, _tight_updates], ids=["zrle", "tight"])
def test_no_allocation_per_update(calls, make_updates):
    """Decoding many updates allocates nothing that grows with their number."""
    w, h = 640, 480
    messages = make_updates(200, w, h)
    fb = core.Framebuffer(w, h)
    decoder = core.UpdateDecoder(fb, rfbgen.IMPLEMENTED_ENCODINGS)
    for m in messages[:20]:  # warm up: scratch buffers reach their size
        assert decoder.feed(m) == len(m)
    backlog = b"".join(messages[20:])
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        if calls == "a backlog in one call":
            assert decoder.feed(backlog, 0, 1000) == len(backlog)
        else:
            for m in messages[20:]:
                decoder.feed(m)
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert decoder.updates == 200
    assert after - before < 1024, f"memory grew by {after - before} bytes over 180 updates"
    # no update allocates a frame-sized (or even rect-sized) Python buffer
    assert peak - before < 4096, f"peak grew by {peak - before} bytes"


def test_decoders_are_independent_across_threads():
    """N decoders on N threads give the same pictures as one after another."""
    w, h = 320, 240
    streams = [_zrle_updates(30, w, h, seed=s) for s in range(4)]

    def decode(messages: list[bytes]) -> np.ndarray:
        fb = core.Framebuffer(w, h)
        d = core.UpdateDecoder(fb, rfbgen.IMPLEMENTED_ENCODINGS)
        for m in messages:
            assert d.feed(m) == len(m)
        return fb.array.copy()

    expected = [decode(s) for s in streams]
    results: list[np.ndarray | None] = [None] * 4
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, decode(streams[i]))) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected):
        np.testing.assert_array_equal(got, want)
