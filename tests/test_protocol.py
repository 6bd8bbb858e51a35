"""Wire tests for the sans-IO RFB client (vncenv.vnc.protocol, auth, keysyms).

Table-driven, h11 style: each handshake variant is a script of steps
``(server bytes -> client bytes, events, state)``.  The same scripts are
replayed in one chunk, one step at a time, byte by byte, in random chunks and
through get_buffer()/buffer_updated(), and cut by EOF at every offset.

Every expected client byte string is written out by hand from RFC 6143, not
computed with the code under test.
"""

from __future__ import annotations

import struct
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from Crypto.Cipher import DES
from hypothesis import given, settings
from hypothesis import strategies as st

# --- importing --------------------------------------------------------------
# The protocol modules are pure Python and must not need a decode backend.
# While vncenv/_reference.py (or the compiled core) is not there yet,
# ``import vncenv`` fails in vncenv._backend; load the pure-Python submodules
# without running vncenv/__init__.py then.
try:
    import vncenv  # noqa: F401
except ImportError:  # pragma: no cover - only before the backends exist
    _pkg = types.ModuleType("vncenv")
    _pkg.__path__ = [str(Path(__file__).resolve().parents[1] / "python" / "vncenv")]
    sys.modules["vncenv"] = _pkg

from vncenv.error import AuthenticationError, ConnectionClosed, ProtocolError, UsageError  # noqa: E402
from vncenv.limits import Limits  # noqa: E402
from vncenv.vnc import events as ev  # noqa: E402
from vncenv.vnc.auth import des_key, vnc_auth_response  # noqa: E402
from vncenv.vnc.keysyms import KEYSYMS, keysym  # noqa: E402
from vncenv.vnc.protocol import (  # noqa: E402
    RFBClientProtocol,
    State,
    build_encodings,
    encode_client_cut_text,
    encode_key_event,
    encode_pointer_event,
    encode_update_request,
)

# --- the decoder -------------------------------------------------------------
# FramebufferUpdates are decoded by the pure-Python reference decoder
# (VNCENV_DECODER=python semantics) when it exists.  Otherwise a tiny stand-in
# below decodes just Raw, DesktopSize and LastRect: it exists only to unit-test
# the protocol layer; the real decoders are tested elsewhere.
try:
    from vncenv import _reference

    FRAMEBUFFER_FACTORY: Any = _reference.Framebuffer
    DECODER_FACTORY: Any = _reference.UpdateDecoder
except ImportError:  # pragma: no cover - only before _reference.py exists

    class _StubFramebuffer:
        """Stand-in Framebuffer (protocol unit tests only)."""

        def __init__(self, width: int, height: int) -> None:
            self.resize(width, height)

        def resize(self, width: int, height: int) -> None:
            self.width, self.height = width, height
            self.array = np.zeros((height, width, 3), np.uint8)

    class _StubDecoder:
        """Stand-in UpdateDecoder: Raw, DesktopSize, LastRect (protocol unit tests only)."""

        def __init__(self, framebuffer: _StubFramebuffer, encodings: Any, limits: Any = None) -> None:
            self.fb = framebuffer
            self.encodings = set(encodings)
            self.last_rects = self.last_pixels = self.last_bytes = 0
            self.resized = self.cursor_changed = False

        def feed(self, data: Any, offset: int = 0) -> int:
            data = memoryview(data)
            end = len(data)
            if end - offset < 4:
                return 0
            (nrects,) = struct.unpack_from(">H", data, offset + 2)
            pos, rects, pixels, resized, todo = offset + 4, 0, 0, False, []
            while rects < nrects:
                if end - pos < 12:
                    return 0
                x, y, w, h, enc = struct.unpack_from(">HHHHi", data, pos)
                pos += 12
                if enc not in self.encodings:
                    raise ProtocolError(f"encoding {enc} not requested")
                if enc == -224:  # LastRect (not counted, as in the reference)
                    break
                rects += 1
                if enc == -223:  # DesktopSize
                    todo.append((enc, x, y, w, h, None))
                    continue
                if enc != 0:
                    raise ProtocolError(f"stub decoder: encoding {enc} not implemented")
                size = w * h * 4
                if end - pos < size:
                    return 0
                todo.append((enc, x, y, w, h, bytes(data[pos : pos + size])))
                pos += size
            for enc, x, y, w, h, payload in todo:  # the whole update is here: apply it
                if enc == -223:
                    if not (0 < w and 0 < h):
                        raise ProtocolError("bad DesktopSize")
                    self.fb.resize(w, h)
                    resized = True
                    continue
                if x + w > self.fb.width or y + h > self.fb.height:
                    raise ProtocolError("rect outside the framebuffer")
                pix = np.frombuffer(payload, np.uint8).reshape(h, w, 4)
                self.fb.array[y : y + h, x : x + w] = pix[:, :, :3]
                pixels += w * h
            self.last_rects, self.last_pixels, self.last_bytes = rects, pixels, pos - offset
            self.resized, self.cursor_changed = resized, False
            return pos - offset

    FRAMEBUFFER_FACTORY = _StubFramebuffer
    DECODER_FACTORY = _StubDecoder


# --- wire constants, by hand from RFC 6143 ------------------------------------

ENCODINGS = [0, -223, -224]  # Raw, DesktopSize, LastRect

# SetPixelFormat (7.5.1): type 0, 3 pad, PIXEL_FORMAT (7.4): bpp 32, depth 24,
# big-endian 0, true-colour 1, red/green/blue-max 255 (u16), shifts 0, 8, 16, 3 pad.
SET_PIXEL_FORMAT = bytes.fromhex("00 000000" "20 18 00 01 00ff 00ff 00ff 00 08 10 000000")
# SetEncodings (7.5.2): type 2, pad, u16 count, s32 encodings.
SET_ENCODINGS = bytes.fromhex("02 00 0003" "00000000 ffffff21 ffffff20")
# FramebufferUpdateRequest (7.5.3): type 3, incremental 0, x 0, y 0, w 64, h 48.
FULL_REQUEST = bytes.fromhex("03 00 0000 0000 0040 0030")
AFTER_INIT = SET_PIXEL_FORMAT + SET_ENCODINGS + FULL_REQUEST

CLIENT_INIT_SHARED = b"\x01"

