"""Rewarder v0 over real loopback sockets: our client and server, and independent minimal peers.

The independent peers (``MinimalRewarder``, ``minimal_client``) are written
from the message table of design §5 with bare ``websockets`` calls and
``json``, none of vncenv's code, so the two ends of vncenv cannot agree on a
mistake unnoticed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import vncenv
from vncenv.error import AuthenticationError, ConnectionClosed, Timeout, UsageError
from vncenv.rewarder import (
    MAX_MESSAGE_SIZE,
    RemoteError,
    RewarderClient,
    RewarderServer,
    read_log,
)
from vncenv.rewarder import loop as rewarder_loop
from websockets.exceptions import ConnectionClosed as WSConnectionClosed
from websockets.sync.client import connect as ws_connect
from websockets.sync.server import serve as ws_serve

PASSWORD = "s3cret-pass-7"
PING_METHODS = {"v0.control.ping", "v0.reply.control.ping"}


# -- leak accounting -----------------------------------------------------------


def _socket_fds() -> set[str]:
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            out.add(target)
    return out


@pytest.fixture(scope="module", autouse=True)
def no_leaks():
    """At the end of the module: no thread and no socket of ours is left."""
    threads_before = set(threading.enumerate())
    sockets_before = _socket_fds()
    yield
    rewarder_loop.shutdown()
    deadline = time.monotonic() + 10
    while True:
        stray = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
        if not stray or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not stray, f"threads left running: {stray}"
    assert not rewarder_loop.running()
    leaked = _socket_fds() - sockets_before
    assert not leaked, f"sockets left open: {leaked}"


# -- helpers -------------------------------------------------------------------


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.005)


def received(client: RewarderClient, method: str = "v0.env.reward") -> int:
    return client.stats()["received"].get(method, 0)


@pytest.fixture
def make_server():
    made: list[RewarderServer] = []

    def make(**kw: Any) -> RewarderServer:
        kw.setdefault("port", 0)
        kw.setdefault("password", PASSWORD)
        kw.setdefault("env_id", "Count-v0")
        server = RewarderServer(**kw)
        made.append(server)
        return server.start()

    yield make
    for server in made:
        server.close()


@pytest.fixture
def make_client():
    made: list[RewarderClient] = []

    def make(port: int, **kw: Any) -> RewarderClient:
        kw.setdefault("password", PASSWORD)
        kw.setdefault("start_timeout", 10.0)
        client = RewarderClient("127.0.0.1", port, **kw)
        made.append(client)
        client.start()
        return client

    yield make
    for client in made:
        client.close()


def log_view(entries: list[dict], flip: bool = False) -> list[tuple]:
    """(direction, method, episode_id, env_state) of each logged message but pings."""
    swap = {"send": "recv", "recv": "send"}
    out = []
    for e in entries:
        msg = e["message"]
        if msg["method"] in PING_METHODS:
            continue
        direction = swap[e["direction"]] if flip else e["direction"]
        out.append((direction, msg["method"], msg["headers"].get("episode_id"), msg["body"].get("env_state")))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- bare-websockets helpers (none of vncenv's code) ---------------------------


def auth(password: str) -> str:
    return "Basic " + base64.b64encode(f"{password}:".encode()).decode()


def raw_connect(
    port: int,
    password: str | None = PASSWORD,
    observer: bool = False,
    headers: dict | None = None,
    close_timeout: float = 2.0,
):
    h = {"openai-observer": "true" if observer else "false"}
    if password is not None:
        h["authorization"] = auth(password)
    h.update(headers or {})
    return ws_connect(
        f"ws://127.0.0.1:{port}", additional_headers=h, proxy=None, open_timeout=5, close_timeout=close_timeout
    )


def recv_json(ws, timeout: float = 5.0) -> dict:
    frame = ws.recv(timeout)
    assert isinstance(frame, str), "rewarder messages are text frames"
    return json.loads(frame)


def recv_until(ws, method: str, timeout: float = 5.0) -> list[dict]:
    """Every message up to and including the first ``method``."""
    got = []
    deadline = time.monotonic() + timeout
    while True:
        msg = recv_json(ws, max(0.01, deadline - time.monotonic()))
        got.append(msg)
        if msg["method"] == method:
            return got


def envelope(method: str, message_id: int, body: dict | None = None, **headers: Any) -> str:
    return json.dumps(
        {"method": method, "headers": {"message_id": message_id, "sent_at": time.time(), **headers}, "body": body or {}}
    )


# -- reset and episodes ----------------------------------------------------------


def test_reset_cycle_in_the_designed_order_and_both_logs(make_server, make_client, tmp_path):
    calls = []

    def on_reset(env_id, seed, fps):
        calls.append((env_id, seed, fps, threading.current_thread().name))

    server = make_server(on_reset=on_reset, log=tmp_path / "server.jsonl")
    client = make_client(server.port, log=tmp_path / "client.jsonl")
    assert client.connected
    assert (client.env_id, client.env_state, client.fps) == ("Count-v0", "running", 60.0)

    assert client.reset(seed=3, timeout=10) == 1
    assert server.episode_id == 1
    assert len(calls) == 1 and calls[0][:3] == ("Count-v0", 3, 60.0)
    assert calls[0][3].startswith("vncenv-rewarder-callback")

    for i in range(5):
        server.publish_reward(1.0, info={"i": i})
    wait_until(lambda: received(client) == 5, what="5 rewards")
    reward, done, info = client.pop()
    assert (reward, done, info["episode_id"], info["env_state"], info["reward_count"]) == (5.0, False, 1, "running", 5)
    assert info["env_info"] == {"i": 4} and info["connected"] is True

    assert client.reset(timeout=10) == 2
    assert client.pop()[:2] == (0.0, False)
    client.close()
    server.close()

    expected_client_view = [
        ("recv", "v0.env.describe", "0", "running"),
        ("send", "v0.env.reset", None, None),
        ("recv", "v0.env.describe", "1", "resetting"),
        ("recv", "v0.reply.env.reset", "1", None),
        ("recv", "v0.env.describe", "1", "running"),
        *[("recv", "v0.env.reward", "1", None)] * 5,
        ("send", "v0.env.reset", None, None),
        ("recv", "v0.env.describe", "2", "resetting"),
        ("recv", "v0.reply.env.reset", "2", None),
        ("recv", "v0.env.describe", "2", "running"),
    ]
    client_log = read_log(tmp_path / "client.jsonl")
    server_log = read_log(tmp_path / "server.jsonl")
    assert log_view(client_log) == expected_client_view
    # The server logged the same messages, each the other way round.
    assert log_view(server_log, flip=True) == expected_client_view
    assert all(isinstance(e["timestamp"], float) for e in client_log + server_log)
    # Calibration pings are in both logs too: every ping got its reply.
    pings = [e for e in client_log if e["message"]["method"] == "v0.control.ping"]
    replies = [e for e in client_log if e["message"]["method"] == "v0.reply.control.ping"]
    assert len(pings) == len(replies) >= 1
    assert PASSWORD not in (tmp_path / "server.jsonl").read_text() + (tmp_path / "client.jsonl").read_text()


def test_boundary_crossing_and_auto_reset_after_done(make_server, make_client, caplog):
    server = make_server()
    client = make_client(server.port)
    ep = client.reset(timeout=10)

    server.publish_reward(1.0)
    server.publish_reward(2.0, done=True)
    with server.resetting() as n:  # the remote resets itself after done
        assert n == ep + 1
    server.publish_reward(10.0)
    with caplog.at_level(logging.WARNING, logger="vncenv.rewarder.server"):
        server.publish_reward(99.0, episode_id=ep)  # the old episode after its done: stale
    assert "after done=True" in caplog.text
    wait_until(lambda: received(client) == 4, what="4 rewards")

    reward, done, info = client.pop()  # the step that crosses the boundary
    assert (reward, done) == (3.0, True)
    assert info["completed_episode_id"] == ep and info["episode_id"] == ep + 1
    assert "artificial_done" not in info
    reward, done, info = client.pop()
    assert (reward, done, info["episode_id"]) == (10.0, False, ep + 1)
    assert client.stats()["buffer"]["dropped_stale"] == 1

    # Done, and the agent steps before the remote began the next episode.
    server.publish_reward(5.0, done=True)
    wait_until(lambda: received(client) == 5)
    reward, done, info = client.pop()
    assert (reward, done, info["episode_id"], info["completed_episode_id"]) == (5.0, True, None, ep + 1)
    assert client.pop()[:2] == (0.0, False)
    with server.resetting():
        pass
    server.publish_reward(1.0)
    wait_until(lambda: received(client) == 6)
    reward, done, info = client.pop()
    assert (reward, done, info["episode_id"], info["env_state"]) == (1.0, False, ep + 2, "running")


def test_reset_refused_by_the_env_and_env_switch(make_server, make_client):
    def on_reset(env_id, seed, fps):
        if env_id not in ("Count-v0", "Other-v0"):
            raise ValueError(f"unknown env {env_id}")

    server = make_server(on_reset=on_reset)
    client = make_client(server.port)
    with pytest.raises(RemoteError, match="unknown env Nope-v0"):
        client.reset("Nope-v0", timeout=10)
    assert not client.buffer.masked
    assert server.env_id == "Count-v0" and server.env_state == "running"
    wait_until(lambda: client.env_state == "running")

    ep = client.reset("Other-v0", fps=30, timeout=10)
    assert (server.env_id, server.fps, server.episode_id) == ("Other-v0", 30, ep)
    wait_until(lambda: client.env_id == "Other-v0" and client.env_state == "running")

    plain = make_server()  # no on_reset: it serves one env only
    other = make_client(plain.port)
    with pytest.raises(RemoteError, match="cannot switch"):
        other.reset("Other-v0", timeout=10)
    assert other.reset(timeout=10) == 1


def test_client_reset_overlapping_the_envs_own_reset_after_done(make_server, make_client):
    """A runtime's shape: on_reset hands the reset to the game loop, which is just
    then ending an episode with `with server.resetting()`.  No deadlock, and the
    client's episode is the newest one."""
    requests: list[threading.Event] = []
    in_callback = threading.Event()
    game_may_go = threading.Event()

    def on_reset(env_id, seed, fps):
        done = threading.Event()
        requests.append(done)
        in_callback.set()
        assert done.wait(10), "the game loop never handled the reset"

    server = make_server(on_reset=on_reset)
    client = make_client(server.port)

    def game_loop():
        in_callback.wait(10)  # a client reset is in progress ...
        game_may_go.wait(10)
        server.publish_reward(1.0, done=True)  # ... as the episode ends
        with server.resetting():
            time.sleep(0.05)
        requests[0].set()  # then the loop handles the client's reset

    game = threading.Thread(target=game_loop)
    game.start()
    result: dict[str, Any] = {}
    agent = threading.Thread(target=lambda: result.update(ep=client.reset(timeout=10)))
    agent.start()
    in_callback.wait(10)
    game_may_go.set()
    agent.join(15)
    game.join(15)
    assert result["ep"] == server.episode_id == 3  # 1: the client's, 2: the env's own, 3: the reply's
    wait_until(lambda: client.env_state == "running")
    assert server.env_state == "running"
    server.publish_reward(2.0)
    wait_until(lambda: received(client) == 2)
    reward, done, info = client.pop()
    assert (reward, done, info["episode_id"]) == (2.0, False, 3)


