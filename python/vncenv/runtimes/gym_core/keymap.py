"""Keys to actions, per env family.

**Atari (ALE)**: the arrows and space (FIRE) compose an ALE action meaning:
Up/Down, then Right/Left, then FIRE, e.g. Up + Right + space is
``UPRIGHTFIRE``.  If the game lacks that meaning, FIRE, then the vertical,
then the horizontal part is dropped until one exists; no key is ``NOOP``.

**Classic control**:

=================  =============================================  ==========
env                keys                                           no key
=================  =============================================  ==========
CartPole           Left: push left (0), Right: push right (1)     0
MountainCar        Left: push left (0), Right: push right (2)     1 (none)
Acrobot            Left: torque -1 (0), Right: torque +1 (2)      1 (none)
LunarLander        Left: left engine (1), Up: main engine (2),    0 (none)
                   Right: right engine (3)
=================  =============================================  ==========
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["KeyMap", "keymap_for"]

_CLASSIC = {
    "CartPole": ({"Left": 0, "Right": 1}, 0),
    "MountainCar": ({"Left": 0, "Right": 2}, 1),
    "Acrobot": ({"Left": 0, "Right": 2}, 1),
    "LunarLander": ({"Left": 1, "Up": 2, "Right": 3}, 0),
}


class KeyMap:
    """Maps the set of held keys to an action index."""

    def __init__(self, table: dict[frozenset[str], int], default: int, keys: Sequence[str]) -> None:
        self._table = table
        self.default = default
        self.keys = tuple(keys)  # the keys that matter, for documentation and agents

    def action(self, pressed: set[str]) -> int:
        return self._table.get(frozenset(pressed & set(self.keys)), self.default)


def _ale_keymap(meanings: Sequence[str]) -> KeyMap:
    index = {m: i for i, m in enumerate(meanings)}
    keys = ("Up", "Down", "Right", "Left", "space")
    table: dict[frozenset[str], int] = {}
    for mask in range(1 << len(keys)):
        held = frozenset(k for i, k in enumerate(keys) if mask >> i & 1)
        vertical = "" if ("Up" in held) == ("Down" in held) else ("UP" if "Up" in held else "DOWN")
        horizontal = "" if ("Right" in held) == ("Left" in held) else ("RIGHT" if "Right" in held else "LEFT")
        fire = "FIRE" if "space" in held else ""
        for v, h, f in [(vertical, horizontal, fire), (vertical, horizontal, ""), ("", horizontal, fire),
                        (vertical, "", fire), ("", horizontal, ""), (vertical, "", ""), ("", "", fire)]:  # fmt: skip
            name = v + h + f
            if name in index:
                table[held] = index[name]
                break
    return KeyMap(table, index.get("NOOP", 0), keys)


def keymap_for(env_id: str, meanings: Sequence[str] | None) -> KeyMap:
    """The key map of ``env_id`` (ALE games need their action meanings)."""
    if meanings:
        return _ale_keymap(meanings)
    for family, (keys, default) in _CLASSIC.items():
        if family in env_id:
            return KeyMap({frozenset([k]): a for k, a in keys.items()}, default, list(keys))
    return KeyMap({}, 0, ())


def keys_for(env_id: str, meanings: Sequence[str] | None, action: int) -> frozenset[str]:
    """The keys an agent holds to play ``action`` (the inverse of :func:`keymap_for`)."""
    if meanings:
        name = meanings[action]
        keys = set()
        for word, key in (("UP", "Up"), ("DOWN", "Down"), ("RIGHT", "Right"), ("LEFT", "Left"), ("FIRE", "space")):
            if word in name:
                keys.add(key)
        return frozenset(keys)
    for family, (table, default) in _CLASSIC.items():
        if family in env_id:
            if action == default and action not in table.values():
                return frozenset()
            return frozenset(k for k, a in table.items() if a == action)
    return frozenset()
