"""Faults against the real local runtime: processes killed mid-episode.

Three faults, one remote each, in a 3-remote ``VNCVectorEnv`` (sync and
realtime):

(a) ``kill -9`` of remote 0's Xvnc (the runtime process stays up);
(b) ``kill -9`` of remote 1's runtime, the ``vncenv serve gym-core`` process
    (its Xvnc then dies by its parent-death signal);
(c) remote 2's rewarder.  The rewarder is not a process: it is a thread of
    the runtime process (``RewarderServer.start``, thread
    ``vncenv-rewarder-server``), so ``kill -9`` of "the rewarder process"
    *is* (b), which takes the game and Xvnc with it.  What can fail alone is
    its connection, and that is what (c) does, for real: ``ss -K`` destroys
    the rewarder's established TCP socket in the kernel (SOCK_DESTROY), the
    client gets a reset exactly as when the peer process dies, while Xvnc and
    the game run on.  The listening socket is left alone (destroying it makes
    asyncio's accept loop spin, which no real fault does), so the client
    reconnects within a fraction of a second; the rewards sent in the gap are
    lost all the same, so the env must end the episode.

For each fault, only that index gets ``truncated=True`` and an
``infos["error"]`` that names the remote's address; the others step on
untouched; the next step resets that index, which replaces its remote (new
pids), and it steps normally afterwards.  When the env closes, no process
of any remote (old or new) is left.

The same in a training loop: Stable-Baselines3 PPO learns on one ``VNCEnv``
while a thread kills its Xvnc mid-run; training must not crash.
"""

from __future__ import annotations

import re
import threading
import time

import gymnasium
import numpy as np
import pytest
from faults_support import kill_rewarder_connection, kill_runtime, kill_xvnc, remote_processes, serve_pid, wait_gone

import vncenv  # noqa: F401  (registers the vncenv/ ids)

STEP_TIMEOUT = 3.0
pytestmark = pytest.mark.timeout(120)

VNC_LOST = r"VNC connection (to 127\.0\.0\.1:{vnc} closed|failed: .*127\.0\.0\.1:{vnc})"
FAULTS = [
    (0, kill_xvnc, VNC_LOST),
    # the first thing the env notices: Xvnc gone (parent-death signal) or the rewarder's reset
    (1, kill_runtime, VNC_LOST + r"|rewarder connection to ws://127\.0\.0\.1:{rw} was lost"),
    (2, kill_rewarder_connection, r"rewarder connection to ws://127\.0\.0\.1:{rw} was lost during the episode"),
]


def _errors(infos: dict, n: int) -> tuple[np.ndarray, list]:
    if "error" not in infos:
        return np.zeros(n, bool), [None] * n
    return infos["_error"].astype(bool), list(infos["error"])


def _steady(envs, steps: int) -> None:
    for _ in range(steps):
        obs, rewards, terminated, truncated, infos = envs.step(envs.action_space.sample())
        assert obs.shape == (envs.num_envs, 210, 160, 3)
        assert "error" not in infos, infos["error"]
        assert not truncated.any()


@pytest.mark.parametrize("mode", ["sync", "realtime"])
def test_vector_env_reports_replaces_and_goes_on_after_each_kill(mode):
    t_start = time.monotonic()
    envs = gymnasium.make_vec("vncenv/Pong-v0", num_envs=3, mode=mode, step_timeout=STEP_TIMEOUT)
    seen: set[int] = set()
    try:
        envs.reset(seed=0)
        _steady(envs, 5)
        for index, fault, pattern in FAULTS:
            env = envs.envs[index]
            others = [i for i in range(3) if i != index]
            before = remote_processes(env)
            seen |= set(before)
            old_serve, remote = serve_pid(env), env._remote
            what = fault(env)
            t0 = time.monotonic()
            while True:  # the fault shows at the next step or soon after, within the step timeout
                obs, rewards, terminated, truncated, infos = envs.step(envs.action_space.sample())
                assert obs.shape == (3, 210, 160, 3)  # the batch goes on
                errors, texts = _errors(infos, 3)
                assert not errors[others].any() and not truncated[others].any(), (what, texts)
                if errors[index]:
                    break
                assert not truncated[index]
                assert time.monotonic() - t0 < STEP_TIMEOUT + 2, f"{what}: no error for index {index}"
            noticed = time.monotonic() - t0
            assert truncated[index] and not terminated[index]
            expected = pattern.format(vnc=remote.vnc_port, rw=remote.rewarder_port)
            assert re.search(expected, texts[index]), (what, texts[index])
            print(f"{mode} {what['what']}: index {index} truncated after {noticed:.2f} s: {texts[index]!r}")

            # the next step resets the index: a new remote, first observation, not done
            t1 = time.monotonic()
            obs, rewards, terminated, truncated, infos = envs.step(envs.action_space.sample())
            replaced = time.monotonic() - t1
            assert "error" not in infos, infos["error"]
            assert not truncated.any() and not terminated.any() and rewards[index] == 0.0
            after = remote_processes(env)
            seen |= set(after)
            assert serve_pid(env) != old_serve and not set(after) & set(before), (before, after)
            # the new serve process and its Xvnc ("python3" or "python", as the interpreter is named)
            assert sorted("python" if c.startswith("python") else c for c in after.values()) == ["Xvnc", "python"], after
            assert env._remote.name != remote.name
            print(f"{mode} {what['what']}: remote replaced in {replaced:.2f} s, pids {before} -> {after}")
            _steady(envs, 10)
    finally:
        for env in envs.envs:
            if env._manager is not None and env._manager._processes:
                seen |= set(remote_processes(env))
        envs.close()
    wait_gone(seen, 20)  # old (killed) and new remotes alike
    assert time.monotonic() - t_start < 120


