"""The VNC event action space (vncenv.spaces), the key-name table, and the discrete action wrappers.

No server: the wrappers wrap :class:`RecordingEnv`, a real Gymnasium env
whose action space is a VNCEventSpace and which keeps the actions it was given.
"""

from __future__ import annotations

import copy
import json
import pickle
import string
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector.utils import batch_space

from vncenv.error import UsageError
from vncenv.spaces import (
    MAX_KEYSYM,
    KeyEvent,
    PointerEvent,
    VNCEventSpace,
    event_from_json,
    event_to_json,
)
from vncenv.vnc import keysyms
from vncenv.vnc.keysyms import KEYSYMS, key_name, keysym
from vncenv.wrappers.actions import ClickGrid, DiscreteToFixedKeys

XK_Left, XK_Up, XK_Right, XK_Down = 0xFF51, 0xFF52, 0xFF53, 0xFF54


class RecordingEnv(gym.Env):
    """A minimal env whose action space is a VNCEventSpace; it checks and keeps every action."""

    metadata = {"render_modes": []}

    def __init__(self, space: VNCEventSpace | None = None) -> None:
        self.action_space = space or VNCEventSpace(100, 80, keys=["left", "right", "up", "down", "x", "z", "space"])
        self.observation_space = gym.spaces.Box(0, 255, (2, 2, 3), np.uint8)
        self.actions: list[Any] = []
        self.resets = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.resets += 1
        return np.zeros((2, 2, 3), np.uint8), {}

    def step(self, action):
        assert self.action_space.contains(action), action
        self.actions.append(list(action))
        return np.zeros((2, 2, 3), np.uint8), 0.0, False, False, {}


# --- events -------------------------------------------------------------------------------------


def test_key_event_normalises_names_to_keysyms():
    a = KeyEvent("left", True)
    assert a.key == XK_Left and type(a.key) is int and a.down is True
    assert a == KeyEvent(XK_Left, True) == KeyEvent.from_name("Left", True) == KeyEvent("LEFT", 1)
    assert hash(a) == hash(KeyEvent(XK_Left, True))
    assert len({a, KeyEvent(XK_Left, True), KeyEvent(XK_Left, False)}) == 2
    assert KeyEvent("slash", False).key == 0x2F and KeyEvent("/", False).key == 0x2F
    assert a.name == "Left" and KeyEvent(0x1234567, True).name == "0x1234567"
    n = KeyEvent(np.int64(0x61), np.bool_(False))
    assert n.key == 0x61 and type(n.key) is int and n.down is False and type(n.down) is bool


def test_pointer_event_fields():
    p = PointerEvent(3, 4, 0b101)
    assert (p.x, p.y, p.buttons) == (3, 4, 5)
    assert PointerEvent(3, 4).buttons == 0
    assert p == PointerEvent(np.int32(3), np.uint16(4), np.uint8(5))
    assert type(PointerEvent(np.int32(3), 4).x) is int
    assert hash(p) == hash(PointerEvent(3, 4, 5)) and p != PointerEvent(3, 4, 1)


def test_events_are_immutable_small_and_typed():
    k, p = KeyEvent("a", True), PointerEvent(1, 2, 1)
    for event, field in ((k, "key"), (k, "down"), (p, "x"), (p, "buttons")):
        with pytest.raises(AttributeError):
            setattr(event, field, 0)
        with pytest.raises(AttributeError):
            delattr(event, field)
    assert not hasattr(k, "__dict__") and not hasattr(p, "__dict__")
    # not tuples: no accidental equality with plain data or with each other
    assert k != (0x61, True) and p != (1, 2, 1) and k != p
    assert KeyEvent(1, True) != PointerEvent(1, 1, 0)


def test_events_pickle_copy_and_repr_round_trip():
    events = [KeyEvent("Left", True), KeyEvent(0xE9, False), KeyEvent(0x1008FF12, True), PointerEvent(7, 8, 3)]
    for e in events:
        assert pickle.loads(pickle.dumps(e)) == e
        assert copy.deepcopy(e) == e and copy.copy(e) == e
        assert eval(repr(e), {"KeyEvent": KeyEvent, "PointerEvent": PointerEvent}) == e
    assert repr(events[0]) == "KeyEvent('Left', True)"
    assert repr(events[3]) == "PointerEvent(7, 8, 0b011)"


