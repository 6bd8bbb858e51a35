"""Fixtures shared by the adversity tests (issue 8): faults, slow readers, caps, security defaults.

``fake_rfb``
    A factory of :class:`FakeRFBServer`: a tiny RFB 3.8 server on loopback
    that speaks a valid handshake and then runs a script (send these bytes,
    go silent).  It exists only for faults a real server cannot be made to
    produce (stalling in the middle of a message); every test that uses it
    says so.  Stopped after the test.
``wait_equal``
    ``wait_equal(session, server, timeout)``: wait until the session's
    picture equals the X server's own pixels (GetImage), return it.
``rss_kib``
    ``rss_kib()``: this process's resident set size (``VmRSS``), KiB.
``listening_sockets``
    ``listening_sockets(pids)``: ``{(address, port)}`` of every TCP socket
    in LISTEN state that one of ``pids`` holds open (from /proc/net/tcp and
    tcp6, inode to pid through /proc/PID/fd).
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable

import numpy as np
import pytest
import servers

from vncenv.vnc.constants import CANONICAL_PIXEL_FORMAT


class FakeRFBServer:
    """One-connection fake RFB 3.8 server (security None) on 127.0.0.1.

    After ``handshake`` (``"full"``: up to and including ServerInit;
    ``"banner"``: only the banner, then the script) it sends each item of
    ``script``: ``bytes`` are sent, a number is a pause in seconds.  Then it
    stays silent, reading and discarding what the client sends, until the
    client closes (``eof_time``) or :meth:`stop`.

    Times are ``time.monotonic()``: ``last_send_time`` is when the last
    byte of the script went out.
    """

    def __init__(self, width: int = 64, height: int = 48, handshake: str = "full", script: Iterable = ()) -> None:
        self.width, self.height = width, height
        self.handshake = handshake
        self.script = list(script)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.host = "127.0.0.1"
        self.last_send_time: float | None = None
        self.eof_time: float | None = None
        self.received = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._conn: socket.socket | None = None
        self._thread = threading.Thread(target=self._serve, name=f"fake-rfb-{self.port}", daemon=True)
        self._thread.start()

    def server_init(self) -> bytes:
        name = b"fake"
        size = struct.pack(">HH", self.width, self.height)
        return size + CANONICAL_PIXEL_FORMAT + struct.pack(">I", len(name)) + name

    def _serve(self) -> None:
        try:
            self._listener.settimeout(30)
            conn, _ = self._listener.accept()
            self._conn = conn
            conn.settimeout(30)
            conn.sendall(b"RFB 003.008\n")
            if self.handshake == "full":
                self._read_exactly(conn, 12)  # client version
                conn.sendall(b"\x01\x01")  # one security type: None
                self._read_exactly(conn, 1)
                conn.sendall(b"\x00\x00\x00\x00")  # SecurityResult OK
                self._read_exactly(conn, 1)  # ClientInit
                conn.sendall(self.server_init())
            self.last_send_time = time.monotonic()
            for item in self.script:
                if isinstance(item, (int, float)):
                    if self._stop.wait(item):
                        return
                else:
                    conn.sendall(item)
                    self.last_send_time = time.monotonic()
            conn.settimeout(0.1)
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    self.eof_time = time.monotonic()
                    return
                self.received += len(data)
        except OSError as exc:
            if not self._stop.is_set():
                self.eof_time = time.monotonic()
                self.error = exc
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self.error = exc

    @staticmethod
    def _read_exactly(conn: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise ConnectionError("client closed during the handshake")
            data += chunk
        return data

    def wait_eof(self, timeout: float) -> float | None:
        """Wait for the client to drop the connection; its monotonic time, or None."""
        self._thread.join(timeout)
        return self.eof_time

    def stop(self) -> None:
        self._stop.set()
        for s in (self._conn, self._listener):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
        self._thread.join(5)


@pytest.fixture
def fake_rfb():
    """Factory of :class:`FakeRFBServer` (see the module docstring); all stopped after the test."""
    made: list[FakeRFBServer] = []

    def make(**kw) -> FakeRFBServer:
        server = FakeRFBServer(**kw)
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()


@pytest.fixture
def wait_equal() -> Callable[..., np.ndarray]:
    """``wait_equal(session, server, timeout=20)``: the session's picture once it equals the server's."""
    return servers.wait_until_equal


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.fixture
def rss_kib() -> Callable[[], int]:
    """``rss_kib()``: VmRSS of this process in KiB."""
    return _rss_kib


def _listening_sockets(pids: Iterable[int]) -> dict[int, set[tuple[str, int]]]:
    listening = servers.listening_inodes()
    found: dict[int, set[tuple[str, int]]] = {}
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inode = int(target[8:-1])
                if inode in listening:
                    found.setdefault(pid, set()).add(listening[inode])
    return found


@pytest.fixture
def listening_sockets() -> Callable[[Iterable[int]], dict[int, set[tuple[str, int]]]]:
    """``listening_sockets(pids)`` -> ``{pid: {(address, port), ...}}`` of TCP LISTEN sockets."""
    return _listening_sockets
