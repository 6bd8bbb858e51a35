"""Recording demonstrations: per episode, the VNC picture stream, the rewards and the actions.

:class:`EpisodeRecorder` does the work (``VNCEnv`` can drive it directly);
:class:`Recording` is the Gymnasium wrapper around it.  Each episode gets a
folder ``record_dir/episode-NNNNNN/`` (numbered after those already there)
holding:

``vnc.fbs``
    The session's pictures as an FBS file that decodes on its own
    (:meth:`vncenv.vnc.session.VNCSession.record_to`): a handshake and the
    picture at the episode's start, then one FramebufferUpdate per update
    the session received.  :func:`read_frames` decodes it.
``rewards.jsonl``
    One line per step: ``{"step", "time", "reward", "terminated",
    "truncated", "info"}``, ``info`` holding the small JSON-able entries of
    the step's info (``frame_id``, ``lags.*``, ``episode_id``, ...).
``actions.jsonl``
    One line per step, written before the step is taken: ``{"step",
    "time", "action"}``.  An int action is the int; a list of VNC events is
    a list of :func:`vncenv.spaces.event_to_json` dicts.
``meta.json``
    What :meth:`EpisodeRecorder.begin_episode` was given, plus the start
    time and ``fbs_first_update``, the session's update count at the FBS
    file's first picture; rewritten (atomically) when the episode ends with
    the totals and ``fbs_last_update`` (the file holds ``last - first + 1``
    pictures; None if a write error stopped it early, see ``fbs_error``).

Times are ``time.time()`` seconds.  The picture in ``vnc.fbs`` that a step
observed is the one whose metadata strip carries the step's ``frame_id``.

Crash consistency: every JSONL line is written by a single ``os.write`` of
the complete line (``O_APPEND``), and every FBS message is one block written
by one ``write``; so after a ``kill -9`` each file holds every record
written before, and at most one cut-short record at its end, which
:func:`read_jsonl` and :class:`~vncenv.vnc.fbs.FBSReader` skip.  The FBS
block of a step's picture is written before the step returns, so every line
in ``rewards.jsonl`` has its picture in ``vnc.fbs``.
"""

from __future__ import annotations

import json
import numbers
import os
import re
import time
from collections.abc import Iterator, Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from ..error import Error, UsageError

__all__ = [
    "EpisodeRecorder",
    "Recording",
    "read_jsonl",
    "read_frames",
    "episode_dirs",
    "to_json",
    "small_info",
    "FBS_NAME",
    "REWARDS_NAME",
    "ACTIONS_NAME",
    "META_NAME",
]

FBS_NAME = "vnc.fbs"
REWARDS_NAME = "rewards.jsonl"
ACTIONS_NAME = "actions.jsonl"
META_NAME = "meta.json"
_EPISODE_RE = re.compile(r"episode-(\d{6,})")
_MAX_INFO_STR = 1024
_MAX_INFO_SEQ = 16


# --------------------------------------------------------------------------
# JSON


def _event_to_json(value: Any) -> dict[str, Any] | None:
    """``vncenv.spaces.event_to_json(value)`` for a VNC event, else None."""
    try:
        from ..spaces import event_to_json
    except ImportError:  # pragma: no cover - an installation without the event space
        return None
    try:
        return event_to_json(value)
    except (Error, TypeError, ValueError):
        return None


def to_json(value: Any) -> Any:
    """``value`` as plain JSON data: numbers and numpy scalars and arrays as
    numbers and lists, lists of VNC events as lists of event dicts, mappings
    as dicts; anything else as its ``repr``."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    event = _event_to_json(value)
    return event if event is not None else repr(value)


def _small(value: Any) -> tuple[bool, Any]:
    """(True, JSON value) for a scalar or a short sequence of scalars; (False, None) otherwise."""
    if value is None or isinstance(value, (bool, np.bool_, numbers.Number)):
        if isinstance(value, numbers.Complex) and not isinstance(value, numbers.Real):
            return False, None
        return True, to_json(value)
    if isinstance(value, str):
        return (True, value) if len(value) <= _MAX_INFO_STR else (False, None)
    if isinstance(value, (list, tuple)) and len(value) <= _MAX_INFO_SEQ:
        items = [_small(v) for v in value]
        if all(ok and not isinstance(v, list) for ok, v in items):
            return True, [v for _, v in items]
    return False, None


def small_info(info: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of a step's info worth a log line: scalars, short strings,
    short tuples of scalars (``lags.*`` bounds); arrays and dicts are left out."""
    out = {}
    for key, value in info.items():
        ok, data = _small(value)
        if ok:
            out[str(key)] = data
    return out