@pytest.mark.parametrize(
    "args",
    [(1.5, True), (True, True), ("nosuchkey", True), (-1, True), (2**32, True), (None, True),
     (0x61, "yes"), (0x61, 2), (0x61, None), (0x61, 0.0)],
)
def test_key_event_rejects(args):
    with pytest.raises(UsageError):
        KeyEvent(*args)


def test_key_event_from_name_takes_names_only():
    with pytest.raises(UsageError):
        KeyEvent.from_name(0x61, True)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "args",
    [(-1, 0, 0), (0, -1, 0), (65536, 0, 0), (0, 65536, 0), (0, 0, 256), (0, 0, -1),
     (1.0, 0, 0), (0, "1", 0), (0, 0, True), (None, 0, 0), (np.float64(1), 0, 0)],
)
def test_pointer_event_rejects(args):
    with pytest.raises(UsageError):
        PointerEvent(*args)


# --- the space ----------------------------------------------------------------------------------


def test_space_is_a_gymnasium_space():
    s = VNCEventSpace(160, 210)
    assert isinstance(s, gym.spaces.Space)
    assert s.is_np_flattenable is False and s.shape is None and s.dtype is None
    assert (s.width, s.height, s.keys, s.buttons, s.max_events) == (160, 210, None, 0b111, 8)


def test_sample_contains_round_trip_over_many_seeds():
    spaces_ = [
        VNCEventSpace(160, 210, keys=["left", "right", "space", "slash"]),
        VNCEventSpace(1, 1, keys=None, buttons=0b11111, max_events=3),
        VNCEventSpace(640, 480, keys=[0x61, "b"], buttons=0b100, max_events=20),
    ]
    for space in spaces_:
        lengths, kinds, buttons = set(), set(), set()
        for seed in range(150):
            space.seed(seed)
            action = space.sample()
            assert type(action) is list and space.contains(action) and action in space
            assert 0 <= len(action) <= space.max_events
            lengths.add(len(action))
            for e in action:
                kinds.add(type(e))
                if type(e) is PointerEvent:
                    buttons.add(e.buttons)
                    assert 0 <= e.x < space.width and 0 <= e.y < space.height
                    assert e.buttons & ~space.buttons == 0
                else:
                    assert space.keys is None or e.key in space.keys
        assert lengths == set(range(space.max_events + 1)) or space.max_events > 8
        assert kinds == {KeyEvent, PointerEvent}
        assert buttons == {b for b in range(256) if b & ~space.buttons == 0}


def test_sample_with_keys_none_draws_named_keys():
    space = VNCEventSpace(10, 10, seed=3)
    named = set(KEYSYMS.values())
    keys = [e.key for _ in range(100) for e in space.sample() if type(e) is KeyEvent]
    assert len(keys) > 50 and set(keys) <= named and len(set(keys)) > 20


def test_sample_is_reproducible_with_a_seed():
    space = VNCEventSpace(640, 480, keys=["a", "b", "Return"], max_events=16)
    space.seed(1234)
    first = [space.sample() for _ in range(30)]
    space.seed(1234)
    assert [space.sample() for _ in range(30)] == first
    again = VNCEventSpace(640, 480, keys=["a", "b", "Return"], max_events=16, seed=1234)
    assert [again.sample() for _ in range(30)] == first
    space.seed(4321)
    assert [space.sample() for _ in range(30)] != first


def test_sample_edge_cases():
    assert VNCEventSpace(5, 5, max_events=0, seed=0).sample() == []
    pointer_only = VNCEventSpace(5, 5, keys=(), seed=0)
    events = [e for _ in range(50) for e in pointer_only.sample()]
    assert events and all(type(e) is PointerEvent for e in events)
    no_buttons = VNCEventSpace(5, 5, buttons=0, seed=0)
    assert all(e.buttons == 0 for _ in range(50) for e in no_buttons.sample() if type(e) is PointerEvent)
    with pytest.raises(UsageError):
        pointer_only.sample(mask=np.ones(2, np.int8))
    with pytest.raises(UsageError):
        pointer_only.sample(probability=np.ones(2))


def test_contains_accepts_valid_actions():
    space = VNCEventSpace(100, 80, keys=["left", "a"], buttons=0b101, max_events=3)
    assert space.contains([]) and space.contains(())
    assert space.contains([KeyEvent("left", True), PointerEvent(99, 79, 0b101), KeyEvent(0x61, False)])
    assert space.contains((PointerEvent(0, 0, 0),))
    assert space.contains([PointerEvent(0, 0, 0b100)])