# ServerInit (7.3.2): w 64, h 48, the server's pixel format (BGRX), name "test".
SERVER_PIXEL_FORMAT = bytes.fromhex("20 18 00 01 00ff 00ff 00ff 10 08 00 000000")
SERVER_INIT = bytes.fromhex("0040 0030") + SERVER_PIXEL_FORMAT + b"\x00\x00\x00\x04test"
SERVER_INIT_EVENT = ev.ServerInit(width=64, height=48, name="test", pixel_format=SERVER_PIXEL_FORMAT)

CHALLENGE = bytes(range(0x10, 0x20))
OK = b"\x00\x00\x00\x00"
FAILED = b"\x00\x00\x00\x01"


def u32(n: int) -> bytes:
    return n.to_bytes(4, "big")


def reason(text: str) -> bytes:
    return u32(len(text)) + text.encode()


def independent_vnc_response(challenge: bytes, password: bytes) -> bytes:
    """VNC auth written from the spec, independently of vncenv.vnc.auth."""
    key = bytearray(8)
    for i, byte in enumerate(password[:8]):
        rev = 0
        for bit in range(8):  # bit i of the password byte -> bit 7 - i of the key byte
            if byte & (1 << bit):
                rev |= 1 << (7 - bit)
        key[i] = rev
    return DES.new(bytes(key), DES.MODE_ECB).encrypt(challenge)


RIGHT = independent_vnc_response(CHALLENGE, b"password")


