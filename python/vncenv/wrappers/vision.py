"""Observation wrappers for pictures: keep the pixels, crop them, resize them.

* :class:`Vision`: the pixel part of an observation (Universe's ``vision``
  key when the observation is a dict), always an owned C-contiguous uint8
  copy.  vncenv's own observations already are such arrays, so for them it
  is a pass-through that guarantees ownership.
* :class:`CropObservation`: a fixed ``(x, y, width, height)`` region.
* :class:`ResizeObservation`: a new ``(height, width)``, by nearest neighbour
  or area averaging, in numpy (no OpenCV).

Each takes ``(H, W, C)`` or ``(H, W)`` uint8 observations and declares the
matching ``Box(0, 255, shape, uint8)`` observation space.  The pure functions
:func:`crop`, :func:`resize_nearest` and :func:`resize_area` do the work.
"""

from __future__ import annotations

import operator
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ..error import Error, UsageError

__all__ = [
    "Vision",
    "CropObservation",
    "ResizeObservation",
    "crop",
    "resize_nearest",
    "resize_area",
    "RESIZE_METHODS",
]

RESIZE_METHODS = ("area", "nearest")
_VISION_KEY = "vision"


def _picture_space(space: Any, wrapper: str) -> spaces.Box:
    """``space`` checked to be a uint8 Box of shape (H, W) or (H, W, C)."""
    if not (isinstance(space, spaces.Box) and space.dtype == np.uint8 and len(space.shape) in (2, 3)):
        raise UsageError(f"{wrapper} needs observations in a uint8 Box of shape (H, W[, C]), not {space!r}")
    return space


def _box(shape: tuple[int, ...]) -> spaces.Box:
    return spaces.Box(0, 255, shape, np.uint8)


def _int(value: Any, what: str, low: int) -> int:
    """``value`` as an int >= ``low`` (numpy integers too; not bool, not float)."""
    if isinstance(value, (bool, np.bool_)):
        raise UsageError(f"{what} must be an int, not {value!r}")
    try:
        v = operator.index(value)
    except TypeError:
        raise UsageError(f"{what} must be an int, not {type(value).__name__} {value!r}") from None
    if v < low:
        raise UsageError(f"{what} must be >= {low}, not {v}")
    return v


def _check_picture(obs: Any, space: spaces.Box, wrapper: str) -> np.ndarray:
    """The observation as an array, checked against the space the wrapper was built for."""
    array = np.asarray(obs)
    if array.shape != space.shape or array.dtype != np.uint8:
        raise Error(
            f"{wrapper}: the env returned a {array.dtype} array of shape {array.shape}, "
            f"not the uint8 {space.shape} its observation space declares"
        )
    return array


# --------------------------------------------------------------------------
# The pure functions


def crop(picture: np.ndarray, x: int, y: int, width: int, height: int) -> np.ndarray:
    """An owned C-contiguous copy of ``picture[y:y+height, x:x+width]``.

    :raises UsageError: the region is not inside the picture.
    """
    h, w = picture.shape[:2]
    if x < 0 or y < 0 or width <= 0 or height <= 0 or x + width > w or y + height > h:
        raise UsageError(f"crop ({x}, {y}, {width}, {height}) is not inside a {w}x{h} picture")
    return np.array(picture[y : y + height, x : x + width], order="C", copy=True)


