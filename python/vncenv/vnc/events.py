"""Events that :class:`vncenv.vnc.protocol.RFBClientProtocol` emits.

One event per server message (the handshake yields one, :class:`ServerInit`).
They are small immutable records: frozen dataclasses with ``__slots__``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Event",
    "ServerInit",
    "FramebufferUpdate",
    "ColourMapEntries",
    "Bell",
    "ServerCutText",
    "EndOfContinuousUpdates",
    "Fence",
    "ConnectionClosed",
]


@dataclass(frozen=True, slots=True)
class ServerInit:
    """The handshake finished: the server's ServerInit message.

    :param width: framebuffer width in pixels.
    :param height: framebuffer height in pixels.
    :param name: desktop name (UTF-8, or Latin-1 if it is not valid UTF-8).
    :param pixel_format: the server's native 16-byte PIXEL_FORMAT, as sent.
        It is informational only: the protocol immediately asks for the
        canonical format (:data:`vncenv.vnc.constants.CANONICAL_PIXEL_FORMAT`).
    """

    width: int
    height: int
    name: str
    pixel_format: bytes


@dataclass(frozen=True, slots=True)
class FramebufferUpdate:
    """A whole FramebufferUpdate was decoded into the framebuffer.

    :param rects: rectangles in the update (pseudo-encodings included).
    :param nbytes: length of the message in bytes.
    :param pixels: area of the pixel-carrying rectangles.
    :param resized: a DesktopSize / ExtendedDesktopSize changed the
        framebuffer size; its ``.array`` is a new object.
    :param cursor_changed: the update carried a new cursor shape.
    :param updates: how many updates this event stands for: more than 1
        only when the protocol coalesces back-to-back updates
        (``coalesce_updates``); the other fields then sum (or, for the
        flags, OR) over them.
    """

    rects: int
    nbytes: int
    pixels: int
    resized: bool
    cursor_changed: bool
    updates: int = 1


@dataclass(frozen=True, slots=True)
class ColourMapEntries:
    """SetColourMapEntries.  We always use true colour, so this is only reported.

    :param first: index of the first colour.
    :param colours: ``(red, green, blue)`` tuples of 16-bit values.
    """

    first: int
    colours: tuple[tuple[int, int, int], ...]


@dataclass(frozen=True, slots=True)
class Bell:
    """The server rang the bell."""


@dataclass(frozen=True, slots=True)
class ServerCutText:
    """The server's clipboard changed.

    :param data: the bytes as sent.
    :param text: ``data`` decoded as Latin-1 (what RFB specifies).
    """

    data: bytes
    text: str


@dataclass(frozen=True, slots=True)
class EndOfContinuousUpdates:
    """The server stopped sending continuous updates."""


@dataclass(frozen=True, slots=True)
class Fence:
    """A Fence message from the server.

    If it was a request (bit 31 of ``flags``), the protocol has already queued
    the reply.

    :param flags: the flags as sent.
    :param payload: up to 64 opaque bytes.
    """

    flags: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The server closed the connection between two messages.

    :param clean: always True here: a close inside a message, or during the
        handshake, raises :class:`vncenv.error.ConnectionClosed` instead.
    """

    clean: bool = True


Event = (
    ServerInit
    | FramebufferUpdate
    | ColourMapEntries
    | Bell
    | ServerCutText
    | EndOfContinuousUpdates
    | Fence
    | ConnectionClosed
)
"""Any event :meth:`RFBClientProtocol.next_event` can return."""
