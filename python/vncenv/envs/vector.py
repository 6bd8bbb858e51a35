"""VNCVectorEnv: N remotes in one process, as a ``gymnasium.vector.VectorEnv``.

Every remote has its own VNC connection (its reader thread decodes without
the GIL) and rewarder connection.  A step sends all the actions first and
then collects the results, so the remotes work at the same time.

* ``autoreset_mode`` is NEXT_STEP: the step after an episode ends resets that
  index and returns its first observation (reward 0, not done).
* Infos are a dict of arrays, each with its ``_key`` mask.
* A remote that dies gives ``truncated=True`` and ``info["error"]`` for its
  index only; the next step resets it, which replaces the remote.  The batch
  never fails as a whole.
* ``send(actions, env_ids)`` / ``recv()`` step a subset asynchronously
  (EnvPool style).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from ..error import UsageError
from ..spaces import VNCEventSpace
from .vnc_env import VNCEnv

__all__ = ["VNCVectorEnv"]


class VNCVectorEnv(gymnasium.vector.VectorEnv):
    """``num_envs`` copies of :class:`VNCEnv` stepped together.

    :param env_id: the runtime env id (the registered ids pass it).
    :param num_envs: how many remotes.
    :param remotes: ``num_envs`` by default (local); or a ``"docker://N"`` /
        ``"vnc://..."`` list with one remote per env.
    :param kwargs: passed to each :class:`VNCEnv` (mode, fps, scale, ...).
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": ["rgb_array"]}

    def __init__(self, env_id: str, num_envs: int = 1, *, remotes: Any = None, **kwargs: Any) -> None:
        if num_envs < 1:
            raise UsageError(f"num_envs must be at least 1, not {num_envs}")
        specs = _split_remotes(remotes, num_envs)
        self.envs = [VNCEnv(env_id, remotes=spec, **kwargs) for spec in specs]
        self.num_envs = num_envs
        self.single_observation_space = self.envs[0].observation_space
        self.single_action_space = self.envs[0].action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.render_mode = kwargs.get("render_mode")
        self._needs_reset = np.zeros(num_envs, dtype=bool)
        self._sent: list[int] = []

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None):
        seeds = _seeds(seed, self.num_envs)
        obs = np.empty((self.num_envs, *self.single_observation_space.shape), np.uint8)
        infos = []
        for i, env in enumerate(self.envs):
            o, info = env.reset(seed=seeds[i], options=options)
            obs[i] = o
            infos.append(info)
        self._needs_reset[:] = False
        return obs, batch_infos(infos)

    def step(self, actions: Any):
        self.send(actions)
        return self.recv()

    def send(self, actions: Any, env_ids: Sequence[int] | None = None) -> None:
        """Start a step of ``env_ids`` (default all) with ``actions`` (one each)."""
        if self._sent:
            raise UsageError("recv() the previous send() first")
        ids = list(range(self.num_envs)) if env_ids is None else [int(i) for i in env_ids]
        if not isinstance(self.single_action_space, VNCEventSpace):
            actions = np.asarray(actions)  # lists of VNC events stay lists, one per env
        if len(actions) != len(ids):
            raise UsageError(f"{len(actions)} actions for {len(ids)} envs")
        for i, action in zip(ids, actions):
            if not self._needs_reset[i]:
                self.envs[i].send_action(action)
        self._sent = ids

    def recv(self):
        """Finish the step started by :meth:`send`; arrays cover the envs sent, in order."""
        ids, self._sent = self._sent, []
        if not ids:
            raise UsageError("send() first")
        n = len(ids)
        obs = np.empty((n, *self.single_observation_space.shape), np.uint8)
        rewards = np.zeros(n, np.float64)
        terminated = np.zeros(n, bool)
        truncated = np.zeros(n, bool)
        infos: list[dict[str, Any]] = []
        realtime = [i for i in ids if not self._needs_reset[i] and self.envs[i].mode == "realtime"]
        if realtime:  # one shared tick for the batch
            lost = max(self.envs[i].wait_tick() for i in realtime)
        for k, i in enumerate(ids):
            env = self.envs[i]
            if self._needs_reset[i]:
                try:
                    o, info = env.reset()
                    obs[k] = o
                    r, te, tr = 0.0, False, False
                except Exception as exc:  # a remote that cannot come back: report, retry next step
                    if env._last_obs is not None:
                        obs[k] = env._last_obs
                    else:
                        obs[k] = 0
                    r, te, tr, info = 0.0, False, True, {"error": str(exc)}
            else:
                _, r, te, tr, info = env.receive_step(wait_tick=False, out=obs[k])  # fills obs[k]
                if env.mode == "realtime":
                    info["throttle.frames_lost"] = lost
            self._needs_reset[i] = te or tr
            rewards[k], terminated[k], truncated[k] = r, te, tr
            infos.append(info)
        return obs, rewards, terminated, truncated, batch_infos(infos)

    def render(self):
        return tuple(env.render() for env in self.envs)

    def close_extras(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()


def _split_remotes(remotes: Any, n: int) -> list[Any]:
    """One remote spec per env."""
    if remotes is None or remotes == n or remotes == f"local://{n}":
        return [1] * n
    if isinstance(remotes, str) and remotes == f"docker://{n}":
        return ["docker://1"] * n
    if isinstance(remotes, str) and remotes.startswith("vnc://"):
        from ..remotes.manual import parse_remotes

        listed = parse_remotes(remotes)
        if len(listed) != n:
            raise UsageError(f"{len(listed)} remotes listed for {n} envs")
        return [f"vnc://{r.host}:{r.vnc_port}+{r.rewarder_port}" + (f"?password={r.password}" if r.password else "")
                for r in listed]  # fmt: skip
    raise UsageError(f"remotes={remotes!r} does not give {n} remotes")


def _seeds(seed: int | Sequence[int | None] | None, n: int) -> list[int | None]:
    if seed is None:
        return [None] * n
    if isinstance(seed, int):
        return [seed + i for i in range(n)]
    seeds = list(seed)
    if len(seeds) != n:
        raise UsageError(f"{len(seeds)} seeds for {n} envs")
    return seeds


def batch_infos(infos: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per-env infos as one dict of arrays with ``_key`` masks (Gymnasium's layout).

    Numbers give arrays of their type (zeros where absent), arrays a stacked
    array, dicts a nested batch, anything else an object array (None where absent).
    """
    n = len(infos)
    present: dict[str, list[int]] = {}
    for k, info in enumerate(infos):
        for key in info:
            present.setdefault(key, []).append(k)
    out: dict[str, Any] = {}
    for key, ks in present.items():
        first = infos[ks[0]][key]
        everyone = len(ks) == n
        if isinstance(first, dict):
            array: Any = batch_infos([infos[k].get(key, {}) for k in range(n)])
        elif type(first) in (int, float, bool) or isinstance(first, np.number):
            if everyone:
                array = np.array([info[key] for info in infos], dtype=type(first))
            else:
                array = np.zeros(n, dtype=type(first))
                array[ks] = [infos[k][key] for k in ks]
        elif isinstance(first, np.ndarray):
            array = np.zeros((n, *first.shape), dtype=first.dtype)
            for k in ks:
                array[k] = infos[k][key]
        else:
            array = np.empty(n, dtype=object)  # None where absent
            for k in ks:
                array[k] = infos[k][key]
        if everyone:
            mask = np.ones(n, dtype=np.bool_)
        else:
            mask = np.zeros(n, dtype=np.bool_)
            mask[ks] = True
        out[key], out[f"_{key}"] = array, mask
    return out
