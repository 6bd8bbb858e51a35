"""The VNC event action space: an action is a short list of key and pointer events.

:class:`KeyEvent` and :class:`PointerEvent` are the two RFB input messages as
small immutable values; :class:`VNCEventSpace` is the Gymnasium space of
their lists, bounded by the screen, an optional set of allowed keys, a button
mask and a maximum length.  :func:`event_to_json` / :func:`event_from_json`
turn events into JSON-friendly dicts and back (for action logs)::

    {"type": "key", "key": 65361, "down": true}
    {"type": "pointer", "x": 10, "y": 20, "buttons": 1}

The env sends an action's events in order, through
``VNCSession.key_event`` and ``VNCSession.pointer_event``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Union

import numpy as np
from gymnasium import spaces

from .error import UsageError
from .vnc.keysyms import KEYSYMS, key_name, keysym

__all__ = [
    "KeyEvent",
    "PointerEvent",
    "VNCEvent",
    "VNCEventSpace",
    "event_to_json",
    "event_from_json",
    "MAX_KEYSYM",
]

MAX_KEYSYM = 0x1FFFFFFF
"""The largest X11 keysym (keysyms are 29-bit; 0 is NoSymbol)."""

_MAX_WIRE_KEYSYM = 0xFFFFFFFF  # what an RFB KeyEvent can carry
_MAX_COORD = 0xFFFF


def _int(value: Any, what: str, low: int, high: int) -> int:
    """``value`` as an int in ``low..high`` (numpy integers too; not bool, not float)."""
    try:
        if isinstance(value, (bool, np.bool_)):
            raise TypeError
        v = value.__index__()
    except (AttributeError, TypeError):
        raise UsageError(f"{what} must be an int, not {type(value).__name__} {value!r}") from None
    if not low <= v <= high:
        raise UsageError(f"{what} must be in {low}..{high}, not {v}")
    return v


def _bool(value: Any, what: str) -> bool:
    """``value`` as a bool: True/False (numpy too) or the ints 0 and 1."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    try:
        v = value.__index__()
    except (AttributeError, TypeError):
        v = None
    if v in (0, 1):
        return bool(v)
    raise UsageError(f"{what} must be a bool, not {type(value).__name__} {value!r}")


def _keysym_of(key: Any, low: int = 0, high: int = _MAX_WIRE_KEYSYM) -> int:
    """A key name (see :func:`vncenv.vnc.keysyms.keysym`) or keysym as an int keysym."""
    if isinstance(key, str):
        return keysym(key)
    return _int(key, "a keysym", low, high)


class KeyEvent:
    """Press (``down=True``) or release a key.

    ``key`` is stored as an int X11 keysym; a key name is accepted and looked
    up: ``KeyEvent("Left", True).key == 0xff51``.  Immutable and hashable.
    """

    __slots__ = ("key", "down")
    __match_args__ = ("key", "down")
    key: int
    down: bool

    def __init__(self, key: int | str, down: bool) -> None:
        object.__setattr__(self, "key", _keysym_of(key))
        object.__setattr__(self, "down", _bool(down, "KeyEvent.down"))

    @classmethod
    def from_name(cls, name: str, down: bool) -> KeyEvent:
        """The event for a key name (``"left"``, ``"a"``, ``"slash"``, ``"ctrl"``)."""
        if not isinstance(name, str):
            raise UsageError(f"KeyEvent.from_name() takes a key name (str), not {type(name).__name__}")
        return cls(keysym(name), down)

    @property
    def name(self) -> str:
        """The key's name (:func:`~vncenv.vnc.keysyms.key_name`), or its hex keysym if it has none."""
        try:
            return key_name(self.key)
        except UsageError:
            return f"{self.key:#x}"

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        if type(other) is not KeyEvent:
            return NotImplemented
        return self.key == other.key and self.down == other.down

    def __hash__(self) -> int:
        return hash((KeyEvent, self.key, self.down))

    def __reduce__(self) -> tuple[Any, ...]:
        return (KeyEvent, (self.key, self.down))

    def __repr__(self) -> str:
        try:
            key: object = key_name(self.key)
        except UsageError:
            key = self.key
        return f"KeyEvent({key!r}, {self.down})"