@pytest.mark.parametrize(
    "action",
    [
        KeyEvent("left", True),  # an event, not a list of them
        PointerEvent(1, 1, 0),
        None,
        "left",
        {"type": "key"},
        (e for e in [KeyEvent("left", True)]),
        np.array([PointerEvent(1, 1, 0)], dtype=object),
        [KeyEvent("left", True)] * 4,  # too many events
        [PointerEvent(100, 0, 0)],  # x == width
        [PointerEvent(0, 80, 0)],  # y == height
        [PointerEvent(500, 500, 0)],
        [PointerEvent(0, 0, 0b010)],  # middle button not in the mask
        [PointerEvent(0, 0, 0b1000)],
        [KeyEvent("right", True)],  # key not allowed
        [KeyEvent("A", True)],  # case matters for characters
        [(XK_Left, True)],  # a tuple is not an event
        [{"type": "key", "key": XK_Left, "down": True}],
        [None],
        [[KeyEvent("left", True)]],  # nested
        [KeyEvent("left", True), 3],
    ],
)
def test_contains_rejects(action):
    space = VNCEventSpace(100, 80, keys=["left", "a"], buttons=0b101, max_events=3)
    assert not space.contains(action)
    assert action not in space


def test_contains_with_any_key_is_the_x11_keysym_range():
    space = VNCEventSpace(10, 10)
    assert space.contains([KeyEvent(0x1008FF12, True), KeyEvent(1, False), KeyEvent(MAX_KEYSYM, True)])
    assert not space.contains([KeyEvent(0, True)])  # NoSymbol
    assert not space.contains([KeyEvent(MAX_KEYSYM + 1, True)])
    assert space.allows_key("F5") and space.allows_key(0xE9) and not space.allows_key(0)
    assert not space.allows_key("nosuchkey")


def test_allowed_keys_by_name_or_keysym():
    space = VNCEventSpace(10, 10, keys=["Left", 0xFF53, "slash", "ctrl"])
    assert space.keys == frozenset({XK_Left, XK_Right, 0x2F, 0xFFE3})
    assert space.allows_key("left") and space.allows_key(XK_Right) and space.allows_key("/")
    assert not space.allows_key("backslash") and not space.allows_key("Up")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"width": 0, "height": 10},
        {"width": 10, "height": -1},
        {"width": 10.0, "height": 10},
        {"width": 70000, "height": 10},
        {"width": 10, "height": 10, "keys": "abc"},
        {"width": 10, "height": 10, "keys": ["nosuchkey"]},
        {"width": 10, "height": 10, "keys": [0]},
        {"width": 10, "height": 10, "keys": [1.5]},
        {"width": 10, "height": 10, "buttons": 256},
        {"width": 10, "height": 10, "max_events": -1},
    ],
)
def test_space_rejects_bad_parameters(kwargs):
    with pytest.raises(UsageError):
        VNCEventSpace(**kwargs)


def test_space_eq_hash_repr_copy():
    a = VNCEventSpace(100, 80, keys=["left", "slash", 0xE9])
    b = VNCEventSpace(100, 80, keys=[XK_Left, 0x2F, "\u00e9"], seed=5)
    assert a == b and hash(a) == hash(b)
    assert a != VNCEventSpace(100, 80) and a != VNCEventSpace(100, 81, keys=["left", "slash", 0xE9])
    assert a != VNCEventSpace(100, 80, keys=["left", "slash", 0xE9], buttons=1)
    assert a != VNCEventSpace(100, 80, keys=["left", "slash", 0xE9], max_events=9)
    assert a != "VNCEventSpace"
    assert repr(a) == (
        "VNCEventSpace(width=100, height=80, keys=['slash', '\u00e9', 'Left'], buttons=0b111, max_events=8)"
    )
    assert eval(repr(a), {"VNCEventSpace": VNCEventSpace}) == a
    assert eval(repr(VNCEventSpace(3, 4)), {"VNCEventSpace": VNCEventSpace}) == VNCEventSpace(3, 4)
    c, d = copy.deepcopy(b), pickle.loads(pickle.dumps(b))  # the RNG state travels along
    assert c == b == d
    assert c.sample() == d.sample() == b.sample()


def test_batch_space_for_vector_envs():
    space = VNCEventSpace(20, 10, keys=["a"], seed=0)
    batched = batch_space(space, 3)
    assert isinstance(batched, gym.spaces.Tuple) and len(batched) == 3
    assert all(s == space for s in batched.spaces)
    for _ in range(10):
        assert batched.contains(batched.sample())