def test_reset_times_out_clearly_and_a_late_reply_still_counts(make_server, make_client):
    release = threading.Event()
    server = make_server(on_reset=lambda env_id, seed, fps: release.wait(10))
    client = make_client(server.port)
    t0 = time.monotonic()
    with pytest.raises(Timeout, match="reset"):
        client.reset(timeout=0.3)
    assert time.monotonic() - t0 < 2
    assert client.buffer.masked
    release.set()
    wait_until(lambda: client.buffer.episode_id == 1 and not client.buffer.masked, what="the late reply")
    server.publish_reward(1.0)
    wait_until(lambda: received(client) == 1)
    assert client.pop()[:2] == (1.0, False)


# -- auth ---------------------------------------------------------------------------


@pytest.mark.parametrize("password", [None, "wrong-pass-Zq9"], ids=["no-header", "bad-password"])
def test_auth_refused_is_final_and_leaks_no_password(make_server, tmp_path, caplog, password):
    server = make_server(log=tmp_path / "server.jsonl")
    caplog.set_level(logging.DEBUG)
    t0 = time.monotonic()
    with pytest.raises(AuthenticationError) as info:
        RewarderClient.connect("127.0.0.1", server.port, password=password, start_timeout=30, log=tmp_path / "c.jsonl")
    assert time.monotonic() - t0 < 5, "a refusal is not retried"
    assert ("No authorization header" if password is None else "Invalid password") in str(info.value)
    assert server.stats()["refused"] == 1 and server.clients() == (0, 0)
    # Neither the server's nor the client's password shows anywhere.
    server.close()
    secrets = [PASSWORD, auth(PASSWORD)[6:]] + ([password, auth(password)[6:]] if password else [])
    texts = [caplog.text, str(info.value), (tmp_path / "server.jsonl").read_text(), (tmp_path / "c.jsonl").read_text()]
    for secret in secrets:
        for text in texts:
            assert secret not in text
    assert any("authorization" in r.getMessage().lower() for r in caplog.records), "the handshake headers were logged"