# --- scripts ---------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """The server sends ``server``; the client must answer ``client``, emit
    ``events`` and be in ``state``, or raise ``raises`` matching ``match``."""

    server: bytes
    client: bytes = b""
    events: tuple = ()
    state: State | None = None
    raises: type[Exception] | None = None
    match: str | None = None


@dataclass(frozen=True)
class Script:
    id: str
    steps: tuple[Step, ...]
    kwargs: dict = field(default_factory=dict)

    @property
    def server_bytes(self) -> bytes:
        return b"".join(s.server for s in self.steps)

    @property
    def client_bytes(self) -> bytes:
        return b"".join(s.client for s in self.steps)

    @property
    def all_events(self) -> list:
        return [e for s in self.steps for e in s.events]

    @property
    def final(self) -> Step:
        return self.steps[-1]


def banner(minor: int) -> bytes:
    return b"RFB 003.%03d\n" % minor


INIT_STEP = Step(SERVER_INIT, AFTER_INIT, (SERVER_INIT_EVENT,), State.NORMAL)

SCRIPTS = [
    Script(
        "3.8-none",
        (
            Step(banner(8), banner(8), state=State.SECURITY_TYPES),
            Step(b"\x01\x01", b"\x01", state=State.SECURITY_RESULT),
            Step(OK, CLIENT_INIT_SHARED, state=State.SERVER_INIT),
            INIT_STEP,
        ),
    ),
    Script(
        "3.8-none-not-shared",
        (
            Step(banner(8), banner(8), state=State.SECURITY_TYPES),
            Step(b"\x01\x01", b"\x01", state=State.SECURITY_RESULT),
            Step(OK, b"\x00", state=State.SERVER_INIT),
            INIT_STEP,
        ),
        {"shared": False},
    ),
    Script(
        "3.8-vnc-auth",
        (
            Step(banner(8), banner(8), state=State.SECURITY_TYPES),
            Step(b"\x02\x01\x02", b"\x02", state=State.VNC_AUTH_CHALLENGE),
            Step(CHALLENGE, RIGHT, state=State.SECURITY_RESULT),
            Step(OK, CLIENT_INIT_SHARED, state=State.SERVER_INIT),
            INIT_STEP,
        ),
        {"password": "password"},
    ),
    Script(
        "3.8-long-password-truncated",
        (
            Step(banner(8), banner(8), state=State.SECURITY_TYPES),
            Step(b"\x01\x02", b"\x02", state=State.VNC_AUTH_CHALLENGE),
            Step(CHALLENGE, RIGHT, state=State.SECURITY_RESULT),
            Step(OK, CLIENT_INIT_SHARED, state=State.SERVER_INIT),
            INIT_STEP,
        ),
        {"password": b"password-and-more"},
    ),
    Script(
        "3.8-password-given-but-only-none-offered",
        (
            Step(banner(8), banner(8), state=State.SECURITY_TYPES),
            Step(b"\x01\x01", b"\x01", state=State.SECURITY_RESULT),
            Step(OK, CLIENT_INIT_SHARED, state=State.SERVER_INIT),
            INIT_STEP,
        ),
        {"password": "password"},
    ),
    Script(
        "3.8-wrong-password",
        (
            Step(banner(8), banner(8), state=State.SECURITY_TYPES),
            Step(b"\x01\x02", b"\x02", state=State.VNC_AUTH_CHALLENGE),
            Step(CHALLENGE, independent_vnc_response(CHALLENGE, b"wrong"), state=State.SECURITY_RESULT),
            Step(FAILED, state=State.SECURITY_FAILURE_REASON),
            Step(reason("Authentication failure"), raises=AuthenticationError, match="Authentication failure"),
        ),
        {"password": "wrong"},
    ),
    Script(
        "3.8-none-failed-with-reason",
        (
            Step(banner(8), banner(8), state=State.SECURITY_TYPES),
            Step(b"\x01\x01", b"\x01", state=State.SECURITY_RESULT),
            Step(FAILED + reason("go away"), raises=AuthenticationError, match="go away"),
        ),
    ),
    Script(
        "3.8-zero-security-types",
        (
            Step(banner(8), banner(8), state=State.SECURITY_TYPES),
            Step(b"\x00", state=State.SECURITY_FAILURE_REASON),
            Step(reason("Too many security failures"), raises=AuthenticationError, match="Too many security"),
        ),
    ),
    Script(
        "3.8-reason-over-limit",
        (
            Step(banner(8), banner(8), state=State.SECURITY_TYPES),
            Step(b"\x00" + u32(101), raises=ProtocolError, match="max_reason_length"),
        ),
        {"limits": Limits(max_reason_length=100)},
    ),
    Script(
        "3.8-unsupported-security-types",
        (
            Step(banner(8), banner(8), state=State.SECURITY_TYPES),
            Step(b"\x02\x12\x13", raises=AuthenticationError, match=r"18 \(TLS\), 19 \(VeNCrypt\)"),
        ),
    ),
    Script(
        "3.8-vnc-auth-needs-password",
        (
            Step(banner(8), banner(8), state=State.SECURITY_TYPES),
            Step(b"\x01\x02", raises=AuthenticationError, match="requires a password"),
        ),
    ),
    Script(
        "3.889-apple",
        (
            Step(banner(889), banner(8), state=State.SECURITY_TYPES),
            Step(b"\x02\x1e\x02", b"\x02", state=State.VNC_AUTH_CHALLENGE),
            Step(CHALLENGE, RIGHT, state=State.SECURITY_RESULT),
            Step(OK, CLIENT_INIT_SHARED, state=State.SERVER_INIT),
            INIT_STEP,
        ),
        {"password": "password"},
    ),
    Script(
        "5.0-realvnc",
        (
            Step(b"RFB 005.000\n", banner(8), state=State.SECURITY_TYPES),
            Step(b"\x01\x01", b"\x01", state=State.SECURITY_RESULT),
            Step(OK, CLIENT_INIT_SHARED, state=State.SERVER_INIT),
            INIT_STEP,
        ),
    ),
    Script(
        "3.7-none",  # no SecurityResult for None before 3.8
        (
            Step(banner(7), banner(7), state=State.SECURITY_TYPES),
            Step(b"\x01\x01", b"\x01" + CLIENT_INIT_SHARED, state=State.SERVER_INIT),
            INIT_STEP,
        ),
    ),
    Script(
        "3.7-vnc-auth",
        (
            Step(banner(7), banner(7), state=State.SECURITY_TYPES),
            Step(b"\x01\x02", b"\x02", state=State.VNC_AUTH_CHALLENGE),
            Step(CHALLENGE, RIGHT, state=State.SECURITY_RESULT),
            Step(OK, CLIENT_INIT_SHARED, state=State.SERVER_INIT),
            INIT_STEP,
        ),
        {"password": "password"},
    ),
    Script(
        "3.7-wrong-password",  # no reason string before 3.8
        (
            Step(banner(7), banner(7), state=State.SECURITY_TYPES),
            Step(b"\x01\x02", b"\x02", state=State.VNC_AUTH_CHALLENGE),
            Step(CHALLENGE, independent_vnc_response(CHALLENGE, b"wrong"), state=State.SECURITY_RESULT),
            Step(FAILED, raises=AuthenticationError, match="wrong password"),
        ),
        {"password": "wrong"},
    ),
    Script(
        "3.3-none",
        (
            Step(banner(3), banner(3), state=State.SECURITY_TYPE_33),
            Step(u32(1), CLIENT_INIT_SHARED, state=State.SERVER_INIT),
            INIT_STEP,
        ),
    ),
    Script(
        "3.3-vnc-auth",
        (
            Step(banner(3), banner(3), state=State.SECURITY_TYPE_33),
            Step(u32(2), state=State.VNC_AUTH_CHALLENGE),
            Step(CHALLENGE, RIGHT, state=State.SECURITY_RESULT),
            Step(OK, CLIENT_INIT_SHARED, state=State.SERVER_INIT),
            INIT_STEP,
        ),
        {"password": "password"},
    ),
    Script(
        "3.3-wrong-password",
        (
            Step(banner(3), banner(3), state=State.SECURITY_TYPE_33),
            Step(u32(2), state=State.VNC_AUTH_CHALLENGE),
            Step(CHALLENGE, independent_vnc_response(CHALLENGE, b"wrong"), state=State.SECURITY_RESULT),
            Step(FAILED, raises=AuthenticationError, match="wrong password"),
        ),
        {"password": "wrong"},
    ),
    Script(
        "3.3-refused",
        (
            Step(banner(3), banner(3), state=State.SECURITY_TYPE_33),
            Step(u32(0), state=State.SECURITY_FAILURE_REASON),
            Step(reason("too many clients"), raises=AuthenticationError, match="too many clients"),
        ),
    ),
    Script(
        "3.3-vnc-auth-needs-password",
        (
            Step(banner(3), banner(3), state=State.SECURITY_TYPE_33),
            Step(u32(2), raises=AuthenticationError, match="requires a password"),
        ),
    ),
    Script(
        "3.3-unknown-type",
        (
            Step(banner(3), banner(3), state=State.SECURITY_TYPE_33),
            Step(u32(16), raises=AuthenticationError, match=r"16 \(Tight\)"),
        ),
    ),
    Script(
        "3.5-is-3.3",
        (
            Step(banner(5), banner(3), state=State.SECURITY_TYPE_33),
            Step(u32(1), CLIENT_INIT_SHARED, state=State.SERVER_INIT),
            INIT_STEP,
        ),
    ),
    Script("bad-banner-http", (Step(b"HTTP/1.1 400 Bad Request\r\n", raises=ProtocolError, match="not an RFB"),)),
    Script("bad-banner-early", (Step(b"SSH-", raises=ProtocolError, match="not an RFB"),)),
    Script("bad-banner-letters", (Step(b"RFB 003.00x\n", raises=ProtocolError, match="not an RFB"),)),
    Script("bad-banner-no-newline", (Step(b"RFB 003.008 ", raises=ProtocolError, match="not an RFB"),)),
    Script("bad-banner-version-2", (Step(b"RFB 002.000\n", raises=ProtocolError, match="unsupported RFB version"),)),
    Script(
        "server-init-name-over-limit",
        (
            Step(banner(3), banner(3), state=State.SECURITY_TYPE_33),
            Step(u32(1), CLIENT_INIT_SHARED, state=State.SERVER_INIT),
            # only the header: the error comes before the name is buffered
            Step(SERVER_INIT[:20] + u32(4097), raises=ProtocolError, match="max_name_length"),
        ),
    ),
    Script(
        "server-init-zero-width",
        (
            Step(banner(3), banner(3), state=State.SECURITY_TYPE_33),
            Step(u32(1), CLIENT_INIT_SHARED, state=State.SERVER_INIT),
            Step(b"\x00\x00" + SERVER_INIT[2:], raises=ProtocolError, match="ServerInit size"),
        ),
    ),
    Script(
        "server-init-over-max-width",
        (
            Step(banner(3), banner(3), state=State.SECURITY_TYPE_33),
            Step(u32(1), CLIENT_INIT_SHARED, state=State.SERVER_INIT),
            Step(SERVER_INIT, raises=ProtocolError, match="ServerInit size"),
        ),
        {"limits": Limits(max_width=63)},
    ),
]

SUCCESSFUL = [s for s in SCRIPTS if s.final.raises is None]


def make(**kwargs: Any) -> RFBClientProtocol:
    kwargs.setdefault("encodings", ENCODINGS)
    kwargs.setdefault("decoder_factory", DECODER_FACTORY)
    kwargs.setdefault("framebuffer_factory", FRAMEBUFFER_FACTORY)
    return RFBClientProtocol(**kwargs)


def drain(proto: RFBClientProtocol) -> tuple[bytes, list]:
    events = list(proto.events())
    return proto.data_to_send(), events


def play(script: Script, chunks: list[bytes], feed: str = "receive_data") -> tuple[bytes, list, Exception | None]:
    """Feed the script's server bytes in ``chunks``; return what the client did."""
    proto = make(**script.kwargs)
    out, events = b"", []
    for chunk in chunks:
        try:
            if feed == "receive_data":
                proto.receive_data(chunk)
            else:
                view = proto.get_buffer(len(chunk))
                view[: len(chunk)] = chunk
                proto.buffer_updated(len(chunk))
            sent, new = drain(proto)
        except Exception as exc:
            assert proto.state is State.ERROR
            return out, events, exc
        out += sent
        events += new
    return out, events, None


