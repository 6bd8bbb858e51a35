"""Explicit bounds on what a server may make us allocate or parse.

Every length the server sends is checked against one of these before any
memory is reserved.  Exceeding a limit is a :class:`vncenv.error.ProtocolError`.

Every cap of vncenv, here and elsewhere (each is tested at exactly N and at
N + 1 in ``tests/adversity/test_caps.py``; the clocks in ``test_stall.py``
and ``test_slow_reader.py``):

=============================  ===========  ======================================  ==================================
what                           default      where                                   past it
=============================  ===========  ======================================  ==================================
framebuffer width, height      8192 each    ``Limits.max_width`` / ``max_height``   ProtocolError (ServerInit,
                                                                                    DesktopSize, ExtendedDesktopSize)
cursor width, height           1024 each    ``Limits.max_cursor_size``              ProtocolError
ServerCutText                  1 MiB        ``Limits.max_cut_text``                 ProtocolError, on its header
rects in one update            2**20        ``Limits.max_rects``                    ProtocolError (nrects, or counted
                                                                                    in LastRect mode)
one FramebufferUpdate          256 MiB      ``Limits.max_update_bytes``             ProtocolError (it is buffered
                                                                                    whole before it decodes)
desktop name, failure reason   4096 bytes   ``Limits.max_name_length`` /            ProtocolError
                                            ``max_reason_length``
Fence payload                  64 bytes     RFB itself (``vnc/protocol.py``)        ProtocolError
VNC updates queued             1            ``VNCSession``: one request             (the server waits for the next
                                            outstanding, one framebuffer            request; none while paused)
rewarder message, each way     1 MiB        ``rewarder.MAX_MESSAGE_SIZE``           that connection closed (1009);
                                            (``max_size=``)                         a client reconnects
rewarder unsent bytes/client   16 MiB       ``RewarderServer(max_write_buffer=)``   that client dropped
rewarder observations queued   64           ``RewardBuffer(max_observations=)``     oldest dropped, counted
rewarder texts queued          1024         ``RewardBuffer(max_text=)``             oldest dropped, counted
rewarder episodes queued       2            ``RewardBuffer`` (the agent's and       the ones between skipped, counted
                                            the newest)
merged reward ``info`` keys    1024         ``RewardBuffer(max_info_keys=)``        new keys dropped, counted
server stalled mid-message     30 s         ``VNCSession(stall_timeout=)``          Timeout; connection dropped
nobody reads the session       5 s          ``VNCSession(idle_pause=)``             update requests pause until the
                                                                                    next read
rewarder peer unresponsive     20 + 20 s    ``keepalive_interval`` /                connection lost (+2 s closing);
                                            ``keepalive_timeout`` (client, server)  the client reconnects or fails
=============================  ===========  ======================================  ==================================

"Queued" means held between two reads by the agent: a VNC session never
queues pictures (each update decodes into the one framebuffer, so a slow
reader only ever sees the latest), and the rewarder client keeps at most the
items above between two :meth:`~vncenv.rewarder.RewarderClient.pop` calls.
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