@pytest.mark.parametrize(
    "header",
    [
        "Basic !!!not-base64",
        "Bearer " + base64.b64encode(f"{PASSWORD}:".encode()).decode(),
        "Basic " + base64.b64encode(PASSWORD.encode()).decode(),
    ],
    ids=["not-base64", "not-basic", "no-colon"],
)
def test_auth_malformed_header(make_server, header):
    server = make_server()
    with raw_connect(server.port, password=None, headers={"authorization": header}) as ws:
        msg = recv_json(ws)
        assert msg["method"] == "v0.connection.close"
        assert "Could not parse the authorization header" in msg["body"]["message"]
        with pytest.raises(WSConnectionClosed):
            ws.recv(5)
        assert ws.close_code == 4001


def test_auth_good_password_with_bare_websockets(make_server):
    server = make_server()
    with raw_connect(server.port) as ws:
        assert recv_json(ws)["method"] == "v0.env.describe"


# -- one active client, observers ------------------------------------------------------


def test_second_active_client_refused_and_observers_get_broadcasts(make_server, make_client):
    server = make_server()
    agent = make_client(server.port)
    with pytest.raises(ConnectionClosed, match="already has an active client"):
        make_client(server.port)
    with raw_connect(server.port) as second:  # the same, seen from a bare peer
        msg = recv_json(second)
        assert msg["method"] == "v0.connection.close" and "openai-observer: true" in msg["body"]["message"]
        with pytest.raises(WSConnectionClosed):
            second.recv(5)
        assert second.close_code == 4009

    watcher = make_client(server.port, observer=True)
    names = [t.name for t in threading.enumerate()]
    assert names.count("vncenv-rewarder-loop") == 1, "all clients share one loop thread"
    with raw_connect(server.port, observer=True) as raw_watcher:
        assert recv_json(raw_watcher)["method"] == "v0.env.describe"
        server.wait_for_clients(active=1, observers=2, timeout=5)
        ep = agent.reset(timeout=10)
        server.publish_reward(2.0, info={"x": 1})
        server.publish_text("hi")
        server.publish_observation({"o": [1]})
        for c in (agent, watcher):
            wait_until(lambda c=c: received(c, "v0.env.observation") == 1, what="the broadcasts")
        reward, done, info = agent.pop()
        assert (reward, done, info["episode_id"]) == (2.0, False, ep)
        assert info["text"] == ["hi"] and info["observations"] == [{"o": [1]}]
        # The observer was watching episode 0: the agent's reset ended it.
        reward, done, info = watcher.pop()
        assert (reward, done, info["completed_episode_id"], info["episode_id"]) == (0.0, True, 0, ep)
        assert info["text"] == ["hi"] and info["observations"] == [{"o": [1]}]
        assert watcher.pop()[:2] == (2.0, False)
        got = recv_until(raw_watcher, "v0.env.observation")
        assert [m["method"] for m in got if m["method"] != "v0.env.describe"] == [
            "v0.env.reward",
            "v0.env.text",
            "v0.env.observation",
        ]
        # Observers may watch and ping, not drive.
        with pytest.raises(UsageError, match="observer"):
            watcher.reset(timeout=5)
        raw_watcher.send(envelope("v0.env.reset", 9, {"env_id": None, "seed": None, "fps": None}))
        reply = recv_json(raw_watcher)
        assert reply["method"] == "v0.reply.error" and reply["headers"]["parent_message_id"] == 9
        assert "observers may not" in reply["body"]["message"]
        raw_watcher.send(envelope("v0.control.ping", 10))
        assert recv_json(raw_watcher)["headers"]["parent_message_id"] == 10
    assert server.episode_id == ep

    agent.close()
    wait_until(lambda: server.clients()[0] == 0)
    successor = make_client(server.port)  # the seat is free again
    assert successor.reset(timeout=10) == ep + 1