def check_outcome(script: Script, out: bytes, events: list, exc: Exception | None) -> None:
    final = script.final
    if final.raises is None:
        assert exc is None
        assert out == script.client_bytes
        assert events == script.all_events
    else:
        # Bytes queued in the call that raised are never sent: after a failure
        # data_to_send() raises too.  (A real server waits for our answers, so
        # with it they would have gone out in earlier calls.)
        assert script.client_bytes.startswith(out)
        assert events == script.all_events[: len(events)]
        assert isinstance(exc, final.raises)
        assert final.match is not None
        import re

        assert re.search(final.match, str(exc)), str(exc)


# --- handshake tests ---------------------------------------------------------------


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.id)
def test_handshake_step_by_step(script: Script) -> None:
    proto = make(**script.kwargs)
    assert proto.state is State.PROTOCOL_VERSION
    for step in script.steps:
        proto.receive_data(step.server)
        if step.raises is not None:
            with pytest.raises(step.raises, match=step.match):
                proto.next_event()
            assert proto.state is State.ERROR
            assert isinstance(proto.error, step.raises)
            # every later call raises again
            with pytest.raises(step.raises):
                proto.next_event()
            with pytest.raises(step.raises):
                proto.receive_data(b"x")
            with pytest.raises(step.raises):
                proto.data_to_send()
            return
        sent, events = drain(proto)
        assert sent == step.client
        assert events == list(step.events)
        assert proto.state is step.state


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.id)
def test_handshake_one_chunk(script: Script) -> None:
    check_outcome(script, *play(script, [script.server_bytes]))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.id)
def test_handshake_byte_by_byte(script: Script) -> None:
    data = script.server_bytes
    check_outcome(script, *play(script, [data[i : i + 1] for i in range(len(data))]))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.id)
