"""VNCVectorEnv against real local remotes: batches, masks, a remote killed mid-run."""

from __future__ import annotations

import os
import signal

import gymnasium
import numpy as np

import vncenv  # noqa: F401  (registers the vncenv/ ids)
from vncenv.envs.vector import VNCVectorEnv


def test_make_vec_gives_the_native_vector_env_and_survives_a_dead_remote():
    envs = gymnasium.make_vec("vncenv/Pong-v0", num_envs=4)
    try:
        assert isinstance(envs, VNCVectorEnv)
        assert envs.metadata["autoreset_mode"] == gymnasium.vector.AutoresetMode.NEXT_STEP
        obs, infos = envs.reset(seed=0)
        assert obs.shape == (4, 210, 160, 3) and infos["_frame_id"].all()
        for _ in range(10):
            obs, rewards, terminated, truncated, infos = envs.step(envs.action_space.sample())
            assert obs.shape == (4, 210, 160, 3) and rewards.shape == (4,)
            assert "error" not in infos
        victim = envs.envs[2]._manager._processes[0].popen
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
        errors = np.zeros(4, int)
        for _ in range(20):
            obs, rewards, terminated, truncated, infos = envs.step(envs.action_space.sample())
            if "error" in infos:
                assert truncated[infos["_error"]].all()
                errors += infos["_error"]
        assert errors[2] >= 1 and errors[[0, 1, 3]].sum() == 0  # only the dead one, and the batch went on
        obs, rewards, terminated, truncated, infos = envs.step(envs.action_space.sample())
        assert "error" not in infos and not truncated.any()  # it was replaced
        envs.send(np.array([1, 2]), env_ids=[0, 3])
        obs, rewards, terminated, truncated, infos = envs.recv()
        assert obs.shape == (2, 210, 160, 3)
    finally:
        envs.close()