# -- malformed input -------------------------------------------------------------------


def test_server_answers_malformed_messages_and_survives(make_server):
    server = make_server()
    cases = [
        ("not json at all", None),
        (b"\x00\x01binary", None),
        ("[]", None),
        ('{"method": "v0.env.reset"}', None),
        (envelope("v0.env.reset", 41, {"env_id": 5, "seed": None, "fps": None}), 41),
        (envelope("v0.env.reset", 42, {"env_id": "Count-v0", "fps": None}), 42),
        (envelope("v0.no.such", 43), 43),
        (envelope("v0.env.reward", 44, {"reward": 1, "done": False, "info": {}}, episode_id="1"), 44),
        (json.dumps({"method": "v0.control.ping", "headers": {"message_id": 45}, "body": {}}), 45),
    ]
    with raw_connect(server.port) as ws:
        assert recv_json(ws)["method"] == "v0.env.describe"
        for frame, parent in cases:
            ws.send(frame)
            reply = recv_json(ws)
            assert reply["method"] == "v0.reply.error", frame
            assert reply["headers"].get("parent_message_id") == parent, frame
            assert reply["body"]["message"].startswith("bad message: "), frame
        ws.send(envelope("v0.control.ping", 50))
        reply = recv_json(ws)
        assert reply["method"] == "v0.reply.control.ping" and reply["headers"]["parent_message_id"] == 50
    assert server.stats()["errors"] == len(cases)
    assert server.episode_id == 0, "no malformed reset went through"

    # Over the size limit: that connection closes (1009), the server goes on.
    with raw_connect(server.port) as ws:
        recv_json(ws)
        ws.send("x" * (MAX_MESSAGE_SIZE + 1))
        with pytest.raises(WSConnectionClosed):
            while True:
                ws.recv(5)
        assert ws.close_code == 1009
    with raw_connect(server.port) as ws:
        assert recv_json(ws)["method"] == "v0.env.describe"


