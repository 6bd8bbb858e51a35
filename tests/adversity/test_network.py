"""A network cut between the agent and its remote, through a real network namespace.

The remote (``serve()`` of ``vncenv serve gym-core``) runs inside a network
namespace made by the test, joined to ours by a veth pair
(``10.200.X.1`` here, ``10.200.X.2`` there), and listens on the namespace's
address.  ``Netns.cut()`` turns the link into a silent black hole (a
zero-length queue on both ends drops every packet: no reset, no ICMP error,
sends still succeed), the hardest kind of cut to notice; ``heal()`` undoes it.

* The env connects with ``remotes="vnc://10.200.X.2:5900+15900?password=..."``:
  a manual remote, which the manager cannot replace, only wait for.  During
  the cut a step fails within the step timeout (``truncated`` and an error
  that says what timed out), in sync mode and in realtime mode (where steps
  wait for nothing, a remote that stops sending frames is the sign), and a
  reset fails within ``start_timeout`` with a ``Timeout``.  After the cut
  heals, the next reset reconnects to the same remote (the same server
  process: nothing was restarted) and steps go on.
* A rewarder client whose keepalive notices the cut reconnects by itself once
  the link heals; and when its end of the connection is gone before the cut
  heals (its reset lost in the cut), the rewarder keeps the dead connection
  as its active client and refuses a second one until its own keepalive
  drops it: the client (and the env, which makes a new one) keeps asking
  meanwhile instead of giving up.

Every wait is bounded; the namespace, the veth pair and the server are gone
afterwards.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from faults_support import Netns, NetnsServer

from vncenv.envs.vnc_env import VNCEnv
from vncenv.error import Timeout
from vncenv.rewarder import RewarderClient

STEP_TIMEOUT = 3.0
# The rewarder sends a keepalive ping every 20 s: after a cut it may take that
# long to drop our dead connection and admit us again.
START_TIMEOUT = 30.0
CUT_START_TIMEOUT = 6.0
pytestmark = pytest.mark.timeout(120)


def _remote_in_netns(tmp_path, mode: str):
    with Netns() as ns:
        server = NetnsServer(ns, mode=mode, log_dir=str(tmp_path))
        try:
            server.start()
            yield ns, server
        finally:
            if ns.is_cut:
                ns.heal()
            server.stop()  # and waits until its whole process tree is gone
            assert ns.pids() == []  # nothing left in the namespace
    assert ns.host_if not in open("/proc/net/dev").read()  # the veth pair is gone with the namespace


@pytest.fixture
def netns_remote(tmp_path):
    yield from _remote_in_netns(tmp_path, "sync")


@pytest.fixture
def netns_realtime_remote(tmp_path):
    yield from _remote_in_netns(tmp_path, "realtime")


def _steps(env, n: int, action: int = 0) -> list[int]:
    frame_ids = []
    for _ in range(n):
        obs, reward, terminated, truncated, info = env.step(action)
        assert "error" not in info and not truncated, info.get("error")
        assert obs.shape == (210, 160, 3)
        frame_ids.append(info.get("frame_id"))
    return frame_ids


def test_sync_env_times_out_during_a_cut_and_reconnects_after_it_heals(netns_remote):
    ns, server = netns_remote
    serve_pids = server.tree()
    env = VNCEnv("ALE/Pong-v5", remotes=server.spec, mode="sync", step_timeout=STEP_TIMEOUT,
                 start_timeout=CUT_START_TIMEOUT)  # fmt: skip
    try:
        obs, info = env.reset(seed=0)
        frame_ids = _steps(env, 10)
        assert frame_ids == list(range(frame_ids[0], frame_ids[0] + 10))  # one frame per step
        time.sleep(0.5)  # the last acks go through: nothing of the rewarder's is in flight when the cut comes

        ns.cut()
        t0 = time.monotonic()
        obs, reward, terminated, truncated, info = env.step(1)
        took = time.monotonic() - t0
        print(f"step during the cut: {took:.2f} s: {info.get('error')!r}")
        assert truncated and not terminated and obs.shape == (210, 160, 3)
        assert STEP_TIMEOUT - 0.1 <= took <= STEP_TIMEOUT + 1.5
        assert re.search(rf"no reward for the action within step_timeout={STEP_TIMEOUT} s", info["error"])
        assert server.host in info["error"]
        # Our end of the rewarder connection goes (its reset lost in the cut): the rewarder keeps a ghost.
        assert len(ns.drop_connections(server.REWARDER_PORT)) == 1

        # a reset while the link is still cut: the manual manager waits for the remote, then gives up
        t0 = time.monotonic()
        with pytest.raises(Timeout, match=rf"no RFB banner on {re.escape(server.host)}:5900 within"):
            env.reset(seed=1)
        took = time.monotonic() - t0
        print(f"reset during the cut failed after {took:.2f} s")
        assert took <= CUT_START_TIMEOUT + 6  # closing the old connections (2 s) + the wait

        ns.heal()
        env.start_timeout = START_TIMEOUT  # the rewarder may hold our dead connection for up to 20 s
        t0 = time.monotonic()
        obs, info = env.reset(seed=1)
        print(f"reset after the cut healed: {time.monotonic() - t0:.2f} s, "
              f"refused {server.refusals()} time(s) while the ghost lived")  # fmt: skip
        assert server.refusals() >= 1  # the env asked again until the rewarder let the ghost go
        assert obs.shape == (210, 160, 3) and info["frame_id"] > frame_ids[-1]
        assert env._remote.host == server.host and server.tree() == serve_pids  # the same remote, reconnected
        frame_ids = _steps(env, 10, action=2)
        assert frame_ids == list(range(frame_ids[0], frame_ids[0] + 10))
    finally:
        env.close()


def test_realtime_env_notices_frames_stop_during_a_cut_and_reconnects(netns_realtime_remote):
    ns, server = netns_realtime_remote
    env = VNCEnv("ALE/Pong-v5", remotes=server.spec, mode="realtime", fps=30, step_timeout=STEP_TIMEOUT,
                 start_timeout=START_TIMEOUT)  # fmt: skip
    try:
        env.reset(seed=0)
        _steps(env, 15)
        ns.cut()
        t0 = time.monotonic()
        while True:
            obs, reward, terminated, truncated, info = env.step(0)
            if truncated:
                break
            assert time.monotonic() - t0 < STEP_TIMEOUT + 2, "no error during the cut"
        took = time.monotonic() - t0
        print(f"realtime: error after {took:.2f} s of cut: {info['error']!r}")
        assert STEP_TIMEOUT - 0.5 <= took <= STEP_TIMEOUT + 1.5
        assert re.search(rf"no new frame from {re.escape(server.host)}:5900 for [\d.]+ s", info["error"])
        ns.heal()
        t0 = time.monotonic()
        env.reset(seed=1)
        print(f"realtime: reset after the cut healed: {time.monotonic() - t0:.2f} s")
        _steps(env, 15)
    finally:
        env.close()


def test_rewarder_client_reconnects_by_itself_after_a_cut(netns_remote):
    ns, server = netns_remote
    client = RewarderClient.connect(server.host, server.REWARDER_PORT, password=server.password,
                                    start_timeout=START_TIMEOUT + 30, keepalive_interval=1.0,
                                    keepalive_timeout=1.0)  # fmt: skip
    try:
        assert client.connected and client.connections == 1
        client.reset(seed=0, timeout=10)
        rtt = client.ping(timeout=5)

        # 1. the keepalive notices the cut; the client reconnects once it heals
        ns.cut()
        t0 = time.monotonic()
        client.wait_for(lambda c: c.state == "reconnecting", timeout=10, poll=0.05)
        print(f"client noticed the cut after {time.monotonic() - t0:.2f} s (keepalive 1 s + 1 s)")
        time.sleep(2)  # reconnection attempts hang in the black hole
        assert client.state == "reconnecting" and client.error is None
        ns.heal()
        t0 = time.monotonic()
        client.wait_for(lambda c: c.connected and c.connections == 2, timeout=30, poll=0.05)
        print(f"client reconnected {time.monotonic() - t0:.2f} s after the cut healed")
        assert client.error is None and client.ping(timeout=5) < 1.0
    finally:
        client.close()

    # 2. our end of the connection is gone before the cut heals (its reset lost in the cut), with
    #    nothing of the rewarder's in flight: it keeps the dead connection as its active client and
    #    refuses us until its own keepalive (every 20 s) finds it dead; the client keeps asking.
    client = RewarderClient.connect(server.host, server.REWARDER_PORT, password=server.password,
                                    start_timeout=START_TIMEOUT + 30, keepalive_interval=None)  # fmt: skip
    try:
        client.wait_for(lambda c: c.stats()["received"].get("v0.reply.control.ping", 0) >= 5, timeout=10)
        time.sleep(0.5)  # calibration pings answered and acked: the connection is quiet
        refused = server.refusals()
        ns.cut()
        assert len(ns.drop_connections(server.REWARDER_PORT)) == 1
        client.wait_for(lambda c: c.state == "reconnecting", timeout=5, poll=0.05)
        time.sleep(1)
        ns.heal()
        t0 = time.monotonic()
        client.wait_for(lambda c: c.connected and c.connections == 2, timeout=START_TIMEOUT + 10, poll=0.05)
        print(f"client reconnected {time.monotonic() - t0:.2f} s after the second cut healed, refused "
              f"{server.refusals() - refused} time(s) meanwhile")  # fmt: skip
        assert server.refusals() > refused and client.stats()["received"].get("v0.connection.close", 0) >= 1
        assert client.error is None
        assert client.ping(timeout=5) < 1.0 and rtt < 1.0
        episode = client.reset(seed=1, timeout=10)  # it is the active client again
        assert episode >= 1
        before = client.received("v0.env.reward")
        client.send_action({"action": 0}, timeout=5)
        client.wait_received("v0.env.reward", before, timeout=5)
        assert np.isfinite(client.pop()[0])
    finally:
        client.close()
