"""Discrete action adaptors for envs whose action space is a :class:`~vncenv.spaces.VNCEventSpace`.

* :class:`DiscreteToFixedKeys`: action ``i`` holds a fixed set of keys (a
  key, a combo such as ``"up+x"``, or nothing) and releases the others;
* :class:`ClickGrid`: action ``i`` clicks the centre of grid cell ``i``
  (OpenAI Universe's SoftmaxClickMouse).

Each has a pure :meth:`events` method (action -> list of events) that
:meth:`action` uses, so the mapping can be tested without a server.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Union

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ..error import UsageError
from ..spaces import KeyEvent, PointerEvent, VNCEvent, VNCEventSpace
from ..vnc.keysyms import key_name, keysym

__all__ = ["DiscreteToFixedKeys", "ClickGrid", "KeyEntry", "Region"]

KeyEntry = Union[str, int, Sequence[Union[str, int]], None]
"""One entry of :class:`DiscreteToFixedKeys`' list.

``"left"``, ``"up+x"``, a keysym, a list of names or keysyms, or None / ``""``.
"""

Region = tuple[int, int, int, int]
"""A screen rectangle ``(x, y, width, height)``."""


def _event_space(env: gym.Env, wrapper: str) -> VNCEventSpace:
    space = env.action_space
    if not isinstance(space, VNCEventSpace):
        raise UsageError(
            f"{wrapper} wraps an env whose action space is a VNCEventSpace (VNCEnv with action_space='vnc'), "
            f"not {space!r}"
        )
    return space


def _index(action: Any, n: int) -> int:
    try:
        if isinstance(action, (bool, np.bool_)):
            raise TypeError
        i = action.__index__()
    except (AttributeError, TypeError):
        raise UsageError(f"a Discrete({n}) action is an int, not {type(action).__name__} {action!r}") from None
    if not 0 <= i < n:
        raise UsageError(f"action {i} is out of range for Discrete({n})")
    return i


def _parse_entry(entry: KeyEntry) -> tuple[int, ...]:
    """The keysyms of one entry, in order, without repeats."""
    if entry is None:
        return ()
    if isinstance(entry, str):
        if entry == "":
            return ()
        if entry == "+":
            parts: Sequence[str | int] = ["+"]
        else:
            parts = entry.split("+")
            if any(p.strip() == "" for p in parts):
                raise UsageError(f"bad key combo {entry!r}: an empty key name (write the + key as 'plus')")
            parts = [p.strip() for p in parts]
    elif isinstance(entry, (list, tuple)):
        parts = entry
    elif hasattr(entry, "__index__") and not isinstance(entry, bool):
        parts = [entry.__index__()]
    else:
        raise UsageError(f"a key entry is a name, a combo like 'up+x', a keysym, a list or None; not {entry!r}")
    codes: list[int] = []
    for part in parts:
        if isinstance(part, str):
            code = keysym(part)
        elif hasattr(part, "__index__") and not isinstance(part, bool):
            code = part.__index__()
        else:
            raise UsageError(f"bad key {part!r} in {entry!r}")
        if code not in codes:
            codes.append(code)
    return tuple(codes)


class DiscreteToFixedKeys(gym.ActionWrapper[Any, int, list[VNCEvent]], gym.utils.RecordConstructorArgs):
    """``Discrete(len(keys))``: action ``i`` holds exactly the keys of ``keys[i]``.

    :param env: an env whose action space is a :class:`VNCEventSpace`.
    :param keys: one entry per action: a key name (``"left"``), a combo
        (``"up+x"``; the + key is ``"plus"``), a keysym, a list of names or
        keysyms, or ``None`` / ``""`` for holding nothing.

    The wrapper remembers which keys it holds and emits only changes: key-ups
    for held keys that action ``i`` does not hold (first), then key-downs for
    its keys not yet held.

    Reset: the keys held at :meth:`reset` are released on the next step, all
    of them, before that step presses every key of its action afresh (a key
    held across the reset is released and pressed again), so each episode
    starts from no key held.  Nothing is sent during the reset itself (a
    wrapper cannot step its env there).

    :raises UsageError: ``env``'s action space is not a VNCEventSpace, an
        entry names a key it does not allow, or a step could need more events
        than its ``max_events``.
    """

    def __init__(self, env: gym.Env, keys: Sequence[KeyEntry]) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, keys=list(keys))
        gym.ActionWrapper.__init__(self, env)
        space = _event_space(env, "DiscreteToFixedKeys")
        if isinstance(keys, (str, bytes)) or len(keys) == 0:
            raise UsageError(f"keys is a non-empty list of entries, not {keys!r}")
        combos = [_parse_entry(entry) for entry in keys]
        order: dict[int, int] = {}  # keysym -> first appearance, the order events come in
        for combo in combos:
            for code in combo:
                order.setdefault(code, len(order))
                if not space.allows_key(code):
                    raise UsageError(f"the env's action space does not allow the key {_describe(code)}")
        self._order = order
        self._combos: tuple[frozenset[int], ...] = tuple(frozenset(c) for c in combos)
        self._held: frozenset[int] = frozenset()
        self._release_all = False
        # the most events in a step: a switch between two combos, or a full release then press after reset
        sizes = [len(c) for c in self._combos]
        worst = 2 * max(sizes)
        for a in self._combos:
            for b in self._combos:
                worst = max(worst, len(a ^ b))
        if worst > space.max_events:
            raise UsageError(
                f"a step can need {worst} key events but the env's action space allows {space.max_events}"
            )
        self.action_space = spaces.Discrete(len(combos))

    @property
    def combos(self) -> tuple[frozenset[int], ...]:
        """The keysyms each action holds."""
        return self._combos

    @property
    def held(self) -> frozenset[int]:
        """The keysyms held now (as far as this wrapper has sent)."""
        return self._held

    def events(self, action: int, held: Iterable[int] | None = None) -> list[VNCEvent]:
        """The events that take the keys from ``held`` to those of ``action`` (pure: no state changes).

        :param held: the keysyms held before; default :attr:`held`, or, on the
            first step after a reset, every held key released first.
        """
        target = self._combos[_index(action, len(self._combos))]
        if held is None:
            held_now = self._held
            if self._release_all:
                return self._sorted_events(held_now, False) + self._sorted_events(target, True)
        else:
            held_now = frozenset(held)
        return self._sorted_events(held_now - target, False) + self._sorted_events(target - held_now, True)

    def action(self, action: int) -> list[VNCEvent]:
        """The events for ``action``; records the keys now held."""
        events = self.events(action)
        self._held = self._combos[_index(action, len(self._combos))]
        self._release_all = False
        return events

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Reset the env; the keys still held are released on the next step."""
        obs, info = self.env.reset(seed=seed, options=options)
        if self._held:
            self._release_all = True
        return obs, info

    def _sorted_events(self, codes: Iterable[int], down: bool) -> list[VNCEvent]:
        big = len(self._order)
        return [KeyEvent(c, down) for c in sorted(codes, key=lambda c: (self._order.get(c, big), c))]