class MinimalRewarder:
    """An independent rewarder server: design §5's table, bare websockets + json.

    It serves "Mini-v0": episode 0 running; a reset goes to the next episode
    and then plays ``episode_rewards`` (a list of (reward, done)); after a done
    it resets itself.  ``prelude(ws)`` may send extra frames after describe.
    """

    def __init__(self, password: str, episode_rewards=(), prelude=None) -> None:
        self.password = password
        self.episode_rewards = list(episode_rewards)
        self.prelude = prelude
        self.episode = 0
        self.next_id = 0
        self.received: list[dict] = []
        self.headers_seen: list[dict] = []
        self.server = ws_serve(self.handler, "127.0.0.1", 0, compression=None)
        self.port = self.server.socket.getsockname()[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name="minimal-rewarder")
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(10)

    def send(self, ws, method: str, body: dict, **headers: Any) -> None:
        self.next_id += 1
        ws.send(
            json.dumps(
                {
                    "method": method,
                    "body": body,
                    "headers": {"message_id": self.next_id, "sent_at": time.time(), **headers},
                }
            )
        )

    def describe(self, ws, state: str) -> None:
        self.send(
            ws, "v0.env.describe", {"env_id": "Mini-v0", "env_state": state, "fps": 30}, episode_id=str(self.episode)
        )

    def handler(self, ws) -> None:
        self.headers_seen.append(dict(ws.request.headers))
        if ws.request.headers.get("authorization") != auth(self.password):
            self.send(ws, "v0.connection.close", {"message": "bad password"})
            ws.close(4001)
            return
        self.describe(ws, "running")
        if self.prelude:
            self.prelude(self, ws)
        try:
            for frame in ws:
                msg = json.loads(frame)
                self.received.append(msg)
                mid = msg["headers"]["message_id"]
                if msg["method"] == "v0.control.ping":
                    self.send(ws, "v0.reply.control.ping", {}, parent_message_id=mid)
                elif msg["method"] == "v0.env.reset":
                    self.episode += 1
                    self.describe(ws, "resetting")
                    self.send(ws, "v0.reply.env.reset", {}, parent_message_id=mid, episode_id=str(self.episode))
                    self.describe(ws, "running")
                    for reward, done in self.episode_rewards:
                        self.send(
                            ws,
                            "v0.env.reward",
                            {"reward": reward, "done": done, "info": {"peer": True}},
                            episode_id=str(self.episode),
                        )
                        if done:
                            self.episode += 1
                            self.describe(ws, "resetting")
                            self.describe(ws, "running")
        except WSConnectionClosed:
            pass


def test_client_survives_malformed_messages_from_the_server(make_client):
    def prelude(peer: MinimalRewarder, ws) -> None:
        ws.send("{broken json")
        ws.send(b"\x00binary frame")
        ws.send("42")
        ws.send(
            json.dumps(
                {
                    "method": "v0.env.reward",
                    "headers": {"message_id": 1, "sent_at": time.time()},
                    "body": {"reward": 1, "done": False, "info": {}},
                }
            )
        )  # no episode_id
        peer.send(ws, "v0.env.reward", {"reward": "lots", "done": False, "info": {}}, episode_id="0")
        peer.send(ws, "v0.env.reward", {"reward": 1, "done": "yes", "info": {}}, episode_id="0")
        peer.send(ws, "v0.env.describe", {"env_id": "Mini-v0", "env_state": "paused", "fps": 30}, episode_id="0")
        peer.send(ws, "v0.env.reset", {"env_id": "Mini-v0", "seed": None, "fps": None})  # a client's method
        peer.send(ws, "v0.brand.new", {})
        peer.send(ws, "v0.reply.error", {"message": "unsolicited complaint"})
        peer.send(ws, "v0.env.reward", {"reward": 1.5, "done": False, "info": {}}, episode_id="0")
        peer.send(ws, "v0.env.text", {"text": "still here"}, episode_id="0")

    peer = MinimalRewarder(PASSWORD, prelude=prelude)
    try:
        client = make_client(peer.port)
        wait_until(lambda: received(client, "v0.env.text") == 1, what="the text after the junk")
        stats = client.stats()
        assert stats["bad_messages"] == 9
        assert stats["remote_errors"] == ["unsolicited complaint"]
        reward, done, info = client.pop()
        assert (reward, done, info["episode_id"], info["text"]) == (1.5, False, 0, ["still here"])
        assert client.connected
        assert client.reset(timeout=10) == 1  # and it still works
    finally:
        client.close()
        peer.close()


# -- independent minimal peers ----------------------------------------------------------------


def test_minimal_peer_server_drives_our_client(make_client):
    peer = MinimalRewarder(PASSWORD, episode_rewards=[(1.0, False), (1.0, False), (1.0, True), (5.0, False)])
    try:
        client = make_client(peer.port)
        assert (client.env_id, client.fps) == ("Mini-v0", 30)
        assert client.reset(seed=4, timeout=10) == 1
        wait_until(lambda: received(client) == 4, what="the peer's rewards")
        reward, done, info = client.pop()
        assert (reward, done, info["episode_id"], info["completed_episode_id"]) == (3.0, True, 2, 1)
        assert info["env_info"] == {"peer": True}
        reward, done, info = client.pop()
        assert (reward, done, info["episode_id"]) == (5.0, False, 2)
        wait_until(lambda: client.rtt is not None and client.clock_skew is not None, what="a ping round trip")
        lo, hi = client.clock_skew
        assert lo <= 0.0 <= hi  # one machine, one clock
        # What the peer saw from us, checked against the table.
        headers = peer.headers_seen[0]
        assert headers["authorization"] == auth(PASSWORD) and headers["openai-observer"] == "false"
        reset = next(m for m in peer.received if m["method"] == "v0.env.reset")
        assert reset["body"] == {"env_id": "Mini-v0", "seed": 4, "fps": 30}
        for msg in peer.received:
            assert isinstance(msg["headers"]["message_id"], int) and isinstance(msg["headers"]["sent_at"], float)
            assert msg["method"] in ("v0.env.reset", "v0.control.ping")
    finally:
        client.close()
        peer.close()


