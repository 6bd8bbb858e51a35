"""Gymnasium wrappers for vncenv envs.

* actions: :class:`DiscreteToFixedKeys`, :class:`ClickGrid` (a Discrete
  action space over an env whose actions are VNC events);
* vision: :class:`Vision`, :class:`CropObservation`, :class:`ResizeObservation`;
* :class:`Logger`: fps, lags and reward rate every few seconds;
* :class:`Recording`: per-episode FBS stream, rewards and actions (JSONL),
  crash-consistent.
"""

from .actions import ClickGrid, DiscreteToFixedKeys
from .logger import Logger
from .recording import EpisodeRecorder, Recording
from .vision import CropObservation, ResizeObservation, Vision

__all__ = [
    "ClickGrid",
    "CropObservation",
    "DiscreteToFixedKeys",
    "EpisodeRecorder",
    "Logger",
    "Recording",
    "ResizeObservation",
    "Vision",
]
