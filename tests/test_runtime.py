"""The gym-core runtime and the local and manual remote managers, for real:
TigerVNC Xvnc, ALE Pong, the rewarder, vncenv's own client."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from procs import alive, descendants

from vncenv.error import Timeout, UsageError
from vncenv.remotes import build
from vncenv.remotes.manual import parse_remotes
from vncenv.rewarder import RewarderClient
from vncenv.runtimes.metadata import decode_strip
from vncenv.vnc.session import VNCSession

PONG_GREEN = np.array([92, 186, 92], np.uint8)  # the agent's paddle


@pytest.fixture(scope="module")
def pong_realtime():
    with build(1, env_id="ALE/Pong-v5", mode="realtime", scale=1) as manager:
        yield manager.ready(timeout=60)[0]


@pytest.fixture(scope="module")
def pong_sync():
    with build(1, env_id="ALE/Pong-v5", mode="sync", scale=1) as manager:
        yield manager.ready(timeout=60)[0]


def paddle_top(frame: np.ndarray) -> int | None:
    """Top row of the agent's paddle in the playing field, or None."""
    rows = np.where((frame[34:194] == PONG_GREEN).all(axis=2).any(axis=1))[0]
    return int(rows.min()) if len(rows) else None


def latest(session: VNCSession, timeout: float = 0.5) -> np.ndarray:
    try:
        session.wait_for_update(timeout=timeout)
    except Timeout:
        pass
    return session.snapshot()


def test_keys_through_vnc_move_the_paddle(pong_realtime):
    r = pong_realtime
    with VNCSession.connect(r.host, r.vnc_port, password=r.password, encoding="zrle") as vnc:
        positions = {}
        for key in ("Right", "Left"):  # Pong's RIGHT moves the paddle up, LEFT down
            vnc.key_event(key, True)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                top = paddle_top(latest(vnc))
                if top is not None and (top <= 2 if key == "Right" else top >= 140):
                    break
            vnc.key_event(key, False)
            positions[key] = top
        assert positions["Right"] is not None and positions["Right"] <= 2, positions
        assert positions["Left"] is not None and positions["Left"] >= 140, positions


def test_reward_arrives_when_a_point_is_scored(pong_realtime):
    r = pong_realtime
    with RewarderClient.connect(r.host, r.rewarder_port, password=r.password, start_timeout=20) as rewarder:
        rewarder.reset("ALE/Pong-v5", seed=3, timeout=20)
        deadline = time.monotonic() + 60
        total = 0.0
        while time.monotonic() < deadline and total == 0:
            reward, done, info = rewarder.pop()
            total += reward
            time.sleep(0.05)
        assert total != 0, "no point scored in 60 s of Pong"
        assert total in (-1.0, 1.0) or abs(total) >= 1


def test_sync_mode_steps_once_per_action_and_frames_carry_ids(pong_sync):
    r = pong_sync
    with VNCSession.connect(r.host, r.vnc_port, password=r.password, encoding="zrle") as vnc, \
            RewarderClient.connect(r.host, r.rewarder_port, password=r.password, start_timeout=20) as rewarder:  # fmt: skip
        rewarder.reset("ALE/Pong-v5", seed=1, timeout=20)

        def act(n: int) -> dict:
            before = rewarder.stats()["received"].get("v0.env.reward", 0)
            for _ in range(n):
                rewarder.send_action({"action": 2})
            rewarder.wait_for(lambda c: c.stats()["received"].get("v0.env.reward", 0) >= before + n, timeout=20)
            return rewarder.pop()[2]

        def screen_shows(frame_id: int) -> None:
            deadline = time.monotonic() + 10
            while (meta := decode_strip(vnc.snapshot())) is None or meta.frame_id != frame_id:
                assert time.monotonic() < deadline, f"screen shows {meta}, expected frame {frame_id}"
                latest(vnc, 0.2)

        first = act(1)["env_info"]["frame_id"]
        screen_shows(first)
        steps = 50
        info = act(steps)
        assert info["reward_count"] == steps  # one reward message per action
        assert info["env_info"]["frame_id"] == first + steps  # one frame per action
        screen_shows(first + steps)
        time.sleep(0.3)  # nothing moves between actions
        assert decode_strip(latest(vnc, 0.2)).frame_id == first + steps


