"""Adversity §3: every cap at exactly N (accepted) and N + 1 (refused).

The RFB caps (:class:`vncenv.limits.Limits`) go through the sans-IO protocol
fed with crafted bytes (``rfbgen``), once per decode backend; a refusal is a
ProtocolError raised as soon as the offending length is read, before the
bytes it announces are buffered.  The rewarder's message size goes through a
real WebSocket pair each way, and the queued rewarder items (observations,
text, episodes between two pops) through our real server and client.
"""

from __future__ import annotations

import json
import struct
import threading
import time

import numpy as np
import pytest
import rfbgen
from backends import backend  # noqa: F401  (pytest fixture)
from websockets.sync.client import connect as ws_connect
from websockets.sync.server import serve as ws_serve

from vncenv.error import AuthenticationError, ProtocolError
from vncenv.limits import DEFAULT_LIMITS, Limits
from vncenv.rewarder import MAX_MESSAGE_SIZE, RewarderClient, RewarderServer
from vncenv.rewarder.buffer import RewardBuffer
from vncenv.rewarder.messages import basic_auth_header
from vncenv.vnc import events as ev
from vncenv.vnc.constants import CANONICAL_PIXEL_FORMAT
from vncenv.vnc.protocol import RFBClientProtocol, State, build_encodings

D = DEFAULT_LIMITS
ENCODINGS = build_encodings("tight", cursor=True)
PASSWORD = "caps-pass-3"


def server_init(width: int, height: int, name: bytes = b"caps") -> bytes:
    return struct.pack(">HH", width, height) + CANONICAL_PIXEL_FORMAT + struct.pack(">I", len(name)) + name


HANDSHAKE = b"RFB 003.008\n" + b"\x01\x01" + b"\x00\x00\x00\x00"  # 3.8, security None, OK


def protocol(backend, limits: Limits = D) -> RFBClientProtocol:  # noqa: F811
    return RFBClientProtocol(
        encodings=ENCODINGS, limits=limits,
        decoder_factory=backend.UpdateDecoder, framebuffer_factory=backend.Framebuffer,
    )  # fmt: skip


def feed(p: RFBClientProtocol, data: bytes) -> list:
    p.receive_data(data)
    return list(p.events())


def connected(backend, width: int = 64, height: int = 48, limits: Limits = D) -> RFBClientProtocol:  # noqa: F811
    p = protocol(backend, limits)
    events = feed(p, HANDSHAKE + server_init(width, height))
    assert isinstance(events[-1], ev.ServerInit) and p.state is State.NORMAL
    return p


# What each backend says when a cap is hit (the core and the reference word it differently).
SIZE = r"outside 1x1\.\.|over limits\.max_width"
CURSOR = r"cursor larger than the limit|max_cursor_size"
RECTS = r"rects exceed the limit|more than \d+ rects|max_rects"
BYTES = r"past the limit of \d+ bytes|max_update_bytes"


