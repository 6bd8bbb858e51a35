"""The per-episode reward buffer (sans-IO, thread-safe).

The rewarder connection's I/O thread pushes what the remote sends; the
agent's ``step()`` pops once per step.  The rules (design §5, as Universe's
client had them):

1. Rewards of one episode **sum** between two pops, and ``done`` **latches**:
   one ``done=True`` anywhere in the interval makes the pop's ``done`` True.
2. A message with a **newer** episode id starts that episode and ends every
   older one still open (``done`` is then forced, ``info["artificial_done"]``).
3. A pop whose episode is done **crosses the boundary**: it returns the old
   episode's reward and ``done=True``, with the **new** episode's id in
   ``info["episode_id"]`` (the id the next step belongs to; None while the
   remote has not started one yet) and the old one in
   ``info["completed_episode_id"]``.  Rewards the new episode already has
   stay for the next pop.  If several episodes began, the newest wins and
   the ones in between are skipped (they ran while the agent was not looking).
   They are dropped as soon as a newer one begins, so between two pops the
   buffer holds at most two episodes (the agent's and the newest) however
   many the remote runs.
4. **Stale** ids -- an episode below the newest one begun (even when the
   agent has not stepped past it yet), or one already completed -- are
   dropped and counted.
5. :meth:`mask` (a reset request went out) drops everything until
   :meth:`on_reset_reply` names the new episode; :meth:`unmask` if the reset
   failed.
6. Text and observation messages are **kept** whatever their episode, and
   returned (oldest first) by the next pop, up to ``max_text`` /
   ``max_observations`` items (older ones are dropped and counted).  The
   reward messages' ``info`` objects merge into at most ``max_info_keys``
   keys per episode and pop (keys past that are dropped and counted).
7. A remote that restarted counts episodes from its start again: the first
   describe of a new connection (:meth:`on_connect`) with an id below the
   highest seen starts a new *epoch*, so its ids are newer than every old one.

Nothing here does I/O or reads a clock, so it is unit-tested directly.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

__all__ = ["RewardBuffer"]

_Key = tuple[int, int]  # (epoch, episode id)


class _Episode:
    __slots__ = ("reward", "count", "done", "artificial", "info", "env_state")

    def __init__(self, env_state: str | None = None) -> None:
        self.reward = 0.0
        self.count = 0
        self.done = False
        self.artificial = False
        self.info: dict[str, Any] = {}
        self.env_state = env_state

    def take(self) -> tuple[float, int, bool, bool, dict[str, Any]]:
        out = (self.reward, self.count, self.done, self.artificial, self.info)
        self.reward = 0.0
        self.count = 0
        self.info = {}
        return out


class RewardBuffer:
    """Sums rewards per episode between steps (see the module docstring).

    :param max_text: text messages kept between two pops.
    :param max_observations: observation messages kept between two pops.
    :param max_info_keys: distinct keys of the merged reward ``info`` kept between two pops.
    """

    def __init__(self, max_text: int = 1024, max_observations: int = 64, max_info_keys: int = 1024) -> None:
        self._lock = threading.Lock()
        self._epoch = 0
        self._masked = False
        self._current: _Key | None = None
        self._episodes: dict[_Key, _Episode] = {}
        self._floor: _Key | None = None  # keys below are stale
        self._highest: _Key | None = None
        self._new_connection = False
        self._remote: dict[str, Any] = {"env_id": None, "env_state": None, "fps": None, "episode_id": None}
        self._text: deque[str] = deque()
        self._observations: deque[Any] = deque()
        self._max_text = max_text
        self._max_observations = max_observations
        self._max_info_keys = max_info_keys
        self._stats = {
            "rewards": 0,  # reward messages pushed
            "rewards_kept": 0,  # ... that went into an episode
            "dropped_stale": 0,
            "dropped_masked": 0,
            "episodes_skipped": 0,
            "remote_restarts": 0,
            "text_dropped": 0,
            "observations_dropped": 0,
            "info_keys_dropped": 0,
        }

    # -- inputs (from the I/O thread) ---------------------------------------

    def on_connect(self) -> None:
        """A new connection opened: its first describe may reveal a restarted remote."""
        with self._lock:
            self._new_connection = True

    def on_describe(self, episode_id: int, env_id: str, env_state: str, fps: float) -> None:
        """``v0.env.describe``."""
        with self._lock:
            if self._new_connection:
                self._new_connection = False
                if self._highest is not None and episode_id < self._highest[1]:
                    self._epoch += 1
                    self._stats["remote_restarts"] += 1
            self._remote.update(env_id=env_id, env_state=env_state, fps=fps, episode_id=episode_id)
            self._note((self._epoch, episode_id))
            if not self._masked:
                ep = self._episode((self._epoch, episode_id))
                if ep is not None:
                    ep.env_state = env_state

    def on_reward(self, episode_id: int, reward: float, done: bool, info: dict[str, Any] | None = None) -> bool:
        """``v0.env.reward``.  Returns False when the reward was dropped."""
        with self._lock:
            self._stats["rewards"] += 1
            key = (self._epoch, episode_id)
            self._note(key)
            if self._masked:
                self._stats["dropped_masked"] += 1
                return False
            ep = self._episode(key)
            if ep is None:
                self._stats["dropped_stale"] += 1
                return False
            ep.reward += reward
            ep.count += 1
            if done:
                ep.done = True
            if info:
                if len(ep.info) + len(info) <= self._max_info_keys:
                    ep.info.update(info)
                else:
                    for k, v in info.items():
                        if k in ep.info or len(ep.info) < self._max_info_keys:
                            ep.info[k] = v
                        else:
                            self._stats["info_keys_dropped"] += 1
            self._stats["rewards_kept"] += 1
            return True

    def on_text(self, episode_id: int | None, text: str) -> None:
        """``v0.env.text``: kept whatever the episode."""
        with self._lock:
            self._touch(episode_id)
            if len(self._text) >= self._max_text:
                self._text.popleft()
                self._stats["text_dropped"] += 1
            self._text.append(text)

    def on_observation(self, episode_id: int | None, observation: Any) -> None:
        """``v0.env.observation``: kept whatever the episode."""
        with self._lock:
            self._touch(episode_id)
            if len(self._observations) >= self._max_observations:
                self._observations.popleft()
                self._stats["observations_dropped"] += 1
            self._observations.append(observation)

    def mask(self) -> None:
        """A reset request went out: drop the current episode and every message until the reply."""
        with self._lock:
            self._masked = True
            self._current = None
            self._episodes.clear()

    def unmask(self) -> None:
        """The reset failed: accept messages again (the next one names the episode)."""
        with self._lock:
            self._masked = False

    def on_reset_reply(self, episode_id: int) -> None:
        """``v0.reply.env.reset``: the agent's episode is now ``episode_id``."""
        with self._lock:
            self._masked = False
            key = (self._epoch, episode_id)
            self._note(key)
            for k in [k for k in self._episodes if k < key]:
                del self._episodes[k]
            self._floor = key
            self._current = key
            ep = self._episodes.get(key)
            if ep is None:
                state = self._remote["env_state"] if self._remote["episode_id"] == episode_id else None
                ep = self._episodes[key] = _Episode(state)

    # -- output (from step()) -----------------------------------------------

    def pop(self) -> tuple[float, bool, dict[str, Any]]:
        """``(reward, done, info)`` since the last pop; never blocks.

        ``info`` keys: ``episode_id`` (int or None), ``env_state``,
        ``reward_count`` (reward messages summed), ``env_info`` (the reward
        messages' ``info`` objects merged), ``text`` and ``observations``
        (lists), and when ``done``: ``completed_episode_id`` and, if the
        remote never said done, ``artificial_done``.
        """
        with self._lock:
            info: dict[str, Any] = {}
            reward, done = 0.0, False
            key = self._current
            if key is not None:
                ep = self._episodes[key]
                reward, count, done, artificial, env_info = ep.take()
                info["reward_count"] = count
                info["env_info"] = env_info
                if done:
                    info["completed_episode_id"] = key[1]
                    if artificial:
                        info["artificial_done"] = True
                    del self._episodes[key]
                    self._floor = (key[0], key[1] + 1)
                    key = self._current = self._advance()
            else:
                info["reward_count"] = 0
                info["env_info"] = {}
            info["episode_id"] = key[1] if key is not None else None
            info["env_state"] = self._episodes[key].env_state if key is not None else None
            info["text"] = list(self._text)
            info["observations"] = list(self._observations)
            self._text.clear()
            self._observations.clear()
            return reward, done, info

    # -- state --------------------------------------------------------------

    @property
    def episode_id(self) -> int | None:
        """The episode the next pop reports on (None before any)."""
        with self._lock:
            return self._current[1] if self._current is not None else None

    @property
    def masked(self) -> bool:
        with self._lock:
            return self._masked

    @property
    def remote(self) -> dict[str, Any]:
        """The last describe: ``env_id``, ``env_state``, ``fps``, ``episode_id``."""
        with self._lock:
            return dict(self._remote)

    def stats(self) -> dict[str, int]:
        """Counters: ``rewards``, ``rewards_kept``, ``dropped_stale``, ``dropped_masked``, ..."""
        with self._lock:
            return dict(self._stats)

    # -- internals (lock held) ----------------------------------------------

    def _note(self, key: _Key) -> None:
        if self._highest is None or key > self._highest:
            self._highest = key

    def _touch(self, episode_id: int | None) -> None:
        if episode_id is not None:
            key = (self._epoch, episode_id)
            self._note(key)
            if not self._masked:
                self._episode(key)

    def _episode(self, key: _Key) -> _Episode | None:
        """The episode of ``key``, started if new; None if stale."""
        if self._floor is not None and key < self._floor:
            return None
        if self._episodes and key < max(self._episodes):
            return None  # the remote has begun a newer episode: a late message
        ep = self._episodes.get(key)
        if ep is None:
            ep = self._episodes[key] = _Episode()
            if self._current is None:
                self._current = key
            skipped = [k for k in self._episodes if k != key and k != self._current]
            for k in skipped:  # began and ended between two pops: nobody will see them
                del self._episodes[k]
            self._stats["episodes_skipped"] += len(skipped)
            for k, other in self._episodes.items():
                if k < key and not other.done:
                    other.done = True
                    other.artificial = True
        return ep

    def _advance(self) -> _Key | None:
        """After the current episode completed: the newest episode begun, or None."""
        if not self._episodes:
            return None
        newest = max(self._episodes)
        older = [k for k in self._episodes if k < newest]
        for k in older:
            del self._episodes[k]
        self._stats["episodes_skipped"] += len(older)
        return newest