def test_check_env_accepts_an_env_with_the_space():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(RecordingEnv(), skip_render_check=True)


# --- JSON ---------------------------------------------------------------------------------------


def test_event_json_format():
    assert event_to_json(KeyEvent("Left", True)) == {"type": "key", "key": 65361, "down": True}
    assert event_to_json(PointerEvent(3, 4, 1)) == {"type": "pointer", "x": 3, "y": 4, "buttons": 1}
    assert json.dumps(event_to_json(KeyEvent("a", False))) == '{"type": "key", "key": 97, "down": false}'
    assert event_from_json({"type": "key", "key": "Left", "down": True}) == KeyEvent(XK_Left, True)
    with pytest.raises(UsageError):
        event_to_json((XK_Left, True))  # type: ignore[arg-type]


def test_json_round_trip_of_sampled_actions():
    space = VNCEventSpace(640, 480, buttons=0xFF, max_events=12, seed=7)
    batch = [space.sample() for _ in range(200)]
    text = json.dumps(space.to_jsonable(batch))
    back = space.from_jsonable(json.loads(text))
    assert back == batch
    assert all(space.contains(a) for a in back)
    for action in batch:
        for e in action:
            d = event_to_json(e)
            assert all(type(v) in (str, int, bool) for v in d.values())
            assert event_from_json(json.loads(json.dumps(d))) == e


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        "key",
        {},
        {"type": "mouse", "x": 1, "y": 1, "buttons": 0},
        {"type": 1},
        {"type": "key", "key": 97},
        {"type": "key", "key": 97, "down": 1},
        {"type": "key", "key": 97, "down": "true"},
        {"type": "key", "key": 97.0, "down": True},
        {"type": "key", "key": "nosuchkey", "down": True},
        {"type": "key", "key": 97, "down": True, "extra": 0},
        {"type": "pointer", "x": 1, "y": 1},
        {"type": "pointer", "x": 1.0, "y": 1, "buttons": 0},
        {"type": "pointer", "x": "1", "y": 1, "buttons": 0},
        {"type": "pointer", "x": 1, "y": 1, "buttons": 300},
        {"type": "pointer", "x": -1, "y": 1, "buttons": 0},
        {"type": "pointer", "x": True, "y": 1, "buttons": 0},
    ],
)
def test_event_from_json_rejects(data):
    with pytest.raises(UsageError):
        event_from_json(data)


# --- the key-name table -------------------------------------------------------------------------

PUNCTUATION = {
    "space": " ",
    "exclam": "!",
    "quotedbl": '"',
    "numbersign": "#",
    "dollar": "$",
    "percent": "%",
    "ampersand": "&",
    "apostrophe": "'",
    "parenleft": "(",
    "parenright": ")",
    "asterisk": "*",
    "plus": "+",
    "comma": ",",
    "minus": "-",
    "period": ".",
    "slash": "/",
    "colon": ":",
    "semicolon": ";",
    "less": "<",
    "equal": "=",
    "greater": ">",
    "question": "?",
    "at": "@",
    "bracketleft": "[",
    "backslash": "\\",
    "bracketright": "]",
    "asciicircum": "^",
    "underscore": "_",
    "grave": "`",
    "braceleft": "{",
    "bar": "|",
    "braceright": "}",
    "asciitilde": "~",
}


def test_slash_is_not_backslash():
    """OpenAI Universe mapped "slash" to 0x5c."""
    assert keysym("slash") == 0x2F == ord("/") == keysyms.XK_slash
    assert keysym("backslash") == 0x5C == ord("\\") == keysyms.XK_backslash
    assert key_name(0x2F) == "slash" and key_name(0x5C) == "backslash"


@pytest.mark.parametrize("name, char", sorted(PUNCTUATION.items()))
def test_punctuation_names_are_their_code_points(name, char):
    assert keysym(name) == ord(char) == keysym(char) == KEYSYMS[name] == getattr(keysyms, f"XK_{name}")
    assert keysym(name.upper()) == ord(char)  # names are case-insensitive
    assert key_name(ord(char)) == name