def refused(p: RFBClientProtocol, data: bytes, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        feed(p, data)
    assert p.state is State.ERROR


# -- framebuffer size ---------------------------------------------------------------


@pytest.mark.parametrize(
    "limits", [D, Limits(max_width=100, max_height=50)], ids=["default", "custom"]
)
def test_framebuffer_size_in_server_init(backend, limits):  # noqa: F811
    W, H = limits.max_width, limits.max_height
    for w, h in [(W, 1), (1, H)] + ([(W, H)] if W * H < 1 << 20 else []):
        p = connected(backend, w, h, limits)
        assert (p.width, p.height) == (w, h)
    for w, h in [(W + 1, 1), (1, H + 1)]:
        refused(protocol(backend, limits), HANDSHAKE + server_init(w, h), "over the limits")


@pytest.mark.parametrize("extended", [False, True], ids=["DesktopSize", "ExtendedDesktopSize"])
def test_framebuffer_size_in_a_resize(backend, extended):  # noqa: F811
    rect = rfbgen.extended_desktop_size if extended else rfbgen.desktop_size
    for w, h in [(D.max_width, 1), (1, D.max_height)]:
        p = connected(backend)
        (event,) = feed(p, rfbgen.update([rect(w, h)]))
        assert event.resized and (p.width, p.height) == (w, h)
    for w, h in [(D.max_width + 1, 1), (1, D.max_height + 1)]:
        refused(connected(backend), rfbgen.update([rect(w, h)]), SIZE)


# -- cursor -------------------------------------------------------------------------


def test_cursor_size(backend):  # noqa: F811
    N = D.max_cursor_size
    for w, h in [(N, 1), (1, N)]:
        p = connected(backend)
        rgba = np.full((h, w, 4), 200, np.uint8)
        (event,) = feed(p, rfbgen.update([rfbgen.cursor(0, 0, rgba)]))
        assert event.cursor_changed and p.decoder.cursor[0].shape == (h, w, 4)
    for w, h in [(N + 1, 1), (1, N + 1)]:
        # only the rect header: refused before the cursor's pixels are awaited
        p = connected(backend)
        refused(p, rfbgen.update_header(1) + rfbgen.rect_header(0, 0, w, h, rfbgen.CURSOR), CURSOR)


# -- cut text -----------------------------------------------------------------------


def cut_text_header(n: int) -> bytes:
    return struct.pack(">B3xI", 3, n)


@pytest.mark.parametrize("limits", [D, Limits(max_cut_text=10)], ids=["default", "custom"])
def test_cut_text_length(backend, limits):  # noqa: F811
    N = limits.max_cut_text
    p = connected(backend, limits=limits)
    (event,) = feed(p, cut_text_header(N) + b"a" * N)
    assert isinstance(event, ev.ServerCutText) and len(event.data) == N
    # the header alone is refused: the text is never buffered
    refused(connected(backend, limits=limits), cut_text_header(N + 1), "max_cut_text")


# -- rects per update -----------------------------------------------------------------

ZERO_RECT = rfbgen.rect_header(0, 0, 0, 0, rfbgen.RAW)  # a valid, empty Raw rect: 12 bytes


@pytest.mark.parametrize("last_rect", [False, True], ids=["nrects", "LastRect"])
def test_rects_per_update_custom_cap(backend, last_rect):  # noqa: F811
    N = 10
    limits = Limits(max_rects=N)

    def message(n: int) -> bytes:
        if last_rect:
            return rfbgen.update_header(0xFFFF) + ZERO_RECT * n + bytes(rfbgen.last_rect())
        return rfbgen.update_header(n) + ZERO_RECT * n

    (event,) = feed(connected(backend, limits=limits), message(N))
    assert event.rects == N
    refused(connected(backend, limits=limits), message(N + 1), RECTS)
    if not last_rect:  # nrects over the cap: refused on the 4-byte header
        refused(connected(backend, limits=limits), rfbgen.update_header(N + 1), RECTS)


def test_rects_per_update_default_cap(backend):  # noqa: F811
    """The default cap (2**20) is over nrects' u16 range: only LastRect mode can reach it."""
    N = D.max_rects
    assert N > 0xFFFF
    (event,) = feed(connected(backend), rfbgen.update_header(0xFFFF) + ZERO_RECT * N + bytes(rfbgen.last_rect()))
    assert event.rects == N
    refused(connected(backend), rfbgen.update_header(0xFFFF) + ZERO_RECT * (N + 1) + bytes(rfbgen.last_rect()), RECTS)


# -- update size ----------------------------------------------------------------------


def test_update_bytes(backend):  # noqa: F811
    message = rfbgen.update([rfbgen.raw(0, 0, np.full((10, 10, 3), 7, np.uint8))])
    L = len(message)
    (event,) = feed(connected(backend, limits=Limits(max_update_bytes=L)), message)
    assert event.nbytes == L
    refused(connected(backend, limits=Limits(max_update_bytes=L - 1)), message, BYTES)


# -- Fence payload --------------------------------------------------------------------------


def test_fence_payload(backend):  # noqa: F811
    N = 64  # RFB's own bound on a Fence payload
    fence = lambda n: struct.pack(">B3xIB", 248, 0, n) + b"f" * n  # noqa: E731
    (event,) = feed(connected(backend), fence(N))
    assert isinstance(event, ev.Fence) and len(event.payload) == N
    refused(connected(backend), fence(N + 1)[:9], "Fence payload of 65 bytes")


# -- handshake strings ------------------------------------------------------------------


def test_desktop_name_length(backend):  # noqa: F811
    N = D.max_name_length
    p = protocol(backend)
    feed(p, HANDSHAKE + server_init(8, 8, b"n" * N))
    assert p.name == "n" * N
    refused(protocol(backend), HANDSHAKE + server_init(8, 8, b"n" * (N + 1))[:24], "max_name_length")


def test_failure_reason_length(backend):  # noqa: F811
    N = D.max_reason_length
    refuse = b"RFB 003.008\n" + b"\x00"  # no security types: a reason follows
    with pytest.raises(AuthenticationError, match="r" * 50):
        feed(protocol(backend), refuse + struct.pack(">I", N) + b"r" * N)
    refused(protocol(backend), refuse + struct.pack(">I", N + 1), "max_reason_length")


# -- rewarder message size (real WebSocket pairs) -----------------------------------------


def padded(method: str, body_key: str, size: int, **headers) -> str:
    """A valid rewarder message of exactly ``size`` bytes (a padded string field)."""
    msg = {"method": method, "headers": {"message_id": 1, "sent_at": 1700000000.5, **headers}, "body": {body_key: ""}}
    bare = len(json.dumps(msg, separators=(",", ":")))
    msg["body"][body_key] = "p" * (size - bare)
    text = json.dumps(msg, separators=(",", ":"))
    assert len(text.encode()) == size
    return text


def test_rewarder_server_accepts_max_message_size_and_refuses_one_byte_more():
    """Our RewarderServer and a bare websockets client."""
    with RewarderServer(port=0, password=PASSWORD, env_id="Caps-v0") as server:
        headers = {"authorization": basic_auth_header(PASSWORD), "openai-observer": "true"}
        with ws_connect(f"ws://127.0.0.1:{server.port}", additional_headers=headers, proxy=None,
                        max_size=None, open_timeout=5) as ws:  # fmt: skip
            assert json.loads(ws.recv(5))["method"] == "v0.env.describe"
            ws.send(padded("v0.control.ping", "pad", MAX_MESSAGE_SIZE))
            reply = json.loads(ws.recv(5))
            assert reply["method"] == "v0.reply.control.ping" and reply["headers"]["parent_message_id"] == 1
            ws.send(padded("v0.control.ping", "pad", MAX_MESSAGE_SIZE + 1))
            with pytest.raises(Exception) as info:
                while True:
                    ws.recv(5)
            assert getattr(info.value, "rcvd", None) is not None and info.value.rcvd.code == 1009


def test_rewarder_client_accepts_max_message_size_and_refuses_one_byte_more():
    """Our RewarderClient and a bare websockets server."""
    connections: list[int] = []

    def describe() -> str:
        return json.dumps({"method": "v0.env.describe",
                           "headers": {"message_id": 0, "sent_at": time.time(), "episode_id": "1"},
                           "body": {"env_id": "Caps-v0", "env_state": "running", "fps": 60}})  # fmt: skip

    def handler(ws) -> None:
        connections.append(1)
        ws.send(describe())
        if len(connections) == 1:
            ws.send(padded("v0.env.observation", "observation", MAX_MESSAGE_SIZE, episode_id="1"))
            ws.send(padded("v0.env.observation", "observation", MAX_MESSAGE_SIZE + 1, episode_id="1"))
        try:
            for _ in ws:
                pass
        except Exception:
            pass

    with ws_serve(handler, "127.0.0.1", 0, max_size=None) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        port = server.socket.getsockname()[1]
        client = RewarderClient("127.0.0.1", port, password=PASSWORD, start_timeout=10, calibration_pings=0)
        try:
            client.start(timeout=10)
            client.wait_for(lambda c: c.stats()["connections"] >= 2, timeout=10)  # dropped (1009), then back
            assert client.received("v0.env.observation") == 1
            _, _, info = client.pop()
            (observation,) = info["observations"]
            expected = json.loads(padded("v0.env.observation", "observation", MAX_MESSAGE_SIZE, episode_id="1"))
            assert observation == expected["body"]["observation"]
        finally:
            client.close()
            server.shutdown()
            thread.join(5)


# -- queued items between two pops (rewarder) ------------------------------------------------


@pytest.mark.parametrize("kind", ["observations", "text"])
def test_queued_rewarder_items(kind):
    """RewardBuffer keeps max_observations (64) / max_text (1024) items between pops, oldest dropped first."""
    cap = 64 if kind == "observations" else 1024
    method = "v0.env.observation" if kind == "observations" else "v0.env.text"
    with RewarderServer(port=0, password=PASSWORD, env_id="Caps-v0") as server, \
            RewarderClient("127.0.0.1", server.port, password=PASSWORD, start_timeout=10) as client:  # fmt: skip
        publish = server.publish_observation if kind == "observations" else server.publish_text
        sent = 0
        for n in (cap, cap + 1):
            items = [f"item-{i}" for i in range(n)]
            for item in items:
                publish(item)
            sent += n
            client.wait_received(method, sent - 1, timeout=20)
            _, _, info = client.pop()
            assert info[kind] == items[-cap:]
        assert client.stats()["buffer"][f"{kind}_dropped" if kind == "observations" else "text_dropped"] == 1


def test_merged_reward_info_keys_between_pops():
    buf = RewardBuffer(max_info_keys=4)
    buf.on_reward(1, 0.0, False, {"a": 1, "b": 2})
    buf.on_reward(1, 0.0, False, {"c": 3, "d": 4})  # cap: 4 keys
    buf.on_reward(1, 0.0, False, {"a": 10})  # known keys still update
    assert buf.stats()["info_keys_dropped"] == 0
    buf.on_reward(1, 0.0, False, {"e": 5})  # cap + 1
    assert buf.stats()["info_keys_dropped"] == 1
    _, _, info = buf.pop()
    assert info["env_info"] == {"a": 10, "b": 2, "c": 3, "d": 4}
    assert RewardBuffer().stats()["info_keys_dropped"] == 0 and RewardBuffer()._max_info_keys == 1024  # noqa: SLF001


def test_queued_episodes_between_pops():
    """Between two pops the buffer holds the agent's episode and the newest one; the ones in between go at once."""
    buf = RewardBuffer()
    buf.on_reward(1, 1.0, False)
    buf.on_reward(2, 2.0, False)  # cap: 2 episodes
    assert buf.stats()["episodes_skipped"] == 0
    buf.on_reward(3, 3.0, False)  # cap + 1: episode 2 can never be seen
    assert buf.stats()["episodes_skipped"] == 1
    for episode in range(4, 10_004):
        buf.on_reward(episode, 1.0, True)
    assert len(buf._episodes) <= 2  # noqa: SLF001 - the bound itself
    reward, done, info = buf.pop()
    assert (reward, done, info["completed_episode_id"], info["episode_id"]) == (1.0, True, 1, 10_003)
    assert info.get("artificial_done") is True
    reward, done, info = buf.pop()
    assert (reward, done, info["completed_episode_id"]) == (1.0, True, 10_003)
    assert buf.stats()["episodes_skipped"] == 10_001
