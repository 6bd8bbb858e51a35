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
the next ``reset`` replaces (or reconnects) it.  Dead is: the VNC connection
closed, the rewarder connection lost at any moment of the episode (even if
the client got it back: the rewards of the gap are lost), no reward for a
sync action within ``step_timeout``, or (realtime) no new frame within
``step_timeout``.  A remote that cannot be replaced (``vnc://``, or
``replace_on_crash=False``) is reconnected to, and a rewarder that still
holds our dead connection (it has not noticed: a network cut leaves no trace
on its side) is asked again until ``start_timeout``.
"""

from __future__ import annotations

import os
import time
from collections import deque
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from ..error import ConnectionClosed, Error, Timeout, UsageError
from ..remotes import RemoteManager, build
from ..rewarder import RewarderClient
from ..runtimes.gym_core.keymap import keymap_for, keys_for
from ..spaces import PointerEvent, VNCEventSpace
from ..vnc.keysyms import key_name
from ..runtimes.metadata import Metadata, decode_strip, strip_height
from ..vnc.session import VNCSession
from .registration import frame_size

__all__ = ["VNCEnv", "MODES", "ACTION_SPACES"]

MODES = ("sync", "realtime")
ACTION_SPACES = ("game", "vnc")
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

    Every option ``gymnasium.make("vncenv/...", **options)`` takes is here
    (Universe's ``configure()``, minus what no longer makes sense):

    :param env_id: the runtime's env id, e.g. ``"ALE/Pong-v5"`` (the
        registered ``vncenv/...`` ids pass it).
    :param remotes: where the remote comes from: ``1`` (a local process,
        default), ``"docker://1"``, or ``"vnc://HOST:PORT+RPORT?password=PW"``.
    :param mode: ``"sync"`` (lockstep with the runtime, default) or
        ``"realtime"`` (a fixed schedule at ``fps``).
    :param fps: frames per second of the remote and of realtime steps.
    :param scale: the remote's upscaling of the frames (local/docker remotes).
    :param vnc_kwargs: options for :class:`~vncenv.vnc.session.VNCSession`:
        ``encoding``, ``quality_level``, ``compress_level``,
        ``fine_quality_level``, ``subsample_level``.
    :param start_timeout: seconds to wait for a remote to be ready.
    :param step_timeout: seconds a step may wait for its frame and reward.
    :param client_id: a name for this agent (labels Docker remotes for reuse).
    :param replace_on_crash: replace a dead remote on the next reset
        (False: reconnect to the same one).
    :param observer: watch only: connect as a rewarder observer and a shared
        VNC client, send no action and no reset; steps follow ``fps``
        whatever ``mode`` says (the remote must be running on its own, i.e.
        in realtime mode).
    :param ignore_clock_skew: report lags without correcting for the
        remote's clock skew (measured by rewarder pings).
    :param disable_action_probes: do not time actions (``lags.action``).
    :param action_space: ``"game"`` (the game's own Discrete set, default)
        or ``"vnc"`` (lists of :class:`~vncenv.spaces.KeyEvent` and
        :class:`~vncenv.spaces.PointerEvent`, see :class:`~vncenv.spaces.VNCEventSpace`).
    :param record_dir: record every episode there (FBS stream, rewards and
        actions as JSONL; see :class:`~vncenv.wrappers.recording.EpisodeRecorder`).
    :param render_mode: ``"rgb_array"``, ``"human"`` (a window on ``$DISPLAY``) or None.

    ``info`` carries ``stats.vnc.updates.{n,pixels,rectangles,bytes}``,
    ``lags.{observation,action,reward,rewarder_message}`` as ``(lower,
    upper)`` seconds, ``rewarder.clock_skew``, ``fps`` (steps a second),
    ``frame_id`` (from the frame's metadata pixels) and, on failure, ``error``.
    """

    metadata = {"render_modes": ["rgb_array", "human"], "render_fps": 60}

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
        observer: bool = False,
        ignore_clock_skew: bool = False,
        disable_action_probes: bool = False,
        action_space: str = "game",
        record_dir: str | os.PathLike[str] | None = None,
        render_mode: str | None = None,
    ) -> None:
        if mode not in MODES:
            raise UsageError(f"mode must be one of {MODES}, not {mode!r}")
        if render_mode not in (None, "rgb_array", "human"):
            raise UsageError(f"render_mode must be None, 'rgb_array' or 'human', not {render_mode!r}")
        if action_space not in ACTION_SPACES:
            raise UsageError(f"action_space must be one of {ACTION_SPACES}, not {action_space!r}")
        if observer and mode == "sync" and not str(remotes).startswith("vnc://"):
            raise UsageError("an observer cannot drive a sync-mode remote: use mode='realtime'")
        if fps <= 0:
            raise UsageError(f"fps must be positive, not {fps!r}")
        self.env_id, self.mode, self.fps, self.scale = env_id, mode, float(fps), int(scale)
        self.remotes_spec = remotes
        self.vnc_kwargs = {"encoding": "zrle", **(vnc_kwargs or {})}
        self.start_timeout, self.step_timeout = start_timeout, step_timeout
        self.client_id, self.replace_on_crash, self.render_mode = client_id, replace_on_crash, render_mode
        self.observer, self.ignore_clock_skew = bool(observer), bool(ignore_clock_skew)
        self.action_probes = not disable_action_probes
        self.record_dir = record_dir
        width, height = frame_size(env_id)
        self.picture_shape = (height * self.scale, width * self.scale, 3)
        self.observation_space = spaces.Box(0, 255, self.picture_shape, np.uint8)
        game_space, self._meanings = game_action_space(env_id)
        self.action_space_kind = action_space
        if action_space == "vnc":
            self.action_space = VNCEventSpace(self.picture_shape[1], self.picture_shape[0])
        else:
            self.action_space = game_space
        self._keymap = keymap_for(env_id, self._meanings)
        self.metadata = {**self.metadata, "render_fps": self.fps}
        self._manager: RemoteManager | None = None
        self._remote: Any = None
        self._vnc: VNCSession | None = None
        self._rewarder: RewarderClient | None = None
        self._last_obs: np.ndarray | None = None
        self._held: frozenset[str] = frozenset()
        self._held_keysyms: set[int] = set()
        self._next_tick = 0.0
        self._broken: str | None = None
        self._rewarder_connections = 0  # the rewarder client's connection count when the episode began
        self._updates_seen = -1  # realtime: the VNC update count at the last step, and when it last changed
        self._updates_changed = 0.0
        self._pending_action: Any = 0
        self._pending_error: str | None = None
        self._reward_count = 0
        self._sent_ms = 0
        self._probe: tuple[int, int] | None = None  # (expected action, local ms the keys changed)
        self._remote_action: int | None = None
        self._step_times: deque[float] = deque(maxlen=64)
        self._recorder: Any = None
        self._window: Any = None
        self._strip = np.empty((strip_height(self.picture_shape[1]), self.picture_shape[1], 3), np.uint8)

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
        reconnecting = False  # to the remote we were connected to (True) or to a fresh one
        if self._manager is None:
            options: dict[str, Any] = {"start_timeout": self.start_timeout}
            if not (isinstance(self.remotes_spec, str) and self.remotes_spec.startswith("vnc://")):
                options.update(fps=self.fps, mode=self.mode, scale=self.scale)
                if self.client_id is not None and str(self.remotes_spec).startswith("docker://"):
                    options["client_id"] = self.client_id
            self._manager = build(self.remotes_spec, env_id=self.env_id, **options)
            self._remote = None
        if self._remote is None:  # the first reset (or one whose remote never became ready)
            self._remote = self._manager.ready(timeout=self.start_timeout)[0]
        elif self._broken is not None or self._dead():
            self._disconnect()
            if self.replace_on_crash:  # a manual manager gives the same remote back once it answers
                fresh = self._manager.replace(self._remote, timeout=self.start_timeout)
                reconnecting, self._remote = fresh == self._remote, fresh
            else:
                reconnecting = True
        r = self._remote
        if self._vnc is None or self._vnc.closed:
            self._vnc = VNCSession.connect(r.host, r.vnc_port, password=r.password, timeout=self.start_timeout,
                                           **self.vnc_kwargs)  # fmt: skip
        if self._rewarder is None:
            self._rewarder = self._connect_rewarder(r, reconnecting)
        self._broken = None

    def _dead(self) -> bool:
        """A connection ended between episodes (or was never made)."""
        vnc, rewarder = self._vnc, self._rewarder
        return vnc is None or vnc.closed or rewarder is None or rewarder.state in ("failed", "closed")

    def _connect_rewarder(self, r: Any, reconnecting: bool) -> RewarderClient:
        """A rewarder connection; when ``reconnecting``, a refusal is retried until ``start_timeout``.

        The rewarder admits one active client.  After a network cut it may
        still hold our previous connection (nothing told it that it died)
        until its keepalive or the reset of our closed socket drops it, and
        it refuses us meanwhile (``ConnectionClosed``, not an authentication error).
        """
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                return RewarderClient.connect(r.host, r.rewarder_port, password=r.password, observer=self.observer,
                                              start_timeout=max(1.0, deadline - time.monotonic()))  # fmt: skip
            except ConnectionClosed:
                if not reconnecting or time.monotonic() + 0.5 > deadline:
                    raise
                time.sleep(0.5)

    def _connection_problem(self) -> Error | None:
        """Why the remote's connections cannot carry this episode on, or None.

        The rewarder counts as lost once its connection dropped in this
        episode, even if the client reconnected: rewards of the gap are gone.
        """
        vnc, rewarder = self._vnc, self._rewarder
        assert vnc is not None and rewarder is not None
        if vnc.error is not None:
            kind = Timeout if isinstance(vnc.error, Timeout) else ConnectionClosed
            return kind(f"the VNC connection failed: {vnc.error}")
        if vnc.closed:
            return ConnectionClosed(f"the VNC connection to {vnc.name} closed", clean=True)
        state = rewarder.state
        if state != "connected" or rewarder.connections != self._rewarder_connections:
            if rewarder.error is not None:
                return rewarder.error
            return ConnectionClosed(f"the rewarder connection to {rewarder.uri} was lost during the episode "
                                    f"(now {state}); rewards sent meanwhile are lost")  # fmt: skip
        return None

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

    def _check_screen(self) -> None:
        assert self._vnc is not None
        h, w, _ = self.picture_shape
        expected = (w, h + strip_height(w))
        if (self._vnc.width, self._vnc.height) != expected:
            raise Error(f"the remote shows {self._vnc.width}x{self._vnc.height}, expected {expected[0]}x{expected[1]}")

    def _wait_frame(self, done: Any, what: str, out: np.ndarray | None = None) -> tuple[np.ndarray, Metadata]:
        """The first complete frame whose metadata satisfies ``done(meta)``.

        Its picture is copied once, into ``out`` (a new array by default)."""
        assert self._vnc is not None
        self._check_screen()
        out = np.empty(self.picture_shape, np.uint8) if out is None else out
        found: list[Metadata | None] = [None]

        def accept(strip: np.ndarray) -> bool:
            found[0] = meta = decode_strip(strip)
            return meta is not None and done(meta)

        deadline = time.monotonic() + self.step_timeout
        while True:
            seen, copied = self._vnc.snapshot_into(out, bottom=self._strip, accept=accept)
            if copied:
                assert found[0] is not None
                self._last_obs = out
                return out, found[0]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Error(f"no frame {what} within {self.step_timeout} s (last metadata {found[0]})")
            try:
                self._vnc.wait_for_update(timeout=min(remaining, 0.5), after=seen)
            except Error as exc:
                if self._vnc.closed:  # say which connection, as every step failure does
                    raise (self._connection_problem() or exc) from None
                del exc

    def _latest_frame(self, out: np.ndarray | None = None) -> tuple[np.ndarray, Metadata | None]:
        """The last complete frame, whatever its metadata (realtime)."""
        assert self._vnc is not None
        self._check_screen()
        out = np.empty(self.picture_shape, np.uint8) if out is None else out
        self._vnc.snapshot_into(out, bottom=self._strip)
        self._last_obs = out
        return out, decode_strip(self._strip)

    def _skew(self) -> tuple[float, float]:
        """Bounds on (remote clock - local clock), s; (0, 0) if unknown or ignored."""
        skew = self._rewarder.clock_skew if self._rewarder is not None else None
        return (0.0, 0.0) if skew is None or self.ignore_clock_skew else skew

    def _lag_since_remote(self, remote_ms: int, now_ms: int) -> tuple[float, float]:
        """(lower, upper) s from a remote-clock instant to the local ``now_ms``."""
        lag = ((now_ms - remote_ms + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)  # ms, wrap-safe
        lo, hi = self._skew()
        return max(0.0, lag / 1000.0 + lo), max(0.0, lag / 1000.0 + hi)

    def _lag_to_remote(self, local_ms: int, remote_ms: int) -> tuple[float, float]:
        """(lower, upper) s from a local instant to a remote-clock one."""
        lag = ((remote_ms - local_ms + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)
        lo, hi = self._skew()
        return max(0.0, lag / 1000.0 - hi), max(0.0, lag / 1000.0 - lo)

    def _info(self, meta: Metadata | None, rewarder_info: dict[str, Any] | None = None) -> dict[str, Any]:
        assert self._vnc is not None
        stats = self._vnc.stats()
        now_ms = int(time.time() * 1000)
        info: dict[str, Any] = {
            "stats.vnc.updates.n": stats.updates,
            "stats.vnc.updates.rectangles": stats.rects,
            "stats.vnc.updates.bytes": stats.bytes,
            "stats.vnc.updates.pixels": stats.pixels,
        }
        if meta is not None:
            info["frame_id"] = meta.frame_id
            info["lags.observation"] = self._lag_since_remote(meta.time_ms, now_ms)
        if self._rewarder is not None:
            info["rewarder.clock_skew"] = self._rewarder.clock_skew
        if len(self._step_times) > 1:
            span = self._step_times[-1] - self._step_times[0]
            info["fps"] = (len(self._step_times) - 1) / span if span > 0 else 0.0
        if rewarder_info:
            info["episode_id"] = rewarder_info.get("episode_id")
            lags = rewarder_info.get("lags") or {}
            if lags.get("rewarder_message") is not None:
                msg_lag = lags["rewarder_message"]
                info["lags.rewarder_message"] = msg_lag if not self.ignore_clock_skew else (msg_lag[0], msg_lag[0])
            env_info = rewarder_info.get("env_info") or {}
            if rewarder_info.get("reward_count") and isinstance(env_info.get("time_ms"), int):
                info["lags.reward"] = self._lag_since_remote(env_info["time_ms"] & 0xFFFFFFFF, now_ms)
            if isinstance(env_info.get("action"), int):
                info["remote_action"] = env_info["action"]  # what the runtime last applied
            self._time_action(env_info, info)
            if rewarder_info.get("text"):
                info["text"] = rewarder_info["text"]
        return info

    def _time_action(self, env_info: dict[str, Any], info: dict[str, Any]) -> None:
        """``lags.action``: from our send (sync) or key change (realtime) to the runtime applying it."""
        if not self.action_probes:
            return
        received = env_info.get("action_received_ms")
        if self.mode == "sync" and isinstance(received, int):
            info["lags.action"] = self._lag_to_remote(self._sent_ms, received & 0xFFFFFFFF)
            return
        action, applied_ms = env_info.get("action"), env_info.get("time_ms")
        if isinstance(action, int) and isinstance(applied_ms, int):
            if self._probe is not None and action == self._probe[0]:
                info["lags.action"] = self._lag_to_remote(self._probe[1], applied_ms & 0xFFFFFFFF)
                self._probe = None
            self._remote_action = action
        if self._probe is not None and int(time.time() * 1000) - self._probe[1] > 1000 * self.step_timeout:
            self._probe = None  # never applied (another agent's keys?): stop waiting

    # -- Gymnasium API -----------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        try:
            self._connect()
            return self._begin_episode(seed)
        except Error as exc:  # the remote failed while resetting: the next reset replaces or reconnects
            if self._remote is not None:
                self._broken = str(exc)
            raise

    def _begin_episode(self, seed: int | None):
        assert self._rewarder is not None and self._vnc is not None
        asked_ms = int(time.time() * 1000)
        self._release_keys()
        previous = decode_strip(self._vnc.snapshot()[-strip_height(self.picture_shape[1]) :])
        if not self.observer:
            self._rewarder.reset(self.env_id, seed=seed, fps=self.fps, timeout=self.start_timeout)
        rewarder_info = self._rewarder.pop()[2]
        since = (asked_ms + int(self._skew()[0] * 1000)) & 0xFFFFFFFF

        def after_reset(m: Metadata) -> bool:  # drawn after the reset was asked
            newer = previous is None or m.frame_id != previous.frame_id
            return newer and ((m.time_ms - since) & 0xFFFFFFFF) < 1 << 31

        obs, meta = self._wait_frame(after_reset, "after the reset")
        self._rewarder_connections = self._rewarder.connections
        self._updates_seen, self._updates_changed = self._vnc.update_count, time.monotonic()
        self._next_tick = time.monotonic() + 1.0 / self.fps
        self._step_times.clear()
        self._step_times.append(time.monotonic())
        info = self._info(meta, rewarder_info)
        if self.record_dir is not None:
            self._record_begin(seed, info)
        if self.render_mode == "human":
            self.render()
        return obs, info

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
        self._pending_action = action
        self._pending_error = None
        if self._recorder is not None:
            self._recorder.log_action(action)
        if self.observer:
            return
        try:
            problem = self._connection_problem()  # do not block on a connection that is gone
            if problem is not None:
                raise problem
            if self.action_space_kind == "vnc":
                self._send_events(action)
            elif self.mode == "sync":
                self._send_sync({"action": int(action)})
            else:
                self._press(keys_for(self.env_id, self._meanings, int(action)))
        except Error as exc:
            # a send that failed on a dead connection reports it as the connection's failure
            self._pending_error = str(self._connection_problem() or exc)

    def _send_sync(self, body: dict[str, Any]) -> None:
        assert self._rewarder is not None
        self._reward_count = self._rewarder.received("v0.env.reward")
        self._sent_ms = int(time.time() * 1000)
        self._rewarder.send_action(body, timeout=self.step_timeout)

    def _send_events(self, events: Any) -> None:
        """A list of VNC events: pointer events over VNC; keys over VNC (realtime)
        or as the held set in the sync step's ``v0.agent.action``."""
        assert self._vnc is not None
        before = frozenset(self._held_keysyms)
        for event in events:
            if isinstance(event, PointerEvent):
                self._vnc.pointer_event(event.x, event.y, event.buttons)
                continue
            if self.mode == "realtime":
                self._vnc.key_event(event.key, event.down)
            (self._held_keysyms.add if event.down else self._held_keysyms.discard)(event.key)
        names = {_key_name(k) for k in self._held_keysyms}
        if self.mode == "sync":
            self._send_sync({"keys": sorted(names)})
        elif frozenset(self._held_keysyms) != before:
            self._start_probe(self._keymap.action(names))

    def _start_probe(self, expected: int) -> None:
        if self.action_probes and expected != self._remote_action:
            self._probe = (expected, int(time.time() * 1000))

    def receive_step(self, wait_tick: bool = True, out: np.ndarray | None = None):
        """Finish the step begun by :meth:`send_action`; a failure ends the episode.

        :param out: where to put the observation (a vector env's batch row);
            a new array by default.
        """
        try:
            if self._pending_error is not None:
                raise Error(self._pending_error)
            if self.mode == "sync" and not self.observer:
                result = self._step_sync(out)
            else:
                result = self._step_realtime(wait_tick, out)
        except Error as exc:
            self._broken = str(exc)
            obs = np.empty(self.picture_shape, np.uint8) if out is None else out
            if self._last_obs is not None and self._last_obs is not obs:
                np.copyto(obs, self._last_obs)
            elif self._last_obs is None:
                obs[...] = 0
            self._last_obs = obs
            result = obs, 0.0, False, True, {"error": str(exc)}
        self._step_times.append(time.monotonic())
        if self._recorder is not None:
            self._recorder.log_step(*result[1:])
        if self.render_mode == "human":
            self.render()
        return result

    def _step_sync(self, out: np.ndarray | None = None):
        assert self._rewarder is not None
        deadline = time.monotonic() + self.step_timeout
        while True:  # in slices, so that a connection that dies meanwhile is reported at once
            try:
                left = max(0.0, deadline - time.monotonic())
                self._rewarder.wait_received("v0.env.reward", self._reward_count, timeout=min(0.25, left))
                break
            except Timeout:
                problem = self._connection_problem()
                if problem is not None:
                    raise problem from None
                if time.monotonic() >= deadline:
                    raise Timeout(f"rewarder {self._rewarder.uri}: no reward for the action within "
                                  f"step_timeout={self.step_timeout} s (the remote does not answer)") from None
        reward, done, info = self._rewarder.pop()
        env_info = info.get("env_info") or {}
        if "frame_id" not in env_info:
            raise Error(f"the remote's reward message carries no frame id ({info.get('error') or env_info})")
        frame_id = env_info["frame_id"]
        newer = lambda m: ((m.frame_id - frame_id) & 0xFFFFFFFF) < 1 << 31  # noqa: E731
        obs, meta = self._wait_frame(newer, f"{frame_id}", out)
        terminated = bool(env_info.get("terminated", done))
        truncated = bool(env_info.get("truncated", False)) and not terminated
        return obs, float(reward), terminated, truncated, self._info(meta, info)

    def _press(self, keys: frozenset[str]) -> None:
        assert self._vnc is not None
        if keys == self._held:
            return
        for key in self._held - keys:
            self._vnc.key_event(key, False)
        for key in keys - self._held:
            self._vnc.key_event(key, True)
        self._held = keys
        self._start_probe(self._keymap.action(set(keys)))

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

    def _step_realtime(self, wait_tick: bool = True, out: np.ndarray | None = None):
        assert self._rewarder is not None and self._vnc is not None
        lost = self.wait_tick() if wait_tick else 0
        problem = self._connection_problem()
        if problem is not None:
            raise problem
        obs, meta = self._latest_frame(out)
        # The runtime draws every tick (the metadata strip changes), so frames stop only when the remote does.
        now, updates = time.monotonic(), self._vnc.update_count
        if updates != self._updates_seen:
            self._updates_seen, self._updates_changed = updates, now
        elif now - self._updates_changed > max(self.step_timeout, 3.0 / self.fps):
            raise Timeout(f"no new frame from {self._vnc.name} for {now - self._updates_changed:.1f} s "
                          f"(step_timeout={self.step_timeout} s): the remote stopped sending")  # fmt: skip
        reward, done, info = self._rewarder.pop()
        if info.get("error"):
            raise Error(str(info["error"]))
        env_info = info.get("env_info") or {}
        step_info = self._info(meta, info)
        step_info["throttle.frames_lost"] = lost
        terminated = bool(done and env_info.get("terminated", True))
        truncated = bool(done and not terminated)
        return obs, float(reward), terminated, truncated, step_info

    def _release_keys(self) -> None:
        if self._vnc is not None and not self._vnc.closed:
            for key in self._held:
                self._vnc.key_event(key, False)
            for sym in self._held_keysyms:
                self._vnc.key_event(sym, False)
        self._held = frozenset()
        self._held_keysyms.clear()
        self._probe = None

    # -- recording and rendering -----------------------------------------------

    def _record_begin(self, seed: int | None, info: dict[str, Any]) -> None:
        from ..wrappers.recording import EpisodeRecorder

        if self._recorder is None:
            self._recorder = EpisodeRecorder(self.record_dir)
        else:
            self._recorder.end_episode()
        meta = {"env_id": self.env_id, "seed": seed, "mode": self.mode, "fps": self.fps,
                "episode_id": info.get("episode_id"), "frame_id": info.get("frame_id")}  # fmt: skip
        self._recorder.begin_episode(self._vnc, meta)

    def render(self):
        if self.render_mode == "rgb_array":
            return None if self._last_obs is None else self._last_obs.copy()
        if self.render_mode == "human" and self._last_obs is not None:
            if self._window is None:
                from .human import HumanWindow

                self._window = HumanWindow(f"vncenv: {self.env_id}", self._last_obs.shape)
            self._window.show(self._last_obs)
        return None

    def close(self) -> None:
        try:
            self._release_keys()
        except Error:
            pass
        if self._recorder is not None:
            self._recorder.close()
            self._recorder = None
        if self._window is not None:
            self._window.close()
            self._window = None
        self._disconnect()
        if self._manager is not None:
            self._manager.close()
            self._manager = None
        super().close()


def _key_name(sym: int) -> str:
    """The X keysym name the runtime's key map uses ("Left", "space", "a")."""
    try:
        return key_name(sym)
    except UsageError:
        return f"0x{sym:x}"