class _Watch(gymnasium.Wrapper):
    """Counts steps and keeps the errors the env reported."""

    def __init__(self, env):
        super().__init__(env)
        self.steps = 0
        self.errors: list[tuple[int, bool, str]] = []
        self.resets = 0

    def reset(self, **kwargs):
        self.resets += 1
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.steps += 1
        if "error" in info:
            self.errors.append((self.steps, bool(truncated), info["error"]))
        return obs, reward, terminated, truncated, info


@pytest.mark.parametrize("mode", ["sync", "realtime"])
def test_ppo_training_survives_its_xvnc_killed_mid_run(mode):
    from stable_baselines3 import PPO

    env = _Watch(gymnasium.make("vncenv/Pong-v0", mode=mode, step_timeout=STEP_TIMEOUT))
    killed: dict = {}
    seen: set[int] = set()

    def killer() -> None:  # once training is under way
        deadline = time.monotonic() + 60
        while env.steps < 150 and time.monotonic() < deadline:
            time.sleep(0.01)
        killed["serve"] = serve_pid(env)
        killed["before"] = remote_processes(env)
        killed.update(kill_xvnc(env), at=env.steps)

    t0 = time.monotonic()
    try:
        model = PPO("CnnPolicy", env, n_steps=128, batch_size=64, n_epochs=1, seed=0, device="cpu", verbose=0)
        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        model.learn(total_timesteps=384)  # must not raise
        thread.join(5)
        assert model.num_timesteps >= 384 and env.steps >= 384
        assert "at" in killed, "the Xvnc was never killed"
        seen |= set(killed["before"])
        assert len(env.errors) == 1, env.errors
        step, truncated, text = env.errors[0]
        # the VNC connection, or the rewarder's: `vncenv serve` exits once its Xvnc is gone
        assert truncated and killed["at"] <= step <= killed["at"] + 3, (killed, env.errors)
        assert re.search(r"(VNC|rewarder) connection", text), (killed, env.errors)
        assert env.steps - step >= 100  # training went on after it
        assert serve_pid(env) != killed["serve"]  # the reset replaced the remote
        seen |= set(remote_processes(env))
        print(f"{mode}: Xvnc killed at step {killed['at']}, reported at {step}: {text!r}; "
              f"{env.steps} steps in {time.monotonic() - t0:.1f} s")  # fmt: skip
    finally:
        env.close()
    wait_gone(seen, 20)


@pytest.mark.parametrize("mode", ["sync", "realtime"])
def test_the_runtime_exits_when_its_xvnc_dies(mode):
    """A remote without a screen is dead: `vncenv serve` exits with an error
    soon after its Xvnc is killed (realtime: its next draw fails; sync: its
    watch on Xvnc notices, since no step would)."""
    env = gymnasium.make("vncenv/Pong-v0", mode=mode)
    try:
        env.reset(seed=0)
        popen = env.unwrapped._manager._processes[0].popen
        kill_xvnc(env)
        assert popen.wait(timeout=15) != 0
        assert not any(env.unwrapped._manager.health().values())
    finally:
        env.close()