def test_minimal_peer_client_drives_our_server(make_server):
    actions = []
    resets = []
    server = make_server(
        on_reset=lambda env_id, seed, fps: resets.append((env_id, seed, fps)), on_action=actions.append, fps=60
    )
    with raw_connect(server.port) as ws:
        describe = recv_json(ws)
        assert describe["method"] == "v0.env.describe"
        assert describe["body"] == {"env_id": "Count-v0", "env_state": "running", "fps": 60}
        assert describe["headers"]["episode_id"] == "0"
        assert isinstance(describe["headers"]["message_id"], int) and isinstance(describe["headers"]["sent_at"], float)

        t0 = time.time()
        ws.send(envelope("v0.control.ping", 1))
        pong = recv_json(ws)
        t1 = time.time()
        assert pong["method"] == "v0.reply.control.ping" and pong["headers"]["parent_message_id"] == 1
        assert t0 <= pong["headers"]["sent_at"] <= t1

        ws.send(envelope("v0.env.reset", 2, {"env_id": "Count-v0", "seed": 11, "fps": 60}))
        got = recv_until(ws, "v0.env.describe")  # describe(resetting)
        got += recv_until(ws, "v0.env.describe")  # reply, describe(running)
        assert [(m["method"], m["headers"]["episode_id"], m["body"].get("env_state")) for m in got] == [
            ("v0.env.describe", "1", "resetting"),
            ("v0.reply.env.reset", "1", None),
            ("v0.env.describe", "1", "running"),
        ]
        assert got[1]["headers"]["parent_message_id"] == 2
        assert resets == [("Count-v0", 11, 60)]

        server.publish_reward(0.5, done=False, info={"lives": 3})
        server.publish_text("go")
        server.publish_observation([1, 2, 3])
        server.publish_reward(1.0, done=True)
        msgs = recv_until(ws, "v0.env.reward") + recv_until(ws, "v0.env.reward")
        assert [(m["method"], m["headers"]["episode_id"], m["body"]) for m in msgs] == [
            ("v0.env.reward", "1", {"reward": 0.5, "done": False, "info": {"lives": 3}}),
            ("v0.env.text", "1", {"text": "go"}),
            ("v0.env.observation", "1", {"observation": [1, 2, 3]}),
            ("v0.env.reward", "1", {"reward": 1.0, "done": True, "info": {}}),
        ]
        ids = [m["headers"]["message_id"] for m in [describe, pong, *got, *msgs]]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)

        ws.send(envelope("v0.agent.action", 3, {"keys": ["space"]}))
        ws.send(envelope("v0.control.ping", 4))  # the action has no reply; the ping's shows it was read
        assert recv_json(ws)["headers"]["parent_message_id"] == 4
        wait_until(lambda: actions == [{"keys": ["space"]}], what="on_action")


# -- the server disappears -------------------------------------------------------------------

SERVER_SCRIPT = r"""
import sys
from vncenv.rewarder import RewarderServer
port, episode, password = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
server = RewarderServer(port=port, password=password, env_id="Count-v0", episode_id=episode).start()
print("listening", server.port, flush=True)
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "reward":
        server.publish_reward(float(cmd[1]), done=cmd[2] == "1")
    print("ok", flush=True)
"""


class ServerProcess:
    """A RewarderServer in another process, to be killed with SIGKILL."""

    def __init__(self, port: int, episode: int) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.path.dirname(os.path.dirname(vncenv.__file__))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER_SCRIPT, str(port), str(episode), PASSWORD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        word, port_text = self._line(30).split()
        assert word == "listening"
        self.port = int(port_text)

    def _line(self, timeout: float) -> str:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready, "the server process did not answer"
        line = self.proc.stdout.readline()
        assert line, f"the server process exited ({self.proc.poll()})"
        return line.strip()

    def reward(self, reward: float, done: bool = False) -> None:
        self.proc.stdin.write(f"reward {reward} {int(done)}\n")
        self.proc.stdin.flush()
        assert self._line(10) == "ok"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc.stdin.close()
        self.proc.stdout.close()


