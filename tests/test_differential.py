"""Differential fuzzing: the compiled core against the pure-Python reference.

Hypothesis generates connections -- a framebuffer size and a few updates of
random rects encoded with rfbgen, each update sometimes mutated (byte flips,
truncation, garbage, insertions, deletions) -- and feeds the same bytes to a
decoder of each backend.  They must agree, update after update, on the
outcome (the length consumed, or ProtocolError) and, after a success, on the
framebuffer, the cursor and the counters.

``VNCENV_FUZZ_EXAMPLES=N`` runs N examples per test instead of 200, for a
longer campaign.

Two known divergences are tolerated, and only on damaged input (see
:func:`tolerated`); a zlib-built core (``VNCENV_INFLATE=zlib``) with a fresh
TurboJPEG handle per rect would agree on every example.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import rfbgen
from backends import backend_pair  # noqa: F401  (pytest fixtures)
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from rfbgen import Rect, TightEncoder, ZRLEEncoder, update

from vncenv.error import ProtocolError

ALL = rfbgen.IMPLEMENTED_ENCODINGS
MAX_SIZE = 96
SETTINGS = settings(
    max_examples=int(os.environ.get("VNCENV_FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
RECT_KINDS = [
    "raw",
    "copyrect",
    "zrle",
    "tight_fill",
    "tight_jpeg",
    "tight_basic",
    "cursor",
    "desktop_size",
    "ext_desktop_size",
]
COUNTERS = ("last_rects", "last_pixels", "last_bytes", "resized", "cursor_changed", "updates", "rects", "bytes", "pixels")
MUTATIONS = [None, None, "flip", "flip", "truncate", "garbage", "insert", "delete"]


@dataclass
class Connection:
    """What one generated connection needs: its encoders, a random source and the current size."""

    data: Any  # hypothesis's st.data() object
    rng: np.random.Generator
    width: int
    height: int
    zrle: ZRLEEncoder
    tight: TightEncoder

    def draw(self, strategy: st.SearchStrategy) -> Any:
        return self.data.draw(strategy)

    def area(self) -> tuple[int, int, int, int]:
        """A random non-empty rect inside the current framebuffer: x, y, w, h."""
        w = self.draw(st.integers(1, self.width))
        h = self.draw(st.integers(1, self.height))
        return self.draw(st.integers(0, self.width - w)), self.draw(st.integers(0, self.height - h)), w, h

    def image(self, w: int, h: int) -> np.ndarray:
        style = self.draw(st.sampled_from(["noise", "palette", "smooth"]))
        if style == "noise":
            return rfbgen.random_image(self.rng, w, h)
        if style == "smooth":
            return rfbgen.smooth_image(w, h, phase=float(self.rng.random()))
        colours = self.draw(st.integers(1, 20))
        return rfbgen.palette_image(self.rng, w, h, colours, run=self.draw(st.integers(1, 8)))

    def rect(self) -> Rect:
        """A random valid rect for the current framebuffer (updating the size on a resize)."""
        kind = self.draw(st.sampled_from(RECT_KINDS))
        if kind in ("desktop_size", "ext_desktop_size"):
            w, h = self.draw(st.integers(1, MAX_SIZE)), self.draw(st.integers(1, MAX_SIZE))
            status = 0 if kind == "desktop_size" else self.draw(st.sampled_from([0, 0, 1, 3]))
            if status == 0:
                self.width, self.height = w, h
            if kind == "desktop_size":
                return rfbgen.desktop_size(w, h)
            return rfbgen.extended_desktop_size(w, h, status=status, reason=self.draw(st.integers(0, 2)))
        if kind == "cursor":
            w, h = self.draw(st.integers(0, 20)), self.draw(st.integers(0, 20))
            rgba = self.rng.integers(0, 256, size=(h, w, 4), dtype=np.uint8)
            rgba[:, :, 3] = np.where(self.rng.random((h, w)) < 0.5, 0, 255)
            return rfbgen.cursor(self.draw(st.integers(0, 30)), self.draw(st.integers(0, 30)), rgba)
        x, y, w, h = self.area()
        reset = self.draw(st.integers(0, 15)) if kind.startswith("tight") and self.draw(st.booleans()) else 0
        if kind == "copyrect":
            src_x = self.draw(st.integers(0, self.width - w))
            return rfbgen.copyrect(x, y, w, h, src_x, self.draw(st.integers(0, self.height - h)))
        if kind == "tight_fill":
            return self.tight.fill(x, y, w, h, self.rng.integers(0, 256, 3), reset=reset)
        pixels = self.image(w, h)
        if kind == "raw":
            return rfbgen.raw(x, y, pixels, pad=int(self.rng.integers(0, 256)))
        if kind == "zrle":
            return self.zrle.rect(x, y, pixels, lambda tile: self.rng.choice(rfbgen.zrle_tile_modes(tile)))
        if kind == "tight_jpeg":
            subsample = self.draw(st.sampled_from(["444", "422", "420", "gray"]))
            quality = self.draw(st.integers(10, 95))
            return self.tight.jpeg(x, y, pixels, quality=quality, subsample=subsample, reset=reset)
        filters = [None, "copy", "gradient"]
        if len(np.unique(pixels.reshape(-1, 3), axis=0)) <= 256:
            filters.append("palette")
        return self.tight.basic(
            x, y, pixels, filter=self.draw(st.sampled_from(filters)), stream=self.draw(st.integers(0, 3)), reset=reset
        )

    def message(self) -> bytes:
        """A random valid FramebufferUpdate, LastRect-terminated or counted."""
        rects = [self.rect() for _ in range(self.draw(st.integers(0, 5)))]
        if self.draw(st.booleans()):
            return update([*rects, rfbgen.last_rect()], nrects=0xFFFF)
        return update(rects)

    def mutate(self, message: bytes) -> bytes:
        """The message, maybe damaged."""
        mutation = self.draw(st.sampled_from(MUTATIONS))
        event(f"mutation: {mutation}")
        if mutation is None or not message:
            return message
        at = self.draw(st.integers(0, len(message) - 1))
        if mutation == "flip":
            damaged = bytearray(message)
            for _ in range(self.draw(st.integers(1, 3))):
                damaged[at] ^= self.draw(st.integers(1, 255))
                at = self.draw(st.integers(0, len(message) - 1))
            return bytes(damaged)
        if mutation == "truncate":
            return message[:at]
        if mutation == "garbage":
            return message[:at] + self.draw(st.binary(min_size=1, max_size=64))
        if mutation == "insert":
            return message[:at] + self.draw(st.binary(min_size=1, max_size=4)) + message[at:]
        return message[:at] + message[at + self.draw(st.integers(1, 4)) :]


@dataclass(frozen=True)
class Outcome:
    """What ``feed`` made of a message: ``kind`` "fed" (``length``, 0 = need more) or "error"."""

    kind: str
    length: int = 0
    detail: str = field(default="", compare=False)  # the ProtocolError message

    def label(self) -> str:
        return "incomplete" if (self.kind, self.length) == ("fed", 0) else self.kind


def tolerated(core_module, expected: Outcome, got: Outcome) -> str | None:
    """Why the core may answer ``got`` to damaged input where the reference answered ``expected``.

    One accepted difference of the libraries underneath, on input that is
    already corrupt (valid streams must agree exactly): a core built on
    ISA-L's inflater rejects some corrupt zlib data that zlib (the
    reference's inflater) accepts, the corruption lying in bits zlib has not
    examined yet.
    """
    if getattr(core_module, "INFLATER", "zlib") == "isal" and expected.kind == "fed" and got.kind == "error":
        return "ISA-L rejects corrupt zlib data"
    return None


def outcome(decoder, message: bytes) -> Outcome:
    """Feed ``message`` and say what came of it."""
    try:
        return Outcome("fed", decoder.feed(message))
    except ProtocolError as exc:
        assert decoder.failed
        return Outcome("error", detail=str(exc))


def assert_same_state(reference, core, ref_fb, core_fb) -> None:
    assert ref_fb.array.shape == core_fb.array.shape
    np.testing.assert_array_equal(ref_fb.array, core_fb.array)
    for name in COUNTERS:
        assert getattr(reference, name) == getattr(core, name), name
    if reference.cursor is None or core.cursor is None:
        assert reference.cursor is None and core.cursor is None
    else:
        np.testing.assert_array_equal(reference.cursor[0], core.cursor[0])
        assert reference.cursor[1:] == core.cursor[1:]


def decoders(backend_pair, width: int, height: int) -> list[tuple[Any, Any]]:
    """A (framebuffer, decoder) pair for each backend."""
    pairs = []
    for backend in backend_pair:
        fb = backend.Framebuffer(width, height)
        pairs.append((fb, backend.UpdateDecoder(fb, ALL)))
    return pairs


@SETTINGS
@given(data=st.data())
def test_generated_connections_agree(backend_pair, data):
    width, height = data.draw(st.integers(1, MAX_SIZE)), data.draw(st.integers(1, MAX_SIZE))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    connection = Connection(data, rng, width, height, ZRLEEncoder(), TightEncoder())
    (ref_fb, ref), (core_fb, core) = decoders(backend_pair, width, height)
    for _ in range(data.draw(st.integers(1, 3))):
        valid = connection.message()
        message = connection.mutate(valid)
        result = outcome(ref, message)
        core_result = outcome(core, message)
        reason = tolerated(backend_pair[1], result, core_result) if message != valid else None
        if core_result != result and reason:
            event(f"tolerated: {reason}")
            break
        assert core_result == result, (result, core_result)
        event(f"outcome: {result.label()}")
        if result.label() != "fed":
            break
        assert_same_state(ref, core, ref_fb, core_fb)


@st.composite
def structured_garbage(draw) -> bytes:
    """A FramebufferUpdate of rect headers in implemented encodings and random payload bytes."""
    nrects = draw(st.sampled_from([0, 1, 2, 3, 0xFFFF]))
    parts = [rfbgen.update_header(nrects)]
    for _ in range(draw(st.integers(0, 3))):
        w, h = draw(st.integers(0, 20)), draw(st.integers(0, 20))
        x, y = draw(st.integers(0, 40)), draw(st.integers(0, 40))
        parts.append(rfbgen.rect_header(x, y, w, h, draw(st.sampled_from(ALL))))
        parts.append(draw(st.binary(max_size=80)))
    return b"".join(parts)


@SETTINGS
@given(message=structured_garbage())
def test_garbage_agrees(backend_pair, message):
    (ref_fb, ref), (core_fb, core) = decoders(backend_pair, 32, 32)
    result = outcome(ref, message)
    core_result = outcome(core, message)
    reason = tolerated(backend_pair[1], result, core_result)
    if core_result != result and reason:
        event(f"tolerated: {reason}")
        return
    assert core_result == result, (result, core_result)
    event(f"outcome: {result.label()}")
    if result.label() == "fed":
        assert_same_state(ref, core, ref_fb, core_fb)
