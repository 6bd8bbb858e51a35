"""Adversity §1: a peer that stops talking in the middle of something.

* A VNC server that stalls in the middle of a FramebufferUpdate (or of the
  handshake) for longer than ``stall_timeout``: the session fails with a
  Timeout naming the stall, the connection is dropped, waiters wake up, and
  another session in the same process (to a real Xvnc) goes on.  No real
  server can be made to stop in the middle of a message, so these use the
  fake server of ``conftest.py`` (``fake_rfb``); everything else is real.
* An idle server (nothing begun) is not stalled, however long it is quiet.
* A server that stops reading: a send that makes no progress fails too.
* A rewarder (a real RewarderServer in a subprocess) that stops answering
  (SIGSTOP) is noticed within keepalive_interval + keepalive_timeout, and the
  client fails once start_timeout passes; a frozen client is dropped by the
  server the same way.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import rfbgen

from vncenv.error import Timeout, UsageError
from vncenv.rewarder import RewarderClient, RewarderServer
from vncenv.vnc.session import VNCSession

STALL = 1.5  # stall_timeout used here, seconds
MARGIN = 2.0  # scheduling slack on a shared 2-core machine
CLOSE_TIMEOUT = 2.0  # the rewarder's WebSocket closing handshake, part of its documented bound


def raw_update(width: int, height: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    return rfbgen.update([rfbgen.raw(0, 0, rng.integers(0, 256, (height, width, 3), dtype=np.uint8))])


def test_server_stalling_mid_update_is_dropped_and_other_sessions_go_on(xvnc, scene, fake_rfb, wait_equal):
    """The fake server (a real one cannot stall mid-message) sends half a FramebufferUpdate and stops."""
    s = scene(xvnc, seed=3)
    s.photo()
    update = raw_update(64, 48)
    fake = fake_rfb(width=64, height=48, script=[update[: len(update) // 2]])
    # the real session uses the same short stall_timeout: an idle real server must not trip it
    with VNCSession.connect(xvnc.host, xvnc.port, encoding="zrle", stall_timeout=STALL, idle_pause=None) as good:
        wait_equal(good, xvnc)
        bad = VNCSession.connect(fake.host, fake.port, encoding="raw", stall_timeout=STALL, idle_pause=None)
        try:
            with pytest.raises(Timeout, match="stalled") as info:
                bad.wait_for_update(timeout=STALL + 30)  # the stall, not this timeout, must end the wait
            woke = time.monotonic()
            assert "FRAMEBUFFER_UPDATE" in str(info.value) and "stall_timeout" in str(info.value)
            assert fake.last_send_time is not None
            assert STALL - 0.05 <= woke - fake.last_send_time <= STALL + MARGIN
            assert bad.closed and isinstance(bad.error, Timeout)
            eof = fake.wait_eof(MARGIN)
            assert eof is not None, "the stalled connection was not dropped"
            assert eof - fake.last_send_time <= STALL + MARGIN
            with pytest.raises(Timeout, match="stalled"):  # later calls report the same error at once
                bad.wait_for_update(timeout=10)
        finally:
            bad.close()
        # the other session in this process is unharmed: it was idle for > STALL and follows new content
        assert not good.closed and good.error is None
        s.blocks(n=8)
        s.photo(100, 100, 200, 150, seed=9)
        wait_equal(good, xvnc)
        assert not good.closed and good.error is None


def test_server_stalling_in_the_handshake_fails_within_stall_timeout(fake_rfb):
    """The fake server (a real one cannot stall mid-handshake) sends its banner, then nothing."""
    fake = fake_rfb(handshake="banner")
    t0 = time.monotonic()
    with pytest.raises(Timeout, match="stalled.*handshake"):
        VNCSession.connect(fake.host, fake.port, timeout=60, stall_timeout=STALL)
    assert time.monotonic() - t0 <= STALL + MARGIN
    assert fake.wait_eof(MARGIN) is not None


def test_an_idle_server_is_not_stalled(fake_rfb):
    """The fake server sends whole updates with long silences between them: quiet, never stalled.
    (The same holds for a real Xvnc with a still screen: see the first test's real session.)"""
    fake = fake_rfb(width=32, height=32, script=[raw_update(32, 32, 1), 3 * STALL, raw_update(32, 32, 2)])
    with VNCSession.connect(fake.host, fake.port, encoding="raw", stall_timeout=STALL, idle_pause=None) as session:
        first = session.wait_for_update(timeout=10, after=0)
        time.sleep(2 * STALL)
        assert not session.closed and session.error is None
        assert session.wait_for_update(timeout=3 * STALL + 10, after=first) == first + 1
        assert not session.closed and session.error is None


def test_a_server_that_stops_reading_makes_sends_fail_not_hang(fake_rfb):
    """The fake server never reads after the handshake (a real one always drains its socket)."""
    fake = fake_rfb(width=32, height=32, script=[raw_update(32, 32), 60])
    with VNCSession.connect(fake.host, fake.port, encoding="raw", stall_timeout=STALL, idle_pause=None) as session:
        session.wait_for_update(timeout=10, after=0)
        text = "x" * (64 << 20)  # far more than the loopback socket buffers hold
        t0 = time.monotonic()
        with pytest.raises(Timeout, match="no progress"):
            session.client_cut_text(text)
        assert time.monotonic() - t0 <= STALL + MARGIN
        # half a message may have gone out: the connection is dropped, not reused
        assert session.closed and isinstance(session.error, Timeout)
        with pytest.raises(Timeout):
            session.key_event("a", True)


# -- the rewarder ------------------------------------------------------------------

PASSWORD = "stall-pass-1"

_SERVER_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from vncenv.rewarder import RewarderServer
    server = RewarderServer(port=0, password=sys.argv[1], env_id="Stall-v0",
                            keepalive_interval=float(sys.argv[2]), keepalive_timeout=float(sys.argv[2])).start()
    print(server.port, flush=True)
    while True:
        server.publish_reward(1.0)
        time.sleep(0.05)
    """
)

_CLIENT_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from vncenv.rewarder import RewarderClient
    client = RewarderClient("127.0.0.1", int(sys.argv[1]), password=sys.argv[2], start_timeout=10).start()
    print("connected", flush=True)
    while True:
        time.sleep(1)
    """
)


