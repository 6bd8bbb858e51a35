"""Explicit bounds on what a server may make us allocate or parse.

Every length the server sends is checked against one of these before any
memory is reserved.  Exceeding a limit is a :class:`vncenv.error.ProtocolError`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limits", "DEFAULT_LIMITS"]


@dataclass(frozen=True)
class Limits:
    """Caps applied to one connection.

    :param max_width: largest framebuffer width accepted (ServerInit, DesktopSize).
    :param max_height: largest framebuffer height accepted.
    :param max_cursor_size: largest cursor width or height.
    :param max_cut_text: largest ServerCutText, in bytes.
    :param max_rects: most rectangles in one FramebufferUpdate (LastRect mode included).
    :param max_update_bytes: largest FramebufferUpdate message, in bytes; the
        whole update is buffered before it is decoded.
    :param max_name_length: largest desktop name in ServerInit.
    :param max_reason_length: largest failure reason string during the handshake.
    """

    max_width: int = 8192
    max_height: int = 8192
    max_cursor_size: int = 1024
    max_cut_text: int = 1 << 20
    max_rects: int = 1 << 20
    max_update_bytes: int = 256 << 20
    max_name_length: int = 4096
    max_reason_length: int = 4096

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                from .error import UsageError

                raise UsageError(f"Limits.{name} must be a positive int, got {value!r}")
        if self.max_width > 32767 or self.max_height > 32767:
            from .error import UsageError

            raise UsageError("Limits.max_width and max_height must be at most 32767")


DEFAULT_LIMITS = Limits()
