"""The exceptions vncenv raises.

There are three kinds, after who is at fault:

* :class:`UsageError` -- the caller misused the API (a bad argument, a call in
  the wrong state).
* :class:`ProtocolError` -- the server broke the protocol: malformed bytes, a
  length over a limit, an encoding we did not ask for.  The connection that
  received them is closed; nothing else is affected.
* :class:`InternalError` -- a bug in vncenv itself.

Failures that are nobody's bug (a refused password, a closed socket, a
timeout) have their own classes below.
"""

from __future__ import annotations

__all__ = [
    "Error",
    "UsageError",
    "ProtocolError",
    "InternalError",
    "AuthenticationError",
    "ConnectionClosed",
    "Timeout",
]


class Error(Exception):
    """Base class of every vncenv exception."""


class UsageError(Error, ValueError):
    """The caller misused the API."""


class ProtocolError(Error):
    """The peer sent bytes that break the protocol (RFB, FBS or rewarder)."""


class InternalError(Error):
    """A bug in vncenv: please report it."""


class AuthenticationError(Error):
    """The server refused our credentials, or offered no security type we support."""


class ConnectionClosed(Error):
    """The connection closed; ``clean`` is False when it closed inside a message."""

    def __init__(self, message: str, clean: bool = False) -> None:
        super().__init__(message)
        self.clean = clean


class Timeout(Error, TimeoutError):
    """A blocking call did not finish within its ``timeout``."""
