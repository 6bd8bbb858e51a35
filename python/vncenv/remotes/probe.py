"""Readiness: a remote is ready when its VNC server sends the RFB banner and
its rewarder accepts a websocket and sends ``v0.env.describe``."""

from __future__ import annotations

import socket
import time

from ..error import Timeout

__all__ = ["rfb_banner", "wait_ready"]


def rfb_banner(host: str, port: int, timeout: float = 2.0) -> str | None:
    """The server's ``RFB xxx.yyy`` banner, or None if it does not answer."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            data = b""
            while len(data) < 12:
                chunk = s.recv(12 - len(data))
                if not chunk:
                    return None
                data += chunk
    except OSError:
        return None
    return data.decode("latin-1").strip() if data.startswith(b"RFB ") else None


def wait_ready(host: str, vnc_port: int, rewarder_port: int | None, password: str | None,
               timeout: float, alive=lambda: True, what: str = "remote") -> None:  # fmt: skip
    """Block until both servers answer; :class:`Timeout` after ``timeout`` s.

    ``alive()`` is polled so that a process that died fails fast.
    """
    from ..error import Error

    deadline = time.monotonic() + timeout
    while rfb_banner(host, vnc_port) is None:
        if not alive():
            raise Error(f"{what} exited before its VNC server answered")
        if time.monotonic() > deadline:
            raise Timeout(f"{what}: no RFB banner on {host}:{vnc_port} within {timeout} s")
        time.sleep(0.05)
    if rewarder_port is None:
        return
    from ..rewarder import RewarderClient

    remaining = max(0.1, deadline - time.monotonic())
    client = RewarderClient.connect(host, rewarder_port, password=password, observer=True, start_timeout=remaining)
    client.close()