class PointerEvent:
    """Move the pointer to ``(x, y)`` with the buttons of the mask ``buttons`` held.

    ``buttons`` is the RFB 8-bit mask: bit 0 left, 1 middle, 2 right, 3 and
    4 the wheel up and down.  Immutable and hashable.
    """

    __slots__ = ("x", "y", "buttons")
    __match_args__ = ("x", "y", "buttons")
    x: int
    y: int
    buttons: int

    def __init__(self, x: int, y: int, buttons: int = 0) -> None:
        object.__setattr__(self, "x", _int(x, "PointerEvent.x", 0, _MAX_COORD))
        object.__setattr__(self, "y", _int(y, "PointerEvent.y", 0, _MAX_COORD))
        object.__setattr__(self, "buttons", _int(buttons, "PointerEvent.buttons", 0, 0xFF))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        if type(other) is not PointerEvent:
            return NotImplemented
        return self.x == other.x and self.y == other.y and self.buttons == other.buttons

    def __hash__(self) -> int:
        return hash((PointerEvent, self.x, self.y, self.buttons))

    def __reduce__(self) -> tuple[Any, ...]:
        return (PointerEvent, (self.x, self.y, self.buttons))

    def __repr__(self) -> str:
        return f"PointerEvent({self.x}, {self.y}, {self.buttons:#05b})"


VNCEvent = Union[KeyEvent, PointerEvent]
"""One event of an action."""

_JSON_FIELDS = {"key": {"type", "key", "down"}, "pointer": {"type", "x", "y", "buttons"}}


def event_to_json(event: VNCEvent) -> dict[str, Any]:
    """A JSON-friendly dict for ``event`` (plain ints and bools).

    :raises UsageError: not a :class:`KeyEvent` or :class:`PointerEvent`.
    """
    if type(event) is KeyEvent:
        return {"type": "key", "key": event.key, "down": event.down}
    if type(event) is PointerEvent:
        return {"type": "pointer", "x": event.x, "y": event.y, "buttons": event.buttons}
    raise UsageError(f"not a VNC event: {type(event).__name__} {event!r}")


def event_from_json(data: Mapping[str, Any]) -> VNCEvent:
    """The event of a dict made by :func:`event_to_json`.

    ``"key"`` may also be a key name.  Strict: an unknown ``"type"``, a
    missing or extra field, or a field of the wrong type is an error.

    :raises UsageError: a malformed dict.
    """
    if not isinstance(data, Mapping):
        raise UsageError(f"a VNC event in JSON is a dict, not {type(data).__name__}")
    kind = data.get("type")
    fields = _JSON_FIELDS.get(kind) if isinstance(kind, str) else None
    if fields is None:
        raise UsageError(f"unknown VNC event type {kind!r} (expected 'key' or 'pointer')")
    if set(data) != fields:
        raise UsageError(f"a {kind} event has the fields {sorted(fields)}, not {sorted(data)}")
    if kind == "key":
        if not isinstance(data["down"], bool):
            raise UsageError(f"'down' must be true or false, not {data['down']!r}")
        return KeyEvent(data["key"], data["down"])
    return PointerEvent(data["x"], data["y"], data["buttons"])


# keys=None samples from the named keysyms (a random 29-bit number is no key anyone has).
_SAMPLE_KEYS: tuple[int, ...] = tuple(sorted(set(KEYSYMS.values())))