def _describe(code: int) -> str:
    try:
        return f"{key_name(code)!r} ({code:#x})"
    except UsageError:
        return f"{code:#x}"


def _region(value: Any, what: str) -> Region:
    try:
        x, y, w, h = (v.__index__() for v in value)
    except (AttributeError, TypeError, ValueError):
        raise UsageError(f"{what} is (x, y, width, height) in ints, not {value!r}") from None
    if w <= 0 or h <= 0:
        raise UsageError(f"{what} {value!r} is empty")
    return (x, y, w, h)


class ClickGrid(gym.ActionWrapper[Any, int, list[VNCEvent]], gym.utils.RecordConstructorArgs):
    """``Discrete(len(points))``: action ``i`` clicks at ``points[i]``.

    The points are the centres of a grid of ``step`` x ``step`` cells over
    ``region`` (the whole screen by default): ``x = rx + step // 2 + k * step``
    while inside the region, and likewise for ``y``.  Points inside any of
    ``noclick_regions`` are left out.  A click is three pointer events: move
    there with no button, press ``buttons``, release.

    :param env: an env whose action space is a :class:`VNCEventSpace`.
    :param region: ``(x, y, width, height)`` inside the screen, or None.
    :param step: the cell size in pixels.
    :param buttons: the button mask of a click (1: left).
    :param noclick_regions: ``(x, y, width, height)`` rectangles not to click.
    :raises UsageError: ``env``'s action space is not a VNCEventSpace, the
        region is off screen, no point is left, ``buttons`` is not allowed or
        ``max_events`` is under 3.
    """

    def __init__(
        self,
        env: gym.Env,
        region: Region | None = None,
        step: int = 10,
        buttons: int = 1,
        noclick_regions: Iterable[Region] = (),
    ) -> None:
        noclick = [_region(r, "a noclick region") for r in noclick_regions]
        gym.utils.RecordConstructorArgs.__init__(
            self, region=region, step=step, buttons=buttons, noclick_regions=noclick
        )
        gym.ActionWrapper.__init__(self, env)
        space = _event_space(env, "ClickGrid")
        rx, ry, rw, rh = (0, 0, space.width, space.height) if region is None else _region(region, "region")
        if rx < 0 or ry < 0 or rx + rw > space.width or ry + rh > space.height:
            raise UsageError(f"region {(rx, ry, rw, rh)} is not inside the {space.width}x{space.height} screen")
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 1:
            raise UsageError(f"step is a positive int, not {step!r}")
        if isinstance(buttons, bool) or not isinstance(buttons, (int, np.integer)) or not 1 <= buttons <= 0xFF:
            raise UsageError(f"buttons is a button mask in 1..255, not {buttons!r}")
        if buttons & ~space.buttons:
            raise UsageError(f"buttons {buttons:#b} are not all in the action space's mask {space.buttons:#b}")
        if space.max_events < 3:
            raise UsageError(f"a click is 3 events; the action space allows {space.max_events}")
        step = int(step)
        points = [
            (x, y)
            for y in range(ry + step // 2, ry + rh, step)
            for x in range(rx + step // 2, rx + rw, step)
            if not any(nx <= x < nx + nw and ny <= y < ny + nh for nx, ny, nw, nh in noclick)
        ]
        if not points:
            raise UsageError("ClickGrid has no point to click: the noclick regions cover the whole grid")
        self._points = np.array(points, dtype=np.int64).reshape(-1, 2)
        self._points.setflags(write=False)
        self._buttons = int(buttons)
        self.action_space = spaces.Discrete(len(points))

    @property
    def points(self) -> np.ndarray:
        """The click points, a read-only ``(n, 2)`` int array of ``(x, y)``, row ``i`` for action ``i``."""
        return self._points

    def events(self, action: int) -> list[VNCEvent]:
        """The click of ``action``: move, press, release at its point."""
        x, y = (int(v) for v in self._points[_index(action, len(self._points))])
        return [PointerEvent(x, y, 0), PointerEvent(x, y, self._buttons), PointerEvent(x, y, 0)]

    def action(self, action: int) -> list[VNCEvent]:
        """The events for ``action`` (see :meth:`events`)."""
        return self.events(action)
