"""gym-core: Gymnasium and ALE games served over VNC (see :mod:`.runtime`)."""

from .runtime import MODES, Geometry, GymCoreRuntime

__all__ = ["GymCoreRuntime", "Geometry", "MODES"]
