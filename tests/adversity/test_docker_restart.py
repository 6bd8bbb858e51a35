"""Docker remotes while their dockerd restarts.

Two envs on Docker remotes (``remotes="docker://2"``, one container each,
sync mode) step; then the dockerd this test session started
(``docker_support``) is stopped by its pid.  dockerd stops its containers
when it stops (no live-restore), so both remotes die: each env reports
``truncated=True`` and an error for its index.  dockerd is started again (on
a thread, while the envs step): the next step resets both indices, which
re-allocates their remotes -- the managers wait for the engine to answer
(it comes back 3 s later),
their docker clients reconnect, the dead containers are removed and new
ones started -- and stepping goes on.  After close no container of this
process is left, old or new, and no process of theirs runs.

Only a dockerd the session started is restarted: with an engine someone
else runs (a system dockerd), the ``own_dockerd`` fixture fails and says so.
"""

from __future__ import annotations

import os
import re
import threading
import time

import gymnasium
import pytest
from faults_support import own_dockerd, wait_gone  # noqa: F401  (session fixture)
from procs import alive, descendants

import vncenv  # noqa: F401  (registers the vncenv/ ids)
from docker_support import docker_client, docker_image  # noqa: F401  (session fixtures)
from vncenv.remotes.docker import DEFAULT_IMAGE, managed_containers

STEP_TIMEOUT = 3.0
# The first run builds the image (minutes, once, in the docker_image fixture);
# the test itself must take under 2 minutes, which it checks.
pytestmark = pytest.mark.timeout(900)


def _container_pids(env) -> set[int]:
    c = env._manager.container(env._remote)
    c.reload()
    return descendants(c.attrs["State"]["Pid"], include_self=True)


def test_docker_remotes_are_reallocated_after_dockerd_restarts(docker_client, docker_image, own_dockerd):
    assert docker_image == DEFAULT_IMAGE  # VNCEnv's DockerManager uses the default image
    t_start = time.monotonic()
    envs = gymnasium.make_vec("vncenv/Pong-v0", num_envs=2, remotes="docker://2", mode="sync",
                              step_timeout=STEP_TIMEOUT, start_timeout=90)  # fmt: skip
    pids: set[int] = set()
    names: set[str] = set()
    starter = None
    try:
        envs.reset(seed=0)
        print(f"2 docker remotes ready in {time.monotonic() - t_start:.1f} s")
        for _ in range(5):
            _, _, _, truncated, infos = envs.step(envs.action_space.sample())
            assert "error" not in infos and not truncated.any()
        before = [env._remote.name for env in envs.envs]
        names |= set(before)
        for env in envs.envs:
            pids |= _container_pids(env)

        took = own_dockerd.stop()
        print(f"dockerd stopped in {took:.1f} s")
        assert not any(alive(p) for p in pids)  # its containers died with it
        t0 = time.monotonic()
        _, _, terminated, truncated, infos = envs.step(envs.action_space.sample())
        assert truncated.all() and not terminated.any() and infos["_error"].all(), infos.get("error")
        assert time.monotonic() - t0 < STEP_TIMEOUT + 1
        for env, text in zip(envs.envs, infos["error"]):
            assert re.search(rf"VNC connection (to 127\.0\.0\.1:{env._remote.vnc_port} closed|failed)", text), text
        print(f"both reported: {list(infos['error'])}")

        # dockerd comes back 3 s later, while the envs step: the next step re-allocates both remotes,
        # its managers waiting for the engine to answer (one step, no error: nothing gave up meanwhile)
        started: dict = {}

        def start_later() -> None:
            time.sleep(3)
            started.update(took=own_dockerd.start())

        starter = threading.Thread(target=start_later, daemon=True)
        starter.start()
        t0 = time.monotonic()
        tries = 0
        while True:
            tries += 1
            _, rewards, terminated, truncated, infos = envs.step(envs.action_space.sample())
            if "error" not in infos and not truncated.any():
                break
            print(f"step {tries} during the restart: {infos.get('error')}")
            assert time.monotonic() - t0 < 100, "the remotes were not re-allocated"
        starter.join(60)
        after = [env._remote.name for env in envs.envs]
        print(f"dockerd back in {started.get('took', -1):.1f} s; remotes re-allocated {time.monotonic() - t0:.1f} s "
              f"after the restart began ({tries} step(s)): {before} -> {after}")  # fmt: skip
        assert tries == 1, "a manager gave up on the engine instead of waiting for it"
        assert not set(after) & set(before)
        names |= set(after)
        assert all(all(env._manager.health().values()) for env in envs.envs)
        for env in envs.envs:
            pids |= _container_pids(env)
        for _ in range(10):
            _, _, _, truncated, infos = envs.step(envs.action_space.sample())
            assert "error" not in infos and not truncated.any(), infos.get("error")
    finally:
        if starter is not None:
            starter.join(90)
        envs.close()
    left = [c.name for c in managed_containers(docker_client, owner_pid=str(os.getpid()))]
    assert not set(left) & names, left  # the dead ones were removed at re-allocation, the new ones at close
    wait_gone(pids, 30)
    took = time.monotonic() - t_start
    print(f"test body: {took:.1f} s")
    assert took < 120