def test_server_killed_mid_episode_client_reconnects_and_buffer_stays_consistent(make_client):
    procs: list[ServerProcess] = []
    try:
        a = ServerProcess(0, 0)
        procs.append(a)
        port = a.port
        client = make_client(port, start_timeout=20, backoff=(0.05, 0.3))
        assert client.reset(timeout=10) == 1
        for _ in range(3):
            a.reward(1.0)
        wait_until(lambda: received(client) == 3)
        assert client.pop()[:2] == (3.0, False)
        a.reward(1.0)
        a.reward(1.0)
        wait_until(lambda: received(client) == 5)  # delivered, not yet popped
        a.kill()
        wait_until(lambda: client.state == "reconnecting", what="the drop to be noticed")
        assert client.pop()[:2] == (2.0, False), "what arrived before the crash is kept"

        # The rewarder comes back; the game's episode 1 goes on.
        b = ServerProcess(port, 1)
        procs.append(b)
        wait_until(lambda: client.connected and client.stats()["connections"] == 2, what="the reconnect")
        for _ in range(4):
            b.reward(1.0)
        wait_until(lambda: received(client) == 9)
        reward, done, info = client.pop()
        assert (reward, done, info["episode_id"]) == (4.0, False, 1)
        b.reward(0.5, done=True)
        wait_until(lambda: received(client) == 10)
        reward, done, info = client.pop()
        assert (reward, done, info["completed_episode_id"], info["episode_id"]) == (0.5, True, 1, None)

        # A reset asked while the remote is down goes out when it is back,
        # to a restarted remote that counts its episodes from 0 again.
        b.kill()
        wait_until(lambda: client.state == "reconnecting")
        result: dict[str, Any] = {}
        t = threading.Thread(target=lambda: result.update(ep=client.reset(timeout=20)))
        t.start()
        time.sleep(0.2)
        c = ServerProcess(port, 0)
        procs.append(c)
        t.join(20)
        assert result.get("ep") == 1
        c.reward(2.0)
        wait_until(lambda: received(client) == 11)
        reward, done, info = client.pop()
        assert (reward, done, info["episode_id"]) == (2.0, False, 1)
        stats = client.stats()
        assert stats["connections"] == 3 and stats["buffer"]["remote_restarts"] == 1
        assert stats["buffer"]["dropped_stale"] == 0 and stats["buffer"]["dropped_masked"] == 0
    finally:
        for p in procs:
            p.kill()


def test_client_gives_up_after_start_timeout():
    port = free_port()
    t0 = time.monotonic()
    with pytest.raises(Timeout, match="start_timeout"):
        RewarderClient.connect("127.0.0.1", port, password=PASSWORD, start_timeout=0.6, backoff=(0.05, 0.2))
    assert time.monotonic() - t0 < 5


def test_a_server_that_hangs_up_before_describe_is_not_a_connection():
    server = ws_serve(lambda ws: None, "127.0.0.1", 0)  # accepts the handshake, then closes
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        with pytest.raises(Timeout, match="start_timeout"):
            RewarderClient.connect(
                "127.0.0.1", server.socket.getsockname()[1], password=PASSWORD, start_timeout=0.5, backoff=(0.05, 0.1)
            )
    finally:
        server.shutdown()
        thread.join(10)


def test_server_drop_exhausts_start_timeout_then_pop_reports_the_error(make_server, make_client):
    server = make_server()
    client = make_client(server.port, start_timeout=0.5, backoff=(0.05, 0.1))
    server.close()
    wait_until(lambda: client.state == "failed", what="the client to give up")
    reward, done, info = client.pop()
    assert (reward, done, info["connected"]) == (0.0, False, False)
    assert "start_timeout" in info["error"]
    with pytest.raises(Timeout):
        client.reset(timeout=1)


# -- pings, skew, lags ------------------------------------------------------------------


def test_ping_bounds_clock_skew_and_lags(make_server, make_client):
    server = make_server()
    client = make_client(server.port, calibration_pings=5)
    wait_until(lambda: client.rtt is not None and len(client._rtts) >= 5, what="calibration")
    lo, hi = client.clock_skew
    assert lo <= 0.0 <= hi  # one machine, one clock: the true skew is 0
    rtt_min, rtt_max = client.rtt
    assert 0 < rtt_min <= rtt_max < 1
    assert hi - lo <= rtt_min + 1e-6  # the bounds are no wider than the best round trip
    assert 0 < client.ping(timeout=5) < 1
    client.reset(timeout=10)
    server.publish_reward(1.0)
    wait_until(lambda: received(client) == 1)
    _, _, info = client.pop()
    lag_lo, lag_hi = info["lags"]["rewarder_message"]
    assert 0 <= lag_lo <= lag_hi < 1


# -- load ---------------------------------------------------------------------------------------


def test_load_1000_messages_per_second_for_10_seconds(make_server, make_client, tmp_path):
    rate, seconds = 1000, 10
    total = rate * seconds
    server = make_server()
    agent = make_client(server.port, log=tmp_path / "agent.jsonl")
    watcher = make_client(server.port, observer=True)
    server.wait_for_clients(active=1, observers=1)
    ep = agent.reset(timeout=10)
    wait_until(lambda: watcher.buffer.remote["episode_id"] == ep and watcher.env_state == "running")
    assert watcher.pop()[1], "the observer saw the reset end episode 0"

    def publish() -> None:
        start = time.monotonic()
        for i in range(total):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            server.publish_reward(1.0, info={"i": i})
        published["seconds"] = time.monotonic() - start

    published: dict[str, float] = {}
    publisher = threading.Thread(target=publish)
    t0 = time.monotonic()
    publisher.start()
    summed, counted, steps, last_i = 0.0, 0, 0, -1
    while publisher.is_alive() or received(agent) < total:
        time.sleep(0.01)  # an agent stepping at ~100 Hz
        reward, done, info = agent.pop()
        assert not done and info["episode_id"] == ep
        summed += reward
        counted += info["reward_count"]
        if info["env_info"]:
            assert info["env_info"]["i"] > last_i
            last_i = info["env_info"]["i"]
        steps += 1
        assert time.monotonic() - t0 < seconds + 30, "the messages did not all arrive"
    publisher.join()
    reward, _, info = agent.pop()
    summed += reward
    counted += info["reward_count"]
    wait_until(lambda: received(watcher) == total, timeout=30, what="the observer's messages")
    w_reward, _, w_info = watcher.pop()

    assert received(agent) == total and counted == total and summed == float(total)
    assert last_i == total - 1 or info["env_info"].get("i") == total - 1
    assert w_reward == float(total) and w_info["reward_count"] == total
    assert server.stats()["sent"]["v0.env.reward"] == total
    assert agent.stats()["buffer"]["dropped_stale"] == agent.stats()["buffer"]["dropped_masked"] == 0
    agent.close()
    logged = [e for e in read_log(tmp_path / "agent.jsonl") if e["message"]["method"] == "v0.env.reward"]
    assert len(logged) == total
    assert [e["message"]["body"]["info"]["i"] for e in logged] == list(range(total))
    print(
        f"\nrewarder load: {total} sent in {published['seconds']:.2f} s "
        f"({total / published['seconds']:.0f} msg/s), {received(watcher)} received by the agent and by an "
        f"observer each, {steps} pops"
    )