def test_handshake_through_get_buffer(script: Script) -> None:
    data = script.server_bytes
    check_outcome(script, *play(script, [data[i : i + 3] for i in range(0, len(data), 3)], feed="get_buffer"))


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_handshake_random_chunks(data: st.DataObject) -> None:
    script = data.draw(st.sampled_from(SCRIPTS), label="script")
    raw = script.server_bytes
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(raw) - 1)), max_size=8), label="cuts"))
    bounds = [0, *cuts, len(raw)]
    chunks = [raw[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]
    check_outcome(script, *play(script, chunks))


def test_handshake_properties() -> None:
    script = next(s for s in SCRIPTS if s.id == "3.889-apple")
    proto = make(**script.kwargs)
    assert proto.version is None and proto.width is None and proto.framebuffer is None
    proto.receive_data(script.server_bytes)
    drain(proto)
    assert proto.server_version == (3, 889)
    assert proto.version == (3, 8)
    assert proto.security_type == 2
    assert (proto.width, proto.height, proto.name) == (64, 48, "test")
    assert proto.framebuffer.array.shape == (48, 64, 3)
    assert proto.decoder is not None
    assert proto.update_outstanding


def test_server_init_name_encodings() -> None:
    for raw, text in [("bureau".encode(), "bureau"), ("caf\u00e9".encode(), "caf\u00e9"), (b"caf\xe9", "caf\u00e9")]:
        proto = make()
        proto.receive_data(banner(3) + u32(1) + SERVER_INIT[:20] + u32(len(raw)) + raw)
        assert drain(proto)[1][0].name == text


# --- EOF ---------------------------------------------------------------------------


@pytest.mark.parametrize("script", SUCCESSFUL, ids=lambda s: s.id)
def test_eof_during_handshake_is_unclean(script: Script) -> None:
    raw = script.server_bytes
    for cut in range(len(raw)):
        proto = make(**script.kwargs)
        if cut:
            proto.receive_data(raw[:cut])
        assert list(proto.events()) == []
        proto.receive_data(b"")
        with pytest.raises(ConnectionClosed, match="handshake") as info:
            proto.next_event()
        assert info.value.clean is False
        assert proto.state is State.ERROR


@pytest.mark.parametrize("script", SUCCESSFUL, ids=lambda s: s.id)
def test_eof_right_after_handshake_is_clean(script: Script) -> None:
    proto = make(**script.kwargs)
    proto.receive_data(script.server_bytes)
    proto.eof_received()
    assert list(proto.events()) == [SERVER_INIT_EVENT, ev.ConnectionClosed(clean=True)]
    assert proto.state is State.CLOSED
    assert proto.next_event() is None
    with pytest.raises(UsageError):
        proto.receive_data(b"more")
    with pytest.raises(UsageError):
        proto.key_event(0x61, True)


# --- NORMAL state -------------------------------------------------------------------


def connected(**kwargs: Any) -> RFBClientProtocol:
    proto = make(**kwargs)
    proto.receive_data(banner(8) + b"\x01\x01" + OK + SERVER_INIT)
    sent, events = drain(proto)
    assert events == [SERVER_INIT_EVENT] and proto.state is State.NORMAL
    return proto


def fbu(*rects: bytes) -> bytes:
    """FramebufferUpdate (7.6.1): type 0, pad, u16 nrects, rects."""
    return struct.pack(">BxH", 0, len(rects)) + b"".join(rects)


def rect(x: int, y: int, w: int, h: int, encoding: int, payload: bytes = b"") -> bytes:
    return struct.pack(">HHHHi", x, y, w, h, encoding) + payload


RED_GREEN = bytes([255, 0, 0, 0, 0, 255, 0, 0])  # two Raw pixels R,G,B,X
RAW_UPDATE = fbu(rect(3, 2, 2, 1, 0, RED_GREEN))
RESIZE_UPDATE = fbu(rect(0, 0, 32, 16, -223))

# (id, server bytes, client bytes, events)
NORMAL_MESSAGES = [
    ("bell", b"\x02", b"", [ev.Bell()]),
    ("cut-text", b"\x03\x00\x00\x00" + u32(5) + b"hello", b"", [ev.ServerCutText(b"hello", "hello")]),
    ("cut-text-latin-1", b"\x03\x00\x00\x00" + u32(4) + b"caf\xe9", b"", [ev.ServerCutText(b"caf\xe9", "caf\u00e9")]),
    ("cut-text-empty", b"\x03\x00\x00\x00" + u32(0), b"", [ev.ServerCutText(b"", "")]),
    (
        "colour-map",
        bytes.fromhex("01 00 0005 0002" "ffff 0000 0000" "0000 ffff 8000"),
        b"",
        [ev.ColourMapEntries(5, ((0xFFFF, 0, 0), (0, 0xFFFF, 0x8000)))],
    ),
    ("end-of-continuous-updates", b"\x96", b"", [ev.EndOfContinuousUpdates()]),
    (
        "fence-request",
        bytes.fromhex("f8 000000 80000003 03") + b"abc",
        bytes.fromhex("f8 000000 00000003 03") + b"abc",
        [ev.Fence(0x80000003, b"abc")],
    ),
    (
        "fence-request-unknown-flags-dropped",
        bytes.fromhex("f8 000000 800000ff 00"),
        bytes.fromhex("f8 000000 00000007 00"),
        [ev.Fence(0x800000FF, b"")],
    ),
    ("fence-response", bytes.fromhex("f8 000000 00000001 01 7a"), b"", [ev.Fence(1, b"z")]),
    ("raw-update", RAW_UPDATE, b"", [ev.FramebufferUpdate(1, len(RAW_UPDATE), 2, False, False)]),
    ("resize-update", RESIZE_UPDATE, b"", [ev.FramebufferUpdate(1, len(RESIZE_UPDATE), 0, True, False)]),
    (
        "last-rect-update",
        struct.pack(">BxH", 0, 0xFFFF) + rect(0, 0, 1, 1, 0, b"\x01\x02\x03\x00") + rect(0, 0, 0, 0, -224),
        b"",
        [ev.FramebufferUpdate(1, 4 + 12 + 4 + 12, 1, False, False)],  # the LastRect marker is not counted
    ),
    (
        "several-in-one-chunk",
        b"\x02" + RAW_UPDATE + b"\x02" + bytes.fromhex("f8 000000 80000000 00"),
        bytes.fromhex("f8 000000 00000000 00"),
        [ev.Bell(), ev.FramebufferUpdate(1, len(RAW_UPDATE), 2, False, False), ev.Bell(), ev.Fence(1 << 31, b"")],
    ),
]


@pytest.mark.parametrize("case", NORMAL_MESSAGES, ids=lambda c: c[0])
@pytest.mark.parametrize("chunking", ["one-chunk", "byte-by-byte"])
def test_normal_messages(case: tuple, chunking: str) -> None:
    _, server, client, expected = case
    proto = connected()
    chunks = [server] if chunking == "one-chunk" else [server[i : i + 1] for i in range(len(server))]
    out, events = b"", []
    for chunk in chunks:
        proto.receive_data(chunk)
        sent, new = drain(proto)
        out += sent
        events += new
    assert out == client
    assert events == expected
    assert proto.state is State.NORMAL
    # EOF between messages is a clean close
    proto.receive_data(b"")
    assert list(proto.events()) == [ev.ConnectionClosed(clean=True)]
    assert proto.state is State.CLOSED


@pytest.mark.parametrize("coalesce", [False, True])
def test_coalesce_updates(coalesce: bool) -> None:
    proto = connected(coalesce_updates=coalesce)
    assert proto.coalesce_updates is coalesce
    proto.receive_data(RAW_UPDATE + RESIZE_UPDATE + RAW_UPDATE + b"\x02" + RAW_UPDATE + RAW_UPDATE[:-1])
    _, events = drain(proto)
    if coalesce:
        n = 2 * len(RAW_UPDATE) + len(RESIZE_UPDATE)
        assert events == [
            ev.FramebufferUpdate(3, n, 4, True, False, updates=3),
            ev.Bell(),
            ev.FramebufferUpdate(1, len(RAW_UPDATE), 2, False, False, updates=1),
        ]
    else:
        assert [e.updates for e in events if isinstance(e, ev.FramebufferUpdate)] == [1] * 4
        assert events[1] == ev.FramebufferUpdate(1, len(RESIZE_UPDATE), 0, True, False)
    assert proto.decoder.updates == 4
    assert proto.framebuffer.array.shape == (16, 32, 3)
    assert proto.framebuffer.array[2, 3].tolist() == [255, 0, 0]
    proto.coalesce_updates = not coalesce  # switchable at any time
    proto.receive_data(RAW_UPDATE[-1:] + RAW_UPDATE + RAW_UPDATE)
    _, events = drain(proto)
    assert sum(e.updates for e in events) == 3 and len(events) == (3 if coalesce else 1)


def test_raw_update_pixels_and_outstanding_request() -> None:
    proto = connected()
    assert proto.update_outstanding
    proto.receive_data(RAW_UPDATE)
    (event,) = list(proto.events())
    assert isinstance(event, ev.FramebufferUpdate)
    assert not proto.update_outstanding
    arr = proto.framebuffer.array
    assert arr[2, 3].tolist() == [255, 0, 0]
    assert arr[2, 4].tolist() == [0, 255, 0]
    assert int(arr.sum()) == 2 * 255
    proto.request_update()
    assert proto.update_outstanding
    assert proto.data_to_send() == bytes.fromhex("03 01 0000 0000 0040 0030")


def test_resize_update_changes_size() -> None:
    proto = connected()
    old = proto.framebuffer.array
    proto.receive_data(RESIZE_UPDATE)
    (event,) = list(proto.events())
    assert event.resized
    assert (proto.width, proto.height) == (32, 16)
    assert proto.framebuffer.array.shape == (16, 32, 3)
    assert proto.framebuffer.array is not old
    proto.request_update(incremental=False)
    assert proto.data_to_send() == bytes.fromhex("03 00 0000 0000 0020 0010")


def big_raw_update(w: int, h: int) -> tuple[bytes, np.ndarray]:
    rng = np.random.default_rng(1)
    rgbx = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    return fbu(rect(0, 0, w, h, 0, rgbx.tobytes())), rgbx[:, :, :3]


@pytest.mark.parametrize("chunk", [1000, 4096, 65536, 1 << 20])
def test_big_update_through_get_buffer(chunk: int) -> None:
    """An update larger than the initial buffer, read in recv_into-sized pieces."""
    proto = connected()
    msg, expected = big_raw_update(64, 48)
    msg = msg * 3  # 3 full-screen updates, 36 KiB each
    events: list = []
    for i in range(0, len(msg), chunk):
        piece = msg[i : i + chunk]
        view = proto.get_buffer(len(piece))
        assert len(view) >= len(piece) and not view.readonly
        view[: len(piece)] = piece
        del view
        proto.buffer_updated(len(piece))
        events += proto.events()
    assert [e.nbytes for e in events] == [len(msg) // 3] * 3
    assert np.array_equal(proto.framebuffer.array, expected)


def test_buffer_stays_bounded_for_a_stream_of_updates() -> None:
    """A partly received update at every read boundary must not stop compaction."""
    proto = connected()
    msg, expected = big_raw_update(64, 48)
    stream = msg * 300  # 3.7 MB
    count = 0
    for i in range(0, len(stream), 65536):
        piece = stream[i : i + 65536]
        with proto.get_buffer(65536) as view:
            view[: len(piece)] = piece
        proto.buffer_updated(len(piece))
        count += len(list(proto.events()))
    assert count == 300
    assert len(proto._buf) <= 4 * 65536
    assert np.array_equal(proto.framebuffer.array, expected)


def test_partial_update_is_refed_only_when_data_arrives() -> None:
    calls = []

    def counting_factory(framebuffer: Any, encodings: Any, limits: Any) -> Any:
        decoder = DECODER_FACTORY(framebuffer, encodings, limits)

        class Counting:
            def __getattr__(self, name: str) -> Any:
                return getattr(decoder, name)

            def feed(self, data: Any, offset: int = 0) -> int:
                calls.append(len(data) - offset)
                return decoder.feed(data, offset)

        return Counting()

    proto = connected(decoder_factory=counting_factory)
    for byte in RAW_UPDATE[:-1]:
        proto.receive_data(bytes([byte]))
        assert proto.next_event() is None
        assert proto.next_event() is None  # no new bytes: the decoder is not asked again
    assert calls == list(range(1, len(RAW_UPDATE)))
    proto.receive_data(RAW_UPDATE[-1:])
    assert isinstance(proto.next_event(), ev.FramebufferUpdate)


def test_update_larger_than_initial_buffer() -> None:
    limits = Limits(max_width=1024, max_height=1024)
    proto = make(limits=limits)
    proto.receive_data(banner(8) + b"\x01\x01" + OK + bytes.fromhex("0100 0100") + SERVER_INIT[4:])
    drain(proto)
    msg, expected = big_raw_update(256, 256)  # 256 KiB: 4x the initial buffer
    for i in range(0, len(msg), 7000):
        proto.receive_data(msg[i : i + 7000])
        events = list(proto.events())
    assert len(events) == 1 and events[0].nbytes == len(msg)
    assert np.array_equal(proto.framebuffer.array, expected)


def test_buffer_stays_small_for_many_small_messages() -> None:
    proto = connected()
    for _ in range(20000):
        proto.receive_data(b"\x02\x03\x00\x00")
        proto.receive_data(b"\x00\x00\x00\x00\x01x")
        assert len(list(proto.events())) == 2
    assert len(proto._buf) == 64 * 1024  # compacted, never grown


def test_get_buffer_sizehint_and_bad_nbytes() -> None:
    proto = connected()
    assert len(proto.get_buffer(-1)) >= 64 * 1024
    view = proto.get_buffer(200_000)
    assert len(view) >= 200_000
    with pytest.raises(UsageError):
        proto.buffer_updated(len(view) + 1)
    with pytest.raises(UsageError):
        proto.buffer_updated(-1)
    proto.buffer_updated(0)  # no-op, not EOF
    assert proto.next_event() is None and proto.state is State.NORMAL


# (id, server bytes, match, protocol kwargs)
NORMAL_ERRORS = [
    ("unknown-type", b"\x07", "unknown server message type 7", {}),
    ("unknown-type-after-bell", b"\x02\xff", "unknown server message type 255", {}),
    ("cut-text-over-limit", b"\x03\x00\x00\x00" + u32(17), "max_cut_text", {"limits": Limits(max_cut_text=16)}),
    ("fence-payload-over-64", bytes.fromhex("f8 000000 80000000 41"), "Fence payload", {}),
    ("rect-outside-framebuffer", fbu(rect(63, 0, 2, 1, 0, RED_GREEN)), None, {}),  # the decoder's words
    ("unrequested-encoding", fbu(rect(0, 0, 1, 1, 5, b"")), None, {}),
]


@pytest.mark.parametrize("case", NORMAL_ERRORS, ids=lambda c: c[0])
def test_normal_errors(case: tuple) -> None:
    _, server, match, kwargs = case
    proto = connected(**kwargs)
    proto.receive_data(server)
    with pytest.raises(ProtocolError, match=match):
        list(proto.events())
    assert proto.state is State.ERROR
    assert isinstance(proto.error, ProtocolError)
    for call in (proto.next_event, lambda: proto.receive_data(b"\x02"), proto.data_to_send, proto.get_buffer):
        with pytest.raises(ProtocolError):
            call()
    with pytest.raises(UsageError):
        proto.key_event(0x61, True)


def test_decoder_bug_is_an_internal_error() -> None:
    from vncenv.error import InternalError

    class Broken:
        def __init__(self, *args: Any) -> None:
            pass

        def feed(self, data: Any, offset: int = 0) -> int:
            raise ValueError("oops")

    proto = connected(decoder_factory=Broken)
    proto.receive_data(RAW_UPDATE)
    with pytest.raises(InternalError, match="oops"):
        proto.next_event()
    assert proto.state is State.ERROR
    with pytest.raises(InternalError):
        proto.receive_data(b"\x02")


@pytest.mark.parametrize(
    "partial",
    [
        b"\x03\x00\x00",  # ServerCutText header
        b"\x03\x00\x00\x00" + u32(5) + b"hel",  # ServerCutText text
        b"\x01\x00\x00\x05\x00\x02\xff",  # SetColourMapEntries
        b"\xf8\x00\x00\x00\x80",  # Fence
        RAW_UPDATE[:3],  # FramebufferUpdate header
        RAW_UPDATE[:-1],  # FramebufferUpdate, waiting in the decoder
    ],
)
def test_eof_inside_a_message_is_unclean(partial: bytes) -> None:
    proto = connected()
    proto.receive_data(b"\x02" + partial)
    assert list(proto.events()) == [ev.Bell()]
    proto.receive_data(b"")
    with pytest.raises(ConnectionClosed, match="middle of") as info:
        proto.next_event()
    assert info.value.clean is False
    assert proto.state is State.ERROR


# --- client messages ------------------------------------------------------------------

# (call, args, bytes by hand from RFC 6143 7.5)
CLIENT_MESSAGES = [
    ("key_event", (0xFF0D, True), bytes.fromhex("04 01 0000 0000ff0d")),
    ("key_event", (0x61, False), bytes.fromhex("04 00 0000 00000061")),
    ("key_event", (0xFFFFFFFF, 1), bytes.fromhex("04 01 0000 ffffffff")),
    ("pointer_event", (10, 20, 1), bytes.fromhex("05 01 000a 0014")),
    ("pointer_event", (65535, 0, 255), bytes.fromhex("05 ff ffff 0000")),
    ("client_cut_text", ("hi",), bytes.fromhex("06 000000 00000002") + b"hi"),
    ("client_cut_text", ("caf\u00e9",), bytes.fromhex("06 000000 00000004") + b"caf\xe9"),
    ("client_cut_text", ("",), bytes.fromhex("06 000000 00000000")),
    ("request_update", (), bytes.fromhex("03 01 0000 0000 0040 0030")),
    ("request_update", (False, 1, 2, 3, 4), bytes.fromhex("03 00 0001 0002 0003 0004")),
    ("request_update", (True, 10, 8), bytes.fromhex("03 01 000a 0008 0036 0028")),
]


# the stateless encoders behind the methods (a session uses them directly)
ENCODERS = {
    "key_event": encode_key_event,
    "pointer_event": encode_pointer_event,
    "client_cut_text": encode_client_cut_text,
}


@pytest.mark.parametrize("call, args, wire", CLIENT_MESSAGES, ids=lambda v: v if isinstance(v, str) else None)
def test_client_messages(call: str, args: tuple, wire: bytes) -> None:
    proto = connected()
    getattr(proto, call)(*args)
    assert proto.data_to_send() == wire
    assert proto.data_to_send() == b""
    if call in ENCODERS:
        assert ENCODERS[call](*args) == wire


def test_encode_update_request() -> None:
    assert encode_update_request(True, 1, 2, 640, 480) == bytes.fromhex("03 01 0001 0002 0280 01e0")
    with pytest.raises(UsageError):
        encode_update_request(True, 0, 0, -1, 1)


BAD_CLIENT_CALLS = [
    ("key_event", (-1, True)),
    ("key_event", (1 << 32, True)),
    ("key_event", ("a", True)),
    ("key_event", (1.0, True)),
    ("pointer_event", (-1, 0, 0)),
    ("pointer_event", (0, 65536, 0)),
    ("pointer_event", (0, 0, 256)),
    ("client_cut_text", ("\u65e5\u672c",)),
    ("client_cut_text", (b"bytes",)),
    ("request_update", (True, 70)),  # x past the right edge: width would be negative
    ("request_update", (True, 0, 0, 65536, 1)),
]


@pytest.mark.parametrize("call, args", BAD_CLIENT_CALLS)
def test_client_message_usage_errors(call: str, args: tuple) -> None:
    proto = connected()
    with pytest.raises(UsageError):
        getattr(proto, call)(*args)
    assert proto.data_to_send() == b""
    assert proto.state is State.NORMAL
    assert proto.update_outstanding  # the initial request; a failed one changes nothing
    if call in ENCODERS:
        with pytest.raises(UsageError):
            ENCODERS[call](*args)


@pytest.mark.parametrize("call, args", [(c, a) for c, a, _ in CLIENT_MESSAGES[:6:2]] + [("request_update", ())])
def test_client_messages_need_normal_state(call: str, args: tuple) -> None:
    proto = make()
    with pytest.raises(UsageError, match="NORMAL"):
        getattr(proto, call)(*args)


def test_default_factories_come_from_the_backend() -> None:
    import vncenv._backend as backend

    proto = RFBClientProtocol(encodings=ENCODINGS)
    proto.receive_data(banner(8) + b"\x01\x01" + OK + SERVER_INIT + RAW_UPDATE)
    events = list(proto.events())
    assert isinstance(proto.framebuffer, backend.Framebuffer)
    assert isinstance(proto.decoder, backend.UpdateDecoder)
    assert events[1] == ev.FramebufferUpdate(1, len(RAW_UPDATE), 2, False, False)
    assert proto.framebuffer.array[2, 3].tolist() == [255, 0, 0]


def test_numpy_ints_are_accepted() -> None:
    proto = connected()
    proto.pointer_event(np.int64(10), np.uint16(20), np.uint8(1))
    assert proto.data_to_send() == bytes.fromhex("05 01 000a 0014")


def test_set_encodings_wire_for_build_encodings() -> None:
    encodings = build_encodings("tight", quality_level=8)
    assert encodings == [7, 16, 0, 1, -24, -223, -308, -224]
    proto = make(encodings=encodings)
    proto.receive_data(banner(8) + b"\x01\x01" + OK + SERVER_INIT)
    list(proto.events())
    sent = proto.data_to_send()
    client_handshake = banner(8) + b"\x01" + CLIENT_INIT_SHARED
    assert sent == client_handshake + SET_PIXEL_FORMAT + bytes.fromhex(
        "02 00 0008"
        "00000007 00000010 00000000 00000001"  # Tight, ZRLE, Raw, CopyRect
        "ffffffe8"  # JPEG quality 8
        "ffffff21 fffffecc ffffff20"  # DesktopSize, ExtendedDesktopSize, LastRect
    ) + FULL_REQUEST


# --- build_encodings ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({}, [7, 16, 0, 1, -223, -308, -224]),
        ({"encoding": "zrle"}, [16, 0, 1, -223, -308, -224]),
        ({"encoding": "raw", "copyrect": False}, [0, -223, -308, -224]),
        ({"encoding": "ZRLE", "cursor": True}, [16, 0, 1, -223, -308, -224, -239]),
        (
            {"quality_level": 0, "compress_level": 9, "fine_quality_level": 100, "subsample_level": 3},
            [7, 16, 0, 1, -32, -247, -412, -765, -223, -308, -224],
        ),
        ({"quality_level": 9, "subsample_level": 1}, [7, 16, 0, 1, -23, -767, -223, -308, -224]),
        ({"desktop_size": False, "last_rect": False}, [7, 16, 0, 1]),
    ],
)
def test_build_encodings(kwargs: dict, expected: list) -> None:
    assert build_encodings(**kwargs) == expected