def _spawn(script: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )


def _stop(proc: subprocess.Popen) -> None:
    try:
        os.kill(proc.pid, signal.SIGCONT)
    except ProcessLookupError:
        pass
    proc.kill()
    proc.wait(10)
    if proc.stdout is not None:
        proc.stdout.close()


def test_a_rewarder_that_stops_answering_is_noticed_in_bounded_time():
    """A real RewarderServer in a subprocess, frozen with SIGSTOP (its kernel still holds the TCP connection)."""
    keepalive, start_timeout = 0.5, 2.0
    proc = _spawn(_SERVER_SCRIPT, PASSWORD, "30")
    try:
        port = int(proc.stdout.readline())
        client = RewarderClient(
            "127.0.0.1", port, password=PASSWORD, start_timeout=start_timeout,
            keepalive_interval=keepalive, keepalive_timeout=keepalive,
        )  # fmt: skip
        client.start(timeout=20)
        try:
            client.wait_for(lambda c: c.received("v0.env.reward") > 3, timeout=10)
            os.kill(proc.pid, signal.SIGSTOP)
            frozen = time.monotonic()
            client.wait_for(lambda c: c.state != "connected", timeout=2 * keepalive + CLOSE_TIMEOUT + MARGIN + 5)
            noticed = time.monotonic() - frozen
            assert noticed <= 2 * keepalive + CLOSE_TIMEOUT + MARGIN, f"a frozen rewarder noticed after {noticed:.2f} s"
            client.wait_for(lambda c: c.state == "failed", timeout=start_timeout + 10.0 + MARGIN)
            failed = time.monotonic() - frozen
            # reconnect attempts to the frozen process time out within start_timeout (plus one open_timeout)
            assert failed <= 2 * keepalive + CLOSE_TIMEOUT + start_timeout + 0.5 + 2 * MARGIN, failed
            reward, done, info = client.pop()
            assert "error" in info and info["connected"] is False
            with pytest.raises(Timeout):
                client.ping(timeout=5)
        finally:
            client.close()
    finally:
        _stop(proc)


def test_a_frozen_rewarder_client_is_dropped_by_the_server():
    """A real RewarderClient in a subprocess, frozen with SIGSTOP: the server stops holding its connection."""
    keepalive = 0.5
    server = RewarderServer(
        port=0, password=PASSWORD, env_id="Stall-v0", keepalive_interval=keepalive, keepalive_timeout=keepalive
    ).start()
    proc = None
    try:
        proc = _spawn(_CLIENT_SCRIPT, str(server.port), PASSWORD)
        assert proc.stdout.readline().strip() == "connected"
        server.wait_for_clients(active=1, timeout=10)
        os.kill(proc.pid, signal.SIGSTOP)
        frozen = time.monotonic()
        deadline = frozen + 2 * keepalive + CLOSE_TIMEOUT + MARGIN + 5
        while server.clients() != (0, 0):
            assert time.monotonic() < deadline, "the frozen client is still connected"
            server.publish_reward(0.5)
            time.sleep(0.05)
        assert time.monotonic() - frozen <= 2 * keepalive + CLOSE_TIMEOUT + MARGIN
    finally:
        if proc is not None:
            _stop(proc)
        server.close()


def test_keepalive_and_stall_options_are_checked():
    with pytest.raises(UsageError, match="keepalive_interval"):
        RewarderClient("127.0.0.1", 1, password=None, keepalive_interval=0)
    with pytest.raises(UsageError, match="keepalive_timeout"):
        RewarderServer(password=None, env_id="X-v0", keepalive_timeout=-1)
    with pytest.raises(UsageError, match="stall_timeout"):
        VNCSession("127.0.0.1", 1, stall_timeout=0)
    with pytest.raises(UsageError, match="idle_pause"):
        VNCSession("127.0.0.1", 1, idle_pause="5")