# -- running on the caller's loop, lifecycle --------------------------------------------------


def test_server_on_the_callers_asyncio_loop_with_a_coroutine_callback():
    async def main():
        seeds = []

        async def on_reset(env_id, seed, fps):
            await asyncio.sleep(0.01)
            seeds.append(seed)

        async with RewarderServer(port=0, password=PASSWORD, env_id="Count-v0", on_reset=on_reset) as server:

            def agent():
                with RewarderClient.connect("127.0.0.1", server.port, password=PASSWORD, start_timeout=10) as c:
                    ep = c.reset(seed=9, timeout=10)
                    server.publish_reward(2.5, done=True)  # from a thread that is not the loop's
                    c.wait_for(lambda c: received(c) == 1)
                    return ep, c.pop()

            ep, (reward, done, info) = await asyncio.to_thread(agent)
        return server, seeds, ep, reward, done, info

    server, seeds, ep, reward, done, info = asyncio.run(main())
    assert seeds == [9] and ep == 1
    assert (reward, done, info["completed_episode_id"]) == (2.5, True, 1)
    assert server.closed


def test_server_lifecycle_errors():
    server = RewarderServer(port=0, password=PASSWORD, env_id="Count-v0")
    with pytest.raises(UsageError, match="not started"):
        server.publish_reward(1.0)
    with pytest.raises(UsageError, match="not started"):
        _ = server.port
    server.start()
    with pytest.raises(UsageError):
        server.start()
    with pytest.raises(OSError):
        RewarderServer(port=server.port, password=PASSWORD, env_id="Count-v0").start()
    with pytest.raises(UsageError, match="reward must be a number"):
        server.publish_reward("lots")
    server.close()
    server.close()
    server.publish_reward(1.0)  # after close: dropped quietly (a runtime's last steps)
    with pytest.raises(UsageError):
        RewarderServer(port=0, password=PASSWORD, env_id="")
    with pytest.raises(UsageError):
        RewarderServer(port=0, password=PASSWORD, env_id="x", env_state="paused")


def test_client_usage_errors(make_server):
    client = RewarderClient("127.0.0.1", 1, password=PASSWORD)
    with pytest.raises(UsageError, match="not started"):
        client.reset()
    server = make_server()
    with RewarderClient.connect("127.0.0.1", server.port, password=PASSWORD, start_timeout=5) as client:
        with pytest.raises(UsageError, match="seed"):
            client.reset(seed="7")
        client.send_action({"keys": []})
    with pytest.raises(UsageError, match="closed"):
        client.reset()


def test_import_starts_no_thread():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(vncenv.__file__))
    code = (
        "import threading, vncenv, vncenv.rewarder, vncenv.rewarder.client, vncenv.rewarder.server; "
        "print(threading.active_count())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"


def test_a_client_that_stops_reading_is_dropped_not_buffered_forever(make_server, make_client):
    server = make_server(max_write_buffer=256 << 10)
    agent = make_client(server.port)
    with raw_connect(server.port, observer=True, close_timeout=0.1):  # and never calls recv()
        server.wait_for_clients(active=1, observers=1)
        blob = "x" * (16 << 10)
        n, chunk = 2000, 8  # 32 MiB: more than the kernel's socket buffers hold
        for i in range(0, n, chunk):
            for _ in range(chunk):
                server.publish_observation(blob)
            # The agent keeps up (its backlog stays under the limit); the stalled one cannot.
            wait_until(lambda i=i: received(agent, "v0.env.observation") == i + chunk, what="the agent to keep up")
        wait_until(lambda: server.clients() == (1, 0), timeout=30, what="the stalled observer to be dropped")
        assert agent.connected and agent.stats()["connections"] == 1


def test_the_package_docstring_example_runs():
    import re
    import textwrap

    import vncenv.rewarder

    block = re.search(r"::\n\n((?:    .*\n|\n)+)", vncenv.rewarder.__doc__).group(1)
    code = textwrap.dedent(block)
    assert "RewarderServer(" in code and "client.pop()" in code
    exec(compile(code, "vncenv.rewarder docstring", "exec"), {})
