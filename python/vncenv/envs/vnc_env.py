"""VNCEnv: one remote as a ``gymnasium.Env``.

The env connects lazily, on the first :meth:`VNCEnv.reset` (Gymnasium builds
throw-away envs to read their spaces).  Observations are owned ``(H, W, 3)``
uint8 RGB copies of the remote's picture, the metadata strip cut off.

Modes (the remote's, see :mod:`vncenv.runtimes.gym_core.runtime`):

* ``sync`` (default): ``step`` sends the action over the rewarder
  (``v0.agent.action``), waits for its reward message, then for the VNC frame
  whose metadata id that message names.  One step = one game step, as fast
  as the machine allows, reproducibly.
* ``realtime``: ``step`` holds the action's keys through VNC, waits for the
  next tick of a fixed ``fps`` schedule (Universe's Throttle), and returns
  the latest complete frame and the rewards summed since the last step.
  Ticks missed because the agent was late are counted in
  ``info["throttle.frames_lost"]``.

A remote that dies ends the episode: ``truncated=True`` and ``info["error"]``;
the next ``reset`` replaces (or reconnects) it.
"""

from __future__ import annotations

import time
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from ..error import Error, UsageError
from ..remotes import RemoteManager, build
from ..rewarder import RewarderClient
from ..runtimes.gym_core.keymap import keys_for
from ..runtimes.metadata import Metadata, decode_strip, strip_height
from ..vnc.session import VNCSession
from .registration import frame_size

__all__ = ["VNCEnv", "MODES"]

MODES = ("sync", "realtime")
_GAME_SPACES: dict[str, tuple[spaces.Space, list[str] | None]] = {}


def game_action_space(env_id: str) -> tuple[spaces.Space, list[str] | None]:
    """The game's own action space and ALE action meanings (cached per id)."""
    if env_id not in _GAME_SPACES:
        from ..runtimes.gym_core.runtime import make_env

        env = make_env(env_id)
        try:
            getter = getattr(env.unwrapped, "get_action_meanings", None)
            _GAME_SPACES[env_id] = (env.action_space, list(getter()) if getter else None)
        finally:
            env.close()
    return _GAME_SPACES[env_id]


