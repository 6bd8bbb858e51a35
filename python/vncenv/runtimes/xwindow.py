"""A window on an X display that shows RGB frames and reports keys (python-xlib).

Runtimes draw each game frame with :meth:`XWindow.show` and read the keys an
agent pressed through VNC with :meth:`XWindow.pressed`.  The window covers the
screen from (0, 0), has no decorations (there is no window manager), owns the
keyboard focus and hides the pointer, so the VNC picture is the frame alone.
"""

from __future__ import annotations

import numpy as np

__all__ = ["XWindow"]

# python-xlib sends no BIG-REQUESTS: one request carries at most 2^18 bytes.
_MAX_REQUEST_BYTES = 250_000


class XWindow:
    """A borderless window of ``width`` x ``height`` at the screen's origin.

    :param display: X display name, e.g. ``":5"``.
    """

    def __init__(self, display: str, width: int, height: int, title: str = "vncenv") -> None:
        from Xlib import X, XK
        from Xlib import display as xdisplay

        self._X, self._XK = X, XK
        self.display_name = display
        self.d = xdisplay.Display(display)
        screen = self.d.screen()
        self.root = screen.root
        visual = next(
            v for depth in screen.allowed_depths if depth.depth == screen.root_depth for v in depth.visuals
            if v.visual_id == screen.root_visual
        )  # fmt: skip
        if screen.root_depth != 24 or (visual.red_mask, visual.green_mask, visual.blue_mask) != (
            0xFF0000, 0x00FF00, 0x0000FF,
        ):  # fmt: skip
            raise RuntimeError(f"display {display} is not 24-bit xRGB (depth {screen.root_depth})")
        self.width, self.height = width, height
        self.window = self.root.create_window(
            0, 0, width, height, 0, screen.root_depth, X.InputOutput, X.CopyFromParent,
            background_pixel=screen.black_pixel, override_redirect=True,
            event_mask=X.KeyPressMask | X.KeyReleaseMask | X.FocusChangeMask,
        )  # fmt: skip
        self.window.set_wm_name(title)
        self.gc = self.window.create_gc(graphics_exposures=False)
        self._hide_pointer()
        self.window.map()
        self.d.sync()
        self.window.set_input_focus(X.RevertToPointerRoot, X.CurrentTime)
        self._bgrx: np.ndarray | None = None
        self._pressed: set[int] = set()
        self.d.sync()

    def _hide_pointer(self) -> None:
        pixmap = self.window.create_pixmap(1, 1, 1)
        gc = pixmap.create_gc(foreground=0, background=0)
        pixmap.fill_rectangle(gc, 0, 0, 1, 1)
        cursor = pixmap.create_cursor(pixmap, (0, 0, 0), (0, 0, 0), 0, 0)
        self.window.change_attributes(cursor=cursor)
        self.root.change_attributes(cursor=cursor)
        gc.free()
        pixmap.free()

    def resize(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.window.configure(width=width, height=height)
        self._bgrx = None
        self.d.sync()

    def show(self, rgb: np.ndarray, x: int = 0, y: int = 0) -> None:
        """Draw an (h, w, 3) uint8 RGB image at (x, y) of the window."""
        h, w = rgb.shape[:2]
        if self._bgrx is None or self._bgrx.shape[:2] != (h, w):
            self._bgrx = np.zeros((h, w, 4), np.uint8)
        bgrx = self._bgrx
        bgrx[:, :, 0] = rgb[:, :, 2]
        bgrx[:, :, 1] = rgb[:, :, 1]
        bgrx[:, :, 2] = rgb[:, :, 0]
        rows = max(1, _MAX_REQUEST_BYTES // (w * 4))
        for y0 in range(0, h, rows):
            band = bgrx[y0 : y0 + rows]
            self.window.put_image(self.gc, x, y + y0, w, band.shape[0], self._X.ZPixmap, 24, 0, band.tobytes())
        self.d.flush()

    def sync(self) -> None:
        """Wait until the X server has drawn everything sent so far."""
        self.d.sync()

    def pressed(self) -> set[str]:
        """Names of the keys held down now (X keysym names, e.g. "Left", "space")."""
        X, XK = self._X, self._XK
        while self.d.pending_events():
            event = self.d.next_event()
            if event.type in (X.KeyPress, X.KeyRelease):
                keysym = self.d.keycode_to_keysym(event.detail, 0)
                if event.type == X.KeyPress:
                    self._pressed.add(keysym)
                else:
                    self._pressed.discard(keysym)
            elif event.type == X.FocusOut:
                self.window.set_input_focus(X.RevertToPointerRoot, X.CurrentTime)
        return {_keysym_name(k) for k in self._pressed}

    def close(self) -> None:
        try:
            self.window.destroy()
            self.d.close()
        except Exception:  # the X server may be gone already
            pass


_NAMES: dict[int, str] = {}


def _keysym_name(keysym: int) -> str:
    """The X name of a keysym ("Left", "space", "a"), or its number in hex."""
    if not _NAMES:
        from Xlib import XK

        for attr in dir(XK):
            if attr.startswith("XK_"):
                _NAMES.setdefault(getattr(XK, attr), attr[3:])
    return _NAMES.get(keysym, f"0x{keysym:x}")
