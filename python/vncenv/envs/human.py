"""``render_mode="human"``: the observations in a window on ``$DISPLAY`` (pygame)."""

from __future__ import annotations

import os

import numpy as np

from ..error import UsageError

__all__ = ["HumanWindow"]


class HumanWindow:
    """A window showing (H, W, 3) uint8 frames; needs an X display and pygame."""

    def __init__(self, title: str, shape: tuple[int, ...]) -> None:
        if not os.environ.get("DISPLAY") and os.environ.get("SDL_VIDEODRIVER") in (None, "x11"):
            raise UsageError('render_mode="human" needs an X display ($DISPLAY is not set); use "rgb_array"')
        try:
            import pygame
        except ImportError:
            raise UsageError('render_mode="human" needs pygame: pip install "vncenv[runtime]"') from None
        self._pygame = pygame
        pygame.display.init()
        self.size = (int(shape[1]), int(shape[0]))
        self.surface = pygame.display.set_mode(self.size)
        pygame.display.set_caption(title)

    def show(self, frame: np.ndarray) -> None:
        """Draw one frame and keep the window responsive."""
        pg = self._pygame
        pg.event.pump()
        pg.surfarray.blit_array(self.surface, np.ascontiguousarray(frame.transpose(1, 0, 2)))
        pg.display.flip()

    def close(self) -> None:
        self._pygame.display.quit()