def _nearest_index(src: int, dst: int) -> np.ndarray:
    """For each of ``dst`` output positions, the source index under its centre."""
    return np.minimum(((np.arange(dst) * 2 + 1) * src) // (2 * dst), src - 1)


def resize_nearest(picture: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize: each output pixel is the source pixel under its centre."""
    h, w = picture.shape[:2]
    rows, cols = _nearest_index(h, height), _nearest_index(w, width)
    return np.ascontiguousarray(picture[rows[:, None], cols[None, :]])


def _area_weights(src: int, dst: int) -> np.ndarray:
    """A ``(dst, src)`` matrix: row i holds the share of each source pixel in output pixel i.

    Output pixel i covers ``[i * src / dst, (i + 1) * src / dst)`` of the
    source; the weight of source pixel j is its overlap with that span,
    divided by the span's length (rows sum to 1).  Exact in integers: every
    bound is scaled by ``dst``.
    """
    lo = np.arange(dst, dtype=np.int64)[:, None] * src  # output spans, scaled by dst
    hi = lo + src
    j = np.arange(src, dtype=np.int64)[None, :] * dst  # source pixels, scaled by dst
    overlap = np.clip(np.minimum(hi, j + dst) - np.maximum(lo, j), 0, None)
    return (overlap / src).astype(np.float64)


class _AreaResizer:
    """Area-average resize of (H, W[, C]) pictures to a fixed size, weights precomputed."""

    def __init__(self, src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> None:
        self.src_hw, self.dst_hw = src_hw, dst_hw
        self.rows = _area_weights(src_hw[0], dst_hw[0])  # (h, H)
        self.cols = _area_weights(src_hw[1], dst_hw[1]).T.copy()  # (W, w)

        # whole-number factors: block means in integers (exact)
        fy, ry = divmod(src_hw[0], dst_hw[0])
        fx, rx = divmod(src_hw[1], dst_hw[1])
        self.block = (fy, fx) if fy and fx and not ry and not rx else None

    def __call__(self, picture: np.ndarray) -> np.ndarray:
        h_in, w_in = self.src_hw
        h, w = self.dst_hw
        channels = picture.shape[2:]  # () or (C,)
        c = channels[0] if channels else 1
        if self.block is not None:
            fy, fx = self.block
            n = fy * fx
            sums = picture.reshape(h, fy, w, fx, c).sum(axis=(1, 3), dtype=np.uint32)
            out = ((sums * 2 + n) // (2 * n)).astype(np.uint8)  # rounded half up
        else:
            a = picture.reshape(h_in, w_in * c).astype(np.float64)
            t = (self.rows @ a).reshape(h, w_in, c)  # rows averaged: (h, W, C)
            mixed = np.einsum("ywc,wx->yxc", t, self.cols, optimize=True)  # then columns: (h, w, C)
            out = np.clip(np.floor(mixed + 0.5), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(out.reshape((h, w, *channels)))


def resize_area(picture: np.ndarray, height: int, width: int) -> np.ndarray:
    """Area-average resize (a box filter): each output pixel is the mean of the
    source area it covers, fractional pixels weighted by their share, rounded
    half up.  For whole-number factors it is the exact mean of each block."""
    return _AreaResizer(picture.shape[:2], (height, width))(picture)


# --------------------------------------------------------------------------
# Wrappers


class Vision(gym.ObservationWrapper):
    """Keep only the pixels of the observation, as an owned C-contiguous uint8 copy.

    If the wrapped env's observations are dicts (OpenAI Universe's
    ``{"vision": pixels, "text": ...}``), the ``"vision"`` entry is kept and
    the observation space becomes that entry's space.  vncenv's observations
    already are ``(H, W, 3)`` uint8 arrays: then this wrapper only
    guarantees a fresh copy the env will never write to again, so that an
    agent may keep observations (a replay buffer) without copying them.

    :raises UsageError: the observation space is not a uint8 picture Box (or a
        Dict with one under ``"vision"``).
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        space = env.observation_space
        self._key: str | None = None
        if isinstance(space, spaces.Dict):
            if _VISION_KEY not in space.spaces:
                raise UsageError(f"Vision: the observation dict has no {_VISION_KEY!r} entry: {space!r}")
            self._key = _VISION_KEY
            space = space.spaces[_VISION_KEY]
        self.observation_space = _picture_space(space, "Vision")

    def observation(self, observation: Any) -> np.ndarray:
        if self._key is not None:
            observation = observation[self._key]
        return np.array(_check_picture(observation, self.observation_space, "Vision"), order="C", copy=True)


class CropObservation(gym.ObservationWrapper):
    """Crop observations to the region ``(x, y, width, height)`` (pixels, top-left origin).

    :raises UsageError: a bad argument, or a region not inside the env's pictures.
    """

    def __init__(self, env: gym.Env, x: int, y: int, width: int, height: int) -> None:
        super().__init__(env)
        space = _picture_space(env.observation_space, "CropObservation")
        h, w = space.shape[:2]
        x, y = _int(x, "x", 0), _int(y, "y", 0)
        width, height = _int(width, "width", 1), _int(height, "height", 1)
        if x + width > w or y + height > h:
            raise UsageError(
                f"CropObservation: the region x={x} y={y} width={width} height={height} "
                f"is not inside the {w}x{h} observations"
            )
        self.region = (x, y, width, height)
        self._source_space = space
        self.observation_space = _box((height, width, *space.shape[2:]))

    def observation(self, observation: Any) -> np.ndarray:
        return crop(_check_picture(observation, self._source_space, "CropObservation"), *self.region)


class ResizeObservation(gym.ObservationWrapper):
    """Resize observations to ``shape = (height, width)``.

    :param method: ``"area"`` (default: the mean of the area each output pixel
        covers, right for shrinking) or ``"nearest"`` (the source pixel under
        each output pixel's centre; keeps exact colours).
    :raises UsageError: a bad shape or method.
    """

    def __init__(self, env: gym.Env, shape: tuple[int, int], method: str = "area") -> None:
        super().__init__(env)
        space = _picture_space(env.observation_space, "ResizeObservation")
        if isinstance(shape, (str, bytes)) or not hasattr(shape, "__len__") or len(shape) != 2:
            raise UsageError(f"shape must be (height, width), not {shape!r}")
        height, width = _int(shape[0], "height", 1), _int(shape[1], "width", 1)
        if method not in RESIZE_METHODS:
            raise UsageError(f"method must be one of {RESIZE_METHODS}, not {method!r}")
        self.shape, self.method = (height, width), method
        self._source_space = space
        self.observation_space = _box((height, width, *space.shape[2:]))
        if method == "area":
            self._resize = _AreaResizer(space.shape[:2], (height, width))
        else:
            rows, cols = _nearest_index(space.shape[0], height), _nearest_index(space.shape[1], width)
            self._resize = lambda p: np.ascontiguousarray(p[rows[:, None], cols[None, :]])

    def observation(self, observation: Any) -> np.ndarray:
        return self._resize(_check_picture(observation, self._source_space, "ResizeObservation"))
