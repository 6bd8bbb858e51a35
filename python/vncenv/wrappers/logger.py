"""Logger: a periodic one-line summary of an env's pace, lags and rewards.

Every ``interval`` seconds (checked when a step returns) the wrapper logs,
through :mod:`logging`, one INFO line::

    vncenv: 59.8 steps/s, 299 steps in 5.00 s, reward 1.0 (0.20/s), episodes 1 (total 3),
    lags (median of upper bounds) observation=3.1ms rewarder_message=1.2ms

``fps`` is steps per second over the interval; the lags are the medians of
the upper bounds of the ``info["lags.<name>"]`` ``(lower, upper)`` bounds (in
seconds) of the interval's steps; the reward rate is the interval's reward
sum divided by its length; episodes are the steps that ended one
(``terminated or truncated``).  The same figures are kept in
:attr:`Logger.last_summary`.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from typing import Any

import gymnasium as gym

from ..error import UsageError

__all__ = ["Logger", "LOGGER_NAME"]

LOGGER_NAME = "vncenv.wrappers.logger"
_LAG_PREFIX = "lags."


def _upper(value: Any) -> float | None:
    """The upper bound of a ``(lower, upper)`` lag (a bare number counts as both)."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        value = value[1]
    try:
        upper = float(value)
    except (TypeError, ValueError):
        return None
    return upper if math.isfinite(upper) else None


class Logger(gym.Wrapper):
    """Log steps/s, lags, reward rate and episodes every ``interval`` seconds.

    :param interval: seconds between summaries (> 0).
    :param logger: a :class:`logging.Logger` or a logger name; by default
        ``logging.getLogger("vncenv.wrappers.logger")``.
    :param level: the level of the summary lines.
    """

    def __init__(
        self,
        env: gym.Env,
        interval: float = 5.0,
        logger: logging.Logger | str | None = None,
        level: int = logging.INFO,
    ) -> None:
        super().__init__(env)
        try:
            interval = float(interval)
        except (TypeError, ValueError):
            raise UsageError(f"interval must be a number of seconds, not {interval!r}") from None
        if not (interval > 0 and math.isfinite(interval)):
            raise UsageError(f"interval must be > 0 seconds, not {interval!r}")
        if logger is None or isinstance(logger, str):
            logger = logging.getLogger(logger or LOGGER_NAME)
        elif not isinstance(logger, logging.Logger):
            raise UsageError(f"logger must be a logging.Logger, a name or None, not {type(logger).__name__}")
        self.interval, self.logger, self.level = interval, logger, level
        #: the figures of the last summary (None before the first one)
        self.last_summary: dict[str, Any] | None = None
        self.summaries = 0
        self.total_steps = 0
        self.total_episodes = 0
        self._start_interval(time.monotonic())

    def _start_interval(self, now: float) -> None:
        self._since = now
        self._steps = 0
        self._reward = 0.0
        self._episodes = 0
        self._lags: dict[str, list[float]] = {}

    def reset(self, **kwargs: Any):
        return self.env.reset(**kwargs)

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._steps += 1
        self.total_steps += 1
        try:
            self._reward += float(reward)
        except (TypeError, ValueError):
            pass
        if terminated or truncated:
            self._episodes += 1
            self.total_episodes += 1
        for key, value in info.items():
            if isinstance(key, str) and key.startswith(_LAG_PREFIX):
                upper = _upper(value)
                if upper is not None:
                    self._lags.setdefault(key[len(_LAG_PREFIX) :], []).append(upper)
        now = time.monotonic()
        if now - self._since >= self.interval:
            self.log_summary(now)
        return obs, reward, terminated, truncated, info

    def summary(self, now: float | None = None) -> dict[str, Any]:
        """The figures of the interval so far (without logging or starting a new one)."""
        now = time.monotonic() if now is None else now
        elapsed = max(now - self._since, 1e-9)
        return {
            "elapsed": elapsed,
            "steps": self._steps,
            "fps": self._steps / elapsed,
            "reward": self._reward,
            "reward_rate": self._reward / elapsed,
            "episodes": self._episodes,
            "total_steps": self.total_steps,
            "total_episodes": self.total_episodes,
            "lags": {name: statistics.median(values) for name, values in sorted(self._lags.items())},
        }

    def log_summary(self, now: float | None = None) -> dict[str, Any]:
        """Log the interval's summary now, start a new interval, and return it."""
        now = time.monotonic() if now is None else now
        summary = self.summary(now)
        lags = " ".join(f"{name}={value * 1000:.1f}ms" for name, value in summary["lags"].items())
        self.logger.log(
            self.level,
            "vncenv: %.1f steps/s, %d steps in %.2f s, reward %g (%.3g/s), episodes %d (total %d)%s",
            summary["fps"], summary["steps"], summary["elapsed"], summary["reward"], summary["reward_rate"],
            summary["episodes"], summary["total_episodes"],
            f", lags (median of upper bounds) {lags}" if lags else "",
        )  # fmt: skip
        self.last_summary = summary
        self.summaries += 1
        self._start_interval(now)
        return summary
