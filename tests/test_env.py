"""The Gymnasium API against real local remotes (Xvnc + ALE + rewarder)."""

from __future__ import annotations

import os
import signal

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import vncenv  # noqa: F401  (registers the vncenv/ ids)
from vncenv.envs.registration import ALE_GAMES, RUNTIME_IDS


def test_ids_are_registered():
    assert len(RUNTIME_IDS) == len(ALE_GAMES) + 4
    for env_id in ("vncenv/Pong-v0", "vncenv/Breakout-v0", "vncenv/CartPole-v0"):
        spec = gymnasium.spec(env_id)
        assert spec.nondeterministic and spec.entry_point == "vncenv.envs.vnc_env:VNCEnv"


def test_make_does_not_connect():
    env = gymnasium.make("vncenv/Pong-v0")
    assert env.observation_space.shape == (210, 160, 3)
    assert env.action_space.n == 6
    assert env.unwrapped._manager is None  # lazy: nothing started yet
    env.close()


@pytest.fixture(scope="module")
def pong():
    env = gymnasium.make("vncenv/Pong-v0", mode="sync")
    yield env
    env.close()


def test_check_env(pong):
    check_env(pong.unwrapped, skip_render_check=True)


def test_sync_episode_steps(pong):
    obs, info = pong.reset(seed=3)
    assert obs.shape == (210, 160, 3) and obs.dtype == np.uint8
    assert info["frame_id"] > 0
    frame_ids, total = [info["frame_id"]], 0.0
    for _ in range(120):
        obs, reward, terminated, truncated, info = pong.step(pong.action_space.sample())
        assert pong.observation_space.contains(obs)
        assert "error" not in info
        frame_ids.append(info["frame_id"])
        total += reward
        if terminated or truncated:
            break
    # one frame per step, in order
    assert frame_ids == list(range(frame_ids[0], frame_ids[0] + len(frame_ids)))
    # observations are owned copies, not views of a buffer later steps change
    kept = obs.copy()
    pong.step(0)
    assert np.array_equal(obs, kept)
    lower, upper = info["lags.observation"]
    assert 0 <= lower <= upper < 1.0
    assert info["stats.vnc.updates.n"] > 0 and info["stats.vnc.updates.bytes"] > 0


def test_same_seed_same_start(pong):
    first, _ = pong.reset(seed=11)
    for _ in range(20):
        pong.step(2)
    again, _ = pong.reset(seed=11)
    assert np.array_equal(first, again)


def test_realtime_mode_steps_on_a_schedule():
    env = gymnasium.make("vncenv/Pong-v0", mode="realtime", fps=30)
    try:
        obs, info = env.reset(seed=0)
        lost = 0
        for _ in range(30):
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            assert "error" not in info and not truncated
            lost += info["throttle.frames_lost"]
        assert obs.shape == (210, 160, 3)
        assert lost >= 0
    finally:
        env.close()


def test_a_dead_remote_truncates_and_reset_replaces_it():
    env = gymnasium.make("vncenv/Pong-v0", mode="sync")
    try:
        env.reset(seed=0)
        env.step(0)
        process = env.unwrapped._manager._processes[0].popen
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        truncated, info = False, {}
        for _ in range(5):
            _, _, _, truncated, info = env.step(0)
            if truncated:
                break
        assert truncated and "error" in info
        obs, info = env.reset(seed=0)
        assert obs.shape == (210, 160, 3)
        _, _, _, truncated, info = env.step(1)
        assert not truncated and "error" not in info
    finally:
        env.close()