class _JsonlFile:
    """An append-only JSONL file: each record is one ``os.write`` of a whole line."""

    def __init__(self, path: str, fsync: bool = False) -> None:
        self.path = path
        self._fsync = fsync
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        self.lines = 0

    def write(self, record: Mapping[str, Any]) -> None:
        if self._fd is None:
            raise UsageError(f"{self.path} is closed")
        line = (json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")
        view = memoryview(line)
        while view:  # one write(2) unless the kernel takes less (then the rest follows)
            view = view[os.write(self._fd, view) :]
        if self._fsync:
            os.fsync(self._fd)
        self.lines += 1

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


def read_jsonl(path: str | os.PathLike[str]) -> list[Any]:
    """Every complete record of a JSONL file.

    A last line without its newline is a record cut short (the writer was
    killed while writing it) and is skipped; any other line that does not
    parse is corruption and raises :class:`ValueError`.
    """
    with open(path, "rb") as f:
        data = f.read()
    complete = data.split(b"\n")[:-1]  # the last piece is b"" after a final newline, else cut short
    records = []
    for number, line in enumerate(complete, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError as exc:
            raise ValueError(f"{os.fspath(path)}: line {number} is not JSON: {exc}") from None
    return records


def _write_json_atomically(path: str, data: Mapping[str, Any]) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, path)


# --------------------------------------------------------------------------
# Reading back


def episode_dirs(record_dir: str | os.PathLike[str]) -> list[str]:
    """The episode folders in ``record_dir``, in order."""
    found = []
    for name in os.listdir(record_dir):
        m = _EPISODE_RE.fullmatch(name)
        if m and os.path.isdir(os.path.join(record_dir, name)):
            found.append((int(m.group(1)), os.path.join(record_dir, name)))
    return [path for _, path in sorted(found)]


def read_frames(path: str | os.PathLike[str]) -> Iterator[tuple[int, np.ndarray]]:
    """Decode an episode's FBS file: ``(timestamp_ms, picture)`` after each update.

    The first picture is the episode's start (the file's prologue); each
    picture is an owned ``(H, W, 3)`` uint8 copy of the whole screen
    (metadata strip included).  A file cut short yields its complete updates.
    """
    from ..decode import StreamDecoder
    from ..vnc.events import FramebufferUpdate
    from ..vnc.fbs import FBSReader

    decoder = StreamDecoder()
    with FBSReader(path) as reader:
        for timestamp, data in reader:
            for event in decoder.feed(data):
                if isinstance(event, FramebufferUpdate):
                    yield timestamp, decoder.framebuffer.array.copy()


# --------------------------------------------------------------------------
# Writing


class EpisodeRecorder:
    """Record episodes into ``record_dir`` (see the module docstring).

    Call :meth:`begin_episode` after each reset, :meth:`log_action` before
    each step and :meth:`log_step` after it, :meth:`end_episode` when done
    (the next :meth:`begin_episode` and :meth:`close` do it too).

    :param record_dir: the folder for the episode folders (created if missing).
    :param fbs: record the pictures (when :meth:`begin_episode` gets a session).
    :param fsync: fsync every record (survives a machine crash; slower).
    :param compress_level: zlib level of the FBS file's picture data.
    """

    def __init__(
        self,
        record_dir: str | os.PathLike[str],
        *,
        fbs: bool = True,
        fsync: bool = False,
        compress_level: int = 1,
    ) -> None:
        if not isinstance(record_dir, (str, os.PathLike)):
            raise UsageError(f"record_dir must be a path, not {type(record_dir).__name__}")
        self.record_dir = os.fspath(record_dir)
        os.makedirs(self.record_dir, exist_ok=True)
        self.fbs, self.fsync, self.compress_level = bool(fbs), bool(fsync), compress_level
        self.episode_dir: str | None = None
        self.episodes = 0  # episodes begun by this recorder
        self.steps = 0  # steps logged in the current episode
        self.total_reward = 0.0
        self._meta: dict[str, Any] = {}
        self._session: Any = None
        self._rewards: _JsonlFile | None = None
        self._actions: _JsonlFile | None = None
        self._closed = False

    @property
    def in_episode(self) -> bool:
        return self.episode_dir is not None

    def _new_episode_dir(self) -> tuple[int, str]:
        existing = [int(m.group(1)) for n in os.listdir(self.record_dir) if (m := _EPISODE_RE.fullmatch(n))]
        index = max(existing, default=0) + 1
        while True:  # another recorder may take a number at the same time
            path = os.path.join(self.record_dir, f"episode-{index:06d}")
            try:
                os.mkdir(path)
            except FileExistsError:
                index += 1
                continue
            return index, path

    def begin_episode(self, session: Any = None, meta: Mapping[str, Any] | None = None) -> str:
        """Start an episode folder (ending the current episode first).

        :param session: the env's :class:`~vncenv.vnc.session.VNCSession`, whose
            pictures go to ``vnc.fbs`` from its current update on; None for no FBS.
        :param meta: entries for ``meta.json`` (converted by :func:`to_json`).
        :return: the episode folder.
        """
        if self._closed:
            raise UsageError("begin_episode() on a closed EpisodeRecorder")
        self.end_episode()
        index, path = self._new_episode_dir()
        self.episode_dir, self.steps, self.total_reward = path, 0, 0.0
        self.episodes += 1
        self._rewards = _JsonlFile(os.path.join(path, REWARDS_NAME), self.fsync)
        self._actions = _JsonlFile(os.path.join(path, ACTIONS_NAME), self.fsync)
        self._meta = {**to_json(dict(meta or {})), "episode": index, "start_time": time.time(), "fbs": None}
        if self.fbs and session is not None:
            first_update = session.record_to(
                os.path.join(path, FBS_NAME), compress_level=self.compress_level, fsync=self.fsync
            )
            self._session = session
            self._meta.update(fbs=FBS_NAME, fbs_first_update=first_update, desktop=session.desktop_name)
        _write_json_atomically(os.path.join(path, META_NAME), self._meta)
        return path

    def _require_episode(self, what: str) -> None:
        if self.episode_dir is None:
            raise UsageError(f"{what}() outside an episode: call begin_episode() first")

    def log_action(self, action: Any) -> None:
        """Log the action of the step about to be taken."""
        self._require_episode("log_action")
        assert self._actions is not None
        self._actions.write({"step": self.steps, "time": time.time(), "action": to_json(action)})

    def log_step(self, reward: Any, terminated: bool, truncated: bool, info: Mapping[str, Any] | None = None) -> None:
        """Log the outcome of a step."""
        self._require_episode("log_step")
        assert self._rewards is not None
        reward = to_json(reward)
        self._rewards.write(
            {
                "step": self.steps,
                "time": time.time(),
                "reward": reward,
                "terminated": bool(terminated),
                "truncated": bool(truncated),
                "info": small_info(info or {}),
            }
        )
        self.steps += 1
        if isinstance(reward, (int, float)):
            self.total_reward += reward

    def end_episode(self) -> None:
        """Close the episode's files and write its totals into ``meta.json`` (no-op outside one)."""
        if self.episode_dir is None:
            return
        path, self.episode_dir = self.episode_dir, None
        session, self._session = self._session, None
        try:
            if session is not None:
                self._meta["fbs_last_update"] = session.record_to(None)
                error = getattr(session, "record_error", None)
                if error is not None:
                    self._meta["fbs_error"] = f"{type(error).__name__}: {error}"
        finally:
            for name in ("_rewards", "_actions"):
                f = getattr(self, name)
                if f is not None:
                    f.close()
                    setattr(self, name, None)
        self._meta.update(end_time=time.time(), steps=self.steps, total_reward=self.total_reward, complete=True)
        _write_json_atomically(os.path.join(path, META_NAME), self._meta)

    def close(self) -> None:
        """End the current episode; idempotent."""
        if not self._closed:
            self.end_episode()
            self._closed = True

    def __enter__(self) -> EpisodeRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Recording(gym.Wrapper):
    """Record every episode of a vncenv env into ``record_dir`` (see the module docstring).

    Episodes start at each :meth:`reset` (after the env's reset: the FBS
    file's first picture is the reset's observation) and end at the next
    reset or at :meth:`close`.  The pictures come from ``env.unwrapped.vnc``
    (an env without one records rewards and actions only).

    :param recorder_options: keyword arguments for :class:`EpisodeRecorder`.
    """

    def __init__(self, env: gym.Env, record_dir: str | os.PathLike[str], **recorder_options: Any) -> None:
        super().__init__(env)
        self.recorder = EpisodeRecorder(record_dir, **recorder_options)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self.recorder.end_episode()
        obs, info = self.env.reset(seed=seed, options=options)
        spec = self.env.spec
        meta = {
            "env_id": spec.id if spec is not None else None,
            "seed": seed,
            "reset_info": small_info(info),
        }
        self.recorder.begin_episode(getattr(self.env.unwrapped, "vnc", None), meta)
        return obs, info

    def step(self, action: Any):
        if not self.recorder.in_episode:
            return self.env.step(action)  # the env says what is wrong (no reset yet)
        self.recorder.log_action(action)
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.recorder.log_step(reward, terminated, truncated, info)
        return obs, reward, terminated, truncated, info

    def close(self) -> None:
        try:
            self.recorder.close()
        finally:
            self.env.close()