@pytest.mark.parametrize(
    "kwargs",
    [
        {"encoding": "hextile"},
        {"encoding": 7},
        {"quality_level": 10},
        {"quality_level": -1},
        {"compress_level": 10},
        {"fine_quality_level": 101},
        {"subsample_level": 4},
        {"quality_level": 5.0},
        {"quality_level": True},
    ],
)
def test_build_encodings_usage_errors(kwargs: dict) -> None:
    with pytest.raises(UsageError):
        build_encodings(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"encodings": [0, 1 << 31]},
        {"encodings": ["raw"]},
        {"encodings": 7},
        {"encodings": [0], "password": 1234},
        {"encodings": [0], "limits": {"max_width": 10}},
    ],
)
def test_constructor_usage_errors(kwargs: dict) -> None:
    with pytest.raises(UsageError):
        RFBClientProtocol(decoder_factory=DECODER_FACTORY, framebuffer_factory=FRAMEBUFFER_FACTORY, **kwargs)


# --- auth ----------------------------------------------------------------------------------

# vncpasswd stores a password DES-encrypted under the fixed key
# {23, 82, 107, 6, 35, 78, 88, 7} with VNC's bit-reversed key schedule: the same
# operation as the auth response, with that key as the "password" and the
# padded password as the challenge.  Widely published values (TightVNC registry
# values, RealVNC config files, UltraVNC ini files):
VNCPASSWD_KEY = bytes([23, 82, 107, 6, 35, 78, 88, 7])
VNCPASSWD_VECTORS = [
    (b"password", "dbd83cfd727a1458"),
    (b"Secure!", "d7a514d8c556aade"),
    (b"12345678", "f0e43164f6c2e373"),
]


