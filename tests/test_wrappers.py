"""The vision and logger wrappers: pure numpy checks, and on a real Pong remote."""

from __future__ import annotations

import logging
from fractions import Fraction

import gymnasium
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.wrappers import TransformObservation

import vncenv  # noqa: F401  (registers the vncenv/ ids)
from vncenv.error import UsageError
from vncenv.wrappers.logger import LOGGER_NAME, Logger
from vncenv.wrappers.vision import (
    CropObservation,
    ResizeObservation,
    Vision,
    crop,
    resize_area,
    resize_nearest,
)

PONG = (210, 160, 3)


# --------------------------------------------------------------------------
# Pure numpy


def picture(h: int, w: int, c: int | None = 3, seed: int = 0) -> np.ndarray:
    shape = (h, w) if c is None else (h, w, c)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def area_reference(src: np.ndarray, h: int, w: int) -> np.ndarray:
    """Area resize in exact fractions, rounded half up (slow, small pictures only)."""
    H, W = src.shape[:2]
    out = np.zeros((h, w, *src.shape[2:]), np.uint8)

    def weights(n_src: int, n_dst: int, i: int) -> list[tuple[int, Fraction]]:
        lo, hi = Fraction(i * n_src, n_dst), Fraction((i + 1) * n_src, n_dst)
        return [(j, (min(hi, j + 1) - max(lo, j)) / (hi - lo)) for j in range(n_src) if j + 1 > lo and j < hi]

    for i in range(h):
        for k in range(w):
            acc = np.zeros(src.shape[2:], dtype=object)
            for y, wy in weights(H, h, i):
                for x, wx in weights(W, w, k):
                    acc = acc + src[y, x].astype(object) * (wy * wx)
            flat = np.atleast_1d(acc)
            out[i, k] = np.array([int(v + Fraction(1, 2)) for v in flat]).reshape(src.shape[2:])
    return out


def test_crop_is_an_owned_copy_of_the_region():
    p = picture(20, 30)
    c = crop(p, 5, 3, 10, 7)
    np.testing.assert_array_equal(c, p[3:10, 5:15])
    assert c.flags.c_contiguous and c.flags.owndata and not np.shares_memory(c, p)
    full = crop(p, 0, 0, 30, 20)  # a contiguous region is copied too
    assert not np.shares_memory(full, p)
    for bad in [(-1, 0, 5, 5), (0, 0, 31, 5), (26, 0, 5, 5), (0, 16, 5, 5), (0, 0, 0, 5)]:
        with pytest.raises(UsageError):
            crop(p, *bad)


def test_resize_nearest():
    p = picture(8, 12)
    np.testing.assert_array_equal(resize_nearest(p, 8, 12), p)
    np.testing.assert_array_equal(resize_nearest(p, 4, 6), p[1::2, 1::2])  # the pixel under each centre
    np.testing.assert_array_equal(resize_nearest(p, 16, 36), np.repeat(np.repeat(p, 2, 0), 3, 1))
    g = picture(9, 7, None)
    out = resize_nearest(g, 4, 5)
    assert out.shape == (4, 5) and set(np.unique(out)) <= set(np.unique(g))