def test_every_printable_ascii_character_has_a_keysym_and_a_name():
    assert set(PUNCTUATION.values()) == set(string.punctuation) | {" "}
    for char in string.printable[:95]:  # digits, letters, punctuation, space
        code = keysym(char)
        assert code == ord(char)
        name = key_name(code)
        assert keysym(name) == code
        assert name == (char if char.isalnum() else {v: k for k, v in PUNCTUATION.items()}[char])


@pytest.mark.parametrize(
    "name, value",
    [
        *[(f"F{i}", 0xFFBE + i - 1) for i in range(1, 13)],
        ("Left", 0xFF51), ("Up", 0xFF52), ("Right", 0xFF53), ("Down", 0xFF54),
        ("Return", 0xFF0D), ("Tab", 0xFF09), ("BackSpace", 0xFF08), ("Escape", 0xFF1B),
        ("Delete", 0xFFFF), ("Home", 0xFF50), ("End", 0xFF57), ("Page_Up", 0xFF55),
        ("Page_Down", 0xFF56), ("Insert", 0xFF63),
        ("Shift_L", 0xFFE1), ("Shift_R", 0xFFE2), ("Control_L", 0xFFE3), ("Control_R", 0xFFE4),
        ("Caps_Lock", 0xFFE5), ("Meta_L", 0xFFE7), ("Alt_L", 0xFFE9), ("Alt_R", 0xFFEA),
        ("Super_L", 0xFFEB), ("Super_R", 0xFFEC), ("Num_Lock", 0xFF7F), ("Scroll_Lock", 0xFF14),
        ("Print", 0xFF61),
        *[(f"KP_{i}", 0xFFB0 + i) for i in range(10)],
        ("KP_Enter", 0xFF8D), ("KP_Add", 0xFFAB), ("KP_Subtract", 0xFFAD),
        ("KP_Multiply", 0xFFAA), ("KP_Divide", 0xFFAF), ("KP_Decimal", 0xFFAE), ("KP_Equal", 0xFFBD),
        # the lower-case aliases
        ("left", 0xFF51), ("enter", 0xFF0D), ("esc", 0xFF1B), ("backspace", 0xFF08), ("del", 0xFFFF),
        ("pageup", 0xFF55), ("pgdn", 0xFF56), ("ctrl", 0xFFE3), ("shift", 0xFFE1), ("alt", 0xFFE9),
        ("super", 0xFFEB), ("capslock", 0xFFE5), ("numlock", 0xFF7F), ("kp_enter", 0xFF8D),
        ("quoteright", 0x27), ("quoteleft", 0x60),
    ],
)
def test_named_keys(name, value):
    assert keysym(name) == value


def test_table_is_consistent():
    lower: dict[str, int] = {}
    for name, value in KEYSYMS.items():
        assert getattr(keysyms, f"XK_{name}") == value and f"XK_{name}" in keysyms.__all__
        assert keysym(name) == value
        assert keysym(key_name(value)) == value
        if len(name) > 1:  # case-insensitive names must not collide
            assert lower.setdefault(name.lower(), value) == value
            assert keysym(name.lower()) == value
    assert len(set(KEYSYMS.values())) == len(KEYSYMS)  # one name per keysym: key_name is well defined


def test_key_name():
    assert key_name(XK_Left) == "Left" and key_name(0x61) == "a" and key_name(0x41) == "A"
    assert key_name(0x20) == "space" and key_name(np.int64(0xFF0D)) == "Return"
    assert key_name(0xE9) == "\u00e9" and keysym(key_name(0xE9)) == 0xE9
    for bad in (0, 0x7F, 0x1008FF12, "a", 1.0, True, None):
        with pytest.raises(UsageError):
            key_name(bad)


# --- DiscreteToFixedKeys ------------------------------------------------------------------------


def _apply(held: set[int], events: list) -> None:
    """Apply key events to a set of held keys, checking that each one is a change."""
    for e in events:
        assert type(e) is KeyEvent
        if e.down:
            assert e.key not in held, f"{e} re-pressed a held key"
            held.add(e.key)
        else:
            assert e.key in held, f"{e} released a key that is not held"
            held.discard(e.key)


def test_fixed_keys_action_space_and_combos():
    env = DiscreteToFixedKeys(RecordingEnv(), ["", None, "left", "up+x", " right + x + z ", ["down", 0x20], 0x7A])
    assert env.action_space == gym.spaces.Discrete(7)
    assert env.combos == (
        frozenset(), frozenset(), frozenset({XK_Left}), frozenset({XK_Up, 0x78}),
        frozenset({XK_Right, 0x78, 0x7A}), frozenset({XK_Down, 0x20}), frozenset({0x7A}),
    )