class VNCEventSpace(spaces.Space[list]):
    """Lists of at most ``max_events`` :class:`KeyEvent` / :class:`PointerEvent`.

    :param width: screen width; a pointer ``x`` is in ``0..width-1``.
    :param height: screen height; a pointer ``y`` is in ``0..height-1``.
    :param keys: the allowed keys, as names or keysyms; ``None`` allows any
        X11 keysym (``1..MAX_KEYSYM``), and :meth:`sample` then draws from the
        named keys of :data:`~vncenv.vnc.keysyms.KEYSYMS`.  An empty set
        allows pointer events only.
    :param buttons: the mask of the buttons a pointer event may hold
        (default left, middle and right).
    :param max_events: the most events in one action.
    :param seed: seeds :attr:`np_random`.

    An action is a ``list`` or ``tuple``; the empty one (do nothing) is
    valid.  Not flattenable to a Box; :func:`gymnasium.vector.utils.batch_space`
    batches it as a Tuple of copies.
    """

    def __init__(
        self,
        width: int,
        height: int,
        keys: Iterable[int | str] | None = None,
        buttons: int = 0b111,
        max_events: int = 8,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        self._width = _int(width, "width", 1, _MAX_COORD + 1)
        self._height = _int(height, "height", 1, _MAX_COORD + 1)
        if keys is None:
            self._keys: frozenset[int] | None = None
        else:
            if isinstance(keys, (str, bytes)):
                raise UsageError(f"keys is a list of key names or keysyms, not the string {keys!r}")
            self._keys = frozenset(_keysym_of(k, 1, MAX_KEYSYM) for k in keys)
        self._sample_keys = _SAMPLE_KEYS if self._keys is None else tuple(sorted(self._keys))
        self._buttons = _int(buttons, "buttons", 0, 0xFF)
        self._max_events = _int(max_events, "max_events", 0, 1 << 16)
        super().__init__(shape=None, dtype=None, seed=seed)

    @property
    def width(self) -> int:
        """Screen width."""
        return self._width

    @property
    def height(self) -> int:
        """Screen height."""
        return self._height

    @property
    def keys(self) -> frozenset[int] | None:
        """The allowed keysyms, or None for any."""
        return self._keys

    @property
    def buttons(self) -> int:
        """The allowed button mask."""
        return self._buttons

    @property
    def max_events(self) -> int:
        """The most events in one action."""
        return self._max_events

    @property
    def is_np_flattenable(self) -> bool:
        """False: an action is a variable-length list of objects."""
        return False

    def allows_key(self, key: int | str) -> bool:
        """Whether the key (a keysym or a name) may appear in a :class:`KeyEvent`."""
        try:
            code = _keysym_of(key)
        except UsageError:
            return False
        if self._keys is None:
            return 1 <= code <= MAX_KEYSYM
        return code in self._keys

    def sample(self, mask: Any = None, probability: Any = None) -> list[VNCEvent]:
        """A random action: 0..max_events events, each a key or pointer event with equal odds.

        Keys are drawn from the allowed set, ``down`` at random; pointers
        uniformly on the screen with a random subset of the button mask.  Uses
        :attr:`np_random`, so it is reproducible after :meth:`seed`.

        :raises UsageError: a ``mask`` or ``probability`` (not supported).
        """
        if mask is not None or probability is not None:
            raise UsageError("VNCEventSpace.sample() takes no mask or probability")
        rng = self.np_random
        n = int(rng.integers(0, self._max_events + 1))
        events: list[VNCEvent] = []
        keys = self._sample_keys
        for _ in range(n):
            if keys and rng.integers(0, 2) == 0:
                events.append(KeyEvent(keys[int(rng.integers(0, len(keys)))], bool(rng.integers(0, 2))))
            else:
                x = int(rng.integers(0, self._width))
                y = int(rng.integers(0, self._height))
                events.append(PointerEvent(x, y, int(rng.integers(0, 256)) & self._buttons))
        return events

    def contains(self, x: Any) -> bool:
        """Strict membership: a list or tuple of at most ``max_events`` valid events."""
        if not isinstance(x, (list, tuple)) or len(x) > self._max_events:
            return False
        for event in x:
            kind = type(event)
            if kind is KeyEvent:
                key = event.key
                if type(key) is not int or type(event.down) is not bool:
                    return False
                if self._keys is None:
                    if not 1 <= key <= MAX_KEYSYM:
                        return False
                elif key not in self._keys:
                    return False
            elif kind is PointerEvent:
                if not (0 <= event.x < self._width and 0 <= event.y < self._height):
                    return False
                if event.buttons & ~self._buttons:
                    return False
            else:
                return False
        return True

    def to_jsonable(self, sample_n: Sequence[Sequence[VNCEvent]]) -> list[list[dict[str, Any]]]:
        """A batch of actions as lists of :func:`event_to_json` dicts."""
        return [[event_to_json(e) for e in action] for action in sample_n]

    def from_jsonable(self, sample_n: Sequence[Sequence[Mapping[str, Any]]]) -> list[list[VNCEvent]]:
        """The batch of actions of :meth:`to_jsonable`'s output."""
        return [[event_from_json(d) for d in action] for action in sample_n]

    def _params(self) -> tuple[Any, ...]:
        return (self._width, self._height, self._keys, self._buttons, self._max_events)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VNCEventSpace) and self._params() == other._params()

    def __hash__(self) -> int:
        return hash((VNCEventSpace, *self._params()))

    def __repr__(self) -> str:
        if self._keys is None:
            keys = "None"
        else:
            names: list[object] = []
            for k in sorted(self._keys):
                try:
                    names.append(key_name(k))
                except UsageError:
                    names.append(k)
            keys = repr(names)
        return (
            f"VNCEventSpace(width={self._width}, height={self._height}, keys={keys}, "
            f"buttons={self._buttons:#b}, max_events={self._max_events})"
        )
