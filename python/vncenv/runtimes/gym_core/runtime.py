"""The gym-core runtime: a Gymnasium env drawn on an X display, with a rewarder.

One thread owns the env and the window (the *game loop*); the rewarder's
callbacks (reset, action) hand requests to it through a queue.

**realtime** mode steps at ``fps``: each tick reads the keys held on the X
display, maps them to an action (:mod:`.keymap`), steps, draws, and publishes
non-zero rewards, ``done``, and a zero reward whenever the action changes
(the action probe: agents time their key presses by it).

**sync** mode steps only when the agent asks, with the rewarder extension
message ``v0.agent.action`` whose body is ``{"action": N}`` (an index into the
env's action space) or ``{"keys": ["Left", "space"]}`` (held keys, mapped as in
realtime).  Each such message makes exactly one ``env.step``; the frame is
drawn, then one ``v0.env.reward`` follows with ``info["frame_id"]`` equal to
the id painted in the frame's metadata pixels, so a client can wait for that
very frame.

Every reward message's ``info`` has ``frame_id``, ``time_ms`` (the frame's
draw time, ms since the epoch, remote clock), ``action``, ``terminated`` and
``truncated``; in sync mode also ``action_received_ms``.  Nothing moves between actions, which makes runs reproducible and
lets them go faster than real time.

Every drawn frame carries metadata pixels (:mod:`vncenv.runtimes.metadata`)
under the picture: the frame id and the draw time.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...error import UsageError
from ..metadata import encode_strip, strip_height
from .keymap import KeyMap, keymap_for

__all__ = ["GymCoreRuntime", "Geometry", "make_env", "MODES"]

logger = logging.getLogger(__name__)
MODES = ("realtime", "sync")


def make_env(env_id: str) -> Any:
    """``gymnasium.make(env_id, render_mode="rgb_array")``, ALE registered."""
    import gymnasium

    if env_id.startswith("ALE/"):
        import ale_py

        gymnasium.register_envs(ale_py)
    return gymnasium.make(env_id, render_mode="rgb_array")


def _meanings(env: Any) -> list[str] | None:
    getter = getattr(env.unwrapped, "get_action_meanings", None)
    return list(getter()) if getter else None


@dataclass(frozen=True)
class Geometry:
    """Where things are on the screen: the picture, then the metadata strip."""

    frame_width: int
    frame_height: int
    scale: int

    @property
    def width(self) -> int:
        return self.frame_width * self.scale

    @property
    def picture_height(self) -> int:
        return self.frame_height * self.scale

    @property
    def height(self) -> int:
        return self.picture_height + strip_height(self.width)


class GymCoreRuntime:
    """Run ``env_id`` on an X display and serve its rewards.

    Build it, read :attr:`geometry` to size the X screen, then call
    :meth:`run` with the display (it returns after :meth:`stop`).

    :param env_id: a Gymnasium id, e.g. ``"ALE/Pong-v5"`` or ``"CartPole-v1"``.
    :param fps: frames per second in realtime mode (and advertised in sync).
    :param mode: ``"realtime"`` or ``"sync"``.
    :param scale: integer upscaling of the env's frames on the screen.
    :param seed: seed of the first reset.
    """

    def __init__(
        self, env_id: str, *, fps: float = 60.0, mode: str = "realtime", scale: int = 2, seed: int | None = None
    ) -> None:
        if mode not in MODES:
            raise UsageError(f"mode must be one of {MODES}, not {mode!r}")
        if not 1 <= int(scale) <= 8:
            raise UsageError(f"scale must be 1..8, not {scale!r}")
        if not 0 < fps <= 1000:
            raise UsageError(f"fps must be in (0, 1000], not {fps!r}")
        self.env_id, self.fps, self.mode, self.scale = env_id, float(fps), mode, int(scale)
        self.env = make_env(env_id)
        self.env.reset(seed=seed)
        frame = self.env.render()
        self.geometry = Geometry(frame.shape[1], frame.shape[0], self.scale)
        self.keymap: KeyMap = keymap_for(env_id, _meanings(self.env))
        self.frame_id = 0
        self.frame_time_ms = 0
        self._last_action: int | None = None
        self.steps = 0
        self.episode_reward = 0.0
        self._requests: queue.Queue[tuple[str, Any, threading.Event | None, list]] = queue.Queue()
        self._stop = threading.Event()
        self.window: Any = None
        self.server: Any = None

    # -- requests from other threads ---------------------------------------------

    def stop(self) -> None:
        """Make :meth:`run` return (from any thread or a signal handler)."""
        self._stop.set()
        self._requests.put(("stop", None, None, []))

    def _ask(self, kind: str, arg: Any, timeout: float = 60.0) -> Any:
        done, result = threading.Event(), []
        self._requests.put((kind, arg, done, result))
        if not done.wait(timeout):
            raise TimeoutError(f"the game loop did not handle {kind} within {timeout} s")
        if result and isinstance(result[0], BaseException):
            raise result[0]
        return result[0] if result else None

    def on_reset(self, env_id: str, seed: int | None, fps: float | None) -> None:
        """Rewarder callback (a worker thread): reset, maybe to another env."""
        self._ask("reset", (env_id, seed, fps))

    def on_action(self, body: dict[str, Any]) -> None:
        """Rewarder callback for ``v0.agent.action`` (sync mode steps once)."""
        if self.mode != "sync":
            return
        if "action" in body:
            action = body["action"]
            if not isinstance(action, int) or isinstance(action, bool) or not self.env.action_space.contains(action):
                raise UsageError(f"action {action!r} is not in {self.env.action_space}")
        elif "keys" in body and isinstance(body["keys"], list):
            action = self.keymap.action({str(k) for k in body["keys"]})
        else:
            raise UsageError('v0.agent.action needs {"action": N} or {"keys": [...]} in sync mode')
        self._requests.put(("step", (action, int(time.time() * 1000)), None, []))

    # -- the game loop ------------------------------------------------------------

    def run(self, window: Any, server: Any) -> None:
        """The game loop, on the calling thread, until :meth:`stop`."""
        self.window, self.server = window, server
        self._draw()
        period = 1.0 / self.fps
        next_tick = time.monotonic()
        while not self._stop.is_set():
            if self.mode == "realtime":
                timeout = max(0.0, next_tick - time.monotonic())
            else:
                timeout = 0.5
            try:
                kind, arg, done, result = self._requests.get(timeout=timeout)
            except queue.Empty:
                kind = "tick"
            if kind == "stop":
                break
            if kind == "tick":
                if self.mode == "realtime":
                    self._step((self.keymap.action(window.pressed()), None))
                    next_tick += period
                    if next_tick < time.monotonic() - 5 * period:  # far behind: do not race to catch up
                        next_tick = time.monotonic()
                continue
            try:
                if kind == "step":
                    self._step(arg, always_publish=True)
                elif kind == "reset":
                    self._reset(*arg)
                if done is not None:
                    result.append(None)
            except BaseException as exc:  # handed back to the rewarder thread
                if done is None:
                    logger.exception("gym-core: %s failed", kind)
                result.append(exc)
            finally:
                if done is not None:
                    done.set()

    def _step(self, action_and_time: tuple[int, int | None], always_publish: bool = False) -> None:
        """One env step.  A reward message follows when there is a reward, the
        episode ends, the step was asked for (sync), or the action changed
        (realtime: agents time their key presses by it, the action probe)."""
        action, received_ms = action_and_time
        _, reward, terminated, truncated, info = self.env.step(action)
        self.steps += 1
        self.episode_reward += float(reward)
        self._draw()
        done = bool(terminated or truncated)
        changed = action != self._last_action
        self._last_action = action
        if reward or done or always_publish or changed:
            env_info = {"frame_id": self.frame_id, "time_ms": self.frame_time_ms, "terminated": bool(terminated),
                        "truncated": bool(truncated), "action": int(action)}  # fmt: skip
            if received_ms is not None:
                env_info["action_received_ms"] = received_ms
            self.server.publish_reward(float(reward), done=done, info=env_info)
        if done:
            with self.server.resetting():
                self.env.reset()
                self.episode_reward = 0.0
                self._draw()

    def _reset(self, env_id: str, seed: int | None, fps: float | None) -> None:
        if env_id and env_id != self.env_id:
            self._switch(env_id)
        if fps:
            self.fps = float(fps)
        self.env.reset(seed=seed)
        self.episode_reward = 0.0
        self._draw()

    def _switch(self, env_id: str) -> None:
        env = make_env(env_id)
        env.reset()
        frame = env.render()
        geometry = Geometry(frame.shape[1], frame.shape[0], self.scale)
        if geometry != self.geometry:
            from ..xvnc import resize_display

            resize_display(self.window.display_name, geometry.width, geometry.height)
            self.window.resize(geometry.width, geometry.height)
            self.geometry = geometry
        self.env.close()
        self.env, self.env_id = env, env_id
        self.keymap = keymap_for(env_id, _meanings(env))

    def _draw(self) -> None:
        frame = self.env.render()
        if self.scale > 1:
            frame = np.repeat(np.repeat(frame, self.scale, axis=0), self.scale, axis=1)
        self.frame_id += 1
        self.frame_time_ms = int(time.time() * 1000)
        g = self.geometry
        self.window.show(frame)
        self.window.show(encode_strip(g.width, self.frame_id, self.frame_time_ms), 0, g.picture_height)
        self.window.sync()
