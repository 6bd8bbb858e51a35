"""VNCEnv's configure() options and diagnostics, against real local remotes.

Lags, fps, action probes, clock skew, the VNC event action space, observers,
render modes, and Gymnasium's own wrappers on our envs.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from gymnasium.wrappers import RecordEpisodeStatistics, RecordVideo

import vncenv  # noqa: F401  (registers the vncenv/ ids)
from vncenv.error import UsageError
from vncenv.spaces import KeyEvent, PointerEvent, VNCEventSpace


def _plausible(lag) -> bool:
    lower, upper = lag
    return 0.0 <= lower <= upper < 1.0


def test_sync_steps_report_every_lag_and_fps():
    env = gymnasium.make("vncenv/Pong-v0")
    try:
        env.reset(seed=0)
        infos = [env.step(env.action_space.sample())[4] for _ in range(60)]
    finally:
        env.close()
    last = infos[-1]
    for key in ("lags.observation", "lags.action", "lags.reward", "lags.rewarder_message"):
        assert key in last, key
        assert all(_plausible(info[key]) for info in infos[5:] if key in info), key
    assert last["fps"] > 1.0
    assert last["rewarder.clock_skew"] is not None
    assert last["stats.vnc.updates.pixels"] > 0 and last["stats.vnc.updates.rectangles"] > 0


def test_ignore_clock_skew_reports_uncorrected_lags():
    env = gymnasium.make("vncenv/Pong-v0", ignore_clock_skew=True)
    try:
        env.reset(seed=0)
        info = [env.step(0)[4] for _ in range(5)][-1]
    finally:
        env.close()
    lower, upper = info["lags.observation"]
    assert lower == upper and 0.0 <= lower < 1.0
    lower, upper = info["lags.action"]
    assert lower == upper and 0.0 <= lower < 1.0


@pytest.mark.parametrize("probes", [True, False])
def test_realtime_action_probes(probes):
    env = gymnasium.make("vncenv/Pong-v0", mode="realtime", fps=30, disable_action_probes=not probes)
    try:
        env.reset(seed=0)
        action_lags, applied = [], []
        for i in range(60):
            # RIGHT and LEFT in turn, held for 5 ticks each
            _, _, _, _, info = env.step(2 if (i // 5) % 2 == 0 else 3)
            assert "error" not in info
            if "lags.action" in info:
                action_lags.append(info["lags.action"])
            if "remote_action" in info:
                applied.append(info["remote_action"])
    finally:
        env.close()
    assert {2, 3} <= set(applied)  # the runtime saw the keys held through VNC
    if probes:
        assert len(action_lags) >= 3 and all(_plausible(lag) for lag in action_lags)
    else:
        assert action_lags == []


def test_vnc_event_action_space_sync():
    env = gymnasium.make("vncenv/Pong-v0", action_space="vnc")
    try:
        assert isinstance(env.action_space, VNCEventSpace)
        assert (env.action_space.width, env.action_space.height) == (160, 210)
        env.reset(seed=0)
        _, _, _, _, info = env.step([KeyEvent("Right", True)])
        assert info["remote_action"] == 2  # RIGHT
        _, _, _, _, info = env.step([KeyEvent("space", True)])
        assert info["remote_action"] == 4  # RIGHTFIRE: Right is still held
        _, _, _, _, info = env.step([KeyEvent("Right", False), KeyEvent("space", False), PointerEvent(10, 20, 0)])
        assert info["remote_action"] == 0  # NOOP
        for _ in range(5):
            _, _, _, truncated, info = env.step(env.action_space.sample())
            assert not truncated and "error" not in info
        with pytest.raises(UsageError):
            env.step(2)  # not a list of events
    finally:
        env.close()


def test_vnc_event_action_space_realtime_goes_through_the_x_server():
    env = gymnasium.make("vncenv/Pong-v0", action_space="vnc", mode="realtime", fps=30)
    try:
        env.reset(seed=0)
        # the runtime reports an action when it changes
        seen = [env.step([KeyEvent("Left", True)])[4].get("remote_action")]
        seen += [env.step([])[4].get("remote_action") for _ in range(15)]
        assert 3 in seen  # LEFT, read by the runtime from the X server's key state
        seen = [env.step([KeyEvent("Left", False)])[4].get("remote_action")]
        seen += [env.step([])[4].get("remote_action") for _ in range(15)]
        assert 0 in seen and 3 not in seen[seen.index(0):]  # NOOP once released
    finally:
        env.close()


def test_observer_watches_without_acting():
    agent = gymnasium.make("vncenv/Pong-v0", mode="realtime", fps=30)
    observer = None
    try:
        agent.reset(seed=0)
        r = agent.unwrapped._remote
        address = f"vnc://{r.host}:{r.vnc_port}+{r.rewarder_port}?password={r.password}"
        observer = gymnasium.make("vncenv/Pong-v0", remotes=address, mode="realtime", fps=30, observer=True)
        obs, info = observer.reset()
        first = info["frame_id"]
        frame_ids = []
        for _ in range(10):
            agent.step(2)
            obs, _, _, _, info = observer.step(3)  # ignored: an observer sends nothing
            assert "error" not in info
            frame_ids.append(info["frame_id"])
        assert frame_ids[-1] > first  # the game moved on under the observer
        assert obs.shape == (210, 160, 3)
        # the agent's RIGHT is what the runtime applies, never the observer's LEFT
        seen = [agent.step(2)[4].get("remote_action") for _ in range(10)]
        assert 3 not in seen
    finally:
        if observer is not None:
            observer.close()
        agent.close()


def test_an_observer_cannot_drive_a_sync_local_remote():
    with pytest.raises(UsageError, match="observer"):
        gymnasium.make("vncenv/Pong-v0", observer=True)


def test_render_rgb_array_and_check_env(xvnc, monkeypatch):
    """check_env with its render checks: it remakes the env in each render
    mode, "human" included, which needs a display (a test Xvnc here)."""
    from gymnasium.utils.env_checker import check_env

    monkeypatch.setenv("DISPLAY", xvnc.display)
    monkeypatch.delenv("SDL_VIDEODRIVER", raising=False)

    env = gymnasium.make("vncenv/CartPole-v0", render_mode="rgb_array")
    try:
        check_env(env.unwrapped)
        obs, _ = env.reset(seed=0)
        frame = env.render()
        assert np.array_equal(frame, obs) and frame is not obs
    finally:
        env.close()


def test_render_human_opens_a_window(xvnc, monkeypatch):
    monkeypatch.setenv("DISPLAY", xvnc.display)
    monkeypatch.delenv("SDL_VIDEODRIVER", raising=False)
    env = gymnasium.make("vncenv/CartPole-v0", render_mode="human")
    try:
        env.reset(seed=0)
        for _ in range(3):
            env.step(0)
        tree = subprocess.run(["xwininfo", "-root", "-tree", "-display", xvnc.display],
                              capture_output=True, text=True, check=True).stdout  # fmt: skip
        assert "vncenv: CartPole-v1" in tree
        assert "600x400" in tree
    finally:
        env.close()


def test_render_human_without_a_display_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("SDL_VIDEODRIVER", raising=False)
    env = gymnasium.make("vncenv/CartPole-v0", render_mode="human")
    try:
        with pytest.raises(UsageError, match="DISPLAY"):
            env.reset(seed=0)
    finally:
        env.close()


def test_gymnasium_record_video_and_episode_statistics(tmp_path):
    env = gymnasium.make("vncenv/CartPole-v0", render_mode="rgb_array")
    env = RecordEpisodeStatistics(env)
    env = RecordVideo(env, str(tmp_path), episode_trigger=lambda e: True, disable_logger=True)
    episodes = []
    try:
        env.reset(seed=0)
        steps = 0
        while len(episodes) < 2 and steps < 500:
            _, _, terminated, truncated, info = env.step(env.action_space.sample())
            steps += 1
            if terminated or truncated:
                episodes.append(info["episode"])
                env.reset()
    finally:
        env.close()
    assert len(episodes) == 2
    for episode in episodes:
        assert episode["l"] >= 1 and episode["r"] == episode["l"]  # CartPole: +1 a step
    videos = sorted(tmp_path.glob("*.mp4"))
    assert len(videos) >= 2 and all(v.stat().st_size > 1000 for v in videos)


def test_sb3_ppo_trains_for_2000_steps():
    from stable_baselines3 import PPO

    env = gymnasium.make("vncenv/Pong-v0")
    try:
        model = PPO("CnnPolicy", env, n_steps=500, batch_size=100, n_epochs=1, seed=0, device="cpu", verbose=0)
        model.learn(total_timesteps=2000)
        assert model.num_timesteps >= 2000
        obs, _ = env.reset(seed=1)
        action, _ = model.predict(obs, deterministic=True)
        assert env.action_space.contains(int(action))
    finally:
        env.close()


def test_record_dir_option_records_each_episode(tmp_path):
    from vncenv.wrappers.recording import episode_dirs, read_frames, read_jsonl

    env = gymnasium.make("vncenv/Pong-v0", record_dir=str(tmp_path))
    try:
        last = []
        for seed in (0, 1):
            obs, _ = env.reset(seed=seed)
            for _ in range(12):
                obs, *_ = env.step(env.action_space.sample())
            last.append(obs)
    finally:
        env.close()
    dirs = [Path(d) for d in episode_dirs(tmp_path)]
    assert len(dirs) == 2
    for d, obs in zip(dirs, last):
        assert len(read_jsonl(d / "actions.jsonl")) == 12
        assert len(read_jsonl(d / "rewards.jsonl")) == 12
        frames = [picture for _, picture in read_frames(d / "vnc.fbs")]
        assert len(frames) >= 12
        assert any(np.array_equal(f[: obs.shape[0]], obs) for f in frames)


def test_discrete_adaptors_drive_a_vnc_action_env():
    from vncenv.wrappers import ClickGrid, DiscreteToFixedKeys

    env = DiscreteToFixedKeys(gymnasium.make("vncenv/Pong-v0", action_space="vnc"), ["", "Right", "Left", "Right+space"])
    try:
        env.reset(seed=0)
        applied = [env.step(a)[4]["remote_action"] for a in (1, 2, 3, 0)]
        assert applied == [2, 3, 4, 0]  # RIGHT, LEFT, RIGHTFIRE, NOOP
    finally:
        env.close()
    grid = ClickGrid(gymnasium.make("vncenv/Pong-v0", action_space="vnc"), step=20)
    try:
        grid.reset(seed=0)
        assert grid.action_space.n == len(grid.points) == 8 * 10
        _, _, _, truncated, info = grid.step(5)
        assert not truncated and "error" not in info
    finally:
        grid.close()