def test_des_key_bit_reversal_matches_published_fixed_key() -> None:
    # The vncpasswd fixed key is published as e84ad660c4721ae0 once bit-reversed.
    assert des_key(VNCPASSWD_KEY).hex() == "e84ad660c4721ae0"
    assert des_key("pass") == bytes([0x0E, 0x86, 0xCE, 0xCE, 0, 0, 0, 0])


def test_auth_response_against_published_vectors() -> None:
    challenge = b"".join(p.ljust(8, b"\0") for p, _ in VNCPASSWD_VECTORS[:2])
    expected = bytes.fromhex(VNCPASSWD_VECTORS[0][1] + VNCPASSWD_VECTORS[1][1])
    assert vnc_auth_response(challenge, VNCPASSWD_KEY) == expected
    for plain, hexed in VNCPASSWD_VECTORS:
        block = plain.ljust(8, b"\0")
        assert vnc_auth_response(block * 2, VNCPASSWD_KEY) == bytes.fromhex(hexed) * 2


@given(st.binary(min_size=16, max_size=16), st.binary(max_size=12))
def test_auth_response_matches_independent_derivation(challenge: bytes, password: bytes) -> None:
    assert vnc_auth_response(challenge, password) == independent_vnc_response(challenge, password)


def test_auth_truncates_and_encodes() -> None:
    assert vnc_auth_response(CHALLENGE, "password123") == vnc_auth_response(CHALLENGE, "password")
    assert vnc_auth_response(CHALLENGE, "caf\u00e9") == vnc_auth_response(CHALLENGE, "caf\u00e9".encode())
    assert vnc_auth_response(CHALLENGE, "") == independent_vnc_response(CHALLENGE, b"")
    with pytest.raises(UsageError):
        vnc_auth_response(b"short", "password")
    with pytest.raises(UsageError):
        vnc_auth_response(CHALLENGE, 1234)  # type: ignore[arg-type]