def test_fixed_keys_emit_only_changes():
    env = DiscreteToFixedKeys(RecordingEnv(), ["", "left", "up+x", "right+x"])
    env.reset(seed=0)
    for a in (1, 1, 2, 3, 3, 0, 0, 2):
        env.step(a)
    assert env.env.actions == [
        [KeyEvent("left", True)],
        [],
        [KeyEvent("left", False), KeyEvent("up", True), KeyEvent("x", True)],
        [KeyEvent("up", False), KeyEvent("right", True)],  # x stays held
        [],
        [KeyEvent("x", False), KeyEvent("right", False)],
        [],
        [KeyEvent("up", True), KeyEvent("x", True)],
    ]
    assert env.held == frozenset({XK_Up, 0x78})


def test_fixed_keys_hold_exactly_the_entry_on_random_walks():
    entries = ["", "left", "right", "up+x", "down+z", "left+up+space", "x", "right+x+z"]
    env = DiscreteToFixedKeys(RecordingEnv(), entries)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    held: set[int] = set()
    for a in rng.integers(0, len(entries), 300):
        env.step(a)  # numpy ints are fine
        _apply(held, env.env.actions[-1])
        assert held == env.combos[a] == env.held
        assert len(env.env.actions[-1]) <= env.env.action_space.max_events


def test_fixed_keys_events_is_pure():
    env = DiscreteToFixedKeys(RecordingEnv(), ["", "left", "up+x"])
    env.reset()
    assert env.events(2) == env.events(2) == [KeyEvent("up", True), KeyEvent("x", True)]
    assert env.held == frozenset()
    assert env.events(1, held={XK_Up, 0x78}) == [KeyEvent("up", False), KeyEvent("x", False), KeyEvent("left", True)]
    assert env.events(0, held=[XK_Left]) == [KeyEvent("left", False)]
    assert env.action(2) == [KeyEvent("up", True), KeyEvent("x", True)]
    assert env.held == frozenset({XK_Up, 0x78})
    assert env.events(2) == []


def test_fixed_keys_reset_releases_held_keys_on_the_next_step():
    env = DiscreteToFixedKeys(RecordingEnv(), ["", "left", "up+x", "x"])
    env.reset()
    env.step(2)
    env.reset()
    assert env.env.resets == 2 and len(env.env.actions) == 1  # nothing sent during the reset
    env.step(3)  # every held key released, then the new action's keys pressed afresh
    assert env.env.actions[-1] == [KeyEvent("up", False), KeyEvent("x", False), KeyEvent("x", True)]
    env.step(3)
    assert env.env.actions[-1] == []
    env.reset()
    env.step(0)
    assert env.env.actions[-1] == [KeyEvent("x", False)]
    env.reset()  # nothing held: the next step is an ordinary one
    env.step(1)
    assert env.env.actions[-1] == [KeyEvent("left", True)]


def test_fixed_keys_step_actions_are_in_the_event_space():
    env = DiscreteToFixedKeys(RecordingEnv(), ["", "left", "up+x", "right+x+z+space"])
    env.reset()
    for a in (3, 2, 1, 3, 0):
        env.step(a)
    assert all(env.env.action_space.contains(a) for a in env.env.actions)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # check_env warns that the env is wrapped
        check_env(env, skip_render_check=True)


@pytest.mark.parametrize(
    "keys",
    [
        [],
        "left",
        ["up++x"],
        ["up+"],
        ["nosuchkey"],
        ["F5"],  # not in the env's allowed keys
        [1.5],
        [{"left"}],
        [["left", None]],
    ],
)
def test_fixed_keys_rejects_bad_entries(keys):
    with pytest.raises(UsageError):
        DiscreteToFixedKeys(RecordingEnv(), keys)


def test_fixed_keys_plus_key_and_combo():
    space = VNCEventSpace(10, 10, keys=["plus", "ctrl", "minus"])
    env = DiscreteToFixedKeys(RecordingEnv(space), ["+", "ctrl+plus", "ctrl + minus"])
    assert env.combos == (frozenset({0x2B}), frozenset({0xFFE3, 0x2B}), frozenset({0xFFE3, 0x2D}))