def test_sync_mode_rejects_bad_actions(pong_sync):
    r = pong_sync
    with RewarderClient.connect(r.host, r.rewarder_port, password=r.password, start_timeout=20) as rewarder:
        rewarder.send_action({"action": 99})
        rewarder.send_action({"nothing": 1})
        rewarder.ping(timeout=10)  # the remote is still serving


def test_local_manager_leaves_nothing_after_close():
    before = descendants(os.getpid())  # other tests' remotes
    manager = build(2, env_id="ALE/Pong-v5", mode="sync", scale=1)
    remotes = manager.ready(timeout=60)
    assert len(remotes) == 2 and len({r.vnc_port for r in remotes}) == 2
    started = descendants(os.getpid()) - before
    assert len(started) >= 4  # two servers, each with its Xvnc
    assert all(manager.health().values())
    manager.close()
    deadline = time.monotonic() + 15
    while any(alive(p) for p in started):
        assert time.monotonic() < deadline, [p for p in started if alive(p)]
        time.sleep(0.1)


def test_local_manager_replaces_a_dead_remote():
    before = descendants(os.getpid())  # other tests' remotes
    with build(1, env_id="ALE/Pong-v5", mode="sync", scale=1) as manager:
        (remote,) = manager.ready(timeout=60)
        serve_pids = descendants(os.getpid()) - before
        for pid in serve_pids:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while all(manager.health().values()):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        fresh = manager.replace(remote)
        assert fresh.name != remote.name and all(manager.health().values())
        with VNCSession.connect(fresh.host, fresh.vnc_port, password=fresh.password) as vnc:
            assert vnc.width > 0


def test_remotes_die_with_a_sigkilled_parent(tmp_path):
    script = textwrap.dedent(
        """
        import os, sys, time
        from vncenv.remotes import build
        m = build(1, env_id="ALE/Pong-v5", mode="sync", scale=1)
        m.ready(timeout=60)
        print("ready", flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline().strip() == "ready"
        started = descendants(parent.pid)
        assert len(started) >= 2  # vncenv serve and its Xvnc
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 15
        while any(alive(p) for p in started):
            assert time.monotonic() < deadline, [p for p in started if alive(p)]
            time.sleep(0.1)
    finally:
        if parent.poll() is None:
            parent.kill()


@pytest.mark.parametrize(
    "spec, message",
    [
        ("127.0.0.1:5900", "must start with vnc://"),
        ("vnc://", "no server"),
        ("vnc://host:70000", "outside 1..65535"),
        ("vnc://host:5900+99999", "outside 1..65535"),
        ("vnc://a:5900,,b:5901", "empty server at position 2"),
        ("vnc://a:5900,a:5900", "listed twice"),
        ("vnc://a:5900?pw=x", "unknown option"),
        ("vnc://a b:5900", "bad VNC address"),
    ],
)
def test_manual_grammar_rejects_bad_input(spec, message):
    with pytest.raises(UsageError, match=message):
        parse_remotes(spec)


def test_manual_grammar_accepts_lists():
    remotes = parse_remotes("vnc://a:5901+15901,vnc://b,c:5903?password=s%20x")
    assert [(r.host, r.vnc_port, r.rewarder_port) for r in remotes] == [
        ("a", 5901, 15901), ("b", 5900, None), ("c", 5903, None)]  # fmt: skip
    assert {r.password for r in remotes} == {"s x"}


def test_build_rejects_bad_remotes():
    for bad in ("local://x", "ftp://1", 0, True, "docker://0"):
        with pytest.raises(UsageError):
            build(bad, env_id="ALE/Pong-v5")


def test_manual_manager_plays_a_served_remote(pong_sync):
    r = pong_sync
    manager = build(f"vnc://{r.host}:{r.vnc_port}+{r.rewarder_port}?password={r.password}")
    (remote,) = manager.ready(timeout=20)
    assert remote.vnc_port == r.vnc_port and manager.health() == {remote.name: True}
    manager.close()


def test_local_remote_with_a_password_that_looks_like_an_option():
    """Random passwords can start with '-': the server's command line must still take them."""
    with build(1, env_id="ALE/Pong-v5", mode="sync", scale=1, password="-x9-Yz") as manager:
        (remote,) = manager.ready(timeout=60)
        with VNCSession.connect(remote.host, remote.vnc_port, password="-x9-Yz") as vnc:
            assert vnc.width == 160