# --- keysyms -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, value",
    [
        ("a", 0x61),
        ("A", 0x41),
        ("z", 0x7A),
        ("0", 0x30),
        ("9", 0x39),
        (" ", 0x20),
        ("space", 0x20),
        ("\u00e9", 0xE9),
        ("Return", 0xFF0D),
        ("return", 0xFF0D),
        ("enter", 0xFF0D),
        ("Escape", 0xFF1B),
        ("esc", 0xFF1B),
        ("Tab", 0xFF09),
        ("BackSpace", 0xFF08),
        ("backspace", 0xFF08),
        ("Left", 0xFF51),
        ("Up", 0xFF52),
        ("Right", 0xFF53),
        ("Down", 0xFF54),
        ("F1", 0xFFBE),
        ("f12", 0xFFC9),
        ("Shift_L", 0xFFE1),
        ("shift", 0xFFE1),
        ("Shift_R", 0xFFE2),
        ("ctrl", 0xFFE3),
        ("Control_R", 0xFFE4),
        ("alt", 0xFFE9),
        ("Alt_R", 0xFFEA),
        ("Meta_L", 0xFFE7),
        ("super", 0xFFEB),
        ("Super_R", 0xFFEC),
        ("Home", 0xFF50),
        ("End", 0xFF57),
        ("Page_Up", 0xFF55),
        ("PageUp", 0xFF55),
        ("page-down", 0xFF56),
        ("Insert", 0xFF63),
        ("Delete", 0xFFFF),
        ("del", 0xFFFF),
    ],
)
def test_keysym(name: str, value: int) -> None:
    assert keysym(name) == value


@pytest.mark.parametrize("name", ["", "nosuchkey", "\n", "\u65e5", "F13", 65])
def test_keysym_unknown(name: Any) -> None:
    with pytest.raises(UsageError):
        keysym(name)


def test_keysym_constants() -> None:
    from vncenv.vnc import keysyms

    assert keysyms.XK_Return == 0xFF0D and keysyms.XK_a == 0x61 and keysyms.XK_F12 == 0xFFC9
    for name, value in KEYSYMS.items():
        assert getattr(keysyms, f"XK_{name}") == value
        assert keysym(name) == value