def test_fixed_keys_rejects_too_many_events_for_the_space():
    space = VNCEventSpace(10, 10, keys=["a", "b", "c", "d"], max_events=3)
    with pytest.raises(UsageError, match="max|allows"):
        DiscreteToFixedKeys(RecordingEnv(space), ["a+b", "c+d"])
    DiscreteToFixedKeys(RecordingEnv(VNCEventSpace(10, 10, keys=["a", "b", "c", "d"], max_events=4)), ["a+b", "c+d"])


@pytest.mark.parametrize("action", [-1, 3, 1.0, "1", None, True])
def test_fixed_keys_rejects_bad_actions(action):
    env = DiscreteToFixedKeys(RecordingEnv(), ["", "left", "up"])
    with pytest.raises(UsageError):
        env.events(action)


def test_wrappers_need_a_vnc_event_space():
    class DiscreteEnv(RecordingEnv):
        def __init__(self) -> None:
            super().__init__()
            self.action_space = gym.spaces.Discrete(3)

    for make in (lambda e: DiscreteToFixedKeys(e, ["left"]), ClickGrid):
        with pytest.raises(UsageError, match="VNCEventSpace"):
            make(DiscreteEnv())


# --- ClickGrid ----------------------------------------------------------------------------------


def test_click_grid_full_screen():
    env = ClickGrid(RecordingEnv())  # 100 x 80, step 10
    assert env.action_space == gym.spaces.Discrete(80)
    pts = env.points
    assert pts.shape == (80, 2)
    assert set(pts[:, 0]) == set(range(5, 100, 10)) and set(pts[:, 1]) == set(range(5, 80, 10))
    assert len({tuple(p) for p in pts.tolist()}) == 80
    with pytest.raises(ValueError):
        pts[0, 0] = 1  # read-only


def test_click_grid_region_and_noclick_regions():
    noclick = [(10, 20, 20, 10), (50, 0, 5, 80)]
    env = ClickGrid(RecordingEnv(), region=(10, 20, 45, 30), step=10, noclick_regions=noclick)
    x, y, w, h = 10, 20, 45, 30
    expected = [
        (px, py)
        for py in (25, 35, 45)
        for px in (15, 25, 35, 45)  # 55 is the right edge: outside; 55 is also in a noclick region
        if not (10 <= px < 30 and 20 <= py < 30)
    ]
    assert [tuple(p) for p in env.points.tolist()] == expected
    assert env.action_space.n == len(expected) == 10
    assert np.all((env.points[:, 0] >= x) & (env.points[:, 0] < x + w))
    assert np.all((env.points[:, 1] >= y) & (env.points[:, 1] < y + h))


def test_click_grid_step_one_is_every_pixel():
    env = ClickGrid(RecordingEnv(), region=(3, 4, 5, 2), step=1, noclick_regions=[(5, 4, 1, 2)])
    assert [tuple(p) for p in env.points.tolist()] == [
        (x, y) for y in (4, 5) for x in (3, 4, 6, 7)
    ]


def test_click_grid_events():
    env = ClickGrid(RecordingEnv(), region=(0, 0, 40, 20), step=20, buttons=0b100)
    assert env.points.tolist() == [[10, 10], [30, 10]]
    assert env.events(1) == [PointerEvent(30, 10, 0), PointerEvent(30, 10, 0b100), PointerEvent(30, 10, 0)]
    assert env.events(np.int64(0)) == [PointerEvent(10, 10, 0), PointerEvent(10, 10, 0b100), PointerEvent(10, 10, 0)]
    env.reset()
    env.step(1)
    env.step(0)
    assert env.env.actions == [env.events(1), env.events(0)]
    for bad in (-1, 2, 0.5, None):
        with pytest.raises(UsageError):
            env.events(bad)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"region": (0, 0, 101, 80)},  # off screen
        {"region": (-1, 0, 10, 10)},
        {"region": (0, 0, 0, 10)},
        {"region": (0, 0, 10)},
        {"step": 0},
        {"step": 2.5},
        {"buttons": 0},
        {"buttons": 0b1000},  # not in the space's 0b111
        {"buttons": 256},
        {"noclick_regions": [(0, 0, 100, 80)]},  # nothing left to click
        {"noclick_regions": [(0, 0)]},
    ],
)
def test_click_grid_rejects(kwargs):
    with pytest.raises(UsageError):
        ClickGrid(RecordingEnv(), **kwargs)


def test_click_grid_needs_room_for_a_click():
    with pytest.raises(UsageError, match="3 events"):
        ClickGrid(RecordingEnv(VNCEventSpace(10, 10, max_events=2)))