def test_resize_area_whole_factors_are_block_means():
    p = picture(12, 18)
    out = resize_area(p, 4, 6)
    sums = p.reshape(4, 3, 6, 3, 3).sum(axis=(1, 3), dtype=np.int64)
    np.testing.assert_array_equal(out, (sums * 2 + 9) // 18)  # the mean, rounded half up
    np.testing.assert_array_equal(resize_area(p, 12, 18), p)
    flat = np.full((10, 14, 3), 77, np.uint8)
    assert (resize_area(flat, 3, 5) == 77).all() and (resize_area(flat, 23, 31) == 77).all()


@pytest.mark.parametrize("src,dst", [((7, 9), (3, 4)), ((5, 5), (8, 3)), ((10, 6), (4, 6)), ((3, 11), (2, 5))])
def test_resize_area_matches_exact_fractions(src, dst):
    for c in (3, None):
        p = picture(*src, c, seed=sum(src))
        got, want = resize_area(p, *dst), area_reference(p, *dst)
        assert got.shape == want.shape == (*dst, *p.shape[2:])
        # float rounding may only move an exact .5 tie
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
        assert np.mean(got == want) > 0.95


# --------------------------------------------------------------------------
# Construction (no remote is started: VNCEnv connects on its first reset)


@pytest.fixture
def lazy_pong():
    env = gymnasium.make("vncenv/Pong-v0")
    yield env
    env.close()


def test_spaces_and_argument_checks(lazy_pong):
    c = CropObservation(lazy_pong, 8, 34, 144, 160)
    assert c.observation_space == spaces.Box(0, 255, (160, 144, 3), np.uint8)
    r = ResizeObservation(c, (84, 84))
    assert r.observation_space == spaces.Box(0, 255, (84, 84, 3), np.uint8)
    assert Vision(lazy_pong).observation_space == lazy_pong.observation_space
    for bad in [(0, 0, 161, 10), (0, 200, 10, 11), (-1, 0, 5, 5), (0, 0, 0, 5), (1.5, 0, 5, 5), (True, 0, 5, 5)]:
        with pytest.raises(UsageError):
            CropObservation(lazy_pong, *bad)
    for shape in [(84,), (0, 84), (84, -1), "84x84", (84.0, 84)]:
        with pytest.raises(UsageError):
            ResizeObservation(lazy_pong, shape)
    with pytest.raises(UsageError):
        ResizeObservation(lazy_pong, (84, 84), method="bicubic")
    for interval in (0, -1, "soon", float("inf")):
        with pytest.raises(UsageError):
            Logger(lazy_pong, interval=interval)


def test_vision_takes_the_vision_entry_of_dict_observations(lazy_pong):
    box = lazy_pong.observation_space
    dict_env = TransformObservation(
        lazy_pong, lambda obs: {"vision": obs, "text": []},
        spaces.Dict({"vision": box, "text": spaces.Sequence(spaces.Text(10))}),
    )  # fmt: skip
    v = Vision(dict_env)
    assert v.observation_space == box
    frame = picture(*PONG[:2])
    out = v.observation({"vision": frame, "text": []})
    np.testing.assert_array_equal(out, frame)
    assert out.flags.owndata and not np.shares_memory(out, frame)
    no_vision = TransformObservation(lazy_pong, lambda obs: {"pixels": obs}, spaces.Dict({"pixels": box}))
    with pytest.raises(UsageError, match="vision"):
        Vision(no_vision)
    cartpole = gymnasium.make("CartPole-v1")
    with pytest.raises(UsageError):
        Vision(cartpole)
    cartpole.close()


# --------------------------------------------------------------------------
# On a real Pong remote


@pytest.fixture(scope="module")
def pong():
    env = gymnasium.make("vncenv/Pong-v0", mode="sync")
    yield env
    env.close()


def capture(env):
    """Wrap ``env`` so that every observation it returns is also kept in a list."""
    seen: list[np.ndarray] = []

    def keep(obs):
        seen.append(obs.copy())
        return obs

    return TransformObservation(env, keep, env.observation_space), seen


def test_vision_crop_resize_on_pong(pong):
    inner, seen = capture(pong)
    vision = Vision(inner)
    cropped = CropObservation(inner, 8, 34, 144, 160)
    small = ResizeObservation(cropped, (80, 72))  # 2x down: block means
    nearest = ResizeObservation(inner, (105, 80), method="nearest")

    obs, _ = vision.reset(seed=5)
    np.testing.assert_array_equal(obs, seen[-1])
    assert obs.flags.owndata and obs.flags.c_contiguous and obs.dtype == np.uint8
    for i in range(30):
        action = i % 6
        obs, _, terminated, truncated, info = vision.step(action)
        assert "error" not in info and vision.observation_space.contains(obs)
        np.testing.assert_array_equal(obs, seen[-1])
        assert not np.shares_memory(obs, seen[-1])

        c, *_ = cropped.step(action)
        assert cropped.observation_space.contains(c)
        np.testing.assert_array_equal(c, seen[-1][34:194, 8:152])

        s, *_ = small.step(action)
        assert small.observation_space.contains(s)
        blocks = seen[-1][34:194, 8:152].reshape(80, 2, 72, 2, 3).sum(axis=(1, 3), dtype=np.int64)
        np.testing.assert_array_equal(s, (blocks * 2 + 4) // 8)

        n, *_ = nearest.step(action)
        np.testing.assert_array_equal(n, seen[-1][1::2, 1::2])
    # the game moved: the pictures are not all the same
    assert len({o.tobytes() for o in seen}) > 5


def test_logger_on_pong(pong, caplog):
    env = Logger(pong, interval=0.2)
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    env.reset(seed=1)
    steps = 0
    while env.summaries < 2:
        _, _, terminated, truncated, info = env.step(steps % 6)
        steps += 1
        assert steps < 5000, "no summary within 5000 steps"
    records = [r for r in caplog.records if r.name == LOGGER_NAME]
    assert len(records) == 2 and all(r.levelno == logging.INFO for r in records)
    message = records[-1].getMessage()
    assert "steps/s" in message and "lags (median of upper bounds)" in message and "observation=" in message
    summary = env.last_summary
    assert summary["steps"] > 0 and summary["elapsed"] >= 0.2
    assert summary["fps"] == pytest.approx(summary["steps"] / summary["elapsed"])
    assert summary["reward_rate"] == pytest.approx(summary["reward"] / summary["elapsed"])
    assert summary["total_steps"] == steps == env.total_steps
    assert 0 <= summary["lags"]["observation"] < 1.0
    assert summary["episodes"] == 0  # Pong episodes are far longer
    # a summary on demand covers the steps since the last one
    for _ in range(5):
        env.step(0)
    now = env.log_summary()
    assert now["steps"] == 5 and now["total_steps"] == steps + 5 and env.summaries == 3


def test_logger_counts_episodes_and_uses_the_given_logger(pong, caplog):
    """An episode end (here: a truncation by TimeLimit) is counted."""
    name = "test.vncenv.logger"
    caplog.set_level(logging.DEBUG, logger=name)
    env = Logger(gymnasium.wrappers.TimeLimit(pong, max_episode_steps=10), interval=60, logger=name,
                 level=logging.DEBUG)  # fmt: skip
    env.reset(seed=2)
    for _ in range(10):
        _, _, terminated, truncated, _ = env.step(1)
    assert truncated and not terminated
    env.reset(seed=2)
    for _ in range(3):
        env.step(1)
    summary = env.log_summary()
    assert summary["episodes"] == 1 and summary["steps"] == 13 and env.total_episodes == 1
    assert [r.levelno for r in caplog.records if r.name == name] == [logging.DEBUG]