class VNCEnv(gymnasium.Env):
    """A game served over VNC (see the module docstring).

    :param env_id: the runtime's env id, e.g. ``"ALE/Pong-v5"`` (the
        registered ``vncenv/...`` ids pass it).
    :param remotes: where the remote comes from: ``1`` (a local process,
        default), ``"docker://1"``, or ``"vnc://HOST:PORT+RPORT?password=PW"``.
    :param mode: ``"sync"`` or ``"realtime"``.
    :param fps: frames per second of the remote and of realtime steps.
    :param scale: the remote's upscaling of the frames (local/docker remotes).
    :param vnc_kwargs: options for :class:`~vncenv.vnc.session.VNCSession`:
        ``encoding``, ``quality_level``, ``compress_level``,
        ``fine_quality_level``, ``subsample_level``.
    :param start_timeout: seconds to wait for a remote to be ready.
    :param step_timeout: seconds a step may wait for its frame and reward.
    :param client_id: a name for this agent (labels Docker remotes for reuse).
    :param replace_on_crash: replace a dead remote on the next reset.
    :param render_mode: ``"rgb_array"`` or None.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 60}

    def __init__(
        self,
        env_id: str,
        *,
        remotes: int | str = 1,
        mode: str = "sync",
        fps: float = 60.0,
        scale: int = 1,
        vnc_kwargs: dict[str, Any] | None = None,
        start_timeout: float = 60.0,
        step_timeout: float = 10.0,
        client_id: str | None = None,
        replace_on_crash: bool = True,
        render_mode: str | None = None,
    ) -> None:
        if mode not in MODES:
            raise UsageError(f"mode must be one of {MODES}, not {mode!r}")
        if render_mode not in (None, "rgb_array"):
            raise UsageError(f"render_mode must be None or 'rgb_array', not {render_mode!r}")
        self.env_id, self.mode, self.fps, self.scale = env_id, mode, float(fps), int(scale)
        self.remotes_spec = remotes
        self.vnc_kwargs = {"encoding": "zrle", **(vnc_kwargs or {})}
        self.start_timeout, self.step_timeout = start_timeout, step_timeout
        self.client_id, self.replace_on_crash, self.render_mode = client_id, replace_on_crash, render_mode
        width, height = frame_size(env_id)
        self.picture_shape = (height * self.scale, width * self.scale, 3)
        self.observation_space = spaces.Box(0, 255, self.picture_shape, np.uint8)
        self.action_space, self._meanings = game_action_space(env_id)
        self.metadata = {**self.metadata, "render_fps": self.fps}
        self._manager: RemoteManager | None = None
        self._remote: Any = None
        self._vnc: VNCSession | None = None
        self._rewarder: RewarderClient | None = None
        self._last_obs: np.ndarray | None = None
        self._held: frozenset[str] = frozenset()
        self._next_tick = 0.0
        self._broken: str | None = None
        self._pending_action = 0
        self._pending_error: str | None = None
        self._reward_count = 0

    @property
    def vnc(self) -> VNCSession | None:
        """The live VNC session (None before the first reset or after close)."""
        return self._vnc

    @property
    def rewarder(self) -> RewarderClient | None:
        """The live rewarder connection (None before the first reset or after close)."""
        return self._rewarder

    # -- connection ------------------------------------------------------------

    def _connect(self) -> None:
        if self._manager is None:
            options: dict[str, Any] = {"start_timeout": self.start_timeout}
            if not (isinstance(self.remotes_spec, str) and self.remotes_spec.startswith("vnc://")):
                options.update(fps=self.fps, mode=self.mode, scale=self.scale)
                if self.client_id is not None and str(self.remotes_spec).startswith("docker://"):
                    options["client_id"] = self.client_id
            self._manager = build(self.remotes_spec, env_id=self.env_id, **options)
            self._remote = self._manager.ready(timeout=self.start_timeout)[0]
        elif self._broken is not None and self.replace_on_crash:
            self._disconnect()
            self._remote = self._manager.replace(self._remote, timeout=self.start_timeout)
        r = self._remote
        if self._vnc is None or self._vnc.closed:
            self._vnc = VNCSession.connect(r.host, r.vnc_port, password=r.password, timeout=self.start_timeout,
                                           **self.vnc_kwargs)  # fmt: skip
        if self._rewarder is None:
            self._rewarder = RewarderClient.connect(r.host, r.rewarder_port, password=r.password,
                                                    start_timeout=self.start_timeout)  # fmt: skip
        self._broken = None

    def _disconnect(self) -> None:
        for name in ("_vnc", "_rewarder"):
            conn = getattr(self, name)
            if conn is not None:
                try:
                    conn.close()
                except Error:
                    pass
                setattr(self, name, None)

    # -- frames ----------------------------------------------------------------

    def _wait_frame(self, done: Any, what: str) -> tuple[np.ndarray, Metadata]:
        """The first complete frame whose metadata satisfies ``done(meta)``."""
        assert self._vnc is not None
        deadline = time.monotonic() + self.step_timeout
        while True:
            screen, seen = self._vnc.snapshot_with_count()
            meta = decode_strip(screen) if screen.shape[0] > strip_height(screen.shape[1]) else None
            if meta is not None and done(meta):
                return screen, meta
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Error(f"no frame {what} within {self.step_timeout} s (last metadata {meta})")
            try:
                self._vnc.wait_for_update(timeout=min(remaining, 0.5), after=seen)
            except Error as exc:
                if self._vnc.closed:
                    raise
                del exc

    def _observation(self, screen: np.ndarray) -> np.ndarray:
        h, w, _ = self.picture_shape
        obs = np.ascontiguousarray(screen[:h, :w])
        if obs.shape != self.picture_shape:
            raise Error(f"the remote shows {screen.shape}, expected a picture of {self.picture_shape}")
        self._last_obs = obs
        return obs

    def _info(self, meta: Metadata | None, rewarder_info: dict[str, Any] | None = None) -> dict[str, Any]:
        assert self._vnc is not None
        stats = self._vnc.stats()
        info: dict[str, Any] = {
            "stats.vnc.updates.n": stats.updates,
            "stats.vnc.updates.rectangles": stats.rects,
            "stats.vnc.updates.bytes": stats.bytes,
            "stats.vnc.updates.pixels": stats.pixels,
        }
        if meta is not None:
            info["frame_id"] = meta.frame_id
            now_ms = int(time.time() * 1000) & 0xFFFFFFFF
            lag = ((now_ms - meta.time_ms) & 0xFFFFFFFF) / 1000.0
            skew = self._rewarder.clock_skew if self._rewarder is not None else None
            if skew is not None:  # remote - local clock, as bounds
                info["lags.observation"] = (max(0.0, lag + skew[0]), max(0.0, lag + skew[1]))
            else:
                info["lags.observation"] = (lag, lag)
        if self._rewarder is not None:
            info["rewarder.clock_skew"] = self._rewarder.clock_skew
        if rewarder_info:
            info["episode_id"] = rewarder_info.get("episode_id")
            if rewarder_info.get("lags"):
                info["lags.rewarder_message"] = rewarder_info["lags"]
            if rewarder_info.get("text"):
                info["text"] = rewarder_info["text"]
        return info

    # -- Gymnasium API -----------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._connect()
        assert self._rewarder is not None
        asked_ms = int(time.time() * 1000)
        self._release_keys()
        previous = decode_strip(self._vnc.snapshot()) if self._vnc is not None else None
        self._rewarder.reset(self.env_id, seed=seed, fps=self.fps, timeout=self.start_timeout)
        rewarder_info = self._rewarder.pop()[2]
        lower = (self._rewarder.clock_skew or (0.0, 0.0))[0]
        since = (asked_ms + int(lower * 1000)) & 0xFFFFFFFF

        def after_reset(m: Metadata) -> bool:  # drawn after the reset was asked
            newer = previous is None or m.frame_id != previous.frame_id
            return newer and ((m.time_ms - since) & 0xFFFFFFFF) < 1 << 31

        screen, meta = self._wait_frame(after_reset, "after the reset")
        self._next_tick = time.monotonic() + 1.0 / self.fps
        return self._observation(screen), self._info(meta, rewarder_info)

    def step(self, action: Any):
        self.send_action(action)
        return self.receive_step()

    # The two halves of step(), so a vector env can have every remote work at once.

    def send_action(self, action: Any) -> None:
        """Start a step: send ``action`` (sync) or press its keys (realtime)."""
        if self._rewarder is None or self._vnc is None:
            raise UsageError("call reset() before step()")
        if self._broken is not None:
            raise UsageError(f"the remote failed ({self._broken}); call reset()")
        if not self.action_space.contains(action):
            raise UsageError(f"action {action!r} is not in {self.action_space}")
        self._pending_action = int(action)
        self._pending_error: str | None = None
        try:
            if self.mode == "sync":
                self._reward_count = self._rewarder.stats()["received"].get("v0.env.reward", 0)
                self._rewarder.send_action({"action": self._pending_action}, timeout=self.step_timeout)
            else:
                self._press(keys_for(self.env_id, self._meanings, self._pending_action))
        except Error as exc:
            self._pending_error = str(exc)

    def receive_step(self, wait_tick: bool = True):
        """Finish the step begun by :meth:`send_action`; a failure ends the episode."""
        try:
            if self._pending_error is not None:
                raise Error(self._pending_error)
            if self.mode == "sync":
                return self._step_sync()
            return self._step_realtime(wait_tick)
        except Error as exc:
            self._broken = str(exc)
            obs = self._last_obs if self._last_obs is not None else np.zeros(self.picture_shape, np.uint8)
            return obs.copy(), 0.0, False, True, {"error": str(exc)}

    def _step_sync(self):
        assert self._rewarder is not None
        before = self._reward_count
        self._rewarder.wait_for(
            lambda c: c.stats()["received"].get("v0.env.reward", 0) > before or c.error is not None,
            timeout=self.step_timeout, poll=0.0002,
        )  # fmt: skip
        reward, done, info = self._rewarder.pop()
        env_info = info.get("env_info") or {}
        if "frame_id" not in env_info:
            raise Error(f"the remote's reward message carries no frame id ({info.get('error') or env_info})")
        frame_id = env_info["frame_id"]
        screen, meta = self._wait_frame(lambda m: ((m.frame_id - frame_id) & 0xFFFFFFFF) < 1 << 31, f"{frame_id}")
        terminated = bool(env_info.get("terminated", done))
        truncated = bool(env_info.get("truncated", False)) and not terminated
        return self._observation(screen), float(reward), terminated, truncated, self._info(meta, info)

    def _press(self, keys: frozenset[str]) -> None:
        assert self._vnc is not None
        for key in self._held - keys:
            self._vnc.key_event(key, False)
        for key in keys - self._held:
            self._vnc.key_event(key, True)
        self._held = keys

    def wait_tick(self) -> int:
        """Sleep until the next realtime tick; return how many ticks were missed."""
        now = time.monotonic()
        period = 1.0 / self.fps
        lost = 0
        if self._next_tick > now:
            time.sleep(self._next_tick - now)
        else:
            lost = int((now - self._next_tick) / period)
        self._next_tick = max(self._next_tick + period, time.monotonic() - period)
        return lost

    def _step_realtime(self, wait_tick: bool = True):
        assert self._rewarder is not None and self._vnc is not None
        lost = self.wait_tick() if wait_tick else 0
        if self._vnc.closed or self._vnc.error is not None:
            raise self._vnc.error or Error("the VNC connection closed")
        screen = self._vnc.snapshot()
        reward, done, info = self._rewarder.pop()
        if info.get("error"):
            raise Error(str(info["error"]))
        env_info = info.get("env_info") or {}
        out = self._info(decode_strip(screen), info)
        out["throttle.frames_lost"] = lost
        terminated = bool(done and env_info.get("terminated", True))
        truncated = bool(done and not terminated)
        return self._observation(screen), float(reward), terminated, truncated, out

    def _release_keys(self) -> None:
        if self._vnc is not None and self._held:
            for key in self._held:
                self._vnc.key_event(key, False)
        self._held = frozenset()

    def render(self):
        if self.render_mode == "rgb_array":
            return None if self._last_obs is None else self._last_obs.copy()
        return None

    def close(self) -> None:
        try:
            self._release_keys()
        except Error:
            pass
        self._disconnect()
        if self._manager is not None:
            self._manager.close()
            self._manager = None
        super().close()
