"""Adversity §1: the agent stops stepping for 30 s.

A real Xvnc shows a scene that changes all the time (a thread redraws a
block of noise 20 times a second).  One session is read, then left alone for
30 s: it must pause (stop requesting updates, so the server stops sending),
keep its memory, and on the next snapshot resume with the server's current
picture.  A control session on the same server with ``idle_pause=None``,
left alone just the same, shows what the pause saves.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import servers

from vncenv.error import Timeout
from vncenv.vnc.session import VNCSession

IDLE_PAUSE = 2.0
AWAY = 30.0  # how long the agent does not step


class Animator:
    """Redraws a 200x150 block of fresh noise at ~20 Hz on its own X connection."""

    def __init__(self, scene) -> None:
        self.scene = scene
        self.frames = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="animator", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.scene.noise(40, 60, 200, 150)
            self.frames += 1
            self._stop.wait(0.05)

    def stop(self) -> None:  # idempotent
        self._stop.set()
        self._thread.join(10)
        assert not self._thread.is_alive()


def test_an_agent_away_for_30_s_pauses_the_stream_and_resumes_fresh(xvnc, scene, wait_equal, rss_kib):
    still = scene(xvnc, seed=1)
    still.photo()
    animator = Animator(scene(xvnc, seed=2))
    try:
        with VNCSession.connect(xvnc.host, xvnc.port, encoding="raw", idle_pause=IDLE_PAUSE) as agent, \
                VNCSession.connect(xvnc.host, xvnc.port, encoding="raw", idle_pause=None) as control:  # fmt: skip
            # 1. the agent reads actively: the stream's rate
            t0, b0 = time.monotonic(), agent.stats().bytes
            while time.monotonic() - t0 < 3.0:
                agent.snapshot()
                try:
                    agent.wait_for_update(timeout=0.5)
                except Timeout:
                    pass
            rate = (agent.stats().bytes - b0) / (time.monotonic() - t0)
            assert rate > 200_000, f"the scene should stream fast; got {rate:.0f} B/s"
            assert not agent.paused

            # 2. the agent goes away
            rss0 = rss_kib()
            frames0 = animator.frames
            agent.snapshot()  # the last read
            away = time.monotonic()
            agent_bytes0, control_bytes0 = agent.stats().bytes, control.stats().bytes
            while not agent.paused:  # `paused` and stats() are not reads
                assert time.monotonic() - away < IDLE_PAUSE + 5, "the idle session did not pause"
                time.sleep(0.05)
            paused_after = time.monotonic() - away
            assert IDLE_PAUSE <= paused_after <= IDLE_PAUSE + 2, paused_after
            at_pause = agent.stats().bytes
            time.sleep(AWAY - paused_after)
            stats = agent.stats()
            agent_bytes = stats.bytes - agent_bytes0
            control_bytes = control.stats().bytes - control_bytes0
            frames_drawn = animator.frames - frames0
            rss1 = rss_kib()

            assert stats.paused and stats.pauses == 1
            # after the pause began, the server sent nothing (no request was outstanding)
            assert stats.bytes - at_pause <= 4 + 12 + 640 * 480 * 4, stats.bytes - at_pause
            # the whole time away cost about IDLE_PAUSE seconds of stream, not AWAY seconds
            assert agent_bytes <= rate * (IDLE_PAUSE + 2) + 2 * 640 * 480 * 4, (agent_bytes, rate)
            assert control_bytes > 0.5 * rate * AWAY, (control_bytes, rate)
            assert agent_bytes < 0.2 * control_bytes, (agent_bytes, control_bytes)
            assert rss1 - rss0 < 64 * 1024, f"RSS grew by {(rss1 - rss0) // 1024} MiB while away"

            # 3. the screen settles; the agent comes back: the first snapshot is already current
            animator.stop()
            assert frames_drawn > 5 * AWAY, f"the scene changed only {frames_drawn} times while the agent was away"
            expected = servers.grab_screen(xvnc)
            first = agent.snapshot()
            assert not agent.paused
            assert np.array_equal(first, expected), "the first snapshot after the pause is stale"

            # 4. and wait_for_update gets fresh frames again
            count = agent.update_count
            still.fill(300, 300, 64, 64, (255, 0, 0))
            assert agent.wait_for_update(timeout=10, after=count) > count
            wait_equal(agent, xvnc)
            assert not agent.paused and agent.error is None and control.error is None
    finally:
        animator.stop()


def test_waiting_and_recording_sessions_never_pause(xvnc, scene, tmp_path):
    """A thread blocked in wait_for_update / wait_closed, or a recording, is reading: no pause."""
    animator = Animator(scene(xvnc, seed=4))
    try:
        with VNCSession.connect(xvnc.host, xvnc.port, encoding="raw", idle_pause=0.5) as waiting, \
                VNCSession.connect(xvnc.host, xvnc.port, encoding="raw", idle_pause=0.5,
                                   record=str(tmp_path / "raw.fbs")) as recording:  # fmt: skip
            done = threading.Event()
            waiter = threading.Thread(target=lambda: (waiting.wait_closed(3.0), done.set()), daemon=True)
            waiter.start()
            before = recording.stats().bytes
            time.sleep(2.5)
            assert not waiting.paused and waiting.stats().pauses == 0
            assert not recording.paused and recording.stats().pauses == 0
            assert recording.stats().bytes > before
            done.wait(5)
            waiter.join(5)
    finally:
        animator.stop()


@pytest.mark.parametrize("idle_pause", [0, -1, "5", True])
def test_idle_pause_must_be_positive_or_none(idle_pause):
    from vncenv.error import UsageError

    with pytest.raises(UsageError, match="idle_pause"):
        VNCSession("127.0.0.1", 1, idle_pause=idle_pause)
